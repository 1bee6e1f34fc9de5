// The fuzzer's own oracles can fail: a server that answers 500, closes without answering,
// never answers, or sends a body after a HEAD answer is reported by the lanes, and
// judgeHttp refuses error bodies whose code and status disagree.
import { createServer, type Server } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { keepAliveLane } from './http-conn.js';
import type { FuzzRequest } from './http-gen.js';
import { judgeHttp } from './oracle.js';

let server: Server;
let port: number;
beforeAll(async () => {
  // Answers by path: /ok 200, /500 a 500, /close hangs up, /hang says nothing, /head-body
  // answers HEAD with a body.
  server = createServer((sock) => {
    sock.on('error', () => {});
    sock.on('data', (d) => {
      const path = /^\S+ (\S+)/.exec(d.toString('latin1'))?.[1];
      const answer = (status: string, body: string) => sock.write(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      if (path === '/ok') answer('200 OK', '{}');
      else if (path === '/500') answer('500 Internal Server Error', '{"error":{"code":"HP_ERR_INTERNAL","message":"x"}}');
      else if (path === '/close') sock.destroy();
      else if (path === '/head-body') answer('404 Not Found', '{"error":{"code":"HP_ERR_ROUTE_NOT_FOUND","message":"x"}}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Runs one lane over the requests; resolves with the failures it reported. */
async function lane(requests: [string, string][]): Promise<string[]> {
  const queue = requests.map(([method, path]): FuzzRequest => ({ route: path, credential: 'none', mutations: ['valid'], method, lane: 'framed', tooLarge: false, bytes: Buffer.from(`${method} ${path} HTTP/1.1\r\nhost: x\r\n\r\n`) }));
  const failures: string[] = [];
  await keepAliveLane(port, 1, {
    next: () => queue.shift(),
    answer: (r, a) => {
      const bad = judgeHttp(a, r.method === 'HEAD');
      if (bad) failures.push(bad);
    },
    unanswered: () => {},
    fail: (_r, why) => failures.push(why),
    stopped: () => failures.length > 0,
  }, 300);
  return failures;
}

describe('the HTTP lanes report', () => {
  it('nothing for good answers', async () => {
    expect(await lane([['GET', '/ok'], ['GET', '/ok']])).toEqual([]);
  });
  it('a 5xx', async () => {
    expect(await lane([['GET', '/ok'], ['GET', '/500']])).toEqual([expect.stringMatching(/^status 500/)]);
  });
  it('a close without an answer', async () => {
    expect(await lane([['GET', '/close']])).toEqual([expect.stringMatching(/closed the connection without answering 1 requests/)]);
  });
  it('a hang', async () => {
    expect(await lane([['GET', '/hang']])).toEqual(['no answer within 300 ms (1 in flight)']);
  });
  it('a body after a HEAD answer', async () => {
    expect(await lane([['HEAD', '/head-body']])).toEqual([expect.stringMatching(/^bytes after the answer to the last request/)]);
  });
});

describe('judgeHttp', () => {
  const a = (status: number, body: string, type = 'application/json') => ({ status, headers: new Map([['content-type', type]]), body: Buffer.from(body) });
  it('takes 2xx and 4xx with their bodies, in either error shape', () => {
    expect(judgeHttp(a(200, '{"x":1}'), false)).toBeUndefined();
    expect(judgeHttp(a(200, '# HELP x', 'text/plain'), false)).toBeUndefined();
    expect(judgeHttp(a(400, '{"error":{"code":"HP_ERR_BAD_JSON","message":"m"}}'), false)).toBeUndefined();
    expect(judgeHttp(a(400, '{"error":"kserve words"}'), false)).toBeUndefined();
    expect(judgeHttp(a(404, ''), true)).toBeUndefined();
  });
  it('refuses every 5xx, a code whose status differs, an unknown code, and a body that is not its JSON', () => {
    expect(judgeHttp(a(503, '{"error":{"code":"HP_ERR_OVERLOADED","message":"m"}}'), false)).toMatch(/^status 503/);
    expect(judgeHttp(a(400, '{"error":{"code":"HP_ERR_ROUTE_NOT_FOUND","message":"m"}}'), false)).toBe('status 400 for HP_ERR_ROUTE_NOT_FOUND, whose status is 404');
    expect(judgeHttp(a(400, '{"error":{"code":"HP_ERR_NOPE","message":"m"}}'), false)).toMatch(/unknown error code/);
    expect(judgeHttp(a(200, '{"x":'), false)).toMatch(/not the JSON/);
    expect(judgeHttp(a(302, ''), false)).toBe('unexpected status 302');
  });
});
