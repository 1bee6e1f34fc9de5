#include "feature_store.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <unordered_map>

#include <sys/mman.h>

#include "hash.h"

namespace hotpath {
namespace {

constexpr int64_t kEmptyEpoch = std::numeric_limits<int64_t>::min();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr uint32_t kHeaderBytes = 24;  // u64 key, f64 newest event time, u64 write clock
constexpr uint32_t kOffKey = 0, kOffLastTs = 8, kOffTouch = 16;
constexpr uint32_t kMaxAcc = 1024;         // read scratch (doubles on the reader's stack)

// 2^-r for HyperLogLog ranks 0..64.
struct Pow2Neg {
  double v[65];
  Pow2Neg() {
    for (int r = 0; r <= 64; r++) v[r] = std::ldexp(1.0, -r);
  }
};
const Pow2Neg kPow2Neg;

// Calls f(slot) for each occupied ring slot of epochs lo..hi (at most n of them): the
// range is at most two contiguous slot segments, walked 64 slots at a time through the
// occupancy bitmap, so empty tiles cost nothing and no tile needs a division.
template <typename F>
inline void ForOccupied(const uint64_t* bits, int64_t lo, int64_t hi, int n, F&& f) {
  if (hi < lo) return;
  const uint32_t len = uint32_t(std::min<int64_t>(hi - lo + 1, n));
  const uint32_t s0 = uint32_t(((lo % n) + n) % n);
  const uint32_t first = std::min<uint32_t>(len, uint32_t(n) - s0);
  auto segment = [&](uint32_t a, uint32_t b) {  // slots [a, b)
    for (uint32_t w = a / 64; w * 64 < b; w++) {
      uint64_t word = bits[w];
      const uint32_t base = w * 64;
      if (base < a) word &= ~uint64_t(0) << (a - base);
      if (b - base < 64) word &= (uint64_t(1) << (b - base)) - 1;
      while (word) {
        f(base + uint32_t(__builtin_ctzll(word)));
        word &= word - 1;
      }
    }
  };
  segment(s0, s0 + first);
  if (first < len) segment(0u, len - first);
}

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
inline uint64_t NextPow2(uint64_t x) {
  uint64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

bool NeedsField(Agg a) {
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
bool Windowed(Agg a) {
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

// Distinct-count state: a sliding HyperLogLog. Each register keeps up to two
// (rank, tile epoch) entries from the "list of future possible maxima" of Chabchoub &
// Hebrail's sliding HLL: the largest rank seen in the window and the largest one seen
// after it. Truncating the list to two makes the estimate a slight underestimate right
// after a register's maximum expires; docs/config.md states the measured error.
struct HllReg {  // one register: its two entries, packed so an update touches one line
  uint16_t e1, e2;
  uint8_t r1, r2;
};
static_assert(sizeof(HllReg) == 6, "HLL register is 6 bytes");
// State: newest epoch seen, the epoch of the last full expiry pass, then the registers.
struct HllView {
  int64_t* head;
  int64_t* pruned;
  HllReg* reg;
  explicit HllView(uint8_t* base)
      : head(reinterpret_cast<int64_t*>(base)),
        pruned(reinterpret_cast<int64_t*>(base + 8)),
        reg(reinterpret_cast<HllReg*>(base + 16)) {}
};
inline uint32_t HllBytes(int p) { return Align8(16 + (1u << p) * 6u); }
inline int64_t FullEpoch(int64_t head, uint16_t e16) {
  return head - int64_t(uint16_t(uint16_t(head) - e16));
}

std::mutex g_registry_mu;
std::unordered_map<uint32_t, std::weak_ptr<Store>>& Registry() {
  static auto* m = new std::unordered_map<uint32_t, std::weak_ptr<Store>>();
  return *m;
}
std::atomic<uint32_t> g_next_store_id{1};

double HllEstimate(const uint8_t* ranks, int p) {
  const int m = 1 << p;
  double z = 0;
  int zeros = 0;
  for (int i = 0; i < m; i++) {
    z += kPow2Neg.v[ranks[i] & 63];
    zeros += ranks[i] == 0;
  }
  if (zeros == m) return 0;
  double alpha = m == 16 ? 0.673 : m == 32 ? 0.697 : m == 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
  double e = alpha * m * m / z;
  if (e <= 2.5 * m && zeros > 0) e = m * std::log(double(m) / zeros);
  return std::round(e);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Table construction

Status Table::Create(const TableSpec& spec, const StoreSpec& store,
                     std::unique_ptr<Table>* out) {
  std::unique_ptr<Table> t(new Table(spec));
  HP_RETURN_IF_ERROR(t->Layout(store));
  HP_RETURN_IF_ERROR(t->Allocate());
  *out = std::move(t);
  return Status::Ok();
}

Status Table::Layout(const StoreSpec& store) {
  const std::string where = "table '" + spec_.name + "': ";
  if (spec_.features.size() > size_t(kMaxFeaturesPerTable))
    return Status::InvalidArg(where + "too many features");
  if (spec_.ttl_ms < 0) return Status::InvalidArg(where + "ttl must be >= 0");
  stream_groups_.assign(store.streams.size(), {});
  stream_feats_.assign(store.streams.size(), {});

  for (const FeatureSpec& fs : spec_.features) {
    const std::string fw = where + "feature '" + fs.name + "': ";
    if (uint8_t(fs.agg) >= uint8_t(Agg::kCount)) return Status::InvalidArg(fw + "unknown aggregate");
    if (fs.stream < 0 || size_t(fs.stream) >= store.streams.size())
      return Status::InvalidArg(fw + "unknown stream");
    const StreamSpec& st = store.streams[fs.stream];
    if (NeedsField(fs.agg) ? (fs.field < 0 || fs.field >= st.nfields) : fs.field != -1)
      return Status::InvalidArg(fw + "bad field index");
    Feat f;
    f.agg = fs.agg;
    f.stream = fs.stream;
    f.field = fs.field;
    if (Windowed(fs.agg)) {
      if (fs.tile_ms <= 0 || fs.window_ms < fs.tile_ms || fs.window_ms % fs.tile_ms != 0)
        return Status::InvalidArg(fw + "window must be a positive multiple of the tile");
      int64_t nt = fs.window_ms / fs.tile_ms;
      if (nt > kMaxTilesPerWindow) return Status::InvalidArg(fw + "too many tiles in window");
      f.ntiles = int(nt);
      f.tile_ms = fs.tile_ms;
    }
    if (fs.agg == Agg::LAST_N) {
      f.last_n = int(fs.param);
      if (f.last_n < 1 || f.last_n > kMaxLastN) return Status::InvalidArg(fw + "bad n");
      f.width = uint32_t(f.last_n);
    }
    if (fs.agg == Agg::EWM) {
      f.half_life = fs.param;
      if (!(f.half_life > 0) || !std::isfinite(f.half_life))
        return Status::InvalidArg(fw + "half-life must be > 0");
    }
    if (fs.agg == Agg::DISTINCT) {
      f.hll_p = int(fs.param);
      if (f.hll_p < kMinHllPrecision || f.hll_p > kMaxHllPrecision)
        return Status::InvalidArg(fw + "bad HLL precision");
    }
    if (Windowed(fs.agg) && fs.agg != Agg::DISTINCT) {
      int gi = -1;
      for (size_t i = 0; i < groups_.size(); i++)
        if (groups_[i].stream == f.stream && groups_[i].tile_ms == f.tile_ms) gi = int(i);
      if (gi < 0) {
        groups_.push_back(Group{f.stream, f.tile_ms, 0, 0, 0, 0, 0, {}});
        gi = int(groups_.size() - 1);
        stream_groups_[f.stream].push_back(gi);
      }
      Group& g = groups_[gi];
      g.ntiles = std::max(g.ntiles, f.ntiles);
      auto col = [&](ColKind k) {
        for (size_t i = 0; i < g.cols.size(); i++)
          if (g.cols[i].field == f.field && g.cols[i].kind == k) return;
        g.cols.push_back(Col{f.field, k, 0, 0});
      };
      if (f.agg == Agg::SUM || f.agg == Agg::MEAN || f.agg == Agg::STDDEV) col(kSum);
      if (f.agg == Agg::STDDEV) col(kM2);
      if (f.agg == Agg::MIN) col(kMin);
      if (f.agg == Agg::MAX) col(kMax);
      f.group = gi;
    }
    feats_.push_back(f);
  }

  // Rings also hold the tiles that max_future spans: an accepted event from a clock that
  // runs ahead must not push tiles that are still inside a window out of the ring.
  // In int64 throughout: a large max_future with a small tile must be refused, not wrap.
  auto future_tiles = [&](int64_t tile) { return store.max_future_ms / tile + (store.max_future_ms % tile != 0); };
  constexpr int64_t kMaxRing = kMaxTilesPerWindow + 64;  // HLL epochs are 16-bit: keep well below 2^15
  for (Group& g : groups_) {
    const int64_t total = int64_t(g.ntiles) + future_tiles(g.tile_ms);
    if (total > kMaxRing) return Status::InvalidArg(where + "window plus max_future spans too many tiles");
    g.ntiles = int(total);
  }
  for (Feat& f : feats_) {
    if (f.agg != Agg::DISTINCT) continue;
    const int64_t keep = int64_t(f.ntiles) + future_tiles(f.tile_ms);
    if (keep > kMaxRing) return Status::InvalidArg(where + "window plus max_future spans too many tiles");
    f.keep_tiles = int(keep);
  }

  // Offsets. Columns are column-major arrays of ntiles; M2 columns are updated first,
  // while their field's sum still holds the value before the event.
  uint32_t off = kHeaderBytes;
  for (Group& g : groups_) {
    std::stable_sort(g.cols.begin(), g.cols.end(),
                     [](const Col& a, const Col& b) { return a.kind == kM2 && b.kind != kM2; });
    g.off_head = off;
    off += 8;
    g.off_bits = off;
    off += 8u * uint32_t((g.ntiles + 63) / 64);
    g.tile_bytes = 8;  // uint32 count + pad
    for (Col& c : g.cols) {
      c.off = g.tile_bytes;
      g.tile_bytes += 8;
    }
    for (Col& c : g.cols)  // STDDEV added its field's sum column along with the M2 one
      if (c.kind == kM2)
        for (const Col& s : g.cols)
          if (s.kind == kSum && s.field == c.field) c.sum_off = s.off;
    g.off_tiles = off;
    off += g.tile_bytes * uint32_t(g.ntiles);
  }
  for (Feat& f : feats_) {
    if (f.group >= 0) {
      const Group& g = groups_[f.group];
      for (size_t i = 0; i < g.cols.size(); i++) {
        if (g.cols[i].field != f.field) continue;
        if (g.cols[i].kind == kSum) f.col_sum = int(i);
        if (g.cols[i].kind == kM2) f.col_m2 = int(i);
        if (g.cols[i].kind == kMin) f.col_min = int(i);
        if (g.cols[i].kind == kMax) f.col_max = int(i);
      }
      continue;
    }
    f.off = off;
    switch (f.agg) {
      case Agg::LAST: off += 16; break;
      case Agg::EWM: off += 24; break;
      case Agg::LAST_N: off += 8 + 16u * uint32_t(f.last_n); break;
      case Agg::DISTINCT: off += HllBytes(f.hll_p); break;
      default: return Status::Internal("unplaced aggregate");
    }
    stream_feats_[f.stream].push_back(int(&f - feats_.data()));
  }
  row_bytes_ = Align8(off);

  // Read plan: one Calc per distinct (group, window length).
  for (Feat& f : feats_) {
    if (f.group < 0) continue;
    int ci = -1;
    for (size_t i = 0; i < calcs_.size(); i++)
      if (calcs_[i].group == f.group && calcs_[i].ntiles == f.ntiles) ci = int(i);
    if (ci < 0) {
      calcs_.push_back(Calc{f.group, f.ntiles, {}, 0});
      ci = int(calcs_.size() - 1);
    }
    f.calc = ci;
    for (int col : {f.col_sum, f.col_min, f.col_max}) {
      std::vector<int>& cols = calcs_[ci].cols;
      if (col >= 0 && std::find(cols.begin(), cols.end(), col) == cols.end()) cols.push_back(col);
    }
  }
  for (Calc& c : calcs_) {
    c.acc = acc_size_;
    acc_size_ += 1 + uint32_t(c.cols.size());
  }
  if (acc_size_ > kMaxAcc) return Status::InvalidArg(where + "too many windowed aggregates");
  for (Feat& f : feats_) {
    if (f.calc < 0) continue;
    const Calc& c = calcs_[f.calc];
    auto at = [&](int col) {
      if (col < 0) return -1;
      return int(c.acc + 1 + (std::find(c.cols.begin(), c.cols.end(), col) - c.cols.begin()));
    };
    f.acc_sum = at(f.col_sum);
    f.acc_min = at(f.col_min);
    f.acc_max = at(f.col_max);
  }

  uint32_t out = 0;
  for (Feat& f : feats_) {
    f.out_off = out;
    out += f.width;
  }
  width_ = int(out);

  // The fresh-row image every new row starts from, and the one absent entities read.
  template_.assign(row_bytes_, 0);
  uint8_t* r = template_.data();
  At<double>(r, kOffLastTs) = -kInf;
  for (const Group& g : groups_) {
    At<int64_t>(r, g.off_head) = kEmptyEpoch;
    for (int i = 0; i < g.ntiles; i++)
      for (const Col& c : g.cols)
        At<double>(r, g.off_tiles + uint32_t(i) * g.tile_bytes + c.off) = c.kind == kMin ? kInf : c.kind == kMax ? -kInf : 0;
  }
  for (const Feat& f : feats_) {
    if (f.group >= 0) continue;
    if (f.agg == Agg::LAST) {
      At<double>(r, f.off) = -kInf;
      At<double>(r, f.off + 8) = kNaN;
    } else if (f.agg == Agg::EWM) {
      At<double>(r, f.off) = -kInf;
    } else if (f.agg == Agg::DISTINCT) {
      At<int64_t>(r, f.off) = kEmptyEpoch;
      At<int64_t>(r, f.off + 8) = kEmptyEpoch;
    }
  }
  return Status::Ok();
}

Status Table::Allocate() {
  // The budget covers the index and the rows: per shard, pick the index size (a power of
  // two, load <= 0.5) and the row count that fit its share; rows are only ever used up
  // to that capacity, so nothing beyond the budget is touched.
  const uint64_t per_entity = row_bytes_ + 2 * sizeof(IndexSlot);
  const std::string too_small = "table '" + spec_.name + "': memory budget is smaller than one entity (" +
                                std::to_string(per_entity) + " bytes)";
  if (spec_.memory_bytes < per_entity) return Status::InvalidArg(too_small);
  uint64_t ns = 1;
  int bits = 0;
  while (ns * 2 <= uint64_t(std::max(spec_.shards, 1)) && ns * 2 <= spec_.memory_bytes / per_entity) {
    ns *= 2;
    bits++;
  }
  const uint64_t share = spec_.memory_bytes / ns;
  uint64_t cap = 0, slots = 0;
  const uint64_t ideal = NextPow2(std::max<uint64_t>(2, 2 * (share / per_entity)));
  for (uint64_t cand : {ideal, ideal / 2, ideal / 4}) {
    if (cand < 2 || cand * sizeof(IndexSlot) >= share) continue;
    const uint64_t c = std::min(cand / 2, (share - cand * sizeof(IndexSlot)) / row_bytes_);
    if (c > cap) {
      cap = c;
      slots = cand;
    }
  }
  if (cap == 0) return Status::InvalidArg(too_small);
  if (cap > (uint64_t(1) << 30)) return Status::InvalidArg("table '" + spec_.name + "': more than 2^30 entities per shard; use more shards");
  nshards_ = uint32_t(ns);
  shard_shift_ = bits == 0 ? 64 : 64 - bits;
  shards_.reset(new Shard[ns]);
  for (uint64_t i = 0; i < ns; i++) {
    Shard& s = shards_[i];
    s.cap = uint32_t(cap);
    s.mask = uint32_t(slots - 1);
    s.index = reinterpret_cast<IndexSlot*>(s.index_region.Map(slots * sizeof(IndexSlot)));
    s.rows = s.rows_region.Map(cap * row_bytes_);
    if (!s.index || !s.rows) return Status::Exhausted("table '" + spec_.name + "': cannot reserve memory");
    s.rng = Mix64(i + 0x1234567ull);
  }
  return Status::Ok();
}

uint8_t* Table::Region::Map(size_t bytes) {
  constexpr size_t kHuge = size_t(2) << 20;
  const bool huge = bytes >= kHuge;
  len = bytes + (huge ? kHuge : 0);  // room to start on a 2 MiB boundary
  base = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    base = nullptr;
    return nullptr;
  }
  uint8_t* p = static_cast<uint8_t*>(base);
  if (huge) {
    p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~uintptr_t(kHuge - 1));
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
  }
  return p;
}

Table::Region::~Region() {
  if (base) munmap(base, len);
}

Table::~Table() = default;

// ---------------------------------------------------------------------------------------
// Index and rows

uint8_t* Table::RowPtr(const Shard& s, uint32_t row) const {
  return row < s.cap ? s.rows + size_t(row) * row_bytes_ : nullptr;
}

const uint8_t* Table::FindRow(const Shard& s, uint64_t key) const {
  uint32_t i = uint32_t(key) & s.mask;
  for (uint32_t probe = 0; probe <= s.mask; probe++) {
    const IndexSlot& sl = s.index[i];
    if (sl.row1 == 0) return nullptr;
    if (sl.key == key) return RowPtr(s, sl.row1 - 1);
    i = (i + 1) & s.mask;
  }
  return nullptr;
}

uint8_t* Table::FindOrInsert(Shard& s, uint64_t key, double now_ms) {
  uint32_t i = uint32_t(key) & s.mask;
  for (;;) {
    const IndexSlot& sl = s.index[i];
    if (sl.row1 == 0) break;
    if (sl.key == key) return RowPtr(s, sl.row1 - 1);
    i = (i + 1) & s.mask;
  }
  if (s.live >= s.cap) {
    EvictOne(s, now_ms);
    i = uint32_t(key) & s.mask;  // eviction may have shifted entries
    while (s.index[i].row1 != 0) i = (i + 1) & s.mask;
  }
  uint32_t row;
  if (s.free_head != 0) {
    row = s.free_head - 1;
    s.free_head = At<uint32_t>(RowPtr(s, row), kOffKey);
  } else {
    row = s.next_unused++;
  }
  uint8_t* p = RowPtr(s, row);
  std::memcpy(p, template_.data(), row_bytes_);
  At<uint64_t>(p, kOffKey) = key;
  s.index[i] = IndexSlot{key, row + 1, 0};
  s.live++;
  return p;
}

void Table::Remove(Shard& s, uint64_t key, uint32_t row) {
  uint32_t i = uint32_t(key) & s.mask;
  while (!(s.index[i].row1 == row + 1)) {
    if (s.index[i].row1 == 0) return;
    i = (i + 1) & s.mask;
  }
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & s.mask;
    if (s.index[j].row1 == 0) break;
    const uint32_t home = uint32_t(s.index[j].key) & s.mask;
    const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
    if (!stays) {
      s.index[i] = s.index[j];
      i = j;
    }
  }
  s.index[i] = IndexSlot{0, 0, 0};
  uint8_t* p = RowPtr(s, row);
  At<uint64_t>(p, kOffTouch) = 0;  // dead rows have clock 0
  At<uint32_t>(p, kOffKey) = s.free_head;
  s.free_head = row + 1;
  s.live--;
}

// At the shard's budget: sample live rows (as Redis' approximate LRU does) and evict one
// whose TTL has run out, else the least recently written one.
void Table::EvictOne(Shard& s, double now_ms) {
  uint32_t best = UINT32_MAX;
  uint64_t best_touch = UINT64_MAX;
  bool best_expired = false;
  const double expire_before = spec_.ttl_ms > 0 ? now_ms - double(spec_.ttl_ms) : -kInf;
  int seen = 0;
  for (int tries = 0; tries < 64 && seen < 8; tries++) {
    s.rng = Mix64(s.rng + 0x9e3779b97f4a7c15ull);
    const uint32_t r = uint32_t(s.rng % s.next_unused);
    const uint8_t* p = RowPtr(s, r);
    const uint64_t touch = At<uint64_t>(p, kOffTouch);
    if (touch == 0) continue;
    seen++;
    const bool expired = At<double>(p, kOffLastTs) < expire_before;
    if ((expired && !best_expired) || (expired == best_expired && touch < best_touch)) {
      best = r;
      best_touch = touch;
      best_expired = expired;
    }
  }
  if (best == UINT32_MAX) {  // unlucky sampling: fall back to a scan
    for (uint32_t r = 0; r < s.next_unused; r++) {
      const uint8_t* p = RowPtr(s, r);
      const uint64_t touch = At<uint64_t>(p, kOffTouch);
      if (touch != 0 && touch < best_touch) {
        best = r;
        best_touch = touch;
        best_expired = At<double>(p, kOffLastTs) < expire_before;
      }
    }
  }
  if (best == UINT32_MAX) return;
  Remove(s, At<uint64_t>(RowPtr(s, best), kOffKey), best);
  (best_expired ? evicted_ttl_ : evicted_lru_)++;
}

// ---------------------------------------------------------------------------------------
// Writes

void Table::UpdateGroup(uint8_t* row, const Group& g, double ts, const double* values) const {
  const int64_t e = Epoch(ts, g.tile_ms);
  int64_t& head = At<int64_t>(row, g.off_head);
  const int n = g.ntiles;
  uint64_t* bits = reinterpret_cast<uint64_t*>(row + g.off_bits);
  auto clear = [&](uint32_t slot) {
    bits[slot / 64] &= ~(uint64_t(1) << (slot % 64));
    uint8_t* tile = row + g.off_tiles + slot * g.tile_bytes;
    At<uint32_t>(tile, 0) = 0;
    for (const Col& c : g.cols) At<double>(tile, c.off) = c.kind == kMin ? kInf : c.kind == kMax ? -kInf : 0;
  };
  if (head == kEmptyEpoch) {
    head = e;
  } else if (e > head) {
    const int64_t adv = e - head;
    if (adv >= n) {
      for (int s = 0; s < n; s++) clear(uint32_t(s));
    } else {
      for (int64_t k = 1; k <= adv; k++) clear(Slot(head + k, n));
    }
    head = e;
  } else if (e <= head - n) {
    return;  // older than anything this ring still holds
  }
  const uint32_t slot = Slot(e, n);
  bits[slot / 64] |= uint64_t(1) << (slot % 64);
  uint8_t* tile = row + g.off_tiles + slot * g.tile_bytes;
  uint32_t& count = At<uint32_t>(tile, 0);
  const uint32_t n0 = count;
  count = n0 + 1;
  for (const Col& c : g.cols) {
    double& v = At<double>(tile, c.off);
    const double x = values[c.field];
    switch (c.kind) {
      case kM2: {  // Welford, using the tile's sum before this event (M2 columns come first)
        if (n0 > 0) {
          const double s0 = At<double>(tile, c.sum_off);
          const double mean0 = s0 / n0, mean1 = (s0 + x) / (n0 + 1);
          v += (x - mean0) * (x - mean1);
        }
        break;
      }
      case kSum: v += x; break;
      case kMin: v = std::min(v, x); break;
      case kMax: v = std::max(v, x); break;
    }
  }
}

void Table::UpdateFeat(uint8_t* row, const Feat& f, double ts, const double* values) const {
  const double x = values[f.field];
  switch (f.agg) {
    case Agg::LAST: {
      double& t = At<double>(row, f.off);
      if (ts >= t) {
        t = ts;
        At<double>(row, f.off + 8) = x;
      }
      break;
    }
    case Agg::EWM: {
      // Value = sum(x_i w_i) / sum(w_i), w_i = 2^((t_i - t_ref) / half_life): order
      // independent, so late events fold in with their own (smaller) weight.
      double& tref = At<double>(row, f.off);
      double& s = At<double>(row, f.off + 8);
      double& w = At<double>(row, f.off + 16);
      if (tref == -kInf) {
        tref = ts;
        s = x;
        w = 1;
      } else if (ts >= tref) {
        const double d = std::exp2(-(ts - tref) / f.half_life);
        s = s * d + x;
        w = w * d + 1;
        tref = ts;
      } else {
        const double d = std::exp2(-(tref - ts) / f.half_life);
        s += x * d;
        w += d;
      }
      break;
    }
    case Agg::LAST_N: {
      // Kept sorted by event time, oldest first; equal times keep arrival order.
      uint32_t& len = At<uint32_t>(row, f.off);
      double* tv = reinterpret_cast<double*>(row + f.off + 8);
      double* xv = tv + f.last_n;
      const uint32_t n = uint32_t(f.last_n);
      if (len == n) {
        if (ts < tv[0]) break;
        std::memmove(tv, tv + 1, 8 * (n - 1));
        std::memmove(xv, xv + 1, 8 * (n - 1));
        len--;
      }
      uint32_t pos = len;
      while (pos > 0 && tv[pos - 1] > ts) {
        tv[pos] = tv[pos - 1];
        xv[pos] = xv[pos - 1];
        pos--;
      }
      tv[pos] = ts;
      xv[pos] = x;
      len++;
      break;
    }
    case Agg::DISTINCT: {
      const int m = 1 << f.hll_p;
      HllView h(row + f.off);
      const int64_t e = Epoch(ts, f.tile_ms);
      const int n = f.keep_tiles;
      if (*h.head == kEmptyEpoch) {
        *h.head = e;
        *h.pruned = e;
      } else if (e > *h.head) {
        // Expired entries are ignored where they are read; a full pass that drops them
        // runs only once the head has moved n tiles past the last pass. Every stored
        // epoch then stays within 2n - 2 tiles of the head, so its 16-bit form never
        // aliases (n <= 16384 + 64), at a fraction of a pass per tile advance.
        if (e - *h.pruned >= n) {
          const int64_t old = *h.head, lo = e - n + 1;
          for (int i = 0; i < m; i++) {
            HllReg& g = h.reg[i];
            if (g.r2 && FullEpoch(old, g.e2) < lo) g.r2 = 0;
            if (g.r1 && FullEpoch(old, g.e1) < lo) {
              g.r1 = g.r2;
              g.e1 = g.e2;
              g.r2 = 0;
            }
          }
          *h.pruned = e;
        }
        *h.head = e;
      } else if (e <= *h.head - n) {
        break;
      }
      const uint64_t hv = HashDouble(x);
      const uint32_t reg = uint32_t(hv >> (64 - f.hll_p));
      const uint64_t w = hv << f.hll_p;
      const uint8_t rank = uint8_t(w == 0 ? 64 - f.hll_p + 1 : __builtin_clzll(w) + 1);
      struct E {
        uint8_t r;
        int64_t e;
      } c[3];
      int k = 0;
      HllReg& rg = h.reg[reg];
      const int64_t live_from = *h.head - n + 1;  // older entries have expired
      if (rg.r1 && FullEpoch(*h.head, rg.e1) >= live_from) c[k++] = {rg.r1, FullEpoch(*h.head, rg.e1)};
      if (rg.r2 && FullEpoch(*h.head, rg.e2) >= live_from) c[k++] = {rg.r2, FullEpoch(*h.head, rg.e2)};
      c[k++] = {rank, e};
      // Keep the Pareto front (no other entry both ranks >= and is at least as new),
      // highest rank first, then its two best.
      std::sort(c, c + k, [](const E& a, const E& b) { return a.r != b.r ? a.r > b.r : a.e > b.e; });
      E front[3];
      int nf = 0;
      for (int i = 0; i < k; i++)
        if (nf == 0 || c[i].e > front[nf - 1].e) front[nf++] = c[i];
      rg.r1 = front[0].r;
      rg.e1 = uint16_t(front[0].e);
      rg.r2 = nf > 1 ? front[1].r : 0;
      rg.e2 = nf > 1 ? uint16_t(front[1].e) : 0;
      break;
    }
    default:
      break;
  }
}

void Table::Apply(uint64_t key, int stream, double ts, const double* values, double now_ms) {
  Shard& s = ShardFor(key);
  const uint32_t seq = s.seq.load(std::memory_order_relaxed);
  s.seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  uint8_t* row = FindOrInsert(s, key, now_ms);
  if (row) {
    double& last = At<double>(row, kOffLastTs);
    if (ts > last) last = ts;
    At<uint64_t>(row, kOffTouch) = ++clock_;
    for (int gi : stream_groups_[stream]) UpdateGroup(row, groups_[gi], ts, values);
    for (int fi : stream_feats_[stream]) UpdateFeat(row, feats_[fi], ts, values);
  }
  s.seq.store(seq + 2, std::memory_order_release);
  if (ts > watermark_) watermark_ = ts;
  updates_++;
}

uint64_t Table::Sweep(double now_ms, uint64_t max_rows) {
  if (spec_.ttl_ms <= 0) return 0;
  const double expire_before = now_ms - double(spec_.ttl_ms);
  uint64_t total_rows = 0;
  for (uint32_t i = 0; i < nshards_; i++) total_rows += shards_[i].next_unused;
  max_rows = std::min(max_rows, total_rows);  // at most one full pass per call
  uint64_t evicted = 0;
  for (uint64_t seen = 0; seen < max_rows;) {
    Shard& s = shards_[sweep_shard_];
    if (sweep_row_ >= s.next_unused) {
      sweep_row_ = 0;
      sweep_shard_ = (sweep_shard_ + 1) % nshards_;
      continue;
    }
    seen++;
    const uint32_t r = sweep_row_++;
    uint8_t* p = RowPtr(s, r);
    if (At<uint64_t>(p, kOffTouch) == 0 || !(At<double>(p, kOffLastTs) < expire_before)) continue;
    const uint32_t seq = s.seq.load(std::memory_order_relaxed);
    s.seq.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    Remove(s, At<uint64_t>(p, kOffKey), r);
    s.seq.store(seq + 2, std::memory_order_release);
    evicted_ttl_++;
    evicted++;
  }
  return evicted;
}

// ---------------------------------------------------------------------------------------
// Reads

void Table::Compute(const uint8_t* row, double now_ms, double* out) const {
  // Window reductions first, one pass per (window, column); empty tiles hold the neutral
  // element of each column (0, +inf, -inf), so no tile needs a branch.
  double acc[kMaxAcc];
  int64_t lo_of[kMaxFeaturesPerTable], hi_of[kMaxFeaturesPerTable];
  const uint8_t* occupied[kMaxTilesPerWindow + 128];
  for (size_t ci = 0; ci < calcs_.size(); ci++) {
    const Calc& c = calcs_[ci];
    const Group& g = groups_[c.group];
    const int64_t head = At<int64_t>(row, g.off_head);
    int64_t lo = 0, hi = -1;
    if (head != kEmptyEpoch) {
      const int64_t cur = Epoch(now_ms, g.tile_ms);
      lo = std::max(cur - c.ntiles + 1, head - g.ntiles + 1);
      hi = std::min(cur, head);
    }
    lo_of[ci] = lo;
    hi_of[ci] = hi;
    const uint8_t* tiles = row + g.off_tiles;
    const uint64_t* bits = reinterpret_cast<const uint64_t*>(row + g.off_bits);
    double* r = acc + c.acc;
    const size_t ncols = c.cols.size();
    // The occupied tiles once, then one tight loop per column over them.
    const uint8_t** occ = occupied;
    uint32_t nocc = 0;
    ForOccupied(bits, lo, hi, g.ntiles, [&](uint32_t s) { occ[nocc++] = tiles + s * g.tile_bytes; });
    uint64_t cnt = 0;
    for (uint32_t i = 0; i < nocc; i++) cnt += At<uint32_t>(occ[i], 0);
    r[0] = double(cnt);
    for (size_t k = 0; k < ncols; k++) {
      const Col& col = g.cols[c.cols[k]];
      const uint32_t off = col.off;
      double x = col.kind == kMin ? kInf : col.kind == kMax ? -kInf : 0;
      switch (col.kind) {
        case kMin: for (uint32_t i = 0; i < nocc; i++) x = std::min(x, At<double>(occ[i], off)); break;
        case kMax: for (uint32_t i = 0; i < nocc; i++) x = std::max(x, At<double>(occ[i], off)); break;
        default: for (uint32_t i = 0; i < nocc; i++) x += At<double>(occ[i], off);
      }
      r[1 + k] = x;
    }
  }
  for (const Feat& f : feats_) {
    double* o = out + f.out_off;
    if (f.group >= 0) {
      const double cnt = acc[calcs_[f.calc].acc];
      switch (f.agg) {
        case Agg::COUNT: *o = cnt; break;
        case Agg::SUM: *o = acc[f.acc_sum]; break;
        case Agg::MEAN: *o = cnt > 0 ? acc[f.acc_sum] / cnt : kNaN; break;
        case Agg::MIN: *o = cnt > 0 ? acc[f.acc_min] : kNaN; break;
        case Agg::MAX: *o = cnt > 0 ? acc[f.acc_max] : kNaN; break;
        case Agg::STDDEV: {
          if (cnt == 0) {
            *o = kNaN;
            break;
          }
          // Chan et al.: combine the tiles' (n, mean, M2) around the window mean.
          const Group& g = groups_[f.group];
          const uint32_t sum_off = g.cols[f.col_sum].off, m2_off = g.cols[f.col_m2].off;
          const uint8_t* tiles = row + g.off_tiles;
          const double mean = acc[f.acc_sum] / cnt;
          double m2 = 0;
          ForOccupied(reinterpret_cast<const uint64_t*>(row + g.off_bits), lo_of[f.calc], hi_of[f.calc], g.ntiles,
                      [&](uint32_t s) {
                        const uint8_t* t = tiles + s * g.tile_bytes;
                        const double n = At<uint32_t>(t, 0);
                        const double d = At<double>(t, sum_off) / n - mean;
                        m2 += At<double>(t, m2_off) + n * d * d;
                      });
          *o = std::sqrt(std::max(0.0, m2 / cnt));
          break;
        }
        default: *o = kNaN;
      }
      continue;
    }
    switch (f.agg) {
      case Agg::LAST:
        *o = At<double>(row, f.off) == -kInf ? kNaN : At<double>(row, f.off + 8);
        break;
      case Agg::EWM: {
        const double w = At<double>(row, f.off + 16);
        *o = w > 0 ? At<double>(row, f.off + 8) / w : kNaN;
        break;
      }
      case Agg::LAST_N: {
        const uint32_t n = uint32_t(f.last_n);
        const uint32_t len = std::min(At<uint32_t>(row, f.off), n);
        const double* xv = reinterpret_cast<const double*>(row + f.off + 8) + n;
        for (uint32_t i = 0; i < n; i++) o[i] = i < len ? xv[len - 1 - i] : kNaN;  // newest first
        break;
      }
      case Agg::DISTINCT: {
        const int m = 1 << f.hll_p;
        HllView h(const_cast<uint8_t*>(row + f.off));
        const int64_t head = *h.head;
        if (head == kEmptyEpoch) {
          *o = 0;
          break;
        }
        const int64_t cur = Epoch(now_ms, f.tile_ms);
        // Entries older than the retained span may still be stored (expiry is lazy): the
        // same cutoff as the update's keeps reads identical to eager expiry.
        const int64_t lo = std::max(cur - f.ntiles + 1, head - f.keep_tiles + 1);
        uint8_t ranks[1 << kMaxHllPrecision];
        for (int i = 0; i < m; i++) {
          uint8_t r = 0;
          const HllReg& g = h.reg[i];
          if (g.r1) {
            const int64_t e = FullEpoch(head, g.e1);
            if (e >= lo && e <= cur) r = g.r1;
          }
          if (g.r2 && g.r2 > r) {
            const int64_t e = FullEpoch(head, g.e2);
            if (e >= lo && e <= cur) r = g.r2;
          }
          ranks[i] = r;
        }
        *o = HllEstimate(ranks, f.hll_p);
        break;
      }
      default:
        *o = kNaN;
    }
  }
}

bool Table::Read(uint64_t key, double now_ms, double* out, double* age_ms) const {
  const Shard& s = ShardFor(key);
  for (;;) {
    const uint32_t s1 = s.seq.load(std::memory_order_acquire);
    if (s1 & 1) {
      CpuRelax();
      continue;
    }
    const uint8_t* row = FindRow(s, key);
    Compute(row ? row : template_.data(), now_ms, out);
    const double last = row ? At<double>(row, kOffLastTs) : kNaN;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) == s1) {
      *age_ms = row ? now_ms - last : kNaN;
      return row != nullptr;
    }
  }
}

void Table::PrefetchSlot(uint64_t key) const {
  const Shard& s = ShardFor(key);
  __builtin_prefetch(&s.index[uint32_t(key) & s.mask]);
}

void Table::PrefetchRow(uint64_t key, int stream, double ts, const double* values) const {
  const uint8_t* row = FindRow(ShardFor(key), key);
  if (!row) return;
  __builtin_prefetch(row);
  if (stream >= 0) {  // a write touches the ring's head, the event's tile, and each other state
    for (int gi : stream_groups_[stream]) {
      const Group& g = groups_[gi];
      __builtin_prefetch(row + g.off_head);
      __builtin_prefetch(row + g.off_tiles + Slot(Epoch(ts, g.tile_ms), g.ntiles) * g.tile_bytes);
    }
    for (int fi : stream_feats_[stream]) {
      const Feat& f = feats_[fi];
      __builtin_prefetch(row + f.off);
      if (f.agg == Agg::DISTINCT) {  // the register this event's value lands in
        const uint32_t reg = uint32_t(HashDouble(values[f.field]) >> (64 - f.hll_p));
        __builtin_prefetch(row + f.off + 16 + 6 * reg);
      } else if (f.agg == Agg::LAST_N) {
        for (uint32_t o = 64; o < 8 + 16u * uint32_t(f.last_n); o += 64) __builtin_prefetch(row + f.off + o);
      }
    }
    return;
  }
  for (const Group& g : groups_) __builtin_prefetch(row + g.off_head);
  for (const Feat& f : feats_)
    if (f.group < 0) __builtin_prefetch(row + f.off);
}

// Second stage for reads, once the row's first lines have arrived: the occupied tiles and
// all the lines of each state a read walks.
void Table::PrefetchReadState(uint64_t key) const {
  const uint8_t* row = FindRow(ShardFor(key), key);
  if (!row) return;
  for (const Group& g : groups_) {
    const uint64_t* bits = reinterpret_cast<const uint64_t*>(row + g.off_bits);
    const uint8_t* tiles = row + g.off_tiles;
    for (int w = 0; w * 64 < g.ntiles; w++)
      for (uint64_t word = bits[w]; word; word &= word - 1)
        __builtin_prefetch(tiles + (uint32_t(w) * 64 + uint32_t(__builtin_ctzll(word))) * g.tile_bytes);
  }
  for (const Feat& f : feats_) {
    if (f.group >= 0) continue;
    const uint32_t bytes = f.agg == Agg::DISTINCT ? HllBytes(f.hll_p) : f.agg == Agg::LAST_N ? 8 + 16u * uint32_t(f.last_n) : 24;
    for (uint32_t o = 64; o < bytes; o += 64) __builtin_prefetch(row + f.off + o);
  }
}

TableStats Table::Stats() const {
  TableStats st;
  uint64_t index_bytes = 0, row_bytes = 0, cap = 0;
  for (uint32_t i = 0; i < nshards_; i++) {
    const Shard& s = shards_[i];
    st.live += s.live;
    cap += s.cap;
    index_bytes += uint64_t(s.mask + 1) * sizeof(IndexSlot);
    row_bytes += uint64_t(s.next_unused) * row_bytes_;
  }
  st.capacity = cap;
  st.row_bytes = row_bytes_;
  st.bytes_per_entity = row_bytes_ + (cap ? index_bytes / cap : 0);
  st.allocated_bytes = index_bytes + row_bytes;
  st.evicted_ttl = evicted_ttl_;
  st.evicted_lru = evicted_lru_;
  st.updates = updates_;
  st.watermark_ms = watermark_;
  return st;
}

// ---------------------------------------------------------------------------------------
// Store

Status Store::Create(const StoreSpec& spec, std::shared_ptr<Store>* out) {
  std::shared_ptr<Store> st(new Store());
  st->spec_ = spec;
  if (spec.max_future_ms < 0) return Status::InvalidArg("max_future_ms must be >= 0");
  for (size_t si = 0; si < spec.streams.size(); si++) {
    const StreamSpec& s = spec.streams[si];
    if (s.nfields < 0 || s.lateness_ms < 0) return Status::InvalidArg("stream '" + s.name + "': bad fields or lateness");
    for (int t : s.tables)
      if (t < 0 || size_t(t) >= spec.tables.size()) return Status::InvalidArg("stream '" + s.name + "': unknown table");
  }
  for (size_t ti = 0; ti < spec.tables.size(); ti++) {
    for (const FeatureSpec& f : spec.tables[ti].features) {
      if (f.stream < 0 || size_t(f.stream) >= spec.streams.size()) continue;  // Layout reports it
      const auto& ts = spec.streams[f.stream].tables;
      if (std::find(ts.begin(), ts.end(), int(ti)) == ts.end())
        return Status::InvalidArg("table '" + spec.tables[ti].name + "' feature '" + f.name +
                                  "': its stream has no key for this table");
    }
    std::unique_ptr<Table> t;
    HP_RETURN_IF_ERROR(Table::Create(spec.tables[ti], spec, &t));
    st->tables_.push_back(std::move(t));
  }
  st->stream_watermark_.assign(spec.streams.size(), -kInf);
  st->id_ = g_next_store_id.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(g_registry_mu);
    Registry()[st->id_] = st;
  }
  *out = std::move(st);
  return Status::Ok();
}

Store::~Store() {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  auto it = Registry().find(id_);
  if (it != Registry().end() && it->second.expired()) Registry().erase(it);
}

std::shared_ptr<Store> Store::Lookup(uint32_t id) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  auto it = Registry().find(id);
  return it == Registry().end() ? nullptr : it->second.lock();
}

Status Store::Ingest(int stream, size_t n, const uint64_t* const* keys, const double* ts,
                     const double* values, double now_ms, IngestResult* result) {
  *result = IngestResult{};
  if (stream < 0 || size_t(stream) >= spec_.streams.size()) return Status::InvalidArg("unknown stream");
  if (!(std::fabs(now_ms) <= kMaxTimeMs)) return Status::InvalidArg("now is not a time within 2^53 ms");
  const StreamSpec& st = spec_.streams[stream];
  const size_t nf = size_t(st.nfields);
  const double max_ts = now_ms + double(spec_.max_future_ms);
  for (size_t i = 0; i < n; i++) {
    if (!(ts[i] >= 0 && ts[i] <= kMaxTimeMs))
      return Status::InvalidArg("event " + std::to_string(i) + ": timestamp is not a finite time >= 0");
    if (ts[i] > max_ts)
      return Status::InvalidArg("event " + std::to_string(i) + ": timestamp is more than " +
                                std::to_string(spec_.max_future_ms) + " ms in the future");
    for (size_t j = 0; j < nf; j++)
      if (!std::isfinite(values[i * nf + j]))
        return Status::InvalidArg("event " + std::to_string(i) + ": field " + std::to_string(j) +
                                  " is not a finite number");
  }
  // The watermark follows event time but never passes the wall clock, so one event from
  // a clock running ahead cannot make on-time events late.
  double& wm = stream_watermark_[stream];
  const double lateness = double(st.lateness_ms);
  constexpr size_t kSlotAhead = 16, kRowAhead = 8;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < st.tables.size(); k++) {
      const Table& t = *tables_[st.tables[k]];
      if (i + kSlotAhead < n) t.PrefetchSlot(keys[k][i + kSlotAhead]);
      if (i + kRowAhead < n) t.PrefetchRow(keys[k][i + kRowAhead], stream, ts[i + kRowAhead], values + (i + kRowAhead) * nf);
    }
    if (ts[i] < wm - lateness) {
      result->late++;
      continue;
    }
    const double advance = std::min(ts[i], now_ms);
    if (advance > wm) wm = advance;
    for (size_t k = 0; k < st.tables.size(); k++)
      tables_[st.tables[k]]->Apply(keys[k][i], stream, ts[i], values + i * nf, now_ms);
    result->accepted++;
  }
  return Status::Ok();
}

uint64_t Store::Sweep(double now_ms, uint64_t max_rows_per_table) {
  uint64_t n = 0;
  for (auto& t : tables_) n += t->Sweep(now_ms, max_rows_per_table);
  return n;
}

}  // namespace hotpath
