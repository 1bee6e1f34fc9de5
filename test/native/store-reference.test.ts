// Differential tests: the native store against test/support/reference-store.ts, a naive
// model that keeps every event and computes each feature from them at read time.
//
// Randomized runs are seeded (mulberry32); set HOTPATH_REF_SEED to reproduce or vary one.
import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { HotpathError } from '../../src/errors.js';
import { ADDON_PATH, type AggName, type Binding, constants, FeatureStore, hashIds } from '../../src/native/binding.js';
import { type RefFeature, ReferenceStore } from '../support/reference-store.js';
import { mulberry32 } from '../support/random.js';

// ---------------------------------------------------------------------------------------
// Helpers

const SEED = process.env.HOTPATH_REF_SEED === undefined ? 0x5eed2024 : Number(process.env.HOTPATH_REF_SEED);

function feat(
  name: string,
  agg: AggName,
  stream: number,
  field: number,
  o: { windowMs?: number; tileMs?: number; param?: number } = {},
): Binding.FeatureSpec {
  return { name, agg: constants.aggs[agg], stream, field, windowMs: o.windowMs ?? 0, tileMs: o.tileMs ?? 0, param: o.param ?? 0 };
}

function table(name: string, features: Binding.FeatureSpec[]): Binding.TableSpec {
  return { name, ttlMs: 0, memoryBytes: 64 * 1024 * 1024, shards: 4, features };
}

const LATENESS_MS = 15_000;
const MAX_FUTURE_MS = 3000; // randomized runs send some events up to 3 s ahead of the wall clock

/**
 * Stream 0 "events" (fields x, cat; keys user, shop), lateness 15 s.
 * Stream 1 "clicks" (field v; key user), lateness 0.
 */
function randomizedSpec(): Binding.StoreSpec {
  const s = 1000;
  return {
    maxFutureMs: MAX_FUTURE_MS,
    streams: [
      { name: 'events', fields: 2, latenessMs: LATENESS_MS, tables: [0, 1] },
      { name: 'clicks', fields: 1, latenessMs: 0, tables: [0] },
    ],
    tables: [
      table('user', [
        // (events, 1 s) group: windows 3 s, 10 s and 60 s share one ring of 60 (+3 max_future) tiles
        feat('count_10s', 'count', 0, -1, { windowMs: 10 * s, tileMs: s }),
        feat('count_60s', 'count', 0, -1, { windowMs: 60 * s, tileMs: s }),
        feat('mean_10s', 'mean', 0, 0, { windowMs: 10 * s, tileMs: s }),
        feat('min_3s', 'min', 0, 0, { windowMs: 3 * s, tileMs: s }),
        feat('max_60s_t1', 'max', 0, 0, { windowMs: 60 * s, tileMs: s }),
        // (events, 5 s) group: 60 s and 20 s windows share a ring of 12 (+1) tiles
        feat('sum_60s', 'sum', 0, 0, { windowMs: 60 * s, tileMs: 5 * s }),
        feat('mean_60s', 'mean', 0, 0, { windowMs: 60 * s, tileMs: 5 * s }),
        feat('min_60s', 'min', 0, 0, { windowMs: 60 * s, tileMs: 5 * s }),
        feat('max_60s', 'max', 0, 0, { windowMs: 60 * s, tileMs: 5 * s }),
        feat('stddev_60s', 'stddev', 0, 0, { windowMs: 60 * s, tileMs: 5 * s }),
        feat('sum_20s', 'sum', 0, 0, { windowMs: 20 * s, tileMs: 5 * s }),
        feat('stddev_20s', 'stddev', 0, 0, { windowMs: 20 * s, tileMs: 5 * s }),
        // distinct keeps its own sliding HLL per feature
        feat('distinct_cat_30s', 'distinct', 0, 1, { windowMs: 30 * s, tileMs: s, param: 12 }),
        feat('distinct_cat_10s', 'distinct', 0, 1, { windowMs: 10 * s, tileMs: 2 * s, param: 12 }),
        feat('last_x', 'last', 0, 0),
        feat('last4_x', 'last_n', 0, 0, { param: 4 }),
        feat('ewm_x', 'ewm', 0, 0, { param: 7 * s }),
        // stream 1 on the same table: a 1 s tile too, but its own group and watermark
        feat('clicks_10s', 'count', 1, -1, { windowMs: 10 * s, tileMs: s }),
        feat('clicks_sum_60s', 'sum', 1, 0, { windowMs: 60 * s, tileMs: 5 * s }),
        feat('last_click', 'last', 1, 0),
      ]),
      table('shop', [
        feat('count_30s', 'count', 0, -1, { windowMs: 30 * s, tileMs: s }),
        feat('sum_2m', 'sum', 0, 0, { windowMs: 120 * s, tileMs: 10 * s }),
        feat('stddev_2m', 'stddev', 0, 0, { windowMs: 120 * s, tileMs: 10 * s }),
        feat('last3_cat', 'last_n', 0, 1, { param: 3 }),
        feat('ewm_x_2s', 'ewm', 0, 0, { param: 2 * s }),
        feat('distinct_x_60s', 'distinct', 0, 0, { windowMs: 60 * s, tileMs: 5 * s, param: 12 }),
      ]),
    ],
  };
}

const fmt = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));
const fmtArr = (a: ArrayLike<number>): string => `[${Array.from(a, fmt).join(', ')}]`;

/** Relative 1e-9 plus absolute 1e-9; NaN only matches NaN. */
function close(got: number, want: number): boolean {
  if (Number.isNaN(want) || Number.isNaN(got)) return Number.isNaN(want) && Number.isNaN(got);
  return Math.abs(got - want) <= 1e-9 + 1e-9 * Math.abs(want);
}

function distinctTolerance(exact: number, p: number): number {
  return Math.max(2, ((3 * 1.04) / Math.sqrt(2 ** p)) * exact);
}

// A plain HyperLogLog with the engine's hash (native/core/hash.h HashDouble, splitmix64
// finaliser) and estimator (HllEstimate): what a non-sliding sketch of exactly the
// window's values would say.
const U64 = (1n << 64n) - 1n;
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
function hashDouble(v: number): bigint {
  f64[0] = v === 0 ? 0 : v; // -0 hashes as 0
  let x = u64[0] ^ 0x6a09e667f3bcc909n;
  x ^= x >> 30n;
  x = (x * 0xbf58476d1ce4e5b9n) & U64;
  x ^= x >> 27n;
  x = (x * 0x94d049bb133111ebn) & U64;
  return x ^ (x >> 31n);
}
function plainHll(values: number[], p: number): number {
  const m = 1 << p;
  const ranks = new Uint8Array(m);
  for (const v of values) {
    const h = hashDouble(v);
    const w = (h << BigInt(p)) & U64;
    const rank = w === 0n ? 64 - p + 1 : 64 - w.toString(2).length + 1;
    const reg = Number(h >> BigInt(64 - p));
    ranks[reg] = Math.max(ranks[reg], rank);
  }
  let z = 0;
  let zeros = 0;
  for (const r of ranks) {
    z += 2 ** -r;
    if (r === 0) zeros++;
  }
  if (zeros === m) return 0;
  const alpha = m === 16 ? 0.673 : m === 32 ? 0.697 : m === 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
  let e = (alpha * m * m) / z;
  if (e <= 2.5 * m && zeros > 0) e = m * Math.log(m / zeros);
  return Math.round(e);
}

/** Compares one feature's slots; returns a description of the mismatch or null. */
function compareFeature(f: RefFeature, got: Float64Array, want: Float64Array): string | null {
  const g = got.subarray(f.outOff, f.outOff + f.width);
  const w = want.subarray(f.outOff, f.outOff + f.width);
  let ok: boolean;
  switch (f.agg) {
    case 'sum':
    case 'mean':
    case 'stddev':
    case 'ewm':
      ok = close(g[0], w[0]);
      break;
    case 'distinct':
      ok = Math.abs(g[0] - w[0]) <= distinctTolerance(w[0], f.param);
      break;
    default: // count, min, max, last, last_n: exact (bit-for-bit, NaN for null)
      ok = Array.from(g).every((v, i) => Object.is(v, w[i]));
  }
  return ok ? null : `${f.name} (${f.agg}): engine ${fmtArr(g)}, reference ${fmtArr(w)}`;
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** Per read kind, histogram of (engine - exact) for distinct features. */
type ErrorHistogram = Map<string, Map<number, number>>;

// ---------------------------------------------------------------------------------------
// Randomized comparison

interface RunSummary {
  events: number;
  batches: number;
  late: number[];
  outOfOrder: number;
  withinLateness: number;
  reads: number;
  distinctErrors: ErrorHistogram;
  /** |relative error| of distinct reads before the entity's newest tile */
  pastRelErr: { n: number; sum: number; max: number };
  /** distinct reads outside the tolerance that a plain HLL of the window gives too */
  hllNoise: string[];
}

function randomizedRun(seed: number, targetEvents: number): RunSummary {
  const rnd = mulberry32(seed);
  const spec = randomizedSpec();
  const store = FeatureStore.create(spec);
  const ref = new ReferenceStore(spec);
  const USERS = 50;
  const SHOPS = 7;
  const userIds = Array.from({ length: USERS }, (_, i) => `user-${i}`);
  const shopIds = Array.from({ length: SHOPS }, (_, i) => `shop-${i}`);
  const outs = [0, 1].map((t) => new Float64Array(store.layout(t).width));
  for (const t of [0, 1]) expect(store.layout(t).width).toBe(ref.width(t));

  let clock = 1_700_000_000_123; // wall clock passed to ingest; event times jitter around it
  const maxTs = [-Infinity, -Infinity]; // per stream: newest accepted event time
  const wm = [-Infinity, -Infinity]; // per stream: watermark (follows event time, capped at the clock)
  const summary: RunSummary = {
    events: 0, batches: 0, late: [0, 0], outOfOrder: 0, withinLateness: 0, reads: 0, distinctErrors: new Map(),
    pastRelErr: { n: 0, sum: 0, max: 0 },
    hllNoise: [],
  };
  const failures: string[] = [];
  const ctx = (batch: number) => `seed=${seed} (HOTPATH_REF_SEED=${seed}) batch=${batch}`;

  const genTs = (stream: number): number => {
    clock += Math.floor(rnd() * 41);
    if (rnd() < 0.002) clock += 20_000 + Math.floor(rnd() * 70_000); // a gap: every window empties
    const W = wm[stream];
    const r = rnd();
    let ts: number;
    if (stream === 1) ts = clock - (r < 0.5 ? 0 : Math.floor(rnd() * 500)); // lateness 0: many late
    else if (r < 0.05) ts = clock + 1 + Math.floor(rnd() * MAX_FUTURE_MS); // a clock running ahead
    else if (r < 0.45) ts = clock;
    else if (r < 0.65) ts = clock - Math.floor(rnd() * 2000);
    else if (r < 0.78) ts = clock - Math.floor(rnd() * LATENESS_MS);
    else if (r < 0.83 && W > -Infinity) ts = W - LATENESS_MS + Math.floor(rnd() * 3) - 1; // lateness edge
    else if (r < 0.88) ts = clock - LATENESS_MS - Math.floor(rnd() * 45_000); // mostly beyond lateness
    else if (r < 0.96) {
      const T = [1000, 2000, 5000, 10_000][Math.floor(rnd() * 4)];
      ts = Math.floor((clock - rnd() * 20_000) / T) * T - (rnd() < 0.5 ? 1 : 0); // tile edges
    } else ts = clock - rnd() * 3000; // fractional times
    return ts;
  };
  const genX = (): number => {
    const v = rnd() < 0.2 ? Math.floor(rnd() * 11) - 5 : Math.round((rnd() * 200 - 100) * 100) / 100;
    return v || 0; // no -0 in x: min/max of equal zeros would be order-dependent
  };
  const genCat = (): number => (rnd() < 0.03 ? -0 : Math.floor(rnd() * 60) - 20);

  let batch = 0;
  while (summary.events < targetEvents) {
    batch++;
    const stream = rnd() < 0.8 ? 0 : 1;
    const n = 1 + Math.floor(rnd() * 500);
    const nf = spec.streams[stream].fields;
    const ts = new Float64Array(n);
    const values = new Float64Array(n * nf);
    const users: string[] = [];
    const shops: string[] = [];
    for (let i = 0; i < n; i++) {
      ts[i] = genTs(stream);
      if (ts[i] >= wm[stream] - spec.streams[stream].latenessMs) {
        if (ts[i] < maxTs[stream]) summary.outOfOrder++;
        if (ts[i] < wm[stream] && stream === 0) summary.withinLateness++;
        maxTs[stream] = Math.max(maxTs[stream], ts[i]);
        wm[stream] = Math.max(wm[stream], Math.min(ts[i], clock));
      }
      users.push(userIds[Math.floor(USERS * rnd() ** 2)]); // skewed: a few busy users
      if (stream === 0) {
        shops.push(shopIds[Math.floor(SHOPS * rnd())]);
        values[i * 2] = genX();
        values[i * 2 + 1] = genCat();
      } else values[i] = genX();
    }
    const keys = stream === 0 ? [users, shops] : [users];
    const got = store.ingest(stream, keys, ts, values, clock);
    const want = ref.ingest(stream, keys, ts, values, clock);
    if (got.accepted !== want.accepted || got.late !== want.late)
      failures.push(`${ctx(batch)} stream ${stream}: ingest engine ${JSON.stringify(got)}, reference ${JSON.stringify(want)}`);
    summary.late[stream] += got.late;
    summary.events += n;
    summary.batches++;

    // Reads at several times around the newest event.
    const now = Math.max(maxTs[0], maxTs[1]);
    const times: [string, number][] = [
      ['now=max ts', now],
      ['now=k*5s', Math.floor(now / 5000) * 5000],
      ['now=k*5s-1', Math.floor(now / 5000) * 5000 - 1],
      ['now=k*1s-1', Math.floor(now / 1000) * 1000 - 1],
      ['now=max ts+37s', now + 37_000],
      ['now=past', now - Math.floor(rnd() * 70_000)],
    ];
    const readIds: [number, string][] = [];
    for (let k = 0; k < 10; k++) readIds.push([0, userIds[Math.floor(rnd() * USERS)]]);
    readIds.push([0, 'user-never-seen'], [1, shopIds[Math.floor(rnd() * SHOPS)]]);
    for (const [kind, t] of times) {
      for (const [tb, id] of readIds) {
        const out = outs[tb];
        const r = store.read(tb, id, t, out);
        const w = ref.read(tb, id, t);
        summary.reads++;
        const where = `${ctx(batch)} table=${tb} id=${id} ${kind} (${t})`;
        if (r.found !== w.found || !Object.is(r.ageMs, w.ageMs))
          failures.push(`${where}: found/ageMs engine ${r.found}/${r.ageMs}, reference ${w.found}/${w.ageMs}`);
        ref.features(tb).forEach((f, fi) => {
          if (f.agg !== 'distinct') {
            const bad = compareFeature(f, out, w.out);
            if (bad) failures.push(`${where}: ${bad}`);
            return;
          }
          // Distinct: the sliding HLL answers for windows that end at or after the entity's
          // newest tile. Reading earlier than that, a value that recurs after the read time
          // is only remembered at its later epoch, so it is missed (see the minimal case
          // below): there only "no overcount" is asserted, and the error is reported.
          const got = out[f.outOff];
          const exact = w.out[f.outOff];
          const present = Math.floor(t / f.tileMs) >= ref.head(tb, id, fi);
          const tol = distinctTolerance(exact, f.param);
          if (present ? Math.abs(got - exact) > tol : got - exact > tol) {
            // Outside the tolerance: still fine if it is exactly what a plain (non-sliding)
            // HyperLogLog of the window's values estimates, i.e. estimator noise (hash
            // collisions) rather than the engine's windowing. For reads before the newest
            // tile the engine may only be lower than that.
            const plain = plainHll(ref.windowValues(tb, id, fi, t), f.param);
            if (present ? got !== plain : got > plain)
              failures.push(`${where}: ${f.name} (distinct, ${present ? 'at/after' : 'before'} newest tile): engine ${got}, exact ${exact}, plain HLL of the window ${plain}`);
            else summary.hllNoise.push(`${kind} ${f.name}: exact ${exact}, engine ${got} = plain HLL ${plain}`);
          }
          const key = `${f.name.padEnd(17)} read ${present ? 'at/after' : 'before  '} newest tile`;
          let h = summary.distinctErrors.get(key);
          if (!h) summary.distinctErrors.set(key, (h = new Map()));
          h.set(got - exact, (h.get(got - exact) ?? 0) + 1);
          if (!present) {
            summary.pastRelErr.n++;
            summary.pastRelErr.sum += exact ? Math.abs(got - exact) / exact : 0;
            summary.pastRelErr.max = Math.max(summary.pastRelErr.max, exact ? Math.abs(got - exact) / exact : 0);
          }
        });
      }
    }

    // readMany (string ids and pre-hashed ids) returns exactly what read returns.
    const ids = [...new Set(readIds.filter(([tb]) => tb === 0).map(([, id]) => id))];
    const width = outs[0].length;
    const single = new Float64Array(ids.length * width);
    const singleAges = new Float64Array(ids.length);
    let singleFound = 0;
    ids.forEach((id, i) => {
      const r = store.read(0, id, now, single.subarray(i * width, (i + 1) * width));
      singleAges[i] = r.ageMs;
      singleFound += r.found ? 1 : 0;
    });
    for (const column of [ids, hashIds(ids)] as Binding.KeyColumn[]) {
      const many = new Float64Array(ids.length * width);
      const ages = new Float64Array(ids.length);
      const found = store.readMany(0, column, now, many, ages);
      if (found !== singleFound || !sameBits(many, single) || !sameBits(ages, singleAges))
        failures.push(`${ctx(batch)}: readMany(${column instanceof BigUint64Array ? 'hashes' : 'strings'}) differs from read`);
    }

    if (failures.length >= 20) break;
  }

  if (failures.length === 0) {
    for (const t of [0, 1]) {
      const st = store.stats(t);
      const rs = ref.tableStats(t);
      if (st.updates !== rs.updates || st.watermarkMs !== rs.watermarkMs || st.live !== rs.live)
        failures.push(`seed=${seed} table ${t} stats: engine ${JSON.stringify(st)}, reference ${JSON.stringify(rs)}`);
    }
  }
  if (failures.length) {
    throw new Error(`${failures.length} mismatch(es), seed=${seed}:\n  ${failures.slice(0, 20).join('\n  ')}`);
  }
  return summary;
}

function printHistogram(title: string, h: ErrorHistogram): void {
  const lines = [...h].map(([kind, m]) => {
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    const parts = [...m].sort((a, b) => a[0] - b[0]).map(([e, c]) => `${e > 0 ? '+' : ''}${e}:${c}`);
    return `  ${kind} n=${total}  error:count ${parts.join(' ')}`;
  });
  console.log(`${title}\n${lines.join('\n')}`);
}

describe('native store vs reference model', () => {
  it(`randomized: every aggregate, out-of-order and late events (seed ${SEED})`, () => {
    const s = randomizedRun(SEED, 20_000);
    console.log(
      `randomized seed=${SEED}: ${s.events} events in ${s.batches} batches, ${s.late[0]} + ${s.late[1]} late ` +
        `(events + clicks), ${s.outOfOrder} applied out of order (${s.withinLateness} on the 15 s-lateness stream), ` +
        `${s.reads} entity reads compared`,
    );
    printHistogram('distinct (p=12): histogram of engine - exact', s.distinctErrors);
    if (s.hllNoise.length)
      console.log(`distinct outside max(2, 3 x 1.04/sqrt(m) x exact) but equal to a plain HLL of the window:\n  ${s.hllNoise.join('\n  ')}`);
    const pe = s.pastRelErr;
    console.log(`distinct reads before the newest tile: n=${pe.n}, mean |rel err| ${((100 * pe.sum) / pe.n).toFixed(2)}%, max ${(100 * pe.max).toFixed(1)}%`);
    // The generator must actually exercise the paths under test.
    expect(s.late[0], `seed=${SEED}`).toBeGreaterThan(300);
    expect(s.late[1], `seed=${SEED}`).toBeGreaterThan(300);
    expect(s.withinLateness, `seed=${SEED}`).toBeGreaterThan(s.events * 0.2);
  });

  it('randomized: a second seed, shorter run', () => {
    randomizedRun(SEED ^ 0x9e3779b9, 6_000);
  });
});

// ---------------------------------------------------------------------------------------
// Window boundaries

describe('window expiry at tile boundaries', () => {
  const T = 5000;
  const spec: Binding.StoreSpec = {
    maxFutureMs: 2 * T, // rings keep 2 tiles for events ahead of the clock
    streams: [{ name: 's', fields: 1, latenessMs: 3_600_000, tables: [0] }],
    tables: [
      table('e', [
        feat('c60', 'count', 0, -1, { windowMs: 60_000, tileMs: T }),
        feat('c10', 'count', 0, -1, { windowMs: 10_000, tileMs: T }),
        feat('sum60', 'sum', 0, 0, { windowMs: 60_000, tileMs: T }),
        feat('mean60', 'mean', 0, 0, { windowMs: 60_000, tileMs: T }),
        feat('min60', 'min', 0, 0, { windowMs: 60_000, tileMs: T }),
        feat('max60', 'max', 0, 0, { windowMs: 60_000, tileMs: T }),
        feat('sd60', 'stddev', 0, 0, { windowMs: 60_000, tileMs: T }),
        feat('d60', 'distinct', 0, 0, { windowMs: 60_000, tileMs: T, param: 8 }),
        feat('last', 'last', 0, 0),
      ]),
    ],
  };
  const k = 400_000_000; // tile number of the read time
  const nowIn = k * T + 1234; // inside tile k
  const nowEnd = k * T - 1; // last ms of tile k-1
  const cur = Math.floor(nowIn / T);

  /** One entity per case, each with a single event of value 3.5. */
  function single(ts: number) {
    const store = FeatureStore.create(spec);
    const ref = new ReferenceStore(spec);
    const ingest = (t: number, v = 3.5) => {
      for (const s of [store, ref]) s.ingest(0, [['e1']], new Float64Array([t]), new Float64Array([v]), t);
    };
    expect(spec.maxFutureMs).toBe(2 * T);
    ingest(ts);
    const out = new Float64Array(store.layout(0).width);
    const read = (now: number) => {
      store.read(0, 'e1', now, out);
      const r = ref.read(0, 'e1', now).out;
      const names = spec.tables[0].features.map((f) => f.name);
      const engine = Object.fromEntries(names.map((n, i) => [n, out[i]]));
      const reference = Object.fromEntries(names.map((n, i) => [n, r[i]]));
      expect(engine, `reference model, now=${now}, event ts=${ts}`).toEqual(reference);
      return engine;
    };
    return { read, ingest };
  }
  const inWindow = { c60: 1, sum60: 3.5, mean60: 3.5, min60: 3.5, max60: 3.5, sd60: 0, d60: 1, last: 3.5 };
  const outOfWindow = { c60: 0, sum60: 0, mean60: NaN, min60: NaN, max60: NaN, sd60: NaN, d60: 0, last: 3.5 };

  it('an event at the first ms of the oldest tile, (cur - ntiles + 1) * T, is counted', () => {
    const { read } = single((cur - 12 + 1) * T);
    expect(read(nowIn)).toMatchObject({ ...inWindow, c10: 0 });
    expect(read((cur + 1) * T - 1)).toMatchObject({ ...inWindow, c10: 0 }); // last ms before it expires
    expect(read((cur + 1) * T)).toMatchObject(outOfWindow); // next tile: gone
  });

  it('an event 1 ms before the oldest tile is not counted', () => {
    const { read } = single((cur - 12 + 1) * T - 1);
    expect(read(nowIn)).toMatchObject({ ...outOfWindow, c10: 0 });
    expect(read(cur * T - 1)).toMatchObject({ ...inWindow, c10: 0 }); // one tile earlier it was
  });

  it('the shorter window of a shared ring has its own boundary', () => {
    expect(single((cur - 1) * T).read(nowIn)).toMatchObject({ c10: 1, c60: 1 });
    expect(single((cur - 1) * T - 1).read(nowIn)).toMatchObject({ c10: 0, c60: 1 });
  });

  it('an event after the read time, in the next tile, is not counted', () => {
    const { read } = single(nowEnd + 1);
    expect(read(nowEnd)).toMatchObject({ ...outOfWindow, c10: 0 });
    expect(read(nowEnd + 1)).toMatchObject({ ...inWindow, c10: 1 });
  });

  it('an event after the read time but in the same tile is counted (tile granularity)', () => {
    // Documented semantics: the window is whole tiles [cur - ntiles + 1, cur], so an event
    // later than `now` in now's own tile is inside it.
    const { read } = single(nowIn + 1);
    expect(read(nowIn)).toMatchObject({ ...inWindow, c10: 1 });
  });

  it('ring retention: events up to max_future ahead keep the window; later ones clear its oldest tile', () => {
    // The ring of the 5 s group holds 12 + 2 tiles. An event from a clock 10 s ahead
    // (tile cur+2) leaves tile cur-11 in it; one in tile cur+3 clears it, even for reads
    // at a time whose window still covers that tile.
    const { read, ingest } = single((cur - 11) * T);
    expect(read(nowIn)).toMatchObject({ c60: 1 });
    ingest((cur + 2) * T, 4.5);
    expect(read(nowIn)).toMatchObject({ c60: 1, sum60: 3.5, d60: 1 });
    ingest((cur + 3) * T, 4.5);
    expect(read(nowIn)).toMatchObject({ c60: 0, sum60: 0, d60: 0 });
    expect(read((cur + 3) * T)).toMatchObject({ c60: 2, c10: 2 }); // tiles cur+2 and cur+3
  });
});

// ---------------------------------------------------------------------------------------
// All-or-nothing batches

describe('invalid batches change nothing', () => {
  const spec = randomizedSpec();
  const NOW = 1_700_000_100_000; // wall clock of the seeding batch
  const BAD_NOW = NOW + 100_000; // wall clock of the batches under test

  function seeded() {
    const store = FeatureStore.create(spec);
    const ref = new ReferenceStore(spec);
    const rnd = mulberry32(SEED + 1);
    const n = 400;
    const ts = Float64Array.from({ length: n }, (_, i) => NOW - 60_000 + i * 150 - Math.floor(rnd() * 3000));
    const values = Float64Array.from({ length: 2 * n }, (_, i) => (i % 2 ? Math.floor(rnd() * 30) : Math.round(rnd() * 1000) / 10 - 50));
    const users = Array.from({ length: n }, () => `u${Math.floor(rnd() * 12)}`);
    const shops = Array.from({ length: n }, () => `s${Math.floor(rnd() * 3)}`);
    for (const s of [store, ref]) s.ingest(0, [users, shops], ts, values, NOW);
    return { store, ref };
  }

  function snapshot(store: FeatureStore) {
    const ids = [...Array.from({ length: 12 }, (_, i) => `u${i}`), 'new-user'];
    const times = [NOW - 30_000, NOW, NOW + 10_000, NOW + 70_000];
    return {
      reads: times.map((t) => {
        const out = new Float64Array(ids.length * store.layout(0).width);
        const ages = new Float64Array(ids.length);
        store.readMany(0, ids, t, out, ages);
        return [Array.from(out), Array.from(ages)];
      }),
      stats: [store.stats(0), store.stats(1)],
    };
  }

  // A batch of 9 valid events (new ids, a newer watermark: up to NOW + 81 s, before
  // BAD_NOW) with one bad event in the middle.
  function batch(bad: { ts?: number; x?: number; cat?: number }) {
    const ts = Float64Array.from({ length: 9 }, (_, i) => NOW + 1000 + i * 10_000);
    const values = Float64Array.from({ length: 18 }, (_, i) => i + 0.5);
    ts[4] = bad.ts ?? ts[4];
    values[8] = bad.x ?? values[8];
    values[9] = bad.cat ?? values[9];
    const users = Array.from({ length: 9 }, (_, i) => (i % 2 ? 'new-user' : `u${i}`));
    const shops = Array.from({ length: 9 }, () => 'new-shop');
    return { keys: [users, shops], ts, values };
  }

  const cases: [string, { ts?: number; x?: number; cat?: number }][] = [
    ['NaN value', { x: NaN }],
    ['Infinity value', { cat: Infinity }],
    ['-Infinity value', { x: -Infinity }],
    ['Infinity ts', { ts: Infinity }],
    ['NaN ts', { ts: NaN }],
    ['negative ts', { ts: -1 }],
    ['ts beyond nowMs + maxFutureMs', { ts: BAD_NOW + MAX_FUTURE_MS + 1 }],
  ];

  for (const [name, bad] of cases) {
    it(`${name}: throws HP_ERR_NATIVE_INVALID_ARG and the store reads exactly as before`, () => {
      const { store, ref } = seeded();
      const before = snapshot(store);
      const b = batch(bad);
      let err: unknown;
      try {
        store.ingest(0, b.keys, b.ts, b.values, BAD_NOW);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HotpathError);
      expect((err as HotpathError).code).toBe('HP_ERR_NATIVE_INVALID_ARG');
      expect(() => ref.ingest(0, b.keys, b.ts, b.values, BAD_NOW)).toThrow(HotpathError);
      expect(snapshot(store)).toEqual(before);
      // The watermark did not move either (applied, the batch would have moved it to
      // NOW + 81 s): an event 14 s older than NOW + 1 s is still on time.
      const late = new Float64Array([NOW + 1000 - LATENESS_MS]);
      const r = store.ingest(0, [['u0'], ['s0']], late, new Float64Array([1, 1]), BAD_NOW);
      const w = ref.ingest(0, [['u0'], ['s0']], late, new Float64Array([1, 1]), BAD_NOW);
      expect(r).toEqual(w);
      expect(r).toEqual({ accepted: 1, late: 0 });
    });
  }

  it('the same batch with a valid event there (ts exactly nowMs + maxFutureMs) is applied', () => {
    const { store, ref } = seeded();
    const b = batch({ ts: BAD_NOW + MAX_FUTURE_MS });
    // It moves the watermark to BAD_NOW (capped at the wall clock), which makes the 4
    // events after it, 19 s or more older, late.
    expect(store.ingest(0, b.keys, b.ts, b.values, BAD_NOW)).toEqual({ accepted: 5, late: 4 });
    expect(ref.ingest(0, b.keys, b.ts, b.values, BAD_NOW)).toEqual({ accepted: 5, late: 4 });
    const out = new Float64Array(store.layout(0).width);
    for (const id of ['u0', 'u4', 'new-user']) {
      for (const t of [NOW, NOW + 50_000, BAD_NOW, BAD_NOW + MAX_FUTURE_MS]) {
        store.read(0, id, t, out);
        const want = ref.read(0, id, t).out;
        for (const f of ref.features(0)) expect(compareFeature(f, out, want), `${id} at ${t}`).toBeNull();
      }
    }
  });
});

// ---------------------------------------------------------------------------------------
// Distinct-count accuracy

describe('distinct: HyperLogLog error', () => {
  it('mean absolute relative error <= 1.5 x 1.04/sqrt(2^p) (all values in the window)', () => {
    const precisions = [6, 8, 10, 12];
    const asserted = new Set([6, 8, 10]);
    const cards = [10, 100, 1000, 10_000];
    const SEEDS = 20;
    const spec: Binding.StoreSpec = {
      maxFutureMs: MAX_FUTURE_MS,
      streams: [{ name: 'd', fields: 1, latenessMs: 3_600_000, tables: [0] }],
      tables: [
        table(
          'd',
          precisions.map((p) => feat(`d${p}`, 'distinct', 0, 0, { windowMs: 3_600_000, tileMs: 60_000, param: p })),
        ),
      ],
    };
    const store = FeatureStore.create(spec);
    const T0 = 1_700_000_000_000;
    // errors[p][card] = relative errors over the seeds
    const errors = new Map(precisions.map((p) => [p, new Map(cards.map((c) => [c, [] as number[]]))]));
    const out = new Float64Array(store.layout(0).width);
    for (let s = 0; s < SEEDS; s++) {
      const rnd = mulberry32(SEED + 1000 * s);
      const ids: string[] = [];
      const vals: number[] = [];
      for (const c of cards) {
        const set = new Set<number>();
        while (set.size < c) set.add(rnd() < 0.5 ? Math.floor(rnd() * 2 ** 53) : (rnd() - 0.5) * 1e6);
        const vs = [...set];
        for (const v of vs) if (rnd() < 0.25) vs.push(v); // some repeats: must not count twice
        for (const v of vs) {
          ids.push(`card${c}-seed${s}`);
          vals.push(v);
        }
      }
      // shuffle, then spread over 20 minutes of one window
      const order = ids.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      const ts = Float64Array.from(order, (_, i) => T0 + Math.floor((i / order.length) * 20 * 60_000));
      store.ingest(0, [order.map((i) => ids[i])], ts, Float64Array.from(order, (i) => vals[i]), T0 + 20 * 60_000);
      for (const c of cards) {
        store.read(0, `card${c}-seed${s}`, T0 + 20 * 60_000, out);
        precisions.forEach((p, i) => errors.get(p)!.get(c)!.push((out[i] - c) / c));
      }
    }
    const pct = (x: number) => `${(100 * x).toFixed(2)}%`.padStart(8);
    const rows = [
      `distinct-count error over ${SEEDS} value sets per cell (seed base ${SEED}), all values in the window`,
      `  mean |relative error| (mean signed error, max |relative error|); bound = 1.5 x 1.04/sqrt(2^p)`,
      `  p    bound   ${cards.map((c) => `n=${c}`.padEnd(30)).join('')}`,
    ];
    const violations: string[] = [];
    for (const p of precisions) {
      const bound = (1.5 * 1.04) / Math.sqrt(2 ** p);
      const cells = cards.map((c) => {
        const e = errors.get(p)!.get(c)!;
        const mae = e.reduce((a, b) => a + Math.abs(b), 0) / e.length;
        const bias = e.reduce((a, b) => a + b, 0) / e.length;
        const max = Math.max(...e.map(Math.abs));
        if (asserted.has(p) && mae > bound) violations.push(`p=${p} n=${c}: mean |err| ${pct(mae)} > ${pct(bound)}`);
        return `${pct(mae)} (${pct(bias)}, ${pct(max)})`.padEnd(30);
      });
      rows.push(`  ${String(p).padEnd(3)}${pct(bound)}  ${cells.join('')}`);
    }
    console.log(rows.join('\n'));
    expect(violations, `seed base ${SEED}`).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// Engine discrepancies found by the tests above, minimised. `it.fails` passes while the
// engine still gets it wrong; when it is fixed it fails: turn it into a plain `it`.

describe('engine discrepancies, minimised', () => {
  it.fails('distinct still counts a value that recurs later than the read time (clock ahead)', () => {
    // Window 3 s, tile 1 s, max_future 10 s. Value 7 at t=10 000, then again at t=12 000
    // from a clock 1 s ahead (ingest's now is 11 000). Reading at 11 000 covers tiles
    // 9..11, which hold the first event: count = 1, exact distinct = 1. The sliding HLL
    // keeps one (rank, epoch) per register and value, at the newest epoch (12), so the
    // read sees nothing: the engine returns distinct 0. Same for any read time earlier
    // than the entity's newest tile (the "before newest tile" rows of the randomized test).
    const spec: Binding.StoreSpec = {
      maxFutureMs: 10_000,
      streams: [{ name: 's', fields: 1, latenessMs: 3_600_000, tables: [0] }],
      tables: [
        table('t', [
          feat('d', 'distinct', 0, 0, { windowMs: 3000, tileMs: 1000, param: 12 }),
          feat('c', 'count', 0, -1, { windowMs: 3000, tileMs: 1000 }),
        ]),
      ],
    };
    const store = FeatureStore.create(spec);
    store.ingest(0, [['a']], new Float64Array([10_000]), new Float64Array([7]), 10_000);
    store.ingest(0, [['a']], new Float64Array([12_000]), new Float64Array([7]), 11_000);
    const out = new Float64Array(2);
    store.read(0, 'a', 11_000, out);
    expect(Array.from(out)).toEqual([1, 1]); // engine: [0, 1]
  });

  it('a one-shard table can be written and read (shards: 1, or a budget under 2 entities)', () => {
    // Regression: with a single shard, shard_shift_ is 64 and ShardFor did key >> 64
    // (undefined behaviour; on x86-64 a shift by 0, so the shard index was the whole hash
    // and the process segfaulted). Run in a child process so a crash is a test result.
    const script = `
      const m = require(${JSON.stringify(ADDON_PATH)});
      const s = new m.FeatureStore({ maxFutureMs: 300000,
        streams: [{ name: 's', fields: 0, latenessMs: 0, tables: [0] }],
        tables: [{ name: 't', ttlMs: 0, memoryBytes: 1000000, shards: 1, features: [
          { name: 'c', agg: m.constants.aggs.count, stream: 0, field: -1, windowMs: 3000, tileMs: 1000, param: 0 }] }] });
      s.ingest(0, [['a']], new Float64Array([10000]), new Float64Array(0), 20000);
      const out = new Float64Array(1);
      s.read(0, 'a', 10000, out);
      process.stdout.write(String(out[0]));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect({ signal: r.signal, status: r.status, stdout: r.stdout }).toEqual({ signal: null, status: 0, stdout: '1' });
  });
});
