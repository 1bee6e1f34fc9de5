// Where the server's CPU goes, from the kernel up, per workload: for feature reads and
// predicts (wrk -t1 -c64) and binary WebSocket ingest (our generator, the ws-events
// scenario of `hotpath bench`), a fresh `node --perf-basic-prof dist/cli/main.js serve`
// of a built checkout with the standard data, loaded; `perf record -g -F <freq> -p PID`
// over the loaded window only (after the warm-up, before the end), then
// `perf script -F comm,tid,ip,sym,dso` summed per stage by bench/perf-stages.ts: the share
// of the WHOLE process's samples (all threads, kernel included) per stage, per group
// (kernel, uWS/libuv, V8 JS by file, V8 runtime, GC, the addon, onnxruntime, other), per
// thread, and the 20 heaviest leaf frames.
//
//   npx tsx bench/perf-profile.ts [--dir DIR] [--duration 10] [--repeat 1] [--connections 64] [--freq 999]
//                                 [--only features,predict,ws-events] [--name perf-profile] [--keep DIR]
//   flock /tmp/hotpath-bench.lock npx tsx bench/perf-profile.ts      # on a shared machine
//
// --dir: the built checkout to profile (default this one); the load scripts are this
// checkout's. Needs perf, and root (or kernel.perf_event_paranoid <= 1) to record a
// running process with kernel frames.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { describeBuild, loadStandardData, machine, mdTable, resultBase, runWrk, startHotpath } from '../src/bench/harness.js';
import { runLoad } from '../src/bench/loadgen.js';
import { pidListeningOn } from '../src/bench/proc.js';
import { buildRequests, scenarioWsPath } from '../src/bench/scenarios.js';
import { INGEST_BATCH, INGEST_CONNECTIONS, OPTS } from './measure.js';
import { GROUPS, latestPerfMap, parsePerfScript, type Sample, type Shares, shares } from './perf-stages.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    freq: { type: 'string', default: '999' },
    repeat: { type: 'string', default: '1' },
    only: { type: 'string', default: 'features,predict,ws-events' },
    name: { type: 'string', default: 'perf-profile' },
    keep: { type: 'string' },
    out: { type: 'string' },
  },
});
const ROOT = new URL('../', import.meta.url).pathname;
const cwd = process.env.INIT_CWD ?? process.cwd();
const DIR = values.dir ? resolve(cwd, values.dir) : ROOT;
const durationS = Number(values.duration);
const connections = Number(values.connections);
const freq = Number(values.freq);
const repeat = Math.max(1, Math.floor(Number(values.repeat)));
const WARMUP_S = 1;
/** perf records from WARMUP_S + EDGE_S into the load until EDGE_S before its end */
const EDGE_S = 0.5;
if (!(durationS >= 2)) throw new Error('--duration must be at least 2 s');

type Key = 'features' | 'predict' | 'ws-events';
const ALL: { key: Key; what: string }[] = [
  { key: 'features', what: `feature reads, GET /v1/features/user/{id}, wrk -t1 -c${connections}` },
  { key: 'predict', what: `predicts, POST /v1/predict/fraud, wrk -t1 -c${connections}` },
  { key: 'ws-events', what: `binary WebSocket ingest, ${INGEST_BATCH} events per frame, ${INGEST_CONNECTIONS} connections (our generator, in the profiling process)` },
];
const want = values.only.split(',').map((s) => s.trim());
const WORKLOADS = ALL.filter((w) => want.includes(w.key));

const paranoid = (() => {
  try {
    return readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8').trim();
  } catch {
    return '?';
  }
})();
const isRoot = process.getuid?.() === 0;
if (!isRoot && Number(paranoid) > 1) throw new Error(`perf_event_paranoid is ${paranoid} and this is not root: run as root, or sysctl kernel.perf_event_paranoid=1`);

interface Result {
  key: Key;
  what: string;
  rate: string;
  /** the server's CPU (utime + stime, all threads) over the recorded window, in cores */
  cores: number;
  recordedS: number;
  /** perf map entries left out per round (their addresses reused by later code) */
  dropped: number[];
  s: Shares;
}

/**
 * `perf record` of `pid` for `seconds`, after `delayS`, in a shell of its own (the ws-events
 * generator runs in this process and may hold its timers back); the server's CPU seconds
 * (utime + stime, all threads, /proc/PID/stat) are read just before and just after.
 */
function record(pid: number, delayS: number, seconds: number, file: string): Promise<{ cpuS: number; wallS: number }> {
  const script = `sleep ${delayS}; a=$(date +%s.%N); s0=$(cut -d' ' -f14,15 /proc/${pid}/stat); ` +
    `perf record -g -F ${freq} -p ${pid} -o ${file} -- sleep ${seconds} >/dev/null 2>"${file}.err" || { cat "${file}.err" >&2; exit 1; }; ` +
    `s1=$(cut -d' ' -f14,15 /proc/${pid}/stat); b=$(date +%s.%N); echo "$s0 $s1 $a $b"`;
  return new Promise((res, rej) => {
    const p = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('error', rej);
    p.once('exit', (code) => {
      if (code !== 0) return rej(new Error(`perf record exited with ${code}: ${err.slice(-500)}`));
      const [u0, k0, u1, k1, a, b] = out.trim().split(/\s+/).map(Number);
      res({ cpuS: (u1 + k1 - u0 - k0) / 100, wallS: b - a });
    });
  });
}

/** The first port from `base` nothing listens on (the other worktrees' benchmarks share this machine). */
function freePort(base: number): number {
  for (let p = base; p < base + 50; p++) if (pidListeningOn(p) === undefined) return p;
  throw new Error(`no free port in ${base}..${base + 49}`);
}

const mach = machine();
const work = values.keep ? resolve(cwd, values.keep) : mkdtempSync(join(tmpdir(), 'hotpath-perf-'));
mkdirSync(work, { recursive: true });
const got = new Map<Key, { samples: Sample[]; rates: string[]; cores: number[]; dropped: number[] }>(WORKLOADS.map((w) => [w.key, { samples: [], rates: [], cores: [], dropped: [] }]));
const recordS = durationS - 2 * EDGE_S;
// --repeat rounds of every workload in turn (features, predict, ws-events, features, ...),
// each on a fresh server; a workload's samples are summed over its rounds
for (let round = 1; round <= repeat; round++)
  for (const w of WORKLOADS) {
    const server = await startHotpath(DIR, freePort(18760), { nodeArgs: ['--perf-basic-prof'] });
    const data = join(work, `${w.key}-${round}.perf.data`);
    let rate = '';
    let cores = NaN;
    try {
      await loadStandardData(server.url);
      let recorded: Promise<{ cpuS: number; wallS: number }>;
      if (w.key === 'ws-events') {
        recorded = record(server.pid, WARMUP_S + EDGE_S, recordS, data);
        const r = await runLoad({
          url: server.url, requests: buildRequests('ws-events', { ...OPTS, batch: INGEST_BATCH, host: new URL(server.url).host }), connections: INGEST_CONNECTIONS,
          durationMs: durationS * 1000, warmupMs: WARMUP_S * 1000, timeoutMs: 5000, ws: scenarioWsPath('ws-events'),
        });
        rate = `${((r.ok * INGEST_BATCH) / r.durationS / 1e6).toFixed(2)}M events/s`;
      } else {
        const o = { url: server.url, connections, script: w.key === 'features' ? 'bench/features.lua' : 'bench/predict.lua', cwd: ROOT };
        await runWrk({ ...o, durationS: WARMUP_S });
        recorded = record(server.pid, EDGE_S, recordS, data);
        const r = await runWrk({ ...o, durationS });
        rate = `${(r.rps / 1000).toFixed(1)}k req/s${r.non2xx + r.socketErrors ? ` (${r.non2xx} non-2xx, ${r.socketErrors} socket errors)` : ''}`;
      }
      const c = await recorded;
      cores = c.cpuS / c.wallS;
    } finally {
      await server.stop(20_000);
    }
    // perf script resolves the JIT'd frames from /tmp/perf-PID.map, which the server leaves
    // behind: first without the entries whose addresses V8 gave to later code
    const mapFile = `/tmp/perf-${server.pid}.map`;
    let dropped = 0;
    try {
      const m = latestPerfMap(readFileSync(mapFile, 'utf8'));
      writeFileSync(mapFile, m.text);
      dropped = m.dropped;
    } catch {
      console.error(`perf-profile: no ${mapFile}: JIT'd frames will be unnamed`);
    }
    const text = execFileSync('perf', ['script', '-i', data, '-F', 'comm,tid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
    if (values.keep) writeFileSync(join(work, `${w.key}-${round}.perf.txt`), text);
    else rmSync(data, { force: true });
    rmSync(`/tmp/perf-${server.pid}.map`, { force: true });
    // --perf-basic-prof also has V8 write isolate-*-PID-v8.log into the server's directory
    for (const f of readdirSync(DIR)) if (new RegExp(`^isolate-0x[0-9a-f]+-${server.pid}-v8\\.log$`).test(f)) rmSync(join(DIR, f), { force: true });
    // the main thread's samples under tid 0, whichever server they came from
    const samples = parsePerfScript(text).map((x) => (x.tid === server.pid ? { ...x, tid: 0 } : x));
    const g = got.get(w.key)!;
    g.samples.push(...samples);
    g.rates.push(rate);
    g.cores.push(cores);
    g.dropped.push(dropped);
    const one = shares(samples, 0);
    console.error(`perf-profile round ${round} ${w.key}: ${rate}, ${one.total} samples; ${one.groups.filter((x) => x.samples).map((x) => `${x.group} ${(x.share * 100).toFixed(1)} %`).join(', ')}`);
  }
const results: Result[] = WORKLOADS.map((w) => {
  const g = got.get(w.key)!;
  return { key: w.key, what: w.what, dropped: g.dropped, rate: g.rates.join(', '), cores: g.cores.reduce((a, b) => a + b, 0) / g.cores.length, recordedS: recordS * repeat, s: shares(g.samples, 0) };
});
if (!values.keep) rmSync(work, { recursive: true, force: true });

const pc = (x: number) => `${(x * 100).toFixed(1)} %`;
const total = (stage: string) => results.reduce((t, r) => t + (r.s.stages.find((x) => x.stage === stage)?.share ?? 0), 0);
const stageKeys = [...new Map(results.flatMap((r) => r.s.stages.map((st) => [`${st.group}\u0000${st.stage}`, st] as const))).values()]
  .sort((a, b) => GROUPS.indexOf(a.group) - GROUPS.indexOf(b.group) || total(b.stage) - total(a.stage));
const head = ['group / stage (share of all the process\'s samples)', ...results.map((r) => r.key)];
const rows: string[][] = [];
for (const g of GROUPS) {
  const gs = results.map((r) => r.s.groups.find((x) => x.group === g)!);
  if (gs.every((x) => x.samples === 0)) continue;
  rows.push([`**${g}**`, ...gs.map((x) => `**${pc(x.share)}**`)]);
  for (const st of stageKeys.filter((k) => k.group === g)) {
    rows.push([`  ${st.stage}`.replace(/^ {2}/, '&nbsp;&nbsp;'), ...results.map((r) => {
      const x = r.s.stages.find((y) => y.group === st.group && y.stage === st.stage);
      return x ? pc(x.share) : '-';
    })]);
  }
}
const mainHead = ['group (the main thread\'s samples, share of all the process\'s samples)', ...results.map((r) => r.key)];
const mainRows = GROUPS.filter((g) => results.some((r) => (r.s.mainGroups.find((x) => x.group === g)?.samples ?? 0) > 0))
  .map((g) => [g, ...results.map((r) => pc(r.s.mainGroups.find((x) => x.group === g)?.share ?? 0))]);
mainRows.push(['all the main thread\'s samples', ...results.map((r) => pc(r.s.threads.find((t) => t.thread === 'main thread')?.share ?? 0))]);
const sections = results.map((r) => [
  `## ${r.what}`,
  '',
  `${r.rate} over the whole load${repeat > 1 ? ` (each of the ${repeat} rounds)` : ''} (perf recording costs some of it); the server used ${r.cores.toFixed(2)} cores (utime + stime, all threads${repeat > 1 ? ', mean of the rounds' : ''}) over the ${r.recordedS} s recorded; ${r.s.total} samples. ` +
    `Perf map entries left out as overlapped by later code: ${r.dropped.join(', ')}. Samples per thread: ${r.s.threads.map((t) => `${t.thread} ${pc(t.share)}`).join(', ')}.`,
  '',
  'JIT\'d JS by source file (with the builtins and C library calls charged to it), share of all the process\'s samples:',
  '',
  mdTable(['share', 'file', 'stage'], r.s.files.slice(0, 15).map((f) => [pc(f.share), `\`${f.file}\``, f.stage.replace(/^JS: /, '')])),
  '',
  'Heaviest leaf frames (self samples, share of all the process\'s samples):',
  '',
  mdTable(['share', 'frame', 'in'], r.s.top.map((t) => [pc(t.share), `\`${t.frame.replace(/`/g, "'").slice(0, 140)}\``, t.dso])),
  '',
].join('\n'));

function serverCommit(): string {
  try {
    return execFileSync('git', ['-C', DIR, 'log', '-1', '--format=%h', '--', 'src', 'native', 'binding.gyp'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || '?';
  } catch {
    return '?';
  }
}

const date = new Date().toISOString().slice(0, 10);
const outDir = values.out ? resolve(cwd, values.out) : join(ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const base = resultBase(outDir, date, values.name);
const argv = process.argv.slice(2).join(' ');
const md = [
  `# perf profile per stage, whole process (${date})`,
  '',
  `Command: \`npx tsx bench/perf-profile.ts${argv ? ` ${argv}` : ''}\`. Machine: ${mach}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end. Build profiled: ${describeBuild(DIR)}, its server code (src/, native/, binding.gyp) last changed in git ${serverCommit()}; perf_event_paranoid ${paranoid}${isRoot ? ', run as root' : ''}.`,
  '',
  `${repeat > 1 ? `${repeat} rounds of the workloads in turn, the samples of a workload's rounds summed. ` : ''}Each workload${repeat > 1 ? ' and round' : ''}: a fresh \`node --perf-basic-prof dist/cli/main.js serve --config hotpath.yaml\` with the standard data, loaded for ${durationS} s after ${WARMUP_S} s of warm-up; ` +
    `\`perf record -g -F ${freq} -p PID\` over ${durationS - 2 * EDGE_S} s of it (from ${EDGE_S} s after the warm-up to ${EDGE_S} s before the end), all the process's threads, kernel frames included. ` +
    'Every sample counts once, in the stage of its leaf frame; a leaf in the C library, a V8 builtin or Node\'s C++ glue is charged to the first caller that is JIT\'d JS (by its file), a native module (uWS, the addon, onnxruntime) or libuv; ' +
    'any V8 GC frame in the chain makes it GC, any compiler frame the compiler; kernel samples are split by the kernel frames of their chain (rules in bench/perf-stages.ts). ' +
    'Before perf script reads /tmp/perf-PID.map, the entries whose addresses V8 later gave to other code are left out (else a sample in a predict handler can be named after startup code that lived there first). ' +
    'On loopback the kernel\'s network share includes delivering the answer to the load generator\'s socket (softirq in the sender\'s context).',
  '',
  mdTable(head, rows),
  '',
  'The same samples, the main thread\'s only (the rest are the inference worker, V8\'s and libuv\'s threads):',
  '',
  mdTable(mainHead, mainRows),
  '',
  ...sections,
].join('\n');
writeFileSync(`${base}.md`, md);
writeFileSync(`${base}.json`, JSON.stringify({ command: `npx tsx bench/perf-profile.ts ${argv}`.trim(), machine: mach, build: describeBuild(DIR), durationS, freq, results }, null, 2));
process.stdout.write(md);
console.error(`written: ${base}.md, .json`);
process.exit(0);
