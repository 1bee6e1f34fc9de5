// HTTP plumbing shared by the routes: answering (inside res.cork, never after an abort),
// coded errors, and body reading with a size limit.
import type uWS from 'uWebSockets.js';

import { HotpathError, toHotpathError } from '../errors.js';

/** aborted: the client went away, or we have answered; either way res is off limits. */
export type Res = uWS.HttpResponse & { aborted?: boolean };

export type Log = (line: string) => void;

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed',
  409: '409 Conflict', 413: '413 Payload Too Large', 429: '429 Too Many Requests', 500: '500 Internal Server Error', 501: '501 Not Implemented', 503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

export interface SendOptions {
  contentType?: string;
  headers?: [string, string][];
  closeConnection?: boolean;
}

const NO_OPTIONS: SendOptions = {};

// What send() writes, handed to the corked writer without a closure per answer (res.cork
// runs its callback before it returns, so one set of slots is enough).
let corkRes: Res | undefined;
let corkStatus = 0;
let corkBody: string | Uint8Array = '';
let corkOpts: SendOptions = NO_OPTIONS;

// The common header as bytes: uWS copies a string argument to UTF-8 in a heap buffer of
// its own per call (V8's String::Utf8Value), a typed array it reads in place.
const CONTENT_TYPE = new TextEncoder().encode('content-type');
const APPLICATION_JSON = new TextEncoder().encode('application/json');

// A 200 writes no status line of its own: uWS writes "HTTP/1.1 200 OK" when end() comes
// first, and every uWS call from JS costs a crossing and a string conversion.
function writeCorked(): void {
  const res = corkRes!;
  if (corkStatus !== 200) res.writeStatus(STATUS_TEXT[corkStatus] ?? `${corkStatus} Error`);
  const type = corkOpts.contentType;
  res.writeHeader(CONTENT_TYPE, type === undefined ? APPLICATION_JSON : type);
  if (corkOpts.headers) for (const [k, v] of corkOpts.headers) res.writeHeader(k, v);
  res.end(corkBody, corkOpts.closeConnection ?? false);
}

// The response whose uWS request handler is running now (mount sets it around a body-less
// route's synchronous run): uWS has corked its socket for the handler, so an answer written
// there needs no res.cork of its own, a crossing into uWS and back into JS less. Answers
// written later (a predict's, from the pool's collect) are corked here.
let handlerRes: Res | undefined;

/** mount(): `res`'s handler runs from now (undefined: it has returned). */
export function inHandler(res: Res | undefined): void {
  handlerRes = res;
}

export function send(res: Res, status: number, body: string | Uint8Array, opts: SendOptions = NO_OPTIONS): void {
  if (res.aborted) return;
  res.aborted = true; // answered: nothing may touch res again
  corkRes = res;
  corkStatus = status;
  corkBody = body;
  corkOpts = opts;
  try {
    if (res === handlerRes) writeCorked();
    else res.cork(writeCorked);
  } finally {
    corkRes = undefined;
    corkBody = '';
    corkOpts = NO_OPTIONS;
  }
}

const RETRY_1S: [string, string][] = [['retry-after', '1']];
const AUTH_REQUIRED: [string, string][] = [['www-authenticate', 'Bearer realm="hotpath"']];
const AUTH_INVALID: [string, string][] = [['www-authenticate', 'Bearer realm="hotpath", error="invalid_token"']];

/**
 * Headers an error adds: Retry-After when retrying later can succeed (429s say when, in
 * details.retry_after_s); WWW-Authenticate on 401 and 403 (RFC 6750: the scope a 403 lacked).
 */
export function errorHeaders(e: HotpathError): [string, string][] | undefined {
  switch (e.code) {
    case 'HP_ERR_OVERLOADED':
    case 'HP_ERR_CIRCUIT_OPEN':
    case 'HP_ERR_MODEL_NOT_READY':
    case 'HP_ERR_WORKER_CRASHED':
    case 'HP_ERR_NOT_READY':
    case 'HP_ERR_WAL_UNAVAILABLE':
    case 'HP_ERR_SHARED_LOG_FULL':
      return RETRY_1S;
    case 'HP_ERR_RATE_LIMITED':
    case 'HP_ERR_CONNECTIONS_LIMITED':
      return [['retry-after', String(e.details?.retry_after_s ?? 1)]];
    case 'HP_ERR_AUTH_REQUIRED':
      return AUTH_REQUIRED;
    case 'HP_ERR_AUTH_INVALID':
    case 'HP_ERR_AUTH_EXPIRED':
      return AUTH_INVALID;
    case 'HP_ERR_AUTH_FORBIDDEN':
      return [['www-authenticate', `Bearer realm="hotpath", error="insufficient_scope", scope="${String(e.details?.scope ?? '')}"`]];
    default:
      return undefined;
  }
}

/**
 * Any thrown value as a HotpathError, logging the unexpected ones (internal errors, with
 * their stack): every protocol's error path goes through here. Expected failures (a bad
 * request, a deadline, an open breaker) are answered and counted in metrics, not logged.
 */
export function toAnswer(err: unknown, log: Log): HotpathError {
  const e = toHotpathError(err);
  if (e.code === 'HP_ERR_INTERNAL' || e.code === 'HP_ERR_NATIVE_INTERNAL') log(`internal error: ${(err as Error)?.stack ?? err}`);
  return e;
}

export function sendError(res: Res, err: unknown, log: Log, closeConnection = false): void {
  const e = toAnswer(err, log);
  send(res, e.status, JSON.stringify(e.toJSON()), { closeConnection, headers: errorHeaders(e) });
}

/** A number as JSON.stringify writes it: JSON has no NaN or infinities, they become null. */
export function jsonNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : 'null';
}

/** Parses a JSON body, with the registry's codes for an empty or malformed one. */
export function parseJsonBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim().length === 0) throw new HotpathError('HP_ERR_BODY_EMPTY', 'the request body is empty');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HotpathError('HP_ERR_BAD_JSON', `body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Where readBody delivers: the body, or the refusal of one past the limit. */
export interface BodySink {
  /** `body` is valid only while this runs (see readBody) */
  onBody(body: Buffer): void;
  /** the body passed maxBytes: answer (the connection is closed so the client stops sending) */
  onTooLarge(err: HotpathError): void;
  /** the client went away before the answer */
  onAborted(): void;
}

/**
 * Reads the whole body and refuses it with 413 as soon as it passes maxBytes. The sink
 * gets a Buffer that is valid only while onBody runs: a body that arrives in one chunk is
 * passed as a view of uWS's chunk, which uWS neuters when the callback returns (no copy on
 * the common path); longer bodies are copied chunk by chunk. Every route parses its body
 * inside onBody.
 */
export function readBody(res: Res, maxBytes: number, sink: BodySink): void {
  new BodyReader(sink).start(res, maxBytes);
}

/**
 * readBody's state and the two callbacks it hands uWS, made once per reader: a reader
 * that a pooled request object owns (route.ts) reads each of its requests' bodies with no
 * closure made per request. start() may be called again only once nothing of the last
 * response can call back: its body was read to the end and it was answered (uWS drops
 * onAborted when end() is called) or aborted.
 */
export class BodyReader {
  readonly #sink: BodySink;
  #maxBytes = 0;
  #buf: Buffer | undefined = undefined;
  #size = 0;
  #refused = false;
  readonly #onAborted = (): void => this.#sink.onAborted();
  readonly #onData = (chunk: ArrayBuffer, isLast: boolean): void => this.#data(chunk, isLast);

  constructor(sink: BodySink) {
    this.#sink = sink;
  }

  start(res: Res, maxBytes: number): void {
    this.#maxBytes = maxBytes;
    this.#buf = undefined;
    this.#size = 0;
    this.#refused = false;
    res.onAborted(this.#onAborted);
    res.onData(this.#onData);
  }

  #data(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.#refused) return;
    const maxBytes = this.#maxBytes;
    const size = (this.#size += chunk.byteLength);
    if (size > maxBytes) {
      this.#refused = true;
      this.#buf = undefined;
      this.#sink.onTooLarge(new HotpathError('HP_ERR_BODY_TOO_LARGE', `body is larger than ${maxBytes} bytes (server.max_body_bytes)`));
      return;
    }
    let buf = this.#buf;
    if (isLast && buf === undefined) {
      this.#sink.onBody(Buffer.from(chunk)); // a view: valid during this callback only
      return;
    }
    // Later chunks are copied into one buffer that doubles as it fills (uWS neuters chunk):
    // no allocation per chunk, which a chunked body of 1-byte chunks would make a million.
    const at = size - chunk.byteLength;
    if (buf === undefined || size > buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(size, 2 * (buf?.length ?? 0), 4096)));
      buf?.copy(grown, 0, 0, at);
      this.#buf = buf = grown;
    }
    buf.set(new Uint8Array(chunk), at);
    if (isLast) {
      this.#buf = undefined;
      this.#sink.onBody(buf.subarray(0, size));
    }
  }
}
