// The `durability:` section of hotpath.yaml: where the write-ahead log and the snapshots
// live, when the log is fsynced, and when snapshots are taken. docs/config.md documents
// each key and what a crash can lose under each fsync mode.
import { parseDuration, parseSize } from './values.js';

export type FsyncMode = 'always' | 'interval' | 'off';

export interface DurabilityDef {
  /** the state directory; undefined: nothing is persisted (set here or with --data-dir) */
  dataDir?: string;
  fsync: FsyncMode;
  /** fsync: interval, in ms */
  fsyncIntervalMs: number;
  /** bytes per log segment file (reserved on disk when the segment is opened) */
  segmentBytes: number;
  /** a snapshot every this many ms (0: only at shutdown and by size) */
  snapshotIntervalMs: number;
  /** and whenever this many bytes of log have been written since the last one */
  snapshotLogBytes: number;
  /** complete snapshots kept; the log is kept from the oldest of them on */
  keepSnapshots: number;
}

export const DURABILITY_DEFAULTS: DurabilityDef = {
  fsync: 'interval',
  fsyncIntervalMs: 10,
  segmentBytes: 64 * 1024 ** 2,
  snapshotIntervalMs: 5 * 60_000,
  snapshotLogBytes: 1024 ** 3,
  keepSnapshots: 2,
};

export interface RawDurability {
  data_dir?: string;
  fsync?: FsyncMode;
  fsync_interval?: number | string;
  segment_bytes?: number | string;
  snapshot_interval?: number | string;
  snapshot_log_bytes?: number | string;
  keep_snapshots?: number;
}

/** The section with its defaults; relative data_dir is resolved against baseDir. */
export function compileDurability(raw: RawDurability | undefined, resolvePath: (p: string) => string): DurabilityDef {
  const d = DURABILITY_DEFAULTS;
  const r = raw ?? {};
  return {
    dataDir: r.data_dir === undefined ? undefined : resolvePath(r.data_dir),
    fsync: r.fsync ?? d.fsync,
    fsyncIntervalMs: r.fsync_interval === undefined ? d.fsyncIntervalMs : Math.max(1, parseDuration(r.fsync_interval)),
    segmentBytes: r.segment_bytes === undefined ? d.segmentBytes : Math.max(1024 ** 2, parseSize(r.segment_bytes)),
    snapshotIntervalMs: r.snapshot_interval === undefined ? d.snapshotIntervalMs : parseDuration(r.snapshot_interval),
    snapshotLogBytes: r.snapshot_log_bytes === undefined ? d.snapshotLogBytes : parseSize(r.snapshot_log_bytes),
    keepSnapshots: r.keep_snapshots ?? d.keepSnapshots,
  };
}
