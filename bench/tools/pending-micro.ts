// What the pool pays per request to keep it among a worker's unanswered requests and find it
// by its answer's id (src/runtime/pending.ts), against the Map<id, request> per worker it
// replaced: add at submit, get and delete at the answer. 64 requests in flight (wrk -c64's
// window), answered oldest first in batches of 20 (the floor's mean batch at the maximum),
// one worker; 7 alternating rounds of 2M requests each, ns per request (medians, and every
// round). One thread, in process: the main thread's cost without the server around it.
//
//   taskset -c 1 npx tsx bench/tools/pending-micro.ts
import { PendingIds, PendingList } from '../../src/runtime/pending.js';
import { PoolRequest } from '../../src/runtime/pool-request.js';

const IN_FLIGHT = 64;
const BATCH = 20;
const N = 2_000_000;

// the pool's request objects, reused as the pool's free list reuses them
const free: PoolRequest[] = [];
for (let i = 0; i < IN_FLIGHT + BATCH; i++) free.push(new PoolRequest());

function runMap(): number {
  const pending = new Map<number, PoolRequest>();
  const inFlight: number[] = [];
  let nextId = 1;
  let sink = 0;
  for (let n = 0; n < N; ) {
    while (inFlight.length < IN_FLIGHT) {
      const r = free.pop()!;
      r.id = nextId++;
      pending.set(r.id, r);
      inFlight.push(r.id);
    }
    for (let k = 0; k < BATCH; k++, n++) {
      const id = inFlight.shift()!;
      const r = pending.get(id)!;
      pending.delete(r.id);
      sink += r.id & 1;
      free.push(r);
    }
  }
  for (const r of pending.values()) free.push(r);
  return sink;
}

function runPending(): number {
  const list = new PendingList();
  const ids = new PendingIds();
  const inFlight: number[] = [];
  let nextId = 1;
  let sink = 0;
  for (let n = 0; n < N; ) {
    while (inFlight.length < IN_FLIGHT) {
      const r = free.pop()!;
      r.id = nextId++;
      list.add(r);
      ids.add(r);
      inFlight.push(r.id);
    }
    for (let k = 0; k < BATCH; k++, n++) {
      const id = inFlight.shift()!;
      const r = ids.get(id)!;
      list.delete(r);
      ids.delete(r);
      sink += r.id & 1;
      free.push(r);
    }
  }
  for (const r of list.takeAll()) {
    ids.delete(r);
    free.push(r);
  }
  return sink;
}

const runs: [string, () => number][] = [
  ['Map<id, request> per worker: set, get, delete', runMap],
  ['PendingList + PendingIds: add, get, delete', runPending],
];
const ns = new Map<string, number[]>();
let sink = 0;
for (let round = 0; round < 7; round++) {
  for (const [name, run] of round % 2 === 0 ? runs : [...runs].reverse()) {
    const t0 = process.hrtime.bigint();
    sink += run();
    ns.set(name, [...(ns.get(name) ?? []), Number(process.hrtime.bigint() - t0) / N]);
  }
}
for (const [name, xs] of ns) {
  const s = [...xs].sort((a, b) => a - b);
  console.log(`${name}: median ${s[s.length >> 1].toFixed(1)} ns per request (${xs.map((x) => x.toFixed(1)).join(' ')})`);
}
if (sink === 0) console.log('(sink 0)');
