// NativeLearner: online binary logistic regression in the native core (native/core/learner.h:
// River's StandardScaler | LogisticRegression semantics, SGD or FTRL-Proximal, an optional
// hashed block for sparse and categorical inputs). The addon comes from binding.ts, the one
// loader.
//
// Checks here are on types and shapes (a wrong type is a caller's bug: it throws and is not
// counted). Values are checked natively, where the example is read anyway: a NaN, an
// infinity, |x| > constants.learner.maxValue, a hashed index out of range or a label other
// than 0/1 is refused (HP_ERR_NATIVE_INVALID_ARG), counted in stats().refused, and leaves
// the learner as it was.
//
// Buffers: typed arrays passed in are read (and `out` written) during the call only.
// One thread at a time (like NativeModel): learn and predict use the learner's scratch.
import { HotpathError } from '../errors.js';
import { callNative as call, constants, LearnerAddon, type Binding, type LearnerOptimizerName } from './binding.js';

export interface LearnerOptions {
  /** dense inputs (scaled when `scale`) */
  dim: number;
  /** a hashed block of 2^hashBits weights for sparse/categorical inputs (0: none) */
  hashBits?: number;
  optimizer?: LearnerOptimizerName;
  /** standard-scale the dense inputs (River's StandardScaler). Default true */
  scale?: boolean;
  /** SGD learning rate. Default 0.01 (River's) */
  lr?: number;
  /** SGD: River's penalties (one of the two); FTRL: its own. FTRL defaults: l1 0, l2 1 */
  l1?: number;
  l2?: number;
  /** FTRL. Defaults 0.05 and 1 (River's FTRLProximal) */
  alpha?: number;
  beta?: number;
  /** the intercept's own constant learning rate. Default 0.01 (River's) */
  interceptLr?: number;
  /** each gradient value is clamped to +-clip. Default 1e12 (River's) */
  clip?: number;
}

export type LearnerSpec = Readonly<Required<LearnerOptions>>;

/** Hashed inputs: n (default idx.length) pairs of a block index (hashIndex) and a value. */
export interface HashedInputs {
  idx: Uint32Array;
  val: Float32Array;
  n?: number;
}

/** A label: 1 / true is the positive class. */
export type Label = 0 | 1 | boolean;

export interface LearnResult {
  /** log loss of the example before the update */
  loss: number;
  clipped: boolean;
}

export interface LearnManyResult {
  lossSum: number;
  clipped: number;
  refused: number;
}

export interface LearnerStats {
  updates: number;
  clipped: number;
  refused: number;
}

const L = constants.learner;

function invalid(message: string): HotpathError {
  return new HotpathError('HP_ERR_NATIVE_INVALID_ARG', message);
}

/** The options with every default filled in; throws on a wrong type or range. */
export function learnerSpec(o: LearnerOptions): LearnerSpec {
  const optimizer = o.optimizer ?? 'sgd';
  if (typeof optimizer !== 'string' || !Object.hasOwn(L.optimizers, optimizer)) throw invalid(`learner: optimizer must be one of ${Object.keys(L.optimizers).join(', ')}`);
  const ftrl = optimizer === 'ftrl';
  const spec: LearnerSpec = {
    dim: o.dim,
    hashBits: o.hashBits ?? 0,
    optimizer,
    scale: o.scale ?? true,
    lr: o.lr ?? 0.01,
    l1: o.l1 ?? 0,
    l2: o.l2 ?? (ftrl ? 1 : 0),
    alpha: o.alpha ?? 0.05,
    beta: o.beta ?? 1,
    interceptLr: o.interceptLr ?? 0.01,
    clip: o.clip ?? 1e12,
  };
  if (!Number.isInteger(spec.dim) || spec.dim < 0 || spec.dim > L.maxDim) throw invalid(`learner: dim must be a whole number in [0, ${L.maxDim}]`);
  if (!Number.isInteger(spec.hashBits) || spec.hashBits < 0 || spec.hashBits > L.maxHashBits)
    throw invalid(`learner: hashBits must be a whole number in [0, ${L.maxHashBits}]`);
  if (spec.dim === 0 && spec.hashBits === 0) throw invalid('learner: no inputs (dim 0 and no hashed block)');
  if (typeof spec.scale !== 'boolean') throw invalid('learner: scale must be a boolean');
  for (const k of ['lr', 'l1', 'l2', 'alpha', 'beta', 'interceptLr', 'clip'] as const) {
    const v = spec[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalid(`learner: ${k} must be a finite number >= 0`);
  }
  return Object.freeze(spec);
}

export class NativeLearner {
  readonly #native: Binding.Learner;
  readonly spec: LearnerSpec;
  readonly #out = new Float64Array(3);
  readonly #dense: Float64Array; // a number[] row is copied here

  constructor(options: LearnerOptions) {
    const spec = learnerSpec(options);
    this.spec = spec;
    this.#dense = new Float64Array(spec.dim);
    this.#native = call(() => new LearnerAddon({ ...spec, optimizer: L.optimizers[spec.optimizer] }));
  }

  /** P(y = 1) for one example. Throws HP_ERR_NATIVE_INVALID_ARG when an input is refused. */
  predict(dense: Float64Array | readonly number[], hashed?: HashedInputs): number {
    const d = this.#denseArg(dense);
    const p = hashed ? this.#native.predict(d, hashed.idx, hashed.val, this.#hashedCount(hashed)) : this.#native.predict(d);
    if (Number.isNaN(p)) throw invalid(`predict: an input is not a finite number within ${L.maxValue}, or a hashed index is out of range`);
    return p;
  }

  /** out[r] = P(y = 1) of row r of x (rows x dim, dense inputs only); NaN for a row with a refused value. */
  predictMany(x: Float32Array, rows: number, out: Float32Array): void {
    this.#rowsArg(x, rows);
    if (!(out instanceof Float32Array) || out.length < rows) throw invalid('predictMany: out must be a Float32Array of at least rows values');
    call(() => this.#native.predictMany(x, rows, out));
  }

  /** Learns one example (predicting it first is the caller's: see src/learn/progressive.ts). */
  learn(dense: Float64Array | readonly number[], y: Label, hashed?: HashedInputs): LearnResult {
    const d = this.#denseArg(dense);
    const label = typeof y === 'boolean' ? (y ? 1 : 0) : y;
    if (typeof label !== 'number') throw invalid('learn: y must be 0, 1, false or true');
    const out = this.#out;
    if (hashed) call(() => this.#native.learn(d, label, hashed.idx, hashed.val, this.#hashedCount(hashed), out));
    else call(() => this.#native.learn(d, label, null, null, 0, out));
    return { loss: out[0], clipped: out[1] === 1 };
  }

  /**
   * Learns rows of dense-only examples in order (x: rows x dim, y: 0/1 per row); a row with a
   * refused value or label is skipped and counted. For replays, the benchmark and evaluations.
   * p (optional) gets each row's prediction before it was learned (NaN when refused).
   */
  learnMany(x: Float32Array, y: Float32Array | Float64Array, rows: number, p?: Float32Array): LearnManyResult {
    this.#rowsArg(x, rows);
    if (!(y instanceof Float32Array || y instanceof Float64Array) || y.length < rows)
      throw invalid('learnMany: y must be a Float32Array or Float64Array of at least rows labels');
    if (p !== undefined && (!(p instanceof Float32Array) || p.length < rows)) throw invalid('learnMany: p must be a Float32Array of at least rows values');
    const out = this.#out;
    call(() => (p ? this.#native.learnMany(x, y, rows, out, p) : this.#native.learnMany(x, y, rows, out)));
    return { lossSum: out[0], clipped: out[1], refused: out[2] };
  }

  /**
   * Labelled events that carry the inputs, straight from an ingest batch (values: n rows of
   * nFields): input j is column cols[j] (log1p(max(v, 0)) where log1p[j] is 1), the label
   * column labelField. Rows whose label is not 0 or 1 are skipped (counted in `skipped`);
   * the others are learned in order, their predictions before learning in p and their
   * labels in y, compacted: p[0, rows) and y[0, rows).
   */
  learnColumns(
    values: Float64Array, nFields: number, n: number, cols: Int32Array, log1p: Uint8Array, labelField: number, p: Float32Array, y: Float32Array,
  ): LearnManyResult & { rows: number; skipped: number } {
    const out = this.#cols;
    const rows = call(() => this.#native.learnColumns(values, nFields, n, cols, log1p, labelField, out, p, y));
    return { rows, lossSum: out[0], clipped: out[1], refused: out[2], skipped: out[3] };
  }

  readonly #cols = new Float64Array(4);

  /** The hashed-block index of a categorical `field=value`, or of a numeric `field` (no value). */
  hashIndex(field: string, value?: string | number | boolean): number {
    if (typeof field !== 'string') throw invalid('hashIndex: field must be a string');
    if (this.spec.hashBits === 0) throw invalid('hashIndex: this learner has no hashed block (hashBits 0)');
    return value === undefined ? this.#native.hashIndex(field) : this.#native.hashIndex(field, String(value));
  }

  /**
   * Hashed inputs of a record: a string or boolean is categorical (`field=value`, value 1),
   * a number is numeric (`field`, its value). Written into `into` when it has room.
   */
  hashed(features: Record<string, string | number | boolean>, into?: HashedInputs): HashedInputs {
    const keys = Object.keys(features);
    const h = into && into.idx.length >= keys.length && into.val.length >= keys.length
      ? into
      : { idx: new Uint32Array(keys.length), val: new Float32Array(keys.length) };
    keys.forEach((k, j) => {
      const v = features[k];
      h.idx[j] = typeof v === 'number' ? this.hashIndex(k) : this.hashIndex(k, v);
      h.val[j] = typeof v === 'number' ? v : 1;
    });
    h.n = keys.length;
    return h;
  }

  /** Back to the state a new learner of this spec has. */
  reset(): void {
    this.#native.reset();
  }

  /** Takes other's whole state (same spec only): promotes a learner trained in the background. */
  copyFrom(other: NativeLearner): void {
    if (!(other instanceof NativeLearner)) throw invalid('copyFrom: other must be a NativeLearner');
    call(() => this.#native.copyFrom(other.#native));
  }

  /** The state (magic, version, spec, weights, CRC-32C) as a new buffer the caller owns. */
  serialize(): Uint8Array {
    return this.#native.serialize();
  }

  /** Restores serialize()'s bytes; a damaged blob or another spec's is refused and nothing changes. */
  deserialize(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw invalid('deserialize: bytes must be a Uint8Array');
    call(() => this.#native.deserialize(bytes));
  }

  /** Weights over the raw dense inputs with the scaler folded in (dense-only learners): for ONNX. */
  exportLinear(): { w: Float32Array; b: number } {
    return call(() => this.#native.exportLinear());
  }

  stats(): LearnerStats {
    return this.#native.stats();
  }

  #denseArg(dense: Float64Array | readonly number[]): Float64Array | null {
    const dim = this.spec.dim;
    if (dense instanceof Float64Array) {
      if (dense.length !== dim) throw invalid(`learner: dense has ${dense.length} values, expected ${dim}`);
      return dense;
    }
    if (!Array.isArray(dense) || dense.length !== dim) throw invalid(`learner: dense must be a Float64Array or number[] of ${dim} values`);
    const d = this.#dense;
    for (let i = 0; i < dim; i++) {
      const v: unknown = dense[i];
      if (typeof v !== 'number') throw invalid(`learner: dense[${i}] is not a number`);
      d[i] = v;
    }
    return d;
  }

  #hashedCount(h: HashedInputs): number {
    if (!(h.idx instanceof Uint32Array) || !(h.val instanceof Float32Array)) throw invalid('learner: hashed inputs must be { idx: Uint32Array, val: Float32Array }');
    const n = h.n ?? h.idx.length;
    if (!Number.isInteger(n) || n < 0 || n > h.idx.length || n > h.val.length) throw invalid('learner: hashed n out of range');
    if (n > 0 && this.spec.hashBits === 0) throw invalid('learner: hashed inputs, but this learner has no hashed block (hashBits 0)');
    return n;
  }

  #rowsArg(x: Float32Array, rows: number): void {
    if (!Number.isInteger(rows) || rows < 0 || rows > 1 << 24) throw invalid('learner: rows must be a whole number in [0, 2^24]');
    if (!(x instanceof Float32Array) || x.length < rows * this.spec.dim) throw invalid(`learner: x must be a Float32Array of at least rows x ${this.spec.dim} values`);
  }
}
