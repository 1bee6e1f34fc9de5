// Two regions and a region lost under load (docs/multi-region.md):
//
//   node --import tsx bench/regions.ts [--rounds 3] [--delays 20,50] [--rate 2000] [--pre 3] [--post 2]
//                                      [--modes kill,hang] [--probes 60] [--idle-probes 20] [--out FILE]
//
// Needs a built checkout (npm run build), redis-server, and root for network namespaces
// (without them everything runs on 127.0.0.1, and the results say so). Each round builds:
//
//   region a (netns hp-ra, 10.77.1.2)             region b (netns hp-rb, 10.77.2.2)
//     redis-server (AOF, appendfsync everysec)      redis-server
//     replicas a1, a2 (hotpath serve)               replicas b1, b2
//     mirror a -> b (hotpath mirror) ──▶ delay proxy (this process, root namespace) ──▶ b's Redis
//     a's Redis ◀── delay proxy ◀── mirror b -> a
//
// The kernel here has no sch_netem (`tc qdisc ... netem` answers "Specified qdisc kind is
// unknown"), so the cross-region delay is a TCP proxy in this process that forwards bytes
// with a fixed one-way delay each way, in order. The namespaces have no route to each
// other: the proxy is the only path between the regions. The load client (this process)
// reaches both regions without added delay.
//
// The client posts --rate events/s per region (requests of 10 events every 5 ms, round
// robin over the region's replicas; each event's amount is a unique sequence number) and
// records which were acknowledged (200 with shared: true). After --pre seconds, region a
// is lost: `kill` SIGKILLs its Redis, replicas and outbound mirror (connections are
// refused at once); `hang` SIGSTOPs them (requests time out). Region a's traffic fails
// over to b after 3 consecutive failures (a request fails on an error, a non-200, or no
// answer in 500 ms); failed requests are sent again to wherever the traffic goes then.
// Measured per round: the failover time (the loss to the first acknowledgement from b of
// a's traffic), the mirror a -> b's lag just before the loss (its /metrics, read every
// 100 ms), the events a acknowledged that b's stream does not hold (lost), against lag
// × rate; the events b holds twice (a's appends that a never acknowledged, sent again);
// after `kill`, a's Redis is restarted from its AOF with its mirror, and the lost events
// are counted again (fail-back). And the steady-state apply delay a -> b (sequential
// probes, idle before the load and during it: POST on a1/a2, poll b1/b2 until readable).
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { Redis } from 'ioredis';

import { describeBuild, machine, mdTable, spawnTracked, type Proc, waitReady } from '../src/bench/harness.js';
import { loadConfigText } from '../src/config/load.js';
import { describeLayout, layoutCrc } from '../src/durability/layout.js';
import { decodeBatch } from '../src/redis/codec.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    delays: { type: 'string', default: '20,50' },
    rate: { type: 'string', default: '2000' },
    pre: { type: 'string', default: '3' },
    post: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'kill,hang' },
    probes: { type: 'string', default: '60' },
    'idle-probes': { type: 'string', default: '20' },
    local: { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench/results/2026-12-06-regions.md') },
  },
});
const ROUNDS = Number(args.rounds);
const RATE = Number(args.rate);
const BATCH = 10;
const TICK_MS = (1000 * BATCH) / RATE;
const FAILOVER_AFTER = 3;
const REQUEST_TIMEOUT_MS = 500;
const KEY = '{hotpath}:events';

// ------------------------------------------------------------------ topology

interface Region {
  name: 'a' | 'b';
  /** network namespace, or none (localhost) */
  ns?: string;
  /** the region's address: its Redis, replicas and mirror metrics listen here */
  host: string;
  /** the root namespace's address seen from the region: the proxy of its outbound mirror listens here */
  gw: string;
  redisPort: number;
  replicaPorts: number[];
  metricsPort: number;
  proxyPort: number;
}

const REGIONS: Record<'a' | 'b', Region> = {
  a: { name: 'a', ns: 'hp-ra', host: '10.77.1.2', gw: '10.77.1.1', redisPort: 16380, replicaPorts: [18701, 18702], metricsPort: 18721, proxyPort: 18731 },
  b: { name: 'b', ns: 'hp-rb', host: '10.77.2.2', gw: '10.77.2.1', redisPort: 16381, replicaPorts: [18711, 18712], metricsPort: 18722, proxyPort: 18732 },
};

const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { stdio: 'pipe' });

/** Two namespaces, each with a veth pair to the root namespace; false (and cleaned up) when it does not work. */
function setupNamespaces(): boolean {
  teardownNamespaces();
  try {
    for (const [r, n] of [[REGIONS.a, 1], [REGIONS.b, 2]] as const) {
      sh(`ip netns add ${r.ns}`);
      sh(`ip link add hp-${r.name}0 type veth peer name hp-${r.name}1`);
      sh(`ip link set hp-${r.name}1 netns ${r.ns}`);
      sh(`ip addr add 10.77.${n}.1/24 dev hp-${r.name}0 && ip link set hp-${r.name}0 up`);
      sh(`ip netns exec ${r.ns} sh -c 'ip addr add 10.77.${n}.2/24 dev hp-${r.name}1 && ip link set hp-${r.name}1 up && ip link set lo up'`);
    }
    sh(`ip netns exec ${REGIONS.a.ns} ip route get ${REGIONS.a.gw}`);
    // no route between the regions: only the proxy joins them
    const direct = spawnSync('ip', ['netns', 'exec', REGIONS.a.ns!, 'ip', 'route', 'get', REGIONS.b.host]).status;
    if (direct === 0) throw new Error('the regions reach each other without the proxy');
    return true;
  } catch (err) {
    console.error(`network namespaces do not work here (${(err as Error).message.split('\n')[0]}): running on 127.0.0.1`);
    teardownNamespaces();
    return false;
  }
}

function teardownNamespaces(): void {
  for (const r of Object.values(REGIONS)) {
    spawnSync('ip', ['netns', 'del', r.ns ?? 'none'], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', `hp-${r.name}0`], { stdio: 'ignore' });
  }
}

/** A process in the region's namespace (ip netns exec execs it: the pid is its own). */
function inRegion(r: Region, name: string, cmd: string, argv: string[]): Proc {
  return r.ns ? spawnTracked(name, 'ip', ['netns', 'exec', r.ns, cmd, ...argv], { cwd: ROOT }) : spawnTracked(name, cmd, argv, { cwd: ROOT });
}

// ------------------------------------------------------------------ the delay proxy

/** Forwards TCP bytes from listen to target, each chunk delayMs later, in order, both ways; ends follow their data. */
function delayProxy(listenHost: string, listenPort: number, targetHost: string, targetPort: number, delayMs: number): Promise<Server> {
  const socks = new Set<Socket>();
  const server = createServer((down) => {
    const up = connect(targetPort, targetHost);
    for (const s of [down, up]) {
      s.setNoDelay(true);
      socks.add(s);
      s.once('close', () => socks.delete(s));
    }
    // Timers of one duration fire in the order they were set: chunks keep their order.
    const pipe = (from: Socket, to: Socket) => {
      from.on('data', (d) => setTimeout(() => to.destroyed || to.write(d), delayMs));
      from.on('end', () => setTimeout(() => to.destroyed || to.end(), delayMs));
      from.on('error', () => setTimeout(() => to.destroy(), delayMs));
    };
    pipe(down, up);
    pipe(up, down);
  });
  const close = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void) => {
    for (const s of socks) s.destroy();
    return close(cb);
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, listenHost, () => resolve(server));
  });
}

// ------------------------------------------------------------------ one region's processes

const yaml = (r: Region, replica: string) => `
server: { workers: 1 }
store: { max_future: 1h }
streams:
  tx:
    keys: { user: user_id }
    time_field: ts
    allowed_lateness: 1h
    fields: { amount: number }
entities:
  user:
    memory: 16MiB
    shards: 4
    features:
      n_1d:   { agg: count, window: 1d, tile: 1h }
      sum_1d: { agg: sum, field: amount, window: 1d, tile: 1h }
ingest:
  redis_streams:
    url: redis://127.0.0.1:${r.redisPort}
    key: "${KEY}"
    replica: ${replica}
    block: 200ms
    lag_interval: 100ms
    claim_min_idle: 1s
`;
const LAYOUT = layoutCrc(describeLayout(loadConfigText(yaml(REGIONS.a, 'x'))));

interface Live {
  region: Region;
  dir: string;
  redis: Proc;
  replicas: Proc[];
  /** the outbound mirror, region -> the other */
  mirror: Proc;
}

async function startRedis(r: Region, dir: string): Promise<Proc> {
  const p = inRegion(r, `redis ${r.name}`, 'redis-server', [
    '--port', String(r.redisPort), '--bind', r.ns ? `${r.host} 127.0.0.1` : '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--protected-mode', 'no', '--logfile', join(dir, 'redis.log'),
  ]);
  const t0 = Date.now();
  while (spawnSync('redis-cli', ['-h', r.host, '-p', String(r.redisPort), 'PING']).stdout?.toString().trim() !== 'PONG') {
    if (Date.now() - t0 > 10_000) throw new Error(`redis ${r.name} did not start: ${p.stderr()}`);
    await sleep(30);
  }
  return p;
}

function startMirror(from: Region, to: Region): Proc {
  return inRegion(from, `mirror ${from.name}->${to.name}`, process.execPath, [
    'dist/cli/main.js', 'mirror', '--from', `redis://127.0.0.1:${from.redisPort}`, '--to', `redis://${from.gw}:${from.proxyPort}`,
    '--key', KEY, '--region', from.name, '--to-region', to.name, '--metrics-host', from.host, '--metrics-port', String(from.metricsPort),
    '--lag-interval', '100ms', '--claim-min-idle', '1s',
  ]);
}

async function startRegion(r: Region, other: Region, work: string): Promise<Live> {
  const dir = join(work, `region-${r.name}`);
  mkdirSync(dir, { recursive: true });
  const redis = await startRedis(r, dir);
  const replicas = await Promise.all(r.replicaPorts.map(async (port, i) => {
    const cfg = join(dir, `${r.name}${i + 1}.yaml`);
    writeFileSync(cfg, yaml(r, `${r.name}${i + 1}`));
    const p = inRegion(r, `${r.name}${i + 1}`, process.execPath, ['dist/cli/main.js', 'serve', '--config', cfg, '--host', r.host, '--port', String(port)]);
    await waitReady(`http://${r.host}:${port}/readyz`, { proc: p, ok200: true });
    return p;
  }));
  const mirror = startMirror(r, other);
  await waitReady(`http://${r.host}:${r.metricsPort}/metrics`, { proc: mirror, ok200: true });
  return { region: r, dir, redis, replicas, mirror };
}

const signalAll = (ps: Proc[], sig: NodeJS.Signals) => {
  for (const p of ps) if (p.child.exitCode === null && p.child.signalCode === null) process.kill(p.pid, sig);
};

// ------------------------------------------------------------------ the load client

interface Sent {
  /** which region's traffic it is */
  origin: 'a' | 'b';
  amounts: number[];
  /** where it was acknowledged, and when (performance.now()) */
  ackedBy?: 'a' | 'b';
  ackedAt?: number;
}

class Client {
  readonly sent: Sent[] = [];
  /** a's traffic goes to region b once a failed FAILOVER_AFTER times in a row */
  aTarget: 'a' | 'b' = 'a';
  failedOverAt = Number.NaN;
  #failsA = 0;
  #seq = 0;
  #rr = 0;
  #retry: Sent[] = [];
  #inFlight = { a: 0, b: 0 };
  #timer: NodeJS.Timeout | undefined;
  skipped = 0;

  start(): void {
    this.#timer = setInterval(() => {
      // a's failed requests first (all of them), then one new request per region
      const due = this.#retry.splice(0);
      for (const origin of ['a', 'b'] as const) {
        const s: Sent = { origin, amounts: Array.from({ length: BATCH }, () => this.#seq++) };
        this.sent.push(s);
        due.push(s);
      }
      for (const s of due) {
        if (this.#inFlight[s.origin] >= 256) {
          if (s.origin === 'a') this.#retry.push(s);
          else this.skipped++;
          continue;
        }
        void this.#post(s);
      }
    }, TICK_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async settle(): Promise<void> {
    while (this.#inFlight.a + this.#inFlight.b > 0) await sleep(10);
  }

  #url(region: 'a' | 'b'): string {
    const r = REGIONS[region];
    return `http://${r.host}:${r.replicaPorts[this.#rr++ % r.replicaPorts.length]}`;
  }

  async #post(s: Sent): Promise<void> {
    const region = s.origin === 'a' ? this.aTarget : 'b';
    const now = Date.now();
    const body = JSON.stringify(s.amounts.map((amount) => ({ user_id: `u${amount % 500}`, ts: now, amount })));
    this.#inFlight[s.origin]++;
    let ok = false;
    try {
      const r = await fetch(`${this.#url(region)}/v1/events`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const a = (await r.json()) as { shared?: boolean };
      ok = r.status === 200 && a.shared === true;
    } catch {
      ok = false;
    }
    this.#inFlight[s.origin]--;
    if (ok) {
      s.ackedBy = region;
      s.ackedAt = performance.now();
      if (s.origin === 'a' && region === 'a') this.#failsA = 0;
      return;
    }
    if (s.origin === 'a') {
      this.#retry.push(s); // sent again, to wherever a's traffic goes then
      if (region === 'a' && ++this.#failsA >= FAILOVER_AFTER && this.aTarget === 'a') {
        this.aTarget = 'b';
        this.failedOverAt = performance.now();
      }
    }
    // b's traffic is not retried: b stays up; a failure there is counted (never acknowledged)
  }
}

// ------------------------------------------------------------------ measuring

/** Amounts in a region's stream: how many times each appears. */
async function streamAmounts(r: Region): Promise<Map<number, number>> {
  const c = new Redis(`redis://${r.host}:${r.redisPort}`, { maxRetriesPerRequest: 1 });
  const out = new Map<number, number>();
  try {
    let from = '-';
    for (;;) {
      const entries = (await c.xrangeBuffer(KEY, from, '+', 'COUNT', 5000)) as [Buffer, Buffer[]][];
      for (const [, kv] of entries) {
        const d = kv[kv.findIndex((k, i) => i % 2 === 0 && k.toString() === 'd') + 1];
        const b = decodeBatch(d, LAYOUT);
        for (let e = 0; e < b.ts.length; e++) out.set(b.values[e], (out.get(b.values[e]) ?? 0) + 1);
      }
      if (entries.length < 5000) return out;
      from = `(${entries[entries.length - 1][0].toString()}`;
    }
  } finally {
    c.disconnect();
  }
}

const sample = (text: string, name: string): number => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

/** POST one event on a, poll b until readable; ms per probe (sequential). */
async function probe(n: number, tag: string, stopAt: number): Promise<number[]> {
  const [a, b] = [REGIONS.a, REGIONS.b];
  const out: number[] = [];
  for (let i = 0; i < n && performance.now() < stopAt; i++) {
    const user = `probe-${tag}-${i}`;
    const t0 = performance.now();
    const r = await fetch(`http://${a.host}:${a.replicaPorts[i % 2]}/v1/events`, { method: 'POST', body: JSON.stringify({ user_id: user, ts: Date.now(), amount: -1 }), headers: { 'content-type': 'application/json' } });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`probe POST: ${r.status}`);
    const url = `http://${b.host}:${b.replicaPorts[i % 2]}/v1/features/user/${user}?features=n_1d`;
    for (;;) {
      const f = (await (await fetch(url)).json()) as { features: { n_1d: number } };
      if (f.features.n_1d >= 1) break;
      if (performance.now() - t0 > 5000) throw new Error(`probe ${user} not readable in b after 5 s`);
      await sleep(1);
    }
    out.push(performance.now() - t0);
    await sleep(20);
  }
  return out;
}

interface Round {
  mode: 'kill' | 'hang';
  delayMs: number;
  failoverMs: number;
  detectMs: number;
  lagEntries: number;
  lagMs: number;
  lagAgeMs: number;
  /** the largest readings over the last second before the loss */
  maxLagEntries: number;
  maxLagMs: number;
  /** a's acknowledged events/s over the second before the loss */
  rateA: number;
  ackedByA: number;
  lost: number;
  duplicated: number;
  lostAfterFailback: number;
  probes: number[];
  idleProbes: number[];
}

async function round(work: string, mode: 'kill' | 'hang', delayMs: number, tag: string): Promise<Round> {
  const [A, B] = [REGIONS.a, REGIONS.b];
  const proxies = [await delayProxy(A.gw, A.proxyPort, B.host, B.redisPort, delayMs), await delayProxy(B.gw, B.proxyPort, A.host, A.redisPort, delayMs)];
  const lives: Live[] = [];
  try {
    lives.push(await startRegion(A, B, work), await startRegion(B, A, work));
    const [la] = lives;
    const idleProbes = await probe(Number(args['idle-probes']), `${tag}i`, Infinity);
    const client = new Client();
    client.start();
    // the mirror a -> b's lag, read every 100 ms
    let lag = { entries: NaN, ms: NaN, at: 0 };
    const lags: (typeof lag)[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        try {
          const t = await (await fetch(`http://${A.host}:${A.metricsPort}/metrics`, { signal: AbortSignal.timeout(200) })).text();
          lag = { entries: sample(t, 'hotpath_mirror_lag_entries'), ms: sample(t, 'hotpath_mirror_lag_seconds') * 1000, at: performance.now() };
          lags.push(lag);
        } catch {
          // region a is gone
        }
        await sleep(100);
      }
    })();
    const preMs = Number(args.pre) * 1000;
    const tStart = performance.now();
    const probes = await probe(Number(args.probes), tag, tStart + preMs - 300);
    await sleep(Math.max(0, tStart + preMs - performance.now()));
    // ---- region a lost
    const before = lag;
    const tLoss = performance.now();
    const lastSecondLags = lags.filter((l) => l.at > tLoss - 1000 && !Number.isNaN(l.ms));
    signalAll([la.redis, ...la.replicas, la.mirror], mode === 'kill' ? 'SIGKILL' : 'SIGSTOP');
    polling = false;
    await poller;
    await sleep(Number(args.post) * 1000);
    client.stop();
    await client.settle();
    if (mode === 'hang') signalAll([la.redis, ...la.replicas, la.mirror], 'SIGKILL');
    // ---- counting
    const aAcked = client.sent.filter((s) => s.origin === 'a' && s.ackedBy === 'a');
    const lastSecond = aAcked.filter((s) => s.ackedAt! > tLoss - 1000 && s.ackedAt! <= tLoss).length * BATCH;
    const firstB = Math.min(...client.sent.filter((s) => s.origin === 'a' && s.ackedBy === 'b').map((s) => s.ackedAt!));
    await sleep(300); // what the proxy still carries reaches b
    const inB = await streamAmounts(B);
    const lostAmounts = aAcked.flatMap((s) => s.amounts).filter((x) => !inB.has(x));
    const duplicated = [...inB].filter(([amount, n]) => amount >= 0 && n > 1).length; // probes are amount -1
    let lostAfterFailback = Number.NaN;
    if (mode === 'kill') {
      // fail-back: a's Redis from its AOF, and its mirror, resume
      la.redis = await startRedis(A, la.dir);
      la.mirror = startMirror(A, B);
      const t0 = performance.now();
      for (;;) {
        try {
          const t = await (await fetch(`http://${A.host}:${A.metricsPort}/metrics`)).text();
          if (sample(t, 'hotpath_mirror_lag_entries') === 0) break; // NaN until read: pending entries count until claimed
        } catch {
          // not up yet
        }
        if (performance.now() - t0 > 15_000) break;
        await sleep(50);
      }
      const after = await streamAmounts(B);
      lostAfterFailback = lostAmounts.filter((x) => !after.has(x)).length;
      la.replicas = [];
    }
    return {
      mode, delayMs, failoverMs: firstB - tLoss, detectMs: client.failedOverAt - tLoss,
      lagEntries: before.entries, lagMs: before.ms, lagAgeMs: tLoss - before.at, rateA: lastSecond,
      maxLagEntries: Math.max(...lastSecondLags.map((l) => l.entries)), maxLagMs: Math.max(...lastSecondLags.map((l) => l.ms)),
      ackedByA: aAcked.length * BATCH, lost: lostAmounts.length, duplicated, lostAfterFailback, probes, idleProbes,
    };
  } finally {
    for (const l of lives) await Promise.all([l.redis, ...l.replicas, l.mirror].map((p) => p.stop(500)));
    for (const p of proxies) await new Promise((r) => p.close(() => r(undefined)));
  }
}

// ------------------------------------------------------------------ main

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
const pct = (xs: number[], p: number) => {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const mmm = (xs: number[], d = 0) => {
  const s = sorted(xs.filter((x) => !Number.isNaN(x)));
  return s.length ? `${s[0].toFixed(d)} / ${pct(s, 50).toFixed(d)} / ${s[s.length - 1].toFixed(d)}` : '-';
};

async function main(): Promise<void> {
  const netns = !args.local && process.getuid?.() === 0 && setupNamespaces();
  if (!netns) for (const r of Object.values(REGIONS)) Object.assign(r, { ns: undefined, host: '127.0.0.1', gw: '127.0.0.1' });
  const started = new Date().toISOString();
  const work = mkdtempSync(join(tmpdir(), 'hotpath-regions-'));
  const results: Round[] = [];
  const modes = args.modes.split(',') as ('kill' | 'hang')[];
  try {
    for (const delayMs of args.delays.split(',').map(Number))
      for (const mode of modes)
        for (let i = 0; i < ROUNDS; i++) {
          const r = await round(join(work, `${delayMs}-${mode}-${i}`), mode, delayMs, `${delayMs}${mode}${i}`);
          results.push(r);
          console.log(`${mode} ${delayMs} ms #${i + 1}: failover ${r.failoverMs.toFixed(0)} ms (detected ${r.detectMs.toFixed(0)} ms); lag ${r.lagEntries} entries / ${r.lagMs.toFixed(0)} ms (read ${r.lagAgeMs.toFixed(0)} ms before); max ${r.maxLagMs.toFixed(0)} ms; a acked ${r.ackedByA} events, ${r.rateA}/s; lost ${r.lost} (max lag × rate ${((r.maxLagMs / 1000) * r.rateA).toFixed(0)}), after fail-back ${r.lostAfterFailback}; duplicated ${r.duplicated}; probes p50 ${pct(r.probes, 50)?.toFixed(1)} ms`);
        }
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (netns) teardownNamespaces();
  }
  const rows: string[][] = [];
  const delayRows: string[][] = [];
  for (const delayMs of args.delays.split(',').map(Number)) {
    for (const mode of modes) {
      const rs = results.filter((r) => r.delayMs === delayMs && r.mode === mode);
      rows.push([
        `${delayMs} ms`, mode, String(rs.length), mmm(rs.map((r) => r.failoverMs)), mmm(rs.map((r) => r.detectMs)),
        mmm(rs.map((r) => r.lagEntries)), mmm(rs.map((r) => r.lagMs)), mmm(rs.map((r) => r.maxLagMs)), mmm(rs.map((r) => r.rateA)),
        mmm(rs.map((r) => r.lost)), mmm(rs.map((r) => (r.maxLagMs / 1000) * r.rateA)), mmm(rs.map((r) => r.lostAfterFailback)), mmm(rs.map((r) => r.duplicated)),
      ]);
    }
    for (const [when, key] of [['idle', 'idleProbes'], ['under the load', 'probes']] as const) {
      const probes = results.filter((r) => r.delayMs === delayMs).flatMap((r) => r[key]);
      delayRows.push([`${delayMs} ms`, when, String(probes.length), pct(probes, 50).toFixed(1), pct(probes, 99).toFixed(1), Math.max(...probes).toFixed(1)]);
    }
  }
  const command = `node --import tsx bench/regions.ts ${process.argv.slice(2).join(' ')}`.trim();
  const redisVersion = spawnSync('redis-server', ['--version']).stdout.toString().trim().split(' ')[2] ?? '?';
  const md = `# Two regions, one lost under load

\`\`\`
${command}
\`\`\`

${started}; ${machine()}; ${describeBuild(ROOT)}; redis-server ${redisVersion} (appendonly yes, appendfsync everysec).

Topology: ${netns ? 'two network namespaces (veth pairs to the root namespace, no route between them)' : 'all on 127.0.0.1 (network namespaces unavailable)'}; each region a redis-server, two \`hotpath serve\` replicas and its outbound \`hotpath mirror\`; the cross-region links (each mirror's connection to the other region's Redis) go through a TCP proxy in the bench process that adds the one-way delay in each direction (\`tc netem\` is not available: the kernel has no sch_netem). The load client posts ${RATE} events/s per region (10 events per request every ${TICK_MS} ms, round robin over the region's replicas) without added delay. Region a is lost after ${args.pre} s: **kill** = SIGKILL of its Redis, replicas and mirror a -> b (connections refused at once); **hang** = SIGSTOP of the same (requests time out after ${REQUEST_TIMEOUT_MS} ms). a's traffic fails over to b after ${FAILOVER_AFTER} consecutive failures; failed requests are sent again to b. ${ROUNDS} rounds per row, min / median / max.

- failover: from the loss to the first acknowledgement (200, \`shared: true\`) from b of a's traffic; detected: to the client's switch.
- lag: the mirror a -> b's \`hotpath_mirror_lag_entries\` and \`_lag_seconds\` at its last scrape before the loss (scraped every 100 ms; the mirror reads its lag every 100 ms), and the largest \`_lag_seconds\` of the scrapes in the last second before the loss (one reading is a moment of a sawtooth). The lag in entries counts every entry of a's stream not yet handled, those mirrored from b (skipped, never copied) too; one of a's own entries is one request of 10 events.
- lost: events a acknowledged that b's stream does not hold once the loss settled; max lag × rate: that largest lag in seconds × a's acknowledged events/s over the second before the loss. After fail-back: a's Redis restarted from its AOF with its mirror, lost events still not in b's stream.
- twice in b: events b's stream holds twice (a appended them and its answer never came: the client sent them again to b as a new batch; replicas apply both).

| one-way delay | loss | rounds | failover ms | detected ms | lag entries | lag ms | max lag ms, last 1 s | a's rate, events/s | lost events | max lag × rate | lost after fail-back | twice in b |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}

Steady-state apply delay a -> b: one event POSTed to a1 or a2, then b1 or b2 polled (1 ms apart) until the event is readable; sequential probes, ${args['idle-probes']} per round before the load starts (idle) and then during the load until the loss; all rounds of the delay together (ms).

${mdTable(['one-way delay', 'when', 'probes', 'p50', 'p99', 'max'], delayRows)}

Per round:

${mdTable(['delay', 'loss', 'failover ms', 'detected ms', 'lag entries', 'lag ms', 'lag read before the loss, ms', 'max lag entries / ms, last 1 s', 'rate', 'a acked', 'lost', 'lost after fail-back', 'twice in b', 'probe p50 / p99 ms'], results.map((r) => [
  String(r.delayMs), r.mode, r.failoverMs.toFixed(1), r.detectMs.toFixed(1), String(r.lagEntries), r.lagMs.toFixed(0), r.lagAgeMs.toFixed(0), `${r.maxLagEntries} / ${r.maxLagMs.toFixed(0)}`, String(r.rateA), String(r.ackedByA), String(r.lost),
  Number.isNaN(r.lostAfterFailback) ? '-' : String(r.lostAfterFailback), String(r.duplicated), `${pct(r.probes, 50).toFixed(1)} / ${pct(r.probes, 99).toFixed(1)}`,
]))}
`;
  writeFileSync(args.out, md);
  console.log(`\n${md}\nwritten to ${args.out}`);
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  teardownNamespaces();
  process.exit(1);
});
