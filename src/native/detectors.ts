// Streaming drift and anomaly detectors: typed wrappers over the addon's DriftDetector,
// AnomalyDetector and AnomalyTable (native/binding/detector_wrap.cc; the algorithms are
// native/core/drift.h and anomaly.h). The addon comes from binding.ts, the one loader.
//
// Arguments are checked here before they cross; a bad one throws HotpathError
// HP_ERR_NATIVE_INVALID_ARG, as the native backstop would. Values must be finite: a NaN or
// infinity anywhere in a batch refuses the whole batch, and nothing is learned.
//
// Buffers: every typed array passed in is read (or, for scores, written) during the call
// only; serialize() returns a new Uint8Array the caller owns. A detector is used by one
// thread at a time.
import { HotpathError } from '../errors.js';
import { callNative as call, constants, detectorAddon as addon } from './binding.js';
import type { Binding } from './binding-types.js';

/** Detector kinds in the order of native/core/constants.h HP_DETECTOR_KIND_LIST (test/native checks it). */
export const DETECTOR_KIND_NAMES = ['adwin', 'page_hinkley', 'hst', 'robust_z', 'ew', 'likelihood'] as const;
export type DetectorKindName = (typeof DETECTOR_KIND_NAMES)[number];
export type DriftKind = 'adwin' | 'page_hinkley';
export type AnomalyKind = 'hst' | 'robust_z' | 'ew' | 'likelihood';
/** Kinds a keyed AnomalyTable holds (Half-Space Trees are per stream). */
export type TableKind = 'robust_z' | 'ew';

/** The detectors' limits, from native/core/constants.h. */
export const detectorLimits = constants.detectors.limits;

/** ADWIN, River's defaults: delta 0.002, clock 32, maxBuckets 5, minWindowLength 5, gracePeriod 10. */
export interface AdwinOptions {
  delta?: number;
  clock?: number;
  maxBuckets?: number;
  minWindowLength?: number;
  gracePeriod?: number;
}
/** Page-Hinkley, River's defaults: minInstances 30, delta 0.005, threshold 50, alpha 1 - 1e-4, mode both. */
export interface PageHinkleyOptions {
  minInstances?: number;
  delta?: number;
  threshold?: number;
  alpha?: number;
  mode?: 'both' | 'up' | 'down';
}
/** Half-Space Trees, River's defaults: nTrees 10, height 8, windowSize 250, limits [0, 1] per feature. */
export interface HstOptions {
  nTrees?: number;
  height?: number;
  windowSize?: number;
  /** features per point (default 1) */
  dims?: number;
  /** [lo, hi] per feature (default [0, 1] each) */
  limits?: ReadonlyArray<readonly [number, number]>;
  /** the trees' random seed (default 42) */
  seed?: number;
}
/** Robust z-score over a sliding window: window 256, minCount 32 (score 0 until then). */
export interface RobustZOptions {
  window?: number;
  minCount?: number;
}
/**
 * Exponentially weighted z-score: alpha is the newest value's weight, or give halfLife (in
 * values: alpha = 1 - 2^(-1/halfLife)); default halfLife 100. Score 0 until warmup values (30).
 */
export interface EwOptions {
  alpha?: number;
  halfLife?: number;
  warmup?: number;
}
/**
 * EW z-score, then Numenta's anomaly likelihood over it, then the spatial (new range) rule:
 * the best on NAB (docs/nab.md; the algorithm in native/core/likelihood.h). Score in
 * [0, 1]; ≈0.03 during the first learning + estimation points. Defaults are the NAB ones.
 */
export interface LikelihoodOptions {
  /** EW weight floor (default 0.001: the plain mean and variance for the first 1000 points) */
  alpha?: number;
  /** raw score 1 - 2Q(z / zScale) (default 3) */
  zScale?: number;
  /** points before the raw score is not 0 (default 10) */
  minHistory?: number;
  /** raw scores averaged (default 10) */
  averaging?: number;
  /** averages kept for the fit (default 8640; allocated up front) */
  history?: number;
  /** first points left out of the fit (default 288) */
  learning?: number;
  /** points after those before the first fit (default 100) */
  estimation?: number;
  /** refit every this many points (default 100) */
  reestimation?: number;
  /** the spatial rule's margin, a fraction of the range seen (default 0.05) */
  tolerance?: number;
}
export type DetectorOptions = AdwinOptions | PageHinkleyOptions | HstOptions | RobustZOptions | EwOptions | LikelihoodOptions;

export type DriftStats = Binding.DriftStats;
export type AnomalyTableStats = Binding.AnomalyTableStats;

const MAX_BATCH = 1 << 24;

function invalid(message: string): HotpathError {
  return new HotpathError('HP_ERR_NATIVE_INVALID_ARG', message);
}

function kindCode(kind: string, allowed: readonly string[], what: string): number {
  if (!allowed.includes(kind)) throw invalid(`${what} kind must be one of ${allowed.join(', ')} (got ${String(kind)})`);
  return constants.detectors.kinds[kind];
}

/** Checks opts has only known keys; returns a reader of its numbers with range checks. */
function reader(opts: object, known: readonly string[], what: string) {
  if (opts === null || typeof opts !== 'object') throw invalid(`${what} params must be an object`);
  for (const k of Object.keys(opts)) if (!known.includes(k)) throw invalid(`${what} has no param '${k}' (known: ${known.join(', ')})`);
  const o = opts as Record<string, unknown>;
  return (key: string, dflt: number, lo: number, hi: number, integer: boolean, open = false): number => {
    const v = o[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v > hi || (open ? v <= lo : v < lo))
      throw invalid(`${what} ${key} must be ${integer ? 'an integer' : 'a number'} in ${open ? '(' : '['}${lo}, ${hi}] (got ${String(v)})`);
    return v;
  };
}

function adwinParams(opts: AdwinOptions): Binding.AdwinParams {
  const num = reader(opts, ['delta', 'clock', 'maxBuckets', 'minWindowLength', 'gracePeriod'], 'adwin');
  return {
    delta: num('delta', 0.002, 0, 1, false, true),
    clock: num('clock', 32, 1, 2 ** 24, true),
    maxBuckets: num('maxBuckets', 5, 2, 64, true),
    minWindowLength: num('minWindowLength', 5, 1, 2 ** 24, true),
    gracePeriod: num('gracePeriod', 10, 0, 2 ** 30, true),
  };
}

const PH_MODES = ['both', 'up', 'down'] as const;

function pageHinkleyParams(opts: PageHinkleyOptions): Binding.PageHinkleyParams {
  const num = reader(opts, ['minInstances', 'delta', 'threshold', 'alpha', 'mode'], 'page_hinkley');
  const mode = PH_MODES.indexOf(opts.mode ?? 'both');
  if (mode < 0) throw invalid(`page_hinkley mode must be both, up or down (got ${String(opts.mode)})`);
  return {
    minInstances: num('minInstances', 30, 1, 2 ** 30, true),
    delta: num('delta', 0.005, 0, Number.MAX_VALUE, false),
    threshold: num('threshold', 50, 0, Number.MAX_VALUE, false, true),
    alpha: num('alpha', 1 - 0.0001, 0, 1, false, true),
    mode,
  };
}

function hstParams(opts: HstOptions): Binding.HstParams {
  const num = reader(opts, ['nTrees', 'height', 'windowSize', 'dims', 'limits', 'seed'], 'hst');
  const lim = detectorLimits;
  const dims = num('dims', opts.limits?.length ?? 1, 1, lim.maxDims, true);
  const lo = new Float64Array(dims).fill(0);
  const hi = new Float64Array(dims).fill(1);
  if (opts.limits !== undefined) {
    if (!Array.isArray(opts.limits) || opts.limits.length !== dims) throw invalid(`hst limits must give [lo, hi] for each of the ${dims} features`);
    opts.limits.forEach((l: unknown, i) => {
      if (!Array.isArray(l) || l.length !== 2 || !Number.isFinite(l[0]) || !Number.isFinite(l[1]) || !(l[0] < l[1]))
        throw invalid(`hst limits[${i}] must be [lo, hi] with finite lo < hi`);
      lo[i] = l[0] as number;
      hi[i] = l[1] as number;
    });
  }
  const nTrees = num('nTrees', 10, 1, lim.maxHstTrees, true);
  const height = num('height', 8, 1, lim.maxHstHeight, true);
  if (nTrees * (2 ** (height + 1) - 1) > 2 ** 22) throw invalid('hst nTrees x 2^(height + 1) must be at most 2^22 nodes');
  return {
    nTrees,
    height,
    windowSize: num('windowSize', 250, 1, lim.maxWindow, true),
    dims,
    lo,
    hi,
    seed: num('seed', 42, 0, Number.MAX_SAFE_INTEGER, true),
  };
}

function robustZParams(opts: RobustZOptions): Binding.RobustZParams {
  const num = reader(opts, ['window', 'minCount'], 'robust_z');
  const window = num('window', 256, 1, detectorLimits.maxWindow, true);
  return { window, minCount: num('minCount', Math.min(32, window), 1, window, true) };
}

function ewParams(opts: EwOptions): Binding.EwParams {
  const num = reader(opts, ['alpha', 'halfLife', 'warmup'], 'ew');
  if (opts.alpha !== undefined && opts.halfLife !== undefined) throw invalid('ew takes alpha or halfLife, not both');
  const alpha = opts.alpha !== undefined ? num('alpha', 0, 0, 1, false, true) : 1 - 2 ** (-1 / num('halfLife', 100, 0, 2 ** 40, false, true));
  return { alpha, warmup: num('warmup', 30, 1, 2 ** 30, true) };
}

function likelihoodParams(opts: LikelihoodOptions): Binding.LikelihoodParams {
  const known = ['alpha', 'zScale', 'minHistory', 'averaging', 'history', 'learning', 'estimation', 'reestimation', 'tolerance'];
  const num = reader(opts, known, 'likelihood');
  const big = 2 ** 30;
  return {
    alpha: num('alpha', 0.001, 0, 1, false, true),
    zScale: num('zScale', 3, 0, Number.MAX_VALUE, false, true),
    minHistory: num('minHistory', 10, 0, big, true),
    averaging: num('averaging', 10, 1, detectorLimits.maxWindow, true),
    history: num('history', 8640, 1, detectorLimits.maxWindow, true),
    learning: num('learning', 288, 0, big, true),
    estimation: num('estimation', 100, 0, big, true),
    reestimation: num('reestimation', 100, 1, big, true),
    tolerance: num('tolerance', 0.05, 0, Number.MAX_VALUE, false),
  };
}

type AnomalyParams = Binding.HstParams | Binding.RobustZParams | Binding.EwParams | Binding.LikelihoodParams;

function anomalyParams(kind: AnomalyKind, opts: DetectorOptions): AnomalyParams {
  if (kind === 'hst') return hstParams(opts as HstOptions);
  if (kind === 'robust_z') return robustZParams(opts as RobustZOptions);
  if (kind === 'ew') return ewParams(opts as EwOptions);
  return likelihoodParams(opts as LikelihoodOptions);
}

function checkCount(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_BATCH) throw invalid(`${what}: n must be an integer in [0, 2^24] (got ${String(n)})`);
}

function checkF64(a: unknown, min: number, what: string): asserts a is Float64Array {
  if (!(a instanceof Float64Array)) throw invalid(`${what} must be a Float64Array`);
  if (a.length < min) throw invalid(`${what} has ${a.length} values, fewer than the ${min} needed`);
}

function checkBytes(bytes: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw invalid('deserialize takes the Uint8Array serialize() returned');
}

function checkValue(x: unknown): asserts x is number {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw invalid(`a value must be a finite number (got ${String(x)})`);
}

// ---------------------------------------------------------------------------------------

/**
 * A concept-drift detector over one stream of numbers: ADWIN (adaptive window; after a
 * drift the window keeps only the recent items) or Page-Hinkley (two-sided by default;
 * starts afresh after a drift). River's semantics and defaults.
 */
export class DriftDetector {
  readonly kind: DriftKind;
  readonly #native: Binding.NativeDriftDetector;

  constructor(kind: DriftKind, params: AdwinOptions | PageHinkleyOptions = {}) {
    const code = kindCode(kind, ['adwin', 'page_hinkley'], 'DriftDetector');
    const p = kind === 'adwin' ? adwinParams(params as AdwinOptions) : pageHinkleyParams(params as PageHinkleyOptions);
    this.kind = kind;
    this.#native = call(() => new addon.DriftDetector(code, p));
  }

  /** Learns x; true when a drift is detected at x. */
  update(x: number): boolean {
    checkValue(x);
    return this.#native.update(x);
  }

  /** Learns xs[0, n) in order; the index of the first drift among them, or -1. */
  updateMany(xs: Float64Array, n: number = xs.length): number {
    checkCount(n, 'updateMany');
    checkF64(xs, n, 'updateMany xs');
    return call(() => this.#native.updateMany(xs, n));
  }

  /** Back to a new detector's state (same params). */
  reset(): void {
    this.#native.reset();
  }

  /** detections so far; width/estimation: ADWIN's window length and mean (Page-Hinkley: items since its reset and their mean). */
  stats(): DriftStats {
    return this.#native.stats();
  }

  get width(): number {
    return this.#native.stats().width;
  }

  get estimation(): number {
    return this.#native.stats().estimation;
  }

  serialize(): Uint8Array {
    return this.#native.serialize();
  }

  /** Replaces params and state with a serialized detector's of the same kind; a damaged blob is refused and changes nothing. */
  deserialize(bytes: Uint8Array): void {
    checkBytes(bytes);
    call(() => this.#native.deserialize(bytes));
  }
}

/**
 * An anomaly detector over one stream: Half-Space Trees (d features per point, score in
 * [0, 1]), a robust z-score over a sliding window, an exponentially weighted z-score, or
 * `likelihood` (EW z + anomaly likelihood + spatial rule, score in [0, 1]).
 * Each point is scored before it is learned. Higher is more anomalous.
 */
export class AnomalyDetector {
  readonly kind: AnomalyKind;
  readonly #native: Binding.NativeAnomalyDetector;
  readonly #one = new Float64Array(1);
  #dims: number;

  constructor(kind: AnomalyKind, params: HstOptions | RobustZOptions | EwOptions | LikelihoodOptions = {}) {
    const code = kindCode(kind, ['hst', 'robust_z', 'ew', 'likelihood'], 'AnomalyDetector');
    const p = anomalyParams(kind, params);
    this.kind = kind;
    this.#native = call(() => new addon.AnomalyDetector(code, p));
    this.#dims = this.#native.dims;
  }

  /** Features per point (1 unless Half-Space Trees were given more). */
  get dims(): number {
    return this.#dims;
  }

  /** Points learned so far. */
  get seen(): number {
    return this.#native.seen;
  }

  /** The score of x (a number, or dims values), then learns x. */
  scoreLearn(x: number | Float64Array): number {
    return this.#scoreOne(x, true);
  }

  /** The score of x without learning it. */
  score(x: number | Float64Array): number {
    return this.#scoreOne(x, false);
  }

  /** out[i] = the score of point i of xs (n x dims, row-major), each scored and then learned in order. Returns out. */
  scoreLearnMany(xs: Float64Array, n: number, out: Float64Array): Float64Array {
    this.#checkMany(xs, n, out);
    call(() => this.#native.scoreLearnMany(xs, n, out));
    return out;
  }

  scoreMany(xs: Float64Array, n: number, out: Float64Array): Float64Array {
    this.#checkMany(xs, n, out);
    call(() => this.#native.scoreMany(xs, n, out));
    return out;
  }

  serialize(): Uint8Array {
    return this.#native.serialize();
  }

  /** Replaces params and state with a serialized detector's of the same kind; a damaged blob is refused and changes nothing. */
  deserialize(bytes: Uint8Array): void {
    checkBytes(bytes);
    call(() => this.#native.deserialize(bytes));
    this.#dims = this.#native.dims;
  }

  #scoreOne(x: number | Float64Array, learn: boolean): number {
    if (typeof x === 'number') {
      checkValue(x);
      if (this.#dims !== 1) throw invalid(`this detector takes ${this.#dims} features per point: pass a Float64Array`);
      return call(() => (learn ? this.#native.scoreLearn(x) : this.#native.score(x)));
    }
    if (!(x instanceof Float64Array) || x.length !== this.#dims) throw invalid(`a point is a number or a Float64Array of ${this.#dims} values`);
    call(() => (learn ? this.#native.scoreLearnMany(x, 1, this.#one) : this.#native.scoreMany(x, 1, this.#one)));
    return this.#one[0];
  }

  #checkMany(xs: Float64Array, n: number, out: Float64Array): void {
    checkCount(n, 'scoreLearnMany');
    checkF64(xs, n * this.#dims, 'scoreLearnMany xs');
    checkF64(out, n, 'scoreLearnMany out');
  }
}

/**
 * Robust z or EW detector states per entity, for up to maxEntities entities, allocated
 * when the table is made (about 16 x window bytes per entity for robust_z, 24 for ew).
 * Entities are 64-bit id hashes, as the store keys them (hashIds; log replay hands taps
 * hashed ids), or string ids hashed natively the same way. When the table is full, a new
 * entity's points are refused: their score is NaN and stats().refused counts them.
 */
export class AnomalyTable {
  readonly kind: TableKind;
  readonly #native: Binding.NativeAnomalyTable;

  constructor(kind: TableKind, params: RobustZOptions | EwOptions, maxEntities: number) {
    const code = kindCode(kind, ['robust_z', 'ew'], 'AnomalyTable');
    const p = kind === 'robust_z' ? robustZParams(params as RobustZOptions) : ewParams(params as EwOptions);
    if (!Number.isInteger(maxEntities) || maxEntities < 1 || maxEntities > detectorLimits.maxEntities)
      throw invalid(`maxEntities must be an integer in [1, ${detectorLimits.maxEntities}] (got ${String(maxEntities)})`);
    this.kind = kind;
    this.#native = call(() => new addon.AnomalyTable(code, p, maxEntities));
  }

  /**
   * out[i] = the score of x[i] for entity keys[i] (hashed ids), which then learns x[i];
   * returns how many points were refused because the table is full (scored NaN).
   */
  scoreLearnMany(keys: BigUint64Array, x: Float64Array, n: number, out: Float64Array): number {
    this.#check(keys instanceof BigUint64Array, keys, x, n, out);
    return call(() => this.#native.scoreLearnMany(keys, x, n, out));
  }

  /** scoreLearnMany keyed by string ids (hashed natively as the store hashes them). */
  scoreLearnManyIds(ids: string[], x: Float64Array, n: number, out: Float64Array): number {
    this.#check(Array.isArray(ids), ids, x, n, out);
    return call(() => this.#native.scoreLearnMany(ids, x, n, out));
  }

  /** Scores without learning; an entity with no state scores 0. */
  scoreMany(keys: BigUint64Array | string[], x: Float64Array, n: number, out: Float64Array): Float64Array {
    this.#check(keys instanceof BigUint64Array || Array.isArray(keys), keys, x, n, out);
    call(() => this.#native.scoreMany(keys, x, n, out));
    return out;
  }

  stats(): AnomalyTableStats {
    return this.#native.stats();
  }

  get maxEntities(): number {
    return this.#native.stats().capacity;
  }

  /** Forgets every entity. */
  clear(): void {
    this.#native.clear();
  }

  serialize(): Uint8Array {
    return this.#native.serialize();
  }

  /** Replaces params, capacity and states with a serialized table's of the same kind; a damaged blob is refused and changes nothing. */
  deserialize(bytes: Uint8Array): void {
    checkBytes(bytes);
    call(() => this.#native.deserialize(bytes));
  }

  #check(keysOk: boolean, keys: { length: number }, x: Float64Array, n: number, out: Float64Array): void {
    if (!keysOk) throw invalid('keys must be a BigUint64Array of id hashes (or, for scoreLearnManyIds, an array of string ids)');
    checkCount(n, 'scoreLearnMany');
    if (keys.length !== n) throw invalid(`keys has ${keys.length} entries, not n = ${n}`);
    checkF64(x, n, 'scoreLearnMany x');
    checkF64(out, n, 'scoreLearnMany out');
  }
}
