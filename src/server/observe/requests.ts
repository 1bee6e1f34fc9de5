// What the HTTP routes do for traces and request logs, in one place that route.ts calls
// twice per request: `begin` inside uWS's callback (the sampling decision, the client's
// x-request-id), only when there is something to read, and `answer` just before the answer
// is written (the spans, the request's log line, the traceparent and x-request-id
// headers). The server builds one only when tracing is on or logging.requests is not
// `off`; without one, mount() reads no header for it and the answer path does one check.
//
// The request id is the client's x-request-id (with logging.request_id_header, when it is
// printable and at most 128 characters), else the trace id of a traced request, else one
// made here, and only when a line is logged. An answer carries it (x-request-id) whenever it is known, so a user can
// quote it; a line is logged for every 5xx (`errors`, the default) or every answer (`all`),
// with request_id and trace_id, never a header, query or body.
import type { HotpathError } from '../../errors.js';
import type { LoggingDef } from '../../config/observe.js';
import type uWS from 'uWebSockets.js';
import type { SendOptions } from '../http.js';
import { checkRequestId, type Logger, newRequestId, redact } from './logger.js';
import { formatTraceparent } from './traceparent.js';
import type { RequestTrace, Tracing } from './tracing.js';

/** What `answer` needs of a request (route.ts's Call). */
export interface ObservedCall {
  trace: RequestTrace | undefined;
  requestId: string;
  readonly route: { readonly method: string; readonly path: string };
  /** the method of an `any` route's request ('' otherwise) */
  readonly method: string;
}

const NO_OPTIONS: SendOptions = {};
/** the header's name as bytes: uWS converts a string key to UTF-8 at each call (tracing.ts) */
const X_REQUEST_ID = new Uint8Array(Buffer.from('x-request-id'));

export class RequestObserver {
  readonly tracing: Tracing | undefined;
  readonly #logger: Logger;
  readonly #all: boolean;
  readonly #errors: boolean;
  readonly #readsId: boolean;
  /** whether begin() has anything to read: mount() skips it otherwise */
  readonly reads: boolean;
  /** requests answered with a line (and a request id made for it) */
  lines = 0;

  constructor(def: LoggingDef, logger: Logger, tracing: Tracing | undefined) {
    this.tracing = tracing;
    this.#logger = logger.child({ component: 'http' });
    this.#all = def.requests === 'all';
    this.#errors = def.requests !== 'off';
    this.#readsId = def.requestIdHeader;
    this.reads = tracing !== undefined || def.requestIdHeader;
  }

  /** Whether the server needs one: tracing on, or request lines asked for. */
  static needed(def: LoggingDef, tracing: Tracing | undefined): boolean {
    return tracing !== undefined || def.requests !== 'off' || def.requestIdHeader;
  }

  /** Inside uWS's callback (req is valid only there): the trace decision and the client's id. */
  begin(call: ObservedCall, req: uWS.HttpRequest): void {
    call.requestId = this.#readsId ? checkRequestId(req.getHeader(X_REQUEST_ID)) : '';
    call.trace = this.tracing?.begin(req);
  }

  /**
   * Just before the answer is written: the spans and the log line, and the options with
   * the headers they add. Returns `opts` itself (nothing allocated) for an untraced 2xx-4xx
   * answer without a client id.
   */
  answer(call: ObservedCall, status: number, opts: SendOptions | undefined, err?: HotpathError): SendOptions | undefined {
    const t = call.trace;
    const line = this.#all || (this.#errors && status >= 500);
    if (t === undefined && call.requestId === '' && !line) return opts;
    const method = call.method !== '' ? call.method.toUpperCase() : call.route.method.toUpperCase();
    if (t !== undefined) {
      call.trace = undefined; // once: a reused Call's next request starts clean
      this.tracing!.finish(t, { method, route: call.route.path, status, code: err?.code });
    }
    const id = call.requestId !== '' ? call.requestId : t !== undefined ? t.traceId : line ? newRequestId() : '';
    if (line) {
      this.lines++;
      const fields = {
        request_id: id,
        ...(t !== undefined ? { trace_id: t.traceId, span_id: t.spanId } : {}),
        method,
        route: call.route.path,
        status,
        ...(err !== undefined ? { code: err.code } : {}),
      };
      const msg = err !== undefined ? redact(`${err.code}: ${err.message}`) : `${method} ${call.route.path} ${status}`;
      if (status >= 500) this.#logger.error(fields, msg);
      else if (status >= 400) this.#logger.warn(fields, msg);
      else this.#logger.info(fields, msg);
    }
    const o = opts ?? NO_OPTIONS;
    const headers: [string, string][] = o.headers ? o.headers.slice() : [];
    if (id !== '') headers.push(['x-request-id', id]);
    if (t !== undefined) headers.push(['traceparent', formatTraceparent(t.traceId, t.spanId)]);
    return { ...o, headers };
  }
}
