// What a traced request costs the main thread at answer time (Tracing.finish: a server
// span and three children through the OpenTelemetry SDK, queued in the BatchSpanProcessor),
// and what the sampling decision costs a request without a traceparent (Tracing.begin).
// The collector is a local node:http server; the queue is the default 2048 (spans past it
// are dropped by the SDK, as in the server).
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
for (const round of [1, 2, 3, 4, 5]) {
  const N = 20000;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const tr = new RequestTrace(nowMs(), '', '');
    tr.stage('parse', tr.start);
    tr.stage('feature_store.read', nowMs());
    tr.entity = 'user';
    t.finish(tr, { method: 'GET', route: '/v1/features/:entity/:id', status: 200 });
  }
  const t1 = performance.now();
  console.log(`round ${round}: finish ${(((t1 - t0) * 1000) / N).toFixed(2)} us per traced request (4 spans)`);
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
