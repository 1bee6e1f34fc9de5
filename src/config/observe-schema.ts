// The JSON Schema of hotpath.yaml's `tracing:` and `logging:` sections (compiled by
// observe.ts). Its own module, importing nothing, as scaling-schema.ts is: schema.ts
// includes it, and observe.ts imports values.ts, which imports schema.ts.
const duration = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: '^(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)$' }] } as const;

/** pino's levels, lowest first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** Which requests get an access line: none, those answered with a 5xx, every one. */
export const REQUEST_LINES = ['off', 'errors', 'all'] as const;

export const tracingSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    sample_ratio: { type: 'number', minimum: 0, maximum: 1 },
    endpoint: { type: 'string', pattern: '^https?://' },
    service_name: { type: 'string', minLength: 1, maxLength: 128 },
    // sent with every export (a collector's API key): never logged
    headers: { type: 'object', propertyNames: { pattern: '^[A-Za-z0-9-]+$' }, additionalProperties: { type: 'string', maxLength: 4096 } },
    batch_size: { type: 'integer', minimum: 1, maximum: 65_536 },
    max_queue: { type: 'integer', minimum: 1, maximum: 1_048_576 },
    export_interval: duration,
    export_timeout: duration,
    shutdown_timeout: duration,
  },
} as const;

export const loggingSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    level: { enum: [...LOG_LEVELS] },
    requests: { enum: [...REQUEST_LINES] },
    request_id_header: { type: 'boolean' },
  },
} as const;
