// The drift-detection reproduction of River's examples, over many seeds: 1,000 draws
// uniform from {0, 1} then 1,000 from {4, ..., 7}; ADWIN (delta 0.002) and Page-Hinkley
// (threshold 50, delta 0.005, alpha 1 - 1e-4, 30 instances) run over each stream. River's
// docstrings report, for random.Random(12345): ADWIN at index 1023 (23 items after the
// change), Page-Hinkley at 1006 (6 after).
//
// The streams come from a port of CPython's random module (MT19937 seeded by
// init_by_array, random() = genrand_res53, choices() = population[floor(random() * n)]),
// so seed s here is exactly River's random.Random(s) stream and any seed can be checked
// against River itself.
import { DriftDetector, type AdwinOptions, type DriftKind, type PageHinkleyOptions } from '../native/detectors.js';

/** CPython's random.Random(seed) for a non-negative integer seed below 2^53. */
export class PyRandom {
  readonly #mt = new Uint32Array(624);
  #i = 625;

  constructor(seed: number) {
    // random.seed(int): init_by_array with the seed's 32-bit words, least significant first.
    const key: number[] = [];
    let s = Math.abs(Math.trunc(seed));
    do {
      key.push(s % 2 ** 32);
      s = Math.floor(s / 2 ** 32);
    } while (s > 0);
    this.#initByArray(key);
  }

  #initGenrand(s: number): void {
    const mt = this.#mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < 624; i++) mt[i] = (Math.imul(1812433253, mt[i - 1] ^ (mt[i - 1] >>> 30)) + i) >>> 0;
    this.#i = 624;
  }

  #initByArray(key: number[]): void {
    const mt = this.#mt;
    this.#initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(624, key.length); k > 0; k--) {
      mt[i] = ((mt[i] ^ Math.imul(mt[i - 1] ^ (mt[i - 1] >>> 30), 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= 624) {
        mt[0] = mt[623];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = 623; k > 0; k--) {
      mt[i] = ((mt[i] ^ Math.imul(mt[i - 1] ^ (mt[i - 1] >>> 30), 1566083941)) - i) >>> 0;
      i++;
      if (i >= 624) {
        mt[0] = mt[623];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  #next32(): number {
    const mt = this.#mt;
    if (this.#i >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.#i = 0;
    }
    let y = mt[this.#i++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** random.random(): 53 random bits in [0, 1). */
  random(): number {
    const a = this.#next32() >>> 5;
    const b = this.#next32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** random.choices(population, k=k) with equal weights. */
  choices<T>(population: readonly T[], k: number): T[] {
    const out: T[] = [];
    for (let i = 0; i < k; i++) out.push(population[Math.floor(this.random() * population.length)]);
    return out;
  }
}

/** River's example stream for a seed: rng.choices([0, 1], k=before) + rng.choices(range(4, 8), k=after). */
export function shiftStream(seed: number, before = 1000, after = 1000): Float64Array {
  const rng = new PyRandom(seed);
  return Float64Array.from([...rng.choices([0, 1], before), ...rng.choices([4, 5, 6, 7], after)]);
}

export interface DetectorRun {
  /** indices of every detection */
  detections: number[];
  /** first detection at or after the change, minus the change index; null when missed */
  delay: number | null;
  /** detections before the change */
  falseAlarms: number;
}

export function runDetector(kind: DriftKind, params: AdwinOptions | PageHinkleyOptions, xs: Float64Array, change: number): DetectorRun {
  const d = new DriftDetector(kind, params);
  const detections: number[] = [];
  for (let i = 0; i < xs.length; i++) if (d.update(xs[i])) detections.push(i);
  const first = detections.find((i) => i >= change);
  return { detections, delay: first === undefined ? null : first - change, falseAlarms: detections.filter((i) => i < change).length };
}

export interface DelaySummary {
  detector: string;
  params: string;
  seeds: number;
  /** over the seeds that detected the change */
  meanDelay: number;
  medianDelay: number;
  minDelay: number;
  maxDelay: number;
  /** false alarms before the change, summed over seeds, and how many seeds had any */
  falseAlarms: number;
  seedsWithFalseAlarms: number;
  misses: number;
  /** River's docstring delay for random.Random(12345), and ours on the same stream */
  riverDelay: number | null;
  ourDelayOnRiverStream: number | null;
}

export interface DriftEvalOptions {
  seeds?: number; // seeds 0 .. seeds-1 (default 100)
  before?: number;
  after?: number;
}

export interface DriftEvalDetector {
  name: string;
  kind: DriftKind;
  params: AdwinOptions | PageHinkleyOptions;
  /** River's reported delay on random.Random(12345), when this is River's configuration */
  riverDelay?: number;
}

/**
 * River's two configurations (its defaults: our runs are River's, item for item), then two
 * faster settings of the same detectors: ADWIN testing for a cut at every item instead of
 * every 32nd (clock 1), and a one-sided Page-Hinkley (mode up) with threshold 40.
 */
export const DRIFT_EVAL_DETECTORS: DriftEvalDetector[] = [
  { name: 'ADWIN', kind: 'adwin', params: { delta: 0.002 }, riverDelay: 23 },
  { name: 'Page-Hinkley', kind: 'page_hinkley', params: { threshold: 50, delta: 0.005, alpha: 1 - 1e-4, minInstances: 30 }, riverDelay: 6 },
  { name: 'ADWIN, clock 1', kind: 'adwin', params: { delta: 0.002, clock: 1 } },
  { name: 'Page-Hinkley, up, threshold 40', kind: 'page_hinkley', params: { threshold: 40, mode: 'up' } },
];

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function evaluateDrift(opts: DriftEvalOptions = {}, detectors: DriftEvalDetector[] = DRIFT_EVAL_DETECTORS): DelaySummary[] {
  const seeds = opts.seeds ?? 100;
  const before = opts.before ?? 1000;
  const after = opts.after ?? 1000;
  const streams = Array.from({ length: seeds }, (_, s) => shiftStream(s, before, after));
  const riverStream = shiftStream(12345, 1000, 1000);
  return detectors.map((d) => {
    const runs = streams.map((xs) => runDetector(d.kind, d.params, xs, before));
    const delays = runs.flatMap((r) => (r.delay === null ? [] : [r.delay]));
    return {
      detector: d.name,
      params: JSON.stringify(d.params),
      seeds,
      meanDelay: delays.reduce((a, b) => a + b, 0) / delays.length,
      medianDelay: median(delays),
      minDelay: Math.min(...delays),
      maxDelay: Math.max(...delays),
      falseAlarms: runs.reduce((a, r) => a + r.falseAlarms, 0),
      seedsWithFalseAlarms: runs.filter((r) => r.falseAlarms > 0).length,
      misses: runs.filter((r) => r.delay === null).length,
      riverDelay: d.riverDelay ?? null,
      ourDelayOnRiverStream: runDetector(d.kind, d.params, riverStream, 1000).delay,
    };
  });
}

/** The summaries as a Markdown table. */
export function driftTable(rows: DelaySummary[]): string {
  const f = (v: number | null) => (v === null ? '—' : Number.isInteger(v) ? String(v) : v.toFixed(2));
  const lines = [
    '| detector | River, seed 12345 | ours, seed 12345 | seeds | delay mean | median | min | max | false alarms before the change (seeds with any) | misses |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows)
    lines.push(
      `| ${r.detector} \`${r.params}\` | ${f(r.riverDelay)} | ${f(r.ourDelayOnRiverStream)} | ${r.seeds} | ${f(r.meanDelay)} | ${f(r.medianDelay)} | ${f(r.minDelay)} | ${f(r.maxDelay)} | ${r.falseAlarms} (${r.seedsWithFalseAlarms}) | ${r.misses} |`,
    );
  return lines.join('\n');
}
