// Recommenders on a real server: click events in (JSON and binary WebSocket frames),
// co-visitation recommendations out; seen items excluded, the category filter, a cold user
// answered by popularity, the user's history read from the store's last_n feature, the
// state across a snapshot and a crash (snapshot + log replay = the same counts), bad
// bodies refused with codes, the stats route and metrics.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { npyBytes } from '../../src/bench/sessions.js';
import { ASYNC_ABOVE } from '../../src/recommend/embedding.js';
import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { decodeServerFrame, encodeEvents } from '../../src/server/ws-protocol.js';
import { getJson, metric, metricsText, postJson } from '../support/inference-server.js';

const CONFIG = (extra = '') => `
server: { workers: 1 }
streams:
  clicks:
    keys: { user: user_id, item: item_id }
    time_field: ts
    fields: { item_id: category, category: category }
entities:
  user:
    memory: 8MiB
    features:
      recent_items: { agg: last_n, field: item_id, n: 10 }
  item:
    memory: 8MiB
    features:
      views_1h: { agg: count, window: 1h }
recommenders:
  shop:
    stream: clicks
    user: user
    item: item_id
    category: category
    recent: recent_items
    half_life: 1d
    neighbours: 16
    window: 3
    max_items: 1000
    max_users: 1000
    k: 5
    max_k: 50
${extra}`;

let server: Server | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(text = CONFIG(), dataDir?: string): Promise<string> {
  server = await startServer({ config: loadConfigText(text), port: 0, host: '127.0.0.1', log: () => {}, dataDir });
  return `http://127.0.0.1:${server.port}`;
}

const T0 = Date.now() - 3_600_000;
type Click = { user_id: string; item_id: string; category: string; ts: number };
let clock = 0;
const click = (user: string, item: string, category = 'books'): Click => ({ user_id: user, item_id: item, category, ts: T0 + clock++ });

async function send(base: string, events: Click[]): Promise<void> {
  const r = await postJson(base, '/v1/events?stream=clicks', events);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

type Answer = { recommender: string; user: string; items: { id: string; score: number; source: string }[]; fallback: boolean };
async function recommend(base: string, body: unknown, name = 'shop'): Promise<{ status: number; body: Answer & { error?: { code: string } } }> {
  return (await postJson(base, `/v1/recommend/${name}`, body)) as { status: number; body: Answer & { error?: { code: string } } };
}

/** Sessions that walk a -> b -> c (and 10 more a -> b), and d -> e; d is the most popular. */
function sessions(): Click[] {
  const ev: Click[] = [];
  for (let u = 0; u < 10; u++) ev.push(click(`r${u}`, 'a'), click(`r${u}`, 'b'));
  for (let u = 0; u < 30; u++) {
    ev.push(click(`s${u}`, 'a'), click(`s${u}`, 'b'), click(`s${u}`, 'c', 'music'));
    ev.push(click(`p${u}`, 'd', 'music'), click(`p${u}`, 'e'));
  }
  for (let u = 0; u < 40; u++) ev.push(click(`q${u}`, 'd', 'music'));
  return ev;
}

describe('recommenders', () => {
  it('learns co-visitation from events and recommends the items seen with the user\'s', async () => {
    const base = await start();
    await send(base, sessions());
    // A user who saw a: b first (seen right after a), then c; a itself is excluded.
    await send(base, [click('me', 'a')]);
    const r = await recommend(base, { user: 'me', k: 3 });
    expect(r.status).toBe(200);
    expect(r.body.recommender).toBe('shop');
    expect(r.body.user).toBe('me');
    expect(r.body.fallback).toBe(false);
    expect(r.body.items.slice(0, 2).map((i) => [i.id, i.source])).toEqual([['b', 'covisit'], ['c', 'covisit']]);
    expect(r.body.items.map((i) => i.id)).not.toContain('a');
    // the rest is filled from popularity: d is the most clicked item
    expect(r.body.items[2]).toMatchObject({ id: 'd', source: 'popular' });
    // scores: decayed pair counts: 40 sessions of a->b an hour ago, half-life 1d
    expect(r.body.items[0].score).toBeCloseTo(40 * 2 ** (-(Date.now() - T0) / 86_400_000), 2);
    // exclude_seen: false keeps the user's own items as candidates (a is not its own neighbour)
    await send(base, [click('me', 'b')]);
    const seen = await recommend(base, { user: 'me', k: 3, exclude_seen: false });
    expect(seen.body.items.map((i) => i.id)).toEqual(['c', 'a', 'b']); // c: 30 + 0.7 x 30, a: 40 (from b), b: 0.7 x 40 (from a)
    const unseen = await recommend(base, { user: 'me', k: 2 });
    expect(unseen.body.items.map((i) => i.id)).not.toContain('b');
    expect(unseen.body.items[0].id).toBe('c');
  });

  it('filters by category, answers cold users with popularity, and takes session items from the caller', async () => {
    const base = await start();
    await send(base, sessions());
    await send(base, [click('me', 'a')]);
    const music = await recommend(base, { user: 'me', k: 3, category: 'music' });
    expect(music.body.items.map((i) => i.id)).toEqual(['c', 'd']); // only music items: c (covisit), d (popular)
    expect(music.body.items.map((i) => i.source)).toEqual(['covisit', 'popular']);
    const cold = await recommend(base, { user: 'nobody', k: 2 });
    expect(cold.body.fallback).toBe(true);
    expect(cold.body.items[0]).toMatchObject({ id: 'd', source: 'popular' }); // 70 clicks
    expect(cold.body.items[1]).toMatchObject({ id: 'a', source: 'popular' }); // 40
    expect(cold.body.items[0].score).toBeGreaterThan(cold.body.items[1].score);
    // the caller's own session items make a cold user warm
    const warm = await recommend(base, { user: 'nobody', k: 2, items: ['b'] });
    expect(warm.body.fallback).toBe(false);
    expect(warm.body.items.map((i) => i.id).sort()).toEqual(['a', 'c']);
    // the default k (5): every item there is for a cold user, a's four others for 'me'
    expect((await recommend(base, { user: 'nobody' })).body.items).toHaveLength(5);
    expect((await recommend(base, { user: 'me' })).body.items).toHaveLength(4);
  });

  it('reads the user history from the store (last_n) and learns from binary frames', async () => {
    const base = await start();
    await send(base, sessions());
    const ws = new WebSocket(`ws://127.0.0.1:${server!.port}/v1/ws`);
    await new Promise((res, rej) => ws.once('open', res).once('error', rej));
    const done = new Promise<Buffer>((res) => ws.once('message', (m) => res(m as Buffer)));
    ws.send(encodeEvents(1, 'clicks', [{ name: 'user_id', type: 'string' }, { name: 'item_id', type: 'string' }, { name: 'category', type: 'string' }, { name: 'ts', type: 'number' }], [['bin', 'a', 'books', T0 + clock++]]));
    expect(decodeServerFrame(new Uint8Array(await done))).toMatchObject({ op: 'events_result', accepted: 1 });
    ws.close();
    const features = await getJson(base, '/v1/features/user/bin?features=recent_items');
    expect(features.status).toBe(200);
    const r = await recommend(base, { user: 'bin', k: 2 });
    expect(r.body.items.map((i) => i.id)).toEqual(['b', 'c']); // history from the store, names from the JSON events
    const stats = (await getJson(base, '/v1/recommenders')).body as { recommenders: Record<string, { tap_events: number; items: number; pairs: number; requests: number }> };
    expect(stats.recommenders.shop.tap_events).toBe(sessions().length + 1);
    expect(stats.recommenders.shop.items).toBe(5);
  });

  it('keeps its counts across a snapshot and a crash: snapshot + log replay give the same answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-reco-'));
    dirs.push(dir);
    const text = CONFIG('durability: { fsync: always, snapshot_interval: 0 }');
    let base = await start(text, dir);
    await send(base, sessions().slice(0, 100));
    expect((await postJson(base, '/v1/admin/snapshot', {})).status).toBe(200);
    await send(base, sessions().slice(100));
    await send(base, [click('me', 'a'), click('me', 'e')]);
    const before = await recommend(base, { user: 'me', k: 10 });
    const statsBefore = (await getJson(base, '/v1/recommenders')).body as { recommenders: Record<string, Record<string, number>> };
    await server!.close(); // no last snapshot: the restart restores the first one and replays the log after it
    server = undefined;
    base = await start(text, dir);
    const after = await recommend(base, { user: 'me', k: 10 });
    expect(after.body.items.map((i) => i.id)).toEqual(before.body.items.map((i) => i.id));
    // the same decayed counts, a little older (half-life 1d: 8e-6 per second)
    after.body.items.forEach((it, i) => expect(Math.abs(it.score / before.body.items[i].score - 1)).toBeLessThan(1e-4));
    const statsAfter = (await getJson(base, '/v1/recommenders')).body as { recommenders: Record<string, Record<string, number>> };
    for (const k of ['items', 'users', 'updates', 'pairs']) expect(statsAfter.recommenders.shop[k], k).toBe(statsBefore.recommenders.shop[k]);
    expect(statsAfter.recommenders.shop.names).toBe(statsBefore.recommenders.shop.names);
  });

  it('refuses bad requests with codes', async () => {
    const base = await start();
    await send(base, sessions());
    const code = async (body: unknown, name = 'shop') => {
      const r = await recommend(base, body, name);
      return [r.status, r.body.error?.code];
    };
    expect(await code({ user: 'u' }, 'nope')).toEqual([404, 'HP_ERR_RECOMMENDER_UNKNOWN']);
    expect(await code({ user: 'u', k: 0 })).toEqual([400, 'HP_ERR_RECOMMEND_K_INVALID']);
    expect(await code({ user: 'u', k: 51 })).toEqual([400, 'HP_ERR_RECOMMEND_K_INVALID']);
    expect(await code({ user: 'u', k: 2.5 })).toEqual([400, 'HP_ERR_RECOMMEND_K_INVALID']);
    expect(await code({ user: 'u', k: '3' })).toEqual([400, 'HP_ERR_RECOMMEND_K_INVALID']);
    expect(await code({ k: 3 })).toEqual([400, 'HP_ERR_RECOMMEND_INVALID']);
    expect(await code({ user: '' })).toEqual([400, 'HP_ERR_RECOMMEND_INVALID']);
    expect(await code({ user: { id: 1 } })).toEqual([400, 'HP_ERR_RECOMMEND_INVALID']);
    expect(await code([1, 2])).toEqual([400, 'HP_ERR_RECOMMEND_INVALID']);
    expect(await code({ user: 'u', exclude_seen: 'yes' })).toEqual([400, 'HP_ERR_RECOMMEND_INVALID']);
    expect(await code({ user: 'u', items: 'a' })).toEqual([400, 'HP_ERR_RECOMMEND_INVALID']);
    expect(await code({ user: 'u', items: [null] })).toEqual([400, 'HP_ERR_RECOMMEND_INVALID']);
    expect(await code({ user: 'u', items: Array.from({ length: 65 }, (_, i) => `i${i}`) })).toEqual([400, 'HP_ERR_RECOMMEND_INVALID']);
    expect(await code({ user: 'u', category: [] })).toEqual([400, 'HP_ERR_RECOMMEND_INVALID']);
    expect(await code({ user: 'u', colour: 'red' })).toEqual([400, 'HP_ERR_RECOMMEND_INVALID']);
    const raw = await fetch(`${base}/v1/recommend/shop`, { method: 'POST', body: '{"user":' });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe('HP_ERR_BAD_JSON');
    // the counters and the latency histogram
    await recommend(base, { user: 'nobody' });
    const text = await metricsText(base);
    expect(metric(text, 'hotpath_recommend_requests_total', 'recommender="shop"')).toBe(1);
    expect(metric(text, 'hotpath_recommend_fallbacks_total', 'recommender="shop"')).toBe(1);
    expect(metric(text, 'hotpath_recommend_tap_events_total', 'recommender="shop"')).toBe(sessions().length);
    expect(metric(text, 'hotpath_recommend_duration_seconds_count', 'recommender="shop"')).toBe(1);
  });

  it('blends an item embedding: items near the user\'s, and a user matrix for cold users', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-reco-emb-'));
    dirs.push(dir);
    // 2-D rows: a and f point the same way; e alone along the second axis
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const rows = [[1, 0], [0.3, 0.1], [0.2, 0.1], [0, 0.2], [0, 1], [0.9, 0.1]];
    writeFileSync(join(dir, 'items.npy'), npyBytes(Float32Array.from(rows.flat()), 6, 2));
    writeFileSync(join(dir, 'items.txt'), ids.join('\n'));
    writeFileSync(join(dir, 'users.npy'), npyBytes(Float32Array.of(0, 1), 1, 2));
    writeFileSync(join(dir, 'users.txt'), 'vip\n');
    const extra = `    embedding: { file: ${join(dir, 'items.npy')}, ids: ${join(dir, 'items.txt')}, users: ${join(dir, 'users.npy')}, user_ids: ${join(dir, 'users.txt')} }\n    blend: { covisit: 1, embedding: 0.5 }\n`;
    const text = CONFIG('durability: { fsync: always, snapshot_interval: 0 }').replace('    max_k: 50\n', `    max_k: 50\n${extra}`);
    let base = await start(text, dir);
    await send(base, [...sessions(), click('x', 'f', 'music')]);
    await send(base, [click('me', 'a')]);
    const r = await recommend(base, { user: 'me', k: 4 });
    expect(r.body.fallback).toBe(false);
    // b: covisit 1 (the best) + embedding 0.3/0.9 x 0.5; c: covisit 30/40 + its embedding share; f: embedding only
    expect(r.body.items.map((i) => i.id).slice(0, 3)).toEqual(['b', 'c', 'f']);
    expect(r.body.items[0]).toMatchObject({ source: 'covisit' });
    expect(r.body.items[0].score).toBeCloseTo(1 + (0.5 * 0.3) / 0.9, 5);
    expect(r.body.items[2]).toMatchObject({ id: 'f', source: 'embedding' });
    expect(r.body.items[2].score).toBeCloseTo(0.5, 5);
    // a cold user with a row in the user matrix: embedding candidates, not the fallback
    const vip = await recommend(base, { user: 'vip', k: 2 });
    expect(vip.body.fallback).toBe(false);
    expect(vip.body.items[0]).toMatchObject({ id: 'e', source: 'embedding' });
    // the category filter applies to embedding candidates too (f is music, a is not)
    const music = await recommend(base, { user: 'me', k: 3, category: 'music' });
    expect(music.body.items.map((i) => [i.id, i.source])).toEqual([['c', 'covisit'], ['f', 'embedding'], ['d', 'popular']]);
    const stats = (await getJson(base, '/v1/recommenders')).body as { recommenders: Record<string, { embedding: { items: number; dim: number } }> };
    expect(stats.recommenders.shop.embedding).toEqual({ items: 6, dim: 2 });
    // the rows' categories are in the snapshot: after a restart with nothing to replay, the
    // category filter still finds f by its embedding
    expect((await postJson(base, '/v1/admin/snapshot', {})).status).toBe(200);
    await server!.close();
    server = undefined;
    base = await start(text, dir);
    const again = await recommend(base, { user: 'me', k: 3, category: 'music' });
    expect(again.body.items.map((i) => [i.id, i.source])).toEqual([['c', 'covisit'], ['f', 'embedding'], ['d', 'popular']]);
  });

  it('scans a large item matrix on the thread pool: concurrent requests each get their own exact top k', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-reco-big-'));
    dirs.push(dir);
    // more rows than ASYNC_ABOVE: the route answers after topkAsync
    const n = ASYNC_ABOVE + 4_464;
    const dim = 16;
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const m = Float32Array.from({ length: n * dim }, rnd);
    writeFileSync(join(dir, 'items.npy'), npyBytes(m, n, dim));
    writeFileSync(join(dir, 'items.txt'), Array.from({ length: n }, (_, i) => `i${i}`).join('\n'));
    const extra = `    embedding: { file: ${join(dir, 'items.npy')}, ids: ${join(dir, 'items.txt')} }\n    blend: { covisit: 0, embedding: 1 }\n`;
    const base = await start(CONFIG().replace('    max_k: 50\n', `    max_k: 50\n${extra}`));
    const users = Array.from({ length: 16 }, (_, u) => ({ user: `big${u}`, seen: [(u * 7919) % n, (u * 104729 + 13) % n] }));
    await send(base, users.flatMap(({ user, seen }) => seen.map((i) => click(user, `i${i}`))));
    // the exact top 10 of each user's query (the mean of their two rows), seen rows left out
    const expected = users.map(({ seen }) => {
      const q = Array.from({ length: dim }, (_, d) => (m[seen[0] * dim + d] + m[seen[1] * dim + d]) / 2);
      const scores: [number, number][] = [];
      for (let r = 0; r < n; r++) {
        if (seen.includes(r)) continue;
        let s = 0;
        for (let d = 0; d < dim; d++) s += q[d] * m[r * dim + d];
        scores.push([r, s]);
      }
      return scores.sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 10).map(([r]) => `i${r}`);
    });
    const answers = await Promise.all(users.map(({ user }) => recommend(base, { user, k: 10 })));
    answers.forEach((a, u) => {
      expect(a.status, JSON.stringify(a.body)).toBe(200);
      expect(a.body.user).toBe(users[u].user);
      expect(a.body.items.map((i) => i.id)).toEqual(expected[u]);
      expect(a.body.items.every((i) => i.source === 'embedding')).toBe(true);
      expect(a.body.items[0].score).toBeCloseTo(1, 5);
    });
    // a bad k is still refused at once, with its code
    expect((await recommend(base, { user: 'big0', k: 0 })).body.error?.code).toBe('HP_ERR_RECOMMEND_K_INVALID');
  }, 60_000);

  it('refuses a bad config, naming the field', () => {
    const bad = (from: RegExp | string, to: string) => () => loadConfigText(CONFIG().replace(from, to));
    expect(bad('item: item_id\n    category', 'item: nope\n    category')).toThrow(/\/recommenders\/shop\/item: stream 'clicks' has no field 'nope'/);
    expect(bad('user: user\n', 'user: shopper\n')).toThrow(/\/recommenders\/shop\/user: stream 'clicks' has no key 'shopper'/);
    expect(bad('recent: recent_items', 'recent: views_1h')).toThrow(/\/recommenders\/shop\/recent: entity 'user' has no feature 'views_1h'/);
    expect(bad('    k: 5\n', '    k: 80\n')).toThrow(/\/recommenders\/shop\/k/);
    expect(bad('neighbours: 16', 'neighbours: 1000')).toThrow(/\/recommenders\/shop\/neighbours/);
    expect(bad('half_life: 1d', 'half_life: 0')).toThrow(/\/recommenders\/shop\/half_life: must be > 0/);
    expect(bad('    stream: clicks\n    user', '    stream: views\n    user')).toThrow(/\/recommenders\/shop\/stream: no stream 'views'/);
  });
});
