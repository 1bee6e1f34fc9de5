// A lock-free single-producer / single-consumer ring of variable-length records in a
// SharedArrayBuffer: the request ring (main thread -> worker) and the response ring
// (worker -> main thread) of each inference worker. Both ends are TypeScript, so the
// layout is defined here once (RING below) and nowhere else.
//
// Layout. The control block is an Int32Array of RING.CONTROL_INTS slots, each index on its
// own 64-byte cache line so the producer's and consumer's writes do not false-share:
//   HEAD     bytes consumed so far (written by the consumer only)
//   TAIL     bytes published so far (written by the producer only)
//   SEQ      bumped by the producer after each publish; the consumer waits on it
//   WAITING  1 while the consumer is (about to be) asleep in Atomics.wait / waitAsync
//   BUDGET   publishes the producer lets pass before it wakes a consumer in a timed wait
//            (0: wake at the first); on WAITING's cache line
//   IDLE     1 while the consumer sleeps without a timeout but with a BUDGET (see flush())
// HEAD and TAIL are free-running byte counters that wrap at 2^32; (TAIL - HEAD) >>> 0 is
// the bytes in use, correct across the wrap because the capacity is a power of two far
// below 2^31. Data follows the control block. A record is a u32 length then the payload,
// padded to 8 bytes; a record never straddles the end: when it does not fit before the
// end, the producer writes a WRAP length there and starts the record at offset 0.
//
// Ordering. The producer writes the record bytes with plain stores, then Atomics.store(TAIL).
// Atomics operations are sequentially consistent, so a consumer that reads the new TAIL
// with Atomics.load also sees the bytes before it. Symmetrically the consumer finishes
// reading a record before Atomics.store(HEAD) hands the space back.
//
// Wake-ups without lost signals. The consumer reads SEQ, sets WAITING = 1, re-checks that
// the ring is still empty, and waits on SEQ for the value it read first. The producer
// publishes, bumps SEQ, then notifies only if it turns WAITING from 1 to 0. Either the
// producer sees WAITING = 1 and notifies, or its SEQ bump came before the consumer's wait,
// which then returns at once ("not-equal"), or before the consumer's emptiness check,
// which then sees the record. The producer pays for Atomics.notify only when the consumer
// sleeps, once per sleep.
//
// Batch windows. A worker that sleeps until a batch window closes needs waking only when
// the batch could fill before that: it sets BUDGET to the records that would fill it, and
// the producer notifies at the last of them (the timeout covers the rest). A skipped notify
// can never strand a record: the SEQ bump still comes first, and the timeout comes.
//
// Idle sleeps. A worker with nothing queued sleeps without a timeout; woken at the first
// record, it would find one request, open that model's window and sleep again: two wake-ups
// per batch. It may instead sleep with a BUDGET too and set IDLE: the producer then lets
// that many records pass, and promises to call flush() once it has published what it has
// at hand (the pool does it at the end of the event-loop turn), which wakes an idle sleeper
// that the budget left asleep. That flush is what keeps a record from being stranded. A
// producer that expects no more records soon passes notify(false) and wakes it at once.

export const RING = {
  HEAD: 0,
  TAIL: 16,
  SEQ: 32,
  WAITING: 48,
  BUDGET: 49,
  IDLE: 50,
  CONTROL_INTS: 64, // 4 cache lines of 16 Int32s
  HEADER_BYTES: 4, // u32 record length
  ALIGN: 8,
  WRAP: 0xffffffff,
  MIN_CAPACITY: 4096,
} as const;

const CONTROL_BYTES = RING.CONTROL_INTS * 4;

function align(n: number): number {
  return (n + RING.ALIGN - 1) & ~(RING.ALIGN - 1);
}

/** One end of a ring. Create the SharedArrayBuffer with Ring.allocate, then wrap it on each side. */
export class Ring {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  /** Largest payload that fits in an empty ring (and at any offset: see reserve). */
  readonly maxPayload: number;
  readonly ctl: Int32Array;
  /** The data region; the producer writes records into it, the consumer reads them. */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** The data region as a Buffer, for writing strings in place (buffer.write). */
  readonly buffer: Buffer;
  #mask: number;

  /** The data capacity a ring asked for capacityBytes gets: a power of two, at least MIN_CAPACITY. */
  static capacityFor(capacityBytes: number): number {
    let cap = RING.MIN_CAPACITY;
    while (cap < capacityBytes) cap *= 2;
    if (cap > 1 << 30) throw new RangeError('ring capacity above 1 GiB');
    return cap;
  }

  /** The largest payload a ring of capacityFor(capacityBytes) takes. */
  static maxPayloadFor(capacityBytes: number): number {
    return Ring.capacityFor(capacityBytes) / 2 - RING.HEADER_BYTES;
  }

  static allocate(capacityBytes: number): SharedArrayBuffer {
    return new SharedArrayBuffer(CONTROL_BYTES + Ring.capacityFor(capacityBytes));
  }

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.capacity = sab.byteLength - CONTROL_BYTES;
    this.maxPayload = Ring.maxPayloadFor(this.capacity);
    this.#mask = this.capacity - 1;
    this.ctl = new Int32Array(sab, 0, RING.CONTROL_INTS);
    this.bytes = new Uint8Array(sab, CONTROL_BYTES, this.capacity);
    this.view = new DataView(sab, CONTROL_BYTES, this.capacity);
    this.buffer = Buffer.from(sab, CONTROL_BYTES, this.capacity);
  }

  /** Bytes in use (records, padding and wrap gaps). */
  used(): number {
    return (Atomics.load(this.ctl, RING.TAIL) - Atomics.load(this.ctl, RING.HEAD)) >>> 0;
  }

  // ---- producer side ----

  /**
   * Reserves room for a payload of `size` bytes and returns the payload's offset in
   * `bytes`/`view`, or -1 when the ring is full (backpressure: the caller queues or sheds).
   * The record is invisible to the consumer until publish().
   */
  reserve(size: number): number {
    if (size > this.maxPayload) return -1;
    const total = align(RING.HEADER_BYTES + size);
    const tail = this.ctl[RING.TAIL] >>> 0; // only this side writes TAIL
    const head = Atomics.load(this.ctl, RING.HEAD) >>> 0;
    const free = this.capacity - ((tail - head) >>> 0);
    const off = tail & this.#mask;
    const toEnd = this.capacity - off;
    if (toEnd >= total) {
      if (free < total) return -1;
      this.view.setUint32(off, size, true);
      this.#pending = total;
      return off + RING.HEADER_BYTES;
    }
    // Skip the gap at the end: it counts as used until the consumer passes it.
    if (free < toEnd + total) return -1;
    this.view.setUint32(off, RING.WRAP, true);
    this.view.setUint32(0, size, true);
    this.#pending = toEnd + total;
    return RING.HEADER_BYTES;
  }

  #pending = 0;

  /** Makes the reserved record visible; notify() wakes the consumer if it sleeps. */
  publish(): void {
    Atomics.store(this.ctl, RING.TAIL, (this.ctl[RING.TAIL] + this.#pending) | 0);
    this.#pending = 0;
  }

  /**
   * After one or more publish() calls: bump SEQ and wake a sleeping consumer. The producer
   * takes WAITING back to 0 itself (compareExchange), so a burst of publishes pays for one
   * Atomics.notify per sleep, not one each until the consumer has run. Returns true when it
   * left an idle sleeper asleep (within its budget): the producer owes it a flush(). With
   * `defer` false an idle sleeper is woken at once (a lone record: nothing to batch it with).
   */
  notify(defer = true): boolean {
    Atomics.add(this.ctl, RING.SEQ, 1);
    if (Atomics.load(this.ctl, RING.WAITING) !== 1) return false;
    const idle = Atomics.load(this.ctl, RING.IDLE) === 1;
    // within the budget: not yet (an idle sleeper only when the producer defers: see flush())
    if ((defer || !idle) && Atomics.load(this.ctl, RING.BUDGET) > 1 && Atomics.sub(this.ctl, RING.BUDGET, 1) > 1) return idle;
    this.wake();
    return false;
  }

  /**
   * Wakes the consumer if it is asleep in an idle wait (wait() with an infinite timeout and
   * a budget) that notify() left asleep: the producer calls it once it has published what it
   * has at hand, whenever a notify() since returned true.
   */
  flush(): void {
    if (Atomics.load(this.ctl, RING.IDLE) === 1 && !this.#emptyProduced()) this.wake();
  }

  /** Wakes a sleeping consumer whatever its budget (a control record must not wait). */
  wake(): void {
    if (Atomics.compareExchange(this.ctl, RING.WAITING, 1, 0) === 1) Atomics.notify(this.ctl, RING.SEQ);
  }

  /** The producer's view: nothing published that the consumer has not released. */
  #emptyProduced(): boolean {
    return this.ctl[RING.TAIL] === Atomics.load(this.ctl, RING.HEAD);
  }

  // ---- consumer side ----

  #readPos = 0; // consumer-private: where the next record starts (free-running, like HEAD)
  #readInit = false;

  /**
   * The next record's payload offset in `bytes`/`view`, or -1 when empty; its length is
   * then `peekedLength`. A number and a field rather than an {off, len} object: the main
   * thread peeks once per answer, and those objects were young-generation garbage. The
   * payload stays valid until release(); records are consumed in order.
   */
  peek(): number {
    if (!this.#readInit) {
      this.#readPos = Atomics.load(this.ctl, RING.HEAD) >>> 0;
      this.#readInit = true;
    }
    const tail = Atomics.load(this.ctl, RING.TAIL) >>> 0;
    if (tail === this.#readPos) return -1;
    let off = this.#readPos & this.#mask;
    let len = this.view.getUint32(off, true);
    if (len === RING.WRAP) {
      this.#readPos = (this.#readPos + (this.capacity - off)) >>> 0;
      off = 0;
      len = this.view.getUint32(0, true);
    }
    this.#peeked = align(RING.HEADER_BYTES + len);
    this.#peekedLength = len;
    return off + RING.HEADER_BYTES;
  }

  #peeked = 0;
  #peekedLength = 0;

  /** The payload length of the record the last peek() returned. */
  get peekedLength(): number {
    return this.#peekedLength;
  }

  /** Hands the space of the record returned by the last peek() back to the producer. */
  release(): void {
    this.#readPos = (this.#readPos + this.#peeked) >>> 0;
    this.#peeked = 0;
    Atomics.store(this.ctl, RING.HEAD, this.#readPos | 0);
  }

  /**
   * Blocks (worker threads only) until the producer publishes or timeoutMs passes.
   * Returns at once when records are already there. `budget` > 1 lets that many publishes
   * (notify calls) pass before the producer wakes it (BUDGET); with an infinite timeout
   * only when `idle` says the producer flushes (see flush()), else it is ignored.
   */
  wait(timeoutMs: number, budget = 0, idle = false): void {
    const seq = Atomics.load(this.ctl, RING.SEQ);
    const timed = Number.isFinite(timeoutMs);
    const isIdle = !timed && idle && budget > 1;
    Atomics.store(this.ctl, RING.BUDGET, timed || isIdle ? budget : 0);
    Atomics.store(this.ctl, RING.IDLE, isIdle ? 1 : 0);
    Atomics.store(this.ctl, RING.WAITING, 1);
    if (this.#empty()) Atomics.wait(this.ctl, RING.SEQ, seq, timeoutMs);
    Atomics.store(this.ctl, RING.WAITING, 0);
    Atomics.store(this.ctl, RING.IDLE, 0);
  }

  /** The main thread's wait: resolves when the producer publishes (or at once if not empty). */
  waitAsync(): Promise<unknown> | null {
    const seq = Atomics.load(this.ctl, RING.SEQ);
    Atomics.store(this.ctl, RING.WAITING, 1);
    if (!this.#empty()) {
      Atomics.store(this.ctl, RING.WAITING, 0);
      return null;
    }
    const r = Atomics.waitAsync(this.ctl, RING.SEQ, seq);
    return r.async ? r.value : null;
  }

  /**
   * While a waitAsync is pending: the producer has taken WAITING to 0 (it woke this consumer)
   * and records wait. The promise should resolve within the event-loop turn; a caller that
   * sees this on two looks a turn apart drains without it (pool.ts #watch).
   */
  woken(): boolean {
    return Atomics.load(this.ctl, RING.WAITING) === 0 && !this.#empty();
  }

  /** The consumer is awake again (call after waitAsync resolves). */
  awake(): void {
    Atomics.store(this.ctl, RING.WAITING, 0);
  }

  #empty(): boolean {
    if (!this.#readInit) return Atomics.load(this.ctl, RING.TAIL) === Atomics.load(this.ctl, RING.HEAD);
    return (Atomics.load(this.ctl, RING.TAIL) >>> 0) === this.#readPos;
  }
}
