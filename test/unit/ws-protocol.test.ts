// The binary /v1/ws frames: round trips and every way a frame can be malformed.
import { describe, expect, it } from 'vitest';

import { HotpathError } from '../../src/errors.js';
import {
  WS_OP,
  decodeClientFrame,
  decodeServerFrame,
  encodeError,
  encodeEvents,
  encodeEventsResult,
  encodePredict,
  encodePredictResult,
} from '../../src/server/ws-protocol.js';

function frameError(fn: () => unknown): HotpathError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HotpathError);
    expect((err as HotpathError).code).toBe('HP_ERR_WS_FRAME_INVALID');
    return err as HotpathError;
  }
  throw new Error('expected HP_ERR_WS_FRAME_INVALID, nothing was thrown');
}

const predict = { id: 42, model: 'fraud', entities: { user: 'u-1', merchant: 'm-😀é' }, fields: { amount: 12.5, hour: -3 } };
const columns = [
  { name: 'uid', type: 'string' as const },
  { name: 'amount', type: 'number' as const },
  { name: 'ts', type: 'number' as const },
];
const rows = [
  ['u1', 1.25, 1714564800000],
  ['ユーザー', -0.5, 1714564800001],
];

describe('header', () => {
  it('is op, flags 0, reserved 0, then the id, little-endian', () => {
    const f = encodeEventsResult(0x01020304, 7, 1);
    expect(Array.from(f.subarray(0, 8))).toEqual([WS_OP.EVENTS_RESULT, 0, 0, 0, 4, 3, 2, 1]);
    expect(f.length).toBe(16);
  });
});

describe('client frames', () => {
  it('round trips PREDICT with multi-byte UTF-8', () => {
    const f = encodePredict(predict);
    expect(f[0]).toBe(WS_OP.PREDICT);
    expect(decodeClientFrame(f)).toEqual({ op: 'predict', ...predict });
    // An ArrayBuffer and a view at an odd offset decode the same.
    expect(decodeClientFrame(f.slice().buffer)).toEqual({ op: 'predict', ...predict });
    const shifted = new Uint8Array(f.length + 3);
    shifted.set(f, 3);
    expect(decodeClientFrame(shifted.subarray(3))).toEqual({ op: 'predict', ...predict });
  });

  it('round trips PREDICT with no entities or fields, and the largest id', () => {
    const p = { id: 0xffffffff, model: '', entities: {}, fields: {} };
    expect(decodeClientFrame(encodePredict(p))).toEqual({ op: 'predict', ...p });
  });

  it('lays PREDICT out byte for byte', () => {
    const f = encodePredict({ id: 1, model: 'm', entities: { u: 'x' }, fields: { a: 1 } });
    const expected = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0x6d, 1, 1, 0x75, 1, 0, 0x78, 1, 1, 0x61, ...new Uint8Array(new Float64Array([1]).buffer)];
    expect(Array.from(f)).toEqual(expected);
  });

  it('round trips EVENTS, long strings included', () => {
    const long = 'é'.repeat(1000);
    const all = [...rows, [long, Number.MAX_VALUE, 0]];
    const f = encodeEvents(9, 'clicks', columns, all);
    expect(decodeClientFrame(f)).toEqual({
      op: 'events',
      id: 9,
      stream: 'clicks',
      events: all.map(([uid, amount, ts]) => ({ uid, amount, ts })),
    });
  });

  it('round trips an empty events list', () => {
    expect(decodeClientFrame(encodeEvents(3, 's', columns, []))).toEqual({ op: 'events', id: 3, stream: 's', events: [] });
    expect(decodeClientFrame(encodeEvents(3, 's', [], []))).toEqual({ op: 'events', id: 3, stream: 's', events: [] });
  });

  it('refuses on encode what the format cannot hold', () => {
    const entities = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`e${i}`, 'x']));
    frameError(() => encodePredict({ id: 1, model: 'm', entities, fields: {} }));
    const ok = Object.fromEntries(Array.from({ length: 255 }, (_, i) => [`e${i}`, 'x']));
    expect((decodeClientFrame(encodePredict({ id: 1, model: 'm', entities: ok, fields: {} })) as { entities: object }).entities).toEqual(ok);
    const fields = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`f${i}`, i]));
    frameError(() => encodePredict({ id: 1, model: 'm', entities: {}, fields }));
    frameError(() => encodePredict({ id: 1, model: 'é'.repeat(128), entities: {}, fields: {} })); // 256 bytes
    frameError(() => encodePredict({ id: 1, model: 'm', entities: { u: 'x'.repeat(65536) }, fields: {} }));
    frameError(() => encodePredict({ id: -1, model: 'm', entities: {}, fields: {} }));
    frameError(() => encodePredict({ id: 2 ** 32, model: 'm', entities: {}, fields: {} }));
    const many = Array.from({ length: 256 }, (_, i) => ({ name: `c${i}`, type: 'number' as const }));
    frameError(() => encodeEvents(1, 's', many, []));
    frameError(() => encodeEvents(1, 's', columns, [['u', 1]]));
    frameError(() => encodeEvents(1, 's', columns, [[1, 1, 1]]));
    frameError(() => encodeEvents(1, 's', [], [[]]));
  });
});

describe('server frames', () => {
  it('round trips PREDICT_RESULT (f32 scores, unaligned)', () => {
    const f = encodePredictResult(5, { scores: new Float32Array([0.25, 0.75, -1]), fallback: true, version: 'v3', variant: 'canary-é', latencyUs: 180.5 });
    expect(decodeServerFrame(f)).toEqual({ op: 'predict_result', id: 5, scores: [0.25, 0.75, -1], fallback: true, version: 'v3', variant: 'canary-é', latencyUs: 180.5 });
    const g = decodeServerFrame(encodePredictResult(6, { scores: [0.1], fallback: false, version: '', variant: '', latencyUs: 0 }));
    expect(g).toEqual({ op: 'predict_result', id: 6, scores: [Math.fround(0.1)], fallback: false, version: '', variant: '', latencyUs: 0 });
  });

  it('round trips EVENTS_RESULT and ERROR', () => {
    expect(decodeServerFrame(encodeEventsResult(7, 1000, 3))).toEqual({ op: 'events_result', id: 7, accepted: 1000, late: 3 });
    expect(decodeServerFrame(encodeError(8, 'HP_ERR_MODEL_UNKNOWN', "no model 'ünknown'"))).toEqual({
      op: 'error',
      id: 8,
      code: 'HP_ERR_MODEL_UNKNOWN',
      message: "no model 'ünknown'",
    });
  });

  it('cuts an over-long error message at a character boundary', () => {
    const d = decodeServerFrame(encodeError(1, 'HP_ERR_INTERNAL', 'é'.repeat(40000))) as { message: string };
    expect(d.message).toBe('é'.repeat(32767));
  });
});

describe('malformed frames', () => {
  const valid = {
    predict: encodePredict(predict),
    events: encodeEvents(77, 'clicks', columns, rows),
  };

  for (const [kind, frame] of Object.entries(valid)) {
    it(`refuses every truncation of a ${kind} frame, with the id once the header is whole`, () => {
      const id = kind === 'predict' ? 42 : 77;
      for (let n = 0; n < frame.length; n++) {
        const err = frameError(() => decodeClientFrame(frame.slice(0, n)));
        if (n >= 8) expect(err.details).toEqual({ id });
        else expect(err.details).toBeUndefined();
      }
    });
    it(`refuses trailing bytes after a ${kind} frame`, () => {
      const longer = new Uint8Array(frame.length + 1);
      longer.set(frame);
      expect(frameError(() => decodeClientFrame(longer)).details).toEqual({ id: kind === 'predict' ? 42 : 77 });
    });
  }

  it('refuses every truncation of each server frame', () => {
    const frames = [
      encodePredictResult(5, { scores: [1, 2], fallback: false, version: 'v1', variant: 'a', latencyUs: 1 }),
      encodeEventsResult(5, 1, 0),
      encodeError(5, 'HP_ERR_INTERNAL', 'boom'),
    ];
    for (const f of frames) {
      for (let n = 0; n < f.length; n++) frameError(() => decodeServerFrame(f.slice(0, n)));
      const longer = new Uint8Array(f.length + 2);
      longer.set(f);
      expect(frameError(() => decodeServerFrame(longer)).details).toEqual({ id: 5 });
    }
  });

  it('refuses unknown ops, server ops from a client and non-zero header fields', () => {
    for (const op of [0, 3, WS_OP.PREDICT_RESULT, WS_OP.ERROR]) {
      const f = encodeEventsResult(11, 0, 0);
      f[0] = op;
      expect(frameError(() => decodeClientFrame(f)).details).toEqual({ id: 11 });
    }
    const flagged = encodePredict(predict);
    flagged[1] = 1;
    expect(frameError(() => decodeClientFrame(flagged)).details).toEqual({ id: 42 });
    const reserved = encodePredict(predict);
    reserved[3] = 1;
    expect(frameError(() => decodeClientFrame(reserved)).details).toEqual({ id: 42 });
  });

  it('refuses a bad column type', () => {
    const f = encodeEvents(12, 's', [{ name: 'a', type: 'number' }], [[1]]);
    // header 8, str8 's' 2, nColumns 1, str8 'a' 2, then the type byte
    expect(f[13]).toBe(1);
    for (const t of [0, 3, 255]) {
      f[13] = t;
      expect(frameError(() => decodeClientFrame(f)).details).toEqual({ id: 12 });
    }
  });

  it('refuses an event count the frame cannot hold, before allocating for it', () => {
    const f = encodeEvents(13, 's', [{ name: 'a', type: 'number' }], [[1]]);
    new DataView(f.buffer).setUint32(14, 0xffffffff, true);
    expect(frameError(() => decodeClientFrame(f)).details).toEqual({ id: 13 });
    const none = encodeEvents(14, 's', [], []);
    new DataView(none.buffer).setUint32(11, 1000, true);
    expect(frameError(() => decodeClientFrame(none)).details).toEqual({ id: 14 });
  });

  it('refuses invalid UTF-8 in short and long strings', () => {
    const short = encodePredict({ id: 15, model: 'ab', entities: {}, fields: {} });
    short[9] = 0xff;
    expect(frameError(() => decodeClientFrame(short)).details).toEqual({ id: 15 });
    const long = encodeEvents(16, 's', [{ name: 'a', type: 'string' }], [['x'.repeat(100)]]);
    long[long.length - 50] = 0xc3; // a lead byte followed by ASCII
    expect(frameError(() => decodeClientFrame(long)).details).toEqual({ id: 16 });
    const surrogate = encodePredict({ id: 17, model: 'abc', entities: {}, fields: {} });
    surrogate.set([0xed, 0xa0, 0x80], 9); // an encoded UTF-16 surrogate is not UTF-8
    expect(frameError(() => decodeClientFrame(surrogate)).details).toEqual({ id: 17 });
  });

  it('refuses duplicate names and __proto__', () => {
    const dup = encodeEvents(18, 's', [{ name: 'a', type: 'number' }, { name: 'b', type: 'number' }], []);
    dup[dup.length - 6] = 0x61; // column 'b' renamed 'a'
    expect(frameError(() => decodeClientFrame(dup)).details).toEqual({ id: 18 });
    const proto = encodeEvents(19, 's', [{ name: '__proto__', type: 'number' }], [[1]]);
    expect(frameError(() => decodeClientFrame(proto)).details).toEqual({ id: 19 });
    const entities = encodePredict({ id: 20, model: 'm', entities: { aa: 'x', ab: 'y' }, fields: {} });
    const second = entities.indexOf(0x62); // the 'b' of 'ab'
    entities[second] = 0x61;
    expect(frameError(() => decodeClientFrame(entities)).details).toEqual({ id: 20 });
  });
});
