// Fault tolerance against the real server on port 0: shedding by queue-delay budget (a
// stalled model's new requests are answered at once, with 503 + Retry-After or the
// fallback, instead of at their deadline), the fault-injection route (off by default,
// admin-scoped), and readiness while every circuit breaker is open (liveness stays up).
import { afterEach, describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { FRAUD_INPUTS, getJson, makeRepo, metric, metricsText, postJson, predictBody, RULES_V1, startWith, STORE_YAML, until } from '../support/inference-server.js';

let server: Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const body = predictBody;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A predict with its status, Retry-After, body and how long it took (ms). */
async function timed(base: string, model: string) {
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/predict/${model}`, { method: 'POST', body: JSON.stringify(body()), headers: { 'content-type': 'application/json' } });
  return { status: r.status, retry: r.headers.get('retry-after'), body: await r.json(), ms: performance.now() - t0 };
}

const twoModels = (server: string) => `
server: { workers: 1, ${server} }
${STORE_YAML}
models:
  m:
    repository: m
    inputs: ${FRAUD_INPUTS}
    batching: { max_batch: 4, max_queue_delay_us: 0 }
    timeout: 10s
  f:
    repository: m
    inputs: ${FRAUD_INPUTS}
    batching: { max_batch: 4, max_queue_delay_us: 0 }
    timeout: 10s
    fallback: { constant: 0.5 }
`;

describe('shedding by queue-delay budget', () => {
  it('answers new requests at once while a stalled model holds the worker past the budget', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, twoModels('queue_delay_budget: 20ms'));
    server = started.server;
    const { base } = started;
    expect((await timed(base, 'm')).status).toBe(200);
    // m's batches sleep 1.5 s for the next 1.5 s: the worker runs one, everything behind it waits.
    server.pool.fault({ type: 'fault', kind: 'stall', slot: server.models.get('m').current!.slot, ms: 1500, until: Date.now() + 1500 });
    const stalled = timed(base, 'm');
    await until(() => server!.pool.queueDelay() > 40);
    // Over the budget: shed at once, without a fallback 503 + Retry-After, with one the fallback.
    const shed = await timed(base, 'm');
    expect([shed.status, shed.body.error?.code, shed.retry]).toEqual([503, 'HP_ERR_OVERLOADED', '1']);
    expect(shed.body.error.message).toMatch(/queue delay is over the budget \(20 ms\)/);
    const fb = await timed(base, 'f');
    expect(fb.body).toMatchObject({ fallback: true, reason: 'overloaded', variant: 'constant', score: 0.5 });
    // Both came back long before the stall ends (1.5 s), not at the 10 s deadline.
    expect(shed.ms + fb.ms).toBeLessThan(1000);
    const text = await metricsText(base);
    expect(metric(text, 'hotpath_shed_requests_total', 'cause="queue_delay"')).toBe(2);
    expect(metric(text, 'hotpath_shed_requests_total', 'cause="wait_queue_full"')).toBe(0);
    expect(metric(text, 'hotpath_queue_delay_seconds')).toBeGreaterThan(0.04);
    // The stalled request itself is answered by the model, and once the worker is free,
    // requests run again.
    expect((await stalled).status).toBe(200);
    await until(async () => (await timed(base, 'm')).status === 200);
    expect(metric(await metricsText(base), 'hotpath_queue_delay_seconds')).toBeLessThan(0.02);
  });

  it('keeps shedding while the stalled batch outlives every request in flight', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, twoModels('queue_delay_budget: 20ms').replace(/timeout: 10s/g, 'timeout: 60ms'));
    server = started.server;
    const { base } = started;
    expect((await timed(base, 'm')).status).toBe(200);
    server.pool.fault({ type: 'fault', kind: 'stall', slot: server.models.get('m').current!.slot, ms: 1500, until: Date.now() + 1500 });
    // The stalled request passes its deadline: nothing is in flight, the worker still sleeps.
    const late = await timed(base, 'm');
    expect([late.status, late.body.error.code]).toEqual([504, 'HP_ERR_DEADLINE']);
    expect(server.pool.pendingCount).toBe(0);
    // Requests one at a time, nothing else in flight: each is shed at once, none waits for its deadline.
    for (let i = 0; i < 5; i++) {
      await sleep(20);
      const r = await timed(base, 'm');
      expect([r.status, r.body.error.code]).toEqual([503, 'HP_ERR_OVERLOADED']);
    }
  });

  it('sheds a burst it admitted as the worker reaches requests that waited past the budget', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, twoModels('queue_delay_budget: 20ms').replace(/max_batch: 4/g, 'max_batch: 1'));
    server = started.server;
    const { base } = started;
    expect((await timed(base, 'm')).status).toBe(200);
    // 10 ms a request, one at a time: 40 at once would take 400 ms to drain.
    server.pool.fault({ type: 'fault', kind: 'stall', slot: server.models.get('m').current!.slot, ms: 10 });
    const all = await Promise.all(Array.from({ length: 40 }, () => timed(base, 'm')));
    const ok = all.filter((a) => a.status === 200);
    const shed = all.filter((a) => a.status === 503);
    expect(ok.length + shed.length).toBe(40);
    expect(ok.length).toBeGreaterThan(0);
    expect(shed.length).toBeGreaterThan(20);
    for (const a of shed) expect([a.body.error.code, a.retry]).toEqual(['HP_ERR_OVERLOADED', '1']);
    // Whoever ran started within the budget (server side: 20 ms, then its 10 ms run), and
    // nobody waited for the whole burst (400 ms).
    for (const a of ok) expect(a.body.latency_us).toBeLessThan(100_000);
    expect(metric(await metricsText(base), 'hotpath_shed_requests_total', 'cause="queue_delay"')).toBe(shed.length);
  });

  it('answers a request shed after waiting its budget with the constant, not its fallback model', async () => {
    // The fallback model runs on the same workers: it would wait in the same queue again.
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, `
server: { workers: 1, queue_delay_budget: 20ms }
${STORE_YAML}
models:
  m:
    repository: m
    inputs: ${FRAUD_INPUTS}
    batching: { max_batch: 1, max_queue_delay_us: 0 }
    timeout: 10s
    fallback: { model: r }
  r:
    repository: m
    inputs: ${FRAUD_INPUTS}
    timeout: 10s
    fallback: { constant: 0.5 }
`);
    server = started.server;
    const { base } = started;
    expect((await timed(base, 'm')).body.variant).toBe('primary');
    const rulesRan = async () => metric(await metricsText(base), 'hotpath_model_inference_count_total', 'model="r"');
    const before = await rulesRan();
    server.pool.fault({ type: 'fault', kind: 'stall', slot: server.models.get('m').current!.slot, ms: 10 });
    const all = await Promise.all(Array.from({ length: 40 }, () => timed(base, 'm')));
    expect(all.every((a) => a.status === 200)).toBe(true);
    const shed = all.filter((a) => a.body.fallback);
    expect(shed.length).toBeGreaterThan(20);
    for (const a of shed) expect(a.body).toMatchObject({ reason: 'overloaded', variant: 'constant', score: 0.5 });
    expect(await rulesRan()).toBe(before);
  });

  it('leaves a server without a budget waiting as before (the length bound only)', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, twoModels('wait_queue: 100'));
    server = started.server;
    const { base } = started;
    expect((await timed(base, 'm')).status).toBe(200);
    server.pool.fault({ type: 'fault', kind: 'stall', slot: server.models.get('m').current!.slot, ms: 400 });
    const stalled = timed(base, 'm');
    await sleep(60);
    const waited = await timed(base, 'm');
    expect(waited.status).toBe(200);
    expect(waited.ms).toBeGreaterThan(200); // it waited for the stalled batch
    expect((await stalled).status).toBe(200);
    expect(metric(await metricsText(base), 'hotpath_shed_requests_total', 'cause="queue_delay"')).toBe(0);
  });
});

describe('a throwing model', () => {
  it('is logged once a second at most, with the count of failures left out', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const lines: string[] = [];
    server = await startServer({ config: loadConfigText(twoModels('wait_queue: 100'), { baseDir: repo }), port: 0, host: '127.0.0.1', log: (l) => lines.push(l) });
    const base = `http://127.0.0.1:${server.port}`;
    server.pool.fault({ type: 'fault', kind: 'fail', slot: server.models.get('f').current!.slot, count: 1000 });
    const t0 = Date.now();
    for (let i = 0; i < 30; i++) expect((await timed(base, 'f')).body).toMatchObject({ fallback: true, reason: 'error' });
    const failed = () => lines.filter((l) => l.includes('inference failed'));
    if (Date.now() - t0 < 900) expect(failed()).toEqual(["model f: inference failed: injected model failure"]);
    await sleep(1000);
    await timed(base, 'f');
    expect(failed().at(-1)).toMatch(/^model f: inference failed: injected model failure \(and \d+ more failures since the last line\)$/);
    expect(failed().length).toBeLessThanOrEqual(3);
  });
});

describe('POST /v1/debug/fault', () => {
  it('is refused with its code unless server.fault_injection is on', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, twoModels('wait_queue: 100'));
    server = started.server;
    const r = await postJson(started.base, '/v1/debug/fault', { fault: 'crash' });
    expect([r.status, r.body.error.code]).toEqual([404, 'HP_ERR_FAULT_INJECTION_OFF']);
    expect(server.pool.restarts).toBe(0);
  });

  it('makes a model fail or stall for a while, and a worker crash', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, twoModels('fault_injection: true'));
    server = started.server;
    const { base } = started;
    const bad = await postJson(base, '/v1/debug/fault', { fault: 'stall', model: 'm' });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'HP_ERR_QUERY_INVALID']);
    expect((await postJson(base, '/v1/debug/fault', { fault: 'fail', model: 'nope' })).body.error.code).toBe('HP_ERR_MODEL_UNKNOWN');
    expect((await postJson(base, '/v1/debug/fault', { fault: 'melt' })).status).toBe(400);

    const fail = await postJson(base, '/v1/debug/fault', { fault: 'fail', model: 'f', count: 1_000_000, for_ms: 300 });
    expect(fail.body).toMatchObject({ fault: 'fail', model: 'f', version: 1, workers: [0] });
    expect((await timed(base, 'f')).body).toMatchObject({ fallback: true, reason: 'error' });
    // It heals by itself after for_ms.
    await until(async () => (await timed(base, 'f')).body.fallback === false);

    await postJson(base, '/v1/debug/fault', { fault: 'stall', model: 'm', ms: 300 });
    expect((await timed(base, 'm')).ms).toBeGreaterThan(250);
    await postJson(base, '/v1/debug/fault', { fault: 'stall', model: 'm', ms: 0 });
    await timed(base, 'm'); // the stall message is read in order with requests
    expect((await timed(base, 'm')).ms).toBeLessThan(250);

    expect((await postJson(base, '/v1/debug/fault', { fault: 'crash' })).body).toEqual({ fault: 'crash', workers: [0] });
    await timed(base, 'm'); // the batch that ends the worker
    await until(() => server!.pool.restarts === 1);
    await until(async () => (await timed(base, 'm')).status === 200);
  });
});

describe('readiness', () => {
  const breakers = (extra = '') => `
server: { workers: 1 }
${STORE_YAML}
models:
  a:
    repository: m
    inputs: ${FRAUD_INPUTS}
    timeout: 10s
    fallback: { constant: 0.5 }
    circuit_breaker: { error_rate: 1, min_requests: 2, open_for: 400ms }
  b:
    repository: m
    inputs: ${FRAUD_INPUTS}
    timeout: 10s
    circuit_breaker: { error_rate: 1, min_requests: 2, open_for: 400ms }
${extra}`;

  it('is false while every circuit breaker is open, and liveness stays true', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, breakers());
    server = started.server;
    const { base } = started;
    expect((await getJson(base, '/readyz')).status).toBe(200);
    for (const name of ['a', 'b']) server.pool.fault({ type: 'fault', kind: 'fail', slot: server.models.get(name).current!.slot, count: 1000 });
    for (let i = 0; i < 2; i++) await timed(base, 'a');
    // a's breaker is open, b's is not: the server still serves b.
    expect((await getJson(base, '/readyz')).status).toBe(200);
    for (let i = 0; i < 2; i++) await timed(base, 'b');
    const r = await getJson(base, '/readyz');
    expect([r.status, r.body.error.code]).toEqual([503, 'HP_ERR_NOT_READY']);
    expect(r.body.error.message).toMatch(/every circuit breaker is open: a, b/);
    expect((await getJson(base, '/v2/health/ready')).status).toBe(400);
    expect((await getJson(base, '/healthz')).status).toBe(200);
    expect((await getJson(base, '/v2/health/live')).status).toBe(200);
    // Past open_for the breakers would let probes through: ready again, with no request sent.
    await sleep(450);
    expect((await getJson(base, '/readyz')).status).toBe(200);
  });

  it('stays true while a model without a breaker can serve', async () => {
    const repo = makeRepo({ m: { 1: RULES_V1 } });
    const started = await startWith(repo, breakers(`  c:
    repository: m
    inputs: ${FRAUD_INPUTS}
`));
    server = started.server;
    const { base } = started;
    for (const name of ['a', 'b']) {
      server.pool.fault({ type: 'fault', kind: 'fail', slot: server.models.get(name).current!.slot, count: 1000 });
      for (let i = 0; i < 2; i++) await timed(base, name);
      expect(server.models.get(name).breaker!.state).toBe('open');
    }
    expect((await getJson(base, '/readyz')).status).toBe(200);
  });
});
