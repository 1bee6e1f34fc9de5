// The JSON Schema of hotpath.yaml's `cache:` section (compiled by cache.ts). Its own module,
// importing nothing, as scaling-schema.ts is: schema.ts includes it without an import cycle.
const duration = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: '^(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)$' }] } as const;
const level = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    max_entries: { type: 'integer' },
    ttl: duration,
  },
} as const;

export const cacheSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    features: level,
    predict: level,
    generation_slots: { type: 'integer' },
  },
} as const;
