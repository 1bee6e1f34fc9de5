// Which shared-log batches the write-ahead log holds, so that a restarted replica with a
// data directory does not apply again what it had applied before it died. Redis delivers
// an entry again when the replica died between applying it and its XACK (at-least-once);
// after the restart the state is the snapshot plus the log replay, and this file says which
// batch ids that state holds: an id whose log seq is at or before the last record
// replayed is in the state, one after it was lost with the process and is applied again.
//
//   <data>/wal/redis-applied.log   text lines, appended:
//     a <seq> <ms> <id>   batch <id> was applied with log record <seq> at <ms>
//     v <seq>             the log lost its records from <seq> on (a failed write): the
//                         lines before with a seq at or after it do not count
//
// It sits in the log's folder so that --discard-state moves it aside with the log. Lines
// are written once per turn by the log's beforeWrite hook, so that they reach the file
// before the records they name (a process crash between the two leaves ids with seqs past
// the log's end: not counted, so applied again: right). The file is not fsynced: after a
// machine crash the ids of the last batches can be missing, and those batches, if Redis
// still holds them as pending, are applied a second time (docs/redis.md).
// When the file passes its size limit it is rewritten from the dedup window.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { SideFile } from '../ingest/side-file.js';
import type { DedupWindow } from './dedup.js';

export const APPLIED_FILE = 'redis-applied.log';
/** rewrite once the file passes this (or twice what a rewrite writes, if more) */
const MIN_REWRITE_BYTES = 16 * 1024 ** 2;

export class AppliedFile {
  readonly path: string;
  readonly #log: (line: string) => void;
  readonly #file: SideFile;
  #lines: string[] = [];

  constructor(walDir: string, log: (line: string) => void) {
    this.path = join(walDir, APPLIED_FILE);
    this.#log = log;
    this.#file = new SideFile(this.path, MIN_REWRITE_BYTES);
  }

  /**
   * Puts the ids the recovered state holds into dedup: lines with a seq at or before
   * lastSeq (the last log record replayed), not voided, within the horizon. Returns how many.
   */
  load(dedup: DedupWindow, lastSeq: number, nowMs: number): number {
    if (!existsSync(this.path)) return 0;
    const text = readFileSync(this.path, 'latin1');
    const ids: { id: string; seq: number; ms: number }[] = [];
    for (const line of text.split('\n')) {
      if (line.startsWith('a ')) {
        const [, seq, ms, id] = line.split(' ');
        if (id) ids.push({ id, seq: Number(seq), ms: Number(ms) });
      } else if (line.startsWith('v ')) {
        const from = Number(line.slice(2));
        for (let i = ids.length - 1; i >= 0; i--) if (ids[i].seq >= from) ids[i].seq = Number.POSITIVE_INFINITY;
      }
    }
    let n = 0;
    const cut = nowMs - dedup.horizonMs;
    for (const x of ids) {
      if (!(x.seq <= lastSeq) || x.ms < cut) continue;
      dedup.add(x.id, x.seq, x.ms);
      n++;
    }
    dedup.expire(nowMs);
    return n;
  }

  /** Batch id was applied with log record seq: written at the next flush(). */
  note(id: string, seq: number, nowMs: number): void {
    this.#lines.push(`a ${seq} ${Math.floor(nowMs)} ${id}\n`);
  }

  /** The log lost its records from seq on. */
  void(seq: number): void {
    this.#lines.push(`v ${seq}\n`);
    this.flush();
  }

  /** Writes the lines noted since the last flush (the log calls this before its write). */
  flush(dedup?: DedupWindow): void {
    if (this.#lines.length === 0 || !this.#file.open) return;
    const buf = Buffer.from(this.#lines.join(''), 'latin1');
    this.#lines.length = 0;
    try {
      this.#file.append(buf);
    } catch (err) {
      this.#log(`redis: cannot write ${this.path}: ${(err as Error).message} (after a crash, batches may be applied twice)`);
      return;
    }
    if (dedup && this.#file.due) this.#rewrite(dedup);
  }

  /** The file again from the dedup window's ids that have a seq. */
  #rewrite(dedup: DedupWindow): void {
    try {
      this.#file.rewrite((put) => {
        let chunk: string[] = [];
        for (const [id, seq, ms] of dedup.entries()) {
          if (seq <= 0) continue;
          chunk.push(`a ${seq} ${Math.floor(ms)} ${id}\n`);
          if (chunk.length >= 4096) {
            put(Buffer.from(chunk.join(''), 'latin1'));
            chunk = [];
          }
        }
        put(Buffer.from(chunk.join(''), 'latin1'));
      });
    } catch (err) {
      this.#log(`redis: cannot rewrite ${this.path}: ${(err as Error).message}`);
    }
  }

  close(): void {
    this.flush();
    this.#file.close();
  }
}
