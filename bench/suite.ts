// The benchmark suite, the one entry (`npm run bench`): each scenario below measures in
// alternating rounds on this machine and adds a section to one report, written as
// bench/results/<YYYY-MM-DD>-<suite>.md with .json (every raw number, histograms as
// HdrHistogram base64) and .html (tables and latency-by-percentile plots) beside it.
//
//   npm run bench                                   # peers, serving, targets
//   npm run bench -- --only serving --duration 10   # what bench/serving.sh did
//   npm run bench -- --only ab --a ../base --b . --rounds 5 --duration 15
//   npm run bench -- --only gc --a ../base --b . --rounds 5 --duration 10
//   npm run bench -- --only floor,tail --rounds 5 --duration 10          # issue 17, this checkout
//   npm run bench -- --only floor,tail --b ../merged --rounds 5          # issue 17, another build
//
// Scenarios (--only a,b,...):
//   peers    hotpath against Fastify/node:http + onnxruntime-node, Fastify + Redis, and
//            a uWS server that does no work; needs `npm --prefix bench ci` (bench/vs-peers.ts)
//   serving  wrk closed loop: feature reads and predicts beside uWS servers that do no
//            work, and the server's own view from /metrics (bench/serving.ts)
//   targets  the issue targets: ingest, closed-loop throughput, open-loop p99, freshness
//            (bench/targets.ts)
//   ab       two built checkouts (--a, --b), a fresh server per trial, A, B, A, B, ...:
//            feature reads, predicts, binary WebSocket ingest; B/A and each build's noise
//            against itself (bench/ab.ts)
//   gc       the main thread's scavenge time per second and the open-loop predict p99 at
//            --rate (25k req/s), on this checkout or on --a/--b in alternating rounds (bench/gc.ts)
//   auth     feature reads with auth (API key) and rate limits on against everything off,
//            this checkout, alternating rounds (bench/auth-ab.ts)
//   durability  the write-ahead log's cost on binary WebSocket ingest, recovery (replay rate),
//            a snapshot of 1M entities under ingest, and the crash table (bench/durability.ts)
//   faults   the fault table: each fault on a fresh server under a steady open-loop load
//            (--fault-rate, 2k req/s) for --duration seconds: answered share, p99, what the
//            server answered (bench/faults.ts)
//   floor    issue 17's ratio targets: wrk -t1 -c64 against uWS GET constant, hotpath feature
//            reads, uWS POST that parses the body, hotpath predicts, alternating rounds; req/s
//            and the server's CPU µs/request; per-round ratios read CPU ÷ hello CPU (<= 1.5),
//            read ÷ hello req/s (>= 0.8), predict ÷ POST-echo req/s (>= 0.8) (bench/floor.ts)
//   tail     issue 17's open-loop tail: the maximum (closed loop), then open loop at 25/50/75 %
//            of it for reads and predicts: p50/p99/p99.9, send lag, main-thread GC ms/s;
//            p99 at 50 % <= 1 ms (reads), <= 2 ms (predicts) (bench/tail.ts)
//            floor and tail run this checkout, --b DIR alone, or --a and --b side by side
//   learning the cost of a learner tap and of detector taps on binary WebSocket ingest of
//            labelled events, alternating rounds (bench/learning.ts)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { machine, parsePin, pinSelf, resultBase, wrkInstalled } from '../src/bench/harness.js';
import { htmlReport } from '../src/bench/report-html.js';
import { runAb } from './ab.js';
import { runAuthAb } from './auth-ab.js';
import { runDurability } from './durability.js';
import { runFaults } from './faults.js';
import { runFloor } from './floor.js';
import type { Context, Section } from './context.js';
import { runGc } from './gc.js';
import { runLearning } from './learning.js';
import { runServing } from './serving.js';
import { runTail } from './tail.js';
import { runTargets } from './targets.js';
import { runPeers } from './vs-peers.js';

const SCENARIOS: Record<string, (ctx: Context) => Promise<Section>> = {
  peers: runPeers, serving: runServing, targets: runTargets, ab: runAb, gc: runGc, auth: runAuthAb, durability: runDurability, faults: runFaults, learning: runLearning, floor: runFloor, tail: runTail,
};
const STANDARD = ['peers', 'serving', 'targets'];

const USAGE = `usage: npm run bench -- [--only S,...] [--rounds N] [--duration S] [--warmup S]
                        [--connections C] [--a DIR --b DIR] [--pin SRV/GEN] [--gen wrk|ours]
                        [--rate R] [--gc-connections C,...] [--fault-rate R] [--faults K,...]
                        [--price USD_PER_HOUR --vcpus N] [--name SUITE] [--out DIR]

  --only S,...        scenarios: ${Object.keys(SCENARIOS).join(', ')} (default ${STANDARD.join(',')})
  --rounds N          alternating rounds per measurement (default 3; 5 with ab, gc, auth,
                      floor or tail)
  --duration S        measured seconds per trial (default 5); --warmup S before it (default 1)
  --connections C     closed-loop connections (default 64)
  --a DIR, --b DIR    ab, gc: two built hotpath checkouts (dist/cli/main.js and
                      build/Release/hotpath.node); the ratios are B / A; floor, tail: the
                      builds measured side by side (or --b DIR alone: that build only)
  --pin SRV/GEN       taskset CPU lists for the servers and the load generator, e.g. 0/1
                      (default: not pinned)
  --gen wrk|ours      ab, auth: the generator for feature reads and predicts (default wrk when
                      installed; binary WebSocket ingest always uses ours)
  --rate R            gc: the open-loop predict rate (default 25000)
  --gc-connections C  gc: connection counts to measure, comma-separated (default 256)
  --fault-rate R      faults: the steady open-loop predict rate under each fault (default 2000)
  --faults K,...      faults: only these rows (keys: none, stall, throw, crash, full-ring,
                      slow-clients, overload-model, overload-model-bare, overload-front,
                      corrupt-reload, wal-disk-full)
  --price P, --vcpus N  peers: the instance price per hour and its vCPUs, for the cost per
                      million requests (default 0.085 and 2: an example figure for a 2-vCPU
                      cloud instance, not a quote: set your own)
  --name SUITE        the <suite> part of the results' names (default: the scenarios joined
                      by -, e.g. ab-gc; standard without --only)
  --out DIR           where the results go (default bench/results)
`;

const { values } = parseArgs({
  options: {
    only: { type: 'string' }, rounds: { type: 'string' }, duration: { type: 'string', default: '5' }, warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '64' }, a: { type: 'string' }, b: { type: 'string' }, pin: { type: 'string' }, gen: { type: 'string' },
    rate: { type: 'string', default: '25000' }, 'gc-connections': { type: 'string', default: '256' }, 'fault-rate': { type: 'string', default: '2000' }, faults: { type: 'string' },
    name: { type: 'string' }, out: { type: 'string' }, price: { type: 'string', default: '0.0850' }, vcpus: { type: 'string', default: '2' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const fail = (msg: string): never => {
  console.error(`${msg}\n\n${USAGE}`);
  process.exit(2);
};
const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : STANDARD;
for (const s of only) if (!SCENARIOS[s]) fail(`unknown scenario '${s}'`);
if (only.includes('ab') && !(values.a && values.b)) fail('the ab scenario needs --a DIR and --b DIR');
// floor and tail take --b alone (that build instead of this checkout)
if (values.a && !values.b) fail('--a needs --b');
if (values.b && !values.a && !only.every((s) => s === 'floor' || s === 'tail')) fail('--a and --b go together (--b alone: only with floor and tail)');
const num = (v: string | undefined, name: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number, got '${v}'`);
  return n;
};
const wrk = wrkInstalled();
if (values.gen && values.gen !== 'wrk' && values.gen !== 'ours') fail(`--gen must be wrk or ours, got '${values.gen}'`);
if (values.gen === 'wrk' && !wrk) fail('--gen wrk: wrk is not installed (apt-get install -y wrk)');
let pin;
try {
  pin = parsePin(values.pin);
} catch (err) {
  fail((err as Error).message);
}
if (pin) pinSelf(pin.generator);

const root = fileURLToPath(new URL('../', import.meta.url));
// npm runs scripts in the package root; paths on the command line are the caller's.
const abs = (d: string | undefined) => (d === undefined ? undefined : resolve(process.env.INIT_CWD ?? process.cwd(), d));
const ctx: Context = {
  root,
  rounds: values.rounds ? num(values.rounds, 'rounds') : only.some((s) => s === 'ab' || s === 'gc' || s === 'auth' || s === 'floor' || s === 'tail') ? 5 : 3,
  durationMs: num(values.duration, 'duration') * 1000,
  warmupMs: Number(values.warmup) * 1000,
  connections: num(values.connections, 'connections'),
  a: abs(values.a),
  b: abs(values.b),
  pin,
  wrk,
  gen: (values.gen as 'wrk' | 'ours' | undefined) ?? (wrk ? 'wrk' : 'ours'),
  rate: num(values.rate, 'rate'),
  gcConnections: values['gc-connections']!.split(',').map((c) => num(c, 'gc-connections')),
  faultRate: num(values['fault-rate'], 'fault-rate'),
  faults: values.faults?.split(',').map((k) => k.trim()).filter(Boolean),
  price: { perHour: num(values.price, 'price'), vcpus: num(values.vcpus, 'vcpus') },
};

// The scenarios that run this checkout's server need it built.
if (only.some((s) => s !== 'ab' && !(s === 'gc' && ctx.a) && !((s === 'floor' || s === 'tail') && ctx.b)) && !existsSync(join(root, 'dist/cli/main.js'))) execFileSync('npm', ['run', 'prepare'], { cwd: root, stdio: 'inherit' });

const t0 = Date.now();
const started = new Date();
const mach = machine();
const sections: Section[] = [];
for (const s of only) {
  console.error(`== ${s}`);
  const t = Date.now();
  sections.push(await SCENARIOS[s](ctx));
  console.error(`== ${s}: ${((Date.now() - t) / 1000).toFixed(0)} s`);
}

const date = started.toISOString().slice(0, 10);
const suite = values.name ?? (values.only ? only.join('-') : 'standard');
const outDir = values.out ? abs(values.out)! : join(root, 'bench/results');
mkdirSync(outDir, { recursive: true });
const base = resultBase(outDir, date, suite);
const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
const head = [
  `# hotpath bench: ${suite} (${date})`,
  '',
  `Machine: ${mach}. Started ${started.toISOString()}, took ${((Date.now() - t0) / 60000).toFixed(1)} min.`,
  `Command: \`${command}\`. ${ctx.rounds} rounds, ${ctx.durationMs / 1000} s measured per trial after ${ctx.warmupMs / 1000} s of warm-up; ` +
    `${pin ? `servers pinned to CPUs ${pin.server}, the generator to ${pin.generator} (taskset)` : 'nothing pinned'}; wrk ${wrk ? 'installed' : 'not installed'}.`,
  '',
].join('\n');
const md = `${head}\n${sections.map((s) => `## ${s.title}\n\n${s.md}\n`).join('\n')}`;
writeFileSync(`${base}.md`, md);
writeFileSync(`${base}.json`, JSON.stringify({ suite, date, machine: mach, command, rounds: ctx.rounds, durationMs: ctx.durationMs, warmupMs: ctx.warmupMs, pin, sections: Object.fromEntries(sections.map((s) => [s.key, s.json])) }, null, 2));
writeFileSync(`${base}.html`, htmlReport({
  title: `hotpath bench: ${suite} (${date})`,
  about: [`Machine: ${mach}.`, `Command: ${command}. ${ctx.rounds} rounds of ${ctx.durationMs / 1000} s.`],
  tables: sections.flatMap((s) => s.tables),
  plots: sections.flatMap((s) => s.plots),
  notes: sections.flatMap((s) => s.notes ?? []),
}));
process.stdout.write(md);
console.error(`written: ${base}.md, .json, .html`);
process.exit(0);
