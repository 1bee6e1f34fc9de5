// The native runtime models the dense-layer benchmarks run (bench/int8.ts,
// bench/tools/dense-micro.ts): the demo's fraud MLPs as the worker builds them (planNative
// of their ONNX files), and a wider random MLP, 256 -> 512 -> 512 -> 1 (relu, relu,
// sigmoid; seed 5), where the arithmetic outweighs the per-layer overheads.
import { readFileSync } from 'node:fs';

import { mulberry32 } from '../src/bench/random.js';
import { constants, layerSpecs, NativeModel } from '../src/native/binding.js';
import { readOnnx } from '../src/runtime/onnx-graph.js';
import { planNative } from '../src/runtime/onnx-plan.js';

export type Precision = 'fp32' | 'int8';

export function fraudModel(version: number, precision: Precision, maxBatch: number): NativeModel {
  const p = planNative(readOnnx(new Uint8Array(readFileSync(new URL(`../models/fraud/${version}/model.onnx`, import.meta.url)))));
  if (!('plan' in p)) throw new Error(p.unsupported);
  return new NativeModel({ inDim: p.plan.inDim, maxBatch, device: 'cpu', precision, layers: layerSpecs(p.plan) });
}

export function wideMlp(precision: Precision, maxBatch: number): NativeModel {
  const rng = mulberry32(5);
  const dims = [256, 512, 512, 1];
  const layers = dims.slice(1).map((out, k) => {
    const inDim = dims[k];
    const w = new Float32Array(inDim * out).map(() => (rng() * 2 - 1) / Math.sqrt(inDim));
    const b = new Float32Array(out).map(() => (rng() * 2 - 1) * 0.1);
    return { kind: constants.layerKinds.dense, inDim, outDim: out, w, b, act: k < 2 ? constants.acts.relu : constants.acts.sigmoid };
  });
  return new NativeModel({ inDim: 256, maxBatch, device: 'cpu', precision, layers });
}
