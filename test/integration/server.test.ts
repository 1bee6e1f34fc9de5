// The real server on port 0, real HTTP clients: every endpoint, and bad input answered
// with a code while the server keeps serving and nothing half-applies.
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfigFile } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';

const configPath = fileURLToPath(new URL('../fixtures/server.yaml', import.meta.url));
let server: Server;
let base: string;

beforeAll(async () => {
  server = await startServer({ config: loadConfigFile(configPath), port: 0, log: () => {} });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  await server.close();
});

async function post(path: string, body: string, contentType = 'application/json') {
  const r = await fetch(base + path, { method: 'POST', body, headers: { 'content-type': contentType } });
  return { status: r.status, body: await r.json() };
}
async function get(path: string) {
  const r = await fetch(base + path);
  return { status: r.status, body: await r.json() };
}
const now = () => Date.now();
const features = async (entity: string, id: string, q = '') => (await get(`/v1/features/${entity}/${encodeURIComponent(id)}${q}`)).body;

describe('health', () => {
  it('answers /healthz and /readyz', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await get('/readyz')).toEqual({ status: 200, body: { status: 'ready' } });
  });
});

describe('events in, features out', () => {
  it('takes one object, an array and NDJSON, and reads them back', async () => {
    const t = now();
    expect(await post('/v1/events', JSON.stringify({ stream: 'tx', user_id: 'alice', merchant_id: 'm1', amount: 10, country: 'FR', ts: t - 3000 })))
      .toEqual({ status: 200, body: { accepted: 1, late: 0 } });
    const arr = [20, 30].map((amount, i) => ({ stream: 'tx', user_id: 'alice', merchant_id: 'm1', amount, country: 'DE', ts: t - 2000 + i }));
    expect((await post('/v1/events', JSON.stringify(arr))).body).toEqual({ accepted: 2, late: 0 });
    const nd = `${JSON.stringify({ user_id: 'alice', merchant_id: 'm2', amount: 40, country: 'FR', ts: new Date(t - 1000).toISOString() })}\n\n`;
    expect((await post('/v1/events?stream=tx', nd, 'application/x-ndjson')).body).toEqual({ accepted: 1, late: 0 });

    const f = await features('user', 'alice');
    expect(f).toMatchObject({ entity: 'user', id: 'alice', found: true });
    expect(f.features).toMatchObject({ n_1h: 4, sum_1h: 100, mean_1h: 25, last3: [40, 30, 20], countries: 2, clicks_1m: 0, last_items: [] });
    expect(f.freshness_ms).toBeGreaterThanOrEqual(1000);
    expect(f.freshness_ms).toBeLessThan(60_000);
    expect((await features('merchant', 'm1')).features).toEqual({ n_1h: 3 });
  });

  it('returns empty values for an entity it has never seen', async () => {
    const f = await features('user', 'nobody');
    expect(f).toMatchObject({ found: false, freshness_ms: null });
    expect(f.features).toMatchObject({ n_1h: 0, sum_1h: 0, mean_1h: null, last3: [], countries: 0 });
  });

  it('reads named features, a past time, and batches', async () => {
    const t = now();
    await post('/v1/events', JSON.stringify({ stream: 'clicks', uid: 'bob', item: 1234 }));
    await post('/v1/events', JSON.stringify({ stream: 'clicks', uid: 'bob', item: 99 }));
    expect((await features('user', 'bob', '?features=clicks_1m,last_items')).features).toEqual({ clicks_1m: 2, last_items: [99, 1234] });
    expect((await features('user', 'bob', `?features=clicks_1m&at=${t + 3 * 60_000}`)).features).toEqual({ clicks_1m: 0 });
    const r = await post('/v1/features', JSON.stringify({ entity: 'user', ids: ['bob', 'nobody', 42], features: ['clicks_1m'] }));
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: { id: string; found: boolean; features: object }) => [x.id, x.found, x.features])).toEqual([
      ['bob', true, { clicks_1m: 2 }],
      ['nobody', false, { clicks_1m: 0 }],
      ['42', false, { clicks_1m: 0 }],
    ]);
  });

  it('counts events older than the allowed lateness as late instead of applying them', async () => {
    const t = now();
    await post('/v1/events', JSON.stringify({ stream: 'tx', user_id: 'carol', merchant_id: 'm9', amount: 1, country: 'FR', ts: t }));
    const r = await post('/v1/events', JSON.stringify({ stream: 'tx', user_id: 'carol', merchant_id: 'm9', amount: 1, country: 'FR', ts: t - 5 * 60_000 }));
    expect(r.body).toEqual({ accepted: 0, late: 1 });
    expect((await features('user', 'carol')).features.n_1h).toBe(1);
  });
});

describe('stats', () => {
  it('reports entities, capacity and bytes per entity table', async () => {
    const r = await get('/v1/stats');
    expect(r.status).toBe(200);
    const user = r.body.entities.user;
    expect(user.live).toBeGreaterThan(0);
    expect(user.capacity).toBeGreaterThanOrEqual(user.live);
    // row_bytes is the wire row (snapshots, exportRows); in memory rows are compact, so bytes
    // per entity (compact row + index share + ext blocks in use) may be the smaller
    expect(user.bytes_per_entity).toBeGreaterThan(0);
    expect(user.row_bytes).toBeGreaterThan(0);
    expect(user.mem_row_bytes).toBeGreaterThan(0);
    expect(user.mem_row_bytes).toBeLessThan(user.row_bytes); // the demo's 1 h rings of 1 min tiles are kept compact
    expect(user.promoted).toBeGreaterThanOrEqual(0);
    expect(user.allocated_bytes).toBeLessThanOrEqual(user.memory_budget_bytes);
    expect(user.updates).toBeGreaterThan(0);
    expect(typeof user.newest_event_ms).toBe('number');
    expect(Object.keys(r.body.entities).sort()).toEqual(['merchant', 'user']);
  });
});

describe('bad input', () => {
  const good = () => ({ stream: 'tx', user_id: 'dave', merchant_id: 'm1', amount: 5, country: 'FR', ts: now() });
  const cases: [string, string, number, string, string?][] = [
    ['malformed JSON', '{"user_id": "dave", ', 400, 'HP_ERR_BAD_JSON'],
    ['empty body', '', 400, 'HP_ERR_BODY_EMPTY'],
    ['empty batch', '[]', 400, 'HP_ERR_BATCH_EMPTY'],
    ['not an object', '[1]', 400, 'HP_ERR_EVENT_INVALID'],
    ['wrong type', JSON.stringify([{ ...good(), amount: '5' }]), 400, 'HP_ERR_EVENT_INVALID'],
    ['number overflowing to Infinity', '[{"stream":"tx","user_id":"dave","merchant_id":"m","amount":1e400,"country":"FR"}]', 400, 'HP_ERR_EVENT_INVALID'],
    ['missing field', JSON.stringify({ stream: 'tx', user_id: 'dave', merchant_id: 'm1', country: 'FR' }), 400, 'HP_ERR_EVENT_INVALID'],
    ['missing key', JSON.stringify({ stream: 'tx', merchant_id: 'm1', amount: 1, country: 'FR' }), 400, 'HP_ERR_EVENT_INVALID'],
    ['huge id', JSON.stringify({ ...good(), user_id: 'x'.repeat(257) }), 400, 'HP_ERR_ID_INVALID'],
    ['multi-byte id over 256 bytes', JSON.stringify({ ...good(), user_id: 'é'.repeat(129) }), 400, 'HP_ERR_ID_INVALID'],
    ['float id', JSON.stringify({ ...good(), user_id: 1.5 }), 400, 'HP_ERR_ID_INVALID'],
    ['future timestamp', JSON.stringify({ ...good(), ts: now() + 3_600_000 }), 400, 'HP_ERR_EVENT_TIMESTAMP'],
    ['negative timestamp', JSON.stringify({ ...good(), ts: -1 }), 400, 'HP_ERR_EVENT_TIMESTAMP'],
    ['unparseable timestamp', JSON.stringify({ ...good(), ts: 'yesterday' }), 400, 'HP_ERR_EVENT_TIMESTAMP'],
    ['unknown stream', JSON.stringify({ ...good(), stream: 'nope' }), 400, 'HP_ERR_STREAM_UNKNOWN'],
    ['no stream with several declared', JSON.stringify({ user_id: 'dave', merchant_id: 'm1', amount: 1, country: 'FR' }), 400, 'HP_ERR_STREAM_UNKNOWN'],
    ['too many events', JSON.stringify(Array.from({ length: 101 }, good)), 413, 'HP_ERR_BATCH_TOO_LARGE'],
  ];
  for (const [name, body, status, code] of cases) {
    it(`events: ${name} -> ${status} ${code}, nothing applied`, async () => {
      const before = (await features('user', 'dave')).features.n_1h;
      const r = await post('/v1/events', body);
      expect(r).toMatchObject({ status, body: { error: { code } } });
      expect(typeof r.body.error.message).toBe('string');
      expect((await features('user', 'dave')).features.n_1h).toBe(before);
    });
  }

  it('refuses a whole batch when one event in the middle is bad', async () => {
    const batch = [good(), good(), { ...good(), amount: null }, good()];
    const r = await post('/v1/events', JSON.stringify(batch));
    expect(r).toMatchObject({ status: 400, body: { error: { code: 'HP_ERR_EVENT_INVALID', index: 2 } } });
    expect((await features('user', 'dave')).features.n_1h).toBe(0);
  });

  it('refuses a bad NDJSON line with its number', async () => {
    const r = await post('/v1/events', `${JSON.stringify(good())}\n{oops\n`, 'application/x-ndjson');
    expect(r).toMatchObject({ status: 400, body: { error: { code: 'HP_ERR_BAD_JSON', line: 2 } } });
  });

  it('refuses an oversized body with 413 and keeps serving', async () => {
    const big = JSON.stringify(Array.from({ length: 2000 }, good));
    expect(big.length).toBeGreaterThan(64 * 1024);
    let status = 0;
    try {
      status = (await fetch(`${base}/v1/events`, { method: 'POST', body: big })).status;
    } catch {
      status = -1; // the server may close the connection before the client finishes sending
    }
    expect([413, -1]).toContain(status);
    expect((await get('/healthz')).status).toBe(200);
  });

  const reads: [string, string, number, string][] = [
    ['unknown entity', '/v1/features/planet/x', 404, 'HP_ERR_ENTITY_UNKNOWN'],
    ['unknown feature', '/v1/features/user/x?features=n_1h,nope', 400, 'HP_ERR_FEATURE_UNKNOWN'],
    ['bad at', '/v1/features/user/x?at=tomorrow', 400, 'HP_ERR_QUERY_INVALID'],
    ['bad percent-encoding', '/v1/features/user/%E0%A4%A', 400, 'HP_ERR_ID_INVALID'],
    ['huge id', `/v1/features/user/${'x'.repeat(300)}`, 400, 'HP_ERR_ID_INVALID'],
    ['unknown route', '/v1/nothing', 404, 'HP_ERR_ROUTE_NOT_FOUND'],
  ];
  for (const [name, path, status, code] of reads) {
    it(`reads: ${name} -> ${status} ${code}`, async () => {
      expect(await get(path)).toMatchObject({ status, body: { error: { code } } });
    });
  }

  const batchReads: [string, string, number, string][] = [
    ['malformed JSON', '{"entity":', 400, 'HP_ERR_BAD_JSON'],
    ['not an object', '[]', 400, 'HP_ERR_QUERY_INVALID'],
    ['ids missing', '{"entity":"user"}', 400, 'HP_ERR_QUERY_INVALID'],
    ['empty ids', '{"entity":"user","ids":[]}', 400, 'HP_ERR_BATCH_EMPTY'],
    ['bad id', '{"entity":"user","ids":["a",{}]}', 400, 'HP_ERR_ID_INVALID'],
    ['unknown entity', '{"entity":"planet","ids":["a"]}', 404, 'HP_ERR_ENTITY_UNKNOWN'],
    ['features not a list', '{"entity":"user","ids":["a"],"features":"n_1h"}', 400, 'HP_ERR_QUERY_INVALID'],
    ['too many ids', JSON.stringify({ entity: 'user', ids: Array.from({ length: 101 }, (_, i) => `u${i}`) }), 413, 'HP_ERR_BATCH_TOO_LARGE'],
  ];
  for (const [name, body, status, code] of batchReads) {
    it(`batch reads: ${name} -> ${status} ${code}`, async () => {
      expect(await post('/v1/features', body)).toMatchObject({ status, body: { error: { code } } });
    });
  }

  it('is still healthy after all of that', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await post('/v1/events', JSON.stringify(good()))).body).toEqual({ accepted: 1, late: 0 });
  });
});
