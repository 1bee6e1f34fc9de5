// The open-loop tail at fractions of the maximum (issue 17): per round and build, a fresh
// server (this checkout, --b, or --a and --b in alternating rounds) preloaded with
// bench/gc-observer.cjs (the main thread's GC, as gc.ts) and loaded with the standard data;
// for feature reads, then predicts: the maximum, closed loop (wrk -t1 -c64 when installed,
// else our generator), then our generator open loop (`hotpath bench --rate R`: latency from
// each request's due time, coordinated omission corrected) at 25 %, 50 % and 75 % of that
// round's maximum, with enough connections for the rate (10 ms of requests, at least 64:
// the send-lag note in bench/README.md). Reported per workload and load: p50, p99, p99.9,
// the send lag p99, the main thread's GC pause time per second, and at 50 % the targets
// (reads p99 <= 1 ms, predicts p99 <= 2 ms) as pass/miss on the median over the rounds. The
// uWS servers that do no work (bench/uws-hello.mjs) are driven at the same rates beside the
// first build: the part of the tail that is this box and this generator.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describeBuild, kilo, loadStandardData, mdTable, msOf, spawnTracked, startHotpath, waitReady } from '../src/bench/harness.js';
import type { LoadResult } from '../src/bench/loadgen.js';
import { pidListeningOn } from '../src/bench/proc.js';
import { median, strip } from '../src/bench/stats.js';
import type { Context, Section } from './context.js';
import { buildsOf } from './floor.js';
import { ours, viaWrk } from './measure.js';

const PORT = 18780;
/** the uWS servers that do no work (bench/uws-hello.mjs), driven at the same rates: the part of the tail that is this box and this generator */
const HELLO_PORT = 18789;
const NO_WORK = 'uWS, no work';
const HELLO_SCENARIO = { features: 'hello', predict: 'predict' } as const;
export const TAIL_FRACTIONS = [0.25, 0.5, 0.75];
/** p99 targets at 50 % of the maximum, µs */
export const TAIL_TARGETS = { features: 1000, predict: 2000 } as const;
type Workload = keyof typeof TAIL_TARGETS;
const WHAT: Record<Workload, string> = { features: 'feature reads, GET /v1/features/user/{id}', predict: 'predicts, POST /v1/predict/fraud' };

/** Open-loop connections for a rate: 10 ms worth of requests, in steps of 64, at least 64 (rate × worst round trip). */
export function connectionsFor(rate: number): number {
  return Math.max(64, Math.ceil((rate * 0.01) / 64) * 64);
}

const log = (t: TailRun) =>
  console.error(`tail round ${t.round} ${t.build} ${t.workload} ${t.fraction * 100} % of ${kilo(t.maxRps)} = ${kilo(t.rate)} req/s, ${t.connections} conn.: p50 ${msOf(t.r.latencyUs.p50)}, p99 ${msOf(t.r.latencyUs.p99)}, p99.9 ${msOf(t.r.latencyUs.p999)}, send lag p99 ${msOf(t.r.sendLagUs?.p99 ?? NaN)}, GC ${t.gcMsPerS.toFixed(2)} ms/s${t.r.reachedRate ? '' : ' (rate not kept)'}`);

interface GcSnapshot { at: number; minor: [number, number]; major: [number, number] }

interface TailRun {
  round: number;
  build: string;
  workload: Workload;
  fraction: number;
  maxRps: number;
  rate: number;
  connections: number;
  r: LoadResult;
  /** the main thread's GC pause ms per second (scavenges and major GCs), over the measured window */
  gcMsPerS: number;
  scavengeMsPerS: number;
  cpuPer1k: number;
}

async function roundOf(ctx: Context, build: string, dir: string, round: number, port: number, hello?: { url: string; pid: number }): Promise<TailRun[]> {
  if (pidListeningOn(port) !== undefined) throw new Error(`port ${port} is taken: another benchmark is running on this machine`);
  const file = join(tmpdir(), `hotpath-bench-tail-${process.pid}-${port}.json`);
  rmSync(file, { force: true });
  const server = await startHotpath(dir, port, {
    cpus: ctx.pin?.server,
    nodeArgs: ['--require', join(ctx.root, 'bench/gc-observer.cjs')],
    env: { ...process.env, HOTPATH_BENCH_GC_FILE: file },
  });
  const snap = () => JSON.parse(readFileSync(file, 'utf8')) as GcSnapshot;
  const out: TailRun[] = [];
  try {
    await loadStandardData(server.url);
    for (const workload of ['features', 'predict'] as const) {
      const maxRps = ctx.wrk ? (await viaWrk(ctx, server.url, workload)).rps : (await ours(ctx, server.url, server.pid, workload)).r.throughput;
      for (const fraction of TAIL_FRACTIONS) {
        const rate = Math.round(maxRps * fraction);
        const connections = connectionsFor(rate);
        let s0: GcSnapshot | undefined;
        const { r, cpu } = await ours(ctx, server.url, server.pid, workload, { rate, connections, atWarmupEnd: () => (s0 = snap()) });
        const s1 = snap();
        s0 ??= s1;
        // the observer writes every 200 ms: the window is the time between the two snapshots, by the server's clock
        const s = Math.max(1e-3, (s1.at - s0.at) / 1000);
        const scavenge = (s1.minor[1] - s0.minor[1]) / s;
        const t: TailRun = { round, build, workload, fraction, maxRps, rate, connections, r, gcMsPerS: scavenge + (s1.major[1] - s0.major[1]) / s, scavengeMsPerS: scavenge, cpuPer1k: cpu };
        out.push(t);
        log(t);
        if (hello) {
          // the same rate and connections against the uWS server that does no work
          const h = await ours(ctx, hello.url, hello.pid, HELLO_SCENARIO[workload], { rate, connections });
          const u: TailRun = { round, build: NO_WORK, workload, fraction, maxRps, rate, connections, r: h.r, gcMsPerS: NaN, scavengeMsPerS: NaN, cpuPer1k: h.cpu };
          out.push(u);
          log(u);
        }
      }
    }
  } finally {
    await server.stop();
    rmSync(file, { force: true });
  }
  return out;
}

export async function runTail(ctx: Context): Promise<Section> {
  const builds = buildsOf(ctx);
  const runs: TailRun[] = [];
  const per = 2 * (1 + 2 * TAIL_FRACTIONS.length);
  const n = ctx.rounds * builds.length * per;
  console.error(`tail: ${n} runs, about ${((n * (ctx.durationMs / 1000 + Math.max(1, ctx.warmupMs / 1000) + 0.3) + ctx.rounds * builds.length * 3) / 60).toFixed(1)} min`);
  if (pidListeningOn(HELLO_PORT) !== undefined) throw new Error(`port ${HELLO_PORT} is taken: another benchmark is running on this machine`);
  const helloProc = spawnTracked('uws-hello', process.execPath, ['bench/uws-hello.mjs', String(HELLO_PORT)], { cwd: ctx.root, cpus: ctx.pin?.server });
  const hello = { url: `http://127.0.0.1:${HELLO_PORT}`, pid: helloProc.pid };
  try {
    await waitReady(`${hello.url}/`, { proc: helloProc });
    for (let round = 1; round <= ctx.rounds; round++)
      // the uWS comparison once per round, beside the first build
      for (const [i, [build, dir]] of builds.entries()) runs.push(...(await roundOf(ctx, build, dir, round, PORT + i, i === 0 ? hello : undefined)));
  } finally {
    await helloProc.stop();
  }
  const shown: [string, string][] = [...builds, [NO_WORK, '']];

  const f2 = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(2));
  const head = ['workload', 'build', 'load', 'rate (median)', 'connections', 'p50', '**p99**', 'p99 range', 'p99.9', 'send lag p99', 'main-thread GC ms/s', 'server CPU µs/request', 'server CPU used (cores)', 'rate kept', 'target at 50 %', 'pass'];
  const rows: string[][] = [];
  for (const workload of ['features', 'predict'] as const)
    for (const [build] of shown)
      for (const fraction of TAIL_FRACTIONS) {
        const ts = runs.filter((t) => t.workload === workload && t.build === build && t.fraction === fraction);
        const m = (f: (t: TailRun) => number) => median(ts.map(f));
        const p99 = m((t) => t.r.latencyUs.p99);
        const target = fraction === 0.5 && build !== NO_WORK ? TAIL_TARGETS[workload] : undefined;
        const p99s = ts.map((t) => t.r.latencyUs.p99);
        rows.push([
          WHAT[workload], build, `${fraction * 100} % of ${kilo(m((t) => t.maxRps))} max`, `${kilo(m((t) => t.rate))} req/s`, ts.map((t) => t.connections).join('/'),
          msOf(m((t) => t.r.latencyUs.p50)), `**${msOf(p99)}**`, `${msOf(Math.min(...p99s))}–${msOf(Math.max(...p99s))}`, msOf(m((t) => t.r.latencyUs.p999)),
          msOf(m((t) => t.r.sendLagUs?.p99 ?? NaN)), f2(m((t) => t.gcMsPerS)), f2(m((t) => t.cpuPer1k * 1000)), f2(m((t) => (t.cpuPer1k * t.rate) / 1000)),
          `${ts.filter((t) => t.r.reachedRate).length} of ${ts.length}`,
          target ? `p99 <= ${target / 1000} ms` : '', target ? (p99 <= target ? 'pass' : '**miss**') : '',
        ]);
      }
  const method = [
    `${builds.map(([b, d]) => `${b}: ${describeBuild(d)}`).join('; ')}; ${ctx.rounds} rounds${builds.length > 1 ? ', A then B in each' : ''}.`,
    `Each round and build a fresh server (\`node --require bench/gc-observer.cjs dist/cli/main.js serve --config hotpath.yaml\`, gated on /readyz) with the standard data; for feature reads, then predicts:`,
    `the maximum, closed loop (${ctx.wrk ? `wrk -t1 -c${ctx.connections}, after a 1 s warm-up run` : `our generator, ${ctx.connections} connections`}, ${ctx.durationMs / 1000} s), then our generator open loop at ${TAIL_FRACTIONS.map((f) => `${f * 100} %`).join(', ')} of that round's maximum`,
    `for ${ctx.durationMs / 1000} s after ${ctx.warmupMs / 1000} s of warm-up, with 10 ms of requests' worth of connections (at least 64, in steps of 64).`,
    `Latency from each request's due time (coordinated omission corrected); send lag = due time to send, part of it. GC: the main thread's pause time (scavenges and major GCs, perf_hooks 'gc' entries) per second over the measured window.`,
    `Server CPU: utime + stime of the whole process, all threads, per answered request (warm-up included), and that times the rate: the cores it kept busy (a pinned server near 0.8 of its one core has stretches of tens of ms with no idle moment, bench/results/2026-12-07-issue17-fourth-pass.md). Medians over the rounds; pass/miss on the median p99 at 50 %.`,
    `The rows "${NO_WORK}" drive bench/uws-hello.mjs (GET answers a constant; POST parses the predict body) at the same rates and connections as the first build in each round: the part of the tail that is this box, its kernel and this generator.`,
  ].join(' ');
  const medianRun = (ts: TailRun[]) => [...ts].sort((x, y) => x.r.latencyUs.p99 - y.r.latencyUs.p99)[ts.length >> 1];
  return {
    key: 'tail',
    title: 'Tail: open loop at 25, 50 and 75 % of the maximum (issue 17)',
    md: `${method}\n\n${mdTable(head, rows)}\n`,
    json: { builds: Object.fromEntries(builds), fractions: TAIL_FRACTIONS, targets: TAIL_TARGETS, runs: runs.map((t) => ({ ...t, r: strip(t.r) })) },
    tables: [{ caption: 'Open-loop tail', head: head.map((h) => h.replace(/\*/g, '')), rows: rows.map((r) => r.map((c) => c.replace(/\*/g, ''))) }],
    plots: (['features', 'predict'] as const).map((w) => ({
      title: `${WHAT[w]}, open loop at 25/50/75 % of the maximum (the median-p99 round of each)`,
      series: shown.flatMap(([b]) => TAIL_FRACTIONS.map((f) => ({ label: `${b} ${f * 100} %`, histogram: medianRun(runs.filter((t) => t.workload === w && t.build === b && t.fraction === f)).r.histogram }))),
    })),
  };
}
