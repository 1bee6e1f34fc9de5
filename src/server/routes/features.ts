// Feature reads: one entity by path, or a batch of ids of one entity.
import { HotpathError } from '../../errors.js';
import { nowMs } from '../../runtime/records.js';
import { checkId, entityOf, readTime, selectFeatures } from '../features.js';
import { parseJsonBody } from '../http.js';
import type { Route } from './route.js';

export const featureRoutes: Route[] = [
  {
    method: 'get',
    path: '/v1/features/:entity/:id',
    scope: 'features:read',
    body: 'none',
    stages: 'features',
    about: 'one entity\'s features (?features=a,b&at=T)',
    handle(c, ctx) {
      const entity = entityOf(ctx.config, c.params[0]);
      c.subject = entity.name;
      let rawId = c.params[1];
      if (rawId.includes('%')) {
        try {
          rawId = decodeURIComponent(rawId);
        } catch {
          throw new HotpathError('HP_ERR_ID_INVALID', 'the id in the path is not valid percent-encoding');
        }
      }
      const id = checkId(rawId, ctx.config.limits.idBytes);
      const now = Date.now(); // the read time unless ?at=, and the cache's clock: one clock read
      let select = entity.allFeatures;
      let at = now;
      if (c.query.length > 0) {
        const q = new URLSearchParams(c.query);
        const names = q.get('features');
        select = selectFeatures(entity, names?.split(',').filter((s) => s.length > 0), ctx.config.limits.featuresPerRequest);
        at = readTime(q.get('at') ?? undefined, now);
      }
      // The read's own start and end are the stage marks (the native read notes them for
      // less than a JS clock read costs), when a stage split or a trace wants them.
      const t = c.trace;
      const timed = c.stageRoute >= 0 || t !== undefined;
      const reader = ctx.reader;
      const r = reader.readJsonCached(entity, id, select, at, c.query, now, timed);
      if (timed) {
        c.mark1 = reader.readStart;
        c.mark2 = reader.readEnd;
      }
      if (t !== undefined) {
        t.entity = entity.name;
        t.stage('parse', t.start, reader.readStart);
        t.stage('feature_store.read', reader.readStart, reader.readEnd);
      }
      const online = ctx.online;
      if (r.ageMs === null && online) {
        // Not in this store: read through from the online store (at most read_timeout),
        // then answer from the store, which holds the entity when Redis had it.
        const later = c.detach();
        const absent = typeof r.body === 'string' ? r.body : Buffer.from(r.body); // r.body's buffer is the next read's
        c.res.onAborted(() => later.onAborted());
        const o0 = t !== undefined ? nowMs() : 0;
        online.readThrough(entity.index, id).then((found) => {
          if (t !== undefined) t.stage('online_store.read', o0);
          const again = found ? reader.readJsonCached(entity, id, select, at, later.query) : { body: absent, ageMs: null };
          ctx.metrics.featureRead(entity.name, again.ageMs);
          later.mark2 = later.markNow();
          later.send(200, again.body);
        }, (err) => later.fail(err));
        return;
      }
      ctx.metrics.featureRead(entity.name, r.ageMs);
      c.send(200, r.body);
    },
  },
  {
    method: 'post',
    path: '/v1/features',
    scope: 'features:read',
    body: 'bytes',
    stages: 'features_batch',
    about: 'features of many ids of one entity',
    handle(c, ctx) {
      const { config } = ctx;
      const t = c.trace;
      const p0 = t !== undefined ? nowMs() : 0;
      const q = parseJsonBody(c.body) as { entity?: unknown; ids?: unknown; features?: unknown; at?: unknown };
      if (typeof q !== 'object' || q === null || Array.isArray(q))
        throw new HotpathError('HP_ERR_QUERY_INVALID', 'body must be an object {"entity", "ids", "features"?, "at"?}');
      const entity = entityOf(config, q.entity);
      c.subject = entity.name;
      if (!Array.isArray(q.ids)) throw new HotpathError('HP_ERR_QUERY_INVALID', '`ids` must be an array of entity ids');
      if (q.ids.length === 0) throw new HotpathError('HP_ERR_BATCH_EMPTY', '`ids` is empty');
      if (q.ids.length > config.server.maxBatch)
        throw new HotpathError('HP_ERR_BATCH_TOO_LARGE', `${q.ids.length} ids; at most ${config.server.maxBatch} per request (server.max_batch)`);
      const ids = q.ids.map((v) => checkId(v, config.limits.idBytes));
      const select = selectFeatures(entity, q.features, config.limits.featuresPerRequest);
      const at = readTime(q.at, Date.now());
      const r0 = (c.mark1 = c.markNow());
      if (t !== undefined) {
        t.entity = entity.name;
        t.stage('parse', p0, r0);
      }
      const results = ctx.reader.read(entity, ids, select, at);
      c.mark2 = c.markNow();
      if (t !== undefined) t.stage('feature_store.read', r0, c.mark2);
      for (const r of results) ctx.metrics.featureRead(entity.name, r.freshness_ms);
      c.send(200, JSON.stringify({ entity: entity.name, at, results }));
    },
  },
];
