// The server under fuzz, in its own process so that a native crash (an abort, a segfault)
// is seen by the test as an exit rather than taking the test runner down with it. Run as
// `node --expose-gc --import tsx server-child.ts <repo> <config.yaml>`; it talks to the
// parent over the IPC channel:
//   -> { type: 'ready', port }                       once listening
//   <- { type: 'stats' }  -> { type: 'stats', ... }  memory after GC and the pool's books
//   <- { type: 'close' }                             closes the server and exits 0
// Every line the server logs (internal errors with their stack) goes to stderr, where the
// parent watches for them.
import { readFileSync } from 'node:fs';

import { loadConfigText } from '../../src/config/load.js';
import { startServer } from '../../src/server/app.js';

export interface ChildStats {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** requests the pool has accepted and not answered */
  pending: number;
  /** requests in the pool's wait queue */
  waiting: number;
  /** bytes in use in each worker's request and response rings */
  occupancy: { worker: number; requests: number; responses: number }[];
  /** requests in flight per model (its current version's slot) */
  inflight: Record<string, number>;
  /** rows in use and the store's allocated bytes per entity table */
  store: Record<string, { live: number; allocatedBytes: number }>;
}

const [repo, configPath] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !process.send) throw new Error('run with --expose-gc and an IPC channel');

const config = loadConfigText(readFileSync(configPath, 'utf8'), { baseDir: repo });
const server = await startServer({ config, port: 0, host: '127.0.0.1', log: (line) => process.stderr.write(`${line}\n`) });

async function stats(): Promise<ChildStats> {
  // Let pending answers and timers run, then collect twice (weak refs, finalizers).
  await new Promise((r) => setTimeout(r, 50));
  gc!();
  await new Promise((r) => setImmediate(r));
  gc!();
  const m = process.memoryUsage();
  const inflight: Record<string, number> = {};
  for (const [name, e] of server.models.entries) if (e.current) inflight[name] = server.pool.inflight(e.current.slot);
  const store: ChildStats['store'] = {};
  for (const e of config.entities) {
    const s = server.store.stats(e.index);
    store[e.name] = { live: s.live, allocatedBytes: s.allocatedBytes };
  }
  return {
    rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers,
    pending: server.pool.pendingCount, waiting: server.pool.waiting, occupancy: server.pool.occupancy(), inflight, store,
  };
}

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stats') void stats().then((s) => process.send!({ type: 'stats', ...s }));
  else if (msg.type === 'close') void server.close().then(() => process.exit(0));
});
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
process.send({ type: 'ready', port: server.port });
