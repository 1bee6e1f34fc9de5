// hotpath.yaml: read, validate (schema, then cross-references), and compile into the
// native store spec plus what the front end needs to decode events. Every problem is
// reported with the path of the field at fault, e.g. `/entities/user/features/x/window`.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';

import type { ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';

import { HotpathError } from '../errors.js';
import { type AggName, type Binding, constants, limits, WINDOWED_AGGS } from '../native/binding.js';
import { type AlertsDef, compileAlerts, type RawAlerts } from './alerts.js';
import { compileDurability, type DurabilityDef, type RawDurability } from './durability.js';
import { compileDetectors, type DetectorDef, type RawDetector } from './learning.js';
import { compileExperiments, type ExperimentDef, type RawExperiment } from './experiments.js';
import { compileRecommenders, type RawRecommender, type RecommenderDef } from './recommend.js';
import { compileIngest, type IngestDef, type RawIngest } from './redis.js';
import { compileModels, type ModelDef, type RawModel } from './models.js';
import { applyProfile, type ProfileName } from './profiles.js';
import { configSchema } from './schema.js';
// bandits; after schema.js: bandits.ts's schema is part of it (a cycle through values.ts)
import { type BanditDef, compileBandits, type RawBandit } from './bandits.js';
import { type CacheDef, compileCache, type RawCache } from './cache.js';
import { compileOnlineStore, type OnlineStoreDef, type RawOnlineStore } from './online-store.js';
import { compileScaling, type RawScaling, type ScalingDef } from './scaling.js';
import { compileLogging, compileTracing, type LoggingDef, type RawLogging, type RawTracing, type TracingDef } from './observe.js';
import { type AuthDef, compileAuth, compileLimits, compileTls, type Env, type LimitsDef, type RawAuth, type RawLimits, type RawTls, type TlsDef } from './security.js';
import { validator } from './validators.js';
import { fail, parseDuration, parseSize } from './values.js';

export type { AlertRuleDef, AlertsDef, Severity, WebhookDef } from './alerts.js';
export type { BanditDef, BanditPolicy } from './bandits.js';
export type { DurabilityDef, FsyncMode } from './durability.js';
export type { BreakerDef, ModelDef, ModelInputDef } from './models.js';
export type { DetectorDef, DriftParams, LabelDef, LearnerDef } from './learning.js';
export type { ExperimentDef, RampStep, TargetKind, VariantDef } from './experiments.js';
export type { RecommenderDef } from './recommend.js';
export type { IngestDef, RedisStreamsDef } from './redis.js';
export type { OnlineStoreDef } from './online-store.js';
export { parseDuration, parseSize } from './values.js';
export type { AuthDef, BucketDef, KeyDef, JwtDef, LimitsDef, RateClass, TlsDef } from './security.js';
export { compileAuth, RATE_CLASS_NAMES } from './security.js';
export { PROFILE_NAMES, PROFILES, profileNamed, type ProfileName } from './profiles.js';

export type FieldType = 'number' | 'category';

export interface FeatureDef {
  name: string;
  agg: AggName;
  stream: string;
  field?: string;
  windowMs?: number;
  tileMs?: number;
  n?: number;
  halfLifeMs?: number;
  precision?: number;
}

export interface EntityDef {
  name: string;
  index: number;
  ttlMs: number;
  memoryBytes: number;
  shards: number;
  /** ring slots of a compact row (native/core/store_spec.h): -1 picks (the default), 0 keeps rows in wire form */
  compactSlots: number;
  features: FeatureDef[];
  featureIndex: Map<string, number>;
  /** 0..features.length - 1: the selection "all features" */
  allFeatures: number[];
}

export interface StreamDef {
  name: string;
  index: number;
  /** entity table indices keyed by this stream, and the event field holding each id */
  tables: number[];
  keyFields: string[];
  timeField?: string;
  latenessMs: number;
  fields: { name: string; type: FieldType }[];
  /** idempotent ingest (src/ingest/event-ids.ts): the event field holding the id, how long and how many ids are remembered */
  dedup?: { field: string; horizonMs: number; maxIds: number };
}

/** streams.<name>.dedup defaults */
export const DEDUP_DEFAULTS = { horizonMs: 10 * 60_000, maxIds: 1_000_000 } as const;

/** server.host when the config does not set it: loopback, so nothing is exposed by accident */
export const DEFAULT_HOST = '127.0.0.1';

/** server.max_body_bytes when the config does not set it */
export const DEFAULT_MAX_BODY_BYTES = 1024 ** 2;

export interface Config {
  /** the profile whose defaults were filled in (profiles.ts; 'default': none) */
  profile: ProfileName;
  server: {
    host: string;
    port: number;
    maxBodyBytes: number;
    maxBatch: number;
    workers: number;
    ringBytes: number;
    waitQueue: number;
    /** ms a model request may wait before it runs, else it is shed; 0: no budget */
    queueDelayBudgetMs: number;
    /** POST /v1/debug/fault injects faults (tests and the fault bench); off by default */
    faultInjection: boolean;
    /** per-stage latency and the slowest-requests list (src/server/stages.ts); on by default */
    stageTiming: boolean;
    /** a WebSocket whose unsent answers pass this is closed (1008) */
    wsMaxBufferedBytes: number;
    /** graceful shutdown: how long in-flight requests may take to finish */
    drainTimeoutMs: number;
  };
  durability: DurabilityDef;
  /** the shared ingest log across replicas (ingest.redis_streams; src/redis/) */
  ingest: IngestDef;
  models: ModelDef[];
  /** drift and anomaly detectors fed by streams (src/learn/) */
  detectors: DetectorDef[];
  /** A/B experiments over models, recommenders and bandits (src/experiments/) */
  experiments: ExperimentDef[];
  /** item recommenders learned from streams (src/recommend/) */
  recommenders: RecommenderDef[];
  /** hugePages: the tables' large regions use transparent huge pages (native/core/region.h) */
  store: { maxFutureMs: number; sweepIntervalMs: number; hugePages: boolean };
  entities: EntityDef[];
  entityIndex: Map<string, number>;
  streams: StreamDef[];
  streamIndex: Map<string, number>;
  demo?: { stream: string; rate: number; ids: number; model?: string };
  /** who may call (null: anyone, the default) */
  auth: AuthDef | null;
  /** serve HTTPS/WSS (null: plain HTTP) */
  tls: TlsDef | null;
  limits: LimitsDef;
  /** alert rules, the recent-alert ring and webhooks (no section: no rules, no webhooks) */
  alerts: AlertsDef;
  /** multi-armed bandits (src/bandits/; none: no section) */
  bandits: BanditDef[];
  /** the request-rate forecast for autoscalers (src/scaling/; none: no section) */
  scaling: ScalingDef;
  /** OpenTelemetry spans for a sampled share of requests (src/server/observe/; null: off) */
  tracing: TracingDef | null;
  /** the JSON log's level and its request lines (src/server/observe/logger.ts) */
  logging: LoggingDef;
  /** the L1 answer caches (src/cache/, docs/cache.md; none: no section) */
  cache: CacheDef;
  /** the online store on Redis (src/redis/online-store.ts; null: no section) */
  onlineStore: OnlineStoreDef | null;
  storeSpec: Binding.StoreSpec;
}

const validate = validator('config', configSchema);

/** `stream` in an event names its stream, so no key or field may be called that. */
const RESERVED_FIELD = 'stream';

function describe(e: ErrorObject): string {
  const path = e.instancePath || '/';
  if (e.keyword === 'additionalProperties') return `${path}: unknown key '${(e.params as { additionalProperty: string }).additionalProperty}'`;
  if (e.keyword === 'enum') return `${path}: ${e.message} (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})`;
  if (e.keyword === 'anyOf') return `${path}: must be a number or a string like "10s", "5m", "1h", "7d" (durations) or "64MiB" (sizes)`;
  if (e.keyword === 'maxProperties' && /^\/streams\/[^/]+\/keys$/.test(e.instancePath))
    return `${path}: at most ${(e.params as { limit: number }).limit} entity keys per stream (the store's key-column limit)`;
  if (e.keyword === 'propertyNames') return `${path}: bad name '${(e.params as { propertyName: string }).propertyName}' (letters, digits and _, not starting with a digit)`;
  return `${path}: ${e.message}`;
}

// The raw YAML shape, after schema validation.
interface RawFeature {
  agg: AggName;
  stream?: string;
  field?: string;
  window?: number | string;
  tile?: number | string;
  n?: number;
  half_life?: number | string;
  precision?: number;
}
interface RawConfig {
  server?: {
    host?: string;
    port?: number;
    max_body_bytes?: number | string;
    max_batch?: number;
    workers?: number;
    ring_bytes?: number | string;
    wait_queue?: number;
    queue_delay_budget?: number | string;
    fault_injection?: boolean;
    stage_timing?: boolean;
    ws_max_buffered_bytes?: number | string;
    drain_timeout?: number | string;
  };
  durability?: RawDurability;
  ingest?: RawIngest;
  models?: Record<string, RawModel>;
  detectors?: Record<string, RawDetector>;
  experiments?: Record<string, RawExperiment>;
  recommenders?: Record<string, RawRecommender>;
  store?: { max_future?: number | string; sweep_interval?: number | string; huge_pages?: boolean };
  entities: Record<string, { ttl?: number | string; memory?: number | string; shards?: number; compact_slots?: number; features: Record<string, RawFeature> }>;
  streams: Record<string, { keys: Record<string, string>; time_field?: string; allowed_lateness?: number | string; dedup?: { field: string; horizon?: number | string; max_ids?: number }; fields?: Record<string, FieldType> }>;
  demo?: { stream: string; rate?: number; ids?: number; model?: string };
  auth?: RawAuth;
  tls?: RawTls;
  limits?: RawLimits;
  alerts?: RawAlerts;
  bandits?: Record<string, RawBandit>;
  scaling?: RawScaling;
  tracing?: RawTracing;
  logging?: RawLogging;
  cache?: RawCache;
  online_store?: RawOnlineStore;
}

export interface CompileOptions {
  /** model repositories are relative to this directory (the config file's); default: cwd */
  baseDir?: string;
  /** where auth and tls read their *_env variables (default: process.env) */
  env?: Env;
  /** a deployment profile's defaults (profiles.ts; `hotpath serve --profile`): values the config sets win */
  profile?: ProfileName;
}

/** Validates a parsed config object and compiles it. Throws HP_ERR_CONFIG_INVALID. */
export function compileConfig(given: unknown, opts: CompileOptions = {}): Config {
  const profile = opts.profile ?? 'default';
  const raw = applyProfile(given, profile);
  if (!validate(raw)) {
    const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if');
    // anyOf reports each branch too; the anyOf line says it better.
    const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
    const shown = errors.filter((e) => e.keyword === 'anyOf' || !anyOfPaths.has(e.instancePath));
    const first = shown[0];
    throw new HotpathError('HP_ERR_CONFIG_INVALID', shown.slice(0, 5).map(describe).join('; '), {
      path: first?.instancePath || '/',
    });
  }
  const c = raw as RawConfig;

  const entities: EntityDef[] = Object.entries(c.entities).map(([name, e], index) => ({
    name,
    index,
    ttlMs: e.ttl === undefined ? 0 : parseDuration(e.ttl),
    memoryBytes: e.memory === undefined ? 64 * 1024 ** 2 : parseSize(e.memory),
    shards: e.shards ?? 64,
    compactSlots: e.compact_slots ?? -1,
    features: [],
    featureIndex: new Map(),
    allFeatures: [],
  }));
  const entityIndex = new Map(entities.map((e) => [e.name, e.index]));

  const streams: StreamDef[] = Object.entries(c.streams).map(([name, s], index) => {
    const fields = Object.entries(s.fields ?? {}).map(([f, type]) => ({ name: f, type }));
    if (fields.some((f) => f.name === RESERVED_FIELD)) fail(`/streams/${name}/fields/${RESERVED_FIELD}`, `'${RESERVED_FIELD}' is reserved: in an event it names the stream`);
    if (s.time_field === RESERVED_FIELD) fail(`/streams/${name}/time_field`, `'${RESERVED_FIELD}' is reserved: in an event it names the stream`);
    const tables: number[] = [];
    const keyFields: string[] = [];
    for (const [entity, field] of Object.entries(s.keys)) {
      const t = entityIndex.get(entity);
      if (t === undefined) fail(`/streams/${name}/keys/${entity}`, `no entity '${entity}' is declared under /entities`);
      if (field === RESERVED_FIELD) fail(`/streams/${name}/keys/${entity}`, `'${RESERVED_FIELD}' is reserved: in an event it names the stream`);
      if (fields.some((f) => f.name === field && f.type !== 'category'))
        fail(`/streams/${name}/fields/${field}`, `'${field}' is the key of '${entity}'; as a value field it can only be a category`);
      tables.push(t);
      keyFields.push(field);
    }
    if (s.time_field && (fields.some((f) => f.name === s.time_field) || keyFields.includes(s.time_field)))
      fail(`/streams/${name}/time_field`, `'${s.time_field}' is also a key or value field`);
    let dedup: StreamDef['dedup'];
    if (s.dedup) {
      if (s.dedup.field === RESERVED_FIELD) fail(`/streams/${name}/dedup/field`, `'${RESERVED_FIELD}' is reserved: in an event it names the stream`);
      if (s.dedup.field === s.time_field) fail(`/streams/${name}/dedup/field`, `'${s.dedup.field}' is the stream's time field`);
      const horizonMs = s.dedup.horizon === undefined ? DEDUP_DEFAULTS.horizonMs : parseDuration(s.dedup.horizon);
      if (horizonMs < 1000 || horizonMs > 7 * 86_400_000) fail(`/streams/${name}/dedup/horizon`, `must be between 1s and 7d, got ${horizonMs} ms`);
      dedup = { field: s.dedup.field, horizonMs, maxIds: s.dedup.max_ids ?? DEDUP_DEFAULTS.maxIds };
    }
    return {
      name,
      index,
      tables,
      keyFields,
      timeField: s.time_field,
      latenessMs: s.allowed_lateness === undefined ? 0 : parseDuration(s.allowed_lateness),
      fields,
      dedup,
    };
  });
  const streamIndex = new Map(streams.map((s) => [s.name, s.index]));

  for (const [ename, e] of Object.entries(c.entities)) {
    const entity = entities[entityIndex.get(ename)!];
    if (Object.keys(e.features).length > limits.maxFeaturesPerTable)
      fail(`/entities/${ename}/features`, `at most ${limits.maxFeaturesPerTable} features per entity`);
    for (const [fname, f] of Object.entries(e.features)) {
      const path = `/entities/${ename}/features/${fname}`;
      const keyed = streams.filter((s) => s.tables.includes(entity.index));
      let streamName = f.stream;
      if (streamName === undefined) {
        if (keyed.length !== 1) fail(`${path}/stream`, `required: ${keyed.length} streams carry a '${ename}' key`);
        streamName = keyed[0].name;
      }
      const stream = streams[streamIndex.get(streamName) ?? -1];
      if (!stream) fail(`${path}/stream`, `no stream '${streamName}' is declared under /streams`);
      if (!stream.tables.includes(entity.index)) fail(`${path}/stream`, `stream '${streamName}' has no key for entity '${ename}'`);
      const def: FeatureDef = { name: fname, agg: f.agg, stream: stream.name };
      if (!constants.aggFlags[f.agg].field) {
        if (f.field !== undefined) fail(`${path}/field`, `${f.agg} takes no field`);
      } else {
        if (f.field === undefined) fail(`${path}/field`, `required for ${f.agg}`);
        const fd = stream.fields.find((x) => x.name === f.field);
        if (!fd) fail(`${path}/field`, `stream '${stream.name}' has no field '${f.field}'`);
        if (fd.type === 'category' && !['distinct', 'last', 'last_n'].includes(f.agg))
          fail(`${path}/field`, `'${f.field}' is a category; ${f.agg} needs a number field`);
        def.field = f.field;
      }
      if (WINDOWED_AGGS.has(f.agg)) {
        if (f.window === undefined) fail(`${path}/window`, `required for ${f.agg}`);
        const windowMs = parseDuration(f.window);
        let tileMs: number;
        if (f.tile !== undefined) tileMs = parseDuration(f.tile);
        else if (windowMs % 60_000 === 0) tileMs = windowMs / 60;
        else tileMs = 1000;
        if (!(windowMs > 0)) fail(`${path}/window`, 'must be > 0');
        if (!(tileMs > 0) || !Number.isInteger(tileMs)) fail(`${path}/tile`, 'must be a whole number of ms > 0');
        if (windowMs % tileMs !== 0) fail(f.tile === undefined ? `${path}/window` : `${path}/tile`, `window ${windowMs} ms is not a multiple of the tile (${tileMs} ms); set tile`);
        if (windowMs / tileMs > limits.maxTilesPerWindow) fail(`${path}/tile`, `window / tile must be <= ${limits.maxTilesPerWindow}`);
        def.windowMs = windowMs;
        def.tileMs = tileMs;
      } else {
        if (f.window !== undefined) fail(`${path}/window`, `${f.agg} takes no window`);
        if (f.tile !== undefined) fail(`${path}/tile`, `${f.agg} takes no tile`);
      }
      if (f.agg === 'last_n') {
        if (f.n === undefined) fail(`${path}/n`, 'required for last_n');
        def.n = f.n;
      } else if (f.n !== undefined) fail(`${path}/n`, 'only last_n takes n');
      if (f.agg === 'ewm') {
        if (f.half_life === undefined) fail(`${path}/half_life`, 'required for ewm');
        def.halfLifeMs = parseDuration(f.half_life);
        if (!(def.halfLifeMs > 0)) fail(`${path}/half_life`, 'must be > 0');
      } else if (f.half_life !== undefined) fail(`${path}/half_life`, 'only ewm takes half_life');
      if (f.agg === 'distinct') def.precision = f.precision ?? 6;
      else if (f.precision !== undefined) fail(`${path}/precision`, 'only distinct takes precision');
      entity.featureIndex.set(fname, entity.features.length);
      entity.allFeatures.push(entity.features.length);
      entity.features.push(def);
    }
  }

  const baseDir = resolve(opts.baseDir ?? '.');
  const models = compileModels(c.models ?? {}, entities, entityIndex, baseDir, streams, streamIndex);
  const detectors = compileDetectors(c.detectors, streams, streamIndex, entities);
  // Experiment variants point at models, and at the recommenders and bandits sections
  // when the config has them (their names are all a variant needs here).
  const sectionNames = (key: string) => new Set(Object.keys(((raw as unknown as Record<string, unknown>)[key] ?? {}) as object));
  const experiments = compileExperiments(c.experiments, streams, streamIndex, entities, {
    model: new Set(models.map((m) => m.name)),
    recommender: sectionNames('recommenders'),
    bandit: sectionNames('bandits'),
  });
  const recommenders = compileRecommenders(c.recommenders, streams, streamIndex, entities, baseDir);

  const demo = c.demo && { stream: c.demo.stream, rate: c.demo.rate ?? 1000, ids: c.demo.ids ?? 1000, model: c.demo.model };
  if (demo && !streamIndex.has(demo.stream)) fail('/demo/stream', `no stream '${demo.stream}' is declared under /streams`);
  if (demo?.model !== undefined) {
    const m = models.find((x) => x.name === demo.model);
    if (!m) fail('/demo/model', `no model '${demo.model}' is declared under /models`);
    const ds = streams[streamIndex.get(demo.stream)!];
    for (const k of m.keys)
      if (!ds.tables.includes(k.table)) fail('/demo/model', `model '${m.name}' needs '${k.entity}' ids, which stream '${ds.name}' does not carry`);
    for (const f of m.fields)
      if (!ds.fields.some((x) => x.name === f && x.type === 'number')) fail('/demo/model', `model '${m.name}' needs the number field '${f}', which stream '${ds.name}' does not have`);
  }

  const env = opts.env ?? process.env;
  const maxBodyBytes = c.server?.max_body_bytes === undefined ? DEFAULT_MAX_BODY_BYTES : parseSize(c.server.max_body_bytes);
  const config: Config = {
    profile,
    server: {
      host: c.server?.host ?? DEFAULT_HOST,
      port: c.server?.port ?? 8080,
      maxBodyBytes,
      maxBatch: c.server?.max_batch ?? 10_000,
      workers: c.server?.workers ?? Math.max(1, availableParallelism() - 1),
      ringBytes: c.server?.ring_bytes === undefined ? 1024 ** 2 : parseSize(c.server.ring_bytes),
      waitQueue: c.server?.wait_queue ?? 4096,
      queueDelayBudgetMs: queueDelayBudget(c.server?.queue_delay_budget, models),
      faultInjection: c.server?.fault_injection ?? false,
      stageTiming: c.server?.stage_timing ?? true,
      wsMaxBufferedBytes: c.server?.ws_max_buffered_bytes === undefined ? 16 * 1024 ** 2 : parseSize(c.server.ws_max_buffered_bytes),
      drainTimeoutMs: c.server?.drain_timeout === undefined ? 10_000 : parseDuration(c.server.drain_timeout),
    },
    durability: compileDurability(c.durability, (p) => resolve(opts.baseDir ?? '.', p)),
    ingest: compileIngest(c.ingest, env),
    models,
    detectors,
    experiments,
    recommenders,
    store: {
      maxFutureMs: c.store?.max_future === undefined ? 10_000 : parseDuration(c.store.max_future),
      sweepIntervalMs: c.store?.sweep_interval === undefined ? 1000 : parseDuration(c.store.sweep_interval),
      hugePages: c.store?.huge_pages ?? true,
    },
    entities,
    entityIndex,
    streams,
    streamIndex,
    demo,
    auth: compileAuth(c.auth, baseDir, env),
    tls: compileTls(c.tls, baseDir, env),
    limits: compileLimits(c.limits, maxBodyBytes),
    alerts: compileAlerts(c.alerts, env),
    bandits: compileBandits(c.bandits, entities, entityIndex, streams, streamIndex),
    scaling: compileScaling(c.scaling),
    tracing: compileTracing(c.tracing),
    logging: compileLogging(c.logging),
    cache: compileCache(c.cache),
    onlineStore: compileOnlineStore(c.online_store, env),
    storeSpec: { tables: [], streams: [], maxFutureMs: 0 },
  };
  config.storeSpec = toStoreSpec(config);
  const adaptive = models.find((m) => m.batching.adaptive);
  if (adaptive && config.server.workers === 0)
    fail(`/models/${adaptive.name}/batching/adaptive`, 'adaptive batching needs worker threads: with server.workers 0 a batch is what one event-loop turn brings, with no window to tune');
  return config;
}

/**
 * server.queue_delay_budget in ms (0: none). A request waits in its model's batch window
 * before it runs, so a budget at or below the largest window would shed requests that are
 * only being batched.
 */
function queueDelayBudget(raw: number | string | undefined, models: ModelDef[]): number {
  if (raw === undefined) return 0;
  const ms = parseDuration(raw);
  for (const m of models)
    if (ms > 0 && ms * 1000 <= m.batching.maxQueueDelayUs)
      fail('/server/queue_delay_budget', `must be longer than every model's batch window, and /models/${m.name}/batching/${m.batching.adaptive ? 'adaptive/' : ''}max_queue_delay_us is ${m.batching.maxQueueDelayUs} us`);
  return ms;
}

/** The native spec: tables in entity order, streams in declaration order. */
function toStoreSpec(c: Config): Binding.StoreSpec {
  return {
    maxFutureMs: c.store.maxFutureMs,
    streams: c.streams.map((s) => ({ name: s.name, fields: s.fields.length, latenessMs: s.latenessMs, tables: s.tables })),
    tables: c.entities.map((e) => ({
      name: e.name,
      ttlMs: e.ttlMs,
      memoryBytes: e.memoryBytes,
      shards: e.shards,
      compactSlots: e.compactSlots,
      hugePages: c.store.hugePages,
      features: e.features.map((f) => {
        const stream = c.streams[c.streamIndex.get(f.stream)!];
        return {
          name: f.name,
          agg: constants.aggs[f.agg],
          stream: stream.index,
          field: f.field === undefined ? -1 : stream.fields.findIndex((x) => x.name === f.field),
          windowMs: f.windowMs ?? 0,
          tileMs: f.tileMs ?? 0,
          param: f.n ?? f.halfLifeMs ?? f.precision ?? 0,
        };
      }),
    })),
  };
}

export function loadConfigText(text: string, opts: CompileOptions = {}): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new HotpathError('HP_ERR_CONFIG_INVALID', `not valid YAML: ${(err as Error).message}`, { path: '/' });
  }
  return compileConfig(raw, opts);
}

/** Reads, validates and compiles a config file; `opts.profile` fills a profile's defaults. */
export function loadConfigFile(path: string, opts: Pick<CompileOptions, 'profile' | 'env'> = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new HotpathError('HP_ERR_CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`, { path: '/' });
  }
  try {
    return loadConfigText(text, { ...opts, baseDir: dirname(resolve(path)) });
  } catch (err) {
    if (err instanceof HotpathError) throw new HotpathError(err.code, `${path}: ${err.message}`, err.details);
    throw err;
  }
}
