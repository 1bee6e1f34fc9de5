// entities.<name>.compact_slots (docs/config.md "Budget"): a table of busy entities (each
// with more than 16 tiles of a ring in its windows) promotes every row, so in compact form
// (the default) its budget holds fewer of them than its capacity and evicts the rest; with
// compact_slots: 0 the rows stay in full form and the same budget holds all of them, with
// the same reads. A bad value is refused by the config, naming the field.
import { describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';
import { FeatureStore } from '../../src/native/binding.js';

const MIN = 60_000;

function config(compactSlots?: number): ReturnType<typeof compileConfig> {
  return compileConfig({
    store: { max_future: '10s' },
    streams: { s: { keys: { e: 'id' }, fields: { v: 'number' } } },
    entities: {
      e: {
        memory: '2MiB',
        shards: 1,
        ...(compactSlots === undefined ? {} : { compact_slots: compactSlots }),
        features: {
          n_1h: { agg: 'count', window: '1h', tile: '1m' },
          sum_1h: { agg: 'sum', field: 'v', window: '1h', tile: '1m' },
          max_10m: { agg: 'max', field: 'v', window: '10m', tile: '1m' },
        },
      },
    },
  });
}

/** Fills the table to its capacity with entities that each have an event in 30 minutes of the last hour. */
function fill(compactSlots?: number): { store: FeatureStore; ids: string[]; now: number } {
  const store = FeatureStore.create(config(compactSlots).storeSpec);
  const n = store.stats(0).capacity;
  const ids = Array.from({ length: n }, (_, i) => `user-${i}`);
  const now = 1.7e12;
  for (let m = 30; m > 0; m--) {
    const ts = now - m * MIN;
    store.ingest(0, [ids], new Float64Array(n).fill(ts), Float64Array.from(ids, (_, i) => (i % 7) + m), ts);
  }
  return { store, ids, now };
}

describe('compact_slots', () => {
  it('keeps every busy entity of a full table in full form (0), where the compact form evicts some', () => {
    const compact = fill();
    const wire = fill(0);
    const c = compact.store.stats(0);
    const w = wire.store.stats(0);
    expect(w.capacity).toBe(c.capacity); // the same budget sizes the same capacity
    expect(w.memRowBytes).toBe(w.rowBytes); // rows in full form
    expect(c.memRowBytes).toBeLessThan(c.rowBytes);
    expect([w.live, w.promoted, w.evictedLru]).toEqual([w.capacity, 0, 0]);
    expect(c.evictedLru).toBeGreaterThan(0); // blocks for busy rows ran out: entities were evicted
    expect(c.allocatedBytes).toBeLessThanOrEqual(2 * 1024 ** 2);
    expect(w.allocatedBytes).toBeLessThanOrEqual(2 * 1024 ** 2);
    // In full form every entity kept its 30 events. An entity the compact table evicted
    // came back at its next event with a fresh row: its history is shorter. The entities
    // it kept whole read the same, bit for bit.
    const a = new Float64Array(3);
    const b = new Float64Array(3);
    let whole = 0;
    for (const id of wire.ids) {
      expect(wire.store.read(0, id, wire.now, b).found).toBe(true);
      expect(b[0]).toBe(30);
      if (!compact.store.read(0, id, compact.now, a).found || a[0] !== 30) continue;
      expect([...a]).toEqual([...b]);
      whole++;
    }
    expect(whole).toBeGreaterThan(0);
    expect(whole).toBeLessThan(c.capacity);
  });

  it('is refused out of 0..16 or not an integer, by the config, naming the field', () => {
    for (const bad of [17, -1, 1.5]) {
      let err: unknown;
      try {
        config(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HotpathError);
      expect((err as HotpathError).code).toBe('HP_ERR_CONFIG_INVALID');
      expect((err as Error).message).toMatch(/entities\/e\/compact_slots/);
    }
    expect(config(16).storeSpec.tables[0].compactSlots).toBe(16);
    expect(config().storeSpec.tables[0].compactSlots).toBe(-1);
  });
});
