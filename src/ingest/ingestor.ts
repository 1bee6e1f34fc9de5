// The one way events enter the store. Every source calls it: HTTP (JSON and NDJSON), the
// WebSocket (JSON frames and binary rows), the demo generator, and later WAL replay and
// Redis Streams. Each call validates (nothing is applied unless every event is good),
// applies each stream's batch to the store in one native call, counts, and then hands
// the applied batch to the registered taps, in the order they were added.
//
// The write-ahead log (src/durability/wal.ts), when one is attached, gets every applied
// batch as one record, written by the native ingest call itself into the log's buffer (the
// columnar batch with hashed ids); the caller answers once durable(seq) says the record is
// on its way to disk. A batch the log cannot take is refused before it is applied
// (HP_ERR_WAL_UNAVAILABLE). replay() applies such a record again at start, through the same
// store call and taps.
//
// The shared log (src/redis/, docs/redis.md), when one is attached, gets every batch applied
// here from a local source (HTTP, WebSocket, demo) as columns with hashed ids, after the
// store and the write-ahead log took it and before the taps; the caller's answer
// (settle) waits for the log's verdict too: shared or not. Batches the shared log hands
// back from other replicas enter through apply() (source 'redis') and are never appended
// again. A shared log that refuses batches (a full backlog with on_backlog_full: refuse)
// says so in checkLog(), before a body is parsed.
//
// Taps are how online learners, anomaly detectors and Redis write-through see events. A
// tap runs on the ingest thread, synchronously, after the store has applied the batch and
// before the caller is answered: it must not block (copy what it needs and return; do
// slow work elsewhere). A tap that throws is counted and logged and never fails the ingest
// or keeps later taps from running.
import type { Config, StreamDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { type Binding, constants, type FeatureStore, type IngestResult, type WalRecord, type WalSlot, walRecordBytes } from '../native/binding.js';
import { keepRows } from './columns.js';
import { decodeEvents } from './decode.js';
import { EventIdWindow } from './event-ids.js';
import { EventIdsFile } from './event-ids-file.js';
import { planRows, type RowsFrame, rowsError } from './rows.js';

/** The write-ahead log as the Ingestor uses it (src/durability/wal.ts Wal). */
export interface IngestLog {
  readonly writable: boolean;
  /** makes room for `bytes` of records in the current segment; throws HP_ERR_WAL_UNAVAILABLE */
  ensure(bytes: number): void;
  slot(bytes: number): WalSlot;
  commit(bytes: number): number;
  whenDurable(seq: number, cb: (err: HotpathError | null) => void): void;
}

/** What an ingest call applied; seq is its last log record (0 without a log). */
export interface Ingested extends IngestResult {
  seq: number;
  /** with a shared log: the verdict on the call's batches (settle() waits for it) */
  shared?: SharedAck;
  /** events dropped because their id was seen within the stream's dedup horizon (undefined: no dedup stream in the call) */
  duplicates?: number;
}

/** Where a batch came from (a label for taps and metrics); 'redis': another replica's batch, from the shared log. */
export type IngestSource = 'http' | 'ws' | 'demo' | 'replay' | 'redis';

/**
 * A batch applied here from a local source, as the shared log is handed it: columns of the
 * stream (ids as strings, or hashed), the arrival time it was applied with, and its log
 * record's seq (0 without a write-ahead log). The arrays are views valid during the call.
 */
export interface SharedBatch {
  stream: StreamDef;
  keys: Binding.KeyColumn[];
  ts: Float64Array;
  values: Float64Array;
  nowMs: number;
  seq: number;
  /** with streams.<name>.dedup: the events' id hashes, two u32 halves per event */
  ids?: Uint32Array;
}

/** The shared log's verdict on one ingest call's batches. */
export interface SharedAck {
  /** cb(true) once every batch is in the shared log; cb(false) when one is not (yet) or the wait timed out */
  wait(cb: (shared: boolean) => void): void;
}

/** The shared ingest log as the Ingestor uses it (src/redis/stream-log.ts RedisStreamLog). */
export interface SharedLog {
  /** throws (HP_ERR_SHARED_LOG_FULL) while the log refuses new local batches */
  check(): void;
  /** copies the batch into the log's queue and joins it to ack (a new one when undefined) */
  append(batch: SharedBatch, ack: SharedAck | undefined): SharedAck;
}

/**
 * A batch the store has applied, as taps see it. Its arrays and bytes are views that live
 * only while the tap runs (the binary form points into a WebSocket message that uWS
 * reclaims when the handler returns): a tap that keeps anything copies it.
 * - `columns`: the columnar batch the store applied (ids per key column, times, values
 *   row-major by the stream's fields), from JSON events (ids as strings) or log replay
 *   (ids hashed, BigUint64Array).
 * - `rows`: a binary frame's rows and the plan the native decoder read them by;
 *   `FeatureStore.ingestRows(stream.index, bytes, rowsAt, count, plan, nowMs)` applies it again.
 */
export type AppliedBatch = {
  source: IngestSource;
  stream: StreamDef;
  /** the arrival time the batch was applied with (the time of events that carry none) */
  nowMs: number;
  accepted: number;
  late: number;
} & (
  | { kind: 'columns'; keys: Binding.KeyColumn[]; ts: Float64Array; values: Float64Array }
  | { kind: 'rows'; bytes: Uint8Array; rowsAt: number; count: number; plan: Int32Array }
);

export interface IngestTap {
  /** names the tap in logs and in hotpath_ingest_tap_errors_total */
  readonly name: string;
  /**
   * true: the tap reads columns, so binary frames (of its streams) are decoded to columns
   * once, applied from them, and the tap sees kind 'columns' (ids hashed) instead of 'rows'
   */
  readonly columns?: boolean;
  /** the streams whose batches the tap is handed (by name); all when absent */
  readonly streams?: readonly string[];
  onBatch(batch: AppliedBatch): void;
}

/** What the metrics module observes; an interface so ingest does not import prom-client. */
export interface IngestObserver {
  /** one call per ingest call; `stream` is the stream the request named, if any */
  eventsIngested(stream: string | undefined, accepted: number, late: number): void;
  /** events of a dedup stream dropped as already applied (source: where they came from) */
  duplicatesDropped(stream: string, source: IngestSource, n: number): void;
  tapFailed(tap: string): void;
}

/** The fewest bytes a row of a plan takes: 8 per f64 column, 2 per str16 column (its length). */
function minRowBytes(plan: Int32Array): number {
  let bytes = 0;
  for (let e = 0; e < plan.length; e += 4) if (e === 0 || plan[e] !== plan[e - 4]) bytes += plan[e + 1] === constants.rowTypes.f64 ? 8 : 2;
  return bytes;
}

const NO_OBSERVER: IngestObserver = { eventsIngested() {}, duplicatesDropped() {}, tapFailed() {} };
/** A failing tap is logged on its first failure, then at most once per this many ms. */
const TAP_LOG_EVERY_MS = 10_000;

export class Ingestor {
  readonly #store: FeatureStore;
  readonly #config: Config;
  readonly #log: (line: string) => void;
  #taps: IngestTap[] = [];
  /** streams a tap reads as columns: their binary frames are decoded once into these (grown, then reused) */
  #decode = new Set<string>();
  #keys = new BigUint64Array(0);
  #ts = new Float64Array(0);
  #values = new Float64Array(0);
  #wal: IngestLog | undefined;
  #shared: SharedLog | undefined;
  /** per stream index: the ids applied within its dedup horizon (streams.<name>.dedup) */
  readonly windows: readonly (EventIdWindow | undefined)[];
  #idsFile: EventIdsFile | undefined;
  #keep = new Uint8Array(0);
  readonly #dupSeq = new Float64Array(1);
  readonly #tapLogged = new Map<string, { at: number; failures: number }>();
  observer: IngestObserver = NO_OBSERVER;

  constructor(store: FeatureStore, config: Config, log: (line: string) => void = () => {}) {
    this.#store = store;
    this.#config = config;
    this.#log = log;
    this.windows = config.streams.map((st) => (st.dedup ? new EventIdWindow(st.dedup.horizonMs, st.dedup.maxIds) : undefined));
  }

  /**
   * With a data directory and a dedup stream: the ids of the events the recovered state
   * holds (up to log record lastSeq) are loaded from the log's folder, and from now on the
   * ids of applied events are written there before their log records (event-ids-file.ts).
   */
  attachEventIds(walDir: string, lastSeq: number, wal: { addHooks(h: { beforeWrite?(): void; onLost?(fromSeq: number): void }): void }): void {
    if (!this.windows.some((w) => w)) return;
    const file = new EventIdsFile(walDir, this.#log);
    const n = file.load(this.windows, lastSeq, Date.now());
    if (n > 0) this.#log(`ingest: ${n} event ids of the dedup streams recovered`);
    this.#idsFile = file;
    wal.addHooks({
      beforeWrite: () => file.flush(this.windows),
      onLost: (fromSeq) => {
        for (const w of this.windows) w?.dropFromSeq(fromSeq);
        file.void(fromSeq);
      },
    });
  }

  /** Flushes and closes the event-ids file (at shutdown, after the last record). */
  closeEventIds(): void {
    this.#idsFile?.close();
    this.#idsFile = undefined;
  }

  /**
   * Drops the events of a batch whose ids the window holds (or that repeat an id earlier in
   * the batch) and adds the others to it, with seq 0 until their record exists (stampNewest).
   * keep[j] says which stay; returns how many stay, and the largest log seq of the dropped
   * ones in dupSeq[0] (an answer waits until the first copy is durable).
   */
  #sift(w: EventIdWindow, ids: Uint32Array, n: number, nowMs: number, dupSeq: Float64Array): number {
    if (this.#keep.length < n) this.#keep = new Uint8Array(n * 2);
    w.expire(nowMs);
    let kept = 0;
    for (let j = 0; j < n; j++) {
      const hi = ids[2 * j];
      const lo = ids[2 * j + 1];
      const seq = w.seqOf(hi, lo);
      if (seq >= 0) {
        this.#keep[j] = 0;
        if (seq > dupSeq[0]) dupSeq[0] = seq;
      } else {
        this.#keep[j] = 1;
        w.add(hi, lo, 0, nowMs);
        kept++;
      }
    }
    return kept;
  }

  /** After a batch with ids was applied with record seq: the window's newest ids get it, and the file notes them. */
  #applied(stream: number, w: EventIdWindow, ids: Uint32Array, n: number, seq: number, nowMs: number): void {
    w.stampNewest(n, seq);
    const f = this.#idsFile;
    if (f && seq > 0) for (let j = 0; j < n; j++) f.note(stream, ids[2 * j], ids[2 * j + 1], seq, nowMs);
  }

  /** Adds a tap after the others; returns the function that removes it. */
  addTap(tap: IngestTap): () => void {
    this.#taps = [...this.#taps, tap];
    this.#decode = this.#columnStreams();
    return () => {
      this.#taps = this.#taps.filter((t) => t !== tap);
      this.#decode = this.#columnStreams();
    };
  }

  #columnStreams(): Set<string> {
    const out = new Set<string>();
    // the shared log takes columns: binary frames of every stream are decoded to them once
    if (this.#shared) for (const s of this.#config.streams) out.add(s.name);
    for (const t of this.#taps) if (t.columns) for (const s of t.streams ?? this.#config.streams.map((x) => x.name)) out.add(s);
    return out;
  }

  /** Every batch from now on is logged to `log` (undefined: no more logging). */
  attachLog(log: IngestLog | undefined): void {
    this.#wal = log;
  }

  /** Every batch from a local source is appended to `log` from now on (undefined: no more). */
  attachShared(log: SharedLog | undefined): void {
    this.#shared = log;
    this.#decode = this.#columnStreams();
  }

  /**
   * Throws HP_ERR_WAL_UNAVAILABLE when the log cannot take events now (a full or failing
   * disk), HP_ERR_SHARED_LOG_FULL when the shared log refuses them: callers ask before they
   * parse a body, so a refusal costs next to nothing.
   */
  checkLog(): void {
    if (this.#wal && !this.#wal.writable) this.#wal.ensure(0); // retries at most once a second, else throws
    this.#shared?.check();
  }

  /** cb once the log record seq (an Ingested's seq) is durable, or with the log's error; at once without a log. */
  durable(seq: number, cb: (err: HotpathError | null) => void): void {
    if (seq === 0 || !this.#wal) cb(null);
    else this.#wal.whenDurable(seq, cb);
  }

  /**
   * What an ingest answer waits for: the call's last log record durable, and, with a shared
   * log, its verdict (shared: undefined without one). Both are waited for side by side.
   */
  settle(r: Ingested, cb: (err: HotpathError | null, shared: boolean | undefined) => void): void {
    const ack = r.shared;
    if (!ack) {
      this.durable(r.seq, (err) => cb(err, undefined));
      return;
    }
    let left = 2;
    let error: HotpathError | null = null;
    let shared = false;
    this.durable(r.seq, (err) => {
      error = err;
      if (--left === 0) cb(error, shared);
    });
    ack.wait((ok) => {
      shared = ok;
      if (--left === 0) cb(error, shared);
    });
  }

  /**
   * Event objects: checks every one, then applies each stream's batch with one native
   * call. `stream` names the stream of events that carry none (?stream=).
   */
  events(events: unknown[], source: IngestSource, nowMs = Date.now(), stream?: string): Ingested {
    const batches = decodeEvents(this.#config, events, nowMs, stream);
    const log = this.#wal;
    if (log) {
      let bytes = 0;
      for (const b of batches) bytes += walRecordBytes(b.ts.length, b.keys.length, b.stream.fields.length);
      log.ensure(bytes); // all of the request's records fit, or none is applied
    }
    let accepted = 0;
    let late = 0;
    let seq = 0;
    let shared: SharedAck | undefined;
    let duplicates: number | undefined;
    const dupSeq = this.#dupSeq;
    dupSeq[0] = 0;
    for (const b of batches) {
      const w = b.ids ? this.windows[b.stream.index] : undefined;
      if (w) {
        const n = b.ts.length;
        const kept = this.#sift(w, b.ids!, n, nowMs, dupSeq);
        duplicates = (duplicates ?? 0) + n - kept;
        if (kept < n) {
          this.observer.duplicatesDropped(b.stream.name, source, n - kept);
          const k = keepRows(this.#keep, n, b.keys, b.ts, b.values, b.values.length / n, b.ids);
          b.keys = k.keys;
          b.ts = k.ts;
          b.values = k.values;
          b.ids = k.ids;
          if (kept === 0) continue;
        }
      }
      let r: IngestResult;
      try {
        if (log) {
          const bytes = walRecordBytes(b.ts.length, b.keys.length, b.stream.fields.length);
          r = this.#store.ingest(b.stream.index, b.keys, b.ts, b.values, nowMs, log.slot(bytes));
          seq = log.commit(bytes);
        } else r = this.#store.ingest(b.stream.index, b.keys, b.ts, b.values, nowMs);
      } catch (err) {
        w?.dropNewest(b.ts.length);
        throw err;
      }
      if (w) this.#applied(b.stream.index, w, b.ids!, b.ts.length, seq, nowMs);
      accepted += r.accepted;
      late += r.late;
      if (this.#shared && source !== 'replay' && source !== 'redis') shared = this.#shared.append({ stream: b.stream, keys: b.keys, ts: b.ts, values: b.values, nowMs, seq, ids: b.ids }, shared);
      if (this.#taps.length > 0)
        this.#tap({ kind: 'columns', source, stream: b.stream, nowMs, accepted: r.accepted, late: r.late, keys: b.keys, ts: b.ts, values: b.values });
    }
    this.observer.eventsIngested(stream, accepted, late);
    // a dropped duplicate's answer waits until its first copy is durable
    return { accepted, late, seq: Math.max(seq, dupSeq[0]), shared, duplicates };
  }

  /**
   * A batch from the shared log (src/redis/): columns another replica validated, ids
   * hashed, applied with the arrival time it was first applied with, and logged like any
   * batch. Taps see it with source 'redis'; it is never appended to the shared log again.
   * Throws (applying nothing) when the columns do not fit the stream or the store refuses
   * them, and HP_ERR_WAL_UNAVAILABLE when the log cannot take them.
   */
  apply(stream: StreamDef, keys: BigUint64Array[], ts: Float64Array, values: Float64Array, nowMs: number, ids?: Uint32Array): Ingested {
    let n = ts.length;
    if (keys.length !== stream.tables.length || keys.some((k) => k.length !== n) || values.length !== n * stream.fields.length || (ids && ids.length !== 2 * n))
      throw new HotpathError('HP_ERR_EVENT_INVALID', `a shared-log batch of stream '${stream.name}' does not have the stream's keys and fields`);
    // With a dedup stream, events whose ids were applied here already (the same event posted
    // to two replicas) are dropped; ids are kept for the events posted to others.
    const w = ids ? this.windows[stream.index] : undefined;
    let duplicates: number | undefined;
    if (w) {
      const kept = this.#sift(w, ids!, n, nowMs, this.#dupSeq);
      duplicates = n - kept;
      if (kept < n) {
        this.observer.duplicatesDropped(stream.name, 'redis', n - kept);
        const c = keepRows(this.#keep, n, keys, ts, values, stream.fields.length, ids);
        keys = c.keys;
        ts = c.ts;
        values = c.values;
        ids = c.ids;
        n = kept;
        if (n === 0) return { accepted: 0, late: 0, seq: 0, duplicates };
      }
    }
    const log = this.#wal;
    let seq = 0;
    let r: IngestResult;
    try {
      if (log) {
        const bytes = walRecordBytes(n, keys.length, stream.fields.length);
        log.ensure(bytes);
        r = this.#store.ingest(stream.index, keys, ts, values, nowMs, log.slot(bytes));
        seq = log.commit(bytes);
      } else r = this.#store.ingest(stream.index, keys, ts, values, nowMs);
    } catch (err) {
      w?.dropNewest(n);
      throw err;
    }
    if (w) this.#applied(stream.index, w, ids!, n, seq, nowMs);
    if (this.#taps.length > 0) this.#tap({ kind: 'columns', source: 'redis', stream, nowMs, accepted: r.accepted, late: r.late, keys, ts, values });
    this.observer.eventsIngested(stream.name, r.accepted, r.late);
    return { accepted: r.accepted, late: r.late, seq, duplicates };
  }

  /**
   * A log record, read back at start (src/durability/wal-read.ts): its columns are viewed
   * in place in buf (valid during the call) and applied as they were, then the taps see
   * the batch with source 'replay'. Nothing is logged.
   */
  replay(buf: Buffer, rec: WalRecord): IngestResult {
    const def = this.#config.streams[rec.stream];
    if (!def || def.tables.length !== rec.nkeys || def.fields.length !== rec.nfields)
      throw new HotpathError('HP_ERR_STATE_LAYOUT', `log record ${rec.seq} is for a stream this config does not declare as it was (stream ${rec.stream}); start with --discard-state to begin empty`);
    const n = rec.n;
    const keys: BigUint64Array[] = [];
    for (let k = 0; k < rec.nkeys; k++) keys.push(new BigUint64Array(buf.buffer, buf.byteOffset + rec.keysAt + k * n * 8, n));
    const ts = new Float64Array(buf.buffer, buf.byteOffset + rec.tsAt, n);
    const values = new Float64Array(buf.buffer, buf.byteOffset + rec.valuesAt, n * rec.nfields);
    const r = this.#store.ingest(rec.stream, keys, ts, values, rec.nowMs);
    if (this.#taps.length > 0) this.#tap({ kind: 'columns', source: 'replay', stream: def, nowMs: rec.nowMs, accepted: r.accepted, late: r.late, keys, ts, values });
    return r;
  }

  /**
   * A binary frame's rows, read by the native decoder with no object per event. Returns
   * undefined, having applied nothing, for frames the decoder leaves to the object path
   * (string times, a `stream` column): the caller decodes those and calls events().
   */
  rows(h: RowsFrame, source: IngestSource, nowMs = Date.now()): Ingested | undefined {
    const p = planRows(this.#config, h);
    if (!p) return undefined;
    if (p.stream.dedup)
      throw new HotpathError(
        'HP_ERR_EVENT_INVALID',
        `stream '${p.stream.name}' drops events seen before by their '${p.stream.dedup.field}' (streams.${p.stream.name}.dedup), and binary frames carry no event id: send its events as JSON`,
      );
    if (this.#decode.has(p.stream.name)) return this.#rowsAsColumns(h, p.stream, p.plan, source, nowMs);
    const log = this.#wal;
    let seq = 0;
    let r: IngestResult | ReturnType<FeatureStore['ingestRows']>;
    if (log) {
      const bytes = walRecordBytes(h.count, p.stream.tables.length, p.stream.fields.length);
      r = this.#store.ingestRows(p.stream.index, h.bytes, h.rowsAt, h.count, p.plan, nowMs, log.slot(bytes));
      if ('accepted' in r) seq = log.commit(bytes);
    } else r = this.#store.ingestRows(p.stream.index, h.bytes, h.rowsAt, h.count, p.plan, nowMs);
    if (!('accepted' in r)) throw rowsError(this.#config, h, r);
    if (this.#taps.length > 0)
      this.#tap({ kind: 'rows', source, stream: p.stream, nowMs, accepted: r.accepted, late: r.late, bytes: h.bytes, rowsAt: h.rowsAt, count: h.count, plan: p.plan });
    this.observer.eventsIngested(h.stream, r.accepted, r.late);
    return { accepted: r.accepted, late: r.late, seq };
  }

  /**
   * A binary frame when a tap reads columns: decoded once (natively, as ingestRows would)
   * into reused columns, applied from them, and handed to the taps as columns.
   */
  #rowsAsColumns(h: RowsFrame, stream: StreamDef, plan: Int32Array, source: IngestSource, nowMs: number): Ingested {
    const n = h.count;
    const nKeys = stream.tables.length;
    const nFields = stream.fields.length;
    // Size nothing by n before n rows could fit the frame (ingestRows checks the same).
    if (n * minRowBytes(plan) > h.bytes.length - h.rowsAt) throw rowsError(this.#config, h, { error: 'TRUNCATED', event: 0, column: 0 });
    if (this.#ts.length < n) {
      this.#keys = new BigUint64Array(n * Math.max(1, nKeys) * 2);
      this.#ts = new Float64Array(n * 2);
      this.#values = new Float64Array(n * Math.max(1, nFields) * 2);
    } else if (this.#keys.length < n * nKeys || this.#values.length < n * nFields) {
      this.#keys = new BigUint64Array(n * Math.max(1, nKeys) * 2);
      this.#values = new Float64Array(n * Math.max(1, nFields) * 2);
    }
    const flat = this.#keys.subarray(0, n * nKeys);
    const ts = this.#ts.subarray(0, n);
    const values = this.#values.subarray(0, n * nFields);
    const fault = this.#store.decodeRows(stream.index, h.bytes, h.rowsAt, n, plan, nowMs, flat, ts, values);
    if (fault) throw rowsError(this.#config, h, fault);
    const keys: BigUint64Array[] = [];
    for (let k = 0; k < nKeys; k++) keys.push(flat.subarray(k * n, (k + 1) * n));
    const log = this.#wal;
    let seq = 0;
    let r: IngestResult;
    if (log) {
      const bytes = walRecordBytes(n, nKeys, nFields);
      log.ensure(bytes);
      r = this.#store.ingest(stream.index, keys, ts, values, nowMs, log.slot(bytes));
      seq = log.commit(bytes);
    } else r = this.#store.ingest(stream.index, keys, ts, values, nowMs);
    const shared = this.#shared && source !== 'replay' && source !== 'redis' ? this.#shared.append({ stream, keys, ts, values, nowMs, seq }, undefined) : undefined;
    if (this.#taps.length > 0) this.#tap({ kind: 'columns', source, stream, nowMs, accepted: r.accepted, late: r.late, keys, ts, values });
    this.observer.eventsIngested(h.stream, r.accepted, r.late);
    return { accepted: r.accepted, late: r.late, seq, shared };
  }

  #tap(batch: AppliedBatch): void {
    for (const t of this.#taps) {
      if (t.streams && !t.streams.includes(batch.stream.name)) continue;
      try {
        t.onBatch(batch);
      } catch (err) {
        this.observer.tapFailed(t.name);
        const now = Date.now();
        const seen = this.#tapLogged.get(t.name);
        if (!seen || now - seen.at >= TAP_LOG_EVERY_MS) {
          const more = seen && seen.failures > 0 ? ` (${seen.failures} more failures since the last report)` : '';
          this.#log(`ingest tap '${t.name}' failed: ${(err as Error)?.message ?? err}${more}`);
          this.#tapLogged.set(t.name, { at: now, failures: 0 });
        } else seen.failures++;
      }
    }
  }
}
