// NativeLearner through the real addon: learning, garbage in (refused, counted, nothing
// changed), clipping of exploding gradients, the blob, promotion, and the native backstop
// behind the TypeScript checks. The learner's maths against a reference is in
// native/test/learner_test.cc; River's figures in phishing.test.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

import { ADDON_PATH, type Binding, constants, LEARNER_OPTIMIZER_NAMES, LearnerAddon } from '../../src/native/binding.js';
import { type LearnerOptions, NativeLearner } from '../../src/native/learner.js';
import { mulberry32 } from '../support/random.js';

const INVALID = { code: 'HP_ERR_NATIVE_INVALID_ARG' };

/** A learner after n examples of a linearly separable stream; and the stream. */
function trained(o: Partial<LearnerOptions> = {}, n = 2000) {
  const dim = o.dim ?? 4;
  const rand = mulberry32(5);
  const next = (): { x: Float64Array; y: 0 | 1 } => {
    const x = Float64Array.from({ length: dim }, (_, i) => 10 * i + (rand() * 2 - 1) * (i + 1));
    const s = x.reduce((a, v, i) => a + (i % 2 ? -1 : 1) * (v - 10 * i) / (i + 1), 0.1);
    return { x, y: s > 0 ? 1 : 0 };
  };
  const learner = new NativeLearner({ dim, lr: 0.05, ...o });
  for (let t = 0; t < n; t++) {
    const { x, y } = next();
    learner.learn(x, y);
  }
  return { learner, next };
}

/** Predictions on fixed probes, to show they did not move. */
function probe(l: NativeLearner, dim = 4): number[] {
  return [0, 1, 2].map((k) => l.predict(Array.from({ length: dim }, (_, i) => 10 * i + k - 1)));
}

describe('NativeLearner', () => {
  it('fills River defaults per optimiser and refuses bad options before crossing', () => {
    expect(new NativeLearner({ dim: 3 }).spec).toMatchObject({ optimizer: 'sgd', lr: 0.01, l1: 0, l2: 0, interceptLr: 0.01, clip: 1e12, scale: true });
    expect(new NativeLearner({ dim: 3, optimizer: 'ftrl' }).spec).toMatchObject({ alpha: 0.05, beta: 1, l1: 0, l2: 1 });
    for (const bad of [
      { dim: -1 }, { dim: 1.5 }, { dim: 0 }, { dim: 2, hashBits: 25 }, { dim: 2, lr: -1 }, { dim: 2, clip: Number.NaN },
      { dim: 2, optimizer: 'adam' }, { dim: 2, optimizer: 'toString' }, { dim: 2, scale: 'yes' },
    ]) {
      expect(() => new NativeLearner(bad as LearnerOptions), JSON.stringify(bad)).toThrow(expect.objectContaining(INVALID));
    }
    // Rules only the core knows: SGD takes l1 or l2 (as River), clip > 0.
    expect(() => new NativeLearner({ dim: 2, l1: 0.1, l2: 0.1 })).toThrow(expect.objectContaining(INVALID));
    expect(() => new NativeLearner({ dim: 2, clip: 0 })).toThrow(expect.objectContaining(INVALID));
  });

  it('learns a separable stream with SGD and FTRL, and predictMany agrees with predict', () => {
    for (const optimizer of ['sgd', 'ftrl'] as const) {
      const { learner, next } = trained({ optimizer }, 3000);
      let right = 0;
      const rows = 500;
      const x = new Float32Array(rows * 4);
      const want: number[] = [];
      for (let r = 0; r < rows; r++) {
        const e = next();
        const xf = Float32Array.from(e.x);
        x.set(xf, r * 4);
        const p = learner.predict(Float64Array.from(xf));
        want.push(p);
        right += (p > 0.5 ? 1 : 0) === e.y ? 1 : 0;
      }
      expect(right / rows, optimizer).toBeGreaterThan(0.9);
      const out = new Float32Array(rows);
      learner.predictMany(x, rows, out);
      for (let r = 0; r < rows; r++) expect(Math.abs(out[r] - want[r])).toBeLessThan(1e-6);
      expect(learner.stats()).toEqual({ updates: 3000, clipped: 0, refused: 0 });
    }
  });

  it('takes booleans and 0/1 as labels, number[] and Float64Array as inputs', () => {
    const a = new NativeLearner({ dim: 2 });
    const b = new NativeLearner({ dim: 2 });
    a.learn([1, 2], true);
    a.learn([3, 1], false);
    b.learn(Float64Array.of(1, 2), 1);
    b.learn(Float64Array.of(3, 1), 0);
    expect(a.serialize()).toEqual(b.serialize());
    // The loss is of the example as learned: scaled with the statistics it just updated.
    const loss = a.learn([2, 2], 1).loss;
    expect(loss).toBeGreaterThan(0);
    expect(loss).toBeLessThan(1);
  });

  it('refuses garbage, counts the refusals, and predicts exactly as before', () => {
    const { learner } = trained();
    const before = learner.serialize();
    const p = probe(learner);
    const refusedValues: [unknown, unknown][] = [
      [[1, Number.NaN, 3, 4], 1],
      [[1, 2, Number.POSITIVE_INFINITY, 4], 0],
      [Float64Array.of(Number.NEGATIVE_INFINITY, 0, 0, 0), 1],
      [[1, 2, 3, 1e31], 1], // beyond constants.learner.maxValue
      [[1, 2, 3, 4], 0.5],
      [[1, 2, 3, 4], 2],
      [[1, 2, 3, 4], -1],
      [[1, 2, 3, 4], Number.NaN],
    ];
    for (const [x, y] of refusedValues) {
      expect(() => learner.learn(x as number[], y as 0), JSON.stringify([x, y])).toThrow(expect.objectContaining(INVALID));
    }
    // Wrong types and shapes: refused in TypeScript before crossing.
    const wrongTypes: [unknown, unknown][] = [
      [[1, 2, 3], 1], [[1, 2, 3, 4, 5], 1], [['1', 2, 3, 4], 1], [[1, 2, 3, null], 1], [new Float32Array(4), 1],
      ['1,2,3,4', 1], [null, 1], [undefined, 1], [{ 0: 1, 1: 2, 2: 3, 3: 4, length: 4 }, 1], [[1, 2, 3, 4], '1'], [[1, 2, 3, 4], null],
    ];
    for (const [x, y] of wrongTypes) {
      expect(() => learner.learn(x as number[], y as 0), JSON.stringify([x, y])).toThrow(expect.objectContaining(INVALID));
    }
    expect(() => learner.learn([1, 2, 3, 4], 1, { idx: new Uint32Array(1), val: new Float32Array(1) })).toThrow(expect.objectContaining(INVALID)); // no hashed block
    expect(() => learner.predict([1, Number.NaN, 3, 4])).toThrow(expect.objectContaining(INVALID));
    expect(learner.serialize()).toEqual(before);
    expect(probe(learner)).toEqual(p);
    expect(learner.stats()).toEqual({ updates: 2000, clipped: 0, refused: refusedValues.length });
  });

  it('clips an exploding gradient (a huge unscaled input), counts it, and stays finite', () => {
    const l = new NativeLearner({ dim: 1, hashBits: 6, scale: false, clip: 1, lr: 0.1 });
    const amount = l.hashIndex('amount');
    const h = { idx: Uint32Array.of(amount), val: Float32Array.of(1e20) };
    const r = l.learn([0.5], 1, h);
    expect(r.clipped).toBe(true);
    for (let t = 0; t < 99; t++) l.learn([0.5], t % 2 ? 1 : 0, h);
    expect(l.stats()).toMatchObject({ updates: 100, clipped: 100 });
    const p = l.predict([0.5], h);
    expect(Number.isFinite(p)).toBe(true);
    // Each step moved the weight by lr * clip at most: |w| <= 10, so |logit| <= 10 * 1e20 + small.
    expect(l.learn([0.5], 0).clipped).toBe(false);
    // A scaled learner takes huge dense values (within maxValue) without clipping or Inf.
    const s = new NativeLearner({ dim: 2 });
    for (let t = 0; t < 50; t++) s.learn([t % 2 ? 1e29 : -1e29, t], t % 2 ? 1 : 0);
    expect(Number.isFinite(s.predict([1e29, 3]))).toBe(true);
    const blob = s.serialize();
    const back = new NativeLearner({ dim: 2 });
    back.deserialize(blob);
    expect(back.predict([1e29, 3])).toBe(s.predict([1e29, 3]));
  });

  it('learnMany learns rows in order, skipping and counting refused rows', () => {
    const a = new NativeLearner({ dim: 2 });
    const b = new NativeLearner({ dim: 2 });
    const x = Float32Array.of(1, 2, 3, 1, Number.NaN, 0, 2, 2, 5, 5);
    const y = Float64Array.of(1, 0, 1, 1, 0.5);
    const r = a.learnMany(x, y, 5);
    expect(r.refused).toBe(2);
    expect(r.clipped).toBe(0);
    for (const k of [0, 1, 3]) b.learn([x[2 * k], x[2 * k + 1]], y[k] as 0 | 1);
    expect(a.serialize()).toEqual(b.serialize());
    expect(a.stats()).toEqual({ updates: 3, clipped: 0, refused: 2 });
    expect(() => a.learnMany(x, y, 6)).toThrow(expect.objectContaining(INVALID)); // shorter than rows
    expect(() => a.learnMany(x, [1, 0] as unknown as Float64Array, 1)).toThrow(expect.objectContaining(INVALID));
  });

  it('serialize/deserialize round-trips; a damaged or foreign blob is refused and changes nothing', () => {
    const { learner } = trained({ optimizer: 'ftrl', hashBits: 8 });
    const blob = learner.serialize();
    expect(blob[0]).toBe(0x48); // 'H' of the magic
    const copy = new NativeLearner(learner.spec);
    copy.deserialize(blob);
    expect(probe(copy)).toEqual(probe(learner));
    expect(copy.stats().updates).toBe(2000);

    const target = new NativeLearner(learner.spec);
    target.learn([1, 2, 3, 4], 1);
    const before = target.serialize();
    const rand = mulberry32(3);
    for (let k = 0; k < 20; k++) {
      const bad = blob.slice();
      bad[Math.floor(rand() * bad.length)] ^= 1 << Math.floor(rand() * 8);
      expect(() => target.deserialize(bad)).toThrow(expect.objectContaining(INVALID));
    }
    expect(() => target.deserialize(blob.subarray(0, blob.length - 1))).toThrow(expect.objectContaining(INVALID));
    expect(() => target.deserialize(new Uint8Array(0))).toThrow(expect.objectContaining(INVALID));
    expect(() => new NativeLearner({ ...learner.spec, alpha: 0.1 }).deserialize(blob)).toThrow(expect.objectContaining(INVALID));
    expect(() => target.deserialize([1, 2] as unknown as Uint8Array)).toThrow(expect.objectContaining(INVALID));
    expect(target.serialize()).toEqual(before);
  });

  it('copyFrom promotes a background learner; reset starts over', () => {
    const { learner: bg } = trained();
    const fg = new NativeLearner(bg.spec);
    fg.copyFrom(bg);
    expect(fg.serialize()).toEqual(bg.serialize());
    expect(() => new NativeLearner({ dim: 5 }).copyFrom(bg)).toThrow(expect.objectContaining(INVALID));
    expect(() => fg.copyFrom({} as NativeLearner)).toThrow(expect.objectContaining(INVALID));
    fg.reset();
    expect(fg.serialize()).toEqual(new NativeLearner(bg.spec).serialize());
    expect(fg.stats()).toEqual({ updates: 0, clipped: 0, refused: 0 });
  });

  it('hashes categorical and numeric inputs stably into the block', () => {
    const l = new NativeLearner({ dim: 0, hashBits: 10, optimizer: 'ftrl' });
    const i = l.hashIndex('country', 'FR');
    expect(i).toBe(l.hashIndex('country', 'FR'));
    expect(i).toBeLessThan(1024);
    expect(l.hashIndex('country', 'DE')).not.toBe(i);
    const wide = new NativeLearner({ dim: 0, hashBits: 20 });
    expect(wide.hashIndex('country', 'FR') & 1023).toBe(i); // low bits of one 64-bit hash
    const h = l.hashed({ country: 'FR', amount: 12.5, vip: true });
    expect(Array.from(h.idx)).toEqual([i, l.hashIndex('amount'), l.hashIndex('vip', 'true')]);
    expect(Array.from(h.val)).toEqual([1, 12.5, 1]);
    for (let t = 0; t < 400; t++) l.learn([], t % 2 ? 1 : 0, l.hashed({ country: t % 2 ? 'FR' : 'DE' }));
    expect(l.predict([], l.hashed({ country: 'FR' }))).toBeGreaterThan(0.7);
    expect(l.predict([], l.hashed({ country: 'DE' }))).toBeLessThan(0.3);
    expect(() => l.learn([], 1, { idx: Uint32Array.of(1024), val: Float32Array.of(1) })).toThrow(expect.objectContaining(INVALID));
    expect(() => new NativeLearner({ dim: 1 }).hashIndex('x')).toThrow(expect.objectContaining(INVALID));
  });

  it('the native edge holds on its own (a JS caller that skips the wrapper)', () => {
    expect(() => new LearnerAddon({ dim: 'x' } as never)).toThrow(expect.objectContaining(INVALID));
    const raw = new LearnerAddon({ dim: 2 } as never);
    const out = new Float64Array(2);
    expect(() => raw.learn(new Float64Array(1), 1, null, null, 0, out)).toThrow(expect.objectContaining(INVALID)); // short
    expect(() => raw.learn(new Float64Array(2), 1, new Uint32Array(1), new Float32Array(1), 5, out)).toThrow(expect.objectContaining(INVALID));
    expect(() => raw.predictMany(new Float32Array(3), 2, new Float32Array(2))).toThrow(expect.objectContaining(INVALID));
    // copyFrom checks the other object's type tag: another class's wrapped object is refused,
    // not unwrapped as a Learner (the raw class, as a JS caller bypassing the wrappers has it).
    const Addon = createRequire(import.meta.url)(ADDON_PATH) as Binding.Addon;
    const model = new Addon.NativeModel({ inDim: 2, maxBatch: 1, device: 'cpu', layers: [{ kind: constants.layerKinds.dense, inDim: 2, outDim: 1, w: new Float32Array(2), b: null, act: 0 }] });
    expect(() => raw.copyFrom(model as never)).toThrow(expect.objectContaining(INVALID));
    expect(() => raw.copyFrom({} as never)).toThrow(expect.objectContaining(INVALID));
    expect(() => raw.copyFrom(new Date() as never)).toThrow(expect.objectContaining(INVALID));
  });
});

describe('learner constants', () => {
  it('come from constants.h through the addon', () => {
    const h = readFileSync(new URL('../../native/core/constants.h', import.meta.url), 'utf8');
    const list = /#define HP_LEARNER_OPT_LIST\(X\)((?:[^\n]*\\\n)*[^\n]*)/.exec(h)![1];
    const names = [...list.matchAll(/X\([A-Z]+, "([a-z]+)"\)/g)].map((m) => m[1]);
    expect(names).toEqual([...LEARNER_OPTIMIZER_NAMES]);
    expect(Object.entries(constants.learner.optimizers).sort((a, b) => a[1] - b[1]).map(([k]) => k)).toEqual(names);
    const num = (name: string) => Number(new RegExp(`constexpr [a-z ]+ ${name} = ([^;]+);`).exec(h)![1]);
    expect(constants.learner).toMatchObject({
      maxDim: num('kLearnerMaxDim'),
      maxHashBits: num('kLearnerMaxHashBits'),
      maxValue: num('kLearnerMaxValue'),
      blobVersion: num('kLearnerBlobVersion'),
    });
  });
});
