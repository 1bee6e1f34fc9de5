// The open-loop generator's own CPU: runLoad against a uWS server in this process that
// answers a constant, at a few rates, with the CPU seconds of the process (server
// included, a small share), the latencies and the send lag.
//   npx tsx bench/tools/generator-cpu.ts [rate ...]      (default 500 2000 10000)
import uWS from 'uWebSockets.js';

import { encodeRequest } from '../../src/bench/http-client.js';
import { runLoad } from '../../src/bench/loadgen.js';

const app = uWS.App().get('/ok', (res) => {
  res.end('{"ok":true}');
});
const sock: uWS.us_listen_socket = await new Promise((resolve) => app.listen('127.0.0.1', 0, (s) => resolve(s)));
const url = `http://127.0.0.1:${uWS.us_socket_local_port(sock)}`;
const rates = process.argv.slice(2).map(Number);
for (const rate of rates.length ? rates : [500, 2000, 10000]) {
  const c0 = process.cpuUsage();
  const r = await runLoad({ url, requests: [encodeRequest('GET', '127.0.0.1', '/ok')], connections: 8, durationMs: 1000, warmupMs: 0, timeoutMs: 1000, rate });
  const c = process.cpuUsage(c0);
  const lag = r.sendLagUs;
  console.log(`${String(rate).padStart(6)} req/s: ${((c.user + c.system) / 1e6).toFixed(2)} CPU s in 1 s; latency p50 ${r.latencyUs.p50} us p99 ${r.latencyUs.p99} us; send lag p50 ${lag?.p50} us p99 ${lag?.p99} us`);
}
uWS.us_listen_socket_close(sock);
