// The pool's deadline sweep: per model slot, its requests in submission order, which is
// deadline order (a slot's requests all have its model's timeout). Every millisecond while
// requests are in flight, the front of each FIFO is passed while it is finished or past its
// deadline; the latter are handed to `expire`. Passed requests are replaced by a finished
// placeholder so that the FIFO keeps no reference to them.
import { PoolRequest } from './pool-request.js';

const PASSED = new PoolRequest();

export class DeadlineQueues {
  readonly #bySlot = new Map<number, { q: PoolRequest[]; head: number }>();

  add(r: PoolRequest): void {
    let fifo = this.#bySlot.get(r.slot);
    if (!fifo) this.#bySlot.set(r.slot, (fifo = { q: [], head: 0 }));
    fifo.q.push(r);
    r.inFifo = true;
  }

  /**
   * Passes what is finished or due at `now`: `expire(r)` for each unfinished one (it
   * finishes it, and frees it: r.inFifo is already false), `passed(r)` for each one that was
   * finished already. Returns how many requests the FIFOs still hold.
   */
  sweep(now: number, expire: (r: PoolRequest) => void, passed: (r: PoolRequest) => void): number {
    let live = 0;
    for (const fifo of this.#bySlot.values()) {
      const q = fifo.q;
      while (fifo.head < q.length) {
        const r = q[fifo.head];
        if (!r.finished && r.deadline > now) break;
        q[fifo.head++] = PASSED;
        r.inFifo = false;
        // Not both: expire() frees the request, and a second free would hand one pooled
        // object to two requests (one of them never answered).
        if (!r.finished) expire(r);
        else passed(r);
      }
      if (fifo.head === q.length) {
        q.length = 0;
        fifo.head = 0;
      } else if (fifo.head > 1024 && fifo.head * 2 > q.length) {
        q.splice(0, fifo.head);
        fifo.head = 0;
      }
      live += q.length - fifo.head;
    }
    return live;
  }
}
