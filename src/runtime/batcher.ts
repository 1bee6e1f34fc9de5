// A dynamic batcher in the shape of Triton's: requests are enqueued as they arrive, and
// next(now) says what to run now, or how long to wait. It knows no ring and has no clock
// of its own (the caller passes `now`), so a test drives it on a fake clock.
//
// The rules, in order, each time next(now) is asked:
//   1. Requests whose deadline passed, or that waited longer than maxWaitMs (the server's
//      queue-delay budget), leave the front of the queue and are handed back (`expired`),
//      to be answered as deadline or as shed. Both are a fixed time after enqueueing, so
//      the queue is in their order and only its front can expire.
//   2. With at least maxBatch rows queued, a batch of maxBatch rows runs.
//   3. Else the largest preferred batch size the queued rows reach runs at once.
//   4. Else, once the oldest request has waited maxQueueDelayMs (or at once when there is
//      neither a delay nor a preferred size), everything queued runs.
//   5. Else nothing runs: `waitMs` is the time left in the oldest request's window.
// A batch takes whole requests from the front up to the rows chosen; a request larger than
// that runs alone.
//
// Backpressure: the worker takes a model's requests out of its ring only while fewer than
// QUEUED_BATCHES full batches of it wait here (`accepting`), so a slow model fills the ring
// and the main thread sheds, instead of requests piling up here without bound.

/** How many batches of a model the worker takes out of the ring ahead of running them. */
export const QUEUED_BATCHES = 2;

export interface BatchItem {
  rows: number;
  /** epoch ms, the main thread's clock */
  enqueued: number;
  deadline: number;
}

export interface BatchPolicy {
  maxBatch: number;
  maxQueueDelayMs: number;
  /** ascending */
  preferred: readonly number[];
  /** a request not started this long after it was enqueued is handed back (0 or absent: no limit) */
  maxWaitMs?: number;
}

/** What next(now) decided. Owned by the batcher and reused: valid until the next call. */
export interface Batch<T> {
  /** requests to run now, in arrival order (empty: none) */
  readonly items: T[];
  /** their rows in all */
  rows: number;
  /** requests whose deadline passed, or that waited past maxWaitMs: to answer as deadline, or as shed */
  readonly expired: T[];
  /** when items is empty: ms until the oldest window closes (Infinity: nothing queued) */
  waitMs: number;
}

export class Batcher<T extends BatchItem> {
  readonly policy: BatchPolicy;
  readonly #maxWait: number;
  #q: T[] = [];
  #head = 0;
  #rows = 0;
  readonly #batch: Batch<T> = { items: [], rows: 0, expired: [], waitMs: Infinity };

  constructor(policy: BatchPolicy) {
    this.policy = policy;
    this.#maxWait = policy.maxWaitMs ? policy.maxWaitMs : Infinity;
  }

  /** Past its deadline, or waited longer than maxWaitMs: not to be run. */
  #gone(p: T, now: number): boolean {
    return p.deadline < now || p.enqueued + this.#maxWait < now;
  }

  /**
   * Sets the queue delay (ms) from now on: adaptive batching's controller moves it
   * (adaptive-batching.ts). The requests waiting keep their enqueue times: a shorter delay
   * closes the oldest one's window sooner.
   */
  setQueueDelay(ms: number): void {
    this.policy.maxQueueDelayMs = ms;
  }

  /** Rows waiting. */
  get queuedRows(): number {
    return this.#rows;
  }

  /** Requests waiting. */
  get length(): number {
    return this.#q.length - this.#head;
  }

  /** False once QUEUED_BATCHES full batches wait: leave further requests in the ring. */
  get accepting(): boolean {
    return this.#rows < this.policy.maxBatch * QUEUED_BATCHES;
  }

  /**
   * Rows still to arrive before a batch would run without waiting for its window (the
   * smallest preferred size, else maxBatch): the worker sleeping in a window lets that
   * many arrivals pass before it is woken.
   */
  get rowsToFill(): number {
    return (this.policy.preferred[0] ?? this.policy.maxBatch) - this.#rows;
  }

  enqueue(item: T): void {
    this.#q.push(item);
    this.#rows += item.rows;
  }

  /** Removes every waiting request into `out` (an unloaded model answers them). */
  clear(out: T[]): void {
    for (let i = this.#head; i < this.#q.length; i++) out.push(this.#q[i]);
    this.#q.length = 0;
    this.#head = 0;
    this.#rows = 0;
  }

  next(now: number): Batch<T> {
    const b = this.#batch;
    b.items.length = 0;
    b.expired.length = 0;
    b.rows = 0;
    b.waitMs = Infinity;
    while (this.#head < this.#q.length && this.#gone(this.#q[this.#head], now)) b.expired.push(this.#shift());
    const want = this.#due(now);
    if (want === 0) {
      if (this.#head < this.#q.length) b.waitMs = Math.max(0, this.#q[this.#head].enqueued + this.policy.maxQueueDelayMs - now);
      this.#compact();
      return b;
    }
    while (this.#head < this.#q.length) {
      const p = this.#q[this.#head];
      if (b.rows > 0 && b.rows + p.rows > want) break;
      this.#shift();
      if (this.#gone(p, now)) {
        b.expired.push(p);
        continue;
      }
      b.items.push(p);
      b.rows += p.rows;
    }
    this.#compact();
    return b;
  }

  /** How many queued rows to run now (0: keep waiting). */
  #due(now: number): number {
    const { maxBatch, maxQueueDelayMs, preferred } = this.policy;
    const rows = this.#rows;
    if (rows === 0) return 0;
    if (rows >= maxBatch) return maxBatch;
    for (let i = preferred.length - 1; i >= 0; i--) if (rows >= preferred[i]) return preferred[i];
    // The second test: the main thread's clock (enqueued) and this one may differ by a hair.
    if (now - this.#q[this.#head].enqueued >= maxQueueDelayMs || (preferred.length === 0 && maxQueueDelayMs === 0)) return rows;
    return 0;
  }

  #shift(): T {
    const p = this.#q[this.#head];
    this.#q[this.#head++] = undefined as unknown as T; // the queue keeps no reference to what left it
    this.#rows -= p.rows;
    return p;
  }

  #compact(): void {
    if (this.#head === this.#q.length) {
      this.#q.length = 0;
      this.#head = 0;
    } else if (this.#head > 64 && this.#head * 2 > this.#q.length) {
      this.#q.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
