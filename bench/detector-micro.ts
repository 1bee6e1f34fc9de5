// Detector micro-benchmark: points per second through each streaming detector
// (src/native/detectors.ts) on one core, per stream (one detector) and keyed (AnomalyTable),
// in batches (one native call per batch) and one call per point; plain TypeScript versions
// of EW and Page-Hinkley run in the same process as the peer.
//
//   node --import tsx bench/detector-micro.ts [--scale 1] [--out bench/results/<date>-detector-micro.md]
//
// Each case runs 3 trials after a warm-up trial and reports the best (the least disturbed
// by other work on the machine); the load average is recorded with the table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';

import { hashIds } from '../src/native/binding.js';
import { mulberry32 } from '../src/bench/random.js';
import { AnomalyDetector, AnomalyTable, DriftDetector } from '../src/native/detectors.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SCALE = Number(opt('scale', '1'));
const DATE = new Date().toISOString().slice(0, 10);
const OUT = opt('out', `bench/results/${DATE}-detector-micro.md`);


interface Row {
  group: string;
  name: string;
  dims: number;
  batch: string;
  points: number;
  perSec: number;
}
const rows: Row[] = [];

/** Runs fn (which processes `points` points) for a warm-up and 3 trials; keeps the best. */
function measure(group: string, name: string, dims: number, batch: string, points: number, fn: () => void): void {
  fn();
  let best = Infinity;
  for (let t = 0; t < 3; t++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const row = { group, name, dims, batch, points, perSec: points / best };
  rows.push(row);
  console.log(`${group.padEnd(9)} ${name.padEnd(44)} dims ${String(dims).padStart(2)} batch ${batch.padStart(5)}  ${(row.perSec / 1e6).toFixed(2).padStart(7)} M/s  ${(1e9 / row.perSec).toFixed(0).padStart(6)} ns/point`);
}

const r = mulberry32(1);
const BATCH = 1000;

// ---------------------------------------------------------------- anomaly, per stream

for (const dims of [1, 2, 10]) {
  const n = Math.round((dims <= 2 ? 1_000_000 : 300_000) * SCALE);
  const xs = Float64Array.from({ length: n * dims }, () => 0.3 + 0.4 * r());
  const out = new Float64Array(BATCH);
  const hst = new AnomalyDetector('hst', { dims });
  measure('anomaly', 'hst scoreLearnMany (10 trees, height 8, window 250)', dims, String(BATCH), n, () => {
    for (let i = 0; i + BATCH <= n; i += BATCH) hst.scoreLearnMany(xs.subarray(i * dims, (i + BATCH) * dims), BATCH, out);
  });
  if (dims === 1) {
    measure('anomaly', 'hst scoreLearn(number)', 1, '1', n, () => {
      for (let i = 0; i < n; i++) hst.scoreLearn(xs[i]);
    });
    measure('anomaly', 'hst score(number), no learning', 1, '1', n, () => {
      for (let i = 0; i < n; i++) hst.score(xs[i]);
    });
  } else if (dims === 10) {
    const pt = new Float64Array(dims);
    measure('anomaly', 'hst scoreLearn(Float64Array)', dims, '1', n, () => {
      for (let i = 0; i < n; i++) {
        pt.set(xs.subarray(i * dims, (i + 1) * dims));
        hst.scoreLearn(pt);
      }
    });
  }
}

{
  const n = Math.round(1_000_000 * SCALE);
  const xs = Float64Array.from({ length: n }, () => r() * 100);
  const out = new Float64Array(BATCH);
  for (const [kind, params, label] of [
    ['robust_z', { window: 256 }, 'robust_z (window 256)'],
    ['ew', { halfLife: 100 }, 'ew (half-life 100)'],
  ] as const) {
    const d = new AnomalyDetector(kind, params);
    measure('anomaly', `${label} scoreLearnMany`, 1, String(BATCH), n, () => {
      for (let i = 0; i + BATCH <= n; i += BATCH) d.scoreLearnMany(xs.subarray(i, i + BATCH), BATCH, out);
    });
    measure('anomaly', `${label} scoreLearn(number)`, 1, '1', n, () => {
      for (let i = 0; i < n; i++) d.scoreLearn(xs[i]);
    });
  }
  // Peer: the same EW score in plain TypeScript.
  const alpha = 1 - 2 ** (-1 / 100);
  let mean = 0;
  let v = 0;
  let seen = 0;
  let sink = 0;
  measure('peer', 'ew in plain TypeScript (same formula)', 1, '1', n, () => {
    for (let i = 0; i < n; i++) {
      const x = xs[i];
      sink += seen < 30 ? 0 : Math.abs(x - mean) / Math.sqrt(v);
      if (seen === 0) mean = x;
      else {
        const diff = x - mean;
        mean += alpha * diff;
        v = (1 - alpha) * (v + alpha * diff * diff);
      }
      seen++;
    }
  });
  if (sink === -1) console.log(sink);
}

// ---------------------------------------------------------------- anomaly, keyed

for (const [kind, entities, window, label] of [
  ['ew', 100_000, 0, 'ew'],
  ['robust_z', 10_000, 256, 'robust_z (window 256)'],
  ['robust_z', 1_000, 64, 'robust_z (window 64)'],
] as const) {
  const n = Math.round(1_000_000 * SCALE);
  const ids = Array.from({ length: entities }, (_, i) => `user-${i}`);
  const hashes = hashIds(ids);
  const keys = BigUint64Array.from({ length: n }, () => hashes[Math.floor(r() * entities)]);
  const strKeys = Array.from({ length: BATCH * 100 }, () => ids[Math.floor(r() * entities)]);
  const xs = Float64Array.from({ length: n }, () => r() * 100);
  const out = new Float64Array(BATCH);
  const t = new AnomalyTable(kind, kind === 'ew' ? { halfLife: 100 } : { window }, entities);
  measure('keyed', `${label}, ${entities} entities, BigUint64Array keys`, 1, String(BATCH), n, () => {
    for (let i = 0; i + BATCH <= n; i += BATCH) t.scoreLearnMany(keys.subarray(i, i + BATCH), xs.subarray(i, i + BATCH), BATCH, out);
  });
  const m = strKeys.length;
  measure('keyed', `${label}, ${entities} entities, string ids`, 1, String(BATCH), m, () => {
    for (let i = 0; i + BATCH <= m; i += BATCH) t.scoreLearnManyIds(strKeys.slice(i, i + BATCH), xs.subarray(i, i + BATCH), BATCH, out);
  });
}

// ---------------------------------------------------------------- drift

{
  const n = Math.round(2_000_000 * SCALE);
  const xs = Float64Array.from({ length: n }, () => (r() < 0.5 ? 0 : 1));
  for (const kind of ['adwin', 'page_hinkley'] as const) {
    const d = new DriftDetector(kind);
    measure('drift', `${kind} updateMany`, 1, String(BATCH), n, () => {
      for (let i = 0; i + BATCH <= n; i += BATCH) d.updateMany(xs.subarray(i, i + BATCH), BATCH);
    });
    measure('drift', `${kind} update(number)`, 1, '1', n, () => {
      for (let i = 0; i < n; i++) d.update(xs[i]);
    });
  }
  // Peer: Page-Hinkley (both sides) in plain TypeScript.
  let nn = 0;
  let mean = 0;
  let up = 0;
  let down = 0;
  let minUp = Infinity;
  let maxDown = -Infinity;
  let alarms = 0;
  measure('peer', 'page_hinkley in plain TypeScript (same formula)', 1, '1', n, () => {
    for (let i = 0; i < n; i++) {
      const x = xs[i];
      nn++;
      mean += (x - mean) / nn;
      const dev = x - mean;
      up = 0.9999 * up + dev - 0.005;
      down = 0.9999 * down + dev + 0.005;
      if (up < minUp) minUp = up;
      if (down > maxDown) maxDown = down;
      if (nn >= 30 && (up - minUp > 50 || maxDown - down > 50)) {
        alarms++;
        nn = 0;
        mean = up = down = 0;
        minUp = Infinity;
        maxDown = -Infinity;
      }
    }
  });
  if (alarms === -1) console.log(alarms);
}

// ---------------------------------------------------------------- report

const fmt = (v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : `${(v / 1e3).toFixed(0)} k`);
const cpu = cpus()[0]?.model ?? 'unknown';
const md = [
  `# Detector micro-benchmark, ${DATE}`,
  '',
  `Command: \`node --import tsx bench/detector-micro.ts${SCALE !== 1 ? ` --scale ${SCALE}` : ''}\``,
  '',
  `Machine: ${cpu}, ${cpus().length} cores (shared with other work: load average ${loadavg().map((l) => l.toFixed(2)).join(', ')} at the end), Node ${process.version}. One thread.`,
  '',
  'Method: each case runs once to warm up, then 3 trials; the best is reported. Points are uniform random',
  '(HST: in [0.3, 0.7] per feature, limits [0, 1]); keyed cases draw entities uniformly. "batch 1000" is one',
  'native call per 1000 points (scoreLearnMany / updateMany); "batch 1" is one call per point. Peers are',
  'the same formula in plain TypeScript in the same process.',
  '',
  '| group | case | dims | batch | points/s | ns/point |',
  '| --- | --- | ---: | ---: | ---: | ---: |',
  ...rows.map((x) => `| ${x.group} | ${x.name} | ${x.dims} | ${x.batch} | ${fmt(x.perSec)} | ${(1e9 / x.perSec).toFixed(0)} |`),
  '',
].join('\n');
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, md);
console.log(`\nwrote ${OUT}`);
