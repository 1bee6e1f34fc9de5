// Prometheus metrics of the recommenders: requests, fallbacks (answers with no
// personalised candidate), events the tap learned, and the table's items, users, pairs
// and refusals. Read from plain counters at scrape time: nothing on the ingest or
// recommend path. (The request latency is a histogram in metrics.ts, observed by the route.)
import type client from 'prom-client';

import type { Recommender } from '../recommend/recommender.js';
import type { Recommending } from '../recommend/recommending.js';
import { scraped } from './scrape-metrics.js';

export function registerRecommendMetrics(registry: client.Registry, recommending: Recommending): void {
  const all = [...recommending.recommenders.values()];
  const per = (kind: 'counter' | 'gauge', name: string, help: string, value: (r: Recommender) => number): void =>
    scraped(registry, kind, name, help, ['recommender'], () => all.map((r) => [{ recommender: r.def.name }, value(r)] as const));
  per('counter', 'hotpath_recommend_requests_total', 'Recommend requests answered', (r) => r.counts.requests);
  per('counter', 'hotpath_recommend_fallbacks_total', 'Recommend answers with no personalised candidate (popularity only, or empty)', (r) => r.counts.fallbacks);
  per('counter', 'hotpath_recommend_tap_events_total', 'Events the recommender\'s ingest tap learned from (live and replayed)', (r) => r.counts.events);
  per('counter', 'hotpath_recommend_pairs_total', 'Item pairs counted in the co-visitation table', (r) => r.table.stats().pairs);
  per('counter', 'hotpath_recommend_refused_total', 'Events of a new item refused because the item table was full (max_items)', (r) => r.table.stats().refused);
  per('gauge', 'hotpath_recommend_items', 'Items in the co-visitation table', (r) => r.table.stats().items);
  per('gauge', 'hotpath_recommend_users', 'Users with recent items in the co-visitation table', (r) => r.table.stats().users);
}
