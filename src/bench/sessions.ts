// A seeded generator of click sessions with planted structure, for `hotpath eval
// --recommender` (docs/recommend.md, "The generated dataset"):
//   - items in clusters (the cluster is the item's category, "c<k>");
//   - item popularity Zipf(s) over a random permutation of the items;
//   - inside each cluster a sparse transition graph: every item has `degree` successors in
//     its own cluster, drawn by popularity, with random weights;
//   - a session starts at an item drawn by popularity and walks the graph; each click is,
//     with probability `noise`, a noise click instead (any item, by popularity), after
//     which the walk goes on from where it was;
//   - session lengths 2 + geometric (mean `meanLength`), start times uniform over `days`,
//     clicks 10 s to 5 min apart.
// A method that learns item-to-item transitions should find most next items in its top 20
// (all but the noise and the first items of walks); popularity only the popular ones.
import { mulberry32 } from './random.js';

export interface SessionGenOptions {
  seed?: number;
  sessions?: number;
  items?: number;
  clusters?: number;
  degree?: number;
  zipf?: number;
  noise?: number;
  meanLength?: number;
  days?: number;
  /** dimension of the planted item embedding (0: none) */
  embeddingDim?: number;
}

export interface GeneratedSessions {
  options: Required<SessionGenOptions>;
  /** CSV text: session_id,ts,item_id,category (time order) */
  csv: string;
  clicks: number;
  /** items x dim, row i = item `i<i>`: its cluster's centre plus noise (when embeddingDim > 0) */
  embedding: Float32Array | null;
}

export const SESSION_GEN_DEFAULTS: Required<SessionGenOptions> = {
  seed: 1, sessions: 50_000, items: 5_000, clusters: 50, degree: 4, zipf: 1.0, noise: 0.15, meanLength: 6, days: 30, embeddingDim: 32,
};

/** Draws from a discrete distribution by its cumulative weights (binary search). */
function sampler(weights: Float64Array, rng: () => number): () => number {
  const cum = new Float64Array(weights.length);
  let s = 0;
  for (let i = 0; i < weights.length; i++) cum[i] = s += weights[i];
  return () => {
    const x = rng() * s;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

export function generateSessions(opts: SessionGenOptions = {}): GeneratedSessions {
  const o = { ...SESSION_GEN_DEFAULTS, ...opts };
  const rng = mulberry32(o.seed);
  const n = o.items;
  // Popularity: Zipf over a random permutation, so that popular items spread over clusters.
  const rank = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [rank[i], rank[j]] = [rank[j], rank[i]];
  }
  const pop = new Float64Array(n);
  for (let i = 0; i < n; i++) pop[i] = 1 / Math.pow(rank[i] + 1, o.zipf);
  const cluster = Int32Array.from({ length: n }, () => Math.floor(rng() * o.clusters));
  const members: number[][] = Array.from({ length: o.clusters }, () => []);
  for (let i = 0; i < n; i++) members[cluster[i]].push(i);
  // Successors in the item's own cluster, drawn by popularity, with random weights.
  const next: { to: number[]; draw: () => number }[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const m = members[cluster[i]].filter((j) => j !== i);
    const to: number[] = [];
    if (m.length > 0) {
      const pick = sampler(Float64Array.from(m, (j) => pop[j]), rng);
      for (let t = 0; t < o.degree * 4 && to.length < Math.min(o.degree, m.length); t++) {
        const j = m[pick()];
        if (!to.includes(j)) to.push(j);
      }
    }
    const w = Float64Array.from(to, () => 0.2 + rng());
    next[i] = { to, draw: sampler(w, rng) };
  }
  const anyItem = sampler(pop, rng);
  const spanMs = o.days * 86_400_000;
  const t0 = Date.UTC(2026, 0, 1);
  const starts = Array.from({ length: o.sessions }, () => t0 + Math.floor(rng() * spanMs)).sort((a, b) => a - b);
  const clicks: { s: number; ts: number; item: number }[] = [];
  for (let s = 0; s < o.sessions; s++) {
    let len = 2;
    while (rng() > 1 / (o.meanLength - 1)) len++;
    let ts = starts[s];
    let at = anyItem();
    clicks.push({ s, ts, item: at });
    for (let c = 1; c < len; c++) {
      ts += 10_000 + Math.floor(rng() * 290_000);
      if (rng() < o.noise || next[at].to.length === 0) clicks.push({ s, ts, item: anyItem() });
      else {
        at = next[at].to[next[at].draw()];
        clicks.push({ s, ts, item: at });
      }
    }
  }
  clicks.sort((a, b) => a.ts - b.ts || a.s - b.s);
  const lines = ['session_id,ts,item_id,category'];
  for (const c of clicks) lines.push(`s${c.s},${c.ts},i${c.item},c${cluster[c.item]}`);
  let embedding: Float32Array | null = null;
  if (o.embeddingDim > 0) {
    // the planted embedding: cluster centres (unit Gaussian) plus item noise (sd 0.5)
    const d = o.embeddingDim;
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    const centres = Float64Array.from({ length: o.clusters * d }, gauss);
    embedding = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) embedding[i * d + k] = centres[cluster[i] * d + k] / Math.sqrt(d) + (0.5 * gauss()) / Math.sqrt(d);
  }
  return { options: o, csv: `${lines.join('\n')}\n`, clicks: clicks.length, embedding };
}

/** A float32 2-D matrix as a .npy file (format 1.0, little-endian, C order). */
export function npyBytes(m: Float32Array, rows: number, cols: number): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(m.buffer, m.byteOffset, m.byteLength)]);
}
