// The models: section of hotpath.yaml: each model's repository, runtime, inputs (compiled
// against the entities' features), batching, timeout, fallback and circuit breaker.
import { resolve } from 'node:path';

import { compileLearner, type LearnerDef, type RawLearner } from './learning.js';
import type { EntityDef, StreamDef } from './load.js';
import { fail, parseDuration } from './values.js';

export interface ModelInputDef {
  /** the column's name: `entity.feature` or `field` */
  name: string;
  source: 'feature' | 'field';
  /** feature: index into the model's keys; field: index into the model's fields */
  index: number;
  /** feature only: the entity table and the feature's index in it */
  table?: number;
  feature?: number;
  transform: 'none' | 'log1p';
  fill: number;
  /** a learner's categorical input: hashed into the learner's hashed block (field inputs only) */
  hash?: boolean;
}

export interface BreakerDef {
  errorRate: number;
  latencyMs: number;
  windowMs: number;
  minRequests: number;
  openForMs: number;
  halfOpenProbes: number;
}

export interface ModelDef {
  name: string;
  /** absolute path of the directory holding numbered version directories ('' for a learner) */
  repository: string;
  /** an online learner (src/learn/), served inline on the main thread, instead of a repository */
  learner?: LearnerDef;
  version: 'latest' | number;
  runtime: 'auto' | 'native' | 'onnx';
  /** where the native runtime runs it: cuda or auto fall back to the CPU without a device (registry.ts) */
  device: 'cpu' | 'cuda' | 'auto';
  /**
   * int8: the native runtime quantises the dense weights (per output channel) and activations
   * (per row), on the CPU; fp16, bf16: 16-bit weights and layer inputs with fp32 accumulation,
   * on the GPU. Where it cannot apply (runtime auto ending on onnxruntime, device auto ending
   * on the CPU) the model runs in fp32 (registry.ts).
   */
  precision: 'fp32' | 'int8' | 'fp16' | 'bf16';
  /** device cuda: capture a CUDA graph per batch bucket (default true) */
  cudaGraphs: boolean;
  /** the input matrix's columns for predict requests; null: the model only takes tensors */
  inputs: ModelInputDef[] | null;
  /** entities whose ids a predict request carries, in record order */
  keys: { entity: string; table: number }[];
  /** request fields a predict request carries, in record order */
  fields: string[];
  /** per request field: a category (a hashed learner input: a string or an integer), not a number */
  categoryFields?: boolean[];
  /** maxQueueDelayUs: the fixed window, or with adaptive its largest (adaptive's maxDelayUs) */
  batching: { maxBatch: number; maxQueueDelayUs: number; preferred: number[]; adaptive?: { targetP99Us: number; minDelayUs: number; maxDelayUs: number } };
  timeoutMs: number;
  fallback?: { constant: number } | { model: string };
  breaker?: BreakerDef;
}

/** A model as the schema admits it (raw YAML keys). */
export interface RawModel {
  repository?: string;
  learner?: RawLearner;
  version?: 'latest' | number;
  runtime?: 'auto' | 'native' | 'onnx';
  device?: 'cpu' | 'cuda' | 'auto';
  precision?: 'fp32' | 'int8' | 'fp16' | 'bf16';
  cuda_graphs?: boolean;
  inputs?: { feature?: string; field?: string; transform?: 'none' | 'log1p'; fill?: number; hash?: boolean }[];
  batching?: {
    max_batch?: number;
    max_queue_delay_us?: number;
    preferred_batch_sizes?: number[];
    adaptive?: { target_p99_us: number; min_queue_delay_us?: number; max_queue_delay_us?: number };
  };
  timeout?: number | string;
  fallback?: { constant?: number; model?: string };
  circuit_breaker?: {
    error_rate?: number;
    latency?: number | string;
    window?: number | string;
    min_requests?: number;
    open_for?: number | string;
    half_open_probes?: number;
  };
}
export function compileModels(
  raw: Record<string, RawModel>, entities: EntityDef[], entityIndex: Map<string, number>, baseDir: string,
  streams: StreamDef[] = [], streamIndex: Map<string, number> = new Map(),
): ModelDef[] {
  const models: ModelDef[] = [];
  for (const [name, m] of Object.entries(raw)) {
    const path = `/models/${name}`;
    const keys: ModelDef['keys'] = [];
    const fields: string[] = [];
    let inputs: ModelInputDef[] | null = null;
    if (m.inputs) {
      inputs = m.inputs.map((inp, i) => {
        if ((inp.feature === undefined) === (inp.field === undefined))
          fail(`${path}/inputs/${i}`, 'give exactly one of feature (entity.feature) or field (a request field)');
        const transform = inp.transform ?? 'none';
        const fill = inp.fill ?? 0;
        if (inp.hash !== undefined && !m.learner) fail(`${path}/inputs/${i}/hash`, 'only a learner hashes inputs (its hashed block)');
        if (inp.hash && inp.field === undefined) fail(`${path}/inputs/${i}/hash`, 'only a field input (a category in the request) is hashed');
        if (inp.hash && inp.transform !== undefined) fail(`${path}/inputs/${i}/transform`, 'a hashed input has no transform');
        if (inp.field !== undefined) {
          let index = fields.indexOf(inp.field);
          if (index < 0) index = fields.push(inp.field) - 1;
          return { name: inp.field, source: 'field' as const, index, transform, fill, ...(inp.hash ? { hash: true } : {}) };
        }
        const [ename, fname] = inp.feature!.split('.');
        const table = entityIndex.get(ename);
        if (table === undefined) fail(`${path}/inputs/${i}/feature`, `no entity '${ename}' is declared under /entities`);
        const feature = entities[table].featureIndex.get(fname);
        if (feature === undefined) fail(`${path}/inputs/${i}/feature`, `entity '${ename}' has no feature '${fname}'`);
        if (entities[table].features[feature].agg === 'last_n')
          fail(`${path}/inputs/${i}/feature`, `'${fname}' is a last_n list; a model input takes one number`);
        let index = keys.findIndex((k) => k.entity === ename);
        if (index < 0) index = keys.push({ entity: ename, table }) - 1;
        return { name: inp.feature!, source: 'feature' as const, index, table, feature, transform, fill };
      });
    }
    if ((m.repository === undefined) === (m.learner === undefined))
      fail(path, 'give exactly one of repository (a model repository directory) or learner (an online learner)');
    if (m.learner) {
      if (!m.inputs) fail(`${path}/inputs`, 'a learner needs an inputs: list (the columns it learns on)');
      for (const k of ['version', 'runtime', 'device', 'precision', 'cuda_graphs', 'batching'] as const)
        if (m[k] !== undefined) fail(`${path}/${k}`, 'a learner runs inline on the main thread; it has no ' + k);
    }
    if (m.precision === 'int8') {
      // Only the native runtime has int8 kernels, and only on the CPU. Under runtime auto a
      // model the native runtime cannot plan runs in fp32 on onnxruntime (the log says so).
      if (m.runtime === 'onnx') fail(`${path}/precision`, 'int8 runs on the native runtime only: set runtime: native or auto (runtime is onnx)');
      if (m.device === 'cuda') fail(`${path}/precision`, 'int8 runs on the cpu device only (device is cuda)');
    }
    if (m.precision === 'fp16' || m.precision === 'bf16') {
      // The GPU's 16-bit paths; under device auto without a GPU the model runs in fp32.
      if ((m.device ?? 'cpu') === 'cpu') fail(`${path}/precision`, `${m.precision} runs on the GPU only: set device: cuda or auto (device is ${m.device ?? 'cpu'})`);
      if (m.runtime === 'onnx') fail(`${path}/precision`, `${m.precision} runs on the native runtime only: set runtime: native or auto (runtime is onnx)`);
    }
    if (m.cuda_graphs !== undefined && (m.device ?? 'cpu') === 'cpu') fail(`${path}/cuda_graphs`, 'cuda_graphs applies to device cuda or auto (device is cpu)');
    if (m.fallback && (m.fallback.constant === undefined) === (m.fallback.model === undefined))
      fail(`${path}/fallback`, 'give exactly one of constant or model');
    const b = m.batching ?? {};
    const maxBatch = b.max_batch ?? 64;
    const preferred = [...new Set(b.preferred_batch_sizes ?? [])].sort((x, y) => x - y);
    if (preferred.some((p) => p > maxBatch)) fail(`${path}/batching/preferred_batch_sizes`, `sizes must be <= max_batch (${maxBatch})`);
    const adaptive = b.adaptive && compileAdaptive(b.adaptive, b.max_queue_delay_us, `${path}/batching`);
    const cb = m.circuit_breaker;
    const def: ModelDef = {
      name,
      repository: m.repository === undefined ? '' : resolve(baseDir, m.repository),
      version: m.version ?? 'latest',
      runtime: m.runtime ?? 'auto',
      device: m.device ?? 'cpu',
      precision: m.precision ?? 'fp32',
      cudaGraphs: m.cuda_graphs ?? true,
      inputs,
      keys,
      fields,
      batching: adaptive ? { maxBatch, maxQueueDelayUs: adaptive.maxDelayUs, preferred, adaptive } : { maxBatch, maxQueueDelayUs: b.max_queue_delay_us ?? 100, preferred },
      timeoutMs: m.timeout === undefined ? 100 : parseDuration(m.timeout),
      fallback: m.fallback?.model !== undefined ? { model: m.fallback.model } : m.fallback ? { constant: m.fallback.constant! } : undefined,
      breaker: cb && {
        errorRate: cb.error_rate ?? 0.5,
        latencyMs: cb.latency === undefined ? Infinity : parseDuration(cb.latency),
        windowMs: cb.window === undefined ? 10_000 : parseDuration(cb.window),
        minRequests: cb.min_requests ?? 20,
        openForMs: cb.open_for === undefined ? 5_000 : parseDuration(cb.open_for),
        halfOpenProbes: cb.half_open_probes ?? 5,
      },
    };
    if (!(def.timeoutMs > 0)) fail(`${path}/timeout`, 'must be > 0');
    if (m.learner) def.learner = compileLearner(m.learner, def, streams, streamIndex, `${path}/learner`);
    if (inputs?.some((x) => x.hash)) {
      def.categoryFields = fields.map((f) => inputs!.some((x) => x.source === 'field' && x.name === f && x.hash));
      inputs.forEach((x, i) => {
        if (x.source === 'field' && !x.hash && def.categoryFields![x.index]) fail(`${path}/inputs/${i}`, `field '${x.name}' is hashed by another input; a field is a category or a number, not both`);
      });
    }
    models.push(def);
  }
  for (const m of models) {
    if (!m.fallback || !('model' in m.fallback)) continue;
    const target = models.find((x) => x.name === (m.fallback as { model: string }).model);
    const path = `/models/${m.name}/fallback/model`;
    if (!target) fail(path, `no model '${(m.fallback as { model: string }).model}' is declared under /models`);
    if (target === m) fail(path, 'a model cannot be its own fallback');
    if (target.fallback && 'model' in target.fallback) fail(path, `'${target.name}' has a fallback model itself; chains are not allowed`);
    if (m.inputs && !target.inputs) fail(path, `'${target.name}' has no inputs: list, so it cannot answer '${m.name}'s predict requests`);
    const missing = [...target.keys.map((k) => k.entity).filter((e) => !m.keys.some((k) => k.entity === e)), ...target.fields.filter((f) => !m.fields.includes(f))];
    if (missing.length) fail(path, `'${target.name}' needs ${missing.join(', ')}, which requests to '${m.name}' do not carry`);
  }
  return models;
}

/**
 * batching.adaptive: the queue delay moves between min and max (default: the target, a
 * window longer than the p99 it must hold cannot help) to hold the p99 (runtime/adaptive-batching.ts).
 */
function compileAdaptive(
  a: NonNullable<NonNullable<RawModel['batching']>['adaptive']>,
  fixed: number | undefined,
  path: string,
): { targetP99Us: number; minDelayUs: number; maxDelayUs: number } {
  if (fixed !== undefined)
    fail(`${path}/max_queue_delay_us`, 'with adaptive the queue delay is chosen at run time: bound it with adaptive.min_queue_delay_us and adaptive.max_queue_delay_us instead');
  const minDelayUs = a.min_queue_delay_us ?? 0;
  const maxDelayUs = a.max_queue_delay_us ?? a.target_p99_us;
  if (maxDelayUs < minDelayUs) fail(`${path}/adaptive/max_queue_delay_us`, `must be >= min_queue_delay_us (${minDelayUs})`);
  if (maxDelayUs > a.target_p99_us) fail(`${path}/adaptive/max_queue_delay_us`, `must be <= target_p99_us (${a.target_p99_us}): a longer window alone would pass the target`);
  return { targetP99Us: a.target_p99_us, minDelayUs, maxDelayUs };
}
