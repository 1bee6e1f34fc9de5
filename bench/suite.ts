// The standard suite (`npm run bench`): hotpath against the servers people would pick
// instead, on the demo's model, features and payloads, in alternating rounds on this
// machine. Writes bench/results/<date>.md and .json.
//
//   npm --prefix bench ci          # the peers' dependencies (fastify, ioredis), once
//   npm run bench                  # needs redis-server for the Redis peer
//   npm run bench -- --rounds 5 --duration 10
//
// Peers (bench/peers): Fastify + onnxruntime-node and node:http + onnxruntime-node (one
// session.run per request, features in a Map), Fastify + ioredis (features as hashes in
// a real Redis), and a uWebSockets.js server that does no work (the transport ceiling).
// Every peer answers from the same feature values: the suite ingests the same events into
// hotpath, dumps its features, and loads them into the peers.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { runLoad } from '../src/bench/loadgen.js';
import { cpuSeconds } from '../src/bench/proc.js';
import { buildRequests, type Scenario } from '../src/bench/scenarios.js';
import { compareSummary } from '../src/cli/bench.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, duration: { type: 'string', default: '5' }, connections: { type: 'string', default: '64' } },
});
const ROUNDS = Number(values.rounds);
const DURATION_MS = Number(values.duration) * 1000;
const CONNECTIONS = Number(values.connections);

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill()));

function start(name: string, cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  c.stderr!.on('data', (d) => (err += d));
  c.on('exit', (code) => {
    if (code !== null && code !== 0) console.error(`${name} exited with ${code}: ${err.slice(-500)}`);
  });
  children.push(c);
  return c;
}

async function ready(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

interface RedisLike {
  pipeline(): { hset(key: string, values: Record<string, string>): void; exec(): Promise<unknown> };
  disconnect(): void;
}

const HP = 18500;
const PEERS = { uws: 18501, fastifyOrt: 18502, httpOrt: 18503, fastifyRedis: 18504 };
const REDIS = 18510;

if (!existsSync(`${ROOT}bench/node_modules/fastify`)) {
  console.error('the peers need their dependencies: npm --prefix bench ci');
  process.exit(1);
}
if (!existsSync(`${ROOT}dist/cli/main.js`)) execFileSync('npm', ['run', 'prepare'], { cwd: ROOT, stdio: 'inherit' });

// 1. hotpath with the standard data: users 1..1000, merchants 1..100, 20 events each.
const hp = start('hotpath', process.execPath, ['dist/cli/main.js', 'serve', '--config', 'hotpath.yaml', '--host', '127.0.0.1', '--port', String(HP)]);
await ready(`http://127.0.0.1:${HP}/healthz`);
const now = Date.now();
for (let part = 0; part < 4; part++) {
  const lines: string[] = [];
  for (let i = part * 5000; i < (part + 1) * 5000; i++)
    lines.push(JSON.stringify({ user_id: `user-${(i % 1000) + 1}`, merchant_id: `merchant-${(i % 100) + 1}`, amount: 5 + (i % 97), country: ['FR', 'DE', 'US'][i % 3], channel: 'web', ts: now - 600_000 + i * 30 }));
  const r = await fetch(`http://127.0.0.1:${HP}/v1/events`, { method: 'POST', body: lines.join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
  if (r.status !== 200) throw new Error(`ingest: ${r.status} ${await r.text()}`);
}

// 2. The same feature values for the peers.
const dump: Record<string, Record<string, Record<string, number | null>>> = {};
for (const [entity, n] of [['user', 1000], ['merchant', 100]] as const) {
  const ids = Array.from({ length: n }, (_, i) => `${entity}-${i + 1}`);
  const r = (await (await fetch(`http://127.0.0.1:${HP}/v1/features`, { method: 'POST', body: JSON.stringify({ entity, ids }) })).json()) as {
    results: { id: string; features: Record<string, number | null | number[]> }[];
  };
  dump[entity] = {};
  for (const e of r.results) dump[entity][e.id] = Object.fromEntries(Object.entries(e.features).filter(([, v]) => !Array.isArray(v))) as Record<string, number | null>;
}
const featuresFile = `${ROOT}bench/results/.features.tmp`;
mkdirSync(`${ROOT}bench/results`, { recursive: true });
writeFileSync(featuresFile, JSON.stringify(dump));

// 3. Redis (when installed), loaded with the same features.
let redisOk = false;
try {
  execFileSync('redis-server', ['--version']);
  start('redis', 'redis-server', ['--port', String(REDIS), '--save', '', '--appendonly', 'no']);
  await new Promise((r) => setTimeout(r, 300));
  // ioredis lives in bench/node_modules (a peer's dependency, not hotpath's): imported by a
  // name TypeScript does not resolve, so the product's typecheck does not need it.
  const ioredis = 'ioredis';
  const { Redis } = (await import(ioredis)) as { Redis: new (o: object) => RedisLike };
  const redis = new Redis({ port: REDIS, host: '127.0.0.1' });
  const p = redis.pipeline();
  for (const [entity, rows] of Object.entries(dump))
    for (const [id, f] of Object.entries(rows)) p.hset(`f:${entity}:${id}`, Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v === null ? '' : String(v)])));
  await p.exec();
  redis.disconnect();
  redisOk = true;
} catch (err) {
  console.error(`redis-server not usable (${(err as Error).message}); the Redis peer is skipped`);
}

// 4. The peers.
const peerProcs = {
  uws: start('uws', process.execPath, ['bench/uws-hello.mjs', String(PEERS.uws)]),
  fastifyOrt: start('fastify-ort', process.execPath, ['bench/peers/fastify-ort.mjs', String(PEERS.fastifyOrt), featuresFile]),
  httpOrt: start('http-ort', process.execPath, ['bench/peers/http-ort.mjs', String(PEERS.httpOrt), featuresFile]),
  fastifyRedis: redisOk ? start('fastify-redis', process.execPath, ['bench/peers/fastify-redis.mjs', String(PEERS.fastifyRedis), String(REDIS)]) : undefined,
};
await ready(`http://127.0.0.1:${PEERS.uws}/`);
await ready(`http://127.0.0.1:${PEERS.fastifyOrt}/`);
await ready(`http://127.0.0.1:${PEERS.httpOrt}/`);
if (redisOk) await ready(`http://127.0.0.1:${PEERS.fastifyRedis}/v1/features/user/user-1`);

// 5. Alternating rounds, hotpath against each peer.
interface Row { scenario: Scenario; peer: string; summary: ReturnType<typeof compareSummary>; cpuA: number[]; cpuB: number[] }
const rows: Row[] = [];
const opts = { ids: 1000, model: 'fraud', entity: 'user', batch: 100, dim: 10, stream: 'transactions' };
const measure = async (port: number, pid: number | undefined, scenario: Scenario) => {
  const c0 = pid ? cpuSeconds(pid) : NaN;
  const r = await runLoad({ url: `http://127.0.0.1:${port}`, requests: buildRequests(scenario, { ...opts, host: `127.0.0.1:${port}` }), connections: CONNECTIONS, durationMs: DURATION_MS, warmupMs: 1000, timeoutMs: 5000 });
  const cpu = pid ? ((cpuSeconds(pid) - c0) / Math.max(1, r.answeredTotal)) * 1000 : NaN;
  return { r, cpu };
};
const pairs: [Scenario, string, number, ChildProcess | undefined, Scenario][] = [
  ['features', 'Fastify + ioredis (Redis)', PEERS.fastifyRedis, peerProcs.fastifyRedis, 'features'],
  ['features', 'uWS hello world (transport ceiling)', PEERS.uws, peerProcs.uws, 'hello'],
  ['predict', 'Fastify + onnxruntime-node', PEERS.fastifyOrt, peerProcs.fastifyOrt, 'predict'],
  ['predict', 'node:http + onnxruntime-node', PEERS.httpOrt, peerProcs.httpOrt, 'predict'],
  ['predict', 'Fastify + ioredis (Redis) + onnxruntime-node', PEERS.fastifyRedis, peerProcs.fastifyRedis, 'predict'],
];
for (const [scenario, peer, port, proc, peerScenario] of pairs) {
  if (!proc) continue;
  const a: Awaited<ReturnType<typeof measure>>[] = [];
  const b: Awaited<ReturnType<typeof measure>>[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    a.push(await measure(HP, hp.pid, scenario));
    b.push(await measure(port, proc.pid, peerScenario));
  }
  const summary = compareSummary(a.map((x) => x.r), b.map((x) => x.r));
  rows.push({ scenario, peer, summary, cpuA: a.map((x) => x.cpu), cpuB: b.map((x) => x.cpu) });
  const bad = [...a, ...b].filter((x) => x.r.answered === 0 || x.r.ok < x.r.answered);
  if (bad.length) console.error(`${scenario} vs ${peer}: ${bad.length} rounds with errors or non-2xx answers`);
  console.error(`${scenario} vs ${peer}: ${summary.throughput.ratio.toFixed(2)}x throughput`);
}

// 6. The report.
const date = new Date().toISOString().slice(0, 10);
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
const k = (v: number) => `${(v / 1000).toFixed(1)}k`;
const ms = (us: number) => (Number.isNaN(us) ? '-' : `${(us / 1000).toFixed(2)} ms`);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${process.version}, ${process.platform}`;
const md = [
  `# hotpath against its peers (${date})`,
  '',
  `Machine: ${machine}. Load generator: \`hotpath bench\`'s (src/bench/loadgen.ts), closed loop, ${CONNECTIONS} connections, on the same machine.`,
  `Method: ${ROUNDS} alternating rounds of ${DURATION_MS / 1000} s per target (hotpath, peer, hotpath, ...), 1 s warm-up each; medians.`,
  'Same model (models/fraud, newest version), same features (dumped from hotpath after 20,000 events for users 1..1000 and merchants 1..100), same payloads.',
  'Noise: the spread of a target\'s own rounds over their median. CPU: seconds of the server process per 1,000 requests (/proc).',
  '',
  '| scenario | peer | hotpath req/s | peer req/s | ratio | hotpath p99 | peer p99 | hotpath CPU s/1k | peer CPU s/1k | noise (hotpath / peer) |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) =>
    `| ${r.scenario} | ${r.peer} | ${k(r.summary.throughput.a)} | ${k(r.summary.throughput.b)} | **${r.summary.throughput.ratio.toFixed(2)}×** | ${ms(r.summary.p99Us.a)} | ${ms(r.summary.p99Us.b)} | ${med(r.cpuA).toFixed(3)} | ${med(r.cpuB).toFixed(3)} | ${(r.summary.throughput.noiseA * 100).toFixed(0)} % / ${(r.summary.throughput.noiseB * 100).toFixed(0)} % |`),
  '',
  'Reproduce: `npm --prefix bench ci && npm run bench` (needs redis-server for the Redis peer).',
  '',
].join('\n');
writeFileSync(`${ROOT}bench/results/${date}.md`, md);
writeFileSync(`${ROOT}bench/results/${date}.json`, JSON.stringify({ date, machine, rounds: ROUNDS, durationMs: DURATION_MS, connections: CONNECTIONS, rows }, null, 2));
process.stdout.write(md);
process.exit(0);
