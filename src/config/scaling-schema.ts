// The JSON Schema of hotpath.yaml's `scaling:` section (compiled by scaling.ts). Its own
// module, importing nothing: schema.ts includes it, and scaling.ts's import of values.ts
// (which imports schema.ts) would otherwise make a cycle that leaves it undefined there.
const duration = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: '^(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)$' }] } as const;
const unit = { type: 'number', minimum: 0, maximum: 1 } as const;

/** The counters whose sum is the forecast's request rate. */
export const FORECAST_SIGNALS = ['model_requests', 'events', 'feature_reads'] as const;

export const scalingSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    forecast: {
      type: 'object',
      additionalProperties: false,
      properties: {
        interval: duration,
        season: duration,
        horizons: { type: 'array', minItems: 1, maxItems: 16, items: duration },
        season_smoothing: duration,
        signals: { type: 'array', minItems: 1, maxItems: FORECAST_SIGNALS.length, uniqueItems: true, items: { enum: [...FORECAST_SIGNALS] } },
        alpha: unit,
        beta: unit,
        gamma: unit,
        phi: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
      },
    },
  },
} as const;
