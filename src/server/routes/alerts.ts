// GET /v1/alerts: the recent alerts (alerts.keep of them), oldest first. A poller passes the
// `next` of its previous answer as `since`; WebSocket subscribers get the same alerts as
// they are raised (ws.ts, topic "alerts"). docs/api.md and docs/alerts.md.
import { HotpathError } from '../../errors.js';
import type { Route } from './route.js';

/** `limit` when the query gives none, and the most it may ask for. */
export const ALERTS_PAGE = 100;
export const ALERTS_PAGE_MAX = 10_000;

export const alertRoutes: Route[] = [
  {
    method: 'get',
    path: '/v1/alerts',
    scope: 'alerts:read',
    body: 'none',
    about: 'recent alerts (?since=<id>&limit=n)',
    handle(c, ctx) {
      const q = c.query.length > 0 ? new URLSearchParams(c.query) : undefined;
      const since = integer(q?.get('since'), 'since', 0, Number.MAX_SAFE_INTEGER);
      const limit = integer(q?.get('limit'), 'limit', 1, ALERTS_PAGE_MAX) ?? ALERTS_PAGE;
      const page = ctx.alerts.recent(since, limit);
      // The alerts' JSON was made once when they were raised: the answer is joined, not re-encoded.
      c.send(200, `{"alerts":[${page.json.join(',')}],"next":${page.next},"missed":${page.missed}}`);
    },
  },
];

function integer(raw: string | null | undefined, name: string, min: number, max: number): number | undefined {
  if (raw === null || raw === undefined) return undefined;
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) throw new HotpathError('HP_ERR_QUERY_INVALID', `\`${name}\` must be an integer from ${min} to ${max}, got ${JSON.stringify(raw.slice(0, 32))}`);
  return n;
}
