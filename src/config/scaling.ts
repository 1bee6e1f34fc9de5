// The top-level `scaling:` section of hotpath.yaml: the request-rate forecast that an
// autoscaler reads from /metrics (src/scaling/, docs/kubernetes.md). Without the section
// nothing is sampled and no forecast metric is exported.
import { FORECAST_SIGNALS } from './scaling-schema.js';
import { fail, parseDuration } from './values.js';

export { FORECAST_SIGNALS, scalingSchema } from './scaling-schema.js';

export type ForecastSignal = (typeof FORECAST_SIGNALS)[number];

/**
 * The defaults: interval and season as documented, smoothing chosen by bench/forecast.ts
 * (bench/results/2026-12-06-forecast.md).
 */
export const FORECAST_DEFAULTS = {
  intervalMs: 60_000,
  seasonMs: 86_400_000,
  horizonsMs: [300_000],
  signals: ['model_requests'] as ForecastSignal[],
  seasonSmoothingMs: 1_800_000,
  alpha: 0.7,
  beta: 0,
  gamma: 0.2,
  phi: 0.98,
} as const;

/** the most steps a season may have (a day of one-second steps) */
export const MAX_SEASON_STEPS = 86_400;


export interface RawScaling {
  forecast?: {
    interval?: number | string;
    season?: number | string;
    horizons?: (number | string)[];
    season_smoothing?: number | string;
    signals?: ForecastSignal[];
    alpha?: number;
    beta?: number;
    gamma?: number;
    phi?: number;
  };
}

export interface ForecastDef {
  /** how often the counters are sampled: one step of the model */
  intervalMs: number;
  /** the season's length (a whole number of intervals) */
  seasonMs: number;
  /** forecast horizons, each a whole number of intervals, at most a season */
  horizonsMs: number[];
  /** half-width of the window the seasonal term is averaged over (0: none), whole intervals */
  seasonSmoothingMs: number;
  /** the counters summed into the request rate */
  signals: ForecastSignal[];
  alpha: number;
  beta: number;
  gamma: number;
  phi: number;
}

export interface ScalingDef {
  /** null: no forecast (no `scaling.forecast` section) */
  forecast: ForecastDef | null;
}

/** The section after schema validation; the refusals name the field at fault. */
export function compileScaling(raw: RawScaling | undefined): ScalingDef {
  const f = raw?.forecast;
  if (!f) return { forecast: null };
  const path = '/scaling/forecast';
  const intervalMs = f.interval === undefined ? FORECAST_DEFAULTS.intervalMs : parseDuration(f.interval);
  if (intervalMs < 1000 || intervalMs > 3_600_000) fail(`${path}/interval`, `must be between 1s and 1h, got ${intervalMs} ms`);
  const seasonMs = f.season === undefined ? FORECAST_DEFAULTS.seasonMs : parseDuration(f.season);
  if (seasonMs % intervalMs !== 0) fail(`${path}/season`, `must be a whole number of intervals (${intervalMs} ms), got ${seasonMs} ms`);
  const steps = seasonMs / intervalMs;
  if (steps < 2 || steps > MAX_SEASON_STEPS) fail(`${path}/season`, `must hold between 2 and ${MAX_SEASON_STEPS} intervals, got ${steps}`);
  const horizonsMs = (f.horizons ?? FORECAST_DEFAULTS.horizonsMs).map((h, i) => {
    const ms = parseDuration(h);
    if (ms <= 0 || ms % intervalMs !== 0) fail(`${path}/horizons/${i}`, `must be a whole number (>= 1) of intervals (${intervalMs} ms), got ${ms} ms`);
    if (ms > seasonMs) fail(`${path}/horizons/${i}`, `must be at most the season (${seasonMs} ms), got ${ms} ms`);
    return ms;
  });
  const seasonSmoothingMs = f.season_smoothing === undefined ? FORECAST_DEFAULTS.seasonSmoothingMs : parseDuration(f.season_smoothing);
  if (seasonSmoothingMs % intervalMs !== 0) fail(`${path}/season_smoothing`, `must be a whole number of intervals (${intervalMs} ms), got ${seasonSmoothingMs} ms`);
  if (2 * seasonSmoothingMs >= seasonMs) fail(`${path}/season_smoothing`, `must be less than half the season (${seasonMs} ms), got ${seasonSmoothingMs} ms`);
  const dup = horizonsMs.findIndex((h, i) => horizonsMs.indexOf(h) !== i);
  if (dup >= 0) fail(`${path}/horizons/${dup}`, `${horizonsMs[dup]} ms is listed twice`);
  return {
    forecast: {
      intervalMs,
      seasonMs,
      horizonsMs,
      seasonSmoothingMs,
      signals: f.signals ?? [...FORECAST_DEFAULTS.signals],
      alpha: f.alpha ?? FORECAST_DEFAULTS.alpha,
      beta: f.beta ?? FORECAST_DEFAULTS.beta,
      gamma: f.gamma ?? FORECAST_DEFAULTS.gamma,
      phi: f.phi ?? FORECAST_DEFAULTS.phi,
    },
  };
}
