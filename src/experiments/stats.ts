// The statistics of an experiment: a variant against control, from sufficient statistics
// (n, sum, sum of squares) only.
//
// - mSPRT (Johari, Koomen, Pekelis & Walsh 2017, "Peeking at A/B tests"), the normal
//   mixture: the mixture likelihood ratio of "difference = 0" against a N(0, τ²) mixture
//   of alternatives, an always-valid p-value min(1, 1/Λ) kept as a running minimum, and τ²
//   chosen from α, σ and the truncation M by the paper's formula.
// - Asymptotic confidence sequences (Waudby-Smith, Arnold, Wu, Howard, Ramdas & Ramdas
//   2023, eq. 9 and 161) as GrowthBook uses them: ρ from the tuning parameter N*, the
//   half-width at N = n_control + n_variant, and the p-value at which the sequence would
//   just exclude 0 (closed form; running minimum).
// - The fixed-horizon two-sample z-test, for reference (valid at one planned look only).
// - The sample-ratio-mismatch check: Pearson's chi-square goodness of fit of the exposure
//   counts against the configured split.
//
// Special functions are written here (no statistics package is a dependency): log Γ by
// Lanczos (g = 7, 9 terms), the regularized incomplete gamma P/Q by series and continued
// fraction (Numerical Recipes §6.2), erfc(x) = Q(1/2, x²), and the normal quantile by
// Acklam's rational approximation refined with one Halley step. test/unit/experiments-
// stats.test.ts checks them against reference values to 1e-12 (relative) or better.

/** Sufficient statistics of one variant's metric. */
export interface Moments {
  n: number;
  sum: number;
  sumSq: number;
}

export const mean = (m: Moments): number => (m.n > 0 ? m.sum / m.n : NaN);

/** The unbiased sample variance (NaN below two samples; never negative). */
export function variance(m: Moments): number {
  if (m.n < 2) return NaN;
  return Math.max(0, (m.sumSq - (m.sum * m.sum) / m.n) / (m.n - 1));
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x), x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let a = LANCZOS[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

const EPS = 1e-16;
const TINY = 1e-300;

/** The regularized lower incomplete gamma P(a, x) (a > 0, x >= 0). */
export function gammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  return x < a + 1 ? gammaSeries(a, x) : 1 - gammaFraction(a, x);
}

/** The regularized upper incomplete gamma Q(a, x) = 1 − P(a, x), accurate in the tail. */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  return x < a + 1 ? 1 - gammaSeries(a, x) : gammaFraction(a, x);
}

function gammaSeries(a: number, x: number): number {
  let ap = a;
  let del = 1 / a;
  let sum = del;
  for (let i = 0; i < 10_000; i++) {
    ap += 1;
    del *= x / ap;
    sum += del;
    if (Math.abs(del) < Math.abs(sum) * EPS) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

function gammaFraction(a: number, x: number): number {
  // modified Lentz
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** The complementary error function. */
export function erfc(x: number): number {
  const q = gammaQ(0.5, x * x);
  return x >= 0 ? q : 2 - q;
}

/** The standard normal CDF Φ(z). */
export const normalCdf = (z: number): number => 0.5 * erfc(-z / Math.SQRT2);

/** The standard normal upper tail 1 − Φ(z), accurate far into the tail. */
export const normalSf = (z: number): number => 0.5 * erfc(z / Math.SQRT2);

/** Φ⁻¹(p), 0 < p < 1. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? -Infinity : p === 1 ? Infinity : NaN;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  let x: number;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - lo) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // one Halley step on Φ(x) − p brings Acklam's 1e-9 to machine precision
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** The chi-square survival function P(X² ≥ x) with k degrees of freedom. */
export const chiSquareSf = (x: number, k: number): number => gammaQ(k / 2, x / 2);

/** A comparison of a variant (b) with control (a): the difference of means and its standard error. */
export interface Difference {
  /** mean(b) − mean(a) */
  diff: number;
  /** sqrt(var(a)/n(a) + var(b)/n(b)) */
  se: number;
  n: number;
}

/** The difference of means and its standard error; NaN fields when either arm has under two samples. */
export function difference(a: Moments, b: Moments): Difference {
  const diff = mean(b) - mean(a);
  const se = Math.sqrt(variance(a) / a.n + variance(b) / b.n);
  return { diff, se, n: a.n + b.n };
}

/**
 * The mixing variance τ² of the normal-mixture mSPRT that Johari et al. (2017) choose for
 * a truncation M (the sample size by which the test should have the most power):
 * b = 2 ln(1/α) / sqrt(M σ²), τ² = σ² Φ(−b) / (φ(b)/b − Φ(−b)).
 * α = 0.05, σ = 1, M = 10⁴ give τ² = 0.07716.
 */
export function msprtTau2(alpha: number, sigma: number, truncation: number): number {
  const b = (2 * Math.log(1 / alpha)) / Math.sqrt(truncation * sigma * sigma);
  const tail = normalSf(b);
  const density = Math.exp((-b * b) / 2) / Math.sqrt(2 * Math.PI);
  return (sigma * sigma * tail) / (density / b - tail);
}

/**
 * The mixture likelihood ratio Λ of the two-sample mSPRT for "difference = 0", with the
 * difference's variance se²: Λ = sqrt(se² / (se² + τ²)) · exp(τ² d² / (2 se² (se² + τ²))).
 * With n per arm and a known σ (se² = 2σ²/n) this is Johari et al.'s
 * sqrt(V / (V + nτ²)) · exp(n² τ² d² / (2V (V + nτ²))), V = 2σ²; n = 2000, σ = 1,
 * d = 0.1, τ² = 0.07716 give Λ = 15.75.
 */
export function msprtLambda(diff: number, se2: number, tau2: number): number {
  if (!(se2 > 0)) return 1;
  return Math.sqrt(se2 / (se2 + tau2)) * Math.exp((tau2 * diff * diff) / (2 * se2 * (se2 + tau2)));
}

/** The always-valid p-value at one look: min(1, 1/Λ) (callers keep the running minimum). */
export const msprtP = (lambda: number): number => Math.min(1, 1 / lambda);

/**
 * GrowthBook's ρ of the asymptotic confidence sequence from its tuning parameter N*
 * (Waudby-Smith et al. 2023, eq. 161): ρ = sqrt((−2 ln α + ln(−2 ln α + 1)) / N*).
 * α = 0.05, N* = 5000 give ρ = 0.03984.
 */
export function csRho(alpha: number, tuning: number): number {
  const l = -2 * Math.log(alpha);
  return Math.sqrt((l + Math.log(l + 1)) / tuning);
}

/**
 * The half-width of the two-sided asymptotic confidence sequence at N observations, for an
 * estimator whose variance is se² (eq. 9, with the per-observation variance s² = se²·N, as
 * GrowthBook passes it): sqrt(s²) · sqrt(2(Nρ² + 1) / (N²ρ²) · ln(sqrt(Nρ² + 1) / α)).
 */
export function csHalfWidth(se2: number, n: number, rho: number, alpha: number): number {
  const nr = n * rho * rho + 1;
  return Math.sqrt(se2 * n) * Math.sqrt(((2 * nr) / (n * n * rho * rho)) * Math.log(Math.sqrt(nr) / alpha));
}

/**
 * The p-value of the confidence sequence at one look: the α at which it would just exclude
 * 0, min(1, sqrt(Nρ² + 1) · exp(−ρ² N d² / (2 se² (Nρ² + 1)))). It is below α exactly when
 * the sequence at level α excludes 0 (for the ρ chosen at that α).
 */
export function csP(diff: number, se2: number, n: number, rho: number): number {
  if (!(se2 > 0)) return 1;
  const nr = n * rho * rho + 1;
  return Math.min(1, Math.sqrt(nr) * Math.exp((-rho * rho * n * diff * diff) / (2 * se2 * nr)));
}

/** The fixed-horizon two-sided z-test: its statistic, p-value and (1 − α) interval. */
export function zTest(d: Difference, alpha: number): { z: number; p: number; ci: [number, number] } {
  const z = d.diff / d.se;
  const half = normalQuantile(1 - alpha / 2) * d.se;
  return { z, p: Number.isFinite(z) ? 2 * normalSf(Math.abs(z)) : NaN, ci: [d.diff - half, d.diff + half] };
}

/**
 * The sample-ratio-mismatch check: Pearson's chi-square of the observed counts against the
 * expected shares (which sum to 1), k − 1 degrees of freedom. Arms expected to get nothing
 * are left out.
 */
export function srm(observed: readonly number[], shares: readonly number[]): { chi2: number; p: number; df: number } {
  let total = 0;
  for (let i = 0; i < observed.length; i++) if (shares[i] > 0) total += observed[i];
  let chi2 = 0;
  let k = 0;
  for (let i = 0; i < observed.length; i++) {
    if (!(shares[i] > 0)) continue;
    const e = total * shares[i];
    chi2 += e > 0 ? ((observed[i] - e) * (observed[i] - e)) / e : 0;
    k++;
  }
  const df = Math.max(1, k - 1);
  return { chi2, p: total > 0 && k > 1 ? chiSquareSf(chi2, df) : 1, df };
}
