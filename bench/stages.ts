// The per-request cost of the stage split (src/server/stages.ts), in process: what a
// request of a route with stages adds on the main thread, timed in loops of N requests.
//   - the clock reads: nowMs() (performance.now() + the origin), 2 for a predict (arrival,
//     end; the worker's drain stamp is on the worker), 4 for a read or an event batch;
//   - Stages.answered for a predict (5 stages) and a read (3 stages): the request total, the
//     stage observations (FastMetric, linear bucket search over 28 buckets) and the slow
//     list's offer, with latencies drawn like a busy server's (most fast, a few slow), so
//     that the slow list takes the common path (one comparison) as under load;
//   - the same with every request slower than the last (the slow list's worst case: every
//     offer enters its slot and scans it for the new minimum).
// Each case runs R rounds, alternating, after a warm-up; the table gives the median ns per
// request and the spread (min-max of the rounds). Allocation: the heap used before and
// after 1e6 answered() calls with --expose-gc (0 bytes kept per request: no allocation
// survives; young-generation garbage shows as scavenges in --trace-gc, none here).
//
//   node --expose-gc --import tsx bench/stages.ts [--n 1000000] [--rounds 7]
import type { InferResult } from '../src/runtime/inference.js';
import { nowMs } from '../src/runtime/records.js';
import { routeClassIndex, type StageMarks, Stages } from '../src/server/stages.js';

const arg = (k: string, d: number) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const N = arg('--n', 1_000_000);
const ROUNDS = arg('--rounds', 7);

const stages = new Stages();
const PREDICT = routeClassIndex('predict');
const FEATURES = routeClassIndex('features');
const result: InferResult = {
  model: 'fraud', version: 1, values: new Float32Array(1), rows: 1, outDim: 1, fallback: false, variant: 'primary',
  queueUs: 120, batchWaitUs: 40, computeUs: 80, batch: 4, submittedAt: 0, collectedAt: 0,
};
const marks: StageMarks & { start: number } = { start: 0, mark1: 0, mark2: 0, result: undefined, subject: 'fraud' };
// latencies in ms: 99 % between 0.05 and 0.5, 1 % up to 20 (precomputed: no Math.random in the timed loop)
const LAT = new Float64Array(4096);
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
for (let i = 0; i < LAT.length; i++) LAT[i] = rnd() < 0.01 ? 0.5 + rnd() * 20 : 0.05 + rnd() * 0.45;

let sink = 0;
const cases: Record<string, (n: number) => void> = {
  'empty loop': (n) => {
    for (let i = 0; i < n; i++) sink += LAT[i & 4095];
  },
  'nowMs() x1': (n) => {
    for (let i = 0; i < n; i++) sink += nowMs();
  },
  'predict: answered()': (n) => {
    const base = Date.now();
    marks.result = result;
    for (let i = 0; i < n; i++) {
      const t = base + i * 0.01; // 100 k requests a second of simulated time
      marks.start = t;
      result.submittedAt = t + 0.02;
      result.collectedAt = t + LAT[i & 4095] - 0.03;
      stages.answered(PREDICT, marks, 200, t + LAT[i & 4095]);
    }
  },
  'read: answered()': (n) => {
    const base = Date.now();
    marks.result = undefined;
    for (let i = 0; i < n; i++) {
      const t = base + i * 0.01;
      marks.start = t;
      marks.mark1 = t + 0.01;
      marks.mark2 = t + LAT[i & 4095] - 0.02;
      stages.answered(FEATURES, marks, 200, t + LAT[i & 4095]);
    }
  },
  'read: answered(), each slower than the last (worst case)': (n) => {
    const base = Date.now();
    marks.result = undefined;
    for (let i = 0; i < n; i++) {
      const t = base + i * 0.01;
      marks.start = t;
      marks.mark1 = t + 0.01;
      marks.mark2 = t + 0.02;
      stages.answered(FEATURES, marks, 200, t + 0.03 + i * 1e-6);
    }
  },
};

const names = Object.keys(cases);
for (const name of names) cases[name](N / 10); // warm-up
const ns: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const name of names) {
    const t0 = process.hrtime.bigint();
    cases[name](N);
    ns[name].push(Number(process.hrtime.bigint() - t0) / N);
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
let kept = 'n/a (run with --expose-gc)';
if (gc) {
  gc();
  const before = process.memoryUsage().heapUsed;
  cases['predict: answered()'](1_000_000);
  cases['read: answered()'](1_000_000);
  gc();
  kept = `${((process.memoryUsage().heapUsed - before) / 2e6).toFixed(3)} bytes per request`;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`node ${process.version}, ${N} requests x ${ROUNDS} rounds (sink ${sink > 0})`);
console.log('| case | ns per request (median) | rounds min-max |');
console.log('|---|---|---|');
for (const name of names) console.log(`| ${name} | ${median(ns[name]).toFixed(1)} | ${Math.min(...ns[name]).toFixed(1)}-${Math.max(...ns[name]).toFixed(1)} |`);
console.log(`heap kept after 2e6 answered() calls: ${kept}`);
