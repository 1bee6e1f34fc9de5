// The one loader of the native addon, and its typed wrapper. Nothing else in hotpath
// requires the .node file: everything imports FeatureStore, hashIds, denseForward,
// backends and constants from here.
//
// Both native builds (node-gyp from binding.gyp, cmake-js from CMakeLists.txt) write
// build/Release/hotpath.node, so there is one place to look. HOTPATH_ADDON overrides the
// path. Inside the single executable (npm run build:sea) the addon is one of its assets,
// written to a cache directory on first run (src/native/sea.ts) and loaded from there.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { HotpathError, toHotpathError } from '../errors.js';
import type { Binding } from './binding-types.js';
import { inSea, seaFile } from './sea.js';

export type { Binding } from './binding-types.js';

export const ADDON_PATH =
  process.env.HOTPATH_ADDON ??
  (inSea() ? seaFile('hotpath.node') : fileURLToPath(new URL('../../build/Release/hotpath.node', import.meta.url)));

function load(): Binding.Addon {
  try {
    return createRequire(ADDON_PATH)(ADDON_PATH) as Binding.Addon;
  } catch (err) {
    throw new Error(
      `hotpath: cannot load the native addon at ${ADDON_PATH} (${(err as Error).message}). ` +
        'Build it with `npm install` (CPU) or `npm run build:cuda`.',
    );
  }
}

const addon = load();

/** Aggregate names in the order of native/core/constants.h (test/native checks it). */
export const AGG_NAMES = ['count', 'sum', 'mean', 'min', 'max', 'stddev', 'last', 'distinct', 'last_n', 'ewm'] as const;
export type AggName = (typeof AGG_NAMES)[number];
export const ACT_NAMES = ['none', 'relu', 'sigmoid', 'tanh'] as const;
export type ActName = (typeof ACT_NAMES)[number];
/** Names of the other lists of constants.h, for TypeScript's types; the codes come from the addon. */
export const LAYER_KIND_NAMES = ['dense', 'act', 'softmax'] as const;
export type LayerKindName = (typeof LAYER_KIND_NAMES)[number];
export const GATHER_SOURCE_NAMES = ['feature', 'field'] as const;
export type GatherSourceName = (typeof GATHER_SOURCE_NAMES)[number];
export const GATHER_TRANSFORM_NAMES = ['none', 'log1p'] as const;
export type GatherTransformName = (typeof GATHER_TRANSFORM_NAMES)[number];
export const LEARNER_OPTIMIZER_NAMES = ['sgd', 'ftrl'] as const;
export type LearnerOptimizerName = (typeof LEARNER_OPTIMIZER_NAMES)[number];

export const constants: Binding.Constants = addon.constants;
export const limits = constants.limits;
/** The aggregates that take a window and a tile (count, sum, ..., distinct). */
export const WINDOWED_AGGS: ReadonlySet<AggName> = new Set(AGG_NAMES.filter((a) => constants.aggFlags[a].windowed));
/** The version of a store row's byte layout; a snapshot records it and is refused on a mismatch. */
export const ROW_LAYOUT_VERSION = constants.rowLayoutVersion;

// ---------------------------------------------------------------- native plan

/**
 * A model the native runtime can run, as src/runtime/onnx-graph.ts compiles it from ONNX:
 * a chain of dense layers, activations and softmax. Declared here, with the addon's shape,
 * so that this loader imports nothing from the layers above it.
 */
export type PlanAct = ActName;
export type NativeLayer =
  | { kind: 'dense'; inDim: number; outDim: number; w: Float32Array /* outDim x inDim row-major */; b: Float32Array | null /* outDim */; act: PlanAct }
  | { kind: 'act'; act: PlanAct } // a standalone activation (e.g. two in a row)
  | { kind: 'softmax' }; // over the last axis
export interface NativePlan {
  inDim: number;
  outDim: number;
  layers: NativeLayer[];
  inputName: string;
  outputName: string;
}

/** Runs fn, turning a native exception into a HotpathError with its HP_ERR_NATIVE_* code. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toHotpathError(err);
  }
}
export { call as callNative };

/**
 * The addon's Learner class, for NativeLearner (src/native/learner.ts), which wraps it: the
 * addon is still required here only.
 */
export const LearnerAddon: Binding.Addon['Learner'] = addon.Learner;

/** The addon's EmbeddingIndex class, for src/native/embedding.ts (which wraps it). */
export const EmbeddingIndexAddon: Binding.Addon['EmbeddingIndex'] = addon.EmbeddingIndex;

/** Why ingestRows refused a frame's rows: a rowErrors name, the event and the frame column. */
export interface RowFault {
  error: string;
  event: number;
  column: number;
}

const rowOut = new Float64Array(2);

export interface IngestResult {
  accepted: number;
  late: number;
}

export interface ReadResult {
  found: boolean;
  /** now - newest event time of the entity, in ms; NaN when absent */
  ageMs: number;
}

/** readJsonTo's head: the age, its start and end (float64s), then the text */
const JSON_HEAD = 24;

/**
 * A native feature store. `FeatureStore.create(spec)` makes one owned by the calling thread,
 * the only thread that may ingest or sweep. `FeatureStore.attach(id)` opens the same store
 * read-only from another thread (worker_threads): reads never block the writer.
 */
export class FeatureStore {
  readonly #native: Binding.NativeStore;
  readonly #layouts: Binding.Layout[];
  /** the native readJsonTo bound to #native: a call with no `this` to unwrap */
  readonly #readJsonTo: (program: number, id: string, nowMs: number) => number;
  /** the native read bound to #native, as #readJsonTo */
  readonly #read: (table: number, id: string | bigint, nowMs: number, out: Float64Array) => number;

  private constructor(native: Binding.NativeStore, tables: number) {
    this.#native = native;
    this.#layouts = Array.from({ length: tables }, (_, t) => native.layout(t));
    this.#keepText(4096);
    this.#readJsonTo = native.readJsonToFn(); // lives as long as this, beside #native
    this.#read = native.readFn();
  }

  static create(spec: Binding.StoreSpec): FeatureStore {
    return new FeatureStore(call(() => new addon.FeatureStore(spec)), spec.tables.length);
  }

  static attach(id: number, tables: number): FeatureStore {
    return new FeatureStore(call(() => new addon.FeatureStore(id)), tables);
  }

  get id(): number {
    return this.#native.id;
  }

  get writable(): boolean {
    return this.#native.writable;
  }

  layout(table: number): Binding.Layout {
    return this.#layouts[table];
  }

  /**
   * Applies a batch of events of one stream. keys[k] holds the ids for the stream's k-th
   * entity table (strings, or hashes from hashIds); values is events x fields, row-major.
   * The whole batch is validated first: on an error nothing is applied.
   */
  ingest(stream: number, keys: Binding.KeyColumn[], ts: Float64Array, values: Float64Array, nowMs = Date.now(), log?: WalSlot): IngestResult {
    const [accepted, late] = call(() =>
      log ? this.#native.ingest(stream, keys, ts, values, nowMs, log.buf, log.at, log.seq) : this.#native.ingest(stream, keys, ts, values, nowMs),
    );
    return { accepted, late };
  }

  /**
   * Decodes and applies the rows of a binary events frame (frame[offset..] holds n rows; plan
   * has (column, type, role, index) per use of a column, see native/core/event_rows.h). On a
   * refused value nothing is applied and the fault says which event and column.
   */
  ingestRows(stream: number, frame: Uint8Array, offset: number, n: number, plan: Int32Array, nowMs: number, log?: WalSlot): IngestResult | RowFault {
    const out = rowOut;
    const code = call(() =>
      log
        ? this.#native.ingestRows(stream, frame, offset, n, plan, nowMs, out, log.buf, log.at, log.seq)
        : this.#native.ingestRows(stream, frame, offset, n, plan, nowMs, out),
    );
    if (code === 0) return { accepted: out[0], late: out[1] };
    return { error: constants.rowErrors[code], event: out[0], column: out[1] };
  }

  /**
   * Decodes a binary frame's rows into columns, as ingestRows would, applying nothing: key
   * hashes into keys (key column k at [k * n, (k + 1) * n)), times, and values row-major
   * by the stream's fields. The arrays must hold n rows; size them only after checking that
   * n rows fit the frame (minRowBytes). Returns the fault of a frame ingestRows would refuse.
   */
  decodeRows(stream: number, frame: Uint8Array, offset: number, n: number, plan: Int32Array, nowMs: number, keys: BigUint64Array, ts: Float64Array, values: Float64Array): RowFault | null {
    const out = rowOut;
    const code = call(() => this.#native.decodeRows(stream, frame, offset, n, plan, nowMs, keys, ts, values, out));
    return code === 0 ? null : { error: constants.rowErrors[code], event: out[0], column: out[1] };
  }

  /** Reads one entity's feature vector into out (length >= layout(table).width). */
  read(table: number, id: string | bigint, nowMs: number, out: Float64Array): ReadResult {
    let ageMs: number;
    try {
      ageMs = this.#read(table, id, nowMs, out); // no closure: a read per request
    } catch (err) {
      throw toHotpathError(err);
    }
    return { found: ageMs === ageMs, ageMs }; // NaN (absent) is the only age unequal to itself
  }

  /**
   * Reads one entity and writes the JSON text `program` describes at text[8..], in one
   * call; the entity's age in ms (NaN when absent) goes in text[0..8] as a float64.
   * program (4-byte aligned): int32 [nops, litsAt], nops [op, a, b] triples
   * (native/binding/feature_json.h: literal bytes, the read time, the id, found, the age, a
   * value, a last_n list), then the literal bytes at litsAt. text is 8-byte aligned.
   * Numbers are written as Number#toString writes them. Returns the bytes of text written
   * after the age, or minus the bytes text must hold (nothing is read then).
   */
  readJson(table: number, id: string, nowMs: number, program: Uint8Array, text: Uint8Array): number {
    try {
      return this.#native.readJson(table, id, nowMs, program, text); // no closure: the GET hot path
    } catch (err) {
      throw toHotpathError(err);
    }
  }

  /**
   * readJson's program (for `table`), checked and copied once: a handle for readJsonTo.
   * Programs are kept as long as the store: make one per entity and selection kept, not per read.
   */
  jsonProgram(table: number, program: Uint8Array): number {
    return call(() => this.#native.jsonProgram(table, program));
  }

  /**
   * readJson by a jsonProgram handle, into a text buffer this store keeps and the addon
   * holds (jsonText: registered once, so no typed array is unwrapped and no program checked
   * per read; three plain arguments). Returns the bytes of text: the answer is
   * jsonView(n), the entity's age jsonAge, both valid until the next readJsonTo.
   */
  readJsonTo(program: number, id: string, nowMs: number): number {
    try {
      const read = this.#readJsonTo;
      let n = read(program, id, nowMs); // no closure: the GET hot path
      if (n < 0) {
        this.#keepText(Math.max(-n, 2 * this.#text.length));
        n = read(program, id, nowMs);
      }
      return n;
    } catch (err) {
      throw toHotpathError(err);
    }
  }

  /** The age in ms of the entity readJsonTo last read (NaN: absent). */
  get jsonAge(): number {
    return this.#head[0];
  }

  /**
   * With on, readJsonTo notes when it started and ended (jsonStart, jsonEnd): a stage
   * split's marks for the cost of two native clock reads, less than one from JS.
   */
  jsonClock(on: boolean): void {
    if (on === this.#clock) return;
    this.#clock = on;
    call(() => this.#native.jsonText(this.#text, on));
  }

  /** When the last readJsonTo started and ended (with jsonClock on), clock() ms. */
  get jsonStart(): number {
    return this.#head[1];
  }

  get jsonEnd(): number {
    return this.#head[2];
  }

  /** The monotonic clock of jsonStart and jsonEnd, ms (its origin is not performance.now()'s). */
  clock(): number {
    return this.#native.clock();
  }

  /**
   * The n bytes of text readJsonTo last wrote: a view made once per length and reused (a
   * Buffer made per read cost more than the native call's argument reads).
   */
  jsonView(n: number): Buffer {
    return (this.#views[n] ??= Buffer.from(this.#text.buffer, JSON_HEAD, n));
  }

  #keepText(bytes: number): void {
    const buf = new ArrayBuffer(bytes); // its own buffer: 8-byte aligned
    this.#native.jsonText(new Uint8Array(buf), this.#clock);
    this.#text = new Uint8Array(buf);
    this.#head = new Float64Array(buf, 0, 3);
    this.#views = [];
  }

  /** readJsonTo's text (the addon holds it): [age, start, end] float64s, the answer from JSON_HEAD */
  #text = new Uint8Array(0);
  #head = new Float64Array(3);
  #views: Buffer[] = [];
  #clock = false;

  /** Whether the store holds the entity: the index lookup alone, no features computed. */
  contains(table: number, id: string | bigint): boolean {
    return call(() => this.#native.contains(table, id));
  }

  /** Reads many entities: out is ids x width, ages gets one age per id (NaN if absent). */
  readMany(table: number, ids: Binding.KeyColumn, nowMs: number, out: Float64Array, ages: Float64Array): number {
    if (ages.length !== ids.length) throw new HotpathError('HP_ERR_NATIVE_INVALID_ARG', 'ages must have one slot per id');
    return call(() => this.#native.readMany(table, ids, nowMs, out, ages));
  }

  /**
   * Copies the rows of many entities (the online store's write-through): row i is
   * out[i * rowBytes, (i + 1) * rowBytes), read consistently, and found[i] is 1; found[i]
   * is 0 (out untouched there) for an absent entity. Returns how many were found. Both
   * buffers are the caller's, written during the call only.
   */
  exportRows(table: number, keys: BigUint64Array, out: Uint8Array, found: Uint8Array): number {
    const rb = this.#layouts[table]?.rowBytes ?? 0;
    if (found.length < keys.length || out.length < keys.length * rb) throw new HotpathError('HP_ERR_NATIVE_INVALID_ARG', 'out must hold keys x rowBytes bytes and found one byte per key');
    return call(() => this.#native.exportRows(table, keys, out, found));
  }

  /**
   * Inserts rows exported by a store of the same layout (the caller checks its CRC) for
   * entities this store does not hold; a present entity keeps its row. result[i]: 1
   * inserted, 2 present. Returns how many were inserted. Writer's handle only.
   */
  importRows(table: number, keys: BigUint64Array, rows: Uint8Array, result: Uint8Array, nowMs = Date.now()): number {
    const rb = this.#layouts[table]?.rowBytes ?? 0;
    if (result.length < keys.length || rows.length < keys.length * rb) throw new HotpathError('HP_ERR_NATIVE_INVALID_ARG', 'rows must hold keys x rowBytes bytes and result one byte per key');
    return call(() => this.#native.importRows(table, keys, rows, nowMs, result));
  }

  stats(table: number): Binding.TableStats {
    return call(() => this.#native.stats(table));
  }

  /** Expires entities idle for longer than their table's TTL; examines at most maxRows rows per table. */
  sweep(nowMs: number, maxRowsPerTable: number): number {
    return call(() => this.#native.sweep(nowMs, maxRowsPerTable));
  }

  /**
   * Writes a snapshot of every table to path: the cut is taken now, between two ingest
   * calls, and the file is written and fsynced on the thread pool while ingest goes on.
   * One at a time (HP_ERR_NATIVE_UNAVAILABLE otherwise).
   */
  snapshot(path: string): Promise<Binding.SnapshotStats> {
    return call(() => this.#native.snapshot(path)).catch((err: unknown) => Promise.reject(toHotpathError(err)));
  }

  /** Reads a snapshot into this store, which must be empty; ingest waits until it settles. */
  restore(path: string): Promise<Binding.RestoreStats> {
    return call(() => this.#native.restore(path)).catch((err: unknown) => Promise.reject(toHotpathError(err)));
  }
}

// ---------------------------------------------------------------- write-ahead log

/** Where ingest writes a batch's log record: buf[at..], numbered seq (walRecordBytes long). */
export interface WalSlot {
  buf: Uint8Array;
  at: number;
  seq: number;
}

const WAL = constants.wal;

/** Bytes of the log record of a batch of n events (native/core/wal_record.h): header, payload, padding to 8. */
export function walRecordBytes(n: number, nkeys: number, nfields: number): number {
  return (WAL.headerBytes + WAL.batchHeaderBytes + n * 8 * (nkeys + 1 + nfields) + 7) & ~7;
}

/** A log record read back: a batch, its columns as offsets into the buffer it was read from. */
export interface WalRecord {
  seq: number;
  recordBytes: number;
  stream: number;
  nkeys: number;
  nfields: number;
  n: number;
  nowMs: number;
  keysAt: number;
  tsAt: number;
  valuesAt: number;
}

/** Why walRead found no record: END (zeros: the end of the log), TORN (cut short), CORRUPT. */
export type WalStop = 'END' | 'TORN' | 'CORRUPT';

const walOut = new Float64Array(10);

/** Reads the record at buf[offset..], checking its length and CRC-32C. */
export function walRead(buf: Uint8Array, offset: number): WalRecord | WalStop {
  const code = call(() => addon.walRead(buf, offset, walOut));
  if (code !== 0) return WAL.reads[code] as WalStop;
  const o = walOut;
  return { seq: o[0], recordBytes: o[1], stream: o[2], nkeys: o[3], nfields: o[4], n: o[5], nowMs: o[6], keysAt: o[7], tsAt: o[8], valuesAt: o[9] };
}

/** CRC-32C of buf, extending crc. */
export function crc32c(buf: Uint8Array, crc = 0): number {
  return call(() => addon.crc32c(buf, crc));
}

/** Reserves (posix_fallocate) bytes of a file; returns 0, or the errno (28 ENOSPC: disk full). */
export function reserveFile(fd: number, offset: number, length: number): number {
  return call(() => addon.reserveFile(fd, offset, length));
}

/** The layers of a NativeModel for a plan compiled from ONNX (planNative). */
export function layerSpecs(plan: NativePlan): Binding.LayerSpec[] {
  const kinds = constants.layerKinds;
  return plan.layers.map((l): Binding.LayerSpec =>
    l.kind === 'dense'
      ? { kind: kinds.dense, inDim: l.inDim, outDim: l.outDim, w: l.w, b: l.b, act: constants.acts[l.act] }
      : l.kind === 'act'
        ? { kind: kinds.act, act: constants.acts[l.act] }
        : { kind: kinds.softmax },
  );
}

/**
 * A model the native runtime runs (a chain of dense layers, activations and softmax, as
 * compiled from ONNX by src/runtime/onnx-graph.ts). Owned by one thread: forward() uses the
 * model's own scratch buffers.
 */
export class NativeModel {
  readonly #native: Binding.NativeModel;

  constructor(spec: Binding.ModelSpec) {
    this.#native = call(() => new addon.NativeModel(spec));
  }

  get inDim(): number {
    return this.#native.inDim;
  }

  get outDim(): number {
    return this.#native.outDim;
  }

  /** y (batch x outDim) = model(x (batch x inDim)). */
  forward(x: Float32Array, batch: number, y: Float32Array): void {
    call(() => this.#native.forward(x, batch, y));
  }

  /** The device answering now: cuda until a device failure, then cpu. */
  get device(): 'cpu' | 'cuda' {
    return this.#native.device;
  }

  /** Why the GPU was given up (the model answers on the CPU since), or null. */
  get deviceLost(): string | null {
    return this.#native.deviceLost;
  }

  /** cuBLASLt, graphs and device memory of a cuda model; null on the CPU. */
  get cuda(): Binding.CudaModelInfo | null {
    return this.#native.cuda;
  }

  /** The next device forward fails as on a lost device (fault injection); false on a cpu model. */
  injectDeviceFault(): boolean {
    return this.#native.injectDeviceFault();
  }
}

/**
 * Feature gather for a model: one native call turns a batch of entity ids and request
 * fields into the model's input matrix, reading the store (by id, from any thread).
 */
export class Gather {
  readonly #native: Binding.Gather;

  constructor(storeId: number, spec: Binding.GatherSpec) {
    this.#native = call(() => new addon.Gather(storeId, spec));
  }

  /**
   * ids: UTF-8 bytes; refs: (offset, length) in ids per row and entity key; fields: batch x
   * nFields; x: batch x columns, written.
   */
  run(ids: Uint8Array, refs: Uint32Array, fields: Float32Array, batch: number, nowMs: number, x: Float32Array): void {
    call(() => this.#native.run(ids, refs, fields, batch, nowMs, x));
  }
}

/** 64-bit hashes of entity ids, as the store keys them. */
export function hashIds(ids: string[]): BigUint64Array {
  return call(() => addon.hashIds(ids));
}

/** One dense layer: y = act(x W^T + b), x batch x inDim, W outDim x inDim. */
export function denseForward(
  x: Float32Array, w: Float32Array, bias: Float32Array | null, batch: number, inDim: number, outDim: number,
  act: ActName, backend: 'cpu' | 'cuda' = 'cpu',
): Float32Array {
  const y = new Float32Array(batch * outDim);
  call(() => addon.denseForward(x, w, bias, batch, inDim, outDim, constants.acts[act], backend, y));
  return y;
}

/**
 * The addon's detector classes, for src/native/detectors.ts (which wraps them) and no one
 * else: the rest of hotpath imports the wrappers.
 */
export const detectorAddon: Pick<Binding.Addon, 'DriftDetector' | 'AnomalyDetector' | 'AnomalyTable'> = addon;

/** The addon's Covisit class, for src/native/covisit.ts (which wraps it) and no one else. */
export const CovisitAddon: Binding.Addon['Covisit'] = addon.Covisit;

export function backends(): { cpu: true; cuda: Binding.CudaInfo } {
  return addon.backends();
}
