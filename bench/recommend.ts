// Recommendations: the latency of POST /v1/recommend/:name on a running server, and the
// native table's rates. Run: `npx tsx bench/recommend.ts [--seconds 10] [--rate 2000]`
// (after `npm run build`).
//   1. native (in this process): CovisitTable.update over the generated clicks in batches
//      of 1,000 (updates/s), then recommend calls from 10-item histories (recommends/s);
//   2. server (a fresh `hotpath serve` process): the generated clicks ingested as events
//      (user = session, item and category fields, last_n history), then an open-loop run
//      of recommend requests (90 % users with history, 10 % cold, a third with a category
//      filter) at --rate, and the same run of GET /v1/features/user/:id on the same users:
//      the cheapest route of the same server, the peer of the ratio. Client-side latency
//      from the load generator (HDR, coordinated omission corrected), server-side from the
//      server's own hotpath_recommend_duration_seconds histogram (bucket bounds).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { machine, mdTable, ratioOf, startHotpath } from '../src/bench/harness.js';
import { encodeRequest } from '../src/bench/http-client.js';
import { runLoad } from '../src/bench/loadgen.js';
import { mulberry32 } from '../src/bench/random.js';
import { generateSessions, npyBytes } from '../src/bench/sessions.js';
import { categoryValue } from '../src/ingest/decode.js';
import { CovisitTable } from '../src/native/covisit.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, rate: { type: 'string', default: '2000' }, port: { type: 'string', default: '18620' } } });
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const PORT = Number(values.port);
const ROOT = join(import.meta.dirname, '..');

const CONFIG = `
server: { workers: 1, max_batch: 10000 }
streams:
  clicks:
    keys: { user: session_id, item: item_id }
    time_field: ts
    allowed_lateness: 2d
    fields: { item_id: category, category: category }
entities:
  user:
    memory: 128MiB
    features:
      recent_items: { agg: last_n, field: item_id, n: 10 }
  item:
    memory: 16MiB
    features:
      views_1h: { agg: count, window: 1h }
recommenders:
  shop: { stream: clicks, user: user, item: item_id, category: category, recent: recent_items, half_life: 1d, neighbours: 32, window: 3, max_items: 100000, max_users: 200000, k: 20, max_k: 100 }
  blend:
    { stream: clicks, user: user, item: item_id, category: category, recent: recent_items, half_life: 1d, neighbours: 32, window: 3, max_items: 100000, max_users: 200000, k: 20, max_k: 100,
      embedding: { file: items.npy, ids: items.txt }, blend: { covisit: 1, embedding: 0.5 } }
`;

const gen = generateSessions({ seed: 1, sessions: 50_000, items: 5_000, days: 1, embeddingDim: 32 });
const rows = gen.csv.trim().split('\n').slice(1).map((l) => l.split(','));
const tEnd = Number(rows[rows.length - 1][1]);
const now = Date.now();
const clicks = rows.map((r) => ({ session_id: r[0], ts: Number(r[1]) - tEnd + now - 1000, item_id: r[2], category: r[3] }));
const sessions = [...new Set(clicks.map((c) => c.session_id))];
const categories = [...new Set(clicks.map((c) => c.category))];

function nativeRates(): { updatesPerS: number; recommendsPerS: number; usPerRecommend: number } {
  const t = new CovisitTable({ maxItems: 100_000, maxUsers: 200_000, neighbours: 32, window: 3, halfLifeMs: 86_400_000 });
  const n = clicks.length;
  const users = clicks.map((c) => c.session_id);
  const items = Float64Array.from(clicks, (c) => categoryValue(c.item_id)!);
  const cats = Float64Array.from(clicks, (c) => categoryValue(c.category)!);
  const ts = Float64Array.from(clicks, (c) => c.ts);
  const B = 1000;
  const t0 = performance.now();
  for (let at = 0; at < n; at += B) {
    const m = Math.min(B, n - at);
    t.update(users.slice(at, at + m), items.subarray(at, at + m), cats.subarray(at, at + m), ts.subarray(at, at + m), m);
  }
  const updatesPerS = n / ((performance.now() - t0) / 1000);
  const rng = mulberry32(2);
  const out = { items: new Float64Array(20), scores: new Float64Array(20), source: new Uint8Array(20) };
  const history = new Float64Array(10);
  const Q = 200_000;
  const t1 = performance.now();
  for (let q = 0; q < Q; q++) {
    const at = Math.floor(rng() * (n - 10));
    for (let h = 0; h < 10; h++) history[h] = items[at + h];
    t.recommend({ history, nHistory: 10, exclude: history, nExclude: 10, category: Number.NaN, k: 20, nowMs: now, recency: 0.7, popularFill: true }, out);
  }
  const s = (performance.now() - t1) / 1000;
  return { updatesPerS, recommendsPerS: Q / s, usPerRecommend: (s / Q) * 1e6 };
}

/** Server-side quantile from a Prometheus histogram's buckets: the bound of the bucket that holds it. */
function histogramQuantile(text: string, name: string, q: number): { bound: number; count: number } {
  const buckets: [number, number][] = [];
  for (const line of text.split('\n')) {
    const m = line.match(new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\} (\\S+)$`));
    if (m) buckets.push([m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2])]);
  }
  const total = buckets.at(-1)?.[1] ?? 0;
  const at = buckets.find(([, c]) => c >= q * total);
  return { bound: at ? at[0] : Number.NaN, count: total };
}

async function serverLatency(): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'hotpath-bench-reco-'));
  const config = join(work, 'reco.yaml');
  writeFileSync(config, CONFIG);
  writeFileSync(join(work, 'items.npy'), npyBytes(gen.embedding!, gen.options.items, gen.options.embeddingDim));
  writeFileSync(join(work, 'items.txt'), Array.from({ length: gen.options.items }, (_, i) => `i${i}`).join('\n'));
  const hp = await startHotpath(ROOT, PORT, { config });
  try {
    const t0 = performance.now();
    for (let at = 0; at < clicks.length; at += 5000) {
      const body = clicks.slice(at, at + 5000).map((e) => JSON.stringify(e)).join('\n');
      const r = await fetch(`${hp.url}/v1/events?stream=clicks`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
      if (r.status !== 200) throw new Error(`ingest: ${r.status} ${await r.text()}`);
    }
    const ingestS = (performance.now() - t0) / 1000;
    const rng = mulberry32(3);
    const host = `127.0.0.1:${PORT}`;
    const recommendReqs: Buffer[] = [];
    const blendReqs: Buffer[] = [];
    const readReqs: Buffer[] = [];
    for (let i = 0; i < 5000; i++) {
      const user = rng() < 0.9 ? sessions[Math.floor(rng() * sessions.length)] : `cold${i}`;
      const body: Record<string, unknown> = { user, k: 20 };
      if (rng() < 1 / 3) body.category = categories[Math.floor(rng() * categories.length)];
      recommendReqs.push(encodeRequest('POST', host, '/v1/recommend/shop', JSON.stringify(body), { 'content-type': 'application/json' }));
      blendReqs.push(encodeRequest('POST', host, '/v1/recommend/blend', JSON.stringify(body), { 'content-type': 'application/json' }));
      readReqs.push(encodeRequest('GET', host, `/v1/features/user/${user}?features=recent_items`));
    }
    const run = (requests: Buffer[]) => runLoad({ url: hp.url, requests, connections: 8, durationMs: SECONDS * 1000, warmupMs: 1000, rate: RATE, timeoutMs: 2000 });
    const read = await run(readReqs);
    const before = await (await fetch(`${hp.url}/metrics`)).text();
    const reco = await run(recommendReqs);
    const after = await (await fetch(`${hp.url}/metrics`)).text();
    const blend = await run(blendReqs);
    const afterBlend = await (await fetch(`${hp.url}/metrics`)).text();
    const stats = (await (await fetch(`${hp.url}/v1/recommenders`)).json()) as { recommenders: { shop: Record<string, number> } };
    const name = 'hotpath_recommend_duration_seconds';
    const countBefore = histogramQuantile(before, name, 1).count;
    const s50 = histogramQuantile(after, name, 0.5);
    const s99 = histogramQuantile(after, name, 0.99);
    const s999 = histogramQuantile(after, name, 0.999);
    const blendName = name; // the same histogram, label recommender="blend"
    const b99 = histogramQuantile(afterBlend.split('\n').filter((l) => !l.includes('recommender="shop"')).join('\n'), blendName, 0.99);
    const b50 = histogramQuantile(afterBlend.split('\n').filter((l) => !l.includes('recommender="shop"')).join('\n'), blendName, 0.5);
    const us = (x: number) => (x / 1000).toFixed(3);
    let out = `Ingest: ${clicks.length} clicks (${sessions.length} sessions, ${gen.options.items} items) as NDJSON in ${ingestS.toFixed(1)} s; table: ${stats.recommenders.shop.items} items, ${stats.recommenders.shop.users} users, ${stats.recommenders.shop.pairs} pair updates.\n\n`;
    out += `Open loop, ${RATE} requests/s, 8 connections, ${SECONDS} s (+1 s warm-up); client-side latency (ms):\n\n`;
    out += mdTable(
      ['route', 'answered', 'non-2xx', 'p50', 'p90', 'p99', 'p99.9', 'max'],
      [
        ['POST /v1/recommend/shop', String(reco.answered), String(reco.answered - reco.ok), us(reco.latencyUs.p50), us(reco.latencyUs.p90), us(reco.latencyUs.p99), us(reco.latencyUs.p999), us(reco.latencyUs.max)],
        ['POST /v1/recommend/blend (co-visitation + embedding 5,000 x 32)', String(blend.answered), String(blend.answered - blend.ok), us(blend.latencyUs.p50), us(blend.latencyUs.p90), us(blend.latencyUs.p99), us(blend.latencyUs.p999), us(blend.latencyUs.max)],
        ['GET /v1/features/user/:id (peer)', String(read.answered), String(read.answered - read.ok), us(read.latencyUs.p50), us(read.latencyUs.p90), us(read.latencyUs.p99), us(read.latencyUs.p999), us(read.latencyUs.max)],
      ],
    );
    out += `\n\nRatio recommend / feature read, client p50: ${ratioOf(reco.latencyUs.p50 / read.latencyUs.p50)}, p99: ${ratioOf(reco.latencyUs.p99 / read.latencyUs.p99)}.\n\n`;
    out += `Server-side (hotpath_recommend_duration_seconds, ${s99.count - countBefore} requests: the run and its warm-up; the bucket bound that holds the quantile): p50 ≤ ${(s50.bound * 1000).toFixed(2)} ms, p99 ≤ ${(s99.bound * 1000).toFixed(2)} ms, p99.9 ≤ ${(s999.bound * 1000).toFixed(2)} ms (target p99 ≤ 1 ms). The blend: p50 ≤ ${(b50.bound * 1000).toFixed(2)} ms, p99 ≤ ${(b99.bound * 1000).toFixed(2)} ms.\n`;
    return out;
  } finally {
    await hp.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

const nat = nativeRates();
let report = `# Recommendations: co-visitation latency and rates\n\n\`npx tsx bench/recommend.ts --seconds ${SECONDS} --rate ${RATE}\` on ${machine()}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.\n\n`;
report += `## Native table (one thread, in process)\n\n`;
report += mdTable(['operation', 'rate', 'per call'], [
  ['update (batches of 1,000 clicks; window 3, 32 neighbours)', `${(nat.updatesPerS / 1e6).toFixed(2)} M clicks/s`, `${(1e6 / nat.updatesPerS).toFixed(3)} µs/click`],
  ['recommend (10 history items, exclude them, k 20, popular fill)', `${(nat.recommendsPerS / 1e3).toFixed(1)} k/s`, `${nat.usPerRecommend.toFixed(2)} µs`],
]);
report += `\n\n## Server\n\n${await serverLatency()}`;
process.stdout.write(report);
