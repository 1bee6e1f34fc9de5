// Small combinators for raw scorers: feed first differences, take the max of several.
import type { StreamDetector } from '../run.js';

/** Scores x_t - x_{t-1} with the inner detector (0 for the first row, which has no change). */
export class Diff implements StreamDetector {
  #prev = NaN;
  constructor(readonly inner: StreamDetector) {}
  score(t: number, x: number): number {
    const d = Number.isNaN(this.#prev) ? 0 : x - this.#prev;
    this.#prev = x;
    return this.inner.score(t, d);
  }
}

/** The max of several detectors' scores (each sees every row). */
export class MaxOf implements StreamDetector {
  constructor(readonly inner: StreamDetector[]) {}
  score(t: number, x: number): number {
    let m = 0;
    for (const d of this.inner) m = Math.max(m, d.score(t, x));
    return m;
  }
}

/** The mean of several detectors' scores. */
export class MeanOf implements StreamDetector {
  constructor(readonly inner: StreamDetector[]) {}
  score(t: number, x: number): number {
    let s = 0;
    for (const d of this.inner) s += d.score(t, x);
    return s / this.inner.length;
  }
}
