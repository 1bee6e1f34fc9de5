// The records that travel on the worker rings (see ring.ts), defined once for both ends:
// each layout's offsets, its encoder and its decoder side by side, and the one outcome
// vocabulary (STATUS) that the ring, the pool and the inference service share.
// All numbers little-endian; offsets are from the start of a record's payload.
//
// Lifetimes. A record's payload is valid from Ring.peek() until Ring.release(); a reader
// copies what it keeps before it releases (the worker copies request bodies, the main
// thread copies answer values into a Float32Array the caller owns).
import { performance } from 'node:perf_hooks';

import type { ErrorCode } from '../errors.js';
import type { Ring } from './ring.js';

/** Request record ops (main -> worker). */
export const OP = {
  /** entity ids + request fields; the worker gathers features into the input matrix */
  PREDICT: 1,
  /** rows of a ready input matrix (KServe infer) */
  INFER: 2,
  /** a control message is waiting on the worker's MessagePort (receiveMessageOnPort) */
  CONTROL: 3,
} as const;

// ---- outcomes ----

/**
 * How a request ended: one vocabulary for the ring's response status (the worker writes
 * OK, DEADLINE, ERROR, NOT_READY), the pool (CRASHED, OVERLOADED, DEADLINE on its side)
 * and the inference service (CIRCUIT_OPEN, NOT_READY before submitting).
 */
export const STATUS = {
  OK: 0,
  /** the deadline passed before the batch ran */
  DEADLINE: 1,
  /** the model raised; the response payload is the message (UTF-8) */
  ERROR: 2,
  /** the model (slot) is not loaded on the worker, or not ready on this side */
  NOT_READY: 3,
  /** the worker died with the request in flight */
  CRASHED: 4,
  /** the rings and the wait queue were full: shed */
  OVERLOADED: 5,
  /** the model's circuit breaker is open */
  CIRCUIT_OPEN: 6,
} as const;

export type Status = (typeof STATUS)[keyof typeof STATUS];

/** Why a request did not get the model's own answer (the reason clients and metrics see). */
export type FailReason = 'deadline' | 'error' | 'not_ready' | 'crashed' | 'overloaded' | 'circuit_open';

/** Each status's name and error code, indexed by status: the only mapping to codes. */
const OUTCOMES: readonly { name: 'ok' | FailReason; code: ErrorCode | null }[] = [
  { name: 'ok', code: null },
  { name: 'deadline', code: 'HP_ERR_DEADLINE' },
  { name: 'error', code: 'HP_ERR_INFERENCE_FAILED' },
  { name: 'not_ready', code: 'HP_ERR_MODEL_NOT_READY' },
  { name: 'crashed', code: 'HP_ERR_WORKER_CRASHED' },
  { name: 'overloaded', code: 'HP_ERR_OVERLOADED' },
  { name: 'circuit_open', code: 'HP_ERR_CIRCUIT_OPEN' },
];

export function statusName(s: Status): 'ok' | FailReason {
  return OUTCOMES[s].name;
}

/** The error code of a failed status (HP_ERR_INTERNAL for OK, which is no failure). */
export function statusCode(s: Status): ErrorCode {
  return OUTCOMES[s].code ?? 'HP_ERR_INTERNAL';
}

// ---- request records (main -> worker) ----

export const REQ = {
  OP: 0, // u8
  SLOT: 2, // u16 model slot
  ID: 4, // u32 request id
  DEADLINE: 8, // f64 epoch ms
  ENQUEUED: 16, // f64 epoch ms
  ROWS: 24, // u32
  BODY: 32,
  // PREDICT body: fields (f32 x nFields), id lengths (u16 x nKeys, padded to 4), id bytes.
  // INFER body: rows x inDim f32.
  // CONTROL: no body.
} as const;

export interface RequestHeader {
  op: number;
  slot: number;
  id: number;
  deadline: number;
  enqueued: number;
  rows: number;
}

export function writeRequestHeader(v: DataView, off: number, op: number, slot: number, id: number, deadline: number, enqueued: number, rows: number): void {
  v.setUint8(off + REQ.OP, op);
  v.setUint16(off + REQ.SLOT, slot, true);
  v.setUint32(off + REQ.ID, id, true);
  v.setFloat64(off + REQ.DEADLINE, deadline, true);
  v.setFloat64(off + REQ.ENQUEUED, enqueued, true);
  v.setUint32(off + REQ.ROWS, rows, true);
}

/** Decodes a request header into `h`. */
export function readRequestHeader(v: DataView, off: number, h: RequestHeader): void {
  h.op = v.getUint8(off + REQ.OP);
  h.slot = v.getUint16(off + REQ.SLOT, true);
  h.id = v.getUint32(off + REQ.ID, true);
  h.deadline = v.getFloat64(off + REQ.DEADLINE, true);
  h.enqueued = v.getFloat64(off + REQ.ENQUEUED, true);
  h.rows = v.getUint32(off + REQ.ROWS, true);
}

export const requestOp = (v: DataView, off: number): number => v.getUint8(off + REQ.OP);
export const requestSlot = (v: DataView, off: number): number => v.getUint16(off + REQ.SLOT, true);

/** The PREDICT body's size: fields, id lengths (padded to 4), then the ids' UTF-8 bytes. */
export function predictBodySize(nFields: number, idBytes: readonly number[]): number {
  let size = nFields * 4 + ((idBytes.length * 2 + 3) & ~3);
  for (let k = 0; k < idBytes.length; k++) size += idBytes[k];
  return size;
}

/** A predict request as the PREDICT body carries it: ids with their UTF-8 lengths, fields in the model's order. */
export interface PredictValues {
  readonly ids: readonly string[];
  readonly idBytes: readonly number[];
  readonly fields: readonly number[];
}

/** Encodes a PREDICT body at `off` of the ring's data (predictBodySize bytes). */
export function writePredictBody(ring: Ring, off: number, nFields: number, p: PredictValues): void {
  const v = ring.view;
  const nKeys = p.ids.length;
  const lensAt = nFields * 4;
  let at = off + lensAt + ((nKeys * 2 + 3) & ~3);
  for (let f = 0; f < nFields; f++) v.setFloat32(off + f * 4, p.fields[f], true);
  const bytes = ring.bytes;
  for (let k = 0; k < nKeys; k++) {
    const id = p.ids[k];
    const n = p.idBytes[k];
    v.setUint16(off + lensAt + k * 2, n, true);
    // As many UTF-8 bytes as UTF-16 units: all ASCII. A short one is copied here, without
    // the call into Buffer's C++ that write() makes for each id.
    if (n === id.length && n <= 64) {
      for (let i = 0; i < n; i++) bytes[at + i] = id.charCodeAt(i);
      at += n;
    } else at += ring.buffer.write(id, at, 'utf8');
  }
}

/** Encodes an INFER body: the rows x inDim matrix, as is. */
export function writeInferBody(ring: Ring, off: number, x: Float32Array): void {
  ring.bytes.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), off);
}

/**
 * Decodes a PREDICT body (a copy of it, `b`, with `dv` a DataView of the same bytes) as
 * row `row` of a batch: its fields into fields[row * nFields ..], its ids' bytes into
 * ids[idsAt ..], and each id's (offset, length) in ids into refs[(row * nKeys + k) * 2 ..],
 * the layout Gather.run takes. Returns where the next row's ids start. The arenas are
 * sized by the caller (the body's length in bytes of ids per row at most).
 */
export function readPredictBody(b: Uint8Array, dv: DataView, nFields: number, nKeys: number, row: number, fields: Float32Array, ids: Uint8Array, idsAt: number, refs: Uint32Array): number {
  const lensAt = nFields * 4;
  const bytesAt = lensAt + ((nKeys * 2 + 3) & ~3);
  for (let f = 0; f < nFields; f++) fields[row * nFields + f] = dv.getFloat32(f * 4, true);
  let src = bytesAt;
  for (let k = 0; k < nKeys; k++) {
    const len = dv.getUint16(lensAt + k * 2, true);
    // ids are short: a byte loop costs less than the subarray that set() would need
    if (len <= 64) for (let i = 0; i < len; i++) ids[idsAt + i] = b[src + i];
    else ids.set(b.subarray(src, src + len), idsAt);
    refs[(row * nKeys + k) * 2] = idsAt;
    refs[(row * nKeys + k) * 2 + 1] = len;
    idsAt += len;
    src += len;
  }
  return idsAt;
}

// ---- response records (worker -> main) ----

export const RES = {
  STATUS: 0, // u8, a STATUS
  BATCH: 2, // u16 rows in the batch that ran this request (capped at 65535)
  ID: 4, // u32
  QUEUE_US: 8, // f32: enqueue -> batch start
  COMPUTE_US: 12, // f32: the batch's gather + run
  ROWS: 16, // u32
  OUT_DIM: 20, // u32
  BATCH_WAIT_US: 24, // f32: taken out of the ring by the worker -> batch start (part of QUEUE_US)
  BODY: 28, // OK: f32 x rows x outDim; ERROR: the message (UTF-8); else empty
} as const;

/** The size of a response record whose body is `values` floats. */
export const responseSize = (values: number): number => RES.BODY + values * 4;

export function writeResponseHeader(v: DataView, off: number, status: Status, batchRows: number, id: number, queueUs: number, computeUs: number, rows: number, outDim: number, batchWaitUs = 0): void {
  v.setUint8(off + RES.STATUS, status);
  v.setUint16(off + RES.BATCH, Math.min(batchRows, 65535), true);
  v.setUint32(off + RES.ID, id, true);
  v.setFloat32(off + RES.QUEUE_US, queueUs, true);
  v.setFloat32(off + RES.COMPUTE_US, computeUs, true);
  v.setUint32(off + RES.ROWS, rows, true);
  v.setUint32(off + RES.OUT_DIM, outDim, true);
  v.setFloat32(off + RES.BATCH_WAIT_US, batchWaitUs, true);
}

/**
 * Writes rows x outDim answers taken from y at `base` as an OK record's body. One copy:
 * the body is 4-byte aligned (8-aligned records, RES.BODY = 28), and the rings are
 * little-endian, as every supported host.
 */
export function writeResponseValues(ring: Ring, off: number, y: Float32Array, base: number, n: number): void {
  if (n <= 16) {
    // A predict's few values, one by one: the two typed arrays of the copy below cost more.
    const v = ring.view;
    for (let i = 0; i < n; i++) v.setFloat32(off + RES.BODY + i * 4, y[base + i], true);
    return;
  }
  new Float32Array(ring.bytes.buffer, ring.bytes.byteOffset + off + RES.BODY, n).set(y.subarray(base, base + n));
}

/** What a response record says; the pool's requests carry these fields. */
export interface Outcome {
  status: Status;
  /** rows x outDim (OK only): a copy owned by the receiver */
  values: Float32Array | undefined;
  rows: number;
  outDim: number;
  queueUs: number;
  /** the part of queueUs after the worker took the request out of its ring (its batcher's wait) */
  batchWaitUs: number;
  computeUs: number;
  /** rows in the batch this request ran in */
  batch: number;
  message: string | undefined;
}

export const responseId = (v: DataView, off: number): number => v.getUint32(off + RES.ID, true);

/** Decodes the response record at `off` (payload length `len`) into `o`, copying the values out of the ring. */
export function readResponse(ring: Ring, off: number, len: number, o: Outcome): void {
  const v = ring.view;
  const st = v.getUint8(off + RES.STATUS) as Status;
  o.status = st;
  o.rows = v.getUint32(off + RES.ROWS, true);
  o.outDim = v.getUint32(off + RES.OUT_DIM, true);
  o.queueUs = v.getFloat32(off + RES.QUEUE_US, true);
  o.computeUs = v.getFloat32(off + RES.COMPUTE_US, true);
  o.batchWaitUs = v.getFloat32(off + RES.BATCH_WAIT_US, true);
  o.batch = v.getUint16(off + RES.BATCH, true);
  o.values = undefined;
  o.message = undefined;
  if (st === STATUS.OK) {
    const n = o.rows * o.outDim;
    if (n <= 16) {
      // A predict's few values: read one by one into a fresh (small, on-heap) array, without
      // the view of the ring that a slice() needs.
      const values = new Float32Array(n);
      for (let i = 0; i < n; i++) values[i] = v.getFloat32(off + RES.BODY + i * 4, true);
      o.values = values;
    } else o.values = new Float32Array(ring.bytes.buffer, ring.bytes.byteOffset + off + RES.BODY, n).slice();
  }
  else if (st === STATUS.ERROR) o.message = ring.buffer.toString('utf8', off + RES.BODY, off + len);
}

// ---- counters and time ----

/**
 * Per model slot, per worker: counters the worker writes and the main thread reads (the
 * metrics scrape; the pool's queue-delay measure, pool.ts). STARTED is a time, not a count:
 * the enqueue time (epoch ms) of the newest request of the slot that left the worker's
 * batcher (ran, or expired). A worker takes a slot's requests in submission order, so every
 * request of the slot enqueued at or before it has started.
 */
export const COUNTER = {
  EXECUTIONS: 0,
  INFERENCES: 1,
  STARTED: 2,
  PER_SLOT: 3,
} as const;

export const MAX_SLOTS = 256;

/**
 * After the slots' counters, one word per worker: when the batch it is running started
 * (epoch ms), 0 while it runs none. A batch that runs long (a stalled model) delays every
 * request behind it; the pool reads this to see it before any answer comes back.
 */
export const BUSY_SINCE = MAX_SLOTS * COUNTER.PER_SLOT;

/**
 * After BUSY_SINCE, one word per slot the other way: the queue delay (µs) the main thread's
 * adaptive batching chose for the slot (adaptive-batching.ts), read by the worker for a slot
 * loaded with `adaptive` each time it asks the slot's batcher. Written by the main thread only,
 * with a plain store as STARTED and BUSY_SINCE are the other way (an aligned 8-byte store does
 * not tear on the hosts hotpath runs on); a read that misses a new value uses the old window
 * for one more look at the queue, which is all it costs.
 */
export const QUEUE_DELAY_US = BUSY_SINCE + 1;

/** Float64 words in a worker's counter buffer. */
export const COUNTER_WORDS = QUEUE_DELAY_US + MAX_SLOTS;

const ORIGIN = performance.timeOrigin; // a getter that costs more than now() itself
// performance is imported, not the global: in Node 20 the global is a lazy getter
// (node:internal/util), run on every read of it, and nowMs() is read 5 times a predict
// (bench/stages.ts, row nowMs() x1: 52.8 ns with the global, 47.4 imported).

/** Wall-clock milliseconds with sub-millisecond precision, comparable across threads. */
export function nowMs(): number {
  return ORIGIN + performance.now();
}
