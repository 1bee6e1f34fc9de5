// The shared ingest log on Redis Streams, measured (docs/redis.md):
//
//   node --import tsx bench/redis-ingest.ts [--rounds 3] [--seconds 5] [--warmup 1] [--out FILE]
//
// Needs a built checkout (npm run build) and redis-server on the PATH. Each trial starts a
// fresh redis-server (appendonly yes, appendfsync everysec: a common production setting)
// and fresh `hotpath serve` processes of this checkout with the shipped hotpath.yaml, then
// drives one of them with our generator (closed loop) for --seconds after --warmup:
//   local     no ingest.redis_streams: the peer of the ratio
//   shared    the shared log on, one replica (every batch appended with XADD, and read
//             back and skipped by its own consumer group)
//   shared-nowait  the same with ack_timeout: 0 (answers do not wait for the XADD reply)
//   shared+1  the shared log on, a second replica applying everything the first appends
// for HTTP NDJSON (100 events per request) and binary WebSocket frames (1,000 events per
// frame), modes in alternating order per round. Then, with two replicas, the time from a
// POST on one to the event being readable on the other (sequential probes; idle, and
// while the first replica takes WebSocket load). Writes the table to --out (default
// bench/results/2026-12-06-redis-log.md).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { type HotpathServer, describeBuild, machine, mdTable, startHotpath } from '../src/bench/harness.js';
import { cpuSeconds } from '../src/bench/proc.js';
import { median } from '../src/bench/stats.js';
import { eventsPerS, ours } from './measure.js';
import type { Context } from './context.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    probes: { type: 'string', default: '500' },
    modes: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench/results/2026-12-06-redis-log.md') },
  },
});
const ctx: Context = {
  root: ROOT, rounds: Number(args.rounds), durationMs: Number(args.seconds) * 1000, warmupMs: Number(args.warmup) * 1000, connections: 8,
  wrk: false, gen: 'ours', rate: 0, gcConnections: [], faultRate: 0, price: { perHour: 0.085, vcpus: 2 },
};
const PORT_A = 18620;
const PORT_B = 18621;
const REDIS_PORT = 18622;

type Mode = 'local' | 'shared' | 'shared-nowait' | 'shared+1';
const ALL_MODES: Mode[] = ['local', 'shared', 'shared-nowait', 'shared+1'];
const MODES: Mode[] = args.modes ? (args.modes.split(',') as Mode[]) : ALL_MODES;
const SCENARIOS = [
  { name: 'HTTP NDJSON, 100 events per request', scenario: 'events' as const, batch: 100 },
  { name: 'WebSocket binary, 1,000 events per frame', scenario: 'ws-events' as const, batch: 1000 },
].filter((x) => !args.only || args.only.split(',').includes(x.scenario));
const RUN_LAG = !args.only || args.only.split(',').includes('lag');

async function startRedis(dir: string): Promise<{ pid: number; stop(): Promise<void> }> {
  const p = spawn('redis-server', ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore' });
  const t0 = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = spawn('redis-cli', ['-p', String(REDIS_PORT), 'PING'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      c.stdout!.on('data', (d) => (out += d));
      c.on('exit', () => resolve(out.includes('PONG')));
    });
    if (ok) break;
    if (Date.now() - t0 > 10_000) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: p.pid!,
    async stop() {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    },
  };
}

function configFor(dir: string, replica: string | undefined, extra = ''): string {
  const shipped = readFileSync(join(ROOT, 'hotpath.yaml'), 'utf8').replace(/repository: models\//g, `repository: ${ROOT}models/`);
  const path = join(dir, `hotpath-${replica ?? 'local'}${extra ? '-x' : ''}.yaml`);
  writeFileSync(path, replica ? `${shipped}\ningest:\n  redis_streams:\n    url: redis://127.0.0.1:${REDIS_PORT}\n    key: "{bench}:events"\n    replica: ${replica}\n${extra}` : shipped);
  return path;
}

const num = (text: string, name: string): number => Number(new RegExp(`^${name.replace(/[{}"=]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

/** p50/p99 of the apply-delay histogram (bucket upper bounds, ms). */
function histQuantiles(text: string, q: number[]): number[] {
  const re = /^hotpath_redis_log_apply_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm;
  const buckets: [number, number][] = [];
  for (let m = re.exec(text); m; m = re.exec(text)) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]) * 1000, Number(m[2])]);
  const total = buckets.at(-1)?.[1] ?? 0;
  return q.map((x) => buckets.find(([, c]) => c >= x * total)?.[0] ?? NaN);
}

interface Trial {
  eps: number;
  /** CPU seconds per 1M events: replica a (all its threads), and redis-server */
  cpuA: number;
  cpuRedis: number;
  batchesPerPipeline: number;
  peerApplied: number;
  peerDelay: number[];
  peerCaughtUpMs: number;
}

async function trial(work: string, mode: Mode, scenario: 'events' | 'ws-events', batch: number): Promise<Trial> {
  const redis = mode === 'local' ? undefined : await startRedis(mkdtempSync(join(work, 'redis-')));
  const servers: HotpathServer[] = [];
  try {
    const a = await startHotpath(ROOT, PORT_A, { config: configFor(work, mode === 'local' ? undefined : 'a', mode === 'shared-nowait' ? '    ack_timeout: 0\n' : '') });
    servers.push(a);
    const b = mode === 'shared+1' ? await startHotpath(ROOT, PORT_B, { config: configFor(work, 'b') }) : undefined;
    if (b) servers.push(b);
    const r0 = redis ? cpuSeconds(redis.pid) : 0;
    const run = await ours(ctx, a.url, a.pid, scenario, { connections: ctx.connections, batch });
    const r1 = redis ? cpuSeconds(redis.pid) : 0;
    const t = await (await fetch(`${a.url}/metrics`)).text();
    const out: Trial = {
      eps: eventsPerS(run.r, batch),
      cpuA: (run.cpu * 1000) / batch,
      cpuRedis: redis ? (r1 - r0) / ((run.r.answeredTotal * batch) / 1e6) : Number.NaN,
      batchesPerPipeline: num(t, 'hotpath_redis_log_batches_total{outcome="appended"}') / num(t, 'hotpath_redis_log_pipelines_total'),
      peerApplied: NaN, peerDelay: [NaN, NaN], peerCaughtUpMs: NaN,
    };
    if (run.r.ok < run.r.answered || run.r.answered === 0) console.error(`${mode} ${scenario}: ${run.r.answered - run.r.ok} non-2xx of ${run.r.answered}`);
    if (b) {
      // how long after the load stops the peer has applied everything a appended
      const appended = num(t, 'hotpath_redis_log_events_total{outcome="appended"}');
      const t0 = performance.now();
      let tb = '';
      for (;;) {
        tb = await (await fetch(`${b.url}/metrics`)).text();
        if (num(tb, 'hotpath_redis_log_events_total{outcome="applied"}') >= appended || performance.now() - t0 > 60_000) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      out.peerCaughtUpMs = performance.now() - t0;
      out.peerApplied = num(tb, 'hotpath_redis_log_events_total{outcome="applied"}');
      out.peerDelay = histQuantiles(tb, [0.5, 0.99]);
    }
    return out;
  } finally {
    for (const s of servers) await s.stop();
    await redis?.stop();
  }
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** POST one event on a, poll b until it is readable: ms per probe. */
async function probeLag(a: string, b: string, n: number, tag: string): Promise<number[]> {
  const lags: number[] = [];
  for (let i = 0; i < n; i++) {
    const user = `probe-${tag}-${i}`;
    const t0 = performance.now();
    const r = await fetch(`${a}/v1/events`, { method: 'POST', body: JSON.stringify({ user_id: user, merchant_id: 'm-probe', amount: 1, country: 'FR', channel: 'web' }), headers: { 'content-type': 'application/json' } });
    const body = await r.text();
    if (r.status !== 200) throw new Error(`probe POST: ${r.status} ${body}`);
    for (;;) {
      const f = (await (await fetch(`${b}/v1/features/user/${user}?features=txn_count_1h`)).json()) as { features: { txn_count_1h: number } };
      if (f.features.txn_count_1h >= 1) break;
      if (performance.now() - t0 > 10_000) throw new Error(`probe ${user} not visible on the peer after 10 s`);
    }
    lags.push(performance.now() - t0);
  }
  return lags;
}

async function lagRun(work: string): Promise<{ idle: number[]; loaded: number[]; loadEps: number }> {
  const redis = await startRedis(mkdtempSync(join(work, 'redis-')));
  const servers: HotpathServer[] = [];
  try {
    const a = await startHotpath(ROOT, PORT_A, { config: configFor(work, 'a') });
    servers.push(a);
    const b = await startHotpath(ROOT, PORT_B, { config: configFor(work, 'b') });
    servers.push(b);
    const n = Number(args.probes);
    const idle = await probeLag(a.url, b.url, n, 'idle');
    // under load: WebSocket binary frames into a (4 connections) while the probes run; the
    // load lasts long enough for them (the generator has no stop: it runs its duration out)
    const loadMs = 2000 + n * 4 * Math.max(5, percentile(idle, 90));
    const loadStart = performance.now();
    const load = ours({ ...ctx, durationMs: loadMs, warmupMs: 0 }, a.url, a.pid, 'ws-events', { connections: 4, batch: 1000 });
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = performance.now();
    const before = num(await (await fetch(`${a.url}/metrics`)).text(), 'hotpath_redis_log_events_total{outcome="appended"}');
    const loaded = await probeLag(a.url, b.url, n, 'load');
    const after = num(await (await fetch(`${a.url}/metrics`)).text(), 'hotpath_redis_log_events_total{outcome="appended"}');
    const seconds = (performance.now() - t0) / 1000;
    if (performance.now() - loadStart > loadMs) console.error('lag: the load ended before the probes did');
    await load;
    return { idle, loaded, loadEps: (after - before) / seconds };
  } finally {
    for (const s of servers) await s.stop();
    await redis.stop();
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'hotpath-bench-redis-'));
  const started = new Date();
  const where = machine();
  const rows: string[][] = [];
  const json: Record<string, unknown> = {};
  try {
    for (const sc of SCENARIOS) {
      const res: Record<Mode, Trial[]> = { local: [], shared: [], 'shared-nowait': [], 'shared+1': [] };
      for (let round = 0; round < ctx.rounds; round++) {
        const order = round % 2 === 0 ? MODES : [...MODES].reverse();
        for (const mode of order) {
          console.error(`${sc.scenario}: round ${round + 1}/${ctx.rounds}, ${mode}`);
          res[mode].push(await trial(work, mode, sc.scenario, sc.batch));
        }
      }
      json[sc.scenario] = res;
      for (const mode of MODES) {
        const eps = res[mode].map((t) => t.eps);
        const ratio = res[mode].map((t, i) => t.eps / (res.local[i]?.eps ?? Number.NaN));
        const peer = res[mode].filter((t) => Number.isFinite(t.peerApplied));
        rows.push([
          sc.name, mode, `${(median(eps) / 1e3).toFixed(1)}k`, eps.map((x) => (x / 1e3).toFixed(1)).join(', '),
          mode === 'local' ? '1' : `${median(ratio).toFixed(2)}× (${ratio.map((x) => x.toFixed(2)).join(', ')})`,
          `${median(res[mode].map((t) => t.cpuA)).toFixed(2)} s${mode === 'local' ? '' : ` + redis ${median(res[mode].map((t) => t.cpuRedis)).toFixed(2)} s`}`,
          mode === 'local' ? '' : median(res[mode].map((t) => t.batchesPerPipeline)).toFixed(1),
          peer.length ? `${median(peer.map((t) => t.peerDelay[0]))} / ${median(peer.map((t) => t.peerDelay[1]))} ms; caught up ${median(peer.map((t) => t.peerCaughtUpMs)).toFixed(0)} ms after the load` : '',
        ]);
      }
    }
    const lag = RUN_LAG ? (console.error('post-to-visible lag on a second replica'), await lagRun(work)) : undefined;
    json.lag = lag;
    const q = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms`;
    const md = [
      '# Shared ingest log on Redis Streams: ingest throughput with and without it',
      '',
      '```',
      `node --import tsx bench/redis-ingest.ts --rounds ${ctx.rounds} --seconds ${ctx.durationMs / 1000} --warmup ${ctx.warmupMs / 1000} --probes ${args.probes}`,
      '```',
      '',
      `${started.toISOString()}; ${where}; ${describeBuild(ROOT)}; redis-server ${redisVersion()} (appendonly yes, appendfsync everysec), on the same machine as the servers and the generator.`,
      '',
      'Each trial: a fresh redis-server and fresh `hotpath serve` processes (shipped hotpath.yaml, no data directory), our generator closed-loop with 8 connections for the measured window after the warm-up; modes in alternating order per round. **local**: no `ingest.redis_streams` (the peer of the ratio). **shared**: the shared log on, one replica (each batch encoded and appended with XADD, pipelined, and read back and skipped by its own group); answers wait for the XADD reply. **shared-nowait**: the same with `ack_timeout: 0` (answers do not wait; they say `shared: false`). **shared+1**: a second replica applies everything the first appends (on the same 2 cores: it competes with the first for CPU). Peer apply delay: from the entry\'s id (XADD time) to applied on the second replica, bucket bounds of `hotpath_redis_log_apply_delay_seconds`.',
      '',
      mdTable(['ingest', 'mode', 'events/s (median)', 'rounds', 'vs local (rounds)', 'CPU per 1M events (replica a, all threads; redis-server)', 'batches per XADD pipeline', 'peer apply delay p50 / p99'], rows),
      '',
      ...(lag
        ? [
          '## From a POST on one replica to readable on another',
          '',
          `Two replicas, one redis-server. ${args.probes} sequential probes: POST one event to replica a (fetch, keep-alive), then GET the entity's features from replica b until the event counts; the time from the POST to that read. Idle: nothing else running. Under load: while 4 WebSocket connections send 1,000-event binary frames to a (${(lag.loadEps / 1e3).toFixed(1)}k events/s appended during the probes).`,
          '',
          mdTable(['', 'post to visible on the other replica'], [['idle', q(lag.idle)], ['under load', q(lag.loaded)]]),
          '',
        ]
        : []),
    ].join('\n');
    writeFileSync(args.out!, md);
    writeFileSync(args.out!.replace(/\.md$/, '.json'), JSON.stringify(json, null, 1));
    console.log(md);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function redisVersion(): string {
  return /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? '?';
}

await main();
