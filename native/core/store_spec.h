// What a feature store is asked to hold: tables of entities, their features, and the
// streams of events that key them. Built by the binding from the config compiler's
// storeSpec (src/config/load.ts), or directly by the C++ tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "constants.h"

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
  bool huge_pages = true;         // Region::Map: transparent huge pages for large regions
  // Ring slots of a compact row (row_layout.h): -1 picks min(ring tiles, 16) and keeps
  // the rows in wire form when that would not save a quarter of their bytes; 0 keeps every
  // row in wire form (the code path of row layout v3 alone); n > 0: at most n slots.
  int compact_slots = -1;
  // Tests: every compact row is promoted at its first event (the ext block's code path).
  bool promote_all = false;
  std::vector<FeatureSpec> features;
};

struct StreamSpec {
  std::string name;
  int nfields = 0;
  int64_t lateness_ms = 0;
  std::vector<int> tables;  // entity tables keyed by this stream, in key-column order (<= kMaxKeyColumns)
};

struct StoreSpec {
  std::vector<TableSpec> tables;
  std::vector<StreamSpec> streams;
  int64_t max_future_ms = 10 * 1000;
};

// X(ENUM, "name", needs_field, windowed) of HP_AGG_LIST, as functions.
constexpr bool AggNeedsField(Agg a) {
  switch (a) {
#define HP_X(e, name, f, w) \
  case Agg::e:              \
    return f;
    HP_AGG_LIST(HP_X)
#undef HP_X
    default:
      return false;
  }
}
constexpr bool AggWindowed(Agg a) {
  switch (a) {
#define HP_X(e, name, f, w) \
  case Agg::e:              \
    return w;
    HP_AGG_LIST(HP_X)
#undef HP_X
    default:
      return false;
  }
}

}  // namespace hotpath
