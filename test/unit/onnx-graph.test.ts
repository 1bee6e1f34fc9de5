// The ONNX reader (src/runtime/onnx-graph.ts) and the native-plan compiler (onnx-plan.ts) on the fixture
// models (scripts/make-test-models.py) and the demo fraud models
// (scripts/train-fraud-model.py), checked against onnxruntime-node.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { HotpathError } from '../../src/errors.js';
import type { NativePlan } from '../../src/native/binding.js';
import {
  type OnnxGraph,
  type OnnxNode,
  type OnnxTensor,
  readOnnx,
} from '../../src/runtime/onnx-graph.js';
import { planNative, runPlanReference } from '../../src/runtime/onnx-plan.js';
import { mulberry32 as rng } from '../support/random.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (name: string): string => `${root}test/fixtures/models/${name}.onnx`;
const FRAUD = ['models/fraud/1/model.onnx', 'models/fraud/2/model.onnx', 'models/fraud_rules/1/model.onnx'].map((p) => root + p);
const SUPPORTED = ['gemm_relu_sigmoid', 'gemm_notrans_tanh', 'matmul_add_softmax', 'gemm_nobias_chain'].map(fixture);
const ALL_FIXTURES = [...SUPPORTED, fixture('unsupported_leakyrelu')];

function randn(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function load(path: string): OnnxGraph {
  return readOnnx(readFileSync(path));
}

function planOf(g: OnnxGraph): NativePlan {
  const r = planNative(g);
  if ('unsupported' in r) throw new Error(`unexpectedly unsupported: ${r.unsupported}`);
  return r.plan;
}

function expectLoadFailed(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HotpathError);
    expect((err as HotpathError).code).toBe('HP_ERR_MODEL_LOAD_FAILED');
    return;
  }
  throw new Error('expected HP_ERR_MODEL_LOAD_FAILED, nothing was thrown');
}

describe('readOnnx on the fixtures', () => {
  const expected: Record<string, { d: number; k: number; ops: string[] }> = {
    gemm_relu_sigmoid: { d: 7, k: 1, ops: ['Gemm', 'Relu', 'Gemm', 'Sigmoid'] },
    gemm_notrans_tanh: { d: 5, k: 3, ops: ['Gemm', 'Tanh', 'Gemm'] },
    matmul_add_softmax: { d: 6, k: 4, ops: ['MatMul', 'Add', 'Relu', 'MatMul', 'Add', 'Softmax'] },
    gemm_nobias_chain: { d: 4, k: 2, ops: ['Gemm', 'Sigmoid', 'Gemm', 'Tanh', 'Gemm', 'Relu'] },
    unsupported_leakyrelu: { d: 5, k: 1, ops: ['Gemm', 'LeakyRelu', 'Gemm'] },
  };
  for (const [name, want] of Object.entries(expected)) {
    it(name, () => {
      const g = load(fixture(name));
      expect(g.irVersion).toBe(8);
      expect(g.opset).toBe(13);
      expect(g.inputs).toEqual([{ name: 'x', elemType: 1, datatype: 'FP32', shape: [-1, want.d] }]);
      expect(g.outputs).toEqual([{ name: 'y', elemType: 1, datatype: 'FP32', shape: [-1, want.k] }]);
      expect(g.nodes.map((n) => n.opType)).toEqual(want.ops);
      expect(g.nodes.every((n) => n.domain === '' && n.outputs.length === 1)).toBe(true);
      expect(g.nodes[0].inputs[0]).toBe('x');
      expect(g.nodes[g.nodes.length - 1].outputs).toEqual(['y']);
      for (const t of g.initializers.values()) {
        expect(t.dataType).toBe(1);
        expect(t.data).toBeInstanceOf(Float32Array);
        expect(t.data!.length).toBe(t.dims.reduce((a, b) => a * b, 1));
      }
    });
  }

  it('reads attributes: ints, floats and a negative int', () => {
    const notrans = load(fixture('gemm_notrans_tanh'));
    const gemm1 = notrans.nodes[0];
    expect(gemm1.name).toBe('gemm1');
    expect(gemm1.inputs).toEqual(['x', 'W1', 'C1']);
    expect(gemm1.attrs.get('transB')).toBe(0);
    expect(gemm1.attrs.get('alpha')).toBeCloseTo(0.7, 6);
    expect(gemm1.attrs.get('beta')).toBeCloseTo(1.3, 6);
    expect(notrans.initializers.get('C1')!.dims).toEqual([8]);
    expect(notrans.initializers.get('C2')!.dims).toEqual([1, 3]);
    expect(notrans.initializers.get('W1')!.dims).toEqual([5, 8]);
    const softmax = load(fixture('matmul_add_softmax')).nodes[5];
    expect(softmax.attrs.get('axis')).toBe(-1);
    expect(load(fixture('unsupported_leakyrelu')).nodes[1].attrs.get('alpha')).toBeCloseTo(0.1, 6);
  });

  it('reads the fraud models', () => {
    for (const path of FRAUD) {
      const g = load(path);
      expect(g.inputs).toEqual([{ name: 'features', elemType: 1, datatype: 'FP32', shape: [-1, 10] }]);
      expect(g.outputs).toEqual([{ name: 'score', elemType: 1, datatype: 'FP32', shape: [-1, 1] }]);
      expect(g.nodes[g.nodes.length - 1].opType).toBe('Sigmoid');
    }
  });
});

describe('planNative', () => {
  it('plans the four supported fixtures', () => {
    const shapes = SUPPORTED.map((p) => {
      const plan = planOf(load(p));
      return [plan.inDim, plan.outDim, plan.layers.map((l) => (l.kind === 'dense' ? `dense${l.inDim}x${l.outDim}:${l.act}:${l.b ? 'b' : '-'}` : l.kind === 'act' ? `act:${l.act}` : l.kind))];
    });
    expect(shapes).toEqual([
      [7, 1, ['dense7x16:relu:b', 'dense16x1:sigmoid:b']],
      [5, 3, ['dense5x8:tanh:b', 'dense8x3:none:b']],
      [6, 4, ['dense6x12:relu:b', 'dense12x4:none:b', 'softmax']],
      [4, 2, ['dense4x4:sigmoid:-', 'dense4x4:tanh:b', 'dense4x2:relu:b']],
    ]);
  });

  it('folds alpha into W and beta into the bias, and transposes when transB=0', () => {
    const g = load(fixture('gemm_notrans_tanh'));
    const layer = planOf(g).layers[0];
    if (layer.kind !== 'dense') throw new Error('not dense');
    const b = g.initializers.get('W1')!.data as Float32Array; // [5, 8]
    const c = g.initializers.get('C1')!.data as Float32Array;
    expect(layer.w[2 * 5 + 3]).toBeCloseTo(0.7 * b[3 * 8 + 2], 6);
    expect(layer.b![4]).toBeCloseTo(1.3 * c[4], 6);
  });

  it('refuses LeakyRelu, naming it', () => {
    const r = planNative(load(fixture('unsupported_leakyrelu')));
    expect('unsupported' in r && r.unsupported).toMatch(/LeakyRelu/);
  });

  it('plans the fraud models', () => {
    for (const path of FRAUD) {
      const plan = planOf(load(path));
      expect(plan.inDim).toBe(10);
      expect(plan.outDim).toBe(1);
      expect(plan.inputName).toBe('features');
      expect(plan.outputName).toBe('score');
      const lastLayer = plan.layers[plan.layers.length - 1];
      expect(lastLayer.kind === 'dense' && lastLayer.act).toBe('sigmoid');
    }
  });
});

describe('planNative on hand-built graphs', () => {
  const f32 = (name: string, dims: number[], fill = 0.5): OnnxTensor => ({
    name, dims, dataType: 1, data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(fill),
  });
  const node = (opType: string, inputs: string[], output: string, attrs: Record<string, number> = {}, domain = ''): OnnxNode => ({
    opType, domain, name: `${opType.toLowerCase()}_${output}`, inputs, outputs: [output], attrs: new Map(Object.entries(attrs)),
  });
  const graph = (nodes: OnnxNode[], inits: OnnxTensor[], opts: { d?: number; k?: number; opset?: number; extraInput?: boolean } = {}): OnnxGraph => ({
    irVersion: 8,
    opset: opts.opset ?? 13,
    inputs: [
      { name: 'x', elemType: 1, datatype: 'FP32', shape: [-1, opts.d ?? 3] },
      ...(opts.extraInput ? [{ name: 'z', elemType: 1, datatype: 'FP32', shape: [-1, 3] }] : []),
    ],
    outputs: [{ name: 'y', elemType: 1, datatype: 'FP32', shape: [-1, opts.k ?? 2] }],
    nodes,
    initializers: new Map(inits.map((t) => [t.name, t])),
  });
  const reason = (g: OnnxGraph): string => {
    const r = planNative(g);
    return 'unsupported' in r ? r.unsupported : 'supported';
  };
  const W = f32('W', [2, 3]);

  it('skips Identity, fuses one activation and keeps a second one standalone', () => {
    const plan = planOf(graph([
      node('Identity', ['x'], 'i'), node('Gemm', ['i', 'W'], 'h', { transB: 1 }),
      node('Relu', ['h'], 'a'), node('Sigmoid', ['a'], 'b'), node('Softmax', ['b'], 'y', { axis: 1 }),
    ], [W]));
    expect(plan.layers.map((l) => l.kind === 'act' ? `act:${l.act}` : l.kind === 'dense' ? `dense:${l.act}` : l.kind)).toEqual(['dense:relu', 'act:sigmoid', 'softmax']);
  });

  it('uses axis 1 as the default Softmax axis before opset 13', () => {
    const nodes = [node('Gemm', ['x', 'W'], 'h', { transB: 1 }), node('Softmax', ['h'], 'y')];
    expect(reason(graph(nodes, [W], { opset: 11 }))).toBe('supported');
    expect(reason(graph(nodes, [W], { opset: 13 }))).toBe('supported');
    expect(reason(graph([nodes[0], node('Softmax', ['h'], 'y', { axis: 0 })], [W]))).toMatch(/axis 0/);
  });

  it('refuses what the native runtime cannot run', () => {
    const gemm = node('Gemm', ['x', 'W'], 'y', { transB: 1 });
    expect(reason(graph([gemm], [W], { extraInput: true }))).toMatch(/2 inputs/);
    expect(reason(graph([node('Gemm', ['x', 'W'], 'y', { transA: 1, transB: 1 })], [W]))).toMatch(/transA/);
    expect(reason(graph([node('Gemm', ['x', 'W'], 'y', { transB: 0 })], [W]))).toMatch(/takes 2 inputs but the previous layer gives 3/);
    expect(reason(graph([node('Gemm', ['x', 'W'], 'y', { transB: 1 }, 'com.microsoft')], [W]))).toMatch(/domain com\.microsoft/);
    expect(reason(graph([gemm], [{ ...W, dataType: 11, data: new Float64Array(6) }]))).toMatch(/FP64/);
    expect(reason(graph([gemm], [W], { k: 5 }))).toMatch(/declares 5 columns/);
    // a bias of the wrong shape
    expect(reason(graph([node('Gemm', ['x', 'W', 'C'], 'y', { transB: 1 })], [W, f32('C', [2, 2])]))).toMatch(/bias C/);
    // Add not right after a bias-less dense layer
    expect(reason(graph([node('Gemm', ['x', 'W', 'C'], 'h', { transB: 1 }), node('Add', ['h', 'C'], 'y')], [W, f32('C', [2])]))).toMatch(/Add/);
    expect(reason(graph([node('Gemm', ['x', 'W'], 'h', { transB: 1 }), node('Relu', ['h'], 'a'), node('Add', ['a', 'C'], 'y')], [W, f32('C', [2])]))).toMatch(/Add/);
    // a branch: x feeds two nodes
    expect(reason(graph([node('Gemm', ['x', 'W'], 'h', { transB: 1 }), node('Gemm', ['x', 'W'], 'y', { transB: 1 })], [W]))).toMatch(/single chain/);
    // Add of two data tensors
    expect(reason(graph([node('Gemm', ['x', 'W'], 'h', { transB: 1 }), node('Add', ['h', 'h'], 'y')], [W]))).toMatch(/single chain/);
    // the chain does not end at the output
    expect(reason(graph([node('Gemm', ['x', 'W'], 'h', { transB: 1 })], [W]))).toMatch(/not at the graph output y/);
    expect(reason(graph([node('Identity', ['x'], 'y')], [], { k: 3 }))).toMatch(/no layers/);
  });

  it('accepts Add with the initializer first, and MatMul', () => {
    const plan = planOf(graph([node('MatMul', ['x', 'B'], 'm'), node('Add', ['C', 'm'], 'y')], [f32('B', [3, 2]), f32('C', [1, 2], 0.25)]));
    const l = plan.layers[0];
    expect(l.kind === 'dense' && Array.from(l.b!)).toEqual([0.25, 0.25]);
  });
});

describe('runPlanReference matches onnxruntime-node', () => {
  for (const path of [...SUPPORTED, ...FRAUD]) {
    it(path.slice(root.length), async () => {
      const plan = planOf(load(path));
      const session = await ort.InferenceSession.create(path);
      const rand = rng(path.length * 7919);
      const fraud = path.includes('models/fraud');
      try {
        for (const batch of [1, 3, 64]) {
          const x = new Float32Array(batch * plan.inDim);
          // fraud features are log1p counts/amounts (0..6) and a country count (column 6: 0..6)
          for (let i = 0; i < x.length; i++) {
            x[i] = !fraud ? randn(rand) * 1.5 : i % plan.inDim === 6 ? Math.floor(rand() * 7) : rand() * 6;
          }
          const out = await session.run({ [plan.inputName]: new ort.Tensor('float32', x, [batch, plan.inDim]) });
          const want = out[plan.outputName];
          expect(want.dims).toEqual([batch, plan.outDim]);
          const got = runPlanReference(plan, x, batch);
          expect(got.length).toBe(batch * plan.outDim);
          const data = want.data as Float32Array;
          let maxDiff = 0;
          for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - data[i]));
          expect(maxDiff).toBeLessThanOrEqual(1e-5);
          // a comparison of constant outputs (a dead Relu, a saturated sigmoid) would prove little
          if (batch === 64) expect(new Set(data).size).toBeGreaterThan(32);
        }
      } finally {
        await session.release();
      }
    });
  }
});

describe('readOnnx on malformed bytes', () => {
  it('throws on empty input', () => {
    expectLoadFailed(() => readOnnx(new Uint8Array(0)));
  });

  it('throws on every strict prefix of a fixture', () => {
    for (const path of ALL_FIXTURES) {
      const bytes = readFileSync(path);
      for (let n = 0; n < bytes.length; n++) expectLoadFailed(() => readOnnx(bytes.subarray(0, n)));
    }
  });

  it('throws on random bytes', () => {
    const rand = rng(42);
    for (let k = 0; k < 300; k++) {
      const bytes = new Uint8Array(1 + Math.floor(rand() * 2000));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
      expectLoadFailed(() => readOnnx(bytes));
    }
  });

  it('throws on bad wire types, overlong varints and lengths past the end', () => {
    expectLoadFailed(() => readOnnx(Uint8Array.of(0x0b))); // field 1, wire type 3 (group)
    expectLoadFailed(() => readOnnx(Uint8Array.of(0x0e))); // wire type 6
    expectLoadFailed(() => readOnnx(Uint8Array.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)));
    expectLoadFailed(() => readOnnx(Uint8Array.of(0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00))); // graph of 4 GiB
    expectLoadFailed(() => readOnnx(Uint8Array.of(0x38, 0x01))); // graph as a varint
    expectLoadFailed(() => readOnnx(Buffer.from('not an onnx model at all\n')));
  });

  it('never throws anything else, nor hangs, on corrupted models; planNative never throws', () => {
    const rand = rng(7);
    let loaded = 0;
    for (const path of [...ALL_FIXTURES, ...FRAUD]) {
      const original = readFileSync(path);
      for (let k = 0; k < 300; k++) {
        const bytes = Uint8Array.from(original);
        const flips = 1 + Math.floor(rand() * 4);
        for (let j = 0; j < flips; j++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
        let g: OnnxGraph;
        try {
          g = readOnnx(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(HotpathError);
          expect((err as HotpathError).code).toBe('HP_ERR_MODEL_LOAD_FAILED');
          continue;
        }
        loaded++;
        const r = planNative(g);
        expect('plan' in r || typeof r.unsupported === 'string').toBe(true);
      }
    }
    expect(loaded).toBeGreaterThan(0); // some flips land in weights and names
  });
});

describe('readOnnx wire-format details', () => {
  // A tiny protobuf encoder for hand-made models.
  const varint = (v: bigint): number[] => {
    let u = BigInt.asUintN(64, v);
    const out: number[] = [];
    do {
      const b = Number(u & 0x7fn);
      u >>= 7n;
      out.push(u ? b | 0x80 : b);
    } while (u);
    return out;
  };
  const tag = (no: number, wt: number): number[] => varint(BigInt((no << 3) | wt));
  const vField = (no: number, v: number | bigint): number[] => [...tag(no, 0), ...varint(BigInt(v))];
  const lField = (no: number, bytes: number[] | string): number[] => {
    const b = typeof bytes === 'string' ? [...Buffer.from(bytes)] : bytes;
    return [...tag(no, 2), ...varint(BigInt(b.length)), ...b];
  };
  const f32s = (vals: number[]): number[] => [...Buffer.from(new Float32Array(vals).buffer)];
  const valueInfo = (name: string, dims: (number | string)[]): number[] =>
    [...lField(1, name), ...lField(2, lField(1, [...vField(1, 1), ...lField(2, dims.flatMap((d) => lField(1, typeof d === 'number' ? vField(1, d) : lField(2, d))))]))];

  it('reads unpacked dims and float_data, skips unknown fields of every wire type', () => {
    const tensor = [
      ...vField(1, 2), ...vField(1, 3), // unpacked dims
      ...vField(2, 1),
      ...f32s([1, 2, 3, 4, 5, 6]).flatMap((_, i, all) => (i % 4 === 0 ? [...tag(4, 5), ...all.slice(i, i + 4)] : [])), // unpacked float_data
      ...lField(8, 'W'),
      ...tag(99, 1), 1, 2, 3, 4, 5, 6, 7, 8, // unknown fixed64
      ...tag(98, 5), 1, 2, 3, 4, // unknown fixed32
    ];
    const gemm = [...lField(1, 'x'), ...lField(1, 'W'), ...lField(2, 'y'), ...lField(4, 'Gemm'), ...lField(5, [...lField(1, 'transB'), ...vField(3, 1), ...vField(20, 2)]), ...vField(77, 5)];
    const graphBytes = [...lField(1, gemm), ...lField(2, 'g'), ...lField(5, tensor), ...lField(11, valueInfo('x', ['N', 3])), ...lField(11, valueInfo('W', [2, 3])), ...lField(12, valueInfo('y', ['N', 2])), ...lField(60, 'junk')];
    const model = Uint8Array.from([...vField(1, 7), ...lField(3, '1.0'), ...lField(7, graphBytes), ...lField(8, [...lField(1, 'ai.onnx'), ...vField(2, 11)]), ...lField(8, [...lField(1, 'ai.onnx.ml'), ...vField(2, 3)])]);
    const g = readOnnx(model);
    expect(g.irVersion).toBe(7);
    expect(g.opset).toBe(11);
    expect(g.inputs.map((i) => i.name)).toEqual(['x']); // W is an initializer
    expect(g.inputs[0].shape).toEqual([-1, 3]);
    expect(g.initializers.get('W')!.dims).toEqual([2, 3]);
    expect(Array.from(g.initializers.get('W')!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(g.nodes[0].attrs.get('transB')).toBe(1);
    const plan = planOf(g);
    expect(Array.from(runPlanReference(plan, Float32Array.of(1, 1, 1), 1))).toEqual([6, 15]);
  });

  it('refuses a tensor whose data does not match its dims', () => {
    const tensor = [...lField(1, [...varint(2n), ...varint(3n)]), ...vField(2, 1), ...lField(4, f32s([1, 2, 3])), ...lField(8, 'W')];
    const graphBytes = [...lField(5, tensor), ...lField(11, valueInfo('x', ['N', 3]))];
    const model = Uint8Array.from([...vField(1, 8), ...lField(7, graphBytes), ...lField(8, vField(2, 13))]);
    expectLoadFailed(() => readOnnx(model));
  });
});
