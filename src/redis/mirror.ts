// Stream mirroring between regions (docs/multi-region.md): copies the entries of one
// region's shared-log stream (region A, `from`) to another region's (region B, `to`), so
// that B's replicas apply A's events too. Run one mirror per direction.
//
// The mirror is a consumer group on A's stream, `mirror:<to-region>`, so A's replicas and
// other mirrors keep their own positions. Its loop: XREADGROUP a batch (BLOCK) -> one
// pipeline of XADDs to B (each entry's fields as they are, `i` the batch id and `d` the
// batch, plus `m` = the source region) -> once B replied, XACK on A; the next batches are
// read while that one is on the wire (at most IN_FLIGHT batches). At least once: an entry
// whose XADD failed, or whose XACK was lost, stays pending on A and is sent again; B's
// replicas skip the second copy by its batch id (dedup.ts). Entries that already carry `m`
// came from another region and are never copied: no loops with mirrors both ways.
//
// The consumer is `mirror:<to-region>:<boot>`, new with every process. The entries an
// earlier process was delivered and never acknowledged (it died between its read and its
// XACK) are claimed with XAUTOCLAIM once idle claimMinIdleMs, at start and then every
// claimMinIdleMs, and copied; consumers left with nothing pending are deleted.
//
// Redis A or B down: the loop waits for both connections, and retries a failed read, copy
// or acknowledgement with a backoff (50 ms doubling to 2 s); the first failure is logged,
// then at most one line per 10 s. Lag: every lagIntervalMs, the entries of A's stream not
// yet on B (the group's undelivered entries plus its pending ones) and the age of the
// oldest of them.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';

import { delayHistogram, fields, observeDelay, ThrottledLog } from './reporting.js';


const MAX_BACKOFF_MS = 2000;
/** read batches whose XADDs may be on the wire at once (see #run) */
const IN_FLIGHT = 4;

export interface MirrorOptions {
  /** region A's Redis (redis:// or rediss://): the stream read */
  from: string;
  /** region B's Redis: the stream written */
  to: string;
  /** the stream's key, the same in both regions */
  key: string;
  /** A's name, written in the `m` field of every copied entry */
  region: string;
  /** B's name: the consumer group on A is `mirror:<toRegion>` */
  toRegion: string;
  /** entries per XREADGROUP, and XADDs per pipeline */
  batch: number;
  /** XADD MAXLEN ~ on B */
  maxLen: number;
  blockMs: number;
  claimMinIdleMs: number;
  lagIntervalMs: number;
  commandTimeoutMs: number;
  log: (line: string) => void;
}

export const MIRROR_DEFAULTS = { key: '{hotpath}:events', batch: 512, maxLen: 100_000, blockMs: 1000, claimMinIdleMs: 5000, lagIntervalMs: 1000, commandTimeoutMs: 5000 };

export interface MirrorStats {
  /** entries copied to B (XADD replied) */
  mirrored: number;
  /** entries not copied because they came from another region (an `m` field) */
  skipped: number;
  /** entries pending here but trimmed from A's stream before they were copied: lost to B */
  trimmed: number;
  /** entries claimed from an earlier process of this mirror (XAUTOCLAIM) */
  claimed: number;
  acked: number;
  /** reads, XACKs, claims on A that failed */
  failuresFrom: number;
  /** XADD pipelines to B that failed (in whole or part) */
  failuresTo: number;
  /** copy delay histogram: from the entry's id on A (A's clock) to B's XADD reply; per DELAY_BUCKETS_MS bucket, +Inf last */
  delayCounts: Float64Array;
  delaySumMs: number;
  delayCount: number;
}

export interface MirrorLag {
  /** entries of A's stream not yet on B: undelivered to the group + pending (NaN until read) */
  entries: number;
  /** age of the oldest of them, ms (0 when none) */
  ms: number;
  /** when it was read (Date.now()) */
  at: number;
}

type Entry = [id: Buffer, fields: Buffer[] | null];
type StreamReply = [key: Buffer, entries: Entry[]][];

class CopyFailed extends Error {}

export class StreamMirror {
  readonly group: string;
  readonly consumer: string;
  readonly stats: MirrorStats = {
    mirrored: 0, skipped: 0, trimmed: 0, claimed: 0, acked: 0, failuresFrom: 0, failuresTo: 0,
    ...delayHistogram(),
  };
  readonly lag: MirrorLag = { entries: Number.NaN, ms: Number.NaN, at: 0 };

  readonly #o: MirrorOptions;
  /** a failure's line, then at most one per LOG_EVERY_MS */
  readonly #throttled: ThrottledLog;
  /** A: the loop's reads and claims, one command at a time */
  readonly #from: Redis;
  /** A: XACKs and the lag poll (the loop's connection is held by a blocked read) */
  readonly #cmd: Redis;
  /** B: the XADD pipelines */
  readonly #to: Redis;
  readonly #mark: Buffer;
  #running = false;
  #loop: Promise<void> | undefined;
  #groupReady = false;
  #ownPending = true;
  #nextClaimAt = 0;
  /** copies sent and not yet acknowledged, oldest first; the first failure among them */
  #inFlight: Promise<void>[] = [];
  #copyError: Error | undefined;
  #lagTimer: NodeJS.Timeout | undefined;

  constructor(o: MirrorOptions) {
    this.#o = o;
    this.#throttled = new ThrottledLog(o.log);
    this.group = `mirror:${o.toRegion}`;
    this.consumer = `${this.group}:${randomBytes(8).toString('hex')}`;
    this.#mark = Buffer.from(o.region);
    this.#from = this.#connect(o.from, 'from', 'read');
    this.#cmd = this.#connect(o.from, 'from', 'cmd');
    this.#to = this.#connect(o.to, 'to', 'write');
  }

  /** Like src/redis/connect.ts: no offline queue, no resend; a command gets its reply or fails. */
  #connect(url: string, side: 'from' | 'to', use: string): Redis {
    const c = new Redis(url, {
      connectionName: `hotpath:${this.group}:${use}`,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.#o.commandTimeoutMs,
      connectTimeout: Math.min(this.#o.commandTimeoutMs, 2000),
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
      lazyConnect: true,
    });
    const name = side === 'from' ? `region ${this.#o.region}'s Redis (--from)` : `region ${this.#o.toRegion}'s Redis (--to)`;
    c.on('error', (err: Error) => this.#throttled.say(`conn-${side}-${use}`, `mirror: ${name}: ${err.message}`));
    c.on('ready', () => {
      if (use !== 'cmd' && this.#throttled.said(`conn-${side}-${use}`)) this.#o.log(`mirror: connected to ${name}`);
    });
    return c;
  }

  get connectedFrom(): boolean {
    return this.#from.status === 'ready';
  }

  get connectedTo(): boolean {
    return this.#to.status === 'ready';
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const c of [this.#from, this.#cmd, this.#to]) c.connect().catch(() => undefined); // errors: the 'error' handler; it reconnects
    this.#loop = this.#run();
    this.#lagTimer = setInterval(() => void this.#pollLag(), this.#o.lagIntervalMs);
    this.#lagTimer.unref();
  }

  /** Stops after the batch in hand (at most blockMs plus a round trip); what is unacknowledged stays pending on A. */
  async close(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    if (this.#lagTimer) clearInterval(this.#lagTimer);
    await Promise.race([this.#loop, sleep(this.#o.blockMs + 500)]);
    for (const c of [this.#from, this.#cmd, this.#to]) c.disconnect();
    await this.#loop?.catch(() => undefined);
  }

  /**
   * The loop. New entries are read while earlier copies are on the wire: up to IN_FLIGHT
   * read batches, each one XADD pipeline on the one connection to B, so B appends them in
   * the order they were read, and an entry does not wait for the reply to the batch before
   * it (a cross-region round trip). Each batch is XACKed on its own once B replied. A
   * failed copy stops the reading: the loop waits for the copies still out, then sends
   * its pending entries again, oldest first, one batch at a time.
   */
  async #run(): Promise<void> {
    const { key, batch, blockMs, claimMinIdleMs } = this.#o;
    let backoff = 50;
    while (this.#running) {
      try {
        if (this.#copyError) throw this.#copyError;
        if (!this.connectedFrom || !this.connectedTo) {
          // Nothing is read while B is down: entries wait on A, and the lag grows.
          await sleep(Math.min(backoff, 200));
          continue;
        }
        if (!this.#groupReady) await this.#ensureGroup();
        if (this.#ownPending) {
          // our own pending entries (a copy or an XACK failed): sent again, oldest first
          const r = (await this.#from.callBuffer('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', batch, 'STREAMS', key, '0')) as StreamReply | null;
          const entries = r?.[0]?.[1] ?? [];
          if (entries.length === 0) this.#ownPending = false;
          else await this.#copy(entries);
        } else if (Date.now() >= this.#nextClaimAt) {
          await this.#drain();
          await this.#claim();
          this.#nextClaimAt = Date.now() + claimMinIdleMs;
        } else {
          const block = Math.max(1, Math.min(blockMs, this.#nextClaimAt - Date.now()));
          const r = (await this.#from.callBuffer('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', batch, 'BLOCK', block, 'STREAMS', key, '>')) as StreamReply | null;
          if (r) for (const [, entries] of r) this.#send(entries);
          while (this.#inFlight.length >= IN_FLIGHT) await this.#inFlight.shift();
        }
        backoff = 50;
      } catch (err) {
        await this.#drain();
        this.#copyError = undefined;
        if (!this.#running) break;
        const e = err as Error;
        const toB = e instanceof CopyFailed;
        if (toB) this.stats.failuresTo++;
        else this.stats.failuresFrom++;
        if (/NOGROUP/.test(e.message)) this.#groupReady = false; // A's stream or the group is gone (a Redis without persistence restarted)
        this.#ownPending = true;
        this.#throttled.say(toB ? 'copy' : 'read', `mirror ${this.#o.region} -> ${this.#o.toRegion}: ${toB ? 'writing to' : 'reading from'} ${toB ? this.#o.toRegion : this.#o.region} failed: ${e.message}; retrying with backoff`);
        await sleep(backoff);
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    }
    await this.#drain();
  }

  /** Starts a copy without waiting for it; its failure is kept for the loop. */
  #send(entries: Entry[]): void {
    this.#inFlight.push(this.#copy(entries).catch((err: Error) => void (this.#copyError ??= err)));
  }

  /** Waits for every copy still out. */
  async #drain(): Promise<void> {
    while (this.#inFlight.length > 0) await this.#inFlight.shift();
  }

  async #ensureGroup(): Promise<void> {
    try {
      // From the start of the stream: a new mirror brings B what A retains.
      await this.#from.call('XGROUP', 'CREATE', this.#o.key, this.group, '0', 'MKSTREAM');
      this.#o.log(`mirror: consumer group '${this.group}' created on ${this.#o.key} in region ${this.#o.region} (from the beginning)`);
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
    this.#groupReady = true;
  }

  /** Entries of dead consumers of this group, idle claimMinIdleMs: copied; then empty idle consumers deleted. */
  async #claim(): Promise<void> {
    const { key, batch, claimMinIdleMs } = this.#o;
    let cursor = '0-0';
    for (let round = 0; round < 1000; round++) {
      const r = (await this.#from.callBuffer('XAUTOCLAIM', key, this.group, this.consumer, claimMinIdleMs, cursor, 'COUNT', batch)) as [Buffer, Entry[], Buffer[]?];
      const entries = r[1].filter((e) => e && e[1]);
      const deleted = r[2] ?? []; // trimmed from the stream while pending (Redis 7 removes them from the pending list)
      this.stats.trimmed += deleted.length;
      if (deleted.length > 0) this.#throttled.say('trimmed', `mirror: ${deleted.length} pending entries were trimmed from ${key} in region ${this.#o.region} before they were copied: lost to ${this.#o.toRegion}`);
      if (entries.length > 0) {
        this.stats.claimed += entries.length;
        this.#o.log(`mirror: claimed ${entries.length} entries an earlier mirror process read and never acknowledged`);
        await this.#copy(entries);
      }
      cursor = r[0].toString('latin1');
      if (cursor === '0-0') break;
    }
    const consumers = (await this.#from.call('XINFO', 'CONSUMERS', key, this.group)) as unknown[][];
    for (const c of consumers) {
      const f = fields(c);
      if (f.name !== this.consumer && Number(f.pending) === 0 && Number(f.idle) >= claimMinIdleMs) await this.#from.call('XGROUP', 'DELCONSUMER', key, this.group, String(f.name));
    }
  }

  /**
   * One pipeline of XADDs to B for the entries without `m`, then XACK on A for those B took
   * and those not to be copied. A failed XADD leaves its entry pending (sent again); the
   * batch then throws CopyFailed after acknowledging the rest.
   */
  async #copy(entries: Entry[]): Promise<void> {
    const { key, maxLen } = this.#o;
    const ack: string[] = [];
    const send: Entry[] = [];
    for (const e of entries) {
      const kv = e[1];
      if (kv === null) {
        // pending here, trimmed from A's stream (MAXLEN) before it was copied
        this.stats.trimmed++;
        ack.push(e[0].toString('latin1'));
      } else if (hasMark(kv)) {
        this.stats.skipped++;
        ack.push(e[0].toString('latin1'));
      } else send.push(e);
    }
    let failed: Error | undefined;
    if (send.length > 0) {
      const p = this.#to.pipeline();
      for (const [, kv] of send) p.xadd(key, 'MAXLEN', '~', maxLen, '*', ...kv!, 'm', this.#mark);
      let res: [Error | null, unknown][];
      try {
        res = (await p.exec()) ?? [];
      } catch (err) {
        res = send.map(() => [err as Error, null]);
      }
      const now = Date.now();
      for (let i = 0; i < send.length; i++) {
        const err = res[i]?.[0] ?? (res[i] ? null : new Error('no reply'));
        if (err) {
          failed = err;
          continue;
        }
        const id = send[i][0].toString('latin1');
        ack.push(id);
        this.stats.mirrored++;
        observeDelay(this.stats, now - Number.parseInt(id, 10));
      }
    }
    if (ack.length > 0) this.stats.acked += Number(await this.#cmd.xack(key, this.group, ...ack));
    if (failed) throw new CopyFailed(failed.message);
  }


  /** XINFO GROUPS: undelivered (lag) + pending; the oldest is the first pending, else the first undelivered. */
  async #pollLag(): Promise<void> {
    if (this.#cmd.status !== 'ready') return;
    const { key } = this.#o;
    try {
      const groups = (await this.#cmd.call('XINFO', 'GROUPS', key)) as unknown[][];
      const g = groups.map(fields).find((f) => f.name === this.group);
      if (!g) return;
      const pending = Number(g.pending);
      const last = String(g['last-delivered-id']);
      let undelivered = g.lag === null || g.lag === undefined ? Number.NaN : Number(g.lag);
      if (Number.isNaN(undelivered)) {
        // Redis cannot say (after a restart from its AOF, or entries deleted): count them, at
        // most 10,000 (a bounded read every lag interval)
        undelivered = ((await this.#cmd.call('XRANGE', key, `(${last}`, '+', 'COUNT', 10_000)) as unknown[]).length;
      }
      // XPENDING's oldest id is null when the pending entries were acknowledged meanwhile
      let oldest: unknown = pending > 0 ? ((await this.#cmd.call('XPENDING', key, this.group)) as unknown[])[1] : null;
      if (!oldest && undelivered > 0) oldest = ((await this.#cmd.call('XRANGE', key, `(${last}`, '+', 'COUNT', 1)) as unknown[][])[0]?.[0];
      const now = Date.now();
      this.lag.entries = undelivered + pending;
      this.lag.ms = oldest ? Math.max(0, now - Number.parseInt(String(oldest), 10)) : 0;
      this.lag.at = now;
    } catch (err) {
      this.#throttled.say('lag', `mirror: reading the lag: ${(err as Error).message}`);
    }
  }

}

/** Whether an entry's fields (name, value, ...) hold `m`: it came from another region. */
function hasMark(kv: Buffer[]): boolean {
  for (let i = 0; i + 1 < kv.length; i += 2) if (kv[i].length === 1 && kv[i][0] === 0x6d) return true; // 'm'
  return false;
}


