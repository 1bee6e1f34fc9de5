// Feature reads: one entity or a batch, all features or named ones, as named JSON values.
import type { AnswerCache, Caching } from '../cache/cache.js';
import type { Config, EntityDef } from '../config/load.js';
import { HotpathError, showValue } from '../errors.js';
import { type FeatureStore, limits } from '../native/binding.js';
import { idOf, timeOf } from '../ingest/decode.js';
import { jsonNumber } from './http.js';

export type FeatureValue = number | null | number[];

export interface EntityFeatures {
  id: string;
  found: boolean;
  /** ms between the entity's newest event and the read time; null when absent */
  freshness_ms: number | null;
  features: Record<string, FeatureValue>;
}

export function entityOf(config: Config, name: unknown): EntityDef {
  const i = typeof name === 'string' ? config.entityIndex.get(name) : undefined;
  if (i === undefined) throw new HotpathError('HP_ERR_ENTITY_UNKNOWN', `unknown entity ${showValue(name)}; declared: ${config.entities.map((e) => e.name).join(', ')}`);
  return config.entities[i];
}

/** Feature indices to return: all (entity.allFeatures, which readJson caches for) when names is absent. */
export function selectFeatures(entity: EntityDef, names: unknown, max: number): number[] {
  if (names === undefined || names === null) return entity.allFeatures;
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string'))
    throw new HotpathError('HP_ERR_QUERY_INVALID', '`features` must be a non-empty list of feature names');
  if (names.length > max) throw tooManyFeatures(names.length, max);
  return names.map((n: string) => {
    const i = entity.featureIndex.get(n);
    if (i === undefined) throw new HotpathError('HP_ERR_FEATURE_UNKNOWN', `entity '${entity.name}' has no feature '${n}'`);
    return i;
  });
}

export function readTime(v: unknown, nowMs: number): number {
  if (v === undefined || v === null || v === '') return nowMs;
  const t = timeOf(v);
  if (t === undefined) throw new HotpathError('HP_ERR_QUERY_INVALID', '`at` must be epoch milliseconds or an ISO-8601 time');
  return t;
}

export function tooManyFeatures(n: number, max: number): HotpathError {
  return new HotpathError('HP_ERR_FEATURES_TOO_MANY', `${n} features named; at most ${max} per request (limits.features_per_request)`);
}

/** An entity id of a request that reads: at most maxBytes (limits.id_bytes) UTF-8 bytes. */
export function checkId(v: unknown, maxBytes: number): string {
  const id = idOf(v);
  if (id === undefined || (maxBytes < limits.maxIdBytes && Buffer.byteLength(id) > maxBytes))
    throw new HotpathError('HP_ERR_ID_INVALID', `an entity id must be a non-empty string of at most ${Math.min(maxBytes, limits.maxIdBytes)} bytes or an integer`);
  return id;
}

/** Reads entities through one native call and shapes them as named values. */
export class FeatureReader {
  readonly #store: FeatureStore;
  #out = new Float64Array(0);
  #ages = new Float64Array(0);
  readonly #cache: AnswerCache<{ json: string; ageMs: number | null }> | undefined;
  readonly #caching: Caching | undefined;

  /** caching: the L1 of GET reads when it has `features` (cache.features) */
  constructor(store: FeatureStore, caching?: Caching) {
    this.#store = store;
    this.#cache = caching?.features;
    this.#caching = caching;
  }

  /**
   * Whether the store holds the entity (the L2 check of a predict that missed L1, and the
   * check before a read-through): the native index lookup, no features computed.
   */
  has(table: number, id: string): boolean {
    return this.#store.contains(table, id);
  }

  /**
   * readJson through the L1 cache, when there is one: `query` (the request's raw query:
   * features and at) is part of the key. An answer is served for at most cache.features.ttl
   * and never after an event for its entity has been applied; an answer read without `at`
   * says the time it was read at, which may be up to the TTL old.
   */
  readJsonCached(entity: EntityDef, id: string, select: number[], atMs: number, query: string, now = Date.now()): { json: string; ageMs: number | null } {
    const cache = this.#cache;
    if (cache === undefined) return this.readJson(entity, id, select, atMs);
    const key = `${entity.index}\u0000${id.length}:${id}\u0000${query}`;
    const hit = cache.get(key, now);
    if (hit !== undefined) return hit;
    const stamp = cache.stamp([entity.index], [id]);
    const r = this.readJson(entity, id, select, atMs);
    const l3 = this.#caching!.l3;
    cache.below(r.ageMs !== null, l3 && (() => l3.warm(entity.index, id)));
    cache.set(key, r, stamp, now);
    return r;
  }

  read(entity: EntityDef, ids: string[], select: number[], atMs: number): EntityFeatures[] {
    const layout = this.#store.layout(entity.index);
    const need = ids.length * layout.width;
    if (this.#out.length < need) this.#out = new Float64Array(need);
    if (this.#ages.length !== ids.length) this.#ages = new Float64Array(ids.length);
    if (ids.length === 1) this.#ages[0] = this.#store.read(entity.index, ids[0], atMs, this.#out).ageMs; // no id array to cross N-API
    else this.#store.readMany(entity.index, ids, atMs, this.#out, this.#ages);
    const results: EntityFeatures[] = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const base = i * layout.width;
      const features: Record<string, FeatureValue> = {};
      for (const f of select) {
        const off = base + layout.offsets[f];
        const width = layout.widths[f];
        if (entity.features[f].agg === 'last_n') {
          const list: number[] = [];
          for (let k = 0; k < width && !Number.isNaN(this.#out[off + k]); k++) list.push(this.#out[off + k]);
          features[entity.features[f].name] = list;
        } else {
          const v = this.#out[off];
          features[entity.features[f].name] = Number.isNaN(v) ? null : v;
        }
      }
      const age = this.#ages[i];
      results[i] = { id: ids[i], found: !Number.isNaN(age), freshness_ms: Number.isNaN(age) ? null : age, features };
    }
    return results;
  }

  /**
   * The GET answer for one entity, `{"entity", "at", "id", "found", "freshness_ms",
   * "features"}`, written as JSON text straight from the read buffer: the hot path of
   * feature reads. For the demo user row, read + object + JSON.stringify takes 3.4-3.7 us,
   * this 2.1-2.3 us, the native read alone 0.6 us (bench/tools/feature-read-micro.ts).
   * It says exactly what JSON.stringify of read()'s result says (a test checks).
   */
  readJson(entity: EntityDef, id: string, select: number[], atMs: number): { json: string; ageMs: number | null } {
    const layout = this.#store.layout(entity.index);
    if (this.#out.length < layout.width) this.#out = new Float64Array(layout.width);
    const out = this.#out;
    const age = this.#store.read(entity.index, id, atMs, out).ageMs;
    const keys = (this.#keys[entity.index] ??= entity.features.map((f) => `${JSON.stringify(f.name)}:`));
    let body = '';
    for (let i = 0; i < select.length; i++) {
      const f = select[i];
      const off = layout.offsets[f];
      body += (i ? ',' : '') + keys[f];
      if (entity.features[f].agg === 'last_n') {
        body += '[';
        for (let k = 0; k < layout.widths[f] && !Number.isNaN(out[off + k]); k++) body += (k ? ',' : '') + jsonNumber(out[off + k]);
        body += ']';
      } else body += Number.isNaN(out[off]) ? 'null' : jsonNumber(out[off]);
    }
    const found = !Number.isNaN(age);
    const json =
      `{"entity":${JSON.stringify(entity.name)},"at":${jsonNumber(atMs)},"id":${JSON.stringify(id)},"found":${found},` +
      `"freshness_ms":${found ? jsonNumber(age) : 'null'},"features":{${body}}}`;
    return { json, ageMs: found ? age : null };
  }

  readonly #keys: string[][] = [];
}
