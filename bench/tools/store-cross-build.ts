// Snapshots across builds: one build writes a snapshot (and what it reads and exports),
// another restores it and must read and export the same, bit for bit. Checks that a
// change to how rows are kept in memory leaves the snapshot format alone, both ways:
//   HOTPATH_ADDON=<old .node> node --import tsx bench/tools/store-cross-build.ts write /tmp/x
//   HOTPATH_ADDON=<new .node> node --import tsx bench/tools/store-cross-build.ts check /tmp/x
// (and the other way round). The demo's ten features; 3000 entities, some heavy (many
// tiles and merchants in the hour), late and out-of-order events, a few evicted by LRU.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

import { compileConfig } from '../../src/config/load.js';
import { FeatureStore, hashIds } from '../../src/native/binding.js';
import { configObject, rng } from '../store-workload.js';

const [mode, base] = process.argv.slice(2);
if ((mode !== 'write' && mode !== 'check') || !base) throw new Error('usage: write|check <path prefix>');
const N = 3000;
const spec = compileConfig(configObject(2800 * 2400)).storeSpec; // ~2800 rows: LRU evicts some
spec.streams[0].latenessMs = 2 * 3_600_000; // late and out-of-order events are applied
const store = FeatureStore.create(spec);
const ids = Array.from({ length: N }, (_, i) => `u${i}`);
const T0 = 1_796_000_000_000;
const END = T0 + 2 * 3_600_000;

function fill(): void {
  const r = rng(7);
  const B = 1000;
  for (let b = 0; b < 60; b++) {
    const keys: string[] = [];
    const ts = new Float64Array(B);
    const values = new Float64Array(2 * B);
    const now = T0 + ((b + 1) * (END - T0)) / 60;
    for (let i = 0; i < B; i++) {
      const heavy = r() < 0.2;
      keys.push(heavy ? ids[Math.floor(r() * 20)] : ids[20 + Math.floor(r() * (N - 20))]);
      let t = now - Math.floor(r() * 120_000);
      if (r() < 0.1) t = now - Math.floor(r() * 4_000_000); // late, some past the window
      ts[i] = t;
      values[2 * i] = Math.round(r() * 100000) / 100;
      values[2 * i + 1] = heavy ? Math.floor(r() * 5000) : Math.floor(r() * 5);
    }
    store.ingest(0, [keys], ts, values, now);
  }
}

function observe(s: FeatureStore): { reads: string; rows: string } {
  const w = s.layout(0).width;
  const out = new Float64Array(w);
  const reads: number[] = [];
  for (const at of [END, END + 600_000, END + 3_000_000, END + 4 * 3_600_000])
    for (const id of ids) {
      const r = s.read(0, id, at, out);
      reads.push(r.found ? r.ageMs : -1, ...out);
    }
  const keys = hashIds(ids);
  const rb = s.layout(0).rowBytes;
  const rows = new Uint8Array(N * rb);
  const found = new Uint8Array(N);
  s.exportRows(0, keys, rows, found);
  const h = createHash('sha256').update(rows).update(found).digest('hex');
  return { reads: Buffer.from(new Float64Array(reads).buffer).toString('base64'), rows: h };
}

async function main(): Promise<void> {
  if (mode === 'write') {
    fill();
    await store.snapshot(`${base}.snap`);
    writeFileSync(`${base}.json`, JSON.stringify(observe(store)));
    const st = store.stats(0);
    console.log(`wrote ${base}.snap: live ${st.live}, evicted ${st.evictedLru}, rowBytes ${st.rowBytes}, memRowBytes ${st.memRowBytes ?? '-'}, promoted ${st.promoted ?? '-'}`);
    return;
  }
  const want = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { reads: string; rows: string };
  await store.restore(`${base}.snap`);
  const got = observe(store);
  const st = store.stats(0);
  const same = got.reads === want.reads, sameRows = got.rows === want.rows;
  console.log(`restored ${base}.snap: live ${st.live}, memRowBytes ${st.memRowBytes ?? '-'}, promoted ${st.promoted ?? '-'}; reads (4 times x ${N} ids, bitwise) ${same ? 'IDENTICAL' : 'DIFFER'}; exported rows ${sameRows ? 'IDENTICAL' : 'DIFFER'}`);
  if (!same || !sameRows) process.exitCode = 1;
}

await main();
