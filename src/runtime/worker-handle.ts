// The main thread's handle on one inference worker: the thread, its request ring (main ->
// worker, ringBytes) and response ring (worker -> main, twice that), the requests it has
// been given, and the control plane (messages on a MessagePort, each followed by a CONTROL
// record so the worker reads it in order with the requests; acknowledged ones by token).
//
// Buffers: both rings' SharedArrayBuffers are shared with the worker for its whole life and
// dropped with the handle; the pool makes a fresh handle (fresh rings) for a restarted
// worker, so a dead worker's half-written records are never read again.
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';

import { HotpathError, isErrorCode } from '../errors.js';
import { PendingList } from './pending.js';
import { OP, REQ, writeRequestHeader } from './records.js';
import { Ring } from './ring.js';
import type { ControlMessage, WorkerData, WorkerReply } from './worker-protocol.js';

import { inSea, seaFile } from '../native/sea.js';

/** The worker's code: beside this file, or inside the single executable the worker bundle it carries. */
const workerUrl = (): URL | string =>
  inSea() ? seaFile('worker.cjs') : new URL(import.meta.url.endsWith('.ts') ? './worker-entry.mjs' : './worker.js', import.meta.url);

export interface HandleOptions {
  index: number;
  ringBytes: number;
  counters: SharedArrayBuffer;
  storeId: number;
  log: (line: string) => void;
  /** true once the pool closes: a worker that becomes ready then is terminated */
  closing: () => boolean;
  /** the thread exited (after it was ready, or before) */
  onExit: (w: WorkerHandle, code: number) => void;
  /** a model's GPU failed in this worker (it answers on the CPU since) */
  onDeviceLost: (w: WorkerHandle, slot: number, why: string) => void;
}

export class WorkerHandle {
  readonly index: number;
  readonly thread: Worker;
  readonly requests: Ring;
  readonly responses: Ring;
  readonly port: MessagePort;
  alive = false;
  exited = false;
  /** the main thread waits (waitAsync) on the response ring */
  armed = false;
  /** bumped at each arm: a wait's resolution drains only if no later arm replaced it */
  arms = 0;
  /** the arm that pool.ts #watch last saw woken but not yet drained (0: none) */
  wokenArm = 0;
  /** its queue delay is over the pool's budget: new requests go elsewhere or are shed (pool.ts) */
  late = false;
  /** requests written into this worker's ring and not yet answered, by id */
  readonly pending = new PendingList();
  /** slots this worker has loaded (acknowledged) */
  readonly slots = new Set<number>();
  /** resolves when the worker is ready; rejects if it exits first */
  readonly started: Promise<void>;
  /** control messages awaiting the worker's acknowledgement, by token */
  readonly #acks = new Map<number, { resolve: () => void; reject: (e: HotpathError) => void }>();
  #nextToken = 1;

  constructor(o: HandleOptions) {
    this.index = o.index;
    this.requests = new Ring(Ring.allocate(o.ringBytes));
    this.responses = new Ring(Ring.allocate(o.ringBytes * 2));
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const data: WorkerData = { requestRing: this.requests.sab, responseRing: this.responses.sab, counters: o.counters, storeId: o.storeId, controlPort: port2 };
    const thread = new Worker(workerUrl(), { workerData: data, transferList: [port2] });
    this.thread = thread;
    this.started = new Promise((resolve, reject) => {
      thread.on('message', (m: WorkerReply) => {
        if (m.type === 'ready') {
          if (o.closing()) {
            void thread.terminate(); // started while the pool closed: it holds no socket
            return;
          }
          this.alive = true;
          resolve();
        } else if (m.type === 'device-lost') {
          o.onDeviceLost(this, m.slot, m.why);
        } else if (m.type === 'ack') {
          const a = this.#acks.get(m.token);
          this.#acks.delete(m.token);
          if (m.ok) a?.resolve();
          // The worker's code when it is one of ours (a native refusal, say), else the load's.
          else a?.reject(new HotpathError(isErrorCode(m.error.code) ? m.error.code : 'HP_ERR_MODEL_LOAD_FAILED', m.error.message));
        }
      });
      thread.on('error', (err) => o.log(`inference worker ${o.index} failed: ${err.stack ?? err}`));
      thread.on('exit', (code) => {
        const wasAlive = this.alive;
        this.alive = false;
        this.exited = true;
        if (!wasAlive) reject(new Error(`inference worker ${o.index} exited with ${code} before it was ready`));
        o.onExit(this, code);
      });
    });
  }

  /** Sends a control message that the worker acknowledges; resolves on its ack. */
  ask(m: Extract<ControlMessage, { token: number }>): Promise<void> {
    return new Promise((resolve, reject) => {
      const token = this.#nextToken++;
      this.#acks.set(token, { resolve, reject });
      this.send({ ...m, token });
    });
  }

  /** Rejects every control message still awaiting an ack (the worker died). */
  failAcks(why: string): void {
    for (const a of this.#acks.values()) a.reject(new HotpathError('HP_ERR_MODEL_LOAD_FAILED', why));
    this.#acks.clear();
  }

  /** Control message on the port, then a CONTROL record so the worker reads it in order. */
  send(m: ControlMessage): void {
    this.port.postMessage(m);
    const put = (): void => {
      if (!this.alive) return;
      const off = this.requests.reserve(REQ.BODY);
      if (off < 0) {
        setTimeout(put, 1);
        return;
      }
      writeRequestHeader(this.requests.view, off, OP.CONTROL, 0, 0, 0, 0, 0);
      this.requests.publish();
      this.requests.notify();
      this.requests.wake(); // whatever the worker's budget: a control message does not wait
    };
    put();
  }
}
