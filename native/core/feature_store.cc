#include "feature_store.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "hash.h"
#include "hll.h"
#include "windows.h"

namespace hotpath {

using row::At;
using row::kInf;
using row::kNaN;
using row::kOffKey;
using row::kOffLastTs;
using row::kOffTouch;

namespace {

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

// A reader's look at one key under its shard's seqlock: `read(row)` (the key's row, or
// nullptr) runs until no writer moved the shard while it ran (an odd count: a write is under
// way, so it waits), and the last run's result is returned. What `read` writes must be the
// caller's own: a run that raced is thrown away by running it again.
template <typename Shard, typename F>
auto ReadConsistent(const Shard& s, uint64_t key, F&& read) {
  for (;;) {
    const uint32_t s1 = s.seq.load(std::memory_order_acquire);
    if (s1 & 1) {
      CpuRelax();
      continue;
    }
    const auto result = read(s.Find(key));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) == s1) return result;
  }
}

std::mutex g_registry_mu;
std::unordered_map<uint32_t, std::weak_ptr<Store>>& Registry() {
  static auto* m = new std::unordered_map<uint32_t, std::weak_ptr<Store>>();
  return *m;
}
std::atomic<uint32_t> g_next_store_id{1};

}  // namespace

// ---------------------------------------------------------------------------------------
// Table construction

Status Table::Create(const TableSpec& spec, const StoreSpec& store, std::unique_ptr<Table>* out) {
  std::unique_ptr<Table> t(new Table(spec));
  HP_RETURN_IF_ERROR(row::Layout::Compile(spec, store, &t->layout_));
  HP_RETURN_IF_ERROR(t->Allocate());
  t->demote_scratch_.assign(t->layout_.mem_bytes, 0);
  *out = std::move(t);
  return Status::Ok();
}

Status Table::Allocate() {
  // The budget covers the index and the rows: per shard, pick the index size (a power of
  // two, load <= 0.5) and the row count that fit its share; rows are only ever used up
  // to that capacity, so nothing beyond the budget is touched.
  const uint64_t row_bytes = layout_.row_bytes;
  const uint64_t per_entity = row_bytes + 2 * sizeof(IndexSlot);
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
    const uint64_t c = std::min(cand / 2, (share - cand * sizeof(IndexSlot)) / row_bytes);
    if (c > cap) {
      cap = c;
      slots = cand;
    }
  }
  // Compact rows leave part of the share free: it pays for the ext blocks of promoted rows
  // (at least one, so that a row can always be promoted, taking another's block if need be).
  uint64_t ext_limit = 0;
  if (layout_.compact && cap > 0) {
    const uint64_t mem = layout_.mem_bytes;
    while (cap > 0 && share - slots * sizeof(IndexSlot) - cap * mem < row_bytes) cap--;
    if (cap > 0) ext_limit = (share - slots * sizeof(IndexSlot) - cap * mem) / row_bytes;
    if (layout_.promote_all) ext_limit = cap;  // the tests' reference of the wire code path: every row holds a block
  }
  if (cap == 0) return Status::InvalidArg(too_small);
  if (cap > (uint64_t(1) << 30)) return Status::InvalidArg("table '" + spec_.name + "': more than 2^30 entities per shard; use more shards");
  nshards_ = uint32_t(ns);
  shard_shift_ = bits == 0 ? 64 : 64 - bits;
  shards_.reset(new Shard[ns]);
  for (uint64_t i = 0; i < ns; i++) {
    // Capacity is sized by the wire row; rows are compact, and what they leave of the
    // budget holds ext_limit promoted rows' blocks (more are reserved for a restore).
    Status s = shards_[i].Allocate(slots, cap, layout_.mem_bytes, i, spec_.huge_pages);
    if (s.ok() && layout_.compact) s = shards_[i].AllocateExt(cap, uint32_t(row_bytes), ext_limit);
    if (!s.ok()) return Status(s.code(), "table '" + spec_.name + "': " + s.message());
  }
  return Status::Ok();
}

Table::~Table() = default;

// ---------------------------------------------------------------------------------------
// Writes

void Table::Apply(uint64_t key, int stream, double ts, const double* values, double now_ms) {
  Shard& s = ShardFor(key);
  const uint32_t seq = s.BeginWrite();
  uint8_t* row = s.FindOrInsert(key, layout_.mem_fresh.data(), spec_.ttl_ms, now_ms, &evicted_);
  if (row) {
    double& last = At<double>(row, kOffLastTs);
    if (ts > last) last = ts;
    At<uint64_t>(row, kOffTouch) = ++clock_;
    uint8_t* ext = !layout_.compact ? row : s.ExtPtr(At<uint32_t>(row, row::kOffExt));
    if (ext == nullptr && (layout_.promote_all || !row::CompactFits(layout_, row, stream, ts, values)))
      ext = Promote(s, row);
    if (ext == nullptr) {
      row::CompactUpdate(layout_, row, stream, ts, values);
    } else {
      const uint32_t hoff = layout_.stream_head_off[stream];
      const int64_t head0 = hoff != UINT32_MAX ? At<int64_t>(ext, hoff) : 0;
      for (int gi : layout_.stream_groups[stream]) row::UpdateTiles(ext, layout_.groups[gi], ts, values);
      for (int fi : layout_.stream_feats[stream]) row::UpdateState(ext, layout_.feats[fi], ts, values);
      if (ext != row && hoff != UINT32_MAX && At<int64_t>(ext, hoff) != head0 && !layout_.promote_all)
        TryDemote(s, row, ext);
    }
  }
  s.EndWrite(seq);
  if (ts > watermark_) watermark_ = ts;
  updates_++;
}

uint32_t Table::NewExtEvicting(Shard& s, const uint8_t* row) {
  uint32_t ref = s.NewExt();
  // The budget's blocks are all in use: another promoted row goes (there is one: the
  // shard's limit is at least 1, and this row holds none).
  if (ref == 0 && s.EvictPromoted(s.RowOf(row), &evicted_)) ref = s.NewExt();
  return ref;
}

uint8_t* Table::Promote(Shard& s, uint8_t* row) {
  const uint32_t ref = NewExtEvicting(s, row);
  uint8_t* ext = s.ExtPtr(ref);
  if (ext == nullptr) return nullptr;  // not reached (NewExtEvicting)
  row::ToWire(layout_, row, nullptr, ext);
  At<uint32_t>(row, row::kOffExt) = ref;
  return ext;
}

void Table::TryDemote(Shard& s, uint8_t* row, const uint8_t* ext) {
  uint8_t* mem = demote_scratch_.data();
  std::memcpy(mem, layout_.mem_fresh.data(), layout_.mem_bytes);
  if (!row::StateFromWire(layout_, ext, mem)) return;
  // The caller has called BeforeRowWrite for this row (FindOrInsert): the snapshot has it.
  std::memcpy(row + row::kMemHeaderBytes, mem + row::kMemHeaderBytes, layout_.mem_bytes - row::kMemHeaderBytes);
  const uint32_t ref = At<uint32_t>(row, row::kOffExt);
  At<uint32_t>(row, row::kOffExt) = 0;
  s.FreeExt(ref);
}

void Table::WireRow(const Shard& s, const uint8_t* row, uint8_t* out) const {
  if (!layout_.compact) {
    std::memcpy(out, row, layout_.row_bytes);
    return;
  }
  row::ToWire(layout_, row, s.ExtPtr(At<uint32_t>(row, row::kOffExt)), out);
}

void Table::SetFromWire(Shard& s, uint8_t* mem, const uint8_t* wire, bool restoring) {
  if (!layout_.compact) {
    std::memcpy(mem, wire, layout_.row_bytes);
    return;
  }
  if (row::FromWire(layout_, wire, mem)) return;
  const uint32_t ref = restoring ? s.NewExt(true) : NewExtEvicting(s, mem);
  uint8_t* ext = s.ExtPtr(ref);
  if (ext == nullptr) return;  // not reached: a shard reserves a block per row
  std::memcpy(ext, wire, layout_.row_bytes);
  At<uint32_t>(mem, row::kOffExt) = ref;
}

ImportResult Table::ImportRow(uint64_t key, const uint8_t* row, double now_ms) {
  Shard& s = ShardFor(key);
  if (s.Find(key) != nullptr) return ImportResult::kPresent;
  const uint32_t seq = s.BeginWrite();
  uint8_t* p = s.FindOrInsert(key, layout_.mem_fresh.data(), spec_.ttl_ms, now_ms, &evicted_);
  SetFromWire(s, p, row);
  At<uint64_t>(p, kOffKey) = key;
  At<uint64_t>(p, kOffTouch) = ++clock_;
  s.EndWrite(seq);
  const double last = At<double>(p, kOffLastTs);
  if (last > watermark_) watermark_ = last;
  updates_++;
  return ImportResult::kInserted;
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
    uint8_t* p = s.RowPtr(r);
    if (At<uint64_t>(p, kOffTouch) == 0 || !(At<double>(p, kOffLastTs) < expire_before)) continue;
    const uint32_t seq = s.BeginWrite();
    s.Remove(At<uint64_t>(p, kOffKey), r);
    s.EndWrite(seq);
    evicted_.ttl++;
    evicted++;
  }
  return evicted;
}

// ---------------------------------------------------------------------------------------
// Reads

bool Table::Read(uint64_t key, double now_ms, double* out, double* age_ms) const {
  return ReadOne(key, now_ms, out, age_ms, true);
}

bool Table::ReadOne(uint64_t key, double now_ms, double* out, double* age_ms, bool prefetch) const {
  struct Seen {
    bool found;
    double last;  // the newest event's time
  };
  const Shard& s = ShardFor(key);
  const Seen seen = ReadConsistent(s, key, [&](const uint8_t* row) {
    // A row's lines are scattered misses: ask for all of them at once, so that they arrive
    // together rather than one after another as Compute walks them (ReadMany has asked
    // for them keys ahead already).
    if (row && prefetch) PrefetchReadLines(row);
    if (row == nullptr || !layout_.compact) {
      row::Compute(layout_, row ? row : layout_.fresh.data(), now_ms, out);
    } else {
      const uint32_t ref = At<uint32_t>(row, row::kOffExt);
      if (ref == 0) {
        row::CompactCompute(layout_, row, now_ms, out);
      } else {
        const uint8_t* ext = s.ExtPtr(ref);  // out of bounds only in a racy read
        row::Compute(layout_, ext ? ext : layout_.fresh.data(), now_ms, out);
      }
    }
    return row ? Seen{true, At<double>(row, kOffLastTs)} : Seen{false, kNaN};
  });
  *age_ms = seen.found ? now_ms - seen.last : kNaN;
  return seen.found;
}

bool Table::Contains(uint64_t key) const {
  return ReadConsistent(ShardFor(key), key, [](const uint8_t* row) { return row != nullptr; });
}

bool Table::ExportRow(uint64_t key, uint8_t* out) const {
  // The row in wire form (WireRow). A racing writer may change the row while it is
  // converted: the result is kept only when the counter did not move. Reads of racy memory
  // are what the seqlock's readers do throughout the store (every index stays in bounds).
  const Shard& s = ShardFor(key);
  return ReadConsistent(s, key, [&](const uint8_t* row) {
    if (row) WireRow(s, row, out);
    return row != nullptr;
  });
}

uint32_t Table::ReadMany(const uint64_t* keys, size_t n, double now_ms, double* out, double* ages) const {
  // Three stages ahead of the read: the index slot 16 keys ahead, the row's first lines 8
  // ahead (its slot has arrived by then), the occupied tiles and state lines 4 ahead.
  const size_t w = size_t(width());
  uint32_t found = 0;
  for (size_t i = 0; i < n; i++) {
    if (i + 16 < n) PrefetchSlot(keys[i + 16]);
    if (i + 8 < n) PrefetchRow(keys[i + 8], -1, now_ms, nullptr);
    if (i + 4 < n) PrefetchReadState(keys[i + 4]);
    found += ReadOne(keys[i], now_ms, out + i * w, &ages[i], false);
  }
  return found;
}

void Table::PrefetchSlot(uint64_t key) const {
  const Shard& s = ShardFor(key);
  __builtin_prefetch(&s.index[uint32_t(key) & s.mask]);
}

void Table::PrefetchWire(const uint8_t* row, int stream, double ts, const double* values) const {
  if (stream >= 0) {  // a write touches the ring's head, the event's tile, and each other state
    for (int gi : layout_.stream_groups[stream]) {
      const row::Group& g = layout_.groups[gi];
      const uint32_t slot = row::Slot(row::Epoch(ts, g.tile_ms), g.ntiles);
      __builtin_prefetch(row + g.off_head);
      __builtin_prefetch(row + g.off_counts + 4 * slot);
      __builtin_prefetch(row + g.off_tiles + slot * g.tile_bytes);
    }
    for (int fi : layout_.stream_feats[stream]) {
      const row::Feat& f = layout_.feats[fi];
      __builtin_prefetch(row + f.off);
      if (f.agg == Agg::DISTINCT) {  // the register this event's value lands in
        __builtin_prefetch(row + f.off + hll::RegsOff(f.hll_p) + 6 * hll::RegisterOf(values[f.field], f.hll_p));
      } else if (f.agg == Agg::LAST_N) {
        for (uint32_t o = 64; o < row::StateBytes(f); o += 64) __builtin_prefetch(row + f.off + o);
      }
    }
    return;
  }
  for (const row::Group& g : layout_.groups) __builtin_prefetch(row + g.off_head);
  for (const row::Feat& f : layout_.feats)
    if (f.group < 0) __builtin_prefetch(row + f.off);
}

void Table::PrefetchRow(uint64_t key, int stream, double ts, const double* values) const {
  const uint8_t* row = ShardFor(key).Find(key);
  if (!row) return;
  __builtin_prefetch(row);
  if (!layout_.compact) return PrefetchWire(row, stream, ts, values);
  // A compact row is a few lines, most of which an event or a read touches: a write asks
  // for the blocks of the stream's groups and states, a read for the group heads and
  // states (the rest follows in PrefetchReadLines). The ext block of a promoted row is
  // behind the row's first line, not yet here: it is not asked for.
  auto lines = [](const uint8_t* a, uint32_t bytes) {
    const uintptr_t end = reinterpret_cast<uintptr_t>(a) + bytes;
    for (uintptr_t l = reinterpret_cast<uintptr_t>(a) & ~uintptr_t(63); l < end; l += 64)
      __builtin_prefetch(reinterpret_cast<const void*>(l));
  };
  if (stream >= 0) {
    for (int gi : layout_.stream_groups[stream]) {
      const row::CGroup& c = layout_.cgroups[gi];
      lines(row + c.off_head, c.off_tiles - c.off_head + uint32_t(c.k) * layout_.groups[gi].tile_bytes);
    }
    for (int fi : layout_.stream_feats[stream]) {
      const row::Feat& f = layout_.mem_feats[fi];
      lines(row + f.off, f.agg == Agg::DISTINCT ? hll::SparseBytes(row::kSparseHllEntries) : row::StateBytes(f));
    }
    return;
  }
  for (const row::CGroup& c : layout_.cgroups) lines(row + c.off_head, c.off_tiles - c.off_head);
  for (const row::Feat& f : layout_.mem_feats)
    if (f.group < 0) __builtin_prefetch(row + f.off);
}

// Second stage for reads, once the row's first lines have arrived: the occupied tiles and
// all the lines of each state a read walks.
void Table::PrefetchReadState(uint64_t key) const {
  const uint8_t* row = ShardFor(key).Find(key);
  if (row) PrefetchReadLines(row);
}

void Table::PrefetchReadLines(const uint8_t* row) const {
  if (!layout_.compact) return PrefetchWireReadLines(row);
  const uint8_t* ext = ShardFor(At<uint64_t>(row, kOffKey)).ExtPtr(At<uint32_t>(row, row::kOffExt));
  if (ext == nullptr) {  // compact: the whole row (a read walks nearly all of it)
    const uintptr_t a = reinterpret_cast<uintptr_t>(row);
    for (uintptr_t l = a & ~uintptr_t(63); l < a + layout_.mem_bytes; l += 64)
      __builtin_prefetch(reinterpret_cast<const void*>(l));
    return;
  }
  PrefetchWireReadLines(ext);
}

void Table::PrefetchWireReadLines(const uint8_t* row) const {
  // At most kLines lines of one block: a large block (a distinct of precision 12 holds
  // 25 KB, of which a read visits only the registers in use; a long ring's count array)
  // would cost hundreds of prefetches per read for lines the read may never touch.
  constexpr uintptr_t kLines = 8;
  auto lines = [](uintptr_t a, uintptr_t end) {
    end = std::min(end, (a & ~uintptr_t(63)) + kLines * 64);
    for (uintptr_t l = a & ~uintptr_t(63); l < end; l += 64) __builtin_prefetch(reinterpret_cast<const void*>(l));
  };
  // The state blocks first: their addresses need no load, so these misses are under way
  // while the bitmaps (a load each) are read for the occupied tiles.
  for (const row::Feat& f : layout_.feats) {
    if (f.group >= 0) continue;
    const uintptr_t a = reinterpret_cast<uintptr_t>(row + f.off);
    lines(a, a + row::StateBytes(f));
  }
  for (const row::Group& g : layout_.groups) {
    const uint64_t* bits = reinterpret_cast<const uint64_t*>(row + g.off_bits);
    const uint8_t* tiles = row + g.off_tiles;
    const uintptr_t c0 = reinterpret_cast<uintptr_t>(row + g.off_counts);
    lines(c0, c0 + 4u * uint32_t(g.ntiles));
    for (int w = 0; w * 64 < g.ntiles; w++)
      for (uint64_t word = bits[w]; word; word &= word - 1)
        __builtin_prefetch(tiles + (uint32_t(w) * 64 + uint32_t(__builtin_ctzll(word))) * g.tile_bytes);
  }
}

TableStats Table::Stats() const {
  TableStats st;
  uint64_t index_bytes = 0, row_bytes = 0, ext_bytes = 0, cap = 0;
  for (uint32_t i = 0; i < nshards_; i++) {
    const Shard& s = shards_[i];
    st.live += s.live;
    st.promoted += s.ext_live;
    cap += s.cap;
    index_bytes += uint64_t(s.mask + 1) * sizeof(IndexSlot);
    row_bytes += uint64_t(s.next_unused) * layout_.mem_bytes;
    ext_bytes += uint64_t(s.ext_next) * layout_.row_bytes;
  }
  st.capacity = cap;
  st.row_bytes = layout_.row_bytes;
  st.mem_row_bytes = layout_.mem_bytes;
  st.bytes_per_entity = layout_.mem_bytes + (cap ? index_bytes / cap : 0) +
                        (st.live ? st.promoted * layout_.row_bytes / st.live : 0);
  st.allocated_bytes = index_bytes + row_bytes + ext_bytes;
  st.evicted_ttl = evicted_.ttl;
  st.evicted_lru = evicted_.lru;
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
    if (s.tables.size() > size_t(kMaxKeyColumns))
      return Status::InvalidArg("stream '" + s.name + "': more than " + std::to_string(kMaxKeyColumns) + " key columns");
    for (int t : s.tables)
      if (t < 0 || size_t(t) >= spec.tables.size()) return Status::InvalidArg("stream '" + s.name + "': unknown table");
  }
  for (size_t ti = 0; ti < spec.tables.size(); ti++) {
    for (const FeatureSpec& f : spec.tables[ti].features) {
      if (f.stream < 0 || size_t(f.stream) >= spec.streams.size()) continue;  // the layout compiler reports it
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
