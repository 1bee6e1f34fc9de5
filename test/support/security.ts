// A server with auth for the security tests: API keys for a fixed set of scope lists (made
// fresh for each server and stored as SHA-256 hashes in a keys file), an HS256 secret in an
// environment variable, and RS256 and ES256 public keys in a JWK Set file; and the clients
// that present them (HTTP with fetch, WebSocket with ws).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import WebSocket from 'ws';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer, type ServerOptions } from '../../src/server/app.js';
import { FRAUD_INPUTS, FRAUD_V1, makeRepo, RULES_V1, STORE_YAML } from './inference-server.js';

/** The scope lists a key is made for. */
export const KEY_SCOPES = {
  events: ['events:write'],
  features: ['features:read'],
  fraud: ['predict:fraud'],
  rules: ['predict:fraud_rules'],
  predictAll: ['predict:*'],
  metrics: ['metrics:read'],
  alerts: ['alerts:read'],
  admin: ['admin'],
  /** every scope but admin */
  notAdmin: ['events:write', 'features:read', 'predict:*', 'metrics:read', 'alerts:read'],
} as const;
export type KeyName = keyof typeof KEY_SCOPES;

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'hotpath-test';
export const SECRET = randomBytes(32).toString('base64url');

export interface Secured {
  server: Server;
  base: string;
  dir: string;
  keys: Record<KeyName, string>;
  /** a JWT for these scopes; alg HS256 unless given */
  token(scopes: readonly string[], o?: TokenOptions): Promise<string>;
}

export interface TokenOptions {
  alg?: 'HS256' | 'RS256' | 'ES256';
  /** seconds from now (negative: in the past); default 3600 */
  exp?: number | null;
  nbf?: number;
  iss?: string;
  aud?: string;
  sub?: string;
  /** sign with a key the server does not know */
  foreign?: boolean;
}

export const MODELS_YAML = `
models:
  fraud:
    repository: fraud
    inputs: ${FRAUD_INPUTS}
    timeout: 5s
  fraud_rules:
    repository: fraud_rules
    inputs: ${FRAUD_INPUTS}
    timeout: 5s
`;

type Pair = Awaited<ReturnType<typeof generateKeyPair>>;
let pairs: { RS256: Pair; ES256: Pair; foreignRS: Pair } | undefined;

async function keyPairs() {
  pairs ??= { RS256: await generateKeyPair('RS256'), ES256: await generateKeyPair('ES256'), foreignRS: await generateKeyPair('RS256') };
  return pairs;
}

export const sha256 = (k: string) => createHash('sha256').update(k).digest('hex');

export function writeKeys(dir: string, keys: Record<string, string>, scopes: Record<string, readonly string[]> = KEY_SCOPES): string {
  const path = join(dir, 'keys.yaml');
  writeFileSync(path, `keys:\n${Object.entries(keys).map(([name, k]) => `  - { name: ${name}, sha256: ${sha256(k)}, scopes: [${scopes[name].join(', ')}] }`).join('\n')}\n`);
  return path;
}

/**
 * Starts the server: models fraud and fraud_rules, auth with the keys file, the secret and
 * the JWK Set, plus `auth` keys (indented 2) and `extra` top-level YAML.
 */
export async function startSecured(o: { auth?: string; algorithms?: string; extra?: string; server?: Partial<ServerOptions> } = {}): Promise<Secured> {
  const dir = makeRepo({ fraud: { 1: FRAUD_V1 }, fraud_rules: { 1: RULES_V1 } });
  const keys = Object.fromEntries(Object.keys(KEY_SCOPES).map((n) => [n, `hp_${randomBytes(24).toString('base64url')}`])) as Record<KeyName, string>;
  writeKeys(dir, keys);
  const p = await keyPairs();
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(p.RS256.publicKey)), kid: 'rs', alg: 'RS256' }, { ...(await exportJWK(p.ES256.publicKey)), kid: 'es', alg: 'ES256' }] }));
  const yaml = `
server: { workers: 1 }
${STORE_YAML}
${MODELS_YAML}
auth:
  keys_file: keys.yaml
  jwt:
    secret_env: TEST_JWT_SECRET
    jwks_file: jwks.json
    algorithms: ${o.algorithms ?? '[HS256, RS256, ES256]'}
    issuer: ${ISSUER}
    audience: ${AUDIENCE}
${o.auth ?? ''}
${o.extra ?? ''}`;
  const config = loadConfigText(yaml, { baseDir: dir, env: { TEST_JWT_SECRET: SECRET } });
  const server = await startServer({ config, port: 0, host: '127.0.0.1', log: () => {}, ...o.server });
  return {
    server,
    base: `${server.scheme}://127.0.0.1:${server.port}`,
    dir,
    keys,
    token: (scopes, t = {}) => mint(scopes, t),
  };
}

export async function mint(scopes: readonly string[], t: TokenOptions = {}): Promise<string> {
  const p = await keyPairs();
  const alg = t.alg ?? 'HS256';
  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = { scope: scopes.join(' ') };
  if (t.nbf !== undefined) claims.nbf = now + t.nbf;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg, ...(alg === 'HS256' ? {} : { kid: alg === 'RS256' ? 'rs' : 'es' }) })
    .setIssuer(t.iss ?? ISSUER)
    .setAudience(t.aud ?? AUDIENCE)
    .setSubject(t.sub ?? 'tester')
    .setIssuedAt();
  if (t.exp !== null) jwt.setExpirationTime(now + (t.exp ?? 3600));
  if (t.foreign) return jwt.sign(alg === 'HS256' ? Buffer.from(randomBytes(32)) : p.foreignRS.privateKey);
  return jwt.sign(alg === 'HS256' ? Buffer.from(SECRET) : alg === 'RS256' ? p.RS256.privateKey : p.ES256.privateKey);
}

/** status and code (or the KServe message) of an answer */
export async function call(base: string, method: string, path: string, cred?: string, body?: string, header = 'authorization') {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (cred !== undefined) headers[header] = header === 'authorization' ? `Bearer ${cred}` : cred;
  const r = await fetch(base + path, { method, headers, body });
  const text = await r.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, code: json?.error?.code as string | undefined, json, text, headers: r.headers };
}

/** Opens /v1/ws: resolves with the socket, or with the HTTP status that refused the upgrade. */
export function openWs(base: string, o: { auth?: string; protocols?: string[]; ca?: Buffer } = {}): Promise<WebSocket | number> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/ws`, o.protocols ?? [], {
    headers: o.auth ? { authorization: `Bearer ${o.auth}` } : {},
    ...(o.ca ? { ca: o.ca } : {}),
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** Sends a frame and resolves with the next answer (text frames parsed as JSON). */
export function ask(ws: WebSocket, frame: string | Uint8Array): Promise<any> {
  return new Promise((resolve) => {
    ws.once('message', (d, isBinary) => resolve(isBinary ? d : JSON.parse(d.toString())));
    ws.send(frame);
  });
}

export const tmp = () => mkdtempSync(join(tmpdir(), 'hotpath-sec-'));
