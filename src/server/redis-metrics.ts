// Prometheus metrics of the shared ingest log on Redis (docs/redis.md#metrics), read from
// the log's plain counters at scrape time: nothing on the ingest path. The lag of every
// replica (consumer group) is the last XINFO GROUPS the log read (every lag_interval).
import type client from 'prom-client';

import { DELAY_BUCKETS_MS } from '../redis/reporting.js';
import type { RedisStreamLog } from '../redis/stream-log.js';
import { scraped } from './scrape-metrics.js';

export function registerRedisMetrics(registry: client.Registry, log: RedisStreamLog): void {
  const s = log.stats;
  const counter = (name: string, help: string, value: () => number): void => scraped(registry, 'counter', name, help, [], value);
  const gauge = (name: string, help: string, value: () => number): void => scraped(registry, 'gauge', name, help, [], value);
  scraped(registry, 'counter', 'hotpath_redis_log_batches_total',
    'Batches of the shared log by what became of them here: appended (XADD replied), applied (from another replica), duplicate and own (skipped: applied already), failed (not applied: not a batch of this layout), dropped (kept out of the log: backlog full), trimmed (trimmed from the stream before applied)',
    ['outcome'], () => [
      [{ outcome: 'appended' }, s.appendedBatches], [{ outcome: 'applied' }, s.appliedBatches], [{ outcome: 'duplicate' }, s.duplicates],
      [{ outcome: 'own' }, s.own], [{ outcome: 'failed' }, s.failed], [{ outcome: 'dropped' }, s.droppedBatches], [{ outcome: 'trimmed' }, s.trimmed],
    ]);
  scraped(registry, 'counter', 'hotpath_redis_log_events_total', 'Events of the shared log: appended by this replica, applied from others, dropped (backlog full)', ['outcome'], () => [
    [{ outcome: 'appended' }, s.appendedEvents], [{ outcome: 'applied' }, s.appliedEvents], [{ outcome: 'dropped' }, s.droppedEvents],
  ]);
  counter('hotpath_redis_log_pipelines_total', 'Pipelines of XADDs sent (one in flight at a time; batches appended / pipelines = batches per round trip)', () => s.pipelines);
  counter('hotpath_redis_log_append_failures_total', 'XADDs that failed (Redis down, slower than command_timeout, or an error reply); their batches stay in the backlog and are retried', () => s.appendFailures);
  counter('hotpath_redis_log_refused_total', 'Ingest requests refused because the backlog was full (on_backlog_full: refuse, HP_ERR_SHARED_LOG_FULL)', () => s.refused);
  counter('hotpath_redis_log_abandoned_batches_total', 'Batches still in the backlog when the server stopped: never appended', () => s.abandonedBatches);
  counter('hotpath_redis_log_claimed_total', 'Entries claimed (XAUTOCLAIM) from an earlier consumer of this replica', () => s.claimed);
  counter('hotpath_redis_log_acked_total', 'Entries acknowledged (XACK) after they were applied (and durable)', () => s.acked);
  counter('hotpath_redis_log_read_failures_total', 'Reads of the stream that failed (the reader retries)', () => s.readFailures);
  gauge('hotpath_redis_log_backlog_batches', 'Batches applied here and not yet appended to the shared log', () => log.backlogBatches);
  gauge('hotpath_redis_log_backlog_bytes', 'Bytes of those batches (bounded by ingest.redis_streams.backlog)', () => log.backlogBytes);
  gauge('hotpath_redis_log_connected', '1 while the connection to the shared log is up', () => (log.connected ? 1 : 0));
  gauge('hotpath_redis_log_dedup_ids', 'Batch ids remembered to skip duplicates (dedup_horizon, dedup_max)', () => log.dedup.size);
  gauge('hotpath_redis_log_stream_length', 'Entries in the stream (XLEN)', () => log.length);
  scraped(registry, 'gauge', 'hotpath_redis_log_lag_entries', 'Entries of the stream not yet delivered to each replica (its consumer group: XINFO GROUPS lag)', ['replica'], () =>
    [...log.lag].map(([replica, l]) => [{ replica }, l.entries] as const));
  scraped(registry, 'gauge', 'hotpath_redis_log_lag_seconds', 'Age of the oldest entry not yet delivered to each replica (0 when none)', ['replica'], () =>
    [...log.lag].map(([replica, l]) => [{ replica }, l.ms / 1000] as const));
  scraped(registry, 'gauge', 'hotpath_redis_log_pending_entries', 'Entries delivered to each replica and not yet acknowledged', ['replica'], () =>
    [...log.lag].map(([replica, l]) => [{ replica }, l.pending] as const));
  // from the entry's id (its append time on the Redis clock) to applied here
  const help = 'Time from an entry\'s append (its id, Redis clock) to its apply on this replica';
  registry.registerMetric({
    name: 'hotpath_redis_log_apply_delay_seconds',
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
      let acc = 0;
      DELAY_BUCKETS_MS.forEach((le, i) => {
        acc += s.delayCounts[i];
        values.push({ value: acc, labels: { le: le / 1000 }, metricName: 'hotpath_redis_log_apply_delay_seconds_bucket' });
      });
      values.push({ value: s.delayCount, labels: { le: '+Inf' }, metricName: 'hotpath_redis_log_apply_delay_seconds_bucket' });
      values.push({ value: s.delaySumMs / 1000, labels: {}, metricName: 'hotpath_redis_log_apply_delay_seconds_sum' });
      values.push({ value: s.delayCount, labels: {}, metricName: 'hotpath_redis_log_apply_delay_seconds_count' });
      return { name: 'hotpath_redis_log_apply_delay_seconds', help, type: 'histogram', aggregator: 'sum', values };
    },
    reset() {},
  } as unknown as client.Metric);
}
