// GET /v1/stats: per entity table, live entities, capacity, bytes per entity and in
// total, evictions. row_bytes is a row in its wire form (snapshots, the online store's
// rows); mem_row_bytes a row in memory (compact), and promoted the live rows whose state
// outgrew it (each holds a block of row_bytes more).
import type { Route } from './route.js';

export const statsRoutes: Route[] = [
  {
    method: 'get',
    path: '/v1/stats',
    scope: 'admin',
    body: 'none',
    about: 'store statistics per entity table',
    handle(c, ctx) {
      const entities: Record<string, object> = {};
      for (const e of ctx.config.entities) {
        const st = ctx.store.stats(e.index);
        entities[e.name] = {
          live: st.live,
          capacity: st.capacity,
          row_bytes: st.rowBytes,
          mem_row_bytes: st.memRowBytes,
          promoted: st.promoted,
          bytes_per_entity: st.bytesPerEntity,
          allocated_bytes: st.allocatedBytes,
          memory_budget_bytes: e.memoryBytes,
          evicted_ttl: st.evictedTtl,
          evicted_lru: st.evictedLru,
          updates: st.updates,
          newest_event_ms: Number.isFinite(st.watermarkMs) && st.updates > 0 ? st.watermarkMs : null,
        };
      }
      c.send(200, JSON.stringify({ entities }));
    },
  },
];
