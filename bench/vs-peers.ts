// hotpath against the servers people would pick instead, on the demo's model, features and
// payloads, in alternating rounds (hotpath, peer, hotpath, ...) on this machine.
//
// Peers (bench/peers, dependencies in bench/package.json: `npm --prefix bench ci`):
// Fastify + onnxruntime-node and node:http + onnxruntime-node (one session.run per
// request, features in a Map), Fastify + ioredis (features as hashes in a real Redis,
// skipped when redis-server is not installed), and a uWebSockets.js server that does no
// work (the transport ceiling). Every peer answers from the same feature values: hotpath
// ingests the standard data, its features are dumped, and the peers load the dump.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';

import { kilo, loadStandardData, mdTable, msOf, type Proc, spawnTracked, startHotpath, waitReady } from '../src/bench/harness.js';
import { cpuSeconds } from '../src/bench/proc.js';
import type { Scenario } from '../src/bench/scenarios.js';
import { compareSummary, median, strip } from '../src/bench/stats.js';
import { type Context, costPerMillion, type Section } from './context.js';
import { ours, type Run, viaWrk, warnBad } from './measure.js';

const HP = 18500;
const PEERS = { uws: 18501, fastifyOrt: 18502, httpOrt: 18503, fastifyRedis: 18504 };
const REDIS = 18510;

interface RedisLike {
  pipeline(): { hset(key: string, values: Record<string, string>): void; exec(): Promise<unknown> };
  disconnect(): void;
}

type Dump = Record<string, Record<string, Record<string, number | null>>>;

async function dumpFeatures(url: string): Promise<Dump> {
  const dump: Dump = {};
  for (const [entity, n] of [['user', 1000], ['merchant', 100]] as const) {
    const ids = Array.from({ length: n }, (_, i) => `${entity}-${i + 1}`);
    const r = (await (await fetch(`${url}/v1/features`, { method: 'POST', body: JSON.stringify({ entity, ids }) })).json()) as {
      results: { id: string; features: Record<string, number | null | number[]> }[];
    };
    dump[entity] = {};
    for (const e of r.results) dump[entity][e.id] = Object.fromEntries(Object.entries(e.features).filter(([, v]) => !Array.isArray(v))) as Record<string, number | null>;
  }
  return dump;
}

/** redis-server on REDIS loaded with the dump, or undefined (not installed, or no ioredis). */
async function startRedis(ctx: Context, dump: Dump): Promise<Proc | undefined> {
  try {
    execFileSync('redis-server', ['--version']);
  } catch {
    console.error('redis-server is not installed; the Redis peer is skipped');
    return undefined;
  }
  const proc = spawnTracked('redis', 'redis-server', ['--port', String(REDIS), '--save', '', '--appendonly', 'no'], { cwd: ctx.root, cpus: ctx.pin?.server });
  try {
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
    return proc;
  } catch (err) {
    console.error(`redis not usable (${(err as Error).message}); the Redis peer is skipped`);
    await proc.stop();
    return undefined;
  }
}

interface Row { scenario: Scenario; peer: string; summary: ReturnType<typeof compareSummary>; cpuA: number[]; cpuB: number[]; a: Run[]; b: Run[]; wrkA: number[]; wrkB: number[] }

/** CPU seconds of a process now (NaN when it cannot be read). */
function cpuNow(pid: number | undefined): number {
  try {
    return pid ? cpuSeconds(pid) : NaN;
  } catch {
    return NaN;
  }
}

export async function runPeers(ctx: Context): Promise<Section> {
  if (!existsSync(`${ctx.root}bench/node_modules/fastify`)) throw new Error('the peers need their dependencies: npm --prefix bench ci');
  const procs: Proc[] = [];
  const hp = await startHotpath(ctx.root, HP, { cpus: ctx.pin?.server });
  procs.push(hp);
  const featuresFile = `${ctx.root}bench/results/.features.tmp`;
  try {
    await loadStandardData(hp.url);
    const dump = await dumpFeatures(hp.url);
    writeFileSync(featuresFile, JSON.stringify(dump));
    const redis = await startRedis(ctx, dump);
    if (redis) procs.push(redis);
    const peer = (name: string, file: string, ...args: string[]) => {
      const p = spawnTracked(name, process.execPath, [file, ...args], { cwd: ctx.root, cpus: ctx.pin?.server });
      procs.push(p);
      return p;
    };
    const peerProcs = {
      uws: peer('uws', 'bench/uws-hello.mjs', String(PEERS.uws)),
      fastifyOrt: peer('fastify-ort', 'bench/peers/fastify-ort.mjs', String(PEERS.fastifyOrt), featuresFile),
      httpOrt: peer('http-ort', 'bench/peers/http-ort.mjs', String(PEERS.httpOrt), featuresFile),
      fastifyRedis: redis ? peer('fastify-redis', 'bench/peers/fastify-redis.mjs', String(PEERS.fastifyRedis), String(REDIS)) : undefined,
    };
    await waitReady(`http://127.0.0.1:${PEERS.uws}/`, { proc: peerProcs.uws });
    await waitReady(`http://127.0.0.1:${PEERS.fastifyOrt}/`, { proc: peerProcs.fastifyOrt });
    await waitReady(`http://127.0.0.1:${PEERS.httpOrt}/`, { proc: peerProcs.httpOrt });
    if (peerProcs.fastifyRedis) await waitReady(`http://127.0.0.1:${PEERS.fastifyRedis}/v1/features/user/user-1`, { proc: peerProcs.fastifyRedis });

    const pairs: [Scenario, string, number, Proc | undefined, Scenario][] = [
      ['features', 'Fastify + ioredis (Redis)', PEERS.fastifyRedis, peerProcs.fastifyRedis, 'features'],
      ['features', 'uWS hello world (transport ceiling)', PEERS.uws, peerProcs.uws, 'hello'],
      ['predict', 'Fastify + onnxruntime-node', PEERS.fastifyOrt, peerProcs.fastifyOrt, 'predict'],
      ['predict', 'node:http + onnxruntime-node', PEERS.httpOrt, peerProcs.httpOrt, 'predict'],
      ['predict', 'Fastify + ioredis (Redis) + onnxruntime-node', PEERS.fastifyRedis, peerProcs.fastifyRedis, 'predict'],
    ];
    const rows: Row[] = [];
    for (const [scenario, name, port, proc, peerScenario] of pairs) {
      if (!proc) continue;
      const url = `http://127.0.0.1:${port}`;
      const a: Run[] = [];
      const b: Run[] = [];
      // A peer that reads Redis costs its redis-server's CPU too (hotpath has no second process).
      const withRedis = port === PEERS.fastifyRedis ? redis : undefined;
      for (let i = 0; i < ctx.rounds; i++) {
        a.push(await ours(ctx, hp.url, hp.pid, scenario));
        const r0 = cpuNow(withRedis?.pid);
        const run = await ours(ctx, url, proc.pid, peerScenario);
        if (withRedis) run.cpu += ((cpuNow(withRedis.pid) - r0) / Math.max(1, run.r.answeredTotal)) * 1000;
        b.push(run);
      }
      // wrk, when installed, measures each pair's closed-loop throughput too: a C generator
      // that costs less per request than ours, so a ratio that ours bounds shows unbounded.
      const wrkA: number[] = [];
      const wrkB: number[] = [];
      for (let i = 0; ctx.wrk && i < ctx.rounds; i++) {
        wrkA.push((await viaWrk(ctx, hp.url, scenario, false)).rps);
        wrkB.push((await viaWrk(ctx, url, peerScenario, false)).rps);
      }
      const summary = compareSummary(a.map((x) => x.r), b.map((x) => x.r));
      rows.push({ scenario, peer: name, summary, cpuA: a.map((x) => x.cpu), cpuB: b.map((x) => x.cpu), a, b, wrkA, wrkB });
      warnBad(`${scenario} vs ${name}`, [...a, ...b].map((x) => x.r));
      console.error(`${scenario} vs ${name}: ${summary.throughput.ratio.toFixed(2)}x throughput`);
    }
    // The generator's own ceiling: the uWS pair's peer side, our generator and wrk.
    const uwsRow = rows.find((x) => x.peer.startsWith('uWS'))!;
    const generator = { ours: uwsRow.b.map((x) => x.r.throughput), wrk: uwsRow.wrkB };
    const head = ['scenario', 'peer', 'hotpath req/s', 'peer req/s', 'ratio', 'hotpath p99', 'peer p99', 'hotpath CPU s/1k', 'peer CPU s/1k', 'CPU ratio (peer / hotpath)', 'hotpath $/1M req', 'peer $/1M req', 'noise (hotpath / peer)', 'with wrk: hotpath / peer req/s', 'wrk ratio'];
    const dollars = (cpu: number) => `$${costPerMillion(cpu, ctx.price).toPrecision(3)}`;
    const table = rows.map((r) => [
      r.scenario, r.peer, kilo(r.summary.throughput.a), kilo(r.summary.throughput.b), `**${r.summary.throughput.ratio.toFixed(2)}×**`, msOf(r.summary.p99Us.a), msOf(r.summary.p99Us.b),
      median(r.cpuA).toFixed(3), median(r.cpuB).toFixed(3), `${(median(r.cpuB) / median(r.cpuA)).toFixed(2)}×`, dollars(median(r.cpuA)), dollars(median(r.cpuB)),
      `${(r.summary.throughput.noiseA * 100).toFixed(0)} % / ${(r.summary.throughput.noiseB * 100).toFixed(0)} %`,
      r.wrkA.length ? `${kilo(median(r.wrkA))} / ${kilo(median(r.wrkB))}` : '-', r.wrkA.length ? `**${(median(r.wrkA) / median(r.wrkB)).toFixed(2)}×**` : '-',
    ]);
    const ceiling = `**The generator's ceiling** (\`GET\` against the uWS server that does no work, ${ctx.connections} connections): ${kilo(median(generator.ours))} req/s` +
      (ctx.wrk
        ? `; wrk \`-t1 -c${ctx.connections}\` on the same server in the same rounds: ${kilo(median(generator.wrk))} req/s. Ours reaches ${((median(generator.ours) / median(generator.wrk)) * 100).toFixed(0)} % of wrk's; a hotpath number near ${kilo(median(generator.ours))} is bounded by the generator (the serving scenario measures with wrk).`
        : '; wrk is not installed (apt-get install wrk) to compare with.');
    const md = [
      `Load generator: \`hotpath bench\`'s (src/bench/loadgen.ts), closed loop, ${ctx.connections} connections, on the same machine; one process per server for the whole run.`,
      `Method: ${ctx.rounds} alternating rounds of ${ctx.durationMs / 1000} s per pair (hotpath, peer, hotpath, ...), ${ctx.warmupMs / 1000} s warm-up each; medians.`,
      'Same model (models/fraud, newest version), same features (dumped from hotpath after the standard data: 20,000 events for users 1..1000 and merchants 1..100), same payloads.',
      "Noise: the spread of a target's own rounds over their median. CPU: seconds of the server process per 1,000 requests (/proc, all threads); a peer that reads Redis counts its redis-server's CPU too.",
      `Cost: dollars per million requests at $${ctx.price.perHour}/hour for ${ctx.price.vcpus} vCPUs (\`--price\`, \`--vcpus\`: an example price, set your own), from the CPU per request: a server that keeps its cores busy; idle capacity is not counted.`,
      '',
      mdTable(head, table),
      '',
      'The wrk columns: the same pair, the same rounds, driven by wrk `-t1` (bench/features.lua, bench/predict.lua) instead of our generator, for throughput only.',
      '',
      ceiling,
    ].join('\n');
    const medianRun = (runs: Run[]) => [...runs].sort((x, y) => x.r.latencyUs.p99 - y.r.latencyUs.p99)[runs.length >> 1];
    return {
      key: 'peers',
      title: 'hotpath against its peers',
      md,
      json: { rows: rows.map(({ a, b, ...r }) => ({ ...r, a: a.map((x) => ({ ...strip(x.r), cpu: x.cpu })), b: b.map((x) => ({ ...strip(x.r), cpu: x.cpu })) })), generator },
      tables: [{ caption: 'Closed loop, against the peers', head, rows: table.map((r) => r.map((c) => c.replace(/\*/g, ''))) }],
      plots: (['features', 'predict'] as const).map((sc) => ({
        title: `${sc}, closed loop`,
        series: rows.filter((r) => r.scenario === sc).flatMap((r, i) => [
          ...(i === 0 ? [{ label: 'hotpath', histogram: medianRun(r.a).r.histogram }] : []),
          { label: r.peer, histogram: medianRun(r.b).r.histogram },
        ]),
      })),
    };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    rmSync(featuresFile, { force: true });
  }
}
