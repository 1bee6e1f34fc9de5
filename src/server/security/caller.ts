// Who a request comes from, once its credential is verified: an API key or a token's
// subject, and what it may do. Scopes: `events:write`, `features:read`, `metrics:read`,
// `alerts:read`, `predict:<model>`, `predict:*` (every model) and `admin`, which grants every scope.
// Checked per request by a switch over the route's declared scope: no string is built
// (predict:{model} is checked against the path's model by a Set lookup).
import type { Scope } from '../routes/route.js';

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
  readonly #models: ReadonlySet<string>;

  constructor(id: string, name: string, scopes: Iterable<string>, expiresMs = Infinity) {
    this.id = id;
    this.name = name;
    this.expiresMs = expiresMs;
    let flags = 0;
    const models = new Set<string>();
    for (const s of scopes) {
      if (s === 'admin') flags |= ADMIN;
      else if (s === 'events:write') flags |= EVENTS;
      else if (s === 'features:read') flags |= FEATURES;
      else if (s === 'metrics:read') flags |= METRICS;
      else if (s === 'alerts:read') flags |= ALERTS;
      else if (s === 'predict:*') flags |= PREDICT_ALL;
      else if (s.startsWith('predict:') && s.length > 8) models.add(s.slice(8));
      // Other scopes (a token issued for several services) grant nothing here.
    }
    this.#flags = flags;
    this.#models = models;
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
        return (f & PREDICT_ALL) !== 0 || this.#models.has(model);
      case 'metrics:read':
        return (f & METRICS) !== 0;
      case 'alerts:read':
        return (f & ALERTS) !== 0;
      default:
        return false; // admin, checked above
    }
  }

  /** May this caller send any WebSocket frame (events, a predict for some model, an alerts subscription)? */
  usesWebSocket(): boolean {
    return (this.#flags & (ADMIN | EVENTS | PREDICT_ALL | ALERTS)) !== 0 || this.#models.size > 0;
  }
}
