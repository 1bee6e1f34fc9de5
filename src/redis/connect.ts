// Connections to the Redis that holds the shared log: one server or a Redis Cluster, with
// ioredis. hotpath keeps its own backlog and retries, so a connection never queues
// commands while it is down (enableOfflineQueue: false) and never resends on reconnect
// (autoResendUnfulfilledCommands: false): a command either gets its reply or fails, and
// the caller decides. Connections reconnect forever, every 50 ms up to once a second.
import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** Where to connect: ingest.redis_streams and online_store both have these. */
export interface RedisTarget {
  url?: string;
  cluster?: { host: string; port: number }[];
  password?: string;
  commandTimeoutMs: number;
}

/** autoPipeline: commands issued in one turn of the event loop go out as one pipeline (per node). */
export function connectRedis(def: RedisTarget, name: string, autoPipeline = false): RedisClient {
  const options: RedisOptions = {
    connectionName: name,
    password: def.password,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: def.commandTimeoutMs,
    connectTimeout: Math.min(def.commandTimeoutMs, 2000),
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    enableAutoPipelining: autoPipeline,
  };
  if (def.cluster)
    return new Cluster(def.cluster, {
      redisOptions: options,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      enableAutoPipelining: autoPipeline,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      slotsRefreshTimeout: Math.min(def.commandTimeoutMs, 2000),
    });
  return new Redis(def.url!, options);
}

export function isReady(c: RedisClient): boolean {
  return c.status === 'ready';
}
