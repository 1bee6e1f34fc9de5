// The one way events enter the store. Every source calls it: HTTP (JSON and NDJSON), the
// WebSocket (JSON frames and binary rows), the demo generator, and later WAL replay and
// Redis Streams. Each call validates (nothing is applied unless every event is good),
// applies each stream's batch to the store in one native call, counts, and then hands
// the applied batch to the registered taps, in the order they were added.
//
// Taps are how the write-ahead log, online learners, anomaly detectors and Redis
// write-through will see events. A tap runs on the ingest thread, synchronously, after
// the store has applied the batch and before the caller is answered: it must not block
// (copy what it needs and return; do slow work elsewhere). A tap that throws is counted
// and logged and never fails the ingest or keeps later taps from running.
import type { Config, StreamDef } from '../config/load.js';
import type { FeatureStore, IngestResult } from '../native/binding.js';
import { decodeEvents } from './decode.js';
import { planRows, type RowsFrame, rowsError } from './rows.js';

/** Where a batch came from (a label for taps and metrics). */
export type IngestSource = 'http' | 'ws' | 'demo' | 'replay';

/**
 * A batch the store has applied, as taps see it. Its arrays and bytes are views that live
 * only while the tap runs (the binary form points into a WebSocket message that uWS
 * reclaims when the handler returns): a tap that keeps anything copies it.
 * - `columns`: the columnar batch the store applied (ids per key column, times, values
 *   row-major by the stream's fields), from JSON events.
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
  | { kind: 'columns'; keys: string[][]; ts: Float64Array; values: Float64Array }
  | { kind: 'rows'; bytes: Uint8Array; rowsAt: number; count: number; plan: Int32Array }
);

export interface IngestTap {
  /** names the tap in logs and in hotpath_ingest_tap_errors_total */
  readonly name: string;
  onBatch(batch: AppliedBatch): void;
}

/** What the metrics module observes; an interface so ingest does not import prom-client. */
export interface IngestObserver {
  /** one call per ingest call; `stream` is the stream the request named, if any */
  eventsIngested(stream: string | undefined, accepted: number, late: number): void;
  tapFailed(tap: string): void;
}

const NO_OBSERVER: IngestObserver = { eventsIngested() {}, tapFailed() {} };
/** A failing tap is logged on its first failure, then at most once per this many ms. */
const TAP_LOG_EVERY_MS = 10_000;

export class Ingestor {
  readonly #store: FeatureStore;
  readonly #config: Config;
  readonly #log: (line: string) => void;
  #taps: IngestTap[] = [];
  readonly #tapLogged = new Map<string, { at: number; failures: number }>();
  observer: IngestObserver = NO_OBSERVER;

  constructor(store: FeatureStore, config: Config, log: (line: string) => void = () => {}) {
    this.#store = store;
    this.#config = config;
    this.#log = log;
  }

  /** Adds a tap after the others; returns the function that removes it. */
  addTap(tap: IngestTap): () => void {
    this.#taps = [...this.#taps, tap];
    return () => {
      this.#taps = this.#taps.filter((t) => t !== tap);
    };
  }

  /**
   * Event objects: checks every one, then applies each stream's batch with one native
   * call. `stream` names the stream of events that carry none (?stream=).
   */
  events(events: unknown[], source: IngestSource, nowMs = Date.now(), stream?: string): IngestResult {
    const batches = decodeEvents(this.#config, events, nowMs, stream);
    let accepted = 0;
    let late = 0;
    for (const b of batches) {
      const r = this.#store.ingest(b.stream.index, b.keys, b.ts, b.values, nowMs);
      accepted += r.accepted;
      late += r.late;
      if (this.#taps.length > 0)
        this.#tap({ kind: 'columns', source, stream: b.stream, nowMs, accepted: r.accepted, late: r.late, keys: b.keys, ts: b.ts, values: b.values });
    }
    this.observer.eventsIngested(stream, accepted, late);
    return { accepted, late };
  }

  /**
   * A binary frame's rows, read by the native decoder with no object per event. Returns
   * undefined, having applied nothing, for frames the decoder leaves to the object path
   * (string times, a `stream` column): the caller decodes those and calls events().
   */
  rows(h: RowsFrame, source: IngestSource, nowMs = Date.now()): IngestResult | undefined {
    const p = planRows(this.#config, h);
    if (!p) return undefined;
    const r = this.#store.ingestRows(p.stream.index, h.bytes, h.rowsAt, h.count, p.plan, nowMs);
    if (!('accepted' in r)) throw rowsError(this.#config, h, r);
    if (this.#taps.length > 0)
      this.#tap({ kind: 'rows', source, stream: p.stream, nowMs, accepted: r.accepted, late: r.late, bytes: h.bytes, rowsAt: h.rowsAt, count: h.count, plan: p.plan });
    this.observer.eventsIngested(h.stream, r.accepted, r.late);
    return r;
  }

  #tap(batch: AppliedBatch): void {
    for (const t of this.#taps) {
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
