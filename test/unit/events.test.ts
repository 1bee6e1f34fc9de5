// Event decoding rules that are easy to get subtly wrong.
import { describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { createStore } from '../../src/server/app.js';
import { categoryValue, decodeEvents, idOf, timeOf } from '../../src/ingest/decode.js';

describe('categoryValue', () => {
  it('takes integers as themselves and canonical integer strings as the same value', () => {
    expect(categoryValue(42)).toBe(42);
    expect(categoryValue('42')).toBe(42);
    expect(categoryValue('-7')).toBe(-7);
    expect(categoryValue('042')).not.toBe(42); // not canonical: hashed like any string
    expect(categoryValue('FR')).toBe(categoryValue('FR'));
    expect(categoryValue('FR')).not.toBe(categoryValue('DE'));
    expect(Number.isSafeInteger(categoryValue('some long string value')!)).toBe(true);
  });
  it('refuses what is neither', () => {
    for (const v of [1.5, NaN, true, null, {}, [], '99999999999999999999']) {
      if (typeof v === 'string') expect(Number.isSafeInteger(categoryValue(v)!)).toBe(true);
      else expect(categoryValue(v)).toBeUndefined();
    }
  });
});

describe('timeOf', () => {
  it('accepts epoch ms as a number or digits, and ISO-8601', () => {
    expect(timeOf(1714564800000)).toBe(1714564800000);
    expect(timeOf('1714564800000')).toBe(1714564800000);
    expect(timeOf('2024-05-01T12:00:00Z')).toBe(Date.UTC(2024, 4, 1, 12));
    expect(timeOf('2024-05-01T14:00:00+02:00')).toBe(Date.UTC(2024, 4, 1, 12));
  });
  it('refuses other date forms, negatives and non-finite numbers', () => {
    for (const v of ['March 7, 2024', 'yesterday', '', '-5', -1, Infinity, NaN, null, {}, 1e300, 8.64e15 + 1]) expect(timeOf(v)).toBeUndefined();
    expect(timeOf(8.64e15)).toBe(8.64e15);
  });
});

describe('idOf', () => {
  it('keeps ids up to 256 UTF-8 bytes and integers as decimal', () => {
    expect(idOf(7)).toBe('7');
    expect(idOf('x'.repeat(256))).toBe('x'.repeat(256));
    expect(idOf('é'.repeat(128))).toBe('é'.repeat(128));
    expect(idOf('é'.repeat(129))).toBeUndefined();
    expect(idOf('')).toBeUndefined();
    expect(idOf(1.5)).toBeUndefined();
  });
});

describe('decodeEvents', () => {
  const config = compileConfig({
    streams: { s: { keys: { user: 'uid' }, time_field: 'ts', fields: { uid: 'category', v: 'number' } } },
    entities: { user: { features: { n: { agg: 'distinct', field: 'uid', window: '1m' } } } },
  });
  it('reads a key field that is also a category value from the same property', () => {
    const [b] = decodeEvents(config, [{ uid: 'u1', v: 1 }, { uid: 42, v: 2 }], 1_000_000);
    expect(b.keys[0]).toEqual(['u1', '42']);
    expect(b.values[0]).toBe(categoryValue('u1'));
    expect(b.values[2]).toBe(42);
    expect(Array.from(b.ts)).toEqual([1_000_000, 1_000_000]); // no ts: arrival time
  });
});

describe('decodeEvents with names Object.prototype has', () => {
  const config = compileConfig({
    streams: { s: { keys: { user: 'constructor' }, time_field: 'toString', fields: { valueOf: 'number' } } },
    entities: { user: { features: { n: { agg: 'count', window: '1m' } } } },
  });
  it('does not take an absent field from the prototype', () => {
    const [b] = decodeEvents(config, [{ constructor: 'u1', valueOf: 2 }], 1_000_000);
    expect(b.keys[0]).toEqual(['u1']);
    expect(Array.from(b.ts)).toEqual([1_000_000]); // no toString: arrival time
    expect(() => decodeEvents(config, [{ valueOf: 2 }], 1_000_000)).toThrow(expect.objectContaining({ code: 'HP_ERR_EVENT_INVALID', message: "event 0: missing key field 'constructor'" }));
    expect(() => decodeEvents(config, [{ constructor: 'u1' }], 1_000_000)).toThrow(expect.objectContaining({ message: "event 0: missing field 'valueOf'" }));
  });
});

describe('createStore', () => {
  it('reports a memory budget below one row as a config error', () => {
    const config = compileConfig({
      streams: { s: { keys: { user: 'uid' } } },
      entities: { user: { memory: 100, features: { n: { agg: 'count', window: '1h' } } } },
    });
    expect(() => createStore(config)).toThrow(expect.objectContaining({ code: 'HP_ERR_CONFIG_INVALID', message: expect.stringMatching(/table 'user': memory budget is smaller than one entity/) }));
  });
});
