// Administration: a snapshot on demand. (Model load and unload are the repository
// extension's, repository.ts.) Every route here needs the `admin` scope.
import { HotpathError } from '../../errors.js';
import type { Route } from './route.js';

export const adminRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/admin/snapshot',
    scope: 'admin',
    body: 'bytes',
    about: 'take a snapshot now (the log before the oldest kept one is then deleted)',
    handle(c, ctx) {
      const d = ctx.durability;
      if (!d) throw new HotpathError('HP_ERR_DURABILITY_OFF', 'the server has no data directory (durability.data_dir or --data-dir): nothing to snapshot');
      d.snapshot().then(
        (info) => c.send(200, JSON.stringify({ seq: info.seq, path: info.path, bytes: info.bytes, ms: Math.round(info.ms * 10) / 10, store: info.parts.store ?? {} })),
        (err) => c.fail(err),
      );
    },
  },
];
