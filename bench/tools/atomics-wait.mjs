// How late Atomics.wait wakes from a sub-millisecond timeout on this machine (the batch
// window of src/runtime/worker.ts sleeps this way).
//   node bench/tools/atomics-wait.mjs
const word = new Int32Array(new SharedArrayBuffer(4));
for (const ms of [0.05, 0.1, 0.2, 0.5]) {
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) Atomics.wait(word, 0, 0, ms);
  const us = ((performance.now() - t0) / n) * 1000;
  console.log(`timeout ${ms * 1000} us: woke after ${us.toFixed(0)} us on average (${(us - ms * 1000).toFixed(0)} us late)`);
}
