// The L1 answer cache's parts: the LRU (bound, recency, TTL), the per-entity generations
// (a string id and its hash bump the same slot; a stamp goes stale on a bump, never
// otherwise), AnswerCache's counts, and the `cache:` config's refusals, each naming its field.
import { describe, expect, it } from 'vitest';

import { AnswerCache, Caching } from '../../src/cache/cache.js';
import { Generations } from '../../src/cache/generations.js';
import { Lru } from '../../src/cache/lru.js';
import { compileCache } from '../../src/config/cache.js';
import { loadConfigText } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';
import { hashIds } from '../../src/native/binding.js';

describe('Lru', () => {
  it('keeps at most maxEntries, dropping the least recently used', () => {
    const c = new Lru<number>(2, 1000);
    c.set('a', 1, 0);
    c.set('b', 2, 0);
    expect(c.get('a', 0)).toBe(1); // a is now the newest
    c.set('c', 3, 0);
    expect(c.get('b', 0)).toBeUndefined();
    expect(c.get('a', 0)).toBe(1);
    expect(c.get('c', 0)).toBe(3);
    expect(c.size).toBe(2);
    expect(c.evictions).toBe(1);
    c.set('a', 4, 0); // replacing evicts nothing
    expect(c.evictions).toBe(1);
    expect(c.get('a', 0)).toBe(4);
  });

  it('serves an entry only within its TTL', () => {
    const c = new Lru<string>(10, 100);
    c.set('k', 'v', 1000);
    expect(c.get('k', 1099)).toBe('v');
    expect(c.get('k', 1100)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('matches a reference model on a random stream', () => {
    const c = new Lru<number>(8, 50);
    const ref: { k: string; v: number; exp: number }[] = []; // oldest first
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let t = 0; t < 5000; t++) {
      const k = `k${Math.floor(rnd() * 20)}`;
      const i = ref.findIndex((e) => e.k === k);
      if (rnd() < 0.5) {
        const got = c.get(k, t);
        let want: number | undefined;
        if (i >= 0) {
          const [e] = ref.splice(i, 1);
          if (e.exp > t) (want = e.v), ref.push(e);
        }
        expect(got).toBe(want);
      } else {
        if (i >= 0) ref.splice(i, 1);
        else if (ref.length >= 8) ref.shift();
        ref.push({ k, v: t, exp: t + 50 });
        c.set(k, t, t);
      }
    }
  });
});

describe('Generations', () => {
  it('a string id and its hash name the same slot; a bump makes stamps of it stale, of others not', () => {
    const g = new Generations(1 << 16);
    const s = g.stamp([0, 1], ['alice', 'shop']);
    const other = g.stamp([0], ['bob']);
    const sameIdOtherTable = g.stamp([1], ['alice']);
    expect(g.current(s)).toBe(true);
    g.bumpColumn(0, hashIds(['alice']), 1); // as a binary frame or the log hands it
    expect(g.current(s)).toBe(false);
    expect(g.current(other)).toBe(true);
    expect(g.current(sameIdOtherTable)).toBe(true);
    const s2 = g.stamp([0, 1], ['alice', 'shop']);
    g.bumpColumn(1, ['x', 'shop', 'y'], 3); // as JSON events hand it
    expect(g.current(s2)).toBe(false);
    expect(g.bumps).toBe(4);
  });

  it('never leaves a stamp current after a bump of one of its ids, whatever the slot count', () => {
    const g = new Generations(1 << 12); // small: slots are shared
    const ids = Array.from({ length: 5000 }, (_, i) => `u${i}`);
    const stamps = ids.map((id) => g.stamp([0], [id]));
    g.bumpColumn(0, ids.filter((_, i) => i % 7 === 0), Math.ceil(5000 / 7));
    for (let i = 0; i < ids.length; i += 7) expect(g.current(stamps[i])).toBe(false);
  });
});

describe('AnswerCache', () => {
  it('counts L1 hits and misses, drops a stale entry and refuses to keep an answer stamped before an event', () => {
    const g = new Generations(1 << 12);
    const c = new AnswerCache<string>({ maxEntries: 10, ttlMs: 1000 }, g);
    expect(c.get('k', 0)).toBeUndefined();
    const st = c.stamp([0], ['a']);
    c.set('k', 'v1', st, 0);
    expect(c.get('k', 1)).toBe('v1');
    g.bumpColumn(0, ['a'], 1);
    expect(c.get('k', 2)).toBeUndefined();
    expect(c.stale).toBe(1);
    c.set('k', 'late', st, 3); // computed before the event: not kept
    expect(c.size).toBe(0);
    expect(c.l1).toEqual({ hit: 1, miss: 2 });
    c.below(true);
    c.below(false, () => true);
    expect(c.l2).toEqual({ hit: 1, miss: 1 });
    expect(c.l3).toEqual({ hit: 1, miss: 0 });
  });

  it('the tap bumps every key column of a batch', () => {
    const caching = new Caching(compileCache({ features: {} }));
    const st = caching.features!.stamp([0, 1], ['u', 'm']);
    const tap = caching.tap();
    expect(tap.columns).toBe(true);
    tap.onBatch({ kind: 'columns', source: 'http', stream: { tables: [0, 1] } as never, nowMs: 0, accepted: 1, late: 0, keys: [['x'], ['m']], ts: new Float64Array(1), values: new Float64Array(0) });
    expect(caching.generations.current(st)).toBe(false);
  });
});

describe('cache config', () => {
  const base = `
streams: { tx: { keys: { user: user_id }, fields: { amount: number } } }
entities: { user: { memory: 1MiB, features: { n: { agg: count, window: 1h } } } }
`;
  const refusal = (yaml: string): string => {
    try {
      loadConfigText(base + yaml);
    } catch (e) {
      expect(e).toBeInstanceOf(HotpathError);
      expect((e as HotpathError).code).toBe('HP_ERR_CONFIG_INVALID');
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  it('is off without the section, and each cache is on when named', () => {
    expect(loadConfigText(base).cache).toEqual({ features: null, predict: null, generationSlots: 4096 });
    const c = loadConfigText(`${base}cache:\n  features:\n  predict: { max_entries: 5000, ttl: 250ms }\n`).cache;
    expect(c.features).toEqual({ maxEntries: 100_000, ttlMs: 1000 });
    expect(c.predict).toEqual({ maxEntries: 5000, ttlMs: 250 });
    expect(c.generationSlots).toBe(1 << 19); // >= 4 x 105000
  });

  it('refuses a bad value by its field', () => {
    expect(refusal('cache: { features: { max_entries: 0 } }')).toMatch(/\/cache\/features\/max_entries/);
    expect(refusal('cache: { predict: { max_entries: 1.5 } }')).toMatch(/cache\/predict\/max_entries/);
    expect(refusal('cache: { predict: { ttl: 0 } }')).toMatch(/\/cache\/predict\/ttl/);
    expect(refusal('cache: { features: { ttl: 2h } }')).toMatch(/\/cache\/features\/ttl: must be between 1ms and 1h/);
    expect(refusal('cache: { features: { ttl: soon } }')).toMatch(/cache\/features\/ttl/);
    expect(refusal('cache: { generation_slots: 5000 }')).toMatch(/\/cache\/generation_slots: must be a power of two/);
    expect(refusal('cache: { features: { size: 1 } }')).toMatch(/cache\/features/);
  });
});
