// The HTTP and WebSocket fuzzer: ≥ 100k seeded random and mutated requests across every
// route of ROUTES (bodies, headers, query strings, methods, chunked bodies, KServe binary
// tensors with wrong header lengths and byte sizes, Feast bodies), WebSocket text and
// binary frames (EVENTS frames with bad rows), mangled HTTP and WebSocket framing, and
// clients that vanish mid-request, against a real server in a child process.
//
// Oracles: the server process never exits; no answer is a 5xx and every error answer has
// the shape and status its code promises (oracle.ts says why no 5xx is legitimate here);
// every request is answered within HANG_MS; afterwards the pool has nothing in flight
// (pending, wait queue, ring bytes, per-model in-flight counts all zero), the JS heap is
// within HEAP_SLACK and the RSS within RSS_SLACK of the baseline taken after a warm-up of
// the same mix, the server logged no internal error, and it still answers a valid predict.
//
//   FUZZ_SEED=n        replay a run (the seed is printed, and in every failure)
//   FUZZ_REQUESTS=n    HTTP requests (default 100000); FUZZ_WS_FRAMES=n (default 20000)
//   FUZZ_REPORT=file   also write the counts as markdown tables to file
import { type ChildProcess, fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';

import { afterAll, describe, expect, it } from 'vitest';

import { ROUTES, WS_ROUTES } from '../../src/server/routes/index.js';
import { type FuzzAuth, fuzzAuth, JWT_ENV, writeFuzzConfig } from './config.js';
import { keepAliveLane, type LaneHooks, rawLane, soloLane } from './http-conn.js';
import { type FuzzRequest, HttpGenerator, type Lane, routeKey } from './http-gen.js';
import { Rng } from './mutate.js';
import { judgeHttp, showBytes, Tally } from './oracle.js';
import { HTTP_SEEDS, WS_SEEDED_PATHS } from './seeds.js';
import type { ChildStats } from './server-child.js';
import { type WsFrame, wsFrame, wsLane, wsRawLane, wsVanishing } from './ws-fuzz.js';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 100_000);
const WS_FRAMES = Number(process.env.FUZZ_WS_FRAMES ?? 20_000);
const HANG_MS = 10_000;
const HEAP_SLACK = 16 * 1024 * 1024;
const RSS_SLACK = 48 * 1024 * 1024;
/** Connections per lane kind, and the window of each: in flight at most 16*1 + 4*16 + 2*32 (+ solo and raw, one each). */
const LANES = { framed: 16, pipelined: 4, solo: 2, raw: 6, ws: 2, wsSolo: 1 };
const PIPELINE_WINDOW = 16;
const WS_WINDOW = 32;
const WAIT_QUEUE = 256; // config.ts: the in-flight bound above must stay below it (oracle.ts)

interface Books {
  http: Tally;
  credentials: Tally;
  lanes: Tally;
  ops: Tally;
  ws: Tally;
  wsOps: Tally;
  failures: string[];
  /** the last requests handed to a lane: what was in flight if the server dies */
  recent: string[];
  stop: boolean;
}

const books = (): Books => ({ http: new Tally(), credentials: new Tally(), lanes: new Tally(), ops: new Tally(), ws: new Tally(), wsOps: new Tally(), failures: [], recent: [], stop: false });

const describeRequest = (r: FuzzRequest) => `${r.route} [${r.lane}; ${r.mutations.join(', ')}]\n    ${showBytes(r.bytes)}`;
const describeFrame = (f: WsFrame) => `ws ${f.kind} [${f.binary ? 'binary' : 'text'}; ${f.mutations.join(', ')}]\n    ${showBytes(f.data)}`;

let child: ChildProcess | undefined;
let closing = false;
const stderr: string[] = [];
afterAll(() => {
  closing = true;
  child?.kill('SIGKILL');
});

async function startChild(b: () => Books, auth: FuzzAuth): Promise<number> {
  const [repo, config] = writeFuzzConfig(auth);
  child = fork(new URL('./server-child.ts', import.meta.url).pathname, [repo, config], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    env: { ...process.env, [JWT_ENV]: auth.secret },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stderr!.on('data', (d) => stderr.push(...String(d).split('\n').filter((l) => l.length > 0)));
  child.stdout!.on('data', (d) => stderr.push(...String(d).split('\n').filter((l) => l.length > 0)));
  child.on('exit', (code, signal) => {
    if (closing) return;
    const run = b();
    run.failures.push(`the server process exited (code ${code}, signal ${signal}); the last requests sent:\n  ${run.recent.join('\n  ')}\n  stderr: ${stderr.slice(-20).join('\n  ')}`);
    run.stop = true;
  });
  return new Promise((resolve, reject) => {
    child!.once('message', (m: { type: string; port: number }) => (m.type === 'ready' ? resolve(m.port) : reject(new Error(`unexpected ${m.type}`))));
    child!.once('exit', (code) => reject(new Error(`the server did not start (exit ${code}): ${stderr.join('\n')}`)));
  });
}

function childStats(): Promise<ChildStats> {
  return new Promise((resolve) => {
    child!.once('message', (m: { type: string } & ChildStats) => resolve(m));
    child!.send({ type: 'stats' });
  });
}

/** Runs `requests` HTTP requests and `frames` WebSocket frames through every lane, generated from `seed`. */
async function phase(port: number, run: Books, auth: FuzzAuth, seed: number, requests: number, frames: number): Promise<void> {
  const gen = new HttpGenerator(ROUTES, auth.credentials);
  const admin = Object.fromEntries(auth.admin);
  const rng = new Rng(seed);
  const queues: Record<Lane, FuzzRequest[]> = { pipelined: [], framed: [], solo: [], raw: [] };
  const heads: Record<Lane, number> = { pipelined: 0, framed: 0, solo: 0, raw: 0 };
  let produced = 0;
  const counted = new WeakSet<FuzzRequest>();
  const remember = (what: string) => {
    run.recent.push(what);
    if (run.recent.length > 12) run.recent.shift();
  };
  const fail = (what: string, why: string) => {
    if (run.failures.length < 10) run.failures.push(`seed ${SEED}: ${why}\n  ${what}`);
    run.stop = run.stop || run.failures.length >= 10;
  };
  const hooks = (lane: Lane): LaneHooks => ({
    next() {
      const q = queues[lane];
      while (heads[lane] >= q.length && produced < requests) {
        const r = gen.next(rng);
        produced++;
        queues[r.lane].push(r);
      }
      if (heads[lane] >= q.length) return undefined;
      const r = q[heads[lane]];
      q[heads[lane]++] = undefined as unknown as FuzzRequest; // let it go
      remember(describeRequest(r));
      return r;
    },
    answer(r, a) {
      const bad = judgeHttp(a, r.method === 'HEAD');
      if (bad) fail(describeRequest(r), bad);
      // A raw request can hold several requests: each answer is judged, the first is counted.
      if (counted.has(r)) return;
      counted.add(r);
      run.http.add(r.route, String(a.status));
      run.credentials.add(r.credential, String(a.status));
      run.lanes.add(r.lane, String(a.status));
      for (const op of new Set(r.mutations)) run.ops.add(op, String(a.status));
    },
    unanswered(r, why) {
      run.http.add(r.route, why === 'closed' ? 'closed' : 'reset');
      run.lanes.add(r.lane, why === 'closed' ? 'closed' : 'reset');
    },
    fail: (r, why) => fail(r ? describeRequest(r) : '(no request)', why),
    stopped: () => run.stop,
  });

  const wsRng = new Rng(seed ^ 0x9e3779b9);
  const wsQueues: [WsFrame[], WsFrame[]] = [[], []];
  let wsProduced = 0;
  const wsHooks = (solo: boolean) => ({
    next() {
      const q = wsQueues[solo ? 1 : 0];
      while (q.length === 0 && wsProduced < frames) {
        const f = wsFrame(wsRng, wsProduced++);
        wsQueues[f.mayClose ? 1 : 0].push(f);
      }
      const f = q.shift();
      if (f) remember(describeFrame(f));
      return f;
    },
    answer(f: WsFrame, outcome: string) {
      run.ws.add(`${f.kind} (${f.binary ? 'binary' : 'text'})`, outcome);
      for (const op of new Set(f.mutations)) run.wsOps.add(`${f.binary ? 'binary' : 'text'} ${op}`, outcome.startsWith('HP_ERR') ? '4xx code' : outcome);
    },
    fail: (f: WsFrame | undefined, why: string) => fail(f ? describeFrame(f) : '(no frame)', why),
    stopped: () => run.stop,
  });

  const lanes: Promise<unknown>[] = [];
  for (let i = 0; i < LANES.framed; i++) lanes.push(keepAliveLane(port, 1, hooks('framed'), HANG_MS));
  for (let i = 0; i < LANES.pipelined; i++) lanes.push(keepAliveLane(port, PIPELINE_WINDOW, hooks('pipelined'), HANG_MS));
  for (let i = 0; i < LANES.solo; i++) lanes.push(soloLane(port, hooks('solo'), HANG_MS));
  for (let i = 0; i < LANES.raw; i++) lanes.push(rawLane(port, hooks('raw'), HANG_MS));
  // One keep-open lane presents the admin key as a header, the other as a subprotocol.
  lanes.push(wsLane(port, WS_WINDOW, wsHooks(false), HANG_MS, { headers: admin }));
  lanes.push(wsLane(port, WS_WINDOW, wsHooks(false), HANG_MS, { protocols: auth.wsProtocols }));
  for (let i = 0; i < LANES.wsSolo; i++) lanes.push(wsLane(port, 1, wsHooks(true), HANG_MS, { headers: admin }, true));
  lanes.push(wsRawLane(port, new Rng(seed ^ 0x85ebca6b), Math.ceil(frames / 100), admin, { fail: wsHooks(false).fail, stopped: () => run.stop }, HANG_MS).then((n) => run.ws.add('raw framing (mangled)', 'sent', n)));
  lanes.push(vanishingClients(port, new Rng(seed ^ 0xc2b2ae35), Math.ceil(requests / 500), gen, run));
  lanes.push(wsVanishing(port, new Rng(seed ^ 0x27d4eb2f), Math.ceil(frames / 200), admin, () => run.stop).then((n) => run.lanes.add('vanishing WebSocket client', 'frames, then terminate', n)));
  await Promise.all(lanes);
  // Lanes stop pulling when a failure stops the run; otherwise every request was taken.
  if (!run.stop) expect(produced).toBe(requests);
}

/**
 * Clients that go away: a request cut at a random byte then a reset, or a whole request
 * (a predict or an infer among them) and a reset before its answer. The server must
 * answer nothing on them and leave no request in flight.
 */
async function vanishingClients(port: number, rng: Rng, n: number, gen: HttpGenerator, run: Books): Promise<void> {
  for (let i = 0; i < n && !run.stop; i++) {
    const r = gen.next(rng);
    const cut = rng.chance(0.5) ? r.bytes.subarray(0, rng.int(r.bytes.length)) : r.bytes;
    await new Promise<void>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' }, () => {
        s.write(cut);
        setTimeout(() => {
          s.resetAndDestroy();
          resolve();
        }, rng.int(3));
      });
      s.on('error', () => {});
    });
    run.lanes.add('vanishing client', cut === r.bytes ? 'whole, then reset' : 'cut, then reset');
  }
}

describe('the fuzzer covers every route', () => {
  it('has seeds for each route of ROUTES and WS_ROUTES, and none for a route that does not exist', () => {
    expect(Object.keys(HTTP_SEEDS).sort()).toEqual(ROUTES.map(routeKey).sort());
    // The WebSocket fuzzer sends frames: a route that reads none (/dashboard/ws) has none to seed.
    expect(WS_SEEDED_PATHS.sort()).toEqual(WS_ROUTES.filter((w) => w.frameScopes.length > 0).map((w) => w.path).sort());
    // oracle.ts: no request may be shed, so the in-flight bound stays below the wait queue.
    expect(LANES.framed + LANES.pipelined * PIPELINE_WINDOW + LANES.solo + LANES.raw + LANES.ws * WS_WINDOW + LANES.wsSolo + 1).toBeLessThan(WAIT_QUEUE);
  });
});

describe('fuzzing the server', () => {
  it(`${REQUESTS} HTTP requests and ${WS_FRAMES} WebSocket frames: no crash, no 5xx, no hang; memory and rings back to baseline`, async () => {
    console.log(`fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED})`);
    let run = books();
    const auth = await fuzzAuth();
    const port = await startChild(() => run, auth);
    const t0 = Date.now();
    // Warm-up with the same mix (another seed): code paths compiled, pools and caches grown.
    await phase(port, run, auth, SEED ^ 0x5bd1e995, Math.max(2000, REQUESTS / 20), Math.max(500, WS_FRAMES / 20));
    const warm = run;
    expect(warm.failures, warm.failures.join('\n\n')).toEqual([]);
    const before = await childStats();
    run = books();
    const t1 = Date.now();
    await phase(port, run, auth, SEED, REQUESTS, WS_FRAMES);
    const t2 = Date.now();
    const after = await childStats();

    const internal = stderr.filter((l) => /internal error|Error|uncaught|warning/i.test(l));
    const summary = [
      `seed ${SEED}: ${REQUESTS} HTTP requests, ${WS_FRAMES} WebSocket frames in ${((t2 - t1) / 1000).toFixed(1)} s (warm-up ${((t1 - t0) / 1000).toFixed(1)} s)`,
      `memory: rss ${mib(before.rss)} -> ${mib(after.rss)} MiB, heap ${mib(before.heapUsed)} -> ${mib(after.heapUsed)} MiB, external ${mib(before.external)} -> ${mib(after.external)} MiB`,
      `pool after: pending ${after.pending}, waiting ${after.waiting}, rings ${JSON.stringify(after.occupancy)}, in flight ${JSON.stringify(after.inflight)}`,
      `store after: ${JSON.stringify(after.store)}`,
      '', run.http.table('route'), '', run.credentials.table('credential'), '', run.lanes.table('lane'), '', run.ops.table('mutation'), '', run.ws.table('frame kind'), '', run.wsOps.table('frame mutation'),
    ].join('\n');
    console.log(summary);
    if (process.env.FUZZ_REPORT) writeFileSync(process.env.FUZZ_REPORT, `${summary}\n`);

    expect(run.failures, run.failures.join('\n\n')).toEqual([]);
    expect(internal, internal.join('\n')).toEqual([]);
    expect(run.http.total()).toBe(REQUESTS);
    expect(run.ws.total() - (run.ws.counts.get('raw framing (mangled)')?.get('sent') ?? 0)).toBe(WS_FRAMES);
    expect([after.pending, after.waiting]).toEqual([0, 0]);
    for (const o of after.occupancy) expect([o.requests, o.responses]).toEqual([0, 0]);
    for (const n of Object.values(after.inflight)) expect(n).toBe(0);
    expect(after.heapUsed - before.heapUsed, summary).toBeLessThan(HEAP_SLACK);
    expect(after.rss - before.rss, summary).toBeLessThan(RSS_SLACK);

    // Still serving, then a clean exit.
    const base = `http://127.0.0.1:${port}`;
    const ok = await fetch(`${base}/v1/predict/fraud`, { method: 'POST', headers: Object.fromEntries(auth.admin), body: JSON.stringify({ entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 5 } }) });
    expect(ok.status).toBe(200);
    closing = true;
    const code = await new Promise<number | null>((resolve) => {
      child!.once('exit', resolve);
      child!.send({ type: 'close' });
    });
    expect(code).toBe(0);
  }, 600_000);
});

const mib = (n: number) => (n / 2 ** 20).toFixed(1);
