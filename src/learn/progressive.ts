// Progressive validation (River's evaluate.progressive_val_score): each row is predicted
// first, scored, and only then learned, in order; every prediction is on a row the learner
// has not seen. Used by the phishing reproduction (test/unit/phishing.test.ts) and the bench.
import type { NativeLearner } from '../native/learner.js';
import { parseCsv } from './csv.js';
import { logLoss, rocAuc } from './window-metrics.js';

export { rocAuc };

export interface ProgressiveResult {
  rows: number;
  /** the class is p > 0.5: River's predict_one takes the argmax of {False: 1 - p, True: p},
   * and a tie (p = 0.5, an untrained model) goes to False, the first key */
  accuracy: number;
  /** mean log loss, p clamped to [1e-15, 1 - 1e-15] as River's metrics.LogLoss does */
  logLoss: number;
  /** exact ROC AUC over all the predictions (ties count half); River's ROCAUC approximates
   * it with a fixed number of thresholds */
  rocAuc: number;
  /** rows the learner refused (a bad value or label): neither scored nor learned */
  refused: number;
}

/** Runs learner over rows (dim values each) with labels y (0/1), predicting each row before learning it. */
export function progressive(learner: NativeLearner, rows: readonly (readonly number[])[], y: readonly number[]): ProgressiveResult {
  if (rows.length !== y.length) throw new RangeError(`${rows.length} rows but ${y.length} labels`);
  const row = new Float64Array(learner.spec.dim);
  const scores: number[] = [];
  const labels: number[] = [];
  let right = 0;
  let loss = 0;
  let refused = 0;
  for (let r = 0; r < rows.length; r++) {
    const label = y[r];
    if (label !== 0 && label !== 1) {
      refused++;
      continue;
    }
    row.set(rows[r]);
    let p: number;
    try {
      p = learner.predict(row);
      learner.learn(row, label);
    } catch {
      refused++;
      continue;
    }
    right += (p > 0.5 ? 1 : 0) === label ? 1 : 0;
    loss += logLoss(p, label);
    scores.push(p);
    labels.push(label);
  }
  const n = scores.length;
  return { rows: n, accuracy: n ? right / n : NaN, logLoss: n ? loss / n : NaN, rocAuc: rocAuc(scores, labels), refused };
}


/** Rows of a CSV of numbers with a header; the column `target` becomes the labels. */
export function readNumericCsv(text: string, target: string): { columns: string[]; rows: number[][]; y: number[] } {
  const { header, rows } = parseCsv(text);
  const t = header.findIndex((h) => h.trim() === target);
  if (t < 0) throw new RangeError(`no column ${target}`);
  return {
    columns: header.filter((_, i) => i !== t).map((h) => h.trim()),
    rows: rows.map((cells) => cells.filter((_, i) => i !== t).map(Number)),
    y: rows.map((cells) => Number(cells[t])),
  };
}
