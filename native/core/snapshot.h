// Snapshots of the feature store: a consistent cut of every table, written to a file by a
// background thread while the writer keeps ingesting, and read back into an empty store at
// start. The write-ahead log (src/durability/) records the log sequence the cut stands for;
// restart = the newest snapshot + the log after it.
//
// The cut. StoreSnapshot::Begin runs on the writer thread between two batches: it records
// each table's counters and each shard's scalars (rows in use, free-list head, live count,
// eviction RNG). The background thread then writes the rows out, a block of kSnapBlockRows
// at a time. The writer, before it changes a row (Shard::BeforeRowWrite), looks at the
// row's block: written out already, go on; not yet, copy the row aside first (once; a row
// is a few KB) and go on. The background thread takes a block's rows as they are, replaces
// the rows the writer copied with their copies, and only then marks the block done. So
// every row is captured as it was at the cut, and the writer never waits for the
// background thread: its cost is one row copy per row it changes before that row is
// written out (Stats: writer_copies, max_stall_us). The hash index is not written: it is
// rebuilt from the rows on restore.
//
// Memory ordering. Begin's stores happen before the background thread starts (it is
// started after Begin returns). The writer publishes a row's copy with a release on the
// block's bitmask and a release fence before it changes the row; the background thread
// reads the rows, then an acquire fence and the bitmask: a row whose change it may have
// seen is one whose bit it sees (the shard seqlock's argument). A block's `done` flag is
// stored with release after its copies are consumed.
//
// The file (little-endian), written to `path` and fsynced:
//   "HPSNAP01", u32 format (1), u32 row layout version (constants.h), u32 tables, u32 streams
//   f64 watermark per stream
//   per table: u32 row_bytes, u32 shards, u64 clock, u64 evicted_ttl, u64 evicted_lru,
//     u64 updates, f64 watermark, u32 sweep_shard, u32 sweep_row
//     per shard: u32 cap, u32 rows, u32 free_head, u32 live, u64 rng
//   u32 CRC-32C of the header so far, u32 0
//   blocks, in any order: u32 'BLK1', u32 table, u32 shard, u32 first_row, u32 rows,
//     u32 payload_len, u32 CRC-32C (of the five u32 before it and the payload), u32 0,
//     payload: per row, its 8-byte words that differ from the table's fresh row: a bitmap
//     (one bit per word, u64s) and then those words in order. Empty tiles are the fresh
//     row's, so a row costs about what its events filled.
//   u32 'END1', u32 0, u64 blocks, u64 rows, u32 CRC-32C of the trailer's first 24 bytes, u32 0
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "feature_store.h"
#include "status.h"

namespace hotpath {

constexpr uint32_t kSnapBlockRows = 64;  // one bit per row in a uint64 mask
constexpr uint32_t kSnapFormat = 1;

struct SnapshotStats {
  uint64_t bytes = 0;          // file size
  uint64_t rows = 0;           // rows written (live and free)
  uint64_t live = 0;           // entities
  uint64_t blocks = 0;
  uint64_t writer_copies = 0;  // rows the writer copied aside before changing them
  double max_stall_us = 0;     // the writer's longest time in BeforeRowWrite (one row copy)
  double write_ms = 0;         // the background thread's time, fsync included
};

struct SnapShared;  // what the writer's hooks and the background thread share

class StoreSnapshot {
 public:
  // Writer thread, between batches: the cut. UNAVAILABLE while another snapshot of this
  // store is being written.
  static Status Begin(const std::shared_ptr<Store>& store, std::unique_ptr<StoreSnapshot>* out);
  ~StoreSnapshot();

  // One background thread: encodes every block into path (created or truncated) and
  // fsyncs it. Call once. On an error the remaining blocks are marked done (the writer
  // stops copying) and the file is left for the caller to delete.
  Status Write(const std::string& path);

  // Writer thread, once Write has returned: detaches from the shards. The destructor does
  // it too.
  void End();

  SnapshotStats stats() const;

 private:
  StoreSnapshot() = default;
  std::shared_ptr<Store> store_;
  std::unique_ptr<SnapShared> shared_;
  bool attached_ = false;
};

struct RestoreStats {
  uint64_t bytes = 0, rows = 0, live = 0, blocks = 0;
  double ms = 0;
};

// Reads a snapshot into an empty store (no row ever written). Any thread, while nothing
// else uses the store. INVALID_ARG when the file was made for another layout (row layout
// version, tables, row bytes, shards, or more rows than a shard now holds); INTERNAL
// (with "corrupt") when a checksum fails or the file ends early. On an error the store is
// empty again, so an older snapshot can be tried.
Status RestoreSnapshot(Store& store, const std::string& path, RestoreStats* stats);

// The parts of RestoreSnapshot: the reading (which leaves the store half written on an
// error) and the reset to empty.
Status RestoreInto(Store& store, const std::string& path, RestoreStats* stats);
void ClearStore(Store& store);

}  // namespace hotpath
