// Bugs the fuzzers found (test/fuzz/), each pinned against the real server: a client error
// must be a 4xx with its code, never a 500 or a dead process, and a HEAD answer never
// carries a body that the client would read as the next answer.
import { connect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { showValue } from '../../src/errors.js';
import type { Server } from '../../src/server/app.js';
import { FRAUD_V1, getJson, makeRepo, oneModelYaml, postJson, startWith } from '../support/inference-server.js';

let server: Server;
let base: string;
beforeAll(async () => {
  ({ server, base } = await startWith(makeRepo({ fraud: { 1: FRAUD_V1 } }), oneModelYaml('fraud')));
});
afterAll(async () => {
  await server.close();
});

const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n);
const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

/** Raw bytes on one connection; resolves with what came back once `until` matches it. */
function raw(bytes: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(server.port, '127.0.0.1', () => s.write(bytes));
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (until.test(got)) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    setTimeout(() => {
      s.destroy();
      reject(new Error(`no match for ${until} in ${JSON.stringify(got)}`));
    }, 3000);
  });
}

describe('HEAD', () => {
  it('is answered 404 without a body, so the next answer on the connection parses', async () => {
    const got = await raw('HEAD /healthz HTTP/1.1\r\nhost: x\r\n\r\nGET /healthz HTTP/1.1\r\nhost: x\r\n\r\n', /\{"status":"ok"\}/);
    const [first, second] = got.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 404 /);
    expect(first).toMatch(/content-length: 0\r\n\r\n$/i);
    expect(second).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"status":"ok"\}$/);
  });
});

describe('a chunked body in tiny chunks', () => {
  it('is reassembled byte for byte (into one growing buffer, not one allocation per chunk)', async () => {
    const t = Date.now();
    const lines = Array.from({ length: 120 }, (_, i) => JSON.stringify({ stream: 'tx', user_id: `chunky-${i}`, merchant_id: 'm1', amount: i, country: 'FR', ts: t - i }));
    const body = Buffer.from(lines.join('\n'));
    const parts: Buffer[] = [Buffer.from('POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n')];
    for (let at = 0, n = 1; at < body.length; at += n, n = (n % 7) + 1) {
      const c = body.subarray(at, at + n);
      parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    const got = await raw(Buffer.concat(parts).toString('latin1'), /\r\n\r\n\{.*\}$/);
    expect(got).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*\{"accepted":120,"late":0\}$/);
  });
});

describe('values nested thousands deep', () => {
  it('are quoted as a placeholder, not a stack overflow', () => {
    expect(showValue(JSON.parse(deepArray(20000)))).toBe('(an array nested too deep to show)');
    expect(showValue(JSON.parse(deepObject(20000)))).toBe('(an object nested too deep to show)');
    expect(showValue({ a: [1, 'x'] })).toBe('{"a":[1,"x"]}');
    expect(showValue(undefined)).toBe('undefined');
  });

  it('as a WebSocket id: the frame is refused with id null and the server lives on', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
    await new Promise((r) => ws.once('open', r));
    const answers: unknown[] = [];
    const two = new Promise<void>((resolve) => ws.on('message', (d) => answers.push(JSON.parse(String(d))) === 2 && resolve()));
    ws.send(`{"id":${deepArray(20000)},"op":"predict","model":"fraud"}`);
    ws.send(`{"id":2,"op":"predict","model":${deepObject(20000)}}`);
    await two;
    ws.close();
    expect(answers).toEqual([
      { id: null, ok: false, error: { code: 'HP_ERR_WS_FRAME_INVALID', message: 'a frame needs an `id` (number or string)' } },
      { id: 2, ok: false, error: { code: 'HP_ERR_MODEL_UNKNOWN', message: "unknown model (an object nested too deep to show); loaded: fraud" } },
    ]);
    expect((await getJson(base, '/healthz')).status).toBe(200);
  });

  it('in KServe tensors: the shape rank is capped and bad values are named, with 400s', async () => {
    const infer = (input: string) => postJson(base, '/v2/models/fraud/infer', `{"inputs":[${input}]}`);
    const rank = 5000;
    const deep = await infer(`{"name":"features","datatype":"FP32","shape":[${Array(rank).fill(1)}],"data":${'['.repeat(rank)}1${']'.repeat(rank)}}`);
    expect(deep).toMatchObject({ status: 400, body: { error: "input 'features': shape has 5000 dimensions; at most 64" } });
    const datatype = await infer(`{"name":"features","datatype":${deepArray(20000)},"shape":[1],"data":[1]}`);
    expect(datatype).toMatchObject({ status: 400, body: { error: expect.stringContaining('unknown datatype (an array nested too deep to show)') } });
    const shape = await infer(`{"name":"features","datatype":"FP32","shape":[${deepArray(20000)}],"data":[1]}`);
    expect(shape).toMatchObject({ status: 400, body: { error: expect.stringContaining('non-negative integers, got (an array nested too deep to show)') } });
    const element = await infer(`{"name":"features","datatype":"FP32","shape":[1],"data":[${deepObject(20000)}]}`);
    expect(element).toMatchObject({ status: 400, body: { error: expect.stringContaining('element 0 of data is (an object nested too deep to show)') } });
  });

  it('as a model version to load: 400 HP_ERR_QUERY_INVALID; digits still load', async () => {
    const load = (body: string) => postJson(base, '/v2/repository/models/fraud/load', body);
    const deep = await load(`{"parameters":{"version":${deepArray(20000)}}}`);
    expect(deep).toMatchObject({ status: 400, body: { error: 'parameters.version must be a positive integer' } });
    expect((await load('{"parameters":{"version":true}}')).status).toBe(400);
    expect((await load('{"parameters":{"version":"1"}}')).status).toBe(200);
  });

  it('as an entity, a stream or a model name: 4xx with their codes', async () => {
    const entity = await postJson(base, '/v1/features', `{"entity":${deepArray(20000)},"ids":["u1"]}`);
    expect([entity.status, entity.body.error.code]).toEqual([404, 'HP_ERR_ENTITY_UNKNOWN']);
    const stream = await postJson(base, '/v1/events', `{"stream":${deepObject(20000)},"user_id":"u1"}`);
    expect([stream.status, stream.body.error.code]).toEqual([400, 'HP_ERR_STREAM_UNKNOWN']);
  });
});

describe('predicts on reused Calls (the predict route is pooled)', () => {
  it('answer each request alike, whole or chunked, around bodies cut off, refused as too large or left before the answer', async () => {
    const body = JSON.stringify({ entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 12 } });
    const same = (b: Record<string, unknown>) => ({ ...b, latency_us: 0 });
    const one = await postJson(base, '/v1/predict/fraud', body);
    expect(one.status).toBe(200);
    // clients that leave mid-body, and after the body (before or after the answer)
    await Promise.all(Array.from({ length: 40 }, (_, i) => new Promise<void>((resolve) => {
      const s = connect(server.port, '127.0.0.1', () => s.write(`POST /v1/predict/fraud HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${i % 2 ? body : body.slice(0, 10)}`, () => {
        s.destroy();
        resolve();
      }));
      s.on('error', () => resolve());
    })));
    const big = await raw(`POST /v1/predict/fraud HTTP/1.1\r\nhost: x\r\ncontent-length: 1100000\r\n\r\n${'x'.repeat(1100000)}`, /\r\n\r\n\{.*\}$/);
    expect(big).toMatch(/^HTTP\/1\.1 413 [\s\S]*HP_ERR_BODY_TOO_LARGE/);
    const bad = await postJson(base, '/v1/predict/fraud', '{"entities":');
    expect([bad.status, bad.body.error.code]).toEqual([400, 'HP_ERR_BAD_JSON']);
    const parts: Buffer[] = [Buffer.from('POST /v1/predict/fraud HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n')];
    for (let at = 0, n = 1; at < body.length; at += n, n = (n % 5) + 1) {
      const c = Buffer.from(body).subarray(at, at + n);
      parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    const chunked = await raw(Buffer.concat(parts).toString('latin1'), /\r\n\r\n\{.*\}$/);
    expect(chunked).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(same(JSON.parse(chunked.slice(chunked.indexOf('\r\n\r\n') + 4)))).toEqual(same(one.body));
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => postJson(base, '/v1/predict/fraud', i % 10 === 0 ? '{"entities":{}}' : body)));
    many.forEach((m, i) => expect(i % 10 === 0 ? [m.status, m.body.error.code] : [m.status, same(m.body)]).toEqual(i % 10 === 0 ? [400, 'HP_ERR_PREDICT_INVALID'] : [200, same(one.body)]));
  });
});
