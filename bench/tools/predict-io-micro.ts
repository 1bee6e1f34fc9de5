// The REST predict's body reader and answer writer, in one process, 6 alternating rounds of
// 2M calls each, ns per call (medians, and every round):
//   - readPredictBytes on the bench's predict bodies (bench/predict.lua's: users 1..1000,
//     merchants 1..100), against JSON.parse of the same bytes;
//   - predictBytes on a one-score answer of model fraud (scores i/997 for i in 0..999).
// With --a DIR, also another build's reader and writer (DIR/dist/server/predict.js; DIR
// needs node_modules and build/ as a checkout has them) in the same rounds.
//
//   taskset -c 1 npx tsx bench/tools/predict-io-micro.ts [--a DIR]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import type { InferResult } from '../../src/runtime/inference.js';
import type { ModelEntry } from '../../src/runtime/registry.js';
import { predictBytes, readPredictBytes } from '../../src/server/predict.js';

type Io = { readPredictBytes: typeof readPredictBytes; predictBytes: typeof predictBytes };
const { values } = parseArgs({ options: { a: { type: 'string' } } });
const builds: [string, Io][] = [['this checkout', { readPredictBytes, predictBytes }]];
if (values.a) builds.push([values.a, (await import(pathToFileURL(resolve(values.a, 'dist/server/predict.js')).href)) as Io]);

const e = { def: { name: 'fraud', inputs: [{}], keys: [{ entity: 'user', table: 0 }, { entity: 'merchant', table: 1 }], fields: ['amount'] } } as unknown as ModelEntry;
const bodies: Buffer[] = [];
for (let n = 0; n < 1000; n++) bodies.push(Buffer.from(`{"entities":{"user":"user-${(n % 1000) + 1}","merchant":"merchant-${(n % 100) + 1}"},"fields":{"amount":${(n % 500) + 1}}}`));
const answer: InferResult = {
  model: 'fraud', version: 2, values: new Float32Array(1), rows: 1, outDim: 1, fallback: false, variant: 'primary',
  queueUs: 1, batchWaitUs: 0, computeUs: 2, batch: 4, submittedAt: 0, collectedAt: 0,
};
const start = performance.timeOrigin + performance.now();

const N = 2_000_000;
let sink = 0;
const runs: [string, () => void][] = [['JSON.parse(body.toString())', () => {
  for (let i = 0; i < N; i++) sink += (JSON.parse(bodies[i % 1000].toString('utf8')) as { fields: { amount: number } }).fields.amount;
}]];
for (const [b, io] of builds) {
  runs.push([`readPredictBytes (${b})`, () => {
    for (let i = 0; i < N; i++) sink += io.readPredictBytes(e, bodies[i % 1000])!.fields[0];
  }]);
  runs.push([`predictBytes (${b})`, () => {
    for (let i = 0; i < N; i++) {
      answer.values[0] = (i % 1000) / 997;
      sink += io.predictBytes(answer, start).length;
    }
  }]);
}
const ns = new Map<string, number[]>();
for (let round = 0; round < 6; round++) {
  for (const [name, run] of round % 2 === 0 ? runs : [...runs].reverse()) {
    const t0 = process.hrtime.bigint();
    run();
    ns.set(name, [...(ns.get(name) ?? []), Number(process.hrtime.bigint() - t0) / N]);
  }
}
for (const [name, xs] of ns) {
  const s = [...xs].sort((a, b) => a - b);
  console.log(`${name}: median ${s[s.length >> 1].toFixed(0)} ns (${xs.map((x) => x.toFixed(0)).join(' ')})`);
}
if (sink === 0) console.log('(sink 0)');
