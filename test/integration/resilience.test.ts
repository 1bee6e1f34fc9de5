// The server under faults, against the real server on port 0: a model made to stall
// (deadlines, fallbacks, the circuit breaker opening and closing again), a worker that
// dies mid-batch, rings and wait queue full (shedding with Retry-After), hot reload under
// load with zero failed requests. (100k bad requests, slow and aborted clients, and memory
// and ring slots back at their baseline afterwards: test/fuzz/http-fuzz.test.ts.)
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import type { Server } from '../../src/server/app.js';
import {
  addVersion, fixtureModel, FRAUD_INPUTS, FRAUD_V1, FRAUD_V2, getJson, makeRepo, metric, metricsText, oneModelYaml, postJson, predictBody, RULES_V1, startWith, STORE_YAML, until,
} from '../support/inference-server.js';

let server: Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const body = predictBody;
const slotOf = (s: Server, model: string) => s.models.get(model).current!.slot;

describe('a model made to stall', () => {
  it('answers with the fallback at the deadline, opens the breaker, then probes and closes it', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, `
server: { workers: 1 }
${STORE_YAML}
models:
  slow:
    repository: m
    inputs: ${FRAUD_INPUTS}
    batching: { max_batch: 8, max_queue_delay_us: 0 }
    timeout: 150ms
    fallback: { constant: 0.25 }
    circuit_breaker: { error_rate: 0.5, window: 10s, min_requests: 4, open_for: 300ms, half_open_probes: 2, latency: 1s }
  plain:
    repository: m
    inputs: ${FRAUD_INPUTS}
    timeout: 150ms
`);
    server = started.server;
    const { base } = started;
    expect((await postJson(base, '/v1/predict/slow', body())).body).toMatchObject({ fallback: false, variant: 'primary' });

    server.pool.fault({ type: 'fault', kind: 'stall', slot: slotOf(server, 'slow'), ms: 600 });
    const first = await postJson(base, '/v1/predict/slow', body());
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ fallback: true, reason: 'deadline', variant: 'constant', score: 0.25 });
    for (let i = 0; i < 3; i++) await postJson(base, '/v1/predict/slow', body());
    // 1 success then 3 deadlines: 4 outcomes (min_requests), 75 % failed: open. The third
    // request of the loop and this one are answered at once by the fallback.
    const open = await postJson(base, '/v1/predict/slow', body());
    expect(open.body).toMatchObject({ fallback: true, reason: 'circuit_open', score: 0.25 });
    let text = await metricsText(base);
    expect(metric(text, 'hotpath_circuit_state', 'model="slow"')).toBe(2);
    expect(metric(text, 'hotpath_model_fallbacks_total', 'model="slow",reason="deadline"')).toBe(3);
    expect(metric(text, 'hotpath_model_fallbacks_total', 'model="slow",reason="circuit_open"')).toBe(2);
    expect(metric(text, 'hotpath_model_requests_total', 'model="slow",outcome="failure",reason="deadline"')).toBe(3);

    // Heal the model; after open_for the probes pass and the breaker closes.
    server.pool.fault({ type: 'fault', kind: 'stall', slot: slotOf(server, 'slow'), ms: 0 });
    await new Promise((r) => setTimeout(r, 350));
    await until(async () => (await postJson(base, '/v1/predict/slow', body())).body.fallback === false);
    await postJson(base, '/v1/predict/slow', body());
    text = await metricsText(base);
    expect(metric(text, 'hotpath_circuit_state', 'model="slow"')).toBe(0);
    expect((await postJson(base, '/v1/predict/slow', body())).body.fallback).toBe(false);

    // Without a fallback, the deadline is a 504 with its code.
    server.pool.fault({ type: 'fault', kind: 'stall', slot: slotOf(server, 'plain'), ms: 600 });
    const late = await postJson(base, '/v1/predict/plain', body());
    expect([late.status, late.body.error.code]).toEqual([504, 'HP_ERR_DEADLINE']);
  });

  it('answers a model error with the fallback model, or a coded 500 without one', async () => {
    const repo = makeRepo({ m: { 1: FRAUD_V1 }, r: { 1: RULES_V1 }, odd: { 1: fixtureModel('gemm_relu_sigmoid') } });
    const started = await startWith(repo, `
server: { workers: 1 }
${STORE_YAML}
models:
  main:
    repository: m
    inputs: ${FRAUD_INPUTS}
    timeout: 2s
    fallback: { model: rules }
  rules:
    repository: r
    inputs: ${FRAUD_INPUTS}
    timeout: 2s
  main2:
    repository: m
    inputs: ${FRAUD_INPUTS}
    timeout: 2s
    fallback: { model: odd }
  odd:          # its entities and fields in another order, and fewer of them
    repository: odd
    inputs:
      - { feature: merchant.txn_count_1m }
      - { feature: merchant.users_1h }
      - { field: amount }
      - { feature: user.txn_count_1h }
      - { feature: user.countries_24h }
      - { feature: merchant.amount_mean_1h }
      - { feature: user.amount_max_1h }
    timeout: 2s
`);
    server = started.server;
    const { base } = started;
    server.pool.fault({ type: 'fault', kind: 'fail', slot: slotOf(server, 'main'), count: 1 });
    const r = await postJson(base, '/v1/predict/main', body());
    expect(r.body).toMatchObject({ fallback: true, reason: 'error', variant: 'rules', model: 'main' });
    // A fallback model whose request layout differs gets its own layout: the same score as asking it directly.
    await postJson(base, '/v1/events', [{ user_id: 'u1', merchant_id: 'm1', amount: 30, country: 'FR', ts: Date.now() - 1000 }]);
    server.pool.fault({ type: 'fault', kind: 'fail', slot: slotOf(server, 'main2'), count: 1 });
    const viaFallback = await postJson(base, '/v1/predict/main2', { entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 77 } });
    const direct = await postJson(base, '/v1/predict/odd', { entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 77 } });
    expect(viaFallback.body).toMatchObject({ fallback: true, variant: 'odd', model: 'main2' });
    expect(viaFallback.body.score).toBe(direct.body.score);
    server.pool.fault({ type: 'fault', kind: 'fail', slot: slotOf(server, 'rules'), count: 1 });
    const e = await postJson(base, '/v1/predict/rules', body());
    expect([e.status, e.body.error.code]).toEqual([500, 'HP_ERR_INFERENCE_FAILED']);
    expect((await postJson(base, '/v1/predict/rules', body())).status).toBe(200);
  });
});

describe('a worker that dies mid-batch', () => {
  it('answers every in-flight request, restarts the worker, and serves again', async () => {
    const repo = makeRepo({ m: { 1: FRAUD_V1 } });
    const started = await startWith(repo, oneModelYaml('m', 'batching: { max_batch: 64, max_queue_delay_us: 20000 }'));
    server = started.server;
    const { base } = started;
    // A 20 ms batch window: these requests are queued in the worker when it dies.
    server.pool.fault({ type: 'fault', kind: 'crash' });
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => postJson(base, '/v1/predict/m', body(`u${i}`))));
    // Those in the dying batch get the crash code; any that arrived after it wait for the
    // replacement worker and succeed.
    for (const a of answers) expect([[200, undefined], [503, 'HP_ERR_WORKER_CRASHED']]).toContainEqual([a.status, a.body.error?.code]);
    expect(answers.filter((a) => a.status === 503).length).toBeGreaterThan(0);
    await until(async () => (await getJson(base, '/readyz')).status === 200); // unready until the replacement loaded m
    expect((await postJson(base, '/v1/predict/m', body())).status).toBe(200);
    expect(metric(await metricsText(base), 'hotpath_worker_restarts_total')).toBe(1);
    expect(server.pool.pendingCount).toBe(0);
  });
});

describe('rings and the wait queue full', () => {
  it('sheds with 503 and Retry-After, or answers with the fallback', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, `
server: { workers: 1, ring_bytes: 4096, wait_queue: 4 }
${STORE_YAML}
models:
  m:
    repository: m
    inputs: ${FRAUD_INPUTS}
    batching: { max_batch: 1, max_queue_delay_us: 0 }
    timeout: 10s
  f:
    repository: m
    inputs: ${FRAUD_INPUTS}
    batching: { max_batch: 1, max_queue_delay_us: 0 }
    timeout: 10s
    fallback: { constant: 0.5 }
`);
    server = started.server;
    const { base } = started;
    // m takes 20 ms a request, and the worker takes at most two batches of it out of its
    // ring: the ring (4 KiB, about 70 requests) stays full while the 150 requests arrive.
    server.pool.fault({ type: 'fault', kind: 'stall', slot: slotOf(server, 'm'), ms: 20 });
    const all = await Promise.all(Array.from({ length: 150 }, (_, i) => fetch(`${base}/v1/predict/${i % 2 ? 'f' : 'm'}`, { method: 'POST', body: JSON.stringify(body()) })
      .then(async (r) => ({ model: i % 2 ? 'f' : 'm', status: r.status, retry: r.headers.get('retry-after'), body: await r.json() }))));
    const shed = all.filter((a) => a.model === 'm' && a.status === 503);
    // What each model got, for the failure message: status and code or fallback reason, counted.
    const counts: Record<string, number> = {};
    for (const a of all) {
      const k = `${a.model} ${a.status} ${a.body.error?.code ?? a.body.reason ?? 'ok'}`;
      counts[k] = (counts[k] ?? 0) + 1;
    }
    const seen = JSON.stringify(counts);
    expect(shed.length, seen).toBeGreaterThan(0);
    for (const s of shed) expect([s.body.error.code, s.retry]).toEqual(['HP_ERR_OVERLOADED', '1']);
    expect(all.filter((a) => a.model === 'm').every((a) => a.status === 200 || a.status === 503), seen).toBe(true);
    const fb = all.filter((a) => a.model === 'f');
    expect(fb.every((a) => a.status === 200), seen).toBe(true);
    expect(fb.some((a) => a.body.fallback === true && a.body.reason === 'overloaded'), seen).toBe(true);
    const text = await metricsText(base);
    expect(metric(text, 'hotpath_shed_requests_total', 'cause="wait_queue_full"'), seen).toBe(shed.length + fb.filter((a) => a.body.reason === 'overloaded').length);
    await until(() => server!.pool.pendingCount === 0);
    // A tensor request larger than a ring can ever hold is refused at once, not queued.
    const big = await postJson(base, '/v2/models/m/infer', { inputs: [{ name: 'features', datatype: 'FP32', shape: [100, 10], data: new Array(1000).fill(0) }] });
    expect(big.status).toBe(413);
    expect(big.body.error).toMatch(/ring_bytes/);
  });
});

describe('unload', () => {
  it('takes a model out of service until a load: not ready (or its fallback), and the server stays ready', async () => {
    const repo = makeRepo({ m: { 1: FRAUD_V1 }, r: { 1: RULES_V1 } });
    const started = await startWith(repo, `
server: { workers: 1 }
${STORE_YAML}
models:
  m:
    repository: m
    inputs: ${FRAUD_INPUTS}
    fallback: { constant: 0.5 }
  r:
    repository: r
    inputs: ${FRAUD_INPUTS}
`);
    server = started.server;
    const { base } = started;
    expect((await postJson(base, '/v1/predict/r', body())).status).toBe(200);
    expect((await postJson(base, '/v2/repository/models/r/unload', '')).status).toBe(200);
    const off = await postJson(base, '/v1/predict/r', body());
    expect(off.status).toBe(503);
    expect(off.body.error.code).toBe('HP_ERR_MODEL_NOT_READY');
    expect((await postJson(base, '/v2/repository/models/m/unload', '')).status).toBe(200);
    expect((await postJson(base, '/v1/predict/m', body())).body).toMatchObject({ fallback: true, reason: 'not_ready', score: 0.5 });
    expect((await getJson(base, '/readyz')).status).toBe(200); // unloaded on purpose: still ready
    expect((await postJson(base, '/v2/repository/models/r/unload', '')).status).toBe(200); // again: nothing to do
    expect((await postJson(base, '/v2/repository/models/r/load', '')).status).toBe(200);
    expect((await postJson(base, '/v1/predict/r', body())).body).toMatchObject({ fallback: false, version: '1' });
    expect((await postJson(base, '/v2/repository/models/nope/unload', '')).status).toBe(404);
  });
});

describe('hot reload', () => {
  it('swaps versions under load with zero failed requests, and keeps serving when a version is bad', async () => {
    const repo = makeRepo({ m: { 1: FRAUD_V1 } });
    const started = await startWith(repo, oneModelYaml('m'));
    server = started.server;
    const { base } = started;
    let stop = false;
    const seen = new Map<string, number>();
    const failures: unknown[] = [];
    const client = async () => {
      while (!stop) {
        const r = await postJson(base, '/v1/predict/m', body());
        if (r.status !== 200) failures.push(r.body);
        else seen.set(r.body.version, (seen.get(r.body.version) ?? 0) + 1);
      }
    };
    const clients = Array.from({ length: 8 }, client);
    await new Promise((r) => setTimeout(r, 150));
    addVersion(repo, 'm', 2, FRAUD_V2);
    const load = await postJson(base, '/v2/repository/models/m/load', '');
    expect(load.status).toBe(200);
    await new Promise((r) => setTimeout(r, 150));
    // A broken version 3: refused, and version 2 keeps serving.
    addVersion(repo, 'm', 3, FRAUD_V2);
    writeFileSync(join(repo, 'm', '3', 'model.onnx'), 'not onnx');
    const bad = await postJson(base, '/v2/repository/models/m/load', '');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/model 'm'/);
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    expect(seen.get('1')).toBeGreaterThan(0);
    expect(seen.get('2')).toBeGreaterThan(0);
    expect((await getJson(base, '/v2/models/m')).body.versions).toEqual(['2']);
    const index = await postJson(base, '/v2/repository/index', '');
    expect(index.body).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'm', version: '2', state: 'READY' })]));
    // Loading an explicit version goes back to it.
    copyFileSync(FRAUD_V1, join(repo, 'm', '3', 'model.onnx'));
    expect((await postJson(base, '/v2/repository/models/m/load', { parameters: { version: 1 } })).status).toBe(200);
    expect((await postJson(base, '/v1/predict/m', body())).body.version).toBe('1');
    // Reloading the version that serves keeps it listed and ready.
    expect((await postJson(base, '/v2/repository/models/m/load', { parameters: { version: 1 } })).status).toBe(200);
    expect((await getJson(base, '/v2/models/m')).body.versions).toEqual(['1']);
    expect((await getJson(base, '/v2/models/m/versions/1/ready')).status).toBe(200);
  });
});
