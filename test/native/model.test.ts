// The native runtime and feature gather against references. NativeModel, built from
// planNative's plan exactly as src/runtime/worker.ts builds it, gives onnxruntime-node's
// answers (1e-5) on every supported fixture and the demo models, at batch sizes below, at
// and above maxBatch (chunking), with saturating inputs; bad specs and arguments are coded
// errors. Gather, fed ids the way worker.ts gatherRows packs them (UTF-8 bytes + offset /
// length refs), gives for every cell what store.read() says (NaN -> fill, then log1p), on
// this thread and on a worker thread attached by store id.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';
import { ADDON_PATH, backends, type Binding, constants, FeatureStore, Gather, layerSpecs, NativeModel } from '../../src/native/binding.js';
import type { NativePlan } from '../../src/native/binding.js';
import { readOnnx } from '../../src/runtime/onnx-graph.js';
import { planNative, runPlanReference } from '../../src/runtime/onnx-plan.js';
import { mulberry32 as rng } from '../support/random.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function nativeModel(plan: NativePlan, maxBatch = 16): NativeModel {
  return new NativeModel({ inDim: plan.inDim, maxBatch, device: 'cpu', layers: layerSpecs(plan) });
}

/** batch x d inputs: mostly N(0, 2)-ish, every 5th row scaled to +-50 (saturation), some exact +-50. */
function inputs(batch: number, d: number, seed: number): Float32Array {
  const rand = rng(seed);
  const x = new Float32Array(batch * d);
  for (let r = 0; r < batch; r++) {
    for (let i = 0; i < d; i++) {
      const u = rand() * 2 - 1;
      x[r * d + i] = r % 5 === 4 ? 50 * u : r % 7 === 6 ? (rand() < 0.5 ? -50 : 50) : 2 * u;
    }
  }
  return x;
}

function maxAbsDiff(a: Float32Array, b: Float32Array, n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

const fixtureDir = `${root}test/fixtures/models/`;
const MODELS = [
  ...readdirSync(fixtureDir).filter((f) => f.endsWith('.onnx')).sort().map((f) => fixtureDir + f),
  `${root}models/fraud/1/model.onnx`,
  `${root}models/fraud/2/model.onnx`,
  `${root}models/fraud_rules/1/model.onnx`,
];

function planOf(path: string): NativePlan | null {
  const p = planNative(readOnnx(readFileSync(path)));
  return 'plan' in p ? p.plan : null;
}

const code = (c: string) => expect.objectContaining({ code: c });

describe('NativeModel against onnxruntime', () => {
  it('has the models this suite expects (every fixture but unsupported_leakyrelu is native)', () => {
    const supported = MODELS.filter((m) => planOf(m) !== null).map((m) => m.slice(root.length));
    expect(supported).toEqual([
      'test/fixtures/models/gemm_nobias_chain.onnx',
      'test/fixtures/models/gemm_notrans_tanh.onnx',
      'test/fixtures/models/gemm_relu_sigmoid.onnx',
      'test/fixtures/models/matmul_add_softmax.onnx',
      'models/fraud/1/model.onnx',
      'models/fraud/2/model.onnx',
      'models/fraud_rules/1/model.onnx',
    ]);
  });

  for (const path of MODELS.filter((m) => planOf(m) !== null)) {
    it(`${path.slice(root.length)}: batches 1, 7, 16, 200 match within 1e-5`, async () => {
      const plan = planOf(path)!;
      const model = nativeModel(plan, 16);
      expect(model.inDim).toBe(plan.inDim);
      expect(model.outDim).toBe(plan.outDim);
      const session = await ort.InferenceSession.create(path);
      try {
        for (const batch of [1, 7, 16, 200]) {
          const x = inputs(batch, plan.inDim, batch * 31 + plan.inDim);
          const out = await session.run({ [plan.inputName]: new ort.Tensor('float32', x, [batch, plan.inDim]) });
          const want = out[plan.outputName].data as Float32Array;
          expect(want.length).toBe(batch * plan.outDim);
          // A sentinel after the batch: forward must not write past batch x outDim.
          const y = new Float32Array(batch * plan.outDim + 3).fill(12345);
          model.forward(x, batch, y);
          const diff = maxAbsDiff(y, want, batch * plan.outDim);
          expect(diff, `batch ${batch}`).toBeLessThanOrEqual(1e-5);
          expect(Array.from(y.subarray(batch * plan.outDim))).toEqual([12345, 12345, 12345]);
          // The TypeScript reference agrees too (it is what onnx-graph.test checks against).
          expect(maxAbsDiff(runPlanReference(plan, x, batch), want, batch * plan.outDim)).toBeLessThanOrEqual(1e-5);
        }
        // Same model object again on a small batch after a chunked one: scratch state does not leak.
        const x1 = inputs(3, plan.inDim, 99);
        const y1 = new Float32Array(3 * plan.outDim);
        model.forward(x1, 3, y1);
        const w1 = (await session.run({ [plan.inputName]: new ort.Tensor('float32', x1, [3, plan.inDim]) }))[plan.outputName].data as Float32Array;
        expect(maxAbsDiff(y1, w1, 3 * plan.outDim)).toBeLessThanOrEqual(1e-5);
        // Saturated outputs are finite and in range.
        if (plan.layers[plan.layers.length - 1].kind === 'softmax' || path.includes('fraud') || path.includes('sigmoid')) {
          const big = inputs(200, plan.inDim, 7).map((v) => (v >= 0 ? 50 : -50));
          const yb = new Float32Array(200 * plan.outDim);
          model.forward(big, 200, yb);
          for (const v of yb) {
            expect(v).toBeGreaterThanOrEqual(0);
            expect(v).toBeLessThanOrEqual(1);
          }
        }
      } finally {
        await session.release();
      }
    });
  }

  it('runs standalone activation layers (kind 1) and softmax (kind 2) like the reference', () => {
    const rand = rng(5);
    const w = Float32Array.from({ length: 6 * 4 }, () => rand() * 4 - 2);
    const b = Float32Array.from({ length: 6 }, () => rand() - 0.5);
    const w2 = Float32Array.from({ length: 3 * 6 }, () => rand() * 2 - 1);
    const plan: NativePlan = {
      inDim: 4,
      outDim: 3,
      inputName: 'x',
      outputName: 'y',
      layers: [
        { kind: 'dense', inDim: 4, outDim: 6, w, b, act: 'none' },
        { kind: 'act', act: 'tanh' },
        { kind: 'act', act: 'relu' },
        { kind: 'dense', inDim: 6, outDim: 3, w: w2, b: null, act: 'sigmoid' },
        { kind: 'act', act: 'sigmoid' },
        { kind: 'softmax' },
      ],
    };
    const model = nativeModel(plan, 4);
    for (const batch of [1, 4, 9]) {
      const x = inputs(batch, 4, batch);
      const y = new Float32Array(batch * 3);
      model.forward(x, batch, y);
      expect(maxAbsDiff(y, runPlanReference(plan, x, batch), batch * 3)).toBeLessThanOrEqual(1e-5);
    }
    // batch 0 is a no-op
    const y0 = new Float32Array(3).fill(7);
    model.forward(new Float32Array(0), 0, y0);
    expect(Array.from(y0)).toEqual([7, 7, 7]);
  });

  it('gives a dense layer the bits of a float32 sum in input order, for every tile and remainder width', () => {
    // The kernel adds each output's terms in vector tiles of 32, 16 and 8 outputs, for one
    // row or blocks of four (batch 5 runs both), and then one output at a time; whatever
    // the split, each output must be
    // fround(... fround(b + fround(x0 * w0)) + fround(x1 * w1) ...), exactly (float32 sums
    // and products computed in double and rounded once are float32's own: 53 >= 2 * 24 + 2).
    const rand = rng(17);
    for (const [inDim, outDim] of [[3, 1], [10, 7], [10, 8], [5, 9], [17, 16], [6, 24], [13, 32], [4, 33], [9, 57], [32, 64], [2, 95]]) {
      const w = Float32Array.from({ length: outDim * inDim }, () => rand() * 4 - 2);
      const b = Float32Array.from({ length: outDim }, () => rand() - 0.5);
      const model = new NativeModel({ inDim, maxBatch: 8, device: 'cpu', layers: [{ kind: 0, inDim, outDim, w, b, act: constants.acts.relu }] });
      for (const batch of [1, 5]) {
        const x = inputs(batch, inDim, inDim * 100 + outDim);
        const y = new Float32Array(batch * outDim);
        model.forward(x, batch, y);
        const want = new Float32Array(batch * outDim);
        for (let r = 0; r < batch; r++) {
          for (let o = 0; o < outDim; o++) {
            let acc = b[o];
            for (let k = 0; k < inDim; k++) acc = Math.fround(acc + Math.fround(x[r * inDim + k] * w[o * inDim + k]));
            want[r * outDim + o] = Math.max(0, acc);
          }
        }
        expect(Buffer.from(y.buffer).equals(Buffer.from(want.buffer)), `${inDim} -> ${outDim}, batch ${batch}`).toBe(true);
      }
    }
  });
});

describe('NativeModel refuses bad specs and arguments', () => {
  const w = (n: number) => new Float32Array(n).fill(0.1);
  const dense = (inDim: number, outDim: number, extra: Partial<Binding.LayerSpec> = {}): Binding.LayerSpec => ({
    kind: 0, inDim, outDim, w: w(inDim * outDim), b: null, act: 0, ...extra,
  });
  const make = (layers: Binding.LayerSpec[], inDim = 4, maxBatch = 8) => () => new NativeModel({ inDim, maxBatch, device: 'cpu', layers });
  const invalid = code('HP_ERR_NATIVE_INVALID_ARG');

  it('accepts the good spec the bad ones are made from', () => {
    const m = make([dense(4, 3), dense(3, 2)])();
    expect([m.inDim, m.outDim]).toEqual([4, 2]);
  });

  it('refuses mismatched widths, wrong w or b lengths, unknown kinds, no layers', () => {
    expect(make([dense(4, 3), dense(4, 2)])).toThrow(invalid); // second layer takes 3, not 4
    expect(make([dense(5, 3)])).toThrow(invalid); // first layer does not take inDim
    expect(make([dense(4, 3, { w: w(11) })])).toThrow(invalid);
    expect(make([dense(4, 3, { w: w(13) })])).toThrow(invalid);
    expect(make([dense(4, 3, { w: null })])).toThrow(invalid);
    expect(make([dense(4, 3, { b: w(2) })])).toThrow(invalid);
    expect(make([dense(4, 0, { w: w(0) })])).toThrow(invalid);
    expect(make([dense(4, 3), { kind: 3 }])).toThrow(invalid);
    expect(make([{ kind: -1 }])).toThrow(invalid);
    expect(make([dense(4, 3, { act: 4 })])).toThrow(invalid);
    expect(make([])).toThrow(invalid);
    expect(make([dense(0, 3, { w: w(0) })], 0)).toThrow(invalid);
    expect(make([dense(4, 3)], 4, 0)).toThrow(invalid);
    expect(make([dense(4, 3, { w: new Float64Array(12) as unknown as Float32Array })])).toThrow(invalid);
    let err: unknown;
    try {
      make([dense(4, 3), dense(4, 2)])();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HotpathError);
  });

  it('refuses bad forward arguments', () => {
    const m = make([dense(4, 3)])();
    const y = new Float32Array(2 * 3);
    expect(() => m.forward(new Float32Array(7), 2, y)).toThrow(invalid); // x shorter than 2 x 4
    expect(() => m.forward(new Float32Array(8), 2, new Float32Array(5))).toThrow(invalid); // y too short
    expect(() => m.forward(new Float32Array(8), -1, y)).toThrow(invalid);
    expect(() => m.forward(new Float32Array(8), 1.5, y)).toThrow(invalid);
    expect(() => m.forward(new Float64Array(8) as unknown as Float32Array, 2, y)).toThrow(invalid);
    m.forward(new Float32Array(8), 2, y); // and the good call works
    expect(Array.from(y)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("device 'cuda' needs a CUDA build with a device", () => {
    const spec = { inDim: 4, maxBatch: 8, device: 'cuda' as const, layers: [dense(4, 3)] };
    if (backends().cuda.devices === 0) {
      expect(() => new NativeModel(spec)).toThrow(code('HP_ERR_NATIVE_UNAVAILABLE'));
    } else {
      const m = new NativeModel(spec);
      const y = new Float32Array(3);
      m.forward(Float32Array.of(1, 2, 3, 4), 1, y);
      for (const v of y) expect(v).toBeCloseTo(1, 5);
    }
    expect(() => new NativeModel({ ...spec, device: 'tpu' as 'cpu' })).toThrow(code('HP_ERR_NATIVE_INVALID_ARG'));
  });
});

// ---------------------------------------------------------------- gather

const YAML = `
store:
  max_future: 10s
streams:
  tx:
    keys: { user: user_id, shop: shop_id }
    time_field: ts
    allowed_lateness: 3h
    fields:
      amount: number
      country: category
entities:
  user:
    memory: 4MiB
    shards: 4
    features:
      n_1h:        { agg: count, window: 1h }
      amount_mean: { agg: mean, field: amount, window: 1h }
      amount_max:  { agg: max, field: amount, window: 1h }
      countries:   { agg: distinct, field: country, window: 1h }
  shop:
    memory: 4MiB
    shards: 2
    features:
      n_10m:       { agg: count, window: 10m }
      amount_mean: { agg: mean, field: amount, window: 1h }
      amount_max:  { agg: max, field: amount, window: 1h }
`;

interface Col {
  /** 'user.x' / 'shop.x' features, or a request field index */
  feature?: string;
  field?: number;
  log1p: boolean;
  fill: number;
}

// A mix of both entities, request fields, transforms and fills.
const COLS: Col[] = [
  { field: 0, log1p: true, fill: 0 },
  { feature: 'user.n_1h', log1p: false, fill: -1 },
  { feature: 'shop.amount_mean', log1p: true, fill: 0 },
  { feature: 'user.amount_max', log1p: false, fill: 7.5 },
  { feature: 'user.countries', log1p: false, fill: 0.25 },
  { feature: 'shop.n_10m', log1p: true, fill: 3 },
  { field: 1, log1p: false, fill: 0 },
  { feature: 'user.amount_mean', log1p: true, fill: 2 },
  { feature: 'shop.amount_max', log1p: false, fill: -4 },
  { field: 0, log1p: false, fill: 0 },
];

const USERS = ['u1', 'émile', 'ユーザー', '🦊fox', 'x'.repeat(256), 'old-user'];
const SHOPS = ['s1', 'магазин', '店', 'old-shop'];
const NOW = 1_700_000_000_000;

function setupStore(): { store: FeatureStore; spec: (keyOrder: ('user' | 'shop')[]) => Binding.GatherSpec; tables: number } {
  const config = loadConfigText(YAML);
  const store = FeatureStore.create(config.storeSpec);
  const rand = rng(11);
  const users: string[] = [];
  const shops: string[] = [];
  const ts: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < 400; i++) {
    const u = USERS[i % 5]; // not old-user
    const s = SHOPS[(i * 7) % 3]; // not old-shop
    users.push(u);
    shops.push(s);
    ts.push(NOW - Math.floor(rand() * 50 * 60_000)); // within the last 50 minutes
    values.push(Math.round(rand() * 5000) / 10, Math.floor(rand() * 12));
  }
  // Entities whose only events fell out of every window: present, but counts 0 and means NaN.
  users.push('old-user', 'u1');
  shops.push('old-shop', 'old-shop');
  ts.push(NOW - 2 * 3_600_000, NOW - 2 * 3_600_000);
  values.push(10, 1, 20, 2);
  const r = store.ingest(0, [users, shops], Float64Array.from(ts), Float64Array.from(values), NOW);
  expect(r).toEqual({ accepted: users.length, late: 0 });
  const tableOf = { user: config.entityIndex.get('user')!, shop: config.entityIndex.get('shop')! };
  const spec = (keyOrder: ('user' | 'shop')[]): Binding.GatherSpec => ({
    tables: keyOrder.map((k) => tableOf[k]),
    fields: 2,
    columns: COLS.map((c) => {
      if (c.field !== undefined) return { source: 1, key: 0, offset: 0, field: c.field, transform: c.log1p ? 1 : 0, fill: c.fill };
      const [entity, name] = c.feature!.split('.') as ['user' | 'shop', string];
      const t = tableOf[entity];
      const feature = config.entities[t].featureIndex.get(name)!;
      return { source: 0, key: keyOrder.indexOf(entity), offset: store.layout(t).offsets[feature], field: 0, transform: c.log1p ? 1 : 0, fill: c.fill };
    }),
  });
  return { store, spec, tables: config.storeSpec.tables.length };
}

interface Rows {
  user: string[];
  shop: string[];
  fields: Float32Array;
}

function requestRows(n: number, seed: number): Rows {
  const rand = rng(seed);
  const pick = (a: string[], unknown: string): string => (rand() < 0.15 ? unknown : a[Math.floor(rand() * a.length)]);
  const user: string[] = [];
  const shop: string[] = [];
  const fields = new Float32Array(n * 2);
  for (let r = 0; r < n; r++) {
    user.push(pick(USERS, r % 2 ? 'nobody' : 'ニン'));
    shop.push(pick(SHOPS, 'no-shop'));
    // amount: mostly positive; a few negative (log1p clamps them to log1p(0)) and NaN (-> fill)
    fields[r * 2] = r % 11 === 3 ? -5 : r % 13 === 5 ? NaN : rand() * 1000;
    fields[r * 2 + 1] = rand() * 100 - 50;
  }
  return { user, shop, fields };
}

/** ids + refs as worker.ts gatherRows packs them (after `pad` junk bytes, to test offsets). */
function pack(rows: Rows, keyOrder: ('user' | 'shop')[], pad = 0): { ids: Uint8Array; refs: Uint32Array } {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [new Uint8Array(pad).fill(0x5a)];
  const n = rows.user.length;
  const refs = new Uint32Array(n * keyOrder.length * 2);
  let at = pad;
  for (let r = 0; r < n; r++) {
    keyOrder.forEach((k, ki) => {
      const b = enc.encode(rows[k][r]);
      parts.push(b);
      refs[(r * keyOrder.length + ki) * 2] = at;
      refs[(r * keyOrder.length + ki) * 2 + 1] = b.length;
      at += b.length;
    });
  }
  const ids = new Uint8Array(at);
  let o = 0;
  for (const p of parts) {
    ids.set(p, o);
    o += p.length;
  }
  return { ids, refs };
}

/**
 * What each cell must be, from store.read(): every column of an absent entity takes the
 * fill; a present entity's NaN (empty window) takes the fill; then log1p of max(v, 0), as
 * model.cc does.
 */
function expected(store: FeatureStore, rows: Rows, now: number): Float64Array {
  const config = loadConfigText(YAML);
  const n = rows.user.length;
  const out = new Float64Array(n * COLS.length);
  for (let r = 0; r < n; r++) {
    const read: Record<string, { v: Float64Array }> = {};
    for (const entity of ['user', 'shop'] as const) {
      const t = config.entityIndex.get(entity)!;
      const v = new Float64Array(store.layout(t).width);
      if (!store.read(t, rows[entity][r], now, v).found) v.fill(NaN);
      read[entity] = { v };
    }
    COLS.forEach((c, ci) => {
      let v: number;
      if (c.field !== undefined) v = rows.fields[r * 2 + c.field];
      else {
        const [entity, name] = c.feature!.split('.') as ['user' | 'shop', string];
        const t = config.entityIndex.get(entity)!;
        v = read[entity].v[store.layout(t).offsets[config.entities[t].featureIndex.get(name)!]];
      }
      if (Number.isNaN(v)) v = c.fill;
      if (c.log1p) v = Math.log1p(Math.max(v, 0));
      out[r * COLS.length + ci] = v;
    });
  }
  return out;
}

function compare(got: Float32Array, want: Float64Array, rows: Rows): string[] {
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const w = Math.fround(want[i]);
    if (!(Math.abs(got[i] - w) <= 1e-6 * Math.max(1, Math.abs(w)))) {
      const r = Math.floor(i / COLS.length);
      if (bad.length < 5) bad.push(`row ${r} (${rows.user[r]}, ${rows.shop[r]}) column ${i % COLS.length}: ${got[i]}, expected ${w}`);
    }
  }
  return bad;
}

describe('Gather against store.read()', () => {
  it('fills every cell as the store reads it, for either key order', () => {
    const { store, spec } = setupStore();
    const rows = requestRows(150, 3);
    // Sanity of the fixture: the cases the test is about are there.
    expect(rows.user.filter((u) => u === 'nobody' || u === 'ニン').length).toBeGreaterThan(5);
    expect(rows.shop.filter((s) => s === 'no-shop').length).toBeGreaterThan(5);
    expect(rows.user.filter((u) => u === 'old-user').length).toBeGreaterThan(2);
    const want = expected(store, rows, NOW);
    for (const order of [['user', 'shop'], ['shop', 'user']] as ('user' | 'shop')[][]) {
      const g = new Gather(store.id, spec(order));
      for (const pad of [0, 13]) {
        const { ids, refs } = pack(rows, order, pad);
        const x = new Float32Array(rows.user.length * COLS.length + 2).fill(-999);
        g.run(ids, refs, rows.fields, rows.user.length, NOW, x);
        expect(compare(x, want, rows), `order ${order}, pad ${pad}`).toEqual([]);
        expect(Array.from(x.subarray(rows.user.length * COLS.length))).toEqual([-999, -999]);
      }
    }
    // The expectations themselves are not trivial: real feature values, fills and clamps occur.
    const col = (c: number) => Array.from({ length: rows.user.length }, (_, r) => want[r * COLS.length + c]);
    expect(col(1).filter((v) => v > 10).length).toBeGreaterThan(10); // user counts
    expect(col(1)).toContain(0); // old-user: present, count 0 (not the fill)
    expect(col(1)).toContain(-1); // an unknown user: every column takes its fill, counts too
    expect(col(3)).toContain(7.5); // max of an empty window -> fill
    expect(col(2)).toContain(0); // mean of an unknown shop -> fill 0, then log1p
    expect(col(8)).toContain(-4); // max of an unknown shop -> fill
    expect(col(0)).toContain(0); // negative amount clamped, NaN amount -> fill 0
    expect(col(9)).toContain(-5);
  });

  // native/core/model.h: "Missing values (absent entity, empty window) take `fill`". For an
  // absent entity that must hold for every feature column, counts and distincts included.
  it('gives the fill for every feature column of an unknown id', () => {
    const { store, spec } = setupStore();
    const g = new Gather(store.id, spec(['user', 'shop']));
    const rows: Rows = { user: ['nobody', 'u1'], shop: ['магазин', 'nowhere'], fields: Float32Array.of(1, 2, 3, 4) };
    const { ids, refs } = pack(rows, ['user', 'shop']);
    const x = new Float32Array(2 * COLS.length);
    g.run(ids, refs, rows.fields, 2, NOW, x);
    const mismatches: string[] = [];
    COLS.forEach((c, ci) => {
      const want = Math.fround(c.log1p ? Math.log1p(Math.max(c.fill, 0)) : c.fill);
      if (c.feature?.startsWith('user.') && x[ci] !== want) mismatches.push(`nobody ${c.feature}: ${x[ci]}, expected fill ${want}`);
      if (c.feature?.startsWith('shop.') && x[COLS.length + ci] !== want)
        mismatches.push(`nowhere ${c.feature}: ${x[COLS.length + ci]}, expected fill ${want}`);
    });
    expect(mismatches).toEqual([]);
    expect(x[COLS.length + 1]).toBeGreaterThan(0); // u1 is known: its count is no fill
  });

  it('refuses bad refs and short arrays with HP_ERR_NATIVE_INVALID_ARG', () => {
    const { store, spec } = setupStore();
    const g = new Gather(store.id, spec(['user', 'shop']));
    const invalid = code('HP_ERR_NATIVE_INVALID_ARG');
    const ids = new TextEncoder().encode(`u1s1${'y'.repeat(300)}`);
    const fields = new Float32Array(2);
    const x = new Float32Array(COLS.length);
    const run = (refs: number[]) => () => g.run(ids, Uint32Array.from(refs), fields, 1, NOW, x);
    expect(run([0, 2, 2, 2])).not.toThrow();
    expect(run([0, 2, ids.length - 1, 2])).toThrow(invalid); // past the end
    expect(run([0, 2, ids.length, 1])).toThrow(invalid);
    expect(run([0, 2, 0xffffffff, 2])).toThrow(invalid); // offset + len overflows 32 bits
    expect(run([0, 2, 2, 0])).toThrow(invalid); // empty id
    expect(run([4, 257, 0, 2])).toThrow(invalid); // longer than 256 bytes
    expect(run([4, 256, 0, 2])).not.toThrow(); // exactly 256 is fine (an unknown id)
    expect(run([0, 2])).toThrow(invalid); // refs shorter than batch x keys x 2
    expect(() => g.run(ids, Uint32Array.of(0, 2, 2, 2), new Float32Array(1), 1, NOW, x)).toThrow(invalid);
    expect(() => g.run(ids, Uint32Array.of(0, 2, 2, 2), fields, 1, NOW, new Float32Array(COLS.length - 1))).toThrow(invalid);
    expect(() => g.run(ids, Uint32Array.of(0, 2, 2, 2), fields, -1, NOW, x)).toThrow(invalid);
    // A refused call writes nothing.
    x.fill(42);
    expect(run([0, 2, 2, 0])).toThrow(invalid);
    expect(Array.from(x).every((v) => v === 42)).toBe(true);
  });

  it('refuses an unknown store id and bad specs', () => {
    const { store, spec } = setupStore();
    expect(() => new Gather(987654, spec(['user', 'shop']))).toThrow(code('HP_ERR_NATIVE_NOT_FOUND'));
    const invalid = code('HP_ERR_NATIVE_INVALID_ARG');
    const good = spec(['user', 'shop']);
    const bad = (f: (s: Binding.GatherSpec) => void) => () => {
      const s = structuredClone(good);
      f(s);
      return new Gather(store.id, s);
    };
    expect(bad(() => {})).not.toThrow();
    expect(bad((s) => (s.tables = [0, 5]))).toThrow(invalid);
    expect(bad((s) => (s.columns[1].key = 2))).toThrow(invalid);
    expect(bad((s) => (s.columns[1].offset = 10_000))).toThrow(invalid);
    expect(bad((s) => (s.columns[0].field = 2))).toThrow(invalid);
    expect(bad((s) => (s.columns[0].transform = 2))).toThrow(invalid);
    expect(bad((s) => (s.columns[0].source = 2))).toThrow(invalid);
    expect(bad((s) => (s.columns = []))).toThrow(invalid);
  });

  it('reads the same values from a Gather created on a worker thread (attached by store id)', async () => {
    const { store, spec } = setupStore();
    const rows = requestRows(60, 8);
    const order: ('user' | 'shop')[] = ['shop', 'user'];
    const { ids, refs } = pack(rows, order, 5);
    // The worker uses the raw addon (plain JS, no TypeScript loader needed).
    const src = `
      const { parentPort, workerData: d } = require('node:worker_threads');
      const addon = require(d.addon);
      let missing = '';
      try { new addon.Gather(987654, d.spec); } catch (e) { missing = e.code; }
      const g = new addon.Gather(d.storeId, d.spec);
      const x = new Float32Array(d.batch * d.spec.columns.length);
      g.run(d.ids, d.refs, d.fields, d.batch, d.now, x);
      parentPort.postMessage({ x, missing });
    `;
    const res = await new Promise<{ x: Float32Array; missing: string }>((resolve, reject) => {
      const w = new Worker(src, {
        eval: true,
        workerData: { addon: ADDON_PATH, storeId: store.id, spec: spec(order), ids, refs, fields: rows.fields, batch: rows.user.length, now: NOW },
      });
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (c) => reject(new Error(`gather worker exited with ${c} before reporting`)));
    });
    expect(res.missing).toBe('HP_ERR_NATIVE_NOT_FOUND');
    expect(compare(res.x, expected(store, rows, NOW), rows)).toEqual([]);
    // And it matches this thread's Gather bit for bit.
    const x = new Float32Array(rows.user.length * COLS.length);
    new Gather(store.id, spec(order)).run(ids, refs, rows.fields, rows.user.length, NOW, x);
    expect(Array.from(res.x)).toEqual(Array.from(x));
  }, 60_000);
});
