// The main thread's side of the inference workers: one request ring and one response ring
// per worker, request ids and their completions, deadlines, the bounded wait queue, and
// restarts. Backpressure: a worker takes at most two batches per model out of its ring,
// so a slow model fills the ring; a full request ring puts the request in the wait queue;
// a full wait queue sheds it (status 'overloaded'). Every submitted request completes exactly
// once: with the worker's answer, at its deadline, or when its worker dies.
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';

import { HotpathError } from '../errors.js';
import { COUNTER, MAX_SLOTS, nowMs, OP, REQ, RES, STATUS } from './records.js';
import { Ring, RING } from './ring.js';
import type { ControlMessage, LoadMessage, WorkerData, WorkerReply } from './worker-protocol.js';

export type OutcomeStatus = 'ok' | 'deadline' | 'error' | 'crashed' | 'overloaded' | 'not_loaded';

export interface Outcome {
  status: OutcomeStatus;
  /** rows x outDim, a copy owned by the caller */
  values?: Float32Array;
  rows: number;
  outDim: number;
  queueUs: number;
  computeUs: number;
  /** rows in the batch this request ran in */
  batch: number;
  message?: string;
}

export type Done = (o: Outcome) => void;

/** Writes a request body at `off` of the ring (bytes/view/buffer), `size` bytes. */
export type BodyWriter = (ring: Ring, off: number) => void;

interface Request {
  id: number;
  slot: number;
  op: number;
  rows: number;
  size: number;
  deadline: number;
  enqueued: number;
  write: BodyWriter;
  done: Done;
  finished: boolean;
  worker?: WorkerHandle;
}

interface WorkerHandle {
  index: number;
  thread: Worker;
  requests: Ring;
  responses: Ring;
  port: MessagePort;
  alive: boolean;
  exited: boolean;
  armed: boolean;
  pending: Map<number, Request>;
  /** control messages awaiting the worker's acknowledgement, by token */
  acks: Map<number, { resolve: () => void; reject: (e: HotpathError) => void }>;
  /** slots this worker has loaded (acknowledged) */
  slots: Set<number>;
}

export interface PoolOptions {
  workers: number;
  ringBytes: number;
  waitQueue: number;
  storeId: number;
  log: (line: string) => void;
}

const NO_DONE: Done = () => {};
const NO_WRITE: BodyWriter = () => {};
/** Stands in the deadline FIFO for requests the sweep has passed. */
const DONE_REQUEST: Request = { id: 0, slot: 0, op: 0, rows: 0, size: 0, deadline: 0, enqueued: 0, write: NO_WRITE, done: NO_DONE, finished: true };

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker-entry.mjs' : './worker.js', import.meta.url);

export class Pool {
  readonly #opts: PoolOptions;
  readonly #workers: WorkerHandle[] = [];
  /** one Float64Array of counters per worker position; kept across restarts */
  readonly counters: Float64Array[] = [];
  /** the load message of every loaded slot, replayed into a restarted worker */
  readonly #loaded = new Map<number, LoadMessage>();
  /** loads in progress: also replayed, so a worker restarting meanwhile gets them */
  readonly #loading = new Map<number, LoadMessage>();
  #nextToken = 1;
  readonly #waiting: Request[] = [];
  /** per slot, requests in submission order (so in deadline order): the deadline sweep */
  readonly #bySlot = new Map<number, { q: Request[]; head: number }>();
  readonly #inflight = new Int32Array(MAX_SLOTS);
  #nextId = 1;
  #ticker: NodeJS.Timeout | undefined;
  #closing = false;
  restarts = 0;
  shed = 0;

  readonly #maxBody: number;
  readonly #maxAnswer: number;

  constructor(opts: PoolOptions) {
    this.#opts = opts;
    // The same sizes #spawn gives the rings: requests ringBytes, responses twice that.
    this.#maxBody = Ring.maxPayloadFor(opts.ringBytes) - REQ.BODY;
    this.#maxAnswer = Ring.maxPayloadFor(opts.ringBytes * 2) - RES.BODY;
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.#opts.workers; i++) {
      this.counters.push(new Float64Array(new SharedArrayBuffer(MAX_SLOTS * COUNTER.PER_SLOT * 8)));
      await this.#spawn(i);
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  /** The largest request body a worker ring takes. */
  get maxBody(): number {
    return this.#maxBody;
  }

  /** The largest answer (values) a response ring takes. */
  get maxAnswer(): number {
    return this.#maxAnswer;
  }

  #spawn(index: number): Promise<void> {
    const requests = new Ring(Ring.allocate(this.#opts.ringBytes));
    const responses = new Ring(Ring.allocate(this.#opts.ringBytes * 2));
    const { port1, port2 } = new MessageChannel();
    const data: WorkerData = {
      requestRing: requests.sab,
      responseRing: responses.sab,
      counters: this.counters[index].buffer as SharedArrayBuffer,
      storeId: this.#opts.storeId,
      controlPort: port2,
    };
    const thread = new Worker(WORKER_URL, { workerData: data, transferList: [port2] });
    const w: WorkerHandle = {
      index, thread, requests, responses, port: port1, alive: false, exited: false, armed: false, pending: new Map(), acks: new Map(), slots: new Set(),
    };
    this.#workers[index] = w;
    return new Promise((resolve, reject) => {
      thread.on('message', (m: WorkerReply) => {
        if (m.type === 'ready') {
          if (this.#closing) {
            void thread.terminate(); // started while the pool closed: it holds no socket
            return;
          }
          w.alive = true;
          resolve();
        } else if (m.type === 'ack') {
          const a = w.acks.get(m.token);
          w.acks.delete(m.token);
          if (m.ok) a?.resolve();
          else a?.reject(new HotpathError('HP_ERR_MODEL_LOAD_FAILED', m.error.message));
        }
      });
      thread.on('error', (err) => this.#opts.log(`inference worker ${index} failed: ${err.stack ?? err}`));
      thread.on('exit', (code) => {
        const wasAlive = w.alive;
        w.alive = false;
        w.exited = true;
        if (!wasAlive) reject(new Error(`inference worker ${index} exited with ${code} before it was ready`));
        this.#onExit(w, code);
      });
    });
  }

  /** Fails the dead worker's requests, then starts a replacement with the same models. */
  #onExit(w: WorkerHandle, code: number): void {
    for (const a of w.acks.values()) a.reject(new HotpathError('HP_ERR_MODEL_LOAD_FAILED', 'the worker died while loading'));
    w.acks.clear();
    w.slots.clear();
    // Answers the worker wrote before it died still count; then release the main thread's
    // waitAsync on its ring (its callback holds the handle and both rings).
    this.#collect(w);
    Atomics.notify(w.responses.ctl, RING.SEQ);
    const lost = [...w.pending.values()];
    w.pending.clear();
    for (const r of lost) this.#finish(r, { status: 'crashed', rows: 0, outDim: 0, queueUs: 0, computeUs: 0, batch: 0, message: `inference worker exited with code ${code}` });
    if (this.#closing || this.#workers[w.index] !== w) return;
    this.restarts++;
    this.#opts.log(`inference worker ${w.index} exited (code ${code}); restarting it`);
    this.#spawn(w.index)
      .then(() => Promise.all([...this.#loaded.values(), ...this.#loading.values()].map((m) => this.#loadOn(this.#workers[w.index], m))))
      .then(() => this.#flushWaiting())
      .catch((err) => this.#opts.log(`restarting inference worker ${w.index}: ${(err as Error).message}`));
  }

  /** True when a live worker has the slot loaded. */
  ready(slot: number): boolean {
    return this.#loaded.has(slot) && this.#workers.some((w) => w.alive && w.slots.has(slot));
  }

  /** Loads a model version into every worker; rejects (and unloads it) if any worker fails. */
  async load(m: LoadMessage): Promise<void> {
    this.#loading.set(m.slot, m);
    try {
      await Promise.all(this.#workers.map((w) => this.#loadOn(w, m)));
    } catch (err) {
      this.#loading.delete(m.slot);
      await this.#unloadAll(m.slot);
      throw err;
    }
    this.#loading.delete(m.slot);
    this.#loaded.set(m.slot, m);
  }

  #loadOn(w: WorkerHandle, m: LoadMessage): Promise<void> {
    if (!w.alive) return Promise.resolve(); // a restarting worker replays #loading and #loaded
    return this.#ask(w, { ...m, token: 0 }).then(() => {
      if (w.alive) w.slots.add(m.slot);
    });
  }

  /** Sends a control message that the worker acknowledges; resolves on its ack. */
  #ask(w: WorkerHandle, m: Extract<ControlMessage, { token: number }>): Promise<void> {
    return new Promise((resolve, reject) => {
      const token = this.#nextToken++;
      w.acks.set(token, { resolve, reject });
      this.#send(w, { ...m, token });
    });
  }

  /**
   * Unloads a slot from every worker once no request for it is in flight, and resolves
   * when every live worker has acknowledged (so its counters are final).
   */
  async unload(slot: number): Promise<void> {
    this.#loaded.delete(slot);
    while (this.#inflight[slot] > 0) await new Promise((r) => setTimeout(r, 1));
    await this.#unloadAll(slot);
  }

  async #unloadAll(slot: number): Promise<void> {
    await Promise.all(
      this.#workers.map((w) => {
        w.slots.delete(slot);
        return w.alive ? this.#ask(w, { type: 'unload', slot, token: 0 }).catch(() => undefined) : undefined;
      }),
    );
  }

  inflight(slot: number): number {
    return this.#inflight[slot];
  }

  /** Test hook: make a worker crash in its next batch, or a model stall or fail. */
  fault(f: Extract<ControlMessage, { type: 'fault' }>, worker = 0): void {
    const w = this.#workers[worker];
    if (w?.alive) this.#send(w, f);
  }

  #control(m: ControlMessage): void {
    for (const w of this.#workers) if (w.alive) this.#send(w, m);
  }

  /** Control message on the port, then a CONTROL record so the worker reads it in order. */
  #send(w: WorkerHandle, m: ControlMessage): void {
    w.port.postMessage(m);
    const put = (): void => {
      if (!w.alive) return;
      const off = w.requests.reserve(REQ.BODY);
      if (off < 0) {
        setTimeout(put, 1);
        return;
      }
      w.requests.view.setUint8(off + REQ.OP, OP.CONTROL);
      w.requests.publish();
      w.requests.notify();
    };
    put();
  }

  /**
   * Submits one request for a model slot. `done` is called exactly once. `size` is the
   * body's byte length; `write` fills it in place in the ring.
   */
  submit(slot: number, op: number, rows: number, size: number, timeoutMs: number, write: BodyWriter, done: Done): void {
    const now = nowMs();
    const r: Request = { id: this.#nextId, slot, op, rows, size, deadline: now + timeoutMs, enqueued: now, write, done, finished: false };
    this.#nextId = (this.#nextId + 1) >>> 0 || 1;
    this.#inflight[slot]++;
    let fifo = this.#bySlot.get(slot);
    if (!fifo) this.#bySlot.set(slot, (fifo = { q: [], head: 0 }));
    fifo.q.push(r);
    this.#tick();
    if (this.#waiting.length > 0 || !this.#place(r)) {
      if (this.#waiting.length >= this.#opts.waitQueue) {
        this.shed++;
        this.#finish(r, { status: 'overloaded', rows: 0, outDim: 0, queueUs: 0, computeUs: 0, batch: 0 });
        return;
      }
      this.#waiting.push(r);
    }
  }

  /** Writes the request into the least busy live worker's ring; false if none has room. */
  #place(r: Request): boolean {
    let best: WorkerHandle | undefined;
    for (const w of this.#workers) if (w.alive && (!best || w.pending.size < best.pending.size)) best = w;
    if (!best) return false;
    const ring = best.requests;
    const off = ring.reserve(REQ.BODY + r.size);
    if (off < 0) return false;
    const v = ring.view;
    v.setUint8(off + REQ.OP, r.op);
    v.setUint16(off + REQ.SLOT, r.slot, true);
    v.setUint32(off + REQ.ID, r.id, true);
    v.setFloat64(off + REQ.DEADLINE, r.deadline, true);
    v.setFloat64(off + REQ.ENQUEUED, r.enqueued, true);
    v.setUint32(off + REQ.ROWS, r.rows, true);
    r.write(ring, off + REQ.BODY);
    ring.publish();
    ring.notify();
    r.worker = best;
    best.pending.set(r.id, r);
    this.#arm(best);
    return true;
  }

  #flushWaiting(): void {
    let i = 0;
    while (i < this.#waiting.length) {
      const r = this.#waiting[i];
      if (r.finished) {
        i++;
        continue;
      }
      if (!this.#place(r)) break;
      i++;
    }
    if (i > 0) this.#waiting.splice(0, i);
  }

  /** Waits (asynchronously) for the worker's next responses while it has requests. */
  #arm(w: WorkerHandle): void {
    if (w.armed || !w.alive) return;
    const p = w.responses.waitAsync();
    w.armed = true;
    if (p === null) {
      setImmediate(() => this.#drain(w));
      return;
    }
    void p.then(() => this.#drain(w));
  }

  #drain(w: WorkerHandle): void {
    w.armed = false;
    if (!w.alive || this.#workers[w.index] !== w) return; // a dead worker's ring: see #onExit
    w.responses.awake();
    this.#collect(w);
    if (this.#waiting.length > 0) this.#flushWaiting();
    if (w.pending.size > 0) this.#arm(w);
  }

  /** Completes the requests whose answers are in the worker's response ring. */
  #collect(w: WorkerHandle): void {
    const ring = w.responses;
    const v = ring.view;
    for (let rec = ring.peek(); rec; rec = ring.peek()) {
      const o = rec.off;
      const id = v.getUint32(o + RES.ID, true);
      const r = w.pending.get(id);
      if (r) {
        w.pending.delete(id);
        const st = v.getUint8(o + RES.STATUS);
        const rows = v.getUint32(o + RES.ROWS, true);
        const outDim = v.getUint32(o + RES.OUT_DIM, true);
        const outcome: Outcome = {
          status: st === STATUS.OK ? 'ok' : st === STATUS.DEADLINE ? 'deadline' : st === STATUS.ERROR ? 'error' : 'not_loaded',
          rows,
          outDim,
          queueUs: v.getFloat32(o + RES.QUEUE_US, true),
          computeUs: v.getFloat32(o + RES.COMPUTE_US, true),
          batch: v.getUint16(o + RES.BATCH, true),
        };
        if (st === STATUS.OK) {
          const n = rows * outDim;
          // The body is 4-byte aligned and little-endian (see respondRows in worker.ts).
          outcome.values = new Float32Array(ring.bytes.buffer, ring.bytes.byteOffset + o + RES.BODY, n).slice();
        } else if (st === STATUS.ERROR) {
          outcome.message = ring.buffer.toString('utf8', o + RES.BODY, o + rec.len);
        }
        ring.release();
        this.#finish(r, outcome);
      } else {
        ring.release(); // answered already (deadline passed on this side)
      }
    }
  }

  #finish(r: Request, o: Outcome): void {
    if (r.finished) return;
    r.finished = true;
    this.#inflight[r.slot]--;
    const done = r.done;
    // The deadline FIFO still holds r until the sweep passes it: drop what r refers to,
    // or every request's closures and promise chain would survive young-generation GCs
    // (measured: 5-8 ms scavenges, the predict p99).
    r.done = NO_DONE;
    r.write = NO_WRITE;
    r.worker = undefined;
    done(o);
  }

  /** The deadline sweep runs every millisecond while requests are in flight. */
  #tick(): void {
    if (this.#ticker) return;
    this.#ticker = setInterval(() => {
      const now = nowMs();
      let live = 0;
      for (const fifo of this.#bySlot.values()) {
        const q = fifo.q;
        while (fifo.head < q.length) {
          const r = q[fifo.head];
          if (!r.finished && r.deadline > now) break;
          q[fifo.head++] = DONE_REQUEST;
          if (!r.finished) {
            r.worker?.pending.delete(r.id);
            this.#finish(r, { status: 'deadline', rows: 0, outDim: 0, queueUs: (now - r.enqueued) * 1000, computeUs: 0, batch: 0 });
          }
        }
        if (fifo.head > 1024 && fifo.head * 2 > q.length) {
          q.splice(0, fifo.head);
          fifo.head = 0;
        }
        live += q.length - fifo.head;
      }
      if (this.#waiting.length > 0) {
        // Requests that passed their deadline while waiting leave the queue, so that they
        // neither count toward the shed limit nor stand in front of live ones.
        let kept = 0;
        for (const r of this.#waiting) if (!r.finished) this.#waiting[kept++] = r;
        this.#waiting.length = kept;
        this.#flushWaiting();
      }
      if (live === 0) {
        clearInterval(this.#ticker);
        this.#ticker = undefined;
      }
    }, 1);
    this.#ticker.unref();
  }

  /** Ring occupancy (0..1) per worker, and the wait queue's length. */
  occupancy(): { worker: number; requests: number; responses: number }[] {
    return this.#workers.map((w) => ({ worker: w.index, requests: w.requests.used() / w.requests.capacity, responses: w.responses.used() / w.responses.capacity }));
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Requests in flight (submitted and not yet completed), all slots. */
  get pendingCount(): number {
    let n = 0;
    for (const w of this.#workers) n += w.pending.size;
    return n + this.#waiting.length;
  }

  /** Sum over workers of one counter of a slot. */
  counter(slot: number, which: number): number {
    let n = 0;
    for (const c of this.counters) n += c[slot * COUNTER.PER_SLOT + which];
    return n;
  }

  resetCounters(slot: number): void {
    for (const c of this.counters) c.fill(0, slot * COUNTER.PER_SLOT, (slot + 1) * COUNTER.PER_SLOT);
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = undefined;
    const exits = this.#workers.map((w) => new Promise<void>((resolve) => (w.exited ? resolve() : w.thread.once('exit', () => resolve()))));
    for (const w of this.#workers) if (!w.alive) void w.thread.terminate(); // starting: no socket, no models yet
    this.#control({ type: 'stop' });
    const timer = setTimeout(() => {
      for (const w of this.#workers) void w.thread.terminate();
    }, 2000);
    await Promise.all(exits);
    clearTimeout(timer);
    for (const w of this.#workers) w.port.close();
    for (const r of this.#waiting) this.#finish(r, { status: 'crashed', rows: 0, outDim: 0, queueUs: 0, computeUs: 0, batch: 0, message: 'server is shutting down' });
    this.#waiting.length = 0;
  }
}
