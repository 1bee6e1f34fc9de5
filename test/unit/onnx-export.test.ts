// A dense learner exported to ONNX (src/learn/onnx-export.ts) is read by hotpath's own ONNX
// reader and compiled to a native plan (so the registry serves it on runtime 'native'), and
// onnxruntime-node gives the learner's probabilities on random raw inputs.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { type DenseLayer, denseChainOnnx, learnerOnnx } from '../../src/learn/onnx-export.js';
import { NativeLearner } from '../../src/native/learner.js';
import { readOnnx } from '../../src/runtime/onnx-graph.js';
import { planNative, runPlanReference } from '../../src/runtime/onnx-plan.js';
import { mulberry32 } from '../support/random.js';

const D = 6;

/** A learner trained on a stream with uneven means and scales, so the folded scaler matters. */
function trained(optimizer: 'sgd' | 'ftrl'): { learner: NativeLearner; rand: () => number } {
  const rand = mulberry32(11);
  const learner = new NativeLearner({ dim: D, optimizer, lr: 0.05 });
  const x = new Float64Array(D);
  for (let t = 0; t < 3000; t++) {
    let s = 0;
    for (let i = 0; i < D; i++) {
      const u = rand() * 2 - 1;
      x[i] = 50 * i + u * (i + 1) * 4;
      s += (i % 2 ? -1 : 1) * u;
    }
    learner.learn(x, s > 0 ? 1 : 0);
  }
  return { learner, rand };
}

describe.each(['sgd', 'ftrl'] as const)('ONNX export of a dense %s learner', (optimizer) => {
  const { learner, rand } = trained(optimizer);
  const bytes = learnerOnnx(learner);
  const N = 256;
  const x = Float32Array.from({ length: N * D }, (_, k) => 50 * (k % D) + (rand() * 2 - 1) * ((k % D) + 1) * 5);
  const want = new Float32Array(N);
  learner.predictMany(x, N, want);

  it("hotpath's reader and plan compiler take it as a native model", () => {
    const g = readOnnx(bytes);
    expect(g.opset).toBe(13);
    expect(g.inputs).toEqual([{ name: 'input', elemType: 1, datatype: 'FP32', shape: [-1, D] }]);
    expect(g.outputs).toEqual([{ name: 'output', elemType: 1, datatype: 'FP32', shape: [-1, 1] }]);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Sigmoid']);
    const p = planNative(g);
    if ('unsupported' in p) throw new Error(p.unsupported);
    expect(p.plan.layers).toHaveLength(1);
    expect(p.plan.layers[0]).toMatchObject({ kind: 'dense', inDim: D, outDim: 1, act: 'sigmoid' });
    const y = runPlanReference(p.plan, x, N);
    for (let r = 0; r < N; r++) expect(Math.abs(y[r] - want[r])).toBeLessThan(1e-5);
  });

  it('onnxruntime-node gives the learner’s probabilities within 1e-5', async () => {
    const session = await ort.InferenceSession.create(bytes);
    try {
      const out = await session.run({ input: new ort.Tensor('float32', x, [N, D]) });
      const y = out.output.data as Float32Array;
      expect(out.output.dims).toEqual([N, 1]);
      let worst = 0;
      for (let r = 0; r < N; r++) worst = Math.max(worst, Math.abs(y[r] - want[r]));
      expect(worst).toBeLessThan(1e-5);
      // The probabilities are not all the same: the check has teeth.
      expect(Math.max(...want) - Math.min(...want)).toBeGreaterThan(0.5);
    } finally {
      await session.release();
    }
  });
});

describe('ONNX export refusals', () => {
  it('a learner with a hashed block has no dense-only form', () => {
    const l = new NativeLearner({ dim: 2, hashBits: 4 });
    expect(() => learnerOnnx(l)).toThrow(expect.objectContaining({ code: 'HP_ERR_NATIVE_UNSUPPORTED' }));
  });
});

describe('a chain of dense layers as ONNX (denseChainOnnx, the benches’ wide models)', () => {
  const rand = mulberry32(3);
  const dims = [5, 16, 8, 1];
  const layers: DenseLayer[] = dims.slice(1).map((out, k) => ({
    w: Float32Array.from({ length: out * dims[k] }, () => rand() * 2 - 1),
    b: Float32Array.from({ length: out }, () => rand() - 0.5),
    act: k < 2 ? 'relu' : 'sigmoid',
  }));
  const bytes = denseChainOnnx(5, layers);
  const N = 32;
  const x = Float32Array.from({ length: N * 5 }, () => rand() * 4 - 2);

  it('compiles to a native plan of the same layers, and onnxruntime agrees with it within 1e-5', async () => {
    const p = planNative(readOnnx(bytes));
    if ('unsupported' in p) throw new Error(p.unsupported);
    expect(p.plan.layers).toMatchObject([
      { kind: 'dense', inDim: 5, outDim: 16, act: 'relu' },
      { kind: 'dense', inDim: 16, outDim: 8, act: 'relu' },
      { kind: 'dense', inDim: 8, outDim: 1, act: 'sigmoid' },
    ]);
    const want = runPlanReference(p.plan, x, N);
    const session = await ort.InferenceSession.create(bytes);
    try {
      const y = (await session.run({ input: new ort.Tensor('float32', x, [N, 5]) })).output.data as Float32Array;
      for (let r = 0; r < N; r++) expect(Math.abs(y[r] - want[r])).toBeLessThan(1e-5);
      // A hand-computed row, so the plan itself is checked too: relu(W x + b) layer by layer.
      let h = Array.from(x.subarray(0, 5));
      for (const [k, l] of layers.entries()) {
        const out = l.b.length;
        const z = Array.from({ length: out }, (_, o) => h.reduce((acc, v, i) => acc + v * l.w[o * h.length + i], l.b[o]));
        h = k < 2 ? z.map((v) => Math.max(0, v)) : z.map((v) => 1 / (1 + Math.exp(-v)));
      }
      expect(Math.abs(h[0] - y[0])).toBeLessThan(1e-5);
    } finally {
      await session.release();
    }
  });

  it('refuses a layer whose weights do not match its input width', () => {
    expect(() => denseChainOnnx(4, layers)).toThrow(RangeError);
  });
});
