// GET /dashboard: the live dashboard (docs/dashboard.md), a static page served from the
// package's dashboard/ folder and uPlot's dist files (node_modules/uplot), read once at the
// first request and kept in memory; and WebSocket /dashboard/ws, which subscribes the page
// to the topic "dashboard" as it opens: one JSON snapshot a second (src/server/dashboard.ts).
//
// Scope `admin`, or open with auth.dashboard: open. A browser cannot put a header on a page
// load, a <script src> or a WebSocket, so these routes (and only these: Route.dashboard)
// also take the credential from the query, `?key=<API key or token>`: the page is opened
// as /dashboard?key=..., its asset URLs carry the same query, and its script passes it to
// the WebSocket.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import uWS from 'uWebSockets.js';

import { HotpathError } from '../../errors.js';
import { inSea, seaFile } from '../../native/sea.js';
import { DASHBOARD_TOPIC, type DashboardFeed } from '../dashboard.js';
import { sendError } from '../http.js';
import { addressKey } from '../security/buckets.js';
import type { ServerContext } from './context.js';
import { type Admitted, OPEN_POLICY, type Route, type RouteInfo } from './route.js';

/**
 * The page's own files (the package's dashboard/ folder) and uPlot's, by the name the page
 * asks for; inside the single executable, its assets `dashboard-<name>` (scripts/build-sea.mjs).
 */
const DIR = fileURLToPath(new URL('../../../dashboard/', import.meta.url));
const require = createRequire(import.meta.url);
const ASSETS: Record<string, { path: () => string; type: string }> = {
  'index.html': { path: () => `${DIR}index.html`, type: 'text/html; charset=utf-8' },
  'dashboard.js': { path: () => `${DIR}dashboard.js`, type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { path: () => `${DIR}dashboard.css`, type: 'text/css; charset=utf-8' },
  'uPlot.iife.min.js': { path: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { path: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const files = new Map<string, string>();
/** A file's text, read once (the package does not change under a running server). */
function asset(name: string): string {
  let text = files.get(name);
  if (text === undefined) {
    text = readFileSync(inSea() ? seaFile(`dashboard-${name}`) : ASSETS[name].path(), 'utf8');
    files.set(name, text);
  }
  return text;
}

/** The `key` query parameter, URL-encoded again for the page's own URLs ('' without one). */
function keyQuery(query: string): string {
  if (query === '') return '';
  const key = new URLSearchParams(query).get('key');
  return key ? `?key=${encodeURIComponent(key)}` : '';
}

// The page may be reloaded at any time and the assets change only with the package: the
// page is revalidated each time, the assets are cached for an hour.
const PAGE_HEADERS: [string, string][] = [['cache-control', 'no-cache'], ['x-content-type-options', 'nosniff']];
const ASSET_HEADERS: [string, string][] = [['cache-control', 'private, max-age=3600'], ['x-content-type-options', 'nosniff']];

export const dashboardRoutes: Route[] = [
  {
    method: 'get',
    path: '/dashboard',
    scope: 'admin',
    dashboard: true,
    body: 'none',
    about: 'the live dashboard (auth.dashboard: open makes it open; ?key= carries a credential)',
    handle(c) {
      // encodeURIComponent leaves no quote or angle bracket: the key is safe in the attributes.
      c.send(200, asset('index.html').replaceAll('{{query}}', keyQuery(c.query)), { contentType: ASSETS['index.html'].type, headers: PAGE_HEADERS });
    },
  },
  {
    method: 'get',
    path: '/dashboard/:file',
    scope: 'admin',
    dashboard: true,
    body: 'none',
    about: "the dashboard's scripts and styles (its own and uPlot's)",
    handle(c) {
      const name = c.params[0];
      if (name === 'index.html' || !Object.hasOwn(ASSETS, name)) throw new HotpathError('HP_ERR_ROUTE_NOT_FOUND', `no dashboard file ${JSON.stringify(name.slice(0, 64))}`);
      c.send(200, asset(name), { contentType: ASSETS[name].type, headers: ASSET_HEADERS });
    },
  },
];

/** The dashboard's WebSocket as the route table lists it. */
export const dashboardWsRoute = {
  method: 'get',
  path: '/dashboard/ws',
  scope: 'admin',
  dashboard: true,
  body: 'none',
  about: 'WebSocket: the dashboard\'s snapshots, one a second (sends nothing; ?key= carries a credential)',
} satisfies RouteInfo & { body: 'none'; about: string };

interface Page {
  address: number | string;
  closed: boolean;
}

/**
 * Mounts /dashboard/ws on one app: each connection is subscribed to the topic as it opens
 * and counted by the feed, whose timer runs while any page is open. closeAll() ends them.
 */
export function mountDashboardWs(app: uWS.TemplatedApp, ctx: ServerContext, feed: DashboardFeed): { closeAll(): void } {
  const { log, config } = ctx;
  const open = new Set<uWS.WebSocket<Page>>();
  const removePublisher = feed.addPublisher((json) => app.publish(DASHBOARD_TOPIC, json, false));
  app.ws<Page>(dashboardWsRoute.path, {
    compression: uWS.DISABLED,
    maxPayloadLength: 1024, // the page sends nothing
    idleTimeout: 120,
    sendPingsAutomatically: true,
    // A page that does not read is skipped by publish past this (about 20 snapshots).
    maxBackpressure: 256 * 1024,
    upgrade: (res, req, context) => {
      if (ctx.phase !== 'serving') {
        const e = new HotpathError('HP_ERR_NOT_READY', ctx.phase === 'starting' ? 'the server is starting' : 'the server is shutting down');
        return sendError(res, e, log);
      }
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const address = addressKey(res.getRemoteAddress());
      if (ctx.connections.count(address) >= config.limits.wsConnectionsPerAddress)
        return sendError(res, new HotpathError('HP_ERR_CONNECTIONS_LIMITED', `this client address has ${config.limits.wsConnectionsPerAddress} WebSocket connections open (limits.ws_connections_per_address)`, { retry_after_s: 1 }), log);
      let admitted: Admitted | void;
      if (ctx.policy !== OPEN_POLICY) {
        try {
          admitted = ctx.policy.admit(dashboardWsRoute, req, [], res);
        } catch (err) {
          return sendError(res, err, log);
        }
      }
      const accept = (corked: boolean): void => {
        if (!ctx.connections.add(address)) return;
        const page: Page = { address, closed: false };
        if (corked) res.upgrade<Page>(page, key, protocol, extensions, context);
        else res.cork(() => res.upgrade<Page>(page, key, protocol, extensions, context));
      };
      if (!(admitted instanceof Promise)) return accept(true);
      res.onAborted(() => (res.aborted = true));
      admitted.then(
        () => res.aborted || accept(false),
        (err) => sendError(res, err, log),
      );
    },
    open: (ws) => {
      open.add(ws);
      ws.subscribe(DASHBOARD_TOPIC);
      feed.subscribed();
    },
    close: (ws) => {
      open.delete(ws);
      const page = ws.getUserData();
      page.closed = true;
      ctx.connections.remove(page.address);
      feed.unsubscribed();
    },
  });
  return {
    closeAll() {
      removePublisher();
      for (const ws of [...open]) {
        if (ws.getUserData().closed) continue;
        ws.getUserData().closed = true;
        ws.end(1001, 'the server is shutting down');
      }
    },
  };
}
