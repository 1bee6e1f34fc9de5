// Streaming ML, composed: the online models of the config's learners, the label taps that
// train them, the detector taps, their snapshot part, and what they tell the alert hub.
// app.ts builds one Learning after the store and before the routes; the registry serves
// the online models inline (src/runtime/registry.ts, inference.ts).
import type { Config, ModelDef } from '../config/load.js';
import type { IngestTap } from '../ingest/ingestor.js';
import type { FeatureStore } from '../native/binding.js';
import { AnomalyDetector, AnomalyTable } from '../native/detectors.js';
import { packParts, unpackParts } from '../state-parts.js';
import { OnlineModel } from './online-model.js';
import { type DetectorSink, DetectorTap, LabelTap } from './taps.js';

/** Where streaming ML reports (the alert hub; a no-op without one). */
export interface LearningAlerts {
  watches(source: string): boolean;
  observe(source: string, value: number, entity?: string): void;
  raise(a: { source: string; message: string; value?: number; entity?: string }): void;
}

const NO_ALERTS: LearningAlerts = { watches: () => false, observe() {}, raise() {} };
const MAGIC = 0x4d4c5331; // "MLS1"

export class Learning {
  readonly models = new Map<string, OnlineModel>();
  readonly labelTaps: LabelTap[] = [];
  readonly detectors: DetectorTap[] = [];
  alerts: LearningAlerts = NO_ALERTS;
  readonly #log: (line: string) => void;

  constructor(config: Config, store: FeatureStore, log: (line: string) => void) {
    this.#log = log;
    const byStream = new Map<string, OnlineModel[]>();
    for (const def of config.models) {
      if (!def.learner) continue;
      const m = new OnlineModel(def, store);
      m.events = {
        drift: (model, info) => {
          this.#log(`learner ${model}: drift detected after ${info.labels} labels (window error rate ${info.errorRate.toFixed(3)}); policy ${info.policy}, now version ${info.version}`);
          this.alerts.raise({ source: `drift:${model}`, message: `learner ${model}: drift detected; policy ${info.policy}`, value: info.errorRate });
        },
      };
      this.models.set(def.name, m);
      const l = def.learner.labels;
      if (l) byStream.set(l.stream.name, [...(byStream.get(l.stream.name) ?? []), m]);
    }
    for (const [stream, models] of byStream) this.labelTaps.push(new LabelTap(stream, models));
    const sink: DetectorSink = {
      watches: (source) => this.alerts.watches(source),
      observe: (source, value, entity) => this.alerts.observe(source, value, entity),
      drift: (name) => {
        this.#log(`detector ${name}: drift detected`);
        this.alerts.raise({ source: name, message: `detector ${name}: drift detected`, value: 1 });
      },
    };
    for (const d of config.detectors) this.detectors.push(new DetectorTap(d, sink));
  }

  get empty(): boolean {
    return this.models.size === 0 && this.detectors.length === 0;
  }

  /** The taps to add to the ingestor, labels first (a label learns before a detector reads the same batch). */
  taps(): IngestTap[] {
    return [...this.labelTaps, ...this.detectors];
  }

  /**
   * The anomaly detectors' scores of a predict request, without learning it: each detector
   * whose fields the request carries (and, per entity, whose entity it names). A request is
   * not an event: the detectors learn from the stream only.
   */
  scoreRequest(def: ModelDef, req: { ids: string[]; fields: number[] }): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (const t of this.detectors) {
      const d = t.def;
      if (d.kind === 'adwin' || d.kind === 'page_hinkley') continue;
      const at = d.fieldNames.map((f) => def.fields.indexOf(f));
      if (at.some((i) => i < 0)) continue;
      const x = Float64Array.from(at, (i) => req.fields[i]);
      const one = new Float64Array(1);
      const det = t.detector;
      if (det instanceof AnomalyTable) {
        const key = def.keys.findIndex((k) => k.table === d.stream.tables[d.keyColumn]);
        if (key < 0) continue;
        det.scoreMany([req.ids[key]], x, 1, one);
      } else if (det instanceof AnomalyDetector) det.scoreMany(x, 1, one);
      else continue;
      out[d.name] = Number.isFinite(one[0]) ? one[0] : null;
    }
    return out;
  }

  detector(name: string): DetectorTap | undefined {
    return this.detectors.find((d) => d.def.name === name);
  }

  /** One snapshot part for every learner and detector (src/durability/snapshots.ts). */
  snapshotParticipant(): { name: string; capture(): Uint8Array; restore(part: { bytes?: Uint8Array }): void } {
    return {
      name: 'learning',
      capture: () => {
        const parts: [string, Uint8Array][] = [];
        for (const [name, m] of this.models) parts.push([`model:${name}`, m.serialize()]);
        for (const d of this.detectors) parts.push([`detector:${d.def.name}`, d.detector.serialize()]);
        return packParts(MAGIC, parts);
      },
      restore: ({ bytes }) => {
        for (const [key, b] of unpackParts(MAGIC, bytes ?? new Uint8Array(0), 'streaming-ML')) {
          const [kind, name] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
          if (kind === 'model') {
            const m = this.models.get(name);
            if (m) m.restore(b);
            else this.#log(`snapshot: learner ${name} is no longer in the config; its state is dropped`);
          } else {
            const d = this.detector(name);
            if (d) d.detector.deserialize(b);
            else this.#log(`snapshot: detector ${name} is no longer in the config; its state is dropped`);
          }
        }
      },
    };
  }
}
