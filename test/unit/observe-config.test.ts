// The tracing: and logging: sections of hotpath.yaml (src/config/observe.ts): off and the
// defaults, every key, and each refusal with HP_ERR_CONFIG_INVALID at its field.
import { describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { TRACING_DEFAULTS } from '../../src/config/observe.js';
import { configRefusal } from '../support/inference-server.js';

const base = (extra: Record<string, unknown> = {}): any => ({
  streams: { tx: { keys: { user: 'user_id' }, fields: { amount: 'number' } } },
  entities: { user: { features: { n_1h: { agg: 'count', window: '1h' } } } },
  ...extra,
});

const refusal = (extra: Record<string, unknown>) => configRefusal(() => compileConfig(base(extra)));

describe('tracing', () => {
  it('is off without the section or without enabled: true', () => {
    expect(compileConfig(base()).tracing).toBeNull();
    expect(compileConfig(base({ tracing: { sample_ratio: 1 } })).tracing).toBeNull();
    expect(compileConfig(base({ tracing: { enabled: false } })).tracing).toBeNull();
  });

  it('takes the defaults, and reads every key', () => {
    expect(compileConfig(base({ tracing: { enabled: true } })).tracing).toEqual({
      sampleRatio: 0.01, endpoint: 'http://localhost:4318/v1/traces', serviceName: 'hotpath', headers: {}, batchSize: TRACING_DEFAULTS.batchSize,
      maxQueue: TRACING_DEFAULTS.maxQueue, exportIntervalMs: 5000, exportTimeoutMs: 10_000, shutdownTimeoutMs: 2000,
    });
    const t = compileConfig(base({
      tracing: {
        enabled: true, sample_ratio: 0.25, endpoint: 'https://otel.example:4318/v1/traces', service_name: 'fraud-api', headers: { 'x-honeycomb-team': 'k' },
        batch_size: 100, max_queue: 400, export_interval: '1s', export_timeout: '3s', shutdown_timeout: 500,
      },
    })).tracing;
    expect(t).toEqual({
      sampleRatio: 0.25, endpoint: 'https://otel.example:4318/v1/traces', serviceName: 'fraud-api', headers: { 'x-honeycomb-team': 'k' }, batchSize: 100,
      maxQueue: 400, exportIntervalMs: 1000, exportTimeoutMs: 3000, shutdownTimeoutMs: 500,
    });
  });

  it.each([
    [{ enabled: true, sample_ratio: 1.5 }, '/tracing/sample_ratio', /<= 1/],
    [{ enabled: true, sample_ratio: -0.1 }, '/tracing/sample_ratio', />= 0/],
    [{ enabled: true, endpoint: 'grpc://c:4317' }, '/tracing/endpoint', /pattern/],
    [{ enabled: true, endpoint: 'http://user:pw@c:4318/v1/traces' }, '/tracing/endpoint', /must not carry credentials/],
    [{ enabled: true, batch_size: 600, max_queue: 500 }, '/tracing/batch_size', /at most max_queue/],
    [{ enabled: true, export_interval: '1ms' }, '/tracing/export_interval', /between 10 ms and 10m/],
    [{ enabled: true, export_timeout: '1h' }, '/tracing/export_timeout', /between 10 ms and 10m/],
    [{ enabled: true, headers: { 'bad header': 'v' } }, '/tracing/headers', /bad name|pattern|property name/],
    [{ enabled: 'yes' }, '/tracing/enabled', /boolean/],
    [{ enabled: true, ratio: 0.1 }, '/tracing', /unknown key 'ratio'/],
  ])('refuses %j at its field', (tracing, path, message) => {
    const r = refusal({ tracing });
    expect(r.path).toBe(path);
    expect(r.message).toMatch(message);
  });
});

describe('logging', () => {
  it('defaults to info with a line per 5xx and no header read, and reads every key', () => {
    expect(compileConfig(base()).logging).toEqual({ level: 'info', requests: 'errors', requestIdHeader: false });
    expect(compileConfig(base({ logging: { level: 'trace', requests: 'all', request_id_header: true } })).logging).toEqual({ level: 'trace', requests: 'all', requestIdHeader: true });
  });

  it.each([
    [{ level: 'verbose' }, '/logging/level', /allowed values/],
    [{ requests: 'some' }, '/logging/requests', /allowed values/],
    [{ format: 'text' }, '/logging', /unknown key 'format'/],
    [{ request_id_header: 'x-id' }, '/logging/request_id_header', /boolean/],
  ])('refuses %j at its field', (logging, path, message) => {
    const r = refusal({ logging });
    expect(r.path).toBe(path);
    expect(r.message).toMatch(message);
  });
});
