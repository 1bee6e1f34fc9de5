// The request-rate forecaster (src/scaling/): Holt-Winters learns a daily pattern and then
// beats persistence on it, keeps working through zeros, missing steps, bad values and a
// level shift, and the sampler turns counter readings on a clock into per-step rates.
import { describe, expect, it } from 'vitest';

import { FORECAST_DEFAULTS, type ForecastDef } from '../../src/config/scaling.js';
import { HoltWinters, type HoltWintersOptions } from '../../src/scaling/holt-winters.js';
import { durationLabel, RequestForecast } from '../../src/scaling/request-forecast.js';

const PERIOD = 96; // 15-minute steps in a day
/** a two-peak day, 20..120 req/s */
const daily = (step: number) => {
  const x = (2 * Math.PI * (step % PERIOD)) / PERIOD;
  return 70 - 40 * Math.cos(x) + 10 * Math.sin(2 * x);
};
const opts = (o: Partial<HoltWintersOptions> = {}): HoltWintersOptions => ({ period: PERIOD, alpha: 0.5, beta: 0, gamma: 0.3, phi: 0.98, log: true, ...o });

/** Mean absolute percentage error of the h-step forecasts over steps [from, to). */
function mape(hw: HoltWinters, series: (s: number) => number, from: number, to: number, h: number): number {
  let sum = 0;
  let n = 0;
  for (let s = from; s < to; s++) {
    const f = hw.forecast(h);
    const a = series(hw.lastStep + h);
    if (a > 0) {
      sum += Math.abs(f - a) / a;
      n++;
    }
    hw.observe(s, series(s));
  }
  return sum / n;
}

describe('HoltWinters', () => {
  it('learns a daily pattern and then forecasts it better than the rate now', () => {
    const hw = new HoltWinters(opts());
    const start = 1000 * PERIOD + 17; // any phase: slots follow the clock, not the first step
    for (let s = start; s < start + PERIOD; s++) hw.observe(s, daily(s));
    expect(hw.seasonal).toBe(false); // one season seen, the next not begun
    for (let s = start + PERIOD; s < start + 3 * PERIOD; s++) hw.observe(s, daily(s));
    expect(hw.seasonal).toBe(true);
    const h = 4; // an hour ahead
    const err = mape(hw, daily, start + 3 * PERIOD, start + 4 * PERIOD, h);
    let persistence = 0;
    for (let s = start + 3 * PERIOD; s < start + 4 * PERIOD; s++) persistence += Math.abs(daily(s) - daily(s + h)) / daily(s + h);
    persistence /= PERIOD;
    expect(err).toBeLessThan(0.01);
    expect(persistence).toBeGreaterThan(0.1);
  });

  it('before a whole season it is Holt: the forecast follows the level, without a season', () => {
    const hw = new HoltWinters(opts());
    expect(hw.forecast(1)).toBeNaN();
    for (let s = 0; s < 10; s++) hw.observe(s, 50);
    expect(hw.seasonal).toBe(false);
    expect(hw.forecast(1)).toBeCloseTo(50, 6);
    expect(hw.forecast(30)).toBeCloseTo(50, 6);
  });

  it('survives zeros: a night at zero is forecast near zero and the day after it is learned', () => {
    const withNight = (s: number) => ((s % PERIOD) < 24 ? 0 : daily(s));
    const hw = new HoltWinters(opts());
    for (let s = 0; s < 4 * PERIOD; s++) {
      hw.observe(s, withNight(s));
      expect(Number.isFinite(hw.forecast(1))).toBe(true);
      expect(hw.forecast(1)).toBeGreaterThanOrEqual(0);
    }
    // at the last step of the day, the first hours of the next day (zeros) and then the day
    const night = hw.forecast(4);
    expect(night).toBeLessThan(1);
    const dayErr = mape(hw, withNight, 4 * PERIOD, 5 * PERIOD, 2);
    expect(dayErr).toBeLessThan(0.05);
  });

  it('survives gaps and bad values: missing steps, NaN, negatives, a gap longer than a day', () => {
    const hw = new HoltWinters(opts());
    for (let s = 0; s < 3 * PERIOD; s++) {
      if (s % 7 === 3) continue; // a missed sample now and then
      hw.observe(s, s % 11 === 5 ? NaN : s % 13 === 6 ? -1 : daily(s));
    }
    expect(hw.seasonal).toBe(true);
    expect(mape(hw, daily, 3 * PERIOD, 4 * PERIOD, 4)).toBeLessThan(0.03);
    // the sampler stops for a day and a half: the pattern is still known when it comes back
    const back = hw.lastStep + Math.round(1.5 * PERIOD);
    hw.observe(back, daily(back));
    expect(Math.abs(hw.forecast(4) - daily(back + 4)) / daily(back + 4)).toBeLessThan(0.05);
    // a step at or before the last one changes nothing
    const before = hw.forecast(1);
    hw.observe(back - 5, 1e6);
    hw.observe(back, 1e6);
    expect(hw.forecast(1)).toBe(before);
  });

  it('a first season with missing slots is filled from its neighbours', () => {
    const hw = new HoltWinters(opts({ alpha: 0.2 }));
    for (let s = 0; s < PERIOD; s++) if (s < 40 || s > 50) hw.observe(s, daily(s));
    hw.observe(PERIOD, daily(PERIOD));
    expect(hw.seasonal).toBe(true);
    // forecasts for the slots that were never seen come from the ones around them
    for (let s = PERIOD + 1; s < PERIOD + 40; s++) hw.observe(s, daily(s));
    const f = hw.forecast(5); // slot 44
    expect(Math.abs(f - daily(44)) / daily(44)).toBeLessThan(0.1);
  });

  it('after a level shift (the autoscaler halved this replica’s share) it adapts within a few steps', () => {
    const hw = new HoltWinters(opts({ alpha: FORECAST_DEFAULTS.alpha, gamma: FORECAST_DEFAULTS.gamma }));
    const shifted = (s: number) => (s >= 4 * PERIOD ? 0.5 : 1) * daily(s);
    for (let s = 0; s < 4 * PERIOD + 8; s++) hw.observe(s, shifted(s));
    expect(mape(hw, shifted, 4 * PERIOD + 8, 5 * PERIOD, 2)).toBeLessThan(0.03);
  });

  it('season smoothing keeps the shape and averages away a slot’s noise', () => {
    const noisy = (s: number) => daily(s) * (1 + 0.2 * Math.sin(s * 12.9898) * Math.cos(s * 78.233)); // fixed pseudo-noise
    const run = (smooth: number) => {
      const hw = new HoltWinters(opts({ alpha: 0.3, gamma: 0.2, smooth }));
      for (let s = 0; s < 10 * PERIOD; s++) hw.observe(s, noisy(s));
      return mape(hw, daily, 10 * PERIOD, 12 * PERIOD, 4); // error against the clean pattern
    };
    expect(run(2)).toBeLessThan(run(0));
  });

  it('refuses options it cannot run', () => {
    expect(() => new HoltWinters(opts({ period: 1 }))).toThrow(RangeError);
    expect(() => new HoltWinters(opts({ alpha: 1.5 }))).toThrow(/alpha/);
    expect(() => new HoltWinters(opts({ phi: 0 }))).toThrow(/phi/);
    expect(() => new HoltWinters(opts({ smooth: PERIOD / 2 }))).toThrow(/smooth/);
    expect(() => new HoltWinters(opts()).observe(1.5, 1)).toThrow(/step/);
    expect(() => new HoltWinters(opts()).forecast(0)).toThrow(/h must/);
  });
});

describe('RequestForecast (the sampler)', () => {
  const def = (o: Partial<ForecastDef> = {}): ForecastDef => ({
    intervalMs: 60_000, seasonMs: 86_400_000, horizonsMs: [300_000, 3_600_000], seasonSmoothingMs: 0, signals: ['model_requests'], alpha: 1, beta: 0, gamma: 0.2, phi: 1, ...o,
  });
  const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

  it('turns counter readings into requests per second per step', () => {
    let count = 0;
    const f = new RequestForecast(def(), () => count);
    expect(f.horizons.map((h) => [h.label, h.steps])).toEqual([['5m', 5], ['1h', 60]]);
    f.sample(T0 + 30_000); // the baseline, mid-step
    expect(f.rate).toBeNaN();
    expect(f.forecast(5)).toBeNaN();
    count = 300;
    f.sample(T0 + 60_100); // closes the step that ended at T0 + 60 s: 300 requests in 30.1 s
    expect(f.rate).toBeCloseTo(300 / 30.1, 6);
    count += 600;
    f.sample(T0 + 120_100);
    expect(f.rate).toBeCloseTo(10, 6);
    expect(f.forecast(5)).toBeCloseTo(10, 6); // alpha 1: the last rate, no season yet
  });

  it('a second sample in a step keeps the baseline; a late tick gives its mean to the step it closes', () => {
    let count = 0;
    const f = new RequestForecast(def(), () => count);
    f.sample(T0 + 100);
    count = 600;
    f.sample(T0 + 60_100);
    expect(f.rate).toBeCloseTo(10, 6);
    count = 900;
    f.sample(T0 + 90_000); // same step as the last close: ignored
    expect(f.rate).toBeCloseTo(10, 6);
    count = 1200;
    f.sample(T0 + 120_100); // 600 requests since T0 + 60.1 s
    expect(f.rate).toBeCloseTo(10, 6);
    count = 1200 + 3 * 1200; // the event loop stalled for three minutes at 20 req/s
    f.sample(T0 + 300_100);
    expect(f.rate).toBeCloseTo(20, 6);
  });

  it('a counter that went down makes the step missing, not a negative rate', () => {
    let count = 1000;
    const f = new RequestForecast(def(), () => count);
    f.sample(T0 + 100);
    count = 1600;
    f.sample(T0 + 60_100);
    count = 5; // reset
    f.sample(T0 + 120_100);
    expect(f.rate).toBeCloseTo(10, 6); // the last good rate
    count = 605;
    f.sample(T0 + 180_100);
    expect(f.rate).toBeCloseTo(10, 6);
    expect(f.forecast(1)).toBeGreaterThan(0);
  });

  it('start() samples on the clock and stop() ends it', async () => {
    let count = 0;
    const f = new RequestForecast(def({ intervalMs: 1000, seasonMs: 4000, horizonsMs: [1000] }), () => (count += 50));
    f.start();
    await new Promise((r) => setTimeout(r, 2300));
    f.stop();
    expect(f.rate).toBeGreaterThan(0);
    const rate = f.rate;
    await new Promise((r) => setTimeout(r, 1200));
    expect(f.rate).toBe(rate); // stopped: no more samples
  });

  it('labels horizons with the shortest exact duration', () => {
    expect([300_000, 3_600_000, 86_400_000, 90_000, 1500].map(durationLabel)).toEqual(['5m', '1h', '1d', '90s', '1500ms']);
  });
});
