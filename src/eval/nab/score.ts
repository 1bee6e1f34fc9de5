// NAB's scoring once the rows are swept (sweeper.ts): the threshold sweep over the whole
// corpus (nab/optimizer.py + Sweeper.calcScoreByThreshold), the per-file score at that
// threshold (nab/scorer.py) and the normalisation against the null and perfect detectors
// (Runner.normalize).
//
// A detection is a row whose anomaly score is >= the threshold. Within a window only the
// best (earliest) detection counts, as a TP worth tpWeight * S / MAX_TP; every detection
// outside a window counts, as fpWeight * S (S < 0); a window with no detection costs
// -fnWeight. The sweep tries every distinct anomaly score as the threshold, plus 1.1
// (detect nothing), and keeps the one with the highest corpus total; ties keep the
// higher threshold, as NAB's stable sort does.
import { type CostMatrix, PROFILE_NAMES, PROFILES, type ProfileName } from './profiles.js';
import { MAX_TP, type SweptFile } from './sweeper.js';

/** A file's sweep plus the detector's anomaly score for each of its rows (all rows). */
export interface Detections {
  swept: SweptFile;
  scores: ArrayLike<number>;
}

export interface Counts {
  score: number;
  tp: number;
  tn: number;
  fp: number;
  fn: number;
}

/** The first threshold NAB tries: above every score in [0, 1], so nothing is detected. */
export const NO_DETECTION = 1.1;

const rowValue = (c: CostMatrix, unweighted: number, inWindow: boolean): number =>
  inWindow ? (unweighted * c.tpWeight) / MAX_TP : unweighted * c.fpWeight;

/** The threshold that maximises the corpus total, and that total. */
export function optimizeThreshold(files: readonly Detections[], cost: CostMatrix): { threshold: number; score: number } {
  let total = 0;
  for (const f of files) total += f.swept.scorableWindows;
  // Every row of the corpus, ordered by anomaly score, highest first.
  const rows: Array<{ s: number; v: number; w: number }> = [];
  let windowBase = 0;
  for (const f of files) {
    const { first, unweighted, window } = f.swept;
    for (let j = 0; j < unweighted.length; j++) {
      const inWindow = window[j] >= 0;
      rows.push({ s: f.scores[first + j], v: rowValue(cost, unweighted[j], inWindow), w: inWindow ? windowBase + window[j] : -1 });
    }
    windowBase += f.swept.windows;
  }
  rows.sort((a, b) => b.s - a.s);
  // best[w]: what window w adds to the total now (-fnWeight until it has a detection).
  const best = new Float64Array(windowBase).fill(-cost.fnWeight);
  let score = -cost.fnWeight * total;
  let threshold = NO_DETECTION;
  let bestScore = score;
  let bestThreshold = threshold;
  for (const r of rows) {
    if (r.s !== threshold) {
      if (score > bestScore) [bestScore, bestThreshold] = [score, threshold];
      threshold = r.s;
    }
    if (r.w < 0) score += r.v;
    else if (r.v > best[r.w]) {
      score += r.v - best[r.w];
      best[r.w] = r.v;
    }
  }
  if (score > bestScore) [bestScore, bestThreshold] = [score, threshold];
  return { threshold: bestThreshold, score: bestScore };
}

/** One file's score and row counts at a threshold (NAB's per-file results row). */
export function scoreFile(d: Detections, cost: CostMatrix, threshold: number): Counts {
  const { first, unweighted, window, windows } = d.swept;
  const best = new Float64Array(windows).fill(-Infinity);
  const out: Counts = { score: 0, tp: 0, tn: 0, fp: 0, fn: 0 };
  for (let j = 0; j < unweighted.length; j++) {
    const detected = d.scores[first + j] >= threshold;
    const w = window[j];
    if (w < 0) {
      if (detected) {
        out.fp++;
        out.score += rowValue(cost, unweighted[j], false);
      } else out.tn++;
    } else {
      if (detected) {
        out.tp++;
        best[w] = Math.max(best[w], rowValue(cost, unweighted[j], true));
      } else {
        out.fn++;
        // a scorable window with no detection keeps -fnWeight
        if (best[w] === -Infinity) best[w] = -cost.fnWeight;
      }
    }
  }
  for (const b of best) if (b !== -Infinity) out.score += b;
  return out;
}

export interface ProfileResult {
  threshold: number;
  /** the corpus total at the threshold (NAB's "Totals" row) */
  raw: number;
  /** 100 * (raw - null) / (perfect - null) */
  normalized: number;
  /** the null detector's total: every scorable window missed */
  null: number;
  /** the perfect detector's total: tpWeight per window of the label file */
  perfect: number;
}

export interface NabScore {
  profiles: Record<ProfileName, ProfileResult>;
  perFile: Array<{ name: string } & Record<ProfileName, Counts>>;
}

/**
 * NAB normalises with the null detector's published total; the null detector (a constant
 * 0.5) scores best by detecting nothing, so its total is -fnWeight per scorable window.
 * "Perfect" counts every window of the label file, scorable or not, as NAB does.
 */
export function scoreCorpus(files: readonly Detections[]): NabScore {
  const windows = files.reduce((n, f) => n + f.swept.windows, 0);
  const scorable = files.reduce((n, f) => n + f.swept.scorableWindows, 0);
  const profiles = {} as Record<ProfileName, ProfileResult>;
  const perFile = files.map((f) => ({ name: f.swept.name }) as { name: string } & Record<ProfileName, Counts>);
  for (const p of PROFILE_NAMES) {
    const cost = PROFILES[p];
    const { threshold } = optimizeThreshold(files, cost);
    let raw = 0;
    files.forEach((f, i) => {
      perFile[i][p] = scoreFile(f, cost, threshold);
      raw += perFile[i][p].score;
    });
    const nul = -cost.fnWeight * scorable;
    const perfect = cost.tpWeight * windows;
    profiles[p] = { threshold, raw, normalized: (100 * (raw - nul)) / (perfect - nul), null: nul, perfect };
  }
  return { profiles, perFile };
}
