// Adaptive batching: a model's queue delay (its batch window) chosen at run time to hold the
// model's server-side p99 at or under a target while the batches are as large as that allows.
// One controller per model, on the main thread; the workers read the delay it chose from a
// shared word (records.ts QUEUE_DELAY_US) each time they ask the model's batcher.
//
// How it decides. It keeps a histogram of request times (submit to answer, what
// hotpath_model_request_duration_seconds measures) in fixed buckets of 1/50 of the target,
// and once per window (WINDOW_MS and MIN_SAMPLES requests, whichever comes later) reads the
// window's p99 and mean batch (rows per execution, from the workers' counters):
//   - p99 over the target: cut the delay at once, by the overshoot and by at least 30 %;
//   - p99 under SETPOINT of the target: grow it, by half the headroom, at most by half of
//     itself (or GROW_MIN_US from nothing): gently, since a window adds to every request;
//   - in between: hold.
// Growing stops while it no longer pays: when batches are full (mean ≥ FULL of max_batch);
// when even the longest window the target leaves room for would not make batches WORTH
// larger (the window's arrival rate times that room, against the mean batch: at 20
// requests a second, a window of 2 ms holds 1.04 requests, latency for nothing); and when two grows in a row
// raised the mean batch by under STALL_GAIN all the same (the batches are cut by something
// else, the worker's own pace), after which it tries again after HOLD_WINDOWS windows. A
// grow to a window shorter than the mean gap between arrivals is not held against it:
// requests that arrive evenly (a client sending at a steady rate) batch only once the window
// spans that gap, so the first grows below it raise nothing and the ones after them do.
// The cut is multiplicative and the growth bounded: AIMD's shape, which settles under a
// latency bound instead of oscillating across it.
//
// Per request: one bucket increment and a comparison with the window's end; no allocation.
// No clock of its own: the caller passes `now`, so a test drives it on a fake clock.

/** What the controller reads and writes outside itself (the registry gives it the pool's). */
export interface DelaySink {
  /** cumulative rows and executions of the model's loaded versions, summed over workers */
  batches(out: { rows: number; executions: number }): void;
  /** the delay chosen (µs): written where the workers read it */
  publish(delayUs: number): void;
}

export interface AdaptiveDef {
  targetP99Us: number;
  minDelayUs: number;
  maxDelayUs: number;
}

export const WINDOW_MS = 250;
export const MIN_SAMPLES = 200;
/** p99 under this share of the target: room to grow */
export const SETPOINT = 0.9;
/** a cut takes at least this share of the delay away */
const CUT = 0.3;
const GROW_MIN_US = 50;
const FULL = 0.95;
const STALL_GAIN = 0.02;
const WORTH = 0.1;
const HOLD_WINDOWS = 20;
/** histogram resolution: buckets per target; the last bucket holds everything over 4 x target */
const PER_TARGET = 50;
const BUCKETS = PER_TARGET * 4 + 1;

/** What the last step saw and did (tests, the log). */
export interface StepInfo {
  p99Us: number;
  meanBatch: number;
  samples: number;
  action: 'grow' | 'cut' | 'hold';
}

export class QueueDelayController {
  readonly def: AdaptiveDef;
  readonly #sink: DelaySink;
  readonly #maxBatch: number;
  readonly #scale: number;
  readonly #hist = new Uint32Array(BUCKETS);
  #n = 0;
  /** the first window ends with its MIN_SAMPLES-th request */
  #windowEnd = -Infinity;
  /** when the window began (NaN: the first, whose start is not known) */
  #windowStart = NaN;
  #delayUs: number;
  readonly #counts = { rows: 0, executions: 0 };
  #lastRows = 0;
  #lastExecutions = 0;
  /** the mean batch before the last grow (NaN: the last step did not grow), and the delay it grew to */
  #batchBeforeGrow = NaN;
  #grownToUs = 0;
  #stalls = 0;
  #holdLeft = 0;
  readonly last: StepInfo = { p99Us: 0, meanBatch: NaN, samples: 0, action: 'hold' };
  /** windows decided so far */
  steps = 0;

  constructor(def: AdaptiveDef, maxBatch: number, sink: DelaySink) {
    this.def = def;
    this.#sink = sink;
    this.#maxBatch = maxBatch;
    this.#scale = PER_TARGET / def.targetP99Us;
    this.#delayUs = def.minDelayUs;
  }

  /** The delay (µs) the workers are told to use now. */
  get delayUs(): number {
    return this.#delayUs;
  }

  /** One answered request of the model: its server-side time (µs), answered at `now` (epoch ms). */
  observe(now: number, totalUs: number): void {
    const i = totalUs * this.#scale;
    this.#hist[i < BUCKETS - 1 ? i | 0 : BUCKETS - 1]++;
    if (++this.#n >= MIN_SAMPLES && now >= this.#windowEnd) this.#step(now);
  }

  /** The window's p99 (µs): the upper edge of the bucket that holds it. */
  #p99(): number {
    const h = this.#hist;
    let above = Math.floor(this.#n * 0.01);
    for (let i = BUCKETS - 1; i > 0; i--) {
      if (h[i] > above) return (i + 1) / this.#scale;
      above -= h[i];
    }
    return 1 / this.#scale;
  }

  #step(now: number): void {
    const { targetP99Us: target, minDelayUs: min, maxDelayUs: max } = this.def;
    const p99 = this.#p99();
    this.#sink.batches(this.#counts);
    const dRows = this.#counts.rows - this.#lastRows;
    const dExec = this.#counts.executions - this.#lastExecutions;
    this.#lastRows = this.#counts.rows;
    this.#lastExecutions = this.#counts.executions;
    // A version swapped in restarts its slot's counters: no mean batch for that window.
    const meanBatch = dExec > 0 && dRows > 0 ? dRows / dExec : NaN;
    const rowsPerUs = dRows / ((now - this.#windowStart) * 1000);
    const d = this.#delayUs;
    let next = d;
    let action: StepInfo['action'] = 'hold';

    // Did the last grow pay? (NaN compares false: an unknown batch neither stalls nor clears.)
    // (A window under the mean gap between arrivals, rowsPerUs x window < 1, is not judged.)
    if (!Number.isNaN(this.#batchBeforeGrow) && !Number.isNaN(meanBatch) && this.#grownToUs * rowsPerUs >= 1) {
      if (meanBatch < this.#batchBeforeGrow * (1 + STALL_GAIN)) this.#stalls++;
      else this.#stalls = 0;
      if (this.#stalls >= 2) {
        this.#stalls = 0;
        this.#holdLeft = HOLD_WINDOWS;
      }
    }
    this.#batchBeforeGrow = NaN;

    if (p99 > target) {
      next = Math.max(min, Math.min(d * (1 - CUT), d - (p99 - target)));
      action = next < d ? 'cut' : 'hold';
      this.#holdLeft = 0; // the load changed: growth may pay again once there is room
      this.#stalls = 0;
    } else if (this.#holdLeft > 0) {
      this.#holdLeft--;
    } else if (p99 < target * SETPOINT && !(meanBatch >= this.#maxBatch * FULL)) {
      next = Math.min(max, d + Math.min((target * SETPOINT - p99) / 2, Math.max(GROW_MIN_US, d / 2)));
      // Unknown rate or batch (NaN): the comparison is false, and it grows.
      if (rowsPerUs * (target * SETPOINT - p99) < WORTH * meanBatch) next = d;
      if (next > d) {
        action = 'grow';
        this.#batchBeforeGrow = meanBatch;
        this.#grownToUs = next;
      }
    }
    this.#delayUs = Math.round(next);
    // Every window, changed or not: a version loaded since gets it too.
    this.#sink.publish(this.#delayUs);
    this.last.p99Us = p99;
    this.last.meanBatch = meanBatch;
    this.last.samples = this.#n;
    this.last.action = action;
    this.steps++;
    this.#hist.fill(0);
    this.#n = 0;
    this.#windowStart = now;
    this.#windowEnd = now + WINDOW_MS;
  }
}
