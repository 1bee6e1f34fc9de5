// Streaming ML on a real server: a learner served through predict and KServe, trained by
// labelled events joined by prediction id and by entity; garbage labels and inputs leave it
// unchanged; its state survives a restart; drift resets it; its ONNX export scores as it
// does in onnxruntime and compiles to the native runtime; detectors score events.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { loadConfigText } from '../../src/config/load.js';
import { readOnnx } from '../../src/runtime/onnx-graph.js';
import { planNative } from '../../src/runtime/onnx-plan.js';
import { type Server, startServer } from '../../src/server/app.js';
import { decodeServerFrame, encodeEvents } from '../../src/server/ws-protocol.js';
import { getJson, makeRepo, metric, postJson, RULES_V1 } from '../support/inference-server.js';

const CONFIG = (extra = '') => `
server: { workers: 1 }
streams:
  tx:
    keys: { user: user_id }
    fields: { amount: number, risk: number }
  labels:
    keys: { user: user_id }
    fields: { label: number, prediction_id: number }
entities:
  user:
    memory: 8MiB
    features:
      n_1h:    { agg: count, stream: tx, window: 1h }
      mean_1h: { agg: mean, stream: tx, field: amount, window: 1h }
models:
  online:
    learner: { algorithm: sgd, learning_rate: 0.1, labels: { stream: labels, field: label, join: prediction_id, horizon: 1h }, metrics_window: 200 }
    inputs:
      - { field: risk }
      - { feature: user.n_1h, transform: log1p }
    fallback: { constant: 0.5 }
  by_user:
    learner: { algorithm: ftrl, labels: { stream: labels, field: label, join: entity, entity: user } }
    inputs:
      - { field: risk }
      - { field: amount, transform: log1p }
      - { feature: user.n_1h }
detectors:
  amount_z:   { kind: robust_z, stream: tx, fields: [amount], per_entity: user, window: 64, min_count: 8 }
  amount_hst: { kind: hst, stream: tx, fields: [amount, risk], limits: [[0, 1000], [0, 1]] }
  amount_pt:  { kind: page_hinkley, stream: tx, fields: [amount] }
${extra}`;

let server: Server | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(extra = '', dataDir?: string) {
  server = await startServer({ config: loadConfigText(CONFIG(extra)), port: 0, host: '127.0.0.1', log: () => {}, dataDir });
  return `http://127.0.0.1:${server.port}`;
}

type Predicted = { score: number; prediction_id: number; version: string; fallback: boolean };

async function predict(base: string, model: string, user: string, risk: number): Promise<Predicted> {
  const r = await postJson(base, `/v1/predict/${model}`, { entities: { user }, fields: { risk, amount: 100 } });
  expect(r.status).toBe(200);
  return r.body as Predicted;
}

async function label(base: string, events: object[]) {
  const r = await postJson(base, '/v1/events?stream=labels', events);
  expect(r.status).toBe(200);
}

/** A separable concept: risk > 0.5 is fraud (or the reverse, flipped). */
async function trainRound(base: string, n: number, flipped = false, model = 'online') {
  const events: object[] = [];
  for (let i = 0; i < n; i++) {
    const risk = (i * 0.618) % 1;
    const p = await predict(base, model, `u${i % 20}`, risk);
    const y = (risk > 0.5) !== flipped ? 1 : 0;
    events.push({ user_id: `u${i % 20}`, label: y, prediction_id: p.prediction_id });
  }
  await label(base, events);
}

async function learnerInfo(base: string, model = 'online') {
  const r = await getJson(base, `/v1/learners/${model}`);
  expect(r.status).toBe(200);
  return r.body as { version: number; counts: Record<string, number>; labels: { outcomes: Record<string, number>; pending: number }; window: { accuracy: number; roc_auc: number; labels: number } };
}

describe('online learner', () => {
  it('answers with a prediction id, learns from joined labels, and reports progressive validation', async () => {
    const base = await start();
    const first = await predict(base, 'online', 'u1', 0.9);
    expect(first.prediction_id).toBeGreaterThan(0);
    expect(first.score).toBeCloseTo(0.5, 6); // nothing learned yet: sigmoid(0)
    for (let r = 0; r < 6; r++) await trainRound(base, 100);
    const info = await learnerInfo(base);
    expect(info.labels.outcomes.joined).toBe(600);
    expect(info.counts.updates).toBe(600);
    expect(info.window.accuracy).toBeGreaterThan(0.9);
    expect(info.window.roc_auc).toBeGreaterThan(0.95);
    const hi = await predict(base, 'online', 'u1', 0.95);
    const lo = await predict(base, 'online', 'u1', 0.05);
    expect(hi.score).toBeGreaterThan(0.7);
    expect(lo.score).toBeLessThan(0.3);
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(metric(m, 'hotpath_learner_labels_total', 'model="online",outcome="joined"')).toBe(600);
    expect(metric(m, 'hotpath_learner_accuracy', 'model="online"')).toBeGreaterThan(0.9);
    expect(metric(m, 'hotpath_learner_updates_total', 'model="online"')).toBe(600);
  });

  it('joins labels by entity, and counts unknown, expired, duplicate and invalid labels without learning from them', async () => {
    const base = await start();
    const p = await predict(base, 'by_user', 'alice', 0.9);
    await label(base, [{ user_id: 'alice', label: 1, prediction_id: 0 }]);
    let info = await learnerInfo(base, 'by_user');
    expect(info.labels.outcomes.joined).toBe(1);
    await label(base, [{ user_id: 'alice', label: 1, prediction_id: 0 }]); // alice has nothing pending now
    info = await learnerInfo(base, 'by_user');
    expect(info.labels.outcomes.unknown).toBe(1);
    expect(p.prediction_id).toBeGreaterThan(0);

    // prediction-id joins: a probe prediction before and after the garbage must agree
    const probe = await predict(base, 'online', 'bob', 0.7);
    const q = await predict(base, 'online', 'bob', 0.7);
    await label(base, [
      { user_id: 'bob', label: 1, prediction_id: 12345 }, // never given
      { user_id: 'bob', label: 7, prediction_id: q.prediction_id }, // not 0 or 1
      { user_id: 'bob', label: 0.5, prediction_id: q.prediction_id },
      { user_id: 'bob', label: -1, prediction_id: -3 },
    ]);
    const bad = await postJson(base, '/v1/events?stream=labels', [{ user_id: 'bob', label: 'yes', prediction_id: q.prediction_id }]);
    expect(bad.status).toBe(400); // a label of the wrong type is refused by the stream's schema
    const after = await predict(base, 'online', 'bob', 0.7);
    expect(after.score).toBe(probe.score);
    info = await learnerInfo(base);
    expect(info.counts.updates).toBe(0);
    expect(info.labels.outcomes.unknown).toBe(4); // and alice's two labels with prediction_id 0
    expect(info.labels.outcomes.invalid).toBe(2);
    // a label joins once
    await label(base, [{ user_id: 'bob', label: 1, prediction_id: after.prediction_id }]);
    await label(base, [{ user_id: 'bob', label: 1, prediction_id: after.prediction_id }]);
    info = await learnerInfo(base);
    expect(info.labels.outcomes.joined).toBe(1);
    expect(info.labels.outcomes.duplicate).toBe(1);
  });

  it('clips an exploding gradient and counts it; the learner stays finite', async () => {
    const text = CONFIG().replace('learning_rate: 0.1,', 'learning_rate: 0.1, clip: 1, scale: false,');
    server = await startServer({ config: loadConfigText(text), port: 0, host: '127.0.0.1', log: () => {} });
    const b = `http://127.0.0.1:${server.port}`;
    const p = await predict(b, 'online', 'carol', 1e20);
    await label(b, [{ user_id: 'carol', label: 0, prediction_id: p.prediction_id }]);
    const info = await learnerInfo(b);
    expect(info.counts.updates).toBe(1);
    expect(info.counts.clipped).toBe(1);
    const after = await predict(b, 'online', 'carol', 0.5);
    expect(Number.isFinite(after.score)).toBe(true);
  });

  it('serves KServe infer and metadata for a learner', async () => {
    const base = await start();
    const meta = await getJson(base, '/v2/models/online');
    expect(meta.status).toBe(200);
    const r = await postJson(base, '/v2/models/online/infer', { inputs: [{ name: 'input', shape: [2, 2], datatype: 'FP32', data: [0.1, 0, 0.9, 1] }] });
    expect(r.status).toBe(200);
    const out = (r.body as { outputs: { data: number[]; shape: number[] }[] }).outputs[0];
    expect(out.shape).toEqual([2, 1]);
    expect(out.data[0]).toBeCloseTo(0.5, 6);
  });

  it('keeps its state across a graceful restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-learn-'));
    dirs.push(dir);
    let base = await start('', dir);
    for (let r = 0; r < 3; r++) await trainRound(base, 50);
    const pending = await predict(base, 'online', 'u3', 0.8); // labelled after the restart
    const before = await learnerInfo(base);
    const probe = (await predict(base, 'online', 'u1', 0.8)).score;
    await server!.shutdown();
    server = undefined;
    base = await start('', dir);
    const after = await learnerInfo(base);
    expect(after.counts.updates).toBe(before.counts.updates);
    expect(after.window.accuracy).toBe(before.window.accuracy);
    expect((await predict(base, 'online', 'u1', 0.8)).score).toBe(probe);
    await label(base, [{ user_id: 'u3', label: 1, prediction_id: pending.prediction_id }]);
    expect((await learnerInfo(base)).labels.outcomes.joined).toBe(before.labels.outcomes.joined + 1);
    // ids of the new run are above the old run's
    expect((await predict(base, 'online', 'u1', 0.8)).prediction_id).toBeGreaterThan(pending.prediction_id);
  });

  it('detects drift on its error stream and resets (a new version)', async () => {
    const text = CONFIG().replace('metrics_window: 200 }', 'metrics_window: 200, drift: { detector: adwin, policy: reset } }');
    server = await startServer({ config: loadConfigText(text), port: 0, host: '127.0.0.1', log: () => {} });
    const base = `http://127.0.0.1:${server.port}`;
    for (let r = 0; r < 5; r++) await trainRound(base, 100);
    const v1 = await learnerInfo(base);
    expect(v1.version).toBe(1); // learning (a falling error rate) is not a drift to act on
    for (let r = 0; r < 5; r++) await trainRound(base, 100, true); // the concept flips
    const v2 = await learnerInfo(base);
    expect(v2.counts.drifts).toBeGreaterThan(v1.counts.drifts);
    expect(v2.counts.resets).toBeGreaterThan(0);
    expect(v2.version).toBeGreaterThan(1);
    expect((await predict(base, 'online', 'u1', 0.5)).version).toBe(String(v2.version));
  });

  it('exports an ONNX model that onnxruntime and the native runtime score as the learner does', async () => {
    const base = await start();
    for (let r = 0; r < 3; r++) await trainRound(base, 100);
    const res = await fetch(`${base}/v1/learners/online/onnx`);
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const plan = planNative(readOnnx(bytes));
    expect('plan' in plan).toBe(true);
    const session = await ort.InferenceSession.create(bytes);
    const rows = [[0.9, Math.log1p(3)], [0.1, Math.log1p(1)], [0.5, 0]];
    const x = new Float32Array(rows.flat());
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [3, 2]) });
    const y = out[session.outputNames[0]].data as Float32Array;
    const served = await postJson(base, '/v2/models/online/infer', { inputs: [{ name: 'input', shape: [3, 2], datatype: 'FP32', data: Array.from(x) }] });
    const want = (served.body as { outputs: { data: number[] }[] }).outputs[0].data;
    for (let i = 0; i < 3; i++) expect(y[i]).toBeCloseTo(want[i], 5);
  });

  it('refuses a learner route for a repository model and an unknown model with codes', async () => {
    const repo = makeRepo({ ranked: { 1: RULES_V1 } });
    dirs.push(repo);
    const text = CONFIG().replace(/^models:\n/m, `models:\n  ranked:\n    repository: ${join(repo, 'ranked')}\n`);
    server = await startServer({ config: loadConfigText(text), port: 0, host: '127.0.0.1', log: () => {} });
    const base = `http://127.0.0.1:${server.port}`;
    const r = await getJson(base, '/v1/learners/nope');
    expect(r.status).toBe(404);
    expect((r.body as { error: { code: string } }).error.code).toBe('HP_ERR_MODEL_UNKNOWN');
    for (const path of ['/v1/learners/ranked', '/v1/learners/ranked/onnx']) {
      const q = await getJson(base, path);
      expect(q.status).toBe(409);
      expect((q.body as { error: { code: string } }).error.code).toBe('HP_ERR_MODEL_NOT_LEARNER');
    }
    const reset = await postJson(base, '/v1/learners/ranked/reset', '');
    expect(reset.status).toBe(409);
  });
});

describe('detectors', () => {
  it('score events per entity and per stream, scores before learning, and answer them with ?scores=true', async () => {
    const base = await start();
    const normal = Array.from({ length: 40 }, (_, i) => ({ user_id: 'dave', amount: 100 + (i % 5), risk: 0.1 }));
    let r = await postJson(base, '/v1/events?stream=tx&scores=true', normal);
    expect(r.status).toBe(200);
    const s1 = (r.body as { scores: Record<string, number[]> }).scores;
    expect(s1.amount_z).toHaveLength(40);
    expect(s1.amount_hst).toHaveLength(40);
    r = await postJson(base, '/v1/events?stream=tx&scores=true', [{ user_id: 'dave', amount: 900, risk: 0.9 }, { user_id: 'erin', amount: 900, risk: 0.9 }]);
    const s2 = (r.body as { scores: Record<string, number[]> }).scores;
    expect(s2.amount_z[0]).toBeGreaterThan(10); // far from dave's own history
    expect(s2.amount_z[1]).toBe(0); // erin has no history yet
    const plain = await postJson(base, '/v1/events?stream=tx', [{ user_id: 'dave', amount: 100, risk: 0.1 }]);
    expect(plain.body).toEqual({ accepted: 1, late: 0 });
    // each tap sees its own stream only: labels do not reach the detectors, events do not reach the learners
    await label(base, [{ user_id: 'dave', label: 1, prediction_id: 1 }]);
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(metric(m, 'hotpath_detector_events_total', 'detector="amount_z",kind="robust_z"')).toBe(43);
    expect(metric(m, 'hotpath_learner_labels_total', 'model="online",outcome="invalid"')).toBe(0);
    expect(metric(m, 'hotpath_learner_labels_total', 'model="online",outcome="unknown"')).toBe(1);
  });

  it('raise alerts through the rules on their scores, and score a predict request without learning it', async () => {
    const base = await start(`
alerts:
  rules:
    - { name: odd_amount, source: amount_z, above: 10, clear: 3, per_entity: true, severity: warning }
`);
    await postJson(base, '/v1/events?stream=tx', Array.from({ length: 40 }, (_, i) => ({ user_id: 'fay', amount: 100 + (i % 5), risk: 0.1 })));
    const asked = await postJson(base, '/v1/predict/online?scores=true', { entities: { user: 'fay' }, fields: { risk: 0.2 } });
    expect(asked.status).toBe(200);
    // online's requests carry risk, not amount: no detector watches what they carry
    expect((asked.body as { anomaly: Record<string, number> }).anomaly).toEqual({});
    const odd = await postJson(base, '/v1/predict/by_user?scores=true', { entities: { user: 'fay' }, fields: { risk: 0.2, amount: 5000 } });
    const anomaly = (odd.body as { anomaly: Record<string, number> }).anomaly;
    expect(Object.keys(anomaly).sort()).toEqual(['amount_hst', 'amount_z']);
    expect(anomaly.amount_z).toBeGreaterThan(10); // far from fay's own amounts
    // scoring a request learns nothing: fay's next event is scored as before
    const normal = await postJson(base, '/v1/predict/by_user?scores=true', { entities: { user: 'fay' }, fields: { risk: 0.2, amount: 102 } });
    expect((normal.body as { anomaly: Record<string, number> }).anomaly.amount_z).toBeLessThan(2);
    let alerts = (await getJson(base, '/v1/alerts')).body as { alerts: { rule: string | null; source: string; entity: string; state: string }[] };
    expect(alerts.alerts).toHaveLength(0);
    await postJson(base, '/v1/events?stream=tx', [{ user_id: 'fay', amount: 5000, risk: 0.1 }]);
    alerts = (await getJson(base, '/v1/alerts')).body as typeof alerts;
    // the rule on fay's robust z fires; Page-Hinkley on the stream raises a drift event
    expect(alerts.alerts.map((a) => [a.rule, a.source, a.entity ?? null, a.state])).toEqual([
      ['odd_amount', 'amount_z', 'fay', 'firing'],
      [null, 'amount_pt', null, 'event'],
    ]);
    await postJson(base, '/v1/events?stream=tx', [{ user_id: 'fay', amount: 101, risk: 0.1 }]);
    alerts = (await getJson(base, '/v1/alerts')).body as typeof alerts;
    expect(alerts.alerts.filter((a) => a.rule === 'odd_amount').map((a) => a.state)).toEqual(['firing', 'resolved']);
  });

  it('read binary WebSocket frames as columns decoded once: the store, the detectors and the learners agree with the JSON path', async () => {
    const text = CONFIG().replace('labels: { stream: labels, field: label, join: prediction_id, horizon: 1h }', 'labels: { stream: tx2, field: label, join: event }')
      .replace('  labels:\n', '  tx2:\n    keys: { user: user_id }\n    fields: { risk: number, label: number }\n  labels:\n')
      .replace('      - { feature: user.n_1h, transform: log1p }\n    fallback: { constant: 0.5 }', '    fallback: { constant: 0.5 }');
    server = await startServer({ config: loadConfigText(text), port: 0, host: '127.0.0.1', log: () => {} });
    const base = `http://127.0.0.1:${server.port}`;
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const send = (frame: Uint8Array) => new Promise<ReturnType<typeof decodeServerFrame>>((resolve) => {
      ws.once('message', (d) => resolve(decodeServerFrame(new Uint8Array(d as Buffer))));
      ws.send(frame);
    });
    try {
      const rows = Array.from({ length: 50 }, (_, i) => [`g${i % 5}`, 100 + (i % 7), 0.1]);
      const a = await send(encodeEvents(1, 'tx', [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'number' }, { name: 'risk', type: 'number' }], rows));
      expect(a).toMatchObject({ op: 'events_result', accepted: 50 });
      const f = await getJson(base, '/v1/features/user/g0?features=n_1h,mean_1h');
      expect((f.body as { features: Record<string, number> }).features).toEqual({ n_1h: 10, mean_1h: (100 + 105 + 103 + 101 + 106 + 104 + 102 + 100 + 105 + 103) / 10 });
      const m = await (await fetch(`${base}/metrics`)).text();
      expect(metric(m, 'hotpath_detector_events_total', 'detector="amount_z",kind="robust_z"')).toBe(50);
      // labelled events that carry the inputs: learned from the frame (join: event)
      const labelled = Array.from({ length: 200 }, (_, i) => [`g${i % 5}`, (i * 0.37) % 1, (i * 0.37) % 1 > 0.5 ? 1 : 0]);
      const b = await send(encodeEvents(2, 'tx2', [{ name: 'user_id', type: 'string' }, { name: 'risk', type: 'number' }, { name: 'label', type: 'number' }], labelled));
      expect(b).toMatchObject({ op: 'events_result', accepted: 200 });
      const info = await learnerInfo(base);
      expect(info.counts.updates).toBe(200);
      expect(info.window.labels).toBe(200);
      // a frame that ends inside a row is refused as without taps, and nothing is applied
      const bad = encodeEvents(3, 'tx', [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'number' }, { name: 'risk', type: 'number' }], rows).slice(0, -5);
      const c = await send(bad);
      expect(c).toMatchObject({ op: 'error', code: 'HP_ERR_WS_FRAME_INVALID' });
      const after = await getJson(base, '/v1/features/user/g0?features=n_1h');
      expect((after.body as { features: Record<string, number> }).features.n_1h).toBe(10);
    } finally {
      ws.terminate();
    }
  });

  it('hashes categorical inputs: a learner on a category field learns per category, from events and predicts alike', async () => {
    const text = `
server: { workers: 1 }
streams:
  pay:
    keys: { user: user_id }
    fields: { country: category, amount: number, fraud: number }
entities:
  user:
    memory: 8MiB
    features:
      n: { agg: count, window: 1h }
models:
  geo:
    learner: { algorithm: sgd, learning_rate: 0.5, hash_bits: 12, labels: { stream: pay, field: fraud, join: event } }
    inputs:
      - { field: country, hash: true }
      - { field: amount, transform: log1p }
`;
    server = await startServer({ config: loadConfigText(text), port: 0, host: '127.0.0.1', log: () => {} });
    const base = `http://127.0.0.1:${server.port}`;
    const events = Array.from({ length: 400 }, (_, i) => ({ user_id: `p${i % 9}`, country: ['FR', 'DE', 'XX'][i % 3], amount: 10 + (i % 50), fraud: i % 3 === 2 ? 1 : 0 }));
    expect((await postJson(base, '/v1/events', events)).status).toBe(200);
    const score = async (country: unknown) => postJson(base, '/v1/predict/geo', { entities: {}, fields: { country, amount: 30 } });
    const xx = (await score('XX')).body as Predicted;
    const fr = (await score('FR')).body as Predicted;
    expect(xx.score).toBeGreaterThan(0.8);
    expect(fr.score).toBeLessThan(0.2);
    const seven = await score(7); // an integer is a category too
    expect(seven.status).toBe(200);
    expect((seven.body as Predicted).score).toBeGreaterThan(0);
    const bad = await score({ not: 'a category' });
    expect(bad.status).toBe(400);
    expect((bad.body as { error: { code: string } }).error.code).toBe('HP_ERR_PREDICT_INVALID');
    const info = await learnerInfo(base, 'geo');
    expect(info.counts.updates).toBe(400);
    // tensors cannot name categories
    const infer = await postJson(base, '/v2/models/geo/infer', { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] });
    expect(infer.status).toBe(400);
  });
});
