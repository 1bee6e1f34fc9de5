// A/B experiments in hotpath.yaml: the top-level `experiments:` section (docs/experiments.md).
// Each experiment splits units between variants by weight (percentages of the experiment's
// traffic that sum to 100), each variant pointing at a model, a recommender or a bandit;
// a holdout share, a ramp schedule, the metric stream its per-variant statistics read, the
// sequential test and the guardrails that roll a variant back.
import type { EntityDef, StreamDef } from './load.js';
import { fail, parseDuration } from './values.js';

const name = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } as const;
const duration = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: '^(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)$' }] } as const;
const share = { type: 'number', minimum: 0, maximum: 1 } as const;

export const TARGET_KINDS = ['model', 'recommender', 'bandit'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** How far the variant weights may be from 100 in all. */
export const WEIGHT_TOLERANCE = 1e-6;

export const experimentsSchema = {
  type: 'object',
  propertyNames: name,
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    required: ['variants'],
    properties: {
      salt: { type: 'string', minLength: 1, maxLength: 256 },
      holdout: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
      control: name,
      variants: {
        type: 'object',
        minProperties: 2,
        maxProperties: 32,
        propertyNames: name,
        additionalProperties: {
          type: 'object',
          additionalProperties: false,
          required: ['weight'],
          properties: { weight: { type: 'number', minimum: 0, maximum: 100 }, model: name, recommender: name, bandit: name },
        },
      },
      metric: {
        type: 'object',
        additionalProperties: false,
        required: ['stream', 'unit', 'kind'],
        properties: { stream: name, unit: name, kind: { enum: ['conversion', 'mean'] }, field: name },
      },
      test: {
        type: 'object',
        additionalProperties: false,
        properties: {
          alpha: { type: 'number', exclusiveMinimum: 0, maximum: 0.5 },
          method: { enum: ['msprt', 'cs'] },
          min_samples: { type: 'integer', minimum: 2 },
          direction: { enum: ['increase', 'decrease'] },
          sigma: { type: 'number', exclusiveMinimum: 0 },
          truncation: { type: 'integer', minimum: 1 },
          tuning: { type: 'number', exclusiveMinimum: 0 },
          srm_alpha: { type: 'number', exclusiveMinimum: 0, maximum: 0.5 },
        },
      },
      auto_stop: { type: 'boolean' },
      ramp: {
        type: 'array',
        minItems: 1,
        maxItems: 64,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['share'],
          properties: { share, after: duration, min_exposures: { type: 'integer', minimum: 0 } },
        },
      },
      guardrails: {
        type: 'object',
        additionalProperties: false,
        properties: {
          max_error_rate: { type: 'number', minimum: 0, maximum: 1 },
          max_latency: duration,
          min_requests: { type: 'integer', minimum: 1 },
        },
      },
      max_units: { type: 'integer', minimum: 1000, maximum: 1 << 28 },
      description: { type: 'string' },
    },
  },
} as const;

export interface RawExperiment {
  salt?: string;
  holdout?: number;
  control?: string;
  variants: Record<string, { weight: number; model?: string; recommender?: string; bandit?: string }>;
  metric?: { stream: string; unit: string; kind: 'conversion' | 'mean'; field?: string };
  test?: { alpha?: number; method?: 'msprt' | 'cs'; min_samples?: number; direction?: 'increase' | 'decrease'; sigma?: number; truncation?: number; tuning?: number; srm_alpha?: number };
  auto_stop?: boolean;
  ramp?: { share: number; after?: number | string; min_exposures?: number }[];
  guardrails?: { max_error_rate?: number; max_latency?: number | string; min_requests?: number };
  max_units?: number;
  description?: string;
}

export interface VariantDef {
  name: string;
  /** the share of the experiment's traffic, 0..1 (the config's percentage / 100) */
  weight: number;
  target: { kind: TargetKind; name: string };
}

export interface RampStep {
  /** the share of (non-holdout) units in the experiment from this step on */
  share: number;
  /** the step starts this long after the previous one started (0: at once) */
  afterMs: number;
  /** ... and once the experiment has this many exposures */
  minExposures: number;
}

export interface ExperimentDef {
  name: string;
  salt: string;
  holdout: number;
  /** index of the control variant in `variants` */
  control: number;
  variants: VariantDef[];
  /** the events the per-variant statistics read; null: exposures and guardrails only */
  metric: { stream: StreamDef; keyColumn: number; unit: string; kind: 'conversion' | 'mean'; field: number } | null;
  test: { alpha: number; method: 'msprt' | 'cs'; minSamples: number; direction: 'increase' | 'decrease'; sigma: number | null; truncation: number; tuning: number; srmAlpha: number };
  autoStop: boolean;
  ramp: RampStep[];
  guardrails: { maxErrorRate: number | null; maxLatencyMs: number | null; minRequests: number } | null;
  maxUnits: number;
}

/** The names a variant may point at, by kind: the config's models, and its recommenders and bandits sections when present. */
export type TargetNames = Record<TargetKind, ReadonlySet<string>>;

export function compileExperiments(raw: Record<string, RawExperiment> | undefined, streams: StreamDef[], streamIndex: Map<string, number>, entities: EntityDef[], targets: TargetNames): ExperimentDef[] {
  const out: ExperimentDef[] = [];
  for (const [xname, x] of Object.entries(raw ?? {})) {
    const path = `/experiments/${xname}`;
    const variants: VariantDef[] = Object.entries(x.variants).map(([vname, v]) => {
      const vpath = `${path}/variants/${vname}`;
      const named = TARGET_KINDS.filter((k) => v[k] !== undefined);
      if (named.length !== 1) fail(vpath, `a variant points at exactly one target: model, recommender or bandit (it names ${named.length ? named.join(' and ') : 'none'})`);
      const kind = named[0];
      const tname = v[kind]!;
      if (!targets[kind].has(tname)) fail(`${vpath}/${kind}`, `no ${kind} '${tname}' is declared under /${kind}s`);
      return { name: vname, weight: v.weight / 100, target: { kind, name: tname } };
    });
    const total = Object.values(x.variants).reduce((s, v) => s + v.weight, 0);
    if (Math.abs(total - 100) > WEIGHT_TOLERANCE * 100)
      fail(`${path}/variants`, `the weights are percentages of the experiment's traffic and must sum to 100; they sum to ${total}`);
    const control = x.control === undefined ? 0 : variants.findIndex((v) => v.name === x.control);
    if (control < 0) fail(`${path}/control`, `no variant '${x.control}' (variants: ${variants.map((v) => v.name).join(', ')})`);
    if (!(variants[control].weight > 0)) fail(`${path}/variants/${variants[control].name}/weight`, 'the control variant needs a weight above 0');

    let metric: ExperimentDef['metric'] = null;
    if (x.metric) {
      const m = x.metric;
      const s = streamIndex.get(m.stream);
      if (s === undefined) fail(`${path}/metric/stream`, `no stream '${m.stream}' is declared under /streams`);
      const stream = streams[s];
      const t = entities.findIndex((e) => e.name === m.unit);
      if (t < 0) fail(`${path}/metric/unit`, `no entity '${m.unit}' is declared under /entities`);
      const keyColumn = stream.tables.indexOf(t);
      if (keyColumn < 0) fail(`${path}/metric/unit`, `stream '${stream.name}' carries no '${m.unit}' key: the unit id of its events`);
      let field = -1;
      if (m.field !== undefined) {
        field = stream.fields.findIndex((f) => f.name === m.field);
        if (field < 0) fail(`${path}/metric/field`, `stream '${stream.name}' has no field '${m.field}'`);
        if (stream.fields[field].type !== 'number') fail(`${path}/metric/field`, `'${m.field}' must be a number field`);
      } else if (m.kind === 'mean') fail(`${path}/metric/field`, 'required for a mean metric: the value field');
      metric = { stream, keyColumn, unit: m.unit, kind: m.kind, field };
    }
    const t = x.test ?? {};
    let lastShare = -1;
    const ramp: RampStep[] = (x.ramp ?? [{ share: 1 }]).map((r, i) => {
      if (r.share < lastShare) fail(`${path}/ramp/${i}/share`, `a ramp only goes up (${r.share} after ${lastShare}): ramping down would take units out of the experiment`);
      lastShare = r.share;
      if (i === 0 && (r.after !== undefined || r.min_exposures !== undefined)) fail(`${path}/ramp/0`, 'the first step starts with the experiment: it takes no after or min_exposures');
      return { share: r.share, afterMs: r.after === undefined ? 0 : parseDuration(r.after), minExposures: r.min_exposures ?? 0 };
    });
    if (ramp[0].share <= 0 && ramp.length === 1) fail(`${path}/ramp/0/share`, 'an experiment with one ramp step at share 0 never takes a unit');
    const g = x.guardrails;
    if (g && g.max_error_rate === undefined && g.max_latency === undefined) fail(`${path}/guardrails`, 'give max_error_rate, max_latency or both');
    if (x.auto_stop && !metric) fail(`${path}/auto_stop`, 'stopping for a winner needs a metric');
    out.push({
      name: xname,
      salt: x.salt ?? xname,
      holdout: x.holdout ?? 0,
      control,
      variants,
      metric,
      test: {
        alpha: t.alpha ?? 0.05,
        method: t.method ?? 'msprt',
        minSamples: t.min_samples ?? 100,
        direction: t.direction ?? 'increase',
        sigma: t.sigma ?? null,
        truncation: t.truncation ?? 10_000,
        tuning: t.tuning ?? 5000,
        srmAlpha: t.srm_alpha ?? 0.001,
      },
      autoStop: x.auto_stop ?? false,
      ramp,
      guardrails: g ? { maxErrorRate: g.max_error_rate ?? null, maxLatencyMs: g.max_latency === undefined ? null : parseDuration(g.max_latency), minRequests: g.min_requests ?? 100 } : null,
      maxUnits: x.max_units ?? 1_000_000,
    });
  }
  return out;
}
