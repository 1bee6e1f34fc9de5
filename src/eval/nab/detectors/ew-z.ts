// Exponentially weighted z-score: mean and variance as EWMAs with weight `alpha` per row
// (an effective memory of ~1/alpha rows), z = |x - mean| / std scored before the update;
// raw score 1 - 2Q(z / zScale), 0 for the first `minHistory` rows.
import type { StreamDetector } from '../run.js';
import { normalTail } from '../stats.js';

export class EwZ implements StreamDetector {
  #n = 0;
  #mean = 0;
  #var = 0;
  constructor(readonly alpha = 0.001, readonly zScale = 3, readonly minHistory = 10) {}
  score(_t: number, x: number): number {
    const std = Math.sqrt(this.#var);
    const z = std > 0 ? Math.abs(x - this.#mean) / std : 0;
    const s = this.#n >= this.minHistory ? 1 - 2 * normalTail(z / this.zScale) : 0;
    // West's EW update: the variance uses the deviation from the mean before the update.
    const a = this.#n === 0 ? 1 : Math.max(this.alpha, 1 / (this.#n + 1));
    const d = x - this.#mean;
    this.#mean += a * d;
    this.#var = (1 - a) * (this.#var + a * d * d);
    this.#n++;
    return s;
  }
}
