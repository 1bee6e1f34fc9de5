// One process, no HTTP: the cost of a feature read's answer for the demo user row, built as
// an object and JSON.stringify'd, against FeatureReader.readJson (what GET uses), and the
// native read alone. 300k reads each over users 1..1000 with 20 events each.
//   npx tsx bench/tools/feature-read-micro.ts
import { loadConfigFile } from '../../src/config/load.js';
import { createStore } from '../../src/server/app.js';
import { Ingestor } from '../../src/ingest/ingestor.js';
import { FeatureReader } from '../../src/server/features.js';
import { standardEvents } from '../../src/bench/scenarios.js';

const config = loadConfigFile(new URL('../../hotpath.yaml', import.meta.url).pathname);
const store = createStore(config);
const now = Date.now();
const events = standardEvents(now);
const ingest = new Ingestor(store, config);
for (let i = 0; i < events.length; i += 5000) ingest.events(events.slice(i, i + 5000), 'replay', now);
const reader = new FeatureReader(store);
const user = config.entities[config.entityIndex.get('user')!];
const N = 300_000;
const time = (name: string, fn: (id: string) => unknown) => {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn(`user-${(i % 1000) + 1}`);
  console.log(`${name.padEnd(28)} ${(((performance.now() - t0) * 1000) / N).toFixed(2)} us per read`);
};
const out = new Float64Array(256);
for (let round = 0; round < 2; round++) {
  time('native read only', (id) => store.read(user.index, id, now, out));
  time('read + object + stringify', (id) => JSON.stringify({ entity: user.name, at: now, ...reader.read(user, [id], user.allFeatures, now)[0] }));
  time('readJson (as a string)', (id) => reader.readJson(user, id, user.allFeatures, now).json);
  time('readAnswer (the GET path)', (id) => reader.readAnswer(user, id, user.allFeatures, now).body);
}
