// The native dense runtime (src/native, compiled from ONNX by onnx-graph.ts's planNative):
// forward() writes y in place, synchronously.
import { layerSpecs, NativeModel } from '../../native/binding.js';
import type { NativePlan } from '../../native/binding.js';
import type { Runner } from './runner.js';

export class NativeRunner implements Runner {
  readonly kind = 'native';
  readonly #model: NativeModel;

  constructor(plan: NativePlan, maxBatch: number, device: 'cpu' | 'cuda', precision: 'fp32' | 'int8' = 'fp32') {
    this.#model = new NativeModel({ inDim: plan.inDim, maxBatch, device, precision, layers: layerSpecs(plan) });
  }

  run(x: Float32Array, rows: number, y: Float32Array): Float32Array {
    this.#model.forward(x, rows, y);
    return y;
  }

  release(): void {
    // The native model is freed with its wrapper (garbage collected).
  }
}
