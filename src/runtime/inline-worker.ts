// Inference on the main thread (server.workers: 0, the edge profile's default): the pool's
// one "worker" is an executor (executor.ts) that this thread runs between its other work,
// behind the same request and response rings as a worker thread, so submit, deadlines,
// shedding, the wait queue, counters and metrics are the pool's unchanged.
//
// Why: on a one- or two-core machine a worker thread buys no parallelism, and each one
// costs a Node environment and V8 heap (10 MB more resident when ready, 16 MB while serving:
// bench/results/2026-12-06-edge.md) and a thread wake-up per request. What it gives up: a slow model holds up the whole
// server while it runs (a worker's stall holds up only its batches; the deadline sweep
// answers the rest), and an injected crash (runners/fault.ts) cannot end a thread here:
// it fails the batch instead.
//
// Scheduling: the pool writes a request into the ring and calls schedule(); a setImmediate
// then drains the ring and runs what is queued. Requests that arrive in one turn of the
// event loop (one poll of the sockets) run as one batch, and a batch never waits for its
// window: max_queue_delay_us would only hold the one thread idle, so loads here set it to 0.
import { HotpathError, isErrorCode } from '../errors.js';
import { Executor } from './executor.js';
import { PendingList } from './pending.js';
import { nowMs } from './records.js';
import { Ring } from './ring.js';
import type { ControlMessage } from './worker-protocol.js';

export interface InlineOptions {
  ringBytes: number;
  counters: SharedArrayBuffer;
  storeId: number;
  log: (line: string) => void;
  /** answers are in the response ring: the pool collects them (synchronously) */
  collect: (w: InlineWorker) => void;
  /** a model's GPU failed here (it answers on the CPU since) */
  onDeviceLost: (slot: number, why: string) => void;
}

export class InlineWorker {
  readonly index = 0;
  readonly requests: Ring;
  readonly responses: Ring;
  alive = true;
  exited = false;
  armed = false;
  /** its queue delay is over the pool's budget (pool.ts) */
  late = false;
  /** requests written into the ring and not yet answered, by id */
  readonly pending = new PendingList();
  /** slots loaded here */
  readonly slots = new Set<number>();
  readonly started = Promise.resolve();
  readonly #o: InlineOptions;
  readonly #executor: Executor;
  #scheduled = false;
  #running: Promise<void> | null = null;
  /** schedule() was called while a run was in progress: run again after it */
  #again = false;

  constructor(o: InlineOptions) {
    this.#o = o;
    this.requests = new Ring(Ring.allocate(o.ringBytes));
    this.responses = new Ring(Ring.allocate(o.ringBytes * 2));
    this.#executor = new Executor({
      requests: this.requests,
      responses: this.responses,
      counters: new Float64Array(o.counters),
      storeId: o.storeId,
      // Nobody else reads the response ring: collect what is there, then go on.
      makeRoom: () => o.collect(this),
      deviceLost: (slot, why) => o.onDeviceLost(slot, why),
      crash: () => {
        throw new Error('injected crash: inference runs on the main thread (server.workers: 0), which a crash fault does not end');
      },
    });
  }

  /** Runs the queued requests soon (after the current turn's I/O), once however often it is asked. */
  schedule(): void {
    if (!this.alive) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#run);
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    if (!this.alive || this.#running) return;
    this.#running = this.#loop().finally(() => {
      this.#running = null;
      if (this.#again) this.schedule();
    });
  };

  async #loop(): Promise<void> {
    const ex = this.#executor;
    let ran: boolean;
    do {
      this.#again = false;
      try {
        await ex.drain();
        ran = (await ex.step(nowMs())).ran;
      } catch (err) {
        // The executor answers a failing batch itself; this is a bug, not a model's error.
        this.#o.log(`inference on the main thread: ${(err as Error).stack ?? err}`);
        ran = false;
      }
      ex.flush();
      this.#o.collect(this);
    } while ((ran || this.#again) && this.alive);
  }

  /** Loads or unloads a model version here; resolves when done, rejects with the load's error. */
  async ask(m: Extract<ControlMessage, { token: number }>): Promise<void> {
    if (m.type === 'unload') {
      await this.#executor.unload(m.slot);
      this.#o.collect(this); // the requests it still held, answered not-ready
      return;
    }
    try {
      // No batch window on the main thread (see the top of the file), adaptive or not.
      await this.#executor.load({ ...m, maxQueueDelayUs: 0, adaptive: false });
    } catch (err) {
      const e = err as { code?: unknown; message?: string };
      throw new HotpathError(isErrorCode(e.code) ? e.code : 'HP_ERR_MODEL_LOAD_FAILED', e.message ?? String(err));
    }
  }

  /** A test fault (the pool's fault(); pool.close() stops this lane with stop()). */
  send(m: ControlMessage): void {
    if (m.type === 'fault') this.#executor.fault(m);
  }

  /** Stops: lets a batch in progress finish, then releases every model. */
  async stop(): Promise<void> {
    this.alive = false;
    await this.#running;
    await this.#executor.releaseAll();
    this.exited = true;
  }
}
