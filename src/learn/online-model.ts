// An online learner served as a model. Predicts run inline on the main thread (a dot
// product over the gathered features is far cheaper than a trip through a worker ring),
// through the same predict pipeline, KServe and WebSocket routes as ONNX models. Each
// predict answer carries a prediction id; the features it was made on wait in a ring of
// pending predictions until its label arrives (src/learn/labels.ts joins labelled events to
// it, by prediction id or by entity within the horizon), and the learner learns then.
//
// Progressive validation: the prediction a label joins was made before the learner saw the
// label, so the sliding-window accuracy, log loss and ROC AUC over joined labels are
// honest out-of-sample figures. A drift detector on the error stream can raise an alert and
// reset the learner or promote a background learner trained on the recent window.
//
// State (the learner, its background learners, the pending ring, the counters) is one
// snapshot part (src/durability/snapshots.ts); prediction ids restart above any id given
// before, so a late label never joins a prediction of an earlier run by mistake.
import type { ModelDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { type FeatureStore, Gather } from '../native/binding.js';
import { DriftDetector } from '../native/detectors.js';
import { NativeLearner } from '../native/learner.js';
import type { ParsedPredict } from '../runtime/inference.js';
import { gatherSpec } from '../runtime/registry.js';
import { driftOptions } from './drift-options.js';
import { WindowMetrics } from './window-metrics.js';

/** What happens when a learner's labels arrive (hotpath_learner_labels_total outcomes). */
export const LABEL_OUTCOMES = ['joined', 'unknown', 'expired', 'duplicate', 'invalid'] as const;
export type LabelOutcome = (typeof LABEL_OUTCOMES)[number];

/** Hears about drifts, resets and promotions (the alert hub, logs). */
export interface LearnerEvents {
  drift(model: string, info: { policy: string; version: number; labels: number; errorRate: number }): void;
}

const NO_EVENTS: LearnerEvents = { drift() {} };
const ENCODER = new TextEncoder();
const STATE_MAGIC = 0x4c524e31; // "LRN1"

export class OnlineModel {
  readonly def: ModelDef;
  readonly dim: number;
  /** bumps at every reset or promotion: answers name the learner that made them */
  version = 1;
  learner: NativeLearner;
  readonly metrics: WindowMetrics;
  events: LearnerEvents = NO_EVENTS;
  /** set while log replay feeds labels: drifts found then are not reported */
  quiet = false;
  readonly counts = { predictions: 0, updates: 0, clipped: 0, refused: 0, drifts: 0, resets: 0, promotions: 0 };
  readonly labels: Record<LabelOutcome, number> = { joined: 0, unknown: 0, expired: 0, duplicate: 0, invalid: 0 };

  /** null for a model that only learns rows given to it (hotpath eval): it never predicts */
  readonly #gather: Gather | null;
  readonly #nKeys: number;
  #ids = new Uint8Array(256);
  readonly #refs: Uint32Array;
  readonly #fields: Float32Array;
  readonly #x: Float32Array;
  readonly #dense: Float64Array;
  /** positions of the dense and of the hashed inputs in a row; the hashed indices of a row */
  readonly #densePos: Int32Array;
  readonly #hashPos: Int32Array;
  readonly #hashed: { idx: Uint32Array; val: Float32Array; n: number };
  readonly #indexCache: Map<number, number>[];
  // The pending ring: prediction id, wall time (ms), score, the input row, the entity id.
  readonly #cap: number;
  readonly #pid: Float64Array;
  readonly #ptime: Float64Array;
  readonly #pscore: Float32Array;
  readonly #px: Float32Array;
  readonly #pentity: (string | undefined)[];
  /** join entity: the latest pending prediction per entity id */
  readonly #byEntity = new Map<string, number>();
  /** ids below this were given by an earlier run (restored), and the first id of this run */
  #firstId: number;
  #nextId: number;
  readonly #horizonMs: number;
  // Drift: the detector on the error stream, and two background learners, each restarted
  // every `window` labels half a window apart, so one of them always holds between half a
  // window and a window of the most recent labels.
  #drift: DriftDetector | null;
  readonly #background: NativeLearner[];
  readonly #bgSeen = [0, 0];
  /** ADWIN on the error stream: its window mean after the last label */
  #errorMean = 0;

  constructor(def: ModelDef, store: FeatureStore | null, nowWallMs: number = Date.now()) {
    const l = def.learner!;
    this.def = def;
    this.dim = def.inputs!.length;
    this.learner = OnlineModel.newLearner(def);
    this.metrics = new WindowMetrics(l.metricsWindow);
    this.#nKeys = def.keys.length;
    this.#gather = store && new Gather(store.id, gatherSpec(def, store)!);
    this.#refs = new Uint32Array(this.#nKeys * 2);
    this.#fields = new Float32Array(Math.max(1, def.fields.length));
    this.#x = new Float32Array(this.dim);
    // Rows hold every input in config order; a hashed (categorical) input's slot holds its
    // index in the learner's hashed block (exact in FP32: at most 2^24).
    const hashed = def.inputs!.map((inp, j) => (inp.hash ? j : -1)).filter((j) => j >= 0);
    this.#hashPos = Int32Array.from(hashed);
    this.#densePos = Int32Array.from(def.inputs!.map((_, j) => j).filter((j) => !def.inputs![j].hash));
    this.#hashed = { idx: new Uint32Array(hashed.length), val: new Float32Array(hashed.length).fill(1), n: hashed.length };
    this.#indexCache = hashed.map(() => new Map());
    this.#dense = new Float64Array(this.#densePos.length);
    this.#cap = l.labels?.pending ?? 1024;
    this.#pid = new Float64Array(this.#cap);
    this.#ptime = new Float64Array(this.#cap);
    this.#pscore = new Float32Array(this.#cap);
    this.#px = new Float32Array(this.#cap * this.dim);
    this.#pentity = new Array(this.#cap);
    this.#horizonMs = l.labels?.horizonMs ?? 3_600_000;
    // Ids from the wall clock in µs: above every id an earlier run gave unless it averaged
    // more than a million predictions a second (restore() raises it above the restored ones).
    this.#firstId = this.#nextId = Math.floor(nowWallMs * 1000);
    this.#drift = l.drift ? OnlineModel.newDrift(def) : null;
    this.#eventCols = Int32Array.from(l.labels?.inputFields ?? []);
    this.#eventLog = Uint8Array.from(def.inputs!, (i) => (i.transform === 'log1p' ? 1 : 0));
    this.#background = l.drift?.policy === 'promote' ? [OnlineModel.newLearner(def), OnlineModel.newLearner(def)] : [];
  }

  /** The drift detector on the error stream: Page-Hinkley one-sided (a rise of the error). */
  static newDrift(def: ModelDef): DriftDetector {
    const d = def.learner!.drift!;
    return new DriftDetector(d.detector, d.detector === 'page_hinkley' ? { ...driftOptions(d.params), mode: 'up' } : driftOptions(d.params));
  }

  static newLearner(def: ModelDef): NativeLearner {
    const l = def.learner!;
    return new NativeLearner({
      optimizer: l.algorithm, dim: def.inputs!.filter((x) => !x.hash).length, hashBits: l.hashBits, lr: l.learningRate, interceptLr: l.interceptLr,
      l1: l.l1, l2: l.l2, alpha: l.alpha, beta: l.beta, clip: l.clip, scale: l.scale,
    });
  }

  /** Forgets what was learned (the admin route): a fresh learner, a new version. */
  reset(): void {
    this.learner.reset();
    for (const l of this.#background) l.reset();
    this.#drift?.reset();
    this.metrics.clear();
    this.counts.resets++;
    this.version++;
  }

  /** the entity ids of pending predictions (join entity) */
  pendingEntities(): string[] {
    return [...this.#byEntity.keys()];
  }

  get pending(): number {
    return Math.min(this.#nextId - this.#firstId, this.#cap);
  }

  /**
   * Scores one predict request: gathers its row from the store (as a worker would), asks
   * the learner, and keeps the row as a pending prediction. Returns the score; the id is
   * lastId.
   */
  predict(req: ParsedPredict, nowWall: number, nowMono: number): number {
    this.#gatherRow(req, nowMono);
    // a hashed input: its category value (a request field, FP64) picks the block index
    for (let k = 0; k < this.#hashPos.length; k++) {
      const inp = this.def.inputs![this.#hashPos[k]];
      this.#x[this.#hashPos[k]] = this.#index(k, req.fields[inp.index]);
    }
    const id = this.#nextId++;
    const slot = id % this.#cap;
    const old = this.#pentity[slot];
    if (old !== undefined && this.#byEntity.get(old) === this.#pid[slot]) this.#byEntity.delete(old);
    const p = this.#score(this.#x);
    this.#pid[slot] = id;
    this.#ptime[slot] = nowWall;
    this.#pscore[slot] = p;
    this.#px.set(this.#x, slot * this.dim);
    const lab = this.def.learner!.labels;
    if (lab?.join === 'entity') {
      const e = req.ids[lab.modelKey];
      this.#pentity[slot] = e;
      this.#byEntity.set(e, id);
    } else this.#pentity[slot] = undefined;
    this.counts.predictions++;
    this.lastId = id;
    return p;
  }

  /** the id of the last predict() */
  lastId = 0;

  /** Scores rows of a ready input matrix (KServe infer): nothing is kept for labels. */
  /** a tensor cannot name a category: a learner with hashed inputs takes predict requests only */
  get takesTensors(): boolean {
    return this.#hashPos.length === 0;
  }

  inferRows(x: Float32Array, rows: number): Float32Array {
    if (x.length < rows * this.dim) throw new HotpathError('HP_ERR_TENSOR_INVALID', `the input holds ${x.length} values; ${rows} rows of ${this.dim} need ${rows * this.dim}`);
    const out = new Float32Array(rows);
    this.learner.predictMany(x, rows, out);
    this.counts.predictions += rows;
    return out;
  }

  /** A label for the prediction `id`; `at`: the label's time (epoch ms). */
  labelById(id: number, y: number, at: number): LabelOutcome {
    if (!Number.isSafeInteger(id) || id <= 0) return this.#count('unknown');
    const slot = id % this.#cap;
    if (this.#pid[slot] === -id) return this.#count('duplicate');
    if (this.#pid[slot] !== id) return this.#count(id < this.#nextId && id >= this.#firstId - 1e12 ? 'expired' : 'unknown');
    return this.#join(slot, y, at);
  }

  /** A label for the entity's latest pending prediction. */
  labelByEntity(entity: string, y: number, at: number): LabelOutcome {
    const id = this.#byEntity.get(entity);
    if (id === undefined) return this.#count('unknown');
    const slot = id % this.#cap;
    this.#byEntity.delete(entity);
    if (this.#pid[slot] !== id) return this.#count('expired');
    return this.#join(slot, y, at);
  }

  /**
   * Labelled events that carry the inputs themselves (labels join: event): rows of the
   * batch's values (n x nFields), predicted and then learned in one native call per batch.
   */
  learnEvents(values: Float64Array, nFields: number, n: number): void {
    const l = this.def.learner!.labels!;
    if (this.#by.length < n) {
      this.#by = new Float32Array(n * 2);
      this.#bp = new Float32Array(n * 2);
    }
    if (this.#drift || this.#background.length > 0 || this.#hashPos.length > 0) return this.#learnEventsOneByOne(values, nFields, n);
    // one native call: the columns picked, each row predicted then learned
    const r = this.learner.learnColumns(values, nFields, n, this.#eventCols, this.#eventLog, l.field, this.#bp, this.#by);
    this.labels.invalid += r.skipped;
    this.labels.joined += r.rows;
    this.counts.updates += r.rows - r.refused;
    this.counts.refused += r.refused;
    this.counts.clipped += r.clipped;
    const p = this.#bp;
    const y = this.#by;
    for (let i = 0; i < r.rows; i++) if (p[i] === p[i]) this.metrics.add(p[i], y[i]); // NaN: refused
  }

  /** learnEvents with a drift detector or background learners: they follow each label. */
  #learnEventsOneByOne(values: Float64Array, nFields: number, n: number): void {
    const l = this.def.learner!.labels!;
    const dim = this.dim;
    const x = this.#x;
    for (let i = 0, at = 0; i < n; i++, at += nFields) {
      const y = values[at + l.field];
      if (y !== 0 && y !== 1) {
        this.labels.invalid++;
        continue;
      }
      for (let j = 0; j < dim; j++) {
        const v = values[at + this.#eventCols[j]];
        x[j] = this.#eventLog[j] === 1 ? Math.log1p(v > 0 ? v : 0) : v;
      }
      for (let k = 0; k < this.#hashPos.length; k++) x[this.#hashPos[k]] = this.#index(k, values[at + this.#eventCols[this.#hashPos[k]]]);
      this.labels.joined++;
      let p: number;
      try {
        p = this.#score(x);
      } catch {
        this.counts.refused++;
        continue;
      }
      this.#learn(x, p, y);
    }
  }

  /** join event: each input's stream field, and whether it takes log1p */
  readonly #eventCols: Int32Array;
  readonly #eventLog: Uint8Array;
  #by = new Float32Array(0);
  #bp = new Float32Array(0);

  /** Learns one example directly (eval, tests): progressive validation of x against y. */
  learnRow(x: Float32Array | Float64Array, y: number): number {
    if (!(y === 0 || y === 1)) {
      this.#count('invalid');
      return NaN;
    }
    for (let i = 0; i < this.dim; i++) this.#x[i] = x[i];
    // x holds a hashed input's category value: its block index goes in the row
    for (let k = 0; k < this.#hashPos.length; k++) this.#x[this.#hashPos[k]] = this.#index(k, x[this.#hashPos[k]]);
    let p: number;
    try {
      p = this.#score(this.#x);
    } catch {
      this.counts.refused++; // a NaN or infinite input: nothing to predict, nothing learned
      return NaN;
    }
    this.#learn(this.#x, p, y);
    return p;
  }

  #join(slot: number, y: number, at: number): LabelOutcome {
    if (!(y === 0 || y === 1)) return this.#count('invalid');
    if (Math.abs(at - this.#ptime[slot]) > this.#horizonMs) {
      this.#pid[slot] = -this.#pid[slot];
      return this.#count('expired');
    }
    this.#pid[slot] = -this.#pid[slot]; // labelled: a second label is a duplicate
    const x = this.#px.subarray(slot * this.dim, (slot + 1) * this.dim);
    this.#learn(x, this.#pscore[slot], y);
    return this.#count('joined');
  }

  /** P(y = 1) of one row; throws HP_ERR_NATIVE_INVALID_ARG for an input the learner refuses. */
  #score(x: Float32Array): number {
    return this.#split(x) ? this.learner.predict(this.#dense, this.#hashed) : this.learner.predict(this.#dense);
  }

  /** A row into the learner's dense inputs and hashed indices; true when it has hashed ones. */
  #split(x: Float32Array): boolean {
    const dp = this.#densePos;
    for (let i = 0; i < dp.length; i++) this.#dense[i] = x[dp[i]];
    const hp = this.#hashPos;
    for (let k = 0; k < hp.length; k++) this.#hashed.idx[k] = x[hp[k]];
    return hp.length > 0;
  }

  /** The hashed-block index of hashed input k's category value (cached: categories repeat). */
  #index(k: number, value: number): number {
    const cache = this.#indexCache[k];
    let i = cache.get(value);
    if (i === undefined) {
      i = this.learner.hashIndex(this.def.inputs![this.#hashPos[k]].name, String(value));
      if (cache.size >= 65_536) cache.clear();
      cache.set(value, i);
    }
    return i;
  }

  #learn(x: Float32Array, p: number, y: number): void {
    const h = this.#split(x);
    let clipped: boolean;
    try {
      clipped = (h ? this.learner.learn(this.#dense, y === 1 ? 1 : 0, this.#hashed) : this.learner.learn(this.#dense, y === 1 ? 1 : 0)).clipped;
    } catch {
      // refused natively (a NaN, an infinity, a value past the learner's cap): the state
      // is as it was
      this.counts.refused++;
      return;
    }
    this.counts.updates++;
    if (clipped) this.counts.clipped++;
    this.metrics.add(p, y);
    for (let b = 0; b < this.#background.length; b++) {
      const l = this.#background[b];
      const window = this.def.learner!.drift!.window;
      // learner b restarts every window labels, b half a window after the other
      if ((this.counts.updates + b * (window >> 1)) % window === 0) {
        l.reset();
        this.#bgSeen[b] = 0;
      }
      if (this.#hashPos.length > 0) l.learn(this.#dense, y === 1 ? 1 : 0, this.#hashed);
      else l.learn(this.#dense, y === 1 ? 1 : 0);
      this.#bgSeen[b]++;
    }
    if (this.#drift) {
      // A change of the error rate either way is a drift to the detector; only a rise is
      // one to act on (a learner that gets better is not drifting).
      // Page-Hinkley runs one-sided (mode up). ADWIN cuts either way: its window mean after
      // the cut against the one before it (kept from the label before) says which way.
      const drifted = this.#drift.update((p > 0.5 ? 1 : 0) === y ? 0 : 1);
      if (this.def.learner!.drift!.detector !== 'adwin') {
        if (drifted) this.#onDrift();
      } else {
        const mean = this.#drift.estimation;
        if (drifted && mean > this.#errorMean) this.#onDrift();
        this.#errorMean = mean;
      }
    }
  }

  #onDrift(): void {
    const d = this.def.learner!.drift!;
    this.counts.drifts++;
    const errorRate = 1 - this.metrics.accuracy();
    if (d.policy === 'reset') {
      this.learner.reset();
      this.counts.resets++;
      this.version++;
      this.metrics.clear();
    } else if (d.policy === 'promote') {
      // the background learner that has seen more of the recent labels
      const b = this.#bgSeen[0] >= this.#bgSeen[1] ? 0 : 1;
      this.learner.copyFrom(this.#background[b]);
      this.counts.promotions++;
      this.version++;
      this.metrics.clear();
    }
    if (!this.quiet) this.events.drift(this.def.name, { policy: d.policy, version: this.version, labels: this.counts.updates, errorRate });
  }

  #count(o: LabelOutcome): LabelOutcome {
    this.labels[o]++;
    return o;
  }

  #gatherRow(req: ParsedPredict, nowMono: number): void {
    let bytes = 0;
    for (let k = 0; k < this.#nKeys; k++) bytes += req.idBytes[k];
    if (this.#ids.length < bytes) this.#ids = new Uint8Array(bytes * 2);
    let at = 0;
    for (let k = 0; k < this.#nKeys; k++) {
      const { written } = ENCODER.encodeInto(req.ids[k], this.#ids.subarray(at));
      this.#refs[k * 2] = at;
      this.#refs[k * 2 + 1] = written;
      at += written;
    }
    for (let f = 0; f < req.fields.length; f++) this.#fields[f] = req.fields[f];
    this.#gather!.run(this.#ids, this.#refs, this.#fields, 1, nowMono, this.#x);
  }

  /** The snapshot part: learners, drift detector, pending ring, counters. */
  serialize(): Uint8Array {
    const parts: Uint8Array[] = [this.learner.serialize(), ...this.#background.map((l) => l.serialize()), this.#drift?.serialize() ?? new Uint8Array(0)];
    const head = Buffer.from(JSON.stringify({
      version: this.version, nextId: this.#nextId, counts: this.counts, labels: this.labels, bgSeen: this.#bgSeen,
      cap: this.#cap, dim: this.dim, parts: parts.map((p) => p.length), entities: this.#pentity, window: this.metrics.toJSON(),
    }));
    const ring = [this.#pid, this.#ptime, this.#pscore, this.#px];
    const ringBytes = ring.reduce((n, a) => n + a.byteLength, 0);
    const partBytes = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(8 + head.length + partBytes + ringBytes + 8);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, STATE_MAGIC, true);
    dv.setUint32(4, head.length, true);
    out.set(head, 8);
    let at = 8 + head.length;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    at = (at + 7) & ~7;
    for (const a of ring) {
      out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
      at += a.byteLength;
    }
    return out.subarray(0, at);
  }

  /** Restores serialize()'s bytes; a part that does not fit this config is refused whole. */
  restore(bytes: Uint8Array): void {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 8 || dv.getUint32(0, true) !== STATE_MAGIC) throw new HotpathError('HP_ERR_STATE_CORRUPT', `learner ${this.def.name}: the snapshot part is not a learner state`);
    const headLen = dv.getUint32(4, true);
    const head = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headLen)).toString('utf8')) as {
      version: number; nextId: number; counts: OnlineModel['counts']; labels: OnlineModel['labels']; bgSeen: number[]; cap: number; dim: number; parts: number[]; entities: (string | null)[];
      window?: Parameters<WindowMetrics['restore']>[0];
    };
    if (head.dim !== this.dim) throw new HotpathError('HP_ERR_STATE_LAYOUT', `learner ${this.def.name}: the snapshot's learner takes ${head.dim} inputs, the config ${this.dim}`);
    let at = 8 + headLen;
    const take = (n: number): Uint8Array => bytes.subarray(at, (at += n));
    // Build every part aside first: a failure leaves this model as it was.
    const learner = OnlineModel.newLearner(this.def);
    learner.deserialize(take(head.parts[0]));
    const background = this.#background.map((_, i) => {
      const l = OnlineModel.newLearner(this.def);
      if (head.parts[1 + i]) l.deserialize(take(head.parts[1 + i]));
      return l;
    });
    const driftBytes = take(head.parts[head.parts.length - 1] ?? 0);
    if (this.#drift && driftBytes.length) {
      const d = OnlineModel.newDrift(this.def);
      d.deserialize(driftBytes);
      this.#drift = d;
    }
    this.learner = learner;
    background.forEach((l, i) => (this.#background[i] = l));
    this.version = head.version;
    this.metrics.restore(head.window);
    Object.assign(this.counts, head.counts);
    Object.assign(this.labels, head.labels);
    this.#bgSeen[0] = head.bgSeen[0] ?? 0;
    this.#bgSeen[1] = head.bgSeen[1] ?? 0;
    this.#nextId = Math.max(this.#nextId, head.nextId);
    this.#firstId = Math.min(this.#firstId, head.nextId - Math.min(head.cap, this.#cap));
    // The pending ring carries over when it has the same size (else labels of predictions
    // made before the restart count as expired).
    if (head.cap === this.#cap) {
      at = (at + 7) & ~7;
      const copy = (a: Float64Array | Float32Array): void => {
        const src = bytes.slice(at, at + a.byteLength);
        (a as Float64Array).set(new (a.constructor as Float64ArrayConstructor)(src.buffer));
        at += a.byteLength;
      };
      copy(this.#pid);
      copy(this.#ptime);
      copy(this.#pscore);
      copy(this.#px);
      this.#byEntity.clear();
      head.entities.forEach((e, slot) => {
        this.#pentity[slot] = e ?? undefined;
        if (e != null && this.#pid[slot] > 0) {
          const cur = this.#byEntity.get(e);
          if (cur === undefined || cur < this.#pid[slot]) this.#byEntity.set(e, this.#pid[slot]);
        }
      });
    }
  }
}
