// Recommenders below the server: the native table through its wrapper (argument checks,
// string and hashed user ids alike, serialization), the session generator (seeded, with
// its planted structure), the evaluation's Recall/MRR arithmetic on a hand-made dataset,
// and the ranking of methods on the small generated fixture (test/fixtures/sessions-small.csv).
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { generateSessions, npyBytes } from '../../src/bench/sessions.js';
import { loadConfigText } from '../../src/config/load.js';
import { readCsv } from '../../src/learn/csv.js';
import { hashIds } from '../../src/native/binding.js';
import { CovisitTable, covisitLimits } from '../../src/native/covisit.js';
import { covisitMethod, evalSessions, type NextItemMethod, popularityMethod, sessionClicks } from '../../src/recommend/session-eval.js';

const ROOT = join(import.meta.dirname, '../..');

const answer = (k: number) => ({ items: new Float64Array(k), scores: new Float64Array(k), source: new Uint8Array(k) });

describe('CovisitTable', () => {
  it('counts pairs per user, the same for string ids and their hashes', () => {
    const a = new CovisitTable({ window: 2, halfLifeMs: 1000 });
    const b = new CovisitTable({ window: 2, halfLifeMs: 1000 });
    const users = ['u1', 'u1', 'u2', 'u1'];
    const items = Float64Array.from([10, 20, 10, 30]);
    const ts = Float64Array.from([0, 0, 0, 0]);
    a.update(users, items, null, ts, 4);
    b.update(hashIds(users), items, null, ts, 4);
    expect(a.pairWeight(10, 20, 0)).toBeCloseTo(1, 6);
    expect(a.pairWeight(20, 30, 0)).toBeCloseTo(1, 6);
    expect(a.pairWeight(10, 30, 0)).toBeCloseTo(1, 6); // window 2
    expect(a.pairWeight(10, 30, 1000)).toBeCloseTo(0.5, 6); // a half-life later
    expect(a.popularity(10, 0)).toBeCloseTo(2, 6);
    expect(a.userItems('u1')).toEqual([30, 20]);
    expect(Buffer.from(a.serialize()).equals(Buffer.from(b.serialize()))).toBe(true);
    const c = new CovisitTable({ window: 2, halfLifeMs: 1000 });
    c.deserialize(a.serialize());
    const out = answer(3);
    const n = c.recommend({ history: Float64Array.of(10), nHistory: 1, exclude: Float64Array.of(10), nExclude: 1, category: NaN, k: 3, nowMs: 0, recency: 1, popularFill: true }, out);
    expect(n).toBe(2);
    expect([...out.items.subarray(0, 2)].sort()).toEqual([20, 30]);
    expect(out.source[0]).toBe(covisitLimits.sources.covisit);
  });

  it('checks arguments before they cross', () => {
    expect(() => new CovisitTable({ neighbours: 0 })).toThrow(expect.objectContaining({ code: 'HP_ERR_NATIVE_INVALID_ARG' }));
    expect(() => new CovisitTable({ window: covisitLimits.maxWindow + 1 })).toThrow(/window/);
    expect(() => new CovisitTable({ halfLifeMs: 0 })).toThrow(/halfLifeMs/);
    const t = new CovisitTable();
    expect(() => t.update(['u'], Float64Array.of(1.5), null, Float64Array.of(0), 1)).toThrow(expect.objectContaining({ code: 'HP_ERR_NATIVE_INVALID_ARG' }));
    expect(() => t.update(['u'], Float64Array.of(1), null, Float64Array.of(0), 2)).toThrow(/shorter/);
    const q = { history: new Float64Array(1), nHistory: 0, exclude: new Float64Array(0), nExclude: 0, category: NaN, k: 0, nowMs: 0, recency: 1, popularFill: true };
    expect(() => t.recommend(q, answer(1))).toThrow(/k must be/);
    expect(() => t.recommend({ ...q, k: 5 }, answer(1))).toThrow(/hold k/);
    expect(() => t.recommend({ ...q, k: 1, recency: 2 }, answer(1))).toThrow(/recency/);
    expect(() => t.deserialize(new Uint8Array(20))).toThrow(expect.objectContaining({ code: 'HP_ERR_NATIVE_INVALID_ARG' }));
  });

  it('reads its limits from the addon', () => {
    expect(covisitLimits.maxHistory).toBe(64);
    expect(covisitLimits.maxK).toBeGreaterThanOrEqual(100);
  });
});

describe('session generator', () => {
  it('is seeded, and plants clusters as categories with transitions inside them', () => {
    const a = generateSessions({ seed: 3, sessions: 300, items: 100, clusters: 5, embeddingDim: 4 });
    const b = generateSessions({ seed: 3, sessions: 300, items: 100, clusters: 5, embeddingDim: 4 });
    const c = generateSessions({ seed: 4, sessions: 300, items: 100, clusters: 5, embeddingDim: 4 });
    expect(a.csv).toBe(b.csv);
    expect(a.csv).not.toBe(c.csv);
    const rows = a.csv.trim().split('\n').slice(1).map((l) => l.split(','));
    const bySession = new Map<string, string[][]>();
    for (const r of rows) bySession.set(r[0], [...(bySession.get(r[0]) ?? []), r]);
    // most consecutive clicks stay in their cluster (noise 0.15 and its way back leave it)
    let same = 0;
    let pairs = 0;
    for (const s of bySession.values())
      for (let i = 1; i < s.length; i++) {
        pairs++;
        if (s[i][3] === s[i - 1][3]) same++;
      }
    expect(same / pairs).toBeGreaterThan(0.6);
    expect(a.embedding).toHaveLength(100 * 4);
    const npy = npyBytes(a.embedding!, 100, 4);
    expect(npy.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
    expect((10 + npy.readUInt16LE(8)) % 64).toBe(0);
    expect(npy.length).toBe(10 + npy.readUInt16LE(8) + 100 * 4 * 4);
  });
});

describe('session evaluation', () => {
  it('computes Recall@k and MRR@k on a hand-made dataset', () => {
    // Training: a,b twice (sessions s1, s2) and c alone... then a test session a -> b -> c.
    const csv = {
      header: ['session_id', 'ts', 'item_id'],
      rows: [
        ['s1', '0', 'a'], ['s1', '1', 'b'],
        ['s2', '2', 'a'], ['s2', '3', 'b'],
        ['s3', '4', 'c'], ['s3', '5', 'c'], ['s3', '6', 'c'],
        ['t1', '100', 'a'], ['t1', '101', 'b'], ['t1', '102', 'c'],
      ],
    };
    const clicks = sessionClicks(csv);
    // An oracle that ranks a fixed list: b, x, c.
    const fixed: NextItemMethod = { name: 'fixed', learn() {}, rank: (_h, _n, k, _t, out) => (out.set([clicks.item[1], 12345, clicks.item[4]].slice(0, k)), Math.min(3, k)) };
    const r = evalSessions(clicks, [fixed, popularityMethod()], { k: 2, testFraction: 0.05 });
    expect(r.test).toBe(2); // b after a, c after b
    expect(r.train).toBe(7);
    expect(r.methods.fixed).toMatchObject({ recall: 0.5, mrr: 0.5, predictions: 2 }); // b at rank 1; c at rank 3 > k
    // popularity: c (3 clicks), then a and b (2 each; a first by value order or b): the top 2
    const pop = r.methods.popularity;
    expect(pop.predictions).toBe(2);
    expect(pop.recall).toBeGreaterThanOrEqual(0.5); // c is the most popular: rank 1 for the second prediction
  });

  it('ranks co-visitation far above popularity on the generated fixture', () => {
    const config = loadConfigText(readCsvConfig());
    const clicks = sessionClicks(readCsv(join(ROOT, 'test/fixtures/sessions-small.csv')));
    const r = evalSessions(clicks, [covisitMethod(config.recommenders[0]), popularityMethod()], { k: 20, testFraction: 0.25 });
    expect(r.test).toBeGreaterThan(500);
    const { covisit, popularity } = r.methods;
    expect(covisit.recall).toBeGreaterThan(popularity.recall + 0.2);
    expect(covisit.mrr).toBeGreaterThan(popularity.mrr * 2);
    for (const m of [covisit, popularity]) expect(m.mrr).toBeLessThanOrEqual(m.recall);
  });
});

function readCsvConfig(): string {
  return `
streams:
  clicks:
    keys: { user: session_id }
    time_field: ts
    fields: { item_id: category, category: category }
entities:
  user:
    features:
      recent_items: { agg: last_n, field: item_id, n: 10 }
recommenders:
  sessions: { stream: clicks, user: user, item: item_id, category: category, recent: recent_items, half_life: 30d, window: 1, symmetric: false, recency: 0.3 }
`;
}
