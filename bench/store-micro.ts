// Store micro-benchmark: hotpath's native feature store against a plain TypeScript
// implementation (bench/ts-store.ts) on the same workload, in the same run.
//
//   npm run bench:store                      # 1M entities, 10M events, 2 runs (~3-4 min)
//   npm run bench:store -- --entities 100000 --events 1000000 --runs 1   # quick
//
// The parent process runs a small equivalence check of the two engines, then spawns one
// child process per engine and phase (pinned to one CPU with taskset unless --cpu none),
// so that one engine's heap and RSS never pollute the other's numbers. Each child prints
// its measurements as one `RESULT {json}` line; the parent prints a table and writes it as
// markdown to --out (default bench/results/store-micro-<date>.md). See bench/README.md.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { compileConfig } from '../src/config/load.js';
import { ADDON_PATH, type Binding, FeatureStore, hashIds } from '../src/native/binding.js';
import { TsFeatureStore, WIDTH as TS_WIDTH } from './ts-store.js';

// ---------------------------------------------------------------------------------------
// Arguments

const { values: opt } = parseArgs({
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

const N = Number(opt.entities);
const E = Number(opt.events);
const BATCH = Number(opt.batch);
const READ_BATCH = Number(opt['read-batch']);
const ZIPF_S = Number(opt['zipf-s']);
const SEED = Number(opt.seed);
const READ_MS = Number(opt['read-ms']);
const TRIALS = 3;
const SHARDS = 64;
const TILE_MS = 60_000;
const HOUR_MS = 3_600_000;
const MERCHANTS = 10_000;

const gc = (globalThis as { gc?: () => void }).gc;
/** A full, blocking mark-compact (global.gc()); returns its duration in ms. */
function fullGc(): number {
  if (!gc) throw new Error('run with node --expose-gc (npm run bench:store does)');
  const t0 = performance.now();
  gc();
  return performance.now() - t0;
}

/** Which addon build a child measured: size, mtime and a hash of build/Release/hotpath.node. */
function addonBuild(): string {
  const buf = readFileSync(ADDON_PATH);
  const st = statSync(ADDON_PATH);
  return `${createHash('sha256').update(buf).digest('hex').slice(0, 12)} (${buf.length} B, ${st.mtime.toISOString()})`;
}

const log = (msg: string) => process.stderr.write(`[${opt.engine ?? 'parent'}${opt.phase ? ' ' + opt.phase : ''}] ${msg}\n`);

// ---------------------------------------------------------------------------------------
// The feature set, as a config object compiled by the same code that reads hotpath.yaml

function configObject(memoryBytes: number): unknown {
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
function sizedSpec(entities: number): { spec: Binding.StoreSpec; rowBytes: number; memoryBytes: number } {
  const probe = FeatureStore.create(compileConfig(configObject(1 << 24)).storeSpec);
  const rowBytes = probe.stats(0).rowBytes;
  const mean = entities / SHARDS;
  const perShard = Math.ceil(Math.max(1.04 * mean, mean + 5 * Math.sqrt(mean))) + 8;
  const memoryBytes = perShard * SHARDS * (rowBytes + 32);
  return { spec: compileConfig(configObject(memoryBytes)).storeSpec, rowBytes, memoryBytes };
}

// ---------------------------------------------------------------------------------------
// Workload

function rng(seed: number): () => number {
  let a = seed >>> 0 || 1; // mulberry32
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Workload {
  idx: Uint32Array; // entity index of each event
  ts: Float64Array; // increasing, spread over the hour before tEnd
  values: Float64Array; // amount, merchant per event
  tEnd: number;
}

function makeWorkload(entities: number, events: number, dist: 'uniform' | 'zipf', seed: number): Workload {
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

const idsOf = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => prefix + i);

/** Per-event hashed key column, copied from the per-entity hashes (no BigInt allocation). */
function keyColumn(hashes: BigUint64Array, idx: Uint32Array): BigUint64Array {
  const keys = new BigUint64Array(idx.length);
  const src = new Uint32Array(hashes.buffer, hashes.byteOffset, hashes.length * 2);
  const dst = new Uint32Array(keys.buffer);
  for (let i = 0; i < idx.length; i++) {
    dst[2 * i] = src[2 * idx[i]];
    dst[2 * i + 1] = src[2 * idx[i] + 1];
  }
  return keys;
}

function batchesOfIds(ids: string[], idx: Uint32Array, batch: number): string[][] {
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

interface Rate {
  median: number;
  min: number;
  max: number;
}

function stats3(xs: number[]): Rate {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
}

/** Runs `run(chunk)` until minMs has passed, TRIALS times; units per second. */
function measure(run: (iters: number) => void, chunk: number, unitsPerIter: number): Rate {
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

interface IngestTiming {
  eventsPerSec: number;
  secondHalfEventsPerSec: number; // batches after half the events: the table is ~all populated
  seconds: number;
  accepted: number;
}

function timeIngest(nb: number, events: number, ingestBatch: (b: number) => number): IngestTiming {
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

const mem = () => process.memoryUsage();

// ---------------------------------------------------------------------------------------
// Child: hotpath

function hotpathChild(phase: string): Record<string, unknown> {
  const dist = phase === 'ingest-zipf' ? 'zipf' : 'uniform';
  const { spec, rowBytes, memoryBytes } = sizedSpec(N);
  const w = makeWorkload(N, E, dist, SEED);
  const ids = idsOf('u', N);
  const hashes = hashIds(ids);
  const nb = Math.ceil(E / BATCH);

  // Warm-up on a separate small store, every API the phase uses.
  {
    const wn = Math.min(20_000, N);
    const ww = makeWorkload(wn, Math.min(200_000, E), 'uniform', SEED + 1);
    const wids = idsOf('w', wn);
    const wkeys = keyColumn(hashIds(wids), ww.idx);
    const wstore = FeatureStore.create(sizedSpec(wn).spec);
    const wb = batchesOfIds(wids, ww.idx, BATCH);
    for (let lo = 0, b = 0; lo < ww.idx.length; lo += BATCH, b++) {
      const hi = Math.min(lo + BATCH, ww.idx.length);
      const keys = phase === 'ingest-strings' ? wb[b] : wkeys.subarray(lo, hi);
      wstore.ingest(0, [keys], ww.ts.subarray(lo, hi), ww.values.subarray(2 * lo, 2 * hi));
    }
    const out = new Float64Array(spec.tables[0].features.length + 4);
    if (phase === 'main') {
      const whashes = hashIds(wids);
      for (let i = 0; i < 100_000; i++) wstore.read(0, wids[i % wn], ww.tEnd, out);
      for (let i = 0; i < 100_000; i++) wstore.read(0, whashes[i % wn], ww.tEnd, out);
      const o = new Float64Array(READ_BATCH * 14);
      const a = new Float64Array(READ_BATCH);
      for (let i = 0; i < 200; i++) wstore.readMany(0, whashes.subarray(0, READ_BATCH), ww.tEnd, o, a);
    }
  }

  let keys: BigUint64Array | undefined;
  let strBatches: string[][] | undefined;
  if (phase === 'ingest-strings') strBatches = batchesOfIds(ids, w.idx, BATCH);
  else keys = keyColumn(hashes, w.idx);

  // Read pools (built before the memory baseline).
  const PICK = 1 << 20;
  const pick = new Uint32Array(PICK);
  let bigPool: bigint[] = [];
  const manyHashed: BigUint64Array[] = [];
  const manyStrings: string[][] = [];
  if (phase === 'main') {
    const r = rng(SEED + 7);
    for (let i = 0; i < PICK; i++) pick[i] = Math.floor(r() * N);
    bigPool = Array.from(pick, (k) => hashes[k]);
    for (let c = 0; c < 256; c++) {
      const sel = Array.from({ length: READ_BATCH }, () => Math.floor(r() * N));
      manyHashed.push(BigUint64Array.from(sel, (k) => hashes[k]));
      manyStrings.push(sel.map((k) => ids[k]));
    }
  }

  fullGc();
  const before = mem();
  const store = FeatureStore.create(spec);
  const ing = timeIngest(nb, E, (b) => {
    const lo = b * BATCH;
    const hi = Math.min(lo + BATCH, E);
    const k = strBatches ? strBatches[b] : keys!.subarray(lo, hi);
    return store.ingest(0, [k], w.ts.subarray(lo, hi), w.values.subarray(2 * lo, 2 * hi)).accepted;
  });
  const gcMs = fullGc();
  const after = mem();
  const st = store.stats(0);
  log(`ingest ${(ing.eventsPerSec / 1e6).toFixed(2)} M events/s, live ${st.live}, rss +${((after.rss - before.rss) / 2 ** 20).toFixed(0)} MiB`);
  const result: Record<string, unknown> = {
    engine: 'hotpath',
    phase,
    dist,
    entities: N,
    events: E,
    ingest: ing,
    live: st.live,
    stats: st,
    rowBytes,
    memoryBytes,
    maxFutureMs: spec.maxFutureMs,
    layoutWidth: store.layout(0).width,
    gcMs,
    build: addonBuild(),
  };
  if (phase !== 'main') return result;

  result.rssGrowthPerEntity = (after.rss - before.rss) / st.live;
  result.rssGrowthBytes = after.rss - before.rss;
  result.heapGrowthBytes = after.heapUsed - before.heapUsed;

  // Reads.
  const now = w.tEnd;
  const width = store.layout(0).width;
  const out = new Float64Array(width);
  let sink = 0;
  let c = 0;
  const M = PICK - 1;
  result.readString = measure((n) => {
    for (let i = 0; i < n; i++) sink += store.read(0, ids[pick[c++ & M]], now, out).ageMs;
  }, 10_000, 1);
  result.readBigInt = measure((n) => {
    for (let i = 0; i < n; i++) sink += store.read(0, bigPool[c++ & M], now, out).ageMs;
  }, 10_000, 1);
  // Diagnostic: the raw addon method (no wrapper closure, no result object) on a
  // read-only handle to the same store.
  const addon = createRequire(import.meta.url)(ADDON_PATH) as Binding.Addon;
  const raw = new addon.FeatureStore(store.id);
  result.readStringRaw = measure((n) => {
    for (let i = 0; i < n; i++) sink += raw.read(0, ids[pick[c++ & M]], now, out);
  }, 10_000, 1);
  result.readAbsentString = measure((n) => {
    for (let i = 0; i < n; i++) sink += raw.read(0, 'absent-' + (i & 1023), now, out) || 0;
  }, 10_000, 1);
  const mout = new Float64Array(READ_BATCH * width);
  const ages = new Float64Array(READ_BATCH);
  let m = 0;
  result.readManyHashed = measure((n) => {
    for (let i = 0; i < n; i++) sink += store.readMany(0, manyHashed[m++ & 255], now, mout, ages);
  }, 20, READ_BATCH);
  result.readManyStrings = measure((n) => {
    for (let i = 0; i < n; i++) sink += store.readMany(0, manyStrings[m++ & 255], now, mout, ages);
  }, 20, READ_BATCH);
  result.sink = sink === 0.5 ? 1 : 0;
  return result;
}

// ---------------------------------------------------------------------------------------
// Child: plain TypeScript

function tsChild(phase: string): Record<string, unknown> {
  const dist = phase === 'ingest-zipf' ? 'zipf' : 'uniform';
  const w = makeWorkload(N, E, dist, SEED);
  const ids = idsOf('u', N);
  const batches = batchesOfIds(ids, w.idx, BATCH);
  const nb = batches.length;

  {
    const wn = Math.min(20_000, N);
    const ww = makeWorkload(wn, Math.min(200_000, E), 'uniform', SEED + 1);
    const wids = idsOf('w', wn);
    const wstore = new TsFeatureStore();
    const wb = batchesOfIds(wids, ww.idx, BATCH);
    for (let lo = 0, b = 0; lo < ww.idx.length; lo += BATCH, b++) {
      const hi = Math.min(lo + BATCH, ww.idx.length);
      wstore.ingest(wb[b], ww.ts.subarray(lo, hi), ww.values.subarray(2 * lo, 2 * hi));
    }
    if (phase === 'main') {
      const out = new Float64Array(TS_WIDTH);
      for (let i = 0; i < 100_000; i++) wstore.read(wids[i % wn], ww.tEnd, out);
      const o = new Float64Array(READ_BATCH * TS_WIDTH);
      const a = new Float64Array(READ_BATCH);
      for (let i = 0; i < 200; i++) wstore.readMany(wids.slice(0, READ_BATCH), ww.tEnd, o, a);
    }
  }

  const PICK = 1 << 20;
  const pick = new Uint32Array(PICK);
  const manyStrings: string[][] = [];
  if (phase === 'main') {
    const r = rng(SEED + 7);
    for (let i = 0; i < PICK; i++) pick[i] = Math.floor(r() * N);
    for (let c = 0; c < 256; c++) manyStrings.push(Array.from({ length: READ_BATCH }, () => ids[Math.floor(r() * N)]));
  }

  log(`workload and warm-up ready (${(performance.now() / 1000).toFixed(1)} s since start)`);
  fullGc();
  const before = mem();
  const store = new TsFeatureStore();
  const ing = timeIngest(nb, E, (b) => {
    const lo = b * BATCH;
    const hi = Math.min(lo + BATCH, E);
    return store.ingest(batches[b], w.ts.subarray(lo, hi), w.values.subarray(2 * lo, 2 * hi));
  });
  log(`filled (${(performance.now() / 1000).toFixed(1)} s)`);
  const gcMs = fullGc();
  const after = mem();
  const live = store.size;
  log(`ingest ${(ing.eventsPerSec / 1e6).toFixed(2)} M events/s, live ${live}, heap +${((after.heapUsed - before.heapUsed) / 2 ** 20).toFixed(0)} MiB`);
  const result: Record<string, unknown> = { engine: 'ts', phase, dist, entities: N, events: E, ingest: ing, live, gcMs };
  if (phase !== 'main') return result;
  result.heapGrowthPerEntity = (after.heapUsed - before.heapUsed) / live;
  result.rssGrowthPerEntity = (after.rss - before.rss) / live;
  result.heapGrowthBytes = after.heapUsed - before.heapUsed;
  result.rssGrowthBytes = after.rss - before.rss;

  const now = w.tEnd;
  const out = new Float64Array(TS_WIDTH);
  let sink = 0;
  let c = 0;
  const M = PICK - 1;
  result.readString = measure((n) => {
    for (let i = 0; i < n; i++) sink += store.read(ids[pick[c++ & M]], now, out);
  }, 10_000, 1);
  const mout = new Float64Array(READ_BATCH * TS_WIDTH);
  const ages = new Float64Array(READ_BATCH);
  let m = 0;
  result.readManyStrings = measure((n) => {
    for (let i = 0; i < n; i++) sink += store.readMany(manyStrings[m++ & 255], now, mout, ages);
  }, 20, READ_BATCH);
  result.sink = sink === 0.5 ? 1 : 0;
  log(`reads done (${(performance.now() / 1000).toFixed(1)} s)`);
  return result;
}

// ---------------------------------------------------------------------------------------
// Parent: equivalence check (in process, small), children, report

interface Check {
  entities: number;
  events: number;
  maxRelErr: Record<string, number>;
  distinctMeanAbsRelErr: number;
  ok: boolean;
}

function equivalenceCheck(): Check {
  const n = 5000;
  const ev = 100_000;
  const w = makeWorkload(n, ev, 'uniform', SEED + 3);
  const ids = idsOf('c', n);
  const hp = FeatureStore.create(sizedSpec(n).spec);
  const ts = new TsFeatureStore();
  const keys = keyColumn(hashIds(ids), w.idx);
  const batches = batchesOfIds(ids, w.idx, BATCH);
  for (let lo = 0, b = 0; lo < ev; lo += BATCH, b++) {
    const hi = Math.min(lo + BATCH, ev);
    hp.ingest(0, [keys.subarray(lo, hi)], w.ts.subarray(lo, hi), w.values.subarray(2 * lo, 2 * hi));
    ts.ingest(batches[b], w.ts.subarray(lo, hi), w.values.subarray(2 * lo, 2 * hi));
  }
  const width = hp.layout(0).width;
  if (width !== TS_WIDTH) throw new Error(`layout width ${width} != TS width ${TS_WIDTH}`);
  const names = ['count_10m', 'count_1h', 'sum_1h', 'mean_1h', 'max_1h', 'std_1h', 'distinct_1h', 'last', 'last_n[0]', 'last_n[1]', 'last_n[2]', 'last_n[3]', 'last_n[4]', 'ewm_10m'];
  const maxRel: Record<string, number> = Object.fromEntries(names.map((k) => [k, 0]));
  const a = new Float64Array(width);
  const b = new Float64Array(width);
  let dsum = 0;
  // Read at the end of the data and 20 minutes later (part of the hour has slid out).
  for (const now of [w.tEnd, w.tEnd + 20 * 60_000]) {
    for (const id of ids) {
      hp.read(0, id, now, a);
      ts.read(id, now, b);
      for (let f = 0; f < width; f++) {
        if (Number.isNaN(a[f]) && Number.isNaN(b[f])) continue;
        const rel = Math.abs(a[f] - b[f]) / Math.max(1e-12, Math.abs(b[f]));
        if (f === 6) dsum += rel;
        else maxRel[names[f]] = Math.max(maxRel[names[f]], Number.isNaN(rel) ? Infinity : rel);
      }
    }
  }
  delete maxRel.distinct_1h;
  const ok = Object.entries(maxRel).every(([k, v]) => v <= (k === 'std_1h' ? 1e-6 : 1e-9));
  return { entities: n, events: ev, maxRelErr: maxRel, distinctMeanAbsRelErr: dsum / (2 * n), ok };
}

type Result = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function runChild(engine: string, phase: string): Result {
  const script = fileURLToPath(import.meta.url);
  const nodeArgs = [...process.execArgv];
  if (engine === 'ts') nodeArgs.push('--max-old-space-size=16384');
  const childArgs = [
    ...nodeArgs, script, '--engine', engine, '--phase', phase, '--entities', String(N), '--events', String(E),
    '--batch', String(BATCH), '--read-batch', String(READ_BATCH), '--zipf-s', String(ZIPF_S), '--seed', String(SEED),
    '--read-ms', String(READ_MS),
  ];
  const pinned = opt.cpu !== 'none';
  const cmd = pinned ? 'taskset' : process.execPath;
  const args = pinned ? ['-c', opt.cpu!, process.execPath, ...childArgs] : childArgs;
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`child ${engine} ${phase} failed (status ${r.status}): ${r.stdout}`);
  const res = JSON.parse(line.slice(7)) as Result;
  res.wallSeconds = (performance.now() - t0) / 1000;
  return res;
}

function machine(): Record<string, string> {
  let model = cpus()[0]?.model ?? 'unknown';
  let famModel = '';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? model;
    const fam = /^cpu family\s*:\s*(\d+)$/m.exec(info)?.[1];
    const mod = /^model\s*:\s*(\d+)$/m.exec(info)?.[1];
    if (fam) famModel = ` (family ${fam}, model ${mod}${fam === '25' && mod === '17' ? ' = Zen 4' : ''})`;
  } catch {
    /* not Linux */
  }
  let hyp = '';
  try {
    if (/hypervisor/.test(readFileSync('/proc/cpuinfo', 'utf8'))) hyp = ', virtualized';
  } catch {
    /* ignore */
  }
  const git = (args: string[]) => spawnSync('git', args, { encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git(['rev-parse', '--short', 'HEAD']);
  const nativeHead = git(['log', '-1', '--format=%h', '--', 'native', 'binding.gyp']);
  const dirty = git(['status', '--porcelain', '--', 'native']) !== '';
  return {
    source: head
      ? `git HEAD ${head}, last commit touching native/: ${nativeHead}${dirty ? ' (native/ has uncommitted changes at report time)' : ''}`
      : 'unknown',
    cpu: `${model}${famModel}`,
    cores: `${cpus().length}${hyp}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    node: process.version,
    v8: process.versions.v8,
    date: new Date().toISOString(),
    loadavg: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

// Formatting.
const M = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;
const K = (x: number) => (x >= 1e6 ? M(x) : `${(x / 1e3).toFixed(0)} k/s`);
const B = (x: number) => `${x.toFixed(0)} B`;
const X = (x: number) => `${x.toFixed(2)}x`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const spread = (xs: number[]) => (xs.length < 2 ? '' : `±${((100 * (Math.max(...xs) - Math.min(...xs))) / 2 / mean(xs)).toFixed(1)}%`);

function report(runs: Result[][], check: Check, totalSeconds: number): string {
  // runs[r] = [hp main, hp strings, hp zipf?, ts main, ts zipf?]
  const get = (engine: string, phase: string) => runs.map((rs) => rs.find((r) => r.engine === engine && r.phase === phase)).filter(Boolean) as Result[];
  const hpMain = get('hotpath', 'main');
  const hpStr = get('hotpath', 'ingest-strings');
  const hpZipf = get('hotpath', 'ingest-zipf');
  const tsMain = get('ts', 'main');
  const tsZipf = get('ts', 'ingest-zipf');
  const vals = (rs: Result[], f: (r: Result) => number) => rs.map(f);

  type Row = [string, string, number[], number[] | null, (x: number) => string, ((h: number) => boolean) | null, string];
  const rows: Row[] = [];
  const add = (
    metric: string, target: string, h: number[], t: number[] | null, fmt: (x: number) => string,
    pass: ((h: number) => boolean) | null, note = '',
  ) => rows.push([metric, target, h, t, fmt, pass, note]);

  add('Ingest, batch API, pre-hashed keys (events/s, 1 core)', '>= 5 M/s', vals(hpMain, (r) => r.ingest.eventsPerSec), vals(tsMain, (r) => r.ingest.eventsPerSec), M, (h) => h >= 5e6, `uniform keys; whole fill (${hpMain[0]?.live ?? N} inserts + updates)`);
  add('  same, second half of the fill only', '', vals(hpMain, (r) => r.ingest.secondHalfEventsPerSec), vals(tsMain, (r) => r.ingest.secondHalfEventsPerSec), M, null, 'table ~fully populated: updates');
  add('Ingest, batch API, string-id arrays (events/s)', '', vals(hpStr, (r) => r.ingest.eventsPerSec), vals(tsMain, (r) => r.ingest.eventsPerSec), M, null, 'the HTTP path; TS column: same TS run (it always takes strings)');
  if (hpZipf.length) add(`Ingest, pre-hashed keys, zipf s=${ZIPF_S} (events/s)`, '', vals(hpZipf, (r) => r.ingest.eventsPerSec), vals(tsZipf, (r) => r.ingest.eventsPerSec), M, null, `${hpZipf[0].live} distinct entities touched`);
  add('Single-entity reads, string ids (reads/s)', '>= 2 M/s', vals(hpMain, (r) => r.readString.median), vals(tsMain, (r) => r.readString.median), K, (h) => h >= 2e6, 'FeatureStore.read(0, id, now, out), random ids');
  add('  same, BigInt-hash ids', '', vals(hpMain, (r) => r.readBigInt.median), null, K, null, '');
  add('  same, raw addon call (diagnostic)', '', vals(hpMain, (r) => r.readStringRaw.median), null, K, null, 'no wrapper closure / result object');
  add('  same, absent id (diagnostic)', '', vals(hpMain, (r) => r.readAbsentString.median), null, K, null, 'N-API call + hash + probe + template row');
  add(`Batched reads, readMany ${READ_BATCH} hashed ids (entities/s)`, '>= 10 M/s', vals(hpMain, (r) => r.readManyHashed.median), vals(tsMain, (r) => r.readManyStrings.median), K, (h) => h >= 10e6, 'TS column: its readMany over string ids');
  add(`  same, ${READ_BATCH} string ids`, '', vals(hpMain, (r) => r.readManyStrings.median), vals(tsMain, (r) => r.readManyStrings.median), K, null, '');
  add('Bytes per entity, stats().bytesPerEntity', '<= 1024 B', vals(hpMain, (r) => r.stats.bytesPerEntity), null, B, (h) => h <= 1024, 'row + index share at capacity');
  add('Bytes per entity, allocatedBytes / live', '<= 1024 B', vals(hpMain, (r) => r.stats.allocatedBytes / r.stats.live), null, B, (h) => h <= 1024, 'index + rows used (rows are reserved per shard, committed on first use)');
  add('Bytes per entity, RSS growth / live (after gc)', '<= 1024 B', vals(hpMain, (r) => r.rssGrowthPerEntity), vals(tsMain, (r) => r.rssGrowthPerEntity), B, (h) => h <= 1024, '');
  add('TS: heapUsed growth / entity (after gc)', '', [], vals(tsMain, (r) => r.heapGrowthPerEntity), B, null, 'entity key strings excluded (held by the benchmark)');
  add('Full GC (global.gc()) with the filled store live, ms', '', vals(hpMain, (r) => r.gcMs), vals(tsMain, (r) => r.gcMs), (x) => `${x.toFixed(0)} ms`, null, 'blocking pause; V8 heap only');

  const ratio = (h: number[], t: number[]) => h.map((x, i) => x / t[i]);
  const memRatio = ratio(vals(hpMain, (r) => r.rssGrowthPerEntity), vals(tsMain, (r) => r.heapGrowthPerEntity));
  const memRatioRss = ratio(vals(hpMain, (r) => r.rssGrowthPerEntity), vals(tsMain, (r) => r.rssGrowthPerEntity));
  const ingRatio = ratio(vals(hpMain, (r) => r.ingest.eventsPerSec), vals(tsMain, (r) => r.ingest.eventsPerSec));
  const ingStrRatio = ratio(vals(hpStr, (r) => r.ingest.eventsPerSec), vals(tsMain, (r) => r.ingest.eventsPerSec));
  const readRatio = ratio(vals(hpMain, (r) => r.readString.median), vals(tsMain, (r) => r.readString.median));
  const manyRatio = ratio(vals(hpMain, (r) => r.readManyHashed.median), vals(tsMain, (r) => r.readManyStrings.median));
  const ratios: [string, string, number[], boolean, string][] = [
    ['Memory: hotpath RSS/entity ÷ TS heapUsed/entity', '<= 0.25', memRatio, memRatio.every((x) => x <= 0.25), ''],
    ['Memory: hotpath RSS/entity ÷ TS RSS/entity', '<= 0.25', memRatioRss, memRatioRss.every((x) => x <= 0.25), ''],
    ['Ingest speed: hotpath (hashed) ÷ TS', '>= 10x', ingRatio, ingRatio.every((x) => x >= 10), ''],
    ['Ingest speed: hotpath (string ids) ÷ TS', '>= 10x', ingStrRatio, ingStrRatio.every((x) => x >= 10), ''],
    ['Single read speed: hotpath ÷ TS', '>= 10x', readRatio, readRatio.every((x) => x >= 10), ''],
    ['Batched read speed: hotpath ÷ TS', '>= 10x', manyRatio, manyRatio.every((x) => x >= 10), ''],
  ];

  const nruns = runs.length;
  const cell = (xs: number[] | null, fmt: (x: number) => string) => (!xs || xs.length === 0 ? '–' : fmt(mean(xs)) + (xs.length > 1 ? ` (${spread(xs)})` : ''));
  const lines: string[] = [];
  const mach = machine();
  lines.push(`# Store micro-benchmark, ${mach.date.slice(0, 10)}`, '');
  const argv = process.argv.slice(2).filter((a, i, all) => a !== '--json' && all[i - 1] !== '--json' && a !== '--out' && all[i - 1] !== '--out');
  lines.push(`Command: \`npm run bench:store${argv.length ? ' -- ' + argv.join(' ') : ''}\` (${N} entities, ${E} events; total ${totalSeconds.toFixed(0)} s wall)`, '');
  lines.push('| Machine | |', '|---|---|');
  lines.push(`| CPU | ${mach.cpu} |`, `| Cores | ${mach.cores} |`, `| Memory | ${mach.memory} |`, `| Node | ${mach.node} (V8 ${mach.v8}) |`, `| Date | ${mach.date} |`, `| Load average at end | ${mach.loadavg} |`);
  lines.push(`| Source | ${mach.source} |`);
  lines.push(`| Children pinned | ${opt.cpu === 'none' ? 'no' : 'taskset -c ' + opt.cpu + ' (one core: GC helper threads share it)'} |`);
  const builds = [...new Set(runs.flat().filter((r) => r.engine === 'hotpath').map((r) => r.build as string))];
  lines.push(`| hotpath.node build | ${builds.join('; ')}${builds.length > 1 ? ' — **the addon changed during the benchmark**' : ''} |`, '');
  lines.push(`Values are the mean of ${nruns} run${nruns > 1 ? 's' : ''}${nruns > 1 ? '; (±x%) is half the run-to-run range' : ''}; read rates are the median of ${TRIALS} trials of ${READ_MS} ms within a run.`, '');
  lines.push('| Metric | Target | hotpath | TS (Map of objects) | Pass | Notes |', '|---|---|---|---|---|---|');
  for (const [metric, target, h, t, fmt, pass, note] of rows) {
    const p = pass && h.length ? (h.every(pass) ? 'pass' : '**miss**') : '';
    const r = [metric, target, cell(h, fmt), cell(t, fmt), p, note];
    lines.push(`| ${r.join(' | ')} |`);
  }
  lines.push('', '| Ratio | Target | Value | Pass |', '|---|---|---|---|');
  for (const [name, target, xs, ok] of ratios) lines.push(`| ${name} | ${target} | ${cell(xs, X)} | ${ok ? 'pass' : '**miss**'} |`);

  if (nruns > 1) {
    lines.push('', '### Per run', '', `| Metric | ${runs.map((_, i) => `run ${i + 1}`).join(' | ')} |`, `|---|${runs.map(() => '---|').join('')}`);
    const per = (name: string, xs: number[], fmt: (x: number) => string) => lines.push(`| ${name} | ${xs.map(fmt).join(' | ')} |`);
    per('hotpath ingest hashed', vals(hpMain, (r) => r.ingest.eventsPerSec), M);
    per('hotpath ingest strings', vals(hpStr, (r) => r.ingest.eventsPerSec), M);
    if (hpZipf.length) per('hotpath ingest zipf', vals(hpZipf, (r) => r.ingest.eventsPerSec), M);
    per('hotpath read string', vals(hpMain, (r) => r.readString.median), K);
    per('hotpath read BigInt', vals(hpMain, (r) => r.readBigInt.median), K);
    per('hotpath readMany hashed', vals(hpMain, (r) => r.readManyHashed.median), K);
    per('hotpath RSS B/entity', vals(hpMain, (r) => r.rssGrowthPerEntity), B);
    per('TS ingest', vals(tsMain, (r) => r.ingest.eventsPerSec), M);
    if (tsZipf.length) per('TS ingest zipf', vals(tsZipf, (r) => r.ingest.eventsPerSec), M);
    per('TS read', vals(tsMain, (r) => r.readString.median), K);
    per('TS readMany', vals(tsMain, (r) => r.readManyStrings.median), K);
    per('TS heap B/entity', vals(tsMain, (r) => r.heapGrowthPerEntity), B);
  }

  // Row layout. The state outside the tile ring has fixed sizes (native/core/feature_store.cc);
  // the ring is what remains of stats().rowBytes, split into its payload (head epoch,
  // occupancy bitmap, per tile a u32 count and an f64 each for sum, M2 and max) and the
  // padding/alignment the layout adds (e.g. 4 B per tile when tiles are 8-byte aligned structs).
  const h0 = hpMain[0];
  const nt = 60 + Math.ceil(h0.maxFutureMs / TILE_MS); // ring: window + ceil(max_future / tile)
  const align8 = (x: number) => (x + 7) & ~7;
  const fixed: [string, number][] = [
    ['header (id hash, newest ts, write clock)', 24],
    ['distinct merchants: sliding HLL p=6 (8 + 6 x 64)', align8(8 + 6 * 64)],
    ['last amount (ts, value)', 16],
    ['last_5 merchants (len + 5 x (ts, value))', 8 + 16 * 5],
    ['ewm amount (t_ref, sum, weight)', 24],
  ];
  const ring = h0.stats.rowBytes - fixed.reduce((a, [, b]) => a + b, 0);
  const ringParts: [string, number][] = [
    ['tile ring tx/1m: head epoch', 8],
    [`tile ring: occupancy bitmap (${nt} bits)`, 8 * Math.ceil(nt / 64)],
    [`tile ring: counts u32 x ${nt} tiles (count_10m, count_1h, mean, std)`, 4 * nt],
    [`tile ring: sum f64 x ${nt} (sum, mean, std)`, 8 * nt],
    [`tile ring: M2 f64 x ${nt} (std)`, 8 * nt],
    [`tile ring: max f64 x ${nt} (max)`, 8 * nt],
  ];
  ringParts.push([`tile ring: padding / alignment (${((ring - ringParts.reduce((a, [, b]) => a + b, 0)) / nt).toFixed(1)} B per tile)`, ring - ringParts.reduce((a, [, b]) => a + b, 0)]);
  const parts: [string, number][] = [fixed[0], ...ringParts, ...fixed.slice(1)];
  const rowSum = parts.reduce((a, [, b]) => a + b, 0);
  lines.push('', '### Where the bytes go (one row)', '', '| Part | Bytes | Share |', '|---|---|---|');
  for (const [p, b] of parts) lines.push(`| ${p} | ${b} | ${((100 * b) / rowSum).toFixed(1)}% |`);
  const idxPerEntity = h0.stats.bytesPerEntity - h0.stats.rowBytes;
  lines.push(`| **row total** (stats().rowBytes) | ${rowSum} | 100% |`);
  lines.push(`| index share (16 B slots, ${h0.stats.capacity} capacity, load ${(h0.stats.live / (idxPerEntity * h0.stats.capacity / 16)).toFixed(2)} at ${h0.stats.live} live) | ${idxPerEntity} | |`, '');
  lines.push(`Store budget: \`memory: ${h0.memoryBytes}\` (${(h0.memoryBytes / 2 ** 30).toFixed(2)} GiB) for ${N} entities, ${SHARDS} shards; evictions during the fill: ${h0.stats.evictedLru} LRU, ${h0.stats.evictedTtl} TTL. Entities live after the fill: ${h0.live} (uniform keys miss ~N·e^-(E/N)).`, '');

  lines.push('### Equivalence check (same process, both engines)', '');
  lines.push(`${check.entities} entities, ${check.events} events, every entity read at the end of the data and 20 min later. Max relative difference hotpath vs TS per output: ` +
    Object.entries(check.maxRelErr).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ') +
    `. Distinct (hotpath sliding HLL p=6 vs exact Set): mean |relative error| ${(100 * check.distinctMeanAbsRelErr).toFixed(1)}%. ${check.ok ? 'OK.' : '**MISMATCH.**'}`, '');

  lines.push('### Method', '');
  lines.push(
    `- Feature set (built with \`compileConfig\` from a config object): stream \`tx\` keyed by \`user\`, fields amount:number, merchant:category; count 10m, count 1h, sum/mean/max/stddev amount 1h (1-minute tiles, one shared ring of ${nt} tiles: 60 + ceil(max_future ${hpMain[0].maxFutureMs} ms / tile)), distinct merchant 1h (HLL p=6, 1-minute tiles), last amount, last_n merchant n=5, ewm amount half-life 10m. Output width 14.`,
    `- Workload: ids \`u0\`..\`u${N - 1}\`; ${E} events, timestamps increasing evenly over the hour before the start of the run; keys uniform (main) or zipf s=${ZIPF_S} (rank 0 hottest); amount uniform 0..1000.00, merchant uniform over ${MERCHANTS} ids; seed ${SEED}.`,
    `- Each engine and phase runs in its own child process (\`node --expose-gc --import tsx bench/store-micro.ts --engine hotpath|ts --phase main|ingest-strings|ingest-zipf\`), after a warm-up on a separate 20k-entity store. The TS child runs with --max-old-space-size=16384.`,
    `- Ingest: ${Math.ceil(E / BATCH)} calls of ${BATCH} events, timed per call (hashing ids with hashIds and building key columns happen before timing; for the string-id phase the per-batch arrays of id strings are built before timing, as the HTTP path has them after decoding). Events/s is the time of the ingest calls only, single thread.`,
    `- Single reads: \`store.read(0, id, now, out)\` over a pool of 2^20 random ids; batched: \`readMany\` with ${READ_BATCH} random ids per call (hashed BigUint64Array; string arrays for the second row), out ${READ_BATCH} x 14. now = end of the event data, so windows are full.`,
    `- Memory: process RSS and heapUsed right before creating the store and after the fill, each after a full GC (\`global.gc()\`, its pause is reported too), divided by the entities live after the fill; hotpath also from \`store.stats(0)\`. TS heap growth counts the Map, entity objects, tile rings, Sets and arrays; the id strings themselves are held by the benchmark before the baseline, so they are not counted (about +24 B/entity for ids like \`u123456\` if the store owned them).`,
    `- TS baseline (bench/ts-store.ts): Map<string, EntityState>; per entity one ring array of 60 lazily created tile objects {epoch, count, sum, sumSq, max, merchants: Set} shared by all 1-minute windows; distinct = exact Set per tile, unioned at read; last_n = array of 5 {ts, merchant} objects; ewm as in hotpath.`,
  );
  return lines.join('\n') + '\n';
}

function printTable(md: string): void {
  process.stdout.write('\n' + md);
}

async function main(): Promise<void> {
  if (opt.engine) {
    const phase = opt.phase ?? 'main';
    const result = opt.engine === 'hotpath' ? hotpathChild(phase) : opt.engine === 'ts' ? tsChild(phase) : null;
    if (!result) throw new Error(`unknown engine ${opt.engine}`);
    process.stdout.write('RESULT ' + JSON.stringify(result) + '\n');
    return;
  }
  const t0 = performance.now();
  log(`entities ${N}, events ${E}, batch ${BATCH}, runs ${opt.runs}, cpu ${opt.cpu}`);
  const check = equivalenceCheck();
  log(`equivalence check ${check.ok ? 'ok' : 'MISMATCH'}: ${JSON.stringify(check.maxRelErr)} distinct ${(100 * check.distinctMeanAbsRelErr).toFixed(1)}%`);
  const runs: Result[][] = [];
  for (let r = 0; r < Number(opt.runs); r++) {
    const rs: Result[] = [];
    rs.push(runChild('hotpath', 'main'));
    rs.push(runChild('hotpath', 'ingest-strings'));
    if (!opt['no-zipf']) rs.push(runChild('hotpath', 'ingest-zipf'));
    rs.push(runChild('ts', 'main'));
    if (!opt['no-zipf'] && opt['ts-zipf']) rs.push(runChild('ts', 'ingest-zipf'));
    log(`run ${r + 1} done: ${rs.map((x) => `${x.engine}/${x.phase} ${x.wallSeconds.toFixed(0)}s`).join(', ')}`);
    runs.push(rs);
  }
  const md = report(runs, check, (performance.now() - t0) / 1000);
  printTable(md);
  const out = opt.out ?? fileURLToPath(new URL(`./results/store-micro-${new Date().toISOString().slice(0, 10)}.md`, import.meta.url));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, md);
  if (opt.json) writeFileSync(opt.json, JSON.stringify({ check, runs }, null, 1));
  log(`wrote ${relative(process.cwd(), out)}`);
}

await main();
