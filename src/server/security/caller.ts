// Who a request comes from, once its credential is verified: an API key or a token's
// subject, and what it may do. Scopes: `events:write`, `features:read`, `metrics:read`,
// `alerts:read`, `predict:<model>`, `predict:*` (every model), the same pairs for
// `recommend:`, `bandits:` and `experiments:`, and `admin`, which grants every scope.
// Checked per request by a switch over the route's declared scope: no string is built
// (a named scope is checked against the path's name by a Set lookup).
import { NAMED_SCOPES, type NamedScope, type Scope } from '../routes/route.js';

const EVENTS = 1;
const FEATURES = 2;
const METRICS = 4;
const PREDICT_ALL = 8;
const ADMIN = 16;
const ALERTS = 32;

export class Caller {
  /** 'key:<name>' or 'jwt:<issuer>:<subject>': the per-credential rate limits' key */
  readonly id: string;
  /** what logs may name (the key's name, the token's subject), never the credential */
  readonly name: string;
  /** ms since the epoch after which the credential is no longer valid (Infinity: never) */
  readonly expiresMs: number;
  /** set when the keys are reloaded without this key's entry: open WebSockets stop using it */
  revoked = false;
  readonly #flags: number;
  /** per named scope: the names granted ('*' grants all) */
  readonly #named: ReadonlyMap<string, ReadonlySet<string>>;

  constructor(id: string, name: string, scopes: Iterable<string>, expiresMs = Infinity) {
    this.id = id;
    this.name = name;
    this.expiresMs = expiresMs;
    let flags = 0;
    const named = new Map<string, Set<string>>();
    const prefixes = new Map(Object.entries(NAMED_SCOPES).map(([scope, prefix]) => [prefix, scope]));
    for (const s of scopes) {
      if (s === 'admin') flags |= ADMIN;
      else if (s === 'events:write') flags |= EVENTS;
      else if (s === 'features:read') flags |= FEATURES;
      else if (s === 'metrics:read') flags |= METRICS;
      else if (s === 'alerts:read') flags |= ALERTS;
      else {
        const colon = s.indexOf(':');
        const scope = colon > 0 && colon < s.length - 1 ? prefixes.get(s.slice(0, colon)) : undefined;
        if (scope === undefined) continue; // other scopes (a token issued for several services) grant nothing here
        if (s === 'predict:*') flags |= PREDICT_ALL;
        let names = named.get(scope);
        if (!names) named.set(scope, (names = new Set()));
        names.add(s.slice(colon + 1));
      }
    }
    this.#flags = flags;
    this.#named = named;
  }

  /** May this caller use a route (or frame) of `scope`? `model` is the path's or frame's model. */
  allows(scope: Scope, model: string): boolean {
    const f = this.#flags;
    if (f & ADMIN) return true;
    switch (scope) {
      case 'open':
        return true;
      case 'features:read':
        return (f & FEATURES) !== 0;
      case 'events:write':
        return (f & EVENTS) !== 0;
      case 'predict:{model}':
      case 'recommend:{name}':
      case 'bandits:{name}':
      case 'experiments:{name}':
        return this.#grants(scope, model);
      case 'metrics:read':
        return (f & METRICS) !== 0;
      case 'alerts:read':
        return (f & ALERTS) !== 0;
      default:
        return false; // admin, checked above
    }
  }

  #grants(scope: NamedScope, name: string): boolean {
    const names = this.#named.get(scope);
    return names !== undefined && (names.has(name) || names.has('*'));
  }

  /** May this caller send any WebSocket frame (events, a predict for some model, an alerts subscription)? */
  usesWebSocket(): boolean {
    return (this.#flags & (ADMIN | EVENTS | PREDICT_ALL | ALERTS)) !== 0 || this.#named.has('predict:{model}');
  }
}
