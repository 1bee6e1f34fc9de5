// KServe V2 REST codec, with Triton's binary tensor data extension. Bodies are built as
// tritonclient.http builds them: json.dumps of the header (", " and ": " separators), then
// the raw tensor bytes, with Inference-Header-Content-Length set to the JSON's byte length.
import { describe, expect, it } from 'vitest';

import { HotpathError } from '../../src/errors.js';
import {
  type KsDatatype,
  type KsTensor,
  elementCount,
  elementSize,
  fromHalfBits,
  parseInferRequest,
  toHalfBits,
} from '../../src/server/kserve.js';
import { encodeInferResponse } from '../../src/server/kserve-encode.js';

/** json.dumps' default layout: ", " between items and ": " after keys. */
function pyDumps(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(pyDumps).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyDumps(x)}`).join(', ')}}`;
  return JSON.stringify(v);
}

/** A request body as tritonclient.http sends it, and the header value it sets. */
function tritonBody(header: object, ...binary: Uint8Array[]): [Buffer, string | undefined] {
  const json = Buffer.from(pyDumps(header));
  if (binary.length === 0) return [json, undefined];
  return [Buffer.concat([json, ...binary]), String(json.length)];
}

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** BYTES elements in binary: each a u32 LE length, then the bytes. */
function bytesElements(strings: string[]): Buffer {
  return Buffer.concat(
    strings.flatMap((s) => {
      const b = Buffer.from(s);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}

function tensorError(fn: () => unknown, code: 'HP_ERR_TENSOR_INVALID' | 'HP_ERR_BAD_JSON' = 'HP_ERR_TENSOR_INVALID'): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HotpathError);
    expect((err as HotpathError).code).toBe(code);
    return (err as Error).message;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

function parseJson(header: object): ReturnType<typeof parseInferRequest> {
  return parseInferRequest(Buffer.from(JSON.stringify(header)), undefined);
}

function oneInput(input: Record<string, unknown>): () => unknown {
  return () => parseJson({ inputs: [input] });
}

/** Decodes a response body by hand, as tritonclient.http's InferResult does. */
function decodeResponse(out: { body: Buffer; headerLength?: number }): { json: { outputs: Record<string, unknown>[] } & Record<string, unknown>; binary: Map<string, Buffer> } {
  const jsonEnd = out.headerLength ?? out.body.length;
  const json = JSON.parse(out.body.toString('utf8', 0, jsonEnd));
  const binary = new Map<string, Buffer>();
  let p = jsonEnd;
  for (const o of json.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary.set(o.name, out.body.subarray(p, p + size));
    p += size;
  }
  expect(p).toBe(out.body.length);
  return { json, binary };
}

// One sample per datatype: JSON values and the typed data they parse to.
const samples: { datatype: KsDatatype; json: unknown[]; data: KsTensor['data'] }[] = [
  { datatype: 'BOOL', json: [true, false, true, true], data: new Uint8Array([1, 0, 1, 1]) },
  { datatype: 'UINT8', json: [0, 1, 128, 255], data: new Uint8Array([0, 1, 128, 255]) },
  { datatype: 'UINT16', json: [0, 1, 300, 65535], data: new Uint16Array([0, 1, 300, 65535]) },
  { datatype: 'UINT32', json: [0, 1, 70000, 4294967295], data: new Uint32Array([0, 1, 70000, 4294967295]) },
  { datatype: 'UINT64', json: [0, 1, 2 ** 40, Number.MAX_SAFE_INTEGER], data: new BigUint64Array([0n, 1n, 2n ** 40n, BigInt(Number.MAX_SAFE_INTEGER)]) },
  { datatype: 'INT8', json: [-128, -1, 0, 127], data: new Int8Array([-128, -1, 0, 127]) },
  { datatype: 'INT16', json: [-32768, -1, 0, 32767], data: new Int16Array([-32768, -1, 0, 32767]) },
  { datatype: 'INT32', json: [-2147483648, -1, 0, 2147483647], data: new Int32Array([-2147483648, -1, 0, 2147483647]) },
  { datatype: 'INT64', json: [-(2 ** 53), -1, 0, 2 ** 53], data: new BigInt64Array([-(2n ** 53n), -1n, 0n, 2n ** 53n]) },
  { datatype: 'FP16', json: [1, -2, 0.5, 65504], data: new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff]) },
  { datatype: 'FP32', json: [0.25, -1.5, 3, 1e10], data: new Float32Array([0.25, -1.5, 3, 1e10]) },
  { datatype: 'FP64', json: [0.1, -1e300, 3, 5e-324], data: new Float64Array([0.1, -1e300, 3, 5e-324]) },
  { datatype: 'BYTES', json: ['a', '', 'héllo', '😀'], data: ['a', '', 'héllo', '😀'] },
];

describe('elementCount and elementSize', () => {
  it('multiplies the dims; a scalar holds one element', () => {
    expect(elementCount([2, 3, 4])).toBe(24);
    expect(elementCount([])).toBe(1);
    expect(elementCount([5, 0])).toBe(0);
    expect(elementSize('FP16')).toBe(2);
    expect(elementSize('UINT64')).toBe(8);
    expect(elementSize('BOOL')).toBe(1);
  });
});

describe('FP16 bits', () => {
  it('rounds to nearest even, with subnormals, infinities and signed zero', () => {
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(0.1)).toBe(0x2e66);
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(65519)).toBe(0x7bff);
    expect(toHalfBits(65520)).toBe(0x7c00);
    expect(toHalfBits(-Infinity)).toBe(0xfc00);
    expect(toHalfBits(2 ** -24)).toBe(0x0001);
    expect(toHalfBits(2 ** -26)).toBe(0);
    expect(toHalfBits(2 ** -14)).toBe(0x0400);
    expect(toHalfBits(-0)).toBe(0x8000);
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // a tie goes to the even mantissa
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toHalfBits(NaN) & 0x7c00).toBe(0x7c00);
    const wrong: number[] = [];
    for (let h = 0; h < 0x7c00; h++) if (toHalfBits(fromHalfBits(h)) !== h || toHalfBits(-fromHalfBits(h)) !== (h | 0x8000)) wrong.push(h);
    expect(wrong).toEqual([]);
    expect(fromHalfBits(0x7e00)).toBeNaN();
  });
});

describe('JSON requests', () => {
  for (const s of samples) {
    it(`round trips ${s.datatype}`, () => {
      const [body, len] = tritonBody({ id: 'r1', inputs: [{ name: 'x', shape: [2, 2], datatype: s.datatype, data: s.json }] });
      const req = parseInferRequest(body, len);
      expect(req.id).toBe('r1');
      expect(req.binaryOutputs).toBe(false);
      expect(req.outputs).toBeUndefined();
      expect(req.inputs).toHaveLength(1);
      const t = req.inputs[0];
      expect(t).toMatchObject({ name: 'x', datatype: s.datatype, shape: [2, 2] });
      expect(t.data.constructor).toBe(s.data.constructor);
      expect(Array.from(t.data as ArrayLike<unknown>)).toEqual(Array.from(s.data as ArrayLike<unknown>));

      // Back out as JSON: the same values, flat.
      const out = encodeInferResponse({ model_name: 'm', outputs: [t] }, req);
      expect(out.contentType).toBe('application/json');
      expect(out.headerLength).toBeUndefined();
      const json = JSON.parse(out.body.toString());
      expect(json).toEqual({ model_name: 'm', outputs: [{ name: 'x', datatype: s.datatype, shape: [2, 2], data: s.json }] });

      // And as binary: the bytes a binary request would carry.
      const bin = encodeInferResponse({ model_name: 'm', outputs: [t] }, { binaryOutputs: true });
      expect(bin.contentType).toBe('application/octet-stream');
      const { json: head, binary } = decodeResponse(bin);
      expect(head.outputs[0]).toEqual({ name: 'x', datatype: s.datatype, shape: [2, 2], parameters: { binary_data_size: binary.get('x')!.length } });
      const raw = s.datatype === 'BYTES' ? bytesElements(s.data as string[]) : bytesOf(s.data as ArrayBufferView);
      expect(binary.get('x')!.equals(raw)).toBe(true);
      const [again, againLen] = tritonBody({ inputs: [{ name: 'x', shape: [2, 2], datatype: s.datatype, parameters: { binary_data_size: raw.length } }] }, raw);
      expect(Array.from(parseInferRequest(again, againLen).inputs[0].data as ArrayLike<unknown>)).toEqual(Array.from(s.data as ArrayLike<unknown>));
    });
  }

  it('flattens nested data row-major and accepts flat data for any shape', () => {
    const nested = parseJson({ inputs: [{ name: 'x', datatype: 'INT32', shape: [2, 3], data: [[1, 2, 3], [4, 5, 6]] }] });
    expect(Array.from(nested.inputs[0].data as Int32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    const deep = parseJson({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1, 2], data: [[[1, 2]], [[3, 4]]] }] });
    expect(Array.from(deep.inputs[0].data as Float32Array)).toEqual([1, 2, 3, 4]);
    const flat = parseJson({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [2, 2], data: ['a', 'b', 'c', 'd'] }] });
    expect(flat.inputs[0].data).toEqual(['a', 'b', 'c', 'd']);
    const scalar = parseJson({ inputs: [{ name: 'x', datatype: 'FP64', shape: [], data: [7] }] });
    expect(Array.from(scalar.inputs[0].data as Float64Array)).toEqual([7]);
    const empty = parseJson({ inputs: [{ name: 'x', datatype: 'FP32', shape: [0, 4], data: [] }] });
    expect(empty.inputs[0].data).toEqual(new Float32Array(0));
  });

  it('keeps FP32 from JSON as a Float32Array (rounded to float)', () => {
    const req = parseJson({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [0.1] }] });
    expect(req.inputs[0].data).toBeInstanceOf(Float32Array);
    expect((req.inputs[0].data as Float32Array)[0]).toBe(Math.fround(0.1));
  });

  it('reads the request parameters, the outputs asked for and binary_data_output', () => {
    const req = parseJson({
      parameters: { binary_data_output: true, priority: 2 },
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1], parameters: { custom: 'a' } }],
      outputs: [{ name: 'p', parameters: { binary_data: true } }, { name: 'q' }, { name: 'r', parameters: { binary_data: false, classification: 2 } }],
    });
    expect(req.binaryOutputs).toBe(true);
    expect(req.parameters).toEqual({ binary_data_output: true, priority: 2 });
    expect(req.inputs[0].parameters).toEqual({ custom: 'a' });
    expect(req.outputs).toEqual([
      { name: 'p', binary: true },
      { name: 'q', binary: false },
      { name: 'r', binary: false },
    ]);
  });
});

describe('binary requests', () => {
  it('reads a binary input beside a JSON one, copying unaligned bytes into an aligned array', () => {
    const floats = new Float32Array([1.5, -2, 3.25, 4, 5, 6]);
    const header = {
      inputs: [
        { name: 'INPUT0', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: 24 } },
        { name: 'INPUT1', shape: [1, 2], datatype: 'INT64', data: [7, -8] },
      ],
      outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }],
    };
    // Pad the id so the JSON length is odd and the binary part starts unaligned.
    for (const id of ['1', '12']) {
      const [body, len] = tritonBody({ ...header, id }, bytesOf(floats));
      const req = parseInferRequest(body, len);
      expect(req.id).toBe(id);
      const [a, b] = req.inputs;
      expect(a).toMatchObject({ name: 'INPUT0', datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: 24 } });
      expect(a.data).toBeInstanceOf(Float32Array);
      expect((a.data as Float32Array).byteOffset).toBe(0);
      expect(Array.from(a.data as Float32Array)).toEqual(Array.from(floats));
      expect(Array.from(b.data as BigInt64Array)).toEqual([7n, -8n]);
      expect(req.outputs).toEqual([{ name: 'OUTPUT0', binary: true }]);
    }
  });

  it('consumes the binary part in the order of the binary inputs', () => {
    const [body, len] = tritonBody(
      {
        inputs: [
          { name: 'a', shape: [2], datatype: 'UINT16', parameters: { binary_data_size: 4 } },
          { name: 'b', shape: [1], datatype: 'FP64', data: [1] },
          { name: 'c', shape: [3], datatype: 'BYTES', parameters: { binary_data_size: 4 * 3 + 8 } }, // 'héllo' is 6 bytes
          { name: 'd', shape: [2], datatype: 'BOOL', parameters: { binary_data_size: 2 } },
        ],
      },
      bytesOf(new Uint16Array([1, 65535])),
      bytesElements(['ab', '', 'héllo']),
      Buffer.from([1, 0]),
    );
    const req = parseInferRequest(body, len);
    expect(Array.from(req.inputs[0].data as Uint16Array)).toEqual([1, 65535]);
    expect(req.inputs[2].data).toEqual(['ab', '', 'héllo']);
    expect(Array.from(req.inputs[3].data as Uint8Array)).toEqual([1, 0]);
  });

  it('takes a header length equal to the body (nothing binary) and trims the header value', () => {
    const [body] = tritonBody({ inputs: [{ name: 'x', shape: [1], datatype: 'INT8', data: [1] }] });
    expect(parseInferRequest(body, String(body.length)).inputs[0].data).toEqual(new Int8Array([1]));
    expect(parseInferRequest(body, ` ${body.length} `).inputs[0].data).toEqual(new Int8Array([1]));
    expect(parseInferRequest(body, '').inputs[0].data).toEqual(new Int8Array([1]));
  });
});

describe('responses', () => {
  const outputs: KsTensor[] = [
    { name: 'scores', datatype: 'FP32', shape: [1, 3], data: new Float32Array([0.5, 0.25, 0.125]) },
    { name: 'label', datatype: 'BYTES', shape: [1], data: ['fraud'] },
    { name: 'count', datatype: 'INT64', shape: [1], data: new BigInt64Array([2n ** 62n]) },
  ];
  const res = { model_name: 'fraud', model_version: '3', id: 'r9', outputs };

  it('writes all outputs as JSON by default, 64-bit integers exactly', () => {
    const out = encodeInferResponse(res, { binaryOutputs: false });
    expect(out.contentType).toBe('application/json');
    expect(out.headerLength).toBeUndefined();
    const text = out.body.toString();
    expect(text).toContain('"data":[4611686018427387904]');
    expect(JSON.parse(text)).toEqual({
      model_name: 'fraud',
      model_version: '3',
      id: 'r9',
      outputs: [
        { name: 'scores', datatype: 'FP32', shape: [1, 3], data: [0.5, 0.25, 0.125] },
        { name: 'label', datatype: 'BYTES', shape: [1], data: ['fraud'] },
        { name: 'count', datatype: 'INT64', shape: [1], data: [2 ** 62] },
      ],
    });
  });

  it('returns only the outputs asked for, in that order, binary where asked', () => {
    const out = encodeInferResponse(res, {
      outputs: [
        { name: 'label', binary: true },
        { name: 'scores', binary: false },
      ],
      binaryOutputs: false,
    });
    expect(out.contentType).toBe('application/octet-stream');
    expect(out.headerLength).toBe(out.body.lastIndexOf(']}') + 2);
    const { json, binary } = decodeResponse(out);
    expect(json.outputs).toEqual([
      { name: 'label', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 9 } },
      { name: 'scores', datatype: 'FP32', shape: [1, 3], data: [0.5, 0.25, 0.125] },
    ]);
    expect(binary.get('label')!.equals(bytesElements(['fraud']))).toBe(true);
  });

  it('writes every output as binary under binary_data_output, decodable by hand', () => {
    const out = encodeInferResponse(res, { binaryOutputs: true });
    const { json, binary } = decodeResponse(out);
    expect(json).toMatchObject({ model_name: 'fraud', model_version: '3', id: 'r9' });
    expect(json.outputs.map((o) => o.parameters)).toEqual([{ binary_data_size: 12 }, { binary_data_size: 9 }, { binary_data_size: 8 }]);
    expect(json.outputs.every((o) => !('data' in o))).toBe(true);
    const s = binary.get('scores')!;
    expect([s.readFloatLE(0), s.readFloatLE(4), s.readFloatLE(8)]).toEqual([0.5, 0.25, 0.125]);
    const l = binary.get('label')!;
    expect(l.readUInt32LE(0)).toBe(5);
    expect(l.toString('utf8', 4)).toBe('fraud');
    expect(binary.get('count')!.readBigInt64LE(0)).toBe(2n ** 62n);
  });

  it('keeps output parameters and writes JSON-less values as null', () => {
    const out = encodeInferResponse(
      { model_name: 'm', parameters: { sequence_id: 1 }, outputs: [{ name: 'y', datatype: 'FP64', shape: [3], data: new Float64Array([NaN, Infinity, 1]), parameters: { note: 'x' } }] },
      { binaryOutputs: false },
    );
    expect(JSON.parse(out.body.toString())).toEqual({
      model_name: 'm',
      parameters: { sequence_id: 1 },
      outputs: [{ name: 'y', datatype: 'FP64', shape: [3], parameters: { note: 'x' }, data: [null, null, 1] }],
    });
  });

  it('refuses an unknown output name and data that does not fit the shape', () => {
    expect(tensorError(() => encodeInferResponse(res, { outputs: [{ name: 'nope', binary: false }], binaryOutputs: false }))).toContain("'nope'");
    const bad = { model_name: 'm', outputs: [{ name: 'y', datatype: 'FP32' as const, shape: [2], data: new Float32Array(3) }] };
    expect(tensorError(() => encodeInferResponse(bad, { binaryOutputs: false }))).toContain("'y'");
  });
});

describe('request errors', () => {
  const input = { name: 'x', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] };

  it('refuses a header that is not JSON', () => {
    tensorError(() => parseInferRequest(Buffer.from('{"inputs": ['), undefined), 'HP_ERR_BAD_JSON');
    tensorError(() => parseInferRequest(Buffer.from(''), undefined), 'HP_ERR_BAD_JSON');
    const [body] = tritonBody({ inputs: [input] });
    tensorError(() => parseInferRequest(body, String(body.length - 1)), 'HP_ERR_BAD_JSON');
  });

  it('refuses a bad header length', () => {
    const [body] = tritonBody({ inputs: [input] });
    for (const len of ['abc', '-1', '1.5', '1e3', '0x10', String(body.length + 1)]) {
      expect(tensorError(() => parseInferRequest(body, len))).toContain('Inference-Header-Content-Length');
    }
  });

  it('refuses a request without an inputs array, and malformed top-level fields', () => {
    tensorError(() => parseJson({}));
    tensorError(() => parseJson({ inputs: {} }));
    tensorError(() => parseInferRequest(Buffer.from('[1]'), undefined));
    tensorError(() => parseJson({ id: 5, inputs: [] }));
    tensorError(() => parseJson({ parameters: [], inputs: [] }));
    expect(tensorError(() => parseJson({ parameters: { binary_data_output: 'yes' }, inputs: [] }))).toContain('binary_data_output');
  });

  it('refuses an input without name, datatype or shape, naming it', () => {
    expect(tensorError(oneInput({ datatype: 'FP32', shape: [1], data: [1] }))).toContain('inputs[0]');
    expect(tensorError(() => parseJson({ inputs: ['x'] }))).toContain('inputs[0]');
    expect(tensorError(oneInput({ name: 'x', shape: [1], data: [1] }))).toContain("input 'x'");
    expect(tensorError(oneInput({ name: 'x', datatype: 'FP32', data: [1] }))).toContain("input 'x'");
    expect(tensorError(oneInput({ name: 'x', datatype: 'FP32', shape: [1] }))).toContain("input 'x'");
    expect(tensorError(() => parseJson({ inputs: [input, input] }))).toContain("input 'x'");
  });

  it('refuses an unknown datatype', () => {
    for (const datatype of ['FLOAT', 'fp32', 'BF16', 7]) expect(tensorError(oneInput({ ...input, datatype }))).toContain("input 'x'");
  });

  it('refuses negative and non-integer dims', () => {
    for (const shape of [[-1, 6], [1.5, 4], ['2', 3], [2, null]]) expect(tensorError(oneInput({ ...input, shape }))).toContain("input 'x'");
  });

  it('refuses data whose length is not the shape product', () => {
    expect(tensorError(oneInput({ ...input, data: [1, 2, 3, 4, 5] }))).toBe("input 'x': shape [2,3] has 6 elements but data has 5");
    expect(tensorError(oneInput({ ...input, data: [[1, 2, 3], [4, 5]] }))).toContain("input 'x'");
    expect(tensorError(oneInput({ ...input, data: 5 }))).toContain("input 'x'");
    expect(tensorError(oneInput({ ...input, shape: [6], data: [[1, 2, 3], [4, 5, 6]] }))).toContain('nested deeper');
  });

  it('refuses values of the wrong type or out of range', () => {
    const cases: [string, unknown][] = [
      ['FP32', 'abc'],
      ['FP64', null],
      ['FP16', true],
      ['INT32', 1.5],
      ['INT32', 2 ** 31],
      ['INT8', -129],
      ['UINT8', 256],
      ['UINT16', -1],
      ['UINT32', 2 ** 32],
      ['INT64', 2 ** 63],
      ['INT64', '5'],
      ['UINT64', -1],
      ['UINT64', 2 ** 64],
      ['BOOL', 1],
      ['BYTES', 5],
    ];
    for (const [datatype, v] of cases) {
      const good = datatype === 'BOOL' ? true : datatype === 'BYTES' ? 'ok' : 0;
      expect(tensorError(oneInput({ name: 'x', datatype, shape: [2], data: [good, v] })), `${datatype} ${String(v)}`).toContain("input 'x': element 1");
    }
  });

  it('refuses a binary_data_size that does not match the shape', () => {
    const [body, len] = tritonBody({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 4 } }] }, Buffer.alloc(4));
    expect(tensorError(() => parseInferRequest(body, len))).toContain("input 'x'");
    for (const size of [-4, 1.5, '8']) {
      const [b, l] = tritonBody({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: size } }] }, Buffer.alloc(8));
      expect(tensorError(() => parseInferRequest(b, l))).toContain("input 'x'");
    }
  });

  it('refuses more binary bytes than the body holds, and bytes left over', () => {
    const header = { inputs: [{ name: 'x', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 8 } }] };
    const [short, shortLen] = tritonBody(header, Buffer.alloc(7));
    expect(tensorError(() => parseInferRequest(short, shortLen))).toContain("input 'x'");
    // No header length at all: the whole body is JSON, so no binary bytes.
    expect(tensorError(() => parseInferRequest(Buffer.from(JSON.stringify(header)), undefined))).toContain("input 'x'");
    const [long, longLen] = tritonBody(header, Buffer.alloc(9));
    expect(tensorError(() => parseInferRequest(long, longLen))).toContain('1 binary bytes');
    const [json, jsonLen] = tritonBody({ inputs: [input] }, Buffer.alloc(3));
    tensorError(() => parseInferRequest(json, jsonLen));
  });

  it('refuses both data and binary_data_size, and bad binary BOOL and BYTES', () => {
    const [both, bothLen] = tritonBody({ inputs: [{ ...input, parameters: { binary_data_size: 24 } }] }, Buffer.alloc(24));
    expect(tensorError(() => parseInferRequest(both, bothLen))).toContain("input 'x'");
    const [bool, boolLen] = tritonBody({ inputs: [{ name: 'x', shape: [2], datatype: 'BOOL', parameters: { binary_data_size: 2 } }] }, Buffer.from([1, 2]));
    expect(tensorError(() => parseInferRequest(bool, boolLen))).toContain("input 'x'");
    const overrun = Buffer.alloc(8);
    overrun.writeUInt32LE(100, 0);
    const [b1, l1] = tritonBody({ inputs: [{ name: 'x', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 8 } }] }, overrun);
    expect(tensorError(() => parseInferRequest(b1, l1))).toContain("input 'x'");
    const extra = Buffer.concat([bytesElements(['ab']), Buffer.alloc(2)]);
    const [b2, l2] = tritonBody({ inputs: [{ name: 'x', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: extra.length } }] }, extra);
    expect(tensorError(() => parseInferRequest(b2, l2))).toContain("input 'x'");
    const invalid = Buffer.concat([bytesElements(['ab']).subarray(0, 4), Buffer.from([0xc3, 0x28])]);
    const [b3, l3] = tritonBody({ inputs: [{ name: 'x', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 6 } }] }, invalid);
    expect(tensorError(() => parseInferRequest(b3, l3))).toContain('UTF-8');
  });

  it('refuses malformed output requests', () => {
    expect(tensorError(() => parseJson({ inputs: [input], outputs: [{ name: 'y', parameters: { binary_data: 'true' } }] }))).toContain("output 'y'");
    tensorError(() => parseJson({ inputs: [input], outputs: [{}] }));
    tensorError(() => parseJson({ inputs: [input], outputs: { name: 'y' } }));
    expect(tensorError(() => parseJson({ inputs: [input], outputs: [{ name: 'y' }, { name: 'y' }] }))).toContain("output 'y'");
  });

  it('refuses a huge shape without allocating for it', () => {
    expect(tensorError(oneInput({ name: 'x', datatype: 'FP32', shape: [1e12], data: [1] }))).toBe("input 'x': shape [1000000000000] has 1000000000000 elements but data has 1");
    tensorError(oneInput({ name: 'x', datatype: 'FP64', shape: [1e6, 1e6, 1e6], data: [] }));
    for (const [datatype, size] of [['FP32', 4e12], ['FP32', 4], ['BYTES', 8], ['BYTES', 4e12]] as const) {
      const [b, l] = tritonBody({ inputs: [{ name: 'x', shape: [1e12], datatype, parameters: { binary_data_size: size } }] }, Buffer.alloc(8));
      expect(tensorError(() => parseInferRequest(b, l))).toContain("input 'x'");
    }
  });
});
