// Feature reads: one entity or a batch, all features or named ones, as named JSON values.
import type { AnswerCache, Caching } from '../cache/cache.js';
import type { Config, EntityDef } from '../config/load.js';
import { HotpathError, showValue } from '../errors.js';
import { constants, type FeatureStore, limits } from '../native/binding.js';
import { idOf, timeOf } from '../ingest/decode.js';
import { nowMs } from '../runtime/records.js';

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
  readonly #cache: AnswerCache<{ body: string; ageMs: number | null }> | undefined;
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
   * readAnswer through the L1 cache, when there is one: `query` (the request's raw query:
   * features and at) is part of the key. An answer is served for at most cache.features.ttl
   * and never after an event for its entity has been applied; an answer read without `at`
   * says the time it was read at, which may be up to the TTL old. Without a cache the body
   * is readAnswer's view (valid until the next read); with one, the cached string.
   */
  readJsonCached(entity: EntityDef, id: string, select: number[], atMs: number, query: string, now?: number, timed = false): FeatureAnswer {
    const cache = this.#cache;
    if (cache === undefined) return this.readAnswer(entity, id, select, atMs, timed);
    const start = timed ? nowMs() : 0;
    const r = this.#readCached(cache, entity, id, select, atMs, query, now ?? Date.now()); // Date.now only with a cache
    if (timed) {
      this.readStart = start;
      this.readEnd = nowMs();
    }
    return r;
  }

  #readCached(cache: AnswerCache<{ body: string; ageMs: number | null }>, entity: EntityDef, id: string, select: number[], atMs: number, query: string, now: number): FeatureAnswer {
    const key = `${entity.index}\u0000${id.length}:${id}\u0000${query}`;
    const hit = cache.get(key, now);
    if (hit !== undefined) return hit;
    const stamp = cache.stamp([entity.index], [id]);
    const r = this.readJson(entity, id, select, atMs);
    const l3 = this.#caching!.l3;
    cache.below(r.ageMs !== null, l3 && (() => l3.warm(entity.index, id)));
    const answer = { body: r.json, ageMs: r.ageMs };
    cache.set(key, answer, stamp, now);
    return answer;
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
   * "features"}`, as UTF-8 JSON text written by the native read itself
   * (FeatureStore.readJson: the read and the encoding in one call, by a program compiled
   * once per entity and selection): no JS string is built. The answer, its body and its
   * age are this reader's and its store's, reused: valid until the next read (uWS copies
   * the body when it answers). It says exactly what JSON.stringify of read()'s result says
   * (test/native/feature-json.test.ts).
   *
   * All features (the common GET) go through readJsonTo: the program and the text buffer
   * are handed to the addon once, so a read crosses N-API with three plain arguments and
   * its body is a view made once per length. A named selection is compiled per request
   * and read with readJson.
   */
  readAnswer(entity: EntityDef, id: string, select: number[], atMs: number, timed = false): FeatureAnswer {
    const store = this.#store;
    const a = this.#answer;
    if (select === entity.allFeatures) {
      if (timed) store.jsonClock(true); // stays on: timed reads are the rule once one is asked for
      const n = store.readJsonTo((this.#kept[entity.index] ??= store.jsonProgram(entity.index, this.#program(entity, select))), id, atMs);
      const age = store.jsonAge;
      a.body = store.jsonView(n);
      a.ageMs = Number.isNaN(age) ? null : age;
      if (timed) {
        const o = Number.isNaN(this.#offset) ? (this.#offset = this.#calibrate()) : this.#offset;
        this.readStart = store.jsonStart + o;
        this.readEnd = store.jsonEnd + o;
      }
      return a;
    }
    const start = timed ? nowMs() : 0;
    const program = this.#program(entity, select);
    let n = store.readJson(entity.index, id, atMs, program, this.#text);
    if (n < 0) {
      this.#grow(-n);
      n = store.readJson(entity.index, id, atMs, program, this.#text);
    }
    const age = this.#age[0];
    a.body = Buffer.from(this.#text.buffer, 8, n);
    a.ageMs = Number.isNaN(age) ? null : age;
    if (timed) {
      this.readStart = start;
      this.readEnd = nowMs();
    }
    return a;
  }

  /**
   * With `timed`, readAnswer and readJsonCached note when the read started and ended
   * (nowMs(); the stage split's store stage): the native read's own marks when it has them.
   */
  readStart = 0;
  readEnd = 0;
  /** nowMs() - the store's clock(): both read the monotonic clock, from different origins */
  #offset = NaN;

  /** The offset from a nowMs() read between two clock() reads, the closest pair of a few. */
  #calibrate(): number {
    const store = this.#store;
    let best = Infinity;
    let offset = 0;
    for (let i = 0; i < 8; i++) {
      const a = store.clock();
      const p = nowMs();
      const b = store.clock();
      if (b - a < best) {
        best = b - a;
        offset = p - (a + b) / 2;
      }
    }
    return offset;
  }

  /** readAnswer's answer, reused: no object per read */
  readonly #answer: FeatureAnswer = { body: '', ageMs: null };
  /** per entity: its all-features program's jsonProgram handle */
  readonly #kept: number[] = [];

  #grow(bytes: number): void {
    const buf = new ArrayBuffer(Math.max(bytes, 2 * this.#text.length));
    this.#text = new Uint8Array(buf);
    this.#age = new Float64Array(buf, 0, 1);
  }

  /** readAnswer as a string (the L1 cache keeps these). */
  readJson(entity: EntityDef, id: string, select: number[], atMs: number): { json: string; ageMs: number | null } {
    const r = this.readAnswer(entity, id, select, atMs);
    return { json: (r.body as Buffer).toString('utf8'), ageMs: r.ageMs };
  }

  /**
   * The encoding program of an answer of `select` (feature_json.h's ops): compiled once for
   * all features (entity.allFeatures, the common GET), and for each named selection once
   * per request (a few hundred ns).
   */
  #program(entity: EntityDef, select: number[]): Uint8Array {
    if (select === entity.allFeatures) return (this.#programs[entity.index] ??= compileProgram(entity, select, this.#store.layout(entity.index)));
    return compileProgram(entity, select, this.#store.layout(entity.index));
  }

  readonly #programs: Uint8Array[] = [];
  /** the age (float64) then the answer's text; its own ArrayBuffer: 8-byte aligned */
  #text = new Uint8Array(4096);
  #age = new Float64Array(this.#text.buffer, 0, 1);
}

/** A GET answer: the body to send and the age of the entity's newest event (null: absent). */
export interface FeatureAnswer {
  body: string | Uint8Array;
  ageMs: number | null;
}

// the ops, defined once in native/binding/feature_json.h and exported by the addon
const { lit: OP_LIT, at: OP_AT, id: OP_ID, found: OP_FOUND, age: OP_AGE, value: OP_VALUE, list: OP_LIST } = constants.featureJson;

/**
 * The program that writes readJson's text for `select` of `entity` (native/binding/feature_json.h):
 * int32 [nops, litsAt], the [op, a, b] triples, then the literal bytes at litsAt.
 */
function compileProgram(entity: EntityDef, select: number[], layout: { offsets: number[]; widths: number[] }): Uint8Array {
  const ops: number[] = [];
  let lits = '';
  const lit = (s: string): void => {
    const at = Buffer.byteLength(lits);
    lits += s;
    ops.push(OP_LIT, at, Buffer.byteLength(s));
  };
  lit(`{"entity":${JSON.stringify(entity.name)},"at":`);
  ops.push(OP_AT, 0, 0);
  lit(',"id":');
  ops.push(OP_ID, 0, 0);
  lit(',"found":');
  ops.push(OP_FOUND, 0, 0);
  lit(',"freshness_ms":');
  ops.push(OP_AGE, 0, 0);
  lit(',"features":{');
  select.forEach((f, i) => {
    lit(`${i ? ',' : ''}${JSON.stringify(entity.features[f].name)}:`);
    if (entity.features[f].agg === 'last_n') ops.push(OP_LIST, layout.offsets[f], layout.widths[f]);
    else ops.push(OP_VALUE, layout.offsets[f], 1);
  });
  lit('}}');
  const bytes = Buffer.from(lits, 'utf8');
  const litsAt = 8 + 4 * ops.length;
  const program = new Uint8Array(new ArrayBuffer(litsAt + bytes.length)); // its own buffer: 4-byte aligned
  new Int32Array(program.buffer, 0, 2 + ops.length).set([ops.length / 3, litsAt, ...ops]);
  program.set(bytes, litsAt);
  return program;
}
