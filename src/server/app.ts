// The composition root: builds the store, the worker pool, the model registry, the ingest
// path, the predict pipeline and durability, puts them in one ServerContext, mounts the
// route table on uWebSockets.js, and listens. Routes live in routes/, one module per surface.
//
// Start, in phases (ServerContext.phase): the server listens first, answering /healthz
// (live) and /readyz (not ready, 503) while it restores its snapshot, replays its log and
// loads its models ('starting': every other route answers HP_ERR_NOT_READY); then it
// serves. shutdown() drains: not ready at once, no new connections, in-flight requests
// finish (up to server.drain_timeout), then the log is flushed, a last snapshot taken and
// the workers stopped, then the alert webhooks get alerts.drain_timeout to empty their queues.
//
// Event ingest and feature reads run inline on this thread, each through one native call:
// a thread hop would cost more than the work. Predicts go to the inference workers.
import { join } from 'node:path';

import uWS from 'uWebSockets.js';

import { AlertHub } from '../alerts/hub.js';
import { type Config, compileAuth } from '../config/load.js';
import { Durability, type RecoveryReport } from '../durability/durability.js';
import { describeLayout, layoutCrc } from '../durability/layout.js';
import { HotpathError, toHotpathError } from '../errors.js';
import { Ingestor } from '../ingest/ingestor.js';
import { FeatureStore } from '../native/binding.js';
import { InferenceService } from '../runtime/inference.js';
import { Pool } from '../runtime/pool.js';
import { ModelRegistry } from '../runtime/registry.js';
import { registerAlertMetrics } from './alert-metrics.js';
import { type Demo, startDemo } from './demo.js';
import { registerDurabilityMetrics } from './durability-metrics.js';
import { Learning } from '../learn/learning.js';
import { registerLearningMetrics } from './learning-metrics.js';
import { Experiments } from '../experiments/experiments.js';
import { registerExperimentMetrics } from './experiment-metrics.js';
import { buildTargets, targetFactory } from './experiment-targets.js';
import { Recommending } from '../recommend/recommending.js';
import { registerRecommendMetrics } from './recommend-metrics.js';
import { Bandits } from '../bandits/bandits.js';
import { RedisStreamLog } from '../redis/stream-log.js';
import { OnlineStore, type WarmFilter } from '../redis/online-store.js';
import { registerOnlineStoreMetrics } from './online-store-metrics.js';
import { registerRedisMetrics } from './redis-metrics.js';
import { registerBanditMetrics } from './bandit-metrics.js';
import { RequestForecast } from '../scaling/request-forecast.js';
import { registerForecastMetrics } from './forecast-metrics.js';
import { FeatureReader } from './features.js';
import { Metrics } from './metrics.js';
import { Stages } from './stages.js';
import { registerStoreMetrics } from './store-metrics.js';
import { PredictPipeline } from './predict.js';
import { Caching } from '../cache/cache.js';
import { registerCacheMetrics } from './cache-metrics.js';
import type { ServerContext } from './routes/context.js';
import { DashboardFeed, registerDashboardMetrics } from './dashboard.js';
import { createLogger, lineLog, type LogStream, loggerOverLog } from './observe/logger.js';
import { RequestObserver } from './observe/requests.js';
import type { Tracing } from './observe/tracing.js';
import { registerTracingMetrics } from './observe/metrics.js';
import { mountRoutes } from './routes/index.js';
import { OPEN_POLICY, type RoutePolicy } from './routes/route.js';
import { CoarseClock, ConnectionCounter } from './security/buckets.js';
import { checkJwtKeys } from './security/credentials.js';
import { HardeningPolicy } from './security/policy.js';
import { createApp, freePort, isLoopback, listen } from './security/tls.js';

export interface ServerOptions {
  config: Config;
  port?: number;
  host?: string;
  demo?: boolean;
  /**
   * where the modules' lines go, as they are (tests); request lines reach it as JSON text.
   * Default: JSON lines (pino) on stderr, or on `logStream`.
   */
  log?: (line: string) => void;
  /** the JSON log's destination instead of stderr (pino writes one line of JSON per write) */
  logStream?: LogStream;
  /** who may use which route (default: everyone, every route) */
  policy?: RoutePolicy;
  /** the state directory (overrides durability.data_dir); none: nothing is persisted */
  dataDir?: string;
  /** move the old state aside and begin empty */
  discardState?: boolean;
}

export interface ShutdownReport {
  /** every in-flight request finished before the deadline */
  drained: boolean;
  /** requests still in flight at the deadline */
  abandoned: number;
  drainMs: number;
  /** the last snapshot, when durability is on and it succeeded */
  snapshotSeq?: number;
}

export interface Server {
  readonly port: number;
  readonly config: Config;
  readonly store: FeatureStore;
  readonly pool: Pool;
  readonly models: ModelRegistry;
  readonly inference: InferenceService;
  readonly ingest: Ingestor;
  readonly metrics: Metrics;
  /** per-stage latency and the slowest requests of the last minute (src/server/stages.ts) */
  readonly stages: Stages;
  /** the log and snapshots, when the server has a data directory */
  readonly durability?: Durability;
  /** streaming ML: learners and detectors */
  readonly learning: Learning;
  /** A/B experiments (docs/experiments.md) */
  readonly experiments: Experiments;
  readonly recommending: Recommending;
  /** multi-armed bandits (src/bandits/): get(name).choose(...) / .reward(...) */
  readonly bandits: Bandits;
  readonly recovery?: RecoveryReport;
  /** alert rules, recent alerts, subscribers and webhooks (docs/alerts.md); ctx.alerts */
  readonly alerts: AlertHub;
  /** the shared ingest log on a Redis stream (ingest.redis_streams, docs/redis.md) */
  readonly sharedLog?: RedisStreamLog;
  /** the online store on Redis (online_store:, docs/redis.md "The online store") */
  readonly online?: OnlineStore;
  /** the request-rate forecast (scaling.forecast; docs/kubernetes.md), when configured */
  readonly forecast?: RequestForecast;
  /** the L1 answer caches (docs/cache.md), with a `cache` section */
  readonly caching?: Caching;
  /** 'https' with a tls section, else 'http' */
  readonly scheme: 'http' | 'https';
  /** Serves new connections with the certificate files as they are now (SIGHUP); throws HP_ERR_CONFIG_INVALID and keeps the old ones if they do not load. */
  reloadTls(): Promise<void>;
  /** Re-reads the keys file and variable, the JWT secret and JWK Set (SIGHUP); throws HP_ERR_CONFIG_INVALID and keeps the old ones if they do not load. */
  reloadCredentials(): Promise<void>;
  /** Graceful stop: drain (up to server.drain_timeout), flush the log, last snapshot, stop. */
  shutdown(opts?: { drainTimeoutMs?: number }): Promise<ShutdownReport>;
  /** Immediate stop (tests, failed starts): the log is flushed and closed, no snapshot. */
  close(): Promise<void>;
}

/** True when uWS loaded its native build rather than its slow fallback. */
export function uwsIsNative(): boolean {
  const u = uWS as unknown as Record<string, unknown>;
  return typeof u.SSLApp === 'function' && typeof u.getParts === 'function';
}

/** The store for a config; the engine's refusals (a budget below one row) are config errors. */
export function createStore(config: Config): FeatureStore {
  try {
    return FeatureStore.create(config.storeSpec);
  } catch (err) {
    const e = toHotpathError(err);
    if (e.code !== 'HP_ERR_NATIVE_INVALID_ARG') throw e;
    throw new HotpathError('HP_ERR_CONFIG_INVALID', `/entities: the engine refused the store: ${e.message}`, { path: '/entities' });
  }
}

export async function startServer(opts: ServerOptions): Promise<Server> {
  const { config } = opts;
  // The log (observe/logger.ts): JSON lines through pino; opts.log keeps the modules' lines
  // as they are. Request lines (and traces) go through the RequestObserver.
  const logger = opts.log ? loggerOverLog(config.logging, opts.log) : createLogger(config.logging, opts.logStream);
  const log = opts.log ?? lineLog(logger);
  if (!uwsIsNative() && process.env.HOTPATH_ALLOW_UWS_FALLBACK !== '1')
    throw new Error('uWebSockets.js loaded its slow JavaScript fallback instead of its native build; set HOTPATH_ALLOW_UWS_FALLBACK=1 to run anyway');

  const store = createStore(config);
  const pool = new Pool({
    workers: config.server.workers, ringBytes: config.server.ringBytes, waitQueue: config.server.waitQueue, queueDelayBudgetMs: config.server.queueDelayBudgetMs, storeId: store.id, log,
  });
  const models = new ModelRegistry(config, pool, store, log);
  const inference = new InferenceService(models, pool, log);
  const metrics = new Metrics(pool, models, config.streams);
  registerStoreMetrics(metrics.registry, store, config.entities);
  inference.observer = metrics;
  const stages = new Stages();
  stages.register(metrics.registry);
  const ingest = new Ingestor(store, config, log);
  ingest.observer = metrics;
  // L1 answer caches (docs/cache.md): their tap first, so that nothing after it in the
  // batch's turn can read an answer an event of the batch made stale.
  const caching = config.cache.features || config.cache.predict ? new Caching(config.cache) : undefined;
  if (caching) {
    ingest.addTap(caching.tap());
    registerCacheMetrics(metrics.registry, caching);
    metrics.cachedPredicts = () => (caching.predict ? caching.predict.l1.hit : 0);
  }
  // The online store on Redis (docs/redis.md): its tap marks entities to write through;
  // an imported row bumps the entity's generation so no L1 answer from before survives.
  const online = config.onlineStore
    ? new OnlineStore({
        config, def: config.onlineStore, store, layout: layoutCrc(describeLayout(config)), log,
        onImported: caching && ((t, keys) => caching.generations.bumpColumn(t, keys, keys.length)),
      })
    : undefined;
  if (online) {
    ingest.addTap(online.tap());
    // The cache's L3 level (its counts, for feature reads): the row is fetched for the next
    // read. Predicts and GET feature reads wait for their read-through (predict.ts,
    // routes/features.ts).
    if (caching) caching.l3 = { warm: (t, id) => (void online.readThrough(t, id), false) };
  }
  const reader = new FeatureReader(store, caching);
  // Streaming ML: learners served inline, trained by label taps; stream detectors as taps.
  const learning = new Learning(config, store, log);
  for (const [name, m] of learning.models) models.attachInline(name, m);
  for (const t of learning.taps()) ingest.addTap(t);
  if (!learning.empty) registerLearningMetrics(metrics.registry, learning);
  // Bandits: policies on this thread; rewards by route, by the API, and by event taps.
  const bandits = new Bandits(config, store, log);
  for (const t of bandits.taps) ingest.addTap(t);
  if (!bandits.empty) registerBanditMetrics(metrics.registry, bandits);
  // Predictive scaling: the request counters sampled on a timer into a forecast gauge.
  const forecastDef = config.scaling.forecast;
  const forecast = forecastDef ? new RequestForecast(forecastDef, () => metrics.requestCount(forecastDef.signals)) : undefined;
  if (forecast) registerForecastMetrics(metrics.registry, forecast);
  // recommenders: co-visitation taps, after the learners' taps
  const recommending = new Recommending(config, store, log);
  for (const t of recommending.taps()) ingest.addTap(t);
  if (!recommending.empty) registerRecommendMetrics(metrics.registry, recommending);
  // A/B experiments: metric taps on their streams, state in the snapshots.
  const experiments = new Experiments(config, log);
  for (const t of experiments.taps) ingest.addTap(t);
  if (!experiments.empty) registerExperimentMetrics(metrics.registry, experiments);
  const predict = new PredictPipeline(models, inference, config.limits.idBytes, { caching, reader, online });
  // each variant's target over the pipeline; a kind without an adapter is a config error here
  const experimentTargets = buildTargets(config.experiments, targetFactory({ predict, recommending, bandits }));
  const dataDir = opts.dataDir ?? config.durability.dataDir;
  const durability = dataDir ? new Durability({ config, dataDir, discardState: opts.discardState, store, ingest, log }) : undefined;
  // The shared ingest log (docs/redis.md): connects now, appends and applies once recovered.
  const sharedLog = config.ingest.redisStreams
    ? new RedisStreamLog({ config, ingest, layout: layoutCrc(describeLayout(config)), log, durable: durability !== undefined })
    : undefined;
  if (sharedLog) registerRedisMetrics(metrics.registry, sharedLog);
  if (online) {
    online.attachShared(sharedLog);
    registerOnlineStoreMetrics(metrics.registry, online, sharedLog);
  }
  if (durability) {
    durability.register(models.snapshotParticipant());
    if (!learning.empty) durability.register(learning.snapshotParticipant());
    if (!experiments.empty) durability.register(experiments.snapshotParticipant());
    if (!recommending.empty) durability.register(recommending.snapshotParticipant());
    if (!bandits.empty) durability.register(bandits.snapshotParticipant());
    registerDurabilityMetrics(metrics.registry, durability);
  }
  // Hardening (docs/security.md): a policy only when the config asks for auth or rate
  // limits; otherwise OPEN_POLICY, which mount() skips at no cost.
  if (config.auth?.jwt) await checkJwtKeys(config.auth.jwt);
  const clock = new CoarseClock();
  // Always built, rules or not: producers (detectors, learners, taps) call ctx.alerts
  // without a check, a source without rules costs them one Map lookup, and raised events
  // reach GET /v1/alerts and subscribers even with no alerts section.
  const alerts = new AlertHub(config.alerts, { now: () => clock.now, log });
  learning.alerts = alerts;
  experiments.alerts = alerts;
  const hardening = !opts.policy && HardeningPolicy.needed(config) ? new HardeningPolicy(config, metrics, clock) : undefined;
  // Traces (tracing:, off by default) and request lines: nothing on the request path when
  // both are off.
  // The OpenTelemetry SDK is loaded only then: a server without tracing never imports it.
  const tracing = config.tracing ? new (await import('./observe/tracing.js')).Tracing(config.tracing, log) : undefined;
  if (tracing) registerTracingMetrics(metrics.registry, tracing);
  const observe = RequestObserver.needed(config.logging, tracing) ? new RequestObserver(config.logging, logger, tracing) : undefined;
  const ctx: ServerContext = {
    config,
    store,
    reader,
    caching,
    online,
    sharedLog,
    models,
    pool,
    ingest,
    predict,
    metrics,
    stages,
    log,
    observe,
    policy: opts.policy ?? hardening ?? OPEN_POLICY,
    connections: new ConnectionCounter(config.limits.wsConnectionsPerAddress),
    clock,
    durability,
    alerts,
    learning,
    experiments,
    experimentTargets,
    recommending,
    bandits,
    dashboard: new DashboardFeed({ metrics, stages, pool, models, alerts, bandits, experiments }),
    phase: 'starting',
    ready: false,
    inflight: 0,
  };
  registerDashboardMetrics(metrics.registry, ctx.dashboard);
  // Every app this server mounted (a TLS reload adds one): their WebSockets close at shutdown.
  const apps: { closeAll(): void; subscribers(): number }[] = [];
  registerAlertMetrics(metrics.registry, alerts, () => apps.reduce((n, a) => n + a.subscribers(), 0));
  const host = opts.host ?? config.server.host;
  let listenSocket: uWS.us_listen_socket;
  let port: number;
  try {
    const app = createApp(config.tls);
    apps.push(mountRoutes(app, ctx));
    // TLS: an explicit port, so that reloadTls can share it (security/tls.ts).
    const wanted = opts.port ?? config.server.port;
    listenSocket = await listen(app, host, config.tls && wanted === 0 ? await freePort(host) : wanted);
    port = uWS.us_socket_local_port(listenSocket);
  } catch (err) {
    clock.close();
    await tracing?.shutdown();
    await sharedLog?.close();
    await online?.close();
    throw err;
  }
  if (!config.auth && !isLoopback(host))
    log(`hotpath: warning: listening on ${host}:${port} with auth off: anyone who can reach this port can read features, write events, score and load models (docs/security.md)`);
  let listening = true;
  const stopListening = () => {
    if (listening) uWS.us_listen_socket_close(listenSocket);
    listening = false;
  };

  let recovery: RecoveryReport | undefined;
  try {
    if (durability) recovery = await durability.recover();
    await pool.start();
    await models.loadAll();
  } catch (err) {
    stopListening();
    clock.close();
    await tracing?.shutdown();
    await sharedLog?.close();
    await online?.close();
    await alerts.close(0);
    await durability?.close({ snapshot: false }).catch(() => undefined);
    await pool.close();
    throw err;
  }
  durability?.start();
  // Idempotent ingest across restarts: the ids of the dedup streams' events the recovered
  // state holds (src/ingest/event-ids-file.ts).
  if (durability?.wal) ingest.attachEventIds(join(durability.dataDir, 'wal'), recovery?.replay.lastSeq ?? 0, durability.wal);
  // A replica that recovered no state warms from the online store before it is ready;
  // with the shared log, its group then starts where the imported rows end.
  let warmed: WarmFilter | undefined;
  if (online) {
    const recovered = recovery !== undefined && (recovery.snapshotSeq > 0 || recovery.replay.records > 0);
    if (online.def.warm && !recovered) {
      if (await online.connectedWithin(1000)) {
        const filter = online.newFilter();
        try {
          const w = await online.warm(filter);
          log(`redis: online store: warmed ${w.imported} entities in ${Math.round(w.ms)} ms`);
        } catch (err) {
          log(`redis: online store: the warm stopped after ${filter.size} entities: ${(err as Error).message}; the rest is read through on a miss`);
        }
        if (filter.size > 0) warmed = filter;
      } else log('redis: online store not reachable at start: not warmed; entities are read through on a miss once it is');
    }
    online.start();
  }
  if (sharedLog) {
    // After recovery: the ids of the shared-log batches the recovered state holds are known
    // (with a data directory), so none is applied twice. A Redis that is down does not
    // hold the start: batches wait in the backlog and the reader retries.
    const wal = durability?.wal;
    sharedLog.start(wal && durability ? { dir: join(durability.dataDir, 'wal'), recoveredSeq: recovery?.replay.lastSeq ?? 0, wal } : undefined, warmed);
    if (!(await sharedLog.connectedWithin(1000))) log(`redis: the shared log at ${config.ingest.redisStreams!.url ?? 'the cluster'} is not reachable yet: ingest goes on here, batches wait in the backlog`);
  }

  const sweep = setInterval(() => store.sweep(Date.now(), 10_000), config.store.sweepIntervalMs);
  sweep.unref();
  forecast?.start();
  const demo: Demo | undefined = opts.demo ? startDemo(ctx) : undefined;
  ctx.phase = 'serving';
  ctx.ready = true;

  let stopped: Promise<unknown> | undefined;
  const stopParts = async (snapshot: boolean): Promise<number | undefined> => {
    demo?.stop();
    clearInterval(sweep);
    forecast?.stop();
    stopListening();
    for (const a of apps) a.closeAll();
    ctx.dashboard.stop();
    // Webhooks drain while the snapshot is written (a graceful stop), or stop at once.
    const alertsClosed = alerts.close(snapshot ? config.alerts.drainTimeoutMs : 0);
    // Nothing more is applied from the shared log once the last snapshot is cut; the XACKs
    // of what was applied go out when the log's flush makes it durable, then the backlog
    // gets its last chance to be appended (a graceful stop).
    await sharedLog?.stopReading();
    let seq: number | undefined;
    if (durability) {
      await durability.close({ snapshot }).catch((err) => log(`durability: ${(err as Error).message}`));
      seq = snapshot ? durability.last?.seq : undefined;
      ingest.closeEventIds();
    }
    await sharedLog?.close(snapshot ? config.server.drainTimeoutMs : 0);
    await online?.close(snapshot ? config.server.drainTimeoutMs : 0);
    await alertsClosed;
    clock.close();
    await pool.close();
    // the spans of the last requests, sent within tracing.shutdown_timeout
    await tracing?.shutdown();
    return seq;
  };

  return {
    port,
    config,
    store,
    pool,
    models,
    inference,
    ingest,
    metrics,
    stages,
    durability,
    learning,
    experiments,
    recommending,
    bandits,
    recovery,
    alerts,
    sharedLog,
    online,
    forecast,
    caching,
    scheme: config.tls ? 'https' : 'http',
    async reloadTls() {
      if (!config.tls) throw new HotpathError('HP_ERR_CONFIG_INVALID', '/tls: the config has no tls section: nothing to reload', { path: '/tls' });
      if (!listening) return;
      const next = createApp(config.tls);
      const mounted = mountRoutes(next, ctx);
      const sock = await listen(next, host, port);
      apps.push(mounted);
      uWS.us_listen_socket_close(listenSocket);
      listenSocket = sock;
    },
    async reloadCredentials() {
      if (!config.auth || !hardening) return;
      const def = compileAuth(config.auth.raw, config.auth.baseDir, config.auth.env);
      if (def?.jwt) await checkJwtKeys(def.jwt);
      if (def) hardening.reload(def);
    },
    shutdown(o = {}) {
      if (stopped) return stopped as Promise<ShutdownReport>;
      const p = (async (): Promise<ShutdownReport> => {
        const t0 = performance.now();
        ctx.ready = false;
        ctx.phase = 'draining';
        stopListening();
        demo?.stop();
        const deadline = t0 + (o.drainTimeoutMs ?? config.server.drainTimeoutMs);
        const inFlight = () => ctx.inflight + pool.pendingCount + (durability?.wal?.waiting ?? 0);
        while (inFlight() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        const abandoned = inFlight();
        const drainMs = performance.now() - t0;
        const snapshotSeq = await stopParts(true);
        return { drained: abandoned === 0, abandoned, drainMs, snapshotSeq };
      })();
      stopped = p;
      return p;
    },
    async close() {
      if (stopped) {
        await stopped;
        return;
      }
      ctx.ready = false;
      ctx.phase = 'draining';
      stopped = stopParts(false);
      await stopped;
    },
  };
}
