// Prometheus metrics at GET /metrics, with prom-client. One registry per server (tests run
// several in one process). Workers never send metrics: they bump shared counters
// (records.ts COUNTER) that the scrape reads, and the main thread observes the timings
// that each response record carries.
import client from 'prom-client';

import type { FailReason, InferenceObserver, Models } from '../runtime/models.js';
import type { Pool } from '../runtime/pool.js';
import { COUNTER } from '../runtime/records.js';

const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const FRESHNESS_BUCKETS = [0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 86400];
const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;

export class Metrics implements InferenceObserver {
  readonly registry = new client.Registry();
  readonly #requests: client.Counter<'model' | 'outcome' | 'reason'>;
  readonly #fallbacks: client.Counter<'model' | 'reason'>;
  readonly #queue: client.Histogram<'model'>;
  readonly #compute: client.Histogram<'model'>;
  readonly #total: client.Histogram<'model'>;
  readonly eventsIngested: client.Counter<'stream'>;
  readonly eventsLate: client.Counter<'stream'>;
  readonly featureReads: client.Counter<'entity'>;
  readonly freshness: client.Histogram<'entity'>;
  readonly httpRequests: client.Counter<'route' | 'status'>;

  constructor(pool: Pool | undefined, models: Models | undefined) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'hotpath_' });
    // prom-client names three gauges *_total, which promtool (rightly) refuses.
    for (const g of ['active_handles_total', 'active_requests_total', 'active_resources_total']) this.registry.removeSingleMetric(`hotpath_nodejs_${g}`);
    this.#requests = new client.Counter({
      name: 'hotpath_model_requests_total',
      help: 'Model requests by outcome; a failure names its reason (it may still have been answered by the fallback)',
      labelNames: ['model', 'outcome', 'reason'],
      registers,
    });
    this.#fallbacks = new client.Counter({ name: 'hotpath_model_fallbacks_total', help: 'Requests answered by the model fallback, by reason', labelNames: ['model', 'reason'], registers });
    this.#queue = new client.Histogram({ name: 'hotpath_model_queue_duration_seconds', help: 'Time from submission to the start of the batch', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers });
    this.#compute = new client.Histogram({ name: 'hotpath_model_compute_duration_seconds', help: 'Time the batch took to gather features and run', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers });
    this.#total = new client.Histogram({ name: 'hotpath_model_request_duration_seconds', help: 'Server-side time of a model request, end to end', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers });
    this.eventsIngested = new client.Counter({ name: 'hotpath_events_ingested_total', help: 'Events applied to the feature store', labelNames: ['stream'], registers });
    this.eventsLate = new client.Counter({ name: 'hotpath_events_late_total', help: 'Events dropped as later than the allowed lateness', labelNames: ['stream'], registers });
    this.featureReads = new client.Counter({ name: 'hotpath_feature_reads_total', help: 'Entity feature reads over HTTP, WebSocket and Feast routes', labelNames: ['entity'], registers });
    this.freshness = new client.Histogram({
      name: 'hotpath_feature_freshness_seconds',
      help: 'Age of the newest event of an entity when its features are read',
      labelNames: ['entity'],
      buckets: FRESHNESS_BUCKETS,
      registers,
    });
    this.httpRequests = new client.Counter({ name: 'hotpath_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers });

    if (!pool || !models) return;
    const modelCounter = (name: string, help: string, which: number, retired: 'executions' | 'inferences'): void => {
      new client.Counter({
        name,
        help,
        labelNames: ['model'],
        registers,
        collect() {
          this.reset();
          for (const e of models.entries.values()) {
            let n = models.retired.get(e.def.name)?.[retired] ?? 0;
            for (const v of e.versions.values()) n += pool.counter(v.slot, which);
            this.inc({ model: e.def.name }, n);
          }
        },
      });
    };
    modelCounter('hotpath_model_inference_count_total', 'Rows (inferences) run by the model; divide by executions for the mean batch size', COUNTER.INFERENCES, 'inferences');
    modelCounter('hotpath_model_execution_count_total', 'Batches (executions) run by the model', COUNTER.EXECUTIONS, 'executions');
    new client.Gauge({
      name: 'hotpath_ring_occupancy_ratio',
      help: 'Share of each worker ring in use',
      labelNames: ['worker', 'ring'],
      registers,
      collect() {
        for (const o of pool.occupancy()) {
          this.set({ worker: String(o.worker), ring: 'request' }, o.requests);
          this.set({ worker: String(o.worker), ring: 'response' }, o.responses);
        }
      },
    });
    new client.Gauge({
      name: 'hotpath_wait_queue_length',
      help: 'Requests waiting for room in a worker ring',
      registers,
      collect() {
        this.set(pool.waiting);
      },
    });
    new client.Counter({
      name: 'hotpath_worker_restarts_total',
      help: 'Inference workers restarted after they died',
      registers,
      collect() {
        this.reset();
        this.inc(pool.restarts);
      },
    });
    new client.Counter({
      name: 'hotpath_shed_requests_total',
      help: 'Requests shed because the rings and the wait queue were full',
      registers,
      collect() {
        this.reset();
        this.inc(pool.shed);
      },
    });
    new client.Gauge({
      name: 'hotpath_model_ready',
      help: '1 when the model has a version loaded in a live worker',
      labelNames: ['model'],
      registers,
      collect() {
        for (const e of models.entries.values()) this.set({ model: e.def.name }, models.ready(e) ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'hotpath_circuit_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open',
      labelNames: ['model'],
      registers,
      collect() {
        for (const e of models.entries.values()) if (e.breaker) this.set({ model: e.def.name }, BREAKER_STATE[e.breaker.state]);
      },
    });
    new client.Gauge({
      name: 'hotpath_model_version',
      help: 'The version each model serves',
      labelNames: ['model'],
      registers,
      collect() {
        for (const e of models.entries.values()) if (e.current) this.set({ model: e.def.name }, e.current.version);
      },
    });
    models.observer = this;
  }

  request(model: string, outcome: 'success' | 'failure', reason: string): void {
    this.#requests.inc({ model, outcome, reason });
  }

  fallback(model: string, reason: FailReason): void {
    this.#fallbacks.inc({ model, reason });
  }

  timings(model: string, queueUs: number, computeUs: number, totalUs: number): void {
    this.#queue.observe({ model }, queueUs / 1e6);
    this.#compute.observe({ model }, computeUs / 1e6);
    this.#total.observe({ model }, totalUs / 1e6);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
