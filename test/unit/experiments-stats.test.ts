// The experiment statistics against the published test vectors and reference values
// (scipy 1.17: scipy.stats.norm, chi2, chisquare; scipy.special.erfc, gammainc, gammaincc).
import { describe, expect, it } from 'vitest';

import {
  chiSquareSf, csHalfWidth, csP, csRho, difference, erfc, gammaP, gammaQ, msprtLambda, msprtP, msprtTau2, normalCdf, normalQuantile, normalSf, srm, variance, zTest,
} from '../../src/experiments/stats.js';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('special functions', () => {
  it('match scipy', () => {
    expect(rel(normalCdf(1.96), 0.9750021048517795)).toBeLessThan(1e-14);
    expect(rel(normalSf(5), 2.866515718791933e-7)).toBeLessThan(1e-12);
    expect(rel(normalSf(10), 7.61985302416047e-24)).toBeLessThan(1e-10);
    expect(rel(normalQuantile(0.975), 1.959963984540054)).toBeLessThan(1e-14);
    expect(rel(normalQuantile(1e-10), -6.361340902404056)).toBeLessThan(1e-12);
    expect(rel(erfc(0.5), 0.4795001221869535)).toBeLessThan(1e-14);
    expect(rel(gammaQ(2.5, 0.3), 0.9880032427940937)).toBeLessThan(1e-13);
    expect(rel(gammaP(7, 3), 0.033508535308841216)).toBeLessThan(1e-12);
    expect(rel(chiSquareSf(3.84, 1), 0.05004352124870519)).toBeLessThan(1e-12);
    expect(rel(chiSquareSf(10, 3), 0.01856613546304325)).toBeLessThan(1e-12);
    expect(rel(chiSquareSf(150, 4), 2.035764090974152e-31)).toBeLessThan(1e-10);
  });
});

describe('mSPRT (Johari et al. 2017, normal mixture)', () => {
  it('gives the published test vector: α = 0.05, σ = 1, M = 10⁴ → τ² = 0.07716; n = 2000/arm, d = 0.1 → Λ = 15.75, p = 0.0635', () => {
    const tau2 = msprtTau2(0.05, 1, 1e4);
    expect(tau2.toFixed(5)).toBe('0.07716');
    // known σ = 1 in each arm: se² = 2σ²/n
    const lambda = msprtLambda(0.1, 2 / 2000, tau2);
    expect(lambda.toFixed(2)).toBe('15.75');
    expect(msprtP(lambda).toFixed(4)).toBe('0.0635');
  });
  it('is 1 at no difference scaled by the variance ratio, and grows with the difference', () => {
    const tau2 = msprtTau2(0.05, 1, 1e4);
    expect(msprtLambda(0, 0.001, tau2)).toBeCloseTo(Math.sqrt(0.001 / (0.001 + tau2)), 12);
    expect(msprtLambda(0.2, 0.001, tau2)).toBeGreaterThan(msprtLambda(0.1, 0.001, tau2));
    expect(msprtP(0.5)).toBe(1);
  });
});

describe('asymptotic confidence sequences (Waudby-Smith et al., as GrowthBook uses them)', () => {
  it('ρ for N* = 5000 at α = 0.05 is 0.03984', () => {
    expect(csRho(0.05, 5000).toFixed(5)).toBe('0.03984');
  });
  it('is wider than the fixed-horizon interval, and its p-value is below α exactly when it excludes 0', () => {
    const rho = csRho(0.05, 5000);
    const se2 = 2 / 5000;
    const half = csHalfWidth(se2, 10_000, rho, 0.05);
    expect(half).toBeGreaterThan(1.96 * Math.sqrt(se2));
    expect(csP(half * 1.001, se2, 10_000, rho)).toBeLessThan(0.05);
    expect(csP(half * 0.999, se2, 10_000, rho)).toBeGreaterThan(0.05);
    expect(csP(half, se2, 10_000, rho)).toBeCloseTo(0.05, 12);
  });
});

describe('fixed-horizon z-test and SRM', () => {
  it('z-test of a known difference', () => {
    const d = difference({ n: 1000, sum: 100, sumSq: 100 }, { n: 1000, sum: 130, sumSq: 130 });
    expect(d.diff).toBeCloseTo(0.03, 12);
    const t = zTest(d, 0.05);
    const se = Math.sqrt((0.1 * 0.9 * 1000) / 999 / 1000 + (0.13 * 0.87 * 1000) / 999 / 1000);
    expect(t.z).toBeCloseTo(0.03 / se, 10);
    expect(t.p).toBeCloseTo(2 * normalSf(0.03 / se), 14);
    expect(t.ci[0]).toBeCloseTo(0.03 - 1.959963984540054 * se, 12);
  });
  it('SRM: chi-square goodness of fit as scipy.stats.chisquare', () => {
    const a = srm([5100, 4900], [0.5, 0.5]);
    expect(a.chi2).toBeCloseTo(4, 12);
    expect(rel(a.p, 0.04550026389635857)).toBeLessThan(1e-12);
    const b = srm([1010, 3000, 6000], [0.1, 0.3, 0.6]);
    expect(rel(b.chi2, 0.0899100899100899)).toBeLessThan(1e-12);
    expect(rel(b.p, 0.9560404597089015)).toBeLessThan(1e-12);
    expect(b.df).toBe(2);
    // an arm expected to get nothing (rolled back) is left out, counts and all
    const c = srm([5100, 777, 4900], [0.5, 0, 0.5]);
    expect(c.chi2).toBeCloseTo(4, 12);
    expect(c.df).toBe(1);
  });
  it('variance of a variant with one sample is unknown', () => {
    expect(variance({ n: 1, sum: 1, sumSq: 1 })).toBeNaN();
  });
});

describe('continuous peeking, simulated (src/experiments/simulate.ts)', () => {
  it('A/A: the always-valid tests keep the false-positive rate at or below α; the naive z-test at every look does not', async () => {
    const { simulate } = await import('../../src/experiments/simulate.js');
    const r = simulate({ name: 'aa', kind: 'conversion', a: 0.1, b: 0.1, horizon: 10_000 }, { runs: 300, batch: 100, seed: 7, alpha: 0.05, minSamples: 100 });
    // 300 runs: a true rate of 5 % gives at most ~9 % by chance (upper 99.9 % bound)
    expect(r.msprt.rejected / 300).toBeLessThan(0.09);
    expect(r.cs.rejected / 300).toBeLessThan(0.09);
    expect(r.z.rejected / 300).toBeGreaterThan(0.15);
    const e = simulate({ name: 'effect', kind: 'mean', a: 0, b: 0.2, horizon: 4000 }, { runs: 100, batch: 100, seed: 8, alpha: 0.05, minSamples: 100 });
    expect(e.msprt.rejected).toBeGreaterThan(80);
    expect(e.cs.rejected).toBeGreaterThan(80);
  });
});
