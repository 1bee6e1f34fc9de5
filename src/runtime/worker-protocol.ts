// Messages between the main thread and an inference worker on the control plane (model
// loads, unloads, test faults). The hot path never uses them: requests and responses go
// through the rings (ring.ts, records.ts). Errors cross as {code, message}, never as Error
// objects.
import type { MessagePort } from 'node:worker_threads';

import type { Binding } from '../native/binding.js';
import type { NativePlan } from '../native/binding.js';

export interface WorkerData {
  requestRing: SharedArrayBuffer;
  responseRing: SharedArrayBuffer;
  /** Float64Array of COUNTER_WORDS: MAX_SLOTS x COUNTER.PER_SLOT, then BUSY_SINCE, written by this worker only; then QUEUE_DELAY_US per slot, written by the main thread */
  counters: SharedArrayBuffer;
  storeId: number;
  controlPort: MessagePort;
}

export interface LoadMessage {
  type: 'load';
  /** set by the pool per send: the worker's ack names it */
  token: number;
  slot: number;
  name: string;
  version: number;
  runtime: 'native' | 'onnx';
  plan?: NativePlan;
  path: string;
  device: 'cpu' | 'cuda';
  /** the native runtime's weights and arithmetic (config: /models/{name}/precision); absent: fp32 */
  precision?: Binding.Precision;
  /** device cuda: a CUDA graph per batch bucket (config: /models/{name}/cuda_graphs); absent: true */
  cudaGraphs?: boolean;
  inDim: number;
  outDim: number;
  inputName: string;
  outputName: string;
  maxBatch: number;
  maxQueueDelayUs: number;
  /** adaptive batching: the queue delay is read from the slot's QUEUE_DELAY_US word (records.ts), which the main thread moves */
  adaptive?: boolean;
  preferred: number[];
  /** server.queue_delay_budget (ms): a request not started this long after it was submitted is answered as shed; 0: none */
  maxWaitMs: number;
  /** null: the model takes tensors only (no predict requests) */
  gather: Binding.GatherSpec | null;
}

export type ControlMessage =
  | LoadMessage
  | { type: 'unload'; slot: number; token: number }
  /** test faults (runners/fault.ts); `until` (epoch ms): a stall or failure lasts until then, 0 or absent: until changed */
  | { type: 'fault'; kind: 'crash' | 'stall' | 'fail' | 'device'; slot?: number; ms?: number; count?: number; until?: number }
  | { type: 'stop' };

export type WorkerReply =
  | { type: 'ready' }
  /** a model's GPU failed; it answers on the CPU from now on */
  | { type: 'device-lost'; slot: number; why: string }
  | { type: 'ack'; token: number; ok: true }
  | { type: 'ack'; token: number; ok: false; error: { code: string; message: string } };
