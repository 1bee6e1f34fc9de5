// Progressive-validation metrics over a sliding window of the last n labelled predictions:
// accuracy (score > 0.5 is class 1), log loss and ROC AUC. add() is O(1) and cheap (it runs
// per labelled event on the ingest thread: two stores and a running count); the log loss
// and the AUC are computed over the window when asked (a scrape, an eval's report).

const EPS = 1e-15;

export class WindowMetrics {
  readonly size: number;
  readonly #p: Float64Array;
  readonly #y: Uint8Array;
  #n = 0;
  #head = 0;
  #correct = 0;
  /** all labels ever added (not only the window's) */
  total = 0;

  constructor(size: number) {
    this.size = size;
    this.#p = new Float64Array(size);
    this.#y = new Uint8Array(size);
  }

  get count(): number {
    return this.#n;
  }

  add(p: number, y: number): void {
    if (this.#n === this.size) {
      const op = this.#p[this.#head];
      const oy = this.#y[this.#head];
      this.#correct -= (op > 0.5 ? 1 : 0) === oy ? 1 : 0;
    } else this.#n++;
    this.#p[this.#head] = p;
    this.#y[this.#head] = y;
    this.#correct += (p > 0.5 ? 1 : 0) === y ? 1 : 0;
    if (++this.#head === this.size) this.#head = 0;
    this.total++;
  }

  /** The window as plain data (a snapshot part). */
  toJSON(): { p: number[]; y: number[]; n: number; head: number; total: number } {
    return { p: Array.from(this.#p), y: Array.from(this.#y), n: this.#n, head: this.#head, total: this.total };
  }

  /** Restores toJSON()'s data; a window of another size starts empty. */
  restore(w: { p: number[]; y: number[]; n: number; head: number; total: number } | undefined): void {
    this.clear();
    if (!w || w.p.length !== this.size) return;
    this.#p.set(w.p);
    this.#y.set(w.y);
    this.#n = w.n;
    this.#head = w.head;
    this.total = w.total;
    for (let i = 0; i < this.#n; i++) this.#correct += (this.#p[i] > 0.5 ? 1 : 0) === this.#y[i] ? 1 : 0;
  }

  clear(): void {
    this.#n = 0;
    this.#head = 0;
    this.#correct = 0;
  }

  /** NaN before the first label */
  accuracy(): number {
    return this.#n ? this.#correct / this.#n : NaN;
  }

  logLoss(): number {
    let loss = 0;
    for (let i = 0; i < this.#n; i++) loss += logLoss(this.#p[i], this.#y[i]);
    return this.#n ? loss / this.#n : NaN;
  }

  /** ROC AUC of the window (ties count half); NaN while it holds one class only. */
  rocAuc(): number {
    return rocAuc(this.#p.subarray(0, this.#n), this.#y.subarray(0, this.#n));
  }
}

export function logLoss(p: number, y: number): number {
  const q = Math.min(Math.max(p, EPS), 1 - EPS);
  return y === 1 ? -Math.log(q) : -Math.log(1 - q);
}

/** ROC AUC by ranks (the Mann-Whitney U statistic), ties averaged. */
export function rocAuc(p: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = p.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => p[a] - p[b]);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && p[order[j + 1]] === p[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (y[order[k]] === 1) {
      pos++;
      rankSum += rank;
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}
