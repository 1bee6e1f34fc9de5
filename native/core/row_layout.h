// The byte layout of a store row, compiled once per table from its spec.
//
// A row is a header (id hash, newest event time, last-write clock) followed by the
// aggregate state of every feature, at offsets computed here. Windowed aggregates that
// share a stream and a tile length share one ring of tiles per row ("group"), sized for
// the longest of their windows plus the tiles that max_future spans (so an event from a
// skewed clock does not push live tiles out of the ring); each tile keeps only the
// columns its features need (event count, and per field sum, M2, min, max): the counts
// as one array of uint32 per ring (4 bytes a tile, no padding: a read sums them from a few
// adjacent lines), the columns tile-major (a tile's doubles are adjacent, so an event or a
// read of one tile touches one line), with a bitmap of the tiles that hold events so reads
// skip empty ones. Other aggregates (last, ewm, last_n, distinct) have a state block of their own.
//
// What is written here is what kRowLayoutVersion (constants.h) versions.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "status.h"
#include "store_spec.h"

namespace hotpath {
namespace row {

constexpr int64_t kEmptyEpoch = std::numeric_limits<int64_t>::min();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr uint32_t kHeaderBytes = 24;  // u64 key, f64 newest event time, u64 write clock
constexpr uint32_t kOffKey = 0, kOffLastTs = 8, kOffTouch = 16;
constexpr uint32_t kMaxAcc = 1024;  // read scratch (doubles on the reader's stack)

template <typename T>
inline T& At(uint8_t* row, uint32_t off) {
  return *reinterpret_cast<T*>(row + off);
}
template <typename T>
inline const T& At(const uint8_t* row, uint32_t off) {
  return *reinterpret_cast<const T*>(row + off);
}
inline uint32_t Align8(uint32_t x) { return (x + 7u) & ~7u; }
// Times are checked at the edge (finite, |t| <= 2^53 ms); the clamp keeps the cast defined
// even for a racy or unchecked value.
inline int64_t Epoch(double ts, int64_t tile) {
  const double e = std::floor(ts / double(tile));
  return e > -4e18 && e < 4e18 ? int64_t(e) : 0;
}
inline uint32_t Slot(int64_t e, int n) { return uint32_t(((e % n) + n) % n); }

enum ColKind : uint8_t { kSum, kM2, kMin, kMax };

// The neutral element a tile column starts from (and an empty tile holds).
inline double ColEmpty(ColKind k) { return k == kMin ? kInf : k == kMax ? -kInf : 0; }

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
  uint32_t off_counts;  // uint32[ntiles]: each tile's event count (padded to 8 bytes)
  uint32_t off_tiles;   // ntiles tiles of tile_bytes: a double per column
  uint32_t tile_bytes;
  std::vector<Col> cols;  // M2 columns first (an update reads its field's sum before adding)
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

// Bytes of a non-group aggregate's state block.
uint32_t StateBytes(const Feat& f);

// The in-memory (compact) form of a row. The layout above is the canonical, wire form:
// snapshots, ExportRow/ImportRow and kRowLayoutVersion know only it. In memory a row is
//   header (24 B, as the wire form's) | u32 ext reference, u32 pad |
//   per group: int64 head, u16 epoch[K], u32 count[K], K tiles of tile_bytes (a sparse
//     ring: a slot with count 0 is free; a live slot's epoch is within ntiles of the head,
//     stored in 16 bits and restored relative to the head as the HLL's are) |
//   per other feature: its state block as in the wire form, except distinct: a sparse HLL
//     (int64 head, int64 pruned, S entries of u16 register + its 6-byte Reg; r1 == 0: free).
// When an event needs a ring slot or an HLL entry and none is free, the row is promoted:
// it gets an ext block (feature_store.h) holding the whole row in wire form, and from then
// on every update and read uses that block (the code of the wire form, unchanged), until an
// event that moves its head finds the state small enough again: the row goes back to the
// compact form and the block is freed (Table::TryDemote).
constexpr uint32_t kOffExt = 24;       // u32: ext block reference (index + 1), 0 = none
constexpr uint32_t kMemHeaderBytes = 32;
constexpr int kMaxSparseSlots = 16;    // K: ring slots of a compact group
constexpr int kSparseHllEntries = 16;  // S: entries of a compact distinct

struct CGroup {
  uint32_t off_head, off_ep, off_counts, off_tiles;
  int k;  // slots; == ntiles when the ring is that short (it can then never overflow)
};

struct Layout {
  std::vector<Group> groups;
  std::vector<Calc> calcs;
  uint32_t acc_size = 0;
  std::vector<Feat> feats;
  std::vector<std::vector<int>> stream_groups, stream_feats;  // per stream: what an event updates
  std::vector<uint8_t> fresh;  // the image every new row starts from, and absent entities read
  uint32_t row_bytes = 0;
  int width = 0;  // output vector: one slot per feature, n slots for last_n

  // The compact (in-memory) form: see above.
  std::vector<CGroup> cgroups;    // one per group
  std::vector<Feat> mem_feats;    // feats with `off` at their place in the compact row
  std::vector<uint8_t> mem_fresh; // the compact image of `fresh`
  uint32_t mem_bytes = 0;
  // false: rows are kept in wire form (mem_* are the wire layout's), because the table asked
  // so (compact_slots 0) or its compact row would not be smaller by a quarter.
  bool compact = false;
  bool promote_all = false;       // TableSpec::promote_all (tests): every compact row promoted
  // Per stream, the wire offset of an int64 head an event of the stream may advance (its
  // first group's, else its first distinct's), or UINT32_MAX: a promoted row tries to go
  // back to the compact form when it moves (feature_store.cc, Table::Apply).
  std::vector<uint32_t> stream_head_off;

  // Checks the table's features against the store's streams and lays the row out.
  static Status Compile(const TableSpec& spec, const StoreSpec& store, Layout* out);
};

}  // namespace row
}  // namespace hotpath
