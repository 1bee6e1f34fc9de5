// Additive Holt-Winters with a damped trend (Hyndman & Athanasopoulos, "Forecasting:
// Principles and Practice", 3rd ed., 8.3 and 8.4), on a clock-aligned season: observation
// `step` lands in seasonal slot `step mod period`, so a season is a time of day (or week)
// whatever the process's start time, and a restart keeps the phase.
//
// With `log`, the model runs on log1p(y): a seasonal swing proportional to the level (the
// usual shape of request rates) becomes additive, zeros stay finite (log1p(0) = 0), and a
// change in the share of traffic a replica gets (the autoscaler added replicas) is a level
// shift that alpha absorbs, with the seasonal pattern unchanged.
//
// Until a whole season has been seen the model is Holt's linear method (level and damped
// trend, no season); at the first step of the second season the season is initialised from
// the first one (each slot's deviation from that season's mean, missing slots filled from
// their nearest neighbours) and the level set to that mean.
//
// Missing steps (a gap in the observations, a non-finite or negative value) advance the
// state without an update: the level follows its trend, the season is untouched.

export interface HoltWintersOptions {
  /** steps per season (1440 one-minute steps in a day) */
  period: number;
  /** level smoothing, 0..1 */
  alpha: number;
  /** trend smoothing, 0..1 (0: no trend is learned) */
  beta: number;
  /** seasonal smoothing, 0..1 */
  gamma: number;
  /** trend damping, (0, 1]; 1: undamped */
  phi: number;
  /** model log1p(y) instead of y */
  log: boolean;
  /**
   * Half-width, in steps, of the window over which the seasonal term is averaged where it
   * is used (0: each step's own slot). A day of one-minute slots sees each slot once a
   * day, so a slot's estimate carries that day's noise; the average over neighbouring
   * slots keeps the daily shape and drops most of it.
   */
  smooth?: number;
}

export class HoltWinters {
  readonly period: number;
  readonly #alpha: number;
  readonly #beta: number;
  readonly #gamma: number;
  readonly #phi: number;
  readonly #log: boolean;
  readonly #smooth: number;
  #level = 0;
  #trend = 0;
  readonly #season: Float64Array;
  /** the first season's values (transformed), NaN where a step was missing */
  #first: Float64Array | null;
  /** the step of the first observation, -1 before it */
  #start = -1;
  /** the last step the state has reached (observed or skipped), -1 before the first */
  #last = -1;
  #observed = 0;
  #seasonal = false;

  constructor(opts: HoltWintersOptions) {
    const { period, alpha, beta, gamma, phi } = opts;
    if (!(Number.isInteger(period) && period >= 2)) throw new RangeError(`period must be an integer >= 2, got ${period}`);
    for (const [k, v] of Object.entries({ alpha, beta, gamma }))
      if (!(v >= 0 && v <= 1)) throw new RangeError(`${k} must be in [0, 1], got ${v}`);
    if (!(phi > 0 && phi <= 1)) throw new RangeError(`phi must be in (0, 1], got ${phi}`);
    this.period = period;
    this.#alpha = alpha;
    this.#beta = beta;
    this.#gamma = gamma;
    this.#phi = phi;
    this.#log = opts.log;
    const smooth = opts.smooth ?? 0;
    if (!(Number.isInteger(smooth) && smooth >= 0 && 2 * smooth < period)) throw new RangeError(`smooth must be an integer in [0, period / 2), got ${smooth}`);
    this.#smooth = smooth;
    this.#season = new Float64Array(period);
    this.#first = new Float64Array(period).fill(NaN);
  }

  /** true once a whole season has been seen: forecasts carry the seasonal pattern */
  get seasonal(): boolean {
    return this.#seasonal;
  }

  /** observations taken (missing ones not counted) */
  get observed(): number {
    return this.#observed;
  }

  /** the last step reached, -1 before the first observation */
  get lastStep(): number {
    return this.#last;
  }

  /**
   * The value `y` (>= 0) for step `step` (an integer: time / interval). A step at or before
   * the last one is ignored; steps skipped since the last one are missing. A non-finite or
   * negative `y` marks this step missing.
   */
  observe(step: number, y: number): void {
    if (!Number.isSafeInteger(step)) throw new RangeError(`step must be an integer, got ${step}`);
    if (this.#last >= 0 && step <= this.#last) return;
    const valid = Number.isFinite(y) && y >= 0;
    if (this.#start < 0) {
      if (!valid) return; // nothing to start from
      this.#start = step;
      this.#last = step;
      this.#level = this.#x(y);
      this.#trend = 0;
      this.#record(step, this.#level);
      this.#observed = 1;
      return;
    }
    this.#skip(step - this.#last - 1);
    this.#maybeSeason(step);
    this.#last = step;
    if (!valid) {
      this.#advance();
      return;
    }
    const x = this.#x(y);
    this.#observed++;
    const phi = this.#phi;
    const prevLevel = this.#level;
    const predicted = prevLevel + phi * this.#trend;
    if (!this.#seasonal) {
      this.#record(step, x);
      this.#level = this.#alpha * x + (1 - this.#alpha) * predicted;
    } else {
      const slot = this.#slot(step);
      const s = this.#seasonAt(slot);
      this.#level = this.#alpha * (x - s) + (1 - this.#alpha) * predicted;
      this.#season[slot] = this.#gamma * (x - predicted) + (1 - this.#gamma) * this.#season[slot];
      // Keep the season centred once per season, so that the level stays the series'
      // deseasonalised value and the components do not drift against each other.
      if (slot === this.period - 1) this.#centre();
    }
    this.#trend = this.#beta * (this.#level - prevLevel) + (1 - this.#beta) * phi * this.#trend;
  }

  /**
   * The forecast for `h` steps after the last step reached (h >= 1), in the units of y and
   * never below 0; NaN before the first observation.
   */
  forecast(h: number): number {
    if (!(Number.isInteger(h) && h >= 1)) throw new RangeError(`h must be an integer >= 1, got ${h}`);
    if (this.#start < 0) return NaN;
    const phi = this.#phi;
    const damp = phi === 1 ? h : (phi * (1 - phi ** h)) / (1 - phi);
    let f = this.#level + damp * this.#trend;
    if (this.#seasonal) f += this.#seasonAt(this.#slot(this.#last + h));
    const y = this.#log ? Math.expm1(f) : f;
    return y > 0 ? y : 0;
  }

  #x(y: number): number {
    return this.#log ? Math.log1p(y) : y;
  }

  #slot(step: number): number {
    const m = step % this.period;
    return m < 0 ? m + this.period : m;
  }

  /** The seasonal term of a slot: the mean over the slots within `smooth` of it. */
  #seasonAt(slot: number): number {
    const k = this.#smooth;
    if (k === 0) return this.#season[slot];
    const m = this.period;
    let sum = 0;
    for (let d = -k; d <= k; d++) sum += this.#season[(slot + d + m) % m];
    return sum / (2 * k + 1);
  }

  #record(step: number, x: number): void {
    if (this.#first && step - this.#start < this.period) this.#first[this.#slot(step)] = x;
  }

  /** Missing steps: the state follows its trend. A gap longer than a season drops the trend. */
  #skip(n: number): void {
    if (n <= 0) return;
    if (n >= this.period) {
      this.#trend = 0;
      this.#maybeSeason(this.#last + n);
      this.#last += n;
      return;
    }
    for (let i = 0; i < n; i++) {
      this.#last++;
      this.#maybeSeason(this.#last);
      this.#advance();
    }
  }

  #advance(): void {
    this.#level += this.#phi * this.#trend;
    this.#trend *= this.#phi;
  }

  /** At the first step of the second season, the season is built from the first. */
  #maybeSeason(step: number): void {
    if (this.#seasonal || step - this.#start < this.period || !this.#first) return;
    const first = this.#first;
    this.#first = null;
    let sum = 0;
    let n = 0;
    for (const v of first) if (!Number.isNaN(v)) {
      sum += v;
      n++;
    }
    // A season with too few observations to show its shape: start it flat.
    if (n < Math.max(2, this.period / 4)) {
      this.#seasonal = true;
      return;
    }
    const mean = sum / n;
    const m = this.period;
    for (let i = 0; i < m; i++) {
      if (!Number.isNaN(first[i])) {
        this.#season[i] = first[i] - mean;
        continue;
      }
      // nearest observed slots on either side (the season wraps)
      let d = 1;
      while (d < m && Number.isNaN(first[(i + d) % m]) && Number.isNaN(first[(i - d + m) % m])) d++;
      const a = first[(i + d) % m];
      const b = first[(i - d + m) % m];
      this.#season[i] = (Number.isNaN(a) ? b : Number.isNaN(b) ? a : (a + b) / 2) - mean;
    }
    this.#level = mean;
    this.#trend = 0;
    this.#seasonal = true;
  }

  #centre(): void {
    let sum = 0;
    for (const v of this.#season) sum += v;
    const mean = sum / this.period;
    for (let i = 0; i < this.period; i++) this.#season[i] -= mean;
    this.#level += mean;
  }
}
