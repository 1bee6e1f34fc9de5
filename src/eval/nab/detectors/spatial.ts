// Numenta's "spatial anomaly" rule (NAB numenta detector): a value beyond the range seen so
// far by more than `tolerance` of that range scores 1, whatever the wrapped detector says.
import type { StreamDetector } from '../run.js';

export class Spatial implements StreamDetector {
  #min = Infinity;
  #max = -Infinity;

  constructor(readonly inner: StreamDetector, readonly tolerance = 0.05) {}

  score(t: number, x: number): number {
    const s = this.inner.score(t, x);
    let out = s;
    if (this.#min !== this.#max && Number.isFinite(this.#min)) {
      const tol = (this.#max - this.#min) * this.tolerance;
      if (x > this.#max + tol || x < this.#min - tol) out = 1;
    }
    this.#min = Math.min(this.#min, x);
    this.#max = Math.max(this.#max, x);
    return out;
  }
}
