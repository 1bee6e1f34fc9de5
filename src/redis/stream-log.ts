// The shared ingest log of many replicas on a Redis stream (ingest.redis_streams,
// docs/redis.md). Two halves:
//
// Appending. Every batch this replica applies from a local source (HTTP, WebSocket, demo)
// is handed to append() by the Ingestor after the store and the write-ahead log took it.
// It is encoded (codec.ts: columns, ids hashed) and queued in the backlog; at the end of
// the turn everything queued goes to Redis as one pipeline of XADDs (one entry per batch,
// MAXLEN ~ max_len), and only one pipeline is in flight at a time: under load a pipeline
// carries what arrived while the previous one was out. An entry is `i` (the batch id:
// <boot>-<n>, boot a random id of this process) and `d` (the batch). The ingest answer
// waits for its batches' XADD replies, at most ack_timeout: `shared: true` when every one
// was appended. While Redis is down or slow the batches wait in the backlog (bounded by
// `backlog` bytes) and are appended when it is back; a full backlog either drops new
// batches from the shared log (on_backlog_full: local, counted and logged: they stay in
// this replica's store only) or refuses new events (refuse: HP_ERR_SHARED_LOG_FULL, 503).
//
// Applying. Every replica has its own consumer group on the stream (named by its replica
// name), so every replica is delivered every entry; its consumer within the group is
// <replica>:<boot>. A loop reads with XREADGROUP (BLOCK), applies each entry through
// Ingestor.apply (one native call per batch, logged to the WAL like any batch), and XACKs
// the entries once their log records are durable (at once without a data directory):
// apply -> WAL record -> durable -> XACK. Entries are skipped (and acknowledged) when this
// process applied them itself (their id carries its boot), or their id is in the dedup
// window (a duplicate within dedup_horizon); with a data directory, the ids of the
// batches in the WAL survive a restart (applied-file.ts), so a redelivered entry that the
// recovered state already holds is not applied twice. After a restart the entries the
// previous consumer of this replica was delivered but never acknowledged are claimed with
// XAUTOCLAIM once idle claim_min_idle, and applied; consumers left with nothing pending
// are deleted. Without a data directory (nothing survives a restart) the group is set back
// to the start of the stream at every start (from: beginning), so the store is rebuilt
// from what the stream retains.
//
// The online store (online-store.ts) reads two things here: `position`, the last entry id
// this replica has handled from its group, and ownInFlight(), the ids of its own batches
// applied here but not yet read back from the stream: its store holds every entry up to
// the position plus exactly those. A replica warmed from the online store starts its group
// at the lowest position of the rows it imported (start's `warm`) and, until it passes the
// highest, drops the rows of entries the imported rows already hold (RowFilter).
//
// Lag: every lag_interval, XINFO GROUPS gives every group's entries not yet delivered
// (lag) and XRANGE the age of the first of them: per replica in /metrics.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Config, RedisStreamsDef, StreamDef } from '../config/load.js';
import { HotpathError, toHotpathError } from '../errors.js';
import { keepRows } from '../ingest/columns.js';
import type { Ingestor, SharedAck, SharedBatch, SharedLog } from '../ingest/ingestor.js';
import { AppliedFile } from './applied-file.js';
import { batchBytes, decodeBatch, encodeBatch } from './codec.js';
import { connectRedis, isReady, type RedisClient } from './connect.js';
import { DedupWindow } from './dedup.js';
import { delayHistogram, fields, observeDelay, ThrottledLog } from './reporting.js';

const EMPTY = Buffer.alloc(0);

export interface StreamLogStats {
  appendedBatches: number;
  appendedEvents: number;
  /** pipelines of XADDs sent (appendedBatches / pipelines: batches per round trip) */
  pipelines: number;
  /** XADDs that failed (Redis down, slow past command_timeout, or an error reply): the batches stay in the backlog */
  appendFailures: number;
  /** batches kept out of the shared log because the backlog was full (on_backlog_full: local) */
  droppedBatches: number;
  droppedEvents: number;
  /** ingest calls refused because the backlog was full (on_backlog_full: refuse) */
  refused: number;
  /** batches left in the backlog at shutdown (never appended) */
  abandonedBatches: number;
  appliedBatches: number;
  appliedEvents: number;
  /** entries skipped as duplicates (their id was in the dedup window) */
  duplicates: number;
  /** entries skipped because this process appended them (applied when they were posted) */
  own: number;
  /** entries that could not be applied (not a batch, another feature layout, refused by the store) */
  failed: number;
  /** entries claimed from an earlier consumer of this replica (XAUTOCLAIM) */
  claimed: number;
  /** entries delivered but trimmed from the stream (max_len) before they were applied: lost to this replica */
  trimmed: number;
  acked: number;
  readFailures: number;
  /** rows of entries dropped after a warm: the imported rows already held them */
  warmFiltered: number;
  /** after a warm: the stream had trimmed entries past the group's start (events lost here) */
  warmTrimmed: number;
  /** apply delay histogram: counts per DELAY_BUCKETS_MS bucket (+Inf last), sum in ms, count */
  delayCounts: Float64Array;
  delaySumMs: number;
  delayCount: number;
}

export interface GroupLag {
  /** entries in the stream not yet delivered to the group (XINFO GROUPS lag) */
  entries: number;
  /** age of the oldest of them, ms (0 when none) */
  ms: number;
  /** delivered, not yet acknowledged */
  pending: number;
}

export interface StreamLogOptions {
  config: Config;
  ingest: Ingestor;
  /** the state layout's CRC-32C (src/durability/layout.ts): entries carry it */
  layout: number;
  log: (line: string) => void;
  /** the data directory's choice: is there one (then the group resumes where it was) */
  durable: boolean;
}

/** Where the shared log meets the write-ahead log (a data directory). */
export interface WalHooks {
  /** the WAL's folder: the applied-ids file lives there */
  dir: string;
  /** the last log record replayed at start */
  recoveredSeq: number;
  /** the log (src/durability/wal.ts Wal): its hooks are set here */
  wal: { addHooks(h: { beforeWrite?(): void; onLost?(fromSeq: number): void }): void };
}

/**
 * Where a group starts after a warm from the online store, and which rows of the entries
 * up to `until` to drop because the imported rows already hold them (online-store.ts).
 */
export interface WarmStart {
  /** the group's first position: entries after it are read (XGROUP CREATE / SETID) */
  readonly startAt: string;
  /** true once no entry from this one on can be held by the imported rows: the filter is dropped */
  done(entryId: string): boolean;
  /**
   * The rows of one entry's batch to apply: undefined keeps all; otherwise keep[i] is 0 for
   * a row to drop. keys are the batch's hashed key columns (views valid during the call).
   */
  keep(entryId: string, batchId: string, stream: StreamDef, keys: BigUint64Array[], n: number): Uint8Array | undefined;
}

/** Compares two stream entry ids ("ms-seq"): negative, zero or positive. */
export function compareIds(a: string, b: string): number {
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  const ma = Number(da < 0 ? a : a.slice(0, da));
  const mb = Number(db < 0 ? b : b.slice(0, db));
  if (ma !== mb) return ma - mb;
  return Number(da < 0 ? 0 : a.slice(da + 1)) - Number(db < 0 ? 0 : b.slice(db + 1));
}

interface Item {
  id: string;
  data: Buffer;
  events: number;
  ack: Ack;
  done: boolean;
}

/** One ingest call's verdict: every batch appended (true), or one not (false), or timed out. */
class Ack implements SharedAck {
  left = 0;
  ok = true;
  settled = false;
  cb: ((shared: boolean) => void) | undefined;
  deadline = 0;
  readonly #log: RedisStreamLog;

  constructor(log: RedisStreamLog) {
    this.#log = log;
  }

  wait(cb: (shared: boolean) => void): void {
    if (this.settled) cb(this.ok);
    else {
      this.cb = cb;
      this.#log.waitAck(this);
    }
  }

  settle(ok: boolean): void {
    if (this.settled) return;
    if (ok && --this.left > 0) return;
    this.settled = true;
    this.ok = ok;
    const cb = this.cb;
    this.cb = undefined;
    cb?.(ok);
  }
}

export class RedisStreamLog implements SharedLog {
  readonly def: RedisStreamsDef;
  readonly group: string;
  readonly consumer: string;
  readonly boot: string;
  readonly dedup: DedupWindow;
  readonly stats: StreamLogStats = {
    appendedBatches: 0, appendedEvents: 0, pipelines: 0, appendFailures: 0, droppedBatches: 0, droppedEvents: 0, refused: 0, abandonedBatches: 0,
    appliedBatches: 0, appliedEvents: 0, duplicates: 0, own: 0, failed: 0, claimed: 0, trimmed: 0, acked: 0, readFailures: 0, warmFiltered: 0, warmTrimmed: 0,
    ...delayHistogram(),
  };
  /** every group's lag, by group name (refreshed every lag_interval) */
  readonly lag = new Map<string, GroupLag>();
  /** entries in the stream (XLEN), refreshed with the lag */
  length = Number.NaN;
  /** the last entry id handled from this replica's group (undefined until the group is ready) */
  position: string | undefined;

  readonly #o: StreamLogOptions;
  /** a failure's line, then at most one per LOG_EVERY_MS */
  readonly #throttled: ThrottledLog;
  readonly #cmd: RedisClient;
  readonly #read: RedisClient;
  readonly #bootPrefix: string;
  #counter = 0;
  /** counters of this process's batches appended (or waiting to be) and not yet read back */
  readonly #ownOut = new Set<number>();
  #warm: WarmStart | undefined;
  #applied: AppliedFile | undefined;
  // the backlog: items from #head on are queued or in flight; done ones are skipped
  #queue: Item[] = [];
  #head = 0;
  #backlogBytes = 0;
  #backlogBatches = 0;
  #inFlight = false;
  #pumpQueued = false;
  #retryAt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #failStreak = 0;
  // acks waiting for their XADDs, in deadline order
  #waiting: Ack[] = [];
  #waitHead = 0;
  #ackTimer: NodeJS.Timeout | undefined;
  // the consumer loop
  #reading = false;
  #loop: Promise<void> | undefined;
  #groupReady = false;
  #rewind: boolean;
  #readPending = true;
  #nextClaimAt = 0;
  #lagTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #wasConnected = false;

  constructor(o: StreamLogOptions) {
    const def = o.config.ingest.redisStreams;
    if (!def) throw new HotpathError('HP_ERR_CONFIG_INVALID', '/ingest/redis_streams: not configured');
    this.#o = o;
    this.#throttled = new ThrottledLog(o.log);
    this.def = def;
    this.boot = randomBytes(8).toString('hex');
    this.#bootPrefix = `${this.boot}-`;
    this.group = def.replica;
    this.consumer = `${def.replica}:${this.boot}`;
    this.dedup = new DedupWindow(def.dedupHorizonMs, def.dedupMax);
    this.#rewind = !o.durable && def.from === 'beginning';
    this.#cmd = connectRedis(def, `hotpath:${def.replica}:log`);
    this.#read = connectRedis(def, `hotpath:${def.replica}:read`);
    this.#cmd.on('ready', () => {
      if (this.#wasConnected || this.#backlogBatches > 0) o.log(`redis: connected to the shared log${this.#backlogBatches > 0 ? `; appending the backlog of ${this.#backlogBatches} batches (${this.#backlogBytes} bytes)` : ''}`);
      this.#wasConnected = true;
      this.#failStreak = 0;
      this.#retryAt = 0;
      this.#schedule();
    });
    this.#cmd.on('error', (err: Error) => this.#throttled.say('cmd', `redis: shared log connection: ${err.message}`));
    this.#read.on('error', (err: Error) => this.#throttled.say('read', `redis: shared log reader: ${err.message}`));
  }

  get connected(): boolean {
    return isReady(this.#cmd);
  }

  get backlogBatches(): number {
    return this.#backlogBatches;
  }

  get backlogBytes(): number {
    return this.#backlogBytes;
  }

  /** Waits until the connection is up, at most ms (false: not yet; the log goes on trying). */
  async connectedWithin(ms: number): Promise<boolean> {
    const t0 = Date.now();
    while (!this.connected && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 10));
    return this.connected;
  }

  /**
   * After recovery: with a data directory, the ids of the batches the recovered state holds
   * are loaded and the WAL's hooks set; then the Ingestor appends local batches here and
   * the consumer loop starts.
   */
  start(wal?: WalHooks, warm?: WarmStart): void {
    this.#warm = warm;
    if (warm) this.#rewind = false;
    if (wal) {
      const applied = new AppliedFile(wal.dir, this.#o.log);
      const n = applied.load(this.dedup, wal.recoveredSeq, Date.now());
      if (n > 0) this.#o.log(`redis: ${n} shared-log batch ids are in the recovered state (not applied again if delivered again)`);
      this.#applied = applied;
      wal.wal.addHooks({ beforeWrite: () => applied.flush(this.dedup), onLost: (fromSeq) => applied.void(fromSeq) });
    }
    this.#o.ingest.attachShared(this);
    this.#reading = true;
    this.#loop = this.#consume();
    this.#lagTimer = setInterval(() => void this.#pollLag(), this.def.lagIntervalMs);
    this.#lagTimer.unref();
  }

  // ---------------------------------------------------------------- appending

  check(): void {
    if (this.def.onBacklogFull === 'refuse' && this.#backlogBytes >= this.def.backlogBytes) {
      this.stats.refused++;
      throw new HotpathError('HP_ERR_SHARED_LOG_FULL', `the shared log's backlog holds ${this.#backlogBatches} batches (${this.#backlogBytes} bytes, ingest.redis_streams.backlog) that Redis has not taken: events are refused until it drains`);
    }
  }

  append(b: SharedBatch, ack: SharedAck | undefined): SharedAck {
    const a = (ack as Ack | undefined) ?? new Ack(this);
    const n = b.ts.length;
    const bytes = batchBytes(n, b.keys.length, b.stream.fields.length, b.ids !== undefined);
    const id = `${this.#bootPrefix}${(this.#counter++).toString(36)}`;
    const nowMs = Date.now();
    if (this.#applied) {
      // the id survives a restart with the record it names (applied-file.ts)
      this.dedup.add(id, b.seq, nowMs);
      this.#applied.note(id, b.seq, nowMs);
    }
    if (this.def.onBacklogFull === 'local' && this.#backlogBytes + bytes > this.def.backlogBytes) {
      this.stats.droppedBatches++;
      this.stats.droppedEvents += n;
      this.#throttled.say('full', `redis: the shared log's backlog is full (${this.#backlogBatches} batches, ${this.#backlogBytes} bytes, ingest.redis_streams.backlog): batches are applied on this replica only`);
      a.settle(false);
      return a;
    }
    const data = encodeBatch(b.stream, b.keys, b.ts, b.values, b.nowMs, this.#o.layout, b.ids);
    this.#ownOut.add(this.#counter - 1);
    a.left++;
    this.#queue.push({ id, data, events: n, ack: a, done: false });
    this.#backlogBytes += data.length;
    this.#backlogBatches++;
    // Not connected: the batch waits in the backlog, and the answer says so now.
    if (!this.connected) a.settle(false);
    this.#schedule();
    return a;
  }

  /**
   * This process's batches applied here and not yet read back from the stream, as
   * `<boot>:<from>-<to>,<n>,...` (counters in base 36; ranges inclusive); '' when none.
   */
  ownInFlight(): string {
    if (this.#ownOut.size === 0) return '';
    const parts: string[] = [];
    let from = -1;
    let to = -1;
    // counters are added in increasing order, so the set iterates sorted
    for (const n of this.#ownOut) {
      if (n === to + 1 && from >= 0) to = n;
      else {
        if (from >= 0) parts.push(from === to ? from.toString(36) : `${from.toString(36)}-${to.toString(36)}`);
        from = n;
        to = n;
      }
    }
    parts.push(from === to ? from.toString(36) : `${from.toString(36)}-${to.toString(36)}`);
    return `${this.boot}:${parts.join(',')}`;
  }

  /** An ack whose caller waits: settled false at its deadline if its XADDs have not replied. */
  waitAck(a: Ack): void {
    if (this.def.ackTimeoutMs === 0) {
      a.settle(false);
      return;
    }
    a.deadline = performance.now() + this.def.ackTimeoutMs;
    // most acks settle long before their deadline: drop those at the head as we go
    while (this.#waitHead < this.#waiting.length && this.#waiting[this.#waitHead].settled) this.#waitHead++;
    if (this.#waitHead > 1024 && this.#waitHead * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#waitHead);
      this.#waitHead = 0;
    }
    this.#waiting.push(a);
    if (!this.#ackTimer) this.#armAcks();
  }

  #armAcks(): void {
    while (this.#waitHead < this.#waiting.length && this.#waiting[this.#waitHead].settled) this.#waitHead++;
    if (this.#waitHead === this.#waiting.length) {
      this.#waiting = [];
      this.#waitHead = 0;
      this.#ackTimer = undefined;
      return;
    }
    const wait = Math.max(1, this.#waiting[this.#waitHead].deadline - performance.now());
    this.#ackTimer = setTimeout(() => {
      const now = performance.now();
      while (this.#waitHead < this.#waiting.length) {
        const a = this.#waiting[this.#waitHead];
        if (!a.settled && a.deadline > now) break;
        a.settle(false);
        this.#waitHead++;
      }
      this.#armAcks();
    }, wait);
  }

  #schedule(): void {
    if (this.#pumpQueued || this.#inFlight || this.#closed) return;
    this.#pumpQueued = true;
    setImmediate(this.#pump);
  }

  /** Sends the next pipeline of XADDs: the oldest batches not yet appended, at most `pipeline`. */
  readonly #pump = (): void => {
    this.#pumpQueued = false;
    if (this.#inFlight || this.#head >= this.#queue.length || !this.connected) return;
    const wait = this.#retryAt - Date.now();
    if (wait > 0) {
      if (!this.#retryTimer)
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#schedule();
        }, wait);
      return;
    }
    const items: Item[] = [];
    for (let i = this.#head; i < this.#queue.length && items.length < this.def.pipeline; i++) if (!this.#queue[i].done) items.push(this.#queue[i]);
    if (items.length === 0) return;
    const { key, maxLen } = this.def;
    const p = this.#cmd.pipeline();
    for (const it of items) p.xadd(key, 'MAXLEN', '~', maxLen, '*', 'i', it.id, 'd', it.data);
    this.#inFlight = true;
    this.stats.pipelines++;
    p.exec().then(
      (res) => this.#appended(items, res ?? []),
      (err: Error) => this.#appended(items, items.map(() => [err, null])),
    );
  };

  #appended(items: Item[], res: [Error | null, unknown][]): void {
    this.#inFlight = false;
    let failed = 0;
    let error: Error | undefined;
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      const err = res[i]?.[0] ?? (res[i] ? null : new Error('no reply'));
      if (err) {
        failed++;
        error = err;
        it.ack.settle(false);
        continue;
      }
      it.done = true;
      this.#backlogBytes -= it.data.length;
      this.#backlogBatches--;
      this.stats.appendedBatches++;
      this.stats.appendedEvents += it.events;
      it.data = EMPTY;
      it.ack.settle(true);
    }
    while (this.#head < this.#queue.length && this.#queue[this.#head].done) this.#head++;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (failed > 0) {
      this.stats.appendFailures += failed;
      this.#failStreak++;
      this.#retryAt = Date.now() + Math.min(1000, 25 * 2 ** Math.min(this.#failStreak, 6));
      this.#throttled.say('append', `redis: ${failed} batches could not be appended to the shared log (${error?.message}); ${this.#backlogBatches} batches (${this.#backlogBytes} bytes) wait in the backlog`);
    } else this.#failStreak = 0;
    if (this.#closed && this.#head >= this.#queue.length) return;
    this.#schedule();
  }

  // ---------------------------------------------------------------- applying

  async #consume(): Promise<void> {
    const { key, readCount, blockMs } = this.def;
    let backoff = 50;
    while (this.#reading) {
      try {
        if (!isReady(this.#read)) {
          await sleep(20);
          continue;
        }
        if (!this.#groupReady) await this.#ensureGroup();
        if (this.#readPending) {
          // Our own consumer's pending entries (delivered before a lost connection, or whose
          // XACK failed): the dedup window says which were applied.
          await this.#readOwnPending();
          this.#readPending = false;
        }
        if (Date.now() >= this.#nextClaimAt) {
          await this.#claim();
          this.#nextClaimAt = Date.now() + this.def.claimIntervalMs;
        }
        const block = Math.max(1, Math.min(blockMs, this.#nextClaimAt - Date.now()));
        const r = (await this.#read.callBuffer('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', readCount, 'BLOCK', block, 'STREAMS', key, '>')) as StreamReply | null;
        if (!this.#reading) break; // entries read while stopping stay pending for the next start
        if (r) for (const [, entries] of r) this.#applyEntries(entries, true);
        backoff = 50;
      } catch (err) {
        if (!this.#reading) break;
        const e = err as Error;
        this.stats.readFailures++;
        if (/NOGROUP/.test(e.message)) this.#groupReady = false; // the stream or group is gone (a Redis without persistence restarted)
        this.#readPending = true;
        this.#throttled.say('read-loop', `redis: reading the shared log: ${e.message}`);
        await sleep(backoff);
        backoff = Math.min(1000, backoff * 2);
      }
    }
  }

  async #ensureGroup(): Promise<void> {
    const { key, from } = this.def;
    const warm = this.#warm;
    if (warm) {
      // A replica warmed from the online store: its rows hold every entry up to startAt.
      try {
        await this.#read.call('XGROUP', 'CREATE', key, this.group, warm.startAt, 'MKSTREAM');
      } catch (err) {
        if (!/BUSYGROUP/.test((err as Error).message)) throw err;
        await this.#read.call('XGROUP', 'SETID', key, this.group, warm.startAt);
      }
      this.#o.log(`redis: consumer group '${this.group}' starts after ${warm.startAt} (the oldest position of the rows warmed from the online store)`);
      await this.#checkTrimmed(warm.startAt);
      this.position = warm.startAt;
      this.#groupReady = true;
      return;
    }
    try {
      await this.#read.call('XGROUP', 'CREATE', key, this.group, from === 'beginning' ? '0' : '$', 'MKSTREAM');
      this.#o.log(`redis: consumer group '${this.group}' created on ${key} (from the ${from})`);
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
      if (this.#rewind) {
        // No data directory: nothing survived the last stop, so the store is rebuilt from
        // what the stream retains.
        await this.#read.call('XGROUP', 'SETID', key, this.group, '0');
        this.#o.log(`redis: no data directory: consumer group '${this.group}' set back to the start of ${key} to rebuild the store`);
      }
    }
    this.#rewind = false;
    const groups = (await this.#read.call('XINFO', 'GROUPS', key)) as unknown[][];
    const mine = groups.map(fields).find((g) => String(g.name) === this.group);
    this.position = mine ? String(mine['last-delivered-id']) : '0-0';
    this.#groupReady = true;
  }

  /** Entries trimmed from the stream after `after` are events a warmed replica never sees. */
  async #checkTrimmed(after: string): Promise<void> {
    const info = fields((await this.#read.call('XINFO', 'STREAM', this.def.key)) as unknown[]);
    const deleted = info['max-deleted-entry-id'];
    if (typeof deleted === 'string' && compareIds(deleted, after) > 0) {
      this.stats.warmTrimmed++;
      this.#o.log(`redis: the stream has trimmed entries up to ${deleted}, past ${after} where this replica's warmed rows end: the events of those entries are lost to this replica (ingest.redis_streams.max_len)`);
    }
  }

  async #readOwnPending(): Promise<void> {
    let after = '0';
    for (;;) {
      const r = (await this.#read.callBuffer('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', this.def.readCount, 'STREAMS', this.def.key, after)) as StreamReply | null;
      const entries = r?.[0]?.[1] ?? [];
      if (entries.length === 0) return;
      this.#applyEntries(entries, false);
      after = entries[entries.length - 1][0].toString('latin1');
    }
  }

  /**
   * XAUTOCLAIM: entries of this replica's group delivered to another consumer (an earlier
   * process of this replica) and idle for claim_min_idle become ours and are applied; then
   * consumers other than ours with nothing pending are deleted.
   */
  async #claim(): Promise<void> {
    const { key, readCount, claimMinIdleMs } = this.def;
    let cursor = '0-0';
    for (let round = 0; round < 1000; round++) {
      const r = (await this.#read.callBuffer('XAUTOCLAIM', key, this.group, this.consumer, claimMinIdleMs, cursor, 'COUNT', readCount)) as [Buffer, Entry[], Buffer[]?];
      const entries = r[1].filter((e) => e && e[1]); // entries trimmed meanwhile: in r[2] (Redis 7), or without fields
      if (entries.length > 0) {
        this.stats.claimed += entries.length;
        this.#applyEntries(entries, false);
      }
      cursor = r[0].toString('latin1');
      if (cursor === '0-0') break;
    }
    const consumers = (await this.#read.call('XINFO', 'CONSUMERS', key, this.group)) as unknown[][];
    for (const c of consumers) {
      const f = fields(c);
      const name = String(f.name);
      if (name !== this.consumer && Number(f.pending) === 0 && Number(f.idle) >= claimMinIdleMs) await this.#read.call('XGROUP', 'DELCONSUMER', key, this.group, name);
    }
  }

  /**
   * Applies entries in order, each batch with one native call; XACKs them all once the last
   * log record is durable. A WAL that cannot take a batch stops here: the rest stay pending
   * and are read again.
   */
  #applyEntries(entries: Entry[], fresh: boolean): void {
    const ids: string[] = [];
    let lastSeq = 0;
    const now = Date.now();
    const streams = this.#o.config.streams;
    for (const [rawId, kv] of entries) {
      const entryId = rawId.toString('latin1');
      let id: string | undefined;
      let data: Buffer | undefined;
      for (let i = 0; kv && i + 1 < kv.length; i += 2) {
        const k = kv[i];
        if (k.length === 1 && k[0] === 0x69) id = kv[i + 1].toString('latin1'); // 'i'
        else if (k.length === 1 && k[0] === 0x64) data = kv[i + 1]; // 'd'
      }
      if (fresh) observeDelay(this.stats, now - Number.parseInt(entryId, 10));
      if (this.position === undefined || compareIds(entryId, this.position) > 0) this.position = entryId;
      if (kv === null) {
        // pending here, but trimmed from the stream (MAXLEN) before it was applied
        this.stats.trimmed++;
        this.#throttled.say('trimmed', `redis: shared-log entry ${entryId} was trimmed from the stream before this replica applied it (ingest.redis_streams.max_len)`);
      } else if (id !== undefined && id.startsWith(this.#bootPrefix)) {
        this.stats.own++;
        this.#ownOut.delete(Number.parseInt(id.slice(this.#bootPrefix.length), 36));
      }
      else if (id !== undefined && this.dedup.has(id)) this.stats.duplicates++;
      else {
        try {
          if (id === undefined || data === undefined) throw new HotpathError('HP_ERR_EVENT_INVALID', 'shared-log entry: no `i` and `d` fields');
          const b = decodeBatch(data, this.#o.layout);
          const stream = streams[b.stream];
          if (!stream) throw new HotpathError('HP_ERR_EVENT_INVALID', `shared-log entry: stream ${b.stream} is not declared here`);
          let { keys, ts, values, ids } = b;
          if (this.#warm) {
            if (this.#warm.done(entryId)) {
              this.#warm = undefined;
              this.#o.log(`redis: past ${entryId}: the stream is applied in full again (the warmed rows' entries are behind)`);
            } else {
              const keep = this.#warm.keep(entryId, id, stream, keys, ts.length);
              if (keep) {
                const k = keepRows(keep, ts.length, keys, ts, values, stream.fields.length, ids);
                this.stats.warmFiltered += ts.length - k.kept;
                ({ keys, ts, values, ids } = k);
              }
            }
          }
          const r = ts.length > 0 ? this.#o.ingest.apply(stream, keys, ts, values, b.nowMs, ids) : { seq: 0 };
          this.dedup.add(id, r.seq, now);
          this.#applied?.note(id, r.seq, now);
          if (r.seq > lastSeq) lastSeq = r.seq;
          this.stats.appliedBatches++;
          this.stats.appliedEvents += ts.length;
        } catch (err) {
          const e = toHotpathError(err);
          if (e.code === 'HP_ERR_WAL_UNAVAILABLE') {
            // Not applied: left pending, read again once the log takes batches.
            this.#readPending = true;
            this.#throttled.say('wal', `redis: the write-ahead log cannot take shared-log batches (${e.message}); they wait in Redis`);
            break;
          }
          this.stats.failed++;
          this.#throttled.say('apply', `redis: shared-log entry ${entryId} not applied: ${e.message}`);
        }
      }
      ids.push(entryId);
    }
    if (ids.length === 0) return;
    const ack = () => {
      if (!isReady(this.#cmd)) return; // stays pending: read again (and skipped) later
      this.#cmd.xack(this.def.key, this.group, ...ids).then(
        (n) => (this.stats.acked += Number(n)),
        (err: Error) => {
          this.#readPending = true;
          this.#throttled.say('ack', `redis: XACK failed: ${err.message}`);
        },
      );
    };
    if (lastSeq === 0) ack();
    else this.#o.ingest.durable(lastSeq, (err) => (err ? (this.#readPending = true) : ack()));
  }


  // ---------------------------------------------------------------- lag

  async #pollLag(): Promise<void> {
    if (!this.connected || this.#closed) return;
    const { key } = this.def;
    try {
      const groups = (await this.#cmd.call('XINFO', 'GROUPS', key)) as unknown[][];
      this.length = Number(await this.#cmd.xlen(key));
      const seen = new Set<string>();
      for (const g of groups.slice(0, 64)) {
        const f = fields(g);
        const name = String(f.name);
        seen.add(name);
        const entries = f.lag === null || f.lag === undefined ? Number.NaN : Number(f.lag);
        let ms = 0;
        if (!(entries === 0)) {
          // the first entry not yet delivered to the group: its id is its append time
          const next = (await this.#cmd.callBuffer('XRANGE', key, `(${String(f['last-delivered-id'])}`, '+', 'COUNT', 1)) as Entry[];
          ms = next.length > 0 ? Math.max(0, Date.now() - Number.parseInt(next[0][0].toString('latin1'), 10)) : 0;
        }
        this.lag.set(name, { entries, ms, pending: Number(f.pending) });
      }
      for (const name of this.lag.keys()) if (!seen.has(name)) this.lag.delete(name);
    } catch (err) {
      if (/no such key/i.test((err as Error).message)) this.lag.clear();
      else this.#throttled.say('lag', `redis: reading the lag: ${(err as Error).message}`);
    }
  }

  // ---------------------------------------------------------------- stopping

  /** Stops reading: nothing more is applied from the stream (before the last snapshot). */
  async stopReading(): Promise<void> {
    if (!this.#reading) return;
    this.#reading = false;
    if (this.#lagTimer) clearInterval(this.#lagTimer);
    // A blocked XREADGROUP holds the reader: closing it ends the wait.
    this.#read.disconnect();
    await this.#loop?.catch(() => undefined);
  }

  /**
   * Stops: reading, then up to drainMs for the backlog to be appended and the last XACKs
   * to go out; batches still in the backlog are counted as abandoned and logged.
   */
  async close(drainMs = 0): Promise<void> {
    await this.stopReading();
    this.#o.ingest.attachShared(undefined);
    const deadline = Date.now() + drainMs;
    while ((this.#backlogBatches > 0 || this.#inFlight) && Date.now() < deadline && this.connected) {
      this.#schedule();
      await sleep(5);
    }
    this.#closed = true;
    if (this.#backlogBatches > 0) {
      this.stats.abandonedBatches += this.#backlogBatches;
      this.#o.log(`redis: ${this.#backlogBatches} batches (${this.#backlogBytes} bytes) were never appended to the shared log: they are in this replica's store only`);
    }
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#ackTimer) clearTimeout(this.#ackTimer);
    for (let i = this.#waitHead; i < this.#waiting.length; i++) this.#waiting[i].settle(false);
    this.#applied?.close();
    // let XACKs sent by the last durable callbacks reach Redis, then close
    if (this.connected) await Promise.race([this.#cmd.quit().catch(() => undefined), sleep(Math.max(50, Math.min(1000, drainMs)))]);
    this.#cmd.disconnect();
  }

}

type Entry = [id: Buffer, fields: Buffer[] | null];
type StreamReply = [key: Buffer, entries: Entry[]][];


