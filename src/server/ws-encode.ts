// Encoding of /v1/ws binary frames (the encoding is described in ws-frames.ts).
import { frameError, WS_COLUMN, WS_HEADER_BYTES, WS_OP, type WsPredict } from './ws-frames.js';

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

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

/**
 * EVENTS_RESULT. With a shared log (ingest.redis_streams), the header's flags say whether
 * the events reached it: bit 0 the server has one, bit 1 they reached it.
 */
export function encodeEventsResult(id: number, accepted: number, late: number, shared?: boolean): Uint8Array {
  checkId(id);
  checkU32(accepted, 'the accepted count');
  checkU32(late, 'the late count');
  const w = new Writer(WS_HEADER_BYTES + 8);
  w.header(WS_OP.EVENTS_RESULT, id);
  if (shared !== undefined) w.u8[1] = shared ? 3 : 1;
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
