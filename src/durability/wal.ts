// The write-ahead log: every batch the store applies is appended as one record (the
// columnar batch with hashed ids, native/core/wal_record.h, written by the native ingest
// call itself into this log's buffer), and the batch is acknowledged only once its record
// is on its way to disk:
//   fsync: always    acknowledged after fdatasync: nothing acknowledged is lost, even by a
//                    machine crash or power loss.
//   fsync: interval  acknowledged after write(2); fdatasync every fsync_interval ms. A
//                    crash of the process loses nothing acknowledged (the kernel has the
//                    bytes); a crash of the machine can lose the last interval.
//   fsync: off       acknowledged after write(2); the kernel writes back when it likes
//                    (about 30 s on Linux): a machine crash can lose that much.
//
// Group commit. Records committed during one turn of the event loop are written with one
// write(2) at the end of the turn (setImmediate); in `always` mode one fdatasync (on the
// thread pool) covers everything written before it started, and the next one starts when it
// ends. Acknowledgements wait in seq order (whenDurable).
//
// Segments. The log is a directory of files wal-<first seq>.log, each a 32-byte header
// ("HPWAL001", u64 first seq, u64 created ms, u32 layout fingerprint, u32 CRC-32C of the
// 28 bytes before) and then records. A segment's blocks are reserved (posix_fallocate) when
// it is opened: a full disk is found there, before any batch relies on the space, and new
// batches are refused (HP_ERR_WAL_UNAVAILABLE) while reads go on serving. A zeroed header
// ends the records of a segment.
//
// Ownership: the buffer handed out by slot() belongs to the log; native ingest writes one
// record into it during the call, and nothing else keeps it.
import { closeSync, fdatasync, fdatasyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import type { FsyncMode } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { crc32c, reserveFile, type WalSlot } from '../native/binding.js';

export const SEGMENT_HEADER_BYTES = 32;
const SEGMENT_MAGIC = Buffer.from('HPWAL001', 'latin1');
/** how long a log that could not write waits before it tries a new segment */
const RETRY_MS = 1000;
const ENOSPC = 28;

export function segmentName(firstSeq: number): string {
  return `wal-${String(firstSeq).padStart(20, '0')}.log`;
}

export function segmentHeader(firstSeq: number, layoutCrc: number, createdMs = Date.now()): Buffer {
  const h = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(h, 0);
  h.writeBigUInt64LE(BigInt(firstSeq), 8);
  h.writeBigUInt64LE(BigInt(Math.floor(createdMs)), 16);
  h.writeUInt32LE(layoutCrc >>> 0, 24);
  h.writeUInt32LE(crc32c(h.subarray(0, 28)), 28);
  return h;
}

/** The header's first seq and layout fingerprint, or a reason it is not a segment header. */
export function readSegmentHeader(h: Uint8Array): { firstSeq: number; layoutCrc: number } | string {
  if (h.length < SEGMENT_HEADER_BYTES) return 'shorter than a segment header';
  const b = Buffer.from(h.buffer, h.byteOffset, SEGMENT_HEADER_BYTES);
  if (!b.subarray(0, 8).equals(SEGMENT_MAGIC)) return 'not a hotpath log segment';
  if (b.readUInt32LE(28) !== crc32c(b.subarray(0, 28))) return 'segment header checksum';
  return { firstSeq: Number(b.readBigUInt64LE(8)), layoutCrc: b.readUInt32LE(24) };
}

export interface WalOptions {
  dir: string;
  fsync: FsyncMode;
  fsyncIntervalMs: number;
  segmentBytes: number;
  /** crc32c of the layout description, in every segment header */
  layoutCrc: number;
  log: (line: string) => void;
}

/** Counters for /metrics (read at scrape time). */
export interface WalStats {
  bytes: number;
  records: number;
  writes: number;
  fsyncs: number;
  fsyncSeconds: number;
  refused: number;
  segmentsOpened: number;
}

type Waiter = { seq: number; cb: (err: HotpathError | null) => void };

export interface WalHooks {
  beforeWrite?(): void;
  onLost?(fromSeq: number): void;
}

export class Wal {
  readonly #o: WalOptions;
  #fd = -1;
  #segFirstSeq = 0;
  /** where the next write goes in the current segment, and the bytes reserved for it */
  #segPos = 0;
  #segCap = 0;
  /** fds of finished segments whose last fdatasync is still running: closed after it */
  #retired: number[] = [];
  #buf = Buffer.alloc(1 << 20);
  #used = 0;
  #nextSeq: number;
  #writtenSeq: number;
  #syncedSeq: number;
  #waiters: Waiter[] = [];
  #waitHead = 0;
  #flushQueued = false;
  #syncing = false;
  #timer: NodeJS.Timeout | undefined;
  #failure: HotpathError | undefined;
  #failedAt = 0;
  #closed = false;
  readonly #slot: WalSlot = { buf: this.#buf, at: 0, seq: 0 };
  readonly stats: WalStats = { bytes: 0, records: 0, writes: 0, fsyncs: 0, fsyncSeconds: 0, refused: 0, segmentsOpened: 0 };
  /** log bytes since the last snapshot (the snapshotter resets it) */
  bytesSinceSnapshot = 0;
  readonly #hooks: WalHooks[] = [];

  /** Opens a new segment whose first record will be nextSeq. */
  constructor(opts: WalOptions, nextSeq: number) {
    this.#o = opts;
    this.#nextSeq = nextSeq;
    this.#writtenSeq = nextSeq - 1;
    this.#syncedSeq = nextSeq - 1;
    this.#openSegment(0);
    if (opts.fsync === 'interval') {
      this.#timer = setInterval(() => this.#sync(), opts.fsyncIntervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Adds hooks: beforeWrite runs before each write of records (the shared log writes the
   * ids of the batches it applied, src/redis/applied-file.ts, and the Ingestor the ids of
   * the events of dedup streams, src/ingest/event-ids-file.ts, so that they are on file
   * before the records); onLost is told when records from seq on were lost by a failed
   * write (their seqs are given out again).
   */
  addHooks(h: WalHooks): void {
    this.#hooks.push(h);
  }

  /** The seq of the last committed record (what a snapshot taken now stands for). */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** Records acknowledged as durable up to here (fsynced in `always` mode, written otherwise). */
  get durableSeq(): number {
    return this.#o.fsync === 'always' ? this.#syncedSeq : this.#writtenSeq;
  }

  /** False while the log cannot take records (a full or failing disk). */
  get writable(): boolean {
    return this.#failure === undefined;
  }

  /** Acknowledgements waiting for the disk. */
  get waiting(): number {
    return this.#waiters.length - this.#waitHead;
  }

  /** The first seq of the segment being written (older segments are complete). */
  get segmentFirstSeq(): number {
    return this.#segFirstSeq;
  }

  /**
   * Makes room for `bytes` of records in the current segment (opening the next one if it
   * is short). Throws HP_ERR_WAL_UNAVAILABLE when the log cannot take them.
   */
  ensure(bytes: number): void {
    if (this.#failure) this.#retry();
    if (this.#segPos + this.#used + bytes > this.#segCap) this.#roll(bytes);
  }

  /**
   * Where the record of the next batch goes (bytes long, walRecordBytes): call before the
   * store applies it, pass the slot to the native ingest, then commit(). Throws
   * HP_ERR_WAL_UNAVAILABLE, before anything is applied, when the log cannot take it.
   */
  slot(bytes: number): WalSlot {
    this.ensure(bytes);
    if (this.#used + bytes > this.#buf.length) {
      const grown = Buffer.alloc(Math.max(this.#buf.length * 2, this.#used + bytes));
      this.#buf.copy(grown, 0, 0, this.#used);
      this.#buf = grown;
      this.#slot.buf = grown;
    }
    this.#slot.at = this.#used;
    this.#slot.seq = this.#nextSeq;
    return this.#slot;
  }

  /** The slot's record was written by the ingest: it is part of the log. Returns its seq. */
  commit(bytes: number): number {
    this.#used += bytes;
    this.bytesSinceSnapshot += bytes;
    this.stats.records++;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(this.#flush);
    }
    return this.#nextSeq++;
  }

  /** Calls cb once the record seq is durable (at once if it is), or with the log's error. */
  whenDurable(seq: number, cb: (err: HotpathError | null) => void): void {
    if (seq <= this.durableSeq) cb(null);
    else this.#waiters.push({ seq, cb });
  }

  /** Writes what is pending now (instead of at the end of the turn). */
  flushNow(): void {
    this.#flush();
  }

  /** Writes what is pending and fdatasyncs it (shutdown). */
  async drain(): Promise<void> {
    this.#flush();
    while (this.#syncing) await new Promise((r) => setTimeout(r, 1));
    if (this.#fd >= 0 && this.#syncedSeq < this.#writtenSeq) await new Promise<void>((resolve) => this.#sync(resolve));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.drain();
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    for (const fd of this.#retired.splice(0)) closeSync(fd);
    this.#fail(new HotpathError('HP_ERR_WAL_UNAVAILABLE', 'the log is closed'));
  }

  // ------------------------------------------------------------------ internals

  readonly #flush = (): void => {
    this.#flushQueued = false;
    if (this.#used === 0 || this.#fd < 0) return;
    for (const h of this.#hooks) h.beforeWrite?.();
    try {
      let off = 0;
      while (off < this.#used) off += writeSync(this.#fd, this.#buf, off, this.#used - off, this.#segPos + off);
    } catch (err) {
      // The records in the buffer were applied but are not in the log: they are not
      // acknowledged, and their seqs are given to the next records.
      const lost = this.#nextSeq - 1 - this.#writtenSeq;
      this.#nextSeq = this.#writtenSeq + 1;
      this.#used = 0;
      for (const h of this.#hooks) h.onLost?.(this.#nextSeq);
      this.#failed(err as NodeJS.ErrnoException, `writing ${lost} record(s) to the log`);
      return;
    }
    this.stats.bytes += this.#used;
    this.stats.writes++;
    this.#segPos += this.#used;
    this.#used = 0;
    this.#writtenSeq = this.#nextSeq - 1;
    if (this.#o.fsync === 'always') this.#sync();
    else this.#release();
  };

  /** fdatasync of the current segment; done runs after it (or at once when nothing is dirty). */
  #sync(done?: () => void): void {
    if (this.#syncing || this.#fd < 0 || this.#syncedSeq >= this.#writtenSeq) {
      done?.();
      return;
    }
    this.#syncing = true;
    const upTo = this.#writtenSeq;
    const fd = this.#fd;
    const t0 = process.hrtime.bigint();
    fdatasync(fd, (err) => {
      this.#syncing = false;
      this.stats.fsyncs++;
      this.stats.fsyncSeconds += Number(process.hrtime.bigint() - t0) / 1e9;
      for (const old of this.#retired.splice(0)) closeSync(old);
      if (err) this.#failed(err, 'fdatasync of the log');
      else if (upTo > this.#syncedSeq) this.#syncedSeq = upTo;
      this.#release();
      if (this.#o.fsync === 'always' && this.#writtenSeq > this.#syncedSeq && !this.#failure) this.#sync();
      done?.();
    });
  }

  /** Acknowledges the waiters whose records are durable now. */
  #release(): void {
    const durable = this.durableSeq;
    const w = this.#waiters;
    while (this.#waitHead < w.length && w[this.#waitHead].seq <= durable) w[this.#waitHead++].cb(null);
    if (this.#waitHead === w.length) {
      w.length = 0;
      this.#waitHead = 0;
    } else if (this.#waitHead > 1024) {
      w.splice(0, this.#waitHead);
      this.#waitHead = 0;
    }
  }

  /** Ends the current segment (its records written and, unless fsync is off, synced) and opens the next. */
  #roll(bytes: number): void {
    this.#flush();
    if (this.#failure) throw this.#refusal();
    const old = this.#fd;
    if (old >= 0) {
      if (this.#o.fsync !== 'off' && this.#syncedSeq < this.#writtenSeq) {
        try {
          fdatasyncSync(old);
        } catch (err) {
          this.#failed(err as NodeJS.ErrnoException, 'fdatasync of the log');
          throw this.#refusal();
        }
        this.#syncedSeq = this.#writtenSeq;
        this.#release();
      }
      if (this.#syncing) this.#retired.push(old);
      else closeSync(old);
      this.#fd = -1;
    }
    this.#openSegment(bytes);
    if (this.#failure) throw this.#refusal();
  }

  /** Opens wal-<next seq>.log and reserves its space; on failure the log refuses batches. */
  #openSegment(minRecord: number): void {
    const cap = Math.max(this.#o.segmentBytes, SEGMENT_HEADER_BYTES + minRecord);
    const path = join(this.#o.dir, segmentName(this.#nextSeq));
    let fd = -1;
    try {
      fd = openSync(path, 'w');
      const err = reserveFile(fd, 0, cap);
      if (err !== 0) throw Object.assign(new Error(err === ENOSPC ? 'no space left on device' : `posix_fallocate errno ${err}`), { code: err === ENOSPC ? 'ENOSPC' : 'EIO' });
      const h = segmentHeader(this.#nextSeq, this.#o.layoutCrc);
      writeSync(fd, h, 0, h.length, 0);
      if (this.#o.fsync !== 'off') fdatasyncSync(fd);
    } catch (err) {
      if (fd >= 0) {
        closeSync(fd);
        try {
          unlinkSync(path);
        } catch {
          /* gone already */
        }
      }
      this.#failed(err as NodeJS.ErrnoException, `opening log segment ${path}`);
      return;
    }
    this.#fd = fd;
    this.#segFirstSeq = this.#nextSeq;
    this.#segPos = SEGMENT_HEADER_BYTES;
    this.#segCap = cap;
    this.stats.segmentsOpened++;
  }

  #failed(err: NodeJS.ErrnoException, what: string): void {
    const full = err.code === 'ENOSPC';
    const e = new HotpathError('HP_ERR_WAL_UNAVAILABLE', `the write-ahead log cannot take events: ${full ? 'the disk is full' : err.message} (${what}); retry later`);
    if (!this.#failure) this.#o.log(`write-ahead log: ${e.message}`);
    this.#failedAt = Date.now();
    this.#fail(e);
    if (this.#fd >= 0) {
      // A segment that failed mid-write may end in a torn record: the next records go to a new one.
      if (this.#syncing) this.#retired.push(this.#fd);
      else closeSync(this.#fd);
      this.#fd = -1;
    }
    this.#segCap = 0;
  }

  #fail(e: HotpathError): void {
    this.#failure = e;
    const w = this.#waiters;
    const pending = w.splice(this.#waitHead);
    w.length = 0;
    this.#waitHead = 0;
    for (const x of pending) x.cb(e);
  }

  #refusal(): HotpathError {
    this.stats.refused++;
    return this.#failure ?? new HotpathError('HP_ERR_WAL_UNAVAILABLE', 'the write-ahead log cannot take events');
  }

  /** A failed log tries a new segment at most once per RETRY_MS; throws while it cannot. */
  #retry(): void {
    if (this.#closed || Date.now() - this.#failedAt < RETRY_MS) throw this.#refusal();
    this.#failure = undefined;
    this.#openSegment(0);
    if (this.#failure) throw this.#refusal();
    this.#o.log(`write-ahead log: writing again (segment ${segmentName(this.#segFirstSeq)})`);
  }
}
