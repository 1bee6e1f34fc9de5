// The load generator behind `hotpath bench` against real servers on port 0: closed and open
// loop, non-2xx answers and errors counted by class and kept out of the latencies, a
// refused target, a server that stalls, and a rate that cannot be kept.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import uWS from 'uWebSockets.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { encodeRequest } from '../../src/bench/http-client.js';
import { runLoad } from '../../src/bench/loadgen.js';

let listen: uWS.us_listen_socket;
let base: string;
const stalled: uWS.HttpResponse[] = [];

beforeAll(async () => {
  const app = uWS.App()
    .get('/ok', (res) => {
      res.end('{"ok":true}');
    })
    .get('/fail', (res) => {
      res.writeStatus('500 Internal Server Error').end('{}');
    })
    .get('/slow', (res) => {
      res.onAborted(() => undefined);
      setTimeout(() => res.cork(() => res.end('late')), 10);
    })
    .get('/fallback', (res) => {
      res.end('{"score":0.5,"fallback":true,"reason":"overloaded"}');
    })
    .get('/shed', (res) => {
      res.writeStatus('503 Service Unavailable').writeHeader('retry-after', '1').end('{}');
    })
    .get('/never', (res) => {
      res.onAborted(() => undefined);
      stalled.push(res);
    });
  listen = await new Promise((resolve) => app.listen('127.0.0.1', 0, (s) => resolve(s)));
  base = `http://127.0.0.1:${uWS.us_socket_local_port(listen)}`;
});
afterAll(() => uWS.us_listen_socket_close(listen));

const get = (path: string) => [encodeRequest('GET', '127.0.0.1', path)];

describe('runLoad', () => {
  it('drives a closed loop and records 2xx latencies', async () => {
    const r = await runLoad({ url: base, requests: get('/ok'), connections: 4, durationMs: 400, warmupMs: 100, timeoutMs: 1000 });
    expect(r.mode).toBe('closed');
    expect(r.ok).toBeGreaterThan(100);
    expect(r.byStatus).toEqual({ 200: r.answered });
    expect(r.errors).toEqual({ connect: 0, reset: 0, timeout: 0, protocol: 0 });
    expect(r.latencyUs.p50).toBeGreaterThan(0);
    expect(r.latencyUs.p99).toBeGreaterThanOrEqual(r.latencyUs.p50);
    expect(r.histogram.totalCount).toBe(r.ok);
  });

  it('keeps an open-loop rate, measuring from the due time', async () => {
    const r = await runLoad({ url: base, requests: get('/ok'), connections: 4, durationMs: 1000, warmupMs: 200, timeoutMs: 1000, rate: 2000 });
    expect(r.mode).toBe('open');
    expect(r.answered).toBeGreaterThan(1800);
    expect(r.answered).toBeLessThan(2200);
    expect(r.reachedRate).toBe(true);
  });

  it('counts non-2xx answers by status, outside the latencies', async () => {
    const r = await runLoad({ url: base, requests: [...get('/ok'), ...get('/fail')], connections: 2, durationMs: 300, warmupMs: 0, timeoutMs: 1000 });
    expect(r.byStatus['500']).toBeGreaterThan(0);
    expect(r.byStatus['200']).toBeGreaterThan(0);
    expect(r.ok).toBe(r.byStatus['200']);
    expect(r.histogram.totalCount).toBe(r.ok);
  });

  it('reports a refused target as connect errors, with a note', async () => {
    const r = await runLoad({ url: 'http://127.0.0.1:1', requests: get('/ok'), connections: 2, durationMs: 300, warmupMs: 0, timeoutMs: 500 });
    expect(r.answered).toBe(0);
    expect(r.errors.connect).toBeGreaterThan(0);
    expect(r.notes.join(' ')).toMatch(/refused/);
  });

  it('counts a stalled server as timeouts', async () => {
    const r = await runLoad({ url: base, requests: get('/never'), connections: 2, durationMs: 600, warmupMs: 0, timeoutMs: 100 });
    expect(r.answered).toBe(0);
    expect(r.errors.timeout).toBeGreaterThan(2);
  });

  it('says so when the rate cannot be kept', async () => {
    // One connection to a server answering in 10 ms cannot carry 1000 requests a second.
    const r = await runLoad({ url: base, requests: get('/slow'), connections: 1, durationMs: 500, warmupMs: 0, timeoutMs: 2000, rate: 1000 });
    expect(r.reachedRate).toBe(false);
    expect(r.notes.join(' ')).toMatch(/could not keep 1000 req\/s/);
    // Coordinated omission corrected: queued requests show their wait, far above 10 ms.
    expect(r.latencyUs.p99).toBeGreaterThan(100_000);
    // ... and the send lag says where that wait was: before the send, for the connection.
    expect(r.sendLagUs!.p99).toBeGreaterThan(50_000);
    expect(r.notes.join(' ')).toMatch(/waited more than [\d.]+ ms to be sent/);
  });

  it('classifies answers: given by a fallback, shed with Retry-After; counts the requests due', async () => {
    const r = await runLoad({
      url: base, requests: [...get('/ok'), ...get('/fallback'), ...get('/shed'), ...get('/fail')], connections: 4, durationMs: 500, warmupMs: 0, timeoutMs: 1000, rate: 400, classify: true,
    });
    expect(r.scheduled).toBe(r.answered); // every request due was answered
    expect(r.fallbacks! / r.ok).toBeCloseTo(0.5, 1);
    expect(r.retryAfter).toBe(r.byStatus['503']);
    expect(r.byStatus['500']).toBeGreaterThan(0);
  });

  it('replaces a keep-alive connection the server closed while it sat unused, losing no request', async () => {
    // A server that closes its idle keep-alive connections at 300 ms (uWS closes those idle
    // for 10 s), and holds its answers from 400 to 600 ms, so that requests pile up and need the
    // spare connections: sending on the closed ones would count requests as resets.
    const t0 = Date.now();
    const lastUse = new Map<import('node:net').Socket, number>();
    setTimeout(() => {
      // Only those unused for 100 ms: the one in use (every 5 ms) has no request cut off.
      for (const [c, at] of lastUse) if (Date.now() - at > 100) c.destroy();
    }, 300);
    const idle = createServer((sock) => {
      lastUse.set(sock, Date.now());
      sock.on('close', () => lastUse.delete(sock));
      sock.on('data', () => {
        lastUse.set(sock, Infinity); // busy
        const now = Date.now() - t0;
        setTimeout(() => {
          lastUse.set(sock, Date.now());
          sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}');
        }, now >= 400 && now < 600 ? 600 - now : 0);
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => idle.listen(0, '127.0.0.1', r));
    try {
      const requests = get('/ok');
      // Measured from 350 ms: a request on its way when the server closes its connection, at
      // 300 ms, is a real reset (the race of every keep-alive client), not this test's subject.
      const r = await runLoad({ url: `http://127.0.0.1:${(idle.address() as AddressInfo).port}`, requests, connections: 32, durationMs: 650, warmupMs: 350, timeoutMs: 1000, rate: 200 });
      expect(r.errors).toEqual({ connect: 0, reset: 0, timeout: 0, protocol: 0 });
      expect(r.answered).toBe(r.scheduled);
    } finally {
      idle.close();
    }
  });

  it('sends on time when connections are free, without spinning', async () => {
    const cpu0 = process.cpuUsage();
    const r = await runLoad({ url: base, requests: get('/ok'), connections: 8, durationMs: 1000, warmupMs: 0, timeoutMs: 1000, rate: 2000 });
    const cpu = process.cpuUsage(cpu0);
    expect(r.reachedRate).toBe(true);
    expect(r.sendLagUs!.p50).toBeLessThan(1000);
    // 2,000 requests in a second: a generator that polled for its due times would burn the
    // whole second (measured 1.1 s; 0.45 s without polling, the server here included).
    expect((cpu.user + cpu.system) / 1e6).toBeLessThan(0.8);
  });
});

const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** `hotpath bench ...` in a child process; asynchronous: the target server may run in this process. */
const run = (...args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', cli, 'bench', ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });

describe('hotpath bench (CLI)', () => {

  it('prints throughput, latency and errors, and writes the HTML page', async () => {
    const html = join(mkdtempSync(join(tmpdir(), 'hp-bench-')), 'report.html');
    const r = await run('--url', base, '--scenario', 'file', '--file', fileURLToPath(new URL('../fixtures/bench-requests.json', import.meta.url)), '--duration', '0.3', '--warmup', '0', '--connections', '2', '--html', html);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/closed loop, 2 connections/);
    expect(r.stdout).toMatch(/throughput +\d+ req\/s/);
    expect(r.stdout).toMatch(/statuses +200: \d+, 500: \d+/);
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/<svg[^>]*>[\s\S]*<polyline[^>]*points="[\d., ]+"/);
    expect(page).toContain(`<td>${base}</td>`);
    // Self-contained: nothing to fetch (the only URL is the SVG namespace).
    expect(page.match(/(src|href)=/g)).toBeNull();
    expect(page.replace('http://www.w3.org/2000/svg', '').replace(new RegExp(base, 'g'), '')).not.toMatch(/https?:\/\//);
  });

  it('compares two targets in alternating rounds, with ratios, noise and server CPU', async () => {
    const r = await run('--url', base, '--compare', base, '--scenario', 'file', '--file', fileURLToPath(new URL('../fixtures/bench-requests.json', import.meta.url)),
      '--duration', '0.3', '--warmup', '0', '--connections', '2', '--rounds', '2');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 alternating rounds/);
    expect(r.stdout).toMatch(/round 2 +A \d+ req\/s/);
    expect(r.stdout).toMatch(/ratio A\/B +throughput \d+\.\d\dx/);
    expect(r.stdout).toMatch(/noise +A against itself: throughput \d+\.\d %/);
    // The target is this test process: its CPU is read from /proc.
    expect(r.stdout).toMatch(/CPU s\/1k/);
  });

  it('refuses bad arguments with a code', async () => {
    for (const args of [[], ['--url', 'nope'], ['--url', base, '--scenario', 'x'], ['--url', base, '--rate', '-3'], ['--url', base, '--duration', 'soon']]) {
      const r = await run(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/HP_ERR_QUERY_INVALID/);
    }
  });
});

describe('compareSummary', () => {
  it('takes medians, the A/B ratio and the spread of each side', async () => {
    const { compareSummary } = await import('../../src/bench/stats.js');
    const mk = (throughput: number, p99: number) => ({ throughput, latencyUs: { p99 } }) as never;
    const s = compareSummary([mk(100, 10), mk(120, 30), mk(110, 20)], [mk(50, 5), mk(50, 5), mk(60, 5)]);
    expect(s.throughput).toEqual({ a: 110, b: 50, ratio: 2.2, noiseA: 20 / 110, noiseB: 10 / 50 });
    expect(s.p99Us).toEqual({ a: 20, b: 5, ratio: 4, noiseA: 1, noiseB: 0 });
  });
});

describe('pairedRatios', () => {
  it('takes the median of per-round B/A ratios and each side against its own next round', async () => {
    const { pairedRatios } = await import('../../src/bench/stats.js');
    const x = pairedRatios([100, 110, 100], [100, 99, 120]);
    expect(x.a).toBe(100);
    expect(x.b).toBe(100);
    expect(x.ratio).toBeCloseTo(1, 9); // 1.0, 0.9, 1.2
    expect([x.ratioMin, x.ratioMax]).toEqual([0.9, 1.2]);
    expect(x.selfA.min).toBeCloseTo(100 / 110, 9);
    expect(x.selfA.max).toBeCloseTo(1.1, 9);
    expect(x.selfB.median).toBeCloseTo((0.99 + 120 / 99) / 2, 9);
    expect(x.selfA.spread).toBeCloseTo(0.1, 9);
    expect(Number.isNaN(pairedRatios([], []).ratio)).toBe(true);
  });
});

describe('the suite harness (src/bench/harness.ts)', () => {
  it('reads wrk --latency output', async () => {
    const { parseWrk } = await import('../../src/bench/harness.js');
    const out = [
      'Running 1s test @ http://127.0.0.1:18091/', '  1 threads and 64 connections',
      '  Latency Distribution', '     50%  747.00us', '     75%    1.02ms', '     90%    1.50ms', '     99%    2.26ms',
      '  75611 requests in 1.00s, 10.00MB read', '  Socket errors: connect 0, read 2, write 0, timeout 1', '  Non-2xx or 3xx responses: 5',
      'Requests/sec:  75611.18', 'Transfer/sec:     10.00MB',
    ].join('\n');
    expect(parseWrk(out)).toEqual({ rps: 75611.18, p50Us: 747, p99Us: 2260, non2xx: 5, socketErrors: 3 });
  });

  it('names results by date and suite, numbering a second run of the day', async () => {
    const { resultBase } = await import('../../src/bench/harness.js');
    const { writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'hp-results-'));
    expect(resultBase(dir, '2026-12-04', 'ab')).toBe(join(dir, '2026-12-04-ab'));
    writeFileSync(join(dir, '2026-12-04-ab.md'), '');
    expect(resultBase(dir, '2026-12-04', 'ab')).toBe(join(dir, '2026-12-04-ab-2'));
  });

  it('starts a server, waits for it, stops it; and says when it dies before it is ready', async () => {
    const { spawnTracked, waitReady } = await import('../../src/bench/harness.js');
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const port = 18790 + (process.pid % 100);
    const hello = spawnTracked('uws-hello', process.execPath, ['bench/uws-hello.mjs', String(port)], { cwd: root });
    try {
      await waitReady(`http://127.0.0.1:${port}/`, { proc: hello, ok200: true });
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    } finally {
      await hello.stop();
    }
    expect(hello.child.exitCode !== null || hello.child.signalCode !== null).toBe(true);
    const dead = spawnTracked('dies', process.execPath, ['-e', 'console.error("no config"); process.exit(0)'], { cwd: root });
    await expect(waitReady('http://127.0.0.1:1/', { proc: dead, timeoutMs: 5000 })).rejects.toThrow(/dies exited before it was ready: no config/);
  });

  it('gc-observer.cjs writes the main thread\'s scavenges for the gc scenario', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hp-gc-')), 'gc.json');
    const observer = fileURLToPath(new URL('../../bench/gc-observer.cjs', import.meta.url));
    // Allocates young garbage for 600 ms, then lets the observer write once more.
    const script = 'const t = Date.now(); let keep; while (Date.now() - t < 600) keep = Array.from({ length: 1000 }, (_, i) => ({ i })); setTimeout(() => {}, 300);';
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, ['--require', observer, '-e', script], { env: { ...process.env, HOTPATH_BENCH_GC_FILE: file } }, (err) => (err ? reject(err) : resolve())));
    const snap = JSON.parse(readFileSync(file, 'utf8'));
    expect(snap.minor[0]).toBeGreaterThan(0);
    expect(snap.minor[1]).toBeGreaterThan(0);
    expect(snap.minorPauses.length).toBe(snap.minor[0]);
    expect(snap.at).toBeGreaterThan(Date.now() - 60_000);
  });
});

describe('WsConnection', () => {
  it('counts error frames by their status, and a refused upgrade as a connect error', async () => {
    const { WsConnection, clientFrame } = await import('../../src/bench/ws-client.js');
    const { encodeError, encodeEventsResult } = await import('../../src/server/ws-protocol.js');
    let n = 0;
    const app = uWS.App().ws('/ws', {
      message: (ws) => {
        ws.send(n++ % 2 ? encodeError(1, 'HP_ERR_EVENT_INVALID', 'bad') : encodeEventsResult(1, 5, 0), true);
      },
    });
    const sock: uWS.us_listen_socket = await new Promise((resolve) => app.listen('127.0.0.1', 0, (s) => resolve(s)));
    const url = `http://127.0.0.1:${uWS.us_socket_local_port(sock)}`;
    try {
      const r = await runLoad({ url, ws: '/ws', requests: [clientFrame(new Uint8Array(300))], connections: 2, durationMs: 300, warmupMs: 0, timeoutMs: 1000 });
      expect(r.ok).toBeGreaterThan(10);
      expect(r.byStatus[400]).toBeGreaterThan(10); // HP_ERR_EVENT_INVALID is a 400
      expect(Math.abs(r.byStatus[200] - r.byStatus[400])).toBeLessThanOrEqual(2);
      expect(r.histogram.totalCount).toBe(r.ok);
      // A path with no WebSocket route: not upgraded, so no connection.
      const c = new WsConnection('127.0.0.1', uWS.us_socket_local_port(sock), 1000, '/nope');
      await expect(c.ready()).rejects.toThrow(/not upgraded|connect/);
      const none = await runLoad({ url, ws: '/nope', requests: [clientFrame(new Uint8Array(1))], connections: 1, durationMs: 200, warmupMs: 0, timeoutMs: 500 });
      expect(none.answered).toBe(0);
      expect(none.errors.connect).toBeGreaterThan(0);
      // A server that accepts and never answers the upgrade: the run still ends on time.
      const mute = createServer(() => undefined);
      await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
      try {
        const t0 = performance.now();
        const silent = await runLoad({ url: `http://127.0.0.1:${(mute.address() as AddressInfo).port}`, ws: '/ws', requests: [clientFrame(new Uint8Array(1))], connections: 2, durationMs: 300, warmupMs: 0, timeoutMs: 200, rate: 100 });
        expect(performance.now() - t0).toBeLessThan(3000);
        expect(silent.answered).toBe(0);
        expect(silent.errors.connect).toBeGreaterThan(0);
      } finally {
        mute.close();
      }
    } finally {
      uWS.us_listen_socket_close(sock);
    }
  });
});

describe('hotpath bench against hotpath', () => {
  it('reads batch sizes from /metrics and the server CPU from /proc', async () => {
    const { FRAUD_V1, makeRepo, metric, oneModelYaml, startWith } = await import('../support/inference-server.js');
    const ingested = async () => metric(await (await fetch(`${hp}/metrics`)).text(), 'hotpath_events_ingested_total', 'stream="tx"');
    const repo = makeRepo({ fraud: { 1: FRAUD_V1 } });
    const { server, base: hp } = await startWith(repo, oneModelYaml('fraud', 'batching: { max_batch: 32, max_queue_delay_us: 500 }'));
    try {
      const r = await run('--url', hp, '--scenario', 'predict', '--duration', '0.5', '--warmup', '0', '--connections', '16');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/statuses +200: \d+$/m);
      const m = /batches +fraud: (\d+) rows in (\d+) batches, mean ([\d.]+)/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThan(Number(m![2])); // 16 connections, a 500 us window: batches above 1
      expect(r.stdout).toMatch(/server CPU +\d+\.\d{3} s per 1,000 requests/);
      // Freshness: every write is visible to the next read (ingest is synchronous).
      const f = await run('--url', hp, '--scenario', 'freshness', '--samples', '200', '--feature', 'amount_max_1h');
      expect(f.status, f.stderr).toBe(0);
      expect(f.stdout).toMatch(/200 samples/);
      expect(f.stdout).toMatch(/re-reads +0 /);
      expect(f.stdout).toMatch(/failures +0/);
      // Binary WebSocket events: every accepted event shows in /metrics.
      const before = await ingested();
      const w = await run('--url', hp, '--scenario', 'ws-events', '--stream', 'tx', '--batch', '50', '--duration', '0.5', '--warmup', '0', '--connections', '2');
      expect(w.status, w.stderr).toBe(0);
      const sent = /\((\d+) 2xx of (\d+)\); (\d+) events\/s accepted/.exec(w.stdout);
      expect(sent, w.stdout).not.toBeNull();
      expect(sent![1]).toBe(sent![2]);
      expect(w.stdout).toMatch(/errors +none/);
      const after = await ingested();
      expect(after - before).toBeGreaterThanOrEqual(Number(sent![1]) * 50); // at least the measured frames' events
    } finally {
      await server.close();
    }
  });
});
