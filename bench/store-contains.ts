// FeatureStore.contains (the index lookup) against read (all 10 features computed) for one
// entity of a 10-feature table, 1M calls each, three rounds: what FeatureReader.has() saves
// per entity on a predict with the online store or the predict cache.
//   npx tsx bench/store-contains.ts
import { compileConfig } from '../src/config/load.js';
import { FeatureStore } from '../src/native/binding.js';
const config = compileConfig({
  streams: { s: { keys: { e: 'id' }, allowed_lateness: '1h', fields: { v: 'number' } } },
  entities: { e: { memory: '64MiB', features: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}`, { agg: i % 2 ? 'sum' : 'max', field: 'v', window: '10m', tile: '1m' }])) } },
});
const store = FeatureStore.create(config.storeSpec);
const now = Date.now();
const ids = Array.from({ length: 10000 }, (_, i) => `u${i}`);
store.ingest(0, [ids], new Float64Array(ids.length).fill(now), new Float64Array(ids.length).fill(1), now);
const out = new Float64Array(store.layout(0).width);
for (let round = 0; round < 3; round++) {
  let t = performance.now(); let k = 0;
  for (let i = 0; i < 1e6; i++) k += store.read(0, ids[i % 10000], now, out).found ? 1 : 0;
  const tr = (performance.now() - t) * 1000 / 1e6;
  t = performance.now();
  for (let i = 0; i < 1e6; i++) k += store.contains(0, ids[i % 10000]) ? 1 : 0;
  const tc = (performance.now() - t) * 1000 / 1e6;
  console.log(`read ${tr.toFixed(3)} us, contains ${tc.toFixed(3)} us (${k})`);
}
