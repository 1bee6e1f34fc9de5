// Aggregate updates and reads over a row laid out by row_layout.h.
//
// Windows. A group's ring holds ntiles tiles of tile_ms; an event lands in the tile of
// its epoch (floor(ts / tile_ms)), and advancing the head clears the tiles it passes. A
// window of W ms with tile T covers the tile holding the read time and the W/T - 1 tiles
// before it, i.e. between W - T and W of event time. Reads walk only the occupied tiles
// (the bitmap), one pass per (window, column).
//
// UpdateTiles and UpdateState run for every event: inline here, so the ingest loop in
// feature_store.cc keeps them inlined. Compute (a whole row's read) is in windows.cc.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "hll.h"
#include "row_layout.h"

namespace hotpath {
namespace row {

// Calls f(slot) for each occupied ring slot of epochs lo..hi (at most n of them): the
// range is at most two contiguous slot segments, walked 64 slots at a time through the
// occupancy bitmap, so empty tiles cost nothing and no tile needs a division.
template <typename F>
inline void ForOccupied(const uint64_t* bits, int64_t lo, int64_t hi, int n, F&& f) {
  if (hi < lo) return;
  const uint32_t len = uint32_t(std::min<int64_t>(hi - lo + 1, n));
  // Epochs of valid times are >= 0: one unsigned division then (a read pays one per pass).
  const uint32_t s0 = lo >= 0 ? uint32_t(uint64_t(lo) % uint32_t(n)) : uint32_t(((lo % n) + n) % n);
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

// Adds an event (time ts, the stream's field values) to a group's ring.
inline void UpdateTiles(uint8_t* row, const Group& g, double ts, const double* values) {
  const int64_t e = Epoch(ts, g.tile_ms);
  int64_t& head = At<int64_t>(row, g.off_head);
  const int n = g.ntiles;
  uint64_t* bits = reinterpret_cast<uint64_t*>(row + g.off_bits);
  // A tile whose bit is clear already holds the neutral state (a fresh row's tiles do, and
  // only clear() drops a bit): advancing over the empty tiles of a sparse entity writes
  // nothing to them, so a head that jumps a whole ring touches only the occupied tiles.
  auto clear = [&](uint32_t slot) {
    const uint64_t bit = uint64_t(1) << (slot % 64);
    if (!(bits[slot / 64] & bit)) return;
    bits[slot / 64] &= ~bit;
    uint8_t* tile = row + g.off_tiles + slot * g.tile_bytes;
    At<uint32_t>(row, g.off_counts + 4 * slot) = 0;
    for (const Col& c : g.cols) At<double>(tile, c.off) = ColEmpty(c.kind);
  };
  if (head == kEmptyEpoch) {
    head = e;
  } else if (e > head) {
    const int64_t adv = e - head;
    if (adv >= n) {
      for (int s = 0; s < n; s++) clear(uint32_t(s));
    } else {
      uint32_t s = Slot(head + 1, n);  // then step, wrapping: one division per advance
      for (int64_t k = 1; k <= adv; k++) {
        clear(s);
        s = s + 1 == uint32_t(n) ? 0 : s + 1;
      }
    }
    head = e;
  } else if (e <= head - n) {
    return;  // older than anything this ring still holds
  }
  const uint32_t slot = Slot(e, n);
  bits[slot / 64] |= uint64_t(1) << (slot % 64);
  uint8_t* tile = row + g.off_tiles + slot * g.tile_bytes;
  uint32_t& count = At<uint32_t>(row, g.off_counts + 4 * slot);
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

// Adds an event to the state block of a feature outside the groups (last, ewm, last_n,
// distinct).
inline void UpdateState(uint8_t* row, const Feat& f, double ts, const double* values) {
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
    case Agg::DISTINCT:
      hll::Add(row + f.off, f.hll_p, f.keep_tiles, Epoch(ts, f.tile_ms), x);
      break;
    default:
      break;
  }
}

// Writes the layout's width() outputs for the row at read time now_ms.
void Compute(const Layout& L, const uint8_t* row, double now_ms, double* out);

}  // namespace row
}  // namespace hotpath
