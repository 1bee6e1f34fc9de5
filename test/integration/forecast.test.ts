// The request-rate forecast in a running server: scaling.forecast makes it sample the
// request counters on the clock and export hotpath_request_rate and
// hotpath_request_rate_forecast{horizon} (what the HPA reads through prometheus-adapter);
// without the section none of them is exported.
import { afterEach, describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';

const config = (scaling?: unknown) => compileConfig({
  server: { workers: 1 },
  streams: { tx: { keys: { user: 'user_id' }, fields: { amount: 'number' } } },
  entities: { user: { features: { n_1h: { agg: 'count', window: '1h' } } } },
  ...(scaling === undefined ? {} : { scaling }),
});

let server: Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('request-rate forecast', () => {
  it('samples the feature reads each second and exports the rate and its forecasts', async () => {
    server = await startServer({ config: config({ forecast: { interval: '1s', season: '4s', horizons: ['1s', '2s'], season_smoothing: 0, signals: ['feature_reads'] } }), port: 0, log: () => {} });
    const base = `http://127.0.0.1:${server.port}`;
    const until = Date.now() + 2300;
    let reads = 0;
    while (Date.now() < until) {
      await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/v1/features/user/u1`).then((r) => r.arrayBuffer())));
      reads += 20;
    }
    const text = await (await fetch(`${base}/metrics`)).text();
    const rate = sample(text, 'hotpath_request_rate');
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThanOrEqual(reads / 1); // never more than all the reads in one second
    for (const h of ['1s', '2s']) expect(sample(text, `hotpath_request_rate_forecast{horizon="${h}"}`)).toBeGreaterThan(0);
    expect(sample(text, 'hotpath_request_rate_forecast_seasonal')).toBe(0); // a 4 s season is not over yet
    expect(server.forecast?.horizons.map((h) => h.label)).toEqual(['1s', '2s']);
  });

  it('is absent without scaling.forecast', async () => {
    server = await startServer({ config: config(), port: 0, log: () => {} });
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(text).not.toContain('hotpath_request_rate');
    expect(server.forecast).toBeUndefined();
  });
});
