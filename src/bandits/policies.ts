// The bandit policies: which arm to pull, and what a reward teaches. One class per policy,
// all over typed arrays sized once (arm slots x context dimension), so choose() and update()
// allocate nothing and a snapshot is the arrays' bytes. The server (bandit.ts) and the
// simulation (bench/bandits-sim.ts) run these same classes.
//
// Arms live in slots 0..capacity-1; `live` lists the slots in play (open/close add and
// retire arms: a reopened slot starts from the prior). Rewards reach a policy already
// scaled: in [0, 1] for epsilon_greedy, ucb1 and thompson (bandit.ts maps a configured
// reward range onto it); as given for gaussian_thompson, linucb and lin_thompson.
//
// - epsilon_greedy: with probability epsilon a live arm at random, else the best mean (an
//   arm never rewarded first). Its propensity is epsilon/K + (1 - epsilon)[arm is greedy].
// - ucb1 (Auer, Cesa-Bianchi & Fischer 2002): mean + sqrt(2 ln N / n_i), N the rewards seen
//   by the live arms; an arm with no reward yet first. Deterministic: propensity 1.
// - thompson (Beta-Bernoulli): a Beta(alpha0 + S_i, beta0 + F_i) draw per arm, the largest
//   wins; a reward r in [0, 1] adds r to S and 1 - r to F (the fractional update).
// - gaussian_thompson: a Normal-Inverse-Gamma posterior per arm (unknown mean and variance;
//   prior mean mu0, kappa0 pseudo-observations, alpha0, beta0): sigma^2 ~ InvGamma(alpha_n,
//   beta_n), mu ~ N(mu_n, sigma^2 / kappa_n), the largest mu wins.
// - linucb (Li, Chu, Langford & Schapire 2010, the disjoint model): per arm A = lambda I +
//   sum x x^T and b = sum r x; score theta^T x + alpha sqrt(x^T A^-1 x) with theta = A^-1 b.
// - lin_thompson (Agrawal & Goyal 2013), per arm as linucb: theta~ ~ N(theta, v^2 A^-1),
//   score x^T theta~. With one context for all arms and independent arms, x^T theta~ is
//   N(x^T theta, v^2 x^T A^-1 x) exactly, so the score is drawn as that one normal: O(d^2)
//   per arm and no Cholesky factor.
// Both linear policies keep A^-1 (Sherman-Morrison, O(d^2) per update) and theta.
import { Rng } from './random.js';

export const POLICY_KINDS = ['epsilon_greedy', 'ucb1', 'thompson', 'gaussian_thompson', 'linucb', 'lin_thompson'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];
export const CONTEXTUAL: ReadonlySet<PolicyKind> = new Set(['linucb', 'lin_thompson']);
/** policies whose rewards are scaled into [0, 1] (the others take them as given) */
export const UNIT_REWARDS: ReadonlySet<PolicyKind> = new Set(['epsilon_greedy', 'ucb1', 'thompson']);

export interface PolicyOptions {
  kind: PolicyKind;
  /** arm slots */
  capacity: number;
  /** context dimension (linucb, lin_thompson; the intercept counts) */
  dim?: number;
  seed?: number;
  epsilon?: number;
  /** linucb's exploration weight */
  alpha?: number;
  /** lin_thompson's posterior scale */
  v?: number;
  /** the ridge: A starts as lambda I */
  lambda?: number;
  /** thompson: Beta(priorAlpha, priorBeta); gaussian_thompson: NIG(priorMean, priorKappa, priorAlpha, priorBeta) */
  priorAlpha?: number;
  priorBeta?: number;
  priorMean?: number;
  priorKappa?: number;
}

export abstract class Policy {
  readonly kind: PolicyKind;
  readonly capacity: number;
  /** context dimension (0: not contextual) */
  readonly dim: number;
  readonly rng: Rng;
  /** per slot: rewards learned, and their sum (as the policy got them) */
  readonly pulls: Float64Array;
  readonly sums: Float64Array;
  /** per slot: 1 when the arm is in play */
  readonly alive: Uint8Array;
  /** the live slots, live[0..nLive) */
  readonly live: Int32Array;
  nLive = 0;
  /** the propensity of the last choose() (NaN where the policy does not define one) */
  lastP = NaN;

  constructor(o: PolicyOptions, dim: number) {
    this.kind = o.kind;
    this.capacity = o.capacity;
    this.dim = dim;
    this.rng = new Rng(o.seed ?? 1);
    this.pulls = new Float64Array(o.capacity);
    this.sums = new Float64Array(o.capacity);
    this.alive = new Uint8Array(o.capacity);
    this.live = new Int32Array(o.capacity);
  }

  /** The arm to pull (a live slot); x: the context (dim values) for the contextual policies. Needs a live arm. */
  abstract choose(x: Float64Array | null): number;

  /** Learns reward r of a pull of slot (x: the context it was chosen on). */
  update(slot: number, r: number, x: Float64Array | null): void {
    this.pulls[slot]++;
    this.sums[slot] += r;
    this.learn(slot, r, x);
  }

  protected abstract learn(slot: number, r: number, x: Float64Array | null): void;

  /** Puts slot in play with a fresh prior (a new arm, or a retired slot reused). */
  open(slot: number): void {
    this.pulls[slot] = 0;
    this.sums[slot] = 0;
    this.resetArm(slot);
    if (!this.alive[slot]) {
      this.alive[slot] = 1;
      this.live[this.nLive++] = slot;
    }
  }

  /** Takes slot out of play (retired); its state stays until it is opened again. */
  close(slot: number): void {
    if (!this.alive[slot]) return;
    this.alive[slot] = 0;
    const i = this.live.subarray(0, this.nLive).indexOf(slot);
    this.live[i] = this.live[--this.nLive];
    this.closed(slot);
  }

  protected closed(_slot: number): void {}

  protected abstract resetArm(slot: number): void;

  /** Every array of the policy's state, in a fixed order (snapshots). */
  arrays(): (Float64Array | Uint8Array)[] {
    return [this.pulls, this.sums, this.alive, ...this.stateArrays()];
  }

  protected abstract stateArrays(): Float64Array[];

  /** After the arrays were written (a restore): the live list from `alive`. */
  rebuild(): void {
    this.nLive = 0;
    for (let s = 0; s < this.capacity; s++) if (this.alive[s]) this.live[this.nLive++] = s;
    this.rebuilt();
  }

  protected rebuilt(): void {}

  /** The mean reward of slot (as the policy got it; NaN before the first). */
  mean(slot: number): number {
    return this.pulls[slot] > 0 ? this.sums[slot] / this.pulls[slot] : NaN;
  }
}

export class EpsilonGreedy extends Policy {
  readonly epsilon: number;

  constructor(o: PolicyOptions) {
    super(o, 0);
    this.epsilon = o.epsilon ?? 0.1;
  }

  /** The greedy arm: the first live arm never rewarded, else the best mean (first of ties). */
  greedy(): number {
    const live = this.live;
    let best = live[0];
    let bestMean = -Infinity;
    for (let i = 0; i < this.nLive; i++) {
      const s = live[i];
      const n = this.pulls[s];
      if (n === 0) return s;
      const m = this.sums[s] / n;
      if (m > bestMean) {
        bestMean = m;
        best = s;
      }
    }
    return best;
  }

  choose(): number {
    const g = this.greedy();
    const k = this.nLive;
    const arm = this.rng.uniform() < this.epsilon ? this.live[this.rng.below(k)] : g;
    this.lastP = this.epsilon / k + (arm === g ? 1 - this.epsilon : 0);
    return arm;
  }

  protected learn(): void {}
  protected resetArm(): void {}
  protected stateArrays(): Float64Array[] {
    return [];
  }
}

export class Ucb1 extends Policy {
  /** rewards learned by the live arms */
  #total = 0;

  constructor(o: PolicyOptions) {
    super(o, 0);
    this.lastP = 1;
  }

  choose(): number {
    const live = this.live;
    const c = Math.sqrt(2 * Math.log(Math.max(this.#total, 1)));
    let best = live[0];
    let bestScore = -Infinity;
    for (let i = 0; i < this.nLive; i++) {
      const s = live[i];
      const n = this.pulls[s];
      if (n === 0) return s;
      const score = this.sums[s] / n + c / Math.sqrt(n);
      if (score > bestScore) {
        bestScore = score;
        best = s;
      }
    }
    return best;
  }

  protected learn(): void {
    this.#total++;
  }

  protected resetArm(): void {}
  protected override closed(slot: number): void {
    this.#total -= this.pulls[slot];
  }

  protected override rebuilt(): void {
    this.#total = 0;
    for (let i = 0; i < this.nLive; i++) this.#total += this.pulls[this.live[i]];
  }

  protected stateArrays(): Float64Array[] {
    return [];
  }
}

export class ThompsonBeta extends Policy {
  readonly priorAlpha: number;
  readonly priorBeta: number;
  /** per slot: the posterior's alpha and beta */
  readonly a: Float64Array;
  readonly b: Float64Array;

  constructor(o: PolicyOptions) {
    super(o, 0);
    this.priorAlpha = o.priorAlpha ?? 1;
    this.priorBeta = o.priorBeta ?? 1;
    this.a = new Float64Array(o.capacity);
    this.b = new Float64Array(o.capacity);
  }

  choose(): number {
    const live = this.live;
    const rng = this.rng;
    let best = live[0];
    let bestDraw = -1;
    for (let i = 0; i < this.nLive; i++) {
      const s = live[i];
      const d = rng.beta(this.a[s], this.b[s]);
      if (d > bestDraw) {
        bestDraw = d;
        best = s;
      }
    }
    return best;
  }

  protected learn(slot: number, r: number): void {
    this.a[slot] += r;
    this.b[slot] += 1 - r;
  }

  protected resetArm(slot: number): void {
    this.a[slot] = this.priorAlpha;
    this.b[slot] = this.priorBeta;
  }

  protected stateArrays(): Float64Array[] {
    return [this.a, this.b];
  }
}

export class ThompsonGaussian extends Policy {
  readonly mu0: number;
  readonly kappa0: number;
  readonly alpha0: number;
  readonly beta0: number;
  /** per slot: the running mean and sum of squared deviations (Welford) */
  readonly avg: Float64Array;
  readonly m2: Float64Array;

  constructor(o: PolicyOptions) {
    super(o, 0);
    this.mu0 = o.priorMean ?? 0;
    this.kappa0 = o.priorKappa ?? 1;
    this.alpha0 = o.priorAlpha ?? 1;
    this.beta0 = o.priorBeta ?? 1;
    this.avg = new Float64Array(o.capacity);
    this.m2 = new Float64Array(o.capacity);
  }

  /** The posterior of slot: [mu_n, kappa_n, alpha_n, beta_n]. */
  posterior(slot: number): [number, number, number, number] {
    const n = this.pulls[slot];
    const kn = this.kappa0 + n;
    const dm = this.avg[slot] - this.mu0;
    return [(this.kappa0 * this.mu0 + n * this.avg[slot]) / kn, kn, this.alpha0 + n / 2, this.beta0 + 0.5 * this.m2[slot] + (this.kappa0 * n * dm * dm) / (2 * kn)];
  }

  choose(): number {
    const live = this.live;
    const rng = this.rng;
    let best = live[0];
    let bestDraw = -Infinity;
    for (let i = 0; i < this.nLive; i++) {
      const s = live[i];
      const n = this.pulls[s];
      const kn = this.kappa0 + n;
      const dm = this.avg[s] - this.mu0;
      const an = this.alpha0 + n / 2;
      const bn = this.beta0 + 0.5 * this.m2[s] + (this.kappa0 * n * dm * dm) / (2 * kn);
      const variance = bn / rng.gamma(an);
      const d = (this.kappa0 * this.mu0 + n * this.avg[s]) / kn + Math.sqrt(variance / kn) * rng.normal();
      if (d > bestDraw) {
        bestDraw = d;
        best = s;
      }
    }
    return best;
  }

  protected learn(slot: number, r: number): void {
    const d = r - this.avg[slot];
    this.avg[slot] += d / this.pulls[slot];
    this.m2[slot] += d * (r - this.avg[slot]);
  }

  protected resetArm(slot: number): void {
    this.avg[slot] = 0;
    this.m2[slot] = 0;
  }

  protected stateArrays(): Float64Array[] {
    return [this.avg, this.m2];
  }
}

/** linucb and lin_thompson: per arm A^-1, b and theta = A^-1 b, by Sherman-Morrison. */
export abstract class LinearPolicy extends Policy {
  readonly lambda: number;
  /** capacity x d x d, capacity x d, capacity x d */
  readonly aInv: Float64Array;
  readonly b: Float64Array;
  readonly theta: Float64Array;
  readonly #u: Float64Array;

  constructor(o: PolicyOptions) {
    const d = o.dim ?? 0;
    if (!(d >= 1)) throw new Error('a linear policy needs a context of at least one value');
    super(o, d);
    this.lambda = o.lambda ?? 1;
    this.aInv = new Float64Array(o.capacity * d * d);
    this.b = new Float64Array(o.capacity * d);
    this.theta = new Float64Array(o.capacity * d);
    this.#u = new Float64Array(d);
  }

  /** x^T A_s^-1 x, with A_s^-1 x left in u (scratch). */
  protected quad(s: number, x: Float64Array): number {
    const d = this.dim;
    const base = s * d * d;
    const u = this.#u;
    let q = 0;
    for (let i = 0; i < d; i++) {
      let acc = 0;
      const row = base + i * d;
      for (let j = 0; j < d; j++) acc += this.aInv[row + j] * x[j];
      u[i] = acc;
      q += x[i] * acc;
    }
    return q;
  }

  /** theta_s^T x */
  predicted(s: number, x: Float64Array): number {
    const d = this.dim;
    let m = 0;
    for (let j = 0; j < d; j++) m += this.theta[s * d + j] * x[j];
    return m;
  }

  protected learn(s: number, r: number, x: Float64Array | null): void {
    const d = this.dim;
    const xs = x!;
    const q = this.quad(s, xs);
    const u = this.#u;
    const base = s * d * d;
    const k = 1 / (1 + q);
    // A^-1 <- A^-1 - (A^-1 x)(A^-1 x)^T / (1 + x^T A^-1 x): A^-1 is symmetric
    for (let i = 0; i < d; i++) {
      const ui = u[i] * k;
      const row = base + i * d;
      for (let j = 0; j < d; j++) this.aInv[row + j] -= ui * u[j];
    }
    for (let j = 0; j < d; j++) this.b[s * d + j] += r * xs[j];
    for (let i = 0; i < d; i++) {
      let acc = 0;
      const row = base + i * d;
      for (let j = 0; j < d; j++) acc += this.aInv[row + j] * this.b[s * d + j];
      this.theta[s * d + i] = acc;
    }
  }

  protected resetArm(s: number): void {
    const d = this.dim;
    this.aInv.fill(0, s * d * d, (s + 1) * d * d);
    for (let i = 0; i < d; i++) this.aInv[s * d * d + i * d + i] = 1 / this.lambda;
    this.b.fill(0, s * d, (s + 1) * d);
    this.theta.fill(0, s * d, (s + 1) * d);
  }

  protected stateArrays(): Float64Array[] {
    return [this.aInv, this.b, this.theta];
  }
}

export class LinUcb extends LinearPolicy {
  readonly alpha: number;

  constructor(o: PolicyOptions) {
    super(o);
    this.alpha = o.alpha ?? 1;
    this.lastP = 1;
  }

  choose(x: Float64Array | null): number {
    const live = this.live;
    let best = live[0];
    let bestScore = -Infinity;
    for (let i = 0; i < this.nLive; i++) {
      const s = live[i];
      const score = this.predicted(s, x!) + this.alpha * Math.sqrt(this.quad(s, x!));
      if (score > bestScore) {
        bestScore = score;
        best = s;
      }
    }
    return best;
  }
}

export class LinThompson extends LinearPolicy {
  readonly v: number;

  constructor(o: PolicyOptions) {
    super(o);
    this.v = o.v ?? 1;
  }

  choose(x: Float64Array | null): number {
    const live = this.live;
    let best = live[0];
    let bestScore = -Infinity;
    for (let i = 0; i < this.nLive; i++) {
      const s = live[i];
      const score = this.predicted(s, x!) + this.v * Math.sqrt(this.quad(s, x!)) * this.rng.normal();
      if (score > bestScore) {
        bestScore = score;
        best = s;
      }
    }
    return best;
  }
}

/** The policy of a kind, with `arms` slots open (0..arms-1) out of capacity. */
export function makePolicy(o: PolicyOptions, arms: number): Policy {
  const p =
    o.kind === 'epsilon_greedy' ? new EpsilonGreedy(o)
    : o.kind === 'ucb1' ? new Ucb1(o)
    : o.kind === 'thompson' ? new ThompsonBeta(o)
    : o.kind === 'gaussian_thompson' ? new ThompsonGaussian(o)
    : o.kind === 'linucb' ? new LinUcb(o)
    : new LinThompson(o);
  for (let s = 0; s < arms; s++) p.open(s);
  return p;
}
