// The item-embedding source of a recommender (config `embedding: {file, ids, users?,
// user_ids?}`): dot-product top-k over an item matrix (.npy float32, items x dim, in the
// native EmbeddingIndex, src/native/embedding.ts) whose rows the ids file names, one id per
// line. The user's query is their own row of the user matrix when one is configured and
// holds them, else the mean of the rows of their recent items. Excluded items are left out
// by row; the category filter uses each row's category as the recommender's tap last saw
// it (a code per category value, up to 65,535 categories).
//
// Matrices of up to ASYNC_ABOVE rows are scanned on the calling thread (the route's): at
// most a few tenths of a millisecond. Larger ones are scanned on the libuv thread pool
// (topkAsync, candidatesAsync): a 1M-row scan takes about 1.8 ms (docs/embeddings.md),
// which the event loop should not wait for. The per-row categories are read there until
// the scan ends, so the tap copies them before it changes one while a scan is running.
import { readFileSync } from 'node:fs';

import type { RecommenderDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { categoryValue } from '../ingest/decode.js';
import { EmbeddingIndex, type TopkOptions } from '../native/embedding.js';

/** Matrices of at most this many rows are scanned exactly (see #prepare). */
const EXACT_BELOW = 8_192;
/** Matrices of more rows are scanned on the thread pool. */
export const ASYNC_ABOVE = 65_536;

/** One candidate: an item (its category value) and its dot-product score. */
export interface EmbeddingCandidate {
  value: number;
  score: number;
}

function readIds(path: string, what: string, rows: number): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new HotpathError('HP_ERR_EMBEDDING_FILE', `${what} ${path}: ${(err as Error).message}`);
  }
  const ids = text.split(/\r?\n/).map((l) => l.trim());
  while (ids.length > 0 && ids[ids.length - 1] === '') ids.pop();
  if (ids.length !== rows) throw new HotpathError('HP_ERR_EMBEDDING_FILE', `${what} ${path} has ${ids.length} ids for a matrix of ${rows} rows`);
  return ids;
}

export class EmbeddingSource {
  readonly items: EmbeddingIndex;
  readonly users: EmbeddingIndex | null;
  readonly count: number;
  readonly dim: number;
  /** item category value -> row */
  readonly #row = new Map<number, number>();
  /** row -> item category value */
  readonly #value: Float64Array;
  /** row -> the item's id string (for the recommender's names) */
  readonly ids: string[];
  readonly #userRow = new Map<string, number>();
  /** per row: the code of the item's category (0: none seen yet); copied on write while a scan reads it */
  #categories: Uint16Array;
  /** scans on the thread pool that read #categories */
  #inFlight = 0;
  /** scanned on the thread pool (more than ASYNC_ABOVE rows) */
  readonly scansAsync: boolean;
  readonly #codes = new Map<number, number>();
  readonly #query: Float32Array;
  readonly #tmp: Float32Array;
  #rows = new Int32Array(0);
  #scores = new Float32Array(0);
  #exclude = new Int32Array(64);

  constructor(def: NonNullable<RecommenderDef['embedding']>) {
    this.items = EmbeddingIndex.load(def.file);
    this.count = this.items.count;
    this.dim = this.items.dim;
    this.ids = readIds(def.ids, 'the item ids file', this.count);
    this.#value = new Float64Array(this.count);
    this.ids.forEach((id, i) => {
      const v = categoryValue(id);
      if (v === undefined) throw new HotpathError('HP_ERR_EMBEDDING_FILE', `the item ids file ${def.ids}: line ${i + 1} is not an id`);
      this.#value[i] = v;
      this.#row.set(v, i);
    });
    this.users = null;
    if (def.users && def.userIds) {
      this.users = EmbeddingIndex.load(def.users);
      if (this.users.dim !== this.dim) throw new HotpathError('HP_ERR_EMBEDDING_FILE', `the user matrix ${def.users} has dim ${this.users.dim}, the item matrix ${this.dim}`);
      readIds(def.userIds, 'the user ids file', this.users.count).forEach((u, i) => this.#userRow.set(u, i));
    }
    this.#categories = new Uint16Array(this.count);
    this.scansAsync = this.count > ASYNC_ABOVE;
    this.#query = new Float32Array(this.dim);
    this.#tmp = new Float32Array(this.dim);
  }

  /** The tap's view of an event: the item's category (kept per row for the filter). */
  observe(item: number, category: number): void {
    if (Number.isNaN(category)) return;
    const row = this.#row.get(item);
    if (row === undefined) return;
    const code = this.#code(category, true);
    if (this.#categories[row] === code) return;
    if (this.#inFlight > 0) this.#categories = this.#categories.slice(); // a running scan keeps the old array
    this.#categories[row] = code;
  }

  #code(category: number, add: boolean): number {
    let c = this.#codes.get(category);
    if (c === undefined) {
      if (!add || this.#codes.size >= 65535) return 0;
      this.#codes.set(category, (c = this.#codes.size + 1));
    }
    return c;
  }

  /**
   * The per-row categories the tap has seen, for the snapshot: the count of codes, the
   * codes' category values (f64), then the rows' codes (u16).
   */
  serializeCategories(): Uint8Array {
    const values = [...this.#codes.keys()]; // in code order (codes are handed out 1, 2, ...)
    const out = new Uint8Array(4 + 8 * values.length + 2 * this.count);
    const view = new DataView(out.buffer);
    view.setUint32(0, values.length, true);
    values.forEach((v, i) => view.setFloat64(4 + 8 * i, v, true));
    out.set(new Uint8Array(this.#categories.buffer, this.#categories.byteOffset, this.#categories.byteLength), 4 + 8 * values.length);
    return out;
  }

  /** serializeCategories' bytes back; false (nothing changed) when they are for another matrix. */
  restoreCategories(bytes: Uint8Array): boolean {
    if (bytes.length < 4) return false;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = view.getUint32(0, true);
    if (n > 65535 || bytes.length !== 4 + 8 * n + 2 * this.count) return false;
    const rows = new Uint16Array(this.count);
    new Uint8Array(rows.buffer).set(bytes.subarray(4 + 8 * n));
    for (let r = 0; r < this.count; r++) if (rows[r] > n) return false;
    this.#codes.clear();
    for (let i = 0; i < n; i++) this.#codes.set(view.getFloat64(4 + 8 * i, true), i + 1);
    this.#categories = rows;
    return true;
  }

  /** The id the ids file gives an item (a category value), if the matrix has it. */
  nameOf(item: number): string | undefined {
    const row = this.#row.get(item);
    return row === undefined ? undefined : this.ids[row];
  }

  rowOf(item: number): number | undefined {
    return this.#row.get(item);
  }

  /**
   * Up to k items by dot product with the user's query, best first, none of `exclude`,
   * only of `category` unless it is NaN. None without a query (no user row, no history
   * item in the matrix).
   */
  candidates(user: string, history: Float64Array, exclude: Float64Array, k: number, category: number): EmbeddingCandidate[] {
    const scan = this.#prepare(user, history, exclude, k, category);
    if (!scan) return [];
    if (this.#rows.length < scan.k) {
      this.#rows = new Int32Array(scan.k);
      this.#scores = new Float32Array(scan.k);
    }
    const got = this.items.topk(this.#query, scan.k, this.#rows, this.#scores, scan.exclude, scan.options);
    return this.#answer(this.#rows, this.#scores, got);
  }

  /** candidates() on the thread pool: `done` runs on the event loop with the same answer. */
  candidatesAsync(user: string, history: Float64Array, exclude: Float64Array, k: number, category: number, done: (err: Error | null, out: EmbeddingCandidate[]) => void): void {
    const scan = this.#prepare(user, history, exclude, k, category);
    if (!scan) {
      done(null, []);
      return;
    }
    // the query and the exclusions are copied by topkAsync before it returns
    this.items.topkAsync(
      this.#query,
      scan.k,
      scan.exclude,
      (err, rows, scores) => {
        this.#inFlight--;
        done(err, err ? [] : this.#answer(rows, scores, rows.length));
      },
      scan.options,
    );
    this.#inFlight++;
  }

  /** The query (in #query), the excluded rows and the scan's options; undefined: nothing to scan for. */
  #prepare(user: string, history: Float64Array, exclude: Float64Array, k: number, category: number): { k: number; exclude: Int32Array; options: TopkOptions } | undefined {
    const q = this.#query;
    const userRow = this.users ? this.#userRow.get(user) : undefined;
    if (userRow !== undefined) this.users!.row(userRow, q);
    else {
      q.fill(0);
      let n = 0;
      for (let h = 0; h < history.length; h++) {
        const r = this.#row.get(history[h]);
        if (r === undefined) continue;
        this.items.row(r, this.#tmp);
        for (let d = 0; d < this.dim; d++) q[d] += this.#tmp[d];
        n++;
      }
      if (n === 0) return undefined;
      for (let d = 0; d < this.dim; d++) q[d] /= n;
    }
    let code = 0;
    if (!Number.isNaN(category)) {
      code = this.#code(category, false);
      if (code === 0) return undefined; // no item of this category seen
    }
    let ne = 0;
    if (this.#exclude.length < exclude.length) this.#exclude = new Int32Array(exclude.length);
    for (let i = 0; i < exclude.length; i++) {
      const r = this.#row.get(exclude[i]);
      if (r !== undefined) this.#exclude[ne++] = r;
    }
    // Small matrices take the exact scan: the 4-bit scan's fixed cost (its re-rank of 512
    // candidates) is larger than a whole exact scan there. Measured at 32 dims on this
    // machine: 5,000 rows 0.066 ms fast / 0.041 ms exact; 20,000 rows 0.089 / 0.139;
    // 65,536 rows 0.33 / 0.77.
    const exact = this.count <= EXACT_BELOW;
    return { k: Math.min(k, this.count), exclude: this.#exclude.subarray(0, ne), options: code ? { categories: this.#categories, category: code, exact } : { exact } };
  }

  #answer(rows: Int32Array, scores: Float32Array, got: number): EmbeddingCandidate[] {
    const out: EmbeddingCandidate[] = new Array(got);
    for (let i = 0; i < got; i++) out[i] = { value: this.#value[rows[i]], score: scores[i] };
    return out;
  }

  release(): void {
    this.items.release();
    this.users?.release();
  }
}
