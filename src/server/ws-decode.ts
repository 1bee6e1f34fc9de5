// Decoding of /v1/ws binary frames (the encoding is described in ws-frames.ts).
import { HotpathError } from '../errors.js';
import { frameError, WS_COLUMN, WS_HEADER_BYTES, WS_OP, type WsEvents, type WsEventsHeader, type WsPredict, type WsServerFrame } from './ws-frames.js';

// ignoreBOM: a string keeps a leading U+FEFF, as the native row decoder keeps its bytes.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------
// Decoding

class Reader {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly end: number;
  pos = 0;
  id: number | undefined;

  constructor(buf: ArrayBuffer | Uint8Array) {
    this.u8 = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
    this.dv = new DataView(this.u8.buffer, this.u8.byteOffset, this.u8.byteLength);
    this.end = this.u8.byteLength;
  }

  fail(message: string): HotpathError {
    return frameError(message, this.id);
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.end) throw this.fail(`the frame ends inside ${what} (at byte ${this.pos} of ${this.end})`);
  }

  byte(what: string): number {
    this.need(1, what);
    return this.u8[this.pos++];
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f32(what: string): number {
    this.need(4, what);
    const v = this.dv.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(what: string): number {
    this.need(8, what);
    const v = this.dv.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  str8(what: string): string {
    return this.text(this.byte(what), what);
  }

  str16(what: string): string {
    return this.text(this.u16(what), what);
  }

  text(len: number, what: string): string {
    this.need(len, what);
    const start = this.pos;
    const end = start + len;
    this.pos = end;
    const u8 = this.u8;
    // Short ASCII (names, most ids) skips the decoder call, the costly part for small strings.
    if (len <= 32) {
      let s = '';
      for (let i = start; i < end; i++) {
        const c = u8[i];
        if (c >= 0x80) return this.decode(start, end, what);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return this.decode(start, end, what);
  }

  decode(start: number, end: number, what: string): string {
    try {
      return utf8.decode(this.u8.subarray(start, end));
    } catch {
      throw this.fail(`${what} is not valid UTF-8`);
    }
  }

  /** flags: the header flag bits the frame may carry (only EVENTS_RESULT has any) */
  header(flags = 0): number {
    if (this.end < WS_HEADER_BYTES) throw this.fail(`a frame needs an ${WS_HEADER_BYTES}-byte header, got ${this.end} bytes`);
    this.id = this.dv.getUint32(4, true);
    const op = this.u8[0];
    if ((this.u8[1] & ~flags) !== 0) throw this.fail(`header flags must be 0, got ${this.u8[1]}`);
    if (this.dv.getUint16(2, true) !== 0) throw this.fail('the header reserved field must be 0');
    this.pos = WS_HEADER_BYTES;
    return op;
  }

  done(): void {
    if (this.pos !== this.end) throw this.fail(`${this.end - this.pos} bytes after the end of the frame`);
  }

  /** A name used as an object key: unique within its list, and never `__proto__`. */
  key(seen: Set<string> | object, name: string, what: string): void {
    if (name === '__proto__') throw this.fail(`${what} '__proto__' is not allowed`);
    if (seen instanceof Set) {
      if (seen.has(name)) throw this.fail(`${what} '${name}' appears twice`);
      seen.add(name);
    } else if (Object.hasOwn(seen, name)) throw this.fail(`${what} '${name}' appears twice`);
  }
}

function eventsHeader(r: Reader, id: number): WsEventsHeader {
  const stream = r.str8('the stream name');
  const nColumns = r.byte('the column count');
  const columns: { name: string; type: number }[] = new Array(nColumns);
  const seen = new Set<string>();
  let minRow = 0;
  for (let c = 0; c < nColumns; c++) {
    const name = r.str8('a column name');
    r.key(seen, name, 'column');
    const type = r.byte('a column type');
    if (type !== WS_COLUMN.NUMBER && type !== WS_COLUMN.STRING) throw r.fail(`column '${name}' has type ${type}; expected ${WS_COLUMN.NUMBER} (f64) or ${WS_COLUMN.STRING} (str16)`);
    columns[c] = { name, type };
    minRow += type === WS_COLUMN.STRING ? 2 : 8;
  }
  const count = r.u32('the event count');
  // Bound the count by the bytes left before allocating anything for it.
  if (count > 0 && nColumns === 0) throw r.fail(`${count} events but no columns`);
  if (count * minRow > r.end - r.pos) throw r.fail(`${count} events need at least ${count * minRow} bytes, the frame has ${r.end - r.pos} left`);
  return { op: 'events', id, stream, columns, count, bytes: r.u8, rowsAt: r.pos };
}

/**
 * Reads an EVENTS frame's header, stream and columns, leaving its rows to the native
 * decoder (FeatureStore.ingestRows). Throws HP_ERR_WS_FRAME_INVALID as decodeClientFrame.
 */
export function decodeEventsHeader(buf: ArrayBuffer | Uint8Array): WsEventsHeader {
  const r = new Reader(buf);
  if (r.header() !== WS_OP.EVENTS) throw r.fail(`not an events frame (op ${WS_OP.EVENTS})`);
  return eventsHeader(r, r.id!);
}

/** Decodes a frame sent by a client; throws HP_ERR_WS_FRAME_INVALID, with details.id once the header was read. */
export function decodeClientFrame(buf: ArrayBuffer | Uint8Array): WsPredict | WsEvents {
  const r = new Reader(buf);
  const op = r.header();
  const id = r.id!;
  if (op === WS_OP.PREDICT) {
    const model = r.str8('the model name');
    const entities: Record<string, string> = {};
    const nEntities = r.byte('the entity count');
    for (let i = 0; i < nEntities; i++) {
      const entity = r.str8('an entity name');
      r.key(entities, entity, 'entity');
      entities[entity] = r.str16('an entity id');
    }
    const fields: Record<string, number> = {};
    const nFields = r.byte('the field count');
    for (let i = 0; i < nFields; i++) {
      const field = r.str8('a field name');
      r.key(fields, field, 'field');
      fields[field] = r.f64('a field value');
    }
    r.done();
    return { op: 'predict', id, model, entities, fields };
  }
  if (op === WS_OP.EVENTS) {
    const h = eventsHeader(r, id);
    const events: Record<string, number | string>[] = new Array(h.count);
    const { columns } = h;
    for (let e = 0; e < h.count; e++) {
      const ev: Record<string, number | string> = {};
      for (let c = 0; c < columns.length; c++)
        ev[columns[c].name] = columns[c].type === WS_COLUMN.STRING ? r.str16('a string value') : r.f64('a number value');
      events[e] = ev;
    }
    r.done();
    return { op: 'events', id, stream: h.stream, events };
  }
  throw r.fail(`unknown client op ${op}; expected ${WS_OP.PREDICT} (predict) or ${WS_OP.EVENTS} (events)`);
}

/** Decodes a frame sent by the server (for clients and tests). */
export function decodeServerFrame(buf: ArrayBuffer | Uint8Array): WsServerFrame {
  const r = new Reader(buf);
  const u8 = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  const op = r.header(u8[0] === WS_OP.EVENTS_RESULT ? 3 : 0);
  const id = r.id!;
  if (op === WS_OP.PREDICT_RESULT) {
    const flags = r.byte('the result flags');
    const n = r.u16('the score count');
    r.need(n * 4, 'the scores');
    const scores: number[] = new Array(n);
    for (let i = 0; i < n; i++) scores[i] = r.f32('a score');
    const version = r.str8('the model version');
    const variant = r.str8('the variant');
    const latencyUs = r.f32('the latency');
    r.done();
    return { op: 'predict_result', id, scores, fallback: (flags & 1) !== 0, version, variant, latencyUs };
  }
  if (op === WS_OP.EVENTS_RESULT) {
    const accepted = r.u32('the accepted count');
    const late = r.u32('the late count');
    r.done();
    // flags bit 0: the server has a shared log (ingest.redis_streams); bit 1: the events reached it
    return (u8[1] & 1) !== 0 ? { op: 'events_result', id, accepted, late, shared: (u8[1] & 2) !== 0 } : { op: 'events_result', id, accepted, late };
  }
  if (op === WS_OP.ERROR) {
    const code = r.str8('the error code');
    const message = r.str16('the error message');
    r.done();
    return { op: 'error', id, code, message };
  }
  throw r.fail(`unknown server op ${op}`);
}
