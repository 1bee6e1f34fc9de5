// The REST predict body's reader (readPredictBytes) against JSON.parse of the same bytes,
// in one process, on the bench's predict bodies (bench/predict.lua's: users 1..1000,
// merchants 1..100): ns per body, alternating, 6 rounds of 2M bodies each. With --a DIR,
// also the reader of another build's dist/ (DIR/dist/server/predict.js) in the same rounds.
//
//   taskset -c 1 npx tsx bench/tools/body-reader-micro.ts [--a DIR]
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

import type { ModelEntry } from '../../src/runtime/registry.js';
import { readPredictBytes } from '../../src/server/predict.js';

type Reader = typeof readPredictBytes;
const { values } = parseArgs({ options: { a: { type: 'string' } } });
const readers: [string, (e: ModelEntry, b: Buffer) => number][] = [
  ['readPredictBytes (this checkout)', (e, b) => readPredictBytes(e, b)!.fields[0]],
  ['JSON.parse(body.toString())', (_e, b) => (JSON.parse(b.toString('utf8')) as { fields: { amount: number } }).fields.amount],
];
if (values.a) {
  const other = (await import(pathToFileURL(resolve(values.a, 'dist/server/predict.js')).href)) as { readPredictBytes: Reader };
  readers.push([`readPredictBytes (${values.a})`, (e, b) => other.readPredictBytes(e, b)!.fields[0]]);
}
const e = { def: { name: 'fraud', inputs: [{}], keys: [{ entity: 'user', table: 0 }, { entity: 'merchant', table: 1 }], fields: ['amount'] } } as unknown as ModelEntry;
const bodies: Buffer[] = [];
for (let n = 0; n < 1000; n++) bodies.push(Buffer.from(`{"entities":{"user":"user-${(n % 1000) + 1}","merchant":"merchant-${(n % 100) + 1}"},"fields":{"amount":${(n % 500) + 1}}}`));
const N = 2_000_000;
const ns = new Map<string, number[]>();
let sink = 0;
for (let round = 0; round < 6; round++) {
  const order = round % 2 === 0 ? readers : [...readers].reverse();
  for (const [name, read] of order) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += read(e, bodies[i % 1000]);
    const x = Number(process.hrtime.bigint() - t0) / N;
    ns.set(name, [...(ns.get(name) ?? []), x]);
  }
}
for (const [name, xs] of ns) {
  const s = [...xs].sort((a, b) => a - b);
  console.log(`${name}: median ${s[s.length >> 1].toFixed(0)} ns/body (${xs.map((x) => x.toFixed(0)).join(' ')})`);
}
if (sink === 0) console.log('(sink 0)');
