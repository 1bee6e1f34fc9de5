// The main thread's young-generation GC under predict load, and the open-loop predict
// tail: each trial a fresh server (this checkout, or --a and --b in alternating rounds)
// preloaded with bench/gc-observer.cjs (perf_hooks 'gc' entries of the main thread only),
// loaded with the standard data, then driven open loop at --rate predicts/s (25k) with
// each of --gc-connections (256). Reported: scavenge time per second and per scavenge,
// scavenges per second, and the predict p50/p99/p99.9 from the due time (coordinated
// omission corrected) with the send lag beside it.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { threadDelta, threadStats } from '../src/bench/proc.js';
import { describeBuild, kilo, loadStandardData, mdTable, msOf, pct, ratioOf, startHotpath } from '../src/bench/harness.js';
import type { LoadResult } from '../src/bench/loadgen.js';
import { median, pairedRatios, spread, strip } from '../src/bench/stats.js';
import type { Context, Section } from './context.js';
import { ours } from './measure.js';

interface GcSnapshot {
  at: number;
  minor: [number, number];
  major: [number, number];
  minorPauses: number[];
}

interface GcTrial {
  round: number;
  build: string;
  connections: number;
  scavengeMsPerS: number;
  scavengesPerS: number;
  meanPauseMs: number;
  maxPauseMs: number;
  majorMsPerS: number;
  r: LoadResult;
  cpuPer1k: number;
  /** the server's voluntary context switches per second (all threads), as bench/tools/ab-open.sh read them */
  switchesPerS: number;
  /** its busiest threads over the window: CPU seconds per second, most first */
  busiest: { thread: string; cpu: number }[];
}

const PORT = 18620;

function readSnapshot(file: string): GcSnapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as GcSnapshot;
}

async function trial(ctx: Context, build: string, dir: string, connections: number, round: number, port: number): Promise<GcTrial> {
  const file = join(tmpdir(), `hotpath-bench-gc-${process.pid}-${port}.json`);
  rmSync(file, { force: true });
  const server = await startHotpath(dir, port, {
    cpus: ctx.pin?.server,
    nodeArgs: ['--require', join(ctx.root, 'bench/gc-observer.cjs')],
    env: { ...process.env, HOTPATH_BENCH_GC_FILE: file },
  });
  try {
    await loadStandardData(server.url);
    let s0: GcSnapshot | undefined;
    let th0 = threadStats(server.pid);
    let t0 = performance.now();
    const atWarmupEnd = () => {
      s0 = readSnapshot(file);
      th0 = threadStats(server.pid);
      t0 = performance.now();
    };
    const { r, cpu } = await ours(ctx, server.url, server.pid, 'predict', { rate: ctx.rate, connections, atWarmupEnd });
    const s1 = readSnapshot(file);
    const th = threadDelta(th0, threadStats(server.pid));
    const thS = (performance.now() - t0) / 1000;
    s0 ??= readSnapshot(file); // a warm-up of 0: the window starts now
    // Both snapshots are up to 200 ms old when read (the observer writes every 200 ms):
    // the window is the time between them, by the server's own clock.
    const s = (s1.at - s0.at) / 1000;
    const pauses = s1.minorPauses.slice(s0.minor[0]);
    return {
      round, build, connections,
      scavengeMsPerS: (s1.minor[1] - s0.minor[1]) / s,
      scavengesPerS: (s1.minor[0] - s0.minor[0]) / s,
      meanPauseMs: pauses.length ? pauses.reduce((x, y) => x + y, 0) / pauses.length : NaN,
      maxPauseMs: pauses.length ? Math.max(...pauses) : NaN,
      majorMsPerS: (s1.major[1] - s0.major[1]) / s,
      r,
      cpuPer1k: cpu,
      switchesPerS: th.switches / thS,
      busiest: th.busiest.map((b) => ({ thread: b.thread, cpu: b.cpu / thS })),
    };
  } finally {
    await server.stop();
    rmSync(file, { force: true });
  }
}

const f2 = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(2));

export async function runGc(ctx: Context): Promise<Section> {
  const builds: [string, string][] = ctx.a && ctx.b ? [['A', ctx.a], ['B', ctx.b]] : [['this checkout', ctx.root]];
  const trials: GcTrial[] = [];
  const n = ctx.gcConnections.length * ctx.rounds * builds.length;
  console.error(`gc: ${n} trials, about ${((n * (ctx.durationMs / 1000 + ctx.warmupMs / 1000 + 1.5)) / 60).toFixed(1)} min`);
  for (const connections of ctx.gcConnections)
    for (let round = 1; round <= ctx.rounds; round++)
      for (const [i, [build, dir]] of builds.entries()) {
        const t = await trial(ctx, build, dir, connections, round, PORT + i);
        trials.push(t);
        console.error(`gc ${connections} conn. round ${round} ${build}: scavenges ${f2(t.scavengeMsPerS)} ms/s (${f2(t.scavengesPerS)}/s, mean ${f2(t.meanPauseMs)} ms, max ${f2(t.maxPauseMs)} ms); predict p99 ${msOf(t.r.latencyUs.p99)}, send lag p99 ${msOf(t.r.sendLagUs?.p99 ?? NaN)}${t.r.reachedRate ? '' : ' (rate not kept)'}`);
      }

  const of = (build: string, c: number) => trials.filter((t) => t.build === build && t.connections === c);
  const head = ['connections', 'build', 'scavenge ms/s (median)', 'spread', 'scavenges/s', 'mean pause', 'worst pause', 'major GC ms/s', 'predict p50', '**p99**', 'p99 spread', 'p99.9', 'send lag p99', 'req/s', 'rate kept', 'server CPU s/1k', 'context switches/s', 'busiest threads, CPU s/s'];
  const rows: string[][] = [];
  for (const c of ctx.gcConnections)
    for (const [build] of builds) {
      const ts = of(build, c);
      const m = (f: (t: GcTrial) => number) => median(ts.map(f));
      rows.push([
        String(c), build, f2(m((t) => t.scavengeMsPerS)), pct(spread(ts.map((t) => t.scavengeMsPerS))), f2(m((t) => t.scavengesPerS)), `${f2(m((t) => t.meanPauseMs))} ms`,
        `${f2(Math.max(...ts.map((t) => t.maxPauseMs)))} ms`, f2(m((t) => t.majorMsPerS)), msOf(m((t) => t.r.latencyUs.p50)), `**${msOf(m((t) => t.r.latencyUs.p99))}**`,
        pct(spread(ts.map((t) => t.r.latencyUs.p99))), msOf(m((t) => t.r.latencyUs.p999)), msOf(m((t) => t.r.sendLagUs?.p99 ?? NaN)), kilo(m((t) => t.r.throughput)),
        `${ts.filter((t) => t.r.reachedRate).length} of ${ts.length}`, m((t) => t.cpuPer1k).toFixed(3), kilo(m((t) => t.switchesPerS)),
        [0, 1, 2].map((k) => f2(m((t) => t.busiest[k]?.cpu ?? NaN))).join(', '),
      ]);
    }
  let abTable = '';
  const abRows: string[][] = [];
  if (builds.length === 2)
    for (const c of ctx.gcConnections) {
      const [ta, tb] = [of('A', c), of('B', c)];
      for (const [what, f] of [['scavenge ms/s', (t: GcTrial) => t.scavengeMsPerS], ['predict p99', (t: GcTrial) => t.r.latencyUs.p99]] as const) {
        const x = pairedRatios(ta.map(f), tb.map(f));
        abRows.push([String(c), what, `**${ratioOf(x.ratio)}**`, `${ratioOf(x.ratioMin)}–${ratioOf(x.ratioMax)}`, `${ratioOf(x.selfA.median)} (${ratioOf(x.selfA.min)}–${ratioOf(x.selfA.max)})`, `${ratioOf(x.selfB.median)} (${ratioOf(x.selfB.min)}–${ratioOf(x.selfB.max)})`]);
      }
    }
  const abHead = ['connections', 'what', 'B/A (median of per-round ratios; lower is better)', 'B/A range', 'A vs A (consecutive rounds)', 'B vs B'];
  if (abRows.length) abTable = `\n\n${mdTable(abHead, abRows)}`;
  const method = [
    builds.length === 2 ? `A = ${describeBuild(ctx.a!)}, B = ${describeBuild(ctx.b!)}; ${ctx.rounds} rounds of A then B per connection count.` : `This checkout, ${describeBuild(ctx.root)}, ${ctx.rounds} rounds per connection count.`,
    `Each trial a fresh server (\`node --require bench/gc-observer.cjs dist/cli/main.js serve --config hotpath.yaml\`, gated on /readyz) with the standard data,`,
    `then predicts (POST /v1/predict/fraud) open loop at ${kilo(ctx.rate)} req/s for ${ctx.durationMs / 1000} s after ${ctx.warmupMs / 1000} s of warm-up, by our generator`,
    `(latency from each request's due time: coordinated omission corrected; send lag = due time to send, part of it).`,
    `GC: the server's main thread only, from perf_hooks 'gc' entries (scavenge = minor GC; its duration is the pause), over the measured window.`,
    `Context switches: the server's voluntary ones, all threads; busiest threads: the CPU seconds per second of its three busiest (their names in the JSON), from /proc.`,
    `For the bytes each scavenge keeps alive, run the server with \`node --trace-gc-nvp\` and read the log with bench/tools/scavenges.mjs.`,
  ].join(' ');
  const medianRun = (ts: GcTrial[]) => [...ts].sort((x, y) => x.r.latencyUs.p99 - y.r.latencyUs.p99)[ts.length >> 1];
  return {
    key: 'gc',
    title: `GC and tail: main-thread scavenges and the open-loop predict p99 at ${kilo(ctx.rate)} req/s`,
    md: `${method}\n\n${mdTable(head, rows)}${abTable}\n`,
    json: { rate: ctx.rate, builds: Object.fromEntries(builds), trials: trials.map((t) => ({ ...t, r: strip(t.r) })) },
    tables: [
      { caption: 'GC and open-loop predict tail', head: head.map((h) => h.replace(/\*/g, '')), rows: rows.map((r) => r.map((c) => c.replace(/\*/g, ''))) },
      ...(abRows.length ? [{ caption: 'GC and tail, B / A', head: abHead, rows: abRows.map((r) => r.map((c) => c.replace(/\*/g, ''))) }] : []),
    ],
    plots: ctx.gcConnections.map((c) => ({
      title: `predicts open loop at ${kilo(ctx.rate)} req/s, ${c} connections (each build's median-p99 round)`,
      series: builds.map(([build]) => ({ label: build, histogram: medianRun(of(build, c)).r.histogram })),
    })),
  };
}
