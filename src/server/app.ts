// The composition root: builds the store, the worker pool, the model registry, the ingest
// path and the predict pipeline, puts them in one ServerContext, mounts the route table
// on uWebSockets.js, and listens. Routes live in routes/, one module per surface.
//
// Event ingest and feature reads run inline on this thread, each through one native call:
// a thread hop would cost more than the work. Predicts go to the inference workers.
import uWS from 'uWebSockets.js';

import { type Config, compileAuth } from '../config/load.js';
import { HotpathError, toHotpathError } from '../errors.js';
import { Ingestor } from '../ingest/ingestor.js';
import { FeatureStore } from '../native/binding.js';
import { InferenceService } from '../runtime/inference.js';
import { Pool } from '../runtime/pool.js';
import { ModelRegistry } from '../runtime/registry.js';
import { startDemo } from './demo.js';
import { FeatureReader } from './features.js';
import { Metrics } from './metrics.js';
import { PredictPipeline } from './predict.js';
import type { ServerContext } from './routes/context.js';
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
  log?: (line: string) => void;
  /** who may use which route (default: everyone, every route) */
  policy?: RoutePolicy;
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
  /** 'https' with a tls section, else 'http' */
  readonly scheme: 'http' | 'https';
  /** Serves new connections with the certificate files as they are now (SIGHUP); throws HP_ERR_CONFIG_INVALID and keeps the old ones if they do not load. */
  reloadTls(): Promise<void>;
  /** Re-reads the keys file and variable, the JWT secret and JWK Set (SIGHUP); throws HP_ERR_CONFIG_INVALID and keeps the old ones if they do not load. */
  reloadCredentials(): Promise<void>;
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
  const log = opts.log ?? ((line: string) => console.error(line));
  if (!uwsIsNative() && process.env.HOTPATH_ALLOW_UWS_FALLBACK !== '1')
    throw new Error('uWebSockets.js loaded its slow JavaScript fallback instead of its native build; set HOTPATH_ALLOW_UWS_FALLBACK=1 to run anyway');

  const store = createStore(config);
  const pool = new Pool({ workers: config.server.workers, ringBytes: config.server.ringBytes, waitQueue: config.server.waitQueue, storeId: store.id, log });
  const models = new ModelRegistry(config, pool, store, log);
  const inference = new InferenceService(models, pool, log);
  const metrics = new Metrics(pool, models, config.streams);
  inference.observer = metrics;
  const ingest = new Ingestor(store, config, log);
  ingest.observer = metrics;
  // Hardening (docs/security.md): a policy only when the config asks for auth or rate
  // limits; otherwise OPEN_POLICY, which mount() skips at no cost.
  if (config.auth?.jwt) await checkJwtKeys(config.auth.jwt);
  const clock = new CoarseClock();
  const hardening = !opts.policy && HardeningPolicy.needed(config) ? new HardeningPolicy(config, metrics, clock) : undefined;
  const ctx: ServerContext = {
    config,
    store,
    reader: new FeatureReader(store),
    models,
    ingest,
    predict: new PredictPipeline(models, inference, config.limits.idBytes),
    metrics,
    log,
    policy: opts.policy ?? hardening ?? OPEN_POLICY,
    connections: new ConnectionCounter(config.limits.wsConnectionsPerAddress),
    clock,
    ready: false,
  };
  try {
    await pool.start();
    await models.loadAll();
  } catch (err) {
    clock.close();
    await pool.close();
    throw err;
  }
  const host = opts.host ?? config.server.host;
  let listenSocket: uWS.us_listen_socket;
  let port: number;
  try {
    const app = createApp(config.tls);
    mountRoutes(app, ctx);
    // TLS: an explicit port, so that reloadTls can share it (security/tls.ts).
    const wanted = opts.port ?? config.server.port;
    listenSocket = await listen(app, host, config.tls && wanted === 0 ? await freePort(host) : wanted);
    port = uWS.us_socket_local_port(listenSocket);
  } catch (err) {
    clock.close();
    await pool.close();
    throw err;
  }
  if (!config.auth && !isLoopback(host))
    log(`hotpath: warning: listening on ${host}:${port} with auth off: anyone who can reach this port can read features, write events, score and load models (docs/security.md)`);

  const sweep = setInterval(() => store.sweep(Date.now(), 10_000), config.store.sweepIntervalMs);
  sweep.unref();
  const demo = opts.demo ? startDemo(ctx) : undefined;
  ctx.ready = true;

  return {
    port,
    config,
    store,
    pool,
    models,
    inference,
    ingest,
    metrics,
    scheme: config.tls ? 'https' : 'http',
    async reloadTls() {
      if (!config.tls) throw new HotpathError('HP_ERR_CONFIG_INVALID', '/tls: the config has no tls section: nothing to reload', { path: '/tls' });
      const next = createApp(config.tls);
      mountRoutes(next, ctx);
      const sock = await listen(next, host, port);
      uWS.us_listen_socket_close(listenSocket);
      listenSocket = sock;
    },
    async reloadCredentials() {
      if (!config.auth || !hardening) return;
      const def = compileAuth(config.auth.raw, config.auth.baseDir, config.auth.env);
      if (def?.jwt) await checkJwtKeys(def.jwt);
      if (def) hardening.reload(def);
    },
    async close() {
      ctx.ready = false;
      demo?.stop();
      clearInterval(sweep);
      uWS.us_listen_socket_close(listenSocket);
      clock.close();
      await pool.close();
    },
  };
}
