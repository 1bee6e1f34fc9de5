// The store micro-benchmark's arguments, feature set, workload and measurement helpers,
// shared by its parent (bench/store-micro.ts) and its children (bench/store-micro-children.ts).
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { ADDON_PATH } from '../src/native/binding.js';
import { makeWorkload as makeWorkloadFor } from './store-workload.js';

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
export { HOUR_MS, MERCHANTS, SHARDS, TILE_MS } from './store-workload.js';

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
// The feature set and the workload: bench/store-workload.ts (shared with bench/durability)

export { configObject, idsOf, keyColumn, rng, sizedSpec } from './store-workload.js';
export type { Workload } from './store-workload.js';

export function makeWorkload(entities: number, events: number, dist: 'uniform' | 'zipf', seed: number) {
  return makeWorkloadFor(entities, events, dist, seed, ZIPF_S);
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
