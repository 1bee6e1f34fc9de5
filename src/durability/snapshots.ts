// Snapshots: a consistent cut of everything that learns from events, taken against a log
// seq. Each piece of state is a participant: the feature store (written by the native
// engine on the thread pool, native/core/snapshot.h), the loaded model versions, and the
// learners, bandits and experiments of later issues, which register themselves the same
// way. Every participant is captured in one synchronous step, between two ingest calls,
// so the snapshot holds exactly the batches up to its seq.
//
// On disk: <data>/snapshots/snap-<seq>/ with one file per participant and manifest.json
// (the seq, the layout the state was made with, each part's file, size and CRC-32C). It is
// written as snap-<seq>.tmp/, fsynced, and renamed: a snapshot directory without .tmp is
// complete. The newest `keep` snapshots are kept; start restores the newest one that
// checks out, falling back to an older one.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import { HotpathError } from '../errors.js';
import { crc32c } from '../native/binding.js';
import { layoutDifference, type StateLayout } from './layout.js';

/**
 * A piece of state in the snapshots. capture(path) runs at the cut and must take the
 * state then: it returns the bytes (small state, written by the snapshotter), or a promise
 * for a participant that writes path itself after taking its cut synchronously (the store).
 * restore() runs at start, before the log is replayed, with the part's file and, for
 * byte parts, its bytes (checked against the manifest's CRC).
 */
export interface SnapshotParticipant {
  /** names the part's file: letters, digits, - and _ */
  readonly name: string;
  capture(path: string): Uint8Array | Promise<Record<string, number>>;
  restore(part: { path: string; bytes?: Uint8Array }): void | Promise<void>;
}

export interface SnapshotInfo {
  seq: number;
  path: string;
  bytes: number;
  ms: number;
  /** what file participants reported (the store: writerCopies, maxStallUs, ...) */
  parts: Record<string, Record<string, number>>;
}

interface PartEntry {
  file: string;
  bytes: number;
  crc32c?: number;
  stats?: Record<string, number>;
}
interface Manifest {
  format: 1;
  seq: number;
  createdMs: number;
  layout: StateLayout;
  parts: Record<string, PartEntry>;
}

const SNAP_RE = /^snap-(\d{20})$/;
const NAME_RE = /^[A-Za-z0-9_-]+$/;

export function snapshotName(seq: number): string {
  return `snap-${String(seq).padStart(20, '0')}`;
}

/** Writes a whole file and fdatasyncs it. */
export function writeDurable(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync of a directory, so that a rename or a new file in it survives a crash. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class Snapshots {
  readonly dir: string;
  readonly #keep: number;
  readonly #log: (line: string) => void;
  readonly #participants: SnapshotParticipant[] = [];
  #busy = false;

  constructor(dir: string, keep: number, log: (line: string) => void) {
    this.dir = dir;
    this.#keep = keep;
    this.#log = log;
    mkdirSync(dir, { recursive: true });
    for (const n of readdirSync(dir)) if (n.endsWith('.tmp')) rmSync(join(dir, n), { recursive: true, force: true }); // cut short by a crash
  }

  /** Adds a participant (before the first snapshot or restore). */
  register(p: SnapshotParticipant): void {
    if (!NAME_RE.test(p.name) || p.name === 'manifest') throw new Error(`bad snapshot participant name '${p.name}'`);
    if (this.#participants.some((x) => x.name === p.name)) throw new Error(`snapshot participant '${p.name}' is registered twice`);
    this.#participants.push(p);
  }

  get participants(): readonly string[] {
    return this.#participants.map((p) => p.name);
  }

  get busy(): boolean {
    return this.#busy;
  }

  /** Complete snapshots, newest first. */
  list(): { seq: number; path: string }[] {
    return readdirSync(this.dir)
      .map((n) => SNAP_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ seq: Number(m[1]), path: join(this.dir, m[0]) }))
      .sort((a, b) => b.seq - a.seq);
  }

  /**
   * Takes a snapshot standing for log seq `seq`: the cut is now (synchronously, in this
   * call); the files are written after. Resolves when the snapshot is complete on disk.
   */
  take(seq: number, layout: StateLayout): Promise<SnapshotInfo> {
    if (this.#busy) return Promise.reject(new HotpathError('HP_ERR_SNAPSHOT_IN_PROGRESS', 'a snapshot is being written; try again when it is done'));
    this.#busy = true;
    const t0 = performance.now();
    const final = join(this.dir, snapshotName(seq));
    const tmp = `${final}.tmp`;
    const manifest: Manifest = { format: 1, seq, createdMs: Date.now(), layout, parts: {} };
    let captured: { p: SnapshotParticipant; file: string; part: Uint8Array | Promise<Record<string, number>> }[];
    try {
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      // The cut: every participant, one after the other, with nothing in between.
      captured = this.#participants.map((p) => {
        const file = `${p.name}.snap`;
        return { p, file, part: p.capture(join(tmp, file)) };
      });
    } catch (err) {
      this.#busy = false;
      rmSync(tmp, { recursive: true, force: true });
      return Promise.reject(this.#failed(err));
    }
    return this.#finish(captured, manifest, tmp, final, t0).finally(() => (this.#busy = false));
  }

  async #finish(
    captured: { p: SnapshotParticipant; file: string; part: Uint8Array | Promise<Record<string, number>> }[],
    manifest: Manifest, tmp: string, final: string, t0: number,
  ): Promise<SnapshotInfo> {
    // Every file part is awaited (settled) before anything is removed, even when one fails.
    const settled = await Promise.allSettled(captured.map((c) => (c.part instanceof Uint8Array ? Promise.resolve(undefined) : c.part)));
    try {
      const parts: Record<string, Record<string, number>> = {};
      let bytes = 0;
      for (let i = 0; i < captured.length; i++) {
        const { p, file, part } = captured[i];
        const s = settled[i];
        if (s.status === 'rejected') throw s.reason;
        if (part instanceof Uint8Array) {
          writeDurable(join(tmp, file), part);
          manifest.parts[p.name] = { file, bytes: part.length, crc32c: crc32c(part) };
          bytes += part.length;
        } else {
          const stats = (s.value ?? {}) as Record<string, number>;
          manifest.parts[p.name] = { file, bytes: stats.bytes ?? 0, stats };
          parts[p.name] = stats;
          bytes += stats.bytes ?? 0;
        }
      }
      const body = JSON.stringify(manifest);
      writeDurable(join(tmp, 'manifest.json'), Buffer.from(JSON.stringify({ crc32c: crc32c(Buffer.from(body)), manifest }, null, 1)));
      syncDir(tmp);
      rmSync(final, { recursive: true, force: true });
      renameSync(tmp, final);
      syncDir(this.dir);
      return { seq: manifest.seq, path: final, bytes, ms: performance.now() - t0, parts };
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw this.#failed(err);
    }
  }

  #failed(err: unknown): HotpathError {
    if (err instanceof HotpathError && err.code === 'HP_ERR_SNAPSHOT_IN_PROGRESS') return err;
    const e = err as NodeJS.ErrnoException & { code?: string };
    const full = e?.code === 'ENOSPC' || e?.code === 'HP_ERR_NATIVE_RESOURCE_EXHAUSTED';
    return new HotpathError('HP_ERR_SNAPSHOT_FAILED', `snapshot failed: ${full ? 'the disk is full' : (e?.message ?? String(err))}`);
  }

  /** Deletes complete snapshots beyond the newest `keep`; returns the oldest kept seq (0: none). */
  prune(): number {
    const all = this.list();
    for (const old of all.slice(this.#keep)) rmSync(old.path, { recursive: true, force: true });
    return all.slice(0, this.#keep).at(-1)?.seq ?? 0;
  }

  /**
   * Restores the newest snapshot that checks out into every registered participant, and
   * returns its seq (0 when there is no snapshot). A snapshot made under another layout is
   * refused (HP_ERR_STATE_LAYOUT, naming the difference); a damaged one is logged and the
   * next older one is tried; when snapshots exist and none checks out, HP_ERR_STATE_CORRUPT.
   */
  async restoreNewest(now: StateLayout): Promise<{ seq: number; path?: string; ms: number }> {
    const t0 = performance.now();
    const all = this.list();
    for (const snap of all) {
      const m = this.#readManifest(snap.path);
      if (typeof m === 'string') {
        this.#log(`snapshot ${snap.path}: ${m}; trying an older one`);
        continue;
      }
      const diff = layoutDifference(m.layout, now);
      if (diff)
        throw new HotpathError('HP_ERR_STATE_LAYOUT', `the snapshot ${snap.path} was made with another feature layout: ${diff}. Start with --discard-state to begin empty, or with the config it was made with`);
      // Byte parts are read and checked before anything is restored.
      const parts: { p: SnapshotParticipant; path: string; bytes?: Uint8Array }[] = [];
      let bad: string | undefined;
      for (const p of this.#participants) {
        const entry = m.parts[p.name];
        if (!entry) {
          this.#log(`snapshot ${snap.path} has no part '${p.name}': it starts empty`);
          continue;
        }
        const path = join(snap.path, entry.file);
        if (entry.crc32c === undefined) {
          parts.push({ p, path });
          continue;
        }
        let bytes: Buffer;
        try {
          bytes = readFileSync(path);
        } catch (err) {
          bad = `part '${p.name}': ${(err as Error).message}`;
          break;
        }
        if (bytes.length !== entry.bytes || crc32c(bytes) !== entry.crc32c) {
          bad = `part '${p.name}' fails its checksum`;
          break;
        }
        parts.push({ p, path, bytes });
      }
      if (!bad) {
        // The first part (the store) may fail on a damaged file and leaves its state empty,
        // so an older snapshot can be tried; the parts after it were checked above and a
        // failure there leaves state half restored, so it stops the start.
        for (let i = 0; i < parts.length && !bad; i++) {
          try {
            await parts[i].p.restore({ path: parts[i].path, bytes: parts[i].bytes });
          } catch (err) {
            if (i > 0 || (err instanceof HotpathError && err.code === 'HP_ERR_STATE_LAYOUT'))
              throw new HotpathError('HP_ERR_STATE_CORRUPT', `snapshot ${snap.path}: restoring '${parts[i].p.name}' failed: ${(err as Error).message}`);
            bad = (err as Error).message;
          }
        }
        if (!bad) return { seq: m.seq, path: snap.path, ms: performance.now() - t0 };
      }
      this.#log(`snapshot ${snap.path} is damaged (${bad}); trying an older one`);
    }
    if (all.length > 0) return { seq: -1, ms: performance.now() - t0 };
    return { seq: 0, ms: performance.now() - t0 };
  }

  #readManifest(dir: string): Manifest | string {
    let raw: { crc32c?: unknown; manifest?: Manifest };
    try {
      raw = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as typeof raw;
    } catch (err) {
      return `manifest.json: ${(err as Error).message}`;
    }
    const m = raw?.manifest;
    if (!m || typeof m !== 'object' || raw.crc32c !== crc32c(Buffer.from(JSON.stringify(m)))) return 'manifest.json fails its checksum';
    if (m.format !== 1 || !Number.isSafeInteger(m.seq) || m.seq < 0 || typeof m.parts !== 'object' || !m.layout) return 'manifest.json is not a format-1 manifest';
    return m;
  }
}
