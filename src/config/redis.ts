// The `ingest:` section of hotpath.yaml. `ingest.redis_streams` makes a Redis stream the
// shared ingest log of many replicas (src/redis/, docs/redis.md): events posted to any
// replica are appended to it, and every replica applies every entry through its own
// consumer group. A bad value is reported with the path of its field.
import { hostname } from 'node:os';

import { fail, parseDuration, parseSize } from './values.js';

const duration = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: '^(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)$' }] } as const;
const size = { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^(\\d+(?:\\.\\d+)?)\\s*(B|KB|MB|GB|KiB|MiB|GiB)$' }] } as const;
const envName = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } as const;
/** a host:port of a cluster node */
const HOST_PORT_RE = /^[^\s:]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/;
/** a replica's name: its consumer group and consumer names are made from it */
const REPLICA_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;

export const ingestSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    redis_streams: {
      type: 'object',
      additionalProperties: false,
      properties: {
        url: { type: 'string', pattern: '^rediss?://' },
        cluster: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', pattern: HOST_PORT_RE.source } },
        password_env: envName,
        key: { type: 'string', minLength: 1, maxLength: 256 },
        replica: { type: 'string', pattern: REPLICA_RE.source },
        replica_env: envName,
        from: { enum: ['beginning', 'end'] },
        max_len: { type: 'integer', minimum: 1000, maximum: 1e12 },
        read_count: { type: 'integer', minimum: 1, maximum: 100_000 },
        block: duration,
        pipeline: { type: 'integer', minimum: 1, maximum: 100_000 },
        ack_timeout: duration,
        command_timeout: duration,
        backlog: size,
        on_backlog_full: { enum: ['local', 'refuse'] },
        dedup_horizon: duration,
        dedup_max: { type: 'integer', minimum: 1, maximum: 100_000_000 },
        claim_min_idle: duration,
        claim_interval: duration,
        lag_interval: duration,
        ready_without_redis: { type: 'boolean' },
      },
    },
  },
} as const;

export interface RawIngest {
  redis_streams?: {
    url?: string;
    cluster?: string[];
    password_env?: string;
    key?: string;
    replica?: string;
    replica_env?: string;
    from?: 'beginning' | 'end';
    max_len?: number;
    read_count?: number;
    block?: number | string;
    pipeline?: number;
    ack_timeout?: number | string;
    command_timeout?: number | string;
    backlog?: number | string;
    on_backlog_full?: 'local' | 'refuse';
    dedup_horizon?: number | string;
    dedup_max?: number;
    claim_min_idle?: number | string;
    claim_interval?: number | string;
    lag_interval?: number | string;
    ready_without_redis?: boolean;
  };
}

export interface RedisStreamsDef {
  /** one server (redis:// or rediss://, user and password may be in it) */
  url?: string;
  /** or the seed nodes of a Redis Cluster, host:port */
  cluster?: { host: string; port: number }[];
  /** the password, read from this environment variable when the config is loaded */
  password?: string;
  /** the stream's key; in a cluster it carries a hash tag, e.g. {hotpath}:events */
  key: string;
  /** this replica's name: its consumer group; stable across restarts of the replica */
  replica: string;
  /** where a new consumer group (and, without a data directory, every start) begins reading */
  from: 'beginning' | 'end';
  /** XADD MAXLEN ~ (entries, one per ingest batch) */
  maxLen: number;
  /** entries per XREADGROUP / XAUTOCLAIM */
  readCount: number;
  /** how long one XREADGROUP blocks waiting for entries */
  blockMs: number;
  /** XADDs sent in one pipeline at most (one pipeline in flight at a time) */
  pipeline: number;
  /** an ingest answer waits this long for its XADD replies, then says shared: false */
  ackTimeoutMs: number;
  /** a command with no reply for this long fails (the connection is then treated as down) */
  commandTimeoutMs: number;
  /** bytes of encoded batches kept while Redis cannot take them */
  backlogBytes: number;
  /** a full backlog: apply here only and count the batch (local), or refuse new events (refuse: 503) */
  onBacklogFull: 'local' | 'refuse';
  /** batch ids remembered for dedup: this long ... */
  dedupHorizonMs: number;
  /** ... and at most this many */
  dedupMax: number;
  /** pending entries of an earlier consumer of this replica are claimed once idle this long */
  claimMinIdleMs: number;
  claimIntervalMs: number;
  /** how often the lag of every group is read (XINFO GROUPS) for /metrics */
  lagIntervalMs: number;
  /** false: /readyz says not ready while Redis is unreachable (a load balancer then sends the traffic elsewhere) */
  readyWithoutRedis: boolean;
}

export interface IngestDef {
  /** the shared ingest log (null: none, every replica ingests alone) */
  redisStreams: RedisStreamsDef | null;
}

type Env = Record<string, string | undefined>;

export function compileIngest(raw: RawIngest | undefined, env: Env): IngestDef {
  const r = raw?.redis_streams;
  if (!r) return { redisStreams: null };
  const path = '/ingest/redis_streams';
  if ((r.url === undefined) === (r.cluster === undefined)) fail(path, 'set one of url (a single server) or cluster (seed nodes host:port)');
  let password: string | undefined;
  if (r.password_env !== undefined) {
    password = env[r.password_env];
    if (password === undefined || password === '') fail(`${path}/password_env`, `the environment variable ${r.password_env} is not set`);
  }
  const cluster = r.cluster?.map((hp, i) => {
    const at = hp.lastIndexOf(':');
    const port = Number(hp.slice(at + 1));
    if (!(port >= 1 && port <= 65535)) fail(`${path}/cluster/${i}`, `port ${hp.slice(at + 1)} is not 1..65535`);
    return { host: hp.slice(0, at).replace(/^\[|\]$/g, ''), port };
  });
  const key = r.key ?? '{hotpath}:events';
  // In a cluster every command of the log names this one key, so pipelines stay on one
  // node; a key without a hash tag works too, but the tag makes the slot explicit.
  if (cluster && !/\{[^}]+\}/.test(key)) fail(`${path}/key`, `a cluster needs a hash tag in the key, e.g. "{hotpath}:events"`);
  let replica = r.replica;
  if (r.replica_env !== undefined) {
    if (replica !== undefined) fail(`${path}/replica_env`, 'set replica or replica_env, not both');
    replica = env[r.replica_env];
    if (!replica) fail(`${path}/replica_env`, `the environment variable ${r.replica_env} is not set`);
    if (!REPLICA_RE.test(replica)) fail(`${path}/replica_env`, `${r.replica_env}=${JSON.stringify(replica)} is not a replica name (1-128 of letters, digits, _ . : @ -)`);
  }
  replica ??= hostname().replace(/[^A-Za-z0-9_.:@-]/g, '_').slice(0, 128) || 'hotpath';
  const ms = (v: number | string | undefined, d: number, field: string, min = 0): number => {
    const x = v === undefined ? d : parseDuration(v);
    if (x < min) fail(`${path}/${field}`, `must be at least ${min} ms`);
    return x;
  };
  const def: RedisStreamsDef = {
    url: r.url,
    cluster,
    password,
    key,
    replica,
    from: r.from ?? 'beginning',
    maxLen: r.max_len ?? 100_000,
    readCount: r.read_count ?? 512,
    blockMs: ms(r.block, 1000, 'block', 1),
    pipeline: r.pipeline ?? 1024,
    ackTimeoutMs: ms(r.ack_timeout, 1000, 'ack_timeout'),
    commandTimeoutMs: ms(r.command_timeout, 5000, 'command_timeout', 10),
    backlogBytes: r.backlog === undefined ? 64 * 1024 ** 2 : parseSize(r.backlog),
    onBacklogFull: r.on_backlog_full ?? 'local',
    dedupHorizonMs: ms(r.dedup_horizon, 10 * 60_000, 'dedup_horizon', 1),
    dedupMax: r.dedup_max ?? 1_000_000,
    claimMinIdleMs: ms(r.claim_min_idle, 30_000, 'claim_min_idle'),
    claimIntervalMs: ms(r.claim_interval, 5000, 'claim_interval', 10),
    lagIntervalMs: ms(r.lag_interval, 1000, 'lag_interval', 10),
    readyWithoutRedis: r.ready_without_redis ?? true,
  };
  // A blocked XREADGROUP must come back before its command times out.
  if (def.blockMs >= def.commandTimeoutMs) fail(`${path}/block`, `must be shorter than command_timeout (${def.commandTimeoutMs} ms)`);
  return { redisStreams: def };
}
