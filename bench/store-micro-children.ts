// The store micro-benchmark's child processes (bench/store-micro.ts spawns them): one engine,
// one phase, measured alone so that its heap and RSS are its own.
import { createRequire } from 'node:module';

import { ADDON_PATH, type Binding, FeatureStore, hashIds } from '../src/native/binding.js';
import { TsFeatureStore, WIDTH as TS_WIDTH } from './ts-store.js';
import { N, E, BATCH, READ_BATCH, SEED, fullGc, addonBuild, log, sizedSpec, rng, makeWorkload, idsOf, keyColumn, batchesOfIds, measure, timeIngest, mem } from './store-micro-env.js';

// ---------------------------------------------------------------------------------------
// Child: hotpath

export function hotpathChild(phase: string): Record<string, unknown> {
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

export function tsChild(phase: string): Record<string, unknown> {
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
