// A sliding window of the last `size` values kept in arrival order (a ring) and sorted
// (for order statistics). Insert and evict are a binary search and one copyWithin each:
// O(size) memmove, fine for the few hundred to few thousand values the detectors keep.

export class SortedWindow {
  readonly #ring: Float64Array;
  readonly #sorted: Float64Array;
  #head = 0;
  #n = 0;

  constructor(readonly size: number) {
    this.#ring = new Float64Array(size);
    this.#sorted = new Float64Array(size);
  }

  get length(): number {
    return this.#n;
  }

  push(x: number): void {
    if (this.#n === this.size) {
      const old = this.#ring[this.#head];
      const at = this.#lowerBound(old);
      this.#sorted.copyWithin(at, at + 1, this.#n);
      this.#n--;
    }
    const at = this.#lowerBound(x);
    this.#sorted.copyWithin(at + 1, at, this.#n);
    this.#sorted[at] = x;
    this.#n++;
    this.#ring[this.#head] = x;
    this.#head = (this.#head + 1) % this.size;
  }

  /** The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics. */
  quantile(q: number): number {
    const pos = q * (this.#n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, this.#n - 1);
    return this.#sorted[lo] + (pos - lo) * (this.#sorted[hi] - this.#sorted[lo]);
  }

  /** Median of |x - m| over the window (the MAD about m), by a merge walk from m outwards. */
  medianAbsDeviation(m: number): number {
    const n = this.#n;
    const s = this.#sorted;
    let right = this.#lowerBound(m);
    let left = right - 1;
    // Walk the k smallest deviations; the median is the mean of the middle one or two.
    const want = (n - 1) >> 1;
    let prev = 0;
    for (let k = 0; k <= want + 1 && k < n; k++) {
      let d: number;
      if (left < 0 || (right < n && s[right] - m <= m - s[left])) d = s[right++] - m;
      else d = m - s[left--];
      if (k === want) {
        if (n % 2 === 1) return d;
        prev = d;
      } else if (k === want + 1) return (prev + d) / 2;
    }
    return prev;
  }

  #lowerBound(x: number): number {
    let lo = 0;
    let hi = this.#n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#sorted[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
