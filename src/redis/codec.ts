// The bytes of one shared-log entry's batch (the `d` field of a stream entry): one ingest
// batch of one stream in the columnar form the store applies, entity ids hashed, so that a
// replica applies it with one native call and no decoding of JSON. The layout is the
// write-ahead log's (native/core/wal_record.h) with a header of its own:
//
//   u8 version (1), u8 flags, u16 stream, u16 nkeys, u16 nfields, u32 n,
//   u32 layout (the state layout's CRC-32C: replicas with another feature layout refuse
//   the entry instead of misreading it), f64 now_ms (the arrival time at the origin),
//   then u64 keys[nkeys][n], f64 ts[n], f64 values[n][nfields], and with flags bit 0
//   (a stream with dedup) u32 ids[n][2], the events' id hashes; little-endian.
//
// The header is 24 bytes, so every column is 8-byte aligned in the entry; a decoded batch
// views its columns in place when the buffer it was read into is aligned, else in one copy.
import type { StreamDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { type Binding, hashIds } from '../native/binding.js';

export const BATCH_VERSION = 1;
export const BATCH_HEADER_BYTES = 24;

/** flags bit 0: the batch carries its events' id hashes (streams.<name>.dedup) */
const FLAG_IDS = 1;

export function batchBytes(n: number, nkeys: number, nfields: number, ids = false): number {
  return BATCH_HEADER_BYTES + 8 * n * (nkeys + 1 + nfields + (ids ? 1 : 0));
}

/** Encodes a batch into a new Buffer (string ids are hashed here, as the store would). */
export function encodeBatch(stream: StreamDef, keys: Binding.KeyColumn[], ts: Float64Array, values: Float64Array, nowMs: number, layout: number, ids?: Uint32Array): Buffer {
  const n = ts.length;
  const nkeys = keys.length;
  const nfields = stream.fields.length;
  const out = Buffer.allocUnsafe(batchBytes(n, nkeys, nfields, ids !== undefined));
  out.writeUInt8(BATCH_VERSION, 0);
  out.writeUInt8(ids ? FLAG_IDS : 0, 1);
  out.writeUInt16LE(stream.index, 2);
  out.writeUInt16LE(nkeys, 4);
  out.writeUInt16LE(nfields, 6);
  out.writeUInt32LE(n, 8);
  out.writeUInt32LE(layout >>> 0, 12);
  out.writeDoubleLE(nowMs, 16);
  let at = BATCH_HEADER_BYTES;
  for (const k of keys) {
    const col = k instanceof BigUint64Array ? k : hashIds(k);
    out.set(new Uint8Array(col.buffer, col.byteOffset, n * 8), at);
    at += n * 8;
  }
  out.set(new Uint8Array(ts.buffer, ts.byteOffset, n * 8), at);
  at += n * 8;
  out.set(new Uint8Array(values.buffer, values.byteOffset, n * nfields * 8), at);
  at += n * nfields * 8;
  if (ids) out.set(new Uint8Array(ids.buffer, ids.byteOffset, n * 8), at);
  return out;
}

export interface DecodedBatch {
  stream: number;
  nowMs: number;
  keys: BigUint64Array[];
  ts: Float64Array;
  values: Float64Array;
  /** the events' id hashes (two u32 halves each), when the origin's stream dedups */
  ids?: Uint32Array;
}

function bad(why: string): never {
  throw new HotpathError('HP_ERR_EVENT_INVALID', `shared-log entry: ${why}`);
}

/**
 * Reads an entry's batch. Throws HP_ERR_EVENT_INVALID for bytes that are not a batch of
 * this version, or of another state layout (its message says which).
 */
export function decodeBatch(buf: Uint8Array, layout: number): DecodedBatch {
  if (buf.length < BATCH_HEADER_BYTES) bad(`${buf.length} bytes, shorter than a batch header`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  if (dv.getUint8(0) !== BATCH_VERSION) bad(`version ${dv.getUint8(0)}, this replica reads ${BATCH_VERSION}`);
  const stream = dv.getUint16(2, true);
  const nkeys = dv.getUint16(4, true);
  const nfields = dv.getUint16(6, true);
  const n = dv.getUint32(8, true);
  const l = dv.getUint32(12, true);
  if (l !== layout >>> 0) bad(`made with another feature layout (crc ${l.toString(16)}, here ${(layout >>> 0).toString(16)})`);
  const flags = dv.getUint8(1);
  if ((flags & ~FLAG_IDS) !== 0) bad(`unknown flags ${flags}`);
  const hasIds = (flags & FLAG_IDS) !== 0;
  if (buf.length !== batchBytes(n, nkeys, nfields, hasIds)) bad(`${buf.length} bytes for ${n} events of ${nkeys} keys and ${nfields} fields`);
  const nowMs = dv.getFloat64(16, true);
  // A Buffer from a socket may start anywhere: typed arrays need 8-byte alignment.
  const bytes = buf.byteOffset % 8 === 0 ? buf : new Uint8Array(buf);
  const base = bytes.byteOffset + BATCH_HEADER_BYTES;
  const keys: BigUint64Array[] = [];
  for (let k = 0; k < nkeys; k++) keys.push(new BigUint64Array(bytes.buffer, base + k * n * 8, n));
  const ts = new Float64Array(bytes.buffer, base + nkeys * n * 8, n);
  const values = new Float64Array(bytes.buffer, base + (nkeys + 1) * n * 8, n * nfields);
  const ids = hasIds ? new Uint32Array(bytes.buffer, base + (nkeys + 1 + nfields) * n * 8, 2 * n) : undefined;
  return { stream, nowMs, keys, ts, values, ids };
}
