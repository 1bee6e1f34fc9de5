// The entity tables in /metrics (src/server/store-metrics.ts): a table too small for
// the entities written to it evicts the least recently written, and /metrics says so with
// the same numbers as GET /v1/stats: rows held, capacity, promoted rows, evictions by reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { metric } from '../support/inference-server.js';

const YAML = `
streams:
  tx:
    keys: { user: user_id }
    time_field: ts
    allowed_lateness: 1h
    fields: { amount: number, user_id: category }
entities:
  user:
    memory: 256KiB
    shards: 1
    features:
      n_1h:   { agg: count, window: 1h, tile: 1m }
      sum_1h: { agg: sum, field: amount, window: 1h, tile: 1m }
`;

let server: Server;
let base: string;

beforeAll(async () => {
  server = await startServer({ config: loadConfigText(YAML), port: 0, host: '127.0.0.1', log: () => {} });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  await server.close();
});

describe('entity tables in /metrics', () => {
  it('reports rows, capacity, promoted rows and evictions as GET /v1/stats does', async () => {
    const stats = async () => (await (await fetch(`${base}/v1/stats`)).json()).entities.user;
    const capacity = (await stats()).capacity as number;
    expect(capacity).toBeGreaterThan(10);
    // More users than the table holds, one event each: the first ones are evicted.
    const now = Date.now();
    const events = Array.from({ length: capacity + 50 }, (_, i) => ({ stream: 'tx', user_id: `u${i}`, amount: i, ts: now - 1000 }));
    const r = await fetch(`${base}/v1/events`, { method: 'POST', body: JSON.stringify(events), headers: { 'content-type': 'application/json' } });
    expect(await r.json()).toEqual({ accepted: events.length, late: 0 });
    const st = await stats();
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(metric(text, 'hotpath_entity_rows', 'entity="user"')).toBe(st.live);
    expect(metric(text, 'hotpath_entity_capacity', 'entity="user"')).toBe(capacity);
    expect(metric(text, 'hotpath_entity_promoted_rows', 'entity="user"')).toBe(st.promoted);
    expect(st.live).toBe(capacity);
    expect(st.evicted_lru).toBe(50);
    expect(metric(text, 'hotpath_entity_evictions_total', 'entity="user",reason="lru"')).toBe(50);
    expect(metric(text, 'hotpath_entity_evictions_total', 'entity="user",reason="ttl"')).toBe(0);
  });
});
