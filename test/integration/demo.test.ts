// The shipped config with --demo: live features for the demo ids a README reader curls.
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfigFile } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';

let server: Server;
beforeAll(async () => {
  const config = loadConfigFile(fileURLToPath(new URL('../../hotpath.yaml', import.meta.url)));
  // Faster than the shipped rate, so that 600 ms give every merchant many users.
  config.demo = { ...config.demo!, rate: 2000, ids: 1000 };
  server = await startServer({ config, port: 0, host: '127.0.0.1', demo: true, log: () => {} });
});
afterAll(async () => server.close());

describe('demo generator', () => {
  it('feeds user-N and merchant-N ids, distinct users per merchant, and scores every transaction', async () => {
    const get = async (p: string) => (await fetch(`http://127.0.0.1:${server.port}${p}`)).json();
    const scored = async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      return Number(/hotpath_model_requests_total\{model="fraud",outcome="success",reason=""\} (\d+)/.exec(metrics)?.[1] ?? 0);
    };
    // Poll (a loaded CI box runs the generator late): every condition must hold within 10 s.
    const deadline = Date.now() + 10_000;
    let merchant: { found: boolean; freshness_ms: number; features: { users_1h: number } } | undefined;
    for (;;) {
      const stats = await get('/v1/stats');
      merchant = await get('/v1/features/merchant/merchant-1?features=txn_count_1h,users_1h');
      // more distinct users than there are demo countries or channels: the key was not overwritten
      if (stats.entities.user.live > 100 && merchant!.found && merchant!.features.users_1h > 15 && (await scored()) > 100) break;
      if (Date.now() > deadline) throw new Error(`demo too slow: ${JSON.stringify({ live: stats.entities.user.live, merchant, scored: await scored() })}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(merchant!.freshness_ms).toBeLessThan(5_000);
  });
});
