// The edge profile (docs/edge.md): `hotpath serve --profile edge` against the default
// profile, each server pinned to one core (taskset -c 0) with the fraud model loaded; the
// edge profile with one of its settings put back at a time (by the config, which wins over
// the profile, or by node's own flags, which win over the profile's V8 flags), to show what
// each one saves; and three settings a process cannot make for itself once it runs (node
// flags read at start, a glibc variable), to show what they would add. Targets (issue 14):
// RSS < 80 MB, server-side p99 predict < 1 ms.
//
//   npm run build
//   taskset -c 1 node --import tsx bench/edge.ts [--rate 1000] [--seconds 20] [--rounds 2] [--out bench/results/2026-12-06-edge.md]
//
// Each trial is a fresh server: the shipped hotpath.yaml without its demo section and
// without the entities' memory lines (so each profile's default applies), in a temporary
// directory with a copy of models/. Once ready it gets the standard data (20,000 demo
// transactions, users 1..1000, merchants 1..100: src/bench/scenarios.ts), then predicts of
// the fraud model open loop at --rate from this process (run it on the other core), 3 s of
// warm-up, then --seconds measured. Server side: hotpath_model_request_duration_seconds
// (submission to answer) over the measured window, from /metrics before and after, as
// histogram bucket bounds. RSS: /proc/PID/status VmRSS every 100 ms over the measured
// window (median and max), VmHWM at the end (the peak since start, data load included),
// and the resident parts from /proc/PID/smaps at the end. Variants alternate with each
// other in every round.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { parse, stringify } from 'yaml';

import { describeBuild, loadStandardData, machine, mdTable, startHotpath } from '../src/bench/harness.js';
import { runLoad } from '../src/bench/loadgen.js';
import { cpuSeconds } from '../src/bench/proc.js';
import { buildRequests } from '../src/bench/scenarios.js';
import { median } from '../src/bench/stats.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const PORT = 18300;

interface Variant {
  name: string;
  what: string;
  profile: 'default' | 'edge';
  /** merged into the config, section by section (explicit values win over the profile); entities: by entity name */
  config?: Record<string, Record<string, unknown>>;
  nodeArgs?: string[];
  env?: Record<string, string>;
}

const SHIPPED_TABLES = { entities: { user: { memory: '256MiB' }, merchant: { memory: '64MiB' } } };

const ALL: Variant[] = [
  { name: 'edge', what: '`--profile edge`', profile: 'edge' },
  { name: 'default', what: 'default profile', profile: 'default' },
  { name: 'edge+worker', what: 'edge, but `server.workers: 1` (a worker thread)', profile: 'edge', config: { server: { workers: 1 } } },
  { name: 'edge+v8', what: "edge, but V8's own heap sizing (`node --semi-space-growth-factor=2 --no-optimize-for-size`)", profile: 'edge', nodeArgs: ['--semi-space-growth-factor=2', '--no-optimize-for-size'] },
  { name: 'edge+shipped', what: "edge, with the shipped config's table budgets (user 256 MiB, merchant 64 MiB)", profile: 'edge', config: SHIPPED_TABLES },
  { name: 'edge+shipped+thp', what: 'edge, shipped table budgets and `store.huge_pages: true`', profile: 'edge', config: { ...SHIPPED_TABLES, store: { huge_pages: true } } },
  { name: 'default+shipped', what: 'default profile, shipped table budgets (the shipped config as it is, without demo)', profile: 'default', config: SHIPPED_TABLES },
  // Settings the profile cannot make from inside the process, for comparison:
  { name: 'edge+jit1', what: 'edge, and `node --no-concurrent-recompilation` (optimizing compiles on the main thread)', profile: 'edge', nodeArgs: ['--no-concurrent-recompilation'] },
  { name: 'edge+arena2', what: 'edge, and `MALLOC_ARENA_MAX=2` (glibc)', profile: 'edge', env: { MALLOC_ARENA_MAX: '2' } },
  { name: 'edge+noopt', what: 'edge, and `node --no-opt` (no optimizing compiler)', profile: 'edge', nodeArgs: ['--no-opt'] },
];
const VARIANTS = ALL.filter((v) => !values.only || values.only.split(',').includes(v.name));

interface Trial {
  rssReady: number;
  rssLoaded: number;
  rssMedian: number;
  rssMax: number;
  hwm: number;
  p50: number;
  p99: number;
  p999: number;
  /** predicts in the server's histogram over the measured window */
  answered: number;
  /** the client's answers in the window that were not 2xx */
  notOk: number;
  clientP99Us: number;
  cpuPer1k: number;
  threads: number;
  parts: Record<string, number>;
  heapTotal: number;
  heapUsed: number;
}

const MB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'hotpath-edge-bench-'));
cpSync(join(root, 'models'), join(dir, 'models'), { recursive: true });
const shipped = parse(readFileSync(join(root, 'hotpath.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
delete shipped.demo;
for (const e of Object.values(shipped.entities) as Record<string, unknown>[]) delete e.memory;

function configFor(v: Variant): string {
  const c = structuredClone(shipped);
  for (const [section, over] of Object.entries(v.config ?? {})) {
    if (section === 'entities') for (const [name, e] of Object.entries(over)) Object.assign(c.entities[name] as object, e);
    else c[section] = { ...(c[section] ?? {}), ...over };
  }
  const file = join(dir, `${v.name}.yaml`);
  writeFileSync(file, stringify(c));
  return file;
}

function status(pid: number): { rss: number; hwm: number; threads: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), threads: Number(/^Threads:\s+(\d+)/m.exec(s)?.[1]) };
}

/** Resident bytes by what they are, from /proc/PID/smaps. */
function parts(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let what = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const path = m[1];
      what = path === '' ? 'anonymous' : path === '[heap]' ? 'malloc heap' : path.startsWith('[') ? 'other' : path.endsWith('/node') ? 'node binary'
        : path.endsWith('hotpath.node') ? 'hotpath addon' : path.includes('uws_') ? 'uWebSockets.js' : path.includes('onnxruntime') ? 'onnxruntime' : 'other libraries';
    } else if (line.startsWith('Rss:')) out[what] = (out[what] ?? 0) + Number(line.split(/\s+/)[1]) * 1024;
  }
  return out;
}

type Buckets = [number, number][];
function buckets(text: string): Buckets {
  return [...text.matchAll(/^hotpath_model_request_duration_seconds_bucket\{model="fraud",le="([^"]+)"\} (\S+)/gm)].map((m) => [Number(m[1]), Number(m[2])]);
}
const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);

async function trial(v: Variant): Promise<Trial> {
  const hp = await startHotpath(root, PORT, { cpus: '0', config: configFor(v), args: ['--profile', v.profile], nodeArgs: v.nodeArgs, env: v.env && { ...process.env, ...v.env } });
  try {
    const pid = hp.pid;
    const rssReady = status(pid).rss;
    await loadStandardData(hp.url);
    const rssLoaded = status(pid).rss;
    const requests = buildRequests('predict', { host: '127.0.0.1', ids: 1000, model: 'fraud', entity: 'user', batch: 1, stream: 'transactions', dim: 10 });
    await runLoad({ url: hp.url, requests, connections: 8, durationMs: 3000, warmupMs: 0, rate, timeoutMs: 2000 });
    const before = buckets(await (await fetch(`${hp.url}/metrics`)).text());
    const cpu0 = cpuSeconds(pid);
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(status(pid).rss), 100);
    const r = await runLoad({ url: hp.url, requests, connections: 8, durationMs: seconds * 1000, warmupMs: 0, rate, timeoutMs: 2000 });
    clearInterval(sampler);
    const cpu = cpuSeconds(pid) - cpu0;
    const text = await (await fetch(`${hp.url}/metrics`)).text();
    const after = buckets(text);
    const d = after.map(([le, c], i) => [le, c - (before[i]?.[1] ?? 0)] as [number, number]);
    const total = d.at(-1)?.[1] ?? 0;
    const q = (p: number) => (d.find(([, c]) => c >= p * total)?.[0] ?? NaN) * 1e6;
    const st = status(pid);
    const out: Trial = {
      rssReady, rssLoaded, rssMedian: median(samples), rssMax: Math.max(...samples), hwm: st.hwm,
      p50: q(0.5), p99: q(0.99), p999: q(0.999), answered: total, notOk: r.answered - r.ok, clientP99Us: r.latencyUs.p99, cpuPer1k: (cpu / Math.max(1, total)) * 1000,
      threads: st.threads, parts: parts(pid), heapTotal: gauge(text, 'hotpath_nodejs_heap_size_total_bytes'), heapUsed: gauge(text, 'hotpath_nodejs_heap_size_used_bytes'),
    };
    return out;
  } finally {
    await hp.stop();
  }
}

const mb = (b: number) => (b / MB).toFixed(1);
const us = (x: number) => (Number.isFinite(x) ? `≤ ${x.toFixed(0)} µs` : '-');
const results = new Map<string, Trial[]>(VARIANTS.map((v) => [v.name, []]));
for (let round = 1; round <= rounds; round++)
  for (const v of VARIANTS) {
    const t = await trial(v);
    results.get(v.name)!.push(t);
    console.error(`round ${round} ${v.name}: RSS ready ${mb(t.rssReady)} MB, loaded ${mb(t.rssLoaded)}, serving median ${mb(t.rssMedian)} max ${mb(t.rssMax)}, VmHWM ${mb(t.hwm)}; p99 ${us(t.p99)}, ${t.answered} answered`);
  }

/** The worst of the rounds (RSS), and the median round with the worst in brackets (latency: the shared machine's noise lands there). */
const worst = (ts: Trial[], k: keyof Trial) => Math.max(...ts.map((t) => t[k] as number));
/** The middle round (the lower of the two middle ones): a bucket bound that was measured, not an average of two. */
const middle = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const lat = (ts: Trial[], k: keyof Trial) => (ts.length > 1 ? `${us(middle(ts.map((t) => t[k] as number)))} (${us(worst(ts, k))})` : us(worst(ts, k)));
const head = ['variant', 'RSS ready (MB)', 'RSS after data (MB)', 'RSS serving, median / max (MB)', 'VmHWM (MB)', 'server p50', 'server p99', 'server p99.9', 'CPU ms / 1k predicts', 'threads', 'predicts measured'];
const rows = VARIANTS.map((v) => {
  const ts = results.get(v.name)!;
  return [v.what, mb(worst(ts, 'rssReady')), mb(worst(ts, 'rssLoaded')), `${mb(worst(ts, 'rssMedian'))} / **${mb(worst(ts, 'rssMax'))}**`, mb(worst(ts, 'hwm')),
    lat(ts, 'p50'), `**${lat(ts, 'p99')}**`, lat(ts, 'p999'), median(ts.map((t) => t.cpuPer1k * 1000)).toFixed(0), String(ts[0].threads),
    ts.map((t) => `${t.answered}${t.notOk > 0 ? ` (${t.notOk} not 2xx)` : ''}`).join(', ')];
});
const partNames = ['node binary', 'anonymous', 'malloc heap', 'hotpath addon', 'uWebSockets.js', 'onnxruntime', 'other libraries', 'other'];
const partHead = ['variant', ...partNames.map((p) => `${p} (MB)`), "V8 heap, main thread: total / used (MB)"];
const partRows = VARIANTS.map((v) => {
  const t = results.get(v.name)!.at(-1)!;
  return [v.what, ...partNames.map((p) => (t.parts[p] === undefined ? 'not loaded' : mb(t.parts[p]))), `${mb(t.heapTotal)} / ${mb(t.heapUsed)}`];
});
const cmd = `taskset -c 1 node --import tsx bench/edge.ts --rate ${rate} --seconds ${seconds} --rounds ${rounds}${values.only ? ` --only ${values.only}` : ''}${values.out ? ` --out ${values.out}` : ''}`;
const md = `# The edge profile: RSS and server-side predict latency on one core

\`\`\`
npm run build
${cmd}
\`\`\`

Machine: ${machine()}. Build: ${describeBuild(root)}. Date: ${new Date().toISOString().slice(0, 10)}.

Method: each trial is a fresh \`node dist/cli/main.js serve --profile P\` under \`taskset -c 0\` (one
core), this client on the other core. Config: the shipped \`hotpath.yaml\` without \`demo\` and
without the entities' \`memory\` lines (each profile's default applies), models fraud (native
runtime) and its fallback fraud_rules. After /readyz: the standard data (20,000 transactions,
1,000 users, 100 merchants), then fraud predicts open loop at ${rate}/s over 8 connections, 3 s of
warm-up, ${seconds} s measured. Server side: \`hotpath_model_request_duration_seconds\` (submission
to answer) over the measured window, as histogram bucket bounds (buckets at 50, 100, 150, 200,
300, 400, 500, 750, 1000 µs, ...). RSS: VmRSS sampled every 100 ms over the measured window;
VmHWM at the end (the peak since start, the data load included). ${rounds} round(s), variants
alternating; an RSS cell is the worst round, a latency cell the median round (the worst in
brackets). CPU: the server's user + system time over the measured window, per 1,000 predicts.

## Results

${mdTable(head, rows)}

Targets (issue 14, edge profile): RSS < 80 MB with the fraud model loaded, server-side p99 predict < 1 ms on one core.

## Where the resident memory is (last round, at the end of the measured window)

From /proc/PID/smaps. "anonymous": V8's heaps (the main thread's, and a worker thread's where
there is one), thread stacks, the store's tables, the rings and malloc arenas of other threads;
"malloc heap": the main thread's malloc arena ([heap]); "node binary": the pages of node's own
code and read-only data that this process has touched (file-backed, shared with other node
processes, but counted in RSS). onnxruntime is loaded only when a model runs on it.

${mdTable(partHead, partRows)}
`;
console.log(md);
if (values.out) writeFileSync(values.out, md);
rmSync(dir, { recursive: true, force: true });
