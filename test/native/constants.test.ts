// Constants are defined once in native/core/constants.h; the addon exports them, and the
// TypeScript names must match constants.h and what the addon exports, in the same order.
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import {
  ACT_NAMES, AGG_NAMES, backends, constants, denseForward, GATHER_SOURCE_NAMES, GATHER_TRANSFORM_NAMES,
  LAYER_KIND_NAMES, layerSpecs, limits, ROW_LAYOUT_VERSION, WINDOWED_AGGS,
} from '../../src/native/binding.js';

const CONSTANTS_H = readFileSync(new URL('../../native/core/constants.h', import.meta.url), 'utf8');

/** The X(...) entries of one list macro of constants.h, as arrays of their arguments. */
function xList(macro: string): string[][] {
  const m = new RegExp(`#define ${macro}\\(X\\)((?:[^\\n]*\\\\\\n)*[^\\n]*)`).exec(CONSTANTS_H);
  if (!m) throw new Error(`${macro} not found in constants.h`);
  return [...m[1].matchAll(/X\(([^)]*)\)/g)].map((x) => x[1].split(',').map((a) => a.trim().replace(/^"|"$/g, '')));
}
/** A `constexpr <type> NAME = value;` of constants.h, as a number. */
function constexpr(name: string): number {
  const m = new RegExp(`constexpr [a-z ]+ ${name} = ([^;]+);`).exec(CONSTANTS_H);
  if (!m) throw new Error(`${name} not found in constants.h`);
  return Number(m[1]);
}

describe('constants shared with the addon', () => {
  it('aggregate and activation codes follow the C++ enums', () => {
    expect(Object.entries(constants.aggs).sort((a, b) => a[1] - b[1]).map(([k]) => k)).toEqual([...AGG_NAMES]);
    expect(Object.entries(constants.acts).sort((a, b) => a[1] - b[1]).map(([k]) => k)).toEqual([...ACT_NAMES]);
  });
  it('every error of the native row decoder has its HotpathError', async () => {
    const { ROW_ERRORS } = await import('../../src/ingest/rows.js');
    expect(constants.rowErrors[0]).toBe('OK');
    expect(Object.keys(ROW_ERRORS).sort()).toEqual(constants.rowErrors.slice(1).sort());
    expect(Object.keys(constants.rowRoles)).toEqual(['skip', 'key', 'time', 'number', 'category']);
  });
  it('exports the status names and limits', () => {
    expect(constants.statuses[0]).toBe('OK');
    expect(constants.statuses).toContain('INVALID_ARG');
    expect(constants.limits.maxIdBytes).toBe(256);
  });

  it('every list of constants.h reaches TypeScript from the addon, in order', () => {
    const codes = (o: Record<string, number>) => Object.entries(o).sort((a, b) => a[1] - b[1]).map(([k]) => k);
    expect(xList('HP_AGG_LIST').map((x) => x[1])).toEqual([...AGG_NAMES]);
    expect(xList('HP_ACT_LIST').map((x) => x[1])).toEqual([...ACT_NAMES]);
    expect(xList('HP_LAYER_KIND_LIST').map((x) => x[1])).toEqual([...LAYER_KIND_NAMES]);
    expect(codes(constants.layerKinds)).toEqual([...LAYER_KIND_NAMES]);
    expect(xList('HP_GATHER_SOURCE_LIST').map((x) => x[1])).toEqual([...GATHER_SOURCE_NAMES]);
    expect(codes(constants.gatherSources)).toEqual([...GATHER_SOURCE_NAMES]);
    expect(xList('HP_GATHER_TRANSFORM_LIST').map((x) => x[1])).toEqual([...GATHER_TRANSFORM_NAMES]);
    expect(codes(constants.gatherTransforms)).toEqual([...GATHER_TRANSFORM_NAMES]);
    expect(xList('HP_STATUS_LIST').map((x) => x[1])).toEqual(constants.statuses);
    expect(xList('HP_ROW_ERROR_LIST').map((x) => x[1])).toEqual(constants.rowErrors);
    expect(xList('HP_ROW_ROLE_LIST').map((x) => x[1])).toEqual(Object.keys(constants.rowRoles));
  });

  it('the windowed and needs-field flag of each aggregate come from HP_AGG_LIST', () => {
    for (const [, name, field, windowed] of xList('HP_AGG_LIST')) {
      expect(constants.aggFlags[name], name).toEqual({ field: field === 'true', windowed: windowed === 'true' });
      expect(WINDOWED_AGGS.has(name as (typeof AGG_NAMES)[number]), name).toBe(windowed === 'true');
    }
    expect([...WINDOWED_AGGS].sort()).toEqual(['count', 'distinct', 'max', 'mean', 'min', 'stddev', 'sum']);
  });

  it('limits, times and the row layout version match constants.h', () => {
    expect(limits).toEqual({
      maxIdBytes: constexpr('kMaxIdBytes'),
      maxTilesPerWindow: constexpr('kMaxTilesPerWindow'),
      maxLastN: constexpr('kMaxLastN'),
      minHllPrecision: constexpr('kMinHllPrecision'),
      maxHllPrecision: constexpr('kMaxHllPrecision'),
      maxFeaturesPerTable: constexpr('kMaxFeaturesPerTable'),
      maxKeyColumns: 16,
      maxTimeMs: 2 ** 53,
      maxEventTimeMs: 8.64e15,
    });
    expect(constexpr('kMaxKeyColumns')).toBe(16);
    expect(constexpr('kMaxTimeMs')).toBe(2 ** 53);
    expect(constexpr('kMaxEventTimeMs')).toBe(8.64e15);
    expect(new Date(limits.maxEventTimeMs).getTime()).toBe(8.64e15);
    expect(new Date(limits.maxEventTimeMs + 1).getTime()).toBeNaN();
    expect(ROW_LAYOUT_VERSION).toBe(constexpr('kRowLayoutVersion'));
    expect(constants.rowTypes).toEqual({ f64: constexpr('kRowTypeF64'), str16: constexpr('kRowTypeStr16') });
  });

  it('detector kinds and limits come from constants.h (src/native/detectors.ts)', async () => {
    const { DETECTOR_KIND_NAMES, detectorLimits } = await import('../../src/native/detectors.js');
    const codes = Object.entries(constants.detectors.kinds).sort((a, b) => a[1] - b[1]).map(([k]) => k);
    expect(xList('HP_DETECTOR_KIND_LIST').map((x) => x[1])).toEqual([...DETECTOR_KIND_NAMES]);
    expect(codes).toEqual([...DETECTOR_KIND_NAMES]);
    expect(constants.detectors.blobVersion).toBe(constexpr('kDetectorBlobVersion'));
    expect(detectorLimits).toEqual({
      maxDims: constexpr('kMaxDetectorDims'),
      maxHstTrees: constexpr('kMaxHstTrees'),
      maxHstHeight: constexpr('kMaxHstHeight'),
      maxWindow: 2 ** 20,
      maxEntities: 2 ** 24,
    });
  });

  it('layerSpecs takes layer kinds from the addon', () => {
    const w = new Float32Array(2);
    const specs = layerSpecs({
      inDim: 2, outDim: 1, inputName: 'x', outputName: 'y',
      layers: [{ kind: 'dense', inDim: 2, outDim: 1, w, b: null, act: 'relu' }, { kind: 'act', act: 'sigmoid' }, { kind: 'softmax' }],
    });
    expect(specs.map((l) => l.kind)).toEqual([constants.layerKinds.dense, constants.layerKinds.act, constants.layerKinds.softmax]);
    expect(specs[0].act).toBe(constants.acts.relu);
  });

  it('src/native/binding.ts imports nothing from the layers above it (binding-types.ts is its own shape, types only; sea.ts only Node)', () => {
    const src = readFileSync(new URL('../../src/native/binding.ts', import.meta.url), 'utf8');
    const from = [...src.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    expect(from.filter((p) => p.startsWith('.') && p !== '../errors.js' && p !== './binding-types.js' && p !== './sea.js')).toEqual([]);
    // the single executable's asset loader, which binding.ts asks for the addon's path, imports only Node's modules
    const sea = readFileSync(new URL('../../src/native/sea.ts', import.meta.url), 'utf8');
    expect([...sea.matchAll(/from '([^']+)'/g)].map((m) => m[1]).filter((p) => !p.startsWith('node:'))).toEqual([]);
  });
});

describe('backends', () => {
  it('always has cpu and says whether cuda is built and usable', () => {
    const b = backends();
    expect(b.cpu).toBe(true);
    expect(typeof b.cuda.compiled).toBe('boolean');
    if (!b.cuda.compiled) expect(b.cuda.devices).toBe(0);
  });

  it('dense layer on cpu matches a direct computation', () => {
    const batch = 3, inDim = 5, outDim = 4;
    const x = Float32Array.from({ length: batch * inDim }, (_, i) => Math.sin(i));
    const w = Float32Array.from({ length: outDim * inDim }, (_, i) => Math.cos(i) / 2);
    const b = Float32Array.from({ length: outDim }, (_, i) => i / 10 - 0.2);
    for (const act of ACT_NAMES) {
      const y = denseForward(x, w, b, batch, inDim, outDim, act);
      for (let r = 0; r < batch; r++) {
        for (let o = 0; o < outDim; o++) {
          let acc = b[o];
          for (let i = 0; i < inDim; i++) acc += x[r * inDim + i] * w[o * inDim + i];
          const want = act === 'relu' ? Math.max(0, acc) : act === 'sigmoid' ? 1 / (1 + Math.exp(-acc)) : act === 'tanh' ? Math.tanh(acc) : acc;
          expect(Math.abs(y[r * outDim + o] - want)).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('cuda: runs where a device exists, otherwise refuses with a code', (ctx) => {
    const b = backends();
    const x = new Float32Array([1, 2]);
    const w = new Float32Array([0.5, -1]);
    if (b.cuda.devices > 0) {
      expect(denseForward(x, w, null, 1, 2, 1, 'none', 'cuda')[0]).toBeCloseTo(-1.5, 5);
      return;
    }
    expect(() => denseForward(x, w, null, 1, 2, 1, 'none', 'cuda')).toThrow(
      expect.objectContaining({ code: b.cuda.compiled ? 'HP_ERR_NATIVE_UNAVAILABLE' : 'HP_ERR_NATIVE_UNSUPPORTED' }),
    );
    ctx.annotate(`no CUDA device (${b.cuda.compiled ? b.cuda.error : 'CPU-only build'}): GPU path checked for refusal only`);
  });
});
