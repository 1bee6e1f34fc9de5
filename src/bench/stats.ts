// Statistics shared by `hotpath bench --compare` and the suite (bench/suite.ts): medians,
// A/B summaries with each side's noise against itself, and results without their
// histogram object (JSON carries the histogram as HdrHistogram's compressed base64).
import * as hdr from 'hdr-histogram-js';

import type { LoadResult } from './loadgen.js';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** (max - min) / median of the values that are numbers; NaN when there are none. */
export function spread(xs: number[]): number {
  const v = xs.filter((x) => !Number.isNaN(x));
  if (v.length === 0) return NaN;
  const m = median(v);
  return m ? (Math.max(...v) - Math.min(...v)) / m : NaN;
}

/** Medians per target, the A/B ratios, and each target's noise: (max - min) / median over its rounds. */
export function compareSummary(a: LoadResult[], b: LoadResult[]) {
  const stat = (rs: LoadResult[], f: (r: LoadResult) => number) => {
    const xs = rs.map(f).filter((x) => !Number.isNaN(x));
    if (xs.length === 0) return { median: NaN, noise: NaN };
    return { median: median(xs), noise: spread(xs) };
  };
  const at = stat(a, (r) => r.throughput);
  const bt = stat(b, (r) => r.throughput);
  const ap = stat(a, (r) => r.latencyUs.p99);
  const bp = stat(b, (r) => r.latencyUs.p99);
  return {
    throughput: { a: at.median, b: bt.median, ratio: at.median / bt.median, noiseA: at.noise, noiseB: bt.noise },
    p99Us: { a: ap.median, b: bp.median, ratio: ap.median / bp.median, noiseA: ap.noise, noiseB: bp.noise },
  };
}

/**
 * Paired rounds of two builds (a[i] and b[i] measured back to back): the median of the
 * per-round ratios b[i] / a[i], their range, and each build's noise against itself, as the
 * ratios of its consecutive rounds (x[i + 1] / x[i]): a build that is the same twice shows
 * how far from 1 the B/A ratio can land by chance.
 */
export function pairedRatios(a: number[], b: number[]) {
  const n = Math.min(a.length, b.length);
  const ratios = Array.from({ length: n }, (_, i) => b[i] / a[i]).filter((x) => Number.isFinite(x));
  const self = (xs: number[]) => {
    const r = xs.slice(1).map((x, i) => x / xs[i]).filter((x) => Number.isFinite(x));
    return { median: r.length ? median(r) : NaN, min: r.length ? Math.min(...r) : NaN, max: r.length ? Math.max(...r) : NaN, spread: spread(xs) };
  };
  return {
    a: a.length ? median(a) : NaN,
    b: b.length ? median(b) : NaN,
    ratio: ratios.length ? median(ratios) : NaN,
    ratioMin: ratios.length ? Math.min(...ratios) : NaN,
    ratioMax: ratios.length ? Math.max(...ratios) : NaN,
    selfA: self(a),
    selfB: self(b),
  };
}

export function strip<T extends { histogram: hdr.Histogram }>(r: T): Omit<T, 'histogram'> & { histogramUs: string } {
  const { histogram, ...rest } = r;
  return { ...rest, histogramUs: hdr.encodeIntoCompressedBase64(histogram) };
}
