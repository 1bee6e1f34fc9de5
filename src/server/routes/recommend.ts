// POST /v1/recommend/{name}: a user (and optionally the caller's session items) in, the
// recommender's top k items out (src/recommend/). GET /v1/recommenders: each recommender's
// table and counters.
import { HotpathError, showValue, toHotpathError } from '../../errors.js';
import { categoryValue } from '../../ingest/decode.js';
import type { Recommendation, Recommender, RecommendRequest } from '../../recommend/recommender.js';
import { nowMs } from '../../runtime/records.js';
import { parseJsonBody } from '../http.js';
import type { ServerContext } from './context.js';
import type { Route } from './route.js';

const MAX_ITEMS = 64;

function recommender(ctx: ServerContext, name: string): Recommender {
  const r = ctx.recommending.get(name);
  if (!r) throw new HotpathError('HP_ERR_RECOMMENDER_UNKNOWN', `unknown recommender ${showValue(name)}; recommenders: ${[...ctx.recommending.recommenders.keys()].join(', ') || 'none'}`);
  return r;
}

function invalid(message: string): never {
  throw new HotpathError('HP_ERR_RECOMMEND_INVALID', message);
}

const isId = (v: unknown): v is string | number => (typeof v === 'string' && v.length > 0 && v.length <= 256) || (typeof v === 'number' && Number.isSafeInteger(v));

/** The request body as a RecommendRequest; every wrong field is named. */
export function parseRecommend(r: Recommender, body: unknown, now: number): RecommendRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) invalid('the body must be a JSON object {"user", "k"?, "exclude_seen"?, "category"?, "items"?}');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!['user', 'k', 'exclude_seen', 'category', 'items'].includes(key)) invalid(`unknown field ${showValue(key)}`);
  if (!isId(b.user)) invalid('user must be a non-empty string of at most 256 characters or an integer');
  const k = b.k === undefined ? r.def.k : b.k;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > r.def.maxK)
    throw new HotpathError('HP_ERR_RECOMMEND_K_INVALID', `k must be an integer in [1, ${r.def.maxK}] (max_k of recommender ${r.def.name}), not ${showValue(k)}`);
  if (b.exclude_seen !== undefined && typeof b.exclude_seen !== 'boolean') invalid('exclude_seen must be true or false');
  let category = Number.NaN;
  if (b.category !== undefined && b.category !== null) {
    if (r.def.categoryField < 0) invalid(`recommender ${r.def.name} has no category field; it cannot filter by category`);
    if (!isId(b.category)) invalid('category must be a non-empty string or an integer');
    category = categoryValue(b.category)!;
  }
  const items: number[] = [];
  if (b.items !== undefined) {
    if (!Array.isArray(b.items) || b.items.length > MAX_ITEMS) invalid(`items must be an array of at most ${MAX_ITEMS} item ids`);
    for (let i = 0; i < b.items.length; i++) {
      if (!isId(b.items[i])) invalid(`items[${i}] must be a non-empty string or an integer`);
      items.push(r.itemValue(b.items[i])!);
    }
  }
  return { user: String(b.user), k, excludeSeen: b.exclude_seen !== false, category, items, nowMs: now };
}

/** The answer of POST /v1/recommend/{name}. */
export function recommendText(r: Recommender, req: RecommendRequest, out: Recommendation): string {
  return JSON.stringify({ recommender: r.def.name, user: req.user, items: out.items, fallback: out.fallback });
}

export const recommendRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/recommend/:name',
    scope: 'recommend:{name}',
    body: 'bytes',
    timed: true,
    about: "a user's top k items from a recommender (co-visitation, embeddings, popularity fallback)",
    handle(c, ctx) {
      const r = recommender(ctx, c.params[0]);
      const req = parseRecommend(r, parseJsonBody(c.body), Date.now());
      // answered at once, or after the embedding scan on the thread pool (a large matrix)
      r.recommendAsync(req, (err, out) => {
        if (err) {
          c.fail(toHotpathError(err));
          return;
        }
        c.send(200, recommendText(r, req, out!));
        ctx.metrics.recommendServed(r.def.name, (nowMs() - c.start) / 1000);
      });
    },
  },
  {
    method: 'get',
    path: '/v1/recommenders',
    scope: 'metrics:read',
    body: 'none',
    about: 'the recommenders: items, users, pairs, requests, fallbacks, tap events',
    handle(c, ctx) {
      c.send(200, JSON.stringify({ recommenders: Object.fromEntries([...ctx.recommending.recommenders].map(([n, r]) => [n, r.stats()])) }));
    },
  },
];
