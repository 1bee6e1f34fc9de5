// The hardening sections of hotpath.yaml: `auth` (API keys and JWT), `tls` and `limits`.
// Credentials are read here, from the files and environment variables the config names
// (never from the YAML itself), so a missing or malformed keys file, JWKS or secret is a
// config error with the path of the field that names it. compileAuth runs again on reload
// (SIGHUP) with the same raw section: rotating keys needs no restart.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { parse as parseYaml } from 'yaml';

import { limits as native } from '../native/binding.js';
import { RATE_CLASS_NAMES, SCOPE_RE } from './schema.js';
import { validator } from './validators.js';
import { fail, parseDuration, parseSize } from './values.js';

export type RateClass = (typeof RATE_CLASS_NAMES)[number];
export { RATE_CLASS_NAMES };

/** A token bucket: `rate` tokens per second, at most `burst` saved up. */
export interface BucketDef {
  rate: number;
  burst: number;
}

export interface KeyDef {
  /** who the key belongs to: logged and used in metrics, never the key itself */
  name: string;
  /** SHA-256 of the key (32 bytes) */
  sha256: Buffer;
  scopes: string[];
}

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

export interface JwtDef {
  /** HS256 secret (>= 32 bytes) */
  secret?: Uint8Array;
  /** RS256/ES256 public keys, a JSON Web Key Set */
  jwks?: { keys: Record<string, unknown>[] };
  algorithms: JwtAlgorithm[];
  issuer: string | string[];
  audience: string | string[];
  clockSkewS: number;
  /** the claim holding the scopes: a space-separated string or a list */
  scopeClaim: string;
}

export interface AuthDef {
  keys: KeyDef[];
  jwt?: JwtDef;
  /** GET /metrics: open to anyone, or protected (metrics:read) */
  metrics: 'open' | 'protected';
  /** GET /dashboard, its assets and its WebSocket: open to anyone, or protected (admin) */
  dashboard: 'open' | 'protected';
  /** verified credentials remembered by their header value (0: none; docs/security.md) */
  cacheSize: number;
  /** what compileAuth read this from, for reloads */
  raw: RawAuth;
  baseDir: string;
  env: Env;
}

export interface TlsDef {
  certFile: string;
  keyFile: string;
  caFile?: string;
  passphrase?: string;
}

export interface LimitsDef {
  idBytes: number;
  featuresPerRequest: number;
  wsFrameBytes: number;
  wsMessages: BucketDef;
  wsConnectionsPerAddress: number;
  rate: {
    perCredential: Partial<Record<RateClass, BucketDef>>;
    perAddress: Partial<Record<RateClass, BucketDef>>;
    /** count requests with a verified credential per address too (default: per credential only) */
    perAddressAuthenticated: boolean;
    maxAddresses: number;
  };
}

export interface RawAuth {
  enabled?: boolean;
  keys_file?: string;
  keys_env?: string;
  jwt?: {
    secret_env?: string;
    secret_file?: string;
    jwks_file?: string;
    algorithms?: JwtAlgorithm[];
    issuer: string | string[];
    audience: string | string[];
    clock_skew?: number | string;
    scope_claim?: string;
  };
  metrics?: 'open' | 'protected';
  dashboard?: 'open' | 'protected';
  cache_size?: number;
}
export interface RawTls {
  cert_file: string;
  key_file: string;
  ca_file?: string;
  passphrase_env?: string;
}
type RawBuckets = Partial<Record<RateClass, { rate: number; burst?: number }>>;
export interface RawLimits {
  id_bytes?: number;
  features_per_request?: number;
  ws_frame_bytes?: number | string;
  ws_messages_per_second?: number;
  ws_message_burst?: number;
  ws_connections_per_address?: number;
  rate?: { per_credential?: RawBuckets; per_address?: RawBuckets; per_address_authenticated?: boolean; max_addresses?: number };
}

export type Env = Record<string, string | undefined>;

const MIN_SECRET_BYTES = 32;

export const keysSchema = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'sha256', 'scopes'],
    properties: {
      name: { type: 'string', pattern: '^[A-Za-z0-9_.@-]{1,64}$' },
      sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
      scopes: { type: 'array', minItems: 1, items: { type: 'string', pattern: SCOPE_RE.source } },
      description: { type: 'string' },
    },
  },
} as const;
const validateKeys = validator('keys', keysSchema);

function readText(path: string, field: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    return fail(field, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** A keys file or variable: YAML or JSON, a list of {name, sha256, scopes} or {keys: [...]}. */
export function parseKeys(text: string, where: string, field: string): KeyDef[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    return fail(field, `${where}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const list = doc && typeof doc === 'object' && !Array.isArray(doc) && 'keys' in doc ? (doc as { keys: unknown }).keys : doc;
  if (!validateKeys(list)) {
    const e = validateKeys.errors![0];
    return fail(field, `${where}: ${e.instancePath || '/'}: ${e.message}`);
  }
  const out = (list as { name: string; sha256: string; scopes: string[] }[]).map((k) => ({ name: k.name, sha256: Buffer.from(k.sha256, 'hex'), scopes: k.scopes }));
  const seen = new Set<string>();
  for (const k of out) {
    const h = k.sha256.toString('hex');
    if (seen.has(h)) fail(field, `${where}: key '${k.name}': the same hash appears twice`);
    seen.add(h);
  }
  return out;
}

/** The auth section with its credentials read (null: auth is off). */
export function compileAuth(raw: RawAuth | undefined, baseDir: string, env: Env): AuthDef | null {
  if (!raw || raw.enabled === false) return null;
  const keys: KeyDef[] = [];
  if (raw.keys_file !== undefined) {
    const path = resolve(baseDir, raw.keys_file);
    keys.push(...parseKeys(readText(path, '/auth/keys_file'), path, '/auth/keys_file'));
  }
  if (raw.keys_env !== undefined) {
    const text = env[raw.keys_env];
    if (text === undefined || text.trim() === '') fail('/auth/keys_env', `the environment variable ${raw.keys_env} is not set`);
    keys.push(...parseKeys(text, `$${raw.keys_env}`, '/auth/keys_env'));
  }
  const names = new Set<string>();
  for (const k of keys) {
    if (names.has(k.name)) fail(raw.keys_env ? '/auth/keys_env' : '/auth/keys_file', `key name '${k.name}' is used twice`);
    names.add(k.name);
  }
  const jwt = raw.jwt && compileJwt(raw.jwt, baseDir, env);
  if (keys.length === 0 && !jwt) fail('/auth', 'auth is on but no credential can pass: give keys_file, keys_env or jwt (or enabled: false)');
  return { keys, jwt, metrics: raw.metrics ?? 'protected', dashboard: raw.dashboard ?? 'protected', cacheSize: raw.cache_size ?? 10_000, raw, baseDir, env };
}

function compileJwt(j: NonNullable<RawAuth['jwt']>, baseDir: string, env: Env): JwtDef {
  if (j.secret_env !== undefined && j.secret_file !== undefined) fail('/auth/jwt', 'give one of secret_env and secret_file');
  let secret: Uint8Array | undefined;
  if (j.secret_env !== undefined) {
    const v = env[j.secret_env];
    if (v === undefined || v === '') fail('/auth/jwt/secret_env', `the environment variable ${j.secret_env} is not set`);
    secret = Buffer.from(v, 'utf8');
  } else if (j.secret_file !== undefined) {
    secret = Buffer.from(readText(resolve(baseDir, j.secret_file), '/auth/jwt/secret_file').replace(/\r?\n$/, ''), 'utf8');
  }
  const secretField = j.secret_env !== undefined ? '/auth/jwt/secret_env' : '/auth/jwt/secret_file';
  if (secret && secret.length < MIN_SECRET_BYTES) fail(secretField, `the HS256 secret has ${secret.length} bytes; at least ${MIN_SECRET_BYTES} are needed`);
  let jwks: JwtDef['jwks'];
  if (j.jwks_file !== undefined) {
    const path = resolve(baseDir, j.jwks_file);
    let doc: unknown;
    try {
      doc = JSON.parse(readText(path, '/auth/jwt/jwks_file'));
    } catch (err) {
      return fail('/auth/jwt/jwks_file', `${path}: not valid JSON: ${(err as Error).message}`);
    }
    const ks = (doc as { keys?: unknown })?.keys;
    if (!Array.isArray(ks) || ks.length === 0 || ks.some((k) => typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string'))
      fail('/auth/jwt/jwks_file', `${path}: a JWK Set is {"keys": [{"kty": ...}, ...]} with at least one key`);
    if (ks.some((k) => 'd' in k || 'k' in k)) fail('/auth/jwt/jwks_file', `${path}: holds private or symmetric key material; give public keys only`);
    jwks = { keys: ks };
  }
  if (!secret && !jwks) fail('/auth/jwt', 'needs secret_env or secret_file (HS256) or jwks_file (RS256, ES256)');
  const algorithms = j.algorithms ?? [...(secret ? ['HS256' as const] : []), ...(jwks ? ['RS256' as const, 'ES256' as const] : [])];
  if (algorithms.includes('HS256') && !secret) fail('/auth/jwt/algorithms', 'HS256 needs secret_env or secret_file');
  if (algorithms.some((a) => a !== 'HS256') && !jwks) fail('/auth/jwt/algorithms', 'RS256 and ES256 need jwks_file');
  return {
    secret,
    jwks,
    algorithms,
    issuer: j.issuer,
    audience: j.audience,
    clockSkewS: j.clock_skew === undefined ? 30 : parseDuration(j.clock_skew) / 1000,
    scopeClaim: j.scope_claim ?? 'scope',
  };
}

export function compileTls(raw: RawTls | undefined, baseDir: string, env: Env): TlsDef | null {
  if (!raw) return null;
  const abs = (f: string, field: string) => {
    const p = resolve(baseDir, f);
    readText(p, field); // readable now, so a typo is a config error and not a failed listen
    return p;
  };
  let passphrase: string | undefined;
  if (raw.passphrase_env !== undefined) {
    passphrase = env[raw.passphrase_env];
    if (passphrase === undefined) fail('/tls/passphrase_env', `the environment variable ${raw.passphrase_env} is not set`);
  }
  return {
    certFile: abs(raw.cert_file, '/tls/cert_file'),
    keyFile: abs(raw.key_file, '/tls/key_file'),
    caFile: raw.ca_file === undefined ? undefined : abs(raw.ca_file, '/tls/ca_file'),
    passphrase,
  };
}

function compileBuckets(raw: RawBuckets | undefined): Partial<Record<RateClass, BucketDef>> {
  const out: Partial<Record<RateClass, BucketDef>> = {};
  for (const c of RATE_CLASS_NAMES) {
    const b = raw?.[c];
    if (b) out[c] = { rate: b.rate, burst: b.burst ?? Math.max(1, Math.ceil(b.rate)) };
  }
  return out;
}

export function compileLimits(raw: RawLimits | undefined, maxBodyBytes: number): LimitsDef {
  const wsRate = raw?.ws_messages_per_second ?? 10_000;
  return {
    idBytes: raw?.id_bytes ?? native.maxIdBytes,
    featuresPerRequest: raw?.features_per_request ?? 1024,
    wsFrameBytes: raw?.ws_frame_bytes === undefined ? maxBodyBytes : parseSize(raw.ws_frame_bytes),
    wsMessages: { rate: wsRate, burst: raw?.ws_message_burst ?? Math.max(1, Math.ceil(wsRate)) },
    wsConnectionsPerAddress: raw?.ws_connections_per_address ?? 1024,
    rate: {
      perCredential: compileBuckets(raw?.rate?.per_credential),
      perAddress: compileBuckets(raw?.rate?.per_address),
      perAddressAuthenticated: raw?.rate?.per_address_authenticated ?? false,
      maxAddresses: raw?.rate?.max_addresses ?? 100_000,
    },
  };
}
