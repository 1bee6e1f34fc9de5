// What the fuzzer accepts as an answer, and the books it keeps.
//
// The rule for statuses: the fuzz server is sized so that no request can be shed or miss
// its deadline. Its wait queue (256) is larger than everything the fuzzer can have in
// flight at once (HTTP lanes x window + WebSocket lanes x window, checked in the test), a
// worker ring holds thousands of these requests, no fault is injected and every model's
// timeout (5 s) is far above the time of a batch. So 503 (overloaded, not ready, circuit
// open, worker crashed) and 504 (deadline) cannot be legitimate answers here, and every
// 5xx is a failure. A 2xx or 4xx is accepted when its body is what the route promises:
// JSON for a JSON content type; an error in hotpath's shape {"error": {"code", "message"}}
// with a code from src/errors.ts whose status is the response's, or in KServe's shape
// {"error": "<message>"}.
import { ERRORS, isErrorCode } from '../../src/errors.js';

export interface HttpAnswer {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Why an HTTP answer is wrong, or undefined when it is acceptable. An answer to HEAD has no body to judge. */
export function judgeHttp(a: HttpAnswer, head: boolean): string | undefined {
  if (a.status >= 500) return `status ${a.status}: ${a.body.toString('utf8', 0, 500)}`;
  if (a.status < 200 || (a.status >= 300 && a.status < 400)) return `unexpected status ${a.status}`;
  if (head) return undefined;
  const type = a.headers.get('content-type') ?? '';
  let json: unknown;
  if (type.startsWith('application/json')) {
    try {
      json = JSON.parse(a.body.toString('utf8'));
    } catch (err) {
      return `status ${a.status}: the body is not the JSON its content-type says (${(err as Error).message}): ${a.body.toString('utf8', 0, 200)}`;
    }
  }
  if (a.status >= 400) {
    if (json === undefined) return `status ${a.status} with content-type '${type}', not a JSON error`;
    return judgeError(json, a.status);
  }
  return undefined;
}

/** An error body: hotpath's shape with a known code and its status, or KServe's. */
function judgeError(json: unknown, status: number): string | undefined {
  const e = (json as { error?: unknown } | null)?.error;
  if (typeof e === 'string') return undefined; // KServe
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof (e as { message?: unknown } | undefined)?.message !== 'string') return `status ${status}: error body ${JSON.stringify(json).slice(0, 200)} has no message`;
  if (!isErrorCode(code)) return `status ${status}: unknown error code ${JSON.stringify(code)}`;
  if (ERRORS[code].status !== status) return `status ${status} for ${code}, whose status is ${ERRORS[code].status}`;
  return undefined;
}

/** Why a WebSocket error code is wrong: any code of a 5xx status (see the rule above). */
export function judgeWsCode(code: string): string | undefined {
  if (!isErrorCode(code)) return `unknown error code ${JSON.stringify(code)}`;
  if (ERRORS[code].status >= 500) return `error ${code} (status ${ERRORS[code].status})`;
  return undefined;
}

/** Counts by a two-level key: route (or frame kind) -> outcome -> n. */
export class Tally {
  readonly counts = new Map<string, Map<string, number>>();

  add(row: string, col: string, n = 1): void {
    let m = this.counts.get(row);
    if (!m) this.counts.set(row, (m = new Map()));
    m.set(col, (m.get(col) ?? 0) + n);
  }

  total(row?: string): number {
    let t = 0;
    for (const [r, m] of this.counts) if (row === undefined || r === row) for (const n of m.values()) t += n;
    return t;
  }

  /** A markdown table: one row per key, one column per outcome. */
  table(first: string): string {
    const cols = [...new Set([...this.counts.values()].flatMap((m) => [...m.keys()]))].sort();
    const rows = [...this.counts.keys()].sort();
    const out = [`| ${first} | total | ${cols.join(' | ')} |`, `|---|---:|${cols.map(() => '---:').join('|')}|`];
    for (const r of rows) out.push(`| ${r} | ${this.total(r)} | ${cols.map((c) => this.counts.get(r)!.get(c) ?? 0).join(' | ')} |`);
    return out.join('\n');
  }
}

/** A request as a failure message shows it: printable, escaped, cut at 600 bytes, plus base64 to replay it byte for byte. */
export function showBytes(b: Uint8Array): string {
  const buf = Buffer.from(b);
  const text = JSON.stringify(buf.toString('latin1', 0, 600));
  return `${text}${buf.length > 600 ? ` ... (${buf.length} bytes)` : ''}\n    base64: ${buf.length <= 16384 ? buf.toString('base64') : '(too long)'}`;
}
