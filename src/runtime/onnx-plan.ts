// Compiles an ONNX graph that is a plain chain of dense layers and activations to a
// NativePlan (declared with the addon's shape in src/native/binding.ts) that the native
// dense runtime runs without onnxruntime; and a plain TypeScript reference of a plan for
// the tests that check the kernels.
import type { NativeLayer, NativePlan, PlanAct } from '../native/binding.js';
import { FLOAT, kserveDatatype, type OnnxGraph, type OnnxNode } from './onnx-graph.js';


const ACTS: Record<string, PlanAct> = { Relu: 'relu', Sigmoid: 'sigmoid', Tanh: 'tanh' };

class Unsupported extends Error {}

/**
 * Compiles a graph that is a chain of dense layers (Gemm, MatMul [+ Add]), Relu / Sigmoid /
 * Tanh, Softmax and Identity over one float32 [N, D] input into a NativePlan; anything else
 * is `{ unsupported: reason }` (the model then runs on onnxruntime).
 */
export function planNative(g: OnnxGraph): { plan: NativePlan } | { unsupported: string } {
  try {
    return { plan: compile(g) };
  } catch (err) {
    if (err instanceof Unsupported) return { unsupported: err.message };
    throw err;
  }
}

function compile(g: OnnxGraph): NativePlan {
  const no = (why: string): never => { throw new Unsupported(why); };
  if (g.inputs.length !== 1) no(`the graph has ${g.inputs.length} inputs (${g.inputs.map((i) => i.name).join(', ')}); the native runtime takes exactly one`);
  if (g.outputs.length !== 1) no(`the graph has ${g.outputs.length} outputs; the native runtime gives exactly one`);
  const input = g.inputs[0];
  const output = g.outputs[0];
  if (input.elemType !== FLOAT) no(`input ${input.name} is ${input.datatype}, not FP32`);
  if (input.shape.length !== 2) no(`input ${input.name} has shape [${input.shape}], not [batch, D]`);
  if (input.shape[1] <= 0) no(`input ${input.name} has an unknown feature dim`);
  if (output.elemType !== FLOAT) no(`output ${output.name} is ${output.datatype}, not FP32`);
  if (output.shape.length !== 2) no(`output ${output.name} has shape [${output.shape}], not [batch, K]`);

  const layers: NativeLayer[] = [];
  let cur = input.name;
  let dim = input.shape[1];
  const softmaxDefaultAxis = g.opset < 13 ? 1 : -1;

  /** The float initializer `name` (with its dims), or unsupported. */
  const weight = (node: OnnxNode, name: string): { dims: number[]; data: Float32Array } => {
    const t = g.initializers.get(name);
    if (!t) return no(`${describe(node)}: ${name} is not an initializer`);
    if (t.dataType !== FLOAT) return no(`${describe(node)}: initializer ${name} is ${kserveDatatype(t.dataType)}, not FP32`);
    if (!(t.data instanceof Float32Array)) return no(`${describe(node)}: initializer ${name} has no data in the file (external data)`);
    return { dims: t.dims, data: t.data };
  };
  /** A bias of shape [K] or [1, K]. */
  const bias = (node: OnnxNode, name: string, k: number, scale: number): Float32Array => {
    const c = weight(node, name);
    const ok = (c.dims.length === 1 && c.dims[0] === k) || (c.dims.length === 2 && c.dims[0] === 1 && c.dims[1] === k);
    if (!ok) no(`${describe(node)}: bias ${name} has shape [${c.dims}], expected [${k}] or [1, ${k}]`);
    return scale === 1 ? Float32Array.from(c.data) : Float32Array.from(c.data, (v) => v * scale);
  };
  const last = (): NativeLayer | undefined => layers[layers.length - 1];

  for (const node of g.nodes) {
    const what = describe(node);
    if (node.domain !== '' && node.domain !== 'ai.onnx') no(`${what}: domain ${node.domain} is not supported`);
    if (node.outputs.length !== 1) no(`${what}: ${node.outputs.length} outputs (the native runtime runs a single chain)`);
    const data = node.inputs.filter((n) => n !== '' && !g.initializers.has(n));
    if (data.length !== 1 || data[0] !== cur) {
      no(`${what}: the graph is not a single chain (the node reads ${data.join(', ') || 'only initializers'}, not just ${cur})`);
    }
    const out = node.outputs[0];
    switch (node.opType) {
      case 'Gemm': {
        const [a, bName, cName] = node.inputs;
        if (node.inputs.length < 2) no(`${what}: expected 2 or 3 inputs`);
        if (a !== cur) no(`${what}: the data input must be A`);
        if (intAttr(node, 'transA', 0) !== 0) no(`${what}: transA=1 is not supported`);
        const transB = intAttr(node, 'transB', 0);
        if (transB !== 0 && transB !== 1) no(`${what}: bad transB ${transB}`);
        const alpha = floatAttr(node, 'alpha', 1);
        const beta = floatAttr(node, 'beta', 1);
        const b = weight(node, bName);
        if (b.dims.length !== 2) no(`${what}: B has shape [${b.dims}], not 2-D`);
        const [inD, outD] = transB ? [b.dims[1], b.dims[0]] : [b.dims[0], b.dims[1]];
        if (inD !== dim) no(`${what}: B takes ${inD} inputs but the previous layer gives ${dim}`);
        const w = new Float32Array(outD * inD);
        for (let o = 0; o < outD; o++) {
          for (let i = 0; i < inD; i++) w[o * inD + i] = alpha * (transB ? b.data[o * inD + i] : b.data[i * outD + o]);
        }
        const bv = cName !== undefined && cName !== '' ? bias(node, cName, outD, beta) : null;
        layers.push({ kind: 'dense', inDim: inD, outDim: outD, w, b: bv, act: 'none' });
        dim = outD;
        break;
      }
      case 'MatMul': {
        if (node.inputs.length !== 2) no(`${what}: expected 2 inputs`);
        if (node.inputs[0] !== cur) no(`${what}: the data input must come first`);
        const b = weight(node, node.inputs[1]);
        if (b.dims.length !== 2) no(`${what}: B has shape [${b.dims}], not 2-D`);
        const [inD, outD] = b.dims;
        if (inD !== dim) no(`${what}: B takes ${inD} inputs but the previous layer gives ${dim}`);
        const w = new Float32Array(outD * inD);
        for (let o = 0; o < outD; o++) for (let i = 0; i < inD; i++) w[o * inD + i] = b.data[i * outD + o];
        layers.push({ kind: 'dense', inDim: inD, outDim: outD, w, b: null, act: 'none' });
        dim = outD;
        break;
      }
      case 'Add': {
        if (node.inputs.length !== 2) no(`${what}: expected 2 inputs`);
        const other = node.inputs[0] === cur ? node.inputs[1] : node.inputs[0];
        const prev = last();
        if (!prev || prev.kind !== 'dense' || prev.b !== null || prev.act !== 'none') {
          no(`${what}: Add is supported only as the bias of a dense layer that has none`);
        }
        (prev as Extract<NativeLayer, { kind: 'dense' }>).b = bias(node, other, dim, 1);
        break;
      }
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh': {
        const act = ACTS[node.opType];
        const prev = last();
        if (prev && prev.kind === 'dense' && prev.act === 'none') prev.act = act;
        else layers.push({ kind: 'act', act });
        break;
      }
      case 'Softmax': {
        const axis = intAttr(node, 'axis', softmaxDefaultAxis);
        if (axis !== -1 && axis !== 1) no(`${what}: axis ${axis} is not the last axis`);
        layers.push({ kind: 'softmax' });
        break;
      }
      case 'Identity':
        break;
      default:
        no(`${what}: op ${node.opType} is not supported by the native runtime`);
    }
    cur = out;
  }
  if (layers.length === 0) no('the graph has no layers');
  if (cur !== output.name) no(`the chain ends at ${cur}, not at the graph output ${output.name}`);
  if (output.shape[1] > 0 && output.shape[1] !== dim) no(`output ${output.name} declares ${output.shape[1]} columns but the chain gives ${dim}`);
  return { inDim: input.shape[1], outDim: dim, layers, inputName: input.name, outputName: output.name };
}

function describe(node: OnnxNode): string {
  return node.name ? `node ${node.name} (${node.opType})` : `a ${node.opType} node`;
}

function intAttr(node: OnnxNode, name: string, dflt: number): number {
  const v = node.attrs.get(name);
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw new Unsupported(`${describe(node)}: attribute ${name} is not an int`);
  return v;
}

function floatAttr(node: OnnxNode, name: string, dflt: number): number {
  const v = node.attrs.get(name);
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw new Unsupported(`${describe(node)}: attribute ${name} is not a float`);
  return v;
}

// ---------------------------------------------------------------- reference

function activate(v: number, act: PlanAct): number {
  if (act === 'relu') return v > 0 ? v : 0;
  if (act === 'sigmoid') return 1 / (1 + Math.exp(-v));
  if (act === 'tanh') return Math.tanh(v);
  return v;
}

/** Plain TypeScript reference (float64 accumulation) of a plan, for tests. */
export function runPlanReference(plan: NativePlan, x: Float32Array, batch: number): Float32Array {
  if (x.length !== batch * plan.inDim) throw new RangeError(`x has ${x.length} values, expected ${batch} x ${plan.inDim}`);
  let cur = x;
  let dim = plan.inDim;
  for (const layer of plan.layers) {
    if (layer.kind === 'dense') {
      const next = new Float32Array(batch * layer.outDim);
      for (let r = 0; r < batch; r++) {
        for (let o = 0; o < layer.outDim; o++) {
          let acc = layer.b ? layer.b[o] : 0;
          for (let i = 0; i < layer.inDim; i++) acc += layer.w[o * layer.inDim + i] * cur[r * dim + i];
          next[r * layer.outDim + o] = activate(acc, layer.act);
        }
      }
      cur = next;
      dim = layer.outDim;
    } else if (layer.kind === 'act') {
      cur = cur.map((v) => activate(v, layer.act));
    } else {
      const next = new Float32Array(cur.length);
      for (let r = 0; r < batch; r++) {
        let max = -Infinity;
        for (let i = 0; i < dim; i++) max = Math.max(max, cur[r * dim + i]);
        let sum = 0;
        for (let i = 0; i < dim; i++) sum += Math.exp(cur[r * dim + i] - max);
        for (let i = 0; i < dim; i++) next[r * dim + i] = Math.exp(cur[r * dim + i] - max) / sum;
      }
      cur = next;
    }
  }
  return cur;
}
