// The entity tables' metrics (docs/config.md "Budget"): read at scrape time from the store's
// stats, one call per table and metric family, nothing on the paths that write or read rows.
import type client from 'prom-client';

import type { FeatureStore } from '../native/binding.js';
import { scraped } from './scrape-metrics.js';

export function registerStoreMetrics(registry: client.Registry, store: FeatureStore, entities: readonly { name: string; index: number }[]): void {
  type Stats = ReturnType<FeatureStore['stats']>;
  const per = (read: (st: Stats) => number) => () => entities.map((e) => [{ entity: e.name }, read(store.stats(e.index))] as const);
  scraped(registry, 'gauge', 'hotpath_entity_rows', 'Entities the table holds now', ['entity'], per((st) => st.live));
  scraped(registry, 'gauge', 'hotpath_entity_capacity', 'Entities the table can hold (its memory budget over the full row)', ['entity'], per((st) => st.capacity));
  scraped(registry, 'gauge', 'hotpath_entity_promoted_rows', 'Entities whose row outgrew the compact form and holds a block in the full form', ['entity'], per((st) => st.promoted));
  scraped(
    registry, 'counter', 'hotpath_entity_evictions_total',
    'Entities evicted from the table: reason ttl (idle past the TTL) or lru (the table was full, or had no block left for a busy row)',
    ['entity', 'reason'],
    () =>
      entities.flatMap((e) => {
        const st = store.stats(e.index);
        return [[{ entity: e.name, reason: 'ttl' }, st.evictedTtl] as const, [{ entity: e.name, reason: 'lru' }, st.evictedLru] as const];
      }),
  );
}
