// Batch sizes from a hotpath target's /metrics: inference (rows) and execution (batch)
// counters per model, read before and after a run; other targets have none.
import { connect } from 'node:net';

export type ModelCounts = Map<string, { rows: number; batches: number }>;

/** GET /metrics over a plain socket (the generator's own client keeps no spare connection). */
export function scrapeCounts(host: string, port: number, timeoutMs = 2000): Promise<ModelCounts | null> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const chunks: Buffer[] = [];
    const done = (v: ModelCounts | null) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(timeoutMs, () => done(null));
    sock.on('error', () => done(null));
    sock.on('connect', () => sock.write(`GET /metrics HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`));
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!/^HTTP\/1\.[01] 200/.test(text)) return done(null);
      const counts: ModelCounts = new Map();
      for (const m of text.matchAll(/^hotpath_model_(inference|execution)_count_total\{model="([^"]+)"\} (\S+)$/gm)) {
        const c = counts.get(m[2]) ?? { rows: 0, batches: 0 };
        if (m[1] === 'inference') c.rows = Number(m[3]);
        else c.batches = Number(m[3]);
        counts.set(m[2], c);
      }
      done(counts.size > 0 ? counts : null);
    });
  });
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
