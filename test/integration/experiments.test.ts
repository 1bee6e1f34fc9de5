// A/B experiments on a real server: sticky assignment over HTTP, serving through model
// targets (the predict pipeline), conversions from events attributed per variant, the
// tests and SRM over REST and metrics, a winner stopped for, a guardrail rollback on a
// model made to fail (server.fault_injection), manual stop/resume/ramp, the state across a
// restart, and bad input refused with nothing changed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { FRAUD_INPUTS, FRAUD_V1, FRAUD_V2, getJson, makeRepo, metricsText, metric, postJson, predictBody } from '../support/inference-server.js';
import { call, startSecured } from '../support/security.js';

const AB = (extra = '') => `
  ab:
    variants:
      control: { weight: 50, model: fraud_a }
      treatment: { weight: 50, model: fraud_b }
    metric: { stream: conv, unit: user, kind: conversion }
    test: { min_samples: 100 }
${extra}`;

let server: Server | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(experiment: string, dataDir?: string): Promise<string> {
  const repo = makeRepo({ fraud_a: { 1: FRAUD_V1 }, fraud_b: { 1: FRAUD_V2 } });
  dirs.push(repo);
  const text = `
server: { workers: 1, fault_injection: true }
streams:
  tx:
    keys: { user: user_id, merchant: merchant_id }
    fields: { amount: number, country: category, user_id: category }
  conv:
    keys: { user: user_id }
    fields: { value: number }
entities:
  user:
    memory: 8MiB
    features:
      txn_count_10m:  { agg: count, window: 10m, tile: 1m, stream: tx }
      txn_count_1h:   { agg: count, window: 1h, stream: tx }
      amount_mean_1h: { agg: mean, field: amount, window: 1h, stream: tx }
      amount_max_1h:  { agg: max, field: amount, window: 1h, stream: tx }
      amount_std_1h:  { agg: stddev, field: amount, window: 1h, stream: tx }
      countries_24h:  { agg: distinct, field: country, window: 24h, tile: 1h, stream: tx }
  merchant:
    memory: 8MiB
    features:
      txn_count_1m:   { agg: count, window: 1m, tile: 5s }
      amount_mean_1h: { agg: mean, field: amount, window: 1h }
      users_1h:       { agg: distinct, field: user_id, window: 1h }
models:
  fraud_a:
    repository: fraud_a
    timeout: 5s
    inputs: ${FRAUD_INPUTS}
  fraud_b:
    repository: fraud_b
    timeout: 5s
    inputs: ${FRAUD_INPUTS}
experiments:
${experiment}`;
  server = await startServer({ config: loadConfigText(text, { baseDir: repo }), port: 0, host: '127.0.0.1', log: () => {}, dataDir });
  return `http://127.0.0.1:${server.port}`;
}

type Placed = { experiment: string; variant: string; target: { kind: string; name: string }; in_experiment: boolean; reason?: string };

async function assign(base: string, unit: string, name = 'ab'): Promise<Placed> {
  const r = await postJson(base, `/v1/experiments/${name}/assign`, { unit });
  expect(r.status).toBe(200);
  return r.body as Placed;
}

/** Exposes units u0..u{n-1}; converts control units where i % cDiv === 0 and treatment units where i % tDiv === 0. */
async function exposeAndConvert(base: string, n: number, cDiv: number, tDiv: number): Promise<Placed[]> {
  const placed: Placed[] = [];
  for (let i = 0; i < n; i++) placed.push(await assign(base, `u${i}`));
  const events = placed.flatMap((p, i) => ((p.variant === 'control' && i % cDiv === 0) || (p.variant === 'treatment' && i % tDiv === 0) ? [{ user_id: `u${i}`, value: 1 }] : []));
  // and events of units never exposed: not attributed
  events.push({ user_id: 'never-assigned', value: 1 });
  const r = await postJson(base, '/v1/events?stream=conv', events);
  expect(r.status).toBe(200);
  return placed;
}

type Result = { variant: string; exposures: number; n: number; mean: number | null; vs_control: null | { diff: number; msprt: { p: number }; cs: { p: number; ci: [number, number] }; z: { p: number }; significant: boolean }; rolled_back: boolean };
type Info = { status: string; winner: string | null; share: number; exposures: number; events: { attributed: number; unexposed: number }; srm: { p: number; flagged: boolean }; variants: Result[]; decisions: { kind: string; variant?: string; by: string; reason: string }[] };

async function info(base: string, name = 'ab'): Promise<Info> {
  const r = await getJson(base, `/v1/experiments/${name}`);
  expect(r.status).toBe(200);
  return r.body as Info;
}

describe('experiments', () => {
  it('assigns sticky variants, serves through the variant\'s model, and attributes conversions per variant', async () => {
    const base = await start(AB());
    const placed = await exposeAndConvert(base, 600, 10, 5);
    // sticky: a second assignment of the same units agrees
    for (let i = 0; i < 50; i++) expect((await assign(base, `u${i}`)).variant).toBe(placed[i].variant);
    const treated = placed.filter((p) => p.variant === 'treatment').length;
    expect(Math.abs(treated / 600 - 0.5)).toBeLessThan(0.07);
    expect(placed.every((p) => p.in_experiment && p.target.kind === 'model' && p.target.name === (p.variant === 'control' ? 'fraud_a' : 'fraud_b'))).toBe(true);

    // serve: the model's answer with the experiment and variant
    for (const i of [0, 1, 2, 3]) {
      const res = await fetch(`${base}/v1/experiments/ab/serve`, { method: 'POST', body: JSON.stringify({ unit: `u${i}`, ...predictBody(`u${i}`) }) });
      const raw = await res.text();
      const r = { status: res.status, body: JSON.parse(raw) };
      expect(r.status).toBe(200);
      // one `variant` key in the answer: the experiment's (the model's routing is model_variant)
      expect(raw.match(/"variant":/g)).toHaveLength(1);
      expect(r.body.variant).toBe(placed[i].variant);
      expect(r.body.model).toBe(placed[i].target.name);
      expect(typeof r.body.score).toBe('number');
      expect(r.body.experiment).toBe('ab');
      expect(r.body.model_variant).toBe('primary');
    }

    const x = await info(base);
    expect(x.exposures).toBe(600);
    expect(x.events.unexposed).toBe(1);
    const [c, t] = x.variants;
    expect(c.exposures + t.exposures).toBe(600);
    const cConv = placed.filter((p, i) => p.variant === 'control' && i % 10 === 0).length;
    const tConv = placed.filter((p, i) => p.variant === 'treatment' && i % 5 === 0).length;
    expect(c.mean).toBeCloseTo(cConv / c.exposures, 12);
    expect(t.mean).toBeCloseTo(tConv / t.exposures, 12);
    expect(t.vs_control!.diff).toBeCloseTo(t.mean! - c.mean!, 12);
    expect(t.vs_control!.msprt.p).toBeGreaterThan(0);
    expect(t.vs_control!.cs.ci[0]).toBeLessThan(t.vs_control!.diff);
    expect(x.srm.flagged).toBe(false);
    expect(x.status).toBe('running');

    const m = await metricsText(base);
    expect(metric(m, 'hotpath_experiment_exposures_total', 'experiment="ab",variant="control"')).toBe(c.exposures);
    expect(metric(m, 'hotpath_experiment_metric_mean', 'experiment="ab",variant="treatment"')).toBeCloseTo(t.mean!, 6);
    expect(metric(m, 'hotpath_experiment_p_value', 'experiment="ab",variant="treatment",test="msprt"')).toBeCloseTo(t.vs_control!.msprt.p, 6);
    expect(metric(m, 'hotpath_experiment_serves_total', 'experiment="ab",variant="control"') + metric(m, 'hotpath_experiment_serves_total', 'experiment="ab",variant="treatment"')).toBe(4);
  });

  it('stops for a winner, logs the decision, and then serves the winner to everyone', async () => {
    const base = await start(AB('    auto_stop: true'));
    await exposeAndConvert(base, 800, 20, 2); // 5 % against 50 %
    const x = await info(base);
    expect(x.status).toBe('stopped');
    expect(x.winner).toBe('treatment');
    const d = x.decisions.find((e) => e.kind === 'winner')!;
    expect(d.by).toBe('auto');
    expect(d.reason).toMatch(/always-valid p-value/);
    for (let i = 0; i < 20; i++) {
      const p = await assign(base, `late${i}`);
      expect(p.variant).toBe('treatment');
      expect(p.in_experiment).toBe(false);
      expect(p.reason).toBe('stopped');
    }
    const m = await metricsText(base);
    expect(metric(m, 'hotpath_experiment_decisions_total', 'experiment="ab",kind="winner"')).toBe(1);
    expect(metric(m, 'hotpath_experiment_running', 'experiment="ab"')).toBe(0);
  });

  it('rolls the treatment back when its model fails past the guardrail, raises an alert, and serves its units control', async () => {
    const base = await start(AB('    guardrails: { max_error_rate: 0.2, min_requests: 32 }'));
    const fault = await postJson(base, '/v1/debug/fault', { fault: 'fail', model: 'fraud_b', count: 100_000 });
    expect(fault.status).toBe(200);
    let treatmentErrors = 0;
    let controlOk = 0;
    for (let i = 0; i < 200; i++) {
      const r = await postJson(base, '/v1/experiments/ab/serve', { unit: `g${i}`, ...predictBody(`g${i}`) });
      if (r.status === 200) controlOk++;
      else {
        expect(r.body.error.code).toBe('HP_ERR_INFERENCE_FAILED');
        treatmentErrors++;
      }
    }
    expect(treatmentErrors).toBeGreaterThanOrEqual(32);
    const x = await info(base);
    expect(x.variants[1].rolled_back).toBe(true);
    const d = x.decisions.find((e) => e.kind === 'rollback')!;
    expect(d.variant).toBe('treatment');
    expect(d.reason).toMatch(/error rate/);
    // after the rollback every serve answers (control's model), the treatment's units marked
    let rolled = 0;
    for (let i = 0; i < 100; i++) {
      const r = await postJson(base, '/v1/experiments/ab/serve', { unit: `g${i}`, ...predictBody(`g${i}`) });
      expect(r.status).toBe(200);
      expect(r.body.model).toBe('fraud_a');
      if (r.body.reason === 'rolled_back') rolled++;
    }
    expect(rolled).toBeGreaterThan(20);
    expect(controlOk).toBeGreaterThan(0);
    const alerts = await getJson(base, '/v1/alerts');
    expect(JSON.stringify(alerts.body)).toMatch(/experiment:ab/);
    const m = await metricsText(base);
    expect(metric(m, 'hotpath_experiment_decisions_total', 'experiment="ab",kind="rollback"')).toBe(1);
    expect(metric(m, 'hotpath_experiment_serve_failures_total', 'experiment="ab",variant="treatment"')).toBeGreaterThanOrEqual(32);
  });

  it('rolls the treatment back when its model stalls past the latency guardrail (p95 of the serve path)', async () => {
    const base = await start(AB('    guardrails: { max_latency: 20ms, min_requests: 16 }'));
    const fault = await postJson(base, '/v1/debug/fault', { fault: 'stall', model: 'fraud_b', ms: 40 });
    expect(fault.status).toBe(200);
    for (let i = 0; i < 120; i++) {
      const r = await postJson(base, '/v1/experiments/ab/serve', { unit: `s${i}`, ...predictBody(`s${i}`) });
      expect(r.status).toBe(200);
      if ((await info(base)).variants[1].rolled_back) break;
    }
    const x = await info(base);
    expect(x.variants[1].rolled_back).toBe(true);
    expect(x.variants[0].rolled_back).toBe(false);
    expect(x.decisions.find((d) => d.kind === 'rollback')!.reason).toMatch(/p95 latency .* above guardrails.max_latency 20 ms/);
  });

  it('stops, resumes and ramps by hand (admin), and a ramp keeps units in their variant', async () => {
    const base = await start(AB('    ramp: [{ share: 0.2 }, { share: 1, after: 1d }]'));
    const at20 = await Promise.all(Array.from({ length: 200 }, (_, i) => assign(base, `r${i}`)));
    const inAt20 = at20.filter((p) => p.in_experiment);
    expect(inAt20.length).toBeGreaterThan(20);
    expect(inAt20.length).toBeLessThan(70);
    expect(at20.filter((p) => !p.in_experiment).every((p) => p.reason === 'not_ramped' && p.variant === 'control')).toBe(true);
    let r = await postJson(base, '/v1/experiments/ab/ramp', { share: 1 });
    expect(r.status).toBe(200);
    expect(r.body.share).toBe(1);
    for (let i = 0; i < 200; i++) {
      const p = await assign(base, `r${i}`);
      expect(p.in_experiment).toBe(true);
      if (at20[i].in_experiment) expect(p.variant).toBe(at20[i].variant);
    }
    r = await postJson(base, '/v1/experiments/ab/ramp', { share: 1.5 });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('HP_ERR_EXPERIMENT_INVALID');
    r = await postJson(base, '/v1/experiments/ab/stop', { winner: 'nobody' });
    expect(r.body.error.code).toBe('HP_ERR_EXPERIMENT_INVALID');
    r = await postJson(base, '/v1/experiments/ab/stop', { reason: 'done' });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('stopped');
    r = await postJson(base, '/v1/experiments/ab/stop', {});
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('HP_ERR_EXPERIMENT_STOPPED');
    expect((await assign(base, 'r1')).variant).toBe('control');
    r = await postJson(base, '/v1/experiments/ab/resume', {});
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('running');
    expect(r.body.decisions.map((d: { kind: string }) => d.kind)).toEqual(['ramp', 'stop', 'resume']);
  });

  it('refuses unknown experiments and bad bodies with clear errors, and changes nothing', async () => {
    const base = await start(AB());
    await assign(base, 'a1');
    const before = await info(base);
    for (const [path, body, code, status] of [
      ['/v1/experiments/nope/assign', { unit: 'a' }, 'HP_ERR_EXPERIMENT_UNKNOWN', 404],
      ['/v1/experiments/ab/assign', {}, 'HP_ERR_EXPERIMENT_INVALID', 400],
      ['/v1/experiments/ab/assign', { unit: '' }, 'HP_ERR_EXPERIMENT_INVALID', 400],
      ['/v1/experiments/ab/assign', { unit: 'x'.repeat(300) }, 'HP_ERR_EXPERIMENT_INVALID', 400],
      ['/v1/experiments/ab/assign', [1, 2], 'HP_ERR_EXPERIMENT_INVALID', 400],
      ['/v1/experiments/ab/assign', '{"unit":', 'HP_ERR_BAD_JSON', 400],
      ['/v1/experiments/ab/serve', { unit: 'a2' }, 'HP_ERR_PREDICT_INVALID', 400],
    ] as const) {
      const r = await postJson(base, path, body);
      expect(r.status, path).toBe(status);
      expect(r.body.error.code).toBe(code);
    }
    expect((await getJson(base, '/v1/experiments/nope')).body.error.code).toBe('HP_ERR_EXPERIMENT_UNKNOWN');
    const after = await info(base);
    // a2's serve was refused by the model's request check before any work: no exposure, no serve
    expect(after.exposures).toBe(before.exposures);
    expect(after.variants.map((v) => v.exposures)).toEqual(before.variants.map((v) => v.exposures));
    const list = await getJson(base, '/v1/experiments');
    expect(list.body.experiments.map((e: { experiment: string }) => e.experiment)).toEqual(['ab']);
  });

  it('keeps exposures, statistics and decisions across a restart (snapshot), and attributes replayed events', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hp-exp-'));
    dirs.push(dir);
    let base = await start(AB(), dir);
    const placed = await exposeAndConvert(base, 300, 4, 2);
    await postJson(base, '/v1/experiments/ab/ramp', { share: 0.9 });
    const before = await info(base);
    await server!.shutdown();
    server = undefined;
    base = await start(AB(), dir);
    const after = await info(base);
    expect(after.variants.map((v) => [v.exposures, v.mean])).toEqual(before.variants.map((v) => [v.exposures, v.mean]));
    expect(after.share).toBe(0.9);
    expect(after.decisions).toEqual(before.decisions);
    // an exposed unit converting after the restart is attributed (the exposed set came back)
    const i = placed.findIndex((p, k) => p.variant === 'control' && k % 4 !== 0);
    await postJson(base, '/v1/events?stream=conv', [{ user_id: `u${i}`, value: 1 }]);
    const later = await info(base);
    expect(later.events.attributed).toBe(before.events.attributed + 1);
    expect(later.variants[0].mean).toBeCloseTo((before.variants[0].mean! * before.variants[0].exposures + 1) / before.variants[0].exposures, 12);
  });

  it('after a crash, rebuilds the statistics from the last snapshot and the replayed log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hp-exp-'));
    dirs.push(dir);
    let base = await start(AB(), dir);
    const placed = await exposeAndConvert(base, 200, 1000, 1000);
    expect((await postJson(base, '/v1/admin/snapshot', {})).status).toBe(200);
    // conversions after the snapshot: only in the log
    const converting = placed.map((p, i) => ({ p, i })).filter(({ i }) => i % 3 === 0);
    await postJson(base, '/v1/events?stream=conv', converting.map(({ i }) => ({ user_id: `u${i}`, value: 1 })));
    const before = await info(base);
    await server!.close(); // no last snapshot
    server = undefined;
    base = await start(AB(), dir);
    const after = await info(base);
    expect(after.variants.map((v) => [v.exposures, v.mean])).toEqual(before.variants.map((v) => [v.exposures, v.mean]));
    expect(after.events.attributed).toBe(before.events.attributed);
  });

  it('scopes: experiments:{name} assigns and serves that experiment only; reading needs metrics:read; stop/resume/ramp need admin', async () => {
    const sec = await startSecured({
      extra: `experiments:
  ab:
    variants:
      control: { weight: 50, model: fraud }
      treatment: { weight: 50, model: fraud_rules }
  other:
    variants:
      control: { weight: 50, model: fraud }
      treatment: { weight: 50, model: fraud_rules }`,
    });
    server = sec.server;
    dirs.push(sec.dir);
    const ab = await sec.token(['experiments:ab']);
    const star = await sec.token(['experiments:*']);
    const unit = JSON.stringify({ unit: 'u1', ...predictBody('u1') });
    expect((await call(sec.base, 'POST', '/v1/experiments/ab/assign', ab, unit)).status).toBe(200);
    expect((await call(sec.base, 'POST', '/v1/experiments/ab/serve', ab, unit)).status).toBe(200);
    expect((await call(sec.base, 'POST', '/v1/experiments/other/assign', ab, unit)).code).toBe('HP_ERR_AUTH_FORBIDDEN');
    expect((await call(sec.base, 'POST', '/v1/experiments/other/serve', star, unit)).status).toBe(200);
    expect((await call(sec.base, 'POST', '/v1/experiments/ab/assign', undefined, unit)).code).toBe('HP_ERR_AUTH_REQUIRED');
    expect((await call(sec.base, 'GET', '/v1/experiments/ab', ab)).code).toBe('HP_ERR_AUTH_FORBIDDEN');
    expect((await call(sec.base, 'GET', '/v1/experiments/ab', sec.keys.metrics)).status).toBe(200);
    expect((await call(sec.base, 'GET', '/v1/experiments', sec.keys.admin)).status).toBe(200);
    expect((await call(sec.base, 'POST', '/v1/experiments/ab/stop', sec.keys.metrics, '{}')).code).toBe('HP_ERR_AUTH_FORBIDDEN');
    expect((await call(sec.base, 'POST', '/v1/experiments/ab/stop', star, '{}')).code).toBe('HP_ERR_AUTH_FORBIDDEN');
    expect((await call(sec.base, 'POST', '/v1/experiments/ab/stop', sec.keys.admin, '{}')).status).toBe(200);
    expect((await call(sec.base, 'POST', '/v1/experiments/ab/ramp', sec.keys.notAdmin, '{"share":1}')).code).toBe('HP_ERR_AUTH_FORBIDDEN');
  });
});
