// What each layer of src/ may import (docs/architecture.md, "Folders and what each may
// import"): a file that reaches into a layer above its own fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Layer of a src/ path: its first folder, or the file name for top-level files. */
const layerOf = (path: string) => relative(SRC, path).split('/')[0].replace(/\.ts$/, '');

const MAY_IMPORT: Record<string, string[]> = {
  errors: [],
  'state-parts': [],
  native: ['errors'],
  config: ['native', 'errors'],
  ingest: ['native', 'config', 'errors'],
  runtime: ['native', 'config', 'errors'],
  learn: ['state-parts', 'ingest', 'runtime', 'native', 'config', 'errors'],
  durability: ['ingest', 'native', 'config', 'errors'],
  redis: ['ingest', 'native', 'config', 'errors'], // the shared ingest log on Redis Streams (docs/redis.md)
  alerts: ['config', 'errors'],
  experiments: ['ingest', 'native', 'config', 'errors', 'bench/random'],
  recommend: ['state-parts', 'ingest', 'native', 'config', 'errors'],
  bandits: ['state-parts', 'ingest', 'runtime', 'native', 'config', 'errors'],
  scaling: ['config'], // the request-rate forecast: config types only
  cache: ['ingest', 'native', 'config', 'errors'], // the L1 answer caches and their invalidation tap
  server: ['cache', 'scaling', 'experiments', 'bandits', 'alerts', 'learn', 'recommend', 'durability', 'redis', 'ingest', 'runtime', 'native', 'config', 'errors'],
  bench: ['config', 'errors', 'server/ws-protocol'],
  cli: ['server', 'bench', 'learn', 'recommend', 'eval', 'redis', 'ingest', 'config', 'native', 'errors'],
  eval: ['learn', 'native', 'errors'], // offline evaluation (NAB): the server never imports it
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

describe('layers', () => {
  it('import only the layers below them', () => {
    const bad: string[] = [];
    for (const f of files(SRC)) {
      const from = layerOf(f);
      const allowed = MAY_IMPORT[from];
      expect(allowed, `no rule for layer '${from}' (${f})`).toBeDefined();
      for (const m of readFileSync(f, 'utf8').matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
        const target = resolve(f, '..', m[1]).replace(/\.js$/, '.ts');
        const to = layerOf(target);
        if (to === from) continue;
        const sub = relative(SRC, target).replace(/\.ts$/, '');
        if (!allowed.includes(to) && !allowed.includes(sub)) bad.push(`${relative(SRC, f)} imports ${sub}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
