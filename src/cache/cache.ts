// Multi-level caching of answers (docs/cache.md). L1 is an in-process Lru per kind of
// answer (feature reads, predict answers), keyed per request; L2 is the native store the
// answer is computed from (already there); L3 is Redis, the shared online store
// (src/redis/online-store.ts, plugged in through `L3` below). An L1 answer is served only within its
// TTL and while no event for any of its entities has been applied since it was computed
// (Generations, bumped by this module's ingest tap for every source the Ingestor has:
// HTTP JSON and NDJSON, WebSocket JSON and binary frames, the demo, log replay, and any
// later source that calls Ingestor.events/rows).
import type { CacheDef, CacheLevelDef } from '../config/cache.js';
import type { AppliedBatch, IngestTap } from '../ingest/ingestor.js';
import { Generations, type Stamp } from './generations.js';
import { Lru } from './lru.js';

export type { Stamp } from './generations.js';

/** hit/miss counts of one level */
export interface LevelCounts {
  hit: number;
  miss: number;
}

/**
 * L3, the shared store behind the native one (the online store on Redis,
 * src/redis/online-store.ts): on an L2 miss (the entity is not in this replica's store) the
 * cache asks it to warm the entity, without waiting. What it finds is imported into the
 * store and the entity's generation bumped, so the next read recomputes from L2. Counted as
 * level l3.
 */
export interface L3 {
  /** true: the entity is in the store now; false: not yet (the online store's fetch is on its way, or it is absent there too) */
  warm(table: number, id: string): boolean;
}

interface Cached<V> {
  value: V;
  stamp: Stamp;
}

/** One L1: answers of one kind by request key, with their stamps. */
export class AnswerCache<V> {
  readonly #lru: Lru<Cached<V>>;
  readonly #gens: Generations;
  readonly l1: LevelCounts = { hit: 0, miss: 0 };
  readonly l2: LevelCounts = { hit: 0, miss: 0 };
  readonly l3: LevelCounts = { hit: 0, miss: 0 };
  /** L1 entries found but dropped because an entity had a newer event */
  stale = 0;

  constructor(def: CacheLevelDef, gens: Generations) {
    this.#lru = new Lru(def.maxEntries, def.ttlMs);
    this.#gens = gens;
  }

  get size(): number {
    return this.#lru.size;
  }

  get evictions(): number {
    return this.#lru.evictions;
  }

  /** The cached answer for key, counted as an L1 hit or miss. */
  get(key: string, nowMs: number): V | undefined {
    const c = this.#lru.get(key, nowMs);
    if (c !== undefined) {
      if (this.#gens.current(c.stamp)) {
        this.l1.hit++;
        return c.value;
      }
      this.#lru.delete(key);
      this.stale++;
    }
    this.l1.miss++;
    return undefined;
  }

  /** The stamp to store an answer with: take it before the store is read or the predict is submitted. */
  stamp(tables: readonly number[], ids: readonly string[]): Stamp {
    return this.#gens.stamp(tables, ids);
  }

  /** Keeps an answer computed after `stamp` was taken, unless an entity has moved on since. */
  set(key: string, value: V, stamp: Stamp, nowMs: number): void {
    if (this.#gens.current(stamp)) this.#lru.set(key, { value, stamp }, nowMs);
  }

  /** Counts where an L1 miss found its entities: L2 (the native store), else L3 when there is one. */
  below(found: boolean, l3?: () => boolean): void {
    if (found) {
      this.l2.hit++;
      return;
    }
    this.l2.miss++;
    if (l3) this.l3[l3() ? 'hit' : 'miss']++;
  }

  clear(): void {
    this.#lru.clear();
  }
}

/** The caches a config asks for, their shared generations and their invalidation tap. */
export class Caching {
  readonly features?: AnswerCache<{ body: string; ageMs: number | null }>;
  readonly predict?: AnswerCache<PredictAnswer>;
  readonly generations: Generations;
  /** the Redis level, when an online store is configured */
  l3?: L3;

  constructor(def: CacheDef) {
    this.generations = new Generations(def.generationSlots);
    if (def.features) this.features = new AnswerCache(def.features, this.generations);
    if (def.predict) this.predict = new AnswerCache(def.predict, this.generations);
  }

  get empty(): boolean {
    return !this.features && !this.predict;
  }

  /**
   * The ingest tap that invalidates: every id of every applied batch bumps its generation.
   * It reads columns, so binary frames are decoded once to columns (ids hashed) and applied
   * from them, as for the learners' taps.
   */
  tap(): IngestTap {
    const gens = this.generations;
    return {
      name: 'cache',
      columns: true,
      onBatch(b: AppliedBatch): void {
        if (b.kind !== 'columns') return; // never: a columns tap sees columns
        const n = b.ts.length;
        for (let k = 0; k < b.keys.length; k++) gens.bumpColumn(b.stream.tables[k], b.keys[k], n);
      },
    };
  }
}

/** A predict answer as the cache keeps it: the values are copied out to each reader. */
export interface PredictAnswer {
  model: string;
  version: number;
  values: Float32Array;
  rows: number;
  outDim: number;
}
