// Learner micro-benchmark: native online logistic regression (NativeLearner) against a
// plain TypeScript implementation of the same maths (the peer), in the same run.
//
//   node --import tsx bench/learner-micro.ts                 # 1M rows x 10 features, 3 trials
//   node --import tsx bench/learner-micro.ts --rows 200000 --trials 1 --out /tmp/x.md
//
// Each (engine, optimiser, scaling) case runs in a fresh child process, pinned to one CPU
// with taskset when there is one, and prints one `RESULT {json}` line: updates/s through
// learnMany (one N-API call per batch of rows), through learn() (one call per example, the
// per-event path a tap takes), and predictions/s through predictMany. The parent prints a
// markdown table, the phishing progressive-validation figures (read from
// /work/shared/data/phishing.csv), and writes the table to --out
// (default bench/results/2026-12-06-learner-micro.md).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { progressive, readNumericCsv } from '../src/learn/progressive.js';
import { NativeLearner } from '../src/native/learner.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const ROWS = Number(opt('rows', '1000000'));
const TRIALS = Number(opt('trials', '3'));
const DIM = 10;
const BATCH = 4096; // rows per learnMany call
const OUT = opt('out', fileURLToPath(new URL('./results/2026-12-06-learner-micro.md', import.meta.url)));
const PHISHING = '/work/shared/data/phishing.csv';

type Optimizer = 'sgd' | 'ftrl';
interface Case { engine: 'native' | 'ts'; optimizer: Optimizer; scale: boolean }
interface Result extends Case { learnMany: number; learnManyP: number; spread: number; learnOne: number; predictMany: number; accuracy: number }

// ---------------------------------------------------------------- data

/** Rows of DIM float32 features (uneven means and scales) and 0/1 labels from a noisy linear rule. */
function makeData(rows: number): { x: Float32Array; y: Float32Array } {
  let s = 0x9e3779b9;
  const rand = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
  const x = new Float32Array(rows * DIM);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let logit = 0.2;
    for (let i = 0; i < DIM; i++) {
      const u = rand() * 2 - 1;
      x[r * DIM + i] = 5 * i + u * (i + 1);
      logit += (i % 3 === 0 ? 2 : i % 3 === 1 ? -1 : 0.5) * u;
    }
    y[r] = rand() < 1 / (1 + Math.exp(-3 * logit)) ? 1 : 0;
  }
  return { x, y };
}

// ---------------------------------------------------------------- the TypeScript peer

/** The same learner in plain TypeScript (Float64Array state): River's scaler, SGD or FTRL. */
class TsLearner {
  readonly mean = new Float64Array(DIM);
  readonly var = new Float64Array(DIM);
  readonly w = new Float64Array(DIM);
  readonly z = new Float64Array(DIM);
  readonly n = new Float64Array(DIM);
  readonly xs = new Float64Array(DIM);
  seen = 0;
  b = 0;
  constructor(readonly optimizer: Optimizer, readonly scale: boolean) {}

  learn(x: Float32Array, at: number, y: number): number {
    const { mean, var: vr, w, xs } = this;
    if (this.scale) {
      const c = ++this.seen;
      for (let i = 0; i < DIM; i++) {
        const v = x[at + i], old = mean[i];
        mean[i] += (v - old) / c;
        vr[i] += ((v - old) * (v - mean[i]) - vr[i]) / c;
      }
    }
    let dot = 0;
    for (let i = 0; i < DIM; i++) {
      const v = x[at + i];
      xs[i] = this.scale ? (vr[i] > 0 ? (v - mean[i]) / Math.sqrt(vr[i]) : 0) : v;
      dot += w[i] * xs[i];
    }
    const raw = dot + this.b;
    const ys = y === 1 ? 1 : -1, zz = raw * ys;
    const loss = zz > 18 ? Math.exp(-zz) : zz < -18 ? -zz : Math.log1p(Math.exp(-zz));
    const g = zz > 18 ? Math.exp(-zz) * -ys : zz < -18 ? -ys : -ys / (Math.exp(zz) + 1);
    this.b -= 0.01 * g;
    for (let i = 0; i < DIM; i++) {
      const gi = g * xs[i];
      if (this.optimizer === 'sgd') w[i] -= 0.01 * gi;
      else {
        const sigma = (Math.sqrt(this.n[i] + gi * gi) - Math.sqrt(this.n[i])) / 0.05;
        this.z[i] += gi - sigma * w[i];
        this.n[i] += gi * gi;
        w[i] = -this.z[i] / ((1 + Math.sqrt(this.n[i])) / 0.05 + 1); // l1 0, l2 1
      }
    }
    return loss;
  }

  predict(x: Float32Array, at: number): number {
    let dot = this.b;
    for (let i = 0; i < DIM; i++) {
      const v = x[at + i];
      dot += this.w[i] * (this.scale ? (this.var[i] > 0 ? (v - this.mean[i]) / Math.sqrt(this.var[i]) : 0) : v);
    }
    return 1 / (1 + Math.exp(-dot));
  }
}

// ---------------------------------------------------------------- child

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeRate(n: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function child(c: Case): Result {
  const { x, y } = makeData(ROWS);
  const out = new Float32Array(ROWS);
  const learnMany: number[] = [], learnManyP: number[] = [], learnOne: number[] = [], predictMany: number[] = [];
  const pOut = new Float32Array(BATCH);
  let accuracy = 0;
  if (c.engine === 'native') {
    const l = new NativeLearner({ dim: DIM, optimizer: c.optimizer, scale: c.scale });
    const row = new Float64Array(DIM);
    for (let t = 0; t < TRIALS + 1; t++) { // trial 0 warms up
      l.reset();
      const a = timeRate(ROWS, () => {
        for (let lo = 0; lo < ROWS; lo += BATCH) {
          const n = Math.min(BATCH, ROWS - lo);
          l.learnMany(x.subarray(lo * DIM, (lo + n) * DIM), y.subarray(lo, lo + n), n);
        }
      });
      const p = timeRate(ROWS, () => l.predictMany(x, ROWS, out));
      l.reset();
      const ap = timeRate(ROWS, () => { // with each row's prediction before it is learned (progressive validation)
        for (let lo = 0; lo < ROWS; lo += BATCH) {
          const n = Math.min(BATCH, ROWS - lo);
          l.learnMany(x.subarray(lo * DIM, (lo + n) * DIM), y.subarray(lo, lo + n), n, pOut);
        }
      });
      l.reset();
      const one = Math.min(ROWS, 200_000);
      const b = timeRate(one, () => {
        for (let r = 0; r < one; r++) {
          for (let i = 0; i < DIM; i++) row[i] = x[r * DIM + i];
          l.learn(row, y[r] as 0 | 1);
        }
      });
      if (t > 0) { learnMany.push(a); learnManyP.push(ap); predictMany.push(p); learnOne.push(b); }
    }
  } else {
    for (let t = 0; t < TRIALS + 1; t++) {
      const l = new TsLearner(c.optimizer, c.scale);
      const a = timeRate(ROWS, () => { for (let r = 0; r < ROWS; r++) l.learn(x, r * DIM, y[r]); });
      const p = timeRate(ROWS, () => { for (let r = 0; r < ROWS; r++) out[r] = l.predict(x, r * DIM); });
      const lp = new TsLearner(c.optimizer, c.scale);
      const ap = timeRate(ROWS, () => { for (let r = 0; r < ROWS; r++) { pOut[r % BATCH] = lp.predict(x, r * DIM); lp.learn(x, r * DIM, y[r]); } });
      if (t > 0) { learnMany.push(a); learnManyP.push(ap); predictMany.push(p); learnOne.push(a); }
    }
  }
  let right = 0;
  for (let r = 0; r < ROWS; r++) right += (out[r] > 0.5 ? 1 : 0) === y[r] ? 1 : 0;
  accuracy = right / ROWS;
  const spread = (Math.max(...learnMany) - Math.min(...learnMany)) / 2 / median(learnMany);
  return { ...c, learnMany: median(learnMany), learnManyP: median(learnManyP), spread, learnOne: median(learnOne), predictMany: median(predictMany), accuracy };
}

// ---------------------------------------------------------------- parent

const M = (v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)} M/s` : `${(v / 1e3).toFixed(0)} k/s`);
const NS = (v: number) => `${(1e9 / v).toFixed(0)} ns`;

function runChild(c: Case): Result {
  const pin = existsSync('/usr/bin/taskset') && cpus().length > 1 ? ['taskset', '-c', '1'] : [];
  const cmd = [...pin, process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify(c), '--rows', String(ROWS), '--trials', String(TRIALS)];
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`child ${JSON.stringify(c)} failed: ${r.stderr}`);
  return JSON.parse(line.slice(7)) as Result;
}

function phishing(): string[] {
  if (!existsSync(PHISHING)) return [`(no ${PHISHING}: phishing figures skipped)`];
  const { columns, rows, y } = readNumericCsv(readFileSync(PHISHING, 'utf8'), 'is_phishing');
  const lines = ['| Learner (StandardScaler + LogisticRegression) | River | hotpath accuracy | log loss | ROC AUC |', '|---|---|---|---|---|'];
  for (const [name, o, river] of [
    ['SGD lr 0.005', { lr: 0.005 }, '0.8872'], ['SGD lr 0.01', { lr: 0.01 }, '0.8928'], ['SGD lr 0.1', { lr: 0.1 }, '0.8896'],
    ['FTRL-Proximal alpha 0.05, beta 1, l1 0, l2 1', { optimizer: 'ftrl' as const }, '– (F1 0.8756, lagged variant)'],
  ] as const) {
    const r = progressive(new NativeLearner({ dim: columns.length, ...o }), rows, y);
    lines.push(`| ${name} | ${river} | ${r.accuracy.toFixed(4)} | ${r.logLoss.toFixed(4)} | ${r.rocAuc.toFixed(4)} |`);
  }
  return lines;
}

function main(): void {
  const ci = args.indexOf('--child');
  if (ci >= 0) {
    console.log(`RESULT ${JSON.stringify(child(JSON.parse(args[ci + 1]) as Case))}`);
    return;
  }
  const started = Date.now();
  const rows: string[] = [];
  for (const optimizer of ['sgd', 'ftrl'] as const) {
    for (const scale of [true, false]) {
      const n = runChild({ engine: 'native', optimizer, scale });
      const t = runChild({ engine: 'ts', optimizer, scale });
      const pass = n.learnMany >= 2e6 ? 'yes' : '**miss**';
      rows.push(`| ${optimizer.toUpperCase()}${scale ? ', scaled' : ', unscaled'} | ${M(n.learnMany)} (±${(100 * n.spread).toFixed(1)}%) = ${NS(n.learnMany)} | ${M(n.learnManyP)} = ${NS(n.learnManyP)} | ${M(t.learnManyP)} | ${pass} | ${M(n.learnOne)} | ${M(t.learnMany)} | ${(n.learnMany / t.learnMany).toFixed(1)}x | ${M(n.predictMany)} | ${M(t.predictMany)} | ${n.accuracy.toFixed(4)} / ${t.accuracy.toFixed(4)} |`);
      console.error(rows[rows.length - 1]);
    }
  }
  const md = [
    `# Learner micro-benchmark, ${new Date().toISOString().slice(0, 10)}`,
    '',
    `Command: \`node --import tsx bench/learner-micro.ts${args.length ? ' ' + args.join(' ') : ''}\` (${ROWS} rows x ${DIM} float32 features, ${TRIALS} trials per case after a warm-up, median; total ${((Date.now() - started) / 1000).toFixed(0)} s)`,
    '',
    '| Machine | |', '|---|---|',
    `| CPU | ${cpus()[0]?.model ?? '?'} |`,
    `| Cores | ${cpus().length}; each case in a fresh child process${existsSync('/usr/bin/taskset') && cpus().length > 1 ? ', pinned with taskset -c 1' : ''} |`,
    `| Memory | ${(totalmem() / 2 ** 30).toFixed(0)} GiB |`,
    `| Node | ${process.version} |`,
    `| Date | ${new Date().toISOString()} |`,
    `| Load average at end | ${loadavg().map((v) => v.toFixed(2)).join(' ')} (the machine is shared) |`,
    `| Source | git HEAD ${spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim()}${process.env.HOTPATH_ADDON ? `, addon ${process.env.HOTPATH_ADDON} (HOTPATH_ADDON)` : ''} |`,
    '',
    'Updates/s: `learnMany` over batches of 4096 rows (one N-API call per batch); `learn()` is one call per',
    'example from a Float64Array (the per-event path). The peer is the same maths in plain TypeScript',
    '(Float64Array state, one function call per row), measured in the same run; "ratio" is native',
    'learnMany over the peer. Predictions: `predictMany` over all rows (FP32 in and out) against the',
    "peer's loop. learnMany + p: learnMany with a Float32Array p that gets each row's prediction before",
    'the row is learned (progressive validation, what a learner tap on labelled events does); its peer',
    'is predict then learn per row; "= N ns" is per row. (±x%): half the range of the trials. Accuracy:',
    'of the final model on the training rows',
    '(native / peer): the two engines learn the same model. Unscaled SGD at lr 0.01 oscillates on these',
    'inputs (values up to 55): there the last bits of exp() (glibc vs V8) send the two to different models.',
    '',
    '| Case (dense, 10 features) | native learnMany | native learnMany + p | TS peer predict + learn | >= 2 M/s per core | native learn() | TS peer | ratio | native predictMany | TS peer predict | accuracy native / peer |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    '## Phishing, progressive validation (rows in file order, predict then learn; class = p > 0.5)',
    '',
    ...phishing(),
    '',
  ].join('\n');
  console.log(md);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, md);
  console.error(`wrote ${OUT}`);
}

main();
