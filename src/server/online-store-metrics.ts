// Prometheus metrics of the online store on Redis (docs/redis.md "The online store"),
// read from its plain counters at scrape time: nothing on the ingest or read path.
import type client from 'prom-client';

import type { OnlineStore } from '../redis/online-store.js';
import type { RedisStreamLog } from '../redis/stream-log.js';
import { scraped } from './scrape-metrics.js';

export function registerOnlineStoreMetrics(registry: client.Registry, online: OnlineStore, sharedLog?: RedisStreamLog): void {
  const s = online.stats;
  const counter = (name: string, help: string, value: () => number): void => scraped(registry, 'counter', name, help, [], value);
  const gauge = (name: string, help: string, value: () => number): void => scraped(registry, 'gauge', name, help, [], value);
  counter('hotpath_online_store_rows_written_total', 'Entity rows written through to Redis (HSET replied)', () => s.written);
  counter('hotpath_online_store_write_failures_total', 'Row writes that failed (Redis down, slower than command_timeout, an error reply); the entities are written again', () => s.writeFailures);
  counter('hotpath_online_store_dropped_total', 'Entities not written this round because the dirty set was full (online_store.max_dirty)', () => s.dropped);
  gauge('hotpath_online_store_dirty_entities', 'Entities changed here and not yet written to Redis', () => online.dirty);
  counter('hotpath_online_store_pipelines_total', 'Flushes sent (one pipeline of HSETs each, one in flight)', () => s.pipelines);
  scraped(registry, 'counter', 'hotpath_online_store_read_through_total', 'Reads of an entity this store did not hold, from Redis: hit (imported), miss (absent there, or Redis down), timeout (slower than read_timeout)', ['result'], () => [
    [{ result: 'hit' }, s.readHits], [{ result: 'miss' }, s.readMisses], [{ result: 'timeout' }, s.readTimeouts],
  ]);
  counter('hotpath_online_store_warm_rows_total', 'Rows imported from Redis by the warm at start', () => s.warmImported);
  gauge('hotpath_online_store_warm_seconds', 'How long the warm at start took', () => s.warmMs / 1000);
  counter('hotpath_online_store_refused_rows_total', 'Rows in Redis not imported: another feature layout (l) or size', () => s.refusedLayout);
  gauge('hotpath_online_store_connected', '1 while the connection to the online store is up', () => (online.connected ? 1 : 0));
  if (sharedLog) {
    counter('hotpath_online_store_filtered_rows_total', 'Events of shared-log entries dropped after a warm: the imported rows already held them', () => sharedLog.stats.warmFiltered);
    counter('hotpath_online_store_warm_trimmed_total', 'Warms after which the stream had already trimmed entries the warmed rows did not hold (events lost here)', () => sharedLog.stats.warmTrimmed);
  }
}
