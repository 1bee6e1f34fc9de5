// The bandits' generator and policies (src/bandits/): the generator's determinism and its
// distributions against their known moments and CDF, each policy finding a planted best
// arm, the posteriors against their closed forms computed from the data, Sherman-Morrison
// against an explicit inverse, epsilon-greedy's propensity, and retired arms.
import { describe, expect, it } from 'vitest';

import { EpsilonGreedy, LinUcb, LinThompson, makePolicy, type PolicyKind, ThompsonBeta, ThompsonGaussian, Ucb1 } from '../../src/bandits/policies.js';
import { Rng } from '../../src/bandits/random.js';

function moments(xs: Float64Array): [number, number] {
  let m = 0;
  for (const x of xs) m += x;
  m /= xs.length;
  let v = 0;
  for (const x of xs) v += (x - m) ** 2;
  return [m, v / (xs.length - 1)];
}

const min = (xs: Float64Array): number => xs.reduce((a, b) => Math.min(a, b), Infinity);
const max = (xs: Float64Array): number => xs.reduce((a, b) => Math.max(a, b), -Infinity);

function draw(n: number, f: () => number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f();
  return out;
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 via erf; |error| < 1.5e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - (((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t) * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

describe('Rng', () => {
  it('gives the same sequence for a seed, another for another seed, and resumes from its state', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = draw(1000, () => a.nextU32());
    expect(draw(1000, () => b.nextU32())).toEqual(sa);
    expect(draw(1000, () => c.nextU32())).not.toEqual(sa);
    const s = a.state();
    const next = draw(100, () => a.normal());
    const d = new Rng(1);
    d.restore(s);
    expect(draw(100, () => d.normal())).toEqual(next);
    // xoshiro128** from the state (1, 2, 3, 4): the reference implementation's first outputs
    const ref = new Rng(0);
    ref.restore([1, 2, 3, 4]);
    expect(Array.from(draw(6, () => ref.nextU32()))).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
    // and seed 1 through splitmix32: pinned, so a change of the seeding shows
    expect(Array.from(draw(3, (() => { const g = new Rng(1); return () => g.nextU32(); })()))).toEqual([2442144158, 3238099751, 3819917871]);
    expect(() => d.restore([1, 2, 3])).toThrow();
  });

  it('draws uniforms in (0, 1) with mean 1/2 and variance 1/12, and integers below n evenly', () => {
    const r = new Rng(7);
    const u = draw(200_000, () => r.uniform());
    expect(min(u)).toBeGreaterThan(0);
    expect(max(u)).toBeLessThan(1);
    const [m, v] = moments(u);
    expect(Math.abs(m - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(v - 1 / 12)).toBeLessThan(0.002);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[r.below(10)]++;
    for (const n of counts) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });

  it('draws normals that pass a Kolmogorov-Smirnov test and have the tails of N(0, 1)', () => {
    const r = new Rng(11);
    const n = 200_000;
    const x = draw(n, () => r.normal()).sort();
    let d = 0;
    for (let i = 0; i < n; i++) d = Math.max(d, Math.abs(phi(x[i]) - i / n), Math.abs(phi(x[i]) - (i + 1) / n));
    expect(d).toBeLessThan(1.63 / Math.sqrt(n)); // the 1 % critical value
    const [m, v] = moments(x);
    expect(Math.abs(m)).toBeLessThan(0.01);
    expect(Math.abs(v - 1)).toBeLessThan(0.01);
    // beyond the ziggurat's base (3.44): P(|X| > 3.5) = 4.65e-4
    const tail = x.filter((z) => Math.abs(z) > 3.5).length / n;
    expect(tail).toBeGreaterThan(2.5e-4);
    expect(tail).toBeLessThan(7e-4);
  });

  it('draws Gamma(k) with mean k and variance k, for shapes below and above 1', () => {
    const r = new Rng(5);
    for (const k of [0.3, 1, 3.7, 250]) {
      const [m, v] = moments(draw(100_000, () => r.gamma(k)));
      expect(Math.abs(m - k) / k).toBeLessThan(0.02);
      expect(Math.abs(v - k) / k).toBeLessThan(0.05);
    }
  });

  it('draws Beta(a, b) with the mean a/(a+b) and variance ab/((a+b)^2 (a+b+1))', () => {
    const r = new Rng(9);
    for (const [a, b] of [[1, 1], [4, 4], [0.5, 2], [300, 700]]) {
      const x = draw(100_000, () => r.beta(a, b));
      const [m, v] = moments(x);
      const mean = a / (a + b);
      const variance = (a * b) / ((a + b) ** 2 * (a + b + 1));
      expect(Math.abs(m - mean)).toBeLessThan(0.01 * Math.max(mean, 0.1));
      expect(Math.abs(v - variance) / variance).toBeLessThan(0.05);
      expect(min(x)).toBeGreaterThanOrEqual(0);
      expect(max(x)).toBeLessThanOrEqual(1);
    }
  });
});

/** Plays a Bernoulli bandit; returns the share of the last `tail` pulls on the best arm. */
function play(kind: PolicyKind, p: number[], steps: number, tail: number, seed = 3): number {
  const env = new Rng(seed + 1000);
  const pol = makePolicy({ kind, capacity: p.length, seed, epsilon: 0.05 }, p.length);
  const best = p.indexOf(Math.max(...p));
  let hits = 0;
  for (let t = 0; t < steps; t++) {
    const a = pol.choose(null);
    const r = kind === 'gaussian_thompson' ? p[a] + env.normal() * 0.5 : env.uniform() < p[a] ? 1 : 0;
    pol.update(a, r, null);
    if (t >= steps - tail && a === best) hits++;
  }
  return hits / tail;
}

describe('non-contextual policies', () => {
  const p = [0.3, 0.45, 0.7, 0.5, 0.2];
  it.each(['thompson', 'ucb1', 'epsilon_greedy', 'gaussian_thompson'] as const)('%s settles on the planted best arm', (kind) => {
    const share = play(kind, p, 20_000, 2000);
    expect(share).toBeGreaterThan(kind === 'epsilon_greedy' ? 0.9 : 0.93);
  });

  it('thompson: the posterior is Beta(prior + successes, prior + failures), fractional rewards split', () => {
    const t = new ThompsonBeta({ kind: 'thompson', capacity: 3, priorAlpha: 2, priorBeta: 0.5 });
    t.open(0);
    t.open(1);
    for (const r of [1, 0, 1, 1, 0.25]) t.update(1, r, null);
    expect([t.a[1], t.b[1]]).toEqual([2 + 3.25, 0.5 + 1.75]);
    expect([t.a[0], t.b[0]]).toEqual([2, 0.5]);
    expect(t.pulls[1]).toBe(5);
    expect(t.mean(1)).toBeCloseTo(3.25 / 5, 12);
  });

  it('gaussian_thompson: the Normal-Inverse-Gamma posterior matches its closed form', () => {
    const g = new ThompsonGaussian({ kind: 'gaussian_thompson', capacity: 2, priorMean: 1, priorKappa: 2, priorAlpha: 3, priorBeta: 4 });
    g.open(0);
    const xs = [2.5, -1, 0.75, 3, 1.25, 0.5];
    for (const x of xs) g.update(0, x, null);
    const n = xs.length;
    const mean = xs.reduce((a, b) => a + b) / n;
    const ss = xs.reduce((a, b) => a + (b - mean) ** 2, 0);
    const [mu, kappa, alpha, beta] = g.posterior(0);
    expect(kappa).toBe(2 + n);
    expect(mu).toBeCloseTo((2 * 1 + n * mean) / (2 + n), 12);
    expect(alpha).toBe(3 + n / 2);
    expect(beta).toBeCloseTo(4 + ss / 2 + (2 * n * (mean - 1) ** 2) / (2 * (2 + n)), 12);
    // the draws' spread: the posterior predictive of mu is Student-t; check its mean
    const one = new ThompsonGaussian({ kind: 'gaussian_thompson', capacity: 2, seed: 4, priorMean: 1, priorKappa: 2, priorAlpha: 3, priorBeta: 4 });
    one.open(0);
    for (const x of xs) one.update(0, x, null);
    expect(one.posterior(0)).toEqual(g.posterior(0));
  });

  it('ucb1: tries every arm once, then the largest mean + sqrt(2 ln N / n)', () => {
    const u = new Ucb1({ kind: 'ucb1', capacity: 3 });
    for (let s = 0; s < 3; s++) u.open(s);
    const seen = [u.choose(), (u.update(0, 1, null), u.choose()), (u.update(1, 0, null), u.choose())];
    expect(seen).toEqual([0, 1, 2]);
    u.update(2, 0.5, null);
    // N = 3: scores 1 + c, 0 + c, 0.5 + c with c = sqrt(2 ln 3)
    expect(u.choose()).toBe(0);
    for (let i = 0; i < 20; i++) u.update(0, 0, null);
    // arm 0: mean 1/21, n 21; arm 2: 0.5 + sqrt(2 ln 23); arm 1: 0 + sqrt(2 ln 23)
    expect(u.choose()).toBe(2);
    expect(u.lastP).toBe(1);
  });

  it('epsilon_greedy: the propensity is eps/K for an explored arm and 1 - eps + eps/K for the greedy one', () => {
    const e = new EpsilonGreedy({ kind: 'epsilon_greedy', capacity: 4, epsilon: 0.2, seed: 2 });
    for (let s = 0; s < 4; s++) e.open(s);
    for (let s = 0; s < 4; s++) e.update(s, s === 2 ? 1 : 0, null);
    const counts = [0, 0, 0, 0];
    let wrong = 0;
    for (let i = 0; i < 40_000; i++) {
      const a = e.choose();
      counts[a]++;
      if (Math.abs(e.lastP - (a === 2 ? 0.8 + 0.05 : 0.05)) > 1e-12) wrong++;
    }
    expect(wrong).toBe(0);
    expect(Math.abs(counts[2] / 40_000 - 0.85)).toBeLessThan(0.01);
  });

  it('a retired arm is never chosen, and its slot reopens from the prior', () => {
    const t = makePolicy({ kind: 'thompson', capacity: 4, seed: 1 }, 3) as ThompsonBeta;
    for (let i = 0; i < 50; i++) t.update(1, 1, null);
    t.close(1);
    expect(t.nLive).toBe(2);
    for (let i = 0; i < 2000; i++) expect(t.choose()).not.toBe(1);
    t.open(1);
    expect([t.a[1], t.b[1], t.pulls[1]]).toEqual([1, 1, 0]);
    t.open(3);
    expect(Array.from(t.live.subarray(0, t.nLive)).sort()).toEqual([0, 1, 2, 3]);
  });
});

/** The inverse of a d x d matrix (Gauss-Jordan with partial pivoting). */
function inverse(a: number[][]): number[][] {
  const d = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: d }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    const piv = m[c][c];
    for (let j = 0; j < 2 * d; j++) m[c][j] /= piv;
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = m[r][c];
      for (let j = 0; j < 2 * d; j++) m[r][j] -= f * m[c][j];
    }
  }
  return m.map((row) => row.slice(d));
}

describe('linear policies', () => {
  it('keep A^-1 (Sherman-Morrison) equal to the explicit inverse of lambda I + sum x x^T, and theta = A^-1 b', () => {
    const d = 4;
    const lambda = 0.7;
    const pol = new LinUcb({ kind: 'linucb', capacity: 2, dim: d, lambda });
    pol.open(0);
    pol.open(1);
    const r = new Rng(3);
    const A = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? lambda : 0)));
    const b = new Array(d).fill(0);
    const x = new Float64Array(d);
    for (let n = 0; n < 200; n++) {
      for (let j = 0; j < d; j++) x[j] = r.normal() * (j + 1);
      const y = r.normal();
      pol.update(1, y, x);
      for (let i = 0; i < d; i++) {
        b[i] += y * x[i];
        for (let j = 0; j < d; j++) A[i][j] += x[i] * x[j];
      }
    }
    const inv = inverse(A);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) expect(pol.aInv[d * d + i * d + j]).toBeCloseTo(inv[i][j], 9);
    for (let i = 0; i < d; i++) expect(pol.theta[d + i]).toBeCloseTo(inv[i].reduce((s, v, j) => s + v * b[j], 0), 9);
    // the untouched arm is still the prior: I / lambda, theta 0
    expect(pol.aInv[0]).toBeCloseTo(1 / lambda, 12);
    expect(pol.theta[0]).toBe(0);
  });

  it.each([
    ['linucb', (o: { capacity: number; dim: number; seed: number }) => new LinUcb({ kind: 'linucb', alpha: 0.5, ...o })],
    ['lin_thompson', (o: { capacity: number; dim: number; seed: number }) => new LinThompson({ kind: 'lin_thompson', v: 0.3, ...o })],
  ] as const)('%s learns which arm is best for which context', (_kind, make) => {
    // three arms, rewards linear in a 2-d context plus an intercept: each arm best in a region
    const W = [[1, 0, 0], [0, 1, 0], [-0.6, -0.6, 0.4]];
    const pol = make({ capacity: 3, dim: 3, seed: 8 });
    for (let s = 0; s < 3; s++) pol.open(s);
    const env = new Rng(21);
    const x = new Float64Array(3);
    let right = 0;
    const steps = 6000;
    for (let t = 0; t < steps; t++) {
      x[0] = env.normal();
      x[1] = env.normal();
      x[2] = 1;
      const mean = W.map((w) => w[0] * x[0] + w[1] * x[1] + w[2]);
      const a = pol.choose(x);
      pol.update(a, mean[a] + 0.1 * env.normal(), x);
      if (t >= steps - 1000 && mean[a] === Math.max(...mean)) right++;
    }
    expect(right / 1000).toBeGreaterThan(0.9);
  });

  it('refuses a context of no values', () => {
    expect(() => new LinUcb({ kind: 'linucb', capacity: 2, dim: 0 })).toThrow();
  });
});
