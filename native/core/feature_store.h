// The feature store: per-entity sliding-window aggregates, updated by one writer thread
// and read by any number of threads.
//
// A Store holds entity Tables; a Table is split into Shards by the high bits of the
// entity id's 64-bit hash. The pieces, one concern each:
//   store_spec.h    what the store is asked to hold (tables, features, streams)
//   row_layout.h    the layout compiler: a table's row bytes, computed once from its spec
//   windows.h       aggregate updates (tile rings, last, ewm, last_n) and a row's read
//   hll.h           the sliding HyperLogLog of distinct
//   shard_index.h   a shard's hash index, rows, eviction and seqlock
//   region.h        the memory regions the shards live in
// This file ties them together: the write path (Store::Ingest -> Table::Apply), the
// reads (Read, ReadMany), TTL sweeps, stats, and the registry other threads attach by.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "constants.h"
#include "row_layout.h"
#include "shard_index.h"
#include "status.h"
#include "store_spec.h"

namespace hotpath {

class Store;
class StoreSnapshot;  // snapshot.h
struct RestoreStats;

// What ImportRow did with a row.
enum class ImportResult : uint8_t {
  kInserted = 1,  // the entity was absent: the row is now its row
  kPresent = 2,   // the entity was already here: its row is left as it was
};

struct TableStats {
  uint64_t live = 0;
  uint64_t capacity = 0;
  uint64_t row_bytes = 0;         // the wire form's (ExportRow, snapshots)
  uint64_t mem_row_bytes = 0;     // a row in memory (compact form, row_layout.h)
  uint64_t promoted = 0;          // rows with an ext block (wire form, row_bytes each)
  uint64_t bytes_per_entity = 0;  // compact row + its share of the index + the live rows' share of ext blocks
  uint64_t allocated_bytes = 0;   // index + rows used so far + ext blocks used so far
  uint64_t evicted_ttl = 0;
  uint64_t evicted_lru = 0;
  uint64_t updates = 0;
  double watermark_ms = 0;        // newest event time seen by the table
};

class Table {
 public:
  static Status Create(const TableSpec& spec, const StoreSpec& store,
                       std::unique_ptr<Table>* out);
  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  const TableSpec& spec() const { return spec_; }
  const row::Layout& layout() const { return layout_; }
  // Output vector width: one slot per feature, n slots for last_n.
  int width() const { return layout_.width; }
  int feature_offset(int f) const { return int(layout_.feats[f].out_off); }
  int feature_width(int f) const { return int(layout_.feats[f].width); }

  // Writer only. now_ms is the wall clock: TTL is measured against it.
  void Apply(uint64_t key, int stream, double ts, const double* values, double now_ms);
  uint64_t Sweep(double now_ms, uint64_t max_rows);

  // The online store (src/redis/online-store.ts) moves whole rows between stores of the
  // same layout (the caller checks it: layout CRC), as bytes of layout().row_bytes.
  // ExportRow, any thread: copies key's row into out, consistently (under the shard's
  // seqlock, retried like Read); false when the entity is absent (out is then unchanged).
  bool ExportRow(uint64_t key, uint8_t* out) const;
  // ImportRow, writer only: inserts `row` as key's row when the entity is absent (a full
  // shard evicts one row first, as Apply does), stamped for the LRU as just written;
  // leaves a present entity's row as it is. Allocates nothing beyond the insertion.
  ImportResult ImportRow(uint64_t key, const uint8_t* row, double now_ms);

  // Any thread. Writes width() values to out; returns whether the entity exists and sets
  // *age_ms to now_ms - newest event time (NaN when absent).
  bool Read(uint64_t key, double now_ms, double* out, double* age_ms) const;
  // Any thread. Whether the entity exists, without computing its features: the index
  // lookup of Read, under the same seqlock (a writer may be moving slots).
  bool Contains(uint64_t key) const;
  // Any thread. Read for n keys, out n x width(), ages n; returns how many exist. Runs the
  // prefetch pipeline below over the batch, so that the cache misses of later keys
  // overlap the reads of earlier ones.
  uint32_t ReadMany(const uint64_t* keys, size_t n, double now_ms, double* out, double* ages) const;
  // Writer thread only (the counters are the writer's plain fields).
  TableStats Stats() const;

  // Any thread (racy reads stay in bounds; the seqlock decides whether they count): the
  // wire form of the compact row `row` of shard s, into out (layout().row_bytes).
  void WireRow(const Shard& s, const uint8_t* row, uint8_t* out) const;
  // Writer only: the compact form of the wire row into mem (a row of shard s, its ext
  // block freed by the caller already); a row that does not fit is promoted, evicting
  // another promoted row when the budget's ext blocks are all in use (restoring: past the
  // budget instead, as the snapshot's rows are).
  void SetFromWire(Shard& s, uint8_t* mem, const uint8_t* wire, bool restoring = false);

  // Cache hints for batches (any thread; they read nothing they rely on). A batch loop
  // calls PrefetchSlot a few keys ahead, then PrefetchRow once that slot has arrived:
  // with 1M entities nearly every key misses the cache, and this overlaps the misses.
  void PrefetchSlot(uint64_t key) const;
  void PrefetchRow(uint64_t key, int stream, double ts, const double* values) const;  // stream < 0: a read
  void PrefetchReadState(uint64_t key) const;
  // The lines a read of this row walks: every state block, and the ring tiles that hold events.
  void PrefetchReadLines(const uint8_t* row) const;

 private:
  friend class StoreSnapshot;  // the cut reads, and restore sets, the writer's fields
  friend Status RestoreSnapshot(Store& store, const std::string& path, RestoreStats* stats);
  friend Status RestoreInto(Store& store, const std::string& path, RestoreStats* stats);
  friend void ClearStore(Store& store);
  explicit Table(const TableSpec& spec) : spec_(spec) {}
  Status Allocate();
  // Read, with or without PrefetchReadLines on the row first (ReadMany prefetches ahead).
  bool ReadOne(uint64_t key, double now_ms, double* out, double* age_ms, bool prefetch) const;
  // Writer only: gives a compact row an ext block holding its wire form; returns the block.
  uint8_t* Promote(Shard& s, uint8_t* row);
  // Writer only: a new ext block for `row`, evicting another promoted row when the
  // budget's blocks are all in use.
  uint32_t NewExtEvicting(Shard& s, const uint8_t* row);
  // Writer only: a promoted row whose state fits the compact form again goes back to it
  // (its ext block freed). Tried when an event moves the row's head (once a tile).
  void TryDemote(Shard& s, uint8_t* row, const uint8_t* ext);
  // The prefetches of a row in wire form (a row of a table that keeps them so, or an ext block).
  void PrefetchWire(const uint8_t* row, int stream, double ts, const double* values) const;
  void PrefetchWireReadLines(const uint8_t* row) const;

  // High bits pick the shard (shift 64 = one shard: `key >> 64` would be undefined).
  uint32_t ShardIndex(uint64_t key) const { return shard_shift_ >= 64 ? 0 : uint32_t(key >> shard_shift_); }
  Shard& ShardFor(uint64_t key) { return shards_[ShardIndex(key)]; }
  const Shard& ShardFor(uint64_t key) const { return shards_[ShardIndex(key)]; }

  TableSpec spec_;
  row::Layout layout_;
  int shard_shift_ = 64;
  uint32_t nshards_ = 0;
  std::unique_ptr<Shard[]> shards_;
  uint64_t clock_ = 0;  // writer's logical clock, stamps rows for LRU
  EvictCounts evicted_;
  uint64_t updates_ = 0;
  double watermark_ = 0;
  uint32_t sweep_shard_ = 0, sweep_row_ = 0;
  std::vector<uint8_t> demote_scratch_;  // writer only: layout_.mem_bytes
};

struct IngestResult {
  uint64_t accepted = 0;
  uint64_t late = 0;  // older than the stream's watermark minus its allowed lateness
};

class Store {
 public:
  static Status Create(const StoreSpec& spec, std::shared_ptr<Store>* out);

  const StoreSpec& spec() const { return spec_; }
  int table_count() const { return int(tables_.size()); }
  Table& table(int i) { return *tables_[i]; }
  const Table& table(int i) const { return *tables_[i]; }

  // Writer only. keys[k][i] is event i's id hash for the stream's k-th table. The whole
  // batch is validated before any event is applied: an invalid batch changes nothing.
  Status Ingest(int stream, size_t n, const uint64_t* const* keys, const double* ts,
                const double* values, double now_ms, IngestResult* result);
  uint64_t Sweep(double now_ms, uint64_t max_rows_per_table);

  // Lifetime registry so that other threads (worker_threads with their own addon
  // instance) can attach to a store by id. Not on any hot path.
  uint32_t id() const { return id_; }
  static std::shared_ptr<Store> Lookup(uint32_t id);
  ~Store();

 private:
  friend class StoreSnapshot;
  friend Status RestoreSnapshot(Store& store, const std::string& path, RestoreStats* stats);
  friend Status RestoreInto(Store& store, const std::string& path, RestoreStats* stats);
  friend void ClearStore(Store& store);
  StoreSpec spec_;
  std::vector<std::unique_ptr<Table>> tables_;
  std::atomic<bool> snapshotting_{false};  // one snapshot at a time
  std::vector<double> stream_watermark_;
  uint32_t id_ = 0;
};

}  // namespace hotpath
