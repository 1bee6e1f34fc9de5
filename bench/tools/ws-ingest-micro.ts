// Binary EVENTS frames applied in one process, without the network: through the native row
// decoder (Ingestor.rows: what /v1/ws does) and through the object path it replaced
// (decodeClientFrame into one object per event, then Ingestor.events). The same frames, the
// demo stream, alternating rounds; events/s each. Round 1 also inserts every entity (the
// tables start empty): compare the later rounds.
//   npx tsx bench/tools/ws-ingest-micro.ts [--ids 100000] [--batch 1000] [--rounds 3]
import { parseArgs } from 'node:util';

import { loadConfigFile } from '../../src/config/load.js';
import { createStore } from '../../src/server/app.js';
import { Ingestor } from '../../src/ingest/ingestor.js';
import { decodeClientFrame, decodeEventsHeader, encodeEvents } from '../../src/server/ws-protocol.js';

const { values } = parseArgs({ options: { ids: { type: 'string', default: '100000' }, batch: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '3' } } });
const ids = Number(values.ids);
const batch = Number(values.batch);
const config = loadConfigFile(new URL('../../hotpath.yaml', import.meta.url).pathname);
const columns: { name: string; type: 'number' | 'string' }[] = ['user_id', 'merchant_id', 'country', 'channel'].map((name) => ({ name, type: 'string' }));
columns.splice(2, 0, { name: 'amount', type: 'number' });
const frames = Array.from({ length: 50 }, (_, f) =>
  encodeEvents(f + 1, 'transactions', columns, Array.from({ length: batch }, (_, k) => {
    const i = f * batch + k;
    return [`user-${(i % ids) + 1}`, `merchant-${(i % Math.ceil(ids / 10)) + 1}`, (i % 97) + 1, 'FR', 'web'];
  })));
const N = 400; // frames per measurement
const paths = {
  'native rows (Ingestor.rows)': (store: ReturnType<typeof createStore>, frame: Uint8Array) => new Ingestor(store, config).rows(decodeEventsHeader(frame), 'ws'),
  'objects (decodeClientFrame + Ingestor.events)': (store: ReturnType<typeof createStore>, frame: Uint8Array) => {
    const f = decodeClientFrame(frame);
    if (f.op !== 'events') throw new Error('not an events frame');
    return new Ingestor(store, config).events(f.events, 'ws', Date.now(), f.stream);
  },
};
const stores = Object.fromEntries(Object.keys(paths).map((k) => [k, createStore(config)]));
for (let round = 1; round <= Number(values.rounds); round++) {
  for (const [name, apply] of Object.entries(paths)) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) apply(stores[name], frames[i % frames.length]);
    const s = (performance.now() - t0) / 1000;
    console.log(`round ${round}  ${name.padEnd(44)} ${((N * batch) / s / 1e6).toFixed(2)} M events/s`);
  }
}
