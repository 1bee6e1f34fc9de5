// The crash test: a hotpath server in a child process with a data directory, ingest at
// load over HTTP (JSON batches) and binary WebSocket (EVENTS frames), `kill -9` at random
// moments, a restart each time, and at the end every entity's event count read back and
// checked against what was acknowledged:
//   acknowledged <= count <= acknowledged + unknown
// where `unknown` is the events in requests that were in flight when the server died (they
// may or may not have made it; they were never acknowledged). A count below what was
// acknowledged is an acknowledged event lost. Used by `npm run bench -- --only crash`
// (bench/crash.ts) and by test/e2e/crash.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { encodeEvents } from '../server/ws-protocol.js';
import { type HotpathServer, spawnTracked, waitReady } from './harness.js';
import { Connection, encodeRequest, type OneInFlight } from './http-client.js';
import { clientFrame, WsConnection } from './ws-client.js';

export interface CrashOptions {
  /** a built checkout (dist/cli/main.js, build/Release/hotpath.node) */
  root: string;
  /** node arguments that run the CLI (default dist/cli/main.js; tests pass tsx and src/cli/main.ts) */
  entry?: string[];
  fsync: 'always' | 'interval' | 'off';
  fsyncIntervalMs?: number;
  kills: number;
  port: number;
  seed?: number;
  entities?: number;
  httpClients?: number;
  wsClients?: number;
  /** events per HTTP request and per WebSocket frame */
  httpBatch?: number;
  wsBatch?: number;
  /** load time before each kill, drawn uniformly from this range (ms) */
  loadMs?: [number, number];
  log?: (line: string) => void;
}

export interface CrashKill {
  /** when in the run (ms) */
  atMs: number;
  loadMs: number;
  /** from the kill to /readyz answering 200 (process start, snapshot restore, log replay) */
  restartMs: number;
  /** events acknowledged / in flight (outcome unknown) during this life of the server */
  acked: number;
  unknown: number;
}

export interface CrashReport {
  fsync: string;
  fsyncIntervalMs?: number;
  kills: CrashKill[];
  entities: number;
  acked: number;
  unknown: number;
  /** the sum of the entities' counts after the last restart */
  recovered: number;
  /** acknowledged events missing (entities whose count is below their acknowledged count) */
  lost: number;
  /** entities with a count outside [acknowledged, acknowledged + unknown] */
  violations: { id: string; count: number; acked: number; unknown: number }[];
  /** events acknowledged per second while the server was up (the loss bound of `interval` on a machine crash is this x the interval) */
  ackRate: number;
  ms: number;
}

/** A small deterministic PRNG (mulberry32), so a run can be repeated from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Request {
  bytes: Buffer;
  /** entity index per event */
  ids: Uint32Array;
}

const CONFIG = (fsync: string, intervalMs: number) => `
server: { workers: 1, max_batch: 10000, drain_timeout: 2s }
durability: { fsync: ${fsync}, fsync_interval: ${intervalMs}ms, snapshot_interval: 1s, snapshot_log_bytes: 2MiB, segment_bytes: 4MiB }
streams:
  tx:
    keys: { acct: acct }
    fields: { amount: number }
entities:
  acct:
    memory: 64MiB
    shards: 16
    features:
      n: { agg: count, window: 1d, tile: 1h }
`;

export async function runCrash(o: CrashOptions): Promise<CrashReport> {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  const random = rng(o.seed ?? 1);
  const entities = o.entities ?? 2000;
  const httpBatch = o.httpBatch ?? 20;
  const wsBatch = o.wsBatch ?? 200;
  const [loadMin, loadMax] = o.loadMs ?? [150, 600];
  const work = mkdtempSync(join(tmpdir(), 'hotpath-crash-'));
  const configPath = join(work, 'crash.yaml');
  writeFileSync(configPath, CONFIG(o.fsync, o.fsyncIntervalMs ?? 10));
  const dataDir = join(work, 'data');
  const host = '127.0.0.1';
  const url = `http://${host}:${o.port}`;

  // Requests are built once: each is a batch of events for random entities.
  const ids = (n: number) => Uint32Array.from({ length: n }, () => Math.floor(random() * entities));
  const httpReqs: Request[] = Array.from({ length: 64 }, () => {
    const batch = ids(httpBatch);
    const body = JSON.stringify([...batch].map((e) => ({ acct: `e${e}`, amount: 1 })));
    return { bytes: encodeRequest('POST', `${host}:${o.port}`, '/v1/events', body, { 'content-type': 'application/json' }), ids: batch };
  });
  const wsReqs: Request[] = Array.from({ length: 32 }, (_, k) => {
    const batch = ids(wsBatch);
    const frame = encodeEvents(k + 1, 'tx', [{ name: 'acct', type: 'string' }, { name: 'amount', type: 'number' }], [...batch].map((e) => [`e${e}`, 1]));
    return { bytes: clientFrame(frame), ids: batch };
  });

  const acked = new Float64Array(entities);
  const unknown = new Float64Array(entities);
  const kills: CrashKill[] = [];
  let ackedEvents = 0;
  let upMs = 0;

  const start = async (): Promise<HotpathServer> => {
    const p = spawnTracked('hotpath (crash test)', process.execPath, [...(o.entry ?? ['dist/cli/main.js']), 'serve', '--config', configPath, '--host', host, '--port', String(o.port), '--data-dir', dataDir], { cwd: o.root });
    await waitReady(`${url}/readyz`, { proc: p, ok200: true, timeoutMs: 60_000 });
    return { ...p, url, dir: o.root };
  };

  /** One life of the server: clients send until the server dies under them. */
  const life = (): { done: Promise<void>; counts: { acked: number; unknown: number } } => {
    const counts = { acked: 0, unknown: 0 };
    const client = async (conn: OneInFlight, reqs: Request[], offset: number) => {
      try {
        await conn.ready();
      } catch {
        return;
      }
      for (let i = offset; ; i++) {
        const req = reqs[i % reqs.length];
        const r = await conn.request(req.bytes);
        if (typeof r === 'object' && r.status === 200) {
          for (const e of req.ids) acked[e]++;
          counts.acked += req.ids.length;
        } else if (typeof r === 'object') {
          // Refused (not applied): a server that stops answers 503 before it applies anything.
        } else {
          for (const e of req.ids) unknown[e]++;
          counts.unknown += req.ids.length;
          conn.close();
          return;
        }
      }
    };
    const conns: Promise<void>[] = [];
    for (let c = 0; c < (o.httpClients ?? 4); c++) conns.push(client(new Connection(host, o.port, 30_000), httpReqs, c * 7));
    for (let c = 0; c < (o.wsClients ?? 2); c++) conns.push(client(new WsConnection(host, o.port, 30_000, '/v1/ws'), wsReqs, c * 5));
    return { done: Promise.all(conns).then(() => undefined), counts };
  };

  let server = await start();
  try {
    for (let k = 0; k < o.kills; k++) {
      const l = life();
      const loadMs = loadMin + random() * (loadMax - loadMin);
      await new Promise((r) => setTimeout(r, loadMs));
      upMs += loadMs;
      const atMs = performance.now() - t0;
      server.child.kill('SIGKILL');
      await l.done;
      await new Promise<void>((r) => (server.child.exitCode !== null || server.child.signalCode !== null ? r() : server.child.once('exit', () => r())));
      const t1 = performance.now();
      server = await start();
      const restartMs = performance.now() - t1;
      ackedEvents += l.counts.acked;
      kills.push({ atMs, loadMs, restartMs, acked: l.counts.acked, unknown: l.counts.unknown });
      log(`kill ${k + 1}/${o.kills} after ${loadMs.toFixed(0)} ms: ${l.counts.acked} acknowledged, ${l.counts.unknown} in flight; back in ${restartMs.toFixed(0)} ms`);
    }
    // Read every entity's count from the last incarnation.
    const counts = new Float64Array(entities);
    for (let from = 0; from < entities; from += 1000) {
      const idList = Array.from({ length: Math.min(1000, entities - from) }, (_, i) => `e${from + i}`);
      const r = await fetch(`${url}/v1/features`, { method: 'POST', body: JSON.stringify({ entity: 'acct', ids: idList, features: ['n'] }) });
      if (r.status !== 200) throw new Error(`reading counts: ${r.status} ${await r.text()}`);
      const body = (await r.json()) as { results: { features: { n: number } }[] };
      body.results.forEach((x, i) => (counts[from + i] = x.features.n));
    }
    const violations: CrashReport['violations'] = [];
    let lost = 0;
    let recovered = 0;
    let unknownEvents = 0;
    for (let e = 0; e < entities; e++) {
      recovered += counts[e];
      unknownEvents += unknown[e];
      if (counts[e] < acked[e]) lost += acked[e] - counts[e];
      if (counts[e] < acked[e] || counts[e] > acked[e] + unknown[e]) violations.push({ id: `e${e}`, count: counts[e], acked: acked[e], unknown: unknown[e] });
    }
    return {
      fsync: o.fsync, fsyncIntervalMs: o.fsync === 'interval' ? (o.fsyncIntervalMs ?? 10) : undefined, kills, entities,
      acked: ackedEvents, unknown: unknownEvents, recovered, lost, violations, ackRate: ackedEvents / (upMs / 1000), ms: performance.now() - t0,
    };
  } finally {
    server.child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}
