// The compact binary frame encoding of /v1/ws. All integers are little-endian; str8 is a u8
// byte length then UTF-8 bytes, str16 a u16 byte length then UTF-8 bytes. Every frame
// starts with an 8-byte header: u8 op, u8 flags (0), u16 reserved (0), u32 request id
// (chosen by the client, echoed in the answer). Bodies by op:
//   PREDICT         str8 model, u8 nEntities × (str8 entity, str16 id), u8 nFields × (str8 name, f64 value)
//   EVENTS          str8 stream, u8 nColumns × (str8 name, u8 type: 1 f64 | 2 str16),
//                   u32 nEvents, then nEvents × nColumns values, row-major
//   PREDICT_RESULT  u8 flags (bit0 fallback), u16 nScores × f32, str8 version, str8 variant, f32 latency µs
//   EVENTS_RESULT   u32 accepted, u32 late
//   ERROR           str8 code, str16 message
// Values sit unaligned after the header and strings; everything goes through DataView.
import { HotpathError } from '../errors.js';
import { constants } from '../native/binding.js';

export const WS_OP = { PREDICT: 1, EVENTS: 2, PREDICT_RESULT: 129, EVENTS_RESULT: 130, ERROR: 255 } as const;

/** Column type bytes of an EVENTS frame (native/core/constants.h: the native row decoder reads them too). */
export const WS_COLUMN = { NUMBER: constants.rowTypes.f64, STRING: constants.rowTypes.str16 } as const;

export const WS_HEADER_BYTES = 8;

export interface WsPredict {
  op: 'predict';
  id: number;
  model: string;
  entities: Record<string, string>;
  fields: Record<string, number>;
}
export interface WsEvents {
  op: 'events';
  id: number;
  stream: string;
  events: Record<string, number | string>[];
}
/** An EVENTS frame read up to its rows: what the native row decoder needs. */
export interface WsEventsHeader {
  op: 'events';
  id: number;
  stream: string;
  columns: { name: string; type: number }[];
  count: number;
  bytes: Uint8Array;
  /** where the rows start in bytes */
  rowsAt: number;
}
export type WsServerFrame =
  | { op: 'predict_result'; id: number; scores: number[]; fallback: boolean; version: string; variant: string; latencyUs: number }
  | { op: 'events_result'; id: number; accepted: number; late: number }
  | { op: 'error'; id: number; code: string; message: string };

// ignoreBOM: a string keeps a leading U+FEFF, as the native row decoder keeps its bytes.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

function frameError(message: string, id?: number): HotpathError {
  return new HotpathError('HP_ERR_WS_FRAME_INVALID', message, id === undefined ? undefined : { id });
}

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

  header(): number {
    if (this.end < WS_HEADER_BYTES) throw this.fail(`a frame needs an ${WS_HEADER_BYTES}-byte header, got ${this.end} bytes`);
    this.id = this.dv.getUint32(4, true);
    const op = this.u8[0];
    if (this.u8[1] !== 0) throw this.fail(`header flags must be 0, got ${this.u8[1]}`);
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
  const op = r.header();
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
    return { op: 'events_result', id, accepted, late };
  }
  if (op === WS_OP.ERROR) {
    const code = r.str8('the error code');
    const message = r.str16('the error message');
    r.done();
    return { op: 'error', id, code, message };
  }
  throw r.fail(`unknown server op ${op}`);
}

// ---------------------------------------------------------------------------------------
// Encoding

/** UTF-8 byte length of a string, as TextEncoder counts it (a lone surrogate becomes U+FFFD, 3 bytes). */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 2 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

class Writer {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  pos = 0;

  constructor(size: number) {
    this.u8 = new Uint8Array(size);
    this.dv = new DataView(this.u8.buffer);
  }

  header(op: number, id: number): void {
    this.u8[0] = op; // flags and reserved stay 0
    this.dv.setUint32(4, id, true);
    this.pos = WS_HEADER_BYTES;
  }

  byte(v: number): void {
    this.u8[this.pos++] = v;
  }

  u16(v: number): void {
    this.dv.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v: number): void {
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  f32(v: number): void {
    this.dv.setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  f64(v: number): void {
    this.dv.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** Writes the bytes of a string whose UTF-8 length (len) was measured. */
  text(s: string, len: number): void {
    if (len === s.length) {
      const u8 = this.u8;
      for (let i = 0, p = this.pos; i < len; i++, p++) u8[p] = s.charCodeAt(i);
    } else encoder.encodeInto(s, this.u8.subarray(this.pos, this.pos + len));
    this.pos += len;
  }
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw frameError(`${what} must be an integer from 0 to 4294967295, got ${v}`);
}

function checkId(id: number): void {
  checkU32(id, 'a request id');
}

/** A string's UTF-8 length, checked against the field's limit (255 for str8, 65535 for str16). */
function measure(s: string, max: number, what: string): number {
  if (typeof s !== 'string') throw frameError(`${what} must be a string`);
  const n = utf8Length(s);
  if (n > max) throw frameError(`${what} is ${n} UTF-8 bytes; the limit is ${max}`);
  return n;
}

function checkCount(n: number, max: number, what: string): void {
  if (n > max) throw frameError(`${n} ${what}; a frame holds at most ${max}`);
}

/** A PREDICT frame (client side: tests and the bench tool). */
export function encodePredict(f: Omit<WsPredict, 'op'>): Uint8Array {
  checkId(f.id);
  const entities = Object.entries(f.entities);
  const fields = Object.entries(f.fields);
  checkCount(entities.length, 0xff, 'entities');
  checkCount(fields.length, 0xff, 'fields');
  const modelLen = measure(f.model, 0xff, 'the model name');
  let size = WS_HEADER_BYTES + 1 + modelLen + 2;
  const entityLens = entities.map(([k, v]) => {
    const lens = [measure(k, 0xff, 'an entity name'), measure(v, 0xffff, `the id of entity '${k}'`)];
    size += 3 + lens[0] + lens[1];
    return lens;
  });
  const fieldLens = fields.map(([k, v]) => {
    if (typeof v !== 'number') throw frameError(`field '${k}' must be a number`);
    const len = measure(k, 0xff, 'a field name');
    size += 9 + len;
    return len;
  });
  const w = new Writer(size);
  w.header(WS_OP.PREDICT, f.id);
  w.byte(modelLen);
  w.text(f.model, modelLen);
  w.byte(entities.length);
  entities.forEach(([k, v], i) => {
    w.byte(entityLens[i][0]);
    w.text(k, entityLens[i][0]);
    w.u16(entityLens[i][1]);
    w.text(v, entityLens[i][1]);
  });
  w.byte(fields.length);
  fields.forEach(([k, v], i) => {
    w.byte(fieldLens[i]);
    w.text(k, fieldLens[i]);
    w.f64(v);
  });
  return w.u8;
}

/** An EVENTS frame: rows hold one value per column, in column order. */
export function encodeEvents(id: number, stream: string, columns: { name: string; type: 'number' | 'string' }[], rows: (number | string)[][]): Uint8Array {
  checkId(id);
  checkCount(columns.length, 0xff, 'columns');
  checkCount(rows.length, 0xffffffff, 'events');
  if (rows.length > 0 && columns.length === 0) throw frameError('events need at least one column');
  const streamLen = measure(stream, 0xff, 'the stream name');
  const nameLens = columns.map((c) => measure(c.name, 0xff, 'a column name'));
  const strings = columns.map((c) => {
    if (c.type !== 'number' && c.type !== 'string') throw frameError(`column '${c.name}' has type ${JSON.stringify(c.type)}; expected 'number' or 'string'`);
    return c.type === 'string';
  });
  let size = WS_HEADER_BYTES + 1 + streamLen + 1 + 4;
  for (let c = 0; c < columns.length; c++) size += 2 + nameLens[c];
  // String lengths are measured once and kept for the write pass.
  const lens: number[] = [];
  for (let e = 0; e < rows.length; e++) {
    const row = rows[e];
    if (row.length !== columns.length) throw frameError(`event ${e} has ${row.length} values for ${columns.length} columns`);
    for (let c = 0; c < columns.length; c++) {
      const v = row[c];
      if (strings[c]) {
        if (typeof v !== 'string') throw frameError(`event ${e}: column '${columns[c].name}' needs a string`);
        const len = measure(v, 0xffff, `event ${e}: column '${columns[c].name}'`);
        lens.push(len);
        size += 2 + len;
      } else {
        if (typeof v !== 'number') throw frameError(`event ${e}: column '${columns[c].name}' needs a number`);
        size += 8;
      }
    }
  }
  const w = new Writer(size);
  w.header(WS_OP.EVENTS, id);
  w.byte(streamLen);
  w.text(stream, streamLen);
  w.byte(columns.length);
  for (let c = 0; c < columns.length; c++) {
    w.byte(nameLens[c]);
    w.text(columns[c].name, nameLens[c]);
    w.byte(strings[c] ? WS_COLUMN.STRING : WS_COLUMN.NUMBER);
  }
  w.u32(rows.length);
  let s = 0;
  for (const row of rows) {
    for (let c = 0; c < columns.length; c++) {
      if (strings[c]) {
        const len = lens[s++];
        w.u16(len);
        w.text(row[c] as string, len);
      } else w.f64(row[c] as number);
    }
  }
  return w.u8;
}

export function encodePredictResult(id: number, r: { scores: ArrayLike<number>; fallback: boolean; version: string; variant: string; latencyUs: number }): Uint8Array {
  checkId(id);
  const n = r.scores.length;
  checkCount(n, 0xffff, 'scores');
  const versionLen = measure(r.version, 0xff, 'the model version');
  const variantLen = measure(r.variant, 0xff, 'the variant');
  const w = new Writer(WS_HEADER_BYTES + 3 + 4 * n + 1 + versionLen + 1 + variantLen + 4);
  w.header(WS_OP.PREDICT_RESULT, id);
  w.byte(r.fallback ? 1 : 0);
  w.u16(n);
  for (let i = 0; i < n; i++) w.f32(r.scores[i]);
  w.byte(versionLen);
  w.text(r.version, versionLen);
  w.byte(variantLen);
  w.text(r.variant, variantLen);
  w.f32(r.latencyUs);
  return w.u8;
}

export function encodeEventsResult(id: number, accepted: number, late: number): Uint8Array {
  checkId(id);
  checkU32(accepted, 'the accepted count');
  checkU32(late, 'the late count');
  const w = new Writer(WS_HEADER_BYTES + 8);
  w.header(WS_OP.EVENTS_RESULT, id);
  w.u32(accepted);
  w.u32(late);
  return w.u8;
}

/** An ERROR frame. A message past 65535 UTF-8 bytes is cut (at a character boundary), never refused. */
export function encodeError(id: number, code: string, message: string): Uint8Array {
  checkId(id);
  const codeLen = measure(code, 0xff, 'the error code');
  let msg = message;
  let msgLen = utf8Length(msg);
  if (msgLen > 0xffff) {
    const bytes = encoder.encode(msg);
    let cut = 0xffff;
    while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--; // back to a character start
    msg = utf8.decode(bytes.subarray(0, cut));
    msgLen = cut;
  }
  const w = new Writer(WS_HEADER_BYTES + 1 + codeLen + 2 + msgLen);
  w.header(WS_OP.ERROR, id);
  w.byte(codeLen);
  w.text(code, codeLen);
  w.u16(msgLen);
  w.text(msg, msgLen);
  return w.u8;
}
