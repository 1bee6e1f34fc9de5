// GET /v1/features writes its answer as JSON text straight from the read buffer
// (FeatureReader.readJson); it must say exactly what JSON.stringify of the object form says,
// for every aggregate, absent entities, selections, past read times and odd ids.
import { describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { createStore } from '../../src/server/app.js';
import { Ingestor } from '../../src/ingest/ingestor.js';
import { FeatureReader } from '../../src/server/features.js';
import { nowMs } from '../../src/runtime/records.js';

const YAML = `
streams:
  tx:
    keys: { user: user_id }
    time_field: ts
    allowed_lateness: 1h
    fields: { amount: number, country: category }
entities:
  user:
    features:
      n:      { agg: count, window: 10m, tile: 1m }
      sum:    { agg: sum, field: amount, window: 10m, tile: 1m }
      mean:   { agg: mean, field: amount, window: 10m, tile: 1m }
      lo:     { agg: min, field: amount, window: 10m, tile: 1m }
      hi:     { agg: max, field: amount, window: 10m, tile: 1m }
      sd:     { agg: stddev, field: amount, window: 10m, tile: 1m }
      last:   { agg: last, field: amount }
      last3:  { agg: last_n, field: amount, n: 3 }
      ewm:    { agg: ewm, field: amount, half_life: 1m }
      places: { agg: distinct, field: country, window: 1h }
`;

describe('FeatureReader.readJson', () => {
  it('matches JSON.stringify of read() for every case', () => {
    const config = loadConfigText(YAML);
    const store = createStore(config);
    const now = Date.now();
    const ids = ['a', 'b"quoted"', 'ünïcødé-日本', '42', 'tab\there', 'solo'];
    const events = [];
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
    for (let i = 0; i < 300; i++)
      events.push({ user_id: ids[i % 5], amount: Math.round((rand() - 0.3) * 1e4) / 7, country: ['FR', 'DE', 'US'][i % 3], ts: now - 3_000_000 + i * 10_000 });
    events.push({ user_id: 'solo', amount: 1e-7, country: 'FR', ts: now - 1000 });
    new Ingestor(store, config).events(events, 'replay', now);
    const reader = new FeatureReader(store);
    const entity = config.entities[0];
    const selections = [entity.allFeatures, [7], [2, 0], [9, 7, 1]];
    let compared = 0;
    for (const id of [...ids, 'never-seen']) {
      for (const select of selections) {
        for (const at of [now, now - 2_000_000, now + 5000]) {
          const [r] = reader.read(entity, [id], select, at);
          const want = JSON.stringify({ entity: entity.name, at, ...r });
          const got = reader.readJson(entity, id, select, at);
          expect(got.json).toBe(want);
          expect(got.ageMs).toBe(r.freshness_ms);
          compared++;
        }
      }
    }
    expect(compared).toBe(84);
    // The comparison covers values that matter: nulls, lists, fractions, found and not.
    const sample = reader.readJson(entity, 'a', entity.allFeatures, now).json;
    expect(sample).toContain('"last3":[');
    expect(reader.readJson(entity, 'never-seen', entity.allFeatures, now).json).toContain('"found":false');
  });

  it('notes a timed read\'s start and end on nowMs()\'s scale, from the native read or around it', () => {
    const config = loadConfigText(YAML);
    const store = createStore(config);
    const now = Date.now();
    new Ingestor(store, config).events([{ user_id: 'a', amount: 3, country: 'FR', ts: now - 1000 }], 'replay', now);
    const reader = new FeatureReader(store);
    const entity = config.entities[0];
    for (const select of [entity.allFeatures, [2, 0]]) {
      for (let i = 0; i < 50; i++) {
        const before = nowMs();
        const body = String(reader.readAnswer(entity, 'a', select, now, true).body);
        const after = nowMs();
        expect(body).toContain('"found":true');
        expect(reader.readEnd).toBeGreaterThanOrEqual(reader.readStart);
        // calibrated to within a µs or so (nowMs() itself resolves about 0.24 µs at today's epoch)
        expect(reader.readStart).toBeGreaterThan(before - 0.005);
        expect(reader.readEnd).toBeLessThan(after + 0.005);
      }
    }
  });
});
