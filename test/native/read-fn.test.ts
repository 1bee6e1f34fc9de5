// FeatureStore.read goes through readFn (the native read bound to its store, with a fast
// path for ASCII string ids): it must answer as the read method does for every id and
// refuse what it refuses, with the same errors.
import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { ADDON_PATH, type Binding, FeatureStore, hashIds } from '../../src/native/binding.js';

const raw = createRequire(import.meta.url)(ADDON_PATH) as Binding.Addon;

function make() {
  const { storeSpec } = compileConfig({
    streams: { s: { keys: { e: 'id' }, fields: { v: 'number' } } },
    entities: { e: { memory: '1MiB', features: { c: { agg: 'count', window: '1m' }, m: { agg: 'mean', field: 'v', window: '1m' }, d: { agg: 'stddev', field: 'v', window: '10m' } } } },
  });
  return FeatureStore.create(storeSpec);
}

describe('readFn', () => {
  it('reads every kind of id as the read method does', () => {
    const store = make();
    const ids = ['a', 'é', 'x'.repeat(255), 'y'.repeat(256), '日本', 'a\u0141', 'ok-1', 'z'.repeat(254)];
    const now = 1_700_000_000_000;
    const keys = hashIds(ids);
    const ts = Float64Array.from(ids, (_, i) => now - 1000 * i);
    const values = Float64Array.from(ids, (_, i) => i * 1.5);
    store.ingest(0, [keys], ts, values);
    const nat = new raw.FeatureStore(store.id);
    const fn = nat.readFn();
    const w = store.layout(0).width;
    for (const id of [...ids, 'absent', ...Array.from(keys)]) {
      const a = new Float64Array(w), b = new Float64Array(w), c = new Float64Array(w);
      const r = store.read(0, id, now, a);
      const ageB = nat.read(0, id, now, b);
      const ageC = fn(0, id, now, c);
      expect(Object.is(r.ageMs, ageB)).toBe(true);
      expect(Object.is(ageC, ageB)).toBe(true);
      expect(a).toEqual(b);
      expect(c).toEqual(b);
    }
  });

  it('refuses what read refuses, with its errors', () => {
    const store = make();
    const nat = new raw.FeatureStore(store.id);
    const fn = nat.readFn();
    const out = new Float64Array(store.layout(0).width);
    const cases: unknown[][] = [
      [1, 'a', 0, out],
      [-1, 'a', 0, out],
      ['0', 'a', 0, out],
      [0, '', 0, out],
      [0, 'x'.repeat(257), 0, out],
      [0, 5, 0, out],
      [0, 'a', 'now', out],
      [0, 'a', 1e300, out],
      [0, 'a', 0, new Float64Array(1)],
      [0, 'a', 0, new Float32Array(8)],
      [0, 'a', 0],
    ];
    for (const args of cases) {
      let m1 = '', m2 = '';
      try {
        (nat.read as (...a: unknown[]) => number)(...args);
      } catch (e) {
        m1 = String((e as Error).message);
      }
      try {
        (fn as (...a: unknown[]) => number)(...args);
      } catch (e) {
        m2 = String((e as Error).message);
      }
      expect(m1).not.toBe('');
      expect(m2).toBe(m1);
    }
  });
});
