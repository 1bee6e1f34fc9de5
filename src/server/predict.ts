// The predict pipeline: one path from a request to an answer. REST, the WebSocket (JSON and
// binary frames) and the demo call `request` (look the model up, check the body) and then
// `submit`; KServe infer calls `infer`. Experiments and bandits will wrap `submit`: it is
// the one place a request meets the inference service (deadline, breaker, fallback).
// Answer shaping for REST and WebSocket JSON is here too; the runtime knows no protocol.
import type { AnswerCache, Caching, PredictAnswer } from '../cache/cache.js';
import { HotpathError, toHotpathError } from '../errors.js';
import { categoryValue } from '../ingest/decode.js';
import { limits } from '../native/binding.js';
import type { Answer, InferenceService, InferResult, ParsedPredict } from '../runtime/inference.js';
import type { ModelEntry, ModelRegistry } from '../runtime/registry.js';
import { nowMs } from '../runtime/records.js';
import type { FeatureReader } from './features.js';
import { jsonNumber, parseJsonBody } from './http.js';
import type { RequestTrace } from './observe/tracing.js';

/** A checked predict request: the model, and the ids and fields in its record order. */
export interface PredictRequest extends ParsedPredict {
  model: ModelEntry;
}

/** The online store as the pipeline uses it (src/redis/online-store.ts): a row fetched into the store. */
export interface ReadThrough {
  /** true once the store holds the entity (Redis had it), false otherwise (at most read_timeout) */
  readThrough(table: number, id: string): Promise<boolean>;
}

export class PredictPipeline {
  readonly #models: ModelRegistry;
  readonly #inference: InferenceService;
  readonly #maxIdBytes: number;
  readonly #cache: AnswerCache<PredictAnswer> | undefined;
  readonly #caching: Caching | undefined;
  readonly #reader: FeatureReader | undefined;
  readonly #online: ReadThrough | undefined;

  /**
   * maxIdBytes: limits.id_bytes (at most the engine's limits.maxIdBytes); o.caching: the L1
   * of predict answers (cache.predict); o.reader: what misses check L2 (the store) with;
   * o.online: where an entity the store lacks is read through from before the request runs.
   */
  constructor(models: ModelRegistry, inference: InferenceService, maxIdBytes = limits.maxIdBytes, o: { caching?: Caching; reader?: FeatureReader; online?: ReadThrough } = {}) {
    this.#models = models;
    this.#inference = inference;
    this.#maxIdBytes = Math.min(maxIdBytes, limits.maxIdBytes);
    this.#cache = o.caching?.predict;
    this.#caching = o.caching;
    this.#reader = o.reader;
    this.#online = o.online;
  }

  /** The model and its checked request; throws HP_ERR_MODEL_UNKNOWN or a coded 400. */
  request(model: string, body: unknown): PredictRequest {
    return parsePredict(this.#models.get(model), body, this.#maxIdBytes);
  }

  /**
   * request(model, parseJsonBody(body)) for a REST body, the same answer and the same
   * errors in the same order: the common body is read straight from its bytes
   * (readPredictBytes); anything else goes through JSON.parse.
   */
  requestBytes(model: string, body: Buffer): PredictRequest {
    const e = this.#models.entries.get(model);
    const r = e !== undefined ? readPredictBytes(e, body, this.#maxIdBytes) : undefined;
    return r ?? this.request(model, parseJsonBody(body));
  }

  /**
   * Scores a checked request; cb runs once (synchronously when refused before a worker).
   * `trace`: a sampled request's, which times the call (submit to answer) and its outcome.
   */
  submit(r: PredictRequest, cb: Answer, trace?: RequestTrace): void {
    if (trace !== undefined) cb = trace.inference(cb);
    const cache = this.#cache;
    const current = r.model.current;
    // Learners are not cached: each of their answers registers a prediction for its label.
    if (cache === undefined || current === undefined || r.model.inline !== undefined) {
      if (this.#online === undefined) this.#inference.predict(r.model, r, cb);
      else this.#readThrough(r, Date.now(), cb, () => this.#inference.predict(r.model, r, cb));
      return;
    }
    const now = Date.now();
    const key = predictKey(r, current.version);
    const hit = cache.get(key, now);
    if (hit !== undefined) {
      const at = nowMs();
      cb(null, {
        model: hit.model, version: hit.version, values: hit.values.slice(), rows: hit.rows, outDim: hit.outDim, fallback: false, variant: 'primary',
        queueUs: 0, batchWaitUs: 0, computeUs: 0, batch: 0, submittedAt: at, collectedAt: at,
      });
      return;
    }
    const keys = r.model.def.keys;
    const tables = keys.map((k) => k.table);
    const run = (): void => {
      // Stamped before the submit: an event applied while the request is in flight makes the
      // answer stale at once, whichever rows the worker gathered.
      const stamp = cache.stamp(tables, r.ids);
      this.#inference.predict(r.model, r, (err, out) => {
        if (err === null && out !== undefined && !out.fallback && out.predictionId === undefined && out.version === current.version)
          cache.set(key, { model: out.model, version: out.version, values: out.values.slice(), rows: out.rows, outDim: out.outDim }, stamp, Date.now());
        cb(err, out);
      });
    };
    // With the online store, entities the store lacks are read through first (counted: l2
    // miss, then l3 hit when Redis had every one of them).
    if (this.#online !== undefined) {
      this.#readThrough(r, now, cb, run, cache);
      return;
    }
    // L2: every entity of the request in the native store (the worker gathers from it)
    let found = true;
    for (let i = 0; i < keys.length && found; i++) found = this.#reader!.has(tables[i], r.ids[i]);
    const l3 = this.#caching!.l3;
    // every absent entity is asked for (map, not every: one that L3 lacks must not stop the others)
    cache.below(found, l3 && (() => keys.map((k, i) => this.#reader!.has(k.table, r.ids[i]) || l3.warm(k.table, r.ids[i])).every(Boolean)));
    run();
  }

  /**
   * Runs `run` once every entity of the request is in the store: at once when all are,
   * else after the online store's read-through of the missing ones (at most read_timeout;
   * an entity Redis lacks too is gathered as the store would any unknown entity).
   */
  #readThrough(r: PredictRequest, now: number, cb: Answer, run: () => void, cache?: AnswerCache<PredictAnswer>): void {
    const keys = r.model.def.keys;
    let missing: Promise<boolean>[] | undefined;
    for (let i = 0; i < keys.length; i++) if (!this.#reader!.has(keys[i].table, r.ids[i])) (missing ??= []).push(this.#online!.readThrough(keys[i].table, r.ids[i]));
    if (missing === undefined) {
      cache?.below(true);
      run();
      return;
    }
    Promise.all(missing).then(
      (found) => {
        cache?.below(false, () => found.every(Boolean));
        run();
      },
      (err) => cb(toHotpathError(err), undefined),
    );
  }

  /** Runs rows of a ready input matrix (rows x inDim) on a version (default: current). */
  infer(e: ModelEntry, version: number | undefined, x: Float32Array, rows: number, cb: Answer, trace?: RequestTrace): void {
    this.#inference.infer(e, version, x, rows, trace === undefined ? cb : trace.inference(cb));
  }
}

/** The L1 key of a checked request: model, version, ids and fields in record order. */
function predictKey(r: PredictRequest, version: number): string {
  let k = `${r.model.def.name}\u0000${version}`;
  for (let i = 0; i < r.ids.length; i++) k += `\u0000${r.ids[i].length}:${r.ids[i]}`; // length-prefixed: no two id lists collide
  k += '\u0001';
  for (let i = 0; i < r.fields.length; i++) k += `${i ? ',' : ''}${r.fields[i]}`;
  return k;
}

/**
 * Checks a predict body, {entities: {<entity>: id}, fields: {<field>: number}}, against
 * the model's inputs: the ids (with their UTF-8 lengths) and the field values, in the
 * model's record order.
 */
export function parsePredict(e: ModelEntry, body: unknown, maxIdBytes: number = limits.maxIdBytes): PredictRequest {
  const def = e.def;
  if (!def.inputs)
    throw new HotpathError('HP_ERR_PREDICT_INVALID', `model '${def.name}' has no inputs: list in the config; send tensors to /v2/models/${def.name}/infer`);
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HotpathError('HP_ERR_PREDICT_INVALID', 'the body must be a JSON object {"entities": {...}, "fields": {...}}');
  const b = body as { entities?: unknown; fields?: unknown };
  const ents = (b.entities ?? {}) as Record<string, unknown>;
  const flds = (b.fields ?? {}) as Record<string, unknown>;
  if (typeof ents !== 'object' || Array.isArray(ents)) throw new HotpathError('HP_ERR_PREDICT_INVALID', '`entities` must be an object of entity -> id');
  if (typeof flds !== 'object' || Array.isArray(flds)) throw new HotpathError('HP_ERR_PREDICT_INVALID', '`fields` must be an object of field -> number');
  // Arrays of their final length: push() would allocate room for 17 elements each.
  const ids = new Array<string>(def.keys.length);
  const idBytes = new Array<number>(def.keys.length);
  for (let i = 0; i < def.keys.length; i++) {
    const k = def.keys[i];
    const v = ents[k.entity];
    let id: string | undefined;
    if (typeof v === 'string') id = v;
    else if (typeof v === 'number' && Number.isSafeInteger(v)) id = String(v);
    if (id === undefined) throw new HotpathError('HP_ERR_PREDICT_INVALID', `model '${def.name}' needs entities.${k.entity}: a string id or an integer`);
    const n = utf8Length(id);
    if (n === 0 || n > maxIdBytes) throw new HotpathError('HP_ERR_ID_INVALID', `entities.${k.entity}: an entity id must be 1..${maxIdBytes} UTF-8 bytes`);
    ids[i] = id;
    idBytes[i] = n;
  }
  const fields = new Array<number>(def.fields.length);
  const categories = def.categoryFields;
  for (let i = 0; i < def.fields.length; i++) {
    const f = def.fields[i];
    const v = flds[f];
    if (categories?.[i]) {
      // a learner's hashed input: a category, valued as events value theirs
      const c = categoryValue(v);
      if (c === undefined) throw new HotpathError('HP_ERR_PREDICT_INVALID', `model '${def.name}' needs fields.${f}: a category (a string or an integer)`);
      fields[i] = c;
      continue;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new HotpathError('HP_ERR_PREDICT_INVALID', `model '${def.name}' needs fields.${f}: a finite number`);
    fields[i] = v;
  }
  return { model: e, ids, idBytes, fields };
}

/** Per model definition: its entity and field names as bytes, for readPredictBytes. */
const names = new WeakMap<object, { entities: Uint8Array[]; fields: Uint8Array[]; plain: boolean }>();

let lastDef: object | undefined;
let lastNames: { entities: Uint8Array[]; fields: Uint8Array[]; plain: boolean } | undefined;

function namesOf(def: ModelEntry['def']): { entities: Uint8Array[]; fields: Uint8Array[]; plain: boolean } {
  if (def === lastDef) return lastNames!; // the same model as the last body, most often
  let n = names.get(def);
  if (n === undefined) {
    n = {
      entities: def.keys.map((k) => Buffer.from(k.entity)),
      fields: def.fields.map((f) => Buffer.from(f)),
      // a learner's hashed (category) fields and non-ASCII names take the JSON.parse path
      plain: !def.categoryFields?.some(Boolean) && [...def.keys.map((k) => k.entity), ...def.fields].every((x) => /^[\x20-\x7e]*$/.test(x) && !/["\\]/.test(x)),
    };
    names.set(def, n);
  }
  lastDef = def;
  lastNames = n;
  return n;
}

/** the body's two keys, in their section numbers' order (1, 2) */
const SECTIONS = [Buffer.from('entities'), Buffer.from('fields')];
type Latin1 = Buffer & { latin1Slice(start: number, end: number): string };

// The byte reader of readPredictBytes. The position lives in a local of readBody, and the
// steps are functions of (src, pos, end) that return a position (or -1): V8 inlines them
// and keeps the position in a register. (A scanner object whose methods moved a `pos`
// field paid a load and a store of it per step, and its reads past the end returned
// `undefined`, which made comparisons of a byte generic ones: 466 ns a body against 355,
// medians of 6 alternating rounds of `bench/tools/predict-io-micro.ts --a` with the
// scanner's build; JSON.parse of the text takes 725.) Past the end a byte reads as -1.

/** The position of the first byte at or after pos that is not JSON whitespace. */
function skipWs(src: Uint8Array, pos: number, end: number): number {
  while (pos < end) {
    const c = src[pos];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    pos++;
  }
  return pos;
}

/** The byte at pos, or -1 past the end. */
function byteAt(src: Uint8Array, pos: number, end: number): number {
  return pos < end ? src[pos] : -1;
}

/**
 * A string of printable ASCII without escapes whose opening quote is at pos: the position
 * of its closing quote (its bytes are pos + 1 up to it), or -1 for anything else.
 */
function stringEnd(src: Uint8Array, pos: number, end: number): number {
  if (pos >= end || src[pos] !== 0x22) return -1;
  for (pos++; pos < end; pos++) {
    const c = src[pos];
    if (c === 0x22) return pos;
    if (c < 0x20 || c > 0x7e || c === 0x5c) return -1;
  }
  return -1;
}

/** Which of `names` the bytes [from, to) are; -1 for none. */
function nameIndex(names: Uint8Array[], src: Uint8Array, from: number, to: number): number {
  const len = to - from;
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    if (n.length !== len) continue;
    let j = 0;
    while (j < len && n[j] === src[from + j]) j++;
    if (j === len) return i;
  }
  return -1;
}

/** What number() read: the value, and whether its text is a plain integer of at most 15 digits other than -0. */
const numberRead = { value: 0, plainInt: false };

/**
 * A JSON number at pos (its grammar exactly): the position after it, its value and kind in
 * numberRead; -1 for anything else.
 */
function number(src: Latin1, pos: number, end: number): number {
  const start = pos;
  let neg = false;
  if (byteAt(src, pos, end) === 0x2d) {
    neg = true;
    pos++;
  }
  let c = byteAt(src, pos, end);
  if (c === 0x30) c = byteAt(src, ++pos, end);
  else if (c >= 0x31 && c <= 0x39) {
    do c = byteAt(src, ++pos, end);
    while (c >= 0x30 && c <= 0x39);
  } else return -1;
  const intEnd = pos;
  let plain = true;
  if (c === 0x2e) {
    plain = false;
    c = byteAt(src, ++pos, end);
    if (c < 0x30 || c > 0x39) return -1;
    do c = byteAt(src, ++pos, end);
    while (c >= 0x30 && c <= 0x39);
  }
  if (c === 0x65 || c === 0x45) {
    plain = false;
    c = byteAt(src, ++pos, end);
    if (c === 0x2b || c === 0x2d) c = byteAt(src, ++pos, end);
    if (c < 0x30 || c > 0x39) return -1;
    do c = byteAt(src, ++pos, end);
    while (c >= 0x30 && c <= 0x39);
  }
  const digits = intEnd - start - (neg ? 1 : 0);
  let v: number;
  if (plain && digits <= 15) {
    // exact in a double: the same value JSON.parse gives
    v = 0;
    for (let i = intEnd - digits; i < intEnd; i++) v = v * 10 + (src[i] - 0x30);
    if (neg) v = -v;
  } else v = Number(src.latin1Slice(start, pos)); // correctly rounded, as JSON.parse
  numberRead.value = v;
  numberRead.plainInt = plain && digits <= 15 && !(neg && v === 0);
  return pos;
}

/**
 * The common REST predict body, {"entities": {<entity>: "id" | integer, ...}, "fields":
 * {<field>: number, ...}} in either order, ASCII strings without escapes, read from its
 * bytes into what parsePredict returns, without the body's text or JSON.parse's objects.
 * undefined for anything else (another shape, an escape, a missing or invalid value, a
 * repeated key, a learner's category fields): the caller then takes JSON.parse and
 * parsePredict, whose answer (or error) it is.
 */
export function readPredictBytes(e: ModelEntry, body: Buffer, maxIdBytes: number = limits.maxIdBytes): PredictRequest | undefined {
  const def = e.def;
  if (!def.inputs) return undefined;
  const n = namesOf(def);
  if (!n.plain) return undefined;
  return readBody(body as Latin1, e, n, maxIdBytes);
}

function readBody(src: Latin1, e: ModelEntry, n: { entities: Uint8Array[]; fields: Uint8Array[] }, maxIdBytes: number): PredictRequest | undefined {
  const nKeys = n.entities.length;
  const nFields = n.fields.length;
  const ids = new Array<string>(nKeys);
  const idBytes = new Array<number>(nKeys);
  const fields = new Array<number>(nFields);
  const end = src.length;
  let seen = 0; // entities and fields found (each once)
  let sections = 0; // 1: entities, 2: fields
  let pos = skipWs(src, 0, end);
  if (byteAt(src, pos++, end) !== 0x7b) return undefined;
  pos = skipWs(src, pos, end);
  for (;;) {
    let q = stringEnd(src, pos, end);
    if (q < 0) return undefined;
    const section = nameIndex(SECTIONS, src, pos + 1, q) + 1;
    if (section === 0 || sections & section) return undefined;
    sections |= section;
    pos = skipWs(src, q + 1, end);
    if (byteAt(src, pos++, end) !== 0x3a) return undefined;
    pos = skipWs(src, pos, end);
    if (byteAt(src, pos++, end) !== 0x7b) return undefined;
    pos = skipWs(src, pos, end);
    if (byteAt(src, pos, end) === 0x7d) pos++;
    else
      for (;;) {
        q = stringEnd(src, pos, end);
        if (q < 0) return undefined;
        const k = nameIndex(section === 1 ? n.entities : n.fields, src, pos + 1, q);
        pos = skipWs(src, q + 1, end);
        if (byteAt(src, pos++, end) !== 0x3a) return undefined;
        pos = skipWs(src, pos, end);
        if (section === 1) {
          let id = '';
          if (byteAt(src, pos, end) === 0x22) {
            q = stringEnd(src, pos, end);
            if (q < 0) return undefined;
            if (k >= 0) id = src.latin1Slice(pos + 1, q);
            pos = q + 1;
          } else {
            const to = number(src, pos, end);
            if (to < 0 || !numberRead.plainInt) return undefined;
            if (k >= 0) id = src.latin1Slice(pos, to); // a plain integer's text is String(n)
            pos = to;
          }
          if (k >= 0) {
            if (ids[k] !== undefined || id.length === 0 || id.length > maxIdBytes) return undefined; // repeated, or the check's error
            ids[k] = id;
            idBytes[k] = id.length; // ASCII
            seen++;
          }
        } else {
          pos = number(src, pos, end);
          if (pos < 0) return undefined;
          if (k >= 0) {
            if (fields[k] !== undefined || !Number.isFinite(numberRead.value)) return undefined;
            fields[k] = numberRead.value;
            seen++;
          }
        }
        pos = skipWs(src, pos, end);
        const c = byteAt(src, pos++, end);
        if (c === 0x7d) break;
        if (c !== 0x2c) return undefined;
        pos = skipWs(src, pos, end);
      }
    pos = skipWs(src, pos, end);
    const c = byteAt(src, pos++, end);
    if (c === 0x7d) break;
    if (c !== 0x2c) return undefined;
    pos = skipWs(src, pos, end);
  }
  pos = skipWs(src, pos, end);
  if (pos !== end || seen !== nKeys + nFields) return undefined;
  return { model: e, ids, idBytes, fields };
}

/**
 * Buffer.byteLength(s) (UTF-8, a lone surrogate as U+FFFD's 3 bytes), counted here for a
 * short id: each predict measures its ids, and the call into Buffer's C++ cost more.
 */
export function utf8Length(s: string): number {
  const len = s.length;
  if (len > 64) return Buffer.byteLength(s);
  let n = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < len && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // a surrogate pair: one code point
      i++;
    } else n += 3;
  }
  return n;
}

/** The JSON a predict answers with (REST and WebSocket JSON frames). */
export function predictJson(r: InferResult, startMs: number): Record<string, unknown> {
  const scores = Array.from(r.values);
  return {
    model: r.model,
    version: String(r.version),
    score: scores.length ? scores[0] : null,
    scores,
    fallback: r.fallback,
    ...(r.fallback ? { reason: r.reason } : {}),
    variant: r.variant,
    ...(r.predictionId !== undefined ? { prediction_id: r.predictionId } : {}),
    latency_us: Math.round((nowMs() - startMs) * 1000),
  };
}

/** Per model, the answer's text up to the score for its current version (no fallback). */
const heads = new Map<string, { version: number; head: string }>();
const PRIMARY_MIDDLE = { variant: '"fallback":false,"variant":"primary","latency_us":', model_variant: '"fallback":false,"model_variant":"primary","latency_us":' };

/**
 * predictJson(r, start) as JSON text, written directly: the REST predict hot path.
 * `variantKey` names the model's routing variant: `model_variant` inside an experiment's
 * answer, whose `variant` is the experiment's.
 */
export function predictText(r: InferResult, startMs: number, variantKey: 'variant' | 'model_variant' = 'variant'): string {
  // the first value is converted once: a double's text is the costly part of the answer
  const score = r.values.length ? jsonNumber(r.values[0]) : 'null';
  let scores = r.values.length ? score : '';
  for (let i = 1; i < r.values.length; i++) scores += ',' + jsonNumber(r.values[i]);
  const latency = Math.round((nowMs() - startMs) * 1000);
  if (r.predictionId !== undefined && !r.fallback)
    return `{"model":${JSON.stringify(r.model)},"version":"${r.version}","score":${score},"scores":[${scores}],"fallback":false,"${variantKey}":"primary","prediction_id":${r.predictionId},"latency_us":${latency}}`;
  if (r.fallback || r.variant !== 'primary')
    return (
      `{"model":${JSON.stringify(r.model)},"version":"${r.version}","score":${score},"scores":[${scores}],` +
      `"fallback":${r.fallback},${r.fallback ? `"reason":"${r.reason}",` : ''}"${variantKey}":${JSON.stringify(r.variant)},"latency_us":${latency}}`
    );
  let h = heads.get(r.model);
  if (h?.version !== r.version) heads.set(r.model, (h = { version: r.version, head: `{"model":${JSON.stringify(r.model)},"version":"${r.version}","score":` }));
  return `${h.head}${score},"scores":[${scores}],${PRIMARY_MIDDLE[variantKey]}${latency}}`;
}

// predictBytes' answer buffer: the REST answer is written here and handed to uWS, which
// copies it before send() returns (answers are written inside res.cork, synchronously), so
// one buffer serves every answer. A view per answer length is made once and kept.
const ANSWER_BYTES = 4096;
const answerBuf = Buffer.alloc(ANSWER_BYTES);
const answerViews: (Uint8Array | undefined)[] = [];
/** Per model, predictText's head for its current version as bytes. */
const headBytes = new Map<string, { version: number; head: Buffer }>();
const PRIMARY_MIDDLE_BYTES = Buffer.from(PRIMARY_MIDDLE.variant, 'latin1');
const SCORES_OPEN = Buffer.from(',"scores":[', 'latin1');
/** the longest text Number#toString gives a double: "-0.0000012345678901234567" */
const MAX_NUMBER_BYTES = 25;

/** Which head the buffer holds at 0 (predictBytes writes it only when the model or version changed). */
const answerHead: { bytes: Buffer | undefined } = { bytes: undefined };

/**
 * Writes an ASCII string (a number's text) at `at`; returns the end. A loop over at most 25
 * characters: Buffer#write's crossing into C++ cost more than the copy. (With the head kept
 * in the buffer and TypedArray#set for the literals in place of Buffer#copy: 495 ns an
 * answer against 337, `bench/tools/predict-io-micro.ts --a` with the previous build.)
 */
function writeAscii(text: string, at: number): number {
  for (let i = 0; i < text.length; i++) answerBuf[at + i] = text.charCodeAt(i);
  return at + text.length;
}

/** Writes a non-negative safe integer's digits at `at`; returns the end (no string made). */
function writeUint(n: number, at: number): number {
  let end = at;
  let m = n;
  do {
    end++;
    m = Math.floor(m / 10);
  } while (m > 0);
  for (let i = end - 1, v = n; i >= at; i--, v = Math.floor(v / 10)) answerBuf[i] = 48 + (v % 10);
  return end;
}

/**
 * predictText(r, startMs) as bytes, for the REST answer: the common answer (the model's
 * own, no prediction id) is written into a shared buffer without the intermediate strings
 * the text's concatenation makes; the returned view is valid until the next call, so it
 * must be sent at once. Other answers are predictText's string.
 */
export function predictBytes(r: InferResult, startMs: number): string | Uint8Array {
  if (r.fallback || r.variant !== 'primary' || r.predictionId !== undefined || r.values.length === 0) return predictText(r, startMs);
  const latency = Math.round((nowMs() - startMs) * 1000);
  if (!(latency >= 0 && latency <= Number.MAX_SAFE_INTEGER) || r.values.length > 64) return predictText(r, startMs);
  let h = headBytes.get(r.model);
  if (h?.version !== r.version) headBytes.set(r.model, (h = { version: r.version, head: Buffer.from(`{"model":${JSON.stringify(r.model)},"version":"${r.version}","score":`) }));
  // the head as UTF-8 (as uWS writes a string); JSON numbers are ASCII, so latin1 is byte-exact.
  // What it takes at most: the score twice and the other scores (a number's text is at most
  // 25 bytes, plus its comma), the literals, "]," and "}", and the latency's 16 digits.
  if (h.head.length + SCORES_OPEN.length + PRIMARY_MIDDLE_BYTES.length + MAX_NUMBER_BYTES * (r.values.length + 1) + r.values.length + 3 + 16 > ANSWER_BYTES)
    return predictText(r, startMs);
  const score = jsonNumber(r.values[0]);
  // The head stays in the buffer from the last answer of the same model and version.
  if (answerHead.bytes !== h.head) {
    answerBuf.set(h.head, 0);
    answerHead.bytes = h.head;
  }
  let at = writeAscii(score, h.head.length);
  answerBuf.set(SCORES_OPEN, at);
  at = writeAscii(score, at + SCORES_OPEN.length);
  for (let i = 1; i < r.values.length; i++) {
    answerBuf[at++] = 44; // ,
    at = writeAscii(jsonNumber(r.values[i]), at);
  }
  answerBuf[at++] = 93; // ]
  answerBuf[at++] = 44; // ,
  answerBuf.set(PRIMARY_MIDDLE_BYTES, at);
  at += PRIMARY_MIDDLE_BYTES.length;
  at = writeUint(latency, at);
  answerBuf[at++] = 125; // }
  return (answerViews[at] ??= new Uint8Array(answerBuf.buffer, answerBuf.byteOffset, at));
}
