// What adaptive batching adds to each answered request on the main thread: one
// QueueDelayController.observe (a histogram increment and a window check; a controller
// step every 250 ms of simulated time, 5,000 requests/s). Three trials of 20M calls.
//
//   node --import tsx bench/adaptive-micro.ts
import { QueueDelayController } from '../src/runtime/adaptive-batching.js';

const c = new QueueDelayController({ targetP99Us: 2000, minDelayUs: 0, maxDelayUs: 2000 }, 64, {
  batches(o) {
    o.rows += 100;
    o.executions += 10;
  },
  publish() {},
});
const N = 20_000_000;
const lat = new Float64Array(4096).map((_, i) => 300 + ((i * 7919) % 1500));
let now = Date.now();
for (let trial = 0; trial < 3; trial++) {
  const t = performance.now();
  for (let i = 0; i < N; i++) c.observe(now + i * 0.2, lat[i & 4095]);
  now += N * 0.2;
  console.log(`observe: ${(((performance.now() - t) * 1e6) / N).toFixed(1)} ns per request (${c.steps} windows decided so far)`);
}
