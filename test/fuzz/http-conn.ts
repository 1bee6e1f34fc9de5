// Raw-socket HTTP/1.1 lanes for the fuzzer: requests are bytes, so anything can be sent.
//
// - KeepAliveLane: one keep-alive connection, `window` requests in flight. Window 1 for
//   requests that may be answered asynchronously (predict, infer, metrics, model load):
//   uWebSockets.js closes a connection when a request arrives while an earlier answer is
//   still pending, so pipelining is only safe for routes that answer synchronously. After
//   an answer with `connection: close` (a refused request with a body) nothing more is
//   sent on the connection; what was pipelined behind it goes on the next one (and the
//   lane closes this one itself: uWS answers what is pipelined and leaves it open).
// - SoloLane: one connection per request, for requests that close the connection (a body
//   over the limit, `connection: close`).
// - RawLane: one connection per request with mangled HTTP; it half-closes after sending,
//   and whatever comes back (answers, a close) is accepted as long as the connection ends
//   within the hang limit and no answer is a 5xx.
// Every lane reports each answer and each failure (a hang, a close without an answer, an
// unparseable answer) through its hooks.
import { connect, type Socket } from 'node:net';

import type { FuzzRequest } from './http-gen.js';
import type { HttpAnswer } from './oracle.js';

export interface LaneHooks {
  /** the next request for this lane, or undefined when there are no more */
  next(): FuzzRequest | undefined;
  answer(req: FuzzRequest, a: HttpAnswer): void;
  /** the request is counted as sent without an answer it could be judged by (a reset while sending a body over the limit) */
  unanswered(req: FuzzRequest, why: string): void;
  fail(req: FuzzRequest | undefined, why: string): void;
  /** true once the run is over (a failure that stops it, or the server gone) */
  stopped(): boolean;
}

class Garbage extends Error {}

/** Parses a stream of HTTP/1.1 responses. */
export class ResponseParser {
  #buf: Buffer = Buffer.alloc(0);

  push(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
  }

  get pending(): number {
    return this.#buf.length;
  }

  /** The unparsed bytes, as text, for a failure message. */
  peek(n: number): string {
    return this.#buf.toString('latin1', 0, n);
  }

  /** The next whole response (1xx interim answers skipped), or undefined; throws Garbage. */
  next(head: boolean): HttpAnswer | undefined {
    for (;;) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.#buf.length >= 12 && !/^HTTP\/1\.1 \d{3}/.test(this.#buf.toString('latin1', 0, 12))) throw new Garbage(this.#buf.toString('latin1', 0, 80));
        return undefined;
      }
      const lines = this.#buf.toString('latin1', 0, end).split('\r\n');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(lines[0]);
      if (!m) throw new Garbage(lines[0].slice(0, 80));
      const status = Number(m[1]);
      const headers = new Map<string, string>();
      for (let i = 1; i < lines.length; i++) {
        const c = lines[i].indexOf(':');
        if (c > 0) headers.set(lines[i].slice(0, c).toLowerCase(), lines[i].slice(c + 1).trim());
      }
      if (status >= 100 && status < 200) {
        this.#buf = this.#buf.subarray(end + 4);
        continue;
      }
      const len = head ? 0 : Number(headers.get('content-length') ?? '0');
      if (this.#buf.length < end + 4 + len) return undefined;
      const body = Buffer.from(this.#buf.subarray(end + 4, end + 4 + len));
      this.#buf = this.#buf.subarray(end + 4 + len);
      return { status, headers, body };
    }
  }
}

const isHead = (r: FuzzRequest) => r.method === 'HEAD';

/** Resolves when the lane's source is exhausted and every request it sent is answered. */
export function keepAliveLane(port: number, window: number, hooks: LaneHooks, hangMs: number): Promise<void> {
  return new Promise((resolve) => {
    let sock: Socket;
    let parser: ResponseParser;
    let inFlight: FuzzRequest[] = [];
    let last: FuzzRequest | undefined;
    /** the server said `connection: close`: send nothing more here; what is in flight was not read */
    let closing = false;
    let retry: FuzzRequest[] = [];
    let lastProgress = Date.now();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(watchdog);
      sock.destroy();
      resolve();
    };
    const open = () => {
      closing = false;
      parser = new ResponseParser();
      sock = connect({ port, host: '127.0.0.1', noDelay: true });
      sock.on('data', onData);
      sock.on('error', () => {});
      sock.on('close', onClose);
      pump();
    };
    const pump = () => {
      if (hooks.stopped()) return finish();
      if (closing) return;
      const out: Buffer[] = [];
      if (inFlight.length === 0) lastProgress = Date.now();
      while (inFlight.length < window) {
        const r = retry.shift() ?? hooks.next();
        if (!r) break;
        inFlight.push(r);
        out.push(r.bytes);
      }
      if (out.length > 0) sock.write(out.length === 1 ? out[0] : Buffer.concat(out));
      else if (inFlight.length === 0) finish();
    };
    const onData = (d: Buffer) => {
      lastProgress = Date.now();
      parser.push(d);
      try {
        for (let a = inFlight.length > 0 ? parser.next(isHead(inFlight[0])) : undefined; a; a = inFlight.length > 0 ? parser.next(isHead(inFlight[0])) : undefined) {
          last = inFlight.shift()!;
          hooks.answer(last, a);
          if (a.headers.get('connection')?.toLowerCase() === 'close') {
            closing = true;
            const behind = inFlight.length;
            retry = inFlight.concat(retry);
            inFlight = [];
            // uWS answers requests already pipelined behind a `connection: close` answer and
            // then keeps the connection open (it parses bodies by their length, so nothing
            // is misread): with requests behind it, close the connection here, as an HTTP
            // client does, and send them again on a new one. Alone, the server must close it.
            if (behind > 0) sock.destroy();
            break;
          }
        }
      } catch (err) {
        hooks.fail(inFlight[0], `unparseable answer: ${JSON.stringify((err as Error).message)}`);
        return finish();
      }
      if (inFlight.length === 0 && parser.pending > 0 && !closing) {
        hooks.fail(last, `bytes after the answer to the last request: ${JSON.stringify(parser.peek(200))}`);
        return finish();
      }
      pump();
    };
    const onClose = () => {
      if (done) return;
      if (inFlight.length > 0 && !closing) {
        const show = (r: FuzzRequest) => `${r.route} [${r.mutations.join(', ')}] ${JSON.stringify(r.bytes.toString('latin1', 0, 300))}`;
        hooks.fail(inFlight[0], `the server closed the connection without answering ${inFlight.length} requests; the answered one before them:\n    ${last ? show(last) : '(none)'}\n  in flight:\n    ${inFlight.map(show).join('\n    ')}`);
        return finish();
      }
      inFlight = [];
      open();
    };
    const watchdog = setInterval(() => {
      if (hooks.stopped()) return finish();
      if (closing && Date.now() - lastProgress > hangMs) {
        hooks.fail(last, `the connection stayed open ${hangMs} ms after an answer with connection: close`);
        finish();
      } else if (inFlight.length > 0 && Date.now() - lastProgress > hangMs) {
        hooks.fail(inFlight[0], `no answer within ${hangMs} ms (${inFlight.length} in flight)`);
        finish();
      }
    }, 200);
    open();
  });
}

/** One request per connection; a close after the answer is expected. */
export async function soloLane(port: number, hooks: LaneHooks, hangMs: number): Promise<void> {
  for (let r = hooks.next(); r && !hooks.stopped(); r = hooks.next()) await oneShot(port, r, hooks, hangMs, false);
}

/** One mangled request per connection, half-closed after sending. */
export async function rawLane(port: number, hooks: LaneHooks, hangMs: number): Promise<void> {
  for (let r = hooks.next(); r && !hooks.stopped(); r = hooks.next()) await oneShot(port, r, hooks, hangMs, true);
}

function oneShot(port: number, r: FuzzRequest, hooks: LaneHooks, hangMs: number, raw: boolean): Promise<void> {
  return new Promise((resolve) => {
    const parser = new ResponseParser();
    let answered = 0;
    let settled = false;
    const sock = connect({ port, host: '127.0.0.1', noDelay: true }, () => {
      // A raw request may carry several requests (or none whole): send it and say we are done.
      if (raw) sock.end(r.bytes);
      else sock.write(r.bytes);
    });
    const settle = (why?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (why) hooks.fail(r, why);
      sock.destroy();
      resolve();
    };
    const timer = setTimeout(() => settle(`the connection neither answered nor closed within ${hangMs} ms`), hangMs);
    sock.on('data', (d) => {
      parser.push(d);
      try {
        for (let a = parser.next(isHead(r)); a; a = parser.next(isHead(r))) {
          answered++;
          hooks.answer(r, a);
          if (!raw) return settle();
        }
      } catch (err) {
        // A raw request can desynchronise the answers (a body the server read differently
        // than we framed it): only well-formed requests must be parseable.
        if (!raw) settle(`unparseable answer: ${JSON.stringify((err as Error).message)}`);
        else settle();
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      if (settled) return;
      if (answered === 0) {
        if (raw) hooks.unanswered(r, 'closed');
        else if (r.tooLarge) hooks.unanswered(r, 'reset while sending a body over the limit');
        else return settle('the server closed the connection without answering');
      }
      settle();
    });
  });
}
