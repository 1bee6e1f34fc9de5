// The JSON Schema of hotpath.yaml's `online_store:` section (compiled by online-store.ts).
// Its own module, importing nothing, as cache-schema.ts is: schema.ts includes it without
// an import cycle.
const duration = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: '^(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)$' }] } as const;

export const onlineStoreSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    url: { type: 'string', pattern: '^rediss?://' },
    cluster: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string' } },
    password_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
    prefix: { type: 'string' },
    flush_interval: duration,
    max_dirty: { type: 'integer' },
    pipeline: { type: 'integer' },
    read_timeout: duration,
    command_timeout: duration,
    ttl: duration,
    warm: { type: 'boolean' },
  },
} as const;
