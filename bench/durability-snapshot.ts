// A snapshot of a large store while ingest goes on (run by bench/durability.ts in its own
// process): the store micro-benchmark's feature set filled with N entities and E events,
// then a snapshot on the thread pool while this thread keeps ingesting batches of 1,000
// events; then the snapshot read back into a fresh store. Prints one `RESULT {json}` line.
//   node --expose-gc --import tsx bench/durability-snapshot.ts --entities 1000000 --events 10000000 --dir /tmp/x
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { FeatureStore, hashIds } from '../src/native/binding.js';
import { idsOf, keyColumn, makeWorkload, rng, sizedSpec } from './store-workload.js';

const { values: opt } = parseArgs({ options: { entities: { type: 'string', default: '1000000' }, events: { type: 'string', default: '10000000' }, dir: { type: 'string' } }, strict: true });
const N = Number(opt.entities);
const E = Number(opt.events);
const dir = opt.dir ?? '/tmp/hotpath-snapshot-bench';
mkdirSync(dir, { recursive: true });
const path = join(dir, 'store.snap');
const log = (m: string) => process.stderr.write(`[snapshot] ${m}\n`);

const { spec } = sizedSpec(N);
const store = FeatureStore.create(spec);
const w = makeWorkload(N, E, 'uniform', 42);
const hashes = hashIds(idsOf('u', N));
const keys = keyColumn(hashes, w.idx);
const BATCH = 4096;
let t0 = performance.now();
for (let lo = 0; lo < E; lo += BATCH) {
  const hi = Math.min(E, lo + BATCH);
  store.ingest(0, [keys.subarray(lo, hi)], w.ts.subarray(lo, hi), w.values.subarray(2 * lo, 2 * hi), w.tEnd);
}
const fillMs = performance.now() - t0;
const live = store.stats(0).live;
log(`filled ${live} entities with ${E} events in ${(fillMs / 1000).toFixed(1)} s`);

// Live ingest: batches of 1,000 events for random entities at the current time.
const LIVE = 1000;
const rand = rng(7);
const liveKeys: BigUint64Array[] = [];
for (let b = 0; b < 64; b++) liveKeys.push(keyColumn(hashes, Uint32Array.from({ length: LIVE }, () => Math.floor(rand() * N))));
const liveTs = new Float64Array(LIVE).fill(w.tEnd);
const liveValues = Float64Array.from({ length: 2 * LIVE }, (_, i) => (i % 2 ? i % 1000 : 12.5));
let batchNo = 0;
const ingestOne = (): number => {
  const s = performance.now();
  store.ingest(0, [liveKeys[batchNo++ % liveKeys.length]], liveTs, liveValues, w.tEnd);
  return performance.now() - s;
};

// Baseline: the same loop with no snapshot, for as long as a snapshot takes (about).
const tick = () => new Promise((r) => setImmediate(r));
let baseMax = 0;
let baseBatches = 0;
t0 = performance.now();
while (performance.now() - t0 < 1500) {
  baseMax = Math.max(baseMax, ingestOne());
  baseBatches++;
  if (baseBatches % 8 === 0) await tick();
}
const baseRate = (baseBatches * LIVE) / ((performance.now() - t0) / 1000);

// The snapshot, with ingest going on.
let done = false;
let stats: Awaited<ReturnType<FeatureStore['snapshot']>> | undefined;
t0 = performance.now();
const p = store.snapshot(path).then((s) => {
  stats = s;
  done = true;
});
const cutMs = performance.now() - t0; // the synchronous part: the cut
let snapMax = 0;
let snapBatches = 0;
while (!done) {
  snapMax = Math.max(snapMax, ingestOne());
  snapBatches++;
  if (snapBatches % 8 === 0) await tick();
}
await p;
const snapshotMs = performance.now() - t0;
const snapRate = (snapBatches * LIVE) / (snapshotMs / 1000);
const bytes = statSync(path).size;
log(`snapshot: ${(snapshotMs / 1000).toFixed(2)} s, ${(bytes / 1e6).toFixed(0)} MB, writer copies ${stats!.writerCopies}, longest ingest call ${snapMax.toFixed(2)} ms (without a snapshot ${baseMax.toFixed(2)} ms)`);

// The floor of a restore on this machine: touching as many fresh bytes as the store holds
// (a new process's memory is faulted in page by page; on some VMs that dominates).
const allocated = store.stats(0).allocatedBytes;
t0 = performance.now();
let floorBuf: Buffer | undefined = Buffer.alloc(allocated, 1);
const touchMs = performance.now() - t0;
floorBuf = undefined;
(globalThis as { gc?: () => void }).gc?.();
log(`first touch of ${(allocated / 1e9).toFixed(2)} GB of fresh memory: ${(touchMs / 1000).toFixed(2)} s`);

// Read it back into a fresh store.
const fresh = FeatureStore.create(spec);
t0 = performance.now();
const restored = await fresh.restore(path);
const restoreMs = performance.now() - t0;
log(`restore: ${(restoreMs / 1000).toFixed(2)} s, ${restored.live} entities`);
rmSync(path, { force: true });

process.stdout.write(
  `RESULT ${JSON.stringify({
    entities: live, events: E, fillMs, cutMs, snapshotMs, bytes, bytesPerEntity: bytes / live, writeMs: stats!.writeMs, writerCopies: stats!.writerCopies,
    maxStallUs: stats!.maxStallUs, ingestMaxMsDuring: snapMax, ingestMaxMsBaseline: baseMax, ingestRateDuring: snapRate, ingestRateBaseline: baseRate,
    restoreMs, restoredLive: restored.live, allocatedBytes: allocated, touchMs,
  })}\n`,
);
