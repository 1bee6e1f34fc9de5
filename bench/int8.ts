// int8 vs fp32 on the native runtime (precision: int8, native/core/kernels.h): the fraud
// models' AUC on their labelled held-out set, the largest score change, and rows/s at
// batch 1, 64 and 256 on one thread; the same for a wider random MLP (256 -> 512 -> 512 -> 1,
// relu, sigmoid), where the arithmetic outweighs the per-layer quantisation.
//
//   python3 scripts/fraud-holdout.py /tmp/fraud-holdout      (numpy, scikit-learn, onnx)
//   node --import tsx bench/int8.ts --data /tmp/fraud-holdout [--out bench/results/2026-12-06-int8.md]
//   (run it under `taskset -c 0` for one core)
//
// Throughput: each (model, precision, batch) runs the held-out rows in batches for about
// 0.3 s after a warm-up, three trials; the table gives the median trial.
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import { mulberry32 } from '../src/bench/random.js';
import type { NativeModel } from '../src/native/binding.js';
import { fraudModel as model, wideMlp } from './dense-models.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const DATA = opt('data', '/tmp/fraud-holdout');
const OUT = opt('out', '');

const xb = readFileSync(join(DATA, 'x.f32'));
const X = new Float32Array(xb.buffer, xb.byteOffset, xb.byteLength / 4);
const Y = new Uint8Array(readFileSync(join(DATA, 'y.u8')));
const N = Y.length;
const D = X.length / N;

/** ROC AUC by ranks (ties share their mean rank): the Mann-Whitney U statistic. */
function auc(score: Float32Array, y: Uint8Array): number {
  const idx = Array.from(score.keys()).sort((a, b) => score[a] - score[b]);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && score[idx[j + 1]] === score[idx[i]]) j++;
    const mid = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (y[idx[k]]) {
      pos++;
      rankSum += mid;
    }
    i = j + 1;
  }
  const neg = idx.length - pos;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

function scores(m: NativeModel): Float32Array {
  const y = new Float32Array(N);
  m.forward(X, N, y);
  return y;
}

function rowsPerSecond(m: NativeModel, batch: number, x = X, d = D): number {
  const y = new Float32Array(batch);
  const views: Float32Array[] = [];
  for (let r = 0; (r + batch) * d <= x.length; r += batch) views.push(x.subarray(r * d, (r + batch) * d));
  const run = (ms: number) => {
    let rows = 0;
    const t0 = process.hrtime.bigint();
    const end = t0 + BigInt(ms * 1e6);
    let now = t0;
    let i = 0;
    while (now < end) {
      for (let k = 0; k < 64; k++) {
        m.forward(views[i], batch, y);
        i = (i + 1) % views.length;
        rows += batch;
      }
      now = process.hrtime.bigint();
    }
    return rows / (Number(now - t0) / 1e9);
  };
  run(100);
  const trials = [run(300), run(300), run(300)].sort((a, b) => a - b);
  return trials[1];
}

const lines: string[] = [];
const say = (s = '') => {
  lines.push(s);
  console.log(s);
};
say('# int8 weights for the native runtime: accuracy and throughput (fraud models)');
say();
say('```');
say('python3 scripts/fraud-holdout.py /tmp/fraud-holdout');
say('taskset -c 0 node --import tsx bench/int8.ts --data /tmp/fraud-holdout --out bench/results/2026-12-06-int8.md');
say('```');
say();
say(`Machine: ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores (shared with other jobs), Node ${process.version}; one thread.`);
say(`Data: the held-out set of scripts/train-fraud-model.py, ${N} rows (${Y.reduce((a, b) => a + b, 0)} fraud), ${D} columns.`);
say('int8: per-output-channel symmetric int8 weights, per-row symmetric int8 activations (dynamic), int32 accumulation.');
say();
say('## Accuracy');
say();
say('| model | AUC fp32 | AUC int8 | AUC change | max abs score change | mean abs score change |');
say('|---|---|---|---|---|---|');
const accuracy: { version: number; delta: number }[] = [];
for (const version of [1, 2]) {
  const f = scores(model(version, 'fp32', 256));
  const q = scores(model(version, 'int8', 256));
  let max = 0;
  let sum = 0;
  for (let i = 0; i < N; i++) {
    const d = Math.abs(f[i] - q[i]);
    max = Math.max(max, d);
    sum += d;
  }
  const af = auc(f, Y);
  const aq = auc(q, Y);
  accuracy.push({ version, delta: aq - af });
  say(`| fraud v${version} | ${af.toFixed(4)} | ${aq.toFixed(4)} | ${(aq - af >= 0 ? '+' : '') + (aq - af).toFixed(4)} | ${max.toExponential(2)} | ${(sum / N).toExponential(2)} |`);
}
say();
say(`Target: AUC within 0.002 of fp32: ${accuracy.every((a) => Math.abs(a.delta) <= 0.002) ? 'met' : 'NOT met'}.`);
say();
say('## Throughput (rows/s, one thread, median of 3 trials of 0.3 s)');
say();
say('| model | batch | fp32 rows/s | int8 rows/s | int8 / fp32 |');
say('|---|---|---|---|---|');
for (const version of [1, 2])
  for (const batch of [1, 64, 256]) {
    const f = rowsPerSecond(model(version, 'fp32', 256), batch);
    const q = rowsPerSecond(model(version, 'int8', 256), batch);
    say(`| fraud v${version} | ${batch} | ${Math.round(f).toLocaleString('en')} | ${Math.round(q).toLocaleString('en')} | ${(q / f).toFixed(2)} |`);
  }
const rng = mulberry32(9);
const WIDE_X = new Float32Array(1024 * 256).map(() => rng() * 4 - 2);
const wideF = wideMlp('fp32', 256);
const wideQ = wideMlp('int8', 256);
for (const batch of [1, 64, 256]) {
  const f = rowsPerSecond(wideF, batch, WIDE_X, 256);
  const q = rowsPerSecond(wideQ, batch, WIDE_X, 256);
  say(`| random MLP 256-512-512-1 | ${batch} | ${Math.round(f).toLocaleString('en')} | ${Math.round(q).toLocaleString('en')} | ${(q / f).toFixed(2)} |`);
}
{
  const yf = new Float32Array(1024);
  const yq = new Float32Array(1024);
  wideF.forward(WIDE_X, 1024, yf);
  wideQ.forward(WIDE_X, 1024, yq);
  let max = 0;
  for (let i = 0; i < 1024; i++) max = Math.max(max, Math.abs(yf[i] - yq[i]));
  say();
  say(`Random MLP: max |int8 - fp32| over 1024 random rows: ${max.toExponential(2)} (sigmoid output).`);
}
if (OUT) writeFileSync(OUT, lines.join('\n') + '\n');
