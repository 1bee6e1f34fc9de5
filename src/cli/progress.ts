// A progress bar on stderr for long runs (hotpath eval): redrawn at most ten times a
// second, only when stderr is a terminal or the run is long, and cleared at the end.

export class Progress {
  readonly #total: number;
  readonly #label: string;
  readonly #on: boolean;
  readonly #start = performance.now();
  #drawn = 0;

  constructor(label: string, total: number, opts: { force?: boolean } = {}) {
    this.#label = label;
    this.#total = total;
    this.#on = opts.force ?? (process.stderr.isTTY === true && total >= 10_000);
  }

  /** done items so far; cheap when not due for a redraw */
  update(done: number): void {
    if (!this.#on) return;
    const now = performance.now();
    if (now - this.#drawn < 100 && done < this.#total) return;
    this.#drawn = now;
    const f = this.#total > 0 ? Math.min(1, done / this.#total) : 1;
    const width = 30;
    const bar = '#'.repeat(Math.round(f * width)).padEnd(width, '.');
    const rate = done / Math.max(1e-3, (now - this.#start) / 1000);
    process.stderr.write(`\r${this.#label} [${bar}] ${(f * 100).toFixed(0).padStart(3)}% ${done}/${this.#total} ${formatRate(rate)}/s `);
  }

  end(): void {
    if (this.#on) process.stderr.write('\r\x1b[K');
  }
}

function formatRate(r: number): string {
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : r >= 1e3 ? `${(r / 1e3).toFixed(1)}k` : r.toFixed(0);
}
