// Event ids for idempotent ingest (streams.<name>.dedup, docs/ingest.md#idempotent-ingest).
// A stream that names an id field has every event's id hashed to 64 bits (two u32 halves);
// an EventIdWindow remembers the ids applied in the last `horizon` (at most `max_ids`), so
// an event sent again within the horizon (a client's retry after a lost answer, the same
// event posted to two replicas) is dropped instead of counted twice.
//
// The window is an insertion-ordered ring (hash halves, applied-at time, log seq) indexed by
// an open-addressing table of ring positions (linear probing, backward-shift deletion):
// lookups and inserts do no allocation; the oldest ids leave from the ring's head when
// older than the horizon or when the window is full. Both arrays grow by doubling up to
// what max_ids needs, so a quiet stream costs little memory.

/**
 * 64-bit hash of an id's text (the two 32-bit lanes of cyrb53) into out[at], out[at + 1]. A
 * category value (decode.ts) is the same hash cut to 53 bits.
 */
export function hashEventId(id: string, out: Uint32Array, at: number): void {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < id.length; i++) {
    const ch = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  out[at] = h2 >>> 0;
  out[at + 1] = h1 >>> 0;
}

const MIN_RING = 1024;

export class EventIdWindow {
  readonly horizonMs: number;
  readonly max: number;
  /** ids dropped before their horizon because the window was full */
  evicted = 0;
  // the ring, in insertion order: hash halves, applied-at time, log seq
  #hi: Uint32Array;
  #lo: Uint32Array;
  #at: Float64Array;
  #seq: Float64Array;
  #head = 0;
  #size = 0;
  /** open addressing: ring position + 1 per slot (0: empty) */
  #slots: Int32Array;
  #mask: number;

  constructor(horizonMs: number, max: number) {
    this.horizonMs = horizonMs;
    this.max = max;
    const ring = Math.min(max, MIN_RING);
    this.#hi = new Uint32Array(ring);
    this.#lo = new Uint32Array(ring);
    this.#at = new Float64Array(ring);
    this.#seq = new Float64Array(ring);
    this.#slots = new Int32Array(slotsFor(ring));
    this.#mask = this.#slots.length - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** The log seq the id was applied with (0 without a log), or -1 when it is not in the window. */
  seqOf(hi: number, lo: number): number {
    const s = this.#find(hi, lo);
    return s < 0 ? -1 : this.#seq[this.#slots[s] - 1];
  }

  /** Remembers an id applied at nowMs with log record seq (0 without a log); one already here is left. */
  add(hi: number, lo: number, seq: number, nowMs: number): void {
    if (this.#find(hi, lo) >= 0) return;
    if (this.#size >= this.max) this.#dropOldest(true);
    if (this.#size >= this.#hi.length) this.#grow();
    const cap = this.#hi.length;
    const pos = (this.#head + this.#size) % cap;
    this.#hi[pos] = hi;
    this.#lo[pos] = lo;
    this.#at[pos] = nowMs;
    this.#seq[pos] = seq;
    this.#size++;
    let s = mix(hi, lo) & this.#mask;
    while (this.#slots[s] !== 0) s = (s + 1) & this.#mask;
    this.#slots[s] = pos + 1;
  }

  /** Drops the ids applied before nowMs - horizon. */
  expire(nowMs: number): void {
    const cut = nowMs - this.horizonMs;
    while (this.#size > 0 && this.#at[this.#head] < cut) this.#dropOldest(false);
  }

  /** Forgets the k ids added last (their batch was not applied after all). */
  dropNewest(k: number): void {
    for (let i = 0; i < k && this.#size > 0; i++) this.#dropNewest();
  }

  /** Forgets the ids applied with log records from seq on (the log lost them: they may come again). */
  dropFromSeq(seq: number): void {
    while (this.#size > 0 && this.#seq[(this.#head + this.#size - 1) % this.#hi.length] >= seq) this.#dropNewest();
  }

  /** Sets the log seq of the k ids added last (taken before their batch's record existed). */
  stampNewest(k: number, seq: number): void {
    const cap = this.#hi.length;
    for (let i = 1; i <= k && i <= this.#size; i++) this.#seq[(this.#head + this.#size - i) % cap] = seq;
  }

  /** Every id (hi, lo, applied-at, seq), oldest first: the ids file is rewritten from this. */
  forEach(fn: (hi: number, lo: number, atMs: number, seq: number) => void): void {
    const cap = this.#hi.length;
    for (let i = 0; i < this.#size; i++) {
      const p = (this.#head + i) % cap;
      fn(this.#hi[p], this.#lo[p], this.#at[p], this.#seq[p]);
    }
  }

  /** The slot holding the id, or -1. */
  #find(hi: number, lo: number): number {
    let s = mix(hi, lo) & this.#mask;
    for (;;) {
      const v = this.#slots[s];
      if (v === 0) return -1;
      if (this.#hi[v - 1] === hi && this.#lo[v - 1] === lo) return s;
      s = (s + 1) & this.#mask;
    }
  }

  #dropOldest(full: boolean): void {
    this.#unlink(this.#head);
    this.#head = (this.#head + 1) % this.#hi.length;
    this.#size--;
    if (full) this.evicted++;
  }

  #dropNewest(): void {
    this.#unlink((this.#head + this.#size - 1) % this.#hi.length);
    this.#size--;
  }

  /** Takes ring position p out of the table (backward-shift deletion: later members of the probe run move into the hole). */
  #unlink(p: number): void {
    let s = this.#find(this.#hi[p], this.#lo[p]);
    const slots = this.#slots;
    const mask = this.#mask;
    let next = (s + 1) & mask;
    while (slots[next] !== 0) {
      const v = slots[next];
      const home = mix(this.#hi[v - 1], this.#lo[v - 1]) & mask;
      // the member at next may move to s when its home is not in (s, next]
      if (((next - home) & mask) >= ((next - s) & mask)) {
        slots[s] = v;
        s = next;
      }
      next = (next + 1) & mask;
    }
    slots[s] = 0;
  }

  #grow(): void {
    const cap = this.#hi.length;
    const next = Math.min(this.max, cap * 2);
    const hi = new Uint32Array(next);
    const lo = new Uint32Array(next);
    const at = new Float64Array(next);
    const seq = new Float64Array(next);
    for (let i = 0; i < this.#size; i++) {
      const p = (this.#head + i) % cap;
      hi[i] = this.#hi[p];
      lo[i] = this.#lo[p];
      at[i] = this.#at[p];
      seq[i] = this.#seq[p];
    }
    this.#hi = hi;
    this.#lo = lo;
    this.#at = at;
    this.#seq = seq;
    this.#head = 0;
    this.#slots = new Int32Array(slotsFor(next));
    this.#mask = this.#slots.length - 1;
    for (let i = 0; i < this.#size; i++) {
      let s = mix(hi[i], lo[i]) & this.#mask;
      while (this.#slots[s] !== 0) s = (s + 1) & this.#mask;
      this.#slots[s] = i + 1;
    }
  }
}

/** at least twice the ring, a power of two: probe runs stay short */
function slotsFor(ring: number): number {
  let n = 1;
  while (n < ring * 2) n *= 2;
  return n;
}

function mix(hi: number, lo: number): number {
  return Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) ^ (hi >>> 15);
}
