// Streaming ML in hotpath.yaml: the `learner:` section of a model (an online logistic
// regression served like any model and trained from labelled events) and the top-level
// `detectors:` section (drift and anomaly detectors fed by a stream's events).
import type { EntityDef, StreamDef } from './load.js';
import { fail, parseDuration } from './values.js';

const name = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } as const;
const duration = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: '^(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)$' }] } as const;
const positive = { type: 'number', exclusiveMinimum: 0 } as const;
const nonNegative = { type: 'number', minimum: 0 } as const;

export const DRIFT_KINDS = ['adwin', 'page_hinkley'] as const;
export const ANOMALY_KINDS = ['hst', 'robust_z', 'ew', 'likelihood'] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

/** Parameters of a drift detector (River's names and defaults). */
const driftParamsSchema = {
  delta: positive,
  clock: { type: 'integer', minimum: 1 },
  threshold: positive,
  alpha: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
  min_instances: { type: 'integer', minimum: 1 },
} as const;

export const learnerSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    algorithm: { enum: ['sgd', 'ftrl'] },
    learning_rate: positive,
    intercept_lr: nonNegative,
    l1: nonNegative,
    l2: nonNegative,
    alpha: positive,
    beta: nonNegative,
    clip: positive,
    scale: { type: 'boolean' },
    hash_bits: { type: 'integer', minimum: 1, maximum: 24 },
    labels: {
      type: 'object',
      additionalProperties: false,
      required: ['stream', 'field'],
      properties: {
        stream: name,
        field: name,
        join: { enum: ['prediction_id', 'entity', 'event'] },
        id_field: name,
        entity: name,
        horizon: duration,
        pending: { type: 'integer', minimum: 16, maximum: 1 << 24 },
      },
    },
    metrics_window: { type: 'integer', minimum: 10, maximum: 1_000_000 },
    drift: {
      type: 'object',
      additionalProperties: false,
      required: ['detector'],
      properties: {
        detector: { enum: [...DRIFT_KINDS] },
        ...driftParamsSchema,
        policy: { enum: ['alert', 'reset', 'promote'] },
        window: { type: 'integer', minimum: 10, maximum: 10_000_000 },
      },
    },
  },
} as const;

export const detectorsSchema = {
  type: 'object',
  propertyNames: name,
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    required: ['kind', 'stream', 'fields'],
    properties: {
      kind: { enum: [...DRIFT_KINDS, ...ANOMALY_KINDS] },
      stream: name,
      fields: { type: 'array', minItems: 1, maxItems: 64, items: name },
      per_entity: name,
      max_entities: { type: 'integer', minimum: 1, maximum: 1 << 26 },
      ...driftParamsSchema,
      window: { type: 'integer', minimum: 2, maximum: 1 << 20 },
      half_life: positive,
      min_count: { type: 'integer', minimum: 1 },
      trees: { type: 'integer', minimum: 1, maximum: 256 },
      height: { type: 'integer', minimum: 1, maximum: 20 },
      limits: { type: 'array', items: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'number' } } },
      seed: { type: 'integer', minimum: 0 },
      description: { type: 'string' },
    },
  },
} as const;

export interface RawLearner {
  algorithm?: 'sgd' | 'ftrl';
  learning_rate?: number;
  intercept_lr?: number;
  l1?: number;
  l2?: number;
  alpha?: number;
  beta?: number;
  clip?: number;
  scale?: boolean;
  hash_bits?: number;
  labels?: { stream: string; field: string; join?: 'prediction_id' | 'entity' | 'event'; id_field?: string; entity?: string; horizon?: number | string; pending?: number };
  metrics_window?: number;
  drift?: { detector: DriftKind; delta?: number; clock?: number; threshold?: number; alpha?: number; min_instances?: number; policy?: 'alert' | 'reset' | 'promote'; window?: number };
}

export interface DriftParams {
  delta?: number;
  clock?: number;
  threshold?: number;
  alpha?: number;
  minInstances?: number;
}

export interface LearnerDef {
  algorithm: 'sgd' | 'ftrl';
  /** SGD's learning rate (River's default 0.01) */
  learningRate: number;
  /** SGD's constant learning rate for the intercept (River's default 0.01) */
  interceptLr: number;
  l1: number;
  l2: number;
  /** FTRL-Proximal's alpha and beta (River's defaults 0.05 and 1) */
  alpha: number;
  beta: number;
  /** each coordinate of the gradient is clipped to ±clip (counted) */
  clip: number;
  /** standard scaling of the inputs, learned from the labelled examples */
  scale: boolean;
  /** the hashed block of the hashed (categorical) inputs: 2^hashBits weights (0: none) */
  hashBits: number;
  labels: LabelDef | null;
  /** labels in the sliding window of the progressive-validation metrics */
  metricsWindow: number;
  drift: { detector: DriftKind; params: DriftParams; policy: 'alert' | 'reset' | 'promote'; window: number } | null;
}

/** Where a learner's labels come from and how they find their prediction. */
export interface LabelDef {
  stream: StreamDef;
  /** the stream field holding the label (a number: 0 or 1) */
  field: number;
  /**
   * prediction_id: the event names the prediction; entity: the entity's latest prediction;
   * event: the labelled event carries the learner's inputs itself (every input a field)
   */
  join: 'prediction_id' | 'entity' | 'event';
  /** join event: the stream field of each input, in input order */
  inputFields: number[];
  /** join prediction_id: the stream field holding the id a predict answered with */
  idField: number;
  /** join entity: the stream's key column of the entity, and the model's key index of it */
  keyColumn: number;
  modelKey: number;
  horizonMs: number;
  /** predictions kept for joining (a ring; the oldest is overwritten) */
  pending: number;
}

/** The model's entities and inputs, as compileModels knows them. */
interface ModelKeys {
  keys: { entity: string; table: number }[];
  inputs: { name: string; source: 'feature' | 'field'; hash?: boolean }[] | null;
}

export function compileLearner(raw: RawLearner, m: ModelKeys, streams: StreamDef[], streamIndex: Map<string, number>, path: string): LearnerDef {
  let labels: LabelDef | null = null;
  if (raw.labels) {
    const l = raw.labels;
    const lp = `${path}/labels`;
    const s = streamIndex.get(l.stream);
    if (s === undefined) fail(`${lp}/stream`, `no stream '${l.stream}' is declared under /streams`);
    const stream = streams[s];
    const numberField = (f: string, at: string): number => {
      const i = stream.fields.findIndex((x) => x.name === f);
      if (i < 0) fail(at, `stream '${stream.name}' has no field '${f}'`);
      if (stream.fields[i].type !== 'number') fail(at, `'${f}' must be a number field of stream '${stream.name}'`);
      return i;
    };
    const join = l.join ?? 'prediction_id';
    let idField = -1;
    let keyColumn = -1;
    let modelKey = -1;
    let inputFields: number[] = [];
    if (join === 'event') {
      for (const k of ['entity', 'id_field'] as const) if (l[k] !== undefined) fail(`${lp}/${k}`, `join: event takes no ${k}`);
      inputFields = (m.inputs ?? []).map((inp, i) => {
        if (inp.source !== 'field') fail(`${path.replace(/\/learner$/, '')}/inputs/${i}`, 'with labels join: event, every input is a field of the labelled event');
        const at = `${path.replace(/\/learner$/, '')}/inputs/${i}`;
        if (!inp.hash) return numberField(inp.name, at);
        const f = stream.fields.findIndex((x) => x.name === inp.name);
        if (f < 0) fail(at, `stream '${stream.name}' has no field '${inp.name}'`);
        return f; // a category field or a number field: its value is hashed
      });
    } else if (join === 'prediction_id') {
      if (l.entity !== undefined) fail(`${lp}/entity`, 'only join: entity takes entity');
      idField = numberField(l.id_field ?? 'prediction_id', `${lp}/id_field`);
    } else {
      if (l.id_field !== undefined) fail(`${lp}/id_field`, 'only join: prediction_id takes id_field');
      const entity = l.entity ?? m.keys[0]?.entity;
      if (entity === undefined) fail(`${lp}/entity`, 'the model takes no entity ids to join labels by');
      modelKey = m.keys.findIndex((k) => k.entity === entity);
      if (modelKey < 0) fail(`${lp}/entity`, `the model's predict requests carry no '${entity}' id`);
      keyColumn = stream.tables.indexOf(m.keys[modelKey].table);
      if (keyColumn < 0) fail(`${lp}/entity`, `stream '${stream.name}' carries no '${entity}' key`);
    }
    const horizonMs = l.horizon === undefined ? 3_600_000 : parseDuration(l.horizon);
    if (!(horizonMs > 0)) fail(`${lp}/horizon`, 'must be > 0');
    labels = { stream, field: numberField(l.field, `${lp}/field`), join, inputFields, idField, keyColumn, modelKey, horizonMs, pending: l.pending ?? 65_536 };
  }
  if (raw.hash_bits !== undefined && !(m.inputs ?? []).some((x) => x.hash)) fail(`${path}/hash_bits`, 'no input is hashed (hash: true)');
  const algorithm = raw.algorithm ?? 'sgd';
  if (algorithm === 'sgd') {
    if (raw.alpha !== undefined) fail(`${path}/alpha`, 'only algorithm ftrl takes alpha');
    if (raw.beta !== undefined) fail(`${path}/beta`, 'only algorithm ftrl takes beta');
  } else {
    if (raw.learning_rate !== undefined) fail(`${path}/learning_rate`, 'algorithm ftrl has no learning_rate: set alpha and beta');
    if (raw.intercept_lr !== undefined) fail(`${path}/intercept_lr`, 'algorithm ftrl learns the intercept as a weight');
  }
  const d = raw.drift;
  return {
    algorithm,
    learningRate: raw.learning_rate ?? 0.01,
    interceptLr: raw.intercept_lr ?? 0.01,
    l1: raw.l1 ?? 0,
    l2: raw.l2 ?? (algorithm === 'ftrl' ? 1 : 0),
    alpha: raw.alpha ?? 0.05,
    beta: raw.beta ?? 1,
    clip: raw.clip ?? 1e12,
    scale: raw.scale ?? true,
    hashBits: (m.inputs ?? []).some((x) => x.hash) ? (raw.hash_bits ?? 18) : 0,
    labels,
    metricsWindow: raw.metrics_window ?? 1000,
    drift: d
      ? {
          detector: d.detector,
          params: driftParams(d, `${path}/drift`),
          policy: d.policy ?? 'alert',
          window: d.window ?? 1000,
        }
      : null,
  };
}

function driftParams(d: { detector?: string; kind?: string; delta?: number; clock?: number; threshold?: number; alpha?: number; min_instances?: number }, path: string): DriftParams {
  const kind = d.detector ?? d.kind;
  if (kind === 'adwin') {
    for (const k of ['threshold', 'alpha', 'min_instances'] as const) if (d[k] !== undefined) fail(`${path}/${k}`, 'only page_hinkley takes ' + k);
  } else if (d.clock !== undefined) fail(`${path}/clock`, 'only adwin takes clock');
  return { delta: d.delta, clock: d.clock, threshold: d.threshold, alpha: d.alpha, minInstances: d.min_instances };
}

export interface RawDetector {
  kind: DriftKind | AnomalyKind;
  stream: string;
  fields: string[];
  per_entity?: string;
  max_entities?: number;
  delta?: number;
  clock?: number;
  threshold?: number;
  alpha?: number;
  min_instances?: number;
  window?: number;
  half_life?: number;
  min_count?: number;
  trees?: number;
  height?: number;
  limits?: [number, number][];
  seed?: number;
  description?: string;
}

export interface DetectorDef {
  name: string;
  kind: DriftKind | AnomalyKind;
  stream: StreamDef;
  /** the stream fields fed to the detector (number fields), in order */
  fields: number[];
  fieldNames: string[];
  /** per entity: the stream's key column whose id keys the detector's state */
  keyColumn: number;
  maxEntities: number;
  drift: DriftParams;
  anomaly: { window?: number; halfLife?: number; minCount?: number; trees?: number; height?: number; limits?: [number, number][]; seed?: number; alpha?: number };
}

export function compileDetectors(raw: Record<string, RawDetector> | undefined, streams: StreamDef[], streamIndex: Map<string, number>, entities: EntityDef[]): DetectorDef[] {
  const out: DetectorDef[] = [];
  for (const [dname, d] of Object.entries(raw ?? {})) {
    const path = `/detectors/${dname}`;
    const s = streamIndex.get(d.stream);
    if (s === undefined) fail(`${path}/stream`, `no stream '${d.stream}' is declared under /streams`);
    const stream = streams[s];
    const fields = d.fields.map((f, i) => {
      const j = stream.fields.findIndex((x) => x.name === f);
      if (j < 0) fail(`${path}/fields/${i}`, `stream '${stream.name}' has no field '${f}'`);
      if (stream.fields[j].type !== 'number') fail(`${path}/fields/${i}`, `'${f}' must be a number field`);
      return j;
    });
    const isDrift = (DRIFT_KINDS as readonly string[]).includes(d.kind);
    if ((isDrift || d.kind !== 'hst') && fields.length !== 1) fail(`${path}/fields`, `a ${d.kind} detector watches one field`);
    let keyColumn = -1;
    if (d.per_entity !== undefined) {
      if (d.kind === 'hst' || d.kind === 'likelihood' || isDrift) fail(`${path}/per_entity`, `${d.kind} runs per stream; per_entity is for robust_z and ew`);
      const t = entities.findIndex((e) => e.name === d.per_entity);
      if (t < 0) fail(`${path}/per_entity`, `no entity '${d.per_entity}' is declared under /entities`);
      keyColumn = stream.tables.indexOf(t);
      if (keyColumn < 0) fail(`${path}/per_entity`, `stream '${stream.name}' carries no '${d.per_entity}' key`);
    } else if (d.max_entities !== undefined) fail(`${path}/max_entities`, 'only per_entity detectors take max_entities');
    if (d.limits !== undefined) {
      if (d.kind !== 'hst') fail(`${path}/limits`, 'only hst takes limits');
      if (d.limits.length !== fields.length) fail(`${path}/limits`, `give one [low, high] per field (${fields.length})`);
      d.limits.forEach(([lo, hi], i) => hi > lo || fail(`${path}/limits/${i}`, 'high must be above low'));
    }
    const anomalyOnly = { window: d.window, half_life: d.half_life, min_count: d.min_count, trees: d.trees, height: d.height, seed: d.seed };
    if (isDrift) for (const [k, v] of Object.entries(anomalyOnly)) if (v !== undefined) fail(`${path}/${k}`, `a drift detector (${d.kind}) takes no ${k}`);
    if (!isDrift) for (const k of ['delta', 'clock', 'threshold', 'min_instances'] as const) if (d[k] !== undefined) fail(`${path}/${k}`, `an anomaly detector (${d.kind}) takes no ${k}`);
    if (!isDrift && d.kind !== 'likelihood' && d.alpha !== undefined) fail(`${path}/alpha`, 'only page_hinkley and likelihood take alpha');
    if (d.kind === 'likelihood')
      for (const [k, v] of Object.entries(anomalyOnly)) if (v !== undefined) fail(`${path}/${k}`, `likelihood takes only alpha (its EW rate); the rest are NAB's defaults`);
    out.push({
      name: dname,
      kind: d.kind,
      stream,
      fields,
      fieldNames: d.fields,
      keyColumn,
      maxEntities: d.max_entities ?? 100_000,
      drift: isDrift ? driftParams(d, path) : {},
      anomaly: { window: d.window, halfLife: d.half_life, minCount: d.min_count, trees: d.trees, height: d.height, limits: d.limits, seed: d.seed, alpha: isDrift ? undefined : d.alpha },
    });
  }
  return out;
}
