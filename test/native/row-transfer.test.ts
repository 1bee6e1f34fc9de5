// Whole rows between two stores through the TypeScript wrapper (FeatureStore.exportRows /
// importRows, what the online store moves through Redis): the round trip reads the same,
// absent keys are reported, present entities keep their rows, short buffers are refused,
// and a store attached read-only cannot import.
import { describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { FeatureStore, hashIds } from '../../src/native/binding.js';
import { HotpathError } from '../../src/errors.js';

function make() {
  const config = compileConfig({
    streams: { s: { keys: { e: 'id' }, allowed_lateness: '1h', fields: { v: 'number' } } },
    entities: { e: { memory: '4MiB', features: { n: { agg: 'count', window: '10m', tile: '1m' }, top: { agg: 'max', field: 'v', window: '10m', tile: '1m' }, recent: { agg: 'last_n', field: 'v', n: 3 } } } },
  });
  return FeatureStore.create(config.storeSpec);
}

const NOW = 1_000_000_000;

describe('exportRows / importRows', () => {
  it('a round trip between two stores reads the same; absent keys are reported; present rows are kept', () => {
    const a = make();
    const b = make();
    const ids = ['x', 'y', 'z', 'x', 'x'];
    a.ingest(0, [ids], Float64Array.from(ids, (_, i) => NOW - 1000 * i), Float64Array.from(ids, (_, i) => i + 1), NOW);
    b.ingest(0, [['z']], new Float64Array([NOW]), new Float64Array([100]), NOW);
    const rb = a.layout(0).rowBytes;
    expect(rb).toBeGreaterThan(0);
    const keys = hashIds(['x', 'y', 'z', 'absent']);
    const rows = new Uint8Array(keys.length * rb);
    const found = new Uint8Array(keys.length);
    expect(a.exportRows(0, keys, rows, found)).toBe(3);
    expect(Array.from(found)).toEqual([1, 1, 1, 0]);
    const result = new Uint8Array(3);
    expect(b.importRows(0, keys.subarray(0, 3), rows.subarray(0, 3 * rb), result, NOW)).toBe(2);
    expect(Array.from(result)).toEqual([1, 1, 2]); // z was present in b: kept
    const outA = new Float64Array(5);
    const outB = new Float64Array(5);
    for (const id of ['x', 'y']) {
      const ra = a.read(0, id, NOW, outA);
      const rbb = b.read(0, id, NOW, outB);
      expect(rbb).toEqual(ra);
      expect(Array.from(outB)).toEqual(Array.from(outA));
    }
    b.read(0, 'z', NOW, outB);
    expect(outB[0]).toBe(1);
    expect(outB[1]).toBe(100);
  });

  it('refuses buffers too short for the keys, and imports only on the writer handle', () => {
    const a = make();
    const keys = hashIds(['x', 'y']);
    const rb = a.layout(0).rowBytes;
    expect(() => a.exportRows(0, keys, new Uint8Array(rb), new Uint8Array(2))).toThrow(HotpathError);
    expect(() => a.exportRows(0, keys, new Uint8Array(2 * rb), new Uint8Array(1))).toThrow(HotpathError);
    expect(() => a.importRows(0, keys, new Uint8Array(rb), new Uint8Array(2))).toThrow(HotpathError);
    const reader = FeatureStore.attach(a.id, 1);
    expect(reader.exportRows(0, keys, new Uint8Array(2 * rb), new Uint8Array(2))).toBe(0);
    expect(() => reader.importRows(0, keys, new Uint8Array(2 * rb), new Uint8Array(2))).toThrow(/read-only/);
  });
});
