// A columnar batch (ids per key column, hashed or as strings, times, values row by row, and a dedup
// stream's event-id hashes) cut down to the rows a keep mask marks, moved to the front of
// the same arrays: the Ingestor's duplicate drop and the shared log's warm filter
// (src/redis/stream-log.ts) both use it.

/** A key column: hashed ids, or (a decoded JSON batch) the ids as strings. */
type KeyColumn = BigUint64Array | string[];

/**
 * The rows j < n with keep[j] set, in order, in place; views of the kept length (and how
 * many). A string column is cut to length in place; a typed array is returned as a view.
 */
export function keepRows<K extends KeyColumn>(keep: Uint8Array, n: number, keys: K[], ts: Float64Array, values: Float64Array, nf: number, ids?: Uint32Array) {
  let m = 0;
  for (let j = 0; j < n; j++) {
    if (!keep[j]) continue;
    if (m !== j) {
      for (const col of keys) col[m] = col[j];
      ts[m] = ts[j];
      values.copyWithin(m * nf, j * nf, (j + 1) * nf);
      ids?.copyWithin(2 * m, 2 * j, 2 * j + 2);
    }
    m++;
  }
  return { kept: m, keys: keys.map((k) => cut(k, m)), ts: ts.subarray(0, m), values: values.subarray(0, m * nf), ids: ids?.subarray(0, 2 * m) };
}

function cut<K extends KeyColumn>(k: K, m: number): K {
  if (Array.isArray(k)) {
    k.length = m;
    return k;
  }
  return k.subarray(0, m) as K;
}
