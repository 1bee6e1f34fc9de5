// A columnar batch (hashed ids per key column, times, values row by row, and a dedup
// stream's event-id hashes) cut down to the rows a keep mask marks, moved to the front of
// the same arrays: the Ingestor's duplicate drop and the shared log's warm filter
// (src/redis/stream-log.ts) both use it.

/** The rows j < n with keep[j] set, in order, in place; views of the kept length (and how many). */
export function keepRows(keep: Uint8Array, n: number, keys: BigUint64Array[], ts: Float64Array, values: Float64Array, nf: number, ids?: Uint32Array) {
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
  return { kept: m, keys: keys.map((k) => k.subarray(0, m)), ts: ts.subarray(0, m), values: values.subarray(0, m * nf), ids: ids?.subarray(0, 2 * m) };
}
