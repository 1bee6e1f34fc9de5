// Feast's feature server: POST /get-online-features {"features": ["user:txn_count_1h", ...],
// "entities": {"user_id": [..]}, "full_feature_names": bool}. A feature view is an entity;
// its join key is the entity's name or the key field that carries its id in a stream
// (user_id for user).
import type { Config } from '../../config/load.js';
import { HotpathError } from '../../errors.js';
import { nowMs } from '../../runtime/records.js';
import { checkId, type FeatureReader, tooManyFeatures } from '../features.js';
import { parseJsonBody } from '../http.js';
import type { Route } from './route.js';

const joinKeysOf = new WeakMap<Config, Map<string, number>>();

/** Join key -> entity table, computed once per config. */
function joinKeys(config: Config): Map<string, number> {
  let keys = joinKeysOf.get(config);
  if (!keys) {
    keys = new Map();
    for (const ent of config.entities) keys.set(ent.name, ent.index);
    for (const s of config.streams) s.keyFields.forEach((f, k) => keys!.has(f) || keys!.set(f, s.tables[k]));
    joinKeysOf.set(config, keys);
  }
  return keys;
}

export const feastRoutes: Route[] = [
  {
    method: 'post',
    path: '/get-online-features',
    scope: 'features:read',
    body: 'bytes',
    stages: 'feast',
    about: 'Feast get-online-features',
    handle(c, ctx) {
      const { config, reader, metrics } = ctx;
      const keysByName = joinKeys(config);
      const q = parseJsonBody(c.body) as { features?: unknown; entities?: unknown; full_feature_names?: unknown };
      if (typeof q !== 'object' || q === null || Array.isArray(q)) throw new HotpathError('HP_ERR_QUERY_INVALID', 'body must be an object {"features": [...], "entities": {...}}');
      if (!Array.isArray(q.features) || q.features.length === 0 || q.features.some((f) => typeof f !== 'string'))
        throw new HotpathError('HP_ERR_QUERY_INVALID', '`features` must be a non-empty list of "view:feature" names');
      if (q.features.length > config.limits.featuresPerRequest) throw tooManyFeatures(q.features.length, config.limits.featuresPerRequest);
      if (typeof q.entities !== 'object' || q.entities === null || Array.isArray(q.entities) || Object.keys(q.entities).length === 0)
        throw new HotpathError('HP_ERR_QUERY_INVALID', '`entities` must be an object of join key -> list of ids');
      const full = q.full_feature_names === true;
      const ents = q.entities as Record<string, unknown>;
      const keyCols: { key: string; table: number; ids: string[] }[] = [];
      let rows = -1;
      for (const [key, vals] of Object.entries(ents)) {
        const table = keysByName.get(key);
        if (table === undefined) throw new HotpathError('HP_ERR_ENTITY_UNKNOWN', `unknown join key '${key}'; known: ${[...keysByName.keys()].join(', ')}`);
        if (!Array.isArray(vals) || vals.length === 0) throw new HotpathError('HP_ERR_QUERY_INVALID', `entities.${key} must be a non-empty list of ids`);
        if (rows >= 0 && vals.length !== rows) throw new HotpathError('HP_ERR_QUERY_INVALID', 'every entities list must have the same length');
        rows = vals.length;
        if (rows > config.server.maxBatch) throw new HotpathError('HP_ERR_BATCH_TOO_LARGE', `${rows} entity rows; at most ${config.server.maxBatch} (server.max_batch)`);
        keyCols.push({ key, table, ids: vals.map((v) => checkId(v, config.limits.idBytes)) });
      }
      const wanted = (q.features as string[]).map((ref) => {
        const m = /^([^:]+):(.+)$/.exec(ref);
        if (!m) throw new HotpathError('HP_ERR_FEATURE_UNKNOWN', `'${ref}' is not a "view:feature" reference`);
        const t = config.entityIndex.get(m[1]);
        if (t === undefined) throw new HotpathError('HP_ERR_FEATURE_UNKNOWN', `unknown feature view '${m[1]}'; views: ${config.entities.map((x) => x.name).join(', ')}`);
        const f = config.entities[t].featureIndex.get(m[2]);
        if (f === undefined) throw new HotpathError('HP_ERR_FEATURE_UNKNOWN', `feature view '${m[1]}' has no feature '${m[2]}'`);
        const col = keyCols.find((k) => k.table === t);
        if (!col) throw new HotpathError('HP_ERR_QUERY_INVALID', `'${ref}' needs ids for entity '${m[1]}' in entities`);
        return { ref, view: m[1], feature: m[2], table: t, index: f, col };
      });
      const now = Date.now();
      c.mark1 = c.markNow();
      const names: string[] = keyCols.map((k) => k.key);
      const results: { values: unknown[]; statuses: string[]; event_timestamps: string[] }[] = keyCols.map((k) => ({
        values: ents[k.key] as unknown[],
        statuses: k.ids.map(() => 'PRESENT'),
        event_timestamps: k.ids.map(() => '1970-01-01T00:00:00Z'),
      }));
      // One batched read per entity table, then pick the requested columns.
      const reads = new Map<number, ReturnType<FeatureReader['read']>>();
      for (const w of wanted) {
        if (!reads.has(w.table)) {
          const ent = config.entities[w.table];
          const rs = reader.read(ent, w.col.ids, ent.features.map((_, i) => i), now);
          reads.set(w.table, rs);
          for (const r of rs) metrics.featureRead(ent.name, r.freshness_ms);
        }
      }
      c.mark2 = c.markNow();
      c.subject = config.entities[wanted[0].table].name;
      for (const w of wanted) {
        const rs = reads.get(w.table)!;
        names.push(full ? `${w.view}__${w.feature}` : w.feature);
        results.push({
          values: rs.map((r) => r.features[w.feature] ?? null),
          statuses: rs.map((r) => (!r.found ? 'NOT_FOUND' : r.features[w.feature] === null ? 'NULL_VALUE' : 'PRESENT')),
          event_timestamps: rs.map((r) => new Date(r.found && r.freshness_ms !== null ? now - r.freshness_ms : 0).toISOString()),
        });
      }
      c.send(200, JSON.stringify({ metadata: { feature_names: names }, results }));
    },
  },
];
