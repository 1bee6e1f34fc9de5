// Prometheus metrics of the write-ahead log, the snapshots and the recovery at start. They
// read the durability module's plain counters at scrape time: nothing on the ingest path.
import type client from 'prom-client';

import type { Durability } from '../durability/durability.js';
import { scraped } from './scrape-metrics.js';

export function registerDurabilityMetrics(registry: client.Registry, d: Durability): void {
  const counter = (name: string, help: string, value: () => number): void => scraped(registry, 'counter', name, help, [], value);
  const gauge = (name: string, help: string, value: () => number): void => scraped(registry, 'gauge', name, help, [], value);
  const wal = () => d.wal?.stats;
  counter('hotpath_wal_bytes_total', 'Bytes written to the write-ahead log', () => wal()?.bytes ?? 0);
  counter('hotpath_wal_records_total', 'Batches logged (one record each)', () => wal()?.records ?? 0);
  counter('hotpath_wal_writes_total', 'write(2) calls of the log (one per event-loop turn with records: group commit)', () => wal()?.writes ?? 0);
  counter('hotpath_wal_fsyncs_total', 'fdatasync calls of the log', () => wal()?.fsyncs ?? 0);
  counter('hotpath_wal_fsync_seconds_total', 'Time spent in fdatasync of the log (on the thread pool)', () => wal()?.fsyncSeconds ?? 0);
  counter('hotpath_wal_refused_total', 'Batches refused because the log could not take them (HP_ERR_WAL_UNAVAILABLE)', () => wal()?.refused ?? 0);
  gauge('hotpath_wal_writable', '1 while the log takes batches, 0 while the disk is full or failing', () => (d.wal?.writable ? 1 : 0));
  gauge('hotpath_wal_pending_acks', 'Acknowledgements waiting for the log to reach the disk', () => d.wal?.waiting ?? 0);
  gauge('hotpath_wal_last_seq', 'Seq of the last logged record', () => d.wal?.lastSeq ?? 0);
  counter('hotpath_snapshots_total', 'Snapshots completed', () => d.snapshotsTaken);
  counter('hotpath_snapshot_failures_total', 'Snapshots that failed (the log is kept; nothing is lost)', () => d.snapshotFailures);
  gauge('hotpath_snapshot_last_seq', 'Log seq the newest snapshot stands for', () => d.last?.seq ?? 0);
  gauge('hotpath_snapshot_last_duration_seconds', 'Time the newest snapshot took, cut to rename', () => (d.last?.ms ?? 0) / 1000);
  gauge('hotpath_snapshot_last_bytes', 'Size of the newest snapshot', () => d.last?.bytes ?? 0);
  gauge('hotpath_snapshot_last_max_stall_seconds', 'Longest wait of the ingest thread for a block of the newest snapshot', () => (d.last?.parts.store?.maxStallUs ?? 0) / 1e6);
  gauge('hotpath_recovery_replayed_events', 'Events replayed from the log at start', () => d.recovery?.replay.events ?? 0);
  gauge('hotpath_recovery_seconds', 'Time the start spent restoring the snapshot and replaying the log', () => ((d.recovery?.restoreMs ?? 0) + (d.recovery?.replay.ms ?? 0)) / 1000);
  gauge('hotpath_recovery_dropped_records', 'Log records cut off at a torn or corrupt tail at start (never acknowledged)', () => d.recovery?.replay.droppedRecords ?? 0);
}
