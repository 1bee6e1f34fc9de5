// The L1 answer cache (src/cache/, docs/cache.md) on a Zipf(1.1) request stream over 1M
// entities: the hit rate at L1 and at L1+L2 (L2: the entity is in the native store), and the
// throughput of feature reads with and without the cache.
//
//   npx tsx bench/cache.ts [--out bench/results/2026-12-06-cache.md] [--requests 2000000] [--entities 1000000]
//
// In one process, without HTTP: the server's own FeatureReader (readJsonCached, the GET
// /v1/features/:entity/:id path below the route), FeatureStore, Ingestor and the cache's
// ingest tap. The store is warmed with a Zipf(1.1) event stream (2 events per entity of
// the id space on average, so the tail is never seen: those reads miss L2 and would go to
// L3, Redis). Hit rates run on a simulated clock (a stated request rate, so the TTL means
// what it would on a server taking that rate), with events of the same distribution
// interleaved at a stated share of the requests, each bumping its entity's generation.
// Throughput runs on the real clock over the same id stream; each mode three times,
// alternating, and "off vs off" (the uncached path against itself) gives the noise.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Caching } from '../src/cache/cache.js';
import { Lru } from '../src/cache/lru.js';
import { compileCache } from '../src/config/cache.js';
import { loadConfigText } from '../src/config/load.js';
import { mulberry32 } from '../src/bench/random.js';
import { Ingestor } from '../src/ingest/ingestor.js';
import { createStore, startServer } from '../src/server/app.js';
import { FeatureReader } from '../src/server/features.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const OUT = opt('out', 'bench/results/2026-12-06-cache.md');
const N = Number(opt('entities', '1000000'));
const R = Number(opt('requests', '2000000'));
const S = 1.1;
const WRK_SECONDS = Number(opt('wrk-seconds', '10'));

const configText = `
store: { max_future: 1m }
streams: { tx: { keys: { user: user_id }, fields: { amount: number } } }
entities:
  user:
    memory: MEMORY
    features:
      n_1h:   { agg: count, window: 1h }
      sum_1h: { agg: sum, field: amount, window: 1h }
`;
const configFor = (memory: string) => loadConfigText(configText.replace('MEMORY', memory));
let config = configFor('1GiB');

/** Zipf(s) over ranks 0..n-1 by the inverse CDF (binary search). */
function zipf(n: number, s: number, seed: number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / (k + 1) ** s;
  for (let k = 0; k < n; k++) cdf[k] /= sum;
  const rnd = mulberry32(seed);
  return () => {
    const u = rnd();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const ids = Array.from({ length: N }, (_, k) => `u${k}`);
const entity = config.entities[0];
const select = entity.allFeatures;

/**
 * How the store is warmed before the requests: 'zipf': 2N Zipf events only (the tail of the
 * id space never had one); 'all': one event per entity (in a shuffled order) first, then
 * the 2N Zipf events (every entity has a history; with a memory budget below the id space,
 * the store's LRU keeps the recently written, hot ones).
 */
type Warm = 'zipf' | 'all';
let WARM: Warm = 'all';

/** A fresh store warmed as WARM says (Zipf ranks from seed 1) and an Ingestor over it. */
function warmStore(caching?: Caching) {
  const store = createStore(config);
  const ingest = new Ingestor(store, config);
  if (caching) ingest.addTap(caching.tap());
  const draw = zipf(N, S, 1);
  const now = Date.now();
  const B = 10_000;
  if (WARM === 'all') {
    const order = Array.from({ length: N }, (_, i) => i);
    const rnd = mulberry32(4);
    for (let i = N - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let done = 0; done < N; done += B) ingest.events(order.slice(done, done + B).map((k) => ({ stream: 'tx', user_id: ids[k], amount: 1 })), 'demo', now);
  }
  for (let done = 0; done < 2 * N; done += B) {
    const evs = new Array(B);
    for (let i = 0; i < B; i++) evs[i] = { stream: 'tx', user_id: ids[draw()], amount: 1 };
    ingest.events(evs, 'demo', now);
  }
  return { store, ingest, resident: store.stats(0) };
}

interface HitRow {
  warm: string;
  resident: number;
  maxEntries: number;
  ttlMs: number;
  rate: number;
  eventShare: number;
  l1: number;
  l2OfMisses: number;
  l1l2: number;
  stale: number;
}

function hitRate(maxEntries: number, ttlMs: number, rate: number, eventShare: number): HitRow {
  const caching = new Caching(compileCache({ features: { max_entries: maxEntries, ttl: ttlMs } }));
  const { store, ingest, resident } = warmStore(caching);
  const reader = new FeatureReader(store, caching);
  const req = zipf(N, S, 2);
  const evDraw = zipf(N, S, 3);
  const t0 = Date.now();
  const step = 1000 / rate;
  let pendingEvents = 0;
  for (let i = 0; i < R; i++) {
    const now = t0 + i * step;
    pendingEvents += eventShare;
    if (pendingEvents >= 10) {
      const evs = new Array(10);
      for (let e = 0; e < 10; e++) evs[e] = { stream: 'tx', user_id: ids[evDraw()], amount: 1 };
      ingest.events(evs, 'demo', now);
      pendingEvents -= 10;
    }
    reader.readJsonCached(entity, ids[req()], select, now, '', now);
  }
  const c = caching.features!;
  const l1 = c.l1.hit / R;
  return { warm: `${WARM === 'all' ? 'every entity, then Zipf' : 'Zipf only'}; ${MEMORY}`, resident: resident.live, maxEntries, ttlMs, rate, eventShare, l1, l2OfMisses: c.l2.hit / c.l1.miss, l1l2: (c.l1.hit + c.l2.hit) / R, stale: c.stale };
}

function throughput(): { mode: string; opsPerSec: number[] }[] {
  const caching = new Caching(compileCache({ features: { max_entries: 100_000, ttl: 1000 } }));
  const { store } = warmStore(caching);
  const off = new FeatureReader(store);
  const on = new FeatureReader(store, caching);
  const req = zipf(N, S, 2);
  const stream = Array.from({ length: R }, () => ids[req()]);
  const run = (f: (id: string, now: number) => void) => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < R; i++) f(stream[i], Date.now());
    return R / (Number(process.hrtime.bigint() - t) / 1e9);
  };
  const modes = {
    'off (readJson)': (id: string, now: number) => off.readJson(entity, id, select, now),
    'off again (noise)': (id: string, now: number) => off.readJson(entity, id, select, now),
    'on (readJsonCached, 100k entries, ttl 1s)': (id: string, now: number) => on.readJsonCached(entity, id, select, now, '', now),
  };
  const out = Object.keys(modes).map((mode) => ({ mode, opsPerSec: [] as number[] }));
  for (let trial = 0; trial < 3; trial++) for (const [i, f] of Object.values(modes).entries()) out[i].opsPerSec.push(run(f));
  return out;
}

let sink = 0;
function lruMicro(): { op: string; ns: number }[] {
  const M = 100_000;
  const keys = Array.from({ length: M }, (_, i) => `k${i}\u0000x`);
  const lru = new Lru<number>(M, 1e12);
  const map = new Map<string, number>();
  const time = (f: () => void, n: number) => {
    const t = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t) / n;
  };
  const rows: { op: string; ns: number }[] = [];
  for (let trial = 0; trial < 2; trial++) {
    rows.push({ op: 'Lru.set (fill)', ns: time(() => { for (let i = 0; i < M; i++) lru.set(keys[i], i, 0); }, M) });
    rows.push({ op: 'Map.set (fill)', ns: time(() => { for (let i = 0; i < M; i++) map.set(keys[i], i); }, M) });
    rows.push({ op: 'Lru.get (hit, moves to newest)', ns: time(() => { for (let r = 0; r < 10; r++) for (let i = 0; i < M; i++) sink += lru.get(keys[(i * 7919) % M], 0)!; }, 10 * M) });
    rows.push({ op: 'Map.get (hit)', ns: time(() => { for (let r = 0; r < 10; r++) for (let i = 0; i < M; i++) sink += map.get(keys[(i * 7919) % M])!; }, 10 * M) });
    rows.push({ op: 'Lru.set (full: evicts one)', ns: time(() => { for (let i = 0; i < M; i++) lru.set(`n${trial}-${i}`, i, 0); }, M) });
  }
  if (sink === -1) console.log(sink);
  return rows.slice(rows.length / 2);
}

/**
 * Over HTTP: a server (in this process: it serves while the bench awaits wrk) with the
 * fraud model, every user u0..u(N-1) given one event, then wrk -t1 -c32 for --wrk-seconds (10) per trial
 * with Zipf ids (bench/cache-zipf.lua), cache off and on alternating, two trials each.
 */
async function http(): Promise<{ target: string; mode: string; rps: number[]; hit: number }[]> {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const yaml = (cache: boolean) => `
server: { workers: 1 }
streams: { tx: { keys: { user: user_id, merchant: merchant_id }, time_field: ts, allowed_lateness: 1h, fields: { amount: number, country: category, user_id: category } } }
entities:
  user:
    memory: 2GiB
    features:
      txn_count_10m:  { agg: count, window: 10m, tile: 1m }
      txn_count_1h:   { agg: count, window: 1h }
      amount_mean_1h: { agg: mean, field: amount, window: 1h }
      amount_max_1h:  { agg: max, field: amount, window: 1h }
      amount_std_1h:  { agg: stddev, field: amount, window: 1h }
      countries_24h:  { agg: distinct, field: country, window: 24h, tile: 1h, precision: 4 }
  merchant:
    memory: 64MiB
    features:
      txn_count_1m:   { agg: count, window: 1m, tile: 5s }
      amount_mean_1h: { agg: mean, field: amount, window: 1h }
      users_1h:       { agg: distinct, field: user_id, window: 1h }
models:
  fraud:
    repository: fraud
    inputs:
      - { field: amount, transform: log1p }
      - { feature: user.txn_count_10m, transform: log1p }
      - { feature: user.txn_count_1h, transform: log1p }
      - { feature: user.amount_mean_1h, transform: log1p }
      - { feature: user.amount_max_1h, transform: log1p }
      - { feature: user.amount_std_1h, transform: log1p }
      - { feature: user.countries_24h }
      - { feature: merchant.txn_count_1m, transform: log1p }
      - { feature: merchant.amount_mean_1h, transform: log1p }
      - { feature: merchant.users_1h, transform: log1p }
    timeout: 5s
${cache ? 'cache:\n  features: { max_entries: 100000, ttl: 1s }\n  predict: { max_entries: 100000, ttl: 1s }\n' : ''}`;
  const out: { target: string; mode: string; rps: number[]; hit: number }[] = [];
  for (const target of ['features', 'predict']) for (const mode of ['off', 'on']) out.push({ target, mode, rps: [], hit: NaN });
  for (let trial = 0; trial < 2; trial++)
    for (const row of out) {
      const server = await startServer({ config: loadConfigText(yaml(row.mode === 'on'), { baseDir: `${root}models` }), port: 0, host: '127.0.0.1', log: () => {} });
      const now = Date.now();
      const B = 10_000;
      for (let done = 0; done < N; done += B) {
        const evs = [];
        for (let k = done; k < Math.min(N, done + B); k++) evs.push({ stream: 'tx', user_id: `u${k}`, merchant_id: `m${k % 100}`, amount: 10 + (k % 90), country: 'FR', ts: now });
        server.ingest.events(evs, 'demo', now);
      }
      const { stdout } = await promisify(execFile)('wrk', ['-t1', '-c32', `-d${WRK_SECONDS}s`, '-s', `${root}bench/cache-zipf.lua`, `http://127.0.0.1:${server.port}`], {
        env: { ...process.env, ZIPF_N: String(N), CACHE_TARGET: row.target, ZIPF_SEED: String(2 + trial) },
      });
      const m = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
      const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
      if (non2xx) throw new Error(`${row.target} ${row.mode}: ${non2xx[1]} failed requests\n${stdout}`);
      row.rps.push(m ? Number(m[1]) : NaN);
      const c = row.target === 'features' ? server.caching?.features : server.caching?.predict;
      if (c) row.hit = c.l1.hit / (c.l1.hit + c.l1.miss);
      console.log(row.target, row.mode, trial, m?.[1]);
      await server.close();
    }
  return out;
}

const started = Date.now();
let MEMORY = '1GiB';
const hits: HitRow[] = [];
for (const [warm, memory, maxEntries, ttlMs, rate, share] of [
  ['all', '1GiB', 100_000, 1000, 100_000, 0.1],
  ['all', '256MiB', 100_000, 1000, 100_000, 0.1],
  ['all', '128MiB', 100_000, 1000, 100_000, 0.1],
  ['zipf', '1GiB', 100_000, 1000, 100_000, 0.1],
  ['zipf', '1GiB', 100_000, 1000, 100_000, 0],
  ['zipf', '1GiB', 10_000, 1000, 100_000, 0.1],
  ['zipf', '1GiB', 100_000, 10_000, 100_000, 0.1],
  ['zipf', '1GiB', 100_000, 1000, 10_000, 0.1],
] as const) {
  WARM = warm;
  MEMORY = memory;
  config = configFor(memory);
  const row = hitRate(maxEntries, ttlMs, rate, share);
  console.log(row);
  hits.push(row);
}
WARM = 'all';
MEMORY = '1GiB';
config = configFor(MEMORY);
const tp = throughput();
console.log(tp);
const micro = lruMicro();
console.log(micro);
const web = args.includes('--no-http') ? [] : await http();

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const base = med(tp[0].opsPerSec);
const md = `# L1 answer cache: hit rates on a Zipf(1.1) stream over ${N.toLocaleString('en')} entities, and throughput

\`\`\`
npx tsx bench/cache.ts --out ${OUT}
\`\`\`

Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, Node ${process.version}. Wall time ${((Date.now() - started) / 1000).toFixed(0)} s.

Method (bench/cache.ts): one process, no HTTP. The server's own \`FeatureReader.readJsonCached\` (the GET
/v1/features/:entity/:id path below the route), \`FeatureStore\`, \`Ingestor\` and the cache's ingest tap. Entity ids
\`u0..u${N - 1}\`, requests and events both Zipf(${S}) by rank (different seeds). The store (about 1 KiB per entity
here) is warmed in one of two ways: "every entity, then Zipf": one event per entity in a shuffled order, then
${(2 * N).toLocaleString('en')} Zipf events (every entity has a history, as in a store that serves the whole id space; with a memory
budget below the id space the table's LRU evicts the coldest); "Zipf only": the ${(2 * N).toLocaleString('en')} Zipf events alone, so the
tail of the id space never had an event and a read of it misses L2 (on a replica with Redis it would go to L3). "resident":
entities in the store after the warm-up. ${R.toLocaleString('en')} requests per row, on a
simulated clock at the stated request rate (the TTL counts in that time); events of the same distribution interleaved
at the stated share of requests (10 per ingest call), each bumping its entity's generation (a later read of it misses L1).
L1+L2 = (L1 hits + L1 misses whose entity is in the store) / requests.

## Hit rates

| store warm-up; memory | resident | L1 max_entries | ttl | request rate | events / request | L1 hit | L2 hit (of L1 misses) | **L1+L2 hit** | L1 entries dropped as stale |
|---|---|---|---|---|---|---|---|---|---|
${hits.map((h) => `| ${h.warm} | ${h.resident.toLocaleString('en')} | ${h.maxEntries.toLocaleString('en')} | ${h.ttlMs / 1000} s | ${h.rate.toLocaleString('en')}/s | ${h.eventShare} | ${pct(h.l1)} | ${pct(h.l2OfMisses)} | **${pct(h.l1l2)}** | ${h.stale.toLocaleString('en')} |`).join('\n')}

Target (issue 15): ≥ 95 % at L1+L2.

## Throughput of feature reads (real clock, same id stream, three trials each, alternating)

| mode | reads/s per trial | median | ratio to off |
|---|---|---|---|
${tp.map((t) => `| ${t.mode} | ${t.opsPerSec.map((x) => Math.round(x).toLocaleString('en')).join(', ')} | ${Math.round(med(t.opsPerSec)).toLocaleString('en')} | ${(med(t.opsPerSec) / base).toFixed(2)} |`).join('\n')}

## Over HTTP (wrk -t1 -c32 -d${WRK_SECONDS}s, Zipf ids over ${N.toLocaleString('en')} users, every user given one event first; two trials each, alternating)

The server and wrk share the machine's ${cpus().length} cores. Predicts run the fraud model (models/fraud/1) on one worker.

| route | cache | req/s per trial | mean | ratio to off | L1 hit rate |
|---|---|---|---|---|---|
${web.map((w) => {
  const mean = w.rps.reduce((a, b) => a + b, 0) / w.rps.length;
  const offRow = web.find((x) => x.target === w.target && x.mode === 'off')!;
  const off = offRow.rps.reduce((a, b) => a + b, 0) / offRow.rps.length;
  return `| ${w.target === 'features' ? 'GET /v1/features/user/:id' : 'POST /v1/predict/fraud'} | ${w.mode} | ${w.rps.map((x) => Math.round(x).toLocaleString('en')).join(', ')} | ${Math.round(mean).toLocaleString('en')} | ${(mean / off).toFixed(2)} | ${Number.isNaN(w.hit) ? '' : pct(w.hit)} |`;
}).join('\n')}

## The LRU itself (100,000 keys, ns per operation; a plain Map beside it)

| operation | ns |
|---|---|
${micro.map((m) => `| ${m.op} | ${m.ns.toFixed(0)} |`).join('\n')}
`;
writeFileSync(OUT, md);
console.log(md);
