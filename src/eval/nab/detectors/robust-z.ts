// Robust z-score of each value against the previous `window` values: |x - median| / (1.4826
// MAD), the MAD scaled to a normal's std. The raw score is 1 - 2Q(z) (the two-sided normal
// tail, like the windowed Gaussian's), 0 until `minHistory` values have been seen.
import type { StreamDetector } from '../run.js';
import { normalTail } from '../stats.js';
import { SortedWindow } from './sorted-window.js';

export interface RobustZOptions {
  window?: number;
  minHistory?: number;
  /** floor on the scaled MAD, relative to |median| (a constant window would give z = ∞) */
  minScale?: number;
  /** z is divided by this before the tail: larger spreads the raw score over larger z */
  zScale?: number;
}

export class RobustZ implements StreamDetector {
  readonly #w: SortedWindow;
  readonly #min: number;
  readonly #minScale: number;
  readonly #zScale: number;

  constructor(o: RobustZOptions = {}) {
    this.#w = new SortedWindow(o.window ?? 1000);
    this.#min = o.minHistory ?? 10;
    this.#minScale = o.minScale ?? 1e-3;
    this.#zScale = o.zScale ?? 1;
  }

  /** the z-score of x against the window (before x joins it) */
  z(x: number): number {
    const med = this.#w.quantile(0.5);
    const scale = Math.max(1.4826 * this.#w.medianAbsDeviation(med), this.#minScale * Math.abs(med), 1e-9);
    return Math.abs(x - med) / scale;
  }

  score(_t: number, x: number): number {
    const s = this.#w.length >= this.#min ? 1 - 2 * normalTail(this.z(x) / this.#zScale) : 0;
    this.#w.push(x);
    return Math.max(0, s);
  }
}
