#include "windows.h"

namespace hotpath {
namespace row {

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
}

}  // namespace row
}  // namespace hotpath
