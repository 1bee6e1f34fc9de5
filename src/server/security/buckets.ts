// Rate limits: token buckets (limits.rate), kept per client address or per credential and
// per route class, in bounded tables; and the count of open WebSocket connections per
// client address (limits.ws_connections_per_address).
import type { BucketDef } from '../../config/load.js';

/**
 * Milliseconds since the epoch, read from a field that a timer refreshes every `everyMs`.
 * Date.now() costs 70–170 ns on this project's VMs (1–2 % of a feature read); the buckets
 * and token expiry need no finer time than a few ms. The timer runs only while the clock is
 * read: after IDLE_TICKS ticks with no read it stops, and the next read starts it again
 * (reading Date.now() once), so a server nobody calls sleeps instead of waking every
 * `everyMs`. The timer is unref'd; close() stops it for good (the time then stays as it was).
 */
export class CoarseClock {
  #now = Date.now();
  #timer: NodeJS.Timeout | undefined = undefined;
  #read = false;
  #idle = 0;
  #closed = false;
  readonly #everyMs: number;

  constructor(everyMs = 5) {
    this.#everyMs = everyMs;
    this.#start();
  }

  get now(): number {
    this.#read = true;
    if (this.#timer === undefined && !this.#closed) this.#start();
    return this.#now;
  }

  /** whether the timer is running (tests) */
  get ticking(): boolean {
    return this.#timer !== undefined;
  }

  #start(): void {
    this.#now = Date.now();
    this.#idle = 0;
    this.#timer = setInterval(this.#tick, this.#everyMs);
    this.#timer.unref();
  }

  readonly #tick = (): void => {
    this.#now = Date.now();
    if (this.#read) {
      this.#read = false;
      this.#idle = 0;
    } else if (++this.#idle >= IDLE_TICKS) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  };

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** CoarseClock: ticks with no read before its timer stops */
const IDLE_TICKS = 200;

/** `rate` tokens per second, at most `burst` saved; one request takes one token. */
export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #perMs: number;
  readonly #burst: number;

  constructor(def: BucketDef, now: number) {
    this.#perMs = def.rate / 1000;
    this.#burst = def.burst;
    this.#tokens = def.burst;
    this.#last = now;
  }

  /** Takes a token: 0 when there was one, else the ms until there will be. */
  take(now: number): number {
    const dt = now - this.#last;
    if (dt > 0) {
      // A clock that steps back (dt < 0) refills nothing and is not remembered.
      this.#tokens = Math.min(this.#burst, this.#tokens + dt * this.#perMs);
      this.#last = now;
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.#tokens) / this.#perMs);
  }

  /** Full at `now`: the same as a bucket made now, so the table may forget it. */
  full(now: number): boolean {
    return this.#tokens + Math.max(0, now - this.#last) * this.#perMs >= this.#burst;
  }
}

/**
 * Buckets per key (a client address, a credential) and route class, made on first use.
 * At most `max` keys: when full, keys whose buckets are all full (indistinguishable from
 * new ones) are dropped; if that frees too little, the oldest tenth goes (they restart
 * full: the table errs towards admitting).
 */
export class BucketTable<K> {
  readonly #defs: readonly (BucketDef | undefined)[];
  readonly #max: number;
  readonly #table = new Map<K, (TokenBucket | undefined)[]>();

  constructor(defs: readonly (BucketDef | undefined)[], max: number) {
    this.#defs = defs;
    this.#max = max;
  }

  /** Whether class `cls` is limited at all (no lookup is needed otherwise). */
  limits(cls: number): boolean {
    return this.#defs[cls] !== undefined;
  }

  /** Takes a token of class `cls` for `key`: 0, or the ms to wait. The class must be limited. */
  take(key: K, cls: number, now: number): number {
    let row = this.#table.get(key);
    if (row === undefined) {
      if (this.#table.size >= this.#max) this.#evict(now);
      row = new Array<TokenBucket | undefined>(this.#defs.length);
      this.#table.set(key, row);
    }
    const b = (row[cls] ??= new TokenBucket(this.#defs[cls]!, now));
    return b.take(now);
  }

  get size(): number {
    return this.#table.size;
  }

  #evict(now: number): void {
    for (const [k, row] of this.#table) if (row.every((b) => b === undefined || b.full(now))) this.#table.delete(k);
    if (this.#table.size < this.#max) return;
    let drop = Math.max(1, Math.floor(this.#max / 10));
    for (const k of this.#table.keys()) {
      if (drop-- === 0) break;
      this.#table.delete(k);
    }
  }
}

/**
 * A client address as a Map key, without building a string for IPv4: the 32-bit address
 * (also for IPv4-mapped IPv6). IPv6 addresses are keyed by their /64 prefix, the block one
 * host or site is usually given, so a client cannot dodge a limit by walking its /64.
 */
export function addressKey(ab: ArrayBuffer): number | string {
  const a = new Uint8Array(ab);
  if (a.length === 4) return ((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0;
  if (a.length === 16 && a[10] === 0xff && a[11] === 0xff && a.subarray(0, 10).every((x) => x === 0))
    return ((a[12] << 24) | (a[13] << 16) | (a[14] << 8) | a[15]) >>> 0;
  return Buffer.from(a.subarray(0, 8)).toString('hex');
}

/** Open WebSocket connections per client address. */
export class ConnectionCounter {
  readonly #open = new Map<number | string, number>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Counts a connection in: false (and nothing counted) when the address has max already. */
  add(key: number | string): boolean {
    const n = this.#open.get(key) ?? 0;
    if (n >= this.#max) return false;
    this.#open.set(key, n + 1);
    return true;
  }

  remove(key: number | string): void {
    const n = this.#open.get(key) ?? 0;
    if (n <= 1) this.#open.delete(key);
    else this.#open.set(key, n - 1);
  }

  count(key: number | string): number {
    return this.#open.get(key) ?? 0;
  }
}
