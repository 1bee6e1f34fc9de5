// The route table: every HTTP route hotpath serves, by surface, in mount order, and the
// WebSocket route. `hotpath routes` prints it; test/unit/routes.test.ts checks that every
// route has a scope.
import type uWS from 'uWebSockets.js';

import type { ServerContext } from './context.js';
import { dashboardRoutes, dashboardWsRoute, mountDashboardWs } from './dashboard.js';
import { debugRoutes } from './debug.js';
import { eventRoutes } from './events.js';
import { feastRoutes } from './feast.js';
import { featureRoutes } from './features.js';
import { fallbackRoutes, healthRoutes, metricsRoutes } from './health.js';
import { kserveRoutes } from './kserve.js';
import { learnerRoutes } from './learners.js';
import { experimentRoutes } from './experiments.js';
import { predictRoutes } from './predict.js';
import { recommendRoutes } from './recommend.js';
import { adminRoutes } from './admin.js';
import { alertRoutes } from './alerts.js';
import { banditRoutes } from './bandits.js';
import { repositoryRoutes } from './repository.js';
import { mount, type Route, routeTable } from './route.js';
import { statsRoutes } from './stats.js';
import { mountWs, wsRoute } from './ws.js';

export const ROUTES: readonly Route[] = [
  ...eventRoutes,
  ...featureRoutes,
  ...statsRoutes,
  ...alertRoutes,
  ...predictRoutes,
  ...kserveRoutes,
  ...repositoryRoutes,
  ...adminRoutes,
  ...learnerRoutes,
  ...experimentRoutes,
  ...recommendRoutes,
  ...banditRoutes,
  ...feastRoutes,
  ...metricsRoutes,
  ...healthRoutes,
  ...debugRoutes,
  ...dashboardRoutes,
  ...fallbackRoutes,
];

export const WS_ROUTES = [wsRoute, { ...dashboardWsRoute, frameScopes: [] }] as const;

/**
 * Mounts every route; the answer closes every WebSocket connection (at shutdown) and counts
 * alert subscribers.
 */
export function mountRoutes(app: uWS.TemplatedApp, ctx: ServerContext): { closeAll(): void; subscribers(): number } {
  const ws = mountWs(app, ctx);
  const dashboard = mountDashboardWs(app, ctx, ctx.dashboard);
  mount(app, ROUTES, ctx);
  return {
    subscribers: ws.subscribers,
    closeAll() {
      dashboard.closeAll();
      ws.closeAll();
    },
  };
}

/** The table `hotpath routes` prints: method, path, scope, body limit. */
export function printRoutes(maxBodyBytes: number, wsFrameBytes = maxBodyBytes): string {
  return routeTable(ROUTES, WS_ROUTES.map((w) => ({ path: w.path, scope: w.scope, scopes: w.frameScopes, about: w.about, frameBytes: wsFrameBytes })), maxBodyBytes);
}
