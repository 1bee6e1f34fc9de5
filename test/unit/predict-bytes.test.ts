// readPredictBytes (the REST predict body read from its bytes) against the path it stands in
// for, JSON.parse and parsePredict: for every body, the same request or the same error.
import { describe, expect, it } from 'vitest';

import type { ModelEntry } from '../../src/runtime/registry.js';
import { parseJsonBody } from '../../src/server/http.js';
import { parsePredict, readPredictBytes } from '../../src/server/predict.js';

const entry = (categories = false): ModelEntry =>
  ({
    def: {
      name: 'fraud',
      inputs: [{}],
      keys: [{ entity: 'user', table: 0 }, { entity: 'merchant', table: 1 }],
      fields: ['amount', 'hour'],
      categoryFields: categories ? [false, true] : undefined,
    },
  }) as unknown as ModelEntry;

/** What the route's old path gives: the request, or the error's code and message. */
function slow(e: ModelEntry, body: Buffer, maxIdBytes: number): unknown {
  try {
    const r = parsePredict(e, parseJsonBody(body), maxIdBytes);
    return { ids: r.ids, idBytes: r.idBytes, fields: r.fields.map((f) => (Object.is(f, -0) ? '-0' : f)) };
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message };
  }
}

function fast(e: ModelEntry, body: Buffer, maxIdBytes: number): unknown {
  const r = readPredictBytes(e, body, maxIdBytes);
  if (r === undefined) return slow(e, body, maxIdBytes);
  return { ids: r.ids, idBytes: r.idBytes, fields: r.fields.map((f) => (Object.is(f, -0) ? '-0' : f)) };
}

const BODIES = [
  '{"entities":{"user":"user-1","merchant":"merchant-2"},"fields":{"amount":12,"hour":3}}',
  ' { "fields" : { "hour" : 3.5e1 , "amount" : -0 } , "entities" : { "merchant" : 7 , "user" : "u" } } \n',
  '{"entities":{"user":"user-1","merchant":"merchant-2","other":{"x":1}},"fields":{"amount":12,"hour":3}}',
  '{"entities":{"user":"user-1","merchant":"merchant-2","other":"x"},"fields":{"amount":12,"hour":3,"extra":1e400}}',
  '{"entities":{"user":"user-1","merchant":"merchant-2"},"fields":{"amount":1e400,"hour":3}}',
  '{"entities":{"user":"us\\u0065r","merchant":"m"},"fields":{"amount":1,"hour":3}}',
  '{"entities":{"user":"usér","merchant":"m"},"fields":{"amount":1,"hour":3}}',
  '{"entities":{"user":"","merchant":"m"},"fields":{"amount":1,"hour":3}}',
  '{"entities":{"user":"a-very-long-id-indeed","merchant":"m"},"fields":{"amount":1,"hour":3}}',
  '{"entities":{"user":"u","user":"v","merchant":"m"},"fields":{"amount":1,"hour":3}}',
  '{"entities":{"user":-0,"merchant":12345678901234567890},"fields":{"amount":1,"hour":3}}',
  '{"entities":{"user":1.5,"merchant":"m"},"fields":{"amount":1,"hour":3}}',
  '{"entities":{"user":1e2,"merchant":"m"},"fields":{"amount":1,"hour":3}}',
  '{"entities":{"user":"u","merchant":"m"},"fields":{"amount":"1","hour":3}}',
  '{"entities":{"user":"u","merchant":"m"},"fields":{"amount":1}}',
  '{"entities":{"user":"u"},"fields":{"amount":1,"hour":2}}',
  '{"fields":{"amount":1,"hour":2}}',
  '{"entities":{"user":"u","merchant":"m"},"fields":{"amount":01,"hour":3}}',
  '{"entities":{"user":"u","merchant":"m"},"fields":{"amount":1.,"hour":3}}',
  '{"entities":{"user":"u","merchant":"m"},"fields":{"amount":1,"hour":3},}',
  '{"entities":{"user":"u","merchant":"m"},"fields":{"amount":1,"hour":3}} x',
  '{"entities":{"user":"u","merchant":"m"},"fields":{"amount":123456789012345678,"hour":0.1}}',
  '{"entities":{},"fields":{}}',
  '{"entities":[],"fields":{}}',
  '{"entities":null,"fields":{"amount":1,"hour":2}}',
  '[]',
  '',
  '   ',
  'null',
  '{',
  '{"entities":{"user":"u","merchant":"m"},"fields":{"amount":1,"hour":3},"x":1}',
  '{"entities":{"user":"u","merchant":"m"},"entities":{"user":"u","merchant":"m"},"fields":{"amount":1,"hour":3}}',
  '\ufeff{"entities":{"user":"u","merchant":"m"},"fields":{"amount":1,"hour":3}}',
];

describe('readPredictBytes', () => {
  it('gives what JSON.parse and parsePredict give, request or error, for these bodies', () => {
    for (const e of [entry(), entry(true)])
      for (const b of BODIES) for (const max of [8, 256]) expect([b, max, fast(e, Buffer.from(b), max)]).toEqual([b, max, slow(e, Buffer.from(b), max)]);
  });

  it('reads the common body itself (no fallback), and a view into a larger buffer', () => {
    const b = '{"entities":{"user":"user-12","merchant":"merchant-3"},"fields":{"amount":250,"hour":-1.25e-3}}';
    expect(readPredictBytes(entry(), Buffer.from(b))).toMatchObject({ ids: ['user-12', 'merchant-3'], idBytes: [7, 10], fields: [250, -1.25e-3] });
    const big = Buffer.from(`xx${b}yy`);
    expect(readPredictBytes(entry(), big.subarray(2, 2 + b.length))).toMatchObject({ ids: ['user-12', 'merchant-3'] });
    expect(readPredictBytes(entry(true), Buffer.from(b))).toBeUndefined(); // a learner's category field: JSON.parse's path
  });

  it('agrees with the old path on random mutations of a body', () => {
    const base = '{"entities":{"user":"user-1","merchant":42},"fields":{"amount":-12.5e2,"hour":3}}';
    const alphabet = '{}[]":,.-+eE0123456789 \\uaé\n';
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    for (let t = 0; t < 5000; t++) {
      const chars = [...base];
      for (let m = rnd(3) + 1; m > 0; m--) {
        const at = rnd(chars.length);
        const op = rnd(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[rnd(alphabet.length)]);
        else chars[at] = alphabet[rnd(alphabet.length)];
      }
      const b = Buffer.from(chars.join(''));
      expect([b.toString(), fast(entry(), b, 16)]).toEqual([b.toString(), slow(entry(), b, 16)]);
    }
  });
});
