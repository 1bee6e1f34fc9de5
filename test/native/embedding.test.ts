// EmbeddingIndex (src/native/embedding.ts) through the real addon: .npy files written here
// byte by byte as the format specifies, top-k against a brute force in TypeScript, the
// filters, the async path on the thread pool, and refusals of damaged files.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { mulberry32 } from '../../src/bench/random.js';
import { HotpathError } from '../../src/errors.js';
import { backends } from '../../src/native/binding.js';
import { EmbeddingIndex, embeddingLimits, type TopkOptions } from '../../src/native/embedding.js';

const dir = mkdtempSync(join(tmpdir(), 'hp-embedding-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A .npy file per the format (numpy.lib.format): the magic "\x93NUMPY", the version, the
 * header length (uint16 little-endian in 1.0, uint32 in 2.0), the header (a Python dict
 * literal padded with spaces and ended by a newline so that the data starts at a multiple
 * of 64), then the data.
 */
function npyBytes(header: string, data: Uint8Array, major = 1): Buffer {
  const pre = major === 1 ? 10 : 12;
  let h = header;
  while ((pre + h.length + 1) % 64 !== 0) h += ' ';
  h += '\n';
  const out = Buffer.alloc(pre + h.length + data.length);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = major;
  out[7] = 0;
  if (major === 1) out.writeUInt16LE(h.length, 8);
  else out.writeUInt32LE(h.length, 8);
  out.write(h, pre, 'latin1');
  out.set(data, pre + h.length);
  return out;
}

function floatBytes(m: Float32Array): Uint8Array {
  const b = Buffer.alloc(m.length * 4);
  m.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

function writeNpy(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

const dict = (descr: string, shape: string, fortran = 'False') => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

function randomMatrix(n: number, dim: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n * dim }, () => r() * 2 - 1);
}

/** The reference: every allowed row's dot product (float32 products, summed as the core does), best first, ties by row. */
function bruteForce(m: Float32Array, dim: number, q: Float32Array, k: number, allow: (row: number) => boolean = () => true) {
  const all: { row: number; score: number }[] = [];
  for (let row = 0; row < m.length / dim; row++) {
    if (!allow(row)) continue;
    let s = 0;
    for (let j = 0; j < dim; j++) s += m[row * dim + j] * q[j];
    all.push({ row, score: s });
  }
  all.sort((a, b) => b.score - a.score || a.row - b.row);
  return all.slice(0, k);
}

function topk(ix: EmbeddingIndex, q: Float32Array, k: number, exclude?: Int32Array, o?: TopkOptions) {
  const rows = new Int32Array(k), scores = new Float32Array(k);
  const n = ix.topk(q, k, rows, scores, exclude, o);
  return { rows: [...rows.subarray(0, n)], scores: [...scores.subarray(0, n)] };
}

function expectMatches(got: { rows: number[]; scores: number[] }, want: { row: number; score: number }[]): void {
  expect(got.rows.length).toBe(want.length);
  // Rows agree except where the reference's float64 sums order two near-equal scores otherwise.
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got.scores[i] - want[i].score)).toBeLessThan(1e-4);
    if (got.rows[i] !== want[i].row) expect(Math.abs(want[i].score - (want[i + 1]?.score ?? want[i - 1].score))).toBeLessThan(1e-4);
  }
}

describe('embedding constants', () => {
  it('the addon exports constants.h kEmbedding*', () => {
    const h = readFileSync(new URL('../../native/core/constants.h', import.meta.url), 'utf8');
    const c = (name: string) => Number(new RegExp(`constexpr int ${name} = ([^;]+);`).exec(h)?.[1]);
    expect(embeddingLimits).toEqual({
      maxK: c('kEmbeddingMaxK'),
      maxDim: c('kEmbeddingMaxDim'),
      rerankFactor: c('kEmbeddingRerankFactor'),
      rerankMin: c('kEmbeddingRerankMin'),
      maxCandidates: c('kEmbeddingMaxCandidates'),
    });
  });
});

describe('EmbeddingIndex', () => {
  const n = 2000, dim = 24;
  const m = randomMatrix(n, dim, 7);
  const path = writeNpy('items.npy', npyBytes(dict('<f4', `(${n}, ${dim})`), floatBytes(m)));
  const ix = EmbeddingIndex.load(path);
  const queries = Array.from({ length: 5 }, (_, i) => randomMatrix(1, dim, 100 + i));

  it('loads a .npy file: its shape and rows', () => {
    expect(ix.count).toBe(n);
    expect(ix.dim).toBe(dim);
    const out = new Float32Array(dim);
    ix.row(1234, out);
    expect([...out]).toEqual([...m.subarray(1234 * dim, 1235 * dim)]);
    const v2 = EmbeddingIndex.load(writeNpy('v2.npy', npyBytes(dict('<f4', '(3, 2)'), floatBytes(new Float32Array([1, 2, 3, 4, 5, 6])), 2)));
    expect([v2.count, v2.dim]).toEqual([3, 2]);
  });

  it('top-k equals a brute force, exact and fast, best first', () => {
    for (const q of queries) {
      for (const k of [1, 10, 20]) {
        const want = bruteForce(m, dim, q, k);
        expectMatches(topk(ix, q, k, undefined, { exact: true }), want);
        expectMatches(topk(ix, q, k), want);
        expectMatches(topk(ix, q, k, undefined, { portable: true }), want);
      }
    }
  });

  it('the fast scan keeps recall@20 on a larger matrix (only its candidates are approximate)', () => {
    const big = EmbeddingIndex.fromMatrix(randomMatrix(50000, 64, 9), 50000, 64);
    let hit = 0;
    for (let i = 0; i < 10; i++) {
      const q = randomMatrix(1, 64, 300 + i);
      const exact = new Set(topk(big, q, 20, undefined, { exact: true }).rows);
      hit += topk(big, q, 20).rows.filter((r) => exact.has(r)).length;
    }
    expect(hit / 200).toBeGreaterThanOrEqual(0.99);
    big.release();
  });

  it('options.candidates: a re-rank of every row is the exact answer', () => {
    for (const q of queries) expect(topk(ix, q, 20, undefined, { candidates: n })).toEqual(topk(ix, q, 20, undefined, { exact: true }));
    expect(() => topk(ix, queries[0], 20, undefined, { candidates: embeddingLimits.maxCandidates + 1 })).toThrow(
      expect.objectContaining({ code: 'HP_ERR_NATIVE_INVALID_ARG' }),
    );
  });

  it('excludes rows, and filters by an allowed mask and by category', () => {
    const q = queries[0];
    const best = topk(ix, q, 10, undefined, { exact: true }).rows;
    const exclude = Int32Array.from(best.slice(0, 5));
    const got = topk(ix, q, 10, exclude);
    expect(got.rows.some((r) => best.slice(0, 5).includes(r))).toBe(false);
    expectMatches(got, bruteForce(m, dim, q, 10, (r) => !exclude.includes(r)));

    const allowed = new Uint8Array(Math.ceil(n / 8));
    for (let r = 0; r < n; r += 3) allowed[r >> 3] |= 1 << (r & 7);
    expectMatches(topk(ix, q, 20, undefined, { allowed }), bruteForce(m, dim, q, 20, (r) => r % 3 === 0));

    const categories = Uint16Array.from({ length: n }, (_, r) => r % 4);
    const want = bruteForce(m, dim, q, 20, (r) => r % 4 === 2 && r % 3 === 0 && !exclude.includes(r));
    expectMatches(topk(ix, q, 20, exclude, { allowed, categories, category: 2 }), want);
    expectMatches(topk(ix, q, 20, exclude, { allowed, categories, category: 2, exact: true }), want);
  });

  it('k larger than the rows left returns them all; k = 0 returns none', () => {
    const small = EmbeddingIndex.fromMatrix(new Float32Array([1, 0, 0, 1, 1, 1]), 3, 2);
    expect(topk(small, new Float32Array([1, 2]), 10)).toEqual({ rows: [2, 1, 0], scores: [3, 2, 1] });
    expect(topk(small, new Float32Array([1, 2]), 10, Int32Array.of(1))).toEqual({ rows: [2, 0], scores: [3, 1] });
    expect(topk(small, new Float32Array([1, 2]), 0).rows).toEqual([]);
    const empty = EmbeddingIndex.fromMatrix(new Float32Array(0), 0, 2);
    expect(topk(empty, new Float32Array([1, 2]), 5).rows).toEqual([]);
  });

  it('topkAsync gives the sync answer, on the thread pool, several at once', async () => {
    const run = (q: Float32Array, exclude?: Int32Array, o?: TopkOptions) =>
      new Promise<{ rows: number[]; scores: number[] }>((resolve, reject) =>
        ix.topkAsync(q, 20, exclude, (err, rows, scores) => (err ? reject(err) : resolve({ rows: [...rows], scores: [...scores] })), o),
      );
    const exclude = Int32Array.of(1, 2, 3);
    const results = await Promise.all(queries.map((q) => run(q, exclude)));
    results.forEach((r, i) => expect(r).toEqual(topk(ix, queries[i], 20, exclude)));
    // The query and exclusions were copied: changing them after the call changes nothing.
    const q = Float32Array.from(queries[1]);
    const pending = run(q, exclude);
    q.fill(0);
    exclude.fill(0);
    expect(await pending).toEqual(topk(ix, queries[1], 20, Int32Array.of(1, 2, 3)));
    const categories = Uint16Array.from({ length: n }, (_, r) => r % 2);
    expect(await run(queries[2], undefined, { categories, category: 1, exact: true })).toEqual(
      topk(ix, queries[2], 20, undefined, { categories, category: 1, exact: true }),
    );
  });

  it('an async query in flight survives release(); later calls throw', async () => {
    const own = EmbeddingIndex.fromMatrix(m, n, dim);
    const want = topk(own, queries[0], 5);
    const got = new Promise<number[]>((resolve, reject) => own.topkAsync(queries[0], 5, undefined, (err, rows) => (err ? reject(err) : resolve([...rows]))));
    own.release();
    expect(await got).toEqual(want.rows);
    expect(() => topk(own, queries[0], 5)).toThrow(expect.objectContaining({ code: 'HP_ERR_NATIVE_UNAVAILABLE' }));
  });

  it('refuses bad arguments with HP_ERR_NATIVE_INVALID_ARG', () => {
    const rows = new Int32Array(20), scores = new Float32Array(20);
    const bad = (f: () => unknown) => expect(f).toThrow(expect.objectContaining({ code: 'HP_ERR_NATIVE_INVALID_ARG' }));
    bad(() => ix.topk(new Float32Array(dim - 1), 5, rows, scores));
    bad(() => ix.topk(Float32Array.from({ length: dim }, (_, i) => (i === 3 ? NaN : 1)), 5, rows, scores));
    bad(() => ix.topk(queries[0], embeddingLimits.maxK + 1, new Int32Array(2000), new Float32Array(2000)));
    bad(() => ix.topk(queries[0], 30, rows, scores));
    bad(() => ix.topk(queries[0], 5, rows, scores, undefined, { allowed: new Uint8Array(3) }));
    bad(() => ix.topk(queries[0], 5, rows, scores, undefined, { categories: new Uint16Array(n) }));
    bad(() => ix.row(n, new Float32Array(dim)));
    bad(() => EmbeddingIndex.fromMatrix(new Float32Array(5), 2, 2));
  });

  it('refuses damaged or foreign .npy files with HP_ERR_EMBEDDING_FILE, naming the file and the problem', () => {
    const data = floatBytes(new Float32Array(6).fill(1));
    const cases: [string, Buffer | string, RegExp][] = [
      ['f8.npy', npyBytes(dict('<f8', '(3, 2)'), new Uint8Array(48)), /dtype '<f8' is not float32/],
      ['fortran.npy', npyBytes(dict('<f4', '(3, 2)', 'True'), data), /Fortran order/],
      ['1d.npy', npyBytes(dict('<f4', '(6,)'), data), /shape \(6,\) is not 2-D/],
      ['short.npy', npyBytes(dict('<f4', '(4, 2)'), data), /data is truncated: 24 bytes for shape \(4, 2\), need 32/],
      ['nan.npy', npyBytes(dict('<f4', '(3, 2)'), floatBytes(new Float32Array([1, 2, 3, NaN, 5, 6]))), /row 1 has a NaN or infinite value/],
      ['text.npy', 'hello, not numpy at all', /not a \.npy file/],
      ['missing.npy', '', /cannot open/],
    ];
    for (const [name, bytes, why] of cases) {
      const p = name === 'missing.npy' ? join(dir, 'missing.npy') : writeNpy(name, Buffer.from(bytes));
      let err: unknown;
      try {
        EmbeddingIndex.load(p);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(HotpathError);
      expect((err as HotpathError).code).toBe('HP_ERR_EMBEDDING_FILE');
      expect((err as HotpathError).message).toContain(p);
      expect((err as HotpathError).message).toMatch(why);
    }
  });

  it('CUDA: the device scan equals the CPU twin where a device is present', (ctx) => {
    const cuda = backends().cuda;
    const own = EmbeddingIndex.fromMatrix(m, n, dim);
    if (cuda.devices === 0) {
      expect(() => own.useCuda()).toThrow(expect.objectContaining({ code: cuda.compiled ? 'HP_ERR_NATIVE_UNAVAILABLE' : 'HP_ERR_NATIVE_UNSUPPORTED' }));
      console.log('no CUDA device: skipped');
      ctx.skip();
      return;
    }
    own.useCuda();
    for (const q of queries) expectMatches(topk(own, q, 20, Int32Array.of(0, 1), { cuda: true }), bruteForce(m, dim, q, 20, (r) => r > 1));
  });
});
