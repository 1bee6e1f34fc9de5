// One configured recommender: the native co-visitation table it learns into (an ingest
// tap on its stream), the names of its items, the user's history from the store's last_n
// feature, and the blend with an item-embedding source (embedding.ts) when one is set.
//
// Items are category values, as the store holds them: an integer id is itself, a string id
// its 53-bit hash (src/ingest/decode.ts categoryValue; binary frames hash alike natively).
// A string id's name is known when the item field is also a key of the stream (JSON events
// then carry the string), or from the embedding's ids file; the stream's names live in the
// snapshot. An item whose name was never seen (one that only
// came in binary frames or replayed log records with string ids) is answered by its hash
// as a decimal string.
import type { RecommenderDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { categoryValue } from '../ingest/decode.js';
import type { AppliedBatch, IngestTap } from '../ingest/ingestor.js';
import type { FeatureStore } from '../native/binding.js';
import { CovisitTable, covisitLimits } from '../native/covisit.js';
import { type EmbeddingCandidate, EmbeddingSource } from './embedding.js';

export interface RecommendRequest {
  user: string;
  k: number;
  excludeSeen: boolean;
  /** only items of this category (a category value), NaN: any */
  category: number;
  /** the caller's session items, oldest first (category values), in addition to the store's */
  items: number[];
  nowMs: number;
}

export interface RecommendedItem {
  id: string;
  score: number;
  source: 'covisit' | 'popular' | 'embedding';
}

export interface Recommendation {
  items: RecommendedItem[];
  /** no personalised candidate: the answer is the popularity fallback (or empty) */
  fallback: boolean;
}

const SOURCE_POPULAR = covisitLimits.sources.popular;
const MAX_HISTORY = covisitLimits.maxHistory;

export class Recommender implements IngestTap {
  readonly name: string;
  readonly columns = true;
  readonly streams: readonly string[];
  readonly def: RecommenderDef;
  readonly table: CovisitTable;
  readonly counts = { requests: 0, fallbacks: 0, events: 0, batches: 0 };
  embedding: EmbeddingSource | null = null;
  /** category value -> id string, for string ids (integers name themselves) */
  readonly names = new Map<number, string>();
  readonly #store: FeatureStore;
  // reused buffers: the tap's columns, the store row, the query and its answer
  #items = new Float64Array(0);
  #cats = new Float64Array(0);
  #row: Float64Array;
  readonly #history = new Float64Array(MAX_HISTORY);
  readonly #exclude = new Float64Array(MAX_HISTORY);
  readonly #out: { items: Float64Array; scores: Float64Array; source: Uint8Array };

  constructor(def: RecommenderDef, store: FeatureStore) {
    this.def = def;
    this.name = `recommend:${def.name}`;
    this.streams = [def.stream.name];
    this.#store = store;
    this.table = new CovisitTable({ maxItems: def.maxItems, maxUsers: def.maxUsers, neighbours: def.neighbours, window: def.window, halfLifeMs: def.halfLifeMs, symmetric: def.symmetric });
    this.#row = new Float64Array(store.layout(def.userEntity.index).width);
    // twice max k: the blend draws more candidates from each source than it returns
    const cap = Math.min(covisitLimits.maxK, def.maxK * 2);
    this.#out = { items: new Float64Array(cap), scores: new Float64Array(cap), source: new Uint8Array(cap) };
    if (def.embedding) {
      this.embedding = new EmbeddingSource(def.embedding);
    }
  }

  /** The ingest tap: one native update per batch (and the item names a JSON batch carries). */
  onBatch(b: AppliedBatch): void {
    if (b.kind !== 'columns') throw new Error(`recommender ${this.def.name} was handed ${b.kind}; it reads columns`);
    const n = b.ts.length;
    const nf = b.stream.fields.length;
    if (this.#items.length < n) {
      this.#items = new Float64Array(n * 2);
      this.#cats = new Float64Array(n * 2);
    }
    const d = this.def;
    for (let i = 0; i < n; i++) this.#items[i] = b.values[i * nf + d.itemField];
    if (d.categoryField >= 0) for (let i = 0; i < n; i++) this.#cats[i] = b.values[i * nf + d.categoryField];
    this.table.update(b.keys[d.userColumn], this.#items, d.categoryField >= 0 ? this.#cats : null, b.ts, n);
    const emb = this.embedding;
    if (emb && d.categoryField >= 0) for (let i = 0; i < n; i++) emb.observe(this.#items[i], this.#cats[i]);
    if (d.itemKeyColumn >= 0) {
      const ids = b.keys[d.itemKeyColumn];
      if (Array.isArray(ids)) for (let i = 0; i < n; i++) this.#name(this.#items[i], ids[i]);
    }
    this.counts.events += n;
    this.counts.batches++;
  }

  /** Remembers a string id's name (integer ids name themselves); bounded by max_items. */
  #name(value: number, id: string): void {
    if (this.names.has(value) || String(value) === id) return;
    if (this.names.size < this.def.maxItems) this.names.set(value, id);
  }

  /**
   * An item id from a request (a string or an integer) as its category value. A request
   * does not name items: names come from the stream and the ids file, so that callers
   * cannot fill the bounded name table.
   */
  itemValue(id: unknown): number | undefined {
    return categoryValue(id);
  }

  nameOf(value: number): string {
    return this.names.get(value) ?? this.embedding?.nameOf(value) ?? String(value);
  }

  /** The user's recent items, most recent first, into #history; returns the count. */
  #userHistory(req: RecommendRequest): number {
    let n = 0;
    for (let i = req.items.length - 1; i >= 0 && n < MAX_HISTORY; i--) this.#history[n++] = req.items[i];
    const d = this.def;
    if (d.recentFeature >= 0) {
      const layout = this.#store.layout(d.userEntity.index);
      const found = !Number.isNaN(this.#store.read(d.userEntity.index, req.user, req.nowMs, this.#row).ageMs);
      if (found) {
        const off = layout.offsets[d.recentFeature];
        const width = layout.widths[d.recentFeature];
        for (let k = 0; k < width && n < MAX_HISTORY && !Number.isNaN(this.#row[off + k]); k++) this.#history[n++] = this.#row[off + k];
      }
    } else {
      for (const v of this.table.userItems(req.user)) if (n < MAX_HISTORY) this.#history[n++] = v;
    }
    return n;
  }

  recommend(req: RecommendRequest): Recommendation {
    const c = this.#covisit(req);
    if (!c.emb) return this.#covisitOnly(c.count, c.fromCovisit);
    const exclude = this.#exclude.subarray(0, c.nExclude);
    const cands = c.emb.candidates(req.user, this.#history.subarray(0, c.nHistory), exclude, this.#draw(req), req.category);
    return this.#blend(req, cands, this.#out.items, this.#out.scores, c.fromCovisit, exclude);
  }

  /**
   * recommend() for a caller that can wait: with an embedding source scanned on the thread
   * pool (a matrix of more than ASYNC_ABOVE rows), `done` runs after the scan, on the event
   * loop; otherwise before recommendAsync returns. Errors (a bad k) are thrown, not passed.
   */
  recommendAsync(req: RecommendRequest, done: (err: Error | null, out?: Recommendation) => void): void {
    const emb = this.#embedding();
    if (!emb?.scansAsync) {
      done(null, this.recommend(req));
      return;
    }
    const c = this.#covisit(req);
    // the scratch buffers serve the next request meanwhile: keep copies of what the blend reads
    const items = this.#out.items.slice(0, c.fromCovisit);
    const scores = this.#out.scores.slice(0, c.fromCovisit);
    const exclude = this.#exclude.slice(0, c.nExclude);
    emb.candidatesAsync(req.user, this.#history.subarray(0, c.nHistory), exclude, this.#draw(req), req.category, (err, cands) => {
      if (err) done(err);
      else done(null, this.#blend(req, cands, items, scores, items.length, exclude));
    });
  }

  #embedding(): EmbeddingSource | null {
    return this.embedding && this.def.blend.embedding > 0 ? this.embedding : null;
  }

  /** With a blend, each source offers more candidates than k, so that an item ranked a little lower by both can still win. */
  #draw(req: RecommendRequest): number {
    return this.#embedding() ? Math.min(this.#out.items.length, req.k * 2) : req.k;
  }

  /** The user's history and exclusions into the scratch buffers, and the co-visitation candidates into #out. */
  #covisit(req: RecommendRequest): { emb: EmbeddingSource | null; nHistory: number; nExclude: number; count: number; fromCovisit: number } {
    const d = this.def;
    if (!(Number.isInteger(req.k) && req.k >= 1 && req.k <= d.maxK)) throw new HotpathError('HP_ERR_RECOMMEND_K_INVALID', `k must be an integer in [1, ${d.maxK}] (max_k of recommender ${d.name})`);
    this.counts.requests++;
    const nHistory = this.#userHistory(req);
    const nExclude = req.excludeSeen ? nHistory : 0;
    if (nExclude) this.#exclude.set(this.#history.subarray(0, nExclude));
    const emb = this.#embedding();
    const out = this.#out;
    let count = 0;
    if (d.blend.covisit > 0) {
      count = this.table.recommend(
        {
          history: this.#history, nHistory, exclude: this.#exclude, nExclude, category: req.category, k: this.#draw(req), nowMs: req.nowMs, recency: d.recency,
          popularFill: d.popularity && !emb,
        },
        out,
      );
    }
    let fromCovisit = 0;
    while (fromCovisit < count && out.source[fromCovisit] !== SOURCE_POPULAR) fromCovisit++;
    return { emb, nHistory, nExclude, count, fromCovisit };
  }

  #covisitOnly(count: number, fromCovisit: number): Recommendation {
    const out = this.#out;
    const items: RecommendedItem[] = new Array(count);
    for (let i = 0; i < count; i++) items[i] = { id: this.nameOf(out.items[i]), score: out.scores[i], source: out.source[i] === SOURCE_POPULAR ? 'popular' : 'covisit' };
    const fallback = fromCovisit === 0;
    if (fallback) this.counts.fallbacks++;
    return { items, fallback };
  }

  /**
   * Co-visitation candidates (the first `fromCovisit` of covItems/covScores) and embedding
   * candidates, each source's scores divided by its best score, summed with the blend
   * weights; then the popular fill when the sum leaves fewer than k.
   */
  #blend(req: RecommendRequest, cands: EmbeddingCandidate[], covItems: ArrayLike<number>, covScores: ArrayLike<number>, fromCovisit: number, exclude: Float64Array): Recommendation {
    const d = this.def;
    const merged = new Map<number, { score: number; best: number; source: RecommendedItem['source'] }>();
    const top = fromCovisit > 0 ? covScores[0] : 0;
    // counts decayed to nothing (no event for ~1,000 half-lives) leave nothing to normalise by
    for (let i = 0; top > 0 && i < fromCovisit; i++) {
      const s = (d.blend.covisit * covScores[i]) / top;
      merged.set(covItems[i], { score: s, best: s, source: 'covisit' });
    }
    const etop = cands.length > 0 ? Math.max(cands[0].score, 1e-12) : 1;
    for (const c of cands) {
      if (!(c.score > 0)) continue; // no similarity: left to the popular fill
      const s = (d.blend.embedding * c.score) / etop;
      const m = merged.get(c.value);
      if (m) {
        m.score += s;
        if (s > m.best) {
          m.best = s;
          m.source = 'embedding';
        }
      } else merged.set(c.value, { score: s, best: s, source: 'embedding' });
    }
    const ranked = [...merged].sort((a, b) => b[1].score - a[1].score || a[0] - b[0]).slice(0, req.k);
    const items: RecommendedItem[] = ranked.map(([v, m]) => ({ id: this.nameOf(v), score: m.score, source: m.source }));
    const fallback = items.length === 0;
    if (items.length < req.k && d.popularity) {
      // popular fill, never an item already in the answer or excluded
      const nExclude = exclude.length;
      const ex = new Float64Array(Math.min(covisitLimits.maxK, nExclude + items.length));
      ex.set(exclude.subarray(0, Math.min(nExclude, ex.length)));
      for (let i = 0; nExclude + i < ex.length && i < ranked.length; i++) ex[nExclude + i] = ranked[i][0];
      const out = this.#out;
      const n = this.table.recommend(
        { history: this.#history, nHistory: 0, exclude: ex, nExclude: ex.length, category: req.category, k: req.k - items.length, nowMs: req.nowMs, recency: 1, popularFill: true },
        out,
      );
      for (let i = 0; i < n; i++) items.push({ id: this.nameOf(out.items[i]), score: out.scores[i], source: 'popular' });
    }
    if (fallback) this.counts.fallbacks++;
    return { items, fallback };
  }

  stats(): Record<string, unknown> {
    return {
      stream: this.def.stream.name,
      ...this.table.stats(),
      names: this.names.size,
      requests: this.counts.requests,
      fallbacks: this.counts.fallbacks,
      tap_events: this.counts.events,
      embedding: this.embedding ? { items: this.embedding.count, dim: this.embedding.dim } : null,
    };
  }

  /** The table's blob, the item names and the embedding's per-row categories, for the snapshot. */
  serialize(): Uint8Array {
    const parts = [this.table.serialize(), Buffer.from(JSON.stringify([...this.names])), this.embedding?.serializeCategories() ?? new Uint8Array(0)];
    const out = Buffer.alloc(parts.reduce((n, p) => n + 4 + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.writeUInt32LE(p.length, at);
      out.set(p, at + 4);
      at += 4 + p.length;
    }
    return out;
  }

  /** serialize()'s bytes back. Throws when the table's parameters changed (the caller logs and starts it empty). */
  restore(bytes: Uint8Array): void {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const parts: Uint8Array[] = [];
    for (let at = 0; at + 4 <= b.length; ) {
      const n = b.readUInt32LE(at);
      if (at + 4 + n > b.length) throw new Error('the recommender state is cut short');
      parts.push(new Uint8Array(b.subarray(at + 4, at + 4 + n)));
      at += 4 + n;
    }
    if (parts.length < 2) throw new Error('the recommender state is cut short');
    this.table.deserialize(parts[0]);
    const names = JSON.parse(Buffer.from(parts[1]).toString('utf8')) as [number, string][];
    this.names.clear();
    for (const [v, id] of names) this.names.set(v, id);
    // categories seen for another matrix (its file changed) are dropped: the replay and new events fill them again
    if (this.embedding && parts[2]?.length) this.embedding.restoreCategories(parts[2]);
  }
}
