// Constants are defined once in native/core/constants.h; the TypeScript names must match
// what the addon exports, in the same order.
import { describe, expect, it } from 'vitest';

import { ACT_NAMES, AGG_NAMES, backends, constants, denseForward } from '../../src/native/binding.js';

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
