// The live dashboard's data (docs/dashboard.md): one JSON snapshot a second, published to
// the WebSocket topic "dashboard" (routes/dashboard.ts) while at least one page is open,
// and nothing at all while none is: the timer runs only between the first subscriber and
// the last one's close.
//
// A snapshot is read from the same sources /metrics reads (Metrics' live series, the pool's
// counters, the registry, the alert hub), without the Prometheus text: rates are the
// difference of cumulative counts since the previous snapshot, and the quantiles are
// estimated from the difference of the latency histograms' bucket counts over that second,
// by linear interpolation inside the bucket (as Prometheus' histogram_quantile does), so
// they are as coarse as the buckets (LATENCY_BUCKETS in metrics.ts; STAGE_BUCKETS in
// stages.ts for the stages, BATCH_BUCKETS for batch sizes).
import type client from 'prom-client';

import type { AlertHub } from '../alerts/hub.js';
import type { Bandits } from '../bandits/bandits.js';
import type { Experiments } from '../experiments/experiments.js';
import type { Pool } from '../runtime/pool.js';
import { COUNTER } from '../runtime/records.js';
import type { ModelRegistry } from '../runtime/registry.js';
import type { Metrics } from './metrics.js';
import type { Stages } from './stages.js';
import { scraped } from './scrape-metrics.js';

/** The uWS topic snapshots are published on. */
export const DASHBOARD_TOPIC = 'dashboard';
export const DASHBOARD_INTERVAL_MS = 1000;
/** at most this many new alerts are carried in one snapshot (the count says how many came) */
const ALERTS_PER_SNAPSHOT = 5;

type Histogram = { counts: Float64Array; count: number };

/** What the feed reads (a Server's parts). */
export interface DashboardSources {
  metrics: Metrics;
  stages: Stages;
  pool: Pool;
  models: ModelRegistry;
  alerts: AlertHub;
  bandits: Bandits;
  experiments: Experiments;
}

export class DashboardFeed {
  readonly #src: DashboardSources;
  readonly #publishers = new Set<(json: string) => void>();
  #subscribers = 0;
  #timer: NodeJS.Timeout | undefined;
  /** snapshots built since the server started (hotpath_dashboard_snapshots_total) */
  snapshots = 0;
  // The previous snapshot's cumulative values, by key.
  #prevAt = 0;
  readonly #prev = new Map<string, number>();
  readonly #prevHist = new Map<string, Float64Array>();
  #alertsSince: number | undefined;

  constructor(src: DashboardSources) {
    this.#src = src;
  }

  /** An app's publish function (each mounted app has its own subscribers); returns its removal. */
  addPublisher(publish: (json: string) => void): () => void {
    this.#publishers.add(publish);
    return () => this.#publishers.delete(publish);
  }

  get subscribers(): number {
    return this.#subscribers;
  }

  /** A page subscribed: the first one starts the timer (and a baseline, so its first rates are for one second). */
  subscribed(): void {
    if (this.#subscribers++ > 0) return;
    this.#read(Date.now()); // the baseline; not published
    this.#timer = setInterval(() => this.#tick(), DASHBOARD_INTERVAL_MS);
    this.#timer.unref();
  }

  /** A page left: after the last one, nothing runs. */
  unsubscribed(): void {
    if (this.#subscribers === 0 || --this.#subscribers > 0) return;
    this.stop();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#subscribers = 0;
  }

  /** The next snapshot's JSON (rates since the previous one); what the timer publishes. */
  snapshot(now = Date.now()): string {
    return JSON.stringify(this.#read(now));
  }

  #tick(): void {
    const json = this.snapshot();
    this.snapshots++;
    for (const p of this.#publishers) p(json);
  }

  /** The rate of a cumulative count since the previous read (per second), and remembers it. */
  #rate(key: string, total: number, dt: number): number {
    const prev = this.#prev.get(key);
    this.#prev.set(key, total);
    return prev === undefined || dt <= 0 ? 0 : Math.max(0, total - prev) / dt;
  }

  /** The histogram's counts added since the previous read (the overflow bucket last), and remembers them. */
  #delta(key: string, h: Histogram): Float64Array {
    const n = h.counts.length;
    let prev = this.#prevHist.get(key);
    if (prev === undefined) {
      prev = new Float64Array(n + 1);
      this.#prevHist.set(key, prev);
    }
    const d = new Float64Array(n + 1);
    let inBuckets = 0;
    for (let i = 0; i < n; i++) {
      d[i] = h.counts[i] - prev[i];
      prev[i] = h.counts[i];
      inBuckets += h.counts[i];
    }
    const over = h.count - inBuckets;
    d[n] = over - prev[n];
    prev[n] = over;
    return d;
  }

  #read(now: number): DashboardSnapshot {
    const { metrics, stages, pool, models, alerts, bandits, experiments } = this.#src;
    const dt = this.#prevAt === 0 ? 0 : (now - this.#prevAt) / 1000;
    this.#prevAt = now;
    const m = metrics.dashboardSources();
    const bounds = m.total.buckets;

    // Per model: requests (every outcome), fallbacks, latency quantiles, batch sizes, breaker.
    const requests = new Map<string, number>();
    for (const s of m.requests.each()) requests.set(s.labels.model, (requests.get(s.labels.model) ?? 0) + s.count);
    const fallbacks = new Map<string, number>();
    for (const s of m.fallbacks.each()) fallbacks.set(s.labels.model, (fallbacks.get(s.labels.model) ?? 0) + s.count);
    const totals = new Map<string, Histogram>();
    for (const s of m.total.each()) totals.set(s.labels.model, s);
    const queues = new Map<string, Histogram>();
    for (const s of m.queue.each()) queues.set(s.labels.model, s);
    const batchSizes = new Map<string, Histogram>();
    for (const s of m.batch.each()) batchSizes.set(s.labels.model, s);
    const modelRows: DashboardSnapshot['models'] = [];
    for (const e of models.entries.values()) {
      const name = e.def.name;
      const r = models.retired.get(name);
      let executions = r?.executions ?? 0;
      let inferences = r?.inferences ?? 0;
      for (const v of e.versions.values()) {
        executions += pool.counter(v.slot, COUNTER.EXECUTIONS);
        inferences += pool.counter(v.slot, COUNTER.INFERENCES);
      }
      const batches = this.#rate(`exec:${name}`, executions, dt);
      const rows = this.#rate(`rows:${name}`, inferences, dt);
      const t = totals.get(name);
      const q = queues.get(name);
      const lat = t ? this.#delta(`total:${name}`, t) : undefined;
      const qd = q ? this.#delta(`queue:${name}`, q) : undefined;
      const bs = batchSizes.get(name);
      const bd = bs ? this.#delta(`batch:${name}`, bs) : undefined;
      modelRows.push({
        name,
        rps: this.#rate(`req:${name}`, requests.get(name) ?? 0, dt),
        fallbacks: this.#rate(`fb:${name}`, fallbacks.get(name) ?? 0, dt),
        p50_ms: lat ? ms(quantile(lat, bounds, 0.5)) : null,
        p99_ms: lat ? ms(quantile(lat, bounds, 0.99)) : null,
        p999_ms: lat ? ms(quantile(lat, bounds, 0.999)) : null,
        queue_p99_ms: qd ? ms(quantile(qd, bounds, 0.99)) : null,
        batch_mean: batches > 0 ? rows / batches : null,
        batch_p50: bd ? quantile(bd, m.batch.buckets, 0.5) : null,
        batch_p99: bd ? quantile(bd, m.batch.buckets, 0.99) : null,
        breaker: e.breaker?.state ?? 'none',
      });
    }

    const sum = (f: { each(): Iterable<{ count: number }> }) => {
      let n = 0;
      for (const s of f.each()) n += s.count;
      return n;
    };
    const freshness: DashboardSnapshot['freshness'] = [];
    for (const s of m.freshness.each()) {
      const d = this.#delta(`fresh:${s.labels.entity}`, s);
      freshness.push({ entity: s.labels.entity, p50_s: quantile(d, m.freshness.buckets, 0.5), p99_s: quantile(d, m.freshness.buckets, 0.99) });
    }

    // Per route class: requests per second (every status) and each stage's quantiles.
    const st = stages.sources();
    const routes: DashboardSnapshot['routes'] = [];
    for (const s of st.request.each()) routes.push({ route: s.labels.route, rps: this.#rate(`route:${s.labels.route}`, s.count, dt) });
    const stageRows: DashboardSnapshot['stages'] = [];
    for (const s of st.stage.each()) {
      const d = this.#delta(`stage:${s.labels.route}:${s.labels.stage}`, s);
      const b = st.stage.buckets;
      stageRows.push({ route: s.labels.route, stage: s.labels.stage, p50_ms: ms(quantile(d, b, 0.5)), p99_ms: ms(quantile(d, b, 0.99)), p999_ms: ms(quantile(d, b, 0.999)) });
    }

    // Bandits: decisions and applied rewards per second, each live arm's pulls and mean reward.
    const banditRows: DashboardSnapshot['bandits'] = [];
    for (const b of bandits.all.values()) {
      banditRows.push({
        name: b.name,
        policy: b.def.policy,
        decisions: this.#rate(`bandit:${b.name}`, b.counts.decisions, dt),
        rewards: this.#rate(`reward:${b.name}`, b.rewards.applied, dt),
        arms: b.armStats(),
      });
    }
    // Experiments: one look a second (evaluate without deciding, as a scrape does).
    const experimentRows: DashboardSnapshot['experiments'] = [];
    const at = experiments.now();
    for (const x of experiments.byName.values()) {
      experimentRows.push({
        name: x.def.name,
        status: x.status,
        share: x.share,
        srm_p: x.srm().p,
        variants: x.evaluate(at, false).map((r) => ({ name: r.variant, exposures: r.exposures, mean: r.mean, p: r.vs_control?.msprt.p ?? null, significant: r.vs_control?.significant ?? false, rolled_back: r.rolled_back })),
      });
    }

    const page = alerts.recent(this.#alertsSince, 1000);
    const firstRead = this.#alertsSince === undefined;
    this.#alertsSince = page.next;
    const fresh = firstRead ? [] : page.json;

    return {
      t: now,
      rates: {
        predicts: this.#rate('predicts', sum(m.requests) + metrics.cachedPredicts(), dt),
        feature_reads: this.#rate('reads', sum(m.reads), dt),
        events: this.#rate('events', sum(m.ingested), dt),
        late: this.#rate('late', sum(m.late), dt),
      },
      models: modelRows,
      routes,
      stages: stageRows,
      queue: { delay_ms: pool.queueDelay(), waiting: pool.waiting, shed: this.#rate('shed', pool.shed + pool.shedDelay, dt) },
      rings: pool.occupancy().map((o) => ({ worker: o.worker, request: o.requests, response: o.responses })),
      freshness,
      alerts: { new: fresh.length + page.missed, latest: fresh.slice(-ALERTS_PER_SNAPSHOT).map((j) => JSON.parse(j) as unknown) },
      bandits: banditRows,
      experiments: experimentRows,
      pages: this.#subscribers,
    };
  }
}

export interface DashboardSnapshot {
  /** ms since the epoch */
  t: number;
  /** per second, over the last interval: model requests (cached answers included), entity reads, events applied, late events dropped */
  rates: { predicts: number; feature_reads: number; events: number; late: number };
  models: {
    name: string;
    rps: number;
    fallbacks: number;
    /** server-side request time over the last interval (null: no histogram yet; NaN → null: no request) */
    p50_ms: number | null;
    p99_ms: number | null;
    p999_ms: number | null;
    queue_p99_ms: number | null;
    /** rows per batch over the last interval */
    batch_mean: number | null;
    /** the batch size the requests of the last interval ran in, median and p99 (by request: hotpath_model_batch_size) */
    batch_p50: number | null;
    batch_p99: number | null;
    breaker: string;
  }[];
  /** per route class seen so far (stages.ts ROUTE_CLASSES): requests per second over the last interval, every status */
  routes: { route: string; rps: number }[];
  /** per route class and stage seen so far: its time's quantiles over the last interval (null: no request in it) */
  stages: { route: string; stage: string; p50_ms: number | null; p99_ms: number | null; p999_ms: number | null }[];
  queue: { delay_ms: number; waiting: number; shed: number };
  rings: { worker: number; request: number; response: number }[];
  /** age of the newest event of the entities read over the last interval (seconds) */
  freshness: { entity: string; p50_s: number | null; p99_s: number | null }[];
  alerts: { new: number; latest: unknown[] };
  /** per bandit: decisions and applied rewards per second over the last interval, and each live arm's learned pulls and mean reward (null: none yet) */
  bandits: { name: string; policy: string; decisions: number; rewards: number; arms: { arm: string; pulls: number; mean_reward: number | null }[] }[];
  /**
   * per experiment: its status, ramp share and sample-ratio-mismatch p-value, and per variant
   * its exposures, metric mean and always-valid (mSPRT) p-value against control (null for
   * control, or before two samples per arm)
   */
  experiments: {
    name: string;
    status: string;
    share: number;
    srm_p: number;
    variants: { name: string; exposures: number; mean: number | null; p: number | null; significant: boolean; rolled_back: boolean }[];
  }[];
  /** dashboard pages subscribed */
  pages: number;
}

const ms = (s: number | null): number | null => (s === null ? null : s * 1000);

/**
 * The q-quantile of the observations counted in `d` (per bucket, `bounds` their upper
 * bounds, the overflow last), interpolated inside its bucket; null with no observation.
 * One past the last bound reads as the last bound (the histogram knows no more).
 */
export function quantile(d: Float64Array, bounds: readonly number[], q: number): number | null {
  let n = 0;
  for (let i = 0; i < d.length; i++) n += d[i];
  if (n <= 0) return null;
  const rank = q * n;
  let acc = 0;
  for (let i = 0; i < bounds.length; i++) {
    if (d[i] > 0 && acc + d[i] >= rank) {
      const lo = i === 0 ? 0 : bounds[i - 1];
      return lo + (bounds[i] - lo) * ((rank - acc) / d[i]);
    }
    acc += d[i];
  }
  return bounds[bounds.length - 1];
}

/** The dashboard's own cost, on /metrics: the pages open and the snapshots built. */
export function registerDashboardMetrics(registry: client.Registry, feed: DashboardFeed): void {
  scraped(registry, 'gauge', 'hotpath_dashboard_pages', 'Dashboard pages subscribed to the snapshots (WebSocket /dashboard/ws)', [], () => feed.subscribers);
  scraped(registry, 'counter', 'hotpath_dashboard_snapshots_total', 'Dashboard snapshots built (one a second while a page is open, none otherwise)', [], () => feed.snapshots);
}
