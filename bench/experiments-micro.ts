// What an experiment adds per request and per event, in process (no HTTP):
//
//   npx tsx bench/experiments-micro.ts [--append FILE]
//
// - unitHash: the store's id hash of one unit id, in JS (as the routes make it)
// - assign: buckets + unit set, for a unit seen the first time and again
// - the metric tap: per event of a 1,000-event JSON batch (ids hashed in one native call,
//   unit-set check, variant recomputed, sufficient statistics)
// - evaluate: the tests for a two-variant experiment (one look)
// Each measure is the median of 7 trials.
import { appendFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';

import { loadConfigText } from '../src/config/load.js';
import { unitHash, words } from '../src/experiments/assignment.js';
import { Experiment } from '../src/experiments/experiment.js';
import { MetricTap } from '../src/experiments/experiments.js';
import type { AppliedBatch } from '../src/ingest/ingestor.js';
import { hashIds } from '../src/native/binding.js';

const config = loadConfigText(`
streams:
  conv: { keys: { user: user_id }, fields: { value: number } }
entities:
  user: { features: { n: { agg: count, window: 1h } } }
models:
  m: { learner: { algorithm: sgd }, inputs: [{ feature: user.n }] }
experiments:
  ab:
    variants: { control: { weight: 50, model: m }, treatment: { weight: 50, model: m } }
    metric: { stream: conv, unit: user, kind: mean, field: value }
`);
const def = config.experiments[0];
const N = 200_000;
const ids = Array.from({ length: N }, (_, i) => `user-${i}`);
const hashes = words(hashIds(ids));

function median(f: () => number): number {
  const xs = Array.from({ length: 7 }, f).sort((a, b) => a - b);
  return xs[3];
}
const ns = (ms: number, n: number) => (ms * 1e6) / n;

const rows: [string, number][] = [];
rows.push(['unitHash (one id: UTF-8 and the store hash in JS)', median(() => {
  const t = performance.now();
  for (let i = 0; i < 20_000; i++) unitHash(ids[i]);
  return ns(performance.now() - t, 20_000);
})]);
rows.push(['assign, first exposure', median(() => {
  const x = new Experiment(def, 0);
  const t = performance.now();
  for (let i = 0; i < N; i++) x.assign(hashes[2 * i], hashes[2 * i + 1], 0);
  return ns(performance.now() - t, N);
})]);
const seen = new Experiment(def, 0);
for (let i = 0; i < N; i++) seen.assign(hashes[2 * i], hashes[2 * i + 1], 0);
rows.push(['assign, a unit seen before', median(() => {
  const t = performance.now();
  for (let i = 0; i < N; i++) seen.assign(hashes[2 * i], hashes[2 * i + 1], 0);
  return ns(performance.now() - t, N);
})]);
const tap = new MetricTap('conv', [seen], () => 0);
const B = 1000;
const batch = (k: number): AppliedBatch => ({
  source: 'http', stream: config.streams[0], nowMs: 0, accepted: B, late: 0, kind: 'columns',
  keys: [ids.slice(k * B, (k + 1) * B)], ts: new Float64Array(B), values: Float64Array.from({ length: B }, (_, i) => i % 7),
});
const batches = Array.from({ length: 50 }, (_, k) => batch(k));
rows.push(['metric tap, per event (batches of 1,000 JSON events, one look per batch)', median(() => {
  const t = performance.now();
  for (const b of batches) tap.onBatch(b);
  return ns(performance.now() - t, batches.length * B);
})]);
rows.push(['evaluate, two variants (one look)', median(() => {
  const t = performance.now();
  for (let i = 0; i < 20_000; i++) seen.evaluate(i, false);
  return ns(performance.now() - t, 20_000);
})]);

const { values: args } = parseArgs({ options: { append: { type: 'string' } } });
const text = `
## Per-operation costs (${new Date().toISOString().slice(0, 10)})

Command: \`npx tsx bench/experiments-micro.ts\`

Machine: ${cpus()[0]?.model} (${cpus().length} cores), Node ${process.version}; load average ${loadavg()[0].toFixed(1)} during the run
(the machine is shared: absolute numbers are inflated by other work). In process, no HTTP;
median of 7 trials.

| operation | ns |
| --- | ---: |
${rows.map(([k, v]) => `| ${k} | ${Math.round(v)} |`).join('\n')}
`;
console.log(text);
if (args.append) appendFileSync(args.append, text);
