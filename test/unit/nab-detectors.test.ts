// The NAB research detectors' building blocks (src/eval/nab/detectors): order statistics
// against a brute-force model, erfc against known values, the likelihood's red-zone
// filter, the spatial rule, and NAB's windowed Gaussian's first scores.
import { describe, expect, it } from 'vitest';

import { Likelihood, logLikelihood } from '../../src/eval/nab/detectors/likelihood.js';
import { SortedWindow } from '../../src/eval/nab/detectors/sorted-window.js';
import { Spatial } from '../../src/eval/nab/detectors/spatial.js';
import { WindowedGaussian } from '../../src/eval/nab/detectors/windowed-gaussian.js';
import { EwZ } from '../../src/eval/nab/detectors/ew-z.js';
import { erfc, normalTail } from '../../src/eval/nab/stats.js';
import { mulberry32 } from '../../src/bench/random.js';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

describe('SortedWindow', () => {
  it('gives the median and MAD of the last `size` values, as a brute force does', () => {
    const rnd = mulberry32(7);
    const w = new SortedWindow(25);
    const all: number[] = [];
    for (let i = 0; i < 300; i++) {
      const x = Math.round(rnd() * 20); // ties on purpose
      w.push(x);
      all.push(x);
      const last = all.slice(-25);
      const m = median(last);
      expect(w.quantile(0.5)).toBe(m);
      expect(w.medianAbsDeviation(m)).toBe(median(last.map((v) => Math.abs(v - m))));
    }
  });
});

describe('erfc', () => {
  it('matches known values with relative accuracy into the far tail', () => {
    expect(erfc(0)).toBe(1);
    expect(erfc(1)).toBeCloseTo(0.15729920705028513, 14);
    expect(erfc(-1)).toBeCloseTo(2 - 0.15729920705028513, 14);
    expect(erfc(5) / 1.5374597944280351e-12).toBeCloseTo(1, 12);
    expect(erfc(8) / 1.1224297172982928e-29).toBeCloseTo(1, 12);
    expect(normalTail(1.959963984540054)).toBeCloseTo(0.025, 12);
  });
});

describe('Likelihood', () => {
  it('is 0.5 while learning, then high on a burst of raw scores, and demotes the second red alarm in a row', () => {
    let r = 0;
    const lik = new Likelihood({ score: () => r }, { learning: 20, estimation: 20 });
    const out: number[] = [];
    for (let i = 0; i < 200; i++) out.push(lik.score(i, 0));
    expect(out[0]).toBeCloseTo(logLikelihood(0.5), 12);
    r = 1;
    const burst = [lik.score(200, 0), lik.score(201, 0), lik.score(202, 0)];
    // the 10-row average climbs 0.1, 0.2, 0.3 against a history of 0 (μ 0.03, σ² 0.0003 floors)
    expect(burst[0]).toBeGreaterThan(0.4); // z ≈ 4: not yet red
    expect(burst[1]).toBeGreaterThan(0.9); // the first red alarm passes
    // the next is red again and so demoted to the yellow level (likelihood 0.999)
    expect(burst[2]).toBeCloseTo(logLikelihood(0.999), 12);
  });
});

describe('Spatial', () => {
  it('scores 1 beyond the range seen by more than 5%, else the inner score', () => {
    const d = new Spatial({ score: () => 0.2 });
    expect([0, 10, 10.4, 5, 10.6, -0.7].map((x, i) => d.score(i, x))).toEqual([0.2, 0.2, 0.2, 0.2, 0.2, 1]);
  });
});

describe('EwZ and WindowedGaussian', () => {
  it('score a point before learning it: the first is 0, an outlier after a constant-ish stream is ~1', () => {
    const wg = new WindowedGaussian();
    const ew = new EwZ(0.01, 1);
    expect(wg.score(0, 5)).toBe(0);
    expect(ew.score(0, 5)).toBe(0);
    for (let i = 1; i < 100; i++) {
      wg.score(i, 5 + (i % 2));
      ew.score(i, 5 + (i % 2));
    }
    expect(wg.score(100, 50)).toBeGreaterThan(0.999999);
    expect(ew.score(100, 50)).toBeGreaterThan(0.999999);
  });
});
