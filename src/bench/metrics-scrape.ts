// Batch sizes from a hotpath target's /metrics: inference (rows) and execution (batch)
// counters per model, read before and after a run; other targets have none.
export type ModelCounts = Map<string, { rows: number; batches: number }>;

/** The model counters of a target's /metrics; null when it has none (not hotpath, or down). */
export async function scrapeCounts(origin: string, timeoutMs = 2000): Promise<ModelCounts | null> {
  let text: string;
  try {
    const r = await fetch(`${origin}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (r.status !== 200) return null;
    text = await r.text();
  } catch {
    return null;
  }
  const counts: ModelCounts = new Map();
  for (const m of text.matchAll(/^hotpath_model_(inference|execution)_count_total\{model="([^"]+)"\} (\S+)$/gm)) {
    const c = counts.get(m[2]) ?? { rows: 0, batches: 0 };
    if (m[1] === 'inference') c.rows = Number(m[3]);
    else c.batches = Number(m[3]);
    counts.set(m[2], c);
  }
  return counts.size > 0 ? counts : null;
}

/** Per model with batches in between: rows, batches and the mean batch size. */
export function batchSizes(before: ModelCounts, after: ModelCounts): Record<string, { rows: number; batches: number; mean: number }> {
  const out: Record<string, { rows: number; batches: number; mean: number }> = {};
  for (const [model, a] of after) {
    const b = before.get(model) ?? { rows: 0, batches: 0 };
    const rows = a.rows - b.rows;
    const batches = a.batches - b.batches;
    if (batches > 0) out[model] = { rows, batches, mean: rows / batches };
  }
  return out;
}
