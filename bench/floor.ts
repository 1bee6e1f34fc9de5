// The issue's ratio targets against the transport floor (issue 17): in --rounds alternating
// rounds, wrk -t1 -c64 closed loop against (a) the uWS server that answers GET with a
// constant (bench/uws-hello.mjs), (b) hotpath GET /v1/features/user/{id} with the standard
// data, (c) the uWS server's POST that parses the JSON body, (d) hotpath POST
// /v1/predict/fraud. Per round and target: the throughput and the server process's CPU per
// request (utime + stime of the whole process, all threads, /proc/PID/stat, read just
// before and just after the measured wrk run: its warm-up run is not counted). Per round,
// the ratios the issue sets:
//   read CPU/request ÷ hello CPU/request      <= 1.5
//   read req/s ÷ hello req/s                  >= 0.8
//   predict req/s ÷ POST-echo req/s           >= 0.8
// with their median over the rounds, range, and pass/miss on the median. One server of each
// kind for the whole run (as serving.ts); the hotpath servers are this checkout's, or the
// --b checkout's, or --a's and --b's side by side (each round measures both).
import { cpuSeconds, pidListeningOn } from '../src/bench/proc.js';
import { describeBuild, kilo, loadStandardData, mdTable, pct, type Proc, runWrk, spawnTracked, startHotpath, waitReady, type WrkResult } from '../src/bench/harness.js';
import type { HotpathServer } from '../src/bench/harness.js';
import type { Scenario } from '../src/bench/scenarios.js';
import { median, spread } from '../src/bench/stats.js';
import type { Context, Section } from './context.js';
import { WRK_SCRIPT } from './measure.js';

const HELLO = 18770;
const HP = 18771;

/** The issue's targets on the per-round ratios. */
export const FLOOR_TARGETS = { readCpu: 1.5, readRps: 0.8, predictRps: 0.8 };

interface Measured {
  rps: number;
  /** server CPU µs per request over the measured run (all threads) */
  cpuUs: number;
  /** the same, the main thread's alone (the event loop: 90–98 % busy at the maximum, the bottleneck) */
  mainUs: number;
  p99Us: number;
  errors: number;
}

/** The builds a scenario of issue 17 runs: --a and --b side by side, --b alone, or this checkout. */
export function buildsOf(ctx: Context): [string, string][] {
  if (ctx.a && ctx.b) return [['A', ctx.a], ['B', ctx.b]];
  if (ctx.b) return [['B', ctx.b]];
  return [['this checkout', ctx.root]];
}

/** wrk -t1 closed loop after a 1 s warm-up, with the server's CPU over the measured run only. */
async function measure(ctx: Context, url: string, pid: number, scenario: Scenario): Promise<Measured> {
  const o = { url, connections: ctx.connections, script: WRK_SCRIPT[scenario], cwd: ctx.root, cpus: ctx.pin?.generator };
  if (ctx.warmupMs > 0) await runWrk({ ...o, durationS: Math.max(1, Math.round(ctx.warmupMs / 1000)) });
  const main = `${pid}/task/${pid}`;
  const c0 = cpuSeconds(pid);
  const m0 = cpuSeconds(main);
  const t0 = performance.now();
  const w: WrkResult = await runWrk({ ...o, durationS: ctx.durationMs / 1000 });
  const c1 = cpuSeconds(pid);
  const m1 = cpuSeconds(main);
  const wallS = (performance.now() - t0) / 1000;
  // wrk's req/s is its requests over its own run; the requests it made are that times its
  // duration (the CPU window is the same run plus wrk's start and exit, a few ms)
  const requests = w.rps * Math.min(wallS, ctx.durationMs / 1000);
  if (w.non2xx || w.socketErrors) console.error(`floor ${scenario} on ${url}: ${w.non2xx} non-2xx answers, ${w.socketErrors} socket errors`);
  return { rps: w.rps, cpuUs: ((c1 - c0) * 1e6) / requests, mainUs: ((m1 - m0) * 1e6) / requests, p99Us: w.p99Us, errors: w.non2xx + w.socketErrors };
}

const f2 = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(2));
const f3 = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(3));

export async function runFloor(ctx: Context): Promise<Section> {
  if (!ctx.wrk) throw new Error('the floor scenario needs wrk (apt-get install -y wrk)');
  const builds = buildsOf(ctx);
  for (let p = HELLO; p <= HP + builds.length - 1; p++) if (pidListeningOn(p) !== undefined) throw new Error(`port ${p} is taken: another benchmark is running on this machine`);
  const hello: Proc = spawnTracked('uws-hello', process.execPath, ['bench/uws-hello.mjs', String(HELLO)], { cwd: ctx.root, cpus: ctx.pin?.server });
  const servers: HotpathServer[] = [];
  try {
    await waitReady(`http://127.0.0.1:${HELLO}/`, { proc: hello });
    for (const [i, [, dir]] of builds.entries()) {
      const s = await startHotpath(dir, HP + i, { cpus: ctx.pin?.server });
      servers.push(s);
      await loadStandardData(s.url);
    }
    const helloUrl = `http://127.0.0.1:${HELLO}`;
    const got = {
      hello: [] as Measured[],
      echo: [] as Measured[],
      read: builds.map(() => [] as Measured[]),
      predict: builds.map(() => [] as Measured[]),
    };
    const n = ctx.rounds * (2 + 2 * builds.length);
    console.error(`floor: ${n} wrk runs, about ${((n * (ctx.durationMs + Math.max(1000, ctx.warmupMs) + 200)) / 60000).toFixed(1)} min`);
    for (let round = 1; round <= ctx.rounds; round++) {
      got.hello.push(await measure(ctx, helloUrl, hello.pid, 'hello'));
      for (const [i, s] of servers.entries()) got.read[i].push(await measure(ctx, s.url, s.pid, 'features'));
      got.echo.push(await measure(ctx, helloUrl, hello.pid, 'predict'));
      for (const [i, s] of servers.entries()) got.predict[i].push(await measure(ctx, s.url, s.pid, 'predict'));
      const r = round - 1;
      console.error(`floor round ${round}: hello ${kilo(got.hello[r].rps)} req/s ${f2(got.hello[r].cpuUs)} µs/req; ` +
        builds.map(([b], i) => `${b} read ${kilo(got.read[i][r].rps)} ${f2(got.read[i][r].cpuUs)} µs/req`).join('; ') +
        `; echo ${kilo(got.echo[r].rps)} ${f2(got.echo[r].cpuUs)} µs/req; ` +
        builds.map(([b], i) => `${b} predict ${kilo(got.predict[i][r].rps)} ${f2(got.predict[i][r].cpuUs)} µs/req`).join('; '));
    }

    const range = (xs: number[], f: (x: number) => string) => `${f(Math.min(...xs))}–${f(Math.max(...xs))}`;
    const targets: [string, Measured[]][] = [
      ['(a) uWS GET, constant answer (bench/uws-hello.mjs)', got.hello],
      ...builds.map(([b], i): [string, Measured[]] => [`(b) hotpath GET /v1/features/user/{id}${builds.length > 1 || b !== 'this checkout' ? `, ${b}` : ''}`, got.read[i]]),
      ['(c) uWS POST, JSON body parsed', got.echo],
      ...builds.map(([b], i): [string, Measured[]] => [`(d) hotpath POST /v1/predict/fraud${builds.length > 1 || b !== 'this checkout' ? `, ${b}` : ''}`, got.predict[i]]),
    ];
    const head = ['target', 'req/s (median)', 'req/s range', 'spread', 'server CPU µs/request (median)', 'CPU µs/request range', 'main thread CPU µs/request (median)', 'wrk p99 (median)', 'non-2xx + errors'];
    const rows = targets.map(([what, ms]) => [
      what, kilo(median(ms.map((m) => m.rps))), range(ms.map((m) => m.rps), kilo), pct(spread(ms.map((m) => m.rps))),
      f2(median(ms.map((m) => m.cpuUs))), range(ms.map((m) => m.cpuUs), f2), f2(median(ms.map((m) => m.mainUs))), `${(median(ms.map((m) => m.p99Us)) / 1000).toFixed(2)} ms`, String(ms.reduce((t, m) => t + m.errors, 0)),
    ]);

    // the ratios, per round, per build
    type Ratio = { build: string; what: string; target: string; pass: (x: number) => boolean; xs: number[] };
    const ratios: Ratio[] = [];
    for (const [i, [b]] of builds.entries()) {
      ratios.push(
        { build: b, what: 'read CPU/request ÷ hello CPU/request', target: `<= ${FLOOR_TARGETS.readCpu}`, pass: (x) => x <= FLOOR_TARGETS.readCpu, xs: got.read[i].map((m, r) => m.cpuUs / got.hello[r].cpuUs) },
        { build: b, what: 'read req/s ÷ hello req/s', target: `>= ${FLOOR_TARGETS.readRps}`, pass: (x) => x >= FLOOR_TARGETS.readRps, xs: got.read[i].map((m, r) => m.rps / got.hello[r].rps) },
        { build: b, what: 'predict req/s ÷ POST-echo req/s', target: `>= ${FLOOR_TARGETS.predictRps}`, pass: (x) => x >= FLOOR_TARGETS.predictRps, xs: got.predict[i].map((m, r) => m.rps / got.echo[r].rps) },
        { build: b, what: 'predict CPU/request ÷ POST-echo CPU/request (no target; for scale)', target: '', pass: () => true, xs: got.predict[i].map((m, r) => m.cpuUs / got.echo[r].cpuUs) },
        { build: b, what: 'POST-echo main-thread CPU/request ÷ predict main-thread CPU/request (no target; the main threads are 90–98 % busy at the maximum, so the req/s ratio follows this one less the idle time of the hotpath main thread: bench/results/2026-12-07-issue17-fifth-pass.md)', target: '', pass: () => true, xs: got.predict[i].map((m, r) => got.echo[r].mainUs / m.mainUs) },
      );
    }
    const rHead = ['build', 'ratio', 'target', '**median**', 'range', 'per round', 'pass'];
    const rRows = ratios.map((q) => {
      const m = median(q.xs);
      return [q.build, q.what, q.target, `**${f3(m)}**`, range(q.xs, f3), q.xs.map(f3).join(', '), q.target ? (q.pass(m) ? `pass (${q.xs.filter(q.pass).length} of ${q.xs.length} rounds)` : `**miss** (${q.xs.filter(q.pass).length} of ${q.xs.length} rounds pass)`) : ''];
    });
    const method = [
      `${builds.map(([b, d]) => `${b}: ${describeBuild(d)}`).join('; ')}.`,
      `wrk -t1 -c${ctx.connections}, closed loop, ${ctx.rounds} rounds of every target in turn (a, b, c, d), ${ctx.durationMs / 1000} s measured after a ${Math.max(1, Math.round(ctx.warmupMs / 1000))} s wrk warm-up run;`,
      `one uWS server (bench/uws-hello.mjs) and one hotpath server per build (\`node dist/cli/main.js serve --config hotpath.yaml\`, standard data) for the whole run.`,
      `Server CPU: utime + stime of the server's whole process (all threads) from /proc/PID/stat, read just before and just after the measured run (10 ms ticks), divided by the requests wrk made in it; the main thread's alone from /proc/PID/task/PID/stat (at the maximum it is 90–98 % busy in every server here, so the req/s ratio follows the ratio of main-thread CPU per request, less the moments hotpath's main thread waits on its worker: bench/results/2026-12-07-issue17-fourth-pass.md, …-fifth-pass.md).`,
      `Ratios are taken per round (each round's hotpath against the same round's uWS) and summarised by their median; pass/miss is on the median.`,
      'Scripts: bench/features.lua, bench/predict.lua.',
    ].join(' ');
    return {
      key: 'floor',
      title: 'Floor: hotpath against the uWS servers that do no work (issue 17 ratio targets)',
      md: `${method}\n\n${mdTable(head, rows)}\n\n${mdTable(rHead, rRows)}\n`,
      json: {
        builds: Object.fromEntries(builds), connections: ctx.connections, targets: FLOOR_TARGETS,
        rounds: { hello: got.hello, echo: got.echo, read: Object.fromEntries(builds.map(([b], i) => [b, got.read[i]])), predict: Object.fromEntries(builds.map(([b], i) => [b, got.predict[i]])) },
        ratios: ratios.map(({ pass, ...q }) => ({ ...q, median: median(q.xs), pass: q.target ? pass(median(q.xs)) : undefined })),
      },
      tables: [
        { caption: 'Floor: per target', head, rows },
        { caption: 'Floor: issue 17 ratios', head: rHead.map((h) => h.replace(/\*/g, '')), rows: rRows.map((r) => r.map((c) => c.replace(/\*/g, ''))) },
      ],
      plots: [],
    };
  } finally {
    for (const s of servers) await s.stop();
    await hello.stop();
  }
}
