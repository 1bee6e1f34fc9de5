// EmbeddingIndex: an item embedding matrix (count x dim float32) in the native core
// (native/core/embedding.h) and the best k rows by dot product with a query vector, for the
// embedding recommender. The addon comes from binding.ts, the one loader. docs/embeddings.md
// has the file format, the fast path's quantization and its measured recall, and the
// CUDA path.
//
// Two scans: the default fast one (4-bit codes scanned with AVX2 where the CPU has it, the
// best max(16k, 512) candidates re-ranked by their exact fp32 dot products) and the exact
// fp32 scan ({ exact: true }). Returned scores are exact fp32 dot products in both; rows
// come best first, ties broken by the lower row.
//
// Checks here are on types and shapes (a wrong type is a caller's bug: it throws
// HP_ERR_NATIVE_INVALID_ARG); the addon repeats them as a backstop.
//
// Buffers: topk reads its arrays and writes outRows/outScores during the call only.
// topkAsync copies query and exclude before it returns; options.allowed and
// options.categories are read on the thread pool until done runs: do not write or transfer
// them until then. done receives new arrays it owns.
//
// Threads: topk runs on the calling thread (a 1M-row fast scan takes a few ms: use
// topkAsync on the event loop); topkAsync runs on the libuv thread pool, several at once.
import { HotpathError, toHotpathError } from '../errors.js';
import { callNative as call, constants, EmbeddingIndexAddon, type Binding } from './binding.js';

export interface TopkOptions {
  /** the exact fp32 scan instead of the 4-bit scan and re-rank (about 7x the memory traffic) */
  exact?: boolean;
  /** allowed-row bitmask: row i may be returned only if bit (i & 7) of allowed[i >> 3] is set; ceil(count / 8) bytes */
  allowed?: Uint8Array;
  /** per-row categories (count entries), with `category`: only rows whose category equals it */
  categories?: Uint16Array;
  category?: number;
  /** the exact scan on the CUDA device (useCuda() first) */
  cuda?: boolean;
  /** the portable loop even where AVX2 is present (tests and the bench compare the two) */
  portable?: boolean;
  /**
   * fast scan: how many approximate candidates to re-rank exactly (default max(16 k, 512),
   * at most embeddingLimits.maxCandidates). More: higher recall on tightly clustered rows,
   * at about 0.1 ms per 1000 (docs/embeddings.md).
   */
  candidates?: number;
}

/** constants.h kEmbedding*: maxK, maxDim, and the re-rank size max(rerankFactor * k, rerankMin) */
export const embeddingLimits: Readonly<Binding.Constants['embedding']> = constants.embedding;

const FLAG_EXACT = 1;
const FLAG_CUDA = 2;
const FLAG_PORTABLE = 4;

function invalid(message: string): HotpathError {
  return new HotpathError('HP_ERR_NATIVE_INVALID_ARG', message);
}

export class EmbeddingIndex {
  readonly #native: Binding.EmbeddingIndex;
  readonly count: number;
  readonly dim: number;

  private constructor(native: Binding.EmbeddingIndex) {
    this.#native = native;
    this.count = native.count;
    this.dim = native.dim;
  }

  /**
   * A NumPy .npy file of shape (count, dim), dtype '<f4', C order (np.save of a float32
   * matrix). Throws HP_ERR_EMBEDDING_FILE naming the file and what is wrong with it.
   */
  static load(path: string): EmbeddingIndex {
    if (typeof path !== 'string' || path === '') throw invalid('EmbeddingIndex.load: path must be a non-empty string');
    let native: Binding.EmbeddingIndex;
    try {
      native = new EmbeddingIndexAddon(path);
    } catch (err) {
      throw new HotpathError('HP_ERR_EMBEDDING_FILE', (err as Error).message, undefined, { cause: err });
    }
    return new EmbeddingIndex(native);
  }

  /** A copy of a row-major matrix of count rows of dim floats. */
  static fromMatrix(matrix: Float32Array, count: number, dim: number): EmbeddingIndex {
    if (!(matrix instanceof Float32Array)) throw invalid('EmbeddingIndex.fromMatrix: matrix must be a Float32Array');
    if (!Number.isInteger(dim) || dim < 1 || dim > embeddingLimits.maxDim)
      throw invalid(`EmbeddingIndex.fromMatrix: dim must be a whole number in [1, ${embeddingLimits.maxDim}]`);
    if (!Number.isInteger(count) || count < 0 || count > 2 ** 31 - 1)
      throw invalid('EmbeddingIndex.fromMatrix: count must be a whole number in [0, 2^31 - 1]');
    if (matrix.length !== count * dim) throw invalid(`EmbeddingIndex.fromMatrix: matrix has ${matrix.length} values, want count * dim = ${count * dim}`);
    return new EmbeddingIndex(call(() => new EmbeddingIndexAddon(matrix, count, dim)));
  }

  /** The best k rows by dot product with query (dim floats), best first; returns how many were written. */
  topk(query: Float32Array, k: number, outRows: Int32Array, outScores: Float32Array, exclude?: Int32Array, options?: TopkOptions): number {
    this.#checkQuery(query, k, exclude);
    if (!(outRows instanceof Int32Array) || !(outScores instanceof Float32Array) || outRows.length < k || outScores.length < k)
      throw invalid('topk: outRows (Int32Array) and outScores (Float32Array) must hold k entries');
    const o = this.#options(options);
    return call(() => this.#native.topk(query, k, outRows, outScores, exclude ?? null, o.allowed, o.categories, o.category, o.flags, o.candidates));
  }

  /** The same on the libuv thread pool (a 1M-item scan must not block the event loop). */
  topkAsync(
    query: Float32Array,
    k: number,
    exclude: Int32Array | undefined,
    done: (err: Error | null, rows: Int32Array, scores: Float32Array) => void,
    options?: TopkOptions,
  ): void {
    this.#checkQuery(query, k, exclude);
    if (typeof done !== 'function') throw invalid('topkAsync: done must be a function');
    const o = this.#options(options);
    call(() =>
      this.#native.topkAsync(query, k, exclude ?? null, o.allowed, o.categories, o.category, o.flags, o.candidates, (err, rows, scores) =>
        done(err ? toHotpathError(err) : null, rows, scores),
      ),
    );
  }

  /** Row i copied into out (dim floats), e.g. to build a user's query from the items they saw. */
  row(i: number, out: Float32Array): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw invalid(`row: i must be a whole number in [0, ${this.count})`);
    if (!(out instanceof Float32Array) || out.length < this.dim) throw invalid('row: out must be a Float32Array of dim values');
    call(() => this.#native.row(i, out));
  }

  /**
   * Copies the matrix to CUDA device 0 so that topk(..., { cuda: true }) runs there.
   * Throws HP_ERR_NATIVE_UNSUPPORTED on a CPU-only build, HP_ERR_NATIVE_UNAVAILABLE without
   * a device or while async queries are in flight.
   */
  useCuda(): void {
    call(() => this.#native.enableCuda());
  }

  /** Drops this handle's matrix (async queries in flight keep theirs until done); later calls throw. */
  release(): void {
    this.#native.release();
  }

  #checkQuery(query: Float32Array, k: number, exclude: Int32Array | undefined): void {
    if (!(query instanceof Float32Array) || query.length !== this.dim) throw invalid(`topk: query must be a Float32Array of ${this.dim} values`);
    for (let i = 0; i < query.length; i++) if (!Number.isFinite(query[i])) throw invalid(`topk: query[${i}] is not a finite number`);
    if (!Number.isInteger(k) || k < 0 || k > embeddingLimits.maxK) throw invalid(`topk: k must be a whole number in [0, ${embeddingLimits.maxK}]`);
    if (exclude !== undefined && !(exclude instanceof Int32Array)) throw invalid('topk: exclude must be an Int32Array of rows');
  }

  #options(o: TopkOptions | undefined): { allowed: Uint8Array | null; categories: Uint16Array | null; category: number; flags: number; candidates: number } {
    if (o === undefined) return { allowed: null, categories: null, category: -1, flags: 0, candidates: 0 };
    const allowed = o.allowed ?? null;
    if (allowed !== null && (!(allowed instanceof Uint8Array) || allowed.length < Math.ceil(this.count / 8)))
      throw invalid(`topk: allowed must be a Uint8Array of at least ${Math.ceil(this.count / 8)} bytes (one bit per row)`);
    const categories = o.categories ?? null;
    if (categories !== null && (!(categories instanceof Uint16Array) || categories.length < this.count))
      throw invalid(`topk: categories must be a Uint16Array of at least ${this.count} entries`);
    const category = o.category ?? -1;
    if ((categories === null) !== (o.category === undefined)) throw invalid('topk: categories and category go together');
    if (categories !== null && (!Number.isInteger(category) || category < 0 || category > 65535))
      throw invalid('topk: category must be a whole number in [0, 65535]');
    const candidates = o.candidates ?? 0;
    if (!Number.isInteger(candidates) || candidates < 0 || candidates > embeddingLimits.maxCandidates)
      throw invalid(`topk: candidates must be a whole number in [0, ${embeddingLimits.maxCandidates}]`);
    const flags = (o.exact ? FLAG_EXACT : 0) | (o.cuda ? FLAG_CUDA : 0) | (o.portable ? FLAG_PORTABLE : 0);
    return { allowed, categories, category, flags, candidates };
  }
}
