// Predictions through every protocol against the real server on port 0: REST predict,
// KServe V2 (JSON and the binary tensor extension), Feast's get-online-features, and the
// WebSocket in JSON and binary frames. Scores are checked against onnxruntime run on the
// features the server reports, so the gather, the transforms and the native runtime are
// all under test. Batches larger than 1 form under concurrent load (read from /metrics),
// and the metrics text passes promtool.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import type { Server } from '../../src/server/app.js';
import { decodeServerFrame, encodeEvents, encodePredict } from '../../src/server/ws-protocol.js';
import {
  FRAUD_INPUTS, FRAUD_V1, fixtureModel, getJson, makeRepo, metric, postJson, RULES_V1, startWith, STORE_YAML,
} from '../support/inference-server.js';

let server: Server;
let base: string;
let fraudSession: ort.InferenceSession;

const YAML = `
server: { workers: 1, max_batch: 1000 }
${STORE_YAML}
models:
  fraud:
    repository: fraud
    inputs: ${FRAUD_INPUTS}
    batching: { max_batch: 32, max_queue_delay_us: 500 }
    timeout: 5s
  fraud_onnx:
    repository: fraud
    runtime: onnx
    inputs: ${FRAUD_INPUTS}
    timeout: 5s
  softmax:
    repository: softmax
    timeout: 5s
  leaky:
    repository: leaky
    timeout: 5s
`;

beforeAll(async () => {
  const repo = makeRepo({
    fraud: { 1: FRAUD_V1 },
    rules: { 1: RULES_V1 },
    softmax: { 1: fixtureModel('matmul_add_softmax') },
    leaky: { 1: fixtureModel('unsupported_leakyrelu') },
  });
  ({ server, base } = await startWith(repo, YAML));
  fraudSession = await ort.InferenceSession.create(FRAUD_V1);
  const t = Date.now();
  const events = [];
  for (let i = 0; i < 40; i++)
    events.push({ user_id: `u${i % 4}`, merchant_id: `m${i % 3}`, amount: 5 + i * 3, country: ['FR', 'DE', 'US'][i % 3], ts: t - 60_000 + i * 1000 });
  expect((await postJson(base, '/v1/events', events)).body).toEqual({ accepted: 40, late: 0 });
});
afterAll(async () => {
  await server?.close();
  await fraudSession?.release();
});

/** The fraud model's input row, built from the features the server reports. */
async function referenceScore(user: string, merchant: string, amount: number): Promise<number> {
  const u = (await getJson(base, `/v1/features/user/${user}`)).body.features;
  const m = (await getJson(base, `/v1/features/merchant/${merchant}`)).body.features;
  const l = (v: number | null) => Math.log1p(v ?? 0);
  const x = Float32Array.from([
    l(amount), l(u.txn_count_10m), l(u.txn_count_1h), l(u.amount_mean_1h), l(u.amount_max_1h), l(u.amount_std_1h),
    u.countries_24h ?? 0, l(m.txn_count_1m), l(m.amount_mean_1h), l(m.users_1h),
  ]);
  const out = await fraudSession.run({ features: new ort.Tensor('float32', x, [1, 10]) });
  return (out.score.data as Float32Array)[0];
}

describe('REST predict', () => {
  it('scores with features gathered from the store, as onnxruntime does on the same row', async () => {
    for (const [user, merchant, amount] of [['u0', 'm0', 12.5], ['u1', 'm2', 900], ['nobody', 'm1', 3], ['u3', 'nowhere', 50]] as const) {
      const r = await postJson(base, '/v1/predict/fraud', { entities: { user, merchant }, fields: { amount } });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ model: 'fraud', version: '1', fallback: false, variant: 'primary' });
      expect(r.body.scores).toHaveLength(1);
      expect(r.body.score).toBe(r.body.scores[0]);
      expect(r.body.latency_us).toBeGreaterThan(0);
      expect(Math.abs(r.body.score - (await referenceScore(user, merchant, amount)))).toBeLessThan(1e-5);
      const viaOrt = await postJson(base, '/v1/predict/fraud_onnx', { entities: { user, merchant }, fields: { amount } });
      expect(Math.abs(viaOrt.body.score - r.body.score)).toBeLessThan(1e-5);
    }
  });

  it('takes integer ids', async () => {
    const r = await postJson(base, '/v1/predict/fraud', { entities: { user: 42, merchant: 7 }, fields: { amount: 1 } });
    expect(r.status).toBe(200);
  });

  it('refuses bad requests with a code', async () => {
    const cases: [string, unknown, number, string][] = [
      ['/v1/predict/nope', { entities: {}, fields: {} }, 404, 'HP_ERR_MODEL_UNKNOWN'],
      ['/v1/predict/fraud', '{"entities":', 400, 'HP_ERR_BAD_JSON'],
      ['/v1/predict/fraud', '', 400, 'HP_ERR_BODY_EMPTY'],
      ['/v1/predict/fraud', [1, 2], 400, 'HP_ERR_PREDICT_INVALID'],
      ['/v1/predict/fraud', { entities: { user: 'u0' }, fields: { amount: 1 } }, 400, 'HP_ERR_PREDICT_INVALID'],
      ['/v1/predict/fraud', { entities: { user: 'u0', merchant: 'm0' }, fields: {} }, 400, 'HP_ERR_PREDICT_INVALID'],
      ['/v1/predict/fraud', { entities: { user: 'u0', merchant: 'm0' }, fields: { amount: '12' } }, 400, 'HP_ERR_PREDICT_INVALID'],
      ['/v1/predict/fraud', { entities: { user: 'x'.repeat(300), merchant: 'm0' }, fields: { amount: 1 } }, 400, 'HP_ERR_ID_INVALID'],
      ['/v1/predict/fraud', { entities: { user: '', merchant: 'm0' }, fields: { amount: 1 } }, 400, 'HP_ERR_ID_INVALID'],
      ['/v1/predict/softmax', { entities: {}, fields: {} }, 400, 'HP_ERR_PREDICT_INVALID'],
    ];
    for (const [path, body, status, code] of cases) {
      const r = await postJson(base, path, body);
      expect([path, r.status, r.body.error?.code]).toEqual([path, status, code]);
      expect(r.body.error.message.length).toBeGreaterThan(0);
    }
  });
});

describe('KServe V2', () => {
  it('answers server and model metadata, health and readiness', async () => {
    expect((await getJson(base, '/v2')).body).toMatchObject({ name: 'hotpath', extensions: expect.arrayContaining(['binary_tensor_data']) });
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect((await getJson(base, '/v2')).body.version).toBe(pkg.version);
    expect((await getJson(base, '/v2/health/live')).status).toBe(200);
    expect((await getJson(base, '/v2/health/ready')).status).toBe(200);
    const meta = await getJson(base, '/v2/models/fraud');
    expect(meta).toEqual({
      status: 200,
      body: {
        name: 'fraud', versions: ['1'], platform: 'hotpath_native',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 10] }],
        outputs: [{ name: 'score', datatype: 'FP32', shape: [-1, 1] }],
        parameters: { runtime: 'native', device: 'cpu', precision: 'fp32' },
      },
    });
    expect((await getJson(base, '/v2/models/leaky')).body.platform).toBe('onnxruntime_onnx');
    expect((await getJson(base, '/v2/models/fraud/versions/1')).status).toBe(200);
    expect((await getJson(base, '/v2/models/fraud/ready')).status).toBe(200);
    expect((await getJson(base, '/v2/models/fraud/versions/1/ready')).status).toBe(200);
    const unknown = await getJson(base, '/v2/models/nope');
    expect(unknown.status).toBe(404);
    expect(typeof unknown.body.error).toBe('string'); // KServe errors are {"error": "<message>"}
    expect((await getJson(base, '/v2/models/fraud/versions/9')).status).toBe(404);
  });

  it('infers JSON tensors, on the native runtime and on onnxruntime', async () => {
    const data = Array.from({ length: 18 }, (_, i) => Math.sin(i) * 3);
    const r = await postJson(base, '/v2/models/softmax/infer', { id: 'q1', inputs: [{ name: 'x', datatype: 'FP32', shape: [3, 6], data }] });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ model_name: 'softmax', model_version: '1', id: 'q1' });
    const out = r.body.outputs[0];
    expect(out).toMatchObject({ name: 'y', datatype: 'FP32', shape: [3, 4] });
    const session = await ort.InferenceSession.create(fixtureModel('matmul_add_softmax'));
    const want = (await session.run({ x: new ort.Tensor('float32', Float32Array.from(data), [3, 6]) })).y.data as Float32Array;
    await session.release();
    expect(out.data).toHaveLength(12);
    out.data.forEach((v: number, i: number) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));

    const leaky = await postJson(base, '/v2/models/leaky/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 5], data: [[1, 2, 3, 4, 5], [-1, -2, -3, -4, -5]] }] });
    expect(leaky.status).toBe(200);
    expect(leaky.body.outputs[0].shape).toEqual([2, 1]);
  });

  it('takes and returns binary tensors (Inference-Header-Content-Length)', async () => {
    const x = Float32Array.from({ length: 12 }, (_, i) => i / 7);
    const header = Buffer.from(JSON.stringify({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 6], parameters: { binary_data_size: x.byteLength } }],
      outputs: [{ name: 'y', parameters: { binary_data: true } }],
    }));
    const body = Buffer.concat([header, Buffer.from(x.buffer)]);
    const r = await fetch(`${base}/v2/models/softmax/infer`, {
      method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    });
    expect(r.status).toBe(200);
    const n = Number(r.headers.get('inference-header-content-length'));
    expect(n).toBeGreaterThan(0);
    const bytes = Buffer.from(await r.arrayBuffer());
    const json = JSON.parse(bytes.subarray(0, n).toString());
    expect(json.outputs[0]).toMatchObject({ name: 'y', shape: [2, 4], parameters: { binary_data_size: 32 } });
    const y = new Float32Array(bytes.buffer.slice(bytes.byteOffset + n, bytes.byteOffset + n + 32));
    expect(y[0] + y[1] + y[2] + y[3]).toBeCloseTo(1, 5);
  });

  it('answers bad infer requests as KServe does: a status and {"error"}', async () => {
    const cases: [string, unknown, number][] = [
      ['/v2/models/softmax/infer', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 6], data: [1, 2, 3, 4, 5, 6] }] }, 400],
      ['/v2/models/softmax/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 5], data: [1, 2, 3, 4, 5] }] }, 400],
      ['/v2/models/softmax/infer', { inputs: [{ name: 'z', datatype: 'FP32', shape: [1, 6], data: [1, 2, 3, 4, 5, 6] }] }, 400],
      ['/v2/models/softmax/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 6], data: [1, 2, 3] }] }, 400],
      ['/v2/models/softmax/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 6], data: [1, 2, 3, 4, 5, 6] }], outputs: [{ name: 'nope' }] }, 400],
      ['/v2/models/softmax/infer', '{"inputs": [', 400],
      ['/v2/models/nope/infer', { inputs: [] }, 404],
      ['/v2/models/softmax/versions/3/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 6], data: [1, 2, 3, 4, 5, 6] }] }, 404],
    ];
    for (const [path, body, status] of cases) {
      const r = await postJson(base, path, body);
      expect([path, r.status]).toEqual([path, status]);
      expect(typeof r.body.error, JSON.stringify(r.body)).toBe('string');
    }
    const badHeader = await postJson(base, '/v2/models/softmax/infer', '{}', { 'inference-header-content-length': '999' });
    expect(badHeader.status).toBe(400);
  });
});

describe('Feast get-online-features', () => {
  it('answers in the feature server shape, with statuses', async () => {
    const r = await postJson(base, '/get-online-features', {
      features: ['user:txn_count_1h', 'user:amount_mean_1h', 'merchant:users_1h'],
      entities: { user_id: ['u0', 'ghost'], merchant_id: ['m0', 'm1'] },
    });
    expect(r.status).toBe(200);
    expect(r.body.metadata.feature_names).toEqual(['user_id', 'merchant_id', 'txn_count_1h', 'amount_mean_1h', 'users_1h']);
    const [ids, , count, mean] = r.body.results;
    expect(ids).toMatchObject({ values: ['u0', 'ghost'], statuses: ['PRESENT', 'PRESENT'] });
    expect(count.values[0]).toBe(10);
    expect(count.statuses).toEqual(['PRESENT', 'NOT_FOUND']);
    expect(mean.statuses[1]).toBe('NOT_FOUND');
    expect(count.event_timestamps[0]).toMatch(/^\d{4}-\d\d-\d\dT/);
    const full = await postJson(base, '/get-online-features', { features: ['user:txn_count_1h'], entities: { user: ['u0'] }, full_feature_names: true });
    expect(full.body.metadata.feature_names).toEqual(['user', 'user__txn_count_1h']);
  });

  it('refuses unknown views, features and join keys', async () => {
    expect((await postJson(base, '/get-online-features', { features: ['nope:x'], entities: { user_id: ['u0'] } })).body.error.code).toBe('HP_ERR_FEATURE_UNKNOWN');
    expect((await postJson(base, '/get-online-features', { features: ['user:nope'], entities: { user_id: ['u0'] } })).body.error.code).toBe('HP_ERR_FEATURE_UNKNOWN');
    expect((await postJson(base, '/get-online-features', { features: ['user:txn_count_1h'], entities: { who: ['u0'] } })).body.error.code).toBe('HP_ERR_ENTITY_UNKNOWN');
    expect((await postJson(base, '/get-online-features', { features: ['user:txn_count_1h'], entities: { merchant_id: ['m0'] } })).body.error.code).toBe('HP_ERR_QUERY_INVALID');
    expect((await postJson(base, '/get-online-features', { features: [], entities: { user_id: ['u0'] } })).body.error.code).toBe('HP_ERR_QUERY_INVALID');
  });
});

describe('WebSocket /v1/ws', () => {
  async function open(): Promise<WebSocket> {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return ws;
  }
  function collect(ws: WebSocket, n: number): Promise<(string | Buffer)[]> {
    const got: (string | Buffer)[] = [];
    return new Promise((resolve) => {
      ws.on('message', (data, isBinary) => {
        got.push(isBinary ? (data as Buffer) : data.toString());
        if (got.length === n) resolve(got);
      });
    });
  }

  it('multiplexes predict and event frames in JSON, and answers bad frames without closing', async () => {
    const ws = await open();
    const answers = collect(ws, 5);
    ws.send(JSON.stringify({ id: 1, op: 'predict', model: 'fraud', entities: { user: 'u0', merchant: 'm0' }, fields: { amount: 12.5 } }));
    ws.send(JSON.stringify({ id: 2, op: 'events', stream: 'tx', events: [{ user_id: 'w1', merchant_id: 'm9', amount: 3, country: 'FR', ts: Date.now() }] }));
    ws.send('{"id": 3, "op": "predict"');
    ws.send(JSON.stringify({ id: 4, op: 'predict', model: 'nope', entities: {}, fields: {} }));
    ws.send(JSON.stringify({ id: 5, op: 'dance' }));
    const byId = new Map((await answers).map((a) => JSON.parse(a as string)).map((a) => [a.id, a]));
    expect(byId.get(1)).toMatchObject({ ok: true, result: { model: 'fraud', version: '1', fallback: false } });
    expect(Math.abs(byId.get(1).result.score - (await referenceScore('u0', 'm0', 12.5)))).toBeLessThan(1e-5);
    expect(byId.get(2)).toEqual({ id: 2, ok: true, accepted: 1, late: 0 });
    expect(byId.get(null)).toMatchObject({ ok: false, error: { code: 'HP_ERR_WS_FRAME_INVALID' } });
    expect(byId.get(4)).toMatchObject({ ok: false, error: { code: 'HP_ERR_MODEL_UNKNOWN' } });
    expect(byId.get(5)).toMatchObject({ ok: false, error: { code: 'HP_ERR_WS_FRAME_INVALID' } });
    expect((await getJson(base, '/v1/features/user/w1')).body.features.txn_count_1h).toBe(1);
    ws.close();
  });

  it('speaks the binary encoding', async () => {
    const ws = await open();
    const answers = collect(ws, 5);
    ws.send(encodePredict({ id: 7, model: 'fraud', entities: { user: 'u1', merchant: 'm2' }, fields: { amount: 900 } }));
    ws.send(encodeEvents(8, 'tx', [{ name: 'user_id', type: 'string' }, { name: 'merchant_id', type: 'string' }, { name: 'amount', type: 'number' }, { name: 'country', type: 'string' }, { name: 'ts', type: 'number' }],
      [['b1', 'm7', 4, 'FR', Date.now()], ['b1', 'm8', 6, 'DE', Date.now()]])); // not u1 or m2: the predict may run after them
    ws.send(Buffer.from([1, 0, 0, 0, 9, 0, 0, 0, 200]));
    // A bad value in the second event refuses the frame; an ISO time takes the object path.
    ws.send(encodeEvents(10, 'tx', [{ name: 'user_id', type: 'string' }, { name: 'merchant_id', type: 'string' }, { name: 'amount', type: 'number' }, { name: 'country', type: 'string' }],
      [['b2', 'm7', 1, 'FR'], ['b2', 'm7', NaN, 'FR']]));
    ws.send(encodeEvents(11, 'tx', [{ name: 'user_id', type: 'string' }, { name: 'merchant_id', type: 'string' }, { name: 'amount', type: 'number' }, { name: 'country', type: 'string' }, { name: 'ts', type: 'string' }],
      [['b3', 'm7', 1, 'FR', new Date().toISOString()]]));
    const frames = (await answers).map((a) => decodeServerFrame(a as Buffer));
    const byId = new Map(frames.map((f) => [f.id, f]));
    const p = byId.get(7)!;
    expect(p.op).toBe('predict_result');
    if (p.op === 'predict_result') {
      expect(p).toMatchObject({ fallback: false, version: '1', variant: 'primary' });
      expect(Math.abs(p.scores[0] - (await referenceScore('u1', 'm2', 900)))).toBeLessThan(1e-5);
    }
    expect(byId.get(8)).toEqual({ op: 'events_result', id: 8, accepted: 2, late: 0 });
    expect(byId.get(9)).toMatchObject({ op: 'error', code: 'HP_ERR_WS_FRAME_INVALID' });
    expect((await getJson(base, '/v1/features/user/b1')).body.features.txn_count_1h).toBe(2);
    expect(byId.get(10)).toEqual({ op: 'error', id: 10, code: 'HP_ERR_EVENT_INVALID', message: "event 1: field 'amount' must be a finite number" });
    expect((await getJson(base, '/v1/features/user/b2')).body.found).toBe(false); // nothing of frame 10 applied
    expect(byId.get(11)).toEqual({ op: 'events_result', id: 11, accepted: 1, late: 0 });
    ws.close();
  });
});

describe('dynamic batching and metrics', () => {
  it('forms batches larger than 1 under concurrent load', async () => {
    const before = await (await fetch(`${base}/metrics`)).text();
    const reqs = Array.from({ length: 400 }, (_, i) =>
      postJson(base, '/v1/predict/fraud', { entities: { user: `u${i % 4}`, merchant: `m${i % 3}` }, fields: { amount: i } }));
    const res = await Promise.all(reqs);
    expect(res.every((r) => r.status === 200)).toBe(true);
    const after = await (await fetch(`${base}/metrics`)).text();
    const rows = metric(after, 'hotpath_model_inference_count_total', 'model="fraud"') - metric(before, 'hotpath_model_inference_count_total', 'model="fraud"');
    const batches = metric(after, 'hotpath_model_execution_count_total', 'model="fraud"') - metric(before, 'hotpath_model_execution_count_total', 'model="fraud"');
    expect(rows).toBe(400);
    expect(batches).toBeLessThan(rows); // the mean batch is above 1
    expect(metric(after, 'hotpath_model_requests_total', 'model="fraud",outcome="success",reason=""')).toBeGreaterThanOrEqual(400);
    expect(metric(after, 'hotpath_model_request_duration_seconds_count', 'model="fraud"')).toBeGreaterThanOrEqual(400);
    expect(metric(after, 'hotpath_events_ingested_total', 'stream="tx"')).toBeGreaterThan(0);
    expect(metric(after, 'hotpath_feature_reads_total', 'entity="user"')).toBeGreaterThan(0);
    expect(after).toContain('hotpath_ring_occupancy_ratio{worker="0",ring="request"}');
    expect(metric(after, 'hotpath_model_ready', 'model="fraud"')).toBe(1);
  });

  const promtool = spawnSync('promtool', ['--version']).status === 0;
  it.skipIf(!promtool && process.env.HOTPATH_CI !== '1')('passes promtool check metrics', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const file = join(mkdtempSync(join(tmpdir(), 'hotpath-metrics-')), 'metrics.txt');
    writeFileSync(file, text);
    // promtool reads the metrics on stdin; a lint problem is a non-zero exit with the reason.
    const out = execFileSync('sh', ['-c', `promtool check metrics < ${file} 2>&1; echo "exit=$?"`]).toString();
    expect(out.trim(), out).toBe('exit=0');
  });
});
