// Liveness, readiness, Prometheus metrics, and the catch-all that answers unknown routes.
import { HotpathError } from '../../errors.js';
import { notFound, type Route } from './route.js';

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
    // Ready: started, and every model has a version loaded in a live worker (a worker that
    // died makes the server unready until its replacement has loaded the models).
    method: 'get',
    path: '/readyz',
    scope: 'open',
    body: 'none',
    about: 'readiness: started and every model loaded',
    handle(c, ctx) {
      const { models } = ctx;
      const waiting = [...models.entries.values()].filter((e) => !models.ready(e)).map((e) => e.def.name);
      if (ctx.ready && waiting.length === 0) c.send(200, '{"status":"ready"}');
      else c.fail(new HotpathError('HP_ERR_NOT_READY', ctx.ready ? `models not ready: ${waiting.join(', ')}` : 'starting or shutting down'));
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
