// The main thread's side of the inference workers: request ids and their completions,
// deadlines, the bounded wait queue, model slots loaded in every worker, and restarts.
// Backpressure: a worker takes at most QUEUED_BATCHES batches per model out of its ring
// (batcher.ts), so a slow model fills the ring; a full request ring puts the request in
// the wait queue; a full wait queue sheds it (STATUS.OVERLOADED). With a queue-delay budget
// (server.queue_delay_budget), a request is also shed at once when every live worker's
// queue delay, or the wait queue's, is over the budget (queue-delay.ts), and the worker
// sheds one that has not started within the budget (batcher.ts maxWaitMs): a stalled model
// or an overload is answered at once (by the fallback, or 503 + Retry-After), not at the
// deadline, and no request waits longer than the budget to run. Every submitted request
// completes exactly once: with the worker's answer, at its deadline, or when its worker dies.
//
// With `workers: 0` there is no worker thread: one InlineWorker (inline-worker.ts) runs the
// same executor on the main thread behind the same rings, and this file treats it as
// worker 0 that never dies.
import type { HotpathError } from '../errors.js';
import { DeadlineQueues } from './deadlines.js';
import { InlineWorker } from './inline-worker.js';
import { PendingIds } from './pending.js';
import { type Job, PoolRequest } from './pool-request.js';
import { largestDelay, markLate } from './queue-delay.js';
import {
  BUSY_SINCE, COUNTER, COUNTER_WORDS, MAX_SLOTS, nowMs, QUEUE_DELAY_US, readResponse, REQ, RES, responseId, STATUS, writeRequestHeader,
} from './records.js';
import { Ring, RING } from './ring.js';
import { WaitQueue } from './wait-queue.js';
import { WorkerHandle } from './worker-handle.js';
import type { ControlMessage, LoadMessage } from './worker-protocol.js';

export type { Job } from './pool-request.js';
export type { Outcome } from './records.js';

export interface PoolOptions {
  /** worker threads; 0: inference on the main thread (one InlineWorker) */
  workers: number;
  ringBytes: number;
  waitQueue: number;
  /** ms a request may wait before it runs; 0: no budget (shed only when the wait queue is full) */
  queueDelayBudgetMs?: number;
  storeId: number;
  log: (line: string) => void;
}

export class Pool {
  readonly #opts: PoolOptions;
  readonly #workers: (WorkerHandle | InlineWorker)[] = [];
  /** a model's GPU failed in a worker, which answers on the CPU since (the registry counts it) */
  onDeviceLost: (slot: number, worker: number, why: string) => void = () => {};
  /** one Float64Array of counters per worker position; kept across restarts */
  readonly counters: Float64Array[] = [];
  /** the load message of every loaded slot, replayed into a restarted worker */
  readonly #loaded = new Map<number, LoadMessage>();
  /** loads in progress: also replayed, so a worker restarting meanwhile gets them */
  readonly #loading = new Map<number, LoadMessage>();
  readonly #waiting = new WaitQueue();
  readonly #deadlines = new DeadlineQueues();
  readonly #free: PoolRequest[] = [];
  /** every worker's unanswered requests by id (each worker lists its own: w.pending) */
  readonly #ids = new PendingIds();
  readonly #inflight = new Int32Array(MAX_SLOTS);
  #nextId = 1;
  #ticker: NodeJS.Timeout | undefined;
  #closing = false;
  restarts = 0;
  /** requests shed: the rings and the wait queue were full / the queue delay was over the budget */
  shed = 0;
  shedDelay = 0;
  readonly #budgetMs: number;
  readonly #lateMessage: string;
  /** kept by the sweep: live workers over the budget; the wait queue's oldest request over it */
  #late = 0;
  #waitLate = false;

  readonly #maxBody: number;
  readonly #maxAnswer: number;

  constructor(opts: PoolOptions) {
    this.#opts = opts;
    this.#budgetMs = opts.queueDelayBudgetMs ?? 0;
    this.#lateMessage = `shed: the queue delay is over the budget (${this.#budgetMs} ms)`;
    // The same sizes WorkerHandle gives the rings: requests ringBytes, responses twice that.
    this.#maxBody = Ring.maxPayloadFor(opts.ringBytes) - REQ.BODY;
    this.#maxAnswer = Ring.maxPayloadFor(opts.ringBytes * 2) - RES.BODY;
  }

  async start(): Promise<void> {
    for (let i = 0; i < Math.max(1, this.#opts.workers); i++) {
      this.counters.push(new Float64Array(new SharedArrayBuffer(COUNTER_WORDS * 8)));
      await this.#spawn(i);
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Inference worker threads (server.workers); 0: inference runs on the main thread. */
  get threads(): number {
    return this.#opts.workers;
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
    if (this.#opts.workers === 0) {
      const w = new InlineWorker({
        ringBytes: this.#opts.ringBytes, counters: this.counters[index].buffer as SharedArrayBuffer, storeId: this.#opts.storeId, log: this.#opts.log, collect: (h) => this.#drain(h),
        onDeviceLost: (slot, why) => this.onDeviceLost(slot, 0, why),
      });
      this.#workers[index] = w;
      return w.started;
    }
    const w = new WorkerHandle({
      index,
      ringBytes: this.#opts.ringBytes,
      counters: this.counters[index].buffer as SharedArrayBuffer,
      storeId: this.#opts.storeId,
      log: this.#opts.log,
      closing: () => this.#closing,
      onExit: (h, code) => this.#onExit(h, code),
      onDeviceLost: (h, slot, why) => this.onDeviceLost(slot, h.index, why),
    });
    this.#workers[index] = w;
    return w.started;
  }

  /** Fails the dead worker's requests, then starts a replacement with the same models. */
  #onExit(w: WorkerHandle, code: number): void {
    w.failAcks('the worker died while loading');
    w.slots.clear();
    this.counters[w.index][BUSY_SINCE] = 0; // it may have died in a batch; its replacement runs none yet
    // Answers the worker wrote before it died still count; then release the main thread's
    // waitAsync on its ring (its callback holds the handle and both rings).
    this.#collect(w);
    Atomics.notify(w.responses.ctl, RING.SEQ);
    const lost = w.pending.takeAll();
    for (const r of lost) this.#ids.delete(r);
    for (const r of lost) this.#finish(r.failWith(STATUS.CRASHED, 0, `inference worker exited with code ${code}`));
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
    if (!this.#loaded.has(slot)) return false;
    // a loop, not some(): asked once per request, and some()'s callback was a closure each time
    for (const w of this.#workers) if (w.alive && w.slots.has(slot)) return true;
    return false;
  }

  /**
   * Loads a model version into every worker; rejects (and unloads it) if any worker fails,
   * with the worker's error code when it is a registered one.
   */
  async load(m: LoadMessage): Promise<void> {
    this.#loading.set(m.slot, m);
    try {
      await Promise.all(this.#workers.map((w) => this.#loadOn(w, m)));
    } catch (err) {
      this.#loading.delete(m.slot);
      await this.#unloadAll(m.slot);
      throw err as HotpathError;
    }
    this.#loading.delete(m.slot);
    this.#loaded.set(m.slot, m);
  }

  #loadOn(w: WorkerHandle | InlineWorker, m: LoadMessage): Promise<void> {
    if (!w.alive) return Promise.resolve(); // a restarting worker replays #loading and #loaded
    return w.ask({ ...m, token: 0 }).then(() => {
      if (w.alive) w.slots.add(m.slot);
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
        return w.alive ? w.ask({ type: 'unload', slot, token: 0 }).catch(() => undefined) : undefined;
      }),
    );
  }

  inflight(slot: number): number {
    return this.#inflight[slot];
  }

  /** Test hook: a worker crashes in its next batch, or a model stalls or fails (runners/fault.ts). */
  fault(f: Extract<ControlMessage, { type: 'fault' }>, worker = 0): void {
    const w = this.#workers[worker];
    if (w?.alive) w.send(f);
  }

  /**
   * Submits one request for a model slot. `size` is the body's byte length; job.write fills
   * it in place in the ring; job.done is called exactly once. `since` (a fallback model's
   * request for one shed for load): when that one was submitted; shed at once past the budget.
   * `now`: nowMs() as the caller read it just before (the inference service's submit time),
   * so that a request reads the clock once for both.
   */
  submit(slot: number, op: number, rows: number, size: number, timeoutMs: number, job: Job, since = 0, now = nowMs()): void {
    const r = this.#free.pop() ?? new PoolRequest();
    r.inFree = false;
    r.id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0 || 1;
    r.slot = slot;
    r.op = op;
    r.reqRows = rows;
    r.size = size;
    r.deadline = now + timeoutMs;
    r.enqueued = now;
    r.job = job;
    r.finished = false;
    this.#inflight[slot]++;
    this.#deadlines.add(r);
    this.#tick();
    if (since > 0 && this.#budgetMs > 0 && now - since > this.#budgetMs) return this.#shedLate(r);
    if (this.#waiting.length === 0) {
      const w = this.#pick();
      if (w !== undefined && this.#write(w, r)) return;
      // Every live worker is over the budget (the sweep keeps #late, 0 without a budget).
      if (w === undefined && this.#late > 0) return this.#shedLate(r);
    } else if (this.#waitLate) return this.#shedLate(r);
    if (this.#waiting.length >= this.#opts.waitQueue) {
      this.shed++;
      this.#finish(r.failWith(STATUS.OVERLOADED, 0));
      return;
    }
    this.#waiting.push(r);
  }

  #shedLate(r: PoolRequest): void {
    this.shedDelay++;
    this.#finish(r.failWith(STATUS.OVERLOADED, 0, this.#lateMessage));
  }

  /** The least busy live worker whose queue delay is within the budget. */
  #pick(): WorkerHandle | InlineWorker | undefined {
    let best: WorkerHandle | InlineWorker | undefined;
    for (const w of this.#workers) if (w.alive && !w.late && (!best || w.pending.size < best.pending.size)) best = w;
    return best;
  }

  /** Writes the request into the least busy live worker's ring; false if none has room. */
  #place(r: PoolRequest): boolean {
    const w = this.#pick();
    return w !== undefined && this.#write(w, r);
  }

  #write(best: WorkerHandle | InlineWorker, r: PoolRequest): boolean {
    const ring = best.requests;
    const off = ring.reserve(REQ.BODY + r.size);
    if (off < 0) return false;
    writeRequestHeader(ring.view, off, r.op, r.slot, r.id, r.deadline, r.enqueued, r.reqRows);
    r.job!.write(ring, off + REQ.BODY);
    ring.publish();
    r.worker = best;
    best.pending.add(r);
    this.#ids.add(r);
    if (best instanceof InlineWorker) {
      // Its consumer is this thread (a setImmediate that schedule() sets, once a turn): no
      // sleeper to wake, so none of the SEQ bump, the notify or the end-of-turn flush.
      best.schedule();
      return true;
    }
    // Under load (the last turn wrote several requests) an idle worker is left asleep until
    // its budget fills or this turn ends; a lone request wakes it at once, so that an idle
    // server's answer never waits for whatever else its turn runs.
    ring.notify(this.#lastTurnWrites > 1);
    this.#turnWrites++;
    if (!this.#flushing) {
      this.#flushing = true;
      setImmediate(this.#flushRings);
    }
    this.#arm(best);
    return true;
  }

  /**
   * At the end of an event-loop turn that wrote requests: wake a worker asleep with nothing
   * queued that the budget left asleep (ring.ts, idle sleeps), so that it finds the turn's
   * requests all at once (one wake-up per batch, not one for the first request and one to
   * run), and remember how many the turn wrote. The trade: under load a request's batch
   * starts at the end of the turn that wrote it at the latest, not at once.
   */
  #flushing = false;
  #turnWrites = 0;
  #lastTurnWrites = 0;
  readonly #flushRings = (): void => {
    this.#flushing = false;
    this.#lastTurnWrites = this.#turnWrites;
    this.#turnWrites = 0;
    for (const w of this.#workers) w.requests.flush();
  };

  #flushWaiting(): void {
    this.#waiting.flush(this.#placeOne, this.#passed);
  }

  /** Waits (asynchronously) for the worker's next responses while it has requests. */
  #arm(w: WorkerHandle | InlineWorker): void {
    if (w instanceof InlineWorker) {
      // It collects its answers itself when it has run; only records in its ring need a run.
      if (w.requests.used() > 0) w.schedule();
      return;
    }
    if (w.armed || !w.alive) return;
    const p = w.responses.waitAsync();
    w.armed = true;
    const arm = ++w.arms;
    const drain = (): void => {
      if (w.armed && w.arms === arm) this.#drain(w);
    };
    if (p === null) setImmediate(drain);
    else void p.then(drain);
  }

  /**
   * A worker's answers must not wait on one promise alone: if its wait was woken (the
   * worker took WAITING to 0 and answers are in the ring) and the same arm is still
   * pending a tick later, the ticker drains it and re-arms; the late resolution of the
   * replaced wait is then ignored (#arm's arm check). Counted in wakeupsRecovered.
   */
  #watch(): void {
    for (const w of this.#workers) {
      if (!(w instanceof WorkerHandle) || !w.armed) continue;
      if (!w.responses.woken()) w.wokenArm = 0;
      else if (w.wokenArm !== w.arms) w.wokenArm = w.arms;
      else {
        this.wakeupsRecovered++;
        this.#drain(w);
      }
    }
  }

  /** times #watch drained a worker whose woken wait had not resolved a tick later */
  wakeupsRecovered = 0;

  #drain(w: WorkerHandle | InlineWorker): void {
    w.armed = false;
    if (!w.alive || this.#workers[w.index] !== w) return; // a dead worker's ring: see #onExit
    w.responses.awake();
    this.#collect(w);
    if (this.#waiting.length > 0) this.#flushWaiting();
    if (w.pending.size > 0) this.#arm(w);
  }

  /** Completes the requests whose answers are in the worker's response ring. */
  #collect(w: WorkerHandle | InlineWorker): void {
    const ring = w.responses;
    for (let off = ring.peek(); off >= 0; off = ring.peek()) {
      const r = this.#ids.get(responseId(ring.view, off));
      if (r === undefined || r.worker !== w) {
        ring.release(); // answered already (deadline passed on this side)
        continue;
      }
      w.pending.delete(r);
      this.#ids.delete(r);
      readResponse(ring, off, ring.peekedLength, r);
      ring.release();
      if (r.status === STATUS.OVERLOADED) this.shedDelay++; // the worker found it waited past the budget
      this.#finish(r);
    }
  }

  /** Hands the request's outcome (its fields, set by the caller) to its job, once. */
  #finish(r: PoolRequest): void {
    if (r.finished) return;
    r.finished = true;
    this.#inflight[r.slot]--;
    const job = r.job!;
    r.job = null;
    r.worker = undefined;
    job.done(r);
    r.values = undefined;
    r.message = undefined;
    this.#release(r);
  }

  /** Back to the free list once finished and held by no queue; once only (inFree). */
  #release(r: PoolRequest): void {
    if (r.finished && !r.inFifo && !r.inWaiting && !r.inFree) {
      r.inFree = true;
      this.#free.push(r);
    }
  }

  readonly #expire = (r: PoolRequest): void => {
    if (r.worker !== undefined) {
      r.worker.pending.delete(r);
      this.#ids.delete(r);
    }
    this.#finish(r.failWith(STATUS.DEADLINE, (nowMs() - r.enqueued) * 1000));
  };

  readonly #passed = (r: PoolRequest): void => this.#release(r);
  readonly #placeOne = (r: PoolRequest): boolean => this.#place(r);

  /** The deadline sweep runs every millisecond while requests are in flight. */
  #tick(): void {
    if (this.#ticker) return;
    this.#ticker = setInterval(() => {
      const live = this.#deadlines.sweep(nowMs(), this.#expire, this.#passed);
      this.#watch();
      if (this.#waiting.length > 0) {
        this.#waiting.dropFinished(this.#passed);
        this.#flushWaiting();
      }
      if (this.#budgetMs > 0) {
        const now = nowMs();
        this.#late = markLate(now, this.#workers, this.counters, this.#budgetMs);
        this.#waitLate = this.#waiting.length > 0 && now - this.#waiting.head!.enqueued > this.#budgetMs;
      }
      // It keeps running while a worker is late with nothing in flight (every new request
      // shed, a batch still stalled): stopped, it would leave a stale mark either way.
      if (live === 0 && this.#late === 0) {
        clearInterval(this.#ticker);
        this.#ticker = undefined;
      }
    }, 1);
    this.#ticker.unref();
  }

  /** The queue delay now (ms): the largest of the live workers' and the wait queue's (queue-delay.ts). */
  queueDelay(): number {
    return largestDelay(nowMs(), this.#workers, this.counters, this.#waiting.head?.enqueued);
  }

  /** Ring occupancy (0..1) per worker. */
  occupancy(): { worker: number; requests: number; responses: number }[] {
    return this.#workers.map((w) => ({ worker: w.index, requests: w.requests.used() / w.requests.capacity, responses: w.responses.used() / w.responses.capacity }));
  }

  /** The wait queue's length. */
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

  /** Adaptive batching: the queue delay (µs) the workers use for a slot loaded with `adaptive`, from their next look at its batcher on. */
  setQueueDelay(slot: number, us: number): void {
    for (const c of this.counters) c[QUEUE_DELAY_US + slot] = us;
  }

  resetCounters(slot: number): void {
    for (const c of this.counters) c.fill(0, slot * COUNTER.PER_SLOT, (slot + 1) * COUNTER.PER_SLOT);
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = undefined;
    const inline = this.#workers.filter((w) => w instanceof InlineWorker);
    const threads = this.#workers.filter((w) => w instanceof WorkerHandle);
    const exits = threads.map((w) => new Promise<void>((resolve) => (w.exited ? resolve() : w.thread.once('exit', () => resolve()))));
    for (const w of threads) if (!w.alive) void w.thread.terminate(); // starting: no socket, no models yet
    for (const w of threads) if (w.alive) w.send({ type: 'stop' });
    const timer = setTimeout(() => {
      for (const w of threads) void w.thread.terminate();
    }, 2000);
    await Promise.all([...exits, ...inline.map((w) => w.stop())]);
    clearTimeout(timer);
    for (const w of threads) w.port.close();
    for (const r of this.#waiting.takeAll()) this.#finish(r.failWith(STATUS.CRASHED, 0, 'server is shutting down'));
  }
}
