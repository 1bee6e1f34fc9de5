#include "row_layout.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "hll.h"

namespace hotpath {
namespace row {

uint32_t StateBytes(const Feat& f) {
  switch (f.agg) {
    case Agg::LAST: return 16;  // f64 event time, f64 value
    case Agg::EWM: return 24;   // f64 reference time, f64 weighted sum, f64 weight
    case Agg::LAST_N: return 8 + 16u * uint32_t(f.last_n);  // u32 len + pad, n times, n values
    case Agg::DISTINCT: return hll::Bytes(f.hll_p);
    default: return 0;
  }
}

namespace {

// Checks one feature and fills in what does not depend on the other features.
Status CheckFeature(const FeatureSpec& fs, const StoreSpec& store, const std::string& fw, Feat* out) {
  if (uint8_t(fs.agg) >= uint8_t(Agg::kCount)) return Status::InvalidArg(fw + "unknown aggregate");
  if (fs.stream < 0 || size_t(fs.stream) >= store.streams.size()) return Status::InvalidArg(fw + "unknown stream");
  const StreamSpec& st = store.streams[fs.stream];
  if (AggNeedsField(fs.agg) ? (fs.field < 0 || fs.field >= st.nfields) : fs.field != -1)
    return Status::InvalidArg(fw + "bad field index");
  Feat& f = *out;
  f.agg = fs.agg;
  f.stream = fs.stream;
  f.field = fs.field;
  if (AggWindowed(fs.agg)) {
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
    if (!(f.half_life > 0) || !std::isfinite(f.half_life)) return Status::InvalidArg(fw + "half-life must be > 0");
  }
  if (fs.agg == Agg::DISTINCT) {
    f.hll_p = int(fs.param);
    if (f.hll_p < kMinHllPrecision || f.hll_p > kMaxHllPrecision) return Status::InvalidArg(fw + "bad HLL precision");
  }
  return Status::Ok();
}

// Joins a windowed feature to the group of its (stream, tile), adding the columns it needs.
void JoinGroup(Layout* L, Feat* f) {
  int gi = -1;
  for (size_t i = 0; i < L->groups.size(); i++)
    if (L->groups[i].stream == f->stream && L->groups[i].tile_ms == f->tile_ms) gi = int(i);
  if (gi < 0) {
    L->groups.push_back(Group{f->stream, f->tile_ms, 0, 0, 0, 0, 0, 0, {}});
    gi = int(L->groups.size() - 1);
    L->stream_groups[f->stream].push_back(gi);
  }
  Group& g = L->groups[gi];
  g.ntiles = std::max(g.ntiles, f->ntiles);
  auto col = [&](ColKind k) {
    for (size_t i = 0; i < g.cols.size(); i++)
      if (g.cols[i].field == f->field && g.cols[i].kind == k) return;
    g.cols.push_back(Col{f->field, k, 0, 0});
  };
  if (f->agg == Agg::SUM || f->agg == Agg::MEAN || f->agg == Agg::STDDEV) col(kSum);
  if (f->agg == Agg::STDDEV) col(kM2);
  if (f->agg == Agg::MIN) col(kMin);
  if (f->agg == Agg::MAX) col(kMax);
  f->group = gi;
}

// Read plan: one Calc per distinct (group, window length), and each feature's slots in
// the reader's scratch.
Status PlanReads(Layout* L, const std::string& where) {
  for (Feat& f : L->feats) {
    if (f.group < 0) continue;
    int ci = -1;
    for (size_t i = 0; i < L->calcs.size(); i++)
      if (L->calcs[i].group == f.group && L->calcs[i].ntiles == f.ntiles) ci = int(i);
    if (ci < 0) {
      L->calcs.push_back(Calc{f.group, f.ntiles, {}, 0});
      ci = int(L->calcs.size() - 1);
    }
    f.calc = ci;
    for (int col : {f.col_sum, f.col_min, f.col_max}) {
      std::vector<int>& cols = L->calcs[ci].cols;
      if (col >= 0 && std::find(cols.begin(), cols.end(), col) == cols.end()) cols.push_back(col);
    }
  }
  for (Calc& c : L->calcs) {
    c.acc = L->acc_size;
    L->acc_size += 1 + uint32_t(c.cols.size());
  }
  if (L->acc_size > kMaxAcc) return Status::InvalidArg(where + "too many windowed aggregates");
  for (Feat& f : L->feats) {
    if (f.calc < 0) continue;
    const Calc& c = L->calcs[f.calc];
    auto at = [&](int col) {
      if (col < 0) return -1;
      return int(c.acc + 1 + (std::find(c.cols.begin(), c.cols.end(), col) - c.cols.begin()));
    };
    f.acc_sum = at(f.col_sum);
    f.acc_min = at(f.col_min);
    f.acc_max = at(f.col_max);
  }
  return Status::Ok();
}

void FillFreshRow(Layout* L) {
  L->fresh.assign(L->row_bytes, 0);
  uint8_t* r = L->fresh.data();
  At<double>(r, kOffLastTs) = -kInf;
  for (const Group& g : L->groups) {
    At<int64_t>(r, g.off_head) = kEmptyEpoch;
    for (int i = 0; i < g.ntiles; i++)
      for (const Col& c : g.cols) At<double>(r, g.off_tiles + uint32_t(i) * g.tile_bytes + c.off) = ColEmpty(c.kind);
  }
  for (const Feat& f : L->feats) {
    if (f.group >= 0) continue;
    if (f.agg == Agg::LAST) {
      At<double>(r, f.off) = -kInf;
      At<double>(r, f.off + 8) = kNaN;
    } else if (f.agg == Agg::EWM) {
      At<double>(r, f.off) = -kInf;
    } else if (f.agg == Agg::DISTINCT) {
      At<int64_t>(r, f.off + hll::kOffHead) = kEmptyEpoch;
      At<int64_t>(r, f.off + hll::kOffPruned) = kEmptyEpoch;
    }
  }
}

// The compact form (row_layout.h): offsets, and the image of a fresh row.
void LayOutCompact(Layout* L, int slots, bool promote_all) {
  L->promote_all = promote_all;
  const int kmax = slots < 0 ? kMaxSparseSlots : std::max(1, std::min(slots, kMaxSparseSlots));
  uint32_t off = kMemHeaderBytes;
  L->cgroups.clear();
  for (const Group& g : L->groups) {
    CGroup c;
    c.k = std::min(g.ntiles, kmax);
    c.off_head = off;
    off += 8;
    c.off_ep = off;
    off += Align8(2u * uint32_t(c.k));
    c.off_counts = off;
    off += Align8(4u * uint32_t(c.k));
    c.off_tiles = off;
    off += g.tile_bytes * uint32_t(c.k);
    L->cgroups.push_back(c);
  }
  L->mem_feats = L->feats;
  for (Feat& f : L->mem_feats) {
    if (f.group >= 0) continue;
    f.off = off;
    off += f.agg == Agg::DISTINCT ? hll::SparseBytes(kSparseHllEntries) : StateBytes(f);
  }
  L->mem_bytes = Align8(off);
  L->mem_fresh.assign(L->mem_bytes, 0);
  uint8_t* r = L->mem_fresh.data();
  std::memcpy(r, L->fresh.data(), kHeaderBytes);
  for (size_t gi = 0; gi < L->groups.size(); gi++) At<int64_t>(r, L->cgroups[gi].off_head) = kEmptyEpoch;
  for (size_t fi = 0; fi < L->feats.size(); fi++) {
    const Feat& f = L->feats[fi];
    if (f.group >= 0) continue;
    const Feat& m = L->mem_feats[fi];
    if (f.agg == Agg::DISTINCT) {
      At<int64_t>(r, m.off + hll::kOffHead) = kEmptyEpoch;
      At<int64_t>(r, m.off + hll::kOffPruned) = kEmptyEpoch;
    } else {
      std::memcpy(r + m.off, L->fresh.data() + f.off, StateBytes(f));
    }
  }
  L->stream_head_off.assign(L->stream_groups.size(), UINT32_MAX);
  for (size_t st = 0; st < L->stream_groups.size(); st++) {
    if (!L->stream_groups[st].empty()) {
      L->stream_head_off[st] = L->groups[L->stream_groups[st][0]].off_head;
      continue;
    }
    for (int fi : L->stream_feats[st])
      if (L->feats[fi].agg == Agg::DISTINCT) {
        L->stream_head_off[st] = L->feats[fi].off + hll::kOffHead;
        break;
      }
  }
  L->compact = slots != 0 && (slots > 0 || promote_all || uint64_t(L->mem_bytes) * 4 <= uint64_t(L->row_bytes) * 3);
  if (!L->compact) {  // rows in wire form
    L->promote_all = false;
    L->mem_bytes = L->row_bytes;
    L->mem_fresh = L->fresh;
    L->mem_feats = L->feats;
    for (size_t gi = 0; gi < L->groups.size(); gi++) L->cgroups[gi] = CGroup{0, 0, 0, 0, 0};
  }
}

}  // namespace

Status Layout::Compile(const TableSpec& spec, const StoreSpec& store, Layout* out) {
  Layout& L = *out;
  L = Layout();
  const std::string where = "table '" + spec.name + "': ";
  if (spec.features.size() > size_t(kMaxFeaturesPerTable)) return Status::InvalidArg(where + "too many features");
  if (spec.ttl_ms < 0) return Status::InvalidArg(where + "ttl must be >= 0");
  L.stream_groups.assign(store.streams.size(), {});
  L.stream_feats.assign(store.streams.size(), {});
  for (const FeatureSpec& fs : spec.features) {
    Feat f;
    HP_RETURN_IF_ERROR(CheckFeature(fs, store, where + "feature '" + fs.name + "': ", &f));
    if (AggWindowed(fs.agg) && fs.agg != Agg::DISTINCT) JoinGroup(&L, &f);
    L.feats.push_back(f);
  }

  // Rings also hold the tiles that max_future spans: an accepted event from a clock that
  // runs ahead must not push tiles that are still inside a window out of the ring.
  // In int64 throughout: a large max_future with a small tile must be refused, not wrap.
  auto future_tiles = [&](int64_t tile) { return store.max_future_ms / tile + (store.max_future_ms % tile != 0); };
  constexpr int64_t kMaxRing = kMaxTilesPerWindow + 64;  // HLL epochs are 16-bit: keep well below 2^15
  for (Group& g : L.groups) {
    const int64_t total = int64_t(g.ntiles) + future_tiles(g.tile_ms);
    if (total > kMaxRing) return Status::InvalidArg(where + "window plus max_future spans too many tiles");
    g.ntiles = int(total);
  }
  for (Feat& f : L.feats) {
    if (f.agg != Agg::DISTINCT) continue;
    const int64_t keep = int64_t(f.ntiles) + future_tiles(f.tile_ms);
    if (keep > kMaxRing) return Status::InvalidArg(where + "window plus max_future spans too many tiles");
    f.keep_tiles = int(keep);
  }

  // Offsets: each group's head, bitmap and tiles, then the other aggregates' state blocks.
  uint32_t off = kHeaderBytes;
  for (Group& g : L.groups) {
    std::stable_sort(g.cols.begin(), g.cols.end(), [](const Col& a, const Col& b) { return a.kind == kM2 && b.kind != kM2; });
    g.off_head = off;
    off += 8;
    g.off_bits = off;
    off += 8u * uint32_t((g.ntiles + 63) / 64);
    g.off_counts = off;
    off += Align8(4u * uint32_t(g.ntiles));
    g.tile_bytes = 0;
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
  for (Feat& f : L.feats) {
    if (f.group >= 0) {
      const Group& g = L.groups[f.group];
      for (size_t i = 0; i < g.cols.size(); i++) {
        if (g.cols[i].field != f.field) continue;
        if (g.cols[i].kind == kSum) f.col_sum = int(i);
        if (g.cols[i].kind == kM2) f.col_m2 = int(i);
        if (g.cols[i].kind == kMin) f.col_min = int(i);
        if (g.cols[i].kind == kMax) f.col_max = int(i);
      }
      continue;
    }
    const uint32_t bytes = StateBytes(f);
    if (bytes == 0) return Status::Internal("unplaced aggregate");
    f.off = off;
    off += bytes;
    L.stream_feats[f.stream].push_back(int(&f - L.feats.data()));
  }
  L.row_bytes = Align8(off);

  HP_RETURN_IF_ERROR(PlanReads(&L, where));
  uint32_t width = 0;
  for (Feat& f : L.feats) {
    f.out_off = width;
    width += f.width;
  }
  L.width = int(width);
  FillFreshRow(&L);
  LayOutCompact(&L, spec.compact_slots, spec.promote_all);
  return Status::Ok();
}

}  // namespace row
}  // namespace hotpath
