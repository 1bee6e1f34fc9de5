// The co-visitation table: a typed wrapper over the addon's Covisit class
// (native/binding/covisit_wrap.cc; the algorithm is native/core/covisit.h). The addon
// comes from binding.ts, the one loader.
//
// Items are category values as the store holds them (an integer id itself, a string's
// 53-bit hash: src/ingest/decode.ts categoryValue); users are entity ids (strings, or the
// store's 64-bit hashes from a replayed or binary batch).
//
// Arguments are checked here before they cross; a bad one throws HotpathError
// HP_ERR_NATIVE_INVALID_ARG, as the native backstop would. Buffers: every typed array
// passed in is read (or, for answers, written) during the call only; serialize() returns
// a new Uint8Array the caller owns. One thread at a time.
import { HotpathError } from '../errors.js';
import { CovisitAddon, callNative as call, constants } from './binding.js';
import type { Binding } from './binding-types.js';

export const covisitLimits = constants.covisit;

export interface CovisitOptions {
  maxItems?: number;
  maxUsers?: number;
  neighbours?: number;
  window?: number;
  halfLifeMs?: number;
  symmetric?: boolean;
}

/** One recommend query; history most recent first. */
export interface CovisitQuery {
  history: Float64Array;
  nHistory: number;
  exclude: Float64Array;
  nExclude: number;
  /** NaN: any category */
  category: number;
  k: number;
  nowMs: number;
  recency: number;
  popularFill: boolean;
}

/** Where an answer's items go: k items, their scores and sources (constants.covisit.sources). */
export interface CovisitAnswer {
  items: Float64Array;
  scores: Float64Array;
  source: Uint8Array;
}

function bad(message: string): never {
  throw new HotpathError('HP_ERR_NATIVE_INVALID_ARG', message);
}

function intIn(v: number | undefined, lo: number, hi: number, what: string): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= lo && v <= hi)) bad(`${what} must be an integer in [${lo}, ${hi}]`);
}

export class CovisitTable {
  readonly #native: Binding.NativeCovisit;
  readonly window: number;

  constructor(o: CovisitOptions = {}) {
    const L = covisitLimits;
    intIn(o.maxItems, 1, L.maxItems, 'maxItems');
    intIn(o.maxUsers, 1, L.maxUsers, 'maxUsers');
    intIn(o.neighbours, 1, L.maxNeighbours, 'neighbours');
    intIn(o.window, 1, L.maxWindow, 'window');
    if (o.halfLifeMs !== undefined && !(o.halfLifeMs > 0 && Number.isFinite(o.halfLifeMs))) bad('halfLifeMs must be > 0');
    const p: Binding.CovisitParams = {
      maxItems: o.maxItems ?? 100_000,
      maxUsers: o.maxUsers ?? 100_000,
      neighbours: o.neighbours ?? 32,
      window: o.window ?? 5,
      halfLifeMs: o.halfLifeMs ?? 86_400_000,
      symmetric: o.symmetric ?? true,
    };
    this.window = p.window;
    this.#native = call(() => new CovisitAddon(p));
  }

  /** n events: users (ids or their hashes), items (category values), categories (NaN: none) or null, times (ms). */
  update(users: Binding.KeyColumn, items: Float64Array, categories: Float64Array | null, ts: Float64Array, n: number): void {
    if (users.length < n || items.length < n || ts.length < n || (categories && categories.length < n)) bad('a column is shorter than n');
    call(() => this.#native.update(users, items, categories, ts, n));
  }

  /** Writes up to q.k items into out; returns the count. */
  recommend(q: CovisitQuery, out: CovisitAnswer): number {
    const L = covisitLimits;
    if (!(Number.isInteger(q.k) && q.k >= 1 && q.k <= L.maxK)) bad(`k must be an integer in [1, ${L.maxK}]`);
    if (q.nHistory > L.maxHistory || q.nHistory > q.history.length) bad(`at most ${L.maxHistory} history items`);
    if (q.nExclude > L.maxK || q.nExclude > q.exclude.length) bad(`at most ${L.maxK} excluded items`);
    if (out.items.length < q.k || out.scores.length < q.k || out.source.length < q.k) bad('the answer arrays must hold k items');
    if (!(q.recency >= 0 && q.recency <= 1)) bad('recency must be in [0, 1]');
    return call(() =>
      this.#native.recommend(q.history, q.nHistory, q.exclude, q.nExclude, q.category, q.k, q.nowMs, q.recency, q.popularFill, out.items, out.scores, out.source),
    );
  }

  /** The decayed weight of the pair (a then b) at nowMs. */
  pairWeight(a: number, b: number, nowMs: number): number {
    return this.#native.pairWeight(a, b, nowMs);
  }

  popularity(a: number, nowMs: number): number {
    return this.#native.popularity(a, nowMs);
  }

  /** The user's last `window` items (category values), most recent first. */
  userItems(user: string): number[] {
    const out = new Float64Array(this.window);
    const n = call(() => this.#native.userItems(user, out));
    return Array.from(out.subarray(0, n));
  }

  stats(): Binding.CovisitStats {
    return this.#native.stats();
  }

  clear(): void {
    this.#native.clear();
  }

  serialize(): Uint8Array {
    return this.#native.serialize();
  }

  /** Throws HP_ERR_NATIVE_INVALID_ARG for a damaged blob or one made with other parameters; nothing changes then. */
  deserialize(bytes: Uint8Array): void {
    call(() => this.#native.deserialize(bytes));
  }
}
