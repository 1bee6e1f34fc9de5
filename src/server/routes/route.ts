// The route table's building block. A route declares its method, path, the scope a caller
// needs, its body (none, or bytes up to a limit) and how it words errors (hotpath's
// `{"error": {"code", ...}}` or KServe's `{"error": "..."}`); `mount` registers it on uWS
// and does, once for every route, what each handler used to do itself: read what the
// handler needs from the request before uWS reclaims it, ask the policy, set onAborted
// before the body is read, read the body within its limit, and turn a thrown error into
// the route's error answer. Answers are written inside res.cork (http.ts).
//
// The policy is where authentication and rate limits hang (src/server/security/policy.ts):
// it sees the route and the request before any body is read. The default admits every
// caller at no cost, as hotpath always has. A policy that must wait (a token it has not
// seen before) returns a promise: the route then reads its body meanwhile and runs once
// the promise settles.
import type uWS from 'uWebSockets.js';

import { HotpathError } from '../../errors.js';
import type { InferResult } from '../../runtime/inference.js';
import { nowMs } from '../../runtime/records.js';
import { type BodySink, BodyReader, errorHeaders, inHandler, readBody, type Res, send, type SendOptions, toAnswer } from '../http.js';
import type { RequestTrace } from '../observe/tracing.js';
import type { Caller } from '../security/caller.js';
import { type RouteClass, routeClassIndex, type StageMarks } from '../stages.js';
import type { ServerContext } from './context.js';

/**
 * What a caller must hold: `open` (anyone), `events:write`, `features:read`,
 * `metrics:read`, `alerts:read`, `predict:{model}` (the model named by the path's :model),
 * `recommend:{name}`, `bandits:{name}`, `experiments:{name}` (the recommender, bandit or
 * experiment named by the path's first parameter), `admin` (which a policy treats as every
 * scope).
 */
export type NamedScope = 'predict:{model}' | 'recommend:{name}' | 'bandits:{name}' | 'experiments:{name}';
export type Scope = 'open' | 'admin' | 'events:write' | 'features:read' | 'metrics:read' | 'alerts:read' | NamedScope;
export const SCOPES: readonly Scope[] = ['open', 'admin', 'events:write', 'features:read', 'metrics:read', 'alerts:read', 'predict:{model}', 'recommend:{name}', 'bandits:{name}', 'experiments:{name}'];
/** The named scopes' prefixes: `predict:fraud`, `recommend:*` and so on in a credential. */
export const NAMED_SCOPES: Readonly<Record<NamedScope, string>> = { 'predict:{model}': 'predict', 'recommend:{name}': 'recommend', 'bandits:{name}': 'bandits', 'experiments:{name}': 'experiments' };

/** The scope a credential must hold for `scope` with the path's (or frame's) name filled in. */
export function scopeNamed(scope: Scope, name: string): string {
  const prefix = (NAMED_SCOPES as Record<string, string>)[scope];
  return prefix === undefined ? scope : `${prefix}:${name}`;
}

/** A model name in a path: what the config allows as a name (no separator, dot or escape). */
export const MODEL_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type Method = 'get' | 'post' | 'any';

export interface Route {
  method: Method;
  /** uWS pattern: `:name` is a parameter, `*` the rest */
  path: string;
  scope: Scope;
  /** 'none': no body is read; 'bytes': the body, refused with 413 past server.max_body_bytes */
  body: 'none' | 'bytes';
  /** request headers the handler reads (lower case), in Call.headers by the same index */
  headers?: readonly string[];
  /** 'kserve': errors as the Open Inference Protocol words them */
  errors?: 'hotpath' | 'kserve';
  /**
   * true when a body-less handler answers after it returns (onAborted is then set first).
   * A body-less route without it answers before handle() returns and keeps nothing of its
   * Call: mount reuses one Call for all its requests.
   */
  later?: boolean;
  /** true when the handler reads Call.start (the arrival time); otherwise it is 0 */
  timed?: boolean;
  /**
   * a body route whose handler calls Call.release() once it has answered and nothing of the
   * request can reach the Call any more (no callback of its pending): mount then serves
   * later requests with released Calls and their body readers, instead of making a Call,
   * its params and readBody's callbacks per request. A Call that is not released (an
   * error answered in the handler, a refused or aborted body) is simply left to the GC.
   */
  pooled?: boolean;
  /**
   * the route class whose stage split its requests record (src/server/stages.ts): every
   * answer is timed (the route is timed) and counted; the handler sets the Call's marks
   */
  stages?: RouteClass;
  /**
   * a dashboard route (routes/dashboard.ts): open with auth.dashboard: open, and the
   * credential may come in the query as `?key=` (a browser cannot set headers on a page load)
   */
  dashboard?: boolean;
  /** one line for `hotpath routes` */
  about: string;
  handle(call: Call, ctx: ServerContext): void;
}

/** What a policy is told of a route (HTTP routes and the WebSocket upgrade alike). */
export type RouteInfo = Pick<Route, 'method' | 'path' | 'scope' | 'dashboard'>;

/**
 * A policy's answer: admitted now (the caller, or undefined when no credential was
 * needed), or a promise of it (rejected with a HotpathError to refuse).
 */
export type Admitted = Caller | undefined | Promise<Caller | undefined>;

/** Decides whether a request may use a route; throws a HotpathError to refuse it at once. */
export interface RoutePolicy {
  admit(route: RouteInfo, req: uWS.HttpRequest, params: readonly string[], res: Res): Admitted | void;
  /** the WebSocket upgrade (default: admit with no params) */
  upgrade?(route: RouteInfo, req: uWS.HttpRequest, res: Res): Admitted;
  /** one WebSocket frame of `scope` (the model for predict:{model}) from the connection's caller */
  frame?(caller: Caller | undefined, scope: Scope, model: string): void;
}

export const OPEN_POLICY: RoutePolicy = { admit() {} };

/** The scope a request needs: a named scope is resolved with the path's first parameter. */
export function scopeFor(route: RouteInfo, params: readonly string[]): string {
  return scopeNamed(route.scope, params[0] ?? '');
}

/**
 * One request to a route. `body` is valid only while handle() runs (it may be a view of
 * uWS's chunk, which uWS reclaims when the data callback returns): parse it there. A Call
 * counts in ctx.inflight from its start until it is answered or aborted.
 */
export class Call implements BodySink, StageMarks {
  res: Res;
  readonly route: Route;
  readonly params: string[];
  query: string;
  headers: string[];
  /** the method and URL, read for `any` routes only (the catch-all's error names them) */
  method = '';
  url = '';
  readonly ctx: ServerContext;
  /** arrival time, nowMs() */
  start: number;
  body: Buffer = EMPTY;
  /** counted in ctx.inflight (until answered or aborted) */
  counted = false;
  /** the route's class in stages.ts ROUTE_CLASSES (-1: no stage split), and the handler's marks */
  stageRoute = -1;
  mark1 = 0;
  mark2 = 0;
  result: InferResult | undefined = undefined;
  subject = '';
  /** the request's trace when it is sampled (observe/tracing.ts): routes note their stages in it */
  trace: RequestTrace | undefined = undefined;
  /** the client's x-request-id, checked ('' when none, or not read: observe/requests.ts) */
  requestId = '';
  /** a pooled route's free Calls, while this request may still be released into them */
  free: Call[] | undefined = undefined;
  /** a pooled Call's body reader, kept across its requests */
  reader: BodyReader | undefined = undefined;
  /** what a pooled route keeps with each Call across its requests (its answer callback) */
  slot: unknown = undefined;

  constructor(res: Res, route: Route, params: string[], query: string, headers: string[], ctx: ServerContext, start: number) {
    this.res = res;
    this.route = route;
    this.params = params;
    this.query = query;
    this.headers = headers;
    this.ctx = ctx;
    this.start = start;
  }

  /** A Call of its own for a request that outlives the handler (a reused Call is shared). */
  detach(): Call {
    const c = new Call(this.res, this.route, this.params.slice(), this.query, this.headers, this.ctx, this.start);
    c.method = this.method;
    c.url = this.url;
    c.counted = this.counted; // the request stays in ctx.inflight, now through c
    c.trace = this.trace;
    c.requestId = this.requestId;
    this.counted = false;
    c.stageRoute = this.stageRoute;
    c.mark1 = this.mark1;
    c.subject = this.subject;
    return c;
  }

  /** For a reused Call: the next request's fields. */
  reset(res: Res, query: string, headers: string[], start: number): this {
    this.res = res;
    this.query = query;
    this.headers = headers;
    this.start = start;
    this.mark1 = this.mark2 = 0;
    this.result = undefined;
    this.subject = '';
    return this;
  }

  /**
   * A pooled route's handler, once its answer is written (or the client has gone) and
   * nothing of the request can call back: the Call is kept for a later request. Does
   * nothing for a Call that may not be reused (not pooled, or held by an admission wait).
   */
  release(): void {
    const free = this.free;
    if (free === undefined) return;
    this.free = undefined;
    this.done();
    this.res = NO_RES;
    this.body = EMPTY;
    this.result = undefined;
    this.trace = undefined;
    this.requestId = '';
    this.subject = '';
    if (free.length < MAX_FREE_CALLS) free.push(this);
  }

  /** Leaves ctx.inflight: answered or aborted. */
  done(): void {
    if (this.counted) {
      this.counted = false;
      this.ctx.inflight--;
    }
  }

  /** The client went away (readBody's onAborted, or mount's for `later` routes). */
  onAborted(): void {
    this.res.aborted = true;
    this.done();
  }

  /** Runs the route on the body (readBody's sink); the body view dies with this call. */
  onBody(body: Buffer): void {
    this.body = body;
    if (this.trace !== undefined) this.trace.bodyAt = nowMs();
    run(this, this.ctx);
    this.body = EMPTY;
  }

  onTooLarge(err: HotpathError): void {
    this.fail(err, true);
  }

  /**
   * A stage mark (nowMs()) when something reads it: the stage split (server.stage_timing) or
   * a sampled trace; 0 otherwise, so that a server with neither reads no clock for it.
   */
  markNow(): number {
    return this.stageRoute >= 0 || this.trace !== undefined ? nowMs() : 0;
  }

  send(status: number, body: string | Uint8Array, opts?: SendOptions): void {
    this.done();
    const answering = !this.res.aborted;
    const o = this.ctx.observe;
    send(this.res, status, body, o === undefined ? opts : o.answer(this, status, opts));
    if (this.stageRoute >= 0 && answering) this.ctx.stages.answered(this.stageRoute, this, status, nowMs());
  }

  /** Answers with the error in the route's words (does nothing once answered or aborted). */
  fail(err: unknown, closeConnection = false): void {
    this.done();
    const answering = !this.res.aborted;
    const e = toAnswer(err, this.ctx.log);
    const body = this.route.errors === 'kserve' ? JSON.stringify({ error: e.message }) : JSON.stringify(e.toJSON());
    const opts: SendOptions = { closeConnection, headers: errorHeaders(e) };
    const o = this.ctx.observe;
    send(this.res, e.status, body, o === undefined ? opts : o.answer(this, e.status, opts, e));
    if (this.stageRoute >= 0 && answering) this.ctx.stages.answered(this.stageRoute, this, e.status, nowMs());
  }
}

const EMPTY = Buffer.alloc(0);
/** released Calls a pooled route keeps (about the requests it has in flight at once) */
const MAX_FREE_CALLS = 1024;
const NO_STRINGS: string[] = [];
/** The response of a reused Call between requests: nothing may be sent on it. */
const NO_RES = { aborted: true } as Res;

function paramNames(path: string): string[] {
  return path.split('/').filter((s) => s.startsWith(':'));
}

/**
 * The parameters of a URL that matched a pattern: `tail` says which of the segments after
 * the static prefix (prefixLen characters, its last slash included) are parameters.
 * As getParameter() gives them: raw, percent-encoding and all.
 */
function paramsOf(url: string, prefixLen: number, tail: readonly boolean[], params: string[]): void {
  let at = prefixLen;
  let p = 0;
  for (let k = 0; k < tail.length; k++) {
    let end = url.indexOf('/', at);
    if (end < 0) end = url.length;
    if (tail[k]) params[p++] = url.slice(at, end);
    at = end + 1;
  }
}

/** Registers routes on the app, in order (uWS matches the most specific pattern first). */
export function mount(app: uWS.TemplatedApp, routes: readonly Route[], ctx: ServerContext): void {
  for (const route of routes) {
    if (!SCOPES.includes(route.scope)) throw new Error(`route ${route.method.toUpperCase()} ${route.path} has no valid scope (${String(route.scope)})`);
    const nParams = paramNames(route.path).length;
    // A pattern with two or more parameters and no `*` (GET /v1/features/:entity/:id): its
    // parameters are sliced from one getUrl() instead of a getParameter() call each, a
    // crossing into uWS apiece (with one parameter there is nothing to save). uWS matched
    // every static segment, so the URL has the pattern's segments, none empty.
    const segments = route.path.split('/');
    const firstParam = segments.findIndex((seg) => seg.startsWith(':'));
    const sliced = nParams > 1 && !route.path.includes('*');
    const prefixLen = sliced ? segments.slice(0, firstParam).join('/').length + 1 : 0;
    const tail = sliced ? segments.slice(firstParam).map((seg) => seg.startsWith(':')) : undefined;
    const modelAt = paramNames(route.path).indexOf(':model');
    // The last model name that passed MODEL_NAME_RE: clients call the same model over and
    // over, and comparing with it is cheaper than the regex on every request.
    let modelOk: string | undefined;
    const wanted = route.headers ?? NO_STRINGS;
    const limit = ctx.config.server.maxBodyBytes;
    // A synchronous body-less route answers before handle() returns: one Call (and one
    // params array) serves all its requests, so the hot GETs allocate nothing here.
    const reuse = route.body === 'none' && !route.later ? new Call(NO_RES, route, new Array<string>(nParams), '', NO_STRINGS, ctx, 0) : undefined;
    const isAny = route.method === 'any';
    const stageRoute = route.stages === undefined || !ctx.config.server.stageTiming ? -1 : routeClassIndex(route.stages);
    const timed = route.timed === true || stageRoute >= 0;
    if (reuse) reuse.stageRoute = stageRoute;
    const pool: Call[] | undefined = route.pooled === true && route.body === 'bytes' ? [] : undefined;
    // traces and request ids (observe/requests.ts): undefined when nothing is read from a request
    const observe = ctx.observe?.reads ? ctx.observe : undefined;
    const onRequest = (res: Res, req: uWS.HttpRequest): void => {
      // Everything from req first: uWS reclaims it when this function returns.
      const start = timed ? nowMs() : 0;
      const pooled = pool?.pop();
      const params = reuse ? reuse.params : pooled !== undefined ? pooled.params : nParams > 0 ? new Array<string>(nParams) : NO_STRINGS;
      if (tail !== undefined) paramsOf(req.getUrl(), prefixLen, tail, params);
      else for (let i = 0; i < nParams; i++) params[i] = req.getParameter(i) ?? '';
      let headers = NO_STRINGS;
      if (wanted.length > 0) {
        headers = new Array<string>(wanted.length);
        for (let i = 0; i < wanted.length; i++) headers[i] = req.getHeader(wanted[i]);
      }
      const query = req.getQuery() ?? '';
      const call = reuse ? reuse.reset(res, query, headers, start) : pooled !== undefined ? pooled.reset(res, query, headers, start) : new Call(res, route, params, query, headers, ctx, start);
      if (!reuse) call.stageRoute = stageRoute;
      if (pool !== undefined) call.free = pool;
      call.counted = true;
      ctx.inflight++;
      if (isAny) {
        call.method = req.getMethod();
        call.url = req.getUrl();
      }
      if (observe !== undefined) observe.begin(call, req);
      if (ctx.phase !== 'serving' && route.scope !== 'open') {
        // Starting or draining: only liveness, readiness and the like are served.
        call.fail(new HotpathError('HP_ERR_NOT_READY', ctx.phase === 'starting' ? 'the server is starting' : 'the server is shutting down'), true);
        return;
      }
      if (modelAt >= 0 && params[modelAt] !== modelOk) {
        if (!MODEL_NAME_RE.test(params[modelAt])) {
          call.fail(new HotpathError('HP_ERR_MODEL_NAME_INVALID', `${JSON.stringify(params[modelAt].slice(0, 64))} is not a model name (letters, digits and _)`), route.body === 'bytes');
          return;
        }
        modelOk = params[modelAt];
      }
      if (ctx.policy !== OPEN_POLICY) {
        let admitted: Admitted | void;
        try {
          admitted = ctx.policy.admit(route, req, params, res);
        } catch (err) {
          call.fail(err, route.body === 'bytes'); // close: the body it may be sending is not read
          return;
        }
        if (admitted instanceof Promise) {
          runAdmitted(reuse ? call.detach() : call, admitted, limit);
          return;
        }
      }
      if (route.body === 'none') {
        if (route.later) res.onAborted(() => call.onAborted());
        inHandler(res); // answered now, inside uWS's cork (http.ts)
        run(call, ctx);
        inHandler(undefined);
        return;
      }
      if (pool !== undefined) (call.reader ??= new BodyReader(call)).start(res, limit);
      else readBody(res, limit, call);
    };
    if (route.method === 'get') app.get(route.path, onRequest);
    else if (route.method === 'post') app.post(route.path, onRequest);
    else app.any(route.path, onRequest);
  }
}

/**
 * Runs a request once the policy's promise settles. uWS wants onAborted (and onData) set
 * before the handler returns, so they are set now; a body that arrives first is copied
 * (uWS reclaims its chunk) and kept until then.
 */
function runAdmitted(call: Call, admitted: Promise<unknown>, limit: number): void {
  const res = call.res;
  call.free = undefined; // the wait holds it: not reused
  if (call.route.body === 'none') {
    res.onAborted(() => call.onAborted());
    admitted.then(
      () => run(call, call.ctx),
      (err) => call.fail(err),
    );
    return;
  }
  const wait = new AdmissionWait(call);
  readBody(res, limit, wait);
  admitted.then(
    () => wait.admit(),
    (err) => wait.refuse(err),
  );
}

/** A body sink that holds the body until the policy has decided. */
class AdmissionWait implements BodySink {
  readonly #call: Call;
  #state: 'waiting' | 'admitted' | 'refused' = 'waiting';
  #body: Buffer | undefined;
  #read = false;

  constructor(call: Call) {
    this.#call = call;
  }

  onBody(body: Buffer): void {
    this.#read = true;
    if (this.#state === 'admitted') this.#call.onBody(body);
    else if (this.#state === 'waiting') this.#body = Buffer.from(body); // a copy: body may be a view of uWS's chunk
  }

  onAborted(): void {
    this.#call.onAborted();
  }

  onTooLarge(err: HotpathError): void {
    if (this.#state === 'refused') return;
    this.#state = 'refused';
    this.#call.onTooLarge(err);
  }

  admit(): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'admitted';
    const body = this.#body;
    this.#body = undefined;
    if (body !== undefined) this.#call.onBody(body);
  }

  refuse(err: unknown): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'refused';
    this.#body = undefined;
    this.#call.fail(err, !this.#read); // close when the body is still coming: it will not be read
  }
}

function run(call: Call, ctx: ServerContext): void {
  try {
    call.route.handle(call, ctx);
  } catch (err) {
    call.fail(err);
  }
}

/** The table as `hotpath routes` prints it. */
export function routeTable(routes: readonly Route[], ws: readonly { path: string; scope?: Scope; scopes: readonly Scope[]; about: string; frameBytes?: number }[], maxBodyBytes: number): string {
  const rows: string[][] = [['METHOD', 'PATH', 'SCOPE', 'BODY LIMIT', 'WHAT']];
  for (const r of routes) rows.push([r.method.toUpperCase(), r.path, r.scope, r.body === 'bytes' ? `${maxBodyBytes} B` : '-', r.about]);
  for (const w of ws) rows.push(['WS', w.path, w.scopes.length > 0 ? `${w.scopes.join(', ')} (per frame)` : (w.scope ?? 'open'), w.scopes.length > 0 ? `${w.frameBytes ?? maxBodyBytes} B per frame` : '-', w.about]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ')).join('\n') + '\n';
}

/** A HotpathError for a missing route (the catch-all's answer). */
export function notFound(method: string, url: string): HotpathError {
  return new HotpathError('HP_ERR_ROUTE_NOT_FOUND', `no route for ${method.toUpperCase()} ${url}`);
}
