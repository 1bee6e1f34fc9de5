// onnxruntime-node, for graphs the native runtime does not cover. One session per model
// version, single-threaded (the worker pool is the parallelism). run() is asynchronous and
// returns onnxruntime's output buffer.
import type * as Ort from 'onnxruntime-node';

import type { Runner } from './runner.js';

let ort: typeof Ort | undefined;

export class OnnxRunner implements Runner {
  readonly kind = 'onnx';
  readonly #session: Ort.InferenceSession;
  readonly #inputName: string;
  readonly #outputName: string;
  readonly #inDim: number;
  readonly #outDim: number;

  private constructor(session: Ort.InferenceSession, inputName: string, outputName: string, inDim: number, outDim: number) {
    this.#session = session;
    this.#inputName = inputName;
    this.#outputName = outputName;
    this.#inDim = inDim;
    this.#outDim = outDim;
  }

  static async create(path: string, inputName: string, outputName: string, inDim: number, outDim: number): Promise<OnnxRunner> {
    ort ??= await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new OnnxRunner(session, inputName, outputName, inDim, outDim);
  }

  async run(x: Float32Array, rows: number): Promise<Float32Array> {
    const feeds = { [this.#inputName]: new ort!.Tensor('float32', x.subarray(0, rows * this.#inDim), [rows, this.#inDim]) };
    const out = await this.#session.run(feeds);
    const y = (out[this.#outputName] ?? Object.values(out)[0]).data as Float32Array;
    if (y.length < rows * this.#outDim) throw new Error(`model output has ${y.length} values, expected ${rows * this.#outDim}`);
    return y;
  }

  release(): Promise<void> {
    return this.#session.release();
  }
}
