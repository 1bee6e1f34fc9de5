// The request-rate forecast of one server (docs/kubernetes.md, "Predictive scaling"): every
// `interval` it reads the server's own request counters, turns the increase since the last
// sample into a rate (requests per second), and feeds it to a Holt-Winters model whose
// season is `season` (a day by default). /metrics reads `rate` and `forecast(h)` at scrape
// time (src/server/forecast-metrics.ts); the HPA reads them through prometheus-adapter.
//
// Samples are aligned to the clock: the tick just after each multiple of the interval
// closes the step that ended there, so a step is the same minute of the day on every
// replica and after a restart. A tick that comes late (the event loop stalled) spreads
// nothing: its rate is the mean over the time since the last sample, given to the step it
// closes, and the steps in between are missing to the model. A counter that went down (it
// was reset) makes the step missing.
import type { ForecastDef } from '../config/scaling.js';
import { HoltWinters } from './holt-winters.js';

export interface ForecastHorizon {
  /** the label value: the horizon as a duration ("5m", "1h", "90s") */
  label: string;
  ms: number;
  steps: number;
}

/** ms as the shortest duration string that names it exactly: 300000 -> "5m". */
export function durationLabel(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const)
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export class RequestForecast {
  readonly def: ForecastDef;
  readonly horizons: readonly ForecastHorizon[];
  readonly #model: HoltWinters;
  readonly #count: () => number;
  readonly #now: () => number;
  #lastCount = NaN;
  #lastTime = NaN;
  #rate = NaN;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param count the total of the counters named by def.signals, now (monotonic while the
   *   server runs)
   * @param now the wall clock in ms (tests pass their own)
   */
  constructor(def: ForecastDef, count: () => number, now: () => number = Date.now) {
    this.def = def;
    this.#count = count;
    this.#now = now;
    this.#model = new HoltWinters({
      period: def.seasonMs / def.intervalMs,
      alpha: def.alpha,
      beta: def.beta,
      gamma: def.gamma,
      phi: def.phi,
      log: true,
      smooth: def.seasonSmoothingMs / def.intervalMs,
    });
    this.horizons = def.horizonsMs.map((ms) => ({ label: durationLabel(ms), ms, steps: ms / def.intervalMs }));
  }

  /** requests per second over the last closed step; NaN before the first one */
  get rate(): number {
    return this.#rate;
  }

  /** true once a whole season has been seen: the forecast follows the daily pattern */
  get seasonal(): boolean {
    return this.#model.seasonal;
  }

  /** the forecast rate `steps` intervals after the last closed step; NaN before the first */
  forecast(steps: number): number {
    return this.#model.forecast(steps);
  }

  /**
   * Takes a sample: the rate since the last sample closes the step that ended at or before
   * `at`. The first sample only sets the baseline. The timer calls it; tests call it with
   * their own clock.
   */
  sample(at = this.#now()): void {
    const count = this.#count();
    const step = Math.floor(at / this.def.intervalMs) - 1;
    const prevCount = this.#lastCount;
    const prevTime = this.#lastTime;
    // A second sample within a step closes nothing and keeps the baseline: the next step's
    // rate covers the time since the last closed one.
    if (!Number.isNaN(prevTime) && (at <= prevTime || step <= this.#model.lastStep)) return;
    this.#lastCount = count;
    this.#lastTime = at;
    if (Number.isNaN(prevTime)) return;
    const seconds = (at - prevTime) / 1000;
    const delta = count - prevCount;
    const rate = delta >= 0 ? delta / seconds : NaN;
    this.#model.observe(step, rate);
    if (!Number.isNaN(rate)) this.#rate = rate;
  }

  /** Samples at the start and then just after every multiple of the interval. */
  start(): void {
    if (this.#timer) return;
    this.sample();
    const { intervalMs } = this.def;
    // 1 % into the next step (at most 500 ms), so that a tick never lands before the boundary.
    const lag = Math.min(500, Math.floor(intervalMs / 100));
    const schedule = () => {
      const now = this.#now();
      const next = (Math.floor(now / intervalMs) + 1) * intervalMs + lag;
      this.#timer = setTimeout(() => {
        this.sample();
        schedule();
      }, next - now);
      this.#timer.unref();
    };
    schedule();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
