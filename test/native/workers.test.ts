// One writer, many readers on other threads: no torn reads, readers never block the
// writer; the addon loads in several worker_threads at once.
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { FeatureStore } from '../../src/native/binding.js';

const config = compileConfig({
  streams: { s: { keys: { e: 'id' }, time_field: 'ts', fields: { one: 'number', seq: 'number' } } },
  entities: {
    e: {
      memory: '16MiB',
      features: {
        count: { agg: 'count', window: '1h' },
        sum_one: { agg: 'sum', field: 'one', window: '1h' },
        max_seq: { agg: 'max', field: 'seq', window: '1h' },
        last_seq: { agg: 'last', field: 'seq' },
        last4: { agg: 'last_n', field: 'seq', n: 4 },
      },
    },
  },
});

function runWorker(data: object): Promise<{ reads: number; found: number; violations: string[]; writeRefused: string; ownCount: number; ownLast: number }> {
  return new Promise((resolve, reject) => {
    const entry = new URL('../support/reader-worker.ts', import.meta.url).href;
    const w = new Worker(new URL('../support/ts-worker.mjs', import.meta.url), { workerData: { ...data, entry } });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
  });
}

describe('feature store across threads', () => {
  it('readers in 3 workers never see a torn row while the main thread writes', async () => {
    const store = FeatureStore.create(config.storeSpec);
    const ids = ['a', 'b', 'c', 'd'];
    const durationMs = 1500;
    const workers = [0, 1, 2].map(() => runWorker({ storeId: store.id, tables: 1, ids, spec: config.storeSpec, durationMs }));

    // Write continuously: per id, seq increases by 1 with each event, value one = 1.
    const t0 = Date.now() - 10_000;
    const seq = new Map(ids.map((id) => [id, 0]));
    let written = 0;
    const batch = 64;
    const keys: string[] = new Array(batch);
    const ts = new Float64Array(batch);
    const values = new Float64Array(batch * 2);
    const end = Date.now() + durationMs + 300;
    while (Date.now() < end) {
      for (let i = 0; i < batch; i++) {
        const id = ids[i % ids.length];
        const s = seq.get(id)! + 1;
        seq.set(id, s);
        keys[i] = id;
        ts[i] = t0 + written / 1000; // strictly increasing, within the hour
        values[i * 2] = 1;
        values[i * 2 + 1] = s;
        written++;
      }
      store.ingest(0, [keys], ts, values, Date.now());
      // Let the event loop breathe now and then so worker start-up is not starved.
      if (written % (batch * 256) === 0) await new Promise((r) => setImmediate(r));
    }
    const results = await Promise.all(workers);

    const out = new Float64Array(store.layout(0).width);
    store.read(0, 'a', Date.now(), out);
    expect(out[0]).toBe(seq.get('a'));
    for (const r of results) {
      expect(r.violations).toEqual([]);
      expect(r.found).toBeGreaterThan(1000);
      expect(r.writeRefused).toBe('HP_ERR_NATIVE_UNAVAILABLE');
      expect(r.ownCount).toBe(1);
      expect(r.ownLast).toBe(7);
    }
    expect(written).toBeGreaterThan(10_000);
  });

  it('attaching to a store id that does not exist fails with a code', () => {
    expect(() => FeatureStore.attach(987654, 1)).toThrow(expect.objectContaining({ code: 'HP_ERR_NATIVE_NOT_FOUND' }));
  });
});
