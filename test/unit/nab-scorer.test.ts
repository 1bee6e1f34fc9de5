// The NAB scorer on hand-made files: window weighting, the probationary period, the
// threshold sweep and the normalisation (src/eval/nab). The whole-corpus check against
// NAB's published results is bench/nab-crosscheck.ts (it needs NAB's results files).
import { describe, expect, it } from 'vitest';

import { parseTimestamp, windowIndices } from '../../src/eval/nab/corpus.js';
import { PROFILES } from '../../src/eval/nab/profiles.js';
import { NO_DETECTION, optimizeThreshold, scoreCorpus, scoreFile } from '../../src/eval/nab/score.js';
import { MAX_TP, probationaryLength, scaledSigmoid, sweepFile } from '../../src/eval/nab/sweeper.js';

const std = PROFILES.standard;
/** 1000 rows (probation 150), one window over rows [400, 499]. */
const swept = sweepFile('a.csv', 1000, [[400, 499]]);
/** scores that detect exactly the given rows at any threshold in (0, 1] */
const detect = (rows: number[], n = 1000): Float64Array => {
  const s = new Float64Array(n);
  for (const r of rows) s[r] = 1;
  return s;
};
const score = (rows: number[]) => scoreFile({ swept, scores: detect(rows) }, std, 1).score;

describe('NAB scaled sigmoid', () => {
  it('is 0.98661 at the left edge, 0 at the right edge, -1 beyond 3 widths', () => {
    expect(scaledSigmoid(-1)).toBeCloseTo(0.98661, 5);
    expect(scaledSigmoid(-0.5)).toBeCloseTo(0.84828, 5);
    expect(scaledSigmoid(0)).toBe(0);
    expect(scaledSigmoid(1)).toBeCloseTo(-0.98661, 5);
    expect(scaledSigmoid(3.01)).toBe(-1);
  });
});

describe('NAB probationary period', () => {
  it('is 15% of the file, at most 750 rows, and its rows are not scored', () => {
    expect(probationaryLength(1000)).toBe(150);
    expect(probationaryLength(22695)).toBe(750);
    expect(swept.first).toBe(150);
    expect(swept.unweighted.length).toBe(850);
    // a detection in the probationary period is neither FP nor TP
    expect(score([10])).toBe(-1);
    // a window entirely inside it costs nothing when missed, and the perfect count keeps it
    const early = sweepFile('b.csv', 1000, [[10, 20]]);
    expect(early.scorableWindows).toBe(0);
    expect(early.windows).toBe(1);
  });
});

describe('NAB window scoring', () => {
  it('a TP at the left edge scores tpWeight; earlier in the window scores more than later', () => {
    expect(score([400])).toBeCloseTo(1, 12);
    expect(score([420])).toBeGreaterThan(score([480]));
    expect(score([480])).toBeGreaterThan(0);
  });

  it('counts only the best detection in a window: more detections inside add nothing', () => {
    expect(score([400, 410, 450, 499])).toBe(score([400]));
  });

  it('a missed window costs fnWeight; an FP before any window costs fpWeight', () => {
    expect(score([])).toBe(-1);
    expect(score([200])).toBeCloseTo(-1 - 0.11, 12);
  });

  it('an FP right after a window costs less than one far away, and every FP counts', () => {
    const near = score([400, 505]) - score([400]);
    const far = score([400, 900]) - score([400]);
    expect(near).toBeLessThan(0);
    expect(near).toBeGreaterThan(far);
    expect(far).toBeCloseTo(-0.11, 12);
    expect(score([400, 900, 901]) - score([400])).toBeCloseTo(-0.22, 12);
  });

  it('weighs each profile as config/profiles.json does', () => {
    const s = detect([900]);
    expect(scoreFile({ swept, scores: s }, PROFILES.reward_low_FP_rate, 1).score).toBeCloseTo(-1 - 0.22, 12);
    expect(scoreFile({ swept, scores: s }, PROFILES.reward_low_FN_rate, 1).score).toBeCloseTo(-2 - 0.11, 12);
  });

  it('counts rows as NAB does (TP and FN are rows in windows)', () => {
    const c = scoreFile({ swept, scores: detect([400, 401, 900]) }, std, 1);
    expect(c).toMatchObject({ tp: 2, fn: 98, fp: 1, tn: 749 });
  });
});

describe('NAB threshold sweep and normalisation', () => {
  it('picks the threshold that maximises the corpus total', () => {
    const s = new Float64Array(1000);
    s[410] = 0.9; // a TP
    s[700] = 0.8; // an FP below it
    s[800] = 0.95; // an FP above it: worth taking only if the TP is worth more than it costs
    const r = optimizeThreshold([{ swept, scores: s }], std);
    expect(r.threshold).toBe(0.9);
    expect(r.score).toBeCloseTo(scaledSigmoid(-90 / 100) / MAX_TP - 0.11, 12);
  });

  it('keeps the no-detection threshold when every detection costs more than it earns', () => {
    const r = optimizeThreshold([{ swept, scores: detect([900]) }], std);
    expect(r).toEqual({ threshold: NO_DETECTION, score: -1 });
  });

  it('scores the null detector 0 and the perfect detector 100 in every profile', () => {
    const files = [sweepFile('a.csv', 1000, [[400, 499]]), sweepFile('b.csv', 2000, [[500, 599], [1500, 1599]])];
    const nul = scoreCorpus(files.map((f) => ({ swept: f, scores: new Float64Array(f.first + f.unweighted.length).fill(0.5) })));
    const perfect = scoreCorpus([
      { swept: files[0], scores: detect([400]) },
      { swept: files[1], scores: detect([500, 1500], 2000) },
    ]);
    for (const p of Object.values(nul.profiles)) expect(p.normalized).toBe(0);
    for (const p of Object.values(perfect.profiles)) expect(p.normalized).toBeCloseTo(100, 10);
    expect(perfect.profiles.reward_low_FN_rate).toMatchObject({ null: -6, perfect: 3 });
  });
});

describe('NAB corpus', () => {
  it('reads NAB timestamps and maps window edges to rows, refusing an edge that is not a row', () => {
    const ts = Float64Array.from(['2014-04-10 07:15:00', '2014-04-10 07:20:00', '2014-04-10 07:25:00'].map(parseTimestamp));
    expect(windowIndices('f', ts, [['2014-04-10 07:20:00.000000', '2014-04-10 07:25:00.000000']])).toEqual([[1, 2]]);
    expect(() => windowIndices('f', ts, [['2014-04-10 07:21:00.000000', '2014-04-10 07:25:00.000000']])).toThrow(/not a timestamp/);
  });
});
