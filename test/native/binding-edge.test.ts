// The N-API edge against hostile or careless JS callers: each case once crashed the
// process, wrote out of bounds, or was silently wrong (found in review). Every one must
// now be a clean error with a code.
import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { ADDON_PATH, type Binding, constants, FeatureStore, hashIds } from '../../src/native/binding.js';

const raw = createRequire(import.meta.url)(ADDON_PATH) as Binding.Addon;
const invalid = expect.objectContaining({ code: 'HP_ERR_NATIVE_INVALID_ARG' });

function spec(features: object, maxFuture = '10s') {
  return compileConfig({
    store: { max_future: maxFuture },
    streams: { s: { keys: { e: 'id' }, fields: { v: 'number' } } },
    entities: { e: { memory: '1MiB', features } },
  }).storeSpec;
}

describe('layout limits', () => {
  it('refuses a ring that window plus max_future would make too long, instead of wrapping', () => {
    expect(() => FeatureStore.create(spec({ c: { agg: 'count', window: '16ms', tile: '1ms' } }, '25d'))).toThrow(invalid);
    expect(() => FeatureStore.create(spec({ d: { agg: 'distinct', field: 'v', window: '16s', tile: '1ms' } }, '2m'))).toThrow(invalid);
  });

  it('refuses an aggregate code out of range', () => {
    const s = spec({ c: { agg: 'count', window: '1m' } });
    s.tables[0].features[0].agg = 256;
    expect(() => FeatureStore.create(s)).toThrow(invalid);
  });

  it('refuses a stream keyed by more tables than limits.maxKeyColumns, at creation', () => {
    const table = (i: number) => ({ name: `t${i}`, ttlMs: 0, memoryBytes: 1 << 16, shards: 1, features: [] });
    const store = (n: number) => ({
      tables: Array.from({ length: n }, (_, i) => table(i)),
      streams: [{ name: 's', fields: 0, latenessMs: 0, tables: Array.from({ length: n }, (_, i) => i) }],
      maxFutureMs: 0,
    });
    expect(() => new raw.FeatureStore(store(constants.limits.maxKeyColumns + 1))).toThrow(invalid);
    const ok = new raw.FeatureStore(store(constants.limits.maxKeyColumns));
    const keys = Array.from({ length: constants.limits.maxKeyColumns }, () => ['a']);
    expect(ok.ingest(0, keys, new Float64Array([1000]), new Float64Array(0), 1000)).toEqual([1, 0]);
  });

  it('refuses a stream whose table index is not a number, without aborting', () => {
    expect(() => new raw.FeatureStore({ tables: [], streams: [{ name: 's', fields: 0, latenessMs: 0, tables: ['0' as unknown as number] }], maxFutureMs: 0 })).toThrow();
  });
});

const M64 = (1n << 64n) - 1n;
const mix64 = (x: bigint): bigint => {
  x ^= x >> 30n;
  x = (x * 0xbf58476d1ce4e5b9n) & M64;
  x ^= x >> 27n;
  x = (x * 0x94d049bb133111ebn) & M64;
  return x ^ (x >> 31n);
};
/** native/core/hash.h HashBytes, in BigInt: the reference for an id's hash. */
function hashBytes(b: Buffer): bigint {
  const n = BigInt(b.length);
  let h = 0x9e3779b97f4a7c15n ^ ((n * 0xff51afd7ed558ccdn) & M64);
  let i = 0;
  for (; b.length - i >= 8; i += 8) h = (mix64(h ^ b.readBigUInt64LE(i)) + 0x9e3779b97f4a7c15n) & M64;
  let tail = 0n;
  for (let k = b.length - 1; k >= i; k--) tail = (tail << 8n) | BigInt(b[k]);
  return mix64(h ^ tail ^ (BigInt(b.length - i) << 56n)); // the tail's length (HashBytes counts n down)
}

describe('ids', () => {
  it('refuses an id over 256 bytes even when its last character is multi-byte', () => {
    const store = FeatureStore.create(spec({ c: { agg: 'count', window: '1m' } }));
    const out = new Float64Array(1);
    expect(() => store.read(0, `${'a'.repeat(255)}€`, Date.now(), out)).toThrow(invalid);
    expect(() => hashIds([`${'a'.repeat(255)}€`])).toThrow(invalid);
    expect(store.read(0, 'a'.repeat(256), Date.now(), out).found).toBe(false);
  });

  it('hashes an ASCII id (read from its UTF-16 units) as the UTF-8 bytes of every other id, up to the 256-byte limit', () => {
    // hashIds, ingest and readMany hash ASCII ids from their units; an id with one non-ASCII
    // character goes the UTF-8 way. The same bytes must give the same hash either way: a
    // 256-unit ASCII id and one past the limit, ids cut by a multi-byte character, Latin-1.
    const ids = ['a', 'a'.repeat(255), 'a'.repeat(256), `${'a'.repeat(254)}é`, 'é', 'user-1', 'x\u007f', `${'b'.repeat(128)}€`];
    const hashes = hashIds(ids);
    expect([...hashes]).toEqual(ids.map((id) => hashBytes(Buffer.from(id, 'utf8')))); // native/core/hash.h HashBytes of the UTF-8 bytes
    const store = FeatureStore.create(spec({ c: { agg: 'count', window: '1m' } }));
    const now = Date.now();
    store.ingest(0, [ids], new Float64Array(ids.length).fill(now), new Float64Array(ids.length), now);
    const hashed = FeatureStore.create(spec({ c: { agg: 'count', window: '1m' } }));
    hashed.ingest(0, [hashes], new Float64Array(ids.length).fill(now), new Float64Array(ids.length), now);
    const out = new Float64Array(1);
    expect(new Set(hashes).size).toBe(ids.length); // distinct ids, distinct hashes
    for (let i = 0; i < ids.length; i++) {
      // each found once under its id, and in the store fed its hash
      expect(store.read(0, ids[i], now, out).found).toBe(true);
      expect(out[0]).toBe(1);
      expect(hashed.read(0, ids[i], now, out).found).toBe(true);
    }
    expect(() => hashIds(['a'.repeat(257)])).toThrow(invalid);
    expect(() => hashIds([''])).toThrow(invalid);
    expect(() => hashIds([7 as unknown as string])).toThrow(invalid);
  });

  it('hashIds returns one hash per id even if a getter grows the array', () => {
    const ids = ['a', 'b'];
    Object.defineProperty(ids, 0, {
      get() {
        ids.push(...Array(1000).fill('x'));
        return 'a';
      },
    });
    const h = hashIds(ids);
    expect(h.length).toBe(2);
    expect(h[1]).toBe(hashIds(['b'])[0]);
  });

  it('a throwing getter becomes an error, not an abort', () => {
    const store = FeatureStore.create(spec({ c: { agg: 'count', window: '1m' } }));
    const ids = ['a', 'b'];
    Object.defineProperty(ids, 1, {
      get() {
        throw new Error('boom');
      },
    });
    expect(() => hashIds(ids)).toThrow();
    expect(() => store.readMany(0, ids, Date.now(), new Float64Array(2), new Float64Array(2))).toThrow();
    expect(() => store.ingest(0, [ids], new Float64Array(2).fill(Date.now()), new Float64Array(2))).toThrow();
    expect(store.read(0, 'a', Date.now(), new Float64Array(1)).found).toBe(false); // nothing applied
  });

  it('refuses an ingest re-entered from an id getter', () => {
    const store = FeatureStore.create(spec({ c: { agg: 'count', window: '1m' } }));
    const now = Date.now();
    let inner: unknown;
    const ids = ['a'];
    Object.defineProperty(ids, 0, {
      get() {
        try {
          store.ingest(0, [['b']], new Float64Array([now]), new Float64Array([1]), now);
        } catch (err) {
          inner = err;
        }
        return 'a';
      },
    });
    expect(store.ingest(0, [ids], new Float64Array([now]), new Float64Array([1]), now)).toEqual({ accepted: 1, late: 0 });
    expect(inner).toEqual(expect.objectContaining({ code: 'HP_ERR_NATIVE_UNAVAILABLE' }));
  });
});

describe('times', () => {
  it('refuses read and ingest times that are not finite or beyond 2^53 ms', () => {
    const store = FeatureStore.create(spec({ c: { agg: 'count', window: '1m' } }));
    const out = new Float64Array(1);
    for (const t of [NaN, Infinity, 1e300]) {
      expect(() => store.read(0, 'a', t, out)).toThrow(invalid);
      expect(() => store.readMany(0, ['a'], t, out, new Float64Array(1))).toThrow(invalid);
      expect(() => store.ingest(0, [['a']], new Float64Array([1000]), new Float64Array([1]), t)).toThrow(invalid);
    }
    expect(() => store.ingest(0, [['a']], new Float64Array([1e300]), new Float64Array([1]), 1e300)).toThrow(invalid);
  });
});

describe('dense kernel arguments', () => {
  it('refuses a non-number activation without aborting', () => {
    const x = new Float32Array(2);
    expect(() => raw.denseForward(x, x, null, 1, 2, 1, 'gelu' as unknown as number, 'cpu', new Float32Array(0))).toThrow(invalid);
    expect(constants.acts.relu).toBe(1);
  });
});
