// The item-embedding source of a recommender: what the blend in recommender.ts asks of it.
import type { Recommender } from './recommender.js';

/** One candidate: an item (its category value) and its dot-product score. */
export interface EmbeddingCandidate {
  value: number;
  score: number;
}

export interface EmbeddingSource {
  readonly count: number;
  readonly dim: number;
  /**
   * Up to k items by dot product with the user's query (the user's own row when a user
   * matrix has one, else the mean of the history items' rows), best first, none excluded,
   * only of `category` when it is not NaN (the recommender's table knows the categories).
   */
  candidates(user: string, history: Float64Array, exclude: Float64Array, k: number, category: number, rec: Recommender): EmbeddingCandidate[];
}
