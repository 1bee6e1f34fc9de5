// A dense learner as an ONNX model: input "input" float [N, d] -> Gemm (the learner's
// weights over the raw inputs, scaler folded in: NativeLearner.exportLinear) -> Sigmoid ->
// output "output" float [N, 1]. Opset 13, IR version 8. The native runtime compiles it
// (src/runtime/onnx-plan.ts: one dense layer with a sigmoid), onnxruntime runs it as is.
//
// The protobuf bytes are written by hand, like src/runtime/onnx-graph.ts reads them: five
// messages of onnx.proto, a few fields each (field numbers from onnx.proto).
import type { NativeLearner } from '../native/learner.js';

// ---------------------------------------------------------------- protobuf wire format

const enc = new TextEncoder();

/** A message under construction: a list of byte chunks. */
class Msg {
  readonly parts: Uint8Array[] = [];

  #tag(no: number, wt: number): void {
    this.#varint(no * 8 + wt);
  }
  #varint(v: number): void {
    const b: number[] = [];
    while (v >= 0x80) {
      b.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    b.push(v);
    this.parts.push(Uint8Array.from(b));
  }
  int(no: number, v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`field ${no}: ${v} is not a non-negative integer`);
    this.#tag(no, 0);
    this.#varint(v);
    return this;
  }
  bytes(no: number, b: Uint8Array): this {
    this.#tag(no, 2);
    this.#varint(b.length);
    this.parts.push(b);
    return this;
  }
  str(no: number, s: string): this {
    return this.bytes(no, enc.encode(s));
  }
  msg(no: number, m: Msg): this {
    return this.bytes(no, m.finish());
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

// ---------------------------------------------------------------- ONNX messages

const FLOAT = 1; // TensorProto.DataType
const ATTR_INT = 2; // AttributeProto.AttributeType

/** TensorProto: dims (1), data_type (2), name (8), raw_data (9, little-endian). */
function tensor(name: string, dims: number[], data: Float32Array): Msg {
  const t = new Msg();
  for (const d of dims) t.int(1, d);
  t.int(2, FLOAT).str(8, name);
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return t.bytes(9, raw);
}

/** ValueInfoProto of a float tensor; a string dim is symbolic (dim_param), a number fixed (dim_value). */
function valueInfo(name: string, shape: (number | string)[]): Msg {
  const dims = new Msg();
  for (const d of shape) dims.msg(1, typeof d === 'number' ? new Msg().int(1, d) : new Msg().str(2, d));
  const tensorType = new Msg().int(1, FLOAT).msg(2, dims); // elem_type, shape
  return new Msg().str(1, name).msg(2, new Msg().msg(1, tensorType)); // name, type.tensor_type
}

/** NodeProto: input (1), output (2), name (3), op_type (4), attribute (5). */
function node(op: string, name: string, inputs: string[], outputs: string[], intAttrs: Record<string, number> = {}): Msg {
  const n = new Msg();
  for (const i of inputs) n.str(1, i);
  for (const o of outputs) n.str(2, o);
  n.str(3, name).str(4, op);
  for (const [k, v] of Object.entries(intAttrs)) n.msg(5, new Msg().str(1, k).int(3, v).int(20, ATTR_INT)); // name, i, type
  return n;
}

export interface LinearModel {
  /** d weights over the raw inputs */
  w: Float32Array;
  b: number;
}

/**
 * ONNX bytes of p = sigmoid(x . w + b) for x float [N, d]: `input` -> Gemm(B = w as [1, d],
 * transB = 1, C = [b]) -> Sigmoid -> `output` [N, 1].
 */
export function linearOnnx(model: LinearModel, graphName = 'hotpath_learner'): Uint8Array {
  const d = model.w.length;
  if (d === 0) throw new RangeError('a linear model needs at least one input');
  const graph = new Msg()
    .msg(1, node('Gemm', 'linear', ['input', 'W', 'B'], ['logit'], { transB: 1 }))
    .msg(1, node('Sigmoid', 'sigmoid', ['logit'], ['output']))
    .str(2, graphName)
    .msg(5, tensor('W', [1, d], model.w))
    .msg(5, tensor('B', [1], Float32Array.of(model.b)))
    .msg(11, valueInfo('input', ['N', d]))
    .msg(12, valueInfo('output', ['N', 1]));
  return new Msg()
    .int(1, 8) // ir_version
    .str(2, 'hotpath') // producer_name
    .msg(7, graph)
    .msg(8, new Msg().str(1, '').int(2, 13)) // opset_import: the default domain, opset 13
    .finish();
}

/** The ONNX model of a dense learner's current weights (throws for a learner with a hashed block). */
export function learnerOnnx(learner: NativeLearner): Uint8Array {
  return linearOnnx(learner.exportLinear());
}

/** One dense layer of denseChainOnnx: w is [outDim, inDim] row-major (Gemm with transB = 1). */
export interface DenseLayer {
  w: Float32Array;
  b: Float32Array;
  act: 'relu' | 'sigmoid' | 'none';
}

/**
 * ONNX bytes of a chain of dense layers over x float [N, inDim]: `input` -> (Gemm, then Relu
 * or Sigmoid) per layer -> `output` [N, outDim of the last]. The benches use it for models
 * wider than the demo's (bench/adaptive-batching.ts).
 */
export function denseChainOnnx(inDim: number, layers: readonly DenseLayer[], graphName = 'hotpath_dense'): Uint8Array {
  const graph = new Msg();
  let x = 'input';
  let d = inDim;
  layers.forEach((l, i) => {
    const out = l.b.length;
    if (l.w.length !== out * d) throw new RangeError(`layer ${i}: w has ${l.w.length} values, not ${out} x ${d}`);
    const y = i === layers.length - 1 && l.act === 'none' ? 'output' : `h${i}`;
    graph.msg(1, node('Gemm', `gemm${i}`, [x, `W${i}`, `B${i}`], [y], { transB: 1 }));
    graph.msg(5, tensor(`W${i}`, [out, d], l.w)).msg(5, tensor(`B${i}`, [out], l.b));
    x = y;
    if (l.act !== 'none') {
      const a = i === layers.length - 1 ? 'output' : `a${i}`;
      graph.msg(1, node(l.act === 'relu' ? 'Relu' : 'Sigmoid', `act${i}`, [x], [a]));
      x = a;
    }
    d = out;
  });
  graph.str(2, graphName).msg(11, valueInfo('input', ['N', inDim])).msg(12, valueInfo('output', ['N', d]));
  return new Msg().int(1, 8).str(2, 'hotpath').msg(7, graph).msg(8, new Msg().str(1, '').int(2, 13)).finish();
}
