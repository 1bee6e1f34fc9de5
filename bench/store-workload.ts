// The store micro-benchmark's feature set (the demo's ten user features) and workload
// (events spread over the hour before now, uniform or zipf over the entities), used by
// bench/store-micro-env.ts and bench/durability-snapshot.ts. Nothing here reads arguments.
import { compileConfig } from '../src/config/load.js';
import { type Binding, FeatureStore } from '../src/native/binding.js';

export const SHARDS = 64;
export const TILE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const MERCHANTS = 10_000;

// The feature set, as a config object compiled by the same code that reads hotpath.yaml

export function configObject(memoryBytes: number): unknown {
  return {
    streams: {
      tx: { keys: { user: 'user' }, time_field: 'ts', fields: { amount: 'number', merchant: 'category' } },
    },
    entities: {
      user: {
        memory: memoryBytes,
        shards: SHARDS,
        features: {
          count_10m: { agg: 'count', window: '10m', tile: '1m' },
          count_1h: { agg: 'count', window: '1h', tile: '1m' },
          amount_sum_1h: { agg: 'sum', field: 'amount', window: '1h', tile: '1m' },
          amount_mean_1h: { agg: 'mean', field: 'amount', window: '1h', tile: '1m' },
          amount_max_1h: { agg: 'max', field: 'amount', window: '1h', tile: '1m' },
          amount_std_1h: { agg: 'stddev', field: 'amount', window: '1h', tile: '1m' },
          merchants_1h: { agg: 'distinct', field: 'merchant', window: '1h' }, // precision 6, tile 1m by default
          last_amount: { agg: 'last', field: 'amount' },
          last_5_merchants: { agg: 'last_n', field: 'merchant', n: 5 },
          amount_ewm_10m: { agg: 'ewm', field: 'amount', half_life: '10m' },
        },
      },
    },
  };
}

/**
 * Store spec with a memory budget sized for `entities` live rows: 64 shards, each with
 * room for max(1.04 x mean, mean + 5 sd) rows, so that no shard reaches its budget (and
 * evicts) under uniform hashing, and the index stays at load <= 0.5 with no extra doubling.
 */
export function sizedSpec(entities: number): { spec: Binding.StoreSpec; rowBytes: number; memoryBytes: number } {
  const probe = FeatureStore.create(compileConfig(configObject(1 << 24)).storeSpec);
  const rowBytes = probe.stats(0).rowBytes;
  const mean = entities / SHARDS;
  const perShard = Math.ceil(Math.max(1.04 * mean, mean + 5 * Math.sqrt(mean))) + 8;
  const memoryBytes = perShard * SHARDS * (rowBytes + 32);
  return { spec: compileConfig(configObject(memoryBytes)).storeSpec, rowBytes, memoryBytes };
}


export function rng(seed: number): () => number {
  let a = seed >>> 0 || 1; // mulberry32
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Workload {
  idx: Uint32Array; // entity index of each event
  ts: Float64Array; // increasing, spread over the hour before tEnd
  values: Float64Array; // amount, merchant per event
  tEnd: number;
}

export function makeWorkload(entities: number, events: number, dist: 'uniform' | 'zipf', seed: number, zipfS = 1.0): Workload {
  const rand = rng(seed);
  const idx = new Uint32Array(events);
  if (dist === 'uniform') {
    for (let i = 0; i < events; i++) idx[i] = Math.floor(rand() * entities);
  } else {
    const cdf = new Float64Array(entities);
    let acc = 0;
    for (let k = 0; k < entities; k++) cdf[k] = acc += 1 / Math.pow(k + 1, zipfS);
    for (let k = 0; k < entities; k++) cdf[k] /= acc;
    for (let i = 0; i < events; i++) {
      const u = rand();
      let lo = 0;
      let hi = entities - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
      }
      idx[i] = lo; // rank 0 = u0 is the hottest; the store hashes ids, so ranks spread over shards
    }
  }
  const tEnd = Math.floor(Date.now() / 1000) * 1000;
  const start = tEnd - HOUR_MS;
  const ts = new Float64Array(events);
  const values = new Float64Array(2 * events);
  for (let i = 0; i < events; i++) {
    ts[i] = start + Math.floor(((i + 0.5) * HOUR_MS) / events);
    values[2 * i] = Math.round(rand() * 100_000) / 100; // amount 0.00 .. 1000.00
    values[2 * i + 1] = Math.floor(rand() * MERCHANTS); // merchant id (a category; integers stay themselves)
  }
  return { idx, ts, values, tEnd };
}

export const idsOf = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => prefix + i);

/** Per-event hashed key column, copied from the per-entity hashes (no BigInt allocation). */
export function keyColumn(hashes: BigUint64Array, idx: Uint32Array): BigUint64Array {
  const keys = new BigUint64Array(idx.length);
  const src = new Uint32Array(hashes.buffer, hashes.byteOffset, hashes.length * 2);
  const dst = new Uint32Array(keys.buffer);
  for (let i = 0; i < idx.length; i++) {
    dst[2 * i] = src[2 * idx[i]];
    dst[2 * i + 1] = src[2 * idx[i] + 1];
  }
  return keys;
}

