// Turns the seeds into fuzzed HTTP requests: pick a route of ROUTES by weight, one of its
// seeds, stack 0-3 mutations (body bytes, JSON structure, JSON text, random or spliced
// bodies, KServe header lengths and tensor bytes, headers, query, path params, method,
// chunked framing), then encode it. Requests whose HTTP framing stays valid go to the
// pipelined lanes; a few are mangled at the wire level (bad content-length, broken
// chunks, bad request lines) and sent alone on a connection of their own.
import type { Route } from '../../src/server/routes/route.js';
import { MAX_BODY_BYTES, MODELS } from './config.js';
import { INTERESTING_STRINGS, mutateBytes, mutateJson, mutateJsonText, randomJson, type Rng, stringifyJson } from './mutate.js';
import { HTTP_SEEDS, type HttpSeed, type SeedBody } from './seeds.js';

/**
 * pipelined: valid HTTP to a route that answers synchronously, sent behind others on a
 * keep-alive connection; framed: valid HTTP, one at a time on a keep-alive connection;
 * solo: valid HTTP that closes the connection; raw: mangled HTTP, alone.
 */
export type Lane = 'pipelined' | 'framed' | 'solo' | 'raw';

export interface FuzzRequest {
  /** the route whose seed it came from ("METHOD /pattern") */
  route: string;
  /** the credential it presents (a name from config.ts's FuzzAuth) */
  credential: string;
  /** the mutations applied, in order ("valid" when none) */
  mutations: string[];
  method: string;
  lane: Lane;
  /** the body is larger than server.max_body_bytes: a 413, or a reset while sending, is its answer */
  tooLarge: boolean;
  bytes: Buffer;
}

export const routeKey = (r: Pick<Route, 'method' | 'path'>) => `${r.method.toUpperCase()} ${r.path}`;

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'];
const CONTENT_TYPES = ['application/json', 'application/x-ndjson', 'application/jsonl', 'text/plain', 'application/octet-stream', '', 'ndjson; charset=utf-8', 'application/json; charset=latin1'];
const QUERY_KEYS = ['stream', 'features', 'at', 'x', '', 'stream[]', '__proto__'];

interface Draft {
  method: string;
  path: string;
  query: string;
  headers: [string, string][];
  body: SeedBody | undefined;
  /** KServe: the Inference-Header-Content-Length to send instead of the true one */
  headerLength?: string;
  chunked: boolean;
}

export class HttpGenerator {
  readonly #routes: { route: Route; key: string; weight: number }[];
  readonly #weights: number[];
  /** the routes that may answer after their handler returns, as (method, path pattern) */
  readonly #later: { method: string; re: RegExp }[];

  readonly #credentials: { name: string; headers: [string, string][] }[];
  readonly #credentialWeights: number[];

  /**
   * credentials: name -> headers, from FuzzAuth (the admin ones are presented by most
   * requests, so that they reach the handlers; the others by a few each).
   */
  constructor(routes: readonly Route[], credentials: Record<string, [string, string][]>, readonly rawShare = 0.05) {
    this.#credentials = Object.entries(credentials).map(([name, headers]) => ({ name, headers }));
    this.#credentialWeights = this.#credentials.map((c) => (c.name === 'admin key' ? 40 : c.name === 'admin JWT' ? 25 : c.name.startsWith('admin') ? 15 : 1.5));
    this.#routes = routes.map((route) => {
      const key = routeKey(route);
      const seeds = HTTP_SEEDS[key];
      if (!seeds) throw new Error(`route ${key} has no fuzz seeds: add it to HTTP_SEEDS in test/fuzz/seeds.ts`);
      return { route, key, weight: seeds.weight };
    });
    this.#weights = this.#routes.map((r) => r.weight);
    // A :param matches any segment, an empty one too (to be safe: uWS may).
    this.#later = routes
      .filter((r) => HTTP_SEEDS[routeKey(r)].async)
      .map((r) => ({ method: r.method.toUpperCase(), re: new RegExp(`^${r.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[a-z]+/g, '[^/]*')}$`) }));
  }

  /** Whether a request may be answered after its handler returns: it matches an async route. */
  answersLater(method: string, path: string): boolean {
    return this.#later.some((r) => (r.method === method || r.method === 'ANY') && r.re.test(path));
  }

  next(rng: Rng): FuzzRequest {
    const { route, key } = this.#routes[rng.weighted(this.#weights)];
    const seed = rng.pick(HTTP_SEEDS[key].seeds(rng));
    const d = draftOf(route, seed);
    const credential = this.#credentials[rng.weighted(this.#credentialWeights)];
    d.headers.unshift(...credential.headers);
    const mutations: string[] = [];
    const n = rng.weighted([12, 45, 28, 15]);
    for (let i = 0; i < n; i++) mutations.push(this.#mutate(rng, d));
    // Unloading a served model would make its later predicts answer 503, which this fuzzer
    // counts as a failure: a mutation that lands on the unload of a served model is sent
    // for a model the config does not have instead.
    const unload = /^\/v2\/repository\/models\/([^/?]*)\/unload$/.exec(d.path);
    if (unload && Object.hasOwn(MODELS, unload[1])) d.path = '/v2/repository/models/no_such_model/unload';
    let bytes = encode(rng, d);
    const bodyBytes = bodyOf(d).length;
    const tooLarge = bodyBytes > MAX_BODY_BYTES;
    // Only a request that no route answers later may be pipelined (see http-conn.ts), and
    // only with an API key that is let in: a token not seen before is verified
    // asynchronously (so answered later), and a refused request with a body is answered
    // and its connection closed (docs/security.md), which drops the requests behind it.
    const admitted = credential.name.startsWith('admin key') && !mutations.includes('credential-bytes') && !mutations.includes('header');
    const pipelinable = admitted && !this.answersLater(d.method, d.path);
    let lane: Lane = tooLarge || d.headers.some(([k, v]) => k === 'connection' && v === 'close') ? 'solo' : pipelinable ? 'pipelined' : 'framed';
    if (rng.chance(this.rawShare)) {
      const m = mangleWire(rng, bytes);
      bytes = m.bytes;
      mutations.push(m.what);
      lane = 'raw';
    }
    return { route: key, credential: credential.name, mutations: mutations.length > 0 ? mutations : ['valid'], method: d.method, lane, tooLarge, bytes };
  }

  #mutate(rng: Rng, d: Draft): string {
    const b = d.body;
    const ops: string[] = ['header', 'query', 'param', 'method', 'chunked', 'body-random', 'body-splice'];
    if (d.headers.some(([k]) => k === 'authorization' || k === 'x-api-key')) ops.push('credential-bytes');
    if (b) ops.push('body-bytes', 'body-bytes');
    if (b && (b.kind === 'json' || b.kind === 'ndjson' || b.kind === 'kserve')) ops.push('body-json', 'body-json', 'body-json', 'body-text');
    if (b?.kind === 'kserve') ops.push('kserve-length', 'kserve-length', 'kserve-tensor', 'kserve-tensor');
    const op = rng.pick(ops);
    switch (op) {
      case 'body-bytes':
        d.body = { kind: 'raw', bytes: mutateBytes(rng, bodyOf(d)) };
        d.headerLength ??= b?.kind === 'kserve' ? String(headerText(b).length) : undefined;
        break;
      case 'body-json':
        if (b!.kind === 'json') d.body = { ...b!, value: mutateJson(rng, b!.value) };
        else if (b!.kind === 'ndjson') {
          const lines = mutateJson(rng, b!.lines);
          d.body = { kind: 'ndjson', lines: Array.isArray(lines) ? lines : [lines] };
        }
        else if (b!.kind === 'kserve') d.body = { ...b!, header: mutateJson(rng, b!.header) };
        break;
      case 'body-text':
        if (b!.kind === 'kserve') {
          const text = Buffer.from(mutateJsonText(rng, stringifyJson(b!.header)));
          d.body = { kind: 'raw', bytes: Buffer.concat([text, b!.tensors]) };
          d.headerLength ??= String(text.length);
        } else d.body = { kind: 'raw', bytes: Buffer.from(mutateJsonText(rng, bodyOf(d).toString('utf8'))) };
        break;
      case 'body-random':
        d.body = rng.chance(0.5) ? { kind: 'raw', bytes: rng.bytes(rng.size(2048)) } : { kind: 'json', value: randomJson(rng, 4) };
        if (!/POST|PUT|PATCH/.test(d.method)) d.method = 'POST';
        break;
      case 'body-splice': { // another route's body: valid JSON, wrong shape
        const other = HTTP_SEEDS[rng.pick(Object.keys(HTTP_SEEDS))].seeds(rng).find((s) => s.body)?.body;
        if (other) d.body = other;
        break;
      }
      case 'kserve-length': {
        const k = d.body as Extract<SeedBody, { kind: 'kserve' }>;
        const len = headerText(k).length;
        const total = len + k.tensors.length;
        d.headerLength = String(rng.pick([0, 1, len - 1, len + 1, len - 4, len + 4, total, total + 1, 2 ** 31, 2 ** 53, 10 ** 15, len]))
          .replace(/^/, rng.chance(0.1) ? rng.pick(['-', ' ', '+', '0x', '']) : '');
        if (rng.chance(0.1)) d.headerLength = rng.pick(['', 'abc', '1e3', '12.5', ' ', '٣', String(len).repeat(2), '-0']);
        break;
      }
      case 'kserve-tensor': {
        const k = d.body as Extract<SeedBody, { kind: 'kserve' }>;
        const t = rng.chance(0.3) ? k.tensors.subarray(0, rng.int(k.tensors.length + 1)) : rng.chance(0.3) ? Buffer.concat([k.tensors, rng.bytes(1 + rng.size(64))]) : mutateBytes(rng, k.tensors);
        d.body = { ...k, tensors: t };
        break;
      }
      case 'header':
        mutateHeaders(rng, d);
        break;
      case 'credential-bytes': { // the credential's value mangled (printable, so the HTTP framing stays valid)
        const i = d.headers.findIndex(([k]) => k === 'authorization' || k === 'x-api-key');
        const v = mutateBytes(rng, Buffer.from(d.headers[i][1])).toString('latin1').replace(/[\u0000-\u001f\u007f-\uffff]/g, rng.pick(['', 'x', '.']));
        d.headers[i] = [d.headers[i][0], v];
        break;
      }
      case 'query':
        d.query = randomQuery(rng, d.query);
        break;
      case 'param':
        d.path = mutatePath(rng, d.path);
        break;
      case 'method':
        d.method = rng.pick(METHODS);
        break;
      case 'chunked':
        d.chunked = true;
        break;
    }
    return op;
  }
}

function draftOf(route: Route, seed: HttpSeed): Draft {
  let path = seed.path ?? route.path;
  if (!seed.path) for (const [k, v] of Object.entries(seed.params ?? {})) path = path.replace(`:${k}`, v);
  return { method: seed.method ?? route.method.toUpperCase(), path, query: seed.query ?? '', headers: [...(seed.headers ?? [])], body: seed.body, chunked: false };
}

function headerText(b: Extract<SeedBody, { kind: 'kserve' }>): Buffer {
  return Buffer.from(stringifyJson(b.header));
}

export function bodyOf(d: Pick<Draft, 'body'>): Buffer {
  const b = d.body;
  if (!b) return Buffer.alloc(0);
  switch (b.kind) {
    case 'json': return Buffer.from(stringifyJson(b.value));
    case 'ndjson': return Buffer.from(b.lines.map((l) => stringifyJson(l)).join('\n'));
    case 'kserve': return Buffer.concat([headerText(b), b.tensors]);
    default: return b.bytes;
  }
}

function mutateHeaders(rng: Rng, d: Draft): void {
  switch (rng.int(6)) {
    case 0: d.headers.push(['content-type', rng.pick(CONTENT_TYPES)]); break;
    case 1: d.headers.push(['inference-header-content-length', rng.pick(['0', '1', '-1', '10', '99999999', 'abc', '', ' 5'])]); break;
    case 2: d.headers.push([rng.pick(['x-a', 'accept', 'user-agent', 'cookie', 'x-request-id', 'authorization']), rng.pick(INTERESTING_STRINGS).replace(/[\r\n\u0000-\u001f\u007f-\uffff]/g, '') || 'v']); break;
    case 3: d.headers.push(['x-long', 'v'.repeat(rng.size(3000))]); break;
    case 4: d.headers.push(['expect', '100-continue']); break;
    default: d.headers.push(['connection', rng.pick(['close', 'keep-alive', 'upgrade'])]); break;
  }
}

/** Percent-encodes the UTF-8 bytes of s (lone surrogates become U+FFFD, as Buffer.from makes them). */
const pct = (s: string) => [...Buffer.from(s)].map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

function randomQuery(rng: Rng, q: string): string {
  const parts = q ? q.split('&') : [];
  for (let i = 1 + rng.int(3); i > 0; i--) {
    const key = rng.pick(QUERY_KEYS);
    const value = rng.chance(0.3) ? rng.pick(['tx', 'nope', 'txn_count_1h,,amount_mean_1h', 'nope,txn_count_1h', String(Date.now()), '-1', '2024-05-01T12:00:00Z', '1e999']) : rng.pick(INTERESTING_STRINGS);
    parts.push(rng.chance(0.8) ? `${key}=${pct(value)}` : `${key}${rng.pick(['', '=', '==', '=%', '=%zz', '=%C3'])}`);
  }
  if (rng.chance(0.05)) parts.push(`x=${'q'.repeat(rng.size(3000))}`);
  return parts.join('&');
}

function mutatePath(rng: Rng, path: string): string {
  const segs = path.split('/');
  const i = 1 + rng.int(Math.max(1, segs.length - 1));
  switch (rng.int(5)) {
    case 0: segs[i] = pct(rng.pick(INTERESTING_STRINGS)); break;
    case 1: segs[i] = [...rng.bytes(1 + rng.size(40))].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''); break;
    case 2: segs[i] = rng.pick(['', '.', '..', 'fraud', 'leaky', '1', '0', '01', '2', '999999999999', 'user', 'merchant', 'x'.repeat(300), '%', '%2F']); break;
    case 3: segs.splice(i, 0, rng.pick(['v1', 'v2', 'models', 'x'])); break;
    default: segs.splice(i, 1); break;
  }
  return segs.join('/') || '/';
}

/** The request on the wire: content-length framing, or chunked with random chunk sizes. */
function encode(rng: Rng, d: Draft): Buffer {
  const body = bodyOf(d);
  const lines = [`${d.method} ${d.path}${d.query ? `?${d.query}` : ''} HTTP/1.1`, 'host: fuzz'];
  for (const [k, v] of d.headers) lines.push(`${k}: ${v}`);
  if (d.body?.kind === 'kserve' || d.headerLength !== undefined) {
    const len = d.headerLength ?? String(headerText(d.body as Extract<SeedBody, { kind: 'kserve' }>).length);
    lines.push(`inference-header-content-length: ${len}`);
  }
  if (d.chunked) {
    lines.push('transfer-encoding: chunked');
    const parts: Buffer[] = [Buffer.from(`${lines.join('\r\n')}\r\n\r\n`)];
    for (let at = 0; at < body.length;) {
      const n = Math.min(body.length - at, 1 + rng.size(body.length));
      parts.push(Buffer.from(`${rng.chance(0.5) ? n.toString(16) : n.toString(16).toUpperCase()}\r\n`), body.subarray(at, at + n), Buffer.from('\r\n'));
      at += n;
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    return Buffer.concat(parts);
  }
  if (body.length > 0 || d.method === 'POST' || rng.chance(0.1)) lines.push(`content-length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]);
}

/** Breaks the HTTP framing itself: what a raw socket can send and a client library cannot. */
function mangleWire(rng: Rng, bytes: Buffer): { bytes: Buffer; what: string } {
  const text = bytes.toString('latin1');
  const head = text.indexOf('\r\n\r\n');
  const sub = (re: RegExp, to: string | ((...m: string[]) => string)) => Buffer.from(text.replace(re, to as string), 'latin1');
  switch (rng.int(12)) {
    case 0: return { bytes: mutateBytes(rng, bytes, 6), what: 'wire-bytes' };
    case 1: return { bytes: sub(/content-length: \d+/i, `content-length: ${rng.pick(['-1', 'abc', '99999999999999999999', '1', '5000000', '0x10', ' 3', '1,1'])}`), what: 'wire-content-length' };
    case 2: return { bytes: sub(/\r\n\r\n/, `\r\ncontent-length: ${rng.int(100)}\r\ntransfer-encoding: chunked\r\n\r\n`), what: 'wire-cl-and-te' };
    case 3: return { bytes: Buffer.concat([sub(/content-length: \d+\r\n/i, '').subarray(0, head), Buffer.from('\r\ntransfer-encoding: chunked\r\n\r\n'), Buffer.from(rng.pick(['zz\r\nab\r\n0\r\n\r\n', '5\r\nab\r\n0\r\n\r\n', 'ffffffffffffffff\r\nab\r\n', '3;ext=1\r\nabc\r\n0\r\n\r\n', '1\r\na\r\n', '-1\r\n\r\n', '0\r\nx-trailer: 1\r\n\r\n']))]), what: 'wire-chunks' };
    case 4: return { bytes: sub(/ HTTP\/1\.1\r\n/, rng.pick([' HTTP/1.0\r\n', ' HTTP/2.0\r\n', ' HTTP/1.1 x\r\n', '\r\n', ' http/1.1\r\n', ' HTTP/1.1\n'])), what: 'wire-version' };
    case 5: return { bytes: sub(/host: fuzz\r\n/, ''), what: 'wire-no-host' };
    case 6: return { bytes: sub(/\r\n/g, '\n'), what: 'wire-lf-only' };
    case 7: return { bytes: sub(/host: fuzz/, `host: fuzz\r\nx-big: ${'h'.repeat(rng.pick([4000, 9000, 70000]))}`), what: 'wire-huge-header' };
    case 8: return { bytes: sub(/host: fuzz/, rng.pick(['host fuzz', ': empty', 'x-a:\u0000b', 'x\u00ff: y', ' folded: x', 'host: a\r\nhost: b'])), what: 'wire-bad-header' };
    case 9: return { bytes: sub(/^(\S+) (\S+)/, (_m: string, m: string, p: string) => `${m} ${p.replace(/\/$/, '')}${rng.pick(['\u0000', '\u00e9', ' ', '\t', '#frag', '\u007f', '?\u0001'])}x`), what: 'wire-bad-target' };
    case 10: return { bytes: bytes.subarray(0, rng.int(bytes.length)), what: 'wire-truncated' };
    default: return { bytes: Buffer.concat(Array.from({ length: 2 + rng.int(3) }, () => bytes)), what: 'wire-repeated' };
  }
}
