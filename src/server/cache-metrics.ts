// The answer caches' metrics (src/cache/, docs/cache.md): read at scrape time from the
// caches' plain counters, so a hit costs an increment and nothing else.
import type client from 'prom-client';

import type { AnswerCache, Caching } from '../cache/cache.js';
import { type Labels, scraped } from './scrape-metrics.js';

export function registerCacheMetrics(registry: client.Registry, caching: Caching): void {
  const caches = (): [string, AnswerCache<unknown>][] => {
    const out: [string, AnswerCache<unknown>][] = [];
    if (caching.features) out.push(['features', caching.features as AnswerCache<unknown>]);
    if (caching.predict) out.push(['predict', caching.predict as AnswerCache<unknown>]);
    return out;
  };
  scraped(
    registry, 'counter', 'hotpath_cache_requests_total',
    'Cached reads by cache (features, predict), level (l1: the in-process cache; l2: the native store, for L1 misses; l3: Redis, for L2 misses, when attached) and result (hit, miss)',
    ['cache', 'level', 'result'],
    () => {
      const out: (readonly [Labels, number])[] = [];
      for (const [cache, c] of caches()) {
        const levels = caching.l3 ? (['l1', 'l2', 'l3'] as const) : (['l1', 'l2'] as const);
        for (const level of levels) for (const result of ['hit', 'miss'] as const) out.push([{ cache, level, result }, c[level][result]]);
      }
      return out;
    },
  );
  scraped(registry, 'counter', 'hotpath_cache_stale_total', 'L1 entries found but not served because an event for one of their entities was applied after they were computed', ['cache'], () =>
    caches().map(([cache, c]) => [{ cache }, c.stale] as const),
  );
  scraped(registry, 'counter', 'hotpath_cache_evictions_total', 'L1 entries dropped to stay within cache.<cache>.max_entries', ['cache'], () => caches().map(([cache, c]) => [{ cache }, c.evictions] as const));
  scraped(registry, 'gauge', 'hotpath_cache_entries', 'L1 entries held (expired ones until they are read or evicted)', ['cache'], () => caches().map(([cache, c]) => [{ cache }, c.size] as const));
  scraped(registry, 'counter', 'hotpath_cache_invalidations_total', 'Entity generations bumped by the cache\'s ingest tap (one per key id of each applied event)', [], () => caching.generations.bumps);
}
