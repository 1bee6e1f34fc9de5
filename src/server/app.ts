// The composition root: builds the store, the worker pool, the model registry, the ingest
// path and the predict pipeline, puts them in one ServerContext, mounts the route table
// on uWebSockets.js, and listens. Routes live in routes/, one module per surface.
//
// Event ingest and feature reads run inline on this thread, each through one native call:
// a thread hop would cost more than the work. Predicts go to the inference workers.
import uWS from 'uWebSockets.js';

import type { Config } from '../config/load.js';
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
  const pool = new Pool({
    workers: config.server.workers, ringBytes: config.server.ringBytes, waitQueue: config.server.waitQueue, queueDelayBudgetMs: config.server.queueDelayBudgetMs, storeId: store.id, log,
  });
  const models = new ModelRegistry(config, pool, store, log);
  const inference = new InferenceService(models, pool, log);
  const metrics = new Metrics(pool, models, config.streams);
  inference.observer = metrics;
  const ingest = new Ingestor(store, config, log);
  ingest.observer = metrics;
  const ctx: ServerContext = {
    config,
    store,
    reader: new FeatureReader(store),
    models,
    pool,
    ingest,
    predict: new PredictPipeline(models, inference),
    metrics,
    log,
    policy: opts.policy ?? OPEN_POLICY,
    ready: false,
  };
  try {
    await pool.start();
    await models.loadAll();
  } catch (err) {
    await pool.close();
    throw err;
  }
  const app = uWS.App();
  mountRoutes(app, ctx);

  const host = opts.host ?? config.server.host;
  const wanted = opts.port ?? config.server.port;
  let listenSocket: uWS.us_listen_socket;
  try {
    listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
      app.listen(host, wanted, (sock) => (sock ? resolve(sock) : reject(new Error(`cannot listen on ${host}:${wanted}`))));
    });
  } catch (err) {
    await pool.close();
    throw err;
  }
  const port = uWS.us_socket_local_port(listenSocket);

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
    async close() {
      ctx.ready = false;
      demo?.stop();
      clearInterval(sweep);
      uWS.us_listen_socket_close(listenSocket);
      await pool.close();
    },
  };
}
