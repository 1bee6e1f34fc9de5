// JSON Schema of hotpath.yaml, checked with Ajv. Unknown keys are errors everywhere.
// docs/config.md is the reference a user reads; keep the two in step.
import { AGG_NAMES, limits } from '../native/binding.js';

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
      },
    },
    store: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_future: duration,
        sweep_interval: duration,
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
          keys: { type: 'object', minProperties: 1, propertyNames: name, additionalProperties: name },
          time_field: name,
          allowed_lateness: duration,
          fields: { type: 'object', propertyNames: name, additionalProperties: { enum: ['number', 'category'] } },
          description: { type: 'string' },
        },
      },
    },
    demo: {
      type: 'object',
      additionalProperties: false,
      required: ['stream'],
      properties: {
        stream: name,
        rate: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000 },
        ids: { type: 'integer', minimum: 1 },
      },
    },
  },
} as const;
