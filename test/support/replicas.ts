// What the Redis tests (the shared log, the online store, regions) share: replicas started
// in-process on port 0 with their log lines kept, Redis servers, clusters and clients, all
// closed by close() (each file's afterEach); and the wait until every replica reads what a
// list of events makes.
import { Redis } from 'ioredis';
import { expect } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { expectedCounts, readCounts } from './counts.js';
import { type RedisCluster, RedisProcess } from './redis.js';

export interface Replica {
  name: string;
  server: Server;
  base: string;
  /** the server's log lines, shown when a wait fails */
  lines: string[];
}

export class Fleet {
  readonly #servers: Replica[] = [];
  readonly #redises: RedisProcess[] = [];
  readonly #clusters: RedisCluster[] = [];
  readonly #clients: Redis[] = [];

  /** A server of this YAML on 127.0.0.1, port 0. */
  async replica(name: string, yaml: string, dataDir?: string): Promise<Replica> {
    const lines: string[] = [];
    const server = await startServer({ config: loadConfigText(yaml), port: 0, host: '127.0.0.1', dataDir, log: (l) => lines.push(l) });
    const r = { name, server, base: `http://127.0.0.1:${server.port}`, lines };
    this.#servers.push(r);
    return r;
  }

  /** Closes one replica now (a stop in the middle of a test). */
  async stop(r: Replica): Promise<void> {
    const i = this.#servers.indexOf(r);
    if (i >= 0) this.#servers.splice(i, 1);
    await r.server.close();
  }

  /** a server the test started otherwise, closed at close() */
  adopt(r: Replica): Replica {
    this.#servers.push(r);
    return r;
  }

  async redis(opts?: Parameters<typeof RedisProcess.start>[0]): Promise<RedisProcess> {
    const r = await RedisProcess.start(opts);
    this.#redises.push(r);
    return r;
  }

  /** a cluster the test started, stopped at close() */
  cluster(c: RedisCluster): RedisCluster {
    this.#clusters.push(c);
    return c;
  }

  client(url: string): Redis {
    const c = new Redis(url, { maxRetriesPerRequest: 1 });
    this.#clients.push(c);
    return c;
  }

  /** Clients, then servers, then Redis. */
  async close(): Promise<void> {
    for (const c of this.#clients.splice(0)) c.disconnect();
    await Promise.all(this.#servers.splice(0).map((r) => r.server.close()));
    for (const r of this.#redises.splice(0)) await r.stop();
    for (const c of this.#clusters.splice(0)) await c.stop();
  }
}

/** Until every replica reads exactly the n_1d and sum_1d of `events` per user (else the difference and the replicas' logs are shown). */
export async function converge<E extends { user_id: string; amount: number }>(rs: Replica[], events: readonly E[], ms = 20_000): Promise<void> {
  const want = expectedCounts(events);
  const users = [...want.keys()];
  const t0 = Date.now();
  for (;;) {
    const got = await Promise.all(rs.map((r) => readCounts(r.base, users)));
    const bad = got.flatMap((g, i) =>
      users.filter((u) => g.get(u)?.n !== want.get(u)!.n || Math.abs(g.get(u)!.sum - want.get(u)!.sum) > 1e-6).map((u) => `${rs[i].name}:${u} ${JSON.stringify(g.get(u))} want ${JSON.stringify(want.get(u))}`),
    );
    if (bad.length === 0) return;
    if (Date.now() - t0 > ms) expect(bad.slice(0, 10), rs.map((r) => `${r.name}:\n${r.lines.join('\n')}`).join('\n---\n')).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
  }
}
