// NAB's "anomaly likelihood" (Ahmad et al. 2017, as nupic's AnomalyLikelihood does it with
// its defaults), wrapped around any raw scorer. Raw scores are noisy: a detector that is
// often a little surprised looks the same as one that is sometimes very surprised. The
// likelihood asks instead how unusual the *recent* raw scores are against their own long
// history, and NAB rewards that: one sharp alarm at an onset, not a stream of them.
//
//   a_t  = mean of the last `averaging` raw scores (including r_t)
//   fit  = mean μ and variance σ² of a over the last `history` values of a, leaving out
//          the first `learning` values of the stream; μ ≥ 0.03, σ² ≥ 0.0003; refit every
//          `reestimation` rows
//   tail = Q(|a_t - μ| / σ)       (nupic flips values below μ: the tail is symmetric)
//   red-zone filter: if tail_t ≤ 1e-5 and tail_{t-1} ≤ 1e-5 (unfiltered), tail_t = 1e-3
//   L_t  = 1 - tail_t, and 0.5 for the first `learning + estimation` rows
//   out  = ln(1.0000000001 - L_t) / ln(1e-10)      (the log score, in [0, 1])
import type { StreamDetector } from '../run.js';
import { normalTail } from '../stats.js';

export interface LikelihoodOptions {
  averaging?: number;
  history?: number;
  learning?: number;
  estimation?: number;
  reestimation?: number;
}

const RED = 1e-5;
const YELLOW = 1e-3;
const LOG_1E10 = Math.log(1.0 - 0.9999999999);

export const logLikelihood = (l: number): number => Math.log(1.0000000001 - l) / LOG_1E10;

export class Likelihood implements StreamDetector {
  readonly #raw: StreamDetector;
  readonly #avgN: number;
  readonly #histN: number;
  readonly #learning: number;
  readonly #estimation: number;
  readonly #reestimation: number;
  readonly #recent: number[] = [];
  readonly #hist: Float64Array;
  #i = 0;
  #mean = 0;
  #std = 0;
  #fitted = false;
  #prevTail = 1;

  constructor(raw: StreamDetector, o: LikelihoodOptions = {}) {
    this.#raw = raw;
    this.#avgN = o.averaging ?? 10;
    this.#histN = o.history ?? 8640;
    this.#learning = o.learning ?? 288;
    this.#estimation = o.estimation ?? 100;
    this.#reestimation = o.reestimation ?? 100;
    this.#hist = new Float64Array(this.#histN);
  }

  score(t: number, x: number): number {
    return logLikelihood(this.likelihood(this.#raw.score(t, x)));
  }

  /** The likelihood (not yet log-scaled) of a raw score; advances the stream. */
  likelihood(r: number): number {
    this.#recent.push(r);
    if (this.#recent.length > this.#avgN) this.#recent.shift();
    let a = 0;
    for (const v of this.#recent) a += v;
    a /= this.#recent.length;
    const i = this.#i++;
    this.#hist[i % this.#histN] = a;
    if (i < this.#learning + this.#estimation) return 0.5;
    if (!this.#fitted || i % this.#reestimation === 0) this.#fit(i);
    let tail = normalTail(Math.abs(a - this.#mean) / this.#std);
    const raw = tail;
    if (tail <= RED && this.#prevTail <= RED) tail = YELLOW;
    this.#prevTail = raw;
    return 1 - tail;
  }

  // Fit over rows [max(learning, i + 1 - history), i].
  #fit(i: number): void {
    const from = Math.max(this.#learning, i + 1 - this.#histN);
    let sum = 0;
    for (let k = from; k <= i; k++) sum += this.#hist[k % this.#histN];
    const n = i + 1 - from;
    const mean = sum / n;
    let ss = 0;
    for (let k = from; k <= i; k++) ss += (this.#hist[k % this.#histN] - mean) ** 2;
    this.#mean = Math.max(mean, 0.03);
    this.#std = Math.sqrt(Math.max(ss / n, 0.0003));
    this.#fitted = true;
  }
}
