// Clock skew, TTL and the memory budget, through the TypeScript wrapper.
import { describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { FeatureStore, hashIds } from '../../src/native/binding.js';

function make(extra: { ttl?: string; memory?: number | string; lateness?: string; maxFuture?: string } = {}) {
  const config = compileConfig({
    store: { max_future: extra.maxFuture ?? '5m' },
    streams: { s: { keys: { e: 'id' }, allowed_lateness: extra.lateness ?? '0s', fields: { v: 'number' } } },
    entities: {
      e: {
        ttl: extra.ttl,
        memory: extra.memory ?? '4MiB',
        features: { n10m: { agg: 'count', window: '10m', tile: '1m' }, d10m: { agg: 'distinct', field: 'v', window: '10m', tile: '1m', precision: 10 } },
      },
    },
  });
  return FeatureStore.create(config.storeSpec);
}

const MIN = 60_000;

describe('clock skew within max_future', () => {
  it('an event from a clock running ahead neither clears live tiles nor makes on-time events late', () => {
    const store = make({ maxFuture: '5m' });
    const now = 1_000 * MIN;
    const ids = Array.from({ length: 10 }, () => 'a');
    const ts = Float64Array.from({ length: 10 }, (_, i) => now - 9 * MIN + i * MIN);
    store.ingest(0, [ids], ts, Float64Array.from({ length: 10 }, (_, i) => i), now);
    const out = new Float64Array(2);
    store.read(0, 'a', now, out);
    expect(Array.from(out)).toEqual([10, 10]);

    // one event 4 minutes ahead of the server clock
    expect(store.ingest(0, [['a']], new Float64Array([now + 4 * MIN]), new Float64Array([99]), now)).toEqual({ accepted: 1, late: 0 });
    store.read(0, 'a', now, out);
    expect(Array.from(out)).toEqual([10, 10]); // the future event is not in the window yet, nothing was cleared

    // an on-time event after it is not late (lateness 0): the watermark stops at the wall clock
    expect(store.ingest(0, [['a']], new Float64Array([now]), new Float64Array([100]), now)).toEqual({ accepted: 1, late: 0 });
    store.read(0, 'a', now, out);
    expect(Array.from(out)).toEqual([11, 11]);
    store.read(0, 'a', now + 4 * MIN, out);
    expect(out[0]).toBe(8); // tiles now-5m .. now+4m: the first events at -5m..0 (6), the on-time one, the future one
  });
});

describe('TTL and memory budget', () => {
  it('sweep expires entities idle for longer than the TTL against the given clock', () => {
    const store = make({ ttl: '1h' });
    const now = 10_000 * MIN;
    store.ingest(0, [['old', 'new']], new Float64Array([now - 2 * 60 * MIN, now - MIN]), new Float64Array([1, 2]), now);
    expect(store.sweep(now, 1e9)).toBe(1);
    const out = new Float64Array(2);
    expect(store.read(0, 'old', now, out).found).toBe(false);
    expect(store.read(0, 'new', now, out).found).toBe(true);
    expect(store.contains(0, 'old')).toBe(false);
    expect(store.contains(0, 'new')).toBe(true);
    expect(store.stats(0).evictedTtl).toBe(1);
  });

  it('stays within its budget, evicting the least recently written', () => {
    const store = make({ memory: 64 * 1024 });
    const cap = store.stats(0).capacity;
    const now = 10_000 * MIN;
    const n = cap * 4;
    const ids = Array.from({ length: n }, (_, i) => `id-${i}`);
    for (let i = 0; i < n; i += 100) {
      const chunk = ids.slice(i, i + 100);
      store.ingest(0, [chunk], new Float64Array(chunk.length).fill(now), new Float64Array(chunk.length).fill(1), now);
    }
    const st = store.stats(0);
    expect(st.live).toBeLessThanOrEqual(cap);
    expect(st.allocatedBytes).toBeLessThanOrEqual(64 * 1024);
    expect(st.evictedLru).toBe(n - st.live);
    const out = new Float64Array(2);
    const recent = ids.slice(n - Math.floor(cap / 4)).filter((id) => store.read(0, id, now, out).found).length;
    const oldest = ids.slice(0, Math.floor(cap / 4)).filter((id) => store.read(0, id, now, out).found).length;
    expect(recent).toBeGreaterThan(oldest);
    expect(recent).toBeGreaterThan(0.8 * Math.floor(cap / 4));
    // contains() agrees with read().found for every id, evicted or live, by string and by hash
    const hashes = hashIds(ids);
    for (let i = 0; i < n; i++) {
      const found = store.read(0, ids[i], now, out).found;
      expect(store.contains(0, ids[i])).toBe(found);
      expect(store.contains(0, hashes[i])).toBe(found);
    }
    expect(() => store.contains(7, 'a')).toThrow(/unknown table/);
  });

  it('refuses stats on a read-only handle', () => {
    const store = make();
    const reader = FeatureStore.attach(store.id, 1);
    expect(() => reader.stats(0)).toThrow(expect.objectContaining({ code: 'HP_ERR_NATIVE_UNAVAILABLE' }));
  });
});
