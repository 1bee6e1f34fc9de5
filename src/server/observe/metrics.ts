// Tracing's metrics (tracing:, docs/api.md): read at scrape time from the exporter's counts.
import type client from 'prom-client';

import { scraped } from '../scrape-metrics.js';
import type { Tracing } from './tracing.js';

export function registerTracingMetrics(registry: client.Registry, tracing: Tracing): void {
  scraped(
    registry, 'counter', 'hotpath_trace_spans_total',
    'Spans of sampled requests: ended (made), exported (the collector took them), failed (an export failed: dropped); ended minus the others is queued, or dropped at tracing.max_queue',
    ['outcome'], () => [[{ outcome: 'ended' }, tracing.ended], [{ outcome: 'exported' }, tracing.exported], [{ outcome: 'failed' }, tracing.failed]] as const,
  );
  scraped(
    registry, 'counter', 'hotpath_trace_dropped_total',
    'Sampled requests whose spans were not made: more than tracing.max_queue traces waited for them (a burst, or a main thread too busy to make them)',
    [], () => tracing.dropped,
  );
}
