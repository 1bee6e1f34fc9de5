// The L1 answer cache on a real server: a cached answer never outlives a newer event for its
// entity. For every ingest source the taps cover (HTTP JSON, HTTP NDJSON, WebSocket JSON,
// WebSocket binary rows, and a direct Ingestor call as the demo and later Redis Streams
// make): post an event, read (or predict), read again (an L1 hit, the same answer), post
// another event for the same entity, read again: the new value. TTLs are an hour, so only
// the invalidation can make the answers fresh.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { encodeEvents } from '../../src/server/ws-protocol.js';
import { FRAUD_V1, makeRepo, metric, oneModelYaml, postJson, startWith } from '../support/inference-server.js';

const CACHE = 'cache:\n  features: { ttl: 1h }\n  predict: { ttl: 1h }\n';
const configText = readFileSync(fileURLToPath(new URL('../fixtures/server.yaml', import.meta.url)), 'utf8');
let server: Server | undefined;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await server?.close();
  server = undefined;
});

function open(base: string): Promise<WebSocket> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
const next = (ws: WebSocket) => new Promise<Buffer>((resolve) => ws.once('message', (d) => resolve(d as Buffer)));
const metricsText = async (base: string) => (await fetch(`${base}/metrics`)).text();
const l1 = async (base: string, cache: string, result: string) => metric(await metricsText(base), 'hotpath_cache_requests_total', `cache="${cache}",level="l1",result="${result}"`);

type Post = (ev: Record<string, unknown>) => Promise<void>;

/** One way of posting one tx event per ingest source, given the server's base URL. */
async function sources(base: string): Promise<[string, Post][]> {
  const ws = await open(base);
  let id = 0;
  const cols = [{ name: 'user_id', type: 'string' }, { name: 'merchant_id', type: 'string' }, { name: 'amount', type: 'number' }, { name: 'country', type: 'string' }, { name: 'ts', type: 'number' }] as const;
  const ok = async (r: Response) => expect(r.status).toBe(200);
  return [
    ['http json', async (ev) => ok(await fetch(`${base}/v1/events`, { method: 'POST', body: JSON.stringify([{ stream: 'tx', ...ev }]) }))],
    ['http ndjson', async (ev) => ok(await fetch(`${base}/v1/events?stream=tx`, { method: 'POST', body: `${JSON.stringify(ev)}\n`, headers: { 'content-type': 'application/x-ndjson' } }))],
    ['ws json', async (ev) => {
      ws.send(JSON.stringify({ id: ++id, op: 'events', stream: 'tx', events: [ev] }));
      expect(JSON.parse((await next(ws)).toString()).ok).toBe(true);
    }],
    ['ws binary', async (ev) => {
      ws.send(encodeEvents(++id, 'tx', [...cols], [[ev.user_id, ev.merchant_id, ev.amount, ev.country, ev.ts] as never]));
      await next(ws);
    }],
    ['ingestor (demo, redis streams)', async (ev) => void server!.ingest.events([{ stream: 'tx', ...ev }], 'demo')],
  ];
}

describe('feature read cache', () => {
  it('serves a cached read until an event for the entity arrives, from every ingest source', async () => {
    server = await startServer({ config: loadConfigText(configText + CACHE), port: 0, log: () => {} });
    const base = `http://127.0.0.1:${server.port}`;
    const read = async (ent: string, id: string) => (await fetch(`${base}/v1/features/${ent}/${id}`)).json() as Promise<any>;
    for (const [name, post] of await sources(base)) {
      const user = `u-${name}`;
      const merchant = `m-${name}`;
      const ev = (amount: number) => ({ user_id: user, merchant_id: merchant, amount, country: 'FR', ts: Date.now() });
      await post(ev(10));
      const first = await read('user', user);
      expect(first.features.n_1h, name).toBe(1);
      expect((await read('merchant', merchant)).features.n_1h, name).toBe(1);
      const hits = await l1(base, 'features', 'hit');
      expect(await read('user', user), name).toEqual(first); // the same answer, "at" included: from L1
      expect(await l1(base, 'features', 'hit'), name).toBe(hits + 1);
      await post(ev(30));
      const second = await read('user', user);
      expect(second.features.n_1h, name).toBe(2);
      expect(second.features.sum_1h, name).toBe(40);
      expect((await read('merchant', merchant)).features.n_1h, name).toBe(2); // the event's other entity too
      expect(await read('user', user), name).toEqual(second);
    }
    const m = await metricsText(base);
    expect(metric(m, 'hotpath_cache_requests_total', 'cache="features",level="l2",result="hit"')).toBeGreaterThan(0);
    expect(metric(m, 'hotpath_cache_invalidations_total')).toBeGreaterThanOrEqual(20);
    expect(metric(m, 'hotpath_cache_entries', 'cache="features"')).toBeGreaterThan(0);
  });

  it('keys by the query, and a read of an absent entity is an L2 miss', async () => {
    server = await startServer({ config: loadConfigText(configText + CACHE), port: 0, log: () => {} });
    const base = `http://127.0.0.1:${server.port}`;
    await fetch(`${base}/v1/events`, { method: 'POST', body: JSON.stringify([{ stream: 'tx', user_id: 'q', merchant_id: 'm', amount: 5, country: 'FR', ts: Date.now() }]) });
    const a = await (await fetch(`${base}/v1/features/user/q?features=sum_1h`)).json();
    const b = await (await fetch(`${base}/v1/features/user/q?features=n_1h`)).json();
    expect(Object.keys(a.features)).toEqual(['sum_1h']);
    expect(Object.keys(b.features)).toEqual(['n_1h']);
    expect((await (await fetch(`${base}/v1/features/user/nobody`)).json()).found).toBe(false);
    expect(metric(await metricsText(base), 'hotpath_cache_requests_total', 'cache="features",level="l2",result="miss"')).toBe(1);
  });
});

describe('predict cache', () => {
  it('answers from L1 until an event for one of the request\'s entities arrives, from every ingest source', async () => {
    const repo = makeRepo({ fraud: { 1: FRAUD_V1 } });
    const s = await startWith(repo, oneModelYaml('fraud') + CACHE);
    server = s.server;
    const base = s.base;
    const predict = async (user: string, merchant: string) => {
      const r = await postJson(base, '/v1/predict/fraud', { entities: { user, merchant }, fields: { amount: 100 } });
      expect(r.status).toBe(200);
      expect(r.body.fallback).toBe(false);
      return r.body.score as number;
    };
    for (const [name, post] of await sources(base)) {
      const user = `u-${name}`;
      const merchant = `m-${name}`;
      const ev = (amount: number, country: string) => ({ user_id: user, merchant_id: merchant, amount, country, ts: Date.now() });
      await post(ev(1, 'FR'));
      const first = await predict(user, merchant);
      const hits = await l1(base, 'predict', 'hit');
      expect(await predict(user, merchant), name).toBe(first);
      expect(await l1(base, 'predict', 'hit'), name).toBe(hits + 1);
      for (let i = 0; i < 3; i++) await post(ev(50_000, ['DE', 'US', 'JP'][i]));
      const misses = await l1(base, 'predict', 'miss');
      const second = await predict(user, merchant);
      expect(await l1(base, 'predict', 'miss'), name).toBe(misses + 1);
      expect(second, name).not.toBe(first);
      expect(await predict(user, merchant), name).toBe(second);
      // an event of the request's other entity (the merchant) alone invalidates it too
      await post({ ...ev(90_000, 'BR'), user_id: `${user}-other` });
      const third = await predict(user, merchant);
      expect(third, name).not.toBe(second);
    }
  });
});
