// One process, no HTTP: what HardeningPolicy.admit costs per feature read, in ns, for the
// configurations a server may run (the numbers the auth A/B's ratio comes from, without the
// noise of a shared machine). The request and response are stand-ins that do what uWS's
// do for the policy: getHeader returns a fresh string (uWS copies the header into a new
// JS string), getRemoteAddress a fresh 4-byte ArrayBuffer.
//   npx tsx bench/tools/policy-micro.ts
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type uWS from 'uWebSockets.js';

import { loadConfigText } from '../../src/config/load.js';
import type { Res } from '../../src/server/http.js';
import { ROUTES } from '../../src/server/routes/index.js';
import { HardeningPolicy } from '../../src/server/security/policy.js';

const key = `hp_${randomBytes(32).toString('base64url')}`;
const dir = mkdtempSync(join(tmpdir(), 'hotpath-policy-micro-'));
writeFileSync(join(dir, 'keys.yaml'), `- { name: bench, sha256: ${createHash('sha256').update(key).digest('hex')}, scopes: [features:read] }\n`);
const STORE = 'streams:\n  tx: { keys: { user: uid } }\nentities:\n  user: { features: { n: { agg: count, window: 1h } } }\n';
const never = '{ rate: 1000000000, burst: 1000000000 }';
const CONFIGS: Record<string, string> = {
  'auth (API key), cache on': 'auth: { keys_file: keys.yaml }\n',
  'auth (API key), cache off (SHA-256 each time)': 'auth: { keys_file: keys.yaml, cache_size: 0 }\n',
  'rate limits per address, auth off': `limits: { rate: { per_address: { features: ${never} } } }\n`,
  'auth + limits per address and credential (B)': `auth: { keys_file: keys.yaml }\nlimits: { rate: { per_address: { features: ${never} }, per_credential: { features: ${never} } } }\n`,
  '(B) + per_address_authenticated (C)': `auth: { keys_file: keys.yaml }\nlimits: { rate: { per_address: { features: ${never} }, per_credential: { features: ${never} }, per_address_authenticated: true } }\n`,
};

const header = Buffer.from(`Bearer ${key}`);
const req = { getHeader: (name: string) => (name === 'authorization' ? header.latin1Slice(0, header.length) : '') } as unknown as uWS.HttpRequest;
const res = { getRemoteAddress: () => new Uint8Array([127, 0, 0, 1]).buffer } as unknown as Res;
const route = ROUTES.find((r) => r.path === '/v1/features/:entity/:id')!;
const params = ['user', 'user-1'];
const observer = { authRefused() {}, rateLimited() {} };
const N = 2_000_000;

// The stand-ins' own cost (a fresh header string and address buffer), to subtract.
const t0 = performance.now();
let sink = 0;
for (let i = 0; i < N; i++) sink += req.getHeader('authorization').length + res.getRemoteAddress().byteLength;
const baseNs = ((performance.now() - t0) * 1e6) / N;
console.log(`stand-ins alone: ${baseNs.toFixed(0)} ns per request (not subtracted below; uWS pays it too)`);

for (let round = 0; round < 2; round++) {
  for (const [name, yaml] of Object.entries(CONFIGS)) {
    const policy = new HardeningPolicy(loadConfigText(STORE + yaml, { baseDir: dir }), observer);
    for (let i = 0; i < 100_000; i++) policy.admit(route, req, params, res); // warm up, fill the cache
    const n = name.includes('cache off') ? N / 10 : N;
    const t = performance.now();
    for (let i = 0; i < n; i++) if (policy.admit(route, req, params, res) === undefined) sink++;
    console.log(`${name.padEnd(46)} ${(((performance.now() - t) * 1e6) / n).toFixed(0)} ns per request`);
  }
}
if (sink < 0) console.log(sink);
