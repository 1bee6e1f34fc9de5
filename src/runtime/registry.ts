// The model registry: each model in hotpath.yaml lives in a Triton-style repository
// directory, `<repository>/<version>/model.onnx`. Loading a version reads the ONNX graph
// here (for metadata and to decide between the native runtime and onnxruntime), then loads
// it into every worker under a fresh slot. Hot reload loads the new version while the old
// one serves, swaps the model's current version, waits until the old slot has no request in
// flight, and unloads it: no request fails because of a reload.
//
// Inference on the loaded versions (deadline, breaker, fallback) is inference.ts's.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Config, ModelDef } from '../config/load.js';
import { type ErrorCode, HotpathError, isErrorCode, showValue } from '../errors.js';
import { backends, type Binding, constants, type FeatureStore } from '../native/binding.js';
import { type AdaptiveDef, QueueDelayController } from './adaptive-batching.js';
import { Breaker } from './breaker.js';
import type { NativePlan } from '../native/binding.js';
import { type OnnxValueInfo, readOnnx } from './onnx-graph.js';
import { planNative } from './onnx-plan.js';
import type { Pool } from './pool.js';
import { COUNTER, MAX_SLOTS } from './records.js';

export interface LoadedVersion {
  version: number;
  /** the workers' slot; -1 for a model served inline (a learner) */
  slot: number;
  path: string;
  runtime: 'native' | 'onnx' | 'learner';
  /** why the native runtime was not used (runtime auto or onnx) */
  nativeUnsupported?: string;
  /** where it runs: the model's device, or the CPU when that device is not here (or was lost) */
  device: 'cpu' | 'cuda';
  /** the arithmetic it runs in: the config's precision, or fp32 where that precision does not apply (see #precision) */
  precision: Binding.Precision;
  input: OnnxValueInfo;
  output: OnnxValueInfo;
  inDim: number;
  outDim: number;
  loadedAt: number;
}

/**
 * A model served inline on the main thread (an online learner, src/learn/online-model.ts):
 * no worker, no ring. The inference service calls it directly.
 */
export interface InlineModel {
  /** bumps when the model is reset or replaced (drift) */
  readonly version: number;
  readonly dim: number;
  /** scores one predict request; its prediction id is lastId afterwards */
  predict(req: { ids: string[]; idBytes: number[]; fields: number[] }, nowWallMs: number, nowMs: number): number;
  readonly lastId: number;
  /** false: only predict requests (KServe tensors are refused before inferRows) */
  readonly takesTensors: boolean;
  /** scores rows of a ready input matrix (rows x dim) */
  inferRows(x: Float32Array, rows: number): Float32Array;
}

export class ModelEntry {
  readonly def: ModelDef;
  current?: LoadedVersion;
  /** set for a model served inline (a learner): current then has slot -1 */
  inline?: InlineModel;
  /** versions still loaded (the current one, and an old one while it drains) */
  readonly versions = new Map<number, LoadedVersion>();
  error?: string;
  /** unloaded on purpose (the repository API): not served, and not counted against readiness */
  unloaded = false;
  readonly breaker?: Breaker;
  reloading: Promise<LoadedVersion> | null = null;
  /** loads that asked for cuda (device cuda or auto) and run on the CPU, by reason */
  readonly deviceFallbacks = new Map<string, number>();
  /** batching.adaptive (with worker threads): what chooses the queue delay */
  adaptive?: QueueDelayController;

  constructor(def: ModelDef) {
    this.def = def;
    if (def.breaker) this.breaker = new Breaker(def.breaker);
  }
}

export class ModelRegistry {
  readonly entries = new Map<string, ModelEntry>();
  readonly #pool: Pool;
  readonly #store: FeatureStore;
  readonly #log: (line: string) => void;
  readonly #maxWaitMs: number;
  readonly #freeSlots: number[] = Array.from({ length: MAX_SLOTS }, (_, i) => MAX_SLOTS - 1 - i);
  /** executions and inferences of unloaded slots, per model, so counters never go back */
  readonly retired = new Map<string, { executions: number; inferences: number }>();

  constructor(config: Config, pool: Pool, store: FeatureStore, log: (line: string) => void) {
    this.#pool = pool;
    this.#maxWaitMs = config.server.queueDelayBudgetMs;
    this.#store = store;
    this.#log = log;
    for (const def of config.models) this.entries.set(def.name, new ModelEntry(def));
    for (const e of this.entries.values()) if (e.def.batching.adaptive) e.adaptive = this.#adaptive(e, e.def.batching.adaptive);
    pool.onDeviceLost = (slot, worker, why) => this.#deviceLost(slot, worker, why);
  }

  /** A model's adaptive batching: it reads the model's batch counters and writes its slots' QUEUE_DELAY_US words. */
  #adaptive(e: ModelEntry, def: AdaptiveDef): QueueDelayController {
    const pool = this.#pool;
    return new QueueDelayController(def, e.def.batching.maxBatch, {
      batches: (out) => {
        const r = this.retired.get(e.def.name);
        out.rows = r?.inferences ?? 0;
        out.executions = r?.executions ?? 0;
        for (const v of e.versions.values()) {
          out.rows += pool.counter(v.slot, COUNTER.INFERENCES);
          out.executions += pool.counter(v.slot, COUNTER.EXECUTIONS);
        }
      },
      publish: (us) => {
        for (const v of e.versions.values()) pool.setQueueDelay(v.slot, us);
      },
    });
  }

  get(name: string): ModelEntry {
    const e = this.entries.get(name);
    if (!e) throw new HotpathError('HP_ERR_MODEL_UNKNOWN', `unknown model ${showValue(name)}; loaded: ${[...this.entries.keys()].join(', ') || 'none'}`);
    return e;
  }

  /** The model has a current version loaded in a live worker (or is served inline). */
  ready(e: ModelEntry): boolean {
    if (e.inline) return !e.unloaded;
    return e.current !== undefined && this.#pool.ready(e.current.slot);
  }

  /** Serves `name` (a learner in the config) inline from m. */
  attachInline(name: string, m: InlineModel): void {
    const e = this.get(name);
    e.inline = m;
    this.syncInline(e);
  }

  /** Makes e.current describe its inline model's version (after a drift reset or promotion). */
  syncInline(e: ModelEntry): LoadedVersion {
    const m = e.inline!;
    if (e.current?.version === m.version) return e.current;
    const v: LoadedVersion = {
      version: m.version, slot: -1, path: '', runtime: 'learner', device: 'cpu', precision: 'fp32',
      input: { name: 'input', elemType: 1, datatype: 'FP32', shape: [-1, m.dim] },
      output: { name: 'output', elemType: 1, datatype: 'FP32', shape: [-1, 1] },
      inDim: m.dim, outDim: 1, loadedAt: Date.now(),
    };
    e.versions.clear();
    e.versions.set(v.version, v);
    e.current = v;
    return v;
  }

  /** Versions a snapshot says were serving (models whose config says `latest` start on them). */
  readonly #restored = new Map<string, number>();

  /**
   * Loads every model's configured version; the first failure is thrown (startup refuses).
   * A model configured as `latest` starts on the version it served when the snapshot was
   * taken, if that version is still in its repository: a restart serves what was served.
   */
  async loadAll(): Promise<void> {
    for (const e of this.entries.values()) {
      if (e.def.learner) continue; // served inline: nothing to load
      const v = this.#restored.get(e.def.name);
      const keep = v !== undefined && e.def.version === 'latest' && ModelRegistry.versions(e.def).includes(v);
      if (v !== undefined && !keep && e.def.version === 'latest') this.#log(`model ${e.def.name}: version ${v} from the snapshot is no longer in ${e.def.repository}; loading the latest`);
      await this.reload(e.def.name, keep ? v : undefined);
    }
  }

  /** The loaded versions as a snapshot part (src/durability/snapshots.ts). */
  snapshotParticipant(): { name: string; capture(): Uint8Array; restore(part: { bytes?: Uint8Array }): void } {
    return {
      name: 'models',
      capture: () => {
        const serving: Record<string, number> = {};
        for (const e of this.entries.values()) if (e.current && !e.inline) serving[e.def.name] = e.current.version;
        return Buffer.from(JSON.stringify({ serving }));
      },
      restore: ({ bytes }) => {
        const { serving } = JSON.parse(Buffer.from(bytes ?? []).toString('utf8')) as { serving: Record<string, number> };
        for (const [name, v] of Object.entries(serving)) if (this.entries.has(name) && Number.isSafeInteger(v) && v > 0) this.#restored.set(name, v);
      },
    };
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
   * keeps serving and HP_ERR_MODEL_LOAD_FAILED is thrown (or the worker's own registered
   * code, e.g. a native refusal).
   */
  reload(name: string, version?: number): Promise<LoadedVersion> {
    const e = this.get(name);
    if (e.def.learner) {
      // A learner has no repository: "load" serves it again after an unload.
      e.unloaded = false;
      return Promise.resolve(this.syncInline(e));
    }
    // One reload at a time per model: a second waits for the first.
    const run = async (): Promise<LoadedVersion> => {
      const v = version ?? (e.def.version === 'latest' ? ModelRegistry.versions(e.def).at(-1) : e.def.version);
      if (v === undefined) throw this.#loadError(e, `no version directory with a model.onnx in ${e.def.repository}`);
      const loaded = await this.#load(e, v);
      const old = e.current;
      if (old) e.versions.delete(old.version); // before set: a reload of the same version replaces it
      e.versions.set(v, loaded);
      e.current = loaded;
      e.error = undefined;
      e.unloaded = false;
      if (old) void this.#retire(e, old);
      this.#log(`model ${name}: version ${v} serving (${loaded.runtime} on ${loaded.device}${loaded.precision !== 'fp32' ? ` ${loaded.precision}` : ''}${loaded.nativeUnsupported ? `: ${loaded.nativeUnsupported}` : ''})`);
      return loaded;
    };
    const p = (e.reloading ?? Promise.resolve()).catch(() => undefined).then(run);
    e.reloading = p;
    void p.finally(() => {
      if (e.reloading === p) e.reloading = null;
    }).catch(() => undefined);
    return p;
  }

  /**
   * Unloads the model (the repository API): its version stops taking requests at once,
   * drains, and is unloaded from every worker; predicts answer HP_ERR_MODEL_NOT_READY (or
   * the fallback) until a load. A model unloaded on purpose does not make the server
   * unready. A restart loads it again as the config says.
   */
  async unload(name: string): Promise<void> {
    const e = this.get(name);
    await (e.reloading ?? Promise.resolve()).catch(() => undefined);
    e.unloaded = true;
    if (e.inline) {
      this.#log(`model ${name}: learner unloaded (it keeps learning from its labels)`);
      return;
    }
    const old = e.current;
    if (!old) return;
    e.current = undefined;
    e.versions.delete(old.version);
    this.#log(`model ${name}: version ${old.version} unloaded`);
    await this.#retire(e, old);
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

  #loadError(e: ModelEntry, why: string, code: ErrorCode = 'HP_ERR_MODEL_LOAD_FAILED'): HotpathError {
    e.error = why;
    return new HotpathError(code, `model '${e.def.name}': ${why}`);
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

    let device = this.#device(e, runtime);
    const slot = this.#freeSlots.pop();
    if (slot === undefined) throw this.#loadError(e, `more than ${MAX_SLOTS} model versions loaded`);
    let precision = this.#precision(e, runtime, device);
    if (e.adaptive) this.#pool.setQueueDelay(slot, e.adaptive.delayUs);
    const load = () =>
      this.#pool.load({
        type: 'load',
        token: 0,
        slot,
        name: def.name,
        version,
        runtime,
        plan,
        path,
        device,
        precision,
        cudaGraphs: def.cudaGraphs,
        inDim,
        outDim,
        inputName: input.name,
        outputName: output.name,
        maxBatch: def.batching.maxBatch,
        maxQueueDelayUs: e.adaptive ? e.adaptive.delayUs : def.batching.maxQueueDelayUs,
        adaptive: e.adaptive !== undefined,
        preferred: def.batching.preferred,
        maxWaitMs: this.#maxWaitMs,
        gather: gatherSpec(def, this.#store),
      });
    try {
      try {
        await load();
      } catch (err) {
        // Too large for the device's memory: `auto` takes the CPU, `cuda` is refused below.
        if (device !== 'cuda' || def.device !== 'auto' || (err as { code?: unknown }).code !== 'HP_ERR_NATIVE_RESOURCE_EXHAUSTED') throw err;
        this.#fallback(e, 'device_memory', `it does not fit the device's memory (${(err as Error).message})`);
        device = 'cpu';
        precision = this.#precision(e, runtime, device);
        await load();
      }
    } catch (err) {
      this.#freeSlots.push(slot);
      // The worker's code reaches the caller when it is a registered one.
      const code = (err as { code?: unknown }).code;
      throw this.#loadError(e, `${path}: ${(err as Error).message}`, isErrorCode(code) ? code : undefined);
    }
    return { version, slot, path, runtime, nativeUnsupported, device, precision, input, output, inDim, outDim, loadedAt: Date.now() };
  }

  /**
   * The device a load runs on. `cpu`: the CPU. `cuda` and `auto`: the GPU when this build
   * has CUDA and sees a device, and the model runs in the native runtime (onnxruntime runs
   * on the CPU here); otherwise the CPU, with a log line and a count by reason
   * (hotpath_model_device_fallbacks_total). `auto` falls back quietly when the build has no
   * CUDA at all: it asks for a GPU only where there is one.
   */
  #device(e: ModelEntry, runtime: 'native' | 'onnx'): 'cpu' | 'cuda' {
    const want = e.def.device;
    // int8 runs on the CPU only (the config refuses it with device cuda): auto takes the CPU
    if (want === 'cpu' || e.def.precision === 'int8') return 'cpu';
    const cuda = backends().cuda;
    let reason: string | undefined;
    if (runtime !== 'native') reason = 'onnx_runtime';
    else if (!cuda.compiled) reason = 'not_built';
    else if (cuda.devices < 1) reason = 'no_device';
    if (reason === undefined) return 'cuda';
    const why = reason === 'onnx_runtime' ? 'it runs in onnxruntime, which runs on the CPU here' : reason === 'not_built' ? 'this build has no CUDA (npm run build:cuda)' : `no CUDA device is visible${cuda.error ? ` (${cuda.error})` : ''}`;
    this.#fallback(e, reason, why, want === 'cuda' || reason !== 'not_built');
    return 'cpu';
  }

  /** Counts a GPU fallback by reason (hotpath_model_device_fallbacks_total) and says why in the log. */
  #fallback(e: ModelEntry, reason: string, why: string, log = true): void {
    e.deviceFallbacks.set(reason, (e.deviceFallbacks.get(reason) ?? 0) + 1);
    if (log) this.#log(`model ${e.def.name}: device ${e.def.device} asked for, but ${why}: running on the CPU`);
  }

  /**
   * The precision a load runs in. int8 needs the native runtime (runtime auto may end on
   * onnxruntime); fp16 and bf16 need the GPU (device auto may end on the CPU). Where the
   * precision does not apply, the model runs in fp32, and the log says so.
   */
  #precision(e: ModelEntry, runtime: 'native' | 'onnx', device: 'cpu' | 'cuda'): Binding.Precision {
    const want = e.def.precision;
    if (want === 'int8' && runtime !== 'native') {
      this.#log(`model ${e.def.name}: precision int8 needs the native runtime, and this model runs in onnxruntime: running in fp32`);
      return 'fp32';
    }
    if ((want === 'fp16' || want === 'bf16') && device !== 'cuda') {
      this.#log(`model ${e.def.name}: precision ${want} is for the GPU, and this model runs on the CPU: running in fp32`);
      return 'fp32';
    }
    return want;
  }

  /** A worker's GPU failed under one of this registry's models: it answers on the CPU since. */
  #deviceLost(slot: number, worker: number, why: string): void {
    for (const e of this.entries.values())
      for (const v of e.versions.values()) {
        if (v.slot !== slot) continue;
        v.device = 'cpu';
        e.deviceFallbacks.set('device_lost', (e.deviceFallbacks.get('device_lost') ?? 0) + 1);
        this.#log(`model ${e.def.name}: version ${v.version} lost its GPU in worker ${worker} (${why}): answering on the CPU`);
      }
  }

}

/**
 * What the native gather reads for a model's predict requests (null without inputs): the
 * key tables, then one column per input (a feature's offset in its table's row, or a
 * request field) with its transform and fill. The workers' gather and a learner's share it.
 */
export function gatherSpec(def: Pick<ModelDef, 'inputs' | 'keys' | 'fields'>, store: FeatureStore): Binding.GatherSpec | null {
  if (!def.inputs) return null;
  return {
    tables: def.keys.map((k) => k.table),
    fields: def.fields.length,
    columns: def.inputs.map((inp) => ({
      source: constants.gatherSources[inp.source],
      key: inp.source === 'feature' ? inp.index : 0,
      offset: inp.source === 'feature' ? store.layout(inp.table!).offsets[inp.feature!] : 0,
      field: inp.source === 'field' ? inp.index : 0,
      transform: constants.gatherTransforms[inp.transform],
      fill: inp.fill,
    })),
  };
}
