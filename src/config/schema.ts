// JSON Schema of hotpath.yaml, checked with Ajv. Unknown keys are errors everywhere.
// docs/config.md is the reference a user reads; keep the two in step.
import { AGG_NAMES, GATHER_TRANSFORM_NAMES, limits } from '../native/binding.js';
import { detectorsSchema, learnerSchema } from './learning.js';
import { experimentsSchema } from './experiments.js';
import { recommendersSchema } from './recommend.js';
import { ingestSchema } from './redis.js';
import { cacheSchema } from './cache-schema.js';
import { onlineStoreSchema } from './online-store-schema.js';
import { scalingSchema } from './scaling-schema.js';
import { loggingSchema, tracingSchema } from './observe-schema.js';

const name = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } as const;
// "250ms", "10s", "5m", "1h", "7d", or a number of milliseconds
export const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const duration = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: DURATION_RE.source }] } as const;
// "64MiB", "1GiB", "512KB", or a number of bytes
export const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)$/;
const size = { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: SIZE_RE.source }] } as const;

const feature = {
  type: 'object',
  additionalProperties: false,
  required: ['agg'],
  properties: {
    agg: { enum: [...AGG_NAMES] },
    stream: name,
    field: name,
    window: duration,
    tile: duration,
    n: { type: 'integer', minimum: 1, maximum: limits.maxLastN },
    half_life: duration,
    precision: { type: 'integer', minimum: limits.minHllPrecision, maximum: limits.maxHllPrecision },
    description: { type: 'string' },
  },
} as const;

const modelInput = {
  type: 'object',
  additionalProperties: false,
  properties: {
    feature: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*\\.[A-Za-z_][A-Za-z0-9_]*$' },
    field: name,
    transform: { enum: [...GATHER_TRANSFORM_NAMES] },
    fill: { type: 'number' },
    hash: { type: 'boolean' },
  },
} as const;

const model = {
  type: 'object',
  additionalProperties: false,
  properties: {
    repository: { type: 'string', minLength: 1 },
    learner: learnerSchema,
    version: { anyOf: [{ const: 'latest' }, { type: 'integer', minimum: 1 }] },
    runtime: { enum: ['auto', 'native', 'onnx'] },
    device: { enum: ['cpu', 'cuda', 'auto'] },
    precision: { enum: ['fp32', 'int8', 'fp16', 'bf16'] },
    cuda_graphs: { type: 'boolean' },
    inputs: { type: 'array', minItems: 1, maxItems: 4096, items: modelInput },
    batching: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_batch: { type: 'integer', minimum: 1, maximum: 65535 },
        max_queue_delay_us: { type: 'integer', minimum: 0, maximum: 10_000_000 },
        preferred_batch_sizes: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 } },
        adaptive: {
          type: 'object',
          additionalProperties: false,
          required: ['target_p99_us'],
          properties: {
            target_p99_us: { type: 'integer', minimum: 1, maximum: 10_000_000 },
            min_queue_delay_us: { type: 'integer', minimum: 0, maximum: 10_000_000 },
            max_queue_delay_us: { type: 'integer', minimum: 0, maximum: 10_000_000 },
          },
        },
      },
    },
    timeout: duration,
    fallback: {
      type: 'object',
      additionalProperties: false,
      properties: { constant: { type: 'number' }, model: name },
    },
    circuit_breaker: {
      type: 'object',
      additionalProperties: false,
      properties: {
        error_rate: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
        latency: duration,
        window: duration,
        min_requests: { type: 'integer', minimum: 1 },
        open_for: duration,
        half_open_probes: { type: 'integer', minimum: 1 },
      },
    },
    description: { type: 'string' },
  },
} as const;

// Hardening: who may call (auth), how the port is served (tls), what one caller may send (limits).
export const SCOPE_RE = /^(admin|events:write|features:read|metrics:read|alerts:read|(predict|recommend|bandits|experiments):(\*|[A-Za-z_][A-Za-z0-9_]*))$/;
export const RATE_CLASS_NAMES = ['open', 'events', 'features', 'predict', 'metrics', 'admin'] as const;
const bucket = {
  type: 'object',
  additionalProperties: false,
  required: ['rate'],
  properties: {
    rate: { type: 'number', exclusiveMinimum: 0, maximum: 1e9 },
    burst: { type: 'integer', minimum: 1, maximum: 1e9 },
  },
} as const;
const buckets = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(RATE_CLASS_NAMES.map((c) => [c, bucket])),
} as const;
const strings = { anyOf: [{ type: 'string', minLength: 1 }, { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } }] } as const;
const file = { type: 'string', minLength: 1 } as const;
const envName = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } as const;

const auth = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    keys_file: file,
    keys_env: envName,
    jwt: {
      type: 'object',
      additionalProperties: false,
      required: ['issuer', 'audience'],
      properties: {
        secret_env: envName,
        secret_file: file,
        jwks_file: file,
        algorithms: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['HS256', 'RS256', 'ES256'] } },
        issuer: strings,
        audience: strings,
        clock_skew: duration,
        scope_claim: { type: 'string', minLength: 1 },
      },
    },
    metrics: { enum: ['open', 'protected'] },
    dashboard: { enum: ['open', 'protected'] },
    cache_size: { type: 'integer', minimum: 0, maximum: 10_000_000 },
  },
} as const;

const tls = {
  type: 'object',
  additionalProperties: false,
  required: ['cert_file', 'key_file'],
  properties: {
    cert_file: file,
    key_file: file,
    ca_file: file,
    passphrase_env: envName,
  },
} as const;

const limitsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id_bytes: { type: 'integer', minimum: 1, maximum: limits.maxIdBytes },
    features_per_request: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    ws_frame_bytes: size,
    ws_messages_per_second: { type: 'number', exclusiveMinimum: 0, maximum: 1e9 },
    ws_message_burst: { type: 'integer', minimum: 1, maximum: 1e9 },
    ws_connections_per_address: { type: 'integer', minimum: 1, maximum: 10_000_000 },
    rate: {
      type: 'object',
      additionalProperties: false,
      properties: {
        per_credential: buckets,
        per_address: buckets,
        per_address_authenticated: { type: 'boolean' },
        max_addresses: { type: 'integer', minimum: 1, maximum: 100_000_000 },
      },
    },
  },
} as const;

// Alerts (docs/alerts.md): rules over numeric signals, the recent-alert ring, webhooks.
// A source is a dotted name (anomaly.fraud, drift.user.amount), exact or a prefix ending in *.
export const ALERT_SOURCE_RE = /^[A-Za-z0-9_.:/-]*\*?$/;
const alertRule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'source'],
  properties: {
    name,
    source: { type: 'string', minLength: 1, maxLength: 256, pattern: ALERT_SOURCE_RE.source },
    above: { type: 'number' },
    below: { type: 'number' },
    clear: { type: 'number' },
    for_count: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    cooldown: duration,
    per_entity: { type: 'boolean' },
    severity: { enum: ['info', 'warning', 'critical'] },
    description: { type: 'string' },
  },
} as const;
const headerName = { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" } as const;
const webhook = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    name,
    url: { type: 'string', minLength: 1, maxLength: 2048 },
    timeout: duration,
    retries: { type: 'integer', minimum: 0, maximum: 100 },
    backoff: duration,
    max_backoff: duration,
    queue: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    drop: { enum: ['oldest', 'newest'] },
    headers: { type: 'object', propertyNames: headerName, additionalProperties: { type: 'string', pattern: '^[^\\r\\n]*$' } },
    headers_env: { type: 'object', propertyNames: headerName, additionalProperties: envName },
  },
} as const;
const alerts = {
  type: 'object',
  additionalProperties: false,
  properties: {
    rules: { type: 'array', maxItems: 10_000, items: alertRule },
    webhooks: { type: 'array', maxItems: 64, items: webhook },
    keep: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    max_entities: { type: 'integer', minimum: 1, maximum: 100_000_000 },
    drain_timeout: duration,
  },
} as const;

// bandits: the top-level bandits: section (compiled by bandits.ts)
export const BANDIT_POLICIES = ['epsilon_greedy', 'ucb1', 'thompson', 'gaussian_thompson', 'linucb', 'lin_thompson'] as const;
/** the most arm slots a bandit may have */
export const MAX_ARMS = 4096;
const banditsSchema = {
  type: 'object',
  propertyNames: name,
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    required: ['policy', 'arms'],
    properties: {
      policy: { enum: [...BANDIT_POLICIES] },
      arms: { type: 'array', minItems: 1, maxItems: MAX_ARMS, items: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' } },
      max_arms: { type: 'integer', minimum: 1, maximum: MAX_ARMS },
      epsilon: { type: 'number', minimum: 0, maximum: 1 },
      alpha: { type: 'number', minimum: 0 },
      v: { type: 'number', minimum: 0 },
      lambda: { type: 'number', exclusiveMinimum: 0 },
      prior: {
        type: 'object',
        additionalProperties: false,
        properties: { alpha: { type: 'number', exclusiveMinimum: 0 }, beta: { type: 'number', exclusiveMinimum: 0 }, mean: { type: 'number' }, kappa: { type: 'number', exclusiveMinimum: 0 } },
      },
      reward_range: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'number' } },
      context: { type: 'array', minItems: 1, maxItems: 256, items: { ...modelInput, properties: { feature: modelInput.properties.feature, field: name, transform: { enum: ['none', 'log1p'] }, fill: { type: 'number' } } } },
      intercept: { type: 'boolean' },
      horizon: duration,
      pending: { type: 'integer', minimum: 16, maximum: 1 << 24 },
      rewards: { type: 'object', additionalProperties: false, required: ['stream'], properties: { stream: name, id_field: name, field: name } },
      seed: { type: 'integer', minimum: 0 },
      description: { type: 'string' },
    },
  },
} as const;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['entities', 'streams'],
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 0, maximum: 65535 },
        max_body_bytes: size,
        max_batch: { type: 'integer', minimum: 1, maximum: 1_000_000 },
        workers: { type: 'integer', minimum: 0, maximum: 256 },
        ring_bytes: size,
        wait_queue: { type: 'integer', minimum: 0, maximum: 1_000_000 },
        queue_delay_budget: duration,
        fault_injection: { type: 'boolean' },
        stage_timing: { type: 'boolean' },
        ws_max_buffered_bytes: size,
        drain_timeout: duration,
      },
    },
    durability: {
      type: 'object',
      additionalProperties: false,
      properties: {
        data_dir: { type: 'string', minLength: 1 },
        fsync: { enum: ['always', 'interval', 'off'] },
        fsync_interval: duration,
        segment_bytes: size,
        snapshot_interval: duration,
        snapshot_log_bytes: size,
        keep_snapshots: { type: 'integer', minimum: 1, maximum: 100 },
      },
    },
    // the shared ingest log (src/config/redis.ts, docs/redis.md)
    ingest: ingestSchema,
    store: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_future: duration,
        sweep_interval: duration,
        huge_pages: { type: 'boolean' },
      },
    },
    entities: {
      type: 'object',
      minProperties: 1,
      propertyNames: name,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['features'],
        properties: {
          ttl: duration,
          memory: size,
          shards: { type: 'integer', minimum: 1, maximum: 4096 },
          compact_slots: { type: 'integer', minimum: 0, maximum: 16 },
          description: { type: 'string' },
          features: { type: 'object', minProperties: 1, propertyNames: name, additionalProperties: feature },
        },
      },
    },
    streams: {
      type: 'object',
      minProperties: 1,
      propertyNames: name,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['keys'],
        properties: {
          // one key column per entity: the store takes at most limits.maxKeyColumns per stream
          keys: { type: 'object', minProperties: 1, maxProperties: limits.maxKeyColumns, propertyNames: name, additionalProperties: name },
          time_field: name,
          allowed_lateness: duration,
          // idempotent ingest: events carry an id; one seen within the horizon is dropped
          dedup: {
            type: 'object',
            additionalProperties: false,
            required: ['field'],
            properties: { field: name, horizon: duration, max_ids: { type: 'integer', minimum: 1, maximum: 100_000_000 } },
          },
          fields: { type: 'object', propertyNames: name, additionalProperties: { enum: ['number', 'category'] } },
          description: { type: 'string' },
        },
      },
    },
    models: {
      type: 'object',
      propertyNames: name,
      additionalProperties: model,
    },
    detectors: detectorsSchema,
    // A/B experiments (src/config/experiments.ts, docs/experiments.md)
    experiments: experimentsSchema,
    recommenders: recommendersSchema,
    bandits: banditsSchema,
    auth,
    tls,
    limits: limitsSchema,
    alerts,
    scaling: scalingSchema,
    tracing: tracingSchema,
    logging: loggingSchema,
    cache: cacheSchema,
    online_store: onlineStoreSchema,
    demo: {
      type: 'object',
      additionalProperties: false,
      required: ['stream'],
      properties: {
        stream: name,
        rate: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000 },
        ids: { type: 'integer', minimum: 1 },
        model: name,
      },
    },
  },
} as const;
