// Liveness, readiness, Prometheus metrics, and the catch-all that answers unknown routes.
// Liveness is true while the process serves HTTP; readiness (notReady below) is false while
// the server cannot serve: starting (restoring, replaying, loading) or draining, a model not
// loaded in a live worker, every model's circuit breaker open, or (with
// ingest.redis_streams.ready_without_redis: false) the shared log's Redis unreachable.
import { HotpathError } from '../../errors.js';
import { nowMs } from '../../runtime/records.js';
import type { ModelRegistry } from '../../runtime/registry.js';
import type { ServerContext } from './context.js';
import { notFound, type Route } from './route.js';

/**
 * The models whose breakers are all open at `now`, when every model has a breaker and all
 * of them are open; null otherwise. A model without a breaker always runs its requests, so
 * the server can still serve; a breaker past open_for lets probes through (Breaker.isOpen).
 */
export function allBreakersOpen(models: ModelRegistry, now: number): string[] | null {
  const names: string[] = [];
  for (const e of models.entries.values()) {
    if (!e.breaker?.isOpen(now)) return null;
    names.push(e.def.name);
  }
  return names.length > 0 ? names : null;
}

/** Why the server cannot serve now, or null when it can (GET /readyz, GET /v2/health/ready). */
export function notReady(ctx: ServerContext, now = nowMs()): string | null {
  if (!ctx.ready) return ctx.phase === 'draining' ? 'draining: shutting down' : 'starting: restoring state, replaying the log, loading models';
  const { models } = ctx;
  const waiting = [...models.entries.values()].filter((e) => !e.unloaded && !models.ready(e)).map((e) => e.def.name);
  if (waiting.length > 0) return `models not ready: ${waiting.join(', ')}`;
  const open = allBreakersOpen(models, now);
  if (open) return `every circuit breaker is open: ${open.join(', ')}`;
  if (ctx.sharedLog && !ctx.sharedLog.connected && ctx.config.ingest.redisStreams?.readyWithoutRedis === false)
    return "the shared log's Redis is not reachable (ingest.redis_streams.ready_without_redis: false)";
  return null;
}

export const healthRoutes: Route[] = [
  {
    method: 'get',
    path: '/healthz',
    scope: 'open',
    body: 'none',
    about: 'liveness',
    handle: (c) => c.send(200, '{"status":"ok"}'),
  },
  {
    // Ready: started, every model has a version loaded in a live worker (a worker that died
    // makes the server unready until its replacement has loaded the models), and not every
    // circuit breaker is open.
    method: 'get',
    path: '/readyz',
    scope: 'open',
    body: 'none',
    about: 'readiness: started, every model loaded, not every breaker open',
    handle(c, ctx) {
      const why = notReady(ctx);
      if (why === null) c.send(200, '{"status":"ready"}');
      else c.fail(new HotpathError('HP_ERR_NOT_READY', why));
    },
  },
];

export const metricsRoutes: Route[] = [
  {
    method: 'get',
    path: '/metrics',
    scope: 'metrics:read', // open to anyone with auth.metrics: open
    body: 'none',
    later: true,
    about: 'Prometheus metrics',
    handle(c, ctx) {
      ctx.metrics.text().then(
        (text) => c.send(200, text, { contentType: ctx.metrics.contentType }),
        (err) => c.fail(err),
      );
    },
  },
];

/** Mounted last: uWS tries it only when no other pattern matches. */
export const fallbackRoutes: Route[] = [
  {
    method: 'any',
    path: '/*',
    scope: 'open',
    body: 'none',
    about: 'anything else: HP_ERR_ROUTE_NOT_FOUND',
    handle(c) {
      const err = notFound(c.method, c.url);
      // An answer to HEAD has no body (RFC 9110 9.3.2): its client reads none, so a body
      // would be taken for the start of the next answer on the connection. uWS routes HEAD
      // here (no GET route answers it) and writes whatever body it is given.
      if (c.method === 'head') c.send(err.status, '');
      else c.fail(err);
    },
  },
];
