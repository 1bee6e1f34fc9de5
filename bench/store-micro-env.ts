// The store micro-benchmark's arguments, feature set, workload and measurement helpers,
// shared by its parent (bench/store-micro.ts) and its children (bench/store-micro-children.ts).
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { compileConfig } from '../src/config/load.js';
import { ADDON_PATH, type Binding, FeatureStore } from '../src/native/binding.js';

// ---------------------------------------------------------------------------------------
// Arguments

export const { values: opt } = parseArgs({
  options: {
    engine: { type: 'string' }, // child mode: hotpath | ts
    phase: { type: 'string' }, // child mode: main | ingest-strings | ingest-zipf
    entities: { type: 'string', default: '1000000' },
    events: { type: 'string', default: '10000000' },
    batch: { type: 'string', default: '4096' },
    'read-batch': { type: 'string', default: '1000' },
    'zipf-s': { type: 'string', default: '1.0' },
    seed: { type: 'string', default: '42' },
    runs: { type: 'string', default: '1' },
    'read-ms': { type: 'string', default: '500' }, // per trial; 3 trials per read metric
    cpu: { type: 'string', default: '1' }, // taskset CPU for the children, or "none"
    out: { type: 'string' },
    'no-zipf': { type: 'boolean', default: false }, // skip the zipf ingest phases
    'ts-zipf': { type: 'boolean', default: false }, // also run the TS engine's zipf ingest (~1 min)
    json: { type: 'string' }, // also write the raw results as JSON here
  },
  strict: true,
});

export const N = Number(opt.entities);
export const E = Number(opt.events);
export const BATCH = Number(opt.batch);
export const READ_BATCH = Number(opt['read-batch']);
export const ZIPF_S = Number(opt['zipf-s']);
export const SEED = Number(opt.seed);
export const READ_MS = Number(opt['read-ms']);
export const TRIALS = 3;
export const SHARDS = 64;
export const TILE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const MERCHANTS = 10_000;

export const gc = (globalThis as { gc?: () => void }).gc;
/** A full, blocking mark-compact (global.gc()); returns its duration in ms. */
export function fullGc(): number {
  if (!gc) throw new Error('run with node --expose-gc (npm run bench:store does)');
  const t0 = performance.now();
  gc();
  return performance.now() - t0;
}

/** Which addon build a child measured: size, mtime and a hash of build/Release/hotpath.node. */
export function addonBuild(): string {
  const buf = readFileSync(ADDON_PATH);
  const st = statSync(ADDON_PATH);
  return `${createHash('sha256').update(buf).digest('hex').slice(0, 12)} (${buf.length} B, ${st.mtime.toISOString()})`;
}

export const log = (msg: string) => process.stderr.write(`[${opt.engine ?? 'parent'}${opt.phase ? ' ' + opt.phase : ''}] ${msg}\n`);

// ---------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------
// Workload

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

export function makeWorkload(entities: number, events: number, dist: 'uniform' | 'zipf', seed: number): Workload {
  const rand = rng(seed);
  const idx = new Uint32Array(events);
  if (dist === 'uniform') {
    for (let i = 0; i < events; i++) idx[i] = Math.floor(rand() * entities);
  } else {
    const cdf = new Float64Array(entities);
    let acc = 0;
    for (let k = 0; k < entities; k++) cdf[k] = acc += 1 / Math.pow(k + 1, ZIPF_S);
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

export function batchesOfIds(ids: string[], idx: Uint32Array, batch: number): string[][] {
  const out: string[][] = [];
  for (let lo = 0; lo < idx.length; lo += batch) {
    const hi = Math.min(lo + batch, idx.length);
    const b = new Array<string>(hi - lo);
    for (let i = lo; i < hi; i++) b[i - lo] = ids[idx[i]];
    out.push(b);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Measurement helpers

export interface Rate {
  median: number;
  min: number;
  max: number;
}

export function stats3(xs: number[]): Rate {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
}

/** Runs `run(chunk)` until minMs has passed, TRIALS times; units per second. */
export function measure(run: (iters: number) => void, chunk: number, unitsPerIter: number): Rate {
  const rates: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    let iters = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      run(chunk);
      iters += chunk;
      dt = performance.now() - t0;
    } while (dt < READ_MS);
    rates.push((iters * unitsPerIter) / (dt / 1000));
  }
  return stats3(rates);
}

export interface IngestTiming {
  eventsPerSec: number;
  secondHalfEventsPerSec: number; // batches after half the events: the table is ~all populated
  seconds: number;
  accepted: number;
}

export function timeIngest(nb: number, events: number, ingestBatch: (b: number) => number): IngestTiming {
  let total = 0;
  let second = 0;
  let secondEvents = 0;
  let accepted = 0;
  for (let b = 0; b < nb; b++) {
    const t0 = performance.now();
    accepted += ingestBatch(b);
    const dt = performance.now() - t0;
    total += dt;
    if (b * BATCH >= events / 2) {
      second += dt;
      secondEvents += Math.min(BATCH, events - b * BATCH);
    }
  }
  return {
    eventsPerSec: events / (total / 1000),
    secondHalfEventsPerSec: secondEvents / (second / 1000),
    seconds: total / 1000,
    accepted,
  };
}

export const mem = () => process.memoryUsage();
