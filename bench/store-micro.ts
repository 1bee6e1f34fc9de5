// Store micro-benchmark: hotpath's native feature store against a plain TypeScript
// implementation (bench/ts-store.ts) on the same workload, in the same run.
//
//   npm run bench:store                      # 1M entities, 10M events, 2 runs (~3-4 min)
//   npm run bench:store -- --entities 100000 --events 1000000 --runs 1   # quick
//
// The parent process runs a small equivalence check of the two engines, then spawns one
// child process per engine and phase (pinned to one CPU with taskset unless --cpu none),
// so that one engine's heap and RSS never pollute the other's numbers. Each child prints
// its measurements as one `RESULT {json}` line; the parent prints a table and writes it as
// markdown to --out (default bench/results/<date>-store-micro.md). See bench/README.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { FeatureStore, hashIds } from '../src/native/binding.js';
import { hotpathChild, tsChild } from './store-micro-children.js';
import { opt, N, E, BATCH, READ_BATCH, ZIPF_S, SEED, READ_MS, TRIALS, SHARDS, TILE_MS, MERCHANTS, log, sizedSpec, makeWorkload, idsOf, keyColumn, batchesOfIds } from './store-micro-env.js';
import { TsFeatureStore, WIDTH as TS_WIDTH } from './ts-store.js';

// ---------------------------------------------------------------------------------------
// Parent: equivalence check (in process, small), children, report

interface Check {
  entities: number;
  events: number;
  maxRelErr: Record<string, number>;
  distinctMeanAbsRelErr: number;
  ok: boolean;
}

function equivalenceCheck(): Check {
  const n = 5000;
  const ev = 100_000;
  const w = makeWorkload(n, ev, 'uniform', SEED + 3);
  const ids = idsOf('c', n);
  const hp = FeatureStore.create(sizedSpec(n).spec);
  const ts = new TsFeatureStore();
  const keys = keyColumn(hashIds(ids), w.idx);
  const batches = batchesOfIds(ids, w.idx, BATCH);
  for (let lo = 0, b = 0; lo < ev; lo += BATCH, b++) {
    const hi = Math.min(lo + BATCH, ev);
    hp.ingest(0, [keys.subarray(lo, hi)], w.ts.subarray(lo, hi), w.values.subarray(2 * lo, 2 * hi));
    ts.ingest(batches[b], w.ts.subarray(lo, hi), w.values.subarray(2 * lo, 2 * hi));
  }
  const width = hp.layout(0).width;
  if (width !== TS_WIDTH) throw new Error(`layout width ${width} != TS width ${TS_WIDTH}`);
  const names = ['count_10m', 'count_1h', 'sum_1h', 'mean_1h', 'max_1h', 'std_1h', 'distinct_1h', 'last', 'last_n[0]', 'last_n[1]', 'last_n[2]', 'last_n[3]', 'last_n[4]', 'ewm_10m'];
  const maxRel: Record<string, number> = Object.fromEntries(names.map((k) => [k, 0]));
  const a = new Float64Array(width);
  const b = new Float64Array(width);
  let dsum = 0;
  // Read at the end of the data and 20 minutes later (part of the hour has slid out).
  for (const now of [w.tEnd, w.tEnd + 20 * 60_000]) {
    for (const id of ids) {
      hp.read(0, id, now, a);
      ts.read(id, now, b);
      for (let f = 0; f < width; f++) {
        if (Number.isNaN(a[f]) && Number.isNaN(b[f])) continue;
        const rel = Math.abs(a[f] - b[f]) / Math.max(1e-12, Math.abs(b[f]));
        if (f === 6) dsum += rel;
        else maxRel[names[f]] = Math.max(maxRel[names[f]], Number.isNaN(rel) ? Infinity : rel);
      }
    }
  }
  delete maxRel.distinct_1h;
  const ok = Object.entries(maxRel).every(([k, v]) => v <= (k === 'std_1h' ? 1e-6 : 1e-9));
  return { entities: n, events: ev, maxRelErr: maxRel, distinctMeanAbsRelErr: dsum / (2 * n), ok };
}

type Result = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function runChild(engine: string, phase: string): Result {
  const script = fileURLToPath(import.meta.url);
  const nodeArgs = [...process.execArgv];
  if (engine === 'ts') nodeArgs.push('--max-old-space-size=16384');
  const childArgs = [
    ...nodeArgs, script, '--engine', engine, '--phase', phase, '--entities', String(N), '--events', String(E),
    '--batch', String(BATCH), '--read-batch', String(READ_BATCH), '--zipf-s', String(ZIPF_S), '--seed', String(SEED),
    '--read-ms', String(READ_MS),
  ];
  const pinned = opt.cpu !== 'none';
  const cmd = pinned ? 'taskset' : process.execPath;
  const args = pinned ? ['-c', opt.cpu!, process.execPath, ...childArgs] : childArgs;
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`child ${engine} ${phase} failed (status ${r.status}): ${r.stdout}`);
  const res = JSON.parse(line.slice(7)) as Result;
  res.wallSeconds = (performance.now() - t0) / 1000;
  return res;
}

function machine(): Record<string, string> {
  let model = cpus()[0]?.model ?? 'unknown';
  let famModel = '';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? model;
    const fam = /^cpu family\s*:\s*(\d+)$/m.exec(info)?.[1];
    const mod = /^model\s*:\s*(\d+)$/m.exec(info)?.[1];
    if (fam) famModel = ` (family ${fam}, model ${mod}${fam === '25' && mod === '17' ? ' = Zen 4' : ''})`;
  } catch {
    /* not Linux */
  }
  let hyp = '';
  try {
    if (/hypervisor/.test(readFileSync('/proc/cpuinfo', 'utf8'))) hyp = ', virtualized';
  } catch {
    /* ignore */
  }
  const git = (args: string[]) => spawnSync('git', args, { encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git(['rev-parse', '--short', 'HEAD']);
  const nativeHead = git(['log', '-1', '--format=%h', '--', 'native', 'binding.gyp']);
  const dirty = git(['status', '--porcelain', '--', 'native']) !== '';
  return {
    source: head
      ? `git HEAD ${head}, last commit touching native/: ${nativeHead}${dirty ? ' (native/ has uncommitted changes at report time)' : ''}`
      : 'unknown',
    cpu: `${model}${famModel}`,
    cores: `${cpus().length}${hyp}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    node: process.version,
    v8: process.versions.v8,
    date: new Date().toISOString(),
    loadavg: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

// Formatting.
const M = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;
const K = (x: number) => (x >= 1e6 ? M(x) : `${(x / 1e3).toFixed(0)} k/s`);
const B = (x: number) => `${x.toFixed(0)} B`;
const X = (x: number) => `${x.toFixed(2)}x`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const spread = (xs: number[]) => (xs.length < 2 ? '' : `±${((100 * (Math.max(...xs) - Math.min(...xs))) / 2 / mean(xs)).toFixed(1)}%`);

function report(runs: Result[][], check: Check, totalSeconds: number): string {
  // runs[r] = [hp main, hp strings, hp zipf?, ts main, ts zipf?]
  const get = (engine: string, phase: string) => runs.map((rs) => rs.find((r) => r.engine === engine && r.phase === phase)).filter(Boolean) as Result[];
  const hpMain = get('hotpath', 'main');
  const hpStr = get('hotpath', 'ingest-strings');
  const hpZipf = get('hotpath', 'ingest-zipf');
  const tsMain = get('ts', 'main');
  const tsZipf = get('ts', 'ingest-zipf');
  const vals = (rs: Result[], f: (r: Result) => number) => rs.map(f);

  type Row = [string, string, number[], number[] | null, (x: number) => string, ((h: number) => boolean) | null, string];
  const rows: Row[] = [];
  const add = (
    metric: string, target: string, h: number[], t: number[] | null, fmt: (x: number) => string,
    pass: ((h: number) => boolean) | null, note = '',
  ) => rows.push([metric, target, h, t, fmt, pass, note]);

  add('Ingest, batch API, pre-hashed keys (events/s, 1 core)', '>= 5 M/s', vals(hpMain, (r) => r.ingest.eventsPerSec), vals(tsMain, (r) => r.ingest.eventsPerSec), M, (h) => h >= 5e6, `uniform keys; whole fill (${hpMain[0]?.live ?? N} inserts + updates)`);
  add('  same, second half of the fill only', '', vals(hpMain, (r) => r.ingest.secondHalfEventsPerSec), vals(tsMain, (r) => r.ingest.secondHalfEventsPerSec), M, null, 'table ~fully populated: updates');
  add('Ingest, batch API, string-id arrays (events/s)', '', vals(hpStr, (r) => r.ingest.eventsPerSec), vals(tsMain, (r) => r.ingest.eventsPerSec), M, null, 'the HTTP path; TS column: same TS run (it always takes strings)');
  if (hpZipf.length) add(`Ingest, pre-hashed keys, zipf s=${ZIPF_S} (events/s)`, '', vals(hpZipf, (r) => r.ingest.eventsPerSec), vals(tsZipf, (r) => r.ingest.eventsPerSec), M, null, `${hpZipf[0].live} distinct entities touched`);
  add('Single-entity reads, string ids (reads/s)', '>= 2 M/s', vals(hpMain, (r) => r.readString.median), vals(tsMain, (r) => r.readString.median), K, (h) => h >= 2e6, 'FeatureStore.read(0, id, now, out), random ids');
  add('  same, BigInt-hash ids', '', vals(hpMain, (r) => r.readBigInt.median), null, K, null, '');
  add('  same, raw addon call (diagnostic)', '', vals(hpMain, (r) => r.readStringRaw.median), null, K, null, 'no wrapper closure / result object');
  add('  same, absent id (diagnostic)', '', vals(hpMain, (r) => r.readAbsentString.median), null, K, null, 'N-API call + hash + probe + template row');
  add(`Batched reads, readMany ${READ_BATCH} hashed ids (entities/s)`, '>= 10 M/s', vals(hpMain, (r) => r.readManyHashed.median), vals(tsMain, (r) => r.readManyStrings.median), K, (h) => h >= 10e6, 'TS column: its readMany over string ids');
  add(`  same, ${READ_BATCH} string ids`, '', vals(hpMain, (r) => r.readManyStrings.median), vals(tsMain, (r) => r.readManyStrings.median), K, null, '');
  add('Bytes per entity, stats().bytesPerEntity', '<= 1024 B', vals(hpMain, (r) => r.stats.bytesPerEntity), null, B, (h) => h <= 1024, 'compact row + index share at capacity + the live rows\' share of ext blocks');
  add('Bytes per entity, allocatedBytes / live', '<= 1024 B', vals(hpMain, (r) => r.stats.allocatedBytes / r.stats.live), null, B, (h) => h <= 1024, 'index + compact rows used + ext blocks used (reserved per shard, committed on first use)');
  add('  rows promoted to an ext block (wire form) / live', '', vals(hpMain, (r) => (100 * (r.stats.promoted ?? 0)) / r.stats.live), null, (x) => `${x.toFixed(2)}%`, null, `compact row ${hpMain[0]?.stats.memRowBytes ?? '?'} B in memory; a promoted row adds ${hpMain[0]?.stats.rowBytes ?? '?'} B`);
  add('Bytes per entity, RSS growth / live (after gc)', '<= 1024 B', vals(hpMain, (r) => r.rssGrowthPerEntity), vals(tsMain, (r) => r.rssGrowthPerEntity), B, (h) => h <= 1024, '');
  add('TS: heapUsed growth / entity (after gc)', '', [], vals(tsMain, (r) => r.heapGrowthPerEntity), B, null, 'entity key strings excluded (held by the benchmark)');
  add('Full GC (global.gc()) with the filled store live, ms', '', vals(hpMain, (r) => r.gcMs), vals(tsMain, (r) => r.gcMs), (x) => `${x.toFixed(0)} ms`, null, 'blocking pause; V8 heap only');

  const ratio = (h: number[], t: number[]) => h.map((x, i) => x / t[i]);
  const memRatio = ratio(vals(hpMain, (r) => r.rssGrowthPerEntity), vals(tsMain, (r) => r.heapGrowthPerEntity));
  const memRatioRss = ratio(vals(hpMain, (r) => r.rssGrowthPerEntity), vals(tsMain, (r) => r.rssGrowthPerEntity));
  const ingRatio = ratio(vals(hpMain, (r) => r.ingest.eventsPerSec), vals(tsMain, (r) => r.ingest.eventsPerSec));
  const ingStrRatio = ratio(vals(hpStr, (r) => r.ingest.eventsPerSec), vals(tsMain, (r) => r.ingest.eventsPerSec));
  const readRatio = ratio(vals(hpMain, (r) => r.readString.median), vals(tsMain, (r) => r.readString.median));
  const manyRatio = ratio(vals(hpMain, (r) => r.readManyHashed.median), vals(tsMain, (r) => r.readManyStrings.median));
  const ratios: [string, string, number[], boolean, string][] = [
    ['Memory: hotpath RSS/entity ÷ TS heapUsed/entity', '<= 0.25', memRatio, memRatio.every((x) => x <= 0.25), ''],
    ['Memory: hotpath RSS/entity ÷ TS RSS/entity', '<= 0.25', memRatioRss, memRatioRss.every((x) => x <= 0.25), ''],
    ['Ingest speed: hotpath (hashed) ÷ TS', '>= 10x', ingRatio, ingRatio.every((x) => x >= 10), ''],
    ['Ingest speed: hotpath (string ids) ÷ TS', '>= 10x', ingStrRatio, ingStrRatio.every((x) => x >= 10), ''],
    ['Single read speed: hotpath ÷ TS', '>= 10x', readRatio, readRatio.every((x) => x >= 10), ''],
    ['Batched read speed: hotpath ÷ TS', '>= 10x', manyRatio, manyRatio.every((x) => x >= 10), ''],
  ];

  const nruns = runs.length;
  const cell = (xs: number[] | null, fmt: (x: number) => string) => (!xs || xs.length === 0 ? '–' : fmt(mean(xs)) + (xs.length > 1 ? ` (${spread(xs)})` : ''));
  const lines: string[] = [];
  const mach = machine();
  lines.push(`# Store micro-benchmark, ${mach.date.slice(0, 10)}`, '');
  const argv = process.argv.slice(2).filter((a, i, all) => a !== '--json' && all[i - 1] !== '--json' && a !== '--out' && all[i - 1] !== '--out');
  lines.push(`Command: \`npm run bench:store${argv.length ? ' -- ' + argv.join(' ') : ''}\` (${N} entities, ${E} events; total ${totalSeconds.toFixed(0)} s wall)`, '');
  lines.push('| Machine | |', '|---|---|');
  lines.push(`| CPU | ${mach.cpu} |`, `| Cores | ${mach.cores} |`, `| Memory | ${mach.memory} |`, `| Node | ${mach.node} (V8 ${mach.v8}) |`, `| Date | ${mach.date} |`, `| Load average at end | ${mach.loadavg} |`);
  lines.push(`| Source | ${mach.source} |`);
  lines.push(`| Children pinned | ${opt.cpu === 'none' ? 'no' : 'taskset -c ' + opt.cpu + ' (one core: GC helper threads share it)'} |`);
  const builds = [...new Set(runs.flat().filter((r) => r.engine === 'hotpath').map((r) => r.build as string))];
  lines.push(`| hotpath.node build | ${builds.join('; ')}${builds.length > 1 ? ' — **the addon changed during the benchmark**' : ''} |`, '');
  lines.push(`Values are the mean of ${nruns} run${nruns > 1 ? 's' : ''}${nruns > 1 ? '; (±x%) is half the run-to-run range' : ''}; read rates are the median of ${TRIALS} trials of ${READ_MS} ms within a run.`, '');
  lines.push('| Metric | Target | hotpath | TS (Map of objects) | Pass | Notes |', '|---|---|---|---|---|---|');
  for (const [metric, target, h, t, fmt, pass, note] of rows) {
    const p = pass && h.length ? (h.every(pass) ? 'pass' : '**miss**') : '';
    const r = [metric, target, cell(h, fmt), cell(t, fmt), p, note];
    lines.push(`| ${r.join(' | ')} |`);
  }
  lines.push('', '| Ratio | Target | Value | Pass |', '|---|---|---|---|');
  for (const [name, target, xs, ok] of ratios) lines.push(`| ${name} | ${target} | ${cell(xs, X)} | ${ok ? 'pass' : '**miss**'} |`);

  if (nruns > 1) {
    lines.push('', '### Per run', '', `| Metric | ${runs.map((_, i) => `run ${i + 1}`).join(' | ')} |`, `|---|${runs.map(() => '---|').join('')}`);
    const per = (name: string, xs: number[], fmt: (x: number) => string) => lines.push(`| ${name} | ${xs.map(fmt).join(' | ')} |`);
    per('hotpath ingest hashed', vals(hpMain, (r) => r.ingest.eventsPerSec), M);
    per('hotpath ingest strings', vals(hpStr, (r) => r.ingest.eventsPerSec), M);
    if (hpZipf.length) per('hotpath ingest zipf', vals(hpZipf, (r) => r.ingest.eventsPerSec), M);
    per('hotpath read string', vals(hpMain, (r) => r.readString.median), K);
    per('hotpath read BigInt', vals(hpMain, (r) => r.readBigInt.median), K);
    per('hotpath readMany hashed', vals(hpMain, (r) => r.readManyHashed.median), K);
    per('hotpath RSS B/entity', vals(hpMain, (r) => r.rssGrowthPerEntity), B);
    per('TS ingest', vals(tsMain, (r) => r.ingest.eventsPerSec), M);
    if (tsZipf.length) per('TS ingest zipf', vals(tsZipf, (r) => r.ingest.eventsPerSec), M);
    per('TS read', vals(tsMain, (r) => r.readString.median), K);
    per('TS readMany', vals(tsMain, (r) => r.readManyStrings.median), K);
    per('TS heap B/entity', vals(tsMain, (r) => r.heapGrowthPerEntity), B);
  }

  // Row layout (version 3, native/core/row_layout.cc). The state outside the tile ring has
  // fixed sizes; the ring is what remains of stats().rowBytes, split into its payload (head
  // epoch, occupancy bitmap, the tiles' u32 counts in one array padded to 8 B, per tile an
  // f64 each for sum, M2 and max) and whatever else the layout adds, shown as padding
  // (0 for this layout: a non-zero line means these sizes are out of date).
  const h0 = hpMain[0];
  const nt = 60 + Math.ceil(h0.maxFutureMs / TILE_MS); // ring: window + ceil(max_future / tile)
  const align8 = (x: number) => (x + 7) & ~7;
  const fixed: [string, number][] = [
    ['header (id hash, newest ts, write clock)', 24],
    ['distinct merchants: sliding HLL p=6 (epochs 16 + register bitmap 8 + 6 x 64)', align8(16 + 8 + 6 * 64)],
    ['last amount (ts, value)', 16],
    ['last_5 merchants (len + 5 x (ts, value))', 8 + 16 * 5],
    ['ewm amount (t_ref, sum, weight)', 24],
  ];
  const ring = h0.stats.rowBytes - fixed.reduce((a, [, b]) => a + b, 0);
  const ringParts: [string, number][] = [
    ['tile ring tx/1m: head epoch', 8],
    [`tile ring: occupancy bitmap (${nt} bits)`, 8 * Math.ceil(nt / 64)],
    [`tile ring: counts u32 x ${nt} tiles, one array padded to 8 B (count_10m, count_1h, mean, std)`, align8(4 * nt)],
    [`tile ring: sum f64 x ${nt} (sum, mean, std)`, 8 * nt],
    [`tile ring: M2 f64 x ${nt} (std)`, 8 * nt],
    [`tile ring: max f64 x ${nt} (max)`, 8 * nt],
  ];
  ringParts.push([`tile ring: padding / alignment (${((ring - ringParts.reduce((a, [, b]) => a + b, 0)) / nt).toFixed(1)} B per tile)`, ring - ringParts.reduce((a, [, b]) => a + b, 0)]);
  const parts: [string, number][] = [fixed[0], ...ringParts, ...fixed.slice(1)];
  const rowSum = parts.reduce((a, [, b]) => a + b, 0);
  lines.push('', '### Where the bytes go (one row)', '', '| Part | Bytes | Share |', '|---|---|---|');
  for (const [p, b] of parts) lines.push(`| ${p} | ${b} | ${((100 * b) / rowSum).toFixed(1)}% |`);
  // bytesPerEntity = compact row + index share + the live rows' share of ext blocks (integer division)
  const memRow = h0.stats.memRowBytes ?? h0.stats.rowBytes;
  const extShare = Math.floor(((h0.stats.promoted ?? 0) * h0.stats.rowBytes) / Math.max(1, h0.stats.live));
  const idxPerEntity = h0.stats.bytesPerEntity - memRow - extShare;
  lines.push(`| **row total, wire form** (stats().rowBytes: snapshots, exportRows; in memory a promoted row's ext block) | ${rowSum} | 100% |`);
  lines.push(`| row in memory, compact form (stats().memRowBytes: header + ext ref, a 16-slot sparse ring, a 16-entry sparse HLL, the other states) | ${memRow} | |`);
  lines.push(`| ext blocks' share per live entity (${h0.stats.promoted ?? 0} promoted of ${h0.stats.live}) | ${extShare} | |`);
  lines.push(`| index share (16 B slots, ${h0.stats.capacity} capacity, load ${(h0.stats.live / (idxPerEntity * h0.stats.capacity / 16)).toFixed(2)} at ${h0.stats.live} live) | ${idxPerEntity} | |`, '');
  lines.push(`Store budget: \`memory: ${h0.memoryBytes}\` (${(h0.memoryBytes / 2 ** 30).toFixed(2)} GiB) for ${N} entities, ${SHARDS} shards; evictions during the fill: ${h0.stats.evictedLru} LRU, ${h0.stats.evictedTtl} TTL. Entities live after the fill: ${h0.live} (uniform keys miss ~N·e^-(E/N)).`, '');

  lines.push('### Equivalence check (same process, both engines)', '');
  lines.push(`${check.entities} entities, ${check.events} events, every entity read at the end of the data and 20 min later. Max relative difference hotpath vs TS per output: ` +
    Object.entries(check.maxRelErr).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ') +
    `. Distinct (hotpath sliding HLL p=6 vs exact Set): mean |relative error| ${(100 * check.distinctMeanAbsRelErr).toFixed(1)}%. ${check.ok ? 'OK.' : '**MISMATCH.**'}`, '');

  lines.push('### Method', '');
  lines.push(
    `- Feature set (built with \`compileConfig\` from a config object): stream \`tx\` keyed by \`user\`, fields amount:number, merchant:category; count 10m, count 1h, sum/mean/max/stddev amount 1h (1-minute tiles, one shared ring of ${nt} tiles: 60 + ceil(max_future ${hpMain[0].maxFutureMs} ms / tile)), distinct merchant 1h (HLL p=6, 1-minute tiles), last amount, last_n merchant n=5, ewm amount half-life 10m. Output width 14.`,
    `- Workload: ids \`u0\`..\`u${N - 1}\`; ${E} events, timestamps increasing evenly over the hour before the start of the run; keys uniform (main) or zipf s=${ZIPF_S} (rank 0 hottest); amount uniform 0..1000.00, merchant uniform over ${MERCHANTS} ids; seed ${SEED}.`,
    `- Each engine and phase runs in its own child process (\`node --expose-gc --import tsx bench/store-micro.ts --engine hotpath|ts --phase main|ingest-strings|ingest-zipf\`), after a warm-up on a separate 20k-entity store. The TS child runs with --max-old-space-size=16384.`,
    `- Ingest: ${Math.ceil(E / BATCH)} calls of ${BATCH} events, timed per call (hashing ids with hashIds and building key columns happen before timing; for the string-id phase the per-batch arrays of id strings are built before timing, as the HTTP path has them after decoding). Events/s is the time of the ingest calls only, single thread.`,
    `- Single reads: \`store.read(0, id, now, out)\` over a pool of 2^20 random ids; batched: \`readMany\` with ${READ_BATCH} random ids per call (hashed BigUint64Array; string arrays for the second row), out ${READ_BATCH} x 14. now = end of the event data, so windows are full.`,
    `- Memory: process RSS and heapUsed right before creating the store and after the fill, each after a full GC (\`global.gc()\`, its pause is reported too), divided by the entities live after the fill; hotpath also from \`store.stats(0)\`. TS heap growth counts the Map, entity objects, tile rings, Sets and arrays; the id strings themselves are held by the benchmark before the baseline, so they are not counted (about +24 B/entity for ids like \`u123456\` if the store owned them).`,
    `- TS baseline (bench/ts-store.ts): Map<string, EntityState>; per entity one ring array of 60 lazily created tile objects {epoch, count, sum, sumSq, max, merchants: Set} shared by all 1-minute windows; distinct = exact Set per tile, unioned at read; last_n = array of 5 {ts, merchant} objects; ewm as in hotpath.`,
  );
  return lines.join('\n') + '\n';
}

function printTable(md: string): void {
  process.stdout.write('\n' + md);
}

async function main(): Promise<void> {
  if (opt.engine) {
    const phase = opt.phase ?? 'main';
    const result = opt.engine === 'hotpath' ? hotpathChild(phase) : opt.engine === 'ts' ? tsChild(phase) : null;
    if (!result) throw new Error(`unknown engine ${opt.engine}`);
    process.stdout.write('RESULT ' + JSON.stringify(result) + '\n');
    return;
  }
  const t0 = performance.now();
  log(`entities ${N}, events ${E}, batch ${BATCH}, runs ${opt.runs}, cpu ${opt.cpu}`);
  const check = equivalenceCheck();
  log(`equivalence check ${check.ok ? 'ok' : 'MISMATCH'}: ${JSON.stringify(check.maxRelErr)} distinct ${(100 * check.distinctMeanAbsRelErr).toFixed(1)}%`);
  const runs: Result[][] = [];
  for (let r = 0; r < Number(opt.runs); r++) {
    const rs: Result[] = [];
    rs.push(runChild('hotpath', 'main'));
    rs.push(runChild('hotpath', 'ingest-strings'));
    if (!opt['no-zipf']) rs.push(runChild('hotpath', 'ingest-zipf'));
    rs.push(runChild('ts', 'main'));
    if (!opt['no-zipf'] && opt['ts-zipf']) rs.push(runChild('ts', 'ingest-zipf'));
    log(`run ${r + 1} done: ${rs.map((x) => `${x.engine}/${x.phase} ${x.wallSeconds.toFixed(0)}s`).join(', ')}`);
    runs.push(rs);
  }
  const md = report(runs, check, (performance.now() - t0) / 1000);
  printTable(md);
  const out = opt.out ?? fileURLToPath(new URL(`./results/${new Date().toISOString().slice(0, 10)}-store-micro.md`, import.meta.url));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, md);
  if (opt.json) writeFileSync(opt.json, JSON.stringify({ check, runs }, null, 1));
  log(`wrote ${relative(process.cwd(), out)}`);
}

await main();
