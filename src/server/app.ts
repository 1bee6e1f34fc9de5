// The HTTP front end on uWebSockets.js. Event ingest and feature reads run inline on this
// thread, each through one native call: a thread hop would cost more than the work.
//
// uWS rules followed here: a handler reads everything it needs from `req` before
// returning (req is stack-allocated); `res.onAborted` is set before any body is read; body
// chunks are copied as they arrive (uWS neuters the ArrayBuffer after the callback);
// responses are written inside `res.cork`, and never after an abort.
import uWS from 'uWebSockets.js';

import type { Config } from '../config/load.js';
import { HotpathError, toHotpathError } from '../errors.js';
import { FeatureStore } from '../native/binding.js';
import { InferenceService } from '../runtime/inference.js';
import { Pool } from '../runtime/pool.js';
import { ModelRegistry } from '../runtime/registry.js';
import { startDemo } from './demo.js';
import { ingestEvents, parseEventBody } from './events.js';
import { checkId, entityOf, FeatureReader, readTime, selectFeatures } from './features.js';
import { parseJsonBody, readBody, type Res, send, sendError } from './http.js';
import { inferenceRoutes } from './inference-routes.js';
import { Metrics } from './metrics.js';
import { wsRoute } from './ws.js';

export interface ServerOptions {
  config: Config;
  port?: number;
  host?: string;
  demo?: boolean;
  log?: (line: string) => void;
}

export interface Server {
  readonly port: number;
  readonly config: Config;
  readonly store: FeatureStore;
  readonly pool: Pool;
  readonly models: ModelRegistry;
  readonly inference: InferenceService;
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
  const reader = new FeatureReader(store);
  let ready = false;
  const pool = new Pool({ workers: config.server.workers, ringBytes: config.server.ringBytes, waitQueue: config.server.waitQueue, storeId: store.id, log });
  const models = new ModelRegistry(config, pool, store, log);
  const inference = new InferenceService(models, pool, log);
  const metrics = new Metrics(pool, models, config.streams);
  inference.observer = metrics;
  try {
    await pool.start();
    await models.loadAll();
  } catch (err) {
    await pool.close();
    throw err;
  }
  const app = uWS.App();

  app.post('/v1/events', (res: Res, req) => {
    const contentType = req.getHeader('content-type');
    const stream = new URLSearchParams(req.getQuery() ?? '').get('stream') ?? undefined;
    readBody(res, config.server.maxBodyBytes, (body) => {
      try {
        const events = parseEventBody(body.toString('utf8'), contentType);
        const r = ingestEvents(store, config, events, Date.now(), stream);
        metrics.eventsIngested(stream, r.accepted, r.late);
        send(res, 200, JSON.stringify(r));
      } catch (err) {
        sendError(res, err, log);
      }
    }, log);
  });

  app.get('/v1/features/:entity/:id', (res: Res, req) => {
    try {
      const entity = entityOf(config, req.getParameter(0));
      const param = req.getParameter(1) ?? '';
      let rawId = param;
      if (param.includes('%')) {
        try {
          rawId = decodeURIComponent(param);
        } catch {
          throw new HotpathError('HP_ERR_ID_INVALID', 'the id in the path is not valid percent-encoding');
        }
      }
      const id = checkId(rawId);
      const query = req.getQuery();
      const q = query ? new URLSearchParams(query) : undefined;
      const names = q?.get('features');
      const select = selectFeatures(entity, names?.split(',').filter((s) => s.length > 0));
      const now = Date.now();
      const at = readTime(q?.get('at') ?? undefined, now);
      const r = reader.readJson(entity, id, select, at);
      metrics.featureRead(entity.name, r.ageMs);
      send(res, 200, r.json);
    } catch (err) {
      sendError(res, err, log);
    }
  });

  app.post('/v1/features', (res: Res) => {
    readBody(res, config.server.maxBodyBytes, (body) => {
      try {
        const q = parseJsonBody(body) as { entity?: unknown; ids?: unknown; features?: unknown; at?: unknown };
        if (typeof q !== 'object' || q === null || Array.isArray(q))
          throw new HotpathError('HP_ERR_QUERY_INVALID', 'body must be an object {"entity", "ids", "features"?, "at"?}');
        const entity = entityOf(config, q.entity);
        if (!Array.isArray(q.ids)) throw new HotpathError('HP_ERR_QUERY_INVALID', '`ids` must be an array of entity ids');
        if (q.ids.length === 0) throw new HotpathError('HP_ERR_BATCH_EMPTY', '`ids` is empty');
        if (q.ids.length > config.server.maxBatch)
          throw new HotpathError('HP_ERR_BATCH_TOO_LARGE', `${q.ids.length} ids; at most ${config.server.maxBatch} per request (server.max_batch)`);
        const ids = q.ids.map(checkId);
        const select = selectFeatures(entity, q.features);
        const now = Date.now();
        const at = readTime(q.at, now);
        const results = reader.read(entity, ids, select, at);
        for (const r of results) metrics.featureRead(entity.name, r.freshness_ms);
        send(res, 200, JSON.stringify({ entity: entity.name, at, results }));
      } catch (err) {
        sendError(res, err, log);
      }
    }, log);
  });

  // Per entity table: live entities, capacity, bytes per entity and in total, evictions.
  app.get('/v1/stats', (res: Res) => {
    const entities: Record<string, object> = {};
    for (const e of config.entities) {
      const st = store.stats(e.index);
      entities[e.name] = {
        live: st.live,
        capacity: st.capacity,
        row_bytes: st.rowBytes,
        bytes_per_entity: st.bytesPerEntity,
        allocated_bytes: st.allocatedBytes,
        memory_budget_bytes: e.memoryBytes,
        evicted_ttl: st.evictedTtl,
        evicted_lru: st.evictedLru,
        updates: st.updates,
        newest_event_ms: Number.isFinite(st.watermarkMs) && st.updates > 0 ? st.watermarkMs : null,
      };
    }
    send(res, 200, JSON.stringify({ entities }));
  });

  inferenceRoutes(app, config, models, inference, reader, metrics, log);
  wsRoute(app, config, store, models, inference, metrics, log);

  app.get('/metrics', (res: Res) => {
    res.onAborted(() => (res.aborted = true));
    metrics.text().then(
      (text) => send(res, 200, text, { contentType: metrics.contentType }),
      (err) => sendError(res, err, log),
    );
  });

  app.get('/healthz', (res: Res) => send(res, 200, '{"status":"ok"}'));
  // Ready: started, and every model has a version loaded in a live worker (a worker that
  // died makes the server unready until its replacement has loaded the models).
  app.get('/readyz', (res: Res) => {
    const waiting = [...models.entries.values()].filter((e) => !models.ready(e)).map((e) => e.def.name);
    if (ready && waiting.length === 0) send(res, 200, '{"status":"ready"}');
    else sendError(res, new HotpathError('HP_ERR_NOT_READY', ready ? `models not ready: ${waiting.join(', ')}` : 'starting or shutting down'), log);
  });
  app.any('/*', (res: Res, req) => {
    sendError(res, new HotpathError('HP_ERR_ROUTE_NOT_FOUND', `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}`), log);
  });

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
  const demo = opts.demo ? startDemo(store, config, log, models, inference) : undefined;
  ready = true;

  return {
    port,
    config,
    store,
    pool,
    models,
    inference,
    metrics,
    async close() {
      ready = false;
      demo?.stop();
      clearInterval(sweep);
      uWS.us_listen_socket_close(listenSocket);
      await pool.close();
    },
  };
}
