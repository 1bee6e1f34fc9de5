// The top-level `online_store:` section of hotpath.yaml: entity rows written through to
// Redis hashes, read through on a miss, and a new replica warmed from them (src/redis/
// online-store.ts, docs/redis.md "The online store"). Off without the section. The
// refusals name the field at fault.
import { fail, parseDuration } from './values.js';

export { onlineStoreSchema } from './online-store-schema.js';

export interface RawOnlineStore {
  url?: string;
  cluster?: string[];
  password_env?: string;
  prefix?: string;
  flush_interval?: number | string;
  max_dirty?: number;
  pipeline?: number;
  read_timeout?: number | string;
  command_timeout?: number | string;
  ttl?: number | string;
  warm?: boolean;
}

export interface OnlineStoreDef {
  /** one server (redis:// or rediss://) */
  url?: string;
  /** or the seed nodes of a Redis Cluster */
  cluster?: { host: string; port: number }[];
  password?: string;
  /** keys are <prefix>:<table>:{<16 hex digits of the entity's id hash>} */
  prefix: string;
  /** dirty entities are written at least this often */
  flushIntervalMs: number;
  /** entities waiting to be written at most; more are dropped from this round (counted) */
  maxDirty: number;
  /** commands per pipeline at most (one pipeline in flight) */
  pipeline: number;
  /** a read-through waits this long for Redis, then answers from the store as it is */
  readTimeoutMs: number;
  /** a command with no reply for this long fails */
  commandTimeoutMs: number;
  /** the keys expire this long after their last write (0: never) */
  ttlMs: number;
  /** a replica that recovered no state loads every row from Redis before it is ready */
  warm: boolean;
}

export const ONLINE_STORE_DEFAULTS = {
  prefix: 'hotpath',
  flushIntervalMs: 100,
  maxDirty: 1_000_000,
  pipeline: 1000,
  readTimeoutMs: 20,
  commandTimeoutMs: 5000,
} as const;

const HOST_PORT_RE = /^[^\s:]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/;
const PREFIX_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

type Env = Record<string, string | undefined>;

/** The section after schema validation; null without it. */
export function compileOnlineStore(raw: RawOnlineStore | undefined, env: Env): OnlineStoreDef | null {
  if (raw === undefined || raw === null) return null;
  const path = '/online_store';
  if ((raw.url === undefined) === (raw.cluster === undefined)) fail(path, 'set one of url (a single server) or cluster (seed nodes host:port)');
  const cluster = raw.cluster?.map((hp, i) => {
    if (!HOST_PORT_RE.test(hp)) fail(`${path}/cluster/${i}`, `${JSON.stringify(hp)} is not host:port`);
    const at = hp.lastIndexOf(':');
    const port = Number(hp.slice(at + 1));
    if (!(port >= 1 && port <= 65535)) fail(`${path}/cluster/${i}`, `port ${hp.slice(at + 1)} is not 1..65535`);
    return { host: hp.slice(0, at).replace(/^\[|\]$/g, ''), port };
  });
  let password: string | undefined;
  if (raw.password_env !== undefined) {
    password = env[raw.password_env];
    if (password === undefined || password === '') fail(`${path}/password_env`, `the environment variable ${raw.password_env} is not set`);
  }
  const prefix = raw.prefix ?? ONLINE_STORE_DEFAULTS.prefix;
  // no braces: the hash tag is the entity's part of the key
  if (!PREFIX_RE.test(prefix)) fail(`${path}/prefix`, `must be 1-64 of letters, digits, _ . : -, got ${JSON.stringify(prefix)}`);
  const ms = (v: number | string | undefined, d: number, field: string, min: number, max: number): number => {
    if (v === undefined) return d;
    let x: number;
    try {
      x = parseDuration(v);
    } catch {
      fail(`${path}/${field}`, `not a duration: ${JSON.stringify(v)} (use e.g. "100ms", "1s")`);
    }
    if (!(x >= min && x <= max)) fail(`${path}/${field}`, `must be between ${min} ms and ${max} ms, got ${x} ms`);
    return x;
  };
  const int = (v: number | undefined, d: number, field: string, min: number, max: number): number => {
    const x = v ?? d;
    if (!Number.isInteger(x) || x < min || x > max) fail(`${path}/${field}`, `must be an integer between ${min} and ${max}, got ${JSON.stringify(v)}`);
    return x;
  };
  const commandTimeoutMs = ms(raw.command_timeout, ONLINE_STORE_DEFAULTS.commandTimeoutMs, 'command_timeout', 10, 600_000);
  return {
    url: raw.url,
    cluster,
    password,
    prefix,
    flushIntervalMs: ms(raw.flush_interval, ONLINE_STORE_DEFAULTS.flushIntervalMs, 'flush_interval', 1, 60_000),
    maxDirty: int(raw.max_dirty, ONLINE_STORE_DEFAULTS.maxDirty, 'max_dirty', 1, 100_000_000),
    pipeline: int(raw.pipeline, ONLINE_STORE_DEFAULTS.pipeline, 'pipeline', 1, 100_000),
    readTimeoutMs: ms(raw.read_timeout, ONLINE_STORE_DEFAULTS.readTimeoutMs, 'read_timeout', 0, 10_000),
    commandTimeoutMs,
    ttlMs: ms(raw.ttl, 0, 'ttl', 0, 365 * 86_400_000),
    warm: raw.warm ?? true,
  };
}
