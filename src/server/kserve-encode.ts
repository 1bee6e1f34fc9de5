// KServe V2 infer responses: JSON, or the binary tensor extension (kserve.ts has the types
// and the request side).
import { jsonNumber } from './http.js';
import { elementCount, fromHalfBits, invalid, type KsInferRequest, type KsInferResponse, type KsTensor, type NumericData, shapeText, TYPES } from './kserve.js';

/**
 * Encodes a response per the request's output choices: only the requested outputs (all
 * when none are listed), each as JSON `data` or as binary after the JSON header.
 */
export function encodeInferResponse(
  res: KsInferResponse,
  req: Pick<KsInferRequest, 'outputs' | 'binaryOutputs'>,
): { body: Buffer; headerLength?: number; contentType: string } {
  let chosen: { tensor: KsTensor; binary: boolean }[];
  if (req.outputs !== undefined && req.outputs.length > 0) {
    const byName = new Map(res.outputs.map((t) => [t.name, t]));
    chosen = req.outputs.map((o) => {
      const tensor = byName.get(o.name);
      if (tensor === undefined) throw invalid(`output '${o.name}' is not an output of model '${res.model_name}'; it has: ${res.outputs.map((t) => t.name).join(', ')}`);
      return { tensor, binary: o.binary || req.binaryOutputs };
    });
  } else {
    chosen = res.outputs.map((tensor) => ({ tensor, binary: req.binaryOutputs }));
  }

  const parts: Buffer[] = [];
  const jsonOutputs: string[] = [];
  for (const { tensor, binary } of chosen) {
    const count = elementCount(tensor.shape);
    if (tensor.data.length !== count) throw invalid(`output '${tensor.name}': shape ${shapeText(tensor.shape)} has ${count} elements but data has ${tensor.data.length}`);
    let s = `{"name":${JSON.stringify(tensor.name)},"datatype":"${tensor.datatype}","shape":${JSON.stringify(tensor.shape)}`;
    if (binary) {
      const bytes = binaryOf(tensor);
      parts.push(bytes);
      s += `,"parameters":${JSON.stringify({ ...tensor.parameters, binary_data_size: bytes.length })}}`;
    } else {
      if (tensor.parameters !== undefined) s += `,"parameters":${JSON.stringify(tensor.parameters)}`;
      s += `,"data":${jsonDataOf(tensor)}}`;
    }
    jsonOutputs.push(s);
  }

  let head = `{"model_name":${JSON.stringify(res.model_name)}`;
  if (res.model_version !== undefined) head += `,"model_version":${JSON.stringify(res.model_version)}`;
  if (res.id !== undefined) head += `,"id":${JSON.stringify(res.id)}`;
  if (res.parameters !== undefined) head += `,"parameters":${JSON.stringify(res.parameters)}`;
  head += `,"outputs":[${jsonOutputs.join(',')}]}`;
  const json = Buffer.from(head, 'utf8');
  if (parts.length === 0) return { body: json, contentType: 'application/json' };
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length, contentType: 'application/octet-stream' };
}

/** The tensor's data as the typed array its datatype calls for, converting if it is another. */
function typedOf(tensor: KsTensor): NumericData {
  const ctor = TYPES[tensor.datatype].ctor!;
  const data = tensor.data;
  if (data instanceof ctor) return data;
  const src = data as ArrayLike<unknown>;
  const out = new ctor(src.length);
  const big = ctor === BigInt64Array || ctor === BigUint64Array;
  for (let i = 0; i < src.length; i++) (out as unknown as unknown[])[i] = big ? BigInt(src[i] as number | bigint) : Number(src[i]);
  return out;
}

function binaryOf(tensor: KsTensor): Buffer {
  if (tensor.datatype === 'BYTES') {
    if (!Array.isArray(tensor.data)) throw invalid(`output '${tensor.name}': BYTES data must be strings`);
    const chunks: Buffer[] = [];
    for (const s of tensor.data) {
      const b = Buffer.from(String(s), 'utf8');
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32LE(b.length, 0);
      chunks.push(len, b);
    }
    return Buffer.concat(chunks);
  }
  const a = typedOf(tensor);
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function jsonDataOf(tensor: KsTensor): string {
  const { datatype } = tensor;
  if (datatype === 'BYTES') return JSON.stringify(Array.from(tensor.data as ArrayLike<unknown>, String));
  const a = typedOf(tensor);
  const n = a.length;
  const out: string[] = new Array(n);
  if (datatype === 'BOOL') for (let i = 0; i < n; i++) out[i] = a[i] ? 'true' : 'false';
  else if (datatype === 'FP16') for (let i = 0; i < n; i++) out[i] = jsonNumber(fromHalfBits(a[i] as number));
  else if (datatype === 'FP32' || datatype === 'FP64') for (let i = 0; i < n; i++) out[i] = jsonNumber(a[i] as number);
  // Integers, 64-bit ones included, print exactly (a BigInt's digits are a valid JSON number).
  else for (let i = 0; i < n; i++) out[i] = String(a[i]);
  return `[${out.join(',')}]`;
}
