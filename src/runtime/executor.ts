// What runs model batches, on whichever thread drives it: drain the request ring into each
// model's batcher (batcher.ts), run what the batchers say is due (gather features from the
// shared store in one native call per batch, then the model's runner, runners/), and write
// one response record per request (records.ts). An inference worker thread (worker.ts)
// drives one between its sleeps; with server.workers: 0 the main thread drives one
// (inline-worker.ts), through the same rings and records, so the pool and everything above
// it cannot tell the two apart.
import { Gather } from '../native/binding.js';
import { type Batch, Batcher } from './batcher.js';
import {
  BUSY_SINCE, COUNTER, nowMs, OP, QUEUE_DELAY_US, readPredictBody, readRequestHeader, REQ, type RequestHeader, requestOp, requestSlot, responseSize, STATUS, type Status,
  writeResponseHeader, writeResponseValues,
} from './records.js';
import type { Ring } from './ring.js';
import { FaultRunner } from './runners/fault.js';
import { createRunner, type Runner } from './runners/runner.js';
import type { ControlMessage, LoadMessage } from './worker-protocol.js';

/**
 * A request taken out of the ring; lives until it is answered, then goes back to the
 * executor's free list with its body buffer (one per request drained was young-generation
 * garbage: the object, a Uint8Array and its ArrayBuffer).
 */
interface Pending extends RequestHeader {
  /** a copy of the record body (fields, id lengths and bytes, or input rows) in its first `len` bytes; kept across reuse */
  body: Uint8Array;
  /** the body's DataView, made with it */
  dv: DataView;
  len: number;
  /** epoch ms when it was taken out of the ring (its batch wait starts: RES.BATCH_WAIT_US) */
  drained: number;
}

/** Body buffers up to this size stay with a pooled Pending; a larger one (a big tensor) is dropped after its answer. */
const KEEP_BODY_BYTES = 4096;
const NO_BODY = new Uint8Array(0);
const NO_VIEW = new DataView(NO_BODY.buffer);

interface Slot {
  slot: number;
  name: string;
  inDim: number;
  outDim: number;
  nKeys: number;
  nFields: number;
  runner: Runner;
  gather?: Gather;
  batcher: Batcher<Pending>;
  /** the queue delay is the main thread's adaptive batching's: read QUEUE_DELAY_US before each next() */
  adaptive: boolean;
  // batch buffers, grown on demand and then reused
  x: Float32Array;
  y: Float32Array;
  fields: Float32Array;
  refs: Uint32Array;
  ids: Uint8Array;
}

export interface ExecutorOptions {
  /** main thread -> executor: requests, and CONTROL records (worker threads only) */
  requests: Ring;
  /** executor -> main thread: one response record per request */
  responses: Ring;
  /** records.ts COUNTER_WORDS: per-slot counters, then BUSY_SINCE, written here only; then QUEUE_DELAY_US, read here only */
  counters: Float64Array;
  storeId: number;
  /** a CONTROL record was read (in order with the requests): take the thread's control message */
  onControl?: () => Promise<void> | void;
  /**
   * The response ring is full in the middle of a batch: make room. A worker thread wakes
   * the main thread and sleeps a moment; on the main thread the pool collects the
   * answers at once (nobody else would).
   */
  makeRoom: () => void;
  /** what an injected crash does (runners/fault.ts; default: end the process, which in a worker thread ends the thread) */
  crash?: () => void;
  /** a slot's GPU failed (its runner answers on the CPU since): tell the main thread's registry */
  deviceLost?: (slot: number, why: string) => void;
}

/** What step() decided; reused, valid until the next call. */
export interface Step {
  /** a batch ran (its answers are in the response ring) */
  ran: boolean;
  /** epoch ms when the nearest batch window closes (Infinity: nothing waits) */
  nextDue: number;
  /** requests that could fill a batch before that window closes (Infinity: none waits) */
  budget: number;
}

const ENCODER = new TextEncoder();

export class Executor {
  readonly slots = new Map<number, Slot>();
  readonly #o: ExecutorOptions;
  readonly #requests: Ring;
  readonly #responses: Ring;
  readonly #counters: Float64Array;
  /** responses published since the last notify */
  #dirty = false;
  readonly #step: Step = { ran: false, nextDue: Infinity, budget: Infinity };
  readonly #free: Pending[] = [];

  constructor(o: ExecutorOptions) {
    this.#o = o;
    this.#requests = o.requests;
    this.#responses = o.responses;
    this.#counters = o.counters;
  }

  /** Loads a model version into a slot; throws (with the native error's code, if any) when it cannot. */
  async load(m: LoadMessage): Promise<void> {
    const gather = m.gather ? new Gather(this.#o.storeId, m.gather) : undefined;
    const runner = await createRunner(m);
    this.slots.set(m.slot, {
      slot: m.slot,
      name: m.name,
      inDim: m.inDim,
      outDim: m.outDim,
      nKeys: m.gather ? m.gather.tables.length : 0,
      nFields: m.gather ? m.gather.fields : 0,
      runner,
      gather,
      batcher: new Batcher({ maxBatch: m.maxBatch, maxQueueDelayMs: m.maxQueueDelayUs / 1000, preferred: m.preferred, maxWaitMs: m.maxWaitMs }),
      adaptive: m.adaptive === true,
      x: new Float32Array(m.maxBatch * m.inDim),
      y: new Float32Array(m.maxBatch * m.outDim),
      fields: new Float32Array(0),
      refs: new Uint32Array(0),
      ids: new Uint8Array(0),
    });
  }

  /** Unloads a slot: the requests still queued for it are answered not-ready. After this, no counter of the slot moves. */
  async unload(slot: number): Promise<void> {
    const s = this.slots.get(slot);
    this.slots.delete(slot);
    if (!s) return;
    const left: Pending[] = [];
    s.batcher.clear(left);
    for (const p of left) {
      this.#respondStatus(p, STATUS.NOT_READY, 0, 0, 0);
      this.#give(p);
    }
    await s.runner.release();
  }

  /** A test fault (runners/fault.ts). crash: the next batch of any loaded model ends the thread. */
  fault(msg: Extract<ControlMessage, { type: 'fault' }>): void {
    if (msg.kind === 'crash') {
      for (const s of this.slots.values()) this.#faulty(s).crashNext = true;
      return;
    }
    const s = this.slots.get(msg.slot ?? -1);
    if (s && msg.kind === 'stall') {
      this.#faulty(s).stallMs = msg.ms ?? 0;
      this.#faulty(s).stallUntil = msg.until ?? 0;
    }
    if (s && msg.kind === 'fail') {
      this.#faulty(s).failNext = msg.count ?? 1;
      this.#faulty(s).failUntil = msg.until ?? 0;
    }
    if (s && msg.kind === 'device') s.runner.injectDeviceFault?.();
  }

  /** The slot's runner as a FaultRunner, installing one around it the first time. */
  #faulty(s: Slot): FaultRunner {
    if (!(s.runner instanceof FaultRunner)) s.runner = new FaultRunner(s.runner, this.#o.crash);
    return s.runner as FaultRunner;
  }

  /** Releases every loaded model (the thread is stopping). */
  async releaseAll(): Promise<void> {
    for (const s of this.slots.values()) await s.runner.release();
    this.slots.clear();
  }

  /** Copies the waiting records out of the ring into their models' batchers, and runs control messages. */
  async drain(): Promise<void> {
    const requests = this.#requests;
    const v = requests.view;
    for (;;) {
      const off = requests.peek();
      if (off < 0) return;
      const op = requestOp(v, off);
      if (op === OP.CONTROL) {
        requests.release();
        await this.#o.onControl?.();
        continue;
      }
      // Backpressure lives in the ring: a model with QUEUED_BATCHES batches waiting here
      // leaves the rest of the ring unread (in order, so later requests wait too). Its next
      // batch is due at once (queuedRows >= max_batch), so the loop runs it, then drains on.
      const s = this.slots.get(requestSlot(v, off));
      if (s && !s.batcher.accepting) return;
      const p = this.#take(requests, off);
      readRequestHeader(v, off, p);
      requests.release();
      if (s && (op !== OP.PREDICT || s.gather) && responseSize(p.rows * s.outDim) <= this.#responses.maxPayload) {
        s.batcher.enqueue(p);
        continue;
      }
      if (!s) this.#respondStatus(p, STATUS.NOT_READY, 0, 0, 0);
      else if (op === OP.PREDICT && !s.gather) this.#respondStatus(p, STATUS.ERROR, 0, 0, 0, ENCODER.encode(`model '${s.name}' takes tensors only (no inputs: in the config)`));
      else this.#respondStatus(p, STATUS.ERROR, 0, 0, 0, ENCODER.encode(`the answer (${p.rows} x ${s.outDim} values) is larger than a response ring`));
      this.#give(p);
    }
  }

  /** A Pending (from the free list) holding a copy of the record body at `off`. */
  #take(requests: Ring, off: number): Pending {
    const len = requests.peekedLength - REQ.BODY;
    const p = this.#free.pop() ?? { op: 0, slot: 0, id: 0, deadline: 0, enqueued: 0, rows: 0, body: NO_BODY, dv: NO_VIEW, len: 0, drained: 0 };
    if (p.body.length < len) {
      // 8-byte aligned at 0 (its own ArrayBuffer): an INFER body is read as a Float32Array in place
      p.body = new Uint8Array(Math.max(64, 2 ** Math.ceil(Math.log2(len))));
      p.dv = new DataView(p.body.buffer);
    }
    const src = requests.bytes;
    const from = off + REQ.BODY;
    if (len <= 64) for (let i = 0; i < len; i++) p.body[i] = src[from + i]; // a predict body: cheaper than a subarray and a copy
    else p.body.set(src.subarray(from, from + len));
    p.len = len;
    p.drained = nowMs();
    return p;
  }

  /** Back to the free list: after its answer is written, when nothing reads it any more. */
  #give(p: Pending): void {
    if (p.body.length > KEEP_BODY_BYTES) {
      p.body = NO_BODY;
      p.dv = NO_VIEW;
    }
    this.#free.push(p);
  }

  /**
   * Runs one due batch per model (answering expired requests as deadline or shed), and says
   * when the nearest batch window closes. Awaits only for an asynchronous runner.
   */
  async step(now: number): Promise<Step> {
    const st = this.#step;
    st.ran = false;
    st.nextDue = Infinity;
    st.budget = Infinity;
    for (const s of this.slots.values()) {
      if (s.adaptive) s.batcher.setQueueDelay(this.#counters[QUEUE_DELAY_US + s.slot] / 1000);
      const b = s.batcher.next(now);
      this.#markStarted(s, b);
      // Past the deadline, or waited past the queue-delay budget before it could start: shed.
      for (const p of b.expired) {
        this.#respondStatus(p, p.deadline < now ? STATUS.DEADLINE : STATUS.OVERLOADED, 0, now - p.enqueued, 0);
        this.#give(p);
      }
      if (b.items.length > 0) {
        await this.#execute(s, b);
        for (const p of b.items) this.#give(p);
        st.ran = true;
      } else if (b.waitMs < Infinity) {
        st.nextDue = Math.min(st.nextDue, now + b.waitMs);
        st.budget = Math.min(st.budget, s.batcher.rowsToFill);
      }
    }
    return st;
  }

  /**
   * With nothing queued: the requests that may arrive before one must run (the smallest
   * over the models of a preferred batch size, else max_batch); 0 when one runs at once
   * (no window and no preferred size) or no model is loaded.
   */
  idleBudget(): number {
    let n = Infinity;
    for (const s of this.slots.values()) {
      const p = s.batcher.policy;
      if (p.preferred.length === 0 && p.maxQueueDelayMs === 0) return 0;
      n = Math.min(n, s.batcher.rowsToFill); // nothing queued: the smallest preferred size, else maxBatch
    }
    return Number.isFinite(n) ? n : 0;
  }

  /** Wakes the main thread if answers were published since the last wake-up. */
  flush(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    this.#responses.notify();
  }

  #grow(s: Slot, rows: number): void {
    if (s.x.length < rows * s.inDim) s.x = new Float32Array(rows * s.inDim);
    if (s.y.length < rows * s.outDim) s.y = new Float32Array(rows * s.outDim);
  }

  async #execute(s: Slot, b: Batch<Pending>): Promise<void> {
    const counters = this.#counters;
    const start = nowMs();
    const batch = b.items;
    const rows = b.rows;
    counters[BUSY_SINCE] = start;
    try {
      this.#grow(s, rows);
      // Predict rows first (one gather call), then ready-made input rows.
      let predictRows = 0;
      for (const p of batch) if (p.op === OP.PREDICT) predictRows++;
      if (predictRows > 0) this.#gatherRows(s, batch, predictRows, start);
      let row = predictRows;
      for (const p of batch) {
        if (p.op !== OP.INFER) continue;
        s.x.set(new Float32Array(p.body.buffer, 0, p.rows * s.inDim), row * s.inDim);
        row += p.rows;
      }
      const out = s.runner.run(s.x, rows, s.y);
      const y = out instanceof Promise ? await out : out;
      if (s.runner.takeDeviceLoss) {
        const why = s.runner.takeDeviceLoss();
        if (why !== null) this.#o.deviceLost?.(s.slot, why);
      }
      const computeUs = (nowMs() - start) * 1000;
      counters[s.slot * COUNTER.PER_SLOT + COUNTER.EXECUTIONS]++;
      counters[s.slot * COUNTER.PER_SLOT + COUNTER.INFERENCES] += rows;
      row = 0;
      // Same order as the matrix: predict rows, then input rows.
      for (const p of batch) if (p.op === OP.PREDICT) this.#respondRows(s, p, y, row++, rows, start, computeUs);
      for (const p of batch) {
        if (p.op !== OP.INFER) continue;
        this.#respondRows(s, p, y, row, rows, start, computeUs);
        row += p.rows;
      }
    } catch (err) {
      const msg = ENCODER.encode(String((err as Error)?.message ?? err).slice(0, 500));
      for (const p of batch) this.#respondStatus(p, STATUS.ERROR, rows, start - p.enqueued, (nowMs() - start) * 1000, msg);
    }
    counters[BUSY_SINCE] = 0;
    // Wake the main thread now: the next batch may take a while.
    this.#dirty = false;
    this.#responses.notify();
  }

  /** Decodes the predict requests' bodies into the arenas and gathers their rows into x. */
  #gatherRows(s: Slot, batch: Pending[], n: number, now: number): void {
    if (s.fields.length < n * s.nFields) s.fields = new Float32Array(n * s.nFields * 2);
    if (s.refs.length < n * s.nKeys * 2) s.refs = new Uint32Array(n * s.nKeys * 4);
    let idBytes = 0;
    for (const p of batch) if (p.op === OP.PREDICT) idBytes += p.len;
    if (s.ids.length < idBytes) s.ids = new Uint8Array(idBytes * 2);
    let r = 0;
    let at = 0;
    for (const p of batch) if (p.op === OP.PREDICT) at = readPredictBody(p.body, p.dv, s.nFields, s.nKeys, r++, s.fields, s.ids, at, s.refs);
    s.gather!.run(s.ids, s.refs, s.fields, n, now, s.x);
  }

  /**
   * Publishes how far the slot's requests have started (COUNTER.STARTED): the newest enqueue
   * time among those leaving the batcher now, run or expired. next() takes from the front,
   * so the value only grows.
   */
  #markStarted(s: Slot, b: Batch<Pending>): void {
    let t = 0;
    if (b.items.length > 0) t = b.items[b.items.length - 1].enqueued;
    if (b.expired.length > 0) t = Math.max(t, b.expired[b.expired.length - 1].enqueued);
    if (t > 0) this.#counters[s.slot * COUNTER.PER_SLOT + COUNTER.STARTED] = t;
  }

  #reserveResponse(size: number): number {
    for (;;) {
      const off = this.#responses.reserve(size);
      if (off >= 0) return off;
      this.#o.makeRoom();
    }
  }

  #respondRows(s: Slot, p: Pending, y: Float32Array, row: number, batchRows: number, start: number, computeUs: number): void {
    const responses = this.#responses;
    const n = p.rows * s.outDim;
    const off = this.#reserveResponse(responseSize(n));
    writeResponseHeader(responses.view, off, STATUS.OK, batchRows, p.id, (start - p.enqueued) * 1000, computeUs, p.rows, s.outDim, (start - p.drained) * 1000);
    writeResponseValues(responses, off, y, row * s.outDim, n);
    responses.publish();
    this.#dirty = true;
  }

  #respondStatus(p: Pending, status: Status, batchRows: number, queueMs: number, computeUs: number, message?: Uint8Array): void {
    const responses = this.#responses;
    const off = this.#reserveResponse(responseSize(0) + (message?.length ?? 0));
    writeResponseHeader(responses.view, off, status, batchRows, p.id, queueMs * 1000, computeUs, 0, 0);
    if (message) responses.bytes.set(message, off + responseSize(0));
    responses.publish();
    this.#dirty = true;
  }
}
