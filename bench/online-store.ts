// The online store on Redis, measured (docs/redis.md "The online store"):
//
//   node --import tsx bench/online-store.ts [--entities 100000] [--events 1000000] [--probes 2000]
//
// Needs a built checkout (npm run build) and redis-server on the PATH. Starts a fresh
// redis-server (no persistence) and, in this process, three servers with online_store:
//   write-through  a writer is handed --events events over --entities ids (batches of
//                  1,000 straight into its Ingestor, as fast as it applies them): entity
//                  rows written per second, from the first batch until nothing is dirty
//                  (rows written / elapsed; the ingest rate and the flushes are printed)
//   warm           a second server started empty: the time its warm takes (SCAN + HMGET
//                  + import of every row), from its log line, and the whole start
//   peer           the same number of HSETs of rows of the same size, written by a bare
//                  ioredis client in pipelines of 1,000 (what Redis and the client take here)
//   read-through   a third server with warm: false: GET /v1/features of --probes distinct
//                  ids it does not hold, one at a time: p50/p99 latency of the miss (the
//                  read from Redis and the import) against the same GETs once held (L2)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Redis } from 'ioredis';

import { loadConfigText } from '../src/config/load.js';
import { startServer, type Server } from '../src/server/app.js';

const { values: args } = parseArgs({ options: { entities: { type: 'string', default: '100000' }, events: { type: 'string', default: '1000000' }, probes: { type: 'string', default: '2000' } } });
const ENTITIES = Number(args.entities);
const EVENTS = Number(args.events);
const PROBES = Number(args.probes);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const yaml = (url: string, extra = '') => `
server: { workers: 1, max_batch: 10000 }
store: { max_future: 1d }
streams:
  tx:
    keys: { user: user_id }
    time_field: ts
    allowed_lateness: 1h
    fields: { amount: number }
entities:
  user:
    memory: 1GiB
    features:
      n_1h:   { agg: count, window: 1h, tile: 5m }
      sum_1h: { agg: sum, field: amount, window: 1h, tile: 5m }
      max_1h: { agg: max, field: amount, window: 1h, tile: 5m }
      last:   { agg: last, field: amount }
online_store:
  url: ${url}
  ${extra}
`;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function main(): Promise<void> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-bench-redis-'));
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const url = `redis://127.0.0.1:${port}`;
  const servers: Server[] = [];
  try {
    // the ingest alone (no online_store): the tap's cost is the difference
    const plainYaml = yaml(url).replace(/online_store:[\s\S]*$/, '');
    const plain = await startServer({ config: loadConfigText(plainYaml), port: 0, host: '127.0.0.1', log: () => {} });
    const nowP = Date.now();
    const tp0 = performance.now();
    for (let i = 0; i < EVENTS; i += 1000)
      plain.ingest.events(Array.from({ length: Math.min(1000, EVENTS - i) }, (_, j) => ({ user_id: `u${(i + j) % ENTITIES}`, ts: nowP - ((i + j) % 3_000_000), amount: (i + j) % 97 })), 'http', nowP);
    const plainMs = performance.now() - tp0;
    console.log(`ingest without the online store: ${EVENTS} events in ${plainMs.toFixed(0)} ms (${((EVENTS / plainMs) * 1000).toFixed(0)} events/s)`);
    await plain.close();

    // write-through
    const lines: string[] = [];
    const a = await startServer({ config: loadConfigText(yaml(url)), port: 0, host: '127.0.0.1', log: (l) => lines.push(l) });
    servers.push(a);
    const now = Date.now();
    const batch = 1000;
    const t0 = performance.now();
    let ingestMs = 0;
    for (let i = 0; i < EVENTS; i += batch) {
      const events = Array.from({ length: Math.min(batch, EVENTS - i) }, (_, j) => ({ user_id: `u${(i + j) % ENTITIES}`, ts: now - ((i + j) % 3_000_000), amount: (i + j) % 97 }));
      a.ingest.events(events, 'http', now);
      // yield to the event loop so that flushes go out while events arrive (as with HTTP)
      if ((i / batch) % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    ingestMs = performance.now() - t0;
    while (a.online!.dirty > 0) await new Promise((r) => setTimeout(r, 1));
    const ms = performance.now() - t0;
    const s = a.online!.stats;
    const live = a.store.stats(0);
    console.log(`store: ${live.live} entities live (capacity ${live.capacity}, ${live.rowBytes} bytes a row)`);
    console.log(`write-through: ${EVENTS} events over ${ENTITIES} entities applied in ${ingestMs.toFixed(0)} ms (${((EVENTS / ingestMs) * 1000).toFixed(0)} events/s); ` +
      `${s.written} rows written in ${ms.toFixed(0)} ms: ${((s.written / ms) * 1000).toFixed(0)} rows/s, ${s.pipelines} flushes, ${s.dropped} dropped, ${s.writeFailures} failures`);

    // peer: bare pipelined HSETs of the same rows, under other keys
    const peer = new Redis(url);
    const row = Buffer.alloc(a.store.layout(0).rowBytes, 7);
    const tp = performance.now();
    for (let i = 0; i < s.written; i += 1000) {
      const p = peer.pipeline();
      for (let j = i; j < Math.min(s.written, i + 1000); j++) p.hset(`peer:{${j}}`, 'r', row, 'l', '1', 't', '1', 'p', '', 'o', '', 'n_1h', '1', 'sum_1h', '1', 'max_1h', '1', 'last', '1');
      await p.exec();
    }
    const peerMs = performance.now() - tp;
    console.log(`peer: ${s.written} HSETs in pipelines of 1000 by a bare ioredis client: ${((s.written / peerMs) * 1000).toFixed(0)} rows/s`);
    for (let i = 0; i < s.written; i += 1000) await peer.del(...Array.from({ length: Math.min(1000, s.written - i) }, (_, j) => `peer:{${i + j}}`));
    peer.disconnect();

    // warm
    const blines: string[] = [];
    const tb = performance.now();
    const b = await startServer({ config: loadConfigText(yaml(url)), port: 0, host: '127.0.0.1', log: (l) => blines.push(l) });
    servers.push(b);
    console.log(`warm: ${blines.find((l) => l.includes('warmed')) ?? 'no warm line'}; the whole start ${(performance.now() - tb).toFixed(0)} ms`);

    // read-through
    const c = await startServer({ config: loadConfigText(yaml(url, 'warm: false')), port: 0, host: '127.0.0.1', log: () => {} });
    servers.push(c);
    const base = `http://127.0.0.1:${c.port}`;
    const miss: number[] = [];
    const held: number[] = [];
    let notFound = 0;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < PROBES; i++) {
        const id = `u${(i * 7919) % ENTITIES}`;
        const t = performance.now();
        const r = await fetch(`${base}/v1/features/user/${id}`);
        const body = (await r.json()) as { found: boolean };
        (pass === 0 ? miss : held).push(performance.now() - t);
        if (!body.found) notFound++;
      }
    }
    const cs = c.online!.stats;
    console.log(`read-through (fetch, sequential, ${PROBES} ids): miss p50 ${pct(miss, 50).toFixed(2)} ms, p99 ${pct(miss, 99).toFixed(2)} ms; ` +
      `held (L2) p50 ${pct(held, 50).toFixed(2)} ms, p99 ${pct(held, 99).toFixed(2)} ms; hits ${cs.readHits}, misses ${cs.readMisses}, timeouts ${cs.readTimeouts}; answered found: false ${notFound}`);
  } finally {
    for (const s of servers) await s.close();
    redis.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
