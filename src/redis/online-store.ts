// The online store on Redis (online_store:, docs/redis.md "The online store"): every
// entity row this replica changes is written through to a Redis hash, a replica that
// starts with no state of its own warms from those hashes, and a read of an entity the
// store does not hold reads it through from Redis.
//
// Write-through. An ingest tap marks the entities of applied batches dirty, per table, in
// a bounded set (max_dirty: past it, entities are dropped from this round and counted;
// ingest never waits for Redis). Every flush_interval, or as soon as `pipeline` entities
// are dirty, one flush takes up to `pipeline` of them, copies their rows out with one
// native call per table (FeatureStore.exportRows) and their feature values with one
// readMany, and sends one HSET per entity in one pipeline; only one flush is in flight. A
// failed flush puts its entities back (room permitting) and is retried on the next round;
// failures are counted and logged (the first, then at most every 10 s).
//
// Which replica writes: with the shared log (ingest.redis_streams) the entities of the
// batches posted to this replica (HTTP, WebSocket, demo), not those applied from the
// stream, so N replicas do not write everything N times; without it, everything applied.
//
// Key layout: `<prefix>:<table>:{<16 hex digits of the id hash>}`; the braces are the
// Redis Cluster hash tag, so one entity's key has one slot. Fields: r (the row's bytes),
// l (the state layout's CRC-32C), t (write time, ms), p (the writer's shared-log
// position: the last stream entry it had handled), o (its own batches applied but not
// yet read back from the stream), and one field per feature with its value as text.
//
// Warm start and the shared log: a writer's row holds every stream entry up to p plus the
// batches in o. A warmed replica starts its consumer group at the lowest p it imported,
// and until it passes the highest p drops, for each imported entity, the rows of entries
// its row already holds (entry id <= p, or batch id in o): WarmFilter below.
import { Cluster, type Redis } from 'ioredis';

import type { OnlineStoreDef } from '../config/online-store.js';
import type { Config, StreamDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import type { AppliedBatch, IngestTap } from '../ingest/ingestor.js';
import { type FeatureStore, hashIds } from '../native/binding.js';
import { connectRedis, isReady, type RedisClient } from './connect.js';
import { ThrottledLog } from './reporting.js';
import { compareIds, type WarmStart } from './stream-log.js';

/** the hash's own fields; features may not take these names */
export const RESERVED_FIELDS = ['r', 'l', 't', 'p', 'o'] as const;
/** a warm filter waits this long (stream time past the highest position) for its writers' own batches */
const OWN_WAIT_MS = 600_000;
/** own batches a warm filter tracks at most (o lists are short unless a writer's backlog was long) */
const MAX_PENDING_OWN = 1_000_000;
/** keys per SCAN call during a warm */
const SCAN_COUNT = 1000;

export interface OnlineStoreStats {
  /** entity rows written (HSET replied) */
  written: number;
  /** HSETs that failed (Redis down, slow past command_timeout, an error reply) */
  writeFailures: number;
  /** entities not written this round because the dirty set was full */
  dropped: number;
  /** flushes sent (one pipeline of HSETs each) */
  pipelines: number;
  readHits: number;
  readMisses: number;
  readTimeouts: number;
  /** rows imported by the warm at start */
  warmImported: number;
  warmMs: number;
  /** rows refused: another state layout, or not a row of this table's size */
  refusedLayout: number;
}

/** What the shared log tells the writer (stream-log.ts RedisStreamLog). */
export interface LogPosition {
  readonly position: string | undefined;
  ownInFlight(): string;
}

export interface OnlineStoreOptions {
  config: Config;
  def: OnlineStoreDef;
  store: FeatureStore;
  /** the state layout's CRC-32C (src/durability/layout.ts): rows carry it */
  layout: number;
  log: (line: string) => void;
  /** bumps the generation of imported entities, so no stale L1 answer survives (Caching.generations) */
  onImported?: (table: number, keys: BigUint64Array) => void;
}

/** The key of an entity's hash. */
export function rowKey(prefix: string, table: string, key: bigint): string {
  return `${prefix}:${table}:{${key.toString(16).padStart(16, '0')}}`;
}

/** The table name and id hash of a key of this layout, or undefined. */
export function parseRowKey(prefix: string, key: string): { table: string; key: bigint } | undefined {
  if (!key.startsWith(`${prefix}:`) || !key.endsWith('}')) return undefined;
  const open = key.lastIndexOf(':{');
  if (open <= prefix.length || key.length - open !== 19) return undefined;
  const hex = key.slice(open + 2, -1);
  if (!/^[0-9a-f]{16}$/.test(hex)) return undefined;
  return { table: key.slice(prefix.length + 1, open), key: BigInt(`0x${hex}`) };
}

/** A writer's own batches in flight, `<boot>:<from>-<to>,<n>,...` (base 36): does it name batchId? */
export function ownListHas(list: string, batchId: string): boolean {
  if (list === '') return false;
  const colon = list.indexOf(':');
  const dash = batchId.lastIndexOf('-');
  if (colon < 0 || dash < 0 || batchId.slice(0, dash) !== list.slice(0, colon)) return false;
  const n = Number.parseInt(batchId.slice(dash + 1), 36);
  for (const part of list.slice(colon + 1).split(',')) {
    const d = part.indexOf('-');
    const from = Number.parseInt(d < 0 ? part : part.slice(0, d), 36);
    const to = d < 0 ? from : Number.parseInt(part.slice(d + 1), 36);
    if (n >= from && n <= to) return true;
  }
  return false;
}

interface Covered {
  p: string;
  o: string;
}

/**
 * After a warm: per table, the imported entities and the entries their rows hold. keep()
 * drops the row of an event when every entity of it (one per key column) was imported
 * with a row that holds the entry; an event whose entities disagree (one imported with the
 * entry, one without) is applied, and counted in `conflicts`: the entity that held it
 * counts it twice. Rows of one flush share p and o, so entities written together agree.
 *
 * The filter is done past the highest p once every batch named in an o list has come by
 * (those were applied by their writer before they reached the stream, so they may come
 * after every p), or, for batches that never reach the stream (dropped from a full
 * backlog), once the stream is OWN_WAIT_MS past the highest p.
 */
export class WarmFilter implements WarmStart {
  readonly tables: Map<bigint, Covered>[];
  startAt = '';
  until = '';
  conflicts = 0;
  /** batches named in o lists not yet seen in the stream: boot -> counters */
  readonly #pendingOwn = new Map<string, Set<number>>();
  #pendingCount = 0;
  readonly #lists = new Set<string>();

  constructor(tables: number) {
    this.tables = Array.from({ length: tables }, () => new Map());
  }

  add(table: number, key: bigint, p: string, o: string): void {
    this.tables[table].set(key, { p, o });
    if (this.startAt === '' || compareIds(p, this.startAt) < 0) this.startAt = p;
    if (this.until === '' || compareIds(p, this.until) > 0) this.until = p;
    if (o !== '' && !this.#lists.has(o)) {
      this.#lists.add(o);
      const colon = o.indexOf(':');
      const boot = o.slice(0, colon);
      let set = this.#pendingOwn.get(boot);
      if (!set) this.#pendingOwn.set(boot, (set = new Set()));
      for (const part of o.slice(colon + 1).split(',')) {
        const d = part.indexOf('-');
        const from = Number.parseInt(d < 0 ? part : part.slice(0, d), 36);
        const to = d < 0 ? from : Number.parseInt(part.slice(d + 1), 36);
        for (let n = from; n <= to && this.#pendingCount < MAX_PENDING_OWN; n++) if (!set.has(n)) {
          set.add(n);
          this.#pendingCount++;
        }
      }
    }
  }

  get size(): number {
    let n = 0;
    for (const t of this.tables) n += t.size;
    return n;
  }

  done(entryId: string): boolean {
    if (compareIds(entryId, this.until) <= 0) return false;
    return this.#pendingCount === 0 || Number.parseInt(entryId, 10) > Number.parseInt(this.until, 10) + OWN_WAIT_MS;
  }

  keep(entryId: string, batchId: string, stream: StreamDef, keys: BigUint64Array[], n: number): Uint8Array | undefined {
    const dash = batchId.lastIndexOf('-');
    const own = this.#pendingOwn.get(batchId.slice(0, dash));
    if (own?.delete(Number.parseInt(batchId.slice(dash + 1), 36))) this.#pendingCount--;
    let keep: Uint8Array | undefined;
    for (let i = 0; i < n; i++) {
      let held = 0;
      for (let k = 0; k < keys.length; k++) {
        const c = this.tables[stream.tables[k]].get(keys[k][i]);
        if (c && (compareIds(entryId, c.p) <= 0 || ownListHas(c.o, batchId))) held++;
      }
      if (held === 0) continue;
      if (held < keys.length) {
        this.conflicts++;
        continue;
      }
      keep ??= new Uint8Array(n).fill(1);
      keep[i] = 0;
    }
    return keep;
  }
}

export class OnlineStore {
  readonly def: OnlineStoreDef;
  readonly stats: OnlineStoreStats = {
    written: 0, writeFailures: 0, dropped: 0, pipelines: 0, readHits: 0, readMisses: 0, readTimeouts: 0, warmImported: 0, warmMs: 0, refusedLayout: 0,
  };
  readonly #o: OnlineStoreOptions;
  /** a failure's line, then at most one per LOG_EVERY_MS */
  readonly #throttled: ThrottledLog;
  readonly #client: RedisClient;
  readonly #tableNames: string[];
  readonly #tableIndex = new Map<string, number>();
  readonly #layoutText: string;
  /** dirty entities per table; #dirtyCount across tables is bounded by max_dirty */
  readonly #dirty: Set<bigint>[];
  #dirtyCount = 0;
  #shared: LogPosition | undefined;
  #timer: NodeJS.Timeout | undefined;
  #flushing = false;
  #inFlight = 0;
  /** after failed writes: no flush before this time (backs off from 50 ms to 1 s) */
  #retryAt = 0;
  #failStreak = 0;
  #soon = false;
  #closed = false;
  #wasConnected = false;
  /** read-throughs in flight by table and key: requests for one entity share one fetch */
  readonly #reads = new Map<string, Promise<boolean>>();
  // reused buffers of a flush (grown to the largest table's need, then kept)
  #keys = new BigUint64Array(0);
  #rows = new Uint8Array(0);
  #found = new Uint8Array(0);
  #values = new Float64Array(0);
  #ages = new Float64Array(0);

  constructor(o: OnlineStoreOptions) {
    this.#o = o;
    this.#throttled = new ThrottledLog(o.log);
    this.def = o.def;
    this.#tableNames = o.config.entities.map((e) => e.name);
    this.#tableNames.forEach((n, i) => this.#tableIndex.set(n, i));
    this.#layoutText = String(o.layout >>> 0);
    for (const e of o.config.entities)
      for (const f of e.features)
        if ((RESERVED_FIELDS as readonly string[]).includes(f.name))
          throw new HotpathError('HP_ERR_CONFIG_INVALID', `/entities/${e.name}/features/${f.name}: with online_store, a feature may not be named ${RESERVED_FIELDS.join(', ')} (the online store's own hash fields)`);
    this.#dirty = o.config.entities.map(() => new Set<bigint>());
    this.#client = connectRedis(o.def, 'hotpath:online-store', true);
    this.#client.on('ready', () => {
      this.#retryAt = 0;
      if (this.#wasConnected || this.#dirtyCount > 0) o.log(`redis: online store connected${this.#dirtyCount > 0 ? `; writing ${this.#dirtyCount} dirty entities` : ''}`);
      this.#wasConnected = true;
      this.#flushSoon();
    });
    this.#client.on('error', (err: Error) => this.#throttled.say('conn', `redis: online store connection: ${err.message}`));
  }

  get connected(): boolean {
    return isReady(this.#client);
  }

  /** entities changed here and not yet written: dirty, or in a flush that has not replied */
  get dirty(): number {
    return this.#dirtyCount + this.#inFlight;
  }

  /** Waits until the connection is up, at most ms. */
  async connectedWithin(ms: number): Promise<boolean> {
    const t0 = Date.now();
    while (!this.connected && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 10));
    return this.connected;
  }

  /** With the shared log: rows carry its position, and only local batches are written. */
  attachShared(log: LogPosition | undefined): void {
    this.#shared = log;
  }

  /** The tap that marks entities dirty. It reads columns (binary frames are decoded once). */
  tap(): IngestTap {
    return {
      name: 'online-store',
      columns: true,
      onBatch: (b: AppliedBatch) => {
        if (b.kind !== 'columns') return;
        // With the shared log, batches from the stream are written by the replica they were
        // posted to; a replayed log is not written again (it was, or its writer's rows are).
        if (this.#shared && (b.source === 'redis' || b.source === 'replay')) return;
        const n = b.ts.length;
        for (let k = 0; k < b.keys.length; k++) {
          const t = b.stream.tables[k];
          const col = b.keys[k];
          this.#mark(t, col instanceof BigUint64Array ? col : hashIds(col), n);
        }
      },
    };
  }

  #mark(table: number, keys: BigUint64Array, n: number): void {
    const set = this.#dirty[table];
    const max = this.def.maxDirty;
    for (let i = 0; i < n; i++) {
      const key = keys[i];
      if (set.has(key)) continue;
      if (this.#dirtyCount >= max) {
        this.stats.dropped++;
        continue;
      }
      set.add(key);
      this.#dirtyCount++;
    }
    if (this.#dirtyCount >= this.def.pipeline) this.#flushSoon();
  }

  /** Starts the flush timer. */
  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.def.flushIntervalMs);
    this.#timer.unref();
  }

  #flushSoon(): void {
    if (this.#soon || this.#flushing || this.#closed) return;
    this.#soon = true;
    setImmediate(() => {
      this.#soon = false;
      void this.flush();
    });
  }

  /**
   * Writes up to `pipeline` dirty entities in one pipeline; resolves when Redis replied.
   * Does nothing while a flush is in flight or Redis is down (the entities stay dirty).
   */
  async flush(): Promise<void> {
    if (this.#flushing || this.#dirtyCount === 0 || !this.connected || Date.now() < this.#retryAt) return;
    const shared = this.#shared;
    // The position is known once the group is ready: rows written before would not say
    // which entries they hold.
    if (shared && shared.position === undefined) return;
    this.#flushing = true;
    const p = shared?.position ?? '';
    const own = shared?.ownInFlight() ?? '';
    const now = Date.now();
    const nowText = String(now);
    const c = this.#client;
    const replies: Promise<unknown>[] = [];
    const taken: { table: number; keys: BigUint64Array }[] = [];
    let budget = this.def.pipeline;
    for (let t = 0; t < this.#dirty.length && budget > 0; t++) {
      const set = this.#dirty[t];
      if (set.size === 0) continue;
      const n = Math.min(set.size, budget);
      const keys = this.#take(set, n);
      this.#dirtyCount -= n;
      budget -= n;
      taken.push({ table: t, keys });
      this.#writeTable(c, t, keys, p, own, nowText, now, replies);
    }
    this.stats.pipelines++;
    this.#inFlight = taken.reduce((n, t) => n + t.keys.length, 0);
    const results = await Promise.allSettled(replies);
    this.#flushing = false;
    this.#inFlight = 0;
    let failed = 0;
    let error = '';
    for (const r of results) {
      if (r.status === 'fulfilled') this.stats.written++;
      else {
        failed++;
        error = (r.reason as Error)?.message ?? String(r.reason);
      }
    }
    if (failed > 0) {
      // Back into the dirty set, room permitting: written again once Redis answers.
      this.stats.writeFailures += failed;
      this.#failStreak++;
      this.#retryAt = Date.now() + Math.min(1000, 25 * 2 ** Math.min(this.#failStreak, 6));
      for (const { table, keys } of taken) this.#mark(table, keys, keys.length);
      this.#throttled.say('write', `redis: online store: ${failed} rows could not be written (${error}); ${this.#dirtyCount} entities wait`);
    } else {
      this.#failStreak = 0;
      if (this.#dirtyCount >= this.def.pipeline) this.#flushSoon();
    }
  }

  /** n keys out of a dirty set, into a new array (they leave the set). */
  #take(set: Set<bigint>, n: number): BigUint64Array {
    const keys = new BigUint64Array(n);
    let i = 0;
    for (const k of set) {
      keys[i++] = k;
      set.delete(k);
      if (i === n) break;
    }
    return keys;
  }

  /** One HSET (and PEXPIRE with a ttl) per entity found; rows and values read in two native calls. */
  #writeTable(c: RedisClient, t: number, keys: BigUint64Array, p: string, own: string, nowText: string, now: number, replies: Promise<unknown>[]): void {
    const { store, config } = this.#o;
    const layout = store.layout(t);
    const n = keys.length;
    const rb = layout.rowBytes;
    if (this.#rows.length < n * rb) this.#rows = new Uint8Array(n * rb * 2);
    if (this.#found.length < n) this.#found = new Uint8Array(n * 2);
    if (this.#values.length < n * layout.width) this.#values = new Float64Array(n * layout.width * 2);
    if (this.#ages.length !== n) this.#ages = new Float64Array(n);
    store.exportRows(t, keys, this.#rows, this.#found);
    store.readMany(t, keys, now, this.#values, this.#ages);
    const entity = config.entities[t];
    const name = this.#tableNames[t];
    const ttl = this.def.ttlMs;
    for (let i = 0; i < n; i++) {
      if (!this.#found[i]) continue; // evicted or expired since it was marked
      const key = rowKey(this.def.prefix, name, keys[i]);
      // a copy: ioredis holds the argument until the command is written
      const row = Buffer.from(this.#rows.subarray(i * rb, (i + 1) * rb));
      const args: (string | Buffer)[] = ['r', row, 'l', this.#layoutText, 't', nowText, 'p', p, 'o', own];
      const base = i * layout.width;
      for (let f = 0; f < entity.features.length; f++) {
        const off = base + layout.offsets[f];
        let text = '';
        if (entity.features[f].agg === 'last_n') {
          for (let k = 0; k < layout.widths[f] && !Number.isNaN(this.#values[off + k]); k++) text += (k ? ',' : '') + String(this.#values[off + k]);
        } else if (!Number.isNaN(this.#values[off])) text = String(this.#values[off]);
        args.push(entity.features[f].name, text);
      }
      replies.push(c.hset(key, ...(args as [string, string])));
      if (ttl > 0) c.pexpire(key, ttl).catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- warm start

  /** An empty filter for warm(). */
  newFilter(): WarmFilter {
    return new WarmFilter(this.#tableNames.length);
  }

  /**
   * Loads every row under `<prefix>:` into the store (SCAN, then HMGET r l p o in
   * pipelines, imported with one native call per table and page), and notes the position
   * of each imported row in `filter` (which keeps what was imported if this throws midway:
   * the shared log's group must start from it all the same).
   */
  async warm(filter: WarmFilter): Promise<{ imported: number; ms: number }> {
    const t0 = performance.now();
    let withoutPosition = 0;
    let imported = 0;
    const c = this.#client;
    const nodes: Redis[] = c instanceof Cluster ? c.nodes('master') : [c];
    const match = `${this.def.prefix}:*`;
    // One page's HMGETs are in flight while the next page is scanned: two pages at most.
    let page: Promise<void> = Promise.resolve();
    try {
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
          cursor = next;
          if (keys.length === 0) continue;
          const rows = Promise.all(keys.map((k) => c.hmgetBuffer(k, 'r', 'l', 'p', 'o')));
          await page;
          page = rows.then((got) => {
            const r = this.#importPage(keys, got, filter);
            imported += r.imported;
            withoutPosition += r.withoutPosition;
          });
        } while (cursor !== '0');
      }
      await page;
    } finally {
      page.catch(() => undefined); // a scan that failed first leaves the last page's error unread
    }
    const ms = performance.now() - t0;
    this.stats.warmImported += imported;
    this.stats.warmMs = ms;
    if (withoutPosition > 0 && filter.size > 0)
      this.#o.log(`redis: online store: ${withoutPosition} warmed rows carry no shared-log position (written without ingest.redis_streams): the stream is applied over them from the oldest position of the others`);
    return { imported, ms };
  }

  #importPage(keys: string[], rows: (Buffer | null)[][], filter: WarmFilter): { imported: number; withoutPosition: number } {
    const byTable = new Map<number, { keys: bigint[]; rows: Buffer[]; p: string[]; o: string[] }>();
    for (let i = 0; i < keys.length; i++) {
      const parsed = parseRowKey(this.def.prefix, keys[i]);
      const t = parsed && this.#tableIndex.get(parsed.table);
      if (parsed === undefined || t === undefined) continue; // another table, or not a row
      const [r, l, p, o] = rows[i];
      if (!r || !l || l.toString('latin1') !== this.#layoutText || r.length !== this.#o.store.layout(t).rowBytes) {
        this.stats.refusedLayout++;
        this.#throttled.say('layout', `redis: online store: ${keys[i]} is a row of another feature layout (crc ${l?.toString('latin1') ?? 'none'}, here ${this.#layoutText}): not imported`);
        continue;
      }
      let g = byTable.get(t);
      if (!g) byTable.set(t, (g = { keys: [], rows: [], p: [], o: [] }));
      g.keys.push(parsed.key);
      g.rows.push(r);
      g.p.push(p?.toString('latin1') ?? '');
      g.o.push(o?.toString('latin1') ?? '');
    }
    let imported = 0;
    let withoutPosition = 0;
    for (const [t, g] of byTable) {
      const keys = BigUint64Array.from(g.keys);
      const result = new Uint8Array(keys.length);
      imported += this.#o.store.importRows(t, keys, Buffer.concat(g.rows), result);
      for (let i = 0; i < keys.length; i++) {
        if (result[i] !== 1) continue;
        if (g.p[i] === '') withoutPosition++;
        else filter.add(t, keys[i], g.p[i], g.o[i]);
      }
      this.#o.onImported?.(t, keys);
    }
    return { imported, withoutPosition };
  }

  // ---------------------------------------------------------------- read-through

  /**
   * An entity this store does not hold: its row from Redis, imported when the entity is
   * still absent. Resolves true when the store holds the entity afterwards, false when
   * Redis does not know it, is down, or takes longer than read_timeout. Concurrent reads
   * of one entity share one fetch; the commands of one turn go out as one pipeline.
   */
  readThrough(table: number, id: string): Promise<boolean> {
    const key = hashIds([id])[0];
    const name = `${table}:${key}`;
    let read = this.#reads.get(name);
    if (read === undefined) {
      read = this.#fetch(table, key).finally(() => this.#reads.delete(name));
      this.#reads.set(name, read);
    }
    return read;
  }

  async #fetch(table: number, key: bigint): Promise<boolean> {
    if (!this.connected) {
      this.stats.readMisses++;
      return false;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.def.readTimeoutMs)));
    const get = this.#client.hmgetBuffer(rowKey(this.def.prefix, this.#tableNames[table], key), 'r', 'l');
    let reply: (Buffer | null)[] | 'timeout';
    try {
      reply = await Promise.race([get, timeout]);
    } catch (err) {
      this.stats.readMisses++;
      this.#throttled.say('read', `redis: online store read-through: ${(err as Error).message}`);
      return false;
    } finally {
      clearTimeout(timer);
    }
    if (reply === 'timeout') {
      get.catch(() => undefined);
      this.stats.readTimeouts++;
      return false;
    }
    const [r, l] = reply;
    if (!r) {
      this.stats.readMisses++;
      return false;
    }
    if (!l || l.toString('latin1') !== this.#layoutText || r.length !== this.#o.store.layout(table).rowBytes) {
      this.stats.refusedLayout++;
      this.stats.readMisses++;
      return false;
    }
    const keys = BigUint64Array.of(key);
    this.#o.store.importRows(table, keys, r, new Uint8Array(1));
    this.#o.onImported?.(table, keys);
    this.stats.readHits++;
    return true;
  }

  // ---------------------------------------------------------------- stopping

  /** Stops: one last flush of what is dirty (within drainMs), then the connection closes. */
  async close(drainMs = 0): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    const deadline = Date.now() + drainMs;
    while ((this.#dirtyCount > 0 || this.#flushing) && this.connected && Date.now() < deadline) {
      if (!this.#flushing) void this.flush();
      await new Promise((r) => setTimeout(r, 5));
    }
    this.#closed = true;
    if (this.#dirtyCount > 0) this.#o.log(`redis: online store: ${this.#dirtyCount} dirty entities were not written at shutdown`);
    if (this.connected) await Promise.race([this.#client.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 200))]);
    this.#client.disconnect();
  }

}
