// A minimal HTTP/1.1 keep-alive connection for the load generator: one request in flight,
// requests pre-encoded as bytes, responses parsed just enough to find their status and
// end (content-length or chunked). Hand-written because the generator must not be the
// bottleneck: fetch (undici) costs tens of microseconds per request in this process, a
// raw socket a few (bench/README.md has the comparison with wrk).
import { connect, type Socket } from 'node:net';

export type ErrorClass = 'connect' | 'reset' | 'timeout' | 'protocol';

export interface Reply {
  status: number;
  /** set only for requestBody() */
  body?: string;
  /** classifying connections only: a 2xx answer that says "fallback":true */
  fallback?: boolean;
  /** classifying connections only: an error answer that carries Retry-After */
  retryAfter?: boolean;
}

const CRLF2 = Buffer.from('\r\n\r\n');
const FALLBACK = Buffer.from('"fallback":true');

/**
 * A socket with at most one request in flight: request() sends bytes and resolves with the
 * answer (answer()) or an error class (fail()); sweep() times it out. The HTTP and the
 * WebSocket connections differ only in how they read answers (onData).
 */
export abstract class OneInFlight {
  protected readonly socket: Socket;
  #waiting: ((r: Reply | ErrorClass) => void) | null = null;
  /** when the request in flight times out (performance.now() ms); checked by sweep() */
  #deadline = Infinity;
  #closed = false;

  constructor(host: string, port: number, readonly timeoutMs: number) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (d) => this.onData(d));
    this.socket.on('error', () => this.answer('reset'));
    this.socket.on('close', () => {
      this.#closed = true;
      this.onClose();
      this.answer('reset');
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** performance.now() ms since when the connection has had no request in flight */
  idleSince = performance.now();

  /** Sends one request and waits for its answer (or an error class). */
  request(bytes: Buffer): Promise<Reply | ErrorClass> {
    if (this.#closed) return Promise.resolve('reset');
    return new Promise((resolve) => {
      this.#waiting = resolve;
      this.#deadline = performance.now() + this.timeoutMs;
      this.socket.write(bytes);
    });
  }

  /**
   * Times out the request in flight if its deadline passed (the generator calls this for
   * every connection a few times a second: one timer per request would cost more than
   * the request). A timed-out connection is closed: its late answer would be misread as
   * the next request's.
   */
  sweep(now: number): void {
    if (this.#waiting && now > this.#deadline) {
      this.answer('timeout');
      this.close();
    }
  }

  close(): void {
    this.#closed = true;
    this.socket.destroy();
  }

  /** Resolves the request in flight, if any, with its answer or an error class. */
  protected answer(r: Reply | ErrorClass): void {
    const w = this.#waiting;
    if (!w) return;
    this.#waiting = null;
    this.#deadline = Infinity;
    this.idleSince = performance.now();
    w(r);
  }

  /** Resolves when the connection can carry requests; rejects when it cannot. */
  abstract ready(): Promise<void>;

  protected abstract onData(d: Buffer): void;

  protected onClose(): void {}
}

/** HTTP/1.1 keep-alive: answers end by content-length or chunked encoding. */
export class Connection extends OneInFlight {
  #buf: Buffer = Buffer.alloc(0);
  #wantBody = false;
  readonly #classify: boolean;
  #connected: Promise<void>;

  /** classify: mark answers answered by a fallback, and errors that carry Retry-After (the fault bench) */
  constructor(host: string, port: number, timeoutMs: number, classify = false) {
    super(host, port, timeoutMs);
    this.#classify = classify;
    this.#connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
  }

  /** Resolves when connected; rejects (class 'connect') when refused or unreachable. */
  async ready(): Promise<void> {
    try {
      await this.#connected;
    } catch {
      throw new Error('connect');
    }
  }

  /** request(), keeping the response body (UTF-8). */
  requestBody(bytes: Buffer): Promise<(Reply & { body: string }) | ErrorClass> {
    this.#wantBody = true;
    return this.request(bytes) as Promise<(Reply & { body: string }) | ErrorClass>;
  }

  protected onData(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    const head = this.#buf.indexOf(CRLF2);
    if (head < 0) return;
    if (this.#buf.toString('latin1', 0, 5) !== 'HTTP/') {
      this.answer('protocol');
      this.close();
      return;
    }
    const status = Number(this.#buf.toString('latin1', 9, 12));
    const headers = this.#buf.toString('latin1', 0, head).toLowerCase();
    let end: number;
    const cl = /\r\ncontent-length: *(\d+)/.exec(headers);
    if (cl) {
      end = head + 4 + Number(cl[1]);
      if (this.#buf.length < end) return;
    } else if (headers.includes('\r\ntransfer-encoding: chunked')) {
      const last = this.#buf.indexOf('\r\n0\r\n\r\n', head);
      if (last < 0) return;
      end = last + 7;
    } else {
      end = head + 4; // no body (204, 304)
    }
    const body = this.#wantBody ? this.#buf.toString('utf8', head + 4, end) : undefined;
    this.#wantBody = false;
    let reply: Reply = body === undefined ? { status } : { status, body };
    if (this.#classify) {
      if (status < 300) reply = { status, fallback: this.#buf.subarray(head + 4, end).includes(FALLBACK) };
      else reply = { status, retryAfter: headers.includes('\r\nretry-after:') };
    }
    this.#buf = this.#buf.subarray(end);
    this.answer(reply);
  }
}

/** Encodes one request: method, path, headers and body, with content-length. */
export function encodeRequest(method: string, host: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Buffer {
  const b = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (b) head += `content-length: ${b.length}\r\n`;
  return b ? Buffer.concat([Buffer.from(`${head}\r\n`), b]) : Buffer.from(`${head}\r\n`);
}
