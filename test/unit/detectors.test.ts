// The detector wrappers (src/native/detectors.ts) on the real addon: River's reference
// points, scores against plain TypeScript models, keyed tables by hash and by string id,
// serialization, and the argument checks made before anything crosses.
import { describe, expect, it } from 'vitest';

import { shiftStream } from '../../src/learn/drift-eval.js';
import { hashIds } from '../../src/native/binding.js';
import { AnomalyDetector, AnomalyTable, DriftDetector } from '../../src/native/detectors.js';
import { mulberry32 } from '../support/random.js';

const NATIVE_INVALID = { code: 'HP_ERR_NATIVE_INVALID_ARG' };

function detections(d: DriftDetector, xs: Float64Array): number[] {
  const at: number[] = [];
  xs.forEach((x, i) => {
    if (d.update(x)) at.push(i);
  });
  return at;
}


describe('DriftDetector', () => {
  it("finds the change of River's example where River does (random.Random(12345))", () => {
    const xs = shiftStream(12345);
    expect(detections(new DriftDetector('adwin'), xs)[0]).toBe(1023);
    expect(detections(new DriftDetector('page_hinkley'), xs)).toEqual([1006]);
  });

  it('updateMany gives the index of the first drift, and the same state as update one by one', () => {
    const xs = shiftStream(7);
    const a = new DriftDetector('adwin');
    const b = new DriftDetector('adwin');
    const first = detections(a, xs)[0];
    expect(b.updateMany(xs.subarray(0, 900))).toBe(-1);
    expect(b.updateMany(xs.subarray(900)) + 900).toBe(first);
    expect(b.serialize()).toEqual(a.serialize());
    expect(a.width).toBeLessThan(1100);
    expect(a.estimation).toBeGreaterThan(4);
    expect(a.stats().detections).toBeGreaterThan(0);
  });

  it('serializes and goes on exactly like the original; a damaged blob is refused and changes nothing', () => {
    const xs = shiftStream(3);
    for (const kind of ['adwin', 'page_hinkley'] as const) {
      const a = new DriftDetector(kind);
      a.updateMany(xs.subarray(0, 1003));
      const blob = a.serialize();
      const b = new DriftDetector(kind, kind === 'adwin' ? { delta: 0.5 } : { threshold: 1 });
      b.deserialize(blob);
      expect(b.updateMany(xs.subarray(1003))).toBe(a.updateMany(xs.subarray(1003)));
      expect(b.serialize()).toEqual(a.serialize());
      const before = b.serialize();
      const bad = blob.slice();
      bad[20] ^= 1;
      expect(() => b.deserialize(bad)).toThrow(expect.objectContaining(NATIVE_INVALID));
      expect(() => b.deserialize(blob.subarray(0, 10))).toThrow(expect.objectContaining(NATIVE_INVALID));
      expect(b.serialize()).toEqual(before);
    }
    const ph = new DriftDetector('page_hinkley').serialize();
    expect(() => new DriftDetector('adwin').deserialize(ph)).toThrow(expect.objectContaining(NATIVE_INVALID));
  });

  it('refuses NaN and infinities with the state unchanged, and bad params before crossing', () => {
    const d = new DriftDetector('adwin');
    d.updateMany(new Float64Array(100).fill(1));
    const before = d.serialize();
    expect(() => d.update(NaN)).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => d.updateMany(new Float64Array([1, 2, Infinity]))).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(d.serialize()).toEqual(before);
    expect(() => new DriftDetector('adwin', { delta: 0 })).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => new DriftDetector('adwin', { clock: 1.5 })).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => new DriftDetector('adwin', { threshold: 3 } as never)).toThrow(/no param 'threshold'/);
    expect(() => new DriftDetector('page_hinkley', { mode: 'sideways' as never })).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => new DriftDetector('hst' as never)).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => d.updateMany(new Float64Array(3), 4)).toThrow(expect.objectContaining(NATIVE_INVALID));
  });

  it('page_hinkley mode up ignores a fall that both catches', () => {
    const xs = Float64Array.from({ length: 1000 }, (_, i) => (i < 500 ? 10 : 2) + ((i * 7919) % 11) / 20);
    expect(detections(new DriftDetector('page_hinkley', { mode: 'up' }), xs)).toEqual([]);
    expect(detections(new DriftDetector('page_hinkley'), xs)[0]).toBeGreaterThanOrEqual(500);
  });
});

describe('AnomalyDetector', () => {
  it("Half-Space Trees give River's docstring scores (same seeded trees)", () => {
    const hst = new AnomalyDetector('hst', { nTrees: 5, height: 3, windowSize: 3, seed: 42 });
    const xs = [0.5, 0.45, 0.43, 0.44, 0.445, 0.45, 0.0];
    for (const x of xs.slice(0, 3)) hst.scoreLearn(x);
    const got = xs.map((x) => {
      hst.scoreLearn(x);
      return Number(hst.score(x).toFixed(3));
    });
    expect(got).toEqual([0.107, 0.071, 0.107, 0.107, 0.107, 0.071, 0.853]);
  });

  it('Half-Space Trees over 10 features score an outlier above every inlier', () => {
    const r = mulberry32(1);
    const dims = 10;
    const hst = new AnomalyDetector('hst', { dims, seed: 3 });
    expect(hst.dims).toBe(dims);
    const n = 2000;
    const xs = Float64Array.from({ length: n * dims }, () => 0.4 + 0.2 * r());
    const out = hst.scoreLearnMany(xs, n, new Float64Array(n));
    expect(out.subarray(0, 250).every((s) => s === 0)).toBe(true);
    const inlierMax = Math.max(...out.subarray(300));
    const outlier = hst.score(new Float64Array(dims).fill(0.95));
    expect(outlier).toBeGreaterThan(inlierMax);
    expect(outlier).toBeLessThanOrEqual(1);
    expect(() => hst.scoreLearn(0.5)).toThrow(/10 features/);
    expect(hst.seen).toBe(n);
  });

  it('robust z matches a plain median/MAD model of the window', () => {
    const r = mulberry32(2);
    const window = 31;
    const d = new AnomalyDetector('robust_z', { window, minCount: 5 });
    const hist: number[] = [];
    const med = (v: number[]) => {
      const s = [...v].sort((a, b) => a - b);
      const m = s.length >> 1;
      return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
    };
    for (let i = 0; i < 500; i++) {
      const x = Math.round(r() * 20) + (i % 50 === 0 ? 100 : 0);
      const w = hist.slice(-window);
      let want = 0;
      if (w.length >= 5) {
        const m = med(w);
        const mad = med(w.map((v) => Math.abs(v - m)));
        const scale = mad > 0 ? 1.4826 * mad : 1.2533141 * (w.reduce((a, v) => a + Math.abs(v - m), 0) / w.length);
        want = scale > 0 ? Math.abs(x - m) / scale : x === m ? 0 : Infinity;
      }
      expect(d.scoreLearn(x)).toBeCloseTo(want, 9);
      hist.push(x);
    }
  });

  it('ew follows the exponentially weighted mean and variance; halfLife sets alpha', () => {
    const d = new AnomalyDetector('ew', { halfLife: 10, warmup: 5 });
    const alpha = 1 - 2 ** (-1 / 10);
    let mean = 0;
    let v = 0;
    for (let i = 0; i < 200; i++) {
      const x = Math.sin(i) * 3 + 1;
      const want = i < 5 ? 0 : Math.abs(x - mean) / Math.sqrt(v);
      expect(d.scoreLearn(x)).toBeCloseTo(want, 9);
      if (i === 0) mean = x;
      else {
        const diff = x - mean;
        mean += alpha * diff;
        v = (1 - alpha) * (v + alpha * diff * diff);
      }
    }
    expect(() => new AnomalyDetector('ew', { alpha: 0.1, halfLife: 3 })).toThrow(/not both/);
  });

  it('serializes every kind; refuses NaN and damaged blobs with the state unchanged', () => {
    for (const kind of ['hst', 'robust_z', 'ew'] as const) {
      const a = new AnomalyDetector(kind, kind === 'hst' ? { dims: 2, windowSize: 20, limits: [[0, 1], [-5, 5]] } : {});
      const xs = Float64Array.from({ length: 400 * a.dims }, (_, i) => Math.abs(Math.sin(i)));
      a.scoreLearnMany(xs.subarray(0, 200 * a.dims), 200, new Float64Array(200));
      const b = new AnomalyDetector(kind);
      b.deserialize(a.serialize());
      expect(b.dims).toBe(a.dims);
      const rest = xs.subarray(200 * a.dims);
      expect(b.scoreLearnMany(rest, 200, new Float64Array(200))).toEqual(a.scoreLearnMany(rest, 200, new Float64Array(200)));
      const before = a.serialize();
      const withNaN = rest.slice();
      withNaN[7] = NaN;
      expect(() => a.scoreLearnMany(withNaN, 200, new Float64Array(200))).toThrow(expect.objectContaining(NATIVE_INVALID));
      const bad = before.slice();
      bad[bad.length - 1] ^= 0xff;
      expect(() => a.deserialize(bad)).toThrow(expect.objectContaining(NATIVE_INVALID));
      expect(a.serialize()).toEqual(before);
    }
  });
});

describe('AnomalyTable', () => {
  it('keeps one state per entity: by hash and by string id alike, like one detector each', () => {
    const ids = ['u1', 'u2', 'u3'];
    const hashes = hashIds(ids);
    const byHash = new AnomalyTable('robust_z', { window: 16, minCount: 3 }, 10);
    const byId = new AnomalyTable('robust_z', { window: 16, minCount: 3 }, 10);
    const one = ids.map(() => new AnomalyDetector('robust_z', { window: 16, minCount: 3 }));
    const r = mulberry32(5);
    for (let round = 0; round < 30; round++) {
      const n = 6;
      const who = Array.from({ length: n }, () => Math.floor(r() * 3));
      const keys = BigUint64Array.from(who.map((w) => hashes[w]));
      const x = Float64Array.from(who.map((w) => w * 10 + r()));
      const s1 = new Float64Array(n);
      const s2 = new Float64Array(n);
      expect(byHash.scoreLearnMany(keys, x, n, s1)).toBe(0);
      expect(byId.scoreLearnManyIds(who.map((w) => ids[w]), x, n, s2)).toBe(0);
      expect(s2).toEqual(s1);
      expect(Array.from(s1)).toEqual(who.map((w, i) => one[w].scoreLearn(x[i])));
    }
    expect(byHash.stats().live).toBe(3);
    expect(byHash.serialize()).toEqual(byId.serialize());
  });

  it('refuses new entities when full (NaN, counted) and round-trips through serialize', () => {
    const t = new AnomalyTable('ew', { warmup: 1 }, 2);
    const out = new Float64Array(4);
    expect(t.scoreLearnManyIds(['a', 'b', 'c', 'a'], new Float64Array([1, 2, 3, 4]), 4, out)).toBe(1);
    expect(Number.isNaN(out[2])).toBe(true);
    expect(t.stats()).toMatchObject({ live: 2, capacity: 2, refused: 1 });
    const copy = new AnomalyTable('ew', {}, 100);
    copy.deserialize(t.serialize());
    expect(copy.maxEntities).toBe(2);
    const keys = hashIds(['a', 'b']);
    expect(copy.scoreMany(keys, new Float64Array([5, 5]), 2, new Float64Array(2))).toEqual(t.scoreMany(keys, new Float64Array([5, 5]), 2, new Float64Array(2)));
    expect(() => t.scoreLearnMany(keys, new Float64Array([1, NaN]), 2, new Float64Array(2))).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => t.scoreLearnMany(keys, new Float64Array(1), 2, new Float64Array(2))).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => t.scoreLearnMany(['a'] as never, new Float64Array(1), 1, new Float64Array(1))).toThrow(/BigUint64Array/);
    expect(() => new AnomalyTable('hst' as never, {}, 10)).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => new AnomalyTable('ew', {}, 0)).toThrow(expect.objectContaining(NATIVE_INVALID));
    t.clear();
    expect(t.stats().live).toBe(0);
  });
});
