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

import * as hdr from 'hdr-histogram-js';

import { runFreshness } from '../src/bench/freshness.js';
import { type LoadResult, runLoad } from '../src/bench/loadgen.js';
import { cpuSeconds } from '../src/bench/proc.js';
import { htmlReport } from '../src/bench/report-html.js';
import { buildRequests, type Scenario, scenarioWsPath, standardEvents } from '../src/bench/scenarios.js';
import { compareSummary, median as med, strip } from '../src/cli/bench.js';

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
const events = standardEvents(now);
for (let part = 0; part < events.length; part += 5000) {
  const body = events.slice(part, part + 5000).map((e) => JSON.stringify(e)).join('\n');
  const r = await fetch(`http://127.0.0.1:${HP}/v1/events`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
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
const k = (v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : `${(v / 1000).toFixed(1)}k`);
const ms = (us: number) => (Number.isNaN(us) ? '-' : `${(us / 1000).toFixed(2)} ms`);
interface Run { r: LoadResult; cpu: number }
interface Row { scenario: Scenario; peer: string; summary: ReturnType<typeof compareSummary>; cpuA: number[]; cpuB: number[]; a: Run[]; b: Run[]; wrkA: number[]; wrkB: number[] }
const rows: Row[] = [];
const opts = { ids: 1000, model: 'fraud', entity: 'user', batch: 100, dim: 10, stream: 'transactions' };
const measure = async (port: number, pid: number | undefined, scenario: Scenario, more: { rate?: number; connections?: number; batch?: number } = {}): Promise<Run> => {
  const c0 = pid ? cpuSeconds(pid) : NaN;
  const r = await runLoad({
    url: `http://127.0.0.1:${port}`,
    requests: buildRequests(scenario, { ...opts, batch: more.batch ?? opts.batch, host: `127.0.0.1:${port}` }),
    connections: more.connections ?? CONNECTIONS, durationMs: DURATION_MS, warmupMs: 1000, timeoutMs: 5000, rate: more.rate, ws: scenarioWsPath(scenario),
  });
  const cpu = pid ? ((cpuSeconds(pid) - c0) / Math.max(1, r.answeredTotal)) * 1000 : NaN;
  return { r, cpu };
};
// wrk, when installed, measures each pair's closed-loop throughput too: a C generator
// that costs less per request than ours, so a ratio that ours bounds shows unbounded.
const wrkOk = (() => {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as { status?: number }).status === 1; // wrk --version exits 1
  }
})();
const WRK_SCRIPT: Partial<Record<Scenario, string>> = { features: 'bench/features.lua', predict: 'bench/predict.lua' };
const wrk = (port: number, scenario: Scenario): { rps: number; p99Us: number } => {
  const script = WRK_SCRIPT[scenario];
  const out = execFileSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${DURATION_MS / 1000}s`, '--latency', ...(script ? ['-s', script] : []), `http://127.0.0.1:${port}/`], { cwd: ROOT, encoding: 'utf8' });
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  if (/Non-2xx/.test(out)) console.error(`wrk ${scenario} on :${port}: non-2xx answers\n${out}`);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]), p99Us: p99 ? Number(p99[1]) * (p99[2] === 'us' ? 1 : p99[2] === 'ms' ? 1000 : 1e6) : NaN };
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
  const a: Run[] = [];
  const b: Run[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    a.push(await measure(HP, hp.pid, scenario));
    b.push(await measure(port, proc.pid, peerScenario));
  }
  const summary = compareSummary(a.map((x) => x.r), b.map((x) => x.r));
  const wa: number[] = [];
  const wb: number[] = [];
  for (let i = 0; wrkOk && i < ROUNDS; i++) {
    wa.push(wrk(HP, scenario).rps);
    wb.push(wrk(port, peerScenario).rps);
  }
  rows.push({ scenario, peer, summary, cpuA: a.map((x) => x.cpu), cpuB: b.map((x) => x.cpu), a, b, wrkA: wa, wrkB: wb });
  const bad = [...a, ...b].filter((x) => x.r.answered === 0 || x.r.ok < x.r.answered);
  if (bad.length) console.error(`${scenario} vs ${peer}: ${bad.length} rounds with errors or non-2xx answers`);
  console.error(`${scenario} vs ${peer}: ${summary.throughput.ratio.toFixed(2)}x throughput`);
}

// 6. The generator's own ceiling: the uWS pair's peer side, our generator and wrk.
const uwsRow = rows.find((x) => x.peer.startsWith('uWS'))!;
const generator = { ours: uwsRow.b.map((x) => x.r.throughput), wrk: uwsRow.wrkB };
console.error(`generator: ${k(med(generator.ours))} req/s${wrkOk ? `, wrk ${k(med(generator.wrk))}` : ' (wrk not installed)'}`);

// 7. The targets of the issue: ingest, open-loop tails (beside the generator's own floor
// against the uWS server at the same rate), freshness. hotpath only.
interface Target { what: string; target: string; value: number; unit: 'events/s' | 'req/s' | 'us'; pass: boolean; runs: Run[]; floor?: Run[] }
const targets: Target[] = [];
const rounds = async (fn: () => Promise<Run>): Promise<Run[]> => {
  const out: Run[] = [];
  for (let i = 0; i < ROUNDS; i++) out.push(await fn());
  return out;
};
const medianOf = (runs: Run[], f: (r: LoadResult) => number) => med(runs.map((x) => f(x.r)));
const INGEST_BATCH = 1000;
for (const [scenario, target] of [['events', 200_000], ['ws-events', 1_000_000]] as const) {
  const runs = await rounds(() => measure(HP, hp.pid, scenario, { connections: 8, batch: INGEST_BATCH }));
  const eps = medianOf(runs, (r) => (r.ok * INGEST_BATCH) / r.durationS); // events in 2xx answers
  targets.push({ what: `ingest, ${scenario === 'events' ? 'HTTP NDJSON' : 'binary WebSocket'}, 1,000 events per request, 8 connections`, target: `>= ${k(target)} events/s`, value: eps, unit: 'events/s', pass: eps >= target, runs });
}
for (const [scenario, target] of [['features', 100_000], ['predict', 50_000]] as const) {
  // With wrk when installed: our generator's ceiling is below these targets on a small box.
  const all = rows.filter((x) => x.scenario === scenario);
  const t = wrkOk ? med(all.flatMap((x) => x.wrkA)) : med(all.flatMap((x) => x.a.map((y) => y.r.throughput)));
  targets.push({ what: `${scenario}, closed loop, ${CONNECTIONS} connections, ${wrkOk ? 'wrk -t1' : 'our generator (bounded by its ceiling)'}`, target: `>= ${k(target)} req/s`, value: t, unit: 'req/s', pass: t >= target, runs: [] });
}
for (const [scenario, rate, p99] of [['features', 50_000, 1000], ['predict', 25_000, 2000]] as const) {
  const runs = await rounds(() => measure(HP, hp.pid, scenario, { rate, connections: 256 }));
  const floor = await rounds(() => measure(PEERS.uws, undefined, scenario === 'features' ? 'hello' : 'predict', { rate, connections: 256 }));
  const v = medianOf(runs, (r) => r.latencyUs.p99);
  targets.push({ what: `${scenario}, open loop at ${k(rate)} req/s, 256 connections: p99`, target: `<= ${p99 / 1000} ms`, value: v, unit: 'us', pass: v <= p99, runs, floor });
}
const fresh = await runFreshness({
  url: `http://127.0.0.1:${HP}`, samples: 5000, entity: 'user', feature: 'last_amount', timeoutMs: 5000,
  event: (id, value) => ({ user_id: id, merchant_id: 'fresh-merchant', amount: value, country: 'FR', channel: 'web' }),
});
targets.push({ what: `freshness: write an event, read until it shows (${fresh.samples} samples): p99`, target: '<= 1 ms', value: fresh.latencyUs.p99, unit: 'us', pass: fresh.latencyUs.p99 <= 1000, runs: [] });

// 8. The report.
const date = new Date().toISOString().slice(0, 10);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${process.version}, ${process.platform}`;
/** Open-loop rounds that did not keep their rate: their percentiles are the generator's backlog. */
const missedRate = (runs: Run[]) => runs.filter((x) => !x.r.reachedRate).length;
const fmt = (t: Target) => (t.unit === 'us' ? ms(t.value) : t.unit === 'events/s' ? `${(t.value / 1e6).toFixed(2)} M events/s` : `${k(t.value)} req/s`);
const floorOf = (t: Target) => {
  if (!t.floor) return '';
  const missed = missedRate(t.floor);
  if (missed > 0) return `none: the generator could not keep the rate against a uWS server that does no work (${missed} of ${t.floor.length} rounds)`;
  return `${ms(medianOf(t.floor, (r) => r.latencyUs.p99))} (uWS server that does no work, same rate)`;
};
const lagOf = (t: Target) => (t.runs[0]?.r.sendLagUs ? ms(medianOf(t.runs, (r) => r.sendLagUs?.p99 ?? NaN)) : '');
const md = [
  `# hotpath against its peers (${date})`,
  '',
  `Machine: ${machine}. Load generator: \`hotpath bench\`'s (src/bench/loadgen.ts), closed loop, ${CONNECTIONS} connections, on the same machine.`,
  `Method: ${ROUNDS} alternating rounds of ${DURATION_MS / 1000} s per target (hotpath, peer, hotpath, ...), 1 s warm-up each; medians.`,
  'Same model (models/fraud, newest version), same features (dumped from hotpath after 20,000 events for users 1..1000 and merchants 1..100), same payloads.',
  'Noise: the spread of a target\'s own rounds over their median. CPU: seconds of the server process per 1,000 requests (/proc).',
  '',
  '| scenario | peer | hotpath req/s | peer req/s | ratio | hotpath p99 | peer p99 | hotpath CPU s/1k | peer CPU s/1k | CPU ratio (peer / hotpath) | noise (hotpath / peer) | with wrk: hotpath / peer req/s | wrk ratio |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) =>
    `| ${r.scenario} | ${r.peer} | ${k(r.summary.throughput.a)} | ${k(r.summary.throughput.b)} | **${r.summary.throughput.ratio.toFixed(2)}×** | ${ms(r.summary.p99Us.a)} | ${ms(r.summary.p99Us.b)} | ${med(r.cpuA).toFixed(3)} | ${med(r.cpuB).toFixed(3)} | ${(med(r.cpuB) / med(r.cpuA)).toFixed(2)}× | ${(r.summary.throughput.noiseA * 100).toFixed(0)} % / ${(r.summary.throughput.noiseB * 100).toFixed(0)} % | ${r.wrkA.length ? `${k(med(r.wrkA))} / ${k(med(r.wrkB))}` : '-'} | ${r.wrkA.length ? `**${(med(r.wrkA) / med(r.wrkB)).toFixed(2)}×**` : '-'} |`),
  '',
  'The wrk columns: the same pair, the same rounds, driven by wrk `-t1` (bench/features.lua, bench/predict.lua) instead of our generator, for throughput only.',
  '',
  `**The generator's ceiling** (\`GET\` against the uWS server that does no work, ${CONNECTIONS} connections): ${k(med(generator.ours))} req/s` +
    (wrkOk ? `; wrk \`-t1 -c${CONNECTIONS}\` on the same server in the same rounds: ${k(med(generator.wrk))} req/s. Ours reaches ${((med(generator.ours) / med(generator.wrk)) * 100).toFixed(0)} % of wrk's; a hotpath number near ${k(med(generator.ours))} is bounded by the generator (bench/serving.sh measures with wrk).` : '; wrk is not installed (apt-get install wrk) to compare with.'),
  '',
  '## Targets',
  '',
  '| what | target | hotpath | pass | send lag p99 | generator floor p99 |',
  '|---|---|---|---|---|---|',
  ...targets.map((t) => `| ${t.what} | ${t.target} | ${fmt(t)}${missedRate(t.runs) ? ` (rate not kept in ${missedRate(t.runs)} of ${t.runs.length} rounds)` : ''} | ${t.pass ? 'pass' : '**miss**'} | ${lagOf(t)} | ${floorOf(t)} |`),
  '',
  'Send lag: time from a request\'s due time to its send (a connection was not free, or the generator was late); it is part of the open-loop latency. Generator floor: the same open loop against a uWS server that does no work (GET constant, or POST that parses the predict body), so the part of the p99 that is this box and this generator.',
  '',
  'Reproduce: `npm --prefix bench ci && npm run bench` (needs redis-server for the Redis peer, wrk for the generator comparison). The HTML page beside this file has the latency-by-percentile plots.',
  '',
].join('\n');
writeFileSync(`${ROOT}bench/results/${date}.md`, md);
writeFileSync(`${ROOT}bench/results/${date}.json`, JSON.stringify({
  date, machine, rounds: ROUNDS, durationMs: DURATION_MS, connections: CONNECTIONS,
  rows: rows.map(({ a, b, ...r }) => ({ ...r, histogramsUs: { a: a.map((x) => hdr.encodeIntoCompressedBase64(x.r.histogram)), b: b.map((x) => hdr.encodeIntoCompressedBase64(x.r.histogram)) } })),
  generator,
  targets: targets.map(({ runs, floor, ...t }) => ({ ...t, runs: runs.map((x) => strip(x.r)), floor: floor?.map((x) => strip(x.r)) })),
  freshness: { ...fresh, histogram: undefined },
}, null, 2));
const medianRun = (runs: Run[]) => [...runs].sort((x, y) => x.r.latencyUs.p99 - y.r.latencyUs.p99)[runs.length >> 1];
writeFileSync(`${ROOT}bench/results/${date}.html`, htmlReport({
  title: `hotpath against its peers (${date})`,
  about: [`Machine: ${machine}.`, `${ROUNDS} alternating rounds of ${DURATION_MS / 1000} s per target; the plots show each side's median-p99 round.`],
  tables: [
    {
      caption: 'Closed loop, against the peers',
      head: ['scenario', 'peer', 'hotpath req/s', 'peer req/s', 'ratio', 'hotpath p99', 'peer p99', 'hotpath CPU s/1k', 'peer CPU s/1k', 'wrk ratio'],
      rows: rows.map((r) => [r.scenario, r.peer, k(r.summary.throughput.a), k(r.summary.throughput.b), `${r.summary.throughput.ratio.toFixed(2)}×`, ms(r.summary.p99Us.a), ms(r.summary.p99Us.b), med(r.cpuA).toFixed(3), med(r.cpuB).toFixed(3), r.wrkA.length ? `${(med(r.wrkA) / med(r.wrkB)).toFixed(2)}×` : '-']),
    },
    { caption: 'Targets', head: ['what', 'target', 'hotpath', 'pass', 'send lag p99', 'generator floor p99'], rows: targets.map((t) => [t.what, t.target, fmt(t), t.pass ? 'pass' : 'miss', lagOf(t), floorOf(t)]) },
  ],
  plots: [
    ...['features', 'predict'].map((sc) => ({
      title: `${sc}, closed loop`,
      series: rows.filter((r) => r.scenario === sc).flatMap((r, i) => [
        ...(i === 0 ? [{ label: 'hotpath', histogram: medianRun(r.a).r.histogram }] : []),
        { label: r.peer, histogram: medianRun(r.b).r.histogram },
      ]),
    })),
    ...targets.filter((t) => t.floor).map((t) => ({
      title: t.what,
      series: [{ label: 'hotpath', histogram: medianRun(t.runs).r.histogram }, { label: 'uWS server that does no work (generator floor)', histogram: medianRun(t.floor!).r.histogram }],
    })),
    { title: 'Freshness', series: [{ label: 'write -> first read that sees it', histogram: fresh.histogram }] },
  ],
}));
process.stdout.write(md);
process.exit(0);
