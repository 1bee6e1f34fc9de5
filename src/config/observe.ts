// The top-level `tracing:` and `logging:` sections of hotpath.yaml (src/server/observe/,
// docs/operations.md "Traces and logs"). Tracing is off without `enabled: true`: then no
// request reads a trace header. Logging defaults to info, with one line per 5xx answer,
// and reads no request header unless request_id_header asks for the client's id.
import { LOG_LEVELS, REQUEST_LINES } from './observe-schema.js';
import { fail, parseDuration } from './values.js';

export { loggingSchema, tracingSchema } from './observe-schema.js';

export type LogLevel = (typeof LOG_LEVELS)[number];
export type RequestLines = (typeof REQUEST_LINES)[number];

export interface RawTracing {
  enabled?: boolean;
  sample_ratio?: number;
  endpoint?: string;
  service_name?: string;
  headers?: Record<string, string>;
  batch_size?: number;
  max_queue?: number;
  export_interval?: number | string;
  export_timeout?: number | string;
  shutdown_timeout?: number | string;
}

export interface RawLogging {
  level?: LogLevel;
  requests?: RequestLines;
  request_id_header?: boolean;
}

export interface TracingDef {
  /** the share of requests without a sampled parent that are traced, 0..1 */
  sampleRatio: number;
  /** the OTLP/HTTP traces endpoint (JSON), e.g. http://collector:4318/v1/traces */
  endpoint: string;
  serviceName: string;
  headers: Record<string, string>;
  /** spans per export request */
  batchSize: number;
  /** ended spans held for export; past it new spans are dropped (never a wait) */
  maxQueue: number;
  exportIntervalMs: number;
  exportTimeoutMs: number;
  /** how long shutdown waits for the last export */
  shutdownTimeoutMs: number;
}

export interface LoggingDef {
  level: LogLevel;
  requests: RequestLines;
  /**
   * read the client's x-request-id on every request (one header read: 1 % of the main
   * thread's CPU in a profile of feature reads, so off by default)
   */
  requestIdHeader: boolean;
}

export const TRACING_DEFAULTS = {
  sampleRatio: 0.01,
  endpoint: 'http://localhost:4318/v1/traces',
  serviceName: 'hotpath',
  batchSize: 512,
  maxQueue: 2048,
  exportIntervalMs: 5000,
  exportTimeoutMs: 10_000,
  shutdownTimeoutMs: 2000,
} as const;

/** null: tracing off (no section, or enabled: false). The refusals name the field at fault. */
export function compileTracing(raw: RawTracing | undefined): TracingDef | null {
  if (!raw?.enabled) return null;
  const path = '/tracing';
  let endpoint: URL;
  try {
    endpoint = new URL(raw.endpoint ?? TRACING_DEFAULTS.endpoint);
  } catch {
    fail(`${path}/endpoint`, `not a URL: ${JSON.stringify(raw.endpoint)}`);
  }
  if (endpoint.username || endpoint.password) fail(`${path}/endpoint`, 'must not carry credentials: put them in tracing.headers');
  const batchSize = raw.batch_size ?? TRACING_DEFAULTS.batchSize;
  const maxQueue = raw.max_queue ?? Math.max(TRACING_DEFAULTS.maxQueue, batchSize);
  if (batchSize > maxQueue) fail(`${path}/batch_size`, `must be at most max_queue (${maxQueue}), got ${batchSize}`);
  const ms = (key: 'export_interval' | 'export_timeout' | 'shutdown_timeout', dflt: number, min: number): number => {
    const v = raw[key] === undefined ? dflt : parseDuration(raw[key]);
    if (v < min || v > 600_000) fail(`${path}/${key}`, `must be between ${min} ms and 10m, got ${v} ms`);
    return v;
  };
  return {
    sampleRatio: raw.sample_ratio ?? TRACING_DEFAULTS.sampleRatio,
    endpoint: endpoint.href,
    serviceName: raw.service_name ?? TRACING_DEFAULTS.serviceName,
    headers: { ...(raw.headers ?? {}) },
    batchSize,
    maxQueue,
    exportIntervalMs: ms('export_interval', TRACING_DEFAULTS.exportIntervalMs, 10),
    exportTimeoutMs: ms('export_timeout', TRACING_DEFAULTS.exportTimeoutMs, 10),
    shutdownTimeoutMs: ms('shutdown_timeout', TRACING_DEFAULTS.shutdownTimeoutMs, 0),
  };
}

export function compileLogging(raw: RawLogging | undefined): LoggingDef {
  return { level: raw?.level ?? 'info', requests: raw?.requests ?? 'errors', requestIdHeader: raw?.request_id_header ?? false };
}
