// Where the pool keeps the requests a worker has not answered: per worker, a list in
// submission order (what the queue-delay measure reads, oldest first, and what a dead
// worker's requests are failed from), and for the whole pool, a table from request id to
// request (what an answer is matched by). A predict is added once and removed once, and
// found once by its answer's id; a Map per worker did the three (set, get, delete) by
// hashing, and rehashed as deleted entries piled up (issue 17, main-thread profile).
//
// The list is threaded through the requests themselves (PoolRequest.prevPending,
// nextPending). The table is indexed by the id's low bits: ids are handed out in sequence,
// so the live ones lie in a window as wide as the requests submitted while the oldest of
// them waits; the table doubles whenever two live ids would share an entry, and so holds at
// most about twice that window (a request leaves at its answer, its deadline, or its
// worker's death). It never shrinks: a model whose timeout is long and that stalls under
// load leaves it at about twice the requests submitted within that timeout. An answer
// whose request is gone finds no entry, or an entry with another id: ids are not reused
// before 2^32 more requests.
import type { PoolRequest } from './pool-request.js';

/** A worker's unanswered requests, oldest first. */
export class PendingList {
  #head: PoolRequest | undefined = undefined;
  #tail: PoolRequest | undefined = undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(r: PoolRequest): void {
    r.prevPending = this.#tail;
    r.nextPending = undefined;
    if (this.#tail !== undefined) this.#tail.nextPending = r;
    else this.#head = r;
    this.#tail = r;
    this.#size++;
  }

  /** Takes r out; nothing when r is in no list (r must not be in another list). */
  delete(r: PoolRequest): void {
    if (r.prevPending === undefined && this.#head !== r) return;
    const prev = r.prevPending;
    const next = r.nextPending;
    if (prev !== undefined) prev.nextPending = next;
    else this.#head = next;
    if (next !== undefined) next.prevPending = prev;
    else this.#tail = prev;
    r.prevPending = r.nextPending = undefined;
    this.#size--;
  }

  /** The requests, oldest first (a snapshot is not taken: do not delete while iterating). */
  *values(): IterableIterator<PoolRequest> {
    for (let r = this.#head; r !== undefined; r = r.nextPending) yield r;
  }

  /** Empties the list and returns what it held, oldest first. */
  takeAll(): PoolRequest[] {
    const all = [...this.values()];
    for (const r of all) r.prevPending = r.nextPending = undefined;
    this.#head = this.#tail = undefined;
    this.#size = 0;
    return all;
  }
}

/** The pool's unanswered requests by id (see the top of this file). */
export class PendingIds {
  #table: (PoolRequest | undefined)[] = new Array<PoolRequest | undefined>(1024).fill(undefined);
  #mask = 1023;

  /** The table's entries (for tests: how far it grew). */
  get capacity(): number {
    return this.#table.length;
  }

  add(r: PoolRequest): void {
    while (this.#table[r.id & this.#mask] !== undefined) this.#grow();
    this.#table[r.id & this.#mask] = r;
  }

  /** The unanswered request with this id, if there is one. */
  get(id: number): PoolRequest | undefined {
    const r = this.#table[id & this.#mask];
    return r !== undefined && r.id === id ? r : undefined;
  }

  /** Takes r out; nothing when r is not in the table. */
  delete(r: PoolRequest): void {
    if (this.#table[r.id & this.#mask] === r) this.#table[r.id & this.#mask] = undefined;
  }

  #grow(): void {
    const old = this.#table;
    let size = old.length * 2;
    // doubles until every live entry has an entry of its own
    for (;;) {
      const table = new Array<PoolRequest | undefined>(size).fill(undefined);
      const mask = size - 1;
      let clash = false;
      for (const r of old) {
        if (r === undefined) continue;
        if (table[r.id & mask] !== undefined) {
          clash = true;
          break;
        }
        table[r.id & mask] = r;
      }
      if (!clash) {
        this.#table = table;
        this.#mask = mask;
        return;
      }
      size *= 2;
    }
  }
}
