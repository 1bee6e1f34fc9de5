// Reading the write-ahead log back at start: every segment in seq order, every record
// after the snapshot's seq handed to `apply` (the Ingestor, so replay takes the one ingest
// path). A torn or corrupt record ends the log there: the segment is cut at that record
// (truncated), with a log line saying how many records and bytes were dropped.
import { closeSync, openSync, readdirSync, readSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';

import { HotpathError } from '../errors.js';
import { type WalRecord, walRead } from '../native/binding.js';
import { readSegmentHeader, SEGMENT_HEADER_BYTES } from './wal.js';

const SEGMENT_RE = /^wal-(\d{20})\.log$/;

export interface SegmentFile {
  path: string;
  firstSeq: number;
}

/** The log's segment files, oldest first. */
export function listSegments(dir: string): SegmentFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => SEGMENT_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ path: join(dir, m[0]), firstSeq: Number(m[1]) }))
    .sort((a, b) => a.firstSeq - b.firstSeq);
}

export interface ReplayResult {
  /** the last seq found in the log (or `after` when there is none after it) */
  lastSeq: number;
  records: number;
  events: number;
  bytes: number;
  ms: number;
  /** records and bytes cut off at a torn or corrupt tail */
  droppedRecords: number;
  droppedBytes: number;
}

export interface ReplayOptions {
  /** records up to this seq are in the snapshot: skipped */
  after: number;
  /** the layout fingerprint segments must carry */
  layoutCrc: number;
  log: (line: string) => void;
  /** applies one record: buf holds it at rec's offsets (valid during the call) */
  apply(buf: Buffer, rec: WalRecord): void;
  /** yield to the event loop about this often, so that probes are answered (ms) */
  yieldMs?: number;
}

/**
 * A segment read in chunks from the start: records are parsed in place (a chunk starts on
 * a record, so on an 8-byte boundary), and the zeroed space reserved after the last record
 * is never read.
 */
class SegmentReader {
  readonly #fd: number;
  readonly #size: number;
  /** file offset of buf[0], and how much of buf holds file bytes */
  base = 0;
  filled = 0;
  buf: Buffer;

  constructor(path: string) {
    this.#size = statSync(path).size;
    this.#fd = openSync(path, 'r');
    this.buf = Buffer.from(new ArrayBuffer(Math.min(this.#size, CHUNK) || 8));
  }

  get size(): number {
    return this.#size;
  }

  /** Makes file[at, at + want) available (as much as the file has); returns the buffer offset of `at`. */
  load(at: number, want: number): number {
    if (at >= this.base && at + want <= this.base + this.filled) return at - this.base;
    const end = Math.min(this.#size, at + Math.max(want, CHUNK));
    if (end - at > this.buf.length) this.buf = Buffer.from(new ArrayBuffer(end - at));
    let off = 0;
    while (off < end - at) {
      const n = readSync(this.#fd, this.buf, off, end - at - off, at + off);
      if (n === 0) break;
      off += n;
    }
    this.base = at;
    this.filled = off;
    return 0;
  }

  close(): void {
    closeSync(this.#fd);
  }
}

const CHUNK = 8 << 20;

/** Counts what follows a cut: records that still parse (re-synchronising at 8-byte steps) and bytes up to the last non-zero one. */
function afterCut(buf: Buffer, at: number): { records: number; bytes: number } {
  let end = buf.length;
  while (end > at && buf[end - 1] === 0) end--;
  let records = 0;
  for (let p = at; p + 16 <= end; ) {
    const r = walRead(buf, p);
    if (typeof r === 'object') {
      records++;
      p += r.recordBytes;
    } else p += 8;
  }
  return { records, bytes: end - at };
}

export async function replayLog(dir: string, o: ReplayOptions): Promise<ReplayResult> {
  const t0 = performance.now();
  const res: ReplayResult = { lastSeq: o.after, records: 0, events: 0, bytes: 0, ms: 0, droppedRecords: 0, droppedBytes: 0 };
  const yieldMs = o.yieldMs ?? 20;
  let lastYield = performance.now();
  const segments = listSegments(dir);
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    const next = segments[i + 1];
    if (next && next.firstSeq <= o.after + 1) continue; // every record of it is in the snapshot
    const rd = new SegmentReader(seg.path);
    try {
      rd.load(0, SEGMENT_HEADER_BYTES);
      const h = readSegmentHeader(rd.buf.subarray(0, rd.filled));
      if (typeof h === 'string') {
        // A segment whose header never reached the disk holds no acknowledged record.
        o.log(`log segment ${seg.path}: ${h}; skipped`);
        continue;
      }
      if (h.layoutCrc !== o.layoutCrc)
        throw new HotpathError('HP_ERR_STATE_LAYOUT', `log segment ${seg.path} was written under another feature layout; start with --discard-state to begin empty`);
      let at = SEGMENT_HEADER_BYTES;
      for (;;) {
        let p = rd.load(at, 16);
        let r = walRead(rd.buf.subarray(0, rd.filled), p);
        if (r === 'TORN' && rd.base + rd.filled < rd.size) {
          // The record runs past the chunk: read it whole.
          const need = rd.buf.readUInt32LE(p) + 32;
          p = rd.load(at, need);
          r = walRead(rd.buf.subarray(0, rd.filled), p);
        }
        if (r === 'END') break;
        if (typeof r === 'string') {
          p = rd.load(at, rd.size - at); // the rest, to count what is dropped
          const cut = afterCut(rd.buf.subarray(0, rd.filled), p);
          res.droppedRecords += cut.records + 1;
          res.droppedBytes += cut.bytes;
          o.log(
            `log segment ${seg.path}: a ${r === 'TORN' ? 'torn' : 'corrupt'} record at byte ${at}; the log is cut there: ` +
              `${cut.records + 1} record(s), ${cut.bytes} bytes dropped (never acknowledged${r === 'CORRUPT' ? ', or damaged on disk' : ''})`,
          );
          truncateSync(seg.path, at);
          break;
        }
        if (r.seq > o.after) {
          if (r.seq !== res.lastSeq + 1) o.log(`log segment ${seg.path}: record ${r.seq} follows ${res.lastSeq}; records in between are missing`);
          o.apply(rd.buf, r);
          res.records++;
          res.events += r.n;
          res.bytes += r.recordBytes;
          res.lastSeq = r.seq;
        }
        at += r.recordBytes;
        if (performance.now() - lastYield > yieldMs) {
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
      }
    } finally {
      rd.close();
    }
  }
  res.ms = performance.now() - t0;
  return res;
}
