// FeatureStore.readJson writes numbers in C++ (native/binding/feature_json.h): they must
// read exactly as JavaScript's Number#toString writes them, through JSON.stringify, for
// awkward values (negative zero, the exponent thresholds 1e21 and 1e-7, the shortest
// round-trip digits of 0.1 + 0.2, subnormals, the largest double) and random bit patterns;
// ids are quoted as JSON.stringify quotes them (escapes, non-ASCII, lone surrogates).
import { describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { Ingestor } from '../../src/ingest/ingestor.js';
import { createStore } from '../../src/server/app.js';
import { FeatureReader } from '../../src/server/features.js';

const YAML = `
streams:
  tx:
    keys: { user: user_id }
    time_field: ts
    allowed_lateness: 1h
    fields: { amount: number }
entities:
  user:
    features:
      last:   { agg: last, field: amount }
      last3:  { agg: last_n, field: amount, n: 3 }
      n:      { agg: count, window: 10m, tile: 1m }
      lo:     { agg: min, field: amount, window: 10m, tile: 1m }
`;

const AWKWARD = [
  -0, 0, 1, -1, 0.1 + 0.2, 1e21, 1e21 * 1.5, 999999999999999900000, 1e20, 123456789012345680000, 1e-7, 1e-6, 1.5e-7, 0.000001234, -1e-7,
  5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e15, 1e15 + 0.5, 1e16, 4.35,
  0.5, 100, 1e100, 1.2345678901234567e-300, 123.456, -98765.4321, 1 / 3, 2 / 3, 1e-5 * 3, 9.999999999999999e22,
];

function randomDoubles(n: number): number[] {
  let seed = 12345;
  const rand = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
  const dv = new DataView(new ArrayBuffer(8));
  const out: number[] = [];
  while (out.length < n) {
    dv.setUint32(0, rand());
    dv.setUint32(4, rand());
    const v = dv.getFloat64(0);
    if (Number.isFinite(v)) out.push(v);
    out.push(rand() / 1000, (rand() - 2 ** 31) / 7, rand() * 1e-9);
  }
  return out;
}

describe('FeatureStore.readJson numbers and ids', () => {
  const config = loadConfigText(YAML);
  const store = createStore(config);
  const entity = config.entities[0];
  const reader = new FeatureReader(store);
  const now = Date.now();

  it('writes every number as JSON.stringify does', () => {
    const values = [...AWKWARD, ...randomDoubles(4000)];
    const events = values.map((amount, i) => ({ user_id: `u${i}`, amount, ts: now - 1000 }));
    // a list of three awkward values per entity too
    for (let i = 0; i < AWKWARD.length; i++) events.push({ user_id: `list${i}`, amount: AWKWARD[i], ts: now - 3000 }, { user_id: `list${i}`, amount: AWKWARD[(i + 7) % AWKWARD.length], ts: now - 2000 });
    const ingested = new Ingestor(store, config).events(events, 'replay', now);
    expect(ingested.accepted ?? events.length).toBe(events.length);
    let compared = 0;
    for (const id of [...values.map((_, i) => `u${i}`), ...AWKWARD.map((_, i) => `list${i}`), 'absent']) {
      for (const at of [now, now + 0.25, now - 1e-3]) {
        const [r] = reader.read(entity, [id], entity.allFeatures, at);
        const got = reader.readJson(entity, id, entity.allFeatures, at);
        expect(got.json).toBe(JSON.stringify({ entity: entity.name, at, ...r }));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(12000);
    // the values round-trip: the text is the shortest that reads back as the same double
    const [r] = reader.read(entity, ['u4'], entity.allFeatures, now);
    expect(JSON.parse(reader.readJson(entity, 'u4', entity.allFeatures, now).json).features.last).toBe(r.features.last);
    expect(reader.readJson(entity, 'u5', [0], now).json).toContain('"last":1e+21');
    expect(reader.readJson(entity, 'u10', [0], now).json).toContain('"last":1e-7');
    expect(reader.readJson(entity, 'u0', [0], now).json).toContain('"last":0}'); // -0
  });

  it('quotes ids as JSON.stringify does', () => {
    const ids = ['plain', 'q"uote', 'back\\slash', 'nl\nx', '\u0001\u001f', 'ünï', '日本', '😀', 'lone\ud800x', 'lone\udc00', 'end\ud83d', '\u007f\u0080\u07ff\u0800\uffff'];
    new Ingestor(store, config).events(ids.map((user_id) => ({ user_id, amount: 1, ts: now - 1000 })), 'replay', now);
    for (const id of [...ids, 'absent"\u0000']) {
      const [r] = reader.read(entity, [id], [0, 1], now);
      expect(reader.readJson(entity, id, [0, 1], now).json).toBe(JSON.stringify({ entity: entity.name, at: now, ...r }));
    }
  });

  it('grows its text buffer for a long answer', () => {
    const lists = [1, 2, 3, 4].map((k) => `      l${k}: { agg: last_n, field: amount, n: 64 }\n`).join('');
    const wide = loadConfigText(YAML.replace('n: 3 }\n', `n: 3 }\n${lists}`));
    const wideStore = createStore(wide);
    const wideReader = new FeatureReader(wideStore);
    const id = '\u0001'.repeat(120) + '"'.repeat(100);
    const events = Array.from({ length: 64 }, (_, i) => ({ user_id: id, amount: (0.1 + 0.2) * (i + 1) * 1e-7, ts: now - 100_000 + i }));
    new Ingestor(wideStore, wide).events(events, 'replay', now);
    for (let i = 0; i < 3; i++) {
      const [r] = wideReader.read(wide.entities[0], [id], wide.entities[0].allFeatures, now);
      const got = wideReader.readJson(wide.entities[0], id, wide.entities[0].allFeatures, now).json;
      expect(got.length).toBeGreaterThan(4096);
      expect(got).toBe(JSON.stringify({ entity: 'user', at: now, ...r }));
    }
  });
});
