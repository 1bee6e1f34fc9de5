// What HardeningPolicy.admit costs per feature read, in ns, for the configurations a server
// may run: the numbers the auth A/B's ratio comes from, without the noise of a shared
// machine's throughput. It runs inside a real uWS request handler, with uWS's own req and
// res (getHeader copies the header into a new string; getRemoteAddress makes a new
// ArrayBuffer after a getpeername system call), calling admit N times per configuration,
// five rounds; it prints the fastest round of each (the least disturbed on a shared
// machine) and every round. One request from fetch.
//   npx tsx bench/tools/policy-micro.ts
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import uWS from 'uWebSockets.js';

import { loadConfigText } from '../../src/config/load.js';
import { ROUTES } from '../../src/server/routes/index.js';
import { CoarseClock } from '../../src/server/security/buckets.js';
import { HardeningPolicy } from '../../src/server/security/policy.js';

const key = `hp_${randomBytes(32).toString('base64url')}`;
const dir = mkdtempSync(join(tmpdir(), 'hotpath-policy-micro-'));
writeFileSync(join(dir, 'keys.yaml'), `- { name: bench, sha256: ${createHash('sha256').update(key).digest('hex')}, scopes: [features:read] }\n`);
const STORE = 'streams:\n  tx: { keys: { user: uid } }\nentities:\n  user: { features: { n: { agg: count, window: 1h } } }\n';
const never = '{ rate: 1000000000, burst: 1000000000 }';
const CONFIGS: Record<string, string> = {
  'auth (API key), cache on': 'auth: { keys_file: keys.yaml }\n',
  'auth (API key), cache_size: 0 (SHA-256 each time)': 'auth: { keys_file: keys.yaml, cache_size: 0 }\n',
  'rate limits per address, auth off': `limits: { rate: { per_address: { features: ${never} } } }\n`,
  'B: auth + buckets per credential and address': `auth: { keys_file: keys.yaml }\nlimits: { rate: { per_address: { features: ${never} }, per_credential: { features: ${never} } } }\n`,
  'C: B + per_address_authenticated': `auth: { keys_file: keys.yaml }\nlimits: { rate: { per_address: { features: ${never} }, per_credential: { features: ${never} }, per_address_authenticated: true } }\n`,
};
const route = ROUTES.find((r) => r.path === '/v1/features/:entity/:id')!;
const observer = { authRefused() {}, rateLimited() {} };
const clock = new CoarseClock();
const policies = Object.entries(CONFIGS).map(([name, yaml]) => [name, new HardeningPolicy(loadConfigText(STORE + yaml, { baseDir: dir }), observer, clock)] as const);
const N = 200_000;
const ROUNDS = 5;
const lines: string[] = [];
const best = new Map<string, number>();

const app = uWS.App();
app.get('/v1/features/:entity/:id', (res, req) => {
  const params = [req.getParameter(0) ?? '', req.getParameter(1) ?? ''];
  let sink = 0;
  const floor = () => {
    const t = performance.now();
    for (let i = 0; i < N; i++) sink += params.length;
    return ((performance.now() - t) * 1e6) / N;
  };
  for (let round = 0; round < ROUNDS; round++) {
    lines.push(`round ${round + 1}: loop alone ${floor().toFixed(0)} ns`);
    for (const [name, policy] of policies) {
      const n = name.includes('cache_size: 0') || name.includes('address') ? N / 4 : N;
      for (let i = 0; i < 1000; i++) policy.admit(route, req, params, res); // warm up, fill the cache
      const t = performance.now();
      for (let i = 0; i < n; i++) if (policy.admit(route, req, params, res) === undefined) sink++;
      const ns = ((performance.now() - t) * 1e6) / n;
      best.set(name, Math.min(best.get(name) ?? Infinity, ns));
      lines.push(`  ${name.padEnd(50)} ${ns.toFixed(0)} ns per request`);
    }
  }
  res.end(String(sink));
});
app.listen('127.0.0.1', 0, async (sock) => {
  if (!sock) throw new Error('cannot listen');
  await (await fetch(`http://127.0.0.1:${uWS.us_socket_local_port(sock)}/v1/features/user/user-1`, { headers: { authorization: `Bearer ${key}` } })).text();
  console.log(lines.join('\n'));
  console.log(`fastest of ${ROUNDS} rounds, ns per request:`);
  for (const [name, ns] of best) console.log(`  ${name.padEnd(50)} ${ns.toFixed(0)}`);
  uWS.us_listen_socket_close(sock);
  clock.close();
});
