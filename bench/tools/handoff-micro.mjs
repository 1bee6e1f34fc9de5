// What one hand-off between the main thread and a worker costs the main thread, the way the
// pool and the rings do it (src/runtime/ring.ts): the main thread wakes a worker asleep in
// Atomics.wait with Atomics.notify, and the worker's answer resolves the main thread's
// Atomics.waitAsync. Round trips one at a time (ping-pong) for a second per round; the main
// thread's CPU time (utime + stime from /proc/self/task/PID/stat, 10 ms ticks) per round
// trip, and the wall time.
// Rounds alternate with a baseline in which the worker answers without sleeping (it spins
// on the word): the main thread's notify finds nobody to wake, and the answer is mostly
// there before the main thread would wait for it. The Atomics.notify call is also timed on
// its own (performance.now() around it): in the server at its maximum the main thread
// seldom sleeps, but it wakes the worker about once per batch.
//
//   node bench/tools/handoff-micro.mjs [rounds, default 5]
// Unpinned: the two threads on two cores, as the server runs on this machine.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const ROUNDS = Number(process.argv[2] ?? 5);
const ROUND_MS = 1000;
const TICK_US = 1e6 / 100; // USER_HZ

const mainCpuUs = () => {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_US; // utime, stime (fields 14 and 15)
};

// [0]: the main thread's ping (its sequence), [1]: the worker's pong, [2]: 1 = the worker spins
const words = new Int32Array(new SharedArrayBuffer(12));
const worker = new Worker(
  `
  const { workerData } = require('node:worker_threads');
  const w = new Int32Array(workerData);
  for (let seen = 0; ; ) {
    if (Atomics.load(w, 2) === 1) while (Atomics.load(w, 0) === seen) {}
    else Atomics.wait(w, 0, seen);
    seen = Atomics.load(w, 0);
    if (seen < 0) break;
    Atomics.store(w, 1, seen);
    Atomics.notify(w, 1);
  }
  `,
  { eval: true, workerData: words.buffer },
);

async function round(spin) {
  Atomics.store(words, 2, spin ? 1 : 0);
  const cpu0 = mainCpuUs();
  const t0 = performance.now();
  let n = 0;
  let notifyUs = 0;
  while (performance.now() - t0 < ROUND_MS) {
    n++;
    const seq = Atomics.add(words, 0, 1) + 1;
    const a = performance.now();
    Atomics.notify(words, 0);
    notifyUs += (performance.now() - a) * 1000;
    for (let seen = Atomics.load(words, 1); seen !== seq; seen = Atomics.load(words, 1)) {
      // waits for a change from the value just compared (read again, it could already be seq)
      const r = Atomics.waitAsync(words, 1, seen);
      if (r.async) await r.value;
    }
  }
  return { cpu: (mainCpuUs() - cpu0) / n, wall: ((performance.now() - t0) * 1000) / n, notify: notifyUs / n };
}

const res = { sleep: [], spin: [] };
await round(false); // warm-up
for (let k = 0; k < ROUNDS; k++)
  for (const mode of k % 2 === 0 ? ['sleep', 'spin'] : ['spin', 'sleep']) res[mode].push(await round(mode === 'spin'));
Atomics.store(words, 2, 0);
Atomics.store(words, 0, -1);
Atomics.notify(words, 0);
await worker.terminate();

const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const [mode, rs] of Object.entries(res)) {
  const what = mode === 'sleep' ? 'worker asleep in Atomics.wait (a real wake)' : 'worker spinning (notify wakes nobody)';
  console.log(
    `${what}: main thread ${med(rs.map((r) => r.cpu)).toFixed(2)} us CPU per round trip ` +
      `(${rs.map((r) => r.cpu.toFixed(2)).join(' ')}), of which the Atomics.notify call ${med(rs.map((r) => r.notify)).toFixed(2)} us; ` +
      `wall ${med(rs.map((r) => r.wall)).toFixed(2)} us`,
  );
}
