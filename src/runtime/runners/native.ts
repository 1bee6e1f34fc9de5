// The native dense runtime (src/native, compiled from ONNX by onnx-graph.ts's planNative):
// forward() writes y in place, synchronously. On device cuda the model's layers live on
// the GPU (native/cuda/dense.cu); if the device fails, the same forward answers on the CPU
// and takeDeviceLoss() reports it once.
import { layerSpecs, NativeModel } from '../../native/binding.js';
import type { Binding, NativePlan } from '../../native/binding.js';
import type { Runner } from './runner.js';

export class NativeRunner implements Runner {
  readonly kind = 'native';
  readonly #model: NativeModel;
  readonly #onDevice: boolean;
  #lossReported = false;

  constructor(plan: NativePlan, maxBatch: number, device: 'cpu' | 'cuda', precision: Binding.Precision = 'fp32', cudaGraphs = true) {
    this.#model = new NativeModel({ inDim: plan.inDim, maxBatch, device, precision, cudaGraphs, layers: layerSpecs(plan) });
    this.#onDevice = device === 'cuda';
  }

  run(x: Float32Array, rows: number, y: Float32Array): Float32Array {
    this.#model.forward(x, rows, y);
    return y;
  }

  takeDeviceLoss(): string | null {
    if (!this.#onDevice || this.#lossReported) return null;
    const why = this.#model.deviceLost;
    if (why !== null) this.#lossReported = true;
    return why;
  }

  injectDeviceFault(): boolean {
    return this.#model.injectDeviceFault();
  }

  release(): void {
    // The native model is freed with its wrapper (garbage collected).
  }
}
