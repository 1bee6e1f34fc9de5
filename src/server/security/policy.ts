// The hardening policy (docs/security.md): the credential, the scope and rate limits per
// credential and per client address, before any body is read. A request whose credential
// was verified before is counted per credential (and per address only with
// limits.rate.per_address_authenticated: uWS reads the address with a system call); every
// other request (no credential, a wrong one, a guess, auth off) per address first.
// Every route asks it (route.ts mount), the WebSocket upgrade asks it, and each WebSocket
// frame asks it for the frame's scope.
//
// The hot path stays synchronous: a credential verified once is remembered by the exact
// header value that carried it (bounded, first in first out; auth.cache_size), so the
// next request costs one Map lookup. Only a token not seen before waits for jose's
// asynchronous signature check; admit() then returns a promise and mount() reads the
// body meanwhile. Wrong credentials are never remembered. Why a lookup by the presented
// value is safe enough, and how to turn it off: docs/security.md, "The credential cache".
import type uWS from 'uWebSockets.js';

import { type AuthDef, type Config, RATE_CLASS_NAMES } from '../../config/load.js';
import { HotpathError } from '../../errors.js';
import type { Res } from '../http.js';
import { type Admitted, type RouteInfo, type RoutePolicy, type Scope, scopeNamed } from '../routes/route.js';
import { addressKey, BucketTable, type CoarseClock } from './buckets.js';
import type { Caller } from './caller.js';
import { ApiKeys, JwtVerifier, looksLikeJwt } from './credentials.js';

/** What the policy counts (Metrics implements it). */
export interface SecurityObserver {
  authRefused(code: string): void;
  rateLimited(cls: string, by: 'address' | 'credential' | 'connection'): void;
}

/**
 * Index of a scope's route class in RATE_CLASS_NAMES (open, events, features, predict,
 * metrics, admin); recommenders, bandits and experiments answer requests as predicts do and
 * share their class. alerts:read counts as metrics: both are read by monitoring, at a pace
 * the operator sets, and a class of its own would be a new config key for little gain.
 */
export function classOf(scope: Scope): number {
  switch (scope) {
    case 'events:write':
      return 1;
    case 'features:read':
      return 2;
    case 'predict:{model}':
    case 'recommend:{name}':
    case 'bandits:{name}':
    case 'experiments:{name}':
      return 3;
    case 'metrics:read':
    case 'alerts:read':
      return 4;
    case 'admin':
      return 5;
    default:
      return 0;
  }
}

interface AuthState {
  def: AuthDef;
  keys: ApiKeys;
  jwt?: JwtVerifier;
  /** verified callers by Authorization header value, and by bare credential (X-API-Key, subprotocol) */
  byHeader: Map<string, Caller>;
  byToken: Map<string, Caller>;
  /** token checks under way, so that concurrent first requests verify once */
  pending: Map<string, Promise<Caller>>;
}

const BEARER = /^bearer[ \t]+([^\s,]+)[ \t]*$/i;
const PROTOCOL_PREFIX = 'bearer.';

export class HardeningPolicy implements RoutePolicy {
  #auth: AuthState | undefined;
  readonly #metricsOpen: boolean;
  readonly #dashboardOpen: boolean;
  readonly #perAddress: BucketTable<number | string> | undefined;
  readonly #perCredential: BucketTable<string> | undefined;
  readonly #observer: SecurityObserver;
  /** the time for rate limits and token expiry (the server's) */
  readonly #clock: CoarseClock;
  /** whether admit() needs the time: rate limits, or tokens that expire */
  #timed = false;
  /** limits.rate.per_address_authenticated: verified callers are counted per address too */
  readonly #addressAlways: boolean;

  /** Whether a config needs a policy at all (else the server keeps OPEN_POLICY: no cost). */
  static needed(config: Config): boolean {
    const r = config.limits.rate;
    return config.auth !== null || Object.keys(r.perAddress).length > 0 || Object.keys(r.perCredential).length > 0;
  }

  constructor(config: Config, observer: SecurityObserver, clock: CoarseClock) {
    this.#observer = observer;
    this.#clock = clock;
    this.#metricsOpen = config.auth?.metrics === 'open';
    this.#dashboardOpen = config.auth?.dashboard === 'open';
    const r = config.limits.rate;
    this.#addressAlways = r.perAddressAuthenticated;
    const defs = (by: typeof r.perAddress) => RATE_CLASS_NAMES.map((c) => by[c]);
    this.#perAddress = Object.keys(r.perAddress).length > 0 ? new BucketTable(defs(r.perAddress), r.maxAddresses) : undefined;
    this.#perCredential = config.auth && Object.keys(r.perCredential).length > 0 ? new BucketTable(defs(r.perCredential), r.maxAddresses) : undefined;
    if (config.auth) this.reload(config.auth);
    this.#timed ||= this.#perAddress !== undefined || this.#perCredential !== undefined;
  }

  #now(): number {
    return this.#clock.now;
  }

  /** New credentials (keys file, variable, JWT keys): the caches are emptied; removed keys are revoked. */
  reload(def: AuthDef): void {
    const old = this.#auth;
    this.#auth = {
      def,
      keys: new ApiKeys(def, old?.keys),
      jwt: def.jwt ? new JwtVerifier(def.jwt) : undefined,
      byHeader: new Map(),
      byToken: new Map(),
      pending: new Map(),
    };
    this.#timed ||= def.jwt !== undefined;
  }

  admit(route: RouteInfo, req: uWS.HttpRequest, params: readonly string[], res: Res): Admitted {
    const cls = classOf(route.scope);
    const now = this.#timed ? this.#clock.now : 0;
    const byAddress = this.#perAddress !== undefined && this.#perAddress.limits(cls);
    const a = this.#auth;
    if (a === undefined || route.scope === 'open' || (route.scope === 'metrics:read' && this.#metricsOpen) || (route.dashboard === true && this.#dashboardOpen)) {
      if (byAddress) this.#byAddress(res, cls, now);
      return undefined;
    }
    const h = req.getHeader('authorization');
    let token = h !== '' ? h : req.getHeader('x-api-key');
    if (token === '' && route.dashboard === true) token = queryKey(req.getQuery() ?? '');
    const cache = h !== '' ? a.byHeader : a.byToken;
    const model = params.length > 0 ? params[0] : '';
    const hit = token !== '' ? cache.get(token) : undefined;
    if (hit !== undefined) {
      // Verified before: counted per credential; per address too only if the config says so
      // (reading the client address costs uWS a system call: docs/security.md).
      if (byAddress && this.#addressAlways) this.#byAddress(res, cls, now);
      return this.#authorize(this.#current(a, cache, token, hit, now), route.scope, cls, model, now);
    }
    // No credential, a wrong one, or one not verified yet (every guess): per address first.
    if (byAddress) this.#byAddress(res, cls, now);
    const caller = h !== '' ? this.#verifyHeader(a, h) : this.#verifyToken(a, token);
    if (caller instanceof Promise) return this.#later(caller, route.scope, cls, model);
    return this.#authorize(caller, route.scope, cls, model, now);
  }

  /** The WebSocket upgrade: the credential may also come as a `bearer.<credential>` subprotocol. */
  upgrade(route: RouteInfo, req: uWS.HttpRequest, res: Res): Admitted {
    const now = this.#now();
    if (this.#perAddress?.limits(0)) this.#byAddress(res, 0, now);
    const a = this.#auth;
    if (a === undefined) return undefined;
    const h = req.getHeader('authorization');
    let caller: Caller | Promise<Caller>;
    if (h !== '') caller = this.#fromHeader(a, h, now);
    else {
      const key = req.getHeader('x-api-key');
      caller = this.#fromToken(a, key !== '' ? key : bearerProtocol(req.getHeader('sec-websocket-protocol')), now);
    }
    const check = (c: Caller): Caller => {
      if (!c.usesWebSocket()) throw this.#refused(new HotpathError('HP_ERR_AUTH_FORBIDDEN', `this credential may send no ${route.path} frame: it needs events:write, a predict scope or alerts:read`, { scope: 'events:write' }));
      return c;
    };
    return caller instanceof Promise ? caller.then(check, (err) => Promise.reject(this.#refused(err))) : check(caller);
  }

  /** One WebSocket frame of `scope` from a connection's caller (undefined: auth is off). */
  frame(caller: Caller | undefined, scope: Scope, model: string): void {
    if (caller === undefined) return;
    const now = this.#now();
    if (caller.revoked) throw this.#refused(new HotpathError('HP_ERR_AUTH_INVALID', 'the key this connection was opened with has been removed'));
    if (now > caller.expiresMs + (this.#auth?.jwt?.skewMs ?? 0)) throw this.#refused(new HotpathError('HP_ERR_AUTH_EXPIRED', 'the token this connection was opened with has expired'));
    this.#authorize(caller, scope, classOf(scope), model, now);
  }

  #byAddress(res: Res, cls: number, now: number): void {
    const wait = this.#perAddress!.take(addressKey(res.getRemoteAddress()), cls, now);
    if (wait > 0) throw this.#limited(cls, 'address', wait);
  }

  #authorize(c: Caller, scope: Scope, cls: number, model: string, now: number): Caller {
    if (!c.allows(scope, model)) {
      const needs = scopeNamed(scope, model);
      throw this.#refused(new HotpathError('HP_ERR_AUTH_FORBIDDEN', `this credential lacks the scope ${needs}`, { scope: needs }));
    }
    if (this.#perCredential?.limits(cls)) {
      const wait = this.#perCredential.take(c.id, cls, now);
      if (wait > 0) throw this.#limited(cls, 'credential', wait);
    }
    return c;
  }

  #later(caller: Promise<Caller>, scope: Scope, cls: number, model: string): Promise<Caller> {
    return caller.then(
      (c) => this.#authorize(c, scope, cls, model, this.#now()),
      (err) => Promise.reject(this.#refused(err)),
    );
  }

  #fromHeader(a: AuthState, h: string, now: number): Caller | Promise<Caller> {
    const hit = a.byHeader.get(h);
    return hit !== undefined ? this.#current(a, a.byHeader, h, hit, now) : this.#verifyHeader(a, h);
  }

  #verifyHeader(a: AuthState, h: string): Caller | Promise<Caller> {
    const m = BEARER.exec(h);
    if (!m) throw this.#refused(new HotpathError('HP_ERR_AUTH_INVALID', 'the Authorization header is not "Bearer <credential>"'));
    return this.#verify(a, m[1], a.byHeader, h);
  }

  #fromToken(a: AuthState, token: string, now: number): Caller | Promise<Caller> {
    const hit = token !== '' ? a.byToken.get(token) : undefined;
    return hit !== undefined ? this.#current(a, a.byToken, token, hit, now) : this.#verifyToken(a, token);
  }

  #verifyToken(a: AuthState, token: string): Caller | Promise<Caller> {
    if (token === '') throw this.#refused(new HotpathError('HP_ERR_AUTH_REQUIRED', 'this route needs a credential: Authorization: Bearer <API key or token>, or X-API-Key'));
    return this.#verify(a, token, a.byToken, token);
  }

  /** A remembered caller, unless its token has expired since. */
  #current(a: AuthState, cache: Map<string, Caller>, key: string, c: Caller, now: number): Caller {
    if (c.expiresMs !== Infinity && now > c.expiresMs + a.jwt!.skewMs) {
      cache.delete(key);
      throw this.#refused(new HotpathError('HP_ERR_AUTH_EXPIRED', 'the token has expired'));
    }
    return c;
  }

  #verify(a: AuthState, token: string, cache: Map<string, Caller>, key: string): Caller | Promise<Caller> {
    if (a.jwt !== undefined && looksLikeJwt(token)) {
      try {
        a.jwt.precheck(token);
      } catch (err) {
        throw this.#refused(err);
      }
      let p = a.pending.get(key);
      if (p === undefined) {
        p = a.jwt.verify(token).then((c) => {
          if (this.#auth === a) remember(a.def.cacheSize, cache, key, c); // not into the caches of a reload since
          return c;
        });
        const settled = p;
        p.finally(() => a.pending.get(key) === settled && a.pending.delete(key)).catch(() => {});
        a.pending.set(key, p);
      }
      return p;
    }
    const c = a.keys.verify(token);
    if (c === undefined) throw this.#refused(new HotpathError('HP_ERR_AUTH_INVALID', 'the credential is not a known API key or a valid token'));
    remember(a.def.cacheSize, cache, key, c);
    return c;
  }

  #refused(err: unknown): unknown {
    const code = (err as { code?: unknown })?.code;
    if (typeof code === 'string') this.#observer.authRefused(code);
    return err;
  }

  #limited(cls: number, by: 'address' | 'credential', waitMs: number): HotpathError {
    const name = RATE_CLASS_NAMES[cls];
    this.#observer.rateLimited(name, by);
    const s = Math.max(1, Math.ceil(waitMs / 1000));
    return new HotpathError('HP_ERR_RATE_LIMITED', `too many ${name} requests from this ${by === 'address' ? 'client address' : 'credential'} (limits.rate.per_${by}.${name}); retry in ${s} s`, { retry_after_s: s });
  }
}

function remember(size: number, cache: Map<string, Caller>, key: string, c: Caller): void {
  if (size === 0) return;
  if (cache.size >= size) cache.delete(cache.keys().next().value!);
  cache.set(key, c);
}

/**
 * The `key` parameter of a dashboard route's query (routes/dashboard.ts), or ''. A key in a
 * URL can end up in browser history and proxy logs: docs/dashboard.md says so.
 */
export function queryKey(query: string): string {
  if (query === '' || !query.includes('key=')) return '';
  return new URLSearchParams(query).get('key') ?? '';
}

/** The credential in a `Sec-WebSocket-Protocol: hotpath, bearer.<credential>` offer, or ''. */
export function bearerProtocol(header: string): string {
  if (header === '') return '';
  for (const p of header.split(',')) {
    const t = p.trim();
    if (t.startsWith(PROTOCOL_PREFIX)) return t.slice(PROTOCOL_PREFIX.length);
  }
  return '';
}

/**
 * The subprotocol the server answers with: the first one offered that is not a credential
 * (RFC 6455: the server picks one of the offers), or '' for none. A credential is never
 * echoed back.
 */
export function selectProtocol(header: string): string {
  if (header === '') return '';
  for (const p of header.split(',')) {
    const t = p.trim();
    if (t !== '' && !t.startsWith(PROTOCOL_PREFIX)) return t;
  }
  return '';
}
