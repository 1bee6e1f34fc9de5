// The inference service on top of the registry and the worker pool: predict (entity ids +
// request fields; the worker gathers the features) and infer (a ready input matrix), each
// with the model's deadline (the pool's), circuit breaker and fallback (a constant, or
// another model asked the same question).
//
// The hot path allocates no closure: each request is a pooled Call, which is also the
// pool's Job (its body writer and its completion are methods). A Call returns to the free
// list when its answer is handed over, before the caller's callback runs; the caller's
// request object (ParsedPredict, or the input matrix) must stay untouched until then,
// because the pool may write it into a ring later, from its wait queue.
import type { ModelDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import type { Job, Outcome, Pool } from './pool.js';
import {
  type FailReason, nowMs, OP, predictBodySize, STATUS, type Status, statusCode, statusName, writeInferBody, writePredictBody,
} from './records.js';
import type { LoadedVersion, ModelEntry, ModelRegistry } from './registry.js';
import type { Ring } from './ring.js';

export type { FailReason } from './records.js';

/** A predict request, parsed for its model: ids (UTF-8 lengths known) and fields in the model's record order. */
export type ParsedPredict = { ids: string[]; idBytes: number[]; fields: number[] };

/** How inference answers: an error, or a result. Called exactly once. */
export type Answer = (err: HotpathError | null, r?: InferResult) => void;

export interface InferResult {
  model: string;
  version: number;
  /** rows x outDim; owned by the receiver */
  values: Float32Array;
  rows: number;
  outDim: number;
  fallback: boolean;
  /** set when fallback is true */
  reason?: FailReason;
  /** 'primary', or the fallback that answered: 'constant' or the fallback model's name */
  variant: string;
  queueUs: number;
  /** the part of queueUs after the worker took the request out of its ring */
  batchWaitUs: number;
  computeUs: number;
  batch: number;
  /**
   * nowMs() when the answering call was submitted to the pool (or run inline), and when its
   * outcome was collected on this thread: the request's stages (src/server/stages.ts) are
   * measured against them. For a fallback model's answer, its own call's.
   */
  submittedAt: number;
  collectedAt: number;
  /** an online learner's predict: the id its label joins by (src/learn/) */
  predictionId?: number;
}

/** What the metrics module observes; kept as an interface so the runtime does not import prom-client. */
export interface InferenceObserver {
  request(model: string, outcome: 'success' | 'failure', reason: string): void;
  fallback(model: string, reason: FailReason): void;
  /** batch: rows in the batch the request ran in (hotpath_model_batch_size) */
  timings(model: string, queueUs: number, computeUs: number, totalUs: number, batch: number): void;
}

const NO_OBSERVER: InferenceObserver = { request() {}, fallback() {}, timings() {} };

/**
 * A parsed predict request of one model, laid out for another (its fallback): the config
 * compiler checked that `to` needs no entity or field that `from` lacks.
 */
function remap(from: ModelDef, to: ModelDef, req: ParsedPredict): ParsedPredict {
  const ids: string[] = [];
  const idBytes: number[] = [];
  for (const k of to.keys) {
    const i = from.keys.findIndex((x) => x.entity === k.entity);
    ids.push(req.ids[i]);
    idBytes.push(req.idBytes[i]);
  }
  return { ids, idBytes, fields: to.fields.map((f) => req.fields[from.fields.indexOf(f)]) };
}

/** One request through the service; pooled (see the top of the file). */
class Call implements Job {
  readonly svc: InferenceService;
  e: ModelEntry | null = null;
  target: LoadedVersion | undefined = undefined;
  op: number = OP.PREDICT;
  rows = 1;
  req: ParsedPredict | null = null;
  x: Float32Array | null = null;
  cb: Answer | null = null;
  /** set on a fallback's call: the call it answers for */
  outer: Call | null = null;
  /** why this call went to its fallback */
  reason: FailReason = 'error';
  start = 0;
  generation = 0;
  /** a fallback's call for a request shed for load: when that request was submitted (else 0) */
  since = 0;

  constructor(svc: InferenceService) {
    this.svc = svc;
  }

  write(ring: Ring, off: number): void {
    if (this.op === OP.PREDICT) writePredictBody(ring, off, this.e!.def.fields.length, this.req!);
    else writeInferBody(ring, off, this.x!);
  }

  done(o: Outcome): void {
    this.svc.complete(this, o);
  }
}

export class InferenceService {
  readonly #registry: ModelRegistry;
  readonly #pool: Pool;
  readonly #log: (line: string) => void;
  readonly #free: Call[] = [];
  /** per model: when its last failure line was written, and the failures left out since */
  readonly #failLog = new Map<string, { at: number; quiet: number }>();
  observer: InferenceObserver = NO_OBSERVER;

  constructor(registry: ModelRegistry, pool: Pool, log: (line: string) => void) {
    this.#registry = registry;
    this.#pool = pool;
    this.#log = log;
  }

  /**
   * Scores one predict request (already parsed for e): the REST and WebSocket hot path.
   * cb runs exactly once; synchronously when the request is refused before it reaches a
   * worker (not ready, breaker open, shed), later otherwise. `req` must stay unchanged
   * until cb runs.
   */
  predict(e: ModelEntry, req: ParsedPredict, cb: Answer): void {
    const c = this.#take(e, OP.PREDICT, 1, cb);
    c.req = req;
    this.#start(c, undefined);
  }

  /**
   * Runs rows of a ready input matrix (rows x inDim, FP32) on a version (default current).
   * `x` must stay unchanged until cb runs.
   */
  infer(e: ModelEntry, version: number | undefined, x: Float32Array, rows: number, cb: Answer): void {
    const c = this.#take(e, OP.INFER, rows, cb);
    c.x = x;
    this.#start(c, version);
  }

  /** predict() as a promise (control paths and tests; the hot paths use the callback). */
  predictAsync(e: ModelEntry, req: ParsedPredict): Promise<InferResult> {
    return new Promise((resolve, reject) => this.predict(e, req, (err, r) => (err ? reject(err) : resolve(r!))));
  }

  /** infer() as a promise. */
  inferAsync(e: ModelEntry, version: number | undefined, x: Float32Array, rows: number): Promise<InferResult> {
    return new Promise((resolve, reject) => this.infer(e, version, x, rows, (err, r) => (err ? reject(err) : resolve(r!))));
  }

  #take(e: ModelEntry, op: number, rows: number, cb: Answer | null): Call {
    const c = this.#free.pop() ?? new Call(this);
    c.e = e;
    c.op = op;
    c.rows = rows;
    c.cb = cb;
    return c;
  }

  #give(c: Call): void {
    c.since = 0;
    c.e = null;
    c.target = undefined;
    c.req = null;
    c.x = null;
    c.cb = null;
    c.outer = null;
    this.#free.push(c);
  }

  #start(c: Call, version: number | undefined): void {
    const e = c.e!;
    const name = e.def.name;
    const target = version === undefined ? e.current : e.versions.get(version);
    let size: number;
    if (c.op === OP.INFER) {
      const x = c.x!;
      if (e.inline && !e.inline.takesTensors) {
        this.#answer(c, new HotpathError('HP_ERR_TENSOR_INVALID', `model '${name}' takes predict requests only: it hashes categorical inputs, which a tensor cannot name`));
        return;
      }
      if (x.byteLength > this.#pool.maxBody || c.rows * (target?.outDim ?? 0) * 4 > this.#pool.maxAnswer) {
        this.#answer(c, new HotpathError(
          'HP_ERR_BATCH_TOO_LARGE',
          `${c.rows} rows do not fit a worker ring: a request takes at most ${this.#pool.maxBody} bytes of input and ${this.#pool.maxAnswer} of output (raise server.ring_bytes)`,
        ));
        return;
      }
      size = x.byteLength;
    } else size = predictBodySize(e.def.fields.length, c.req!.idBytes);
    if (version !== undefined && !target) {
      this.#answer(c, new HotpathError('HP_ERR_MODEL_UNKNOWN', `model '${name}' has no loaded version ${version}; loaded: ${[...e.versions.keys()].join(', ') || 'none'}`));
      return;
    }
    c.target = target;
    c.start = nowMs();
    if (e.inline) return this.#inline(c);
    if (!target || !this.#pool.ready(target.slot)) return this.#fail(c, STATUS.NOT_READY, `model '${name}' is not ready${e.error ? `: ${e.error}` : ''}`);
    if (e.breaker && !e.breaker.allow(c.start)) return this.#fail(c, STATUS.CIRCUIT_OPEN, `model '${name}': circuit breaker open`);
    c.generation = e.breaker?.generation ?? 0;
    this.#pool.submit(target.slot, c.op, c.rows, size, e.def.timeoutMs, c, c.since, c.start);
  }

  /**
   * A model served inline (an online learner): scored now, on this thread. Its failures
   * (a bad input) take the fallback like a worker's would.
   */
  #inline(c: Call): void {
    const e = c.e!;
    const m = e.inline!;
    if (e.unloaded || !c.target) return this.#fail(c, STATUS.NOT_READY, `model '${e.def.name}' is not ready (unloaded)`);
    if (m.version !== c.target.version) c.target = this.#registry.syncInline(e);
    let values: Float32Array;
    let predictionId: number | undefined;
    try {
      if (c.op === OP.PREDICT) {
        values = new Float32Array(1);
        values[0] = m.predict(c.req!, Date.now(), c.start);
        predictionId = m.lastId;
      } else values = m.inferRows(c.x!, c.rows);
    } catch (err) {
      this.#logFailure(e.def.name, c.start, (err as Error).message);
      return this.#fail(c, STATUS.ERROR, `model '${e.def.name}': ${(err as Error).message}`);
    }
    const end = nowMs();
    const us = (end - c.start) * 1000;
    this.observer.request(e.def.name, 'success', '');
    this.observer.timings(e.def.name, 0, us, us, 1);
    this.#answer(c, null, {
      model: e.def.name, version: c.target.version, values, rows: c.rows, outDim: 1,
      fallback: false, variant: 'primary', queueUs: 0, batchWaitUs: 0, computeUs: us, batch: 1, submittedAt: c.start, collectedAt: end, predictionId,
    });
  }

  /** The pool's outcome of a call (Call.done); not for other callers. */
  complete(c: Call, o: Outcome): void {
    const end = nowMs();
    const e = c.e!;
    const name = e.def.name;
    const ok = o.status === STATUS.OK;
    // A shed request never reached the model: no outcome for its breaker (or an overload
    // would open it, and send every request to the fallback for open_for).
    if (o.status === STATUS.OVERLOADED) e.breaker?.skip(c.generation);
    else e.breaker?.record(end, ok, end - c.start, c.generation);
    if (!ok) {
      if (o.status === STATUS.ERROR) this.#logFailure(name, end, o.message);
      this.#fail(c, o.status, o.message && `model '${name}': ${o.message}`);
      return;
    }
    this.observer.request(name, 'success', '');
    this.observer.timings(name, o.queueUs, o.computeUs, (end - c.start) * 1000, o.batch);
    e.adaptive?.observe(end, (end - c.start) * 1000);
    this.#answer(c, null, {
      model: name, version: c.target!.version, values: o.values!, rows: o.rows, outDim: o.outDim,
      fallback: false, variant: 'primary', queueUs: o.queueUs, batchWaitUs: o.batchWaitUs, computeUs: o.computeUs, batch: o.batch,
      submittedAt: c.start, collectedAt: end,
    });
  }

  /**
   * Logs a model's failure: the first at once, then at most one line a second, with how
   * many it left out. A throwing model fails every request; a line each would flood the log,
   * and a log written to a pipe blocks this thread when its reader falls behind.
   */
  #logFailure(name: string, now: number, message: string | undefined): void {
    let f = this.#failLog.get(name);
    if (!f) this.#failLog.set(name, (f = { at: -Infinity, quiet: 0 }));
    if (now - f.at < 1000) {
      f.quiet++;
      return;
    }
    this.#log(`model ${name}: inference failed: ${message}${f.quiet > 0 ? ` (and ${f.quiet} more failures since the last line)` : ''}`);
    f.at = now;
    f.quiet = 0;
  }

  /**
   * A call that did not get its model's answer: the fallback's answer (a constant, or the
   * fallback model's when it fits), or the error of the status.
   */
  #fail(c: Call, status: Status, message?: string): void {
    const e = c.e!;
    const name = e.def.name;
    const reason = statusName(status) as FailReason;
    this.observer.request(name, 'failure', reason);
    const fb = e.def.fallback;
    if (fb) {
      this.observer.fallback(name, reason);
      if ('constant' in fb) {
        const outDim = c.target?.outDim ?? 1;
        this.#answer(c, null, {
          model: name, version: c.target?.version ?? 0, values: new Float32Array(c.rows * outDim).fill(fb.constant), rows: c.rows, outDim,
          fallback: true, reason, variant: 'constant', queueUs: 0, batchWaitUs: 0, computeUs: 0, batch: 0, submittedAt: c.start, collectedAt: nowMs(),
        });
        return;
      }
      const f = this.#registry.get(fb.model);
      if (c.op === OP.PREDICT || (f.current && f.current.inDim === c.x!.length / c.rows)) {
        c.reason = reason;
        const child = this.#take(f, c.op, c.rows, null);
        child.outer = c;
        // Shed for load: it has waited its queue budget already, and the fallback model would
        // wait in the same workers' queues; the pool sheds it at once if the budget is spent.
        if (status === STATUS.OVERLOADED) child.since = c.start;
        if (c.op === OP.PREDICT) child.req = remap(e.def, f.def, c.req!);
        else child.x = c.x;
        this.#start(child, undefined);
        return;
      }
    }
    this.#answer(c, new HotpathError(statusCode(status), message ?? `model '${name}': ${reason.replace('_', ' ')}`));
  }

  /**
   * Hands a call's answer over and frees the call. A fallback's answer goes to the call it
   * stands for, named after the model asked for: variant names what answered (the fallback
   * model, or its own constant), and version is that answer's version.
   */
  #answer(c: Call, err: HotpathError | null, r?: InferResult): void {
    const outer = c.outer;
    const cb = c.cb;
    this.#give(c);
    if (outer) {
      if (err) this.#answer(outer, err);
      else this.#answer(outer, null, { ...r!, model: outer.e!.def.name, fallback: true, reason: outer.reason, variant: r!.variant === 'primary' ? r!.model : r!.variant });
      return;
    }
    cb!(err, r);
  }
}
