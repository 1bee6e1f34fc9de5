#include "windows.h"

namespace hotpath {
namespace row {

namespace {

// The output of a feature outside the groups, from its state block (row + f.off).
inline void ComputeState(const Feat& f, const uint8_t* row, double now_ms, double* o) {
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
    case Agg::DISTINCT:
      *o = hll::Count(row + f.off, f.hll_p, f.ntiles, f.keep_tiles, Epoch(now_ms, f.tile_ms));
      break;
    default:
      *o = kNaN;
  }
}

// The output of a windowed feature from its calc's reductions.
inline double WindowOut(const Feat& f, const double* acc, double cnt) {
  switch (f.agg) {
    case Agg::COUNT: return cnt;
    case Agg::SUM: return acc[f.acc_sum];
    case Agg::MEAN: return cnt > 0 ? acc[f.acc_sum] / cnt : kNaN;
    case Agg::MIN: return cnt > 0 ? acc[f.acc_min] : kNaN;
    case Agg::MAX: return cnt > 0 ? acc[f.acc_max] : kNaN;
    default: return kNaN;
  }
}

}  // namespace

void Compute(const Layout& L, const uint8_t* row, double now_ms, double* out) {
  // Window reductions first, one pass per (window, column); empty tiles hold the neutral
  // element of each column (0, +inf, -inf), so no tile needs a branch.
  double acc[kMaxAcc];
  int64_t lo_of[kMaxFeaturesPerTable], hi_of[kMaxFeaturesPerTable];
  const uint8_t* occupied[kMaxTilesPerWindow + 128];
  for (size_t ci = 0; ci < L.calcs.size(); ci++) {
    const Calc& c = L.calcs[ci];
    const Group& g = L.groups[c.group];
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
    const uint32_t* counts = reinterpret_cast<const uint32_t*>(row + g.off_counts);
    const uint64_t* bits = reinterpret_cast<const uint64_t*>(row + g.off_bits);
    double* r = acc + c.acc;
    const size_t ncols = c.cols.size();
    // The occupied tiles once (counted as they are found), then one tight loop per column.
    const uint8_t** occ = occupied;
    uint32_t nocc = 0;
    uint64_t cnt = 0;
    ForOccupied(bits, lo, hi, g.ntiles, [&](uint32_t s) {
      cnt += counts[s];
      occ[nocc++] = tiles + s * g.tile_bytes;
    });
    r[0] = double(cnt);
    for (size_t k = 0; k < ncols; k++) {
      const Col& col = g.cols[c.cols[k]];
      const uint32_t off = col.off;
      double x = ColEmpty(col.kind);
      switch (col.kind) {
        case kMin: for (uint32_t i = 0; i < nocc; i++) x = std::min(x, At<double>(occ[i], off)); break;
        case kMax: for (uint32_t i = 0; i < nocc; i++) x = std::max(x, At<double>(occ[i], off)); break;
        default: for (uint32_t i = 0; i < nocc; i++) x += At<double>(occ[i], off);
      }
      r[1 + k] = x;
    }
  }
  for (const Feat& f : L.feats) {
    double* o = out + f.out_off;
    if (f.group >= 0) {
      const double cnt = acc[L.calcs[f.calc].acc];
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
          const Group& g = L.groups[f.group];
          const uint32_t sum_off = g.cols[f.col_sum].off, m2_off = g.cols[f.col_m2].off;
          const uint8_t* tiles = row + g.off_tiles;
          const uint32_t* counts = reinterpret_cast<const uint32_t*>(row + g.off_counts);
          const double mean = acc[f.acc_sum] / cnt;
          double m2 = 0;
          ForOccupied(reinterpret_cast<const uint64_t*>(row + g.off_bits), lo_of[f.calc], hi_of[f.calc], g.ntiles,
                      [&](uint32_t s) {
                        const uint8_t* t = tiles + s * g.tile_bytes;
                        const double n = counts[s];
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
    ComputeState(f, row, now_ms, o);
  }
}

}  // namespace row
}  // namespace hotpath

namespace hotpath {
namespace row {

namespace {

// The live slots of a compact ring with epochs in [lo, hi], in epoch order (the order the
// wire ring's walk visits its tiles): their slot numbers into out, their distances hi - e
// (descending: oldest first) into dist, their count returned.
inline uint32_t Gather(const uint8_t* row, const CGroup& c, int64_t head, int64_t lo, int64_t hi, uint8_t* out,
                       uint16_t* dist) {
  const uint16_t* ep = reinterpret_cast<const uint16_t*>(row + c.off_ep);
  const uint32_t* cnt = reinterpret_cast<const uint32_t*>(row + c.off_counts);
  // lo <= e <= hi is hi - e <= hi - lo: one 16-bit difference and one unsigned compare per
  // slot (live slots are within ntiles < 2^15 of the head, and hi <= head).
  if (head - hi > 0xffff) return 0;  // past any live slot (a read long before the head)
  const uint32_t span = uint32_t(hi - lo);
  const uint32_t back = uint32_t(head - hi);
  uint32_t n = 0;
  for (int k = 0; k < c.k; k++) {
    if (cnt[k] == 0) continue;
    // A live slot's epoch is in (head - ntiles, head]: head - e as 16 bits is exact, and
    // e > hi (only when hi = cur < head) shows as head - e < head - hi.
    const uint32_t dh = uint16_t(uint16_t(head) - ep[k]);
    if (dh < back) continue;
    const uint32_t d = dh - back;
    if (d > span) continue;
    uint32_t i = n++;
    for (; i > 0 && dist[i - 1] < d; i--) {  // insertion sort, oldest first: K <= 16
      dist[i] = dist[i - 1];
      out[i] = out[i - 1];
    }
    dist[i] = uint16_t(d);
    out[i] = uint8_t(k);
  }
  return n;
}

}  // namespace

void CompactCompute(const Layout& L, const uint8_t* row, double now_ms, double* out) {
  // Each ring is gathered once (its live slots in epoch order, for the widest window read
  // on it); a window of that ring is then a suffix of the list (all windows end at the same
  // hi = min(cur, head)), reduced from its first slot on, so every sum still adds its
  // tiles in epoch order, as the wire ring's walk does (floating-point sums depend on
  // the order: Compute on the wire form must give the same bits).
  const size_t ngroups = L.groups.size();
  struct Ring {
    int64_t lo, hi;           // the widest window's epochs (hi < lo: nothing to read)
    uint32_t n;               // live slots in [lo, hi]
    uint8_t slots[kMaxSparseSlots];
    uint16_t dist[kMaxSparseSlots];  // hi - epoch, descending
  };
  Ring rings[kMaxFeaturesPerTable];
  int64_t cur_of[kMaxFeaturesPerTable];
  for (size_t gi = 0; gi < ngroups; gi++) rings[gi].lo = 1, rings[gi].hi = 0, rings[gi].n = 0;
  // The widest window per ring first (calcs of one ring are not adjacent in the plan).
  int widest[kMaxFeaturesPerTable];
  for (size_t gi = 0; gi < ngroups; gi++) widest[gi] = 0;
  for (const Calc& c : L.calcs) widest[c.group] = std::max(widest[c.group], c.ntiles);
  for (size_t gi = 0; gi < ngroups; gi++) {
    if (widest[gi] == 0) continue;
    const Group& g = L.groups[gi];
    const CGroup& cg = L.cgroups[gi];
    const int64_t head = At<int64_t>(row, cg.off_head);
    if (head == kEmptyEpoch) continue;
    const int64_t cur = Epoch(now_ms, g.tile_ms);
    cur_of[gi] = cur;
    Ring& r = rings[gi];
    r.lo = std::max(cur - widest[gi] + 1, head - g.ntiles + 1);
    r.hi = std::min(cur, head);
    if (r.hi >= r.lo) r.n = Gather(row, cg, head, r.lo, r.hi, r.slots, r.dist);
  }
  double acc[kMaxAcc];
  uint8_t first_of[kMaxFeaturesPerTable];  // per calc: its first slot in its ring's list
  for (size_t ci = 0; ci < L.calcs.size(); ci++) {
    const Calc& c = L.calcs[ci];
    const Group& g = L.groups[c.group];
    const CGroup& cg = L.cgroups[c.group];
    const Ring& rg = rings[c.group];
    uint32_t i0 = rg.n;
    if (rg.n != 0) {
      // This window's epochs: [max(cur - ntiles + 1, ring lo), hi], i.e. distances up to
      // hi - lo; the list is oldest first, so its window starts at the first slot within.
      const int64_t lo = std::max(cur_of[c.group] - c.ntiles + 1, rg.lo);
      if (lo <= rg.hi) {
        const uint32_t dmax = uint32_t(rg.hi - lo);
        i0 = 0;
        while (i0 < rg.n && rg.dist[i0] > dmax) i0++;
      }
    }
    first_of[ci] = uint8_t(i0);
    const uint8_t* slots = rg.slots;
    const uint32_t n = rg.n;
    const uint32_t* counts = reinterpret_cast<const uint32_t*>(row + cg.off_counts);
    const uint8_t* tiles = row + cg.off_tiles;
    const uint32_t tb = g.tile_bytes;
    double* r = acc + c.acc;
    uint64_t cnt = 0;
    for (uint32_t i = i0; i < n; i++) cnt += counts[slots[i]];
    r[0] = double(cnt);
    for (size_t k = 0; k < c.cols.size(); k++) {
      const Col& col = g.cols[c.cols[k]];
      const uint8_t* base = tiles + col.off;
      double x = ColEmpty(col.kind);
      switch (col.kind) {  // one tight loop per column kind, in epoch order
        case kMin: for (uint32_t i = i0; i < n; i++) x = std::min(x, At<double>(base, slots[i] * tb)); break;
        case kMax: for (uint32_t i = i0; i < n; i++) x = std::max(x, At<double>(base, slots[i] * tb)); break;
        default: for (uint32_t i = i0; i < n; i++) x += At<double>(base, slots[i] * tb);
      }
      r[1 + k] = x;
    }
  }
  for (size_t fi = 0; fi < L.feats.size(); fi++) {
    const Feat& f = L.feats[fi];
    double* o = out + f.out_off;
    if (f.group < 0) {
      const Feat& m = L.mem_feats[fi];
      if (f.agg == Agg::DISTINCT)
        *o = hll::SparseCount(row + m.off, f.hll_p, kSparseHllEntries, f.ntiles, f.keep_tiles, Epoch(now_ms, f.tile_ms));
      else
        ComputeState(m, row, now_ms, o);
      continue;
    }
    const double cnt = acc[L.calcs[f.calc].acc];
    if (f.agg != Agg::STDDEV) {
      *o = WindowOut(f, acc, cnt);
      continue;
    }
    if (cnt == 0) {
      *o = kNaN;
      continue;
    }
    // Chan et al. around the window mean: a second pass over the window's slots (the
    // mean needs the whole sum first), from the ring's list, not a second gather.
    const Group& g = L.groups[f.group];
    const CGroup& cg = L.cgroups[f.group];
    const Ring& rg = rings[f.group];
    const uint32_t sum_off = g.cols[f.col_sum].off, m2_off = g.cols[f.col_m2].off;
    const uint32_t* counts = reinterpret_cast<const uint32_t*>(row + cg.off_counts);
    const uint8_t* tiles = row + cg.off_tiles;
    const double mean = acc[f.acc_sum] / cnt;
    double m2 = 0;
    for (uint32_t i = first_of[f.calc]; i < rg.n; i++) {
      const uint8_t* t = tiles + rg.slots[i] * g.tile_bytes;
      const uint32_t c = counts[rg.slots[i]];
      // A tile of one event (the common case of a sparse entity): its mean is its sum and
      // n * d * d is d * d, exactly, so the division (a long latency per slot) is skipped
      // with the same bits.
      if (c == 1) {
        const double d = At<double>(t, sum_off) - mean;
        m2 += At<double>(t, m2_off) + d * d;
        continue;
      }
      const double n = c;
      const double d = At<double>(t, sum_off) / n - mean;
      m2 += At<double>(t, m2_off) + n * d * d;
    }
    *o = std::sqrt(std::max(0.0, m2 / cnt));
  }
}

void ToWire(const Layout& L, const uint8_t* row, const uint8_t* ext, uint8_t* out) {
  if (ext != nullptr) {
    std::memcpy(out, ext, L.row_bytes);
    std::memcpy(out, row, kHeaderBytes);
    return;
  }
  std::memcpy(out, L.fresh.data(), L.row_bytes);
  std::memcpy(out, row, kHeaderBytes);
  if (At<uint64_t>(row, kOffTouch) == 0) return;  // a dead row: only its header is read
  for (size_t gi = 0; gi < L.groups.size(); gi++) {
    const Group& g = L.groups[gi];
    const CGroup& c = L.cgroups[gi];
    const int64_t head = At<int64_t>(row, c.off_head);
    At<int64_t>(out, g.off_head) = head;
    if (head == kEmptyEpoch) continue;
    const uint16_t* ep = reinterpret_cast<const uint16_t*>(row + c.off_ep);
    const uint32_t* cnt = reinterpret_cast<const uint32_t*>(row + c.off_counts);
    uint64_t* bits = reinterpret_cast<uint64_t*>(out + g.off_bits);
    for (int k = 0; k < c.k; k++) {
      if (cnt[k] == 0) continue;
      const uint32_t s = Slot(SlotEpoch(head, ep[k]), g.ntiles);
      bits[s / 64] |= uint64_t(1) << (s % 64);
      At<uint32_t>(out, g.off_counts + 4 * s) = cnt[k];
      std::memcpy(out + g.off_tiles + s * g.tile_bytes, row + c.off_tiles + uint32_t(k) * g.tile_bytes, g.tile_bytes);
    }
  }
  for (size_t fi = 0; fi < L.feats.size(); fi++) {
    const Feat& f = L.feats[fi];
    if (f.group >= 0) continue;
    const Feat& m = L.mem_feats[fi];
    if (f.agg == Agg::DISTINCT) hll::SparseToWire(row + m.off, f.hll_p, kSparseHllEntries, out + f.off);
    else std::memcpy(out + f.off, row + m.off, StateBytes(f));
  }
}

bool FromWire(const Layout& L, const uint8_t* wire, uint8_t* mem) {
  std::memcpy(mem, L.mem_fresh.data(), L.mem_bytes);
  std::memcpy(mem, wire, kHeaderBytes);
  if (At<uint64_t>(wire, kOffTouch) == 0) return true;  // a dead row: only its header is read
  if (L.promote_all) return false;
  return StateFromWire(L, wire, mem);
}

bool StateFromWire(const Layout& L, const uint8_t* wire, uint8_t* mem) {
  for (size_t gi = 0; gi < L.groups.size(); gi++) {
    const Group& g = L.groups[gi];
    const CGroup& c = L.cgroups[gi];
    const int n = g.ntiles;
    const int64_t head = At<int64_t>(wire, g.off_head);
    At<int64_t>(mem, c.off_head) = head;
    const uint64_t* bits = reinterpret_cast<const uint64_t*>(wire + g.off_bits);
    uint16_t* ep = reinterpret_cast<uint16_t*>(mem + c.off_ep);
    uint32_t* cnt = reinterpret_cast<uint32_t*>(mem + c.off_counts);
    int used = 0;
    for (int s = 0; s < n; s++) {
      const bool set = bits[s / 64] >> (s % 64) & 1;
      const uint32_t count = At<uint32_t>(wire, g.off_counts + 4 * uint32_t(s));
      const uint8_t* tile = wire + g.off_tiles + uint32_t(s) * g.tile_bytes;
      if (!set || head == kEmptyEpoch) {  // must hold the neutral tile, as the fresh row's
        if (set || count != 0 || std::memcmp(tile, L.fresh.data() + g.off_tiles + uint32_t(s) * g.tile_bytes, g.tile_bytes) != 0)
          return false;
        continue;
      }
      if (count == 0 || used == c.k) return false;
      // The epoch in (head - n, head] of slot s.
      const int64_t e = head - int64_t((Slot(head, n) + uint32_t(n) - uint32_t(s)) % uint32_t(n));
      ep[used] = uint16_t(e);
      cnt[used] = count;
      std::memcpy(mem + c.off_tiles + uint32_t(used) * g.tile_bytes, tile, g.tile_bytes);
      used++;
    }
    for (uint32_t w = uint32_t(n) / 64; w < (uint32_t(n) + 63) / 64; w++)  // no bits past the ring
      if (n % 64 && bits[w] >> (n % 64)) return false;
  }
  for (size_t fi = 0; fi < L.feats.size(); fi++) {
    const Feat& f = L.feats[fi];
    if (f.group >= 0) continue;
    const Feat& m = L.mem_feats[fi];
    if (f.agg == Agg::DISTINCT) {
      if (!hll::WireToSparse(wire + f.off, f.hll_p, kSparseHllEntries, mem + m.off)) return false;
    } else {
      std::memcpy(mem + m.off, wire + f.off, StateBytes(f));
    }
  }
  return true;
}

}  // namespace row
}  // namespace hotpath
