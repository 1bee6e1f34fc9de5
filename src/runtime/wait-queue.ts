// The pool's bounded wait queue (pool.ts): requests that found no room in a worker ring, in
// submission order, placed from the front as rings drain. A request leaves it placed, or
// finished (its deadline passed, the pool closed); the queue sets inWaiting, and hands
// every request that leaves to `release` (the pool's free list takes it once nothing holds it).
import type { PoolRequest } from './pool-request.js';

export class WaitQueue {
  readonly #q: PoolRequest[] = [];

  get length(): number {
    return this.#q.length;
  }

  /** The oldest request waiting, if any. */
  get head(): PoolRequest | undefined {
    return this.#q[0];
  }

  push(r: PoolRequest): void {
    r.inWaiting = true;
    this.#q.push(r);
  }

  /** Places requests from the front while `place` takes them; finished ones just leave. */
  flush(place: (r: PoolRequest) => boolean, release: (r: PoolRequest) => void): void {
    const q = this.#q;
    let i = 0;
    while (i < q.length) {
      const r = q[i];
      if (!r.finished && !place(r)) break;
      r.inWaiting = false;
      release(r);
      i++;
    }
    if (i > 0) q.splice(0, i);
  }

  /**
   * Drops the finished requests (their deadline passed while they waited), so that they
   * neither count toward the length bound nor stand in front of live ones.
   */
  dropFinished(release: (r: PoolRequest) => void): void {
    const q = this.#q;
    let kept = 0;
    for (const r of q) {
      if (!r.finished) q[kept++] = r;
      else {
        r.inWaiting = false;
        release(r);
      }
    }
    q.length = kept;
  }

  /** Empties the queue: every request that waited, no longer held by it. */
  takeAll(): PoolRequest[] {
    const all = this.#q.splice(0);
    for (const r of all) r.inWaiting = false;
    return all;
  }
}
