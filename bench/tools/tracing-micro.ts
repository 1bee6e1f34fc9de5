// What a traced request costs the main thread (Tracing.finish at answer time, then its
// spans made in the next burst: a server span and three children through the
// OpenTelemetry SDK, queued in the BatchSpanProcessor, and their share of the exports), in
// process CPU time per trace; and what the sampling decision costs a request without a
// traceparent (Tracing.begin). The collector is a local node:http server.
//
//   npx tsx bench/tools/tracing-micro.ts
import { Tracing, RequestTrace } from '../../src/server/observe/tracing.js';
import { nowMs } from '../../src/runtime/records.js';
import { createServer } from 'node:http';
let bytes = 0;
const srv = createServer((req, res) => { req.on('data', (c) => (bytes += c.length)); req.on('end', () => res.end('{}')); });
await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
const port = (srv.address() as any).port;
const t = new Tracing({ sampleRatio: 0.01, endpoint: `http://127.0.0.1:${port}/v1/traces`, serviceName: 'x', headers: {}, batchSize: 512, maxQueue: 2048, exportIntervalMs: 1000, exportTimeoutMs: 10000, shutdownTimeoutMs: 5000 }, console.error);
const fakeReq = { getHeader: () => '' } as any; // a request without traceparent
for (let round = 1; round <= 10; round++) {
  const N = 400; // a burst: 100 ms of 1 % of 40k req/s
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const tr = new RequestTrace(nowMs(), '', '');
    tr.stage('parse', tr.start);
    tr.stage('feature_store.read', nowMs());
    tr.entity = 'user';
    t.finish(tr, { method: 'GET', route: '/v1/features/:entity/:id', status: 200 });
  }
  await new Promise((ok) => setTimeout(ok, 300)); // the burst that makes the spans, and an export
  const c = process.cpuUsage(c0);
  console.log(`round ${round}: ${((c.user + c.system) / N).toFixed(2)} us of CPU per traced request (4 spans)`);
}
{
  const N = 1_000_000; let n = 0;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) if (t.begin(fakeReq) !== undefined) n++;
  console.log(`begin (no header): ${(((performance.now() - t0) * 1e6) / N).toFixed(1)} ns, sampled ${n}`);
}
const f0 = performance.now();
await t.shutdown();
console.log(`shutdown flush: ${(performance.now() - f0).toFixed(0)} ms; spans ended ${t.ended}, exported ${t.exported}, failed ${t.failed}; ${bytes} bytes received`);
srv.close();
