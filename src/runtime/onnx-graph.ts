// Reads an ONNX model file into an OnnxGraph (inputs, outputs, initializers, nodes).
// onnx-plan.ts compiles the graphs the native dense runtime can run.
//
// The protobuf decoder is hand-written: there is no well-kept ONNX protobuf package on npm
// (`onnx-proto` was last published in 2021 and pulls protobufjs 6), and the subset of
// onnx.proto hotpath needs is small: the wire format is ~100 lines below, the ONNX
// messages ~200 more. Field numbers are those of onnx.proto (checked against the onnx
// 1.12 Python package's descriptors). Every read is bounds-checked and every loop
// advances, so malformed bytes throw HP_ERR_MODEL_LOAD_FAILED: they never hang or read out
// of bounds.
import { HotpathError } from '../errors.js';

export interface OnnxValueInfo {
  name: string;
  elemType: number;
  /** The KServe V2 datatype name: 'FP32', 'FP64', 'INT64', 'INT32', 'UINT8', 'BOOL', 'BYTES', ... */
  datatype: string;
  /** -1 for a symbolic or unknown dim; empty when the rank is unknown (or a scalar). */
  shape: number[];
}
export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** FLOAT, DOUBLE and INT64 tensors; null for other types and external data. */
  data: Float32Array | Float64Array | BigInt64Array | null;
}
export interface OnnxNode {
  opType: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, number | number[] | string | OnnxTensor>;
}
export interface OnnxGraph {
  irVersion: number;
  /** The opset of the default domain ('' or 'ai.onnx'). */
  opset: number;
  /** Graph inputs minus initializers. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
}

// TensorProto.DataType
/** ONNX element types hotpath reads. */
export const FLOAT = 1;
const INT64 = 7;
const DOUBLE = 11;

const KSERVE_DATATYPES: Record<number, string> = {
  1: 'FP32', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'BYTES',
  9: 'BOOL', 10: 'FP16', 11: 'FP64', 12: 'UINT32', 13: 'UINT64', 16: 'BF16',
};

/** The KServe V2 datatype name of an ONNX element type ('UNKNOWN' for complex, float8, ...). */
export function kserveDatatype(elemType: number): string {
  return KSERVE_DATATYPES[elemType] ?? 'UNKNOWN';
}

// ---------------------------------------------------------------- protobuf wire format

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;

/** What the reader throws for bytes that are not a model it can read (readOnnx's error's cause). */
export class OnnxMalformed extends Error {
  override name = 'OnnxMalformed';
}

const utf8 = new TextDecoder('utf-8');

/** One field of a message: its number, wire type and where its value lies. */
interface Field {
  no: number;
  wt: number;
  /** WT_VARINT: the value (as unsigned 64-bit). */
  v: bigint;
  /** WT_LEN, WT_I32, WT_I64: the value's bytes. */
  bytes: Uint8Array;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  varint(): bigint {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new OnnxMalformed('truncated varint');
      const byte = this.buf[this.pos++];
      result |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new OnnxMalformed('varint longer than 10 bytes');
  }

  take(n: number): Uint8Array {
    if (n > this.buf.length - this.pos) throw new OnnxMalformed(`field of ${n} bytes runs past the end`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Every field of the message, in order. Groups (wire types 3, 4) and 6, 7 are malformed. */
  fields(): Field[] {
    const out: Field[] = [];
    const none = this.buf.subarray(0, 0);
    while (this.pos < this.buf.length) {
      const tag = this.varint();
      const wt = Number(tag & 7n);
      const no = Number(tag >> 3n);
      if (no === 0 || no > 0x1fffffff) throw new OnnxMalformed(`bad field number ${no}`);
      if (wt === WT_VARINT) out.push({ no, wt, v: this.varint(), bytes: none });
      else if (wt === WT_I64) out.push({ no, wt, v: 0n, bytes: this.take(8) });
      else if (wt === WT_I32) out.push({ no, wt, v: 0n, bytes: this.take(4) });
      else if (wt === WT_LEN) {
        const len = this.varint();
        if (len > BigInt(this.buf.length - this.pos)) throw new OnnxMalformed(`field of ${len} bytes runs past the end`);
        out.push({ no, wt, v: 0n, bytes: this.take(Number(len)) });
      } else throw new OnnxMalformed(`bad wire type ${wt} (field ${no})`);
    }
    return out;
  }
}

function fieldsOf(bytes: Uint8Array): Field[] {
  return new Reader(bytes).fields();
}

function expectWt(f: Field, wt: number, what: string): void {
  if (f.wt !== wt) throw new OnnxMalformed(`${what}: wire type ${f.wt}, expected ${wt}`);
}

function str(f: Field, what: string): string {
  expectWt(f, WT_LEN, what);
  return utf8.decode(f.bytes);
}

/** An int64 / int32 field as a signed number (negative values are 10-byte varints). */
function int(f: Field, what: string): number {
  expectWt(f, WT_VARINT, what);
  return Number(BigInt.asIntN(64, f.v));
}

/** A repeated varint field, packed or not, appended to out as signed 64-bit values. */
function pushVarints(f: Field, out: bigint[], what: string): void {
  if (f.wt === WT_VARINT) out.push(BigInt.asIntN(64, f.v));
  else if (f.wt === WT_LEN) {
    const r = new Reader(f.bytes);
    while (r.pos < f.bytes.length) out.push(BigInt.asIntN(64, r.varint()));
  } else throw new OnnxMalformed(`${what}: wire type ${f.wt}, expected a varint`);
}

/** A repeated fixed-width field (float: 4, double: 8), packed or not. */
function pushFixed(f: Field, width: 4 | 8, out: number[], what: string): void {
  const wt = width === 4 ? WT_I32 : WT_I64;
  if (f.wt !== wt && f.wt !== WT_LEN) throw new OnnxMalformed(`${what}: wire type ${f.wt}`);
  if (f.bytes.length % width !== 0) throw new OnnxMalformed(`${what}: ${f.bytes.length} bytes is not a multiple of ${width}`);
  const view = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
  for (let o = 0; o < f.bytes.length; o += width) out.push(width === 4 ? view.getFloat32(o, true) : view.getFloat64(o, true));
}

// ---------------------------------------------------------------- ONNX messages

function readTensor(bytes: Uint8Array): OnnxTensor {
  const dims: bigint[] = [];
  let dataType = 0;
  let name = '';
  const floats: number[] = [];
  const doubles: number[] = [];
  const int64s: bigint[] = [];
  let raw: Uint8Array | null = null;
  for (const f of fieldsOf(bytes)) {
    if (f.no === 1) pushVarints(f, dims, 'TensorProto.dims');
    else if (f.no === 2) dataType = int(f, 'TensorProto.data_type');
    else if (f.no === 4) pushFixed(f, 4, floats, 'TensorProto.float_data');
    else if (f.no === 7) pushVarints(f, int64s, 'TensorProto.int64_data');
    else if (f.no === 8) name = str(f, 'TensorProto.name');
    else if (f.no === 9) { expectWt(f, WT_LEN, 'TensorProto.raw_data'); raw = f.bytes; }
    else if (f.no === 10) pushFixed(f, 8, doubles, 'TensorProto.double_data');
  }
  const dimsN = dims.map((d) => {
    if (d < 0n || d > 0xffffffffn) throw new OnnxMalformed(`tensor ${name}: bad dim ${d}`);
    return Number(d);
  });
  const count = dimsN.reduce((a, b) => a * b, 1);
  let data: OnnxTensor['data'] = null;
  const width = dataType === FLOAT ? 4 : dataType === DOUBLE || dataType === INT64 ? 8 : 0;
  if (width > 0) {
    const typed = dataType === FLOAT ? floats.length : dataType === DOUBLE ? doubles.length : int64s.length;
    let n: number;
    if (raw !== null) {
      if (raw.length !== count * width) throw new OnnxMalformed(`tensor ${name}: raw_data has ${raw.length} bytes, dims ${JSON.stringify(dimsN)} need ${count * width}`);
      n = count;
    } else if (typed > 0 || count === 0) {
      if (typed !== count) throw new OnnxMalformed(`tensor ${name}: ${typed} values, dims ${JSON.stringify(dimsN)} need ${count}`);
      n = count;
    } else n = -1; // no data in the file (external data): data stays null
    if (n >= 0) {
      if (raw !== null) {
        const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        if (dataType === FLOAT) { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = view.getFloat32(i * 4, true); data = a; }
        else if (dataType === DOUBLE) { const a = new Float64Array(n); for (let i = 0; i < n; i++) a[i] = view.getFloat64(i * 8, true); data = a; }
        else { const a = new BigInt64Array(n); for (let i = 0; i < n; i++) a[i] = view.getBigInt64(i * 8, true); data = a; }
      } else if (dataType === FLOAT) data = Float32Array.from(floats);
      else if (dataType === DOUBLE) data = Float64Array.from(doubles);
      else data = BigInt64Array.from(int64s);
    }
  }
  return { name, dims: dimsN, dataType, data };
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_TENSOR = 4, ATTR_FLOATS = 6, ATTR_INTS = 7;

type AttrValue = number | number[] | string | OnnxTensor;

function readAttribute(bytes: Uint8Array): { name: string; value: AttrValue | undefined } {
  let name = '';
  let type = 0;
  let f32: number | undefined;
  let i64: number | undefined;
  let s: string | undefined;
  let t: OnnxTensor | undefined;
  const floats: number[] = [];
  const ints: bigint[] = [];
  for (const f of fieldsOf(bytes)) {
    if (f.no === 1) name = str(f, 'AttributeProto.name');
    else if (f.no === 2) { expectWt(f, WT_I32, 'AttributeProto.f'); f32 = new DataView(f.bytes.buffer, f.bytes.byteOffset, 4).getFloat32(0, true); }
    else if (f.no === 3) i64 = int(f, 'AttributeProto.i');
    else if (f.no === 4) s = str(f, 'AttributeProto.s');
    else if (f.no === 5) { expectWt(f, WT_LEN, 'AttributeProto.t'); t = readTensor(f.bytes); }
    else if (f.no === 7) pushFixed(f, 4, floats, 'AttributeProto.floats');
    else if (f.no === 8) pushVarints(f, ints, 'AttributeProto.ints');
    else if (f.no === 20) type = int(f, 'AttributeProto.type');
  }
  // Files from old exporters may omit `type`: then the value is whichever field is set.
  if (type === 0) type = f32 !== undefined ? ATTR_FLOAT : i64 !== undefined ? ATTR_INT : s !== undefined ? ATTR_STRING
    : t !== undefined ? ATTR_TENSOR : floats.length ? ATTR_FLOATS : ints.length ? ATTR_INTS : 0;
  let value: AttrValue | undefined;
  if (type === ATTR_FLOAT) value = f32 ?? 0;
  else if (type === ATTR_INT) value = i64 ?? 0;
  else if (type === ATTR_STRING) value = s ?? '';
  else if (type === ATTR_TENSOR) value = t;
  else if (type === ATTR_FLOATS) value = floats;
  else if (type === ATTR_INTS) value = ints.map(Number);
  // graphs, strings, tensors, sparse tensors, type protos: not kept (no supported op uses them)
  return { name, value };
}

function readNode(bytes: Uint8Array): OnnxNode {
  const node: OnnxNode = { opType: '', domain: '', name: '', inputs: [], outputs: [], attrs: new Map() };
  for (const f of fieldsOf(bytes)) {
    if (f.no === 1) node.inputs.push(str(f, 'NodeProto.input'));
    else if (f.no === 2) node.outputs.push(str(f, 'NodeProto.output'));
    else if (f.no === 3) node.name = str(f, 'NodeProto.name');
    else if (f.no === 4) node.opType = str(f, 'NodeProto.op_type');
    else if (f.no === 5) {
      expectWt(f, WT_LEN, 'NodeProto.attribute');
      const a = readAttribute(f.bytes);
      if (a.value !== undefined) node.attrs.set(a.name, a.value);
    } else if (f.no === 7) node.domain = str(f, 'NodeProto.domain');
  }
  return node;
}

function readDim(bytes: Uint8Array): number {
  let dim = -1;
  for (const f of fieldsOf(bytes)) {
    if (f.no === 1) { const v = int(f, 'Dimension.dim_value'); dim = v >= 0 ? v : -1; }
    else if (f.no === 2) { str(f, 'Dimension.dim_param'); dim = -1; }
  }
  return dim;
}

function readValueInfo(bytes: Uint8Array): OnnxValueInfo {
  let name = '';
  let elemType = 0;
  const shape: number[] = [];
  const sub = (f: Field, what: string): Field[] => { expectWt(f, WT_LEN, what); return fieldsOf(f.bytes); };
  for (const f of fieldsOf(bytes)) {
    if (f.no === 1) name = str(f, 'ValueInfoProto.name');
    else if (f.no === 2) {
      for (const tf of sub(f, 'ValueInfoProto.type')) {
        if (tf.no !== 1) continue; // sequence, map, optional, sparse types: elemType stays 0
        for (const tt of sub(tf, 'TypeProto.tensor_type')) {
          if (tt.no === 1) elemType = int(tt, 'TypeProto.Tensor.elem_type');
          else if (tt.no === 2) {
            for (const sd of sub(tt, 'TypeProto.Tensor.shape')) {
              if (sd.no === 1) { expectWt(sd, WT_LEN, 'TensorShapeProto.dim'); shape.push(readDim(sd.bytes)); }
            }
          }
        }
      }
    }
  }
  return { name, elemType, datatype: kserveDatatype(elemType), shape };
}

/**
 * Decodes an ONNX ModelProto. Throws HotpathError HP_ERR_MODEL_LOAD_FAILED when the bytes
 * are not a well-formed model (truncated, a bad wire type, no graph, no default opset).
 */
export function readOnnx(bytes: Uint8Array): OnnxGraph {
  try {
    return decodeModel(bytes);
  } catch (err) {
    // Malformed, or anything unforeseen (a RangeError): the file is not a model we can read.
    // The cause tells them apart (the fuzz tests require OnnxMalformed).
    const message = err instanceof Error ? err.message : String(err);
    throw new HotpathError('HP_ERR_MODEL_LOAD_FAILED', `not a valid ONNX model: ${message}`, undefined, { cause: err });
  }
}

function decodeModel(bytes: Uint8Array): OnnxGraph {
  if (bytes.length === 0) throw new OnnxMalformed('the file is empty');
  let irVersion = 0;
  let opset = -1;
  let graphBytes: Uint8Array | null = null;
  for (const f of fieldsOf(bytes)) {
    if (f.no === 1) irVersion = int(f, 'ModelProto.ir_version');
    else if (f.no === 7) { expectWt(f, WT_LEN, 'ModelProto.graph'); graphBytes = f.bytes; }
    else if (f.no === 8) {
      expectWt(f, WT_LEN, 'ModelProto.opset_import');
      let domain = '';
      let version = 0;
      for (const o of fieldsOf(f.bytes)) {
        if (o.no === 1) domain = str(o, 'OperatorSetIdProto.domain');
        else if (o.no === 2) version = int(o, 'OperatorSetIdProto.version');
      }
      if (domain === '' || domain === 'ai.onnx') opset = version;
    }
  }
  if (graphBytes === null) throw new OnnxMalformed('no graph');
  if (irVersion <= 0) throw new OnnxMalformed('no ir_version');
  if (opset < 1) throw new OnnxMalformed('no opset_import for the default ONNX domain');

  const nodes: OnnxNode[] = [];
  const initializers = new Map<string, OnnxTensor>();
  const allInputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  for (const f of fieldsOf(graphBytes)) {
    if (f.no === 1) { expectWt(f, WT_LEN, 'GraphProto.node'); nodes.push(readNode(f.bytes)); }
    else if (f.no === 2) str(f, 'GraphProto.name');
    else if (f.no === 5) { expectWt(f, WT_LEN, 'GraphProto.initializer'); const t = readTensor(f.bytes); initializers.set(t.name, t); }
    else if (f.no === 11) { expectWt(f, WT_LEN, 'GraphProto.input'); allInputs.push(readValueInfo(f.bytes)); }
    else if (f.no === 12) { expectWt(f, WT_LEN, 'GraphProto.output'); outputs.push(readValueInfo(f.bytes)); }
  }
  const inputs = allInputs.filter((i) => !initializers.has(i.name));
  return { irVersion, opset, inputs, outputs, nodes, initializers };
}
