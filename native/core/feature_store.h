// The feature store: per-entity sliding-window aggregates, updated by one writer thread
// and read by any number of threads.
//
// Layout. A Store holds entity Tables; a Table is split into Shards by the high bits of
// the entity id's 64-bit hash. Each shard owns an open-addressing index (linear probing,
// load factor <= 0.5, backward-shift deletion) from id hash to a row number, and a slab
// of fixed-size rows. Both are reserved once for the shard's capacity (pages are
// committed as rows are first used) and never move or get freed while the table lives,
// so a row is base + index * row_bytes with no pointer to chase. Regions of 2 MiB and
// more are 2 MiB-aligned and advised for transparent huge pages (used where the kernel
// grants them; fewer TLB misses on large tables). A row is a header (id hash, newest event time, last-write clock) followed by the
// aggregate state of every feature, at offsets computed once from the spec.
//
// Windows. Windowed aggregates that share a stream and a tile length share one ring of
// tiles per row ("group"), sized for the longest of their windows plus the tiles that
// max_future spans (so an event from a skewed clock does not push live tiles out of the
// ring); each tile keeps only
// the columns its features need (event count, and per field sum, M2, min, max), stored
// tile-major (a tile's count and columns are adjacent, so an event or a read of one tile
// touches one cache line), with a bitmap of the tiles that hold events so reads skip
// empty ones. A window of W ms with tile T covers the tile holding the read time and
// the W/T - 1 tiles before it, i.e. between W - T and W of event time.
//
// Concurrency. One writer (the thread that ingests) and many readers. Each shard has a
// sequence counter: the writer makes it odd before touching the shard's index or rows and
// even again after (release). A reader loads it (acquire), does its lookup and computes
// the features straight from the row, then re-checks the counter; if it was odd or has
// moved, the reader's output is discarded and it retries. Readers never write shared
// memory, so they never slow the writer; a torn row is never returned. Every index a
// reader derives from shard memory is clamped, so a racy read cannot go out of bounds.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "constants.h"
#include "status.h"

namespace hotpath {

struct FeatureSpec {
  std::string name;
  Agg agg = Agg::COUNT;
  int stream = 0;
  int field = -1;          // value column in the stream's events; -1 for count
  int64_t window_ms = 0;   // windowed aggregates only
  int64_t tile_ms = 0;     // windowed aggregates only
  double param = 0;        // last_n: n; ewm: half-life ms; distinct: HLL precision p
};

struct TableSpec {
  std::string name;
  int64_t ttl_ms = 0;             // 0: never expire
  uint64_t memory_bytes = 64ull << 20;
  int shards = 64;                // rounded down to a power of two
  std::vector<FeatureSpec> features;
};

struct StreamSpec {
  std::string name;
  int nfields = 0;
  int64_t lateness_ms = 0;
  std::vector<int> tables;  // entity tables keyed by this stream, in key-column order
};

struct StoreSpec {
  std::vector<TableSpec> tables;
  std::vector<StreamSpec> streams;
  int64_t max_future_ms = 10 * 1000;
};

struct TableStats {
  uint64_t live = 0;
  uint64_t capacity = 0;
  uint64_t row_bytes = 0;
  uint64_t bytes_per_entity = 0;  // row + its share of the index
  uint64_t allocated_bytes = 0;   // index + rows used so far
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
  // Output vector width: one slot per feature, n slots for last_n.
  int width() const { return width_; }
  int feature_offset(int f) const { return feats_[f].out_off; }
  int feature_width(int f) const { return feats_[f].width; }

  // Writer only. now_ms is the wall clock: TTL is measured against it.
  void Apply(uint64_t key, int stream, double ts, const double* values, double now_ms);
  uint64_t Sweep(double now_ms, uint64_t max_rows);

  // Any thread. Writes width() values to out; returns whether the entity exists and sets
  // *age_ms to now_ms - newest event time (NaN when absent).
  bool Read(uint64_t key, double now_ms, double* out, double* age_ms) const;
  // Writer thread only (the counters are the writer's plain fields).
  TableStats Stats() const;

  // Cache hints for batches (any thread; they read nothing they rely on). A batch loop
  // calls PrefetchSlot a few keys ahead, then PrefetchRow once that slot has arrived:
  // with 1M entities nearly every key misses the cache, and this overlaps the misses.
  void PrefetchSlot(uint64_t key) const;
  void PrefetchRow(uint64_t key, int stream, double ts, const double* values) const;  // stream < 0: a read
  void PrefetchReadState(uint64_t key) const;

 private:
  enum ColKind : uint8_t { kSum, kM2, kMin, kMax };
  struct Col {
    int field;
    ColKind kind;
    uint32_t off;      // within a tile
    uint32_t sum_off;  // M2 columns: the offset of the same field's sum column
  };
  struct Group {
    int stream;
    int64_t tile_ms;
    int ntiles;
    uint32_t off_head;    // int64 newest epoch in the ring, kEmptyEpoch when none
    uint32_t off_bits;    // uint64[ceil(ntiles / 64)]: which tiles hold events
    uint32_t off_tiles;   // ntiles tiles of tile_bytes: uint32 count, pad, double per column
    uint32_t tile_bytes;
    std::vector<Col> cols;
  };
  // One window over one group: the reads of every feature with the same (group, ntiles)
  // share a single pass per column over the ring.
  struct Calc {
    int group, ntiles;
    std::vector<int> cols;  // group columns reduced for this window
    uint32_t acc;           // scratch offset: [count, one value per col]
  };
  struct Feat {
    Agg agg;
    int stream, field, group = -1, ntiles = 0, calc = -1;
    int acc_sum = -1, acc_min = -1, acc_max = -1;  // scratch offsets of this feature's reductions
    int64_t tile_ms = 0;
    uint32_t off = 0;  // state offset for non-group aggregates (and distinct)
    int col_sum = -1, col_m2 = -1, col_min = -1, col_max = -1;
    int hll_p = 0, last_n = 0;
    int keep_tiles = 0;  // distinct: tiles retained, window + max_future
    double half_life = 0;
    uint32_t out_off = 0, width = 1;
  };
  struct IndexSlot {
    uint64_t key;
    uint32_t row1;  // row number + 1; 0 = empty slot
    uint32_t pad;
  };
  // Zeroed anonymous memory, reserved up front and committed page by page on first touch.
  struct Region {
    void* base = nullptr;
    size_t len = 0;
    uint8_t* Map(size_t bytes);  // nullptr on failure
    ~Region();
  };
  struct alignas(64) Shard {
    std::atomic<uint32_t> seq{0};
    uint32_t cap = 0, mask = 0, next_unused = 0, free_head = 0, live = 0;
    IndexSlot* index = nullptr;  // mask + 1 slots
    uint8_t* rows = nullptr;     // cap rows
    Region index_region, rows_region;
    uint64_t rng = 0;
  };

  explicit Table(const TableSpec& spec) : spec_(spec) {}
  Status Layout(const StoreSpec& store);
  Status Allocate();

  // High bits pick the shard (shift 64 = one shard: `key >> 64` would be undefined).
  uint32_t ShardIndex(uint64_t key) const { return shard_shift_ >= 64 ? 0 : uint32_t(key >> shard_shift_); }
  Shard& ShardFor(uint64_t key) { return shards_[ShardIndex(key)]; }
  const Shard& ShardFor(uint64_t key) const { return shards_[ShardIndex(key)]; }
  uint8_t* RowPtr(const Shard& s, uint32_t row) const;
  const uint8_t* FindRow(const Shard& s, uint64_t key) const;
  uint8_t* FindOrInsert(Shard& s, uint64_t key, double now_ms);
  void Remove(Shard& s, uint64_t key, uint32_t row);
  void EvictOne(Shard& s, double now_ms);
  void Compute(const uint8_t* row, double now_ms, double* out) const;
  void UpdateGroup(uint8_t* row, const Group& g, double ts, const double* values) const;
  void UpdateFeat(uint8_t* row, const Feat& f, double ts, const double* values) const;

  TableSpec spec_;
  std::vector<Group> groups_;
  std::vector<Calc> calcs_;
  uint32_t acc_size_ = 0;
  std::vector<Feat> feats_;
  std::vector<std::vector<int>> stream_groups_, stream_feats_;
  std::vector<uint8_t> template_;  // a fresh row
  uint32_t row_bytes_ = 0;
  int width_ = 0;
  int shard_shift_ = 64;
  uint32_t nshards_ = 0;
  std::unique_ptr<Shard[]> shards_;
  uint64_t clock_ = 0;        // writer's logical clock, stamps rows for LRU
  uint64_t evicted_ttl_ = 0, evicted_lru_ = 0, updates_ = 0;
  double watermark_ = 0;
  uint32_t sweep_shard_ = 0, sweep_row_ = 0;
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
  StoreSpec spec_;
  std::vector<std::unique_ptr<Table>> tables_;
  std::vector<double> stream_watermark_;
  uint32_t id_ = 0;
};

}  // namespace hotpath
