// Per-stage latency and the slowest requests on a real server (port 0): the stage series on
// /metrics grow by one per request of each route class; a model made to stall (the fault
// runner) puts its requests at the top of GET /v1/debug/slow with a stage split that sums to
// their total and names the stage (run) where the time went; the list forgets them after a
// minute; ?limit= is checked; with auth on, only the admin scope may read it.
import { afterEach, describe, expect, it } from 'vitest';

import type { Server } from '../../src/server/app.js';
import { nowMs } from '../../src/runtime/records.js';
import { FRAUD_V1, getJson, makeRepo, metric, metricsText, oneModelYaml, postJson, predictBody, startWith } from '../support/inference-server.js';
import { encodePredict } from '../../src/server/ws-protocol.js';
import { ask, call, openWs, type Secured, startSecured } from '../support/security.js';

let server: Server | undefined;
let secured: Secured | undefined;
afterEach(async () => {
  await server?.close();
  await secured?.server.close();
  server = secured = undefined;
});

async function start(): Promise<string> {
  const s = await startWith(makeRepo({ fraud: { 1: FRAUD_V1 } }), oneModelYaml('fraud', 'batching: { max_batch: 8, max_queue_delay_us: 2000 }'));
  server = s.server;
  return s.base;
}

const count = (text: string, route: string, stage: string) => metric(text, 'hotpath_stage_duration_seconds_count', `route="${route}",stage="${stage}"`);
const total = (text: string, route: string) => metric(text, 'hotpath_request_duration_seconds_count', `route="${route}"`);
const ev = (user: string) => ({ user_id: user, merchant_id: 'm1', amount: 5, country: 'FR', ts: Date.now() });

describe('per-stage latency on /metrics', () => {
  it('counts each answered request once in every stage of its route class, and every answer in the total', async () => {
    const base = await start();
    expect((await postJson(base, '/v1/events', [ev('u1'), ev('u2')])).status).toBe(200);
    expect((await postJson(base, '/v1/predict/fraud', predictBody('u1'))).status).toBe(200);
    let before = await metricsText(base);
    for (let i = 0; i < 3; i++) {
      expect((await postJson(base, '/v1/events', ev('u1'))).status).toBe(200);
      expect((await postJson(base, '/v1/predict/fraud', predictBody('u1'))).status).toBe(200);
      expect((await getJson(base, '/v1/features/user/u1')).status).toBe(200);
      expect((await postJson(base, '/v1/features', { entity: 'user', ids: ['u1', 'u2'] })).status).toBe(200);
      expect((await postJson(base, '/get-online-features', { features: ['user:txn_count_1h'], entities: { user_id: ['u1'] } })).status).toBe(200);
      expect((await postJson(base, '/v2/models/fraud/infer', { inputs: [{ name: server!.models.get('fraud').current!.input.name, datatype: 'FP32', shape: [1, 10], data: new Array(10).fill(0.5) }] })).status).toBe(200);
    }
    let after = await metricsText(base);
    for (const stage of ['parse', 'queue', 'batch_wait', 'run', 'answer']) {
      expect(count(after, 'predict', stage) - count(before, 'predict', stage), `predict ${stage}`).toBe(3);
      expect(count(after, 'infer', stage) - count(before, 'infer', stage), `infer ${stage}`).toBe(3);
    }
    for (const route of ['features', 'features_batch', 'feast'])
      for (const stage of ['parse', 'store', 'answer']) expect(count(after, route, stage) - count(before, route, stage), `${route} ${stage}`).toBe(3);
    for (const stage of ['parse', 'apply', 'durable']) expect(count(after, 'events', stage) - count(before, 'events', stage), `events ${stage}`).toBe(3);
    for (const route of ['predict', 'infer', 'features', 'features_batch', 'feast', 'events']) expect(total(after, route) - total(before, route), route).toBe(3);
    // The model waits 2 ms from a request's submission for a batch to fill: one request alone
    // waits it out, in queue until the worker takes it from the ring, then in batch_wait.
    // How the 2 ms split between the two depends on how soon the worker thread wakes (on a
    // loaded machine most of it can be queue), so only their sum is held to the window.
    const mean = (st: string) => metric(after, 'hotpath_stage_duration_seconds_sum', `route="predict",stage="${st}"`) / count(after, 'predict', st);
    expect(mean('batch_wait')).toBeGreaterThan(0);
    expect(mean('queue') + mean('batch_wait')).toBeGreaterThan(0.0019);
    expect(metric(after, 'hotpath_model_batch_size_count', 'model="fraud"')).toBeGreaterThanOrEqual(7);

    // An error counts in the total (every status), not in the stages.
    before = after;
    expect((await postJson(base, '/v1/predict/fraud', { entities: {} })).status).toBe(400);
    expect((await getJson(base, '/v1/features/nobody/u1')).status).toBe(404);
    after = await metricsText(base);
    expect(total(after, 'predict') - total(before, 'predict')).toBe(1);
    expect(total(after, 'features') - total(before, 'features')).toBe(1);
    expect(count(after, 'predict', 'parse') - count(before, 'predict', 'parse')).toBe(0);
    expect(count(after, 'features', 'parse') - count(before, 'features', 'parse')).toBe(0);
  });
});

describe('server.stage_timing: false', () => {
  it('records no stage, no total and no slow request', async () => {
    const yaml = oneModelYaml('fraud').replace('server: { workers: 1 }', 'server: { workers: 1, stage_timing: false }');
    const s = await startWith(makeRepo({ fraud: { 1: FRAUD_V1 } }), yaml);
    server = s.server;
    const base = s.base;
    expect((await postJson(base, '/v1/events', ev('u1'))).status).toBe(200);
    expect((await postJson(base, '/v1/predict/fraud', predictBody('u1'))).status).toBe(200);
    expect((await getJson(base, '/v1/features/user/u1')).status).toBe(200);
    const text = await metricsText(base);
    expect(text).toContain('# TYPE hotpath_stage_duration_seconds histogram');
    expect(text).not.toContain('hotpath_stage_duration_seconds_count');
    expect(text).not.toContain('hotpath_request_duration_seconds_count');
    const slow = await getJson(base, '/v1/debug/slow');
    expect(slow.body).toEqual({ stage_timing: false, window_s: 60, requests: [] });
  });
});

describe('WebSocket predicts', () => {
  it('count in route class ws_predict, JSON and binary frames alike; a frame refused before it is submitted does not', async () => {
    const base = await start();
    const ws = await openWs(base);
    if (typeof ws === 'number') throw new Error(`upgrade refused: ${ws}`);
    try {
      const before = await metricsText(base);
      expect((await ask(ws, JSON.stringify({ id: 1, op: 'predict', model: 'fraud', ...predictBody('u1') }))).ok).toBe(true);
      expect(Buffer.isBuffer(await ask(ws, encodePredict({ id: 2, model: 'fraud', entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 10 } })))).toBe(true);
      expect((await ask(ws, JSON.stringify({ id: 3, op: 'predict', model: 'fraud', entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 'x' } }))).ok).toBe(false);
      const after = await metricsText(base);
      for (const stage of ['parse', 'queue', 'batch_wait', 'run', 'answer']) expect(count(after, 'ws_predict', stage) - count(before, 'ws_predict', stage), stage).toBe(2);
      // a frame refused before it reached the model is no predict of the route class: only answers of submitted requests count
      expect(total(after, 'ws_predict') - total(before, 'ws_predict')).toBe(2);
    } finally {
      ws.close();
    }
  });
});

describe('GET /v1/debug/slow', () => {
  it('lists the slowest requests first with a stage split that sums to their total, and forgets them after a minute', async () => {
    const base = await start();
    await postJson(base, '/v1/events', ev('u1'));
    for (let i = 0; i < 30; i++) await getJson(base, '/v1/features/user/u1');
    // Every batch of the model sleeps 150 ms: its requests are the slowest, in the run stage.
    server!.pool.fault({ type: 'fault', kind: 'stall', slot: server!.models.get('fraud').current!.slot, ms: 150 });
    const t0 = Date.now();
    const slow = await Promise.all([postJson(base, '/v1/predict/fraud', predictBody('u1')), postJson(base, '/v1/predict/fraud', predictBody('u2'))]);
    for (const r of slow) expect(r.status).toBe(200);
    server!.pool.fault({ type: 'fault', kind: 'stall', slot: server!.models.get('fraud').current!.slot, ms: 0 });

    const r = await getJson(base, '/v1/debug/slow?limit=5');
    expect(r.status).toBe(200);
    expect(r.body.window_s).toBe(60);
    expect(r.body.stage_timing).toBe(true);
    const list = r.body.requests as any[];
    expect(list).toHaveLength(5);
    for (let i = 1; i < list.length; i++) expect(list[i - 1].total_ms).toBeGreaterThanOrEqual(list[i].total_ms);
    const top = list[0];
    expect(top).toMatchObject({ route: 'predict', model: 'fraud', status: 200 });
    expect(top.total_ms).toBeGreaterThan(140);
    expect(top.at).toBeGreaterThanOrEqual(t0 - 5);
    expect(top.at).toBeLessThanOrEqual(Date.now());
    expect(Object.keys(top.stages)).toEqual(['parse_ms', 'queue_ms', 'batch_wait_ms', 'run_ms', 'answer_ms']);
    const sum = Object.values(top.stages as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - top.total_ms)).toBeLessThan(Math.max(1, top.total_ms * 0.02));
    expect(top.stages.run_ms).toBeGreaterThan(140);
    expect(list[1]).toMatchObject({ route: 'predict', model: 'fraud' });
    // the rest: feature reads, split into parse, store, answer
    const read = list.find((x) => x.route === 'features');
    expect(read).toMatchObject({ entity: 'user', status: 200 });
    expect(Object.keys(read.stages)).toEqual(['parse_ms', 'store_ms', 'answer_ms']);

    // Default 20; bad limits are refused with a code.
    expect(((await getJson(base, '/v1/debug/slow')).body.requests as unknown[]).length).toBe(20);
    for (const bad of ['0', '101', 'x', '-1', '2.5', '']) {
      const b = await call(base, 'GET', `/v1/debug/slow?limit=${bad}`);
      expect(b.status, bad).toBe(400);
      expect(b.code).toBe('HP_ERR_QUERY_INVALID');
      expect(b.json.error.message).toContain('limit must be an integer from 1 to 100');
    }

    // A minute later they are gone (the list as of now + 61 s; nothing new was answered).
    const later = server!.stages.slowest(20, nowMs() + 61_000).requests;
    expect(later).toEqual([]);
    expect(server!.stages.slowest(20, nowMs() + 30_000).requests.length).toBeGreaterThan(0);
  });

  it('is refused without the admin scope when auth is on', async () => {
    secured = await startSecured();
    const { base, keys } = secured;
    expect((await call(base, 'GET', '/v1/debug/slow')).status).toBe(401);
    const wrong = await call(base, 'GET', '/v1/debug/slow', keys.notAdmin);
    expect(wrong.status).toBe(403);
    const ok = await call(base, 'GET', '/v1/debug/slow', keys.admin);
    expect(ok.status).toBe(200);
    // nothing answered yet by a route with stages (the list's own route has none)
    expect(ok.json.requests).toEqual([]);
  });
});
