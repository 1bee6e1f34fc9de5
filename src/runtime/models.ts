// The model registry and the inference service on top of the worker pool.
//
// Registry: each model in hotpath.yaml lives in a Triton-style repository directory,
// `<repository>/<version>/model.onnx`. Loading a version reads the ONNX graph here (for
// metadata and to decide between the native runtime and onnxruntime), then loads it into
// every worker under a fresh slot. Hot reload loads the new version while the old one
// serves, swaps the model's current version, waits until the old slot has no request in
// flight, and unloads it: no request fails because of a reload.
//
// Inference: predict (entity ids + request fields; the worker gathers the features) and
// infer (a ready input matrix), each with the model's deadline, circuit breaker and
// fallback (a constant or another model).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Config, ModelDef } from '../config/load.js';
import { type ErrorCode, HotpathError } from '../errors.js';
import { type Binding, constants, type FeatureStore, limits } from '../native/binding.js';
import { Breaker } from './breaker.js';
import { type NativePlan, type OnnxValueInfo, planNative, readOnnx } from './onnx-graph.js';
import type { Outcome, OutcomeStatus, Pool } from './pool.js';
import { COUNTER, MAX_SLOTS, nowMs, OP } from './records.js';
import type { Ring } from './ring.js';

export interface LoadedVersion {
  version: number;
  slot: number;
  path: string;
  runtime: 'native' | 'onnx';
  /** why the native runtime was not used (runtime auto or onnx) */
  nativeUnsupported?: string;
  input: OnnxValueInfo;
  output: OnnxValueInfo;
  inDim: number;
  outDim: number;
  loadedAt: number;
}

export class ModelEntry {
  readonly def: ModelDef;
  current?: LoadedVersion;
  /** versions still loaded (the current one, and an old one while it drains) */
  readonly versions = new Map<number, LoadedVersion>();
  error?: string;
  readonly breaker?: Breaker;
  reloading: Promise<LoadedVersion> | null = null;

  constructor(def: ModelDef) {
    this.def = def;
    if (def.breaker) this.breaker = new Breaker(def.breaker);
  }
}

/** Why a request did not get the model's own answer. */
export type FailReason = 'deadline' | 'error' | 'crashed' | 'overloaded' | 'circuit_open' | 'not_ready';

const REASON_ERROR: Record<FailReason, ErrorCode> = {
  deadline: 'HP_ERR_DEADLINE',
  error: 'HP_ERR_INFERENCE_FAILED',
  crashed: 'HP_ERR_WORKER_CRASHED',
  overloaded: 'HP_ERR_OVERLOADED',
  circuit_open: 'HP_ERR_CIRCUIT_OPEN',
  not_ready: 'HP_ERR_MODEL_NOT_READY',
};

const STATUS_REASON: Record<Exclude<OutcomeStatus, 'ok'>, FailReason> = {
  deadline: 'deadline',
  error: 'error',
  crashed: 'crashed',
  overloaded: 'overloaded',
  not_loaded: 'not_ready',
};

export type ParsedPredict = { ids: string[]; idBytes: number[]; fields: number[] };

/** How inference answers: an error, or a result. */
export type Answer = (err: HotpathError | null, r?: InferResult) => void;

export interface InferResult {
  model: string;
  version: number;
  values: Float32Array;
  rows: number;
  outDim: number;
  fallback: boolean;
  /** set when fallback is true */
  reason?: FailReason;
  /** 'primary', or the fallback that answered: 'constant' or the fallback model's name */
  variant: string;
  queueUs: number;
  computeUs: number;
  batch: number;
}

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

/** What the metrics module observes; kept as an interface so the runtime does not import prom-client. */
export interface InferenceObserver {
  request(model: string, outcome: 'success' | 'failure', reason: string): void;
  fallback(model: string, reason: FailReason): void;
  timings(model: string, queueUs: number, computeUs: number, totalUs: number): void;
}

const NO_OBSERVER: InferenceObserver = { request() {}, fallback() {}, timings() {} };

export class Models {
  readonly entries = new Map<string, ModelEntry>();
  readonly #pool: Pool;
  readonly #store: FeatureStore;
  readonly #config: Config;
  readonly #log: (line: string) => void;
  readonly #freeSlots: number[] = Array.from({ length: MAX_SLOTS }, (_, i) => MAX_SLOTS - 1 - i);
  observer: InferenceObserver = NO_OBSERVER;
  /** executions and inferences of unloaded slots, per model, so counters never go back */
  readonly retired = new Map<string, { executions: number; inferences: number }>();

  constructor(config: Config, pool: Pool, store: FeatureStore, log: (line: string) => void) {
    this.#config = config;
    this.#pool = pool;
    this.#store = store;
    this.#log = log;
    for (const def of config.models) this.entries.set(def.name, new ModelEntry(def));
  }

  get(name: string): ModelEntry {
    const e = this.entries.get(name);
    if (!e) throw new HotpathError('HP_ERR_MODEL_UNKNOWN', `unknown model ${JSON.stringify(name)}; loaded: ${[...this.entries.keys()].join(', ') || 'none'}`);
    return e;
  }

  ready(e: ModelEntry): boolean {
    return e.current !== undefined && this.#pool.ready(e.current.slot);
  }

  /** Loads every model's configured version; the first failure is thrown (startup refuses). */
  async loadAll(): Promise<void> {
    for (const e of this.entries.values()) await this.reload(e.def.name);
  }

  /** Numbered version directories holding a model.onnx, ascending. */
  static versions(def: ModelDef): number[] {
    if (!existsSync(def.repository)) return [];
    return readdirSync(def.repository, { withFileTypes: true })
      .filter((d) => d.isDirectory() && /^[1-9][0-9]*$/.test(d.name) && existsSync(join(def.repository, d.name, 'model.onnx')))
      .map((d) => Number(d.name))
      .sort((a, b) => a - b);
  }

  /**
   * Loads `version` (default: the config's, 'latest' = the highest present) and makes it
   * current; the previous version drains and is unloaded. On failure the previous version
   * keeps serving and HP_ERR_MODEL_LOAD_FAILED is thrown.
   */
  reload(name: string, version?: number): Promise<LoadedVersion> {
    const e = this.get(name);
    // One reload at a time per model: a second waits for the first.
    const run = async (): Promise<LoadedVersion> => {
      const v = version ?? (e.def.version === 'latest' ? Models.versions(e.def).at(-1) : e.def.version);
      if (v === undefined) throw this.#loadError(e, `no version directory with a model.onnx in ${e.def.repository}`);
      const loaded = await this.#load(e, v);
      const old = e.current;
      if (old) e.versions.delete(old.version); // before set: a reload of the same version replaces it
      e.versions.set(v, loaded);
      e.current = loaded;
      e.error = undefined;
      if (old) void this.#retire(e, old);
      this.#log(`model ${name}: version ${v} serving (${loaded.runtime}${loaded.nativeUnsupported ? `: ${loaded.nativeUnsupported}` : ''})`);
      return loaded;
    };
    const p = (e.reloading ?? Promise.resolve()).catch(() => undefined).then(run);
    e.reloading = p;
    void p.finally(() => {
      if (e.reloading === p) e.reloading = null;
    }).catch(() => undefined);
    return p;
  }

  async #retire(e: ModelEntry, old: LoadedVersion): Promise<void> {
    await this.#pool.unload(old.slot); // waits until no request for it is in flight
    const r = this.retired.get(e.def.name) ?? { executions: 0, inferences: 0 };
    r.executions += this.#pool.counter(old.slot, COUNTER.EXECUTIONS);
    r.inferences += this.#pool.counter(old.slot, COUNTER.INFERENCES);
    this.retired.set(e.def.name, r);
    this.#pool.resetCounters(old.slot);
    this.#freeSlots.push(old.slot);
  }

  #loadError(e: ModelEntry, why: string): HotpathError {
    e.error = why;
    return new HotpathError('HP_ERR_MODEL_LOAD_FAILED', `model '${e.def.name}': ${why}`);
  }

  async #load(e: ModelEntry, version: number): Promise<LoadedVersion> {
    const def = e.def;
    const path = join(def.repository, String(version), 'model.onnx');
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      throw this.#loadError(e, `cannot read ${path}: ${(err as Error).message}`);
    }
    let graph;
    try {
      graph = readOnnx(bytes);
    } catch (err) {
      throw this.#loadError(e, `${path}: ${(err as Error).message}`);
    }
    if (graph.inputs.length !== 1 || graph.outputs.length < 1)
      throw this.#loadError(e, `${path}: hotpath serves models with one input tensor (this one has ${graph.inputs.length})`);
    const input = graph.inputs[0];
    const output = graph.outputs[0];
    if (input.datatype !== 'FP32' || input.shape.length !== 2 || input.shape[1] <= 0)
      throw this.#loadError(e, `${path}: the input '${input.name}' must be FP32 [batch, n] with n fixed (it is ${input.datatype} [${input.shape.join(', ')}])`);
    if (output.datatype !== 'FP32' || output.shape.length !== 2 || output.shape[1] <= 0)
      throw this.#loadError(e, `${path}: the output '${output.name}' must be FP32 [batch, k] with k fixed (it is ${output.datatype} [${output.shape.join(', ')}])`);
    const inDim = input.shape[1];
    const outDim = output.shape[1];
    if (def.inputs && def.inputs.length !== inDim)
      throw this.#loadError(e, `${path}: the model takes ${inDim} inputs but /models/${def.name}/inputs lists ${def.inputs.length}`);

    let runtime: 'native' | 'onnx' = 'onnx';
    let plan: NativePlan | undefined;
    let nativeUnsupported: string | undefined;
    if (def.runtime !== 'onnx') {
      const p = planNative(graph);
      if ('plan' in p) {
        runtime = 'native';
        plan = p.plan;
      } else if (def.runtime === 'native') {
        throw this.#loadError(e, `${path}: runtime native was asked for, but ${p.unsupported}`);
      } else nativeUnsupported = p.unsupported;
    } else nativeUnsupported = 'runtime onnx was asked for';

    const slot = this.#freeSlots.pop();
    if (slot === undefined) throw this.#loadError(e, `more than ${MAX_SLOTS} model versions loaded`);
    try {
      await this.#pool.load({
        type: 'load',
        token: 0,
        slot,
        name: def.name,
        version,
        runtime,
        plan,
        path,
        device: def.device,
        inDim,
        outDim,
        inputName: input.name,
        outputName: output.name,
        maxBatch: def.batching.maxBatch,
        maxQueueDelayUs: def.batching.maxQueueDelayUs,
        preferred: def.batching.preferred,
        gather: this.#gatherSpec(def),
      });
    } catch (err) {
      this.#freeSlots.push(slot);
      throw this.#loadError(e, `${path}: ${(err as Error).message}`);
    }
    return { version, slot, path, runtime, nativeUnsupported, input, output, inDim, outDim, loadedAt: Date.now() };
  }

  #gatherSpec(def: ModelDef): Binding.GatherSpec | null {
    if (!def.inputs) return null;
    return {
      tables: def.keys.map((k) => k.table),
      fields: def.fields.length,
      columns: def.inputs.map((inp) => ({
        source: constants.gatherSources[inp.source],
        key: inp.source === 'feature' ? inp.index : 0,
        offset: inp.source === 'feature' ? this.#store.layout(inp.table!).offsets[inp.feature!] : 0,
        field: inp.source === 'field' ? inp.index : 0,
        transform: constants.gatherTransforms[inp.transform],
        fill: inp.fill,
      })),
    };
  }

  // ---- inference ----

  /**
   * Validates a predict body: {entities: {<entity>: id}, fields: {<field>: number}}. Returns
   * the ids (UTF-8 lengths known) and field values in the model's record order.
   */
  parsePredict(e: ModelEntry, body: unknown): ParsedPredict {
    const def = e.def;
    if (!def.inputs)
      throw new HotpathError('HP_ERR_PREDICT_INVALID', `model '${def.name}' has no inputs: list in the config; send tensors to /v2/models/${def.name}/infer`);
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new HotpathError('HP_ERR_PREDICT_INVALID', 'the body must be a JSON object {"entities": {...}, "fields": {...}}');
    const b = body as { entities?: unknown; fields?: unknown };
    const ents = (b.entities ?? {}) as Record<string, unknown>;
    const flds = (b.fields ?? {}) as Record<string, unknown>;
    if (typeof ents !== 'object' || Array.isArray(ents)) throw new HotpathError('HP_ERR_PREDICT_INVALID', '`entities` must be an object of entity -> id');
    if (typeof flds !== 'object' || Array.isArray(flds)) throw new HotpathError('HP_ERR_PREDICT_INVALID', '`fields` must be an object of field -> number');
    const ids: string[] = [];
    const idBytes: number[] = [];
    for (const k of def.keys) {
      const v = ents[k.entity];
      let id: string | undefined;
      if (typeof v === 'string') id = v;
      else if (typeof v === 'number' && Number.isSafeInteger(v)) id = String(v);
      if (id === undefined) throw new HotpathError('HP_ERR_PREDICT_INVALID', `model '${def.name}' needs entities.${k.entity}: a string id or an integer`);
      const n = Buffer.byteLength(id);
      if (n === 0 || n > limits.maxIdBytes) throw new HotpathError('HP_ERR_ID_INVALID', `entities.${k.entity}: an entity id must be 1..${limits.maxIdBytes} UTF-8 bytes`);
      ids.push(id);
      idBytes.push(n);
    }
    const fields: number[] = [];
    for (const f of def.fields) {
      const v = flds[f];
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new HotpathError('HP_ERR_PREDICT_INVALID', `model '${def.name}' needs fields.${f}: a finite number`);
      fields.push(v);
    }
    return { ids, idBytes, fields };
  }

  /** Scores one predict request (already parsed) with fallbacks. */
  predict(e: ModelEntry, req: ParsedPredict): Promise<InferResult> {
    return new Promise((resolve, reject) => this.predictCb(e, req, (err, r) => (err ? reject(err) : resolve(r!))));
  }

  /**
   * predict() with a callback: the REST and WebSocket hot paths, without the promise
   * allocations. cb runs exactly once; synchronously when the request is refused before
   * it reaches a worker (not ready, breaker open, shed), later otherwise.
   */
  predictCb(e: ModelEntry, req: ParsedPredict, cb: Answer): void {
    const nFields = e.def.fields.length;
    const lensAt = nFields * 4;
    const bytesAt = lensAt + ((req.ids.length * 2 + 3) & ~3);
    let size = bytesAt;
    for (const n of req.idBytes) size += n;
    const write = (ring: Ring, off: number): void => {
      const v = ring.view;
      for (let f = 0; f < nFields; f++) v.setFloat32(off + f * 4, req.fields[f], true);
      let at = off + bytesAt;
      for (let k = 0; k < req.ids.length; k++) {
        v.setUint16(off + lensAt + k * 2, req.idBytes[k], true);
        at += ring.buffer.write(req.ids[k], at, 'utf8');
      }
    };
    this.#run(e, undefined, OP.PREDICT, 1, size, write, cb, (answer) => {
      if (!e.def.fallback || !('model' in e.def.fallback)) return false;
      const f = this.get(e.def.fallback.model);
      this.predictCb(f, remap(e.def, f.def, req), answer);
      return true;
    });
  }

  /** Runs rows of a ready input matrix (rows x inDim, FP32) on a version (default current). */
  infer(e: ModelEntry, version: number | undefined, x: Float32Array, rows: number): Promise<InferResult> {
    return new Promise((resolve, reject) => this.#infer(e, version, x, rows, (err, r) => (err ? reject(err) : resolve(r!))));
  }

  #infer(e: ModelEntry, version: number | undefined, x: Float32Array, rows: number, cb: Answer): void {
    const outDim = (version === undefined ? e.current : e.versions.get(version))?.outDim ?? 0;
    if (x.byteLength > this.#pool.maxBody || rows * outDim * 4 > this.#pool.maxAnswer) {
      cb(new HotpathError(
        'HP_ERR_BATCH_TOO_LARGE',
        `${rows} rows do not fit a worker ring: a request takes at most ${this.#pool.maxBody} bytes of input and ${this.#pool.maxAnswer} of output (raise server.ring_bytes)`,
      ));
      return;
    }
    const write = (ring: Ring, off: number): void => {
      ring.bytes.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), off);
    };
    this.#run(e, version, OP.INFER, rows, x.byteLength, write, cb, (answer) => {
      if (!e.def.fallback || !('model' in e.def.fallback)) return false;
      const f = this.get(e.def.fallback.model);
      if (!f.current || f.current.inDim !== x.length / rows) return false;
      this.#infer(f, undefined, x, rows, answer);
      return true;
    });
  }

  /**
   * Submits one request and answers cb once: with the model's result, or with the
   * fallback's (a constant, or the fallback model via `fallbackModel`, which returns false
   * when there is none that fits), or with the error of the failure's reason.
   */
  #run(
    e: ModelEntry,
    version: number | undefined,
    op: number,
    rows: number,
    size: number,
    write: (ring: Ring, off: number) => void,
    cb: Answer,
    fallbackModel: (answer: Answer) => boolean,
  ): void {
    const start = nowMs();
    const name = e.def.name;
    const target = version === undefined ? e.current : e.versions.get(version);
    if (version !== undefined && !target) {
      cb(new HotpathError('HP_ERR_MODEL_UNKNOWN', `model '${name}' has no loaded version ${version}; loaded: ${[...e.versions.keys()].join(', ') || 'none'}`));
      return;
    }
    const fail = (reason: FailReason, message?: string): void => {
      this.observer.request(name, 'failure', reason);
      const fb = e.def.fallback;
      if (fb) {
        this.observer.fallback(name, reason);
        if ('constant' in fb) {
          const outDim = target?.outDim ?? 1;
          cb(null, {
            model: name, version: target?.version ?? 0, values: new Float32Array(rows * outDim).fill(fb.constant), rows, outDim,
            fallback: true, reason, variant: 'constant', queueUs: 0, computeUs: 0, batch: 0,
          });
          return;
        }
        // Named after the model asked for; variant names what answered (the fallback
        // model, or its own constant), and version is that answer's version.
        const viaFallback: Answer = (err, r) =>
          err ? cb(err) : cb(null, { ...r!, model: name, fallback: true, reason, variant: r!.variant === 'primary' ? r!.model : r!.variant });
        if (fallbackModel(viaFallback)) return;
      }
      cb(new HotpathError(REASON_ERROR[reason], message ?? `model '${name}': ${reason.replace('_', ' ')}`));
    };
    if (!target || !this.#pool.ready(target.slot)) return fail('not_ready', `model '${name}' is not ready${e.error ? `: ${e.error}` : ''}`);
    if (e.breaker && !e.breaker.allow(start)) return fail('circuit_open', `model '${name}': circuit breaker open`);
    const generation = e.breaker?.generation ?? 0;
    this.#pool.submit(target.slot, op, rows, size, e.def.timeoutMs, write, (o) => {
      const end = nowMs();
      const ok = o.status === 'ok';
      e.breaker?.record(end, ok, end - start, generation);
      if (!ok) {
        if (o.status === 'error') this.#log(`model ${name}: inference failed: ${o.message}`);
        fail(STATUS_REASON[o.status as Exclude<OutcomeStatus, 'ok'>], o.message && `model '${name}': ${o.message}`);
        return;
      }
      this.observer.request(name, 'success', '');
      this.observer.timings(name, o.queueUs, o.computeUs, (end - start) * 1000);
      cb(null, {
        model: name, version: target.version, values: o.values!, rows: o.rows, outDim: o.outDim,
        fallback: false, variant: 'primary', queueUs: o.queueUs, computeUs: o.computeUs, batch: o.batch,
      });
    });
  }
}
