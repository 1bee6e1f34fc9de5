// What a worker runs a batch on. A runner owns a loaded model (native kernels, an
// onnxruntime session, later online learners and recommenders) and is used by one worker
// thread only. The worker gathers a batch's input matrix into x, calls run, and copies
// each request's rows of the result into the response ring before its next run.
//
// A new kind of runner: implement Runner, give LoadMessage a `runtime` value for it, and
// add a case to createRunner. Nothing else in the worker changes.
import type { LoadMessage } from '../worker-protocol.js';
import { NativeRunner } from './native.js';
import { OnnxRunner } from './onnx.js';

export interface Runner {
  /** 'native', 'onnx', ... (logs and tests) */
  readonly kind: string;
  /**
   * Runs `rows` rows of x (rows x inDim, FP32; x may be longer) and returns rows x outDim
   * values: y itself (which holds at least that many) or a buffer of the runtime's own,
   * valid until the next run. Synchronous runners return the array, not a promise: the
   * worker's loop awaits only when it must.
   */
  run(x: Float32Array, rows: number, y: Float32Array): Float32Array | Promise<Float32Array>;
  /** Frees what the model holds; the runner is not used again. */
  release(): void | Promise<void>;
  /**
   * A runner on a GPU: why its device was given up (it answers on the CPU since), once,
   * the first time it is asked after the loss; else null. The worker asks after each run.
   */
  takeDeviceLoss?(): string | null;
  /** A runner on a GPU: the next device run fails as on a lost device (fault injection); false if not on a GPU */
  injectDeviceFault?(): boolean;
}

/** The runner a load message asks for. */
export async function createRunner(m: LoadMessage): Promise<Runner> {
  if (m.runtime === 'native') return new NativeRunner(m.plan!, m.maxBatch, m.device, m.precision, m.cudaGraphs);
  return OnnxRunner.create(m.path, m.inputName, m.outputName, m.inDim, m.outDim);
}
