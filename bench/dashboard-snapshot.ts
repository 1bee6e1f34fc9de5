// The server's work for one dashboard snapshot (src/server/dashboard.ts), timed in process:
// a server on port 0 with the shipped hotpath.yaml's models (2 models, 2 workers) and the
// standard data, predicts and reads run first so that every series exists, then a
// DashboardFeed over the server's parts builds N snapshots back to back (what the 1 Hz timer
// does once a second). Its time per snapshot over 1 s is the share of the main thread a
// page costs (plus uWS's write of one ~1.5 KB frame per page).
//
//   npx tsx bench/dashboard-snapshot.ts [--n 2000]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { loadConfigText } from '../src/config/load.js';
import { loadStandardData } from '../src/bench/harness.js';
import { startServer } from '../src/server/app.js';
import { DashboardFeed } from '../src/server/dashboard.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const i = process.argv.indexOf('--n');
const N = i > 0 ? Number(process.argv[i + 1]) : 2000;

const config = loadConfigText(readFileSync(`${ROOT}hotpath.yaml`, 'utf8'), { baseDir: ROOT });
const server = await startServer({ config, port: 0, host: '127.0.0.1', log: () => {} });
const url = `http://127.0.0.1:${server.port}`;
try {
  await loadStandardData(url);
  for (let k = 0; k < 500; k++) {
    await fetch(`${url}/v1/features/user/user-${1 + (k % 1000)}`).then((r) => r.text());
    for (const m of server.models.entries.keys()) await fetch(`${url}/v1/predict/${m}`, { method: 'POST', body: JSON.stringify({ entities: { user: `user-${1 + (k % 1000)}`, merchant: 'merchant-1' }, fields: { amount: 10 } }) }).then((r) => r.text());
  }
  const feed = new DashboardFeed({ metrics: server.metrics, stages: server.stages, pool: server.pool, models: server.models, alerts: server.alerts, bandits: server.bandits, experiments: server.experiments });
  let bytes = feed.snapshot().length;
  for (let k = 0; k < 200; k++) feed.snapshot(); // warm-up
  // Between two snapshots (untimed): the observations of a busy second, so that every rate
  // and quantile has counts to work on.
  const models = [...server.models.entries.keys()];
  const second = () => {
    for (let r = 0; r < 100; r++) {
      for (const m of models) {
        server.metrics.request(m, 'success', '');
        server.metrics.timings(m, 50 + Math.random() * 500, 100 + Math.random() * 200, 200 + Math.random() * 5000, 1 + Math.floor(Math.random() * 32));
      }
      server.metrics.featureRead('user', Math.random() * 2000);
      server.metrics.eventsIngested(undefined, 10, r % 10 === 0 ? 1 : 0);
    }
  };
  let spent = 0;
  for (let k = 0; k < N; k++) {
    second();
    const t0 = performance.now();
    bytes = feed.snapshot(Date.now() + k * 1000).length;
    spent += performance.now() - t0;
  }
  const us = (spent * 1000) / N;
  second();
  console.log(`models ${[...server.models.entries.keys()].join(', ')}; workers ${server.pool.threads}; node ${process.version}`);
  console.log(`a snapshot: ${feed.snapshot(Date.now() + (N + 1) * 1000)}`);
  console.log(`one snapshot: ${us.toFixed(1)} µs, ${bytes} bytes of JSON; at 1 Hz: ${(us / 1e4).toFixed(4)} % of the main thread`);
} finally {
  await server.close();
}
