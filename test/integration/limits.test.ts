// Rate limits and request limits on a real server: token buckets per client address and
// per credential and route class (429, Retry-After, a code, counted in /metrics), frames
// per second on one WebSocket, WebSocket connections per address, features per request,
// id length and WebSocket frame size.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { decodeServerFrame, encodePredict } from '../../src/server/ws-protocol.js';
import { metric, STORE_YAML } from '../support/inference-server.js';
import { ask, call, openWs, type Secured, startSecured } from '../support/security.js';

let server: Server | undefined;
let s: Secured | undefined;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const w of sockets.splice(0)) w.terminate();
  await server?.close();
  await s?.server.close();
  server = s = undefined;
});

async function start(limits: string): Promise<string> {
  server = await startServer({ config: loadConfigText(`server: { workers: 1 }\n${STORE_YAML}\nlimits:\n${limits}`), port: 0, log: () => {} });
  return `http://127.0.0.1:${server.port}`;
}

async function ws(base: string, auth?: string): Promise<WebSocket> {
  const w = await openWs(base, { auth });
  if (typeof w === 'number') throw new Error(`upgrade refused: ${w}`);
  sockets.push(w);
  return w;
}

const metrics = async (base: string, key?: string) => (await call(base, 'GET', '/metrics', key)).text;
const predict = JSON.stringify({ entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 10 } });

describe('rate limits', () => {
  it('per client address and route class: a burst, then 429 with Retry-After until the bucket refills', async () => {
    const base = await start('  rate:\n    per_address:\n      features: { rate: 2, burst: 3 }\n');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(base, 'GET', '/v1/features/user/u1')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const r = await call(base, 'GET', '/v1/features/user/u1');
    expect(r.status).toBe(429);
    expect(r.code).toBe('HP_ERR_RATE_LIMITED');
    expect(r.headers.get('retry-after')).toBe('1');
    expect(r.json.error.retry_after_s).toBe(1);
    // Another route class is not limited; events have no bucket.
    expect((await call(base, 'GET', '/healthz')).status).toBe(200);
    expect(metric(await metrics(base), 'hotpath_rate_limited_total', 'class="features",by="address"')).toBe(2);
    await new Promise((r) => setTimeout(r, 600)); // 2 per second: one token after 500 ms
    expect((await call(base, 'GET', '/v1/features/user/u1')).status).toBe(200);
    expect((await call(base, 'GET', '/v1/features/user/u1')).status).toBe(429);
  });

  it('per credential: each key has its own bucket, which its WebSocket frames share', async () => {
    s = await startSecured({ extra: 'limits:\n  rate:\n    per_credential:\n      predict: { rate: 0.5, burst: 2 }\n' });
    const a = s.keys.fraud;
    const b = s.keys.predictAll;
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await call(s.base, 'POST', '/v1/predict/fraud', a, predict)).status);
    expect(answers).toEqual([200, 200, 429]);
    const limited = await call(s.base, 'POST', '/v1/predict/fraud', a, predict);
    expect(limited.headers.get('retry-after')).toBe('2'); // 0.5 per second
    expect((await call(s.base, 'POST', '/v1/predict/fraud', b, predict)).status).toBe(200);
    expect((await call(s.base, 'GET', '/v1/features/user/u1', s.keys.features)).status).toBe(200); // another class
    // WebSocket predict frames draw from the same bucket as the key's HTTP predicts.
    const w = await ws(s.base, a);
    const f = await ask(w, encodePredict({ id: 9, model: 'fraud', entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 1 } }));
    expect(decodeServerFrame(f)).toMatchObject({ op: 'error', id: 9, code: 'HP_ERR_RATE_LIMITED' });
    expect(metric(await metrics(s.base, s.keys.metrics), 'hotpath_rate_limited_total', 'class="predict",by="credential"')).toBe(3);
  });

  it('with auth, counts per address what no verified credential vouches for (guesses), and all with per_address_authenticated', async () => {
    s = await startSecured({ extra: 'limits:\n  rate:\n    per_address:\n      features: { rate: 0.1, burst: 2 }\n' });
    const guesses = [];
    for (let i = 0; i < 3; i++) guesses.push((await call(s.base, 'GET', '/v1/features/user/u1', `hp_guess-${i}`)).status);
    expect(guesses).toEqual([401, 401, 429]);
    // A known key: its first request (not verified yet) finds the address bucket empty ...
    expect((await call(s.base, 'GET', '/v1/features/user/u1', s.keys.features)).status).toBe(429);
    // On a fresh server the key's first request takes one token; once verified it is counted per credential.
    await s.server.close();
    s = await startSecured({ extra: 'limits:\n  rate:\n    per_address:\n      features: { rate: 0.1, burst: 2 }\n' });
    const known = [];
    for (let i = 0; i < 5; i++) known.push((await call(s.base, 'GET', '/v1/features/user/u1', s.keys.features)).status);
    expect(known).toEqual([200, 200, 200, 200, 200]); // one token for the first sight, then per credential (unlimited here)
    await s.server.close();
    s = await startSecured({ extra: 'limits:\n  rate:\n    per_address:\n      features: { rate: 0.1, burst: 2 }\n    per_address_authenticated: true\n' });
    const all = [];
    for (let i = 0; i < 3; i++) all.push((await call(s.base, 'GET', '/v1/features/user/u1', s.keys.features)).status);
    expect(all).toEqual([200, 200, 429]);
  });

  it('frames per second on one WebSocket: the frames past the burst get an error frame with their id', async () => {
    const base = await start('  ws_messages_per_second: 1\n  ws_message_burst: 2\n');
    const w = await ws(base);
    const frame = (id: number) => JSON.stringify({ id, op: 'events', stream: 'tx', events: [{ user_id: 'u', merchant_id: 'm', amount: 1, country: 'FR' }] });
    expect((await ask(w, frame(1))).ok).toBe(true);
    expect((await ask(w, frame(2))).ok).toBe(true);
    expect(await ask(w, frame(3))).toMatchObject({ id: 3, ok: false, error: { code: 'HP_ERR_RATE_LIMITED' } });
    const bin = await ask(w, encodePredict({ id: 77, model: 'm', entities: {}, fields: {} }));
    expect(decodeServerFrame(bin)).toMatchObject({ op: 'error', id: 77, code: 'HP_ERR_RATE_LIMITED' });
    // Another connection has its own budget.
    expect((await ask(await ws(base), frame(4))).ok).toBe(true);
    expect(metric(await metrics(base), 'hotpath_rate_limited_total', 'class="ws_frames",by="connection"')).toBe(2);
  });

  it('WebSocket connections per client address: refused with 429 past the limit, counted down on close', async () => {
    const base = await start('  ws_connections_per_address: 2\n');
    const a = await ws(base);
    await ws(base);
    expect(await openWs(base)).toBe(429);
    const closed = new Promise((r) => a.once('close', r));
    a.close();
    await closed;
    await new Promise((r) => setTimeout(r, 50));
    await ws(base);
    expect(metric(await metrics(base), 'hotpath_rate_limited_total', 'class="ws_connections",by="address"')).toBe(1);
  });
});

describe('request limits', () => {
  it('features per request, on GET, POST /v1/features and Feast', async () => {
    const base = await start('  features_per_request: 2\n');
    expect((await call(base, 'GET', '/v1/features/user/u1?features=txn_count_1h,amount_mean_1h')).status).toBe(200);
    const get = await call(base, 'GET', '/v1/features/user/u1?features=txn_count_1h,amount_mean_1h,amount_max_1h');
    expect([get.status, get.code]).toEqual([400, 'HP_ERR_FEATURES_TOO_MANY']);
    const post = await call(base, 'POST', '/v1/features', undefined, JSON.stringify({ entity: 'user', ids: ['u1'], features: ['txn_count_1h', 'amount_mean_1h', 'amount_max_1h'] }));
    expect(post.code).toBe('HP_ERR_FEATURES_TOO_MANY');
    const feast = await call(base, 'POST', '/get-online-features', undefined, JSON.stringify({ features: ['user:txn_count_1h', 'user:txn_count_1h', 'user:txn_count_1h'], entities: { user: ['u1'] } }));
    expect(feast.code).toBe('HP_ERR_FEATURES_TOO_MANY');
  });

  it('id length in requests that read', async () => {
    const base = await start('  id_bytes: 8\n');
    expect((await call(base, 'GET', '/v1/features/user/12345678')).status).toBe(200);
    expect((await call(base, 'GET', '/v1/features/user/123456789')).code).toBe('HP_ERR_ID_INVALID');
    expect((await call(base, 'GET', `/v1/features/user/${encodeURIComponent('ééééé')}`)).code).toBe('HP_ERR_ID_INVALID'); // 10 bytes
    expect((await call(base, 'POST', '/v1/features', undefined, '{"entity":"user","ids":["123456789"]}')).code).toBe('HP_ERR_ID_INVALID');
  });

  it('WebSocket frame size: a larger frame closes the connection at once (uWS sends no close frame: 1006)', async () => {
    const base = await start('  ws_frame_bytes: 1KiB\n');
    const w = await ws(base);
    const closed = new Promise<number>((r) => w.once('close', (code) => r(code)));
    w.send(JSON.stringify({ id: 1, op: 'events', pad: 'x'.repeat(2000) }));
    expect(await closed).toBe(1006);
    const ok = await ws(base);
    expect((await ask(ok, JSON.stringify({ id: 2, op: 'nope', pad: 'x'.repeat(900) }))).error.code).toBe('HP_ERR_WS_FRAME_INVALID');
  });
});
