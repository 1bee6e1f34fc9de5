// Durability, put together: the data directory, the write-ahead log, the snapshots and
// their participants, recovery at start and the last snapshot at shutdown.
//
//   <data>/layout.json          the layout the state was made with (layout.ts)
//   <data>/wal/wal-<seq>.log    log segments (wal.ts)
//   <data>/snapshots/snap-<seq>/  complete snapshots (snapshots.ts)
//
// Start: the newest snapshot that checks out, then every log record after its seq through
// the Ingestor (replay takes the one ingest path, taps included), then a new log segment.
// While running: a snapshot every snapshot_interval and whenever snapshot_log_bytes of log
// have been written since the last; after each, snapshots beyond keep_snapshots and the log
// segments wholly before the oldest kept snapshot are deleted.
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Config, DurabilityDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import type { Ingestor } from '../ingest/ingestor.js';
import type { FeatureStore } from '../native/binding.js';
import { describeLayout, layoutCrc, layoutDifference, type StateLayout } from './layout.js';
import { type SnapshotInfo, type SnapshotParticipant, Snapshots } from './snapshots.js';
import { Wal } from './wal.js';
import { listSegments, type ReplayResult, replayLog } from './wal-read.js';

export interface DurabilityOptions {
  config: Config;
  /** the data directory (durability.data_dir or --data-dir) */
  dataDir: string;
  /** move the old state aside and begin empty (--discard-state) */
  discardState?: boolean;
  store: FeatureStore;
  ingest: Ingestor;
  log: (line: string) => void;
}

export interface RecoveryReport {
  snapshotSeq: number;
  restoreMs: number;
  replay: ReplayResult;
  /** the state directory moved aside by --discard-state */
  discardedTo?: string;
}

export class Durability {
  readonly dataDir: string;
  readonly def: DurabilityDef;
  readonly snapshots: Snapshots;
  readonly #o: DurabilityOptions;
  readonly #layout: StateLayout;
  readonly #layoutCrc: number;
  readonly #walDir: string;
  #wal: Wal | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastSnapshotAt = 0;
  last: SnapshotInfo | undefined;
  snapshotsTaken = 0;
  snapshotFailures = 0;
  recovery: RecoveryReport | undefined;

  constructor(o: DurabilityOptions) {
    this.#o = o;
    this.dataDir = o.dataDir;
    this.def = o.config.durability;
    this.#layout = describeLayout(o.config);
    this.#layoutCrc = layoutCrc(this.#layout);
    this.#walDir = join(o.dataDir, 'wal');
    mkdirSync(o.dataDir, { recursive: true });
    let discardedTo: string | undefined;
    if (o.discardState) discardedTo = this.#discard();
    this.#checkLayoutFile();
    mkdirSync(this.#walDir, { recursive: true });
    this.snapshots = new Snapshots(join(o.dataDir, 'snapshots'), this.def.keepSnapshots, o.log);
    const store = o.store;
    this.snapshots.register({
      name: 'store',
      capture: (path) => store.snapshot(path) as unknown as Promise<Record<string, number>>,
      restore: async ({ path }) => {
        await store.restore(path);
      },
    });
    if (discardedTo) this.recovery = { snapshotSeq: 0, restoreMs: 0, replay: emptyReplay(0), discardedTo };
  }

  get wal(): Wal | undefined {
    return this.#wal;
  }

  /** Adds a piece of state to the snapshots (before recover()). */
  register(p: SnapshotParticipant): void {
    this.snapshots.register(p);
  }

  /**
   * Restores the newest snapshot and replays the log after it; then opens a new segment
   * and has the Ingestor log every batch from here on.
   */
  async recover(): Promise<RecoveryReport> {
    const { log } = this.#o;
    const restored = await this.snapshots.restoreNewest(this.#layout);
    let after = restored.seq;
    const segments = listSegments(this.#walDir);
    if (after < 0) {
      // Snapshots exist and none checks out: the log alone is enough only if it starts at 1.
      if (segments.length > 0 && segments[0].firstSeq !== 1)
        throw new HotpathError('HP_ERR_STATE_CORRUPT', `no snapshot in ${this.snapshots.dir} checks out, and the log starts at record ${segments[0].firstSeq}: start with --discard-state to begin empty`);
      log('no snapshot checks out; replaying the whole log');
      after = 0;
    } else if (segments.length > 0 && segments[0].firstSeq > after + 1) {
      throw new HotpathError('HP_ERR_STATE_CORRUPT', `the log starts at record ${segments[0].firstSeq} but the snapshot stands for ${after}: records in between are missing; start with --discard-state to begin empty`);
    }
    const ingest = this.#o.ingest;
    const replay = await replayLog(this.#walDir, { after, layoutCrc: this.#layoutCrc, log, apply: (buf, rec) => ingest.replay(buf, rec) });
    this.recovery = { ...this.recovery, snapshotSeq: after, restoreMs: restored.ms, replay };
    if (restored.path) log(`restored snapshot ${restored.path} (record ${after}) in ${restored.ms.toFixed(0)} ms`);
    if (replay.records > 0)
      log(`replayed ${replay.records} log records (${replay.events} events) in ${replay.ms.toFixed(0)} ms, up to record ${replay.lastSeq}`);
    const d = this.def;
    this.#wal = new Wal({ dir: this.#walDir, fsync: d.fsync, fsyncIntervalMs: d.fsyncIntervalMs, segmentBytes: d.segmentBytes, layoutCrc: this.#layoutCrc, log }, replay.lastSeq + 1);
    ingest.attachLog(this.#wal);
    this.#lastSnapshotAt = Date.now();
    return this.recovery;
  }

  /** Periodic snapshots: every snapshot_interval, and when snapshot_log_bytes of log piled up. */
  start(): void {
    const every = Math.min(1000, this.def.snapshotIntervalMs || 1000);
    this.#timer = setInterval(() => {
      const wal = this.#wal;
      if (!wal || this.snapshots.busy) return;
      const due = (this.def.snapshotIntervalMs > 0 && Date.now() - this.#lastSnapshotAt >= this.def.snapshotIntervalMs) || wal.bytesSinceSnapshot >= this.def.snapshotLogBytes;
      if (due && wal.bytesSinceSnapshot > 0) this.snapshot().catch(() => undefined);
    }, every);
    this.#timer.unref();
  }

  /**
   * A snapshot now, standing for the last logged record; then old snapshots and the log
   * segments before the oldest kept one are deleted.
   */
  async snapshot(): Promise<SnapshotInfo> {
    const wal = this.#wal;
    if (!wal) throw new HotpathError('HP_ERR_NOT_READY', 'durability is not recovered yet');
    const seq = wal.lastSeq;
    const logged = wal.bytesSinceSnapshot;
    wal.flushNow(); // the log holds everything the snapshot stands for before it is relied on
    let info: SnapshotInfo;
    try {
      info = await this.snapshots.take(seq, this.#layout);
    } catch (err) {
      if (!(err instanceof HotpathError && err.code === 'HP_ERR_SNAPSHOT_IN_PROGRESS')) {
        this.snapshotFailures++;
        this.#o.log(`snapshot failed: ${(err as Error).message}`);
      }
      throw err;
    }
    wal.bytesSinceSnapshot = Math.max(0, wal.bytesSinceSnapshot - logged);
    this.#lastSnapshotAt = Date.now();
    this.last = info;
    this.snapshotsTaken++;
    this.#prune(wal);
    return info;
  }

  #prune(wal: Wal): void {
    const oldest = this.snapshots.prune();
    if (oldest <= 0) return;
    const segs = listSegments(this.#walDir);
    for (let i = 0; i + 1 < segs.length; i++) {
      // A segment ends where the next begins: every record of it is at or before the oldest snapshot.
      if (segs[i + 1].firstSeq <= oldest + 1 && segs[i].firstSeq < wal.segmentFirstSeq) unlinkSync(segs[i].path);
    }
  }

  /** Shutdown: the log written and fsynced, a last snapshot, files closed. */
  async close(opts: { snapshot?: boolean } = {}): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const wal = this.#wal;
    if (!wal) return;
    await wal.drain();
    if (opts.snapshot !== false && (wal.bytesSinceSnapshot > 0 || !this.last)) {
      while (this.snapshots.busy) await new Promise((r) => setTimeout(r, 5));
      await this.snapshot().catch(() => undefined); // logged; the log still holds everything
    }
    this.#o.ingest.attachLog(undefined);
    await wal.close();
    this.#wal = undefined;
  }

  /** layout.json: written for a new directory, compared for an existing one. */
  #checkLayoutFile(): void {
    const path = join(this.dataDir, 'layout.json');
    if (existsSync(path)) {
      let then: StateLayout;
      try {
        then = JSON.parse(readFileSync(path, 'utf8')) as StateLayout;
      } catch (err) {
        throw new HotpathError('HP_ERR_STATE_CORRUPT', `${path}: ${(err as Error).message}; start with --discard-state to begin empty`);
      }
      const diff = layoutDifference(then, this.#layout);
      if (diff)
        throw new HotpathError('HP_ERR_STATE_LAYOUT', `the state in ${this.dataDir} was made with another feature layout: ${diff}. Start with --discard-state to begin empty (the old state is moved aside), or with the config it was made with`);
      return;
    }
    writeFileSync(path, JSON.stringify(this.#layout, null, 1));
  }

  /** Moves the old state to <data>/discarded-<time>/ (the operator deletes it). */
  #discard(): string | undefined {
    const names = ['layout.json', 'wal', 'snapshots'].filter((n) => existsSync(join(this.dataDir, n)));
    if (names.length === 0) return undefined;
    const to = join(this.dataDir, `discarded-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    mkdirSync(to);
    for (const n of names) renameSync(join(this.dataDir, n), join(to, n));
    this.#o.log(`--discard-state: the old state is in ${to}; hotpath begins empty`);
    return to;
  }
}

function emptyReplay(after: number): ReplayResult {
  return { lastSeq: after, records: 0, events: 0, bytes: 0, ms: 0, droppedRecords: 0, droppedBytes: 0 };
}
