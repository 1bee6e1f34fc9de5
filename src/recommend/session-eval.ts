// Next-item evaluation of a recommender over a session dataset (hotpath eval
// --recommender), with the protocol of Hidasi et al. 2016 (GRU4Rec, RSC15):
//   - sessions of one click are dropped; the sessions that start in the last `testFraction`
//     of the time span are the test set, the others the training set;
//   - every click is replayed in time order; a training click is learned; a test click
//     after the first of its session is predicted first, from the session's items so far
//     (most recent first), then learned too (`online`, what the server does) or not
//     (`frozen`, the paper's offline setting); test clicks on items the training set never
//     saw are skipped, as in the paper;
//   - Recall@k: the share of predictions whose next item is in the top k; MRR@k: the mean of
//     1/rank (0 past k).
// The popularity baseline is the paper's: the k most clicked items of the training set,
// the same list for every prediction.
import type { RecommenderDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { categoryValue } from '../ingest/decode.js';
import { CovisitTable } from '../native/covisit.js';
import { EmbeddingSource } from './embedding.js';

export interface SessionClicks {
  /** session index per click, time order */
  session: Int32Array;
  ts: Float64Array;
  /** category values of the item ids (integers themselves, strings hashed) */
  item: Float64Array;
  /** category values of the categories, NaN without a category column */
  category: Float64Array;
  sessions: string[];
  /** category value -> the item's id, for the embedding's ids */
  itemIds: Map<number, string>;
}

export interface MethodScore {
  recall: number;
  mrr: number;
  predictions: number;
  ms: number;
}

/** A method the evaluation runs: learn a click, rank the next item given the session so far. */
export interface NextItemMethod {
  name: string;
  learn(session: number, sessionId: string, item: number, category: number, ts: number): void;
  /** the top k item values, best first, for a session's items so far (most recent first) */
  rank(history: Float64Array, nHistory: number, k: number, ts: number, out: Float64Array): number;
}

/** CSV rows (session_id, ts, item_id[, category]) as clicks in time order. */
export function sessionClicks(csv: { header: string[]; rows: string[][] }): SessionClicks {
  const col = (name: string, required: boolean) => {
    const i = csv.header.findIndex((h) => h.trim().toLowerCase() === name);
    if (i < 0 && required) throw new HotpathError('HP_ERR_QUERY_INVALID', `the sessions CSV has no '${name}' column (columns: ${csv.header.join(', ')}; expected session_id,ts,item_id[,category])`);
    return i;
  };
  const [cs, ct, ci, cc] = [col('session_id', true), col('ts', true), col('item_id', true), col('category', false)];
  const order = csv.rows.map((_, i) => i);
  const tsOf = csv.rows.map((r, i) => {
    const t = Number(r[ct]);
    if (!Number.isFinite(t)) throw new HotpathError('HP_ERR_QUERY_INVALID', `sessions row ${i + 2}: ts '${r[ct]}' is not a number (epoch ms)`);
    return t;
  });
  order.sort((a, b) => tsOf[a] - tsOf[b] || a - b);
  const n = order.length;
  const out: SessionClicks = { session: new Int32Array(n), ts: new Float64Array(n), item: new Float64Array(n), category: new Float64Array(n), sessions: [], itemIds: new Map() };
  const sessionIndex = new Map<string, number>();
  order.forEach((r, j) => {
    const row = csv.rows[r];
    let s = sessionIndex.get(row[cs]);
    if (s === undefined) {
      sessionIndex.set(row[cs], (s = out.sessions.length));
      out.sessions.push(row[cs]);
    }
    const item = categoryValue(row[ci]);
    if (item === undefined) throw new HotpathError('HP_ERR_QUERY_INVALID', `sessions row ${r + 2}: item_id '${row[ci]}' is not an id`);
    out.itemIds.set(item, row[ci]);
    out.session[j] = s;
    out.ts[j] = tsOf[r];
    out.item[j] = item;
    out.category[j] = cc >= 0 ? (categoryValue(row[cc]) ?? Number.NaN) : Number.NaN;
  });
  return out;
}

/** The co-visitation table of a recommender's config, as an evaluation method. */
export function covisitMethod(def: RecommenderDef): NextItemMethod {
  const table = new CovisitTable({ maxItems: def.maxItems, maxUsers: def.maxUsers, neighbours: def.neighbours, window: def.window, halfLifeMs: def.halfLifeMs, symmetric: def.symmetric });
  const users = [''];
  const items = new Float64Array(1);
  const cats = new Float64Array(1);
  const ts = new Float64Array(1);
  const none = new Float64Array(0);
  const out = { items: new Float64Array(0), scores: new Float64Array(0), source: new Uint8Array(0) };
  return {
    name: 'covisit',
    learn(_s, sessionId, item, category, t) {
      users[0] = sessionId;
      items[0] = item;
      cats[0] = category;
      ts[0] = t;
      table.update(users, items, cats, ts, 1);
    },
    rank(history, nHistory, k, t, into) {
      if (out.items.length < k) Object.assign(out, { items: new Float64Array(k), scores: new Float64Array(k), source: new Uint8Array(k) });
      const n = table.recommend({ history, nHistory, exclude: none, nExclude: 0, category: Number.NaN, k, nowMs: t, recency: def.recency, popularFill: def.popularity }, out);
      into.set(out.items.subarray(0, n));
      return n;
    },
  };
}

/**
 * The recommender's item embedding as an evaluation method: the query is the mean of the
 * session's items' rows (the source's rule for users without a row), nothing excluded.
 */
export function embeddingMethod(def: RecommenderDef): NextItemMethod {
  if (!def.embedding) throw new HotpathError('HP_ERR_QUERY_INVALID', `recommender ${def.name} has no embedding source`);
  const src = new EmbeddingSource({ file: def.embedding.file, ids: def.embedding.ids });
  const none = new Float64Array(0);
  return {
    name: 'embedding',
    learn() {},
    rank(history, nHistory, k, _t, into) {
      const c = src.candidates('', history.subarray(0, nHistory), none, k, Number.NaN);
      for (let i = 0; i < c.length; i++) into[i] = c[i].value;
      return c.length;
    },
  };
}

/** The paper's popularity baseline: the k most clicked training items, always. */
export function popularityMethod(): NextItemMethod & { freeze(): void } {
  const counts = new Map<number, number>();
  let top: number[] | null = null;
  return {
    name: 'popularity',
    learn(_s, _id, item) {
      if (top === null) counts.set(item, (counts.get(item) ?? 0) + 1);
    },
    freeze() {
      top = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([v]) => v);
    },
    rank(_h, _n, k, _t, into) {
      const list = top ?? [];
      const n = Math.min(k, list.length);
      for (let i = 0; i < n; i++) into[i] = list[i];
      return n;
    },
  };
}

export interface SessionEvalOptions {
  k?: number;
  /** the share of the time span at the end whose sessions are the test set (default 0.1) */
  testFraction?: number;
  /** learn the test clicks too (default true) */
  online?: boolean;
}

/** Runs the methods over the clicks; Recall@k and MRR@k of each, with the split's sizes. */
export function evalSessions(clicks: SessionClicks, methods: NextItemMethod[], opts: SessionEvalOptions = {}): { k: number; train: number; test: number; skipped: number; methods: Record<string, MethodScore> } {
  const k = opts.k ?? 20;
  const frac = opts.testFraction ?? 0.1;
  const online = opts.online ?? true;
  const n = clicks.ts.length;
  if (n === 0) throw new HotpathError('HP_ERR_QUERY_INVALID', 'the sessions file has no clicks');
  const ns = clicks.sessions.length;
  const len = new Int32Array(ns);
  const first = new Float64Array(ns).fill(Number.POSITIVE_INFINITY);
  for (let i = 0; i < n; i++) {
    len[clicks.session[i]]++;
    first[clicks.session[i]] = Math.min(first[clicks.session[i]], clicks.ts[i]);
  }
  const cut = clicks.ts[0] + (clicks.ts[n - 1] - clicks.ts[0]) * (1 - frac);
  const isTest = (s: number) => first[s] >= cut;
  const trainItems = new Set<number>();
  for (let i = 0; i < n; i++) if (len[clicks.session[i]] > 1 && !isTest(clicks.session[i])) trainItems.add(clicks.item[i]);
  const scores = methods.map(() => ({ hits: 0, rr: 0, predictions: 0, ms: 0 }));
  // each session's items so far, most recent first (at most 64)
  const hist = new Map<number, Float64Array>();
  const histLen = new Int32Array(ns);
  const ranked = new Float64Array(k);
  let train = 0;
  let test = 0;
  let skipped = 0;
  let frozen = false;
  for (let i = 0; i < n; i++) {
    const s = clicks.session[i];
    if (len[s] < 2) continue;
    const item = clicks.item[i];
    const t = clicks.ts[i];
    const testing = isTest(s);
    if (testing && !frozen) {
      for (const m of methods) (m as { freeze?: () => void }).freeze?.();
      frozen = true;
    }
    if (testing) {
      if (!trainItems.has(item)) {
        skipped++;
        continue;
      }
      const h = hist.get(s);
      if (h && histLen[s] > 0) {
        test++;
        methods.forEach((m, j) => {
          const t0 = performance.now();
          const got = m.rank(h, histLen[s], k, t, ranked);
          scores[j].ms += performance.now() - t0;
          scores[j].predictions++;
          for (let r = 0; r < got; r++) {
            if (ranked[r] === item) {
              scores[j].hits++;
              scores[j].rr += 1 / (r + 1);
              break;
            }
          }
        });
      }
    } else train++;
    if (!testing || online) for (const m of methods) m.learn(s, clicks.sessions[s], item, clicks.category[i], t);
    let h = hist.get(s);
    if (!h) hist.set(s, (h = new Float64Array(64)));
    h.copyWithin(1, 0, 63);
    h[0] = item;
    histLen[s] = Math.min(64, histLen[s] + 1);
  }
  const out: Record<string, MethodScore> = {};
  methods.forEach((m, j) => {
    const sc = scores[j];
    out[m.name] = { recall: sc.predictions ? sc.hits / sc.predictions : 0, mrr: sc.predictions ? sc.rr / sc.predictions : 0, predictions: sc.predictions, ms: sc.ms };
  });
  return { k, train, test, skipped, methods: out };
}
