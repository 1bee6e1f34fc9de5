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
    await new Promise((r) => setTimeout(r, 600));
    const get = async (p: string) => (await fetch(`http://127.0.0.1:${server.port}${p}`)).json();
    const stats = await get('/v1/stats');
    expect(stats.entities.user.live).toBeGreaterThan(100);
    const merchant = await get('/v1/features/merchant/merchant-1?features=txn_count_1h,users_1h');
    expect(merchant.found).toBe(true);
    expect(merchant.freshness_ms).toBeLessThan(5_000);
    // more distinct users than there are demo countries or channels: the key was not overwritten
    expect(merchant.features.users_1h).toBeGreaterThan(15);
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    const scored = Number(/hotpath_model_requests_total\{model="fraud",outcome="success",reason=""\} (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(scored).toBeGreaterThan(100);
  });
});
