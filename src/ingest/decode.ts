// Turns event objects (from JSON, NDJSON, WebSocket JSON frames, the demo generator) into
// columnar batches for the native store, one per stream. Everything is checked here, before
// the first native call, so a bad event anywhere refuses the whole request and nothing is
// applied; the native engine repeats the numeric checks as a backstop.
import type { Config, StreamDef } from '../config/load.js';
import { HotpathError, showValue } from '../errors.js';
import { limits } from '../native/binding.js';
import { hashEventId } from './event-ids.js';

const utf8 = new TextEncoder();

/** Entity ids are strings; integer ids are taken as their decimal form. */
export function idOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > 0 && utf8ByteLength(v) <= limits.maxIdBytes ? v : undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return undefined;
}

function utf8ByteLength(s: string): number {
  // Fast path: ASCII strings are their length; only longer candidates are encoded.
  if (s.length * 3 <= limits.maxIdBytes) return s.length;
  return utf8.encode(s).length;
}

/** the two 32-bit lanes of a category string's hash (cyrb53's) */
const lanes = new Uint32Array(2);

/**
 * A category value as a number: integers stay themselves (so integer ids come back from
 * last_n unchanged), strings become a 53-bit hash (cyrb53).
 */
export function categoryValue(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  // "42" and 42 are the same id (as entity keys are), so the same category value.
  if (INTEGER_RE.test(v)) {
    const n = Number(v);
    if (Number.isSafeInteger(n)) return n;
  }
  hashEventId(v, lanes, 0);
  return 4294967296 * (2097151 & lanes[0]) + lanes[1];
}

const INTEGER_RE = /^(0|-?[1-9]\d*)$/;
const EPOCH_MS_RE = /^\d+(\.\d+)?$/;
const ISO_8601_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

const MAX_TIME_MS = limits.maxEventTimeMs; // the largest time a JavaScript Date holds

/** A time as epoch milliseconds: a number, a string of digits, or an ISO-8601 string. */
export function timeOf(v: unknown): number | undefined {
  if (typeof v === 'string') {
    if (EPOCH_MS_RE.test(v)) v = Number(v);
    else if (ISO_8601_RE.test(v)) v = Date.parse(v);
    else return undefined;
  }
  if (typeof v === 'number') return v >= 0 && v <= MAX_TIME_MS ? v : undefined;
  return undefined;
}

export interface StreamBatch {
  stream: StreamDef;
  keys: string[][];
  ts: Float64Array;
  values: Float64Array;
  /** with streams.<name>.dedup: each event's id hashed, two u32 halves per event */
  ids?: Uint32Array;
}

/**
 * An event's own property: config names may be those of Object.prototype ("constructor",
 * "toString"), which an absent field must not inherit. Event values are primitives, so
 * only an object or function needs the ownership check.
 */
function own(e: Record<string, unknown>, name: string): unknown {
  const v = e[name];
  return (typeof v === 'object' && v !== null) || typeof v === 'function' ? (Object.hasOwn(e, name) ? v : undefined) : v;
}

export function invalid(i: number, message: string): never {
  throw new HotpathError('HP_ERR_EVENT_INVALID', `event ${i}: ${message}`, { index: i });
}

/**
 * Groups and checks events. `stream` names the stream for events that carry none (from
 * ?stream=); with a single declared stream it may be omitted everywhere.
 */
export function decodeEvents(config: Config, events: unknown[], nowMs: number, stream?: string): StreamBatch[] {
  if (events.length === 0) throw new HotpathError('HP_ERR_BATCH_EMPTY', 'no events in the request');
  if (events.length > config.server.maxBatch)
    throw new HotpathError('HP_ERR_BATCH_TOO_LARGE', `${events.length} events; at most ${config.server.maxBatch} per request (server.max_batch)`);
  const maxTs = nowMs + config.store.maxFutureMs;
  const byStream = new Map<number, number[]>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (typeof e !== 'object' || e === null || Array.isArray(e)) invalid(i, 'must be a JSON object');
    const named = (e as { stream?: unknown }).stream ?? stream;
    let s: number | undefined;
    if (named === undefined) {
      if (config.streams.length !== 1)
        throw new HotpathError('HP_ERR_STREAM_UNKNOWN', `event ${i}: names no stream and the config declares ${config.streams.length}`, { index: i });
      s = 0;
    } else {
      s = typeof named === 'string' ? config.streamIndex.get(named) : undefined;
      if (s === undefined) throw new HotpathError('HP_ERR_STREAM_UNKNOWN', `event ${i}: unknown stream ${showValue(named)}`, { index: i });
    }
    let list = byStream.get(s);
    if (!list) byStream.set(s, (list = []));
    list.push(i);
  }

  const batches: StreamBatch[] = [];
  for (const [s, indices] of byStream) {
    const def = config.streams[s];
    const n = indices.length;
    const nf = def.fields.length;
    const keys = def.keyFields.map(() => new Array<string>(n));
    const ts = new Float64Array(n);
    const values = new Float64Array(n * nf);
    const ids = def.dedup ? new Uint32Array(2 * n) : undefined;
    for (let j = 0; j < n; j++) {
      const i = indices[j];
      const e = events[i] as Record<string, unknown>;
      if (ids) {
        const raw = own(e, def.dedup!.field);
        if (raw === undefined) invalid(i, `missing event id field '${def.dedup!.field}' (streams.${def.name}.dedup)`);
        const id = idOf(raw);
        if (id === undefined)
          throw new HotpathError('HP_ERR_ID_INVALID', `event ${i}: '${def.dedup!.field}' must be a non-empty string of at most ${limits.maxIdBytes} bytes or an integer`, { index: i });
        hashEventId(id, ids, 2 * j);
      }
      for (let k = 0; k < def.keyFields.length; k++) {
        const raw = own(e, def.keyFields[k]);
        if (raw === undefined) invalid(i, `missing key field '${def.keyFields[k]}'`);
        const id = idOf(raw);
        if (id === undefined)
          throw new HotpathError('HP_ERR_ID_INVALID', `event ${i}: '${def.keyFields[k]}' must be a non-empty string of at most ${limits.maxIdBytes} bytes or an integer`, { index: i });
        keys[k][j] = id;
      }
      const rawTime = def.timeField === undefined ? undefined : own(e, def.timeField);
      if (rawTime !== undefined) {
        const t = timeOf(rawTime);
        if (t === undefined)
          throw new HotpathError('HP_ERR_EVENT_TIMESTAMP', `event ${i}: '${def.timeField}' must be epoch milliseconds >= 0 (a number or digits) or an ISO-8601 time`, { index: i });
        if (t > maxTs)
          throw new HotpathError('HP_ERR_EVENT_TIMESTAMP', `event ${i}: '${def.timeField}' is more than ${config.store.maxFutureMs} ms in the future (store.max_future)`, { index: i });
        ts[j] = t;
      } else {
        ts[j] = nowMs;
      }
      for (let f = 0; f < nf; f++) {
        const field = def.fields[f];
        const raw = own(e, field.name);
        if (raw === undefined || raw === null) invalid(i, `missing field '${field.name}'`);
        let v: number | undefined;
        if (field.type === 'number') v = typeof raw === 'number' && Number.isFinite(raw) ? raw : undefined;
        else v = categoryValue(raw);
        if (v === undefined) invalid(i, `field '${field.name}' must be ${field.type === 'number' ? 'a finite number' : 'a string or an integer'}`);
        values[j * nf + f] = v;
      }
    }
    batches.push({ stream: def, keys, ts, values, ids });
  }
  return batches;
}

