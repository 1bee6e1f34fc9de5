// Request sets for `hotpath bench`, shaped like the shipped demo's traffic (hotpath.yaml):
// the same routes, ids and payloads as the suite's wrk scripts (bench/features.lua, bench/predict.lua), so numbers compare across tools.
import { readFileSync } from 'node:fs';

import { HotpathError } from '../errors.js';
import { encodeEvents } from '../server/ws-protocol.js';
import { encodeRequest } from './http-client.js';
import { clientFrame } from './ws-client.js';

export const SCENARIOS = ['features', 'predict', 'events', 'ws-events', 'infer', 'hello', 'file', 'freshness'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** The WebSocket path a scenario's requests go over (undefined: HTTP). */
export function scenarioWsPath(s: Scenario): string | undefined {
  return s === 'ws-events' ? '/v1/ws' : undefined;
}

/** Events carried by one request of a scenario (0: it sends none). */
export function eventsPerRequest(s: Scenario, o: Pick<ScenarioOptions, 'batch'>): number {
  return s === 'events' || s === 'ws-events' ? o.batch : 0;
}

/**
 * The standard data the benchmarks load before they read: 20,000 demo transactions over
 * the 10 minutes before `now`, users 1..1000 and merchants 1..100, 20 events each.
 */
export function standardEvents(now: number): { user_id: string; merchant_id: string; amount: number; country: string; channel: string; ts: number }[] {
  return Array.from({ length: 20_000 }, (_, i) => ({
    user_id: `user-${(i % 1000) + 1}`, merchant_id: `merchant-${(i % 100) + 1}`, amount: 5 + (i % 97), country: ['FR', 'DE', 'US'][i % 3], channel: 'web', ts: now - 600_000 + i * 30,
  }));
}

/** The demo's transaction i, as the events scenarios send it. */
function demoEvent(i: number, ids: number): { user_id: string; merchant_id: string; amount: number; country: string; channel: string } {
  return { user_id: `user-${(i % ids) + 1}`, merchant_id: `merchant-${(i % Math.max(1, Math.ceil(ids / 10))) + 1}`, amount: (i % 97) + 1, country: 'FR', channel: 'web' };
}

export interface ScenarioOptions {
  host: string;
  /** distinct entity ids to cycle through (user-1 .. user-N, merchant-1 .. merchant-N/10) */
  ids: number;
  model: string;
  entity: string;
  /** events per request for the events scenarios */
  batch: number;
  /** the stream the ws-events frames name (the demo's: transactions) */
  stream: string;
  /** input width for the infer scenario */
  dim: number;
  file?: string;
  /** extra request headers (features scenario), e.g. an Authorization header */
  headers?: Record<string, string>;
  /**
   * ws-events: each event also carries nine numbers x1..x9 and a label is_fraud (1 when
   * the amount and x1 are both high), for the streaming-ML bench (bench/learning.ts)
   */
  labelled?: boolean;
}

/** The extra columns of a labelled ws-events frame (ScenarioOptions.labelled). */
export const LABELLED_FIELDS = ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'is_fraud'] as const;

/** A few hundred distinct requests, cycled by the generator. */
export function buildRequests(s: Scenario, o: ScenarioOptions): Buffer[] {
  const n = Math.min(o.ids, 1000);
  const out: Buffer[] = [];
  switch (s) {
    case 'freshness': // runs its own loop (freshness.ts); no request set
      break;
    case 'hello':
      out.push(encodeRequest('GET', o.host, '/'));
      break;
    case 'features':
      for (let i = 1; i <= n; i++) out.push(encodeRequest('GET', o.host, `/v1/features/${o.entity}/${o.entity}-${i}`, undefined, o.headers));
      break;
    case 'predict':
      for (let i = 1; i <= n; i++)
        out.push(encodeRequest('POST', o.host, `/v1/predict/${o.model}`, JSON.stringify({
          entities: { user: `user-${i}`, merchant: `merchant-${(i % Math.max(1, Math.ceil(o.ids / 10))) + 1}` },
          fields: { amount: (i % 500) + 1 },
        }), { 'content-type': 'application/json' }));
      break;
    case 'events': {
      for (let r = 0; r < 50; r++) {
        const lines: string[] = [];
        for (let k = 0; k < o.batch; k++) lines.push(JSON.stringify(demoEvent(r * o.batch + k, o.ids)));
        out.push(encodeRequest('POST', o.host, '/v1/events', lines.join('\n'), { 'content-type': 'application/x-ndjson' }));
      }
      break;
    }
    case 'ws-events': {
      // Binary EVENTS frames (src/server/ws-protocol.ts) of the demo stream; no ts column,
      // so events take their arrival time.
      const columns = [
        { name: 'user_id', type: 'string' as const },
        { name: 'merchant_id', type: 'string' as const },
        { name: 'amount', type: 'number' as const },
        { name: 'country', type: 'string' as const },
        { name: 'channel', type: 'string' as const },
      ];
      if (o.labelled) for (const name of LABELLED_FIELDS) columns.push({ name, type: 'number' as const });
      for (let r = 0; r < 50; r++) {
        const rows: (string | number)[][] = [];
        for (let k = 0; k < o.batch; k++) {
          const i = r * o.batch + k;
          const e = demoEvent(i, o.ids);
          const row: (string | number)[] = [e.user_id, e.merchant_id, e.amount, e.country, e.channel];
          if (o.labelled) {
            const x = Array.from({ length: 9 }, (_, j) => ((i * 2654435761 + j * 40503) % 1000) / 1000);
            row.push(...x, e.amount > 250 && x[0] > 0.5 ? 1 : 0);
          }
          rows.push(row);
        }
        out.push(clientFrame(encodeEvents(r + 1, o.stream, columns, rows)));
      }
      break;
    }
    case 'infer':
      for (let r = 0; r < 50; r++) {
        const data = Array.from({ length: o.dim }, (_, j) => Math.round(Math.sin(r * 7 + j) * 1000) / 1000);
        out.push(encodeRequest('POST', o.host, `/v2/models/${o.model}/infer`, JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, o.dim], data }] }), { 'content-type': 'application/json' }));
      }
      break;
    case 'file': {
      if (!o.file) throw new HotpathError('HP_ERR_QUERY_INVALID', 'the file scenario needs --file with a JSON list of {method, path, body?, headers?}');
      let list: { method?: unknown; path?: unknown; body?: unknown; headers?: unknown }[];
      try {
        list = JSON.parse(readFileSync(o.file, 'utf8'));
      } catch (err) {
        throw new HotpathError('HP_ERR_QUERY_INVALID', `--file ${o.file}: ${(err as Error).message}`);
      }
      if (!Array.isArray(list) || list.length === 0) throw new HotpathError('HP_ERR_QUERY_INVALID', `--file ${o.file}: expected a non-empty JSON list of requests`);
      list.forEach((q, i) => {
        if (typeof q?.method !== 'string' || typeof q.path !== 'string' || !q.path.startsWith('/'))
          throw new HotpathError('HP_ERR_QUERY_INVALID', `--file ${o.file}: request ${i} needs a method and a path starting with /`);
        const body = q.body === undefined ? undefined : typeof q.body === 'string' ? q.body : JSON.stringify(q.body);
        out.push(encodeRequest(q.method.toUpperCase(), o.host, q.path, body, (q.headers ?? (body ? { 'content-type': 'application/json' } : {})) as Record<string, string>));
      });
      break;
    }
  }
  return out;
}
