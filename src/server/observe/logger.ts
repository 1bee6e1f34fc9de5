// The server's log: JSON lines through pino (one object per line: level, time, msg,
// component, and for a request's line request_id and trace_id), to stderr by default
// (stdout is the CLI's: `hotpath serve` prints where it listens there, and `hotpath
// routes` its table).
//
// Modules log through `Log`, a function of one line (`opts.log` in tests, unchanged): the
// default turns each line into an entry, its component the line's prefix ("redis: ..."),
// its level read from its words (a warning, an error, or info). Every line passes through
// `redact` first: a credential never reaches the log, whatever a message quoted.
import { randomBytes } from 'node:crypto';

import pino from 'pino';

import type { LoggingDef } from '../../config/observe.js';
import type { Log } from '../http.js';

export type Logger = pino.Logger;

/** Where lines go: a stream of JSON text (pino's DestinationStream). */
export interface LogStream {
  write(line: string): void;
}

/** Object keys pino blanks wherever they appear one or two levels down. */
const REDACT_PATHS = [
  'authorization', 'x-api-key', 'password', 'key', 'token', 'headers.authorization', 'headers["x-api-key"]', '*.authorization', '*["x-api-key"]', '*.password', '*.token',
];

/** A pino logger with hotpath's fields: level by name, ISO time, no pid/hostname. */
export function createLogger(def: Pick<LoggingDef, 'level'>, stream?: LogStream): Logger {
  return pino(
    {
      level: def.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    // stderr, written synchronously: a line logged just before a crash is not lost.
    stream ?? pino.destination({ dest: 2, sync: true }),
  );
}

/** A logger over a `Log` function (tests' `opts.log`): each entry becomes one line of JSON text. */
export function loggerOverLog(def: Pick<LoggingDef, 'level'>, log: Log): Logger {
  return createLogger(def, { write: (s) => log(s.endsWith('\n') ? s.slice(0, -1) : s) });
}

// Credentials as they may appear in free text: a bearer token, an API key header or query
// parameter, a JWT (three base64url parts, the first two JSON objects: "eyJ"), a password
// in a URL (redis://user:secret@host), a hotpath key (hp_...).
const SECRETS: [RegExp, string][] = [
  [/\b(bearer|basic)\s+[^\s"',;]+/gi, '$1 [redacted]'],
  [/\b(authorization|x-api-key|api[-_]?key|password|passwd|secret|token)(["']?\s*[:=]\s*["']?)[^\s"',;&]+/gi, '$1$2[redacted]'],
  [/([?&](?:key|token|access_token|api_key|password)=)[^&\s"']*/gi, '$1[redacted]'],
  [/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[redacted-jwt]'],
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, '$1[redacted]@'],
  [/\bhp_[A-Za-z0-9_-]{8,}/g, 'hp_[redacted]'],
];

/** A line with every credential it may quote blanked. */
export function redact(line: string): string {
  let out = line;
  for (const [re, to] of SECRETS) out = out.replace(re, to);
  return out;
}

const PREFIX = /^([a-z][a-z0-9_-]{0,31}): /;
const ERROR_WORDS = /\binternal error\b|\bcrash(?:ed)?\b|\bfailed\b|\bfatal\b|\bcorrupt/i;
const WARN_WORDS = /\bwarning\b|\bnot reachable\b|\bunreachable\b|\bdropped\b|\blost\b|\brefused\b|\bretry|\btimed out\b|\bstale\b|\bskipped\b/i;

/** The level a module's line is logged at, read from its words. */
export function levelOf(line: string): 'error' | 'warn' | 'info' {
  return ERROR_WORDS.test(line) ? 'error' : WARN_WORDS.test(line) ? 'warn' : 'info';
}

/** `Log` over a logger: "redis: online store: warmed ..." → {component: "redis", msg: "online store: warmed ..."}. */
export function lineLog(logger: Logger): Log {
  const children = new Map<string, Logger>();
  return (raw: string) => {
    const line = redact(raw);
    const m = PREFIX.exec(line);
    const component = m ? m[1] : 'hotpath';
    let child = children.get(component);
    if (child === undefined) children.set(component, (child = logger.child({ component })));
    child[levelOf(line)](m ? line.slice(m[0].length) : line);
  };
}

/** At most this many characters of a client's x-request-id are kept; a longer one is refused. */
export const REQUEST_ID_MAX = 128;

/** A client's x-request-id when it is 1..128 printable ASCII characters without spaces or quotes; else ''. */
export function checkRequestId(v: string): string {
  const n = v.length;
  if (n === 0 || n > REQUEST_ID_MAX) return '';
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c <= 32 || c >= 127 || c === 34 || c === 92) return '';
  }
  return v;
}

/** A request id of our own, made only when a line or an answer needs one: 16 hex digits. */
export function newRequestId(): string {
  return randomBytes(8).toString('hex');
}
