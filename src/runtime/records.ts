// The records that travel on the worker rings (see ring.ts), defined once for both ends.
// All numbers little-endian; offsets are from the start of a record's payload.

/** Request record ops (main -> worker). */
export const OP = {
  /** entity ids + request fields; the worker gathers features into the input matrix */
  PREDICT: 1,
  /** rows of a ready input matrix (KServe infer) */
  INFER: 2,
  /** a control message is waiting on the worker's MessagePort (receiveMessageOnPort) */
  CONTROL: 3,
} as const;

/** Response statuses (worker -> main). */
export const STATUS = {
  OK: 0,
  /** the deadline passed before the batch ran */
  DEADLINE: 1,
  /** the model raised; the payload is the message (UTF-8) */
  ERROR: 2,
  /** the model slot is not loaded on this worker */
  NOT_LOADED: 3,
} as const;

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
} as const;

export const RES = {
  STATUS: 0, // u8
  BATCH: 2, // u16 rows in the batch that ran this request (capped at 65535)
  ID: 4, // u32
  QUEUE_US: 8, // f32: enqueue -> batch start
  COMPUTE_US: 12, // f32: the batch's gather + run
  ROWS: 16, // u32
  OUT_DIM: 20, // u32
  BODY: 24, // f32 x rows x outDim, or the error message
} as const;

/** Per model slot, per worker: counters the worker writes and the metrics scrape reads. */
export const COUNTER = {
  EXECUTIONS: 0,
  INFERENCES: 1,
  PER_SLOT: 2,
} as const;

export const MAX_SLOTS = 256;

const ORIGIN = performance.timeOrigin; // a getter that costs more than now() itself

/** Wall-clock milliseconds with sub-millisecond precision, comparable across threads. */
export function nowMs(): number {
  return ORIGIN + performance.now();
}
