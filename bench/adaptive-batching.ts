// Adaptive batching against fixed batch windows (docs/config.md "Adaptive batching"): a
// model where batching pays (the demo's inputs into a dense MLP 10 -> 512 -> 512 -> 1, relu,
// sigmoid: per row a 1 MB weight walk that a batch shares), served by a real hotpath with
// one inference worker, driven open loop (constant rate, latency from each request's due
// time) at a few rates. Per rate, each setting (max_queue_delay_us fixed at each of
// --delays, and batching.adaptive with target_p99_us --target) runs in a fresh server:
// warm-up (the controller settles), then the measured window, over which it reports
//   - the client's p50/p99 (HDR, microseconds, 2xx only),
//   - the server's p99 (hotpath_model_request_duration_seconds, the quantity adaptive
//     holds: the buckets' difference over the window, interpolated within a bucket as
//     Prometheus's histogram_quantile does),
//   - the mean batch (rows / executions over the window),
//   - the server's CPU-seconds per 1,000 requests (/proc/<pid>/stat utime + stime over the
//     window, every thread of the process), and the window adaptive ended on.
// Then per rate: adaptive's CPU per request against the cheapest fixed setting whose
// server p99 meets the same target, and against the shipped default (100 µs).
//
//   npx tsc -p tsconfig.build.json && node scripts/build-validators.mjs
//   node --import tsx bench/adaptive-batching.ts [--rates 1000,3000,6000] [--delays 0,100,250,500,1000,2000]
//     [--target 2000] [--duration 8] [--warmup 4] [--out bench/results/2026-12-07-adaptive-batching.md]
//   (on a shared machine, add `taskset -c` for the bench and --server-cpus for the server)
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { loadStandardData, machine, mdTable, startHotpath } from '../src/bench/harness.js';
import { runLoad } from '../src/bench/loadgen.js';
import { cpuSeconds } from '../src/bench/proc.js';
import { mulberry32 } from '../src/bench/random.js';
import { buildRequests } from '../src/bench/scenarios.js';
import { type DenseLayer, denseChainOnnx } from '../src/learn/onnx-export.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RATES = opt('rates', '1000,3000,6000').split(',').map(Number);
const DELAYS = opt('delays', '0,100,250,500,1000,2000').split(',').map(Number);
const TARGET = Number(opt('target', '2000'));
const DURATION_S = Number(opt('duration', '8'));
const WARMUP_S = Number(opt('warmup', '4'));
const OUT = opt('out', '');
const SERVER_CPUS = opt('server-cpus', '') || undefined;
const ROOT = resolve('.');
const PORT = 18191;

/** The MLP's ONNX file in a fresh model repository; returns the repository. */
function makeModel(): string {
  const rng = mulberry32(11);
  const dims = [10, 512, 512, 1];
  const layers: DenseLayer[] = dims.slice(1).map((out, k) => {
    const inDim = dims[k];
    return {
      w: new Float32Array(out * inDim).map(() => (rng() * 2 - 1) / Math.sqrt(inDim)),
      b: new Float32Array(out).map(() => (rng() * 2 - 1) * 0.1),
      act: k < dims.length - 2 ? 'relu' : 'sigmoid',
    };
  });
  const repo = mkdtempSync(join(tmpdir(), 'hp-adaptive-'));
  mkdirSync(join(repo, 'wide', '1'), { recursive: true });
  writeFileSync(join(repo, 'wide', '1', 'model.onnx'), denseChainOnnx(10, layers));
  return repo;
}

/** The shipped config's store, streams and entities, with the one model under `batching`. */
function configFor(repo: string, batching: string): string {
  const shipped = readFileSync(join(ROOT, 'hotpath.yaml'), 'utf8');
  const store = shipped.slice(shipped.indexOf('\nstore:'), shipped.indexOf('\ndemo:'));
  const inputs = /\n {4}inputs: +#[^\n]*\n((?: {6}- [^\n]*\n)+)/.exec(shipped)![1];
  const yaml = `server: { workers: 1, max_body_bytes: 1MiB, max_batch: 10000 }
${store}
models:
  wide:
    repository: ${join(repo, 'wide')}
    inputs:
${inputs}    batching: ${batching}
    timeout: 200ms
`;
  const path = join(repo, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

interface Scrape {
  rows: number;
  executions: number;
  /** cumulative counts by upper bound (le), +Inf last */
  buckets: [number, number][];
  delayUs: number;
}

async function scrape(url: string): Promise<Scrape> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const val = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  return {
    rows: val(/^hotpath_model_inference_count_total\{model="wide"\} (\S+)/m),
    executions: val(/^hotpath_model_execution_count_total\{model="wide"\} (\S+)/m),
    buckets: [...text.matchAll(/^hotpath_model_request_duration_seconds_bucket\{model="wide",le="([^"]+)"\} (\S+)/gm)].map((m) => [m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]),
    delayUs: val(/^hotpath_model_queue_delay_target_seconds\{model="wide"\} (\S+)/m) * 1e6,
  };
}

/** The q-quantile (µs) of the requests between two scrapes, interpolated within its bucket. */
function quantile(a: Scrape, b: Scrape, q: number): number {
  const counts = b.buckets.map(([le, c], i) => [le, c - (a.buckets[i]?.[1] ?? 0)] as const);
  const total = counts.at(-1)![1];
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevC = 0;
  for (const [le, c] of counts) {
    if (c >= rank) {
      if (!Number.isFinite(le)) return prevLe * 1e6; // past the last bound: at least it
      return (prevLe + ((le - prevLe) * (rank - prevC)) / Math.max(1, c - prevC)) * 1e6;
    }
    prevLe = le;
    prevC = c;
  }
  return NaN;
}

interface Trial {
  rate: number;
  setting: string;
  adaptive: boolean;
  ok: number;
  errors: number;
  reached: boolean;
  clientP50: number;
  clientP99: number;
  serverP50: number;
  serverP99: number;
  meanBatch: number;
  cpuPer1k: number;
  delayUs: number;
}

async function trial(repo: string, rate: number, setting: string, batching: string, requests: Buffer[]): Promise<Trial> {
  const server = await startHotpath(ROOT, PORT, { config: configFor(repo, batching), cpus: SERVER_CPUS });
  try {
    await loadStandardData(server.url);
    // Window sums on the server side: scraped when the measured window starts and ends.
    let s0: Scrape | undefined;
    let c0 = 0;
    const mark = setTimeout(() => {
      c0 = cpuSeconds(server.pid);
      void scrape(server.url).then((s) => (s0 = s));
    }, WARMUP_S * 1000);
    const r = await runLoad({ url: `${server.url}/`, requests, connections: 64, durationMs: DURATION_S * 1000, warmupMs: WARMUP_S * 1000, rate, timeoutMs: 2000 });
    clearTimeout(mark);
    const c1 = cpuSeconds(server.pid);
    const s1 = await scrape(server.url);
    if (!s0) throw new Error('the window-start scrape did not return');
    const ok = r.ok;
    return {
      rate, setting, adaptive: batching.includes('adaptive'), ok, errors: r.answered - ok + Object.values(r.errors).reduce((x, y) => x + y, 0), reached: r.reachedRate,
      clientP50: r.latencyUs.p50, clientP99: r.latencyUs.p99,
      serverP50: quantile(s0, s1, 0.5), serverP99: quantile(s0, s1, 0.99),
      meanBatch: (s1.rows - s0.rows) / (s1.executions - s0.executions),
      // Per request answered in the window (the server also ran what the warm-up's tail left).
      cpuPer1k: ((c1 - c0) * 1000) / Math.max(1, s1.rows - s0.rows),
      delayUs: s1.delayUs,
    };
  } finally {
    await server.stop();
  }
}

const f0 = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(0));
const f1 = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(1));
const f3 = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(3));

async function main(): Promise<void> {
  const repo = makeModel();
  const requests = buildRequests('predict', { host: `127.0.0.1:${PORT}`, model: 'wide', ids: 1000, entity: 'user', batch: 1, stream: 'transactions', dim: 10 });
  const settings: [string, string][] = [
    ...DELAYS.map((d): [string, string] => [`fixed ${d} µs`, `{ max_batch: 64, max_queue_delay_us: ${d} }`]),
    [`adaptive (p99 ≤ ${TARGET} µs)`, `{ max_batch: 64, adaptive: { target_p99_us: ${TARGET} } }`],
  ];
  const trials: Trial[] = [];
  for (const rate of RATES) {
    for (const [name, batching] of settings) {
      const t = await trial(repo, rate, name, batching, requests);
      trials.push(t);
      console.log(`${rate}/s ${name}: server p99 ${f0(t.serverP99)} µs, client p99 ${f0(t.clientP99)} µs, batch ${f1(t.meanBatch)}, CPU ${f3(t.cpuPer1k)} s/1k, window ${f0(t.delayUs)} µs${t.reached ? '' : ' (rate not reached)'}`);
    }
  }

  const lines: string[] = [];
  const say = (s = '') => lines.push(s);
  say(`# Adaptive batching against fixed windows (${new Date().toISOString().slice(0, 10)})`);
  say();
  say(`Machine: ${machine()}; Node ${process.version}. Model: the demo inputs into a dense MLP 10 → 512 → 512 → 1 (native runtime), max_batch 64, one inference worker.`);
  say(`Open loop at each rate, ${WARMUP_S} s warm-up then ${DURATION_S} s measured, 64 connections; a fresh server per row. Target for adaptive: server p99 ≤ ${TARGET} µs.`);
  say();
  say('```');
  say(`node --import tsx bench/adaptive-batching.ts ${args.join(' ')}`.trim());
  say('```');
  say();
  for (const rate of RATES) {
    const rows = trials.filter((t) => t.rate === rate);
    say(`## ${rate} requests/s`);
    say();
    say(mdTable(
      ['setting', 'server p50 (µs)', 'server p99 (µs)', 'client p50 (µs)', 'client p99 (µs)', 'mean batch', 'CPU s / 1k req', 'window at end (µs)', 'errors'],
      rows.map((t) => [t.setting + (t.reached ? '' : ' (rate not reached)'), f0(t.serverP50), f0(t.serverP99), f0(t.clientP50), f0(t.clientP99), f1(t.meanBatch), f3(t.cpuPer1k), f0(t.delayUs), String(t.errors)]),
    ));
    say();
    const a = rows.find((t) => t.adaptive)!;
    const meets = rows.filter((t) => !t.adaptive && t.serverP99 <= TARGET && t.errors === 0);
    const best = meets.sort((x, y) => x.cpuPer1k - y.cpuPer1k)[0];
    const same = rows.filter((t) => !t.adaptive && t.serverP99 <= a.serverP99 && t.errors === 0).sort((x, y) => x.cpuPer1k - y.cpuPer1k)[0];
    const dflt = rows.find((t) => t.setting === 'fixed 100 µs');
    const vs = (t: Trial | undefined) => (t ? `${((a.cpuPer1k / t.cpuPer1k - 1) * 100).toFixed(1)} %` : '-');
    say(`Adaptive: server p99 ${f0(a.serverP99)} µs (${a.serverP99 <= TARGET ? 'meets' : 'misses'} the target), CPU ${f3(a.cpuPer1k)} s / 1k. ` +
      `Against the cheapest fixed window that meets the same p99 (${best ? `${best.setting}, ${f3(best.cpuPer1k)} s / 1k` : 'none does'}): ${vs(best)}; ` +
      `against the cheapest fixed window whose p99 is at or under adaptive's own (${same ? `${same.setting}, ${f3(same.cpuPer1k)} s / 1k, p99 ${f0(same.serverP99)} µs` : 'none is'}): ${vs(same)}; ` +
      `against the default window (100 µs${dflt ? `, ${f3(dflt.cpuPer1k)} s / 1k, p99 ${f0(dflt.serverP99)} µs` : ''}): ${vs(dflt)}.`);
    say();
  }
  const text = lines.join('\n');
  console.log(`\n${text}`);
  if (OUT) writeFileSync(OUT, text + '\n');
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
