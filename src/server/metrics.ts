// Prometheus metrics at GET /metrics, with prom-client. One registry per server (tests run
// several in one process). Workers never send metrics: they bump shared counters
// (records.ts COUNTER) that the scrape reads, and the main thread observes the timings
// that each response record carries.
import client from 'prom-client';

import type { ForecastSignal } from '../config/scaling.js';
import type { IngestObserver } from '../ingest/ingestor.js';
import type { FailReason, InferenceObserver } from '../runtime/inference.js';
import type { ModelRegistry } from '../runtime/registry.js';
import type { Pool } from '../runtime/pool.js';
import { COUNTER } from '../runtime/records.js';
import type { SecurityObserver } from './security/policy.js';

/**
 * A counter or histogram for the per-request paths, kept in plain arrays and exposed to
 * prom-client's registry as a custom metric (its get() is what prom-client calls at
 * scrape). prom-client's own observe() validates and hashes the labels and allocates a
 * closure on every call; with four observations per predict that was 7 % of the main
 * thread under load (the serving bench with --cpu-prof). Label values are fixed per series:
 * callers get a series once (series()) and bump it by index.
 */
export class FastMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum' as const;
  /** as prom-client's metrics name theirs (test/deploy/observability.test.ts reads both) */
  readonly labelNames: readonly string[];
  readonly #buckets: number[];
  readonly #series = new Map<string, { labels: Record<string, string>; counts: Float64Array; sum: number; count: number }>();

  constructor(name: string, help: string, labelNames: readonly string[], buckets?: number[]) {
    this.name = name;
    this.help = help;
    this.type = buckets ? 'histogram' : 'counter';
    this.labelNames = labelNames;
    this.#buckets = buckets ?? [];
  }

  /** The series for these label values (created on first use). */
  series(...values: string[]): { counts: Float64Array; sum: number; count: number } {
    const key = values.join('\u0000');
    let s = this.#series.get(key);
    if (!s) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]));
      s = { labels, counts: new Float64Array(this.#buckets.length), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    return s;
  }

  inc(s: { count: number }, by = 1): void {
    s.count += by;
  }

  observe(s: { counts: Float64Array; sum: number; count: number }, v: number): void {
    const b = this.#buckets;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    if (i < b.length) s.counts[i]++;
    s.sum += v;
    s.count++;
  }

  get(): { name: string; help: string; type: string; aggregator: 'sum'; values: { value: number; labels: Record<string, string | number>; metricName?: string }[] } {
    const values: { value: number; labels: Record<string, string | number>; metricName?: string }[] = [];
    for (const s of this.#series.values()) {
      if (this.type === 'counter') {
        values.push({ value: s.count, labels: s.labels });
        continue;
      }
      let acc = 0;
      this.#buckets.forEach((le, i) => {
        acc += s.counts[i];
        values.push({ value: acc, labels: { ...s.labels, le }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: s.count, labels: { ...s.labels, le: '+Inf' }, metricName: `${this.name}_bucket` });
      values.push({ value: s.sum, labels: s.labels, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: s.labels, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }

  /** the sum of a counter's series (for a histogram, of its observation counts) */
  total(): number {
    let n = 0;
    for (const s of this.#series.values()) n += s.count;
    return n;
  }

  reset(): void {
    this.#series.clear();
  }

  /** every series: its label values (in labelNames order) and its live counts (the dashboard reads them) */
  *each(): IterableIterator<{ labels: Record<string, string>; counts: Float64Array; count: number }> {
    yield* this.#series.values();
  }

  get buckets(): readonly number[] {
    return this.#buckets;
  }
}

export type Series = ReturnType<FastMetric['series']>;

const LATENCY_BUCKETS = [
  0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];
/** rows in a batch: powers of two up to what a response record carries (RES.BATCH, u16) */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65535];
const FRESHNESS_BUCKETS = [0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 86400];
const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;

export class Metrics implements InferenceObserver, IngestObserver, SecurityObserver {
  readonly registry = new client.Registry();
  readonly #requests = new FastMetric(
    'hotpath_model_requests_total',
    'Model requests by outcome; a failure names its reason (it may still have been answered by the fallback)',
    ['model', 'outcome', 'reason'],
  );
  readonly #fallbacks = new FastMetric('hotpath_model_fallbacks_total', 'Requests answered by the model fallback, by reason', ['model', 'reason']);
  readonly #queue = new FastMetric('hotpath_model_queue_duration_seconds', 'Time from submission to the start of the batch', ['model'], LATENCY_BUCKETS);
  readonly #compute = new FastMetric('hotpath_model_compute_duration_seconds', 'Time the batch took to gather features and run', ['model'], LATENCY_BUCKETS);
  readonly #total = new FastMetric('hotpath_model_request_duration_seconds', 'Server-side time of a model request, end to end', ['model'], LATENCY_BUCKETS);
  readonly #batch = new FastMetric(
    'hotpath_model_batch_size',
    'Rows in the batch each answered model request ran in (a distribution over requests, not batches: divide the counters of executions for the mean per batch)',
    ['model'],
    BATCH_BUCKETS,
  );
  readonly #recommend = new FastMetric('hotpath_recommend_duration_seconds', 'Server-side time of a recommend request, from its arrival to its answer', ['recommender'], LATENCY_BUCKETS);
  readonly #ingested = new FastMetric('hotpath_events_ingested_total', 'Events applied to the feature store', ['stream']);
  readonly #late = new FastMetric('hotpath_events_late_total', 'Events dropped as later than the allowed lateness', ['stream']);
  readonly #reads = new FastMetric('hotpath_feature_reads_total', 'Entity feature reads (GET and POST /v1/features, Feast get-online-features)', ['entity']);
  readonly #freshness = new FastMetric('hotpath_feature_freshness_seconds', 'Age of the newest event of an entity when its features are read', ['entity'], FRESHNESS_BUCKETS);
  readonly #duplicates = new FastMetric('hotpath_events_duplicate_total', 'Events of dedup streams dropped because their id was applied within the horizon, by where they came from', ['stream', 'source']);
  readonly #tapErrors = new FastMetric('hotpath_ingest_tap_errors_total', 'Ingest taps that threw on a batch (the ingest itself succeeded)', ['tap']);
  readonly #wsSlow = new FastMetric('hotpath_ws_slow_closes_total', 'WebSocket connections closed because their unsent answers passed server.ws_max_buffered_bytes', []);
  readonly #authRefused = new FastMetric('hotpath_auth_refused_total', 'Requests, WebSocket upgrades and frames refused by authentication or scope, by error code', ['code']);
  readonly #rateLimited = new FastMetric(
    'hotpath_rate_limited_total',
    'Requests refused by a limit: class is a route class (limits.rate), ws_frames or ws_connections; by is address, credential or connection',
    ['class', 'by'],
  );
  #wsBackpressured = 0;
  /** predict answers served from the L1 cache (src/cache/): requests too, though no model ran */
  cachedPredicts: () => number = () => 0;
  readonly #perModel = new Map<string, { ok: Series; queue: Series; compute: Series; total: Series; batch: Series }>();
  readonly #perEntity = new Map<string, { reads: Series; freshness: Series }>();

  readonly #defaultStream: string;

  constructor(pool: Pool | undefined, models: ModelRegistry | undefined, streams: readonly { name: string }[] = []) {
    this.#defaultStream = streams.length === 1 ? streams[0].name : 'all';
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'hotpath_' });
    // prom-client names three gauges *_total, which promtool (rightly) refuses.
    for (const g of ['active_handles_total', 'active_requests_total', 'active_resources_total']) this.registry.removeSingleMetric(`hotpath_nodejs_${g}`);
    for (const m of [this.#requests, this.#fallbacks, this.#queue, this.#compute, this.#total, this.#batch, this.#ingested, this.#late, this.#duplicates, this.#reads, this.#freshness, this.#tapErrors, this.#wsSlow, this.#authRefused, this.#rateLimited, this.#recommend])
      this.registry.registerMetric(m as unknown as client.Metric);
    this.#wsSlow.series(); // 0 from the start, not only after the first close
    const metrics = this;
    new client.Gauge({
      name: 'hotpath_ws_backpressured_connections',
      help: 'WebSocket connections with answers waiting to be sent (their client reads slower than it asks)',
      registers,
      collect() {
        this.set(metrics.#wsBackpressured);
      },
    });

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
      name: 'hotpath_inference_threads',
      help: 'Inference worker threads (server.workers); 0: models run on the main thread',
      registers,
      collect() {
        this.set(pool.threads);
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
      name: 'hotpath_worker_wakeups_recovered_total',
      help: 'Times a worker had woken the main thread (its answers waiting in the response ring) and the wait had not resolved a tick later: the deadline ticker drained the answers instead',
      registers,
      collect() {
        this.reset();
        this.inc(pool.wakeupsRecovered);
      },
    });
    new client.Counter({
      name: 'hotpath_shed_requests_total',
      help: 'Requests shed (HP_ERR_OVERLOADED, or the fallback): cause wait_queue_full (the rings and the wait queue were full) or queue_delay (the queue delay was over server.queue_delay_budget)',
      labelNames: ['cause'],
      registers,
      collect() {
        this.reset();
        this.inc({ cause: 'wait_queue_full' }, pool.shed);
        this.inc({ cause: 'queue_delay' }, pool.shedDelay);
      },
    });
    new client.Gauge({
      name: 'hotpath_queue_delay_seconds',
      help: 'The queue delay now: the age of the oldest model request not yet running, or of the batch a worker runs, the largest over the workers and the wait queue (what server.queue_delay_budget bounds)',
      registers,
      collect() {
        this.set(pool.queueDelay() / 1000);
      },
    });
    new client.Gauge({
      name: 'hotpath_model_queue_delay_target_seconds',
      help: 'The batch window (queue delay) the workers use for the model: the one batching.adaptive chose now, else max_queue_delay_us (0 with server.workers 0)',
      labelNames: ['model'],
      registers,
      collect() {
        for (const e of models.entries.values()) {
          if (e.def.learner) continue; // served inline: no batcher
          const us = e.adaptive ? e.adaptive.delayUs : pool.threads === 0 ? 0 : e.def.batching.maxQueueDelayUs;
          this.set({ model: e.def.name }, us / 1e6);
        }
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
    new client.Counter({
      name: 'hotpath_model_device_fallbacks_total',
      help: 'Model versions that asked for the GPU (device cuda or auto) and run on the CPU, by reason: not_built, no_device, onnx_runtime, device_memory (too large for it, device auto), device_lost (a worker\'s GPU failed while serving)',
      labelNames: ['model', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const e of models.entries.values()) for (const [reason, n] of e.deviceFallbacks) this.inc({ model: e.def.name, reason }, n);
      },
    });
    new client.Gauge({
      name: 'hotpath_model_device',
      help: '1 for the device the model\'s current version runs on (cpu or cuda)',
      labelNames: ['model', 'device'],
      registers,
      collect() {
        this.reset();
        for (const e of models.entries.values()) if (e.current && e.current.slot >= 0) this.set({ model: e.def.name, device: e.current.device }, 1);
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
  }

  /** the last model #model looked up, and its series: a predict looks its model up twice */
  #lastModel = '';
  #lastSeries: { ok: Series; queue: Series; compute: Series; total: Series; batch: Series } | undefined;

  #model(model: string) {
    if (model === this.#lastModel && this.#lastSeries !== undefined) return this.#lastSeries;
    let m = this.#perModel.get(model);
    if (!m) {
      m = {
        ok: this.#requests.series(model, 'success', ''), queue: this.#queue.series(model), compute: this.#compute.series(model), total: this.#total.series(model),
        batch: this.#batch.series(model),
      };
      this.#perModel.set(model, m);
    }
    this.#lastModel = model;
    this.#lastSeries = m;
    return m;
  }

  request(model: string, outcome: 'success' | 'failure', reason: string): void {
    if (outcome === 'success') this.#model(model).ok.count++;
    else this.#requests.inc(this.#requests.series(model, outcome, reason));
  }

  fallback(model: string, reason: FailReason): void {
    this.#fallbacks.inc(this.#fallbacks.series(model, reason));
  }

  timings(model: string, queueUs: number, computeUs: number, totalUs: number, batch: number): void {
    const m = this.#model(model);
    this.#queue.observe(m.queue, queueUs / 1e6);
    this.#compute.observe(m.compute, computeUs / 1e6);
    this.#total.observe(m.total, totalUs / 1e6);
    if (batch > 0) this.#batch.observe(m.batch, batch);
  }

  /**
   * Events applied by one request. `stream` is the stream the request named; without one,
   * the config's only stream, or 'all' when it declares several (the events may mix them).
   */
  eventsIngested(stream: string | undefined, accepted: number, late: number): void {
    stream ??= this.#defaultStream;
    this.#ingested.inc(this.#ingested.series(stream), accepted);
    if (late > 0) this.#late.inc(this.#late.series(stream), late);
  }

  /** one answered recommend request and its server-side time */
  recommendServed(recommender: string, seconds: number): void {
    this.#recommend.observe(this.#recommend.series(recommender), seconds);
  }

  duplicatesDropped(stream: string, source: string, n: number): void {
    this.#duplicates.inc(this.#duplicates.series(stream, source), n);
  }

  tapFailed(tap: string): void {
    this.#tapErrors.inc(this.#tapErrors.series(tap));
  }

  wsSlowClosed(): void {
    this.#wsSlow.inc(this.#wsSlow.series());
  }

  authRefused(code: string): void {
    this.#authRefused.inc(this.#authRefused.series(code));
  }

  rateLimited(cls: string, by: 'address' | 'credential' | 'connection'): void {
    this.#rateLimited.inc(this.#rateLimited.series(cls, by));
  }

  /** +1 when a connection starts buffering answers, -1 when it drains or closes. */
  wsBackpressured(delta: number): void {
    this.#wsBackpressured += delta;
  }

  /** One entity read; its age in ms (null when absent). */
  featureRead(entity: string, ageMs: number | null): void {
    let e = this.#perEntity.get(entity);
    if (!e) {
      e = { reads: this.#reads.series(entity), freshness: this.#freshness.series(entity) };
      this.#perEntity.set(entity, e);
    }
    e.reads.count++;
    if (ageMs !== null) this.#freshness.observe(e.freshness, ageMs / 1000);
  }

  /**
   * The total of the request counters named (the request-rate forecast's input,
   * src/scaling/): model_requests is hotpath_model_requests_total over every model,
   * outcome and reason; events, hotpath_events_ingested_total; feature_reads,
   * hotpath_feature_reads_total.
   */
  requestCount(signals: readonly ForecastSignal[]): number {
    let n = 0;
    for (const s of signals) n += (s === 'model_requests' ? this.#requests : s === 'events' ? this.#ingested : this.#reads).total() + (s === 'model_requests' ? this.cachedPredicts() : 0);
    return n;
  }

  /**
   * The counters and histograms the dashboard reads once a second (src/server/dashboard.ts),
   * cumulative, as /metrics would show them: the live series themselves, not copies.
   */
  dashboardSources() {
    return {
      requests: this.#requests,
      fallbacks: this.#fallbacks,
      queue: this.#queue,
      total: this.#total,
      batch: this.#batch,
      ingested: this.#ingested,
      late: this.#late,
      reads: this.#reads,
      freshness: this.#freshness,
    };
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
