// The route table: every route declares a scope, the table covers what the server mounts,
// and `hotpath routes` prints it.
import { describe, expect, it } from 'vitest';

import { printRoutes, ROUTES, WS_ROUTES } from '../../src/server/routes/index.js';
import { SCOPES, scopeFor } from '../../src/server/routes/route.js';

describe('route table', () => {
  it('gives every route a scope, a body kind and a description', () => {
    for (const r of [...ROUTES, ...WS_ROUTES]) {
      expect(SCOPES, `${r.method} ${r.path}`).toContain(r.scope);
      expect(['none', 'bytes'], `${r.method} ${r.path}`).toContain(r.body);
      expect(r.about.length, `${r.method} ${r.path}`).toBeGreaterThan(0);
    }
    for (const w of WS_ROUTES) for (const s of w.frameScopes) expect(SCOPES).toContain(s);
  });

  it('declares each method and path once, and the catch-all last', () => {
    const keys = ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.at(-1)).toBe('any /*');
  });

  it('keeps writes and admin routes off the open scope', () => {
    const scope = (method: string, path: string) => ROUTES.find((r) => r.method === method && r.path === path)?.scope;
    expect(scope('post', '/v1/events')).toBe('events:write');
    expect(scope('get', '/v1/features/:entity/:id')).toBe('features:read');
    expect(scope('post', '/v1/predict/:model')).toBe('predict:{model}');
    expect(scope('post', '/v2/repository/models/:model/load')).toBe('admin');
    expect(scope('get', '/metrics')).toBe('metrics:read');
    expect(scope('get', '/v1/stats')).toBe('admin');
    expect(scope('get', '/v1/alerts')).toBe('alerts:read');
    expect(scope('get', '/healthz')).toBe('open');
    for (const r of ROUTES) if (r.method === 'post' && r.path !== '/v2/repository/index') expect(r.scope, r.path).not.toBe('open');
  });

  it('resolves predict:{model} with the model in the path', () => {
    const predict = ROUTES.find((r) => r.path === '/v1/predict/:model')!;
    expect(scopeFor(predict, ['fraud'])).toBe('predict:fraud');
    expect(scopeFor(ROUTES.find((r) => r.path === '/v1/events')!, [])).toBe('events:write');
  });

  it('prints method, path, scope and limit', () => {
    const text = printRoutes(65536);
    expect(text.split('\n')[0]).toMatch(/^METHOD\s+PATH\s+SCOPE\s+BODY LIMIT\s+WHAT$/);
    expect(text).toMatch(/POST\s+\/v1\/events\s+events:write\s+65536 B/);
    expect(text).toMatch(/GET\s+\/v1\/features\/:entity\/:id\s+features:read\s+-/);
    expect(text).toMatch(/WS\s+\/v1\/ws\s+events:write, predict:\{model\}, alerts:read \(per frame\)/);
    expect(text.trim().split('\n')).toHaveLength(ROUTES.length + WS_ROUTES.length + 1);
  });
});
