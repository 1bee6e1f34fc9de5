// The ring records (src/runtime/records.ts): each encoder against its decoder on a real
// ring, and the outcome vocabulary: every status has a name and, failures, a registered
// error code.
import { describe, expect, it } from 'vitest';

import { ERRORS } from '../../src/errors.js';
import {
  type Outcome, OP, predictBodySize, readPredictBody, readRequestHeader, readResponse, REQ, type RequestHeader, RES, responseId, responseSize, STATUS,
  type Status, statusCode, statusName, writePredictBody, writeRequestHeader, writeResponseHeader, writeResponseValues,
} from '../../src/runtime/records.js';
import { Ring } from '../../src/runtime/ring.js';

const pair = () => {
  const sab = Ring.allocate(4096);
  return { producer: new Ring(sab), consumer: new Ring(sab) };
};

describe('request records', () => {
  it('a PREDICT record decodes to what was encoded, ids into the gather arenas', () => {
    const { producer, consumer } = pair();
    const req = { ids: ['user-é', 'm1'], idBytes: [Buffer.byteLength('user-é'), 2], fields: [1.5, -2, 1e6] };
    const size = predictBodySize(3, req.idBytes);
    expect(size).toBe(3 * 4 + 4 + 7 + 2);
    const off = producer.reserve(REQ.BODY + size);
    writeRequestHeader(producer.view, off, OP.PREDICT, 7, 0xfffffffe, 1234.5, 1000.25, 1);
    writePredictBody(producer, off + REQ.BODY, 3, req);
    producer.publish();

    const at = consumer.peek();
    expect(consumer.peekedLength).toBe(REQ.BODY + size);
    const h: RequestHeader = { op: 0, slot: 0, id: 0, deadline: 0, enqueued: 0, rows: 0 };
    readRequestHeader(consumer.view, at, h);
    expect(h).toEqual({ op: OP.PREDICT, slot: 7, id: 0xfffffffe, deadline: 1234.5, enqueued: 1000.25, rows: 1 });
    const body = consumer.bytes.slice(at + REQ.BODY, at + consumer.peekedLength);
    consumer.release();
    // As row 1 of a batch whose row 0 took 5 id bytes.
    const fields = new Float32Array(6);
    const ids = new Uint8Array(64);
    const refs = new Uint32Array(8);
    const end = readPredictBody(body, new DataView(body.buffer, body.byteOffset, body.byteLength), 3, 2, 1, fields, ids, 5, refs);
    expect(Array.from(fields.subarray(3))).toEqual([1.5, -2, 1e6]);
    expect(Array.from(refs.subarray(4))).toEqual([5, req.idBytes[0], 5 + req.idBytes[0], 2]);
    expect(Buffer.from(ids.subarray(5, end)).toString()).toBe('user-ém1');
  });
});

describe('response records', () => {
  it('an OK record carries a copy of the values; an ERROR record its message', () => {
    const { producer, consumer } = pair();
    const y = Float32Array.from([9, 9, 1, 2, 3, 4]);
    let off = producer.reserve(responseSize(4));
    writeResponseHeader(producer.view, off, STATUS.OK, 70000, 42, 12.5, 80, 2, 2, 4.5);
    writeResponseValues(producer, off, y, 2, 4);
    producer.publish();
    const msg = Buffer.from('model raised');
    off = producer.reserve(responseSize(0) + msg.length);
    writeResponseHeader(producer.view, off, STATUS.ERROR, 3, 43, 1, 2, 0, 0);
    producer.bytes.set(msg, off + RES.BODY);
    producer.publish();

    const o: Outcome = { status: STATUS.OK, values: undefined, rows: 0, outDim: 0, queueUs: 0, batchWaitUs: 0, computeUs: 0, batch: 0, message: undefined };
    let at = consumer.peek();
    expect(responseId(consumer.view, at)).toBe(42);
    readResponse(consumer, at, consumer.peekedLength, o);
    consumer.release();
    expect(o).toEqual({ status: STATUS.OK, values: Float32Array.from([1, 2, 3, 4]), rows: 2, outDim: 2, queueUs: 12.5, batchWaitUs: 4.5, computeUs: 80, batch: 65535, message: undefined });
    expect(o.values!.buffer).not.toBe(consumer.bytes.buffer); // a copy: the ring space is reused
    at = consumer.peek();
    readResponse(consumer, at, consumer.peekedLength, o);
    consumer.release();
    expect([o.status, o.values, o.message, o.batch]).toEqual([STATUS.ERROR, undefined, 'model raised', 3]);
  });
});

describe('the outcome vocabulary', () => {
  it('names every status once and maps each failure to a registered code', () => {
    const all = Object.values(STATUS) as Status[];
    expect(new Set(all.map(statusName)).size).toBe(all.length);
    expect(statusName(STATUS.OK)).toBe('ok');
    for (const s of all.filter((x) => x !== STATUS.OK)) expect(Object.hasOwn(ERRORS, statusCode(s)), statusName(s)).toBe(true);
    expect(all.filter((x) => x !== STATUS.OK).map((s) => [statusName(s), statusCode(s)])).toEqual([
      ['deadline', 'HP_ERR_DEADLINE'],
      ['error', 'HP_ERR_INFERENCE_FAILED'],
      ['not_ready', 'HP_ERR_MODEL_NOT_READY'],
      ['crashed', 'HP_ERR_WORKER_CRASHED'],
      ['overloaded', 'HP_ERR_OVERLOADED'],
      ['circuit_open', 'HP_ERR_CIRCUIT_OPEN'],
    ]);
  });
});
