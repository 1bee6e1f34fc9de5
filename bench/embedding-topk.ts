// Embedding top-k micro-benchmark (src/native/embedding.ts): latency of one top-20 query
// over a 1M x 64 float32 matrix on one core, sync path, for the fast scan (4-bit codes,
// AVX2, exact re-rank), the same scan's portable loop, and the exact fp32 scan; the fast
// scan's recall@20 against the exact one; a plain TypeScript brute force as the peer.
// Three matrices: Gaussian rows; rows clustered around 1000 centres (queries near a
// centre: many close scores); and tight clusters (noise 0.05: rows of a cluster differ by
// less than the 4-bit step, the hard case for the fast scan, shown with the default and a
// larger re-rank).
//
//   npm run bench:embedding -- [--n 1000000] [--dim 64] [--queries 300] [--out bench/results/<date>-embedding-topk.md]
//   (the script runs under `taskset -c 0`: one core)
//
// Each mode runs 3 trials of --queries queries after a warm-up; the table gives each trial's
// p50 and p99 (the spread between trials is the noise) and the matrix is loaded from a .npy
// file written here, so the load path is measured too.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';

import { mulberry32 } from '../src/bench/random.js';
import { EmbeddingIndex, type TopkOptions } from '../src/native/embedding.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const N = Number(opt('n', '1000000'));
const DIM = Number(opt('dim', '64'));
const QUERIES = Number(opt('queries', '300'));
const K = 20;
const TRIALS = 3;
const DATE = new Date().toISOString().slice(0, 10);
const OUT = opt('out', `bench/results/${DATE}-embedding-topk.md`);

function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** A .npy (format 1.0) of a row-major float32 matrix: magic, version, header padded to 64 bytes, data. */
function npy(m: Float32Array, n: number, dim: number): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${dim}), }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(m.buffer, m.byteOffset, m.byteLength)]);
}

interface Data {
  name: string;
  matrix: Float32Array;
  queries: Float32Array[];
}

function randomData(): Data {
  const g = gaussian(mulberry32(1));
  const matrix = new Float32Array(N * DIM);
  for (let i = 0; i < matrix.length; i++) matrix[i] = g();
  const queries = Array.from({ length: QUERIES }, () => Float32Array.from({ length: DIM }, g));
  return { name: 'random (Gaussian rows)', matrix, queries };
}

function clusteredData(noise = 0.3, seed = 2): Data {
  const g = gaussian(mulberry32(seed));
  const rand = mulberry32(seed + 1);
  const C = 1000;
  const centres = Float32Array.from({ length: C * DIM }, g);
  const matrix = new Float32Array(N * DIM);
  for (let i = 0; i < N; i++) {
    const c = Math.floor(rand() * C);
    for (let j = 0; j < DIM; j++) matrix[i * DIM + j] = centres[c * DIM + j] + noise * g();
  }
  const queries = Array.from({ length: QUERIES }, () => {
    const c = Math.floor(rand() * C);
    return Float32Array.from({ length: DIM }, (_, j) => centres[c * DIM + j] + noise * g());
  });
  return { name: `clustered (${C} centres, noise ${noise})`, matrix, queries };
}

/** Tight clusters: rows differ from their centre by far less than the 4-bit step (the hard case). */
const tightData = () => clusteredData(0.05, 4);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface Timing {
  mode: string;
  trials: { p50: number; p99: number }[];
  min: number;
  /** CPU time of the process per query (user + system), all trials: what the query costs when the core is its own */
  cpuP50: number;
  cpuP99: number;
}

function time(ix: EmbeddingIndex, queries: Float32Array[], mode: string, o: TopkOptions, count = queries.length): Timing {
  const rows = new Int32Array(K), scores = new Float32Array(K);
  for (let i = 0; i < Math.min(10, count); i++) ix.topk(queries[i], K, rows, scores, undefined, o);
  const trials: Timing['trials'] = [];
  const cpu: number[] = [];
  let min = Infinity;
  for (let t = 0; t < TRIALS; t++) {
    const ms: number[] = [];
    for (let i = 0; i < count; i++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      ix.topk(queries[i], K, rows, scores, undefined, o);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
    ms.sort((a, b) => a - b);
    min = Math.min(min, ms[0]);
    trials.push({ p50: pct(ms, 50), p99: pct(ms, 99) });
  }
  cpu.sort((a, b) => a - b);
  return { mode, trials, min, cpuP50: pct(cpu, 50), cpuP99: pct(cpu, 99) };
}

/** The peer: every row's dot product in plain TypeScript, then a sort of the best. */
function jsBrute(m: Float32Array, q: Float32Array): number[] {
  const best: { s: number; r: number }[] = [];
  let min = -Infinity;
  for (let r = 0; r < N; r++) {
    let s = 0;
    for (let j = 0; j < DIM; j++) s += m[r * DIM + j] * q[j];
    if (best.length < K || s > min) {
      best.push({ s, r });
      if (best.length > K) {
        best.sort((a, b) => b.s - a.s || a.r - b.r);
        best.length = K;
      }
      min = best.length < K ? -Infinity : best[best.length - 1].s;
    }
  }
  return best.sort((a, b) => b.s - a.s || a.r - b.r).map((b) => b.r);
}

const lines: string[] = [];
const log = (s = '') => {
  lines.push(s);
  console.log(s);
};
const cpusAllowed = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '?';

log(`# Embedding top-${K}: ${N.toLocaleString('en')} x ${DIM} float32, one core`);
log();
log('```');
log(`taskset -c 0 npm run bench:embedding -- --n ${N} --dim ${DIM} --queries ${QUERIES}`);
log('```');
log();
log(`${DATE}, ${cpus()[0]?.model ?? '?'} (${cpus().length} cores on the machine, this process pinned to CPU ${cpusAllowed}), Node ${process.version}, load average before ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`);
log(`Sync path (topk), ${TRIALS} trials of ${QUERIES} queries each after 10 warm-up queries (portable and exact: ${Math.min(QUERIES, 100)} a trial). Wall-clock latency in ms per query; CPU time (process.cpuUsage, ms; its resolution is 1 us to a few ms by kernel) is what the query costs when it is not preempted by other work on the core.`);
log();

const tmp = join(tmpdir(), `hp-embedding-bench-${process.pid}.npy`);
for (const make of [randomData, () => clusteredData(), tightData]) {
  const t0 = Date.now();
  const data = make();
  const genMs = Date.now() - t0;
  writeFileSync(tmp, npy(data.matrix, N, DIM));
  const l0 = process.hrtime.bigint();
  const ix = EmbeddingIndex.load(tmp);
  const loadMs = Number(process.hrtime.bigint() - l0) / 1e6;
  log(`## ${data.name}`);
  log();
  log(`Generated in ${genMs} ms; EmbeddingIndex.load (map, check, 4-bit codes): ${loadMs.toFixed(0)} ms.`);
  log();
  const timings = [
    time(ix, data.queries, 'fast (4-bit AVX2 scan + fp32 re-rank of 512)', {}),
    time(ix, data.queries, 'fast, candidates 4096', { candidates: 4096 }, Math.min(QUERIES, 100)),
    time(ix, data.queries, 'fast, portable loop (no AVX2)', { portable: true }, Math.min(QUERIES, 100)),
    time(ix, data.queries, 'exact fp32 scan', { exact: true }, Math.min(QUERIES, 100)),
  ];
  log('| mode | trial 1 p50 / p99 | trial 2 p50 / p99 | trial 3 p50 / p99 | fastest query | CPU time p50 / p99 |');
  log('|---|---|---|---|---|---|');
  for (const t of timings)
    log(`| ${t.mode} | ${t.trials.map((x) => `${x.p50.toFixed(2)} / ${x.p99.toFixed(2)}`).join(' | ')} | ${t.min.toFixed(2)} | ${t.cpuP50.toFixed(2)} / ${t.cpuP99.toFixed(2)} |`);
  log();
  log(`Load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`);
  const fastP50 = Math.min(...timings[0].trials.map((x) => x.p50));
  const exactP50 = Math.min(...timings[3].trials.map((x) => x.p50));
  // Recall@20 of the fast scan (default and 4096 candidates) against the exact scan, over every query.
  const a = new Int32Array(K), b = new Int32Array(K), s = new Float32Array(K);
  const recall = (o: TopkOptions) => {
    let hit = 0, total = 0, worst = 1, perfect = 0;
    for (const q of data.queries) {
      const ne = ix.topk(q, K, a, s, undefined, { exact: true });
      const nf = ix.topk(q, K, b, s, undefined, o);
      const exact = new Set(a.subarray(0, ne));
      let h = 0;
      for (const r of b.subarray(0, nf)) if (exact.has(r)) h++;
      hit += h;
      total += ne;
      worst = Math.min(worst, h / ne);
      if (h === ne) perfect++;
    }
    return `mean ${(hit / total).toFixed(4)} over ${data.queries.length} queries; ${perfect} queries with all ${K}, worst query ${worst.toFixed(2)}`;
  };
  const recallDefault = recall({});
  const recall4096 = recall({ candidates: 4096 });
  // The peer: a TypeScript brute force on a few queries (and a check that it agrees).
  const jsMs: number[] = [];
  let agree = 0;
  const PEER = 5;
  for (let i = 0; i < PEER; i++) {
    const t1 = process.hrtime.bigint();
    const want = jsBrute(data.matrix, data.queries[i]);
    jsMs.push(Number(process.hrtime.bigint() - t1) / 1e6);
    const n = ix.topk(data.queries[i], K, a, s, undefined, { exact: true });
    if (n === K && want.every((r, j) => r === a[j])) agree++;
  }
  jsMs.sort((x, y) => x - y);
  log();
  log(`Recall@${K} of the fast scan against the exact scan: ${recallDefault}. With candidates 4096: ${recall4096}.`);
  log(`Fast p50 is ${(exactP50 / fastP50).toFixed(1)}x faster than the exact fp32 scan (best trials).`);
  log(`Peer, TypeScript brute force (fp64 sums): median ${pct(jsMs, 50).toFixed(0)} ms over ${PEER} queries (${(pct(jsMs, 50) / fastP50).toFixed(0)}x the fast p50); its top-${K} equals the exact scan's on ${agree} of ${PEER}.`);
  log();
  ix.release();
  rmSync(tmp, { force: true });
}

if (OUT !== '-') {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${lines.join('\n')}\n`);
  console.log(`wrote ${OUT}`);
}
