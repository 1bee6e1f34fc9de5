// Authentication details on a real server: the JWT checks (algorithms, iss, aud, nbf, exp,
// clock skew, signatures), the headers a refusal carries, the places a credential may come
// from, admin and predict:*, tokens verified while a body arrives, the cache and expiry,
// key rotation (SIGHUP's reloadCredentials) reaching open WebSockets, metrics open or
// protected, model names in paths, the warning for an exposed port, and that no
// credential reaches the log.
import { writeFileSync } from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { STORE_YAML } from '../support/inference-server.js';
import { ask, call, KEY_SCOPES, mint, openWs, type Secured, startSecured, writeKeys } from '../support/security.js';

let s: Secured | undefined;
let plain: Server | undefined;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const w of sockets.splice(0)) w.terminate();
  await s?.server.close();
  await plain?.close();
  s = plain = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const predict = JSON.stringify({ entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 10 } });

async function ws(base: string, o: Parameters<typeof openWs>[1]): Promise<WebSocket> {
  const w = await openWs(base, o);
  if (typeof w === 'number') throw new Error(`upgrade refused: ${w}`);
  sockets.push(w);
  return w;
}

describe('JWT', () => {
  it('checks signature, algorithm, iss, aud, nbf and exp, with the configured skew', async () => {
    s = await startSecured({ auth: '    clock_skew: 5s' });
    const get = async (t: string) => {
      const r = await call(s!.base, 'GET', '/v1/features/user/u1', t);
      return `${r.status}${r.code ? ` ${r.code}` : ''}`;
    };
    const f = KEY_SCOPES.features;
    for (const alg of ['HS256', 'RS256', 'ES256'] as const) expect(await get(await mint(f, { alg })), alg).toBe('200');
    expect(await get(await mint(f, { alg: 'RS256', foreign: true }))).toBe('401 HP_ERR_AUTH_INVALID');
    expect(await get(await mint(f, { foreign: true }))).toBe('401 HP_ERR_AUTH_INVALID'); // HS256 with another secret
    expect(await get(await mint(f, { iss: 'https://other.test' }))).toBe('401 HP_ERR_AUTH_INVALID');
    expect(await get(await mint(f, { aud: 'other' }))).toBe('401 HP_ERR_AUTH_INVALID');
    expect(await get(await mint(f, { nbf: 60 }))).toBe('401 HP_ERR_AUTH_INVALID'); // not yet valid
    expect(await get(await mint(f, { nbf: 3 }))).toBe('200'); // within the 5 s skew
    expect(await get(await mint(f, { exp: -3 }))).toBe('200'); // expired 3 s ago: within the skew
    expect(await get(await mint(f, { exp: -60 }))).toBe('401 HP_ERR_AUTH_EXPIRED');
    expect(await get(await mint(f, { exp: null }))).toBe('401 HP_ERR_AUTH_INVALID'); // no exp: refused
    // alg "none", and a token that is not a JWT at all
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ scope: 'admin', iss: 'https://issuer.test', aud: 'hotpath-test', exp: 9e9 })).toString('base64url')}.`;
    expect(await get(none)).toBe('401 HP_ERR_AUTH_INVALID');
    expect(await get('eyJhbGciOiJIUzI1NiJ9.not-json.x')).toBe('401 HP_ERR_AUTH_INVALID');
  }, 30_000);

  it('refuses algorithms the config does not list, before verifying', async () => {
    s = await startSecured({ algorithms: '[RS256]' });
    expect((await call(s.base, 'GET', '/v1/features/user/u1', await mint(KEY_SCOPES.features, { alg: 'RS256' }))).status).toBe(200);
    const hs = await call(s.base, 'GET', '/v1/features/user/u1', await mint(KEY_SCOPES.features));
    expect(hs.status).toBe(401);
    expect(hs.json.error.message).toContain('HS256');
  });

  it('stops admitting a remembered token once it expires, over HTTP and on an open WebSocket', async () => {
    s = await startSecured({ auth: '    clock_skew: 0s' });
    const t = await mint([...KEY_SCOPES.features, ...KEY_SCOPES.events], { exp: 2 });
    expect((await call(s.base, 'GET', '/v1/features/user/u1', t)).status).toBe(200);
    expect((await call(s.base, 'GET', '/v1/features/user/u1', t)).status).toBe(200); // from the cache
    const w = await ws(s.base, { auth: t });
    const frame = JSON.stringify({ id: 1, op: 'events', stream: 'tx', events: [{ user_id: 'u1', merchant_id: 'm1', amount: 1, country: 'FR', ts: Date.now() }] });
    expect((await ask(w, frame)).ok).toBe(true);
    await sleep(3100);
    expect((await call(s.base, 'GET', '/v1/features/user/u1', t)).code).toBe('HP_ERR_AUTH_EXPIRED');
    expect((await ask(w, frame)).error.code).toBe('HP_ERR_AUTH_EXPIRED');
  }, 30_000);

  it('verifies a new token while the body arrives, and refuses a bad one without running the route', async () => {
    s = await startSecured();
    // A large NDJSON body (several chunks) with a token the server has not seen.
    const now = Date.now();
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ user_id: `b${i}`, merchant_id: 'm1', amount: i, country: 'FR', ts: now }));
    const body = lines.join('\n');
    expect(body.length).toBeGreaterThan(256 * 1024);
    const post = async (t: string) => {
      const r = await fetch(`${s!.base}/v1/events?stream=tx`, { method: 'POST', body, headers: { authorization: `Bearer ${t}`, 'content-type': 'application/x-ndjson' } });
      return { status: r.status, json: await r.json() };
    };
    expect(await post(await mint(KEY_SCOPES.events, { alg: 'ES256', sub: 'writer-1' }))).toEqual({ status: 200, json: { accepted: 5000, late: 0 } });
    expect((await post(await mint(KEY_SCOPES.events, { alg: 'ES256', foreign: false, iss: 'https://evil.test' }))).status).toBe(401);
    expect((await post(await mint(KEY_SCOPES.features, { alg: 'RS256' }))).status).toBe(403);
    // Only the first batch was applied.
    expect((await call(s.base, 'GET', '/metrics', s.keys.metrics)).text).toMatch(/^hotpath_events_ingested_total\{stream="tx"\} 5000$/m);
    // Many concurrent first requests with one new token: all answered.
    const t = await mint(KEY_SCOPES.fraud, { alg: 'RS256' });
    const answers = await Promise.all(Array.from({ length: 20 }, () => call(s!.base, 'POST', '/v1/predict/fraud', t, predict)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
  }, 30_000);
});

describe('credentials and refusals', () => {
  it('says what is wrong in WWW-Authenticate, and takes keys from Authorization or X-API-Key', async () => {
    s = await startSecured();
    const none = await call(s.base, 'GET', '/v1/features/user/u1');
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="hotpath"');
    const wrong = await call(s.base, 'GET', '/v1/features/user/u1', 'hp_wrong');
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="hotpath", error="invalid_token"');
    const scope = await call(s.base, 'POST', '/v1/predict/fraud', s.keys.rules, predict);
    expect(scope.status).toBe(403);
    expect(scope.json.error).toMatchObject({ code: 'HP_ERR_AUTH_FORBIDDEN', scope: 'predict:fraud' });
    expect(scope.headers.get('www-authenticate')).toBe('Bearer realm="hotpath", error="insufficient_scope", scope="predict:fraud"');
    expect((await call(s.base, 'GET', '/v1/features/user/u1', s.keys.features, undefined, 'x-api-key')).status).toBe(200);
    expect((await call(s.base, 'GET', '/v1/features/user/u1', s.keys.events, undefined, 'x-api-key')).status).toBe(403);
    const basic = await fetch(`${s.base}/v1/features/user/u1`, { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    expect(basic.status).toBe(401);
    // KServe routes keep the protocol's error shape.
    const ks = await call(s.base, 'GET', '/v2/models/fraud');
    expect(ks.status).toBe(401);
    expect(ks.json).toEqual({ error: expect.stringContaining('needs a credential') });
  });

  it('lets admin do everything and predict:* score every model', async () => {
    s = await startSecured();
    const a = s.keys.admin;
    for (const [m, p, b] of [['GET', '/v1/features/user/u1'], ['POST', '/v1/predict/fraud', predict], ['POST', '/v1/predict/fraud_rules', predict], ['GET', '/metrics'], ['POST', '/v1/events?stream=tx', '{"user_id":"u","merchant_id":"m","amount":1,"country":"FR"}']] as const)
      expect((await call(s.base, m, p, a, b)).status, p).toBe(200);
    expect((await call(s.base, 'POST', '/v1/predict/fraud', s.keys.predictAll, predict)).status).toBe(200);
    expect((await call(s.base, 'POST', '/v1/predict/fraud_rules', s.keys.predictAll, predict)).status).toBe(200);
    expect((await call(s.base, 'GET', '/v1/features/user/u1', s.keys.predictAll)).status).toBe(403);
  });

  it('takes a WebSocket credential from a bearer.<credential> subprotocol and never echoes it', async () => {
    s = await startSecured();
    const w = await ws(s.base, { protocols: ['hotpath', `bearer.${s.keys.fraud}`] });
    expect(w.protocol).toBe('hotpath');
    const r = await ask(w, JSON.stringify({ id: 'a', op: 'predict', model: 'fraud', entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 3 } }));
    expect(r).toMatchObject({ id: 'a', ok: true });
    expect(await openWs(s.base, { protocols: ['hotpath', 'bearer.hp_wrong'] })).toBe(401);
    const t = await mint(KEY_SCOPES.events, { alg: 'ES256' });
    const w2 = await ws(s.base, { protocols: ['hotpath', `bearer.${t}`] }); // a token seen for the first time: upgraded once verified
    expect((await ask(w2, JSON.stringify({ id: 2, op: 'predict', model: 'fraud', entities: {}, fields: {} }))).error.code).toBe('HP_ERR_AUTH_FORBIDDEN');
  });

  it('reloads the keys: a removed key is refused, also on WebSockets opened with it; the others go on', async () => {
    s = await startSecured();
    const events = s.keys.events;
    const w = await ws(s.base, { auth: events });
    const frame = (id: number) => JSON.stringify({ id, op: 'events', stream: 'tx', events: [{ user_id: 'u1', merchant_id: 'm1', amount: 1, country: 'FR' }] });
    expect((await ask(w, frame(1))).ok).toBe(true);
    const kept = { features: s.keys.features, admin: s.keys.admin, fresh: 'hp_a-key-added-by-the-reload' };
    writeKeys(s.dir, kept, { features: KEY_SCOPES.features, admin: KEY_SCOPES.admin, fresh: ['events:write'] });
    await s.server.reloadCredentials();
    expect((await call(s.base, 'POST', '/v1/events?stream=tx', events, '{"user_id":"u","merchant_id":"m","amount":1,"country":"FR"}')).code).toBe('HP_ERR_AUTH_INVALID');
    expect((await ask(w, frame(2))).error.code).toBe('HP_ERR_AUTH_INVALID');
    expect((await call(s.base, 'GET', '/v1/features/user/u1', kept.features)).status).toBe(200);
    expect((await call(s.base, 'POST', '/v1/events?stream=tx', kept.fresh, '{"user_id":"u","merchant_id":"m","amount":1,"country":"FR"}')).status).toBe(200);
    // A keys file that does not load leaves the keys as they were.
    writeFileSync(`${s.dir}/keys.yaml`, 'keys: [{ name: x, sha256: 123, scopes: [admin] }]\n');
    await expect(s.server.reloadCredentials()).rejects.toMatchObject({ code: 'HP_ERR_CONFIG_INVALID', message: expect.stringContaining('/auth/keys_file') });
    expect((await call(s.base, 'GET', '/v1/features/user/u1', kept.features)).status).toBe(200);
  });

  it('serves /metrics to anyone with auth.metrics: open', async () => {
    s = await startSecured({ auth: '  metrics: open' });
    const m = await call(s.base, 'GET', '/metrics');
    expect(m.status).toBe(200);
    await call(s.base, 'GET', '/v1/features/user/u1', 'hp_wrong');
    expect((await call(s.base, 'GET', '/metrics')).text).toMatch(/hotpath_auth_refused_total\{code="HP_ERR_AUTH_INVALID"\} 1/);
  });

  it('writes no credential to the log', async () => {
    const lines: string[] = [];
    s = await startSecured({ server: { log: (l) => lines.push(l) } });
    const bad = await mint(KEY_SCOPES.admin, { foreign: true });
    for (const c of [s.keys.admin, 'hp_wrong', bad, await mint(KEY_SCOPES.admin, { exp: -100 })]) {
      await call(s.base, 'POST', '/v1/predict/fraud', c, predict);
      await call(s.base, 'POST', '/v1/predict/nope', c, predict);
      await call(s.base, 'POST', '/v2/repository/models/fraud/load', c, '{"parameters":{"version":7}}');
    }
    const all = lines.join('\n');
    for (const c of [...Object.values(s.keys), bad]) expect(all).not.toContain(c);
  });
});

describe('without auth', () => {
  const yaml = (host = '') => `server: { workers: 1 ${host} }\n${STORE_YAML}`;

  it('refuses model names that are not names before anything looks them up', async () => {
    plain = await startServer({ config: loadConfigText(yaml()), port: 0, log: () => {} });
    const base = `http://127.0.0.1:${plain.port}`;
    for (const path of ['/v2/repository/models/..%2F..%2Fetc/load', '/v2/repository/models/a.b/load']) {
      const r = await call(base, 'POST', path, undefined, '{}');
      expect(r.status, path).toBe(400);
      expect(r.json.error, path).toMatch(/is not a model name/);
    }
    expect((await call(base, 'POST', '/v1/predict/x..y', undefined, '{}')).code).toBe('HP_ERR_MODEL_NAME_INVALID');
    expect((await call(base, 'GET', '/v2/models/x%00y/ready')).status).toBe(400);
    expect((await call(base, 'POST', '/v1/predict/no_such_model', undefined, '{}')).code).toBe('HP_ERR_MODEL_UNKNOWN');
  });

  it('warns when it listens beyond loopback with auth off, and not on loopback', async () => {
    const lines: string[] = [];
    plain = await startServer({ config: loadConfigText(yaml()), port: 0, host: '0.0.0.0', log: (l) => lines.push(l) });
    expect(lines.filter((l) => l.includes('warning: listening on 0.0.0.0'))).toHaveLength(1);
    await plain.close();
    lines.length = 0;
    plain = await startServer({ config: loadConfigText(yaml()), port: 0, log: (l) => lines.push(l) });
    expect(loadConfigText(yaml()).server.host).toBe('127.0.0.1');
    expect(lines).toEqual([]);
  });
});
