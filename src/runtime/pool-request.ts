// A request as the pool tracks it, from submit() to its outcome. Pooled: a request object
// returns to the free list once no queue of the pool refers to it, so the predict path
// allocates none (young-generation GC under load). Its outcome fields are filled in place
// and handed to the job's done(); they are valid only during that call.
import type { Outcome, Status } from './records.js';
import { STATUS } from './records.js';
import type { Ring } from './ring.js';
import type { InlineWorker } from './inline-worker.js';
import type { WorkerHandle } from './worker-handle.js';

/**
 * What the submitter gives the pool: methods, not closures, so that a pooled object of the
 * submitter's can be its own job (see InferenceService).
 */
export interface Job {
  /** Writes the request's body (the size given to submit) at `off` of the ring's data. Called once, in submit or later from the wait queue. */
  write(ring: Ring, off: number): void;
  /** The outcome, exactly once. `o` is the pool's and valid only during the call: copy what you keep. */
  done(o: Outcome): void;
}

export class PoolRequest implements Outcome {
  id = 0;
  slot = 0;
  op = 0;
  /** rows asked for (`rows` is the answer's) */
  reqRows = 0;
  size = 0;
  deadline = 0;
  enqueued = 0;
  job: Job | null = null;
  finished = true;
  worker: WorkerHandle | InlineWorker | undefined = undefined;
  /** held by the deadline FIFO / by the wait queue: not free until both let go */
  inFifo = false;
  inWaiting = false;
  /** on the pool's free list (a request is put there once) */
  inFree = false;
  /** its neighbours in its worker's list of unanswered requests (pending.ts) */
  prevPending: PoolRequest | undefined = undefined;
  nextPending: PoolRequest | undefined = undefined;
  // the outcome
  status: Status = STATUS.OK;
  values: Float32Array | undefined = undefined;
  rows = 0;
  outDim = 0;
  queueUs = 0;
  batchWaitUs = 0;
  computeUs = 0;
  batch = 0;
  message: string | undefined = undefined;

  /** Fills the outcome of a request that got no answer from a worker. */
  failWith(status: Status, queueUs: number, message?: string): this {
    this.status = status;
    this.values = undefined;
    this.rows = 0;
    this.outDim = 0;
    this.queueUs = queueUs;
    this.batchWaitUs = 0;
    this.computeUs = 0;
    this.batch = 0;
    this.message = message;
    return this;
  }
}
