// The config's experiments, composed: one Experiment per entry, the ingest taps that feed
// their metrics, their snapshot part, and where their decisions go (the log and the alert
// hub). app.ts builds one Experiments after the ingestor; the routes
// (src/server/routes/experiments.ts) assign units and serve through the variants' targets.
import type { Config } from '../config/load.js';
import { HotpathError, showValue } from '../errors.js';
import type { AppliedBatch, IngestTap } from '../ingest/ingestor.js';
import { hashIds } from '../native/binding.js';
import { words } from './assignment.js';
import { type Decision, Experiment } from './experiment.js';

/** Where decisions are raised (the alert hub; a no-op without one). */
export interface ExperimentAlerts {
  raise(a: { source: string; message: string; value?: number; entity?: string; severity?: 'info' | 'warning' | 'critical' }): void;
}

const NO_ALERTS: ExperimentAlerts = { raise() {} };
const MAGIC = 0x58505331; // "XPS1"

/** The metric events of one stream, for every experiment that reads it. */
export class MetricTap implements IngestTap {
  readonly name: string;
  readonly columns = true;
  readonly streams: readonly string[];
  readonly #experiments: Experiment[];
  readonly #now: () => number;
  #values = new Float64Array(0);

  constructor(stream: string, experiments: Experiment[], now: () => number) {
    this.name = `experiments:${stream}`;
    this.streams = [stream];
    this.#experiments = experiments;
    this.#now = now;
  }

  onBatch(b: AppliedBatch): void {
    if (b.kind !== 'columns') throw new Error(`an experiment metric tap was handed ${b.kind}; it reads columns`);
    const n = b.ts.length;
    const nFields = b.stream.fields.length;
    if (this.#values.length < n) this.#values = new Float64Array(n * 2);
    const hashed = new Map<number, Uint32Array>();
    for (const x of this.#experiments) {
      const m = x.def.metric!;
      let units = hashed.get(m.keyColumn);
      if (!units) {
        const col = b.keys[m.keyColumn];
        // JSON events carry the ids (hashed here as the store hashes them); replayed
        // records and binary frames carry the hashes already
        units = words(Array.isArray(col) ? hashIds(col) : col);
        hashed.set(m.keyColumn, units);
      }
      const values = this.#values;
      for (let i = 0; i < n; i++) values[i] = m.field < 0 ? NaN : b.values[i * nFields + m.field];
      x.observe(units, values, n);
      // replayed events rebuild the statistics; the decisions wait for live traffic
      if (b.source !== 'replay') x.evaluate(this.#now());
    }
  }
}

export class Experiments {
  readonly byName = new Map<string, Experiment>();
  readonly taps: MetricTap[] = [];
  alerts: ExperimentAlerts = NO_ALERTS;
  readonly #log: (line: string) => void;
  readonly #now: () => number;

  constructor(config: Config, log: (line: string) => void, now: () => number = Date.now) {
    this.#log = log;
    this.#now = now;
    const byStream = new Map<string, Experiment[]>();
    for (const def of config.experiments) {
      const x = new Experiment(def, now());
      x.onDecision = (e, d) => this.#decided(e, d);
      this.byName.set(def.name, x);
      if (def.metric) byStream.set(def.metric.stream.name, [...(byStream.get(def.metric.stream.name) ?? []), x]);
    }
    for (const [stream, xs] of byStream) this.taps.push(new MetricTap(stream, xs, now));
  }

  get empty(): boolean {
    return this.byName.size === 0;
  }

  now(): number {
    return this.#now();
  }

  /** The experiment, or HP_ERR_EXPERIMENT_UNKNOWN. */
  get(name: string): Experiment {
    const x = this.byName.get(name);
    if (!x) throw new HotpathError('HP_ERR_EXPERIMENT_UNKNOWN', `unknown experiment ${showValue(name)}; experiments: ${[...this.byName.keys()].join(', ') || 'none'}`);
    return x;
  }

  #decided(x: Experiment, d: Decision): void {
    const what = `experiment ${x.def.name}: ${d.kind}${d.variant ? ` ${d.variant}` : ''}${d.share !== undefined ? ` to share ${d.share}` : ''} (${d.by}): ${d.reason}`;
    this.#log(what);
    const severity = d.kind === 'rollback' || d.kind === 'srm' ? 'warning' : 'info';
    this.alerts.raise({ source: `experiment:${x.def.name}`, entity: d.variant, message: what, severity, value: d.share });
  }

  /** One snapshot part for every experiment: a JSON state and each one's unit sets. */
  snapshotParticipant(): { name: string; capture(): Uint8Array; restore(part: { bytes?: Uint8Array }): void } {
    return {
      name: 'experiments',
      capture: () => {
        const states: Record<string, unknown>[] = [];
        const sets: Uint32Array[] = [];
        for (const x of this.byName.values()) {
          states.push({ name: x.def.name, state: x.state(), sets: x.converted ? 2 : 1 });
          sets.push(x.exposed.bits);
          if (x.converted) sets.push(x.converted.bits);
        }
        const json = Buffer.from(JSON.stringify(states));
        const setBytes = sets.reduce((s, b) => s + 4 + b.byteLength, 0);
        const out = Buffer.alloc(8 + json.length + setBytes);
        out.writeUInt32LE(MAGIC, 0);
        out.writeUInt32LE(json.length, 4);
        json.copy(out, 8);
        let at = 8 + json.length;
        for (const b of sets) {
          out.writeUInt32LE(b.length, at);
          Buffer.from(b.buffer, b.byteOffset, b.byteLength).copy(out, at + 4);
          at += 4 + b.byteLength;
        }
        return out;
      },
      restore: ({ bytes }) => {
        const b = Buffer.from(bytes?.buffer ?? new ArrayBuffer(0), bytes?.byteOffset ?? 0, bytes?.byteLength ?? 0);
        if (b.length < 8 || b.readUInt32LE(0) !== MAGIC) throw new Error('not an experiments state');
        const jsonLen = b.readUInt32LE(4);
        if (8 + jsonLen > b.length) throw new Error('the experiments state is cut short');
        const states = JSON.parse(b.toString('utf8', 8, 8 + jsonLen)) as { name: string; state: Record<string, unknown>; sets: number }[];
        let at = 8 + jsonLen;
        const readSet = (): Uint32Array => {
          if (at + 4 > b.length) throw new Error('the experiments state is cut short');
          const words = b.readUInt32LE(at);
          if (at + 4 + words * 4 > b.length) throw new Error('the experiments state is cut short');
          const out = new Uint32Array(words);
          Buffer.from(out.buffer).set(b.subarray(at + 4, at + 4 + words * 4));
          at += 4 + words * 4;
          return out;
        };
        for (const s of states) {
          const exposed = readSet();
          const converted = s.sets > 1 ? readSet() : null;
          const x = this.byName.get(s.name);
          if (!x) {
            this.#log(`snapshot: experiment ${s.name} is no longer in the config; its state is dropped`);
            continue;
          }
          try {
            if (!x.restore(s.state, exposed, converted))
              this.#log(`snapshot: experiment ${s.name}: its metric, control or test changed; exposures kept, statistics start afresh`);
          } catch (err) {
            this.#log(`snapshot: ${(err as Error).message}; it starts afresh`);
          }
        }
      },
    };
  }
}
