// The online store's pure parts (src/redis/online-store.ts): the key layout, the writer's
// own-batch lists, the warm filter that keeps a warmed replica from applying an event its
// imported rows already hold, stream id order; and the online_store config refusals.
import { describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import type { StreamDef } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';
import { ownListHas, parseRowKey, rowKey, WarmFilter } from '../../src/redis/online-store.js';
import { compareIds } from '../../src/redis/stream-log.js';

function base(online?: unknown): any {
  return {
    streams: { tx: { keys: { user: 'user_id' }, time_field: 'ts', fields: { amount: 'number' } } },
    entities: { user: { features: { n_1h: { agg: 'count', window: '1h' } } } },
    ...(online === undefined ? {} : { online_store: online }),
  };
}

function rejects(online: unknown, path: string, raw?: any): void {
  let caught: unknown;
  try {
    compileConfig(raw ?? base(online));
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${JSON.stringify(online)} to be refused`).toBeInstanceOf(HotpathError);
  expect((caught as HotpathError).code).toBe('HP_ERR_CONFIG_INVALID');
  expect((caught as HotpathError).message).toContain(path);
}

describe('the online store key layout', () => {
  it('is <prefix>:<table>:{16 hex digits}, and parses back', () => {
    expect(rowKey('hotpath', 'user', 0xabcn)).toBe('hotpath:user:{0000000000000abc}');
    expect(rowKey('hp', 'user', 0xffffffffffffffffn)).toBe('hp:user:{ffffffffffffffff}');
    expect(parseRowKey('hotpath', 'hotpath:user:{0000000000000abc}')).toEqual({ table: 'user', key: 0xabcn });
    expect(parseRowKey('hotpath', 'hotpath:a:b:{0000000000000001}')).toEqual({ table: 'a:b', key: 1n });
    for (const k of ['hotpath:user:{abc}', 'other:user:{0000000000000abc}', 'hotpath:{0000000000000abc}', 'hotpath:user:{000000000000ABCG}', 'hotpath:user:0000000000000abc'])
      expect(parseRowKey('hotpath', k), k).toBeUndefined();
  });
});

describe('own-batch lists', () => {
  it('name the batches of one boot by ranges of base-36 counters', () => {
    const list = 'b00t:0-a,z,1c-1e';
    for (const n of [0, 5, 10, 35, 48, 49, 50]) expect(ownListHas(list, `b00t-${n.toString(36)}`), String(n)).toBe(true);
    for (const n of [11, 34, 36, 47, 51]) expect(ownListHas(list, `b00t-${n.toString(36)}`), String(n)).toBe(false);
    expect(ownListHas(list, 'other-5')).toBe(false);
    expect(ownListHas('', 'b00t-5')).toBe(false);
  });
});

describe('stream ids', () => {
  it('order by time, then sequence', () => {
    expect(compareIds('5-0', '10-0')).toBeLessThan(0);
    expect(compareIds('10-2', '10-10')).toBeLessThan(0);
    expect(compareIds('10-10', '10-10')).toBe(0);
    expect(compareIds('11-0', '10-99')).toBeGreaterThan(0);
  });
});

describe('the warm filter', () => {
  const stream = { tables: [0] } as unknown as StreamDef;
  const pair = { tables: [0, 1] } as unknown as StreamDef;

  it('drops the rows an imported row holds: entries up to its p, and its own batches', () => {
    const f = new WarmFilter(2);
    f.add(0, 1n, '100-0', '');
    f.add(0, 2n, '200-0', 'boot:3-4');
    expect(f.startAt).toBe('100-0');
    expect(f.until).toBe('200-0');
    const keys = [BigUint64Array.of(1n, 2n, 3n)];
    expect(Array.from(f.keep('100-0', 'x-1', stream, keys, 3)!)).toEqual([0, 0, 1]);
    expect(Array.from(f.keep('150-0', 'x-2', stream, keys, 3)!)).toEqual([1, 0, 1]);
    expect(f.keep('250-0', 'x-3', stream, keys, 3)).toBeUndefined();
    // 2's own batch boot-3 reaches the stream after every p: still dropped for 2
    expect(f.done('250-0')).toBe(false);
    expect(Array.from(f.keep('260-0', 'boot-3', stream, keys, 3)!)).toEqual([1, 0, 1]);
    expect(f.done('270-0')).toBe(false); // boot-4 has not come by
    f.keep('270-0', 'boot-4', stream, keys, 3);
    expect(f.done('280-0')).toBe(true);
  });

  it('gives up waiting for own batches that never reach the stream', () => {
    const f = new WarmFilter(1);
    f.add(0, 1n, '1000-0', 'boot:7');
    expect(f.done('1000-0')).toBe(false);
    expect(f.done('2000-0')).toBe(false);
    expect(f.done(`${1000 + 600_001}-0`)).toBe(true);
  });

  it('applies an event whose entities disagree, and counts it', () => {
    const f = new WarmFilter(2);
    f.add(0, 1n, '100-0', '');
    const keys = [BigUint64Array.of(1n, 1n), BigUint64Array.of(9n, 9n)];
    f.add(1, 9n, '100-0', '');
    expect(Array.from(f.keep('50-0', 'x-1', pair, keys, 2)!)).toEqual([0, 0]);
    const g = new WarmFilter(2);
    g.add(0, 1n, '100-0', '');
    expect(g.keep('50-0', 'x-1', pair, keys, 2)).toBeUndefined();
    expect(g.conflicts).toBe(2);
  });
});

describe('online_store config', () => {
  it('fills defaults', () => {
    const c = compileConfig(base({ url: 'redis://127.0.0.1:6379' }));
    expect(c.onlineStore).toEqual({
      url: 'redis://127.0.0.1:6379', cluster: undefined, password: undefined, prefix: 'hotpath', flushIntervalMs: 100, maxDirty: 1_000_000,
      pipeline: 1000, readTimeoutMs: 20, commandTimeoutMs: 5000, ttlMs: 0, warm: true,
    });
    expect(compileConfig(base()).onlineStore).toBeNull();
    const k = compileConfig(base({ cluster: ['10.0.0.1:7000', '[::1]:7001'], ttl: '1d', warm: false, flush_interval: '50ms' })).onlineStore!;
    expect(k.cluster).toEqual([{ host: '10.0.0.1', port: 7000 }, { host: '::1', port: 7001 }]);
    expect(k.ttlMs).toBe(86_400_000);
    expect(k.warm).toBe(false);
    expect(k.flushIntervalMs).toBe(50);
  });

  it('refuses bad values, naming the field', () => {
    rejects({}, '/online_store');
    rejects({ url: 'redis://a:1', cluster: ['a:1'] }, '/online_store');
    rejects({ url: 'http://a:1' }, '/online_store/url');
    rejects({ cluster: ['nohost'] }, '/online_store/cluster/0');
    rejects({ cluster: ['a:99999'] }, '/online_store/cluster/0');
    rejects({ url: 'redis://a:1', prefix: 'a{b}' }, '/online_store/prefix');
    rejects({ url: 'redis://a:1', prefix: '' }, '/online_store/prefix');
    rejects({ url: 'redis://a:1', flush_interval: '0ms' }, '/online_store/flush_interval');
    rejects({ url: 'redis://a:1', flush_interval: 'soon' }, '/online_store/flush_interval');
    rejects({ url: 'redis://a:1', max_dirty: 0 }, '/online_store/max_dirty');
    rejects({ url: 'redis://a:1', max_dirty: 1.5 }, '/online_store/max_dirty');
    rejects({ url: 'redis://a:1', pipeline: 0 }, '/online_store/pipeline');
    rejects({ url: 'redis://a:1', read_timeout: '1h' }, '/online_store/read_timeout');
    rejects({ url: 'redis://a:1', ttl: '2y' }, '/online_store/ttl');
    rejects({ url: 'redis://a:1', warm: 'yes' }, '/online_store/warm');
    rejects({ url: 'redis://a:1', extra: 1 }, '/online_store');
    rejects({ url: 'redis://a:1', password_env: 'HP_TEST_UNSET_PASSWORD' }, '/online_store/password_env');
  });
});
