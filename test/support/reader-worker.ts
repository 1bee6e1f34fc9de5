// A reader thread for test/native/workers.test.ts: attaches read-only to the main
// thread's store and checks, on every read, invariants that a torn read would break.
// It also creates a store of its own, to show the addon works per thread.
import { parentPort, workerData } from 'node:worker_threads';

import { FeatureStore } from '../../src/native/binding.js';

interface Data {
  storeId: number;
  tables: number;
  ids: string[];
  spec: ConstructorParameters<typeof Object>[0];
  durationMs: number;
}
const data = workerData as Data;

const store = FeatureStore.attach(data.storeId, data.tables);
let writeRefused = '';
try {
  store.ingest(0, [['x']], new Float64Array([Date.now()]), new Float64Array([1, 1]));
} catch (err) {
  writeRefused = (err as { code?: string }).code ?? 'unknown';
}

// A private store in this thread: the addon instance here is independent of the others.
const own = FeatureStore.create(data.spec as never);
const t0 = Date.now();
own.ingest(0, [['self']], new Float64Array([t0]), new Float64Array([1, 7]));
const ownOut = new Float64Array(own.layout(0).width);
own.read(0, 'self', t0, ownOut);

const layout = store.layout(0);
const out = new Float64Array(layout.width);
let reads = 0;
let found = 0;
const violations: string[] = [];
const end = Date.now() + data.durationMs;
while (Date.now() < end) {
  for (const id of data.ids) {
    const r = store.read(0, id, Date.now() + 1000, out);
    reads++;
    if (!r.found) continue;
    found++;
    // features: [count, sum(one), max(seq), last(seq), last_n(seq, 4)]
    const [count, sum, max, last] = out;
    const lastN = out.subarray(layout.offsets[4], layout.offsets[4] + 4);
    let bad = '';
    if (count !== sum) bad = `count ${count} != sum ${sum}`;
    else if (max !== last) bad = `max ${max} != last ${last}`;
    else if (lastN[0] !== last) bad = `last_n[0] ${lastN[0]} != last ${last}`;
    else {
      for (let k = 1; k < 4 && !Number.isNaN(lastN[k]); k++) {
        if (lastN[k] !== lastN[k - 1] - 1) bad = `last_n not consecutive: ${Array.from(lastN).join(',')}`;
      }
    }
    if (bad && violations.length < 5) violations.push(`${id}: ${bad}`);
  }
}
parentPort!.postMessage({ reads, found, violations, writeRefused, ownCount: ownOut[0], ownLast: ownOut[3] });
