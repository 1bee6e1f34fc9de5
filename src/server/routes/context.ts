// What every route module gets: the server's parts, passed as one object instead of
// positional parameters. The composition root (app.ts) builds it once per server.
import type { AlertHub } from '../../alerts/hub.js';
import type { Bandits } from '../../bandits/bandits.js';
import type { Caching } from '../../cache/cache.js';
import type { Config } from '../../config/load.js';
import type { Durability } from '../../durability/durability.js';
import type { Learning } from '../../learn/learning.js';
import type { Experiments } from '../../experiments/experiments.js';
import type { ExperimentTarget } from '../../experiments/targets.js';
import type { Recommending } from '../../recommend/recommending.js';
import type { Ingestor } from '../../ingest/ingestor.js';
import type { FeatureStore } from '../../native/binding.js';
import type { Pool } from '../../runtime/pool.js';
import type { ModelRegistry } from '../../runtime/registry.js';
import type { DashboardFeed } from '../dashboard.js';
import type { FeatureReader } from '../features.js';
import type { Log } from '../http.js';
import type { Metrics } from '../metrics.js';
import type { RequestObserver } from '../observe/requests.js';
import type { PredictPipeline } from '../predict.js';
import type { Stages } from '../stages.js';
import type { CoarseClock, ConnectionCounter } from '../security/buckets.js';
import type { RoutePolicy } from './route.js';
import type { OnlineStore } from '../../redis/online-store.js';

export interface ServerContext {
  readonly config: Config;
  readonly store: FeatureStore;
  readonly reader: FeatureReader;
  /** the L1 answer caches (src/cache/; undefined without a `cache` section) */
  readonly caching?: Caching;
  /** the online store on Redis (online_store:, docs/redis.md): read-through on a miss */
  readonly online?: OnlineStore;
  /** the shared ingest log (ingest.redis_streams): readiness may depend on its Redis */
  readonly sharedLog?: { readonly connected: boolean };
  /** the model registry: entries, versions, readiness, reload */
  readonly models: ModelRegistry;
  /** the inference workers (readiness, the fault-injection hook) */
  readonly pool: Pool;
  readonly ingest: Ingestor;
  readonly predict: PredictPipeline;
  readonly metrics: Metrics;
  /** per-stage latency histograms and the slowest requests of the last minute (GET /v1/debug/slow) */
  readonly stages: Stages;
  readonly log: Log;
  /**
   * traces and request lines (observe/requests.ts): undefined when tracing is off and
   * logging.requests is `off` (then no request reads a header for them)
   */
  readonly observe?: RequestObserver;
  readonly policy: RoutePolicy;
  /**
   * Where detectors, learners and ingest taps report: `observe(source, value, entity?)` for
   * numeric signals, `raise(event)` for discrete events (docs/alerts.md). Always present
   * (without rules every observe() is one Map lookup).
   */
  readonly alerts: AlertHub;
  /** the write-ahead log and snapshots, when the server has a data directory */
  readonly durability?: Durability;
  /** streaming ML: the online learners (served inline), label and detector taps */
  readonly learning: Learning;
  /** A/B experiments (src/experiments/): assignment, statistics, decisions */
  readonly experiments: Experiments;
  /** each experiment's variant targets, in variant order (server/experiment-targets.ts) */
  readonly experimentTargets: ReadonlyMap<string, readonly ExperimentTarget[]>;
  /** the recommenders: their co-visitation tables (ingest taps) and embedding sources */
  readonly recommending: Recommending;
  /** multi-armed bandits (src/bandits/) */
  readonly bandits: Bandits;
  /** the live dashboard's snapshots (routes/dashboard.ts; runs only while a page is open) */
  readonly dashboard: DashboardFeed;
  /**
   * 'starting' (restoring, replaying, loading models) and 'draining' (shutting down): only
   * `open` routes are served, the others answer HP_ERR_NOT_READY. 'serving': everything.
   */
  phase: 'starting' | 'serving' | 'draining';
  /** open WebSocket connections per client address (limits.ws_connections_per_address) */
  readonly connections: ConnectionCounter;
  /** ms since the epoch, refreshed every few ms: for rate limits (Date.now() costs 70-170 ns here) */
  readonly clock: CoarseClock;
  /** false while starting and once shutting down (readiness) */
  ready: boolean;
  /** HTTP requests taken and not yet answered (a shutdown drains them) */
  inflight: number;
}
