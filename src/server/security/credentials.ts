// Verifying a presented credential: an API key (compared, in constant time, by its SHA-256
// against the hashes in the keys file or variable) or a JWT (jose: HS256 with the shared
// secret, RS256/ES256 with a local JWK Set; exp, nbf, iss and aud checked with the
// configured clock skew). Key checks are synchronous; a token's signature check is
// asynchronous (WebCrypto), which is why the policy caches verified credentials.
import { hash, timingSafeEqual } from 'node:crypto';

import { createLocalJWKSet, decodeProtectedHeader, importJWK, type JWK, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from 'jose';

import type { AuthDef, JwtDef } from '../../config/load.js';
import { HotpathError } from '../../errors.js';
import { Caller } from './caller.js';

export class ApiKeys {
  readonly #byHash = new Map<string, { sha256: Buffer; name: string; scopes: string; caller: Caller }>();

  /**
   * `previous`: the keys before a reload. A key that is still there with the same name and
   * scopes keeps its Caller (open WebSockets go on using it); every other old Caller is
   * marked revoked.
   */
  constructor(def: AuthDef, previous?: ApiKeys) {
    for (const k of def.keys) {
      const hex = k.sha256.toString('hex');
      const old = previous === undefined ? undefined : previous.#byHash.get(hex);
      const same = old !== undefined && old.name === k.name && old.scopes === k.scopes.join(' ');
      this.#byHash.set(hex, same ? old : { sha256: k.sha256, name: k.name, scopes: k.scopes.join(' '), caller: new Caller(`key:${k.name}`, k.name, k.scopes) });
    }
    if (previous) for (const [hex, e] of previous.#byHash) if (this.#byHash.get(hex) !== e) e.caller.revoked = true;
  }

  get size(): number {
    return this.#byHash.size;
  }

  /**
   * The caller of a presented key, or undefined. The key is hashed first: the lookup and
   * the comparison see only its SHA-256, so their timing says nothing about any stored
   * key; timingSafeEqual compares the whole digest all the same.
   */
  verify(key: string): Caller | undefined {
    const hex = hash('sha256', key, 'hex'); // (a hex string, then its bytes: faster than a 'buffer' digest here)
    const e = this.#byHash.get(hex);
    return e !== undefined && timingSafeEqual(e.sha256, Buffer.from(hex, 'hex')) ? e.caller : undefined;
  }
}

/** compact JWS: three base64url parts; API keys made by `hotpath keys new` have no dots. */
export function looksLikeJwt(token: string): boolean {
  const a = token.indexOf('.');
  return a > 0 && token.indexOf('.', a + 1) > a + 1 && token.startsWith('eyJ');
}

export class JwtVerifier {
  readonly #def: JwtDef;
  readonly #key: JWTVerifyGetKey;

  constructor(def: JwtDef) {
    this.#def = def;
    const jwks = def.jwks ? createLocalJWKSet(def.jwks as Parameters<typeof createLocalJWKSet>[0]) : undefined;
    const secret = def.secret;
    this.#key = (header, token) => {
      if (header.alg === 'HS256') {
        if (!secret) throw new HotpathError('HP_ERR_AUTH_INVALID', 'HS256 tokens are not accepted (no auth.jwt secret)');
        return secret;
      }
      if (!jwks) throw new HotpathError('HP_ERR_AUTH_INVALID', `${header.alg} tokens are not accepted (no auth.jwt.jwks_file)`);
      return jwks(header, token);
    };
  }

  /** The clock skew allowed on exp and nbf, in ms. */
  get skewMs(): number {
    return this.#def.clockSkewS * 1000;
  }

  /** Refuses at once what cannot pass (malformed, or an algorithm not accepted); throws HP_ERR_AUTH_INVALID. */
  precheck(token: string): void {
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new HotpathError('HP_ERR_AUTH_INVALID', 'the bearer token is not a well-formed JWT');
    }
    if (!this.#def.algorithms.includes(alg as JwtDef['algorithms'][number]))
      throw new HotpathError('HP_ERR_AUTH_INVALID', `tokens signed with ${JSON.stringify(alg)} are not accepted (auth.jwt.algorithms: ${this.#def.algorithms.join(', ')})`);
  }

  /** The token's caller, or a rejection with HP_ERR_AUTH_EXPIRED / HP_ERR_AUTH_INVALID. */
  async verify(token: string): Promise<Caller> {
    const d = this.#def;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: d.algorithms,
        issuer: d.issuer,
        audience: d.audience,
        clockTolerance: d.clockSkewS,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (err instanceof HotpathError) throw err;
      const code = (err as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') throw new HotpathError('HP_ERR_AUTH_EXPIRED', 'the token has expired');
      // jose's messages name the claim or check that failed and never echo the token.
      throw new HotpathError('HP_ERR_AUTH_INVALID', `the token was refused: ${(err as Error).message}`);
    }
    const raw = payload[d.scopeClaim];
    const scopes = typeof raw === 'string' ? raw.split(' ').filter(Boolean) : Array.isArray(raw) ? raw.filter((s): s is string => typeof s === 'string') : [];
    const sub = typeof payload.sub === 'string' ? payload.sub : `token-${hash('sha256', token, 'hex').slice(0, 16)}`;
    return new Caller(`jwt:${payload.iss ?? ''}:${sub}`, sub, scopes, payload.exp! * 1000);
  }
}

/**
 * Imports every key of the JWK Set once, at start and on reload, so that a key jose cannot
 * use is a config error (HP_ERR_CONFIG_INVALID at /auth/jwt/jwks_file) rather than a 401
 * on the first token signed with it.
 */
export async function checkJwtKeys(def: JwtDef): Promise<void> {
  for (const [i, k] of (def.jwks?.keys ?? []).entries()) {
    const jwk = k as JWK;
    const alg = jwk.alg ?? (jwk.kty === 'RSA' ? 'RS256' : jwk.kty === 'EC' && jwk.crv === 'P-256' ? 'ES256' : undefined);
    const fail = (why: string) => new HotpathError('HP_ERR_CONFIG_INVALID', `/auth/jwt/jwks_file: key ${i}${jwk.kid ? ` (kid ${jwk.kid})` : ''}: ${why}`, { path: '/auth/jwt/jwks_file' });
    if (alg !== 'RS256' && alg !== 'ES256') throw fail(`only RSA (RS256) and EC P-256 (ES256) keys are accepted, not ${jwk.kty}${jwk.alg ? ` ${jwk.alg}` : ''}`);
    try {
      await importJWK(jwk, alg);
    } catch (err) {
      throw fail((err as Error).message);
    }
  }
}
