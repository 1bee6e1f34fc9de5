// The online store on a real redis-server (online_store:, docs/redis.md "The online
// store"): rows written through as hashes whose values redis-cli reads; a new replica
// started empty warms from them and answers what the writer answers (exactly, with the
// shared log on and events flowing during the warm); a read of an entity only Redis has is
// read through (a feature read waits at most read_timeout: a paused Redis is a counted
// timeout; a predict reads every absent entity through before it runs); Redis down at start
// and during load: serving goes on, failures are counted,
// and the rows are written once it is back; a full dirty set drops and counts; a
// three-master Redis Cluster with the hash tags.
import { afterEach, describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { hashIds } from '../../src/native/binding.js';
import { type Server, startServer } from '../../src/server/app.js';
import { expectedCounts, T0 } from '../support/counts.js';
import { FRAUD_V1, getJson, makeRepo, metric, oneModelYaml, postJson, startWith, until } from '../support/inference-server.js';
import { RedisCluster, RUN_REDIS } from '../support/redis.js';
import { converge, Fleet, type Replica } from '../support/replicas.js';

const AT = T0 + 3_600_000; // features are read an hour after the events start (support/counts.ts T0)
const STREAM_KEY = '{hp}:events';

/** online: the online_store section's lines (after `url`/`cluster`); shared: a redis_streams url */
const yaml = (online: string, shared?: { url: string; replica: string }) => `
server: { workers: 1, max_batch: 10000 }
store: { max_future: 1d }
streams:
  tx:
    keys: { user: user_id }
    time_field: ts
    allowed_lateness: 1d
    fields: { amount: number }
entities:
  user:
    memory: 16MiB
    shards: 4
    features:
      n_1d:   { agg: count, window: 1d, tile: 1h }
      sum_1d: { agg: sum, field: amount, window: 1d, tile: 1h }
      recent: { agg: last_n, field: amount, n: 3 }
online_store:
  flush_interval: 20ms
  command_timeout: 1s
  ${online}
${shared ? `ingest:
  redis_streams:
    url: ${shared.url}
    key: "${STREAM_KEY}"
    replica: ${shared.replica}
    block: 200ms
    claim_min_idle: 300ms
    claim_interval: 100ms
    lag_interval: 100ms
    ack_timeout: 500ms` : ''}
`;

const fleet = new Fleet();
afterEach(() => fleet.close());

const replica = (name: string, online: string, shared?: { url: string; replica: string }) => fleet.replica(name, yaml(online, shared));
const redis = () => fleet.redis();

const keyOf = (id: string, prefix = 'hotpath') => `${prefix}:user:{${hashIds([id])[0].toString(16).padStart(16, '0')}}`;
const scrape = async (r: Replica) => (await fetch(`${r.base}/metrics`)).text();

type Ev = { user_id: string; ts: number; amount: number };
let seq = 0;
const make = (n: number, users: number): Ev[] => Array.from({ length: n }, () => ({ user_id: `u${seq % users}`, ts: T0 + (seq++ % 3600) * 1000, amount: (seq % 11) + 0.5 }));

async function features(r: Replica, users: string[]) {
  const a = await postJson(r.base, '/v1/features', { entity: 'user', ids: users, at: AT });
  expect(a.status).toBe(200);
  return a.body.results as { id: string; found: boolean; features: { n_1d: number; sum_1d: number; recent: number[] } }[];
}

/** Until the replica has nothing dirty and wrote at least `rows` rows. */
async function flushed(r: Replica, rows = 1, ms = 10_000): Promise<void> {
  await until(async () => {
    const t = await scrape(r);
    return metric(t, 'hotpath_online_store_dirty_entities') === 0 && metric(t, 'hotpath_online_store_rows_written_total') >= rows;
  }, ms);
}

describe.skipIf(!RUN_REDIS)('the online store on Redis', () => {
  it('writes rows through as hashes with the documented layout, values readable with HGET', async () => {
    const rd = await redis();
    const a = await replica('a', `url: ${rd.url}`);
    const events = make(40, 4);
    expect((await postJson(a.base, '/v1/events', events)).status).toBe(200);
    await flushed(a, 4);
    const want = expectedCounts(events);
    const got = await features(a, [...want.keys()]);
    for (const g of got) {
      const key = keyOf(g.id);
      expect(rd.cli('HGET', key, 'n_1d').trim()).toBe(String(want.get(g.id)!.n));
      // the text is the value now (the window is measured from the flush, not `at`: all events are within a day)
      expect(Number(rd.cli('HGET', key, 'sum_1d'))).toBeCloseTo(want.get(g.id)!.sum, 9);
      expect(rd.cli('HGET', key, 'recent').trim()).toBe(g.features.recent.join(','));
      expect(rd.cli('HGET', key, 'p').trim()).toBe(''); // no shared log
      expect(rd.cli('HGET', key, 'o').trim()).toBe('');
      expect(Number(rd.cli('HGET', key, 't'))).toBeGreaterThan(Date.now() - 60_000);
      expect(Number(rd.cli('HSTRLEN', key, 'r'))).toBe(a.server.store.layout(0).rowBytes);
      expect(Number(rd.cli('TTL', key))).toBe(-1);
    }
    expect(rd.cli('--scan', '--pattern', 'hotpath:*').trim().split('\n').sort()).toEqual([...want.keys()].map((u) => keyOf(u)).sort());
    const t = await scrape(a);
    expect(metric(t, 'hotpath_online_store_rows_written_total')).toBeGreaterThanOrEqual(4);
    expect(metric(t, 'hotpath_online_store_pipelines_total')).toBeGreaterThanOrEqual(1);
    expect(metric(t, 'hotpath_online_store_connected')).toBe(1);
  });

  it('a replica started empty warms from Redis and answers what the writer answers; a miss reads through', async () => {
    const rd = await redis();
    const a = await replica('a', `url: ${rd.url}\n  ttl: 1h`);
    const events = make(3000, 500);
    for (let i = 0; i < events.length; i += 300) expect((await postJson(a.base, '/v1/events', events.slice(i, i + 300))).status).toBe(200);
    await flushed(a, 500);
    expect(Number(rd.cli('TTL', keyOf('u1')))).toBeGreaterThan(3000);
    const b = await replica('b', `url: ${rd.url}`);
    expect(b.lines.join('\n')).toMatch(/warmed 500 entities in \d+ ms/);
    const users = [...expectedCounts(events).keys()];
    expect(await features(b, users)).toEqual(await features(a, users));
    expect(metric(await scrape(b), 'hotpath_online_store_warm_rows_total')).toBe(500);

    // read-through: c does not warm; the first GET of u7 finds it in Redis
    const c = await replica('c', `url: ${rd.url}\n  warm: false`);
    const before = await getJson(a.base, `/v1/features/user/u7?at=${AT}`);
    const first = await getJson(c.base, `/v1/features/user/u7?at=${AT}`);
    expect(first.status).toBe(200);
    expect(first.body).toEqual(before.body);
    expect(first.body.found).toBe(true);
    const none = await getJson(c.base, `/v1/features/user/nobody?at=${AT}`);
    expect(none.body.found).toBe(false);
    const t = await scrape(c);
    expect(metric(t, 'hotpath_online_store_read_through_total', 'result="hit"')).toBe(1);
    expect(metric(t, 'hotpath_online_store_read_through_total', 'result="miss"')).toBe(1);
    // the imported row is the store's now: the next read is an L2 hit, no Redis
    expect((await getJson(c.base, `/v1/features/user/u7?at=${AT}`)).body).toEqual(before.body);
    expect(metric(await scrape(c), 'hotpath_online_store_read_through_total', 'result="hit"')).toBe(1);
  });

  it('a slow Redis: a read-through answers found: false after read_timeout, and is counted', async () => {
    const rd = await redis();
    const a = await replica('a', `url: ${rd.url}`);
    expect((await postJson(a.base, '/v1/events', make(10, 2))).status).toBe(200);
    await flushed(a, 2);
    const c = await replica('c', `url: ${rd.url}\n  warm: false\n  read_timeout: 30ms`);
    rd.cli('CLIENT', 'PAUSE', '1000', 'ALL');
    const t0 = performance.now();
    const slow = await getJson(c.base, `/v1/features/user/u1?at=${AT}`);
    const ms = performance.now() - t0;
    expect(slow.body.found).toBe(false);
    expect(ms).toBeGreaterThanOrEqual(25);
    expect(ms).toBeLessThan(800);
    expect(metric(await scrape(c), 'hotpath_online_store_read_through_total', 'result="timeout"')).toBe(1);
    // once Redis answers again, the same read finds it
    await until(async () => (await getJson(c.base, `/v1/features/user/u1?at=${AT}`)).body.found === true, 5000);
  });

  it('read-through with the L1 cache: the cached miss does not survive the import', async () => {
    const rd = await redis();
    const a = await replica('a', `url: ${rd.url}`);
    expect((await postJson(a.base, '/v1/events', make(20, 2))).status).toBe(200);
    await flushed(a, 2);
    const lines: string[] = [];
    const server = await startServer({ config: loadConfigText(`${yaml(`url: ${rd.url}\n  warm: false`)}\ncache:\n  features: { ttl: 10s }\n`), port: 0, host: '127.0.0.1', log: (l) => lines.push(l) });
    const c = fleet.adopt({ name: 'c', server, base: `http://127.0.0.1:${server.port}`, lines });
    const want = (await getJson(a.base, `/v1/features/user/u1?at=${AT}`)).body;
    expect((await getJson(c.base, `/v1/features/user/u1?at=${AT}`)).body).toEqual(want);
    expect((await getJson(c.base, `/v1/features/user/u1?at=${AT}`)).body).toEqual(want);
  });

  it('a predict of entities only Redis has reads them through before it runs: the first answer scores them (with and without a predict cache)', async () => {
    const rd = await redis();
    const repo = makeRepo({ fraud: { 1: FRAUD_V1 } });
    const online = (extra = '') => `online_store:\n  url: ${rd.url}\n  flush_interval: 20ms\n${extra}`;
    const a = await startWith(repo, oneModelYaml('fraud') + online());
    const b = await startWith(repo, `${oneModelYaml('fraud')}${online('  warm: false\n')}cache:\n  predict: { ttl: 1h }\n`);
    const c = await startWith(repo, `${oneModelYaml('fraud')}${online('  warm: false\n')}`);
    const wrap = (s: { server: Server; base: string }, name: string): Replica => ({ name, server: s.server, base: s.base, lines: [] });
    for (const [s, name] of [[a, 'a'], [b, 'b'], [c, 'c']] as const) fleet.adopt(wrap(s, name));
    const now = Date.now();
    const events = [1, 2, 3].map((i) => ({ stream: 'tx', user_id: 'u1', merchant_id: 'm1', amount: 10 * i, country: 'FR', ts: now - i * 1000 }));
    expect((await postJson(a.base, '/v1/events', events)).status).toBe(200);
    await flushed(wrap(a, 'a'), 2);
    const body = { entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 100 } };
    const want = (await postJson(a.base, '/v1/predict/fraud', body)).body.score;
    // an entity nobody has: scored as any unknown entity, after a read-through miss
    const unknown = { entities: { user: 'nobody', merchant: 'm1' }, fields: { amount: 100 } };
    const unknownWant = (await postJson(a.base, '/v1/predict/fraud', unknown)).body.score;
    for (const r of [b, c]) {
      const cold = await postJson(r.base, '/v1/predict/fraud', body);
      expect(cold.status).toBe(200);
      expect(cold.body.score).toBe(want);
      const t = await scrape(wrap(r, 'x'));
      // both entities were asked for, not only the first
      expect(metric(t, 'hotpath_online_store_read_through_total', 'result="hit"')).toBe(2);
      expect((await postJson(r.base, '/v1/predict/fraud', unknown)).body.score).toBe(unknownWant);
    }
    const t = await scrape(wrap(b, 'b'));
    expect(metric(t, 'hotpath_cache_requests_total', 'cache="predict",level="l2",result="miss"')).toBe(2);
    expect(metric(t, 'hotpath_cache_requests_total', 'cache="predict",level="l3",result="hit"')).toBe(1);
    expect(metric(t, 'hotpath_cache_requests_total', 'cache="predict",level="l3",result="miss"')).toBe(1);
  });

  it('with the shared log: a replica warmed while events flow converges exactly', async () => {
    const rd = await redis();
    const shared = (replica: string) => ({ url: rd.url, replica });
    const a = await replica('a', `url: ${rd.url}`, shared('a'));
    const b = await replica('b', `url: ${rd.url}`, shared('b'));
    const events: Ev[] = [];
    const post = async (r: Replica, n: number) => {
      const batch = make(n, 300);
      const ans = await postJson(r.base, '/v1/events', batch);
      expect(ans.status).toBe(200);
      events.push(...batch);
    };
    for (let i = 0; i < 20; i++) await post(i % 2 ? a : b, 100);
    await flushed(a, 1);
    // events keep flowing into a and b while c starts and warms
    let flowing = true;
    const flow = (async () => {
      for (let i = 0; flowing; i++) {
        await post(i % 2 ? a : b, 20);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const c = await replica('c', `url: ${rd.url}`, shared('c'));
    await new Promise((r) => setTimeout(r, 300));
    flowing = false;
    await flow;
    expect(c.lines.join('\n')).toMatch(/warmed \d+ entities/);
    expect(c.lines.join('\n')).toMatch(/consumer group 'c' starts after \d+-\d+/);
    await converge([a, b, c], events);
    const t = await scrape(c);
    expect(metric(t, 'hotpath_online_store_warm_rows_total')).toBeGreaterThan(0);
    // the warmed rows already held part of what the group read again: dropped, not applied twice
    expect(metric(t, 'hotpath_online_store_filtered_rows_total')).toBeGreaterThan(0);
    // only the replica an event was posted to writes its entities
    expect(metric(await scrape(c), 'hotpath_online_store_rows_written_total')).toBe(0);
  });

  it('Redis down at start and during load: serving goes on, failures are counted, rows are written once it is back', async () => {
    const rd = await redis();
    await rd.kill();
    const a = await replica('a', `url: ${rd.url}`);
    expect(a.lines.join('\n')).toMatch(/not reachable at start/);
    const events = make(200, 50);
    expect((await postJson(a.base, '/v1/events', events.slice(0, 100))).status).toBe(200);
    expect((await getJson(a.base, `/v1/features/user/u1?at=${AT}`)).body.found).toBe(true);
    expect(metric(await scrape(a), 'hotpath_online_store_dirty_entities')).toBe(50);
    await rd.restart();
    await flushed(a, 50);
    expect(rd.cli('HGET', keyOf('u3'), 'n_1d').trim()).toBe(String(expectedCounts(events.slice(0, 100)).get('u3')!.n));
    // down during load
    await rd.kill();
    expect((await postJson(a.base, '/v1/events', events.slice(100))).status).toBe(200);
    await until(async () => metric(await scrape(a), 'hotpath_online_store_connected') === 0 || metric(await scrape(a), 'hotpath_online_store_write_failures_total') > 0);
    expect(metric(await scrape(a), 'hotpath_online_store_dirty_entities')).toBe(50);
    await rd.restart();
    await flushed(a, 100);
    expect(rd.cli('HGET', keyOf('u3'), 'n_1d').trim()).toBe(String(expectedCounts(events).get('u3')!.n));
  });

  it('a full dirty set drops further entities and counts them', async () => {
    const rd = await redis();
    await rd.kill();
    const a = await replica('a', `url: ${rd.url}\n  max_dirty: 10`);
    expect((await postJson(a.base, '/v1/events', make(50, 50))).status).toBe(200);
    const t = await scrape(a);
    expect(metric(t, 'hotpath_online_store_dirty_entities')).toBe(10);
    expect(metric(t, 'hotpath_online_store_dropped_total')).toBe(40);
    await rd.restart();
    await flushed(a, 10);
    expect(rd.cli('DBSIZE').trim()).toBe('10');
  });

  it('Redis Cluster: each entity key lives on its hash tag slot; a new replica warms from every master', async () => {
    const cluster = fleet.cluster(await RedisCluster.start());
    const online = `cluster: [${cluster.seeds.map((s) => `"${s}"`).join(', ')}]`;
    const a = await replica('a', online);
    const events = make(2000, 200);
    for (let i = 0; i < events.length; i += 500) expect((await postJson(a.base, '/v1/events', events.slice(i, i + 500))).status).toBe(200);
    await flushed(a, 200);
    const want = expectedCounts(events);
    const ports = new Set<number>();
    for (const u of ['u0', 'u1', 'u2', 'u3', 'u50', 'u199']) {
      const key = keyOf(u);
      const node = cluster.nodeOf(key);
      ports.add(node.port);
      // the hash tag: the key's slot is the slot of its braces' contents
      expect(node.cli('CLUSTER', 'KEYSLOT', key).trim()).toBe(node.cli('CLUSTER', 'KEYSLOT', key.slice(key.indexOf('{') + 1, -1)).trim());
      expect(node.cli('HGET', key, 'n_1d').trim()).toBe(String(want.get(u)!.n));
    }
    expect(ports.size).toBeGreaterThan(1);
    const b = await replica('b', online);
    expect(metric(await scrape(b), 'hotpath_online_store_warm_rows_total')).toBe(200);
    const users = [...want.keys()];
    expect(await features(b, users)).toEqual(await features(a, users));
  });
});
