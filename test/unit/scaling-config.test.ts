// The scaling: section of hotpath.yaml (src/config/scaling.ts): defaults, and each refusal
// with HP_ERR_CONFIG_INVALID and the path of the field at fault.
import { describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { FORECAST_DEFAULTS } from '../../src/config/scaling.js';
import { configRefusal } from '../support/inference-server.js';

const base = (scaling?: unknown): any => ({
  streams: { tx: { keys: { user: 'user_id' }, fields: { amount: 'number' } } },
  entities: { user: { features: { n_1h: { agg: 'count', window: '1h' } } } },
  ...(scaling === undefined ? {} : { scaling }),
});

const refusal = (scaling: unknown) => configRefusal(() => compileConfig(base(scaling)));

describe('scaling.forecast', () => {
  it('is off without the section, and takes the defaults with an empty one', () => {
    expect(compileConfig(base()).scaling.forecast).toBeNull();
    expect(compileConfig(base({})).scaling.forecast).toBeNull();
    expect(compileConfig(base({ forecast: {} })).scaling.forecast).toEqual({
      intervalMs: 60_000, seasonMs: 86_400_000, horizonsMs: [300_000], seasonSmoothingMs: 1_800_000, signals: ['model_requests'],
      alpha: FORECAST_DEFAULTS.alpha, beta: FORECAST_DEFAULTS.beta, gamma: FORECAST_DEFAULTS.gamma, phi: FORECAST_DEFAULTS.phi,
    });
  });

  it('reads every key', () => {
    const f = compileConfig(base({ forecast: { interval: '30s', season: '7d', horizons: ['5m', 900_000], season_smoothing: '10m', signals: ['events', 'feature_reads'], alpha: 0.4, beta: 0.01, gamma: 0.1, phi: 0.9 } })).scaling.forecast;
    expect(f).toEqual({ intervalMs: 30_000, seasonMs: 604_800_000, horizonsMs: [300_000, 900_000], seasonSmoothingMs: 600_000, signals: ['events', 'feature_reads'], alpha: 0.4, beta: 0.01, gamma: 0.1, phi: 0.9 });
  });

  it.each([
    [{ forecast: { interval: '500ms' } }, '/scaling/forecast/interval', /between 1s and 1h/],
    [{ forecast: { interval: '7m' } }, '/scaling/forecast/season', /whole number of intervals/],
    [{ forecast: { interval: '1s', season: '2d' } }, '/scaling/forecast/season', /between 2 and 86400 intervals/],
    [{ forecast: { horizons: ['5m', '90s'] } }, '/scaling/forecast/horizons/1', /whole number/],
    [{ forecast: { horizons: ['2d'] } }, '/scaling/forecast/horizons/0', /at most the season/],
    [{ forecast: { horizons: ['5m', 300_000] } }, '/scaling/forecast/horizons/1', /listed twice/],
    [{ forecast: { horizons: [] } }, '/scaling/forecast/horizons', /fewer than 1/],
    [{ forecast: { season_smoothing: '90s' } }, '/scaling/forecast/season_smoothing', /whole number of intervals/],
    [{ forecast: { season_smoothing: '12h' } }, '/scaling/forecast/season_smoothing', /less than half the season/],
    [{ forecast: { signals: ['requests'] } }, '/scaling/forecast/signals/0', /allowed values/],
    [{ forecast: { alpha: 2 } }, '/scaling/forecast/alpha', /<= 1/],
    [{ forecast: { phi: 0 } }, '/scaling/forecast/phi', /> 0/],
    [{ forecast: { horizon: '5m' } }, '/scaling/forecast', /unknown key 'horizon'/],
    [{ predict: {} }, '/scaling', /unknown key 'predict'/],
  ])('refuses %j at its field', (scaling, path, message) => {
    const r = refusal(scaling);
    expect(r.path).toBe(path);
    expect(r.message).toMatch(message);
    expect(r.message).toContain(path);
  });
});
