// KServe V2 / Open Inference Protocol over REST: the request and response codec, with
// Triton's binary tensor data extension, so tritonclient.http and other V2 clients work
// unchanged. No server code here: the routes call parseInferRequest and encodeInferResponse
// (kserve-encode.ts).
//
// Binary extension, in short: when the request carries `Inference-Header-Content-Length: n`,
// the first n body bytes are the JSON header and the rest is raw tensor data (little-endian,
// row-major, no padding) for the inputs that have `parameters.binary_data_size`, in the
// order those inputs are listed. BYTES elements are each a u32 LE length then the bytes.
// Responses do the same for the outputs asked for as binary.
import { HotpathError, showValue } from '../errors.js';

export type KsDatatype = 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64' | 'FP16' | 'FP32' | 'FP64' | 'BYTES';
/** FP16 is kept as its Uint16Array bits, BOOL as a Uint8Array of 0/1, BYTES as UTF-8 strings. */
export type KsData = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[];
export interface KsTensor {
  name: string;
  datatype: KsDatatype;
  shape: number[];
  data: KsData;
  parameters?: Record<string, unknown>;
}
export interface KsOutputRequest {
  name: string;
  binary: boolean;
}
export interface KsInferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: KsTensor[];
  outputs?: KsOutputRequest[];
  /** the top-level `parameters.binary_data_output`: every output as binary */
  binaryOutputs: boolean;
}
export interface KsInferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: KsTensor[];
}

type NumericCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor;
export type NumericData = Exclude<KsData, string[]>;

interface TypeInfo {
  /** bytes per element in binary; 0 for BYTES (variable) */
  size: number;
  ctor?: NumericCtor;
  /** inclusive integer range of a JSON value, for the integer types */
  min?: number;
  max?: number;
}

export const TYPES: Record<KsDatatype, TypeInfo> = {
  BOOL: { size: 1, ctor: Uint8Array },
  UINT8: { size: 1, ctor: Uint8Array, min: 0, max: 0xff },
  UINT16: { size: 2, ctor: Uint16Array, min: 0, max: 0xffff },
  UINT32: { size: 4, ctor: Uint32Array, min: 0, max: 0xffffffff },
  // JSON numbers are doubles: the 64-bit bounds are checked as doubles (2^63 and 2^64 are exclusive).
  UINT64: { size: 8, ctor: BigUint64Array, min: 0, max: 2 ** 64 },
  INT8: { size: 1, ctor: Int8Array, min: -0x80, max: 0x7f },
  INT16: { size: 2, ctor: Int16Array, min: -0x8000, max: 0x7fff },
  INT32: { size: 4, ctor: Int32Array, min: -0x80000000, max: 0x7fffffff },
  INT64: { size: 8, ctor: BigInt64Array, min: -(2 ** 63), max: 2 ** 63 },
  FP16: { size: 2, ctor: Uint16Array },
  FP32: { size: 4, ctor: Float32Array },
  FP64: { size: 8, ctor: Float64Array },
  BYTES: { size: 0 },
};

export const KS_DATATYPES = Object.keys(TYPES) as KsDatatype[];

/** The most dimensions a tensor may have (numpy's limit is 64 too). */
export const MAX_RANK = 64;

function isDatatype(v: unknown): v is KsDatatype {
  return typeof v === 'string' && Object.hasOwn(TYPES, v);
}

/** Bytes per element in binary form; 0 for BYTES, whose elements vary. */
export function elementSize(datatype: KsDatatype): number {
  return TYPES[datatype].size;
}

/** The number of elements a shape holds; [] is a scalar (1). */
export function elementCount(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function invalid(message: string): HotpathError {
  return new HotpathError('HP_ERR_TENSOR_INVALID', message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function shapeText(shape: number[]): string {
  return `[${shape.join(',')}]`;
}

// ---------------------------------------------------------------------------------------
// Requests

/**
 * Parses a V2 inference request. body: the whole request body (copied Buffer).
 * headerLength: the Inference-Header-Content-Length value as received (string or undefined/'').
 */
export function parseInferRequest(body: Buffer, headerLength: string | undefined): KsInferRequest {
  let jsonEnd = body.length;
  if (headerLength !== undefined && headerLength.trim() !== '') {
    const text = headerLength.trim();
    const n = /^[0-9]{1,15}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n)) throw invalid(`Inference-Header-Content-Length must be a non-negative integer, got ${JSON.stringify(headerLength)}`);
    if (n > body.length) throw invalid(`Inference-Header-Content-Length is ${n} but the body has only ${body.length} bytes`);
    jsonEnd = n;
  }

  let header: unknown;
  try {
    header = JSON.parse(body.toString('utf8', 0, jsonEnd));
  } catch (err) {
    throw new HotpathError('HP_ERR_BAD_JSON', `the inference request header is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(header)) throw invalid('the inference request must be a JSON object');

  const req: KsInferRequest = { inputs: [], binaryOutputs: false };
  if (header.id !== undefined) {
    if (typeof header.id !== 'string') throw invalid('the request `id` must be a string');
    req.id = header.id;
  }
  if (header.parameters !== undefined) {
    if (!isObject(header.parameters)) throw invalid('the request `parameters` must be an object');
    req.parameters = header.parameters;
    const bdo = header.parameters.binary_data_output;
    if (bdo !== undefined) {
      if (typeof bdo !== 'boolean') throw invalid('the request parameter `binary_data_output` must be a boolean');
      req.binaryOutputs = bdo;
    }
  }

  if (!Array.isArray(header.inputs)) throw invalid('the inference request needs an `inputs` array');
  const names = new Set<string>();
  let offset = jsonEnd; // next unread binary byte
  for (let i = 0; i < header.inputs.length; i++) {
    const raw: unknown = header.inputs[i];
    if (!isObject(raw)) throw invalid(`inputs[${i}] must be an object`);
    const { name, datatype, shape, parameters, data } = raw;
    if (typeof name !== 'string' || name === '') throw invalid(`inputs[${i}] needs a \`name\` string`);
    if (names.has(name)) throw invalid(`input '${name}' is listed twice`);
    names.add(name);
    if (datatype === undefined) throw invalid(`input '${name}' needs a \`datatype\``);
    if (!isDatatype(datatype)) throw invalid(`input '${name}': unknown datatype ${showValue(datatype)}; expected one of ${KS_DATATYPES.join(', ')}`);
    if (!Array.isArray(shape)) throw invalid(`input '${name}' needs a \`shape\` array`);
    // The rank bounds how deep nested `data` may be, and so the recursion that reads it.
    if (shape.length > MAX_RANK) throw invalid(`input '${name}': shape has ${shape.length} dimensions; at most ${MAX_RANK}`);
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || (d as number) < 0) throw invalid(`input '${name}': shape dimensions must be non-negative integers, got ${showValue(shape)}`);
    }
    const dims = shape as number[];
    if (parameters !== undefined && !isObject(parameters)) throw invalid(`input '${name}': \`parameters\` must be an object`);

    const binarySize = parameters?.binary_data_size;
    let tensorData: KsData;
    if (binarySize !== undefined) {
      if (data !== undefined) throw invalid(`input '${name}' has both \`data\` and parameters.binary_data_size`);
      if (!Number.isSafeInteger(binarySize) || (binarySize as number) < 0) throw invalid(`input '${name}': binary_data_size must be a non-negative integer`);
      const size = binarySize as number;
      tensorData = readBinary(name, datatype, dims, body, offset, size);
      offset += size;
    } else {
      if (data === undefined) throw invalid(`input '${name}' has neither \`data\` nor parameters.binary_data_size`);
      tensorData = readJson(name, datatype, dims, data);
    }
    const tensor: KsTensor = { name, datatype, shape: dims, data: tensorData };
    if (parameters !== undefined) tensor.parameters = parameters;
    req.inputs.push(tensor);
  }
  if (offset !== body.length) throw invalid(`the body has ${body.length - offset} binary bytes after the last binary input`);

  if (header.outputs !== undefined) {
    if (!Array.isArray(header.outputs)) throw invalid('the request `outputs` must be an array');
    const seen = new Set<string>();
    req.outputs = header.outputs.map((raw: unknown, i: number): KsOutputRequest => {
      if (!isObject(raw) || typeof raw.name !== 'string' || raw.name === '') throw invalid(`outputs[${i}] needs a \`name\` string`);
      if (seen.has(raw.name)) throw invalid(`output '${raw.name}' is requested twice`);
      seen.add(raw.name);
      if (raw.parameters !== undefined && !isObject(raw.parameters)) throw invalid(`output '${raw.name}': \`parameters\` must be an object`);
      const binary = raw.parameters?.binary_data ?? false;
      if (typeof binary !== 'boolean') throw invalid(`output '${raw.name}': parameter \`binary_data\` must be a boolean`);
      return { name: raw.name, binary };
    });
  }
  return req;
}

function readBinary(name: string, datatype: KsDatatype, shape: number[], body: Buffer, offset: number, size: number): KsData {
  const count = elementCount(shape);
  const info = TYPES[datatype];
  const left = body.length - offset;
  // Every check below runs before anything is allocated: sizes come from the client.
  if (info.ctor !== undefined && count * info.size !== size)
    throw invalid(`input '${name}': shape ${shapeText(shape)} of ${datatype} needs ${count * info.size} bytes but binary_data_size is ${size}`);
  if (size > left) throw invalid(`input '${name}': binary_data_size is ${size} but only ${left} binary bytes remain in the body`);

  if (info.ctor === undefined) return readBinaryStrings(name, shape, count, body.subarray(offset, offset + size));

  // Copy into a new, aligned array: the body offset may be unaligned for the element size.
  // The byte copy assumes a little-endian host, as every platform Node supports is.
  const out = new info.ctor(count);
  new Uint8Array(out.buffer).set(body.subarray(offset, offset + size));
  if (datatype === 'BOOL') {
    const bytes = out as Uint8Array;
    for (let i = 0; i < count; i++) if (bytes[i] > 1) throw invalid(`input '${name}': BOOL element ${i} is the byte ${bytes[i]}, not 0 or 1`);
  }
  return out;
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

function readBinaryStrings(name: string, shape: number[], count: number, bytes: Buffer): string[] {
  // Each element takes at least its 4-byte length prefix.
  if (count * 4 > bytes.length)
    throw invalid(`input '${name}': shape ${shapeText(shape)} has ${count} BYTES elements but binary_data_size ${bytes.length} cannot hold their length prefixes`);
  const out: string[] = new Array(count);
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 4 > bytes.length) throw invalid(`input '${name}': BYTES element ${i} runs past binary_data_size`);
    const len = bytes.readUInt32LE(p);
    p += 4;
    if (len > bytes.length - p) throw invalid(`input '${name}': BYTES element ${i} runs past binary_data_size`);
    try {
      out[i] = utf8Fatal.decode(bytes.subarray(p, p + len));
    } catch {
      throw invalid(`input '${name}': BYTES element ${i} is not valid UTF-8`);
    }
    p += len;
  }
  if (p !== bytes.length) throw invalid(`input '${name}': binary_data_size is ${bytes.length} but its ${count} BYTES elements take ${p}`);
  return out;
}

/** Counts the leaves of flat or nested (row-major) JSON data, refusing deeper nesting than the shape. */
function countLeaves(name: string, data: unknown[], depth: number, maxDepth: number): number {
  let n = 0;
  for (const v of data) {
    if (Array.isArray(v)) {
      if (depth >= maxDepth) throw invalid(`input '${name}': data is nested deeper than its shape`);
      n += countLeaves(name, v, depth + 1, maxDepth);
    } else n++;
  }
  return n;
}

function readJson(name: string, datatype: KsDatatype, shape: number[], data: unknown): KsData {
  if (!Array.isArray(data)) throw invalid(`input '${name}': \`data\` must be an array`);
  const count = elementCount(shape);
  const have = countLeaves(name, data, 1, Math.max(1, shape.length));
  if (have !== count) throw invalid(`input '${name}': shape ${shapeText(shape)} has ${count} elements but data has ${have}`);

  const info = TYPES[datatype];
  if (info.ctor === undefined) {
    const out: string[] = new Array(count);
    fill(data, 0, (v, i) => {
      if (typeof v !== 'string') throw badValue(name, datatype, v, i);
      out[i] = v;
    });
    return out;
  }
  const out = new info.ctor(count);
  let put: (v: unknown, i: number) => void;
  if (datatype === 'BOOL') {
    const a = out as Uint8Array;
    put = (v, i) => {
      if (typeof v !== 'boolean') throw badValue(name, datatype, v, i);
      a[i] = v ? 1 : 0;
    };
  } else if (datatype === 'FP16') {
    const a = out as Uint16Array;
    put = (v, i) => {
      if (typeof v !== 'number') throw badValue(name, datatype, v, i);
      a[i] = toHalfBits(v);
    };
  } else if (datatype === 'FP32' || datatype === 'FP64') {
    const a = out as Float32Array | Float64Array;
    put = (v, i) => {
      if (typeof v !== 'number') throw badValue(name, datatype, v, i);
      a[i] = v;
    };
  } else {
    const { min, max } = info as Required<TypeInfo>;
    const big = datatype === 'INT64' || datatype === 'UINT64';
    const nums = out as Exclude<NumericData, BigInt64Array | BigUint64Array>;
    const bigs = out as BigInt64Array | BigUint64Array;
    put = (v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw badValue(name, datatype, v, i);
      if (v < min || (big ? v >= max : v > max)) throw invalid(`input '${name}': element ${i} of data, ${v}, is out of range for ${datatype}`);
      if (big) bigs[i] = BigInt(v);
      else nums[i] = v;
    };
  }
  fill(data, 0, put);
  return out;
}

/** Visits the leaves in row-major order; returns the next index. Depth was checked by countLeaves. */
function fill(data: unknown[], start: number, put: (v: unknown, i: number) => void): number {
  let i = start;
  for (const v of data) {
    if (Array.isArray(v)) i = fill(v, i, put);
    else put(v, i++);
  }
  return i;
}

function badValue(name: string, datatype: KsDatatype, v: unknown, i: number): HotpathError {
  const what = datatype === 'BOOL' ? 'a boolean' : datatype === 'BYTES' ? 'a string' : datatype.startsWith('FP') ? 'a number' : 'an integer';
  return invalid(`input '${name}': element ${i} of data is ${showValue(v)}, not ${what} (${datatype})`);
}

// ---------------------------------------------------------------------------------------
// FP16

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** IEEE 754 binary16 bits of a number, rounding to nearest even (as numpy's float16 cast). */
export function toHalfBits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00; // past the largest half (65504) by half a step or more
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24); // subnormal; 1024 carries to the smallest normal
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const m = roundHalfEven((a / 2 ** e - 1) * 1024); // exact scaling; 1024 carries into the exponent
  return sign | (((e + 15) << 10) + m);
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}
