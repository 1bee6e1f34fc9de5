// The event ids of the dedup streams that the write-ahead log holds, so that a restarted
// server still drops an event sent again within its horizon (a client that never got its
// answer because the server died retries the same events). The log records carry no ids;
// this file, in the log's folder (so --discard-state moves it aside with the log), says
// which ids the recovered state holds: an id whose log seq is at or before the last record
// replayed is in the state; one after it was lost with the process and may come again.
//
//   <data>/wal/event-ids.bin, appended, 32-byte little-endian records:
//     f64 seq, f64 applied-at ms, u32 id hash hi, u32 id hash lo, u32 stream, u32 kind
//     kind 0: the id was applied with log record seq
//     kind 1: the log lost its records from seq on (a failed write): earlier records with
//             a seq at or after it do not count
//
// Records are written once per turn by the log's beforeWrite hook, so they reach the file
// before the log records they name (a crash between the two leaves ids whose seqs are past
// the log's end: not counted, so accepted again: right). The file is not fsynced: after a
// machine crash the ids of the last batches can be missing, and a retry of those events is
// applied a second time (docs/ingest.md). Past its size limit it is rewritten from the
// windows.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { EventIdWindow } from './event-ids.js';
import { SideFile } from './side-file.js';

export const EVENT_IDS_FILE = 'event-ids.bin';
const RECORD = 32;
/** rewrite once the file passes this (or twice what a rewrite writes, if more) */
const MIN_REWRITE_BYTES = 32 * 1024 ** 2;

export class EventIdsFile {
  readonly path: string;
  readonly #log: (line: string) => void;
  readonly #file: SideFile;
  #buf = Buffer.alloc(RECORD * 256);
  #used = 0;
  #failed = false;

  constructor(walDir: string, log: (line: string) => void) {
    this.path = join(walDir, EVENT_IDS_FILE);
    this.#log = log;
    this.#file = new SideFile(this.path, MIN_REWRITE_BYTES);
  }

  /**
   * Puts the ids the recovered state holds into the windows (by stream index): records with
   * a seq at or before lastSeq, not voided, within their window's horizon. Returns how many.
   */
  load(windows: readonly (EventIdWindow | undefined)[], lastSeq: number, nowMs: number): number {
    if (!existsSync(this.path)) return 0;
    const b = readFileSync(this.path);
    const n = Math.floor(b.length / RECORD);
    const seqs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const at = i * RECORD;
      const seq = b.readDoubleLE(at);
      if (b.readUInt32LE(at + 28) === 1) {
        for (let j = i - 1; j >= 0; j--) if (seqs[j] >= seq) seqs[j] = Number.POSITIVE_INFINITY;
        seqs[i] = Number.POSITIVE_INFINITY;
      } else seqs[i] = seq;
    }
    let loaded = 0;
    for (let i = 0; i < n; i++) {
      const at = i * RECORD;
      const w = windows[b.readUInt32LE(at + 24)];
      const ms = b.readDoubleLE(at + 8);
      if (!w || !(seqs[i] <= lastSeq) || ms < nowMs - w.horizonMs) continue;
      w.add(b.readUInt32LE(at + 16), b.readUInt32LE(at + 20), seqs[i], ms);
      loaded++;
    }
    for (const w of windows) w?.expire(nowMs);
    return loaded;
  }

  /** The id (hi, lo) of stream was applied with log record seq: written at the next flush(). */
  note(stream: number, hi: number, lo: number, seq: number, nowMs: number): void {
    this.#put(seq, nowMs, hi, lo, stream, 0);
  }

  /** The log lost its records from seq on. */
  void(seq: number): void {
    this.#put(seq, 0, 0, 0, 0, 1);
    this.flush();
  }

  /** Writes the records noted since the last flush (the log calls this before its write). */
  flush(windows?: readonly (EventIdWindow | undefined)[]): void {
    if (this.#used === 0 || !this.#file.open) return;
    const used = this.#used;
    this.#used = 0;
    try {
      this.#file.append(this.#buf, used);
      this.#failed = false;
    } catch (err) {
      if (!this.#failed) this.#log(`ingest: cannot write ${this.path}: ${(err as Error).message} (after a crash, retried events may be applied twice)`);
      this.#failed = true;
      return;
    }
    if (windows && this.#file.due) this.#rewrite(windows);
  }

  close(): void {
    this.flush();
    this.#file.close();
  }

  #put(seq: number, ms: number, hi: number, lo: number, stream: number, kind: number): void {
    if (this.#used + RECORD > this.#buf.length) {
      const next = Buffer.alloc(this.#buf.length * 2);
      this.#buf.copy(next, 0, 0, this.#used);
      this.#buf = next;
    }
    const at = this.#used;
    this.#buf.writeDoubleLE(seq, at);
    this.#buf.writeDoubleLE(ms, at + 8);
    this.#buf.writeUInt32LE(hi, at + 16);
    this.#buf.writeUInt32LE(lo, at + 20);
    this.#buf.writeUInt32LE(stream, at + 24);
    this.#buf.writeUInt32LE(kind, at + 28);
    this.#used += RECORD;
  }

  /** The file again from the windows' ids that have a seq. */
  #rewrite(windows: readonly (EventIdWindow | undefined)[]): void {
    try {
      this.#file.rewrite((put) => {
        const chunk = Buffer.alloc(RECORD * 4096);
        let used = 0;
        windows.forEach((w, stream) =>
          w?.forEach((hi, lo, ms, seq) => {
            if (seq <= 0) return;
            chunk.writeDoubleLE(seq, used);
            chunk.writeDoubleLE(ms, used + 8);
            chunk.writeUInt32LE(hi, used + 16);
            chunk.writeUInt32LE(lo, used + 20);
            chunk.writeUInt32LE(stream, used + 24);
            chunk.writeUInt32LE(0, used + 28);
            used += RECORD;
            if (used === chunk.length) {
              put(chunk, used);
              used = 0;
            }
          }),
        );
        put(chunk, used);
      });
    } catch (err) {
      this.#log(`ingest: cannot rewrite ${this.path}: ${(err as Error).message}`);
    }
  }
}
