// Triton's model repository extension: list the versions on disk, (re)load a model's
// newest version (or a given one) with no failed request, and unload a model.
import { HotpathError } from '../../errors.js';
import { ModelRegistry } from '../../runtime/registry.js';
import { parseJsonBody } from '../http.js';
import type { Route } from './route.js';

export const repositoryRoutes: Route[] = [
  {
    method: 'post',
    path: '/v2/repository/index',
    scope: 'admin',
    body: 'none',
    errors: 'kserve',
    about: 'every model version in the repository and its state',
    handle(c, ctx) {
      const list = [...ctx.models.entries.values()].flatMap((e) => {
        const all = ModelRegistry.versions(e.def);
        return all.length === 0
          ? [{ name: e.def.name, state: 'UNAVAILABLE', reason: e.error ?? 'no version in the repository' }]
          : all.map((v) => ({ name: e.def.name, version: String(v), state: e.versions.has(v) ? 'READY' : 'UNAVAILABLE', reason: e.versions.has(v) ? '' : 'not loaded' }));
      });
      c.send(200, JSON.stringify(list));
    },
  },
  {
    method: 'post',
    path: '/v2/repository/models/:model/load',
    scope: 'admin',
    body: 'bytes',
    errors: 'kserve',
    about: 'load a model\'s newest version, or {"parameters":{"version":N}}',
    handle(c, ctx) {
      const name = c.params[0];
      ctx.models.get(name);
      let version: number | undefined;
      if (c.body.toString('utf8').trim().length > 0) {
        const p = (parseJsonBody(c.body) as { parameters?: { version?: unknown } })?.parameters?.version;
        if (p !== undefined) {
          // A number, or digits (Triton clients send strings); nothing else is converted,
          // as Number() of an array nested thousands deep overflows the stack.
          version = typeof p === 'number' ? p : typeof p === 'string' && /^[0-9]{1,15}$/.test(p) ? Number(p) : NaN;
          if (!Number.isInteger(version) || version < 1) throw new HotpathError('HP_ERR_QUERY_INVALID', 'parameters.version must be a positive integer');
        }
      }
      ctx.models.reload(name, version).then(
        () => c.send(200, '{}'),
        (err) => c.fail(err),
      );
    },
  },
  {
    method: 'post',
    path: '/v2/repository/models/:model/unload',
    scope: 'admin',
    body: 'bytes',
    errors: 'kserve',
    about: 'unload a model: it drains, then answers not ready (or its fallback) until a load',
    handle(c, ctx) {
      ctx.models.unload(c.params[0]).then(
        () => c.send(200, '{}'),
        (err) => c.fail(err),
      );
    },
  },
];
