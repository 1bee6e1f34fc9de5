// hotpath eval: progressive validation of a configured learner, or a run of a configured
// detector, over a CSV stream (rows in file order, each scored before it is learned); and
// the Numenta Anomaly Benchmark for detectors (--nab).
import { parseArgs } from 'node:util';

import { type Config, loadConfigFile } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { categoryValue } from '../ingest/decode.js';
import { OnlineModel } from '../learn/online-model.js';
import { makeDetector } from '../learn/taps.js';
import { logLoss, rocAuc } from '../learn/window-metrics.js';
import { DEFAULT_NAB_ROOT, runNab } from '../eval/nab/run.js';
import { normalTail } from '../eval/nab/stats.js';
import { AnomalyDetector, DriftDetector } from '../native/detectors.js';
import { Progress } from './progress.js';
import { readCsv } from '../learn/csv.js';
import { EVAL_RECOMMEND_OPTIONS, EVAL_RECOMMEND_USAGE, evalRecommender, generateSessionsFile } from './eval-recommend.js';

export const EVAL_USAGE = `usage: hotpath eval --config F (--model M | --detector D) --csv FILE [--target COL] [--json]
       hotpath eval --config F --detector D --nab DIR [--json]
${EVAL_RECOMMEND_USAGE}
  Progressive validation over a CSV stream (a header row, then one example per row, in
  order): each row is predicted (or scored) first, then learned.
  --model M      a model with a learner: section; its inputs are read from the columns of
                 the same name (a field, entity.feature, or the feature's name alone)
  --target COL   the label column (0/1, true/false; default: the learner's labels.field,
                 else the last column)
  --detector D   a detector of the config's detectors: section, fed its fields' columns;
                 prints the score distribution and the most anomalous rows (or the drifts)
  --nab DIR      score the detector on the Numenta Anomaly Benchmark corpus in DIR (its
                 data/ and labels/; "-": $NAB_ROOT or ../shared/data/nab): a fresh detector per file, each
                 point scored before it is learned, fed the detector's one field from the
                 value column; NAB's three profiles (docs/nab.md). Scores outside [0, 1]
                 (robust_z, ew) are mapped by 1 - 2Q(z/3)
  --json         one JSON object on stdout instead of the table
${EVAL_RECOMMEND_OPTIONS}`;

export interface LearnerEval {
  rows: number;
  accuracy: number;
  logLoss: number;
  rocAuc: number;
  clipped: number;
  refused: number;
  ms: number;
}

function labelOf(cell: string): number {
  const c = cell.trim().toLowerCase();
  if (c === '1' || c === 'true' || c === '1.0') return 1;
  if (c === '0' || c === 'false' || c === '0.0') return 0;
  return NaN;
}

/** The column index of each of the model's inputs. */
function inputColumns(header: string[], names: string[], what: string): number[] {
  return names.map((n) => {
    const candidates = [n, n.includes('.') ? n.slice(n.indexOf('.') + 1) : n];
    const i = header.findIndex((h) => candidates.includes(h.trim()));
    if (i < 0) throw new HotpathError('HP_ERR_QUERY_INVALID', `the CSV has no column for ${what} '${n}' (columns: ${header.join(', ')})`);
    return i;
  });
}

/** Progressive validation of a config's learner over CSV rows. */
export function evalLearner(config: Config, model: string, csv: { header: string[]; rows: string[][] }, target?: string, progress?: Progress): LearnerEval {
  const def = config.models.find((m) => m.name === model);
  if (!def?.learner) throw new HotpathError('HP_ERR_QUERY_INVALID', `no model '${model}' with a learner: section in the config (learners: ${config.models.filter((m) => m.learner).map((m) => m.name).join(', ') || 'none'})`);
  const cols = inputColumns(csv.header, def.inputs!.map((i) => i.name), 'input');
  const targetName = target ?? (def.learner.labels ? def.learner.labels.stream.fields[def.learner.labels.field].name : csv.header[csv.header.length - 1]);
  const y = csv.header.findIndex((h) => h.trim() === targetName);
  if (y < 0) throw new HotpathError('HP_ERR_QUERY_INVALID', `the CSV has no target column '${targetName}'`);
  const m = new OnlineModel(def, null);
  const hashed = def.inputs!.map((i) => i.hash === true); // a category column: valued as events value it
  const x = new Float64Array(cols.length);
  const ps = new Float64Array(csv.rows.length);
  const ys = new Uint8Array(csv.rows.length);
  let n = 0;
  let correct = 0;
  let loss = 0;
  const t0 = performance.now();
  for (let r = 0; r < csv.rows.length; r++) {
    const row = csv.rows[r];
    for (let i = 0; i < cols.length; i++) x[i] = hashed[i] ? (categoryValue(row[cols[i]]) ?? NaN) : Number(row[cols[i]]);
    const label = labelOf(row[y] ?? '');
    const p = m.learnRow(x, label);
    if (Number.isNaN(p)) continue; // refused: a bad label or input (counted by the model)
    ps[n] = p;
    ys[n] = label;
    correct += (p > 0.5 ? 1 : 0) === label ? 1 : 0;
    loss += logLoss(p, label);
    n++;
    progress?.update(r + 1);
  }
  progress?.end();
  return {
    rows: n, accuracy: correct / n, logLoss: loss / n, rocAuc: rocAuc(ps.subarray(0, n), ys.subarray(0, n)),
    clipped: m.counts.clipped, refused: m.counts.refused + m.labels.invalid, ms: performance.now() - t0,
  };
}

export interface DetectorEval {
  rows: number;
  /** anomaly detectors: score quantiles and the top rows; drift detectors: the rows of each drift */
  quantiles?: Record<string, number>;
  top?: { row: number; score: number }[];
  drifts?: number[];
  ms: number;
}

export function evalDetector(config: Config, name: string, csv: { header: string[]; rows: string[][] }, progress?: Progress): DetectorEval {
  const def = config.detectors.find((d) => d.name === name);
  if (!def) throw new HotpathError('HP_ERR_QUERY_INVALID', `no detector '${name}' in the config (detectors: ${config.detectors.map((d) => d.name).join(', ') || 'none'})`);
  if (def.keyColumn >= 0) throw new HotpathError('HP_ERR_QUERY_INVALID', `detector '${name}' runs per entity; eval runs per-stream detectors`);
  const cols = inputColumns(csv.header, def.fieldNames, 'field');
  const det = makeDetector(def);
  const x = new Float64Array(cols.length);
  const scores = new Float64Array(csv.rows.length);
  const one = new Float64Array(1);
  const drifts: number[] = [];
  const t0 = performance.now();
  for (let r = 0; r < csv.rows.length; r++) {
    for (let i = 0; i < cols.length; i++) x[i] = Number(csv.rows[r][cols[i]]);
    if (det instanceof DriftDetector) {
      if (det.update(x[0])) drifts.push(r + 1);
    } else if (det instanceof AnomalyDetector) {
      det.scoreLearnMany(x, 1, one);
      scores[r] = one[0];
    }
    progress?.update(r + 1);
  }
  progress?.end();
  const ms = performance.now() - t0;
  if (def.kind === 'adwin' || def.kind === 'page_hinkley') return { rows: csv.rows.length, drifts, ms };
  const sorted = Float64Array.from(scores).sort();
  const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))];
  const top = Array.from(scores, (score, row) => ({ row: row + 1, score })).sort((a, b) => b.score - a.score).slice(0, 10);
  return { rows: csv.rows.length, quantiles: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: sorted[sorted.length - 1] }, top, ms };
}

/** NAB's three normalised scores of a config's per-stream anomaly detector. */
export function evalNab(config: Config, name: string, root: string, progress?: Progress): Record<string, { score: number; threshold: number }> {
  const def = config.detectors.find((d) => d.name === name);
  if (!def) throw new HotpathError('HP_ERR_QUERY_INVALID', `no detector '${name}' in the config (detectors: ${config.detectors.map((d) => d.name).join(', ') || 'none'})`);
  if (def.keyColumn >= 0 || def.fields.length !== 1 || def.kind === 'adwin' || def.kind === 'page_hinkley')
    throw new HotpathError('HP_ERR_QUERY_INVALID', `NAB scores a per-stream anomaly detector of one field; '${name}' is ${def.kind}${def.keyColumn >= 0 ? ' per entity' : ''}`);
  const bounded = def.kind === 'likelihood' || def.kind === 'hst';
  const run = runNab(
    () => {
      const d = makeDetector(def) as AnomalyDetector;
      return { score: (_t: number, v: number) => {
        const s = d.scoreLearn(v);
        return bounded ? s : s === Infinity ? 1 : 1 - 2 * normalTail(s / 3);
      } };
    },
    { root, onProgress: (done) => progress?.update(done) },
  );
  progress?.end();
  const out: Record<string, { score: number; threshold: number }> = {};
  for (const p of ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'] as const) out[p] = { score: run[p].normalized, threshold: run[p].threshold };
  return out;
}

export async function evaluate(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', default: 'hotpath.yaml' },
      model: { type: 'string' },
      detector: { type: 'string' },
      csv: { type: 'string' },
      nab: { type: 'string' },
      target: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      recommender: { type: 'string' },
      sessions: { type: 'string' },
      'generate-sessions': { type: 'string' },
      k: { type: 'string' },
      'test-fraction': { type: 'string' },
      frozen: { type: 'boolean', default: false },
      seed: { type: 'string' },
      'gen-sessions': { type: 'string' },
      'gen-items': { type: 'string' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(EVAL_USAGE);
    return;
  }
  if (values['generate-sessions'] !== undefined) return void process.stdout.write(generateSessionsFile(values));
  if (values.recommender !== undefined) return void process.stdout.write(evalRecommender(loadConfigFile(values.config), values));
  if ((values.model === undefined) === (values.detector === undefined)) throw new HotpathError('HP_ERR_QUERY_INVALID', `give one of --model or --detector\n\n${EVAL_USAGE}`);
  const config = loadConfigFile(values.config);
  if (values.nab !== undefined) {
    if (!values.detector) throw new HotpathError('HP_ERR_QUERY_INVALID', '--nab scores a --detector');
    const root = values.nab === '-' ? DEFAULT_NAB_ROOT : values.nab;
    const r = evalNab(config, values.detector, root, new Progress(`NAB ${values.detector}`, 58, { force: process.stderr.isTTY === true }));
    if (values.json) return void process.stdout.write(`${JSON.stringify({ detector: values.detector, nab: r })}\n`);
    process.stdout.write(
      `${values.detector}: the Numenta Anomaly Benchmark (${root})\n\n| profile | score | threshold |\n|---|---|---|\n` +
        Object.entries(r).map(([p, v]) => `| ${p} | ${v.score.toFixed(2)} | ${v.threshold.toFixed(4)} |`).join('\n') + '\n',
    );
    return;
  }
  if (!values.csv) throw new HotpathError('HP_ERR_QUERY_INVALID', `--csv FILE is needed\n\n${EVAL_USAGE}`);
  const csv = readCsv(values.csv);
  const progress = new Progress(values.model ?? values.detector!, csv.rows.length);
  if (values.model) {
    const r = evalLearner(config, values.model, csv, values.target, progress);
    if (values.json) return void process.stdout.write(`${JSON.stringify({ model: values.model, ...r })}\n`);
    const def = config.models.find((m) => m.name === values.model)!.learner!;
    process.stdout.write(
      `${values.model}: ${def.algorithm}${def.algorithm === 'sgd' ? ` lr ${def.learningRate}` : ` alpha ${def.alpha} beta ${def.beta}`}${def.scale ? ', standard scaling' : ''}; progressive validation over ${r.rows} rows of ${values.csv}\n\n` +
        `| metric | value |\n|---|---|\n| accuracy | ${r.accuracy.toFixed(4)} |\n| log loss | ${r.logLoss.toFixed(4)} |\n| ROC AUC | ${r.rocAuc.toFixed(4)} |\n` +
        `| clipped updates | ${r.clipped} |\n| refused rows | ${r.refused} |\n| time | ${r.ms.toFixed(1)} ms (${((r.rows / r.ms) * 1000).toFixed(0)} rows/s) |\n`,
    );
    return;
  }
  const r = evalDetector(config, values.detector!, csv, progress);
  if (values.json) return void process.stdout.write(`${JSON.stringify({ detector: values.detector, ...r })}\n`);
  let out = `${values.detector}: ${r.rows} rows of ${values.csv} in ${r.ms.toFixed(1)} ms\n\n`;
  if (r.drifts) out += `drifts at rows: ${r.drifts.join(', ') || 'none'}\n`;
  else {
    out += `| score quantile | value |\n|---|---|\n${Object.entries(r.quantiles!).map(([k, v]) => `| ${k} | ${v.toFixed(4)} |`).join('\n')}\n\n`;
    out += `most anomalous rows: ${r.top!.map((t) => `${t.row} (${t.score.toFixed(3)})`).join(', ')}\n`;
  }
  process.stdout.write(out);
}
