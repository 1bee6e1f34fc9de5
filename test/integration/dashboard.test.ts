// The live dashboard's routes on a real server (port 0): the page and its assets with their
// content types and caching headers, the scope refusal with auth on (and ?key=, and
// auth.dashboard: open), and WebSocket /dashboard/ws: one snapshot a second with the
// expected keys while a page is subscribed, and no snapshot built while none is.
// The page itself in a browser: test/e2e/dashboard.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { quantile } from '../../src/server/dashboard.js';
import type { Server } from '../../src/server/app.js';
import { FRAUD_V1, makeRepo, metric, metricsText, oneModelYaml, postJson, predictBody, startWith } from '../support/inference-server.js';
import { call, type Secured, startSecured } from '../support/security.js';

let server: Server | undefined;
let secured: Secured | undefined;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await server?.close();
  await secured?.server.close();
  server = secured = undefined;
});

async function start(): Promise<string> {
  const s = await startWith(makeRepo({ fraud: { 1: FRAUD_V1 } }), oneModelYaml('fraud'));
  server = s.server;
  return s.base;
}

/** Opens /dashboard/ws and collects its messages; resolves once open (or with the refusing status). */
function openDashboard(base: string, query = ''): Promise<{ ws: WebSocket; messages: { at: number; data: any }[] } | number> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/dashboard/ws${query}`);
  sockets.push(ws);
  const messages: { at: number; data: any }[] = [];
  ws.on('message', (d) => messages.push({ at: performance.now(), data: JSON.parse(d.toString()) }));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dashboard routes', () => {
  it('serves the page and its assets with their types and caching, and 404s other names', async () => {
    const base = await start();
    const page = await fetch(`${base}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    expect(html).toContain('<script src="/dashboard/uPlot.iife.min.js"></script>');
    expect(html).not.toContain('{{query}}');
    for (const [name, type, needle] of [
      ['dashboard.js', 'text/javascript; charset=utf-8', '/dashboard/ws'],
      ['dashboard.css', 'text/css; charset=utf-8', '.tiles'],
      ['uPlot.iife.min.js', 'text/javascript; charset=utf-8', 'uPlot'],
      ['uPlot.min.css', 'text/css; charset=utf-8', '.uplot'],
    ]) {
      const r = await fetch(`${base}/dashboard/${name}`);
      expect(r.status, name).toBe(200);
      expect(r.headers.get('content-type')).toBe(type);
      expect(r.headers.get('cache-control')).toBe('private, max-age=3600');
      expect(await r.text()).toContain(needle);
    }
    for (const bad of ['index.html', 'package.json', '..%2Fpackage.json', 'constructor']) {
      const r = await call(base, 'GET', `/dashboard/${bad}`);
      expect(r.status, bad).toBe(404);
      expect(r.code).toBe('HP_ERR_ROUTE_NOT_FOUND');
    }
  });

  it('publishes one snapshot a second to a subscribed page, and builds none while nobody subscribes', async () => {
    const base = await start();
    // Nobody subscribed: no snapshot is built.
    await sleep(1500);
    expect(metric(await metricsText(base), 'hotpath_dashboard_snapshots_total')).toBe(0);
    expect(server!.metrics).toBeDefined();

    // Fire and forget: a request still in flight when the test ends and the server stops
    // fails (ECONNRESET); the rates below are what this test checks, not each request.
    const ignore = (): void => undefined;
    const load = setInterval(() => {
      const ev = (ts: number) => ({ user_id: 'u1', merchant_id: 'm1', amount: 5, country: 'FR', ts });
      postJson(base, '/v1/events', [ev(Date.now()), ev(Date.now() - 3 * 3600_000)]).catch(ignore); // the second is late (allowed_lateness 1h)
      postJson(base, '/v1/predict/fraud', predictBody('u1')).catch(ignore);
      fetch(`${base}/v1/features/user/u1`).then((r) => r.text()).catch(ignore);
    }, 20);
    try {
      const page = await openDashboard(base);
      if (typeof page === 'number') throw new Error(`upgrade refused: ${page}`);
      expect(metric(await metricsText(base), 'hotpath_dashboard_pages')).toBe(1);
      await sleep(4300);
      const got = page.messages;
      expect(got.length).toBeGreaterThanOrEqual(3);
      expect(got.length).toBeLessThanOrEqual(5);
      const gaps = got.slice(1).map((m, i) => m.at - got[i].at);
      for (const g of gaps) expect(g).toBeGreaterThan(500), expect(g).toBeLessThan(1600);
      const s = got[got.length - 1].data;
      expect(Object.keys(s).sort()).toEqual(['alerts', 'bandits', 'experiments', 'freshness', 'models', 'pages', 'queue', 'rates', 'routes', 'stages', 't', 'rings'].sort());
      expect(s.bandits).toEqual([]);
      expect(s.experiments).toEqual([]);
      expect(Object.keys(s.rates).sort()).toEqual(['events', 'feature_reads', 'late', 'predicts']);
      expect(s.rates.events).toBeGreaterThan(10);
      expect(s.rates.late).toBeGreaterThan(10);
      expect(s.rates.predicts).toBeGreaterThan(10);
      expect(s.rates.feature_reads).toBeGreaterThan(10);
      expect(s.models).toHaveLength(1);
      const m = s.models[0];
      expect(m.name).toBe('fraud');
      expect(m.breaker).toBe('none');
      expect(m.p50_ms).toBeGreaterThan(0);
      expect(m.p99_ms).toBeGreaterThanOrEqual(m.p50_ms);
      expect(m.p999_ms).toBeGreaterThanOrEqual(m.p99_ms);
      expect(m.batch_mean).toBeGreaterThanOrEqual(1);
      // the batch-size distribution: one row per request here (the load sends one at a time)
      expect(m.batch_p50).toBeGreaterThan(0);
      expect(m.batch_p99).toBeGreaterThanOrEqual(m.batch_p50);
      // requests per second per route class, every route class the load uses
      const rps = Object.fromEntries(s.routes.map((r: { route: string; rps: number }) => [r.route, r.rps]));
      expect(Object.keys(rps).sort()).toEqual(['events', 'features', 'predict']);
      for (const r of ['events', 'features', 'predict']) expect(rps[r], r).toBeGreaterThan(10);
      // each stage of each route class, with quantiles over the last second
      const stages = s.stages.map((x: { route: string; stage: string }) => `${x.route}:${x.stage}`);
      expect(stages.sort()).toEqual(
        ['events:parse', 'events:apply', 'events:durable', 'features:parse', 'features:store', 'features:answer', 'predict:parse', 'predict:queue', 'predict:batch_wait', 'predict:run', 'predict:answer'].sort(),
      );
      for (const x of s.stages) {
        expect(x.p50_ms, `${x.route}:${x.stage}`).toBeGreaterThan(0);
        expect(x.p99_ms).toBeGreaterThanOrEqual(x.p50_ms);
        expect(x.p999_ms).toBeGreaterThanOrEqual(x.p99_ms);
      }
      // a stage is part of the request: its median is below the model's whole p99.9
      const run = s.stages.find((x: { route: string; stage: string }) => x.route === 'predict' && x.stage === 'run');
      expect(run.p50_ms).toBeLessThanOrEqual(m.p999_ms);
      expect(s.rings).toEqual([{ worker: 0, request: expect.any(Number), response: expect.any(Number) }]);
      expect(s.freshness.map((f: { entity: string }) => f.entity)).toEqual(['user']);
      expect(s.pages).toBe(1);

      // The last page closes: the timer stops.
      page.ws.close();
      await sleep(300);
      const built = metric(await metricsText(base), 'hotpath_dashboard_snapshots_total');
      expect(built).toBe(got.length);
      await sleep(2200);
      expect(metric(await metricsText(base), 'hotpath_dashboard_snapshots_total')).toBe(built);
      expect(metric(await metricsText(base), 'hotpath_dashboard_pages')).toBe(0);
    } finally {
      clearInterval(load);
    }
  });
});

describe('dashboard: bandits and experiments', () => {
  it('carries each bandit\'s decisions, rewards and arms, and each experiment\'s status, share and variants', async () => {
    const outcomes = '  outcomes:\n    keys: { visitor: user_id }\n    fields: { decision_id: number, reward: number }\n';
    const yaml = `${oneModelYaml('fraud').replace('streams:\n', `streams:\n${outcomes}`).replace('entities:\n', 'entities:\n  visitor: { memory: 1MiB, features: { n: { agg: count, window: 1h } } }\n')}
bandits:
  homepage: { policy: thompson, arms: [a, b], seed: 7, rewards: { stream: outcomes } }
experiments:
  ranker:
    variants:
      control: { weight: 50, model: fraud }
      treatment: { weight: 50, model: fraud }
    metric: { stream: outcomes, unit: visitor, kind: mean, field: reward }
`;
    const s = await startWith(makeRepo({ fraud: { 1: FRAUD_V1 } }), yaml);
    server = s.server;
    const page = await openDashboard(s.base);
    if (typeof page === 'number') throw new Error(`upgrade refused: ${page}`);
    // 30 decisions, 20 of them rewarded (10 over HTTP, 10 by events of the stream); 40 units served through the experiment, 30 with an outcome
    const decisions: { decision_id: number; arm: string }[] = [];
    for (let i = 0; i < 30; i++) decisions.push((await postJson(s.base, '/v1/bandits/homepage/choose', {})).body);
    for (const d of decisions.slice(0, 10)) expect((await postJson(s.base, '/v1/bandits/homepage/reward', { decision_id: d.decision_id, reward: d.arm === 'a' ? 1 : 0 })).status).toBe(200);
    expect((await postJson(s.base, '/v1/events?stream=outcomes', decisions.slice(10, 20).map((d) => ({ user_id: 'b', decision_id: d.decision_id, reward: 1 })))).status).toBe(200);
    for (let u = 0; u < 40; u++) expect((await postJson(s.base, '/v1/experiments/ranker/serve', { unit: `u${u}`, ...predictBody(`u${u}`) })).status).toBe(200);
    expect((await postJson(s.base, '/v1/events?stream=outcomes', Array.from({ length: 30 }, (_, u) => ({ user_id: `u${u}`, decision_id: -1, reward: u % 3 })))).status).toBe(200);
    await sleep(2300);
    const snaps = page.messages.map((m) => m.data);
    const last = snaps[snaps.length - 1];
    expect(last.bandits).toHaveLength(1);
    const b = last.bandits[0];
    expect(b).toMatchObject({ name: 'homepage', policy: 'thompson' });
    expect(b.arms.map((x: { arm: string }) => x.arm)).toEqual(['a', 'b']);
    expect(b.arms.reduce((n: number, x: { pulls: number }) => n + x.pulls, 0)).toBe(20);
    const pulled = b.arms.filter((x: { pulls: number }) => x.pulls > 0);
    for (const x of pulled) expect(x.mean_reward).toBeGreaterThanOrEqual(0);
    // the decisions and rewards were made while the page was open: some second saw them
    expect(Math.max(...snaps.map((x: any) => x.bandits[0].decisions))).toBeGreaterThan(0);
    expect(Math.max(...snaps.map((x: any) => x.bandits[0].rewards))).toBeGreaterThan(0);
    expect(last.experiments).toHaveLength(1);
    const x = last.experiments[0];
    expect(x).toMatchObject({ name: 'ranker', status: 'running', share: 1 });
    expect(x.srm_p).toBeGreaterThan(0);
    expect(x.variants.map((v: { name: string }) => v.name)).toEqual(['control', 'treatment']);
    expect(x.variants.reduce((n: number, v: { exposures: number }) => n + v.exposures, 0)).toBe(40);
    for (const v of x.variants) expect(v.mean).toBeGreaterThanOrEqual(0);
    expect(x.variants[0].p).toBeNull(); // control has no test against itself
  });
});

describe('dashboard with auth on', () => {
  it('needs admin, takes ?key= for the page, its assets and its WebSocket', async () => {
    secured = await startSecured();
    const { base, keys } = secured;
    expect((await call(base, 'GET', '/dashboard')).code).toBe('HP_ERR_AUTH_REQUIRED');
    expect((await call(base, 'GET', '/dashboard', keys.notAdmin)).code).toBe('HP_ERR_AUTH_FORBIDDEN');
    expect((await call(base, 'GET', `/dashboard?key=${encodeURIComponent(keys.metrics)}`)).code).toBe('HP_ERR_AUTH_FORBIDDEN');
    expect((await call(base, 'GET', '/dashboard/dashboard.js')).code).toBe('HP_ERR_AUTH_REQUIRED');
    expect(await openDashboard(base)).toBe(401);
    expect(await openDashboard(base, `?key=${encodeURIComponent(keys.alerts)}`)).toBe(403);
    // ?key= is taken by the dashboard's routes only.
    expect((await call(base, 'GET', `/v1/stats?key=${encodeURIComponent(keys.admin)}`)).code).toBe('HP_ERR_AUTH_REQUIRED');

    const q = `?key=${encodeURIComponent(keys.admin)}`;
    const page = await fetch(`${base}/dashboard${q}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(`<script src="/dashboard/dashboard.js${q}"></script>`);
    expect((await fetch(`${base}/dashboard/uPlot.iife.min.js${q}`)).status).toBe(200);
    expect((await call(base, 'GET', '/dashboard', keys.admin)).status).toBe(200);
    const ws = await openDashboard(base, q);
    if (typeof ws === 'number') throw new Error(`upgrade refused: ${ws}`);
    await sleep(1300);
    expect(ws.messages.length).toBeGreaterThanOrEqual(1);
  });

  it('auth.dashboard: open opens the page and its WebSocket to anyone, and nothing else', async () => {
    secured = await startSecured({ auth: '  dashboard: open' });
    const { base } = secured;
    expect((await fetch(`${base}/dashboard`)).status).toBe(200);
    expect((await fetch(`${base}/dashboard/dashboard.css`)).status).toBe(200);
    const ws = await openDashboard(base);
    expect(typeof ws).toBe('object');
    expect((await call(base, 'GET', '/v1/stats')).code).toBe('HP_ERR_AUTH_REQUIRED');
  });

  it('names a bad auth.dashboard by its path', async () => {
    await expect(startSecured({ auth: '  dashboard: public' })).rejects.toThrow(/\/auth\/dashboard/);
  });
});

describe('quantile', () => {
  it('interpolates inside the bucket, and reads past the last bound as the last bound', () => {
    const b = [1, 2, 4];
    expect(quantile(new Float64Array([0, 0, 0, 0]), b, 0.5)).toBeNull();
    expect(quantile(new Float64Array([10, 0, 0, 0]), b, 0.5)).toBeCloseTo(0.5);
    expect(quantile(new Float64Array([0, 10, 0, 0]), b, 0.9)).toBeCloseTo(1.9);
    expect(quantile(new Float64Array([50, 0, 49, 1]), b, 0.99)).toBeCloseTo(4);
    expect(quantile(new Float64Array([50, 0, 0, 50]), b, 0.99)).toBe(4);
  });
});
