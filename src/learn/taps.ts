// The ingest taps of streaming ML: labels for the online learners, and the stream detectors
// (drift and anomaly). Both run on the ingest thread after the store applied a batch, with
// the batch's columns (JSON events, log replay) or its binary rows decoded into columns by
// the native row decoder (Columns.of). Per-event work is one native call per batch for the
// detectors; a label is one join and one native update.
import type { DetectorDef } from '../config/load.js';
import type { AppliedBatch, IngestTap } from '../ingest/ingestor.js';
import { hashIds } from '../native/binding.js';
import { AnomalyDetector, AnomalyTable, DriftDetector, type EwOptions, type HstOptions, type LikelihoodOptions, type RobustZOptions } from '../native/detectors.js';
import { defined, driftOptions } from './drift-options.js';
import type { OnlineModel } from './online-model.js';

/** A batch as columns: what the taps read. */
export interface BatchColumns {
  keys: (string[] | BigUint64Array)[];
  ts: Float64Array;
  values: Float64Array;
  n: number;
  nFields: number;
}

/**
 * The batch's columns. These taps declare `columns`, so the Ingestor decodes binary frames
 * into columns once and never hands them rows.
 */
export function columnsOf(b: AppliedBatch): BatchColumns {
  if (b.kind !== 'columns') throw new Error(`a streaming-ML tap was handed ${b.kind}; it reads columns`);
  return { keys: b.keys, ts: b.ts, values: b.values, n: b.ts.length, nFields: b.stream.fields.length };
}

/** Labels for the learners that read them from one stream. */
export class LabelTap implements IngestTap {
  readonly name: string;
  readonly columns = true;
  readonly streams: readonly string[];
  readonly #models: OnlineModel[];
  /** join entity, log replay: the hashes of pending entities, made once per replay */
  #hashes: Map<OnlineModel, Map<bigint, string>> | null = null;

  constructor(stream: string, models: OnlineModel[]) {
    this.name = `labels:${stream}`;
    this.streams = [stream];
    this.#models = models;
  }

  onBatch(b: AppliedBatch): void {
    const c = columnsOf(b);
    for (const m of this.#models) {
      // Replayed labels learn again, but a drift they find is old news: no alert.
      m.quiet = b.source === 'replay';
      const l = m.def.learner!.labels!;
      if (l.join === 'event') {
        m.learnEvents(c.values, c.nFields, c.n);
        continue;
      }
      for (let i = 0; i < c.n; i++) {
        const y = c.values[i * c.nFields + l.field];
        const at = c.ts[i];
        if (l.join === 'prediction_id') {
          m.labelById(c.values[i * c.nFields + l.idField], y, at);
          continue;
        }
        const col = c.keys[l.keyColumn];
        if (Array.isArray(col)) m.labelByEntity(col[i], y, at);
        else {
          // Replayed records carry hashed ids: find the pending entity with that hash.
          const e = this.#entityOfHash(m, col[i]);
          if (e === undefined) m.labelById(-1, y, at);
          else m.labelByEntity(e, y, at);
        }
      }
    }
    if (b.source !== 'replay') this.#hashes = null;
  }

  #entityOfHash(m: OnlineModel, h: bigint): string | undefined {
    this.#hashes ??= new Map();
    let byHash = this.#hashes.get(m);
    if (!byHash) {
      const ids = m.pendingEntities();
      const hashes = ids.length ? hashIds(ids) : new BigUint64Array(0);
      byHash = new Map();
      for (let i = 0; i < ids.length; i++) byHash.set(hashes[i], ids[i]);
      this.#hashes.set(m, byHash);
    }
    return byHash.get(h);
  }
}

type AnyDetector = DriftDetector | AnomalyDetector | AnomalyTable;

/** What a detector tap reports: every score (anomaly) or drift, to the alert hub. */
export interface DetectorSink {
  /** false: no rule reads the source, and the tap skips observe() for the batch */
  watches(source: string): boolean;
  observe(source: string, value: number, entity?: string): void;
  drift(detector: string, at: number): void;
}

const QUIET: DetectorSink = { watches: () => false, observe() {}, drift() {} };

/** One configured detector on its stream's events. */
export class DetectorTap implements IngestTap {
  readonly name: string;
  readonly columns = true;
  readonly streams: readonly string[];
  readonly def: DetectorDef;
  readonly detector: AnyDetector;
  readonly #sink: DetectorSink;
  readonly counts = { events: 0, drifts: 0, refused: 0 };
  /** the last batch's scores, for an ingest answer that asks for them (?scores) */
  lastScores: Float64Array = new Float64Array(0);
  lastCount = 0;
  #x = new Float64Array(0);
  #scores = new Float64Array(0);
  #keys = new BigUint64Array(0);

  constructor(def: DetectorDef, sink: DetectorSink) {
    this.name = `detector:${def.name}`;
    this.streams = [def.stream.name];
    this.def = def;
    this.#sink = sink;
    this.detector = makeDetector(def);
  }

  onBatch(b: AppliedBatch): void {
    const c = columnsOf(b);
    const d = this.def;
    const dims = d.fields.length;
    if (this.#x.length < c.n * dims) {
      this.#x = new Float64Array(c.n * dims * 2);
      this.#scores = new Float64Array(c.n * 2);
    }
    for (let i = 0; i < c.n; i++) for (let j = 0; j < dims; j++) this.#x[i * dims + j] = c.values[i * c.nFields + d.fields[j]];
    this.counts.events += c.n;
    const x = this.#x.subarray(0, c.n * dims);
    const scores = this.#scores.subarray(0, c.n);
    const det = this.detector;
    // Replayed events rebuild the detector's state; they were reported when they came.
    const sink = b.source === 'replay' ? QUIET : this.#sink;
    if (det instanceof DriftDetector) {
      // one native call for the batch: the first drift is marked and reported, every
      // drift counted
      scores.fill(0);
      const before = det.stats().detections;
      const k = det.updateMany(x, c.n);
      if (k >= 0) {
        scores[k] = 1;
        this.counts.drifts += det.stats().detections - before;
        sink.drift(d.name, c.ts[k]);
      }
    } else if (det instanceof AnomalyTable) {
      const col = c.keys[d.keyColumn];
      // JSON events carry string ids (hashed natively as the store hashes them); replayed
      // records and binary frames carry the hashes (their alerts name no entity)
      this.counts.refused += Array.isArray(col) ? det.scoreLearnManyIds(col, x, c.n, scores) : det.scoreLearnMany(col, x, c.n, scores);
      if (sink.watches(d.name)) for (let i = 0; i < c.n; i++) sink.observe(d.name, scores[i], Array.isArray(col) ? col[i] : undefined);
    } else {
      det.scoreLearnMany(x, c.n, scores);
      if (sink.watches(d.name)) for (let i = 0; i < c.n; i++) sink.observe(d.name, scores[i]);
    }
    this.lastScores = scores;
    this.lastCount = c.n;
  }

}

/** The native detector of a config's detector (the config's names mapped to the engine's). */
export function makeDetector(d: DetectorDef): AnyDetector {
  if (d.kind === 'adwin' || d.kind === 'page_hinkley') return new DriftDetector(d.kind, driftOptions(d.drift));
  const a = d.anomaly;
  const p =
    d.kind === 'hst'
      ? defined({ nTrees: a.trees, height: a.height, windowSize: a.window, dims: d.fields.length, limits: a.limits, seed: a.seed })
      : d.kind === 'robust_z'
        ? defined({ window: a.window, minCount: a.minCount })
        : defined({ halfLife: a.halfLife, warmup: a.minCount });
  return d.keyColumn >= 0 ? new AnomalyTable(d.kind as 'robust_z' | 'ew', p as RobustZOptions | EwOptions, d.maxEntities) : new AnomalyDetector(d.kind, p as HstOptions | RobustZOptions | EwOptions | LikelihoodOptions);
}
