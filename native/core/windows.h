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

// HOTPATH_SLOT_MASKS: the compact ring's scans as SSE2 bit masks (below); define it to 0
// to build the scalar loops alone (bench/tools/slot-scan.cc compares the two).
#ifndef HOTPATH_SLOT_MASKS
#if defined(__SSE2__)
#define HOTPATH_SLOT_MASKS 1
#else
#define HOTPATH_SLOT_MASKS 0
#endif
#endif
#if HOTPATH_SLOT_MASKS
#include <emmintrin.h>
#endif

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

// Adds an event (the stream's field values) to one tile of a group and its count.
inline void AddToTile(uint8_t* tile, uint32_t& count, const Group& g, const double* values) {
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
  AddToTile(row + g.off_tiles + slot * g.tile_bytes, At<uint32_t>(row, g.off_counts + 4 * slot), g, values);
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

// ---------------------------------------------------------------------------------------
// The compact form (row_layout.h). A live slot has count > 0 and an epoch within ntiles
// of the head (a head advance frees the slots it expires), so the 16-bit epoch restores
// as the HLL's do.

inline int64_t SlotEpoch(int64_t head, uint16_t e16) { return head - int64_t(uint16_t(uint16_t(head) - e16)); }

// A ring of kMaxSparseSlots slots (the default compact ring) is scanned as bit masks on
// each event, slot k at bit k: its 16 counts and 16 epochs are 96 bytes, a few SSE2
// compares for the fit check, the expiry and the slot search, where the scalar loops run
// 16 iterations of branches. A shorter ring (k < 16, e.g. a ring of few tiles) keeps the
// scalar loops: its arrays end before 16 entries. (bench/tools/slot-scan.sh: +5 % ingest
// on rows in cache; a read's gather as masks gained nothing there and stays a loop.)
#if HOTPATH_SLOT_MASKS
// Bits of the slots whose count is not 0.
inline uint32_t LiveSlots(const uint32_t* cnt) {
  const __m128i z = _mm_setzero_si128();
  const __m128i* p = reinterpret_cast<const __m128i*>(cnt);
  const __m128i a = _mm_packs_epi32(_mm_cmpeq_epi32(_mm_loadu_si128(p), z), _mm_cmpeq_epi32(_mm_loadu_si128(p + 1), z));
  const __m128i b = _mm_packs_epi32(_mm_cmpeq_epi32(_mm_loadu_si128(p + 2), z), _mm_cmpeq_epi32(_mm_loadu_si128(p + 3), z));
  return ~uint32_t(_mm_movemask_epi8(_mm_packs_epi16(a, b))) & 0xffff;
}
// The distances head16 - ep[k] (16-bit, exact for a live slot: within 2^15 of the head)
// as two vectors of 8 signed lanes.
struct SlotDist {
  __m128i lo, hi;
};
inline SlotDist SlotDistances(const uint16_t* ep, uint16_t head16) {
  const __m128i h = _mm_set1_epi16(int16_t(head16));
  const __m128i* p = reinterpret_cast<const __m128i*>(ep);
  return {_mm_sub_epi16(h, _mm_loadu_si128(p)), _mm_sub_epi16(h, _mm_loadu_si128(p + 1))};
}
// Bits of the slots whose distance d (from SlotDistances) has a <= d <= b, for
// -2^15 <= a, b < 2^15 (a live slot's d is in [0, 2^15)).
inline uint32_t DistInRange(const SlotDist& d, int32_t a, int32_t b) {
  if (a > b) return 0;
  const __m128i lo = _mm_set1_epi16(int16_t(a - 1)), hi = _mm_set1_epi16(int16_t(b + 1));
  const __m128i x = _mm_and_si128(_mm_cmpgt_epi16(d.lo, lo), _mm_cmplt_epi16(d.lo, hi));
  const __m128i y = _mm_and_si128(_mm_cmpgt_epi16(d.hi, lo), _mm_cmplt_epi16(d.hi, hi));
  return uint32_t(_mm_movemask_epi8(_mm_packs_epi16(x, y)));
}
#endif

// Whether CompactUpdateTiles finds a slot for an event at ts (changes nothing).
inline bool CompactTilesFit(const uint8_t* row, const Group& g, const CGroup& c, double ts) {
  const int64_t e = Epoch(ts, g.tile_ms);
  const int64_t head = At<int64_t>(row, c.off_head);
  const int n = g.ntiles;
  if (head == kEmptyEpoch || e <= head - n) return true;
  const int64_t nh = std::max(head, e);
  const uint16_t* ep = reinterpret_cast<const uint16_t*>(row + c.off_ep);
  const uint32_t* cnt = reinterpret_cast<const uint32_t*>(row + c.off_counts);
#if HOTPATH_SLOT_MASKS
  if (c.k == kMaxSparseSlots) {
    // Live slots hold epochs in (head - n, head], at distances [0, n) from the head: the
    // event's own tile (e <= head) is at distance head - e; a slot stays live at the new
    // head nh when its distance is below n - (nh - head).
    const uint32_t live = LiveSlots(cnt);
    const SlotDist d = SlotDistances(ep, uint16_t(head));
    if (e <= head && (live & DistInRange(d, int32_t(head - e), int32_t(head - e)))) return true;
    const int64_t keep = n - (nh - head);
    const int used = keep > 0 ? __builtin_popcount(live & DistInRange(d, 0, int32_t(keep - 1))) : 0;
    return used < c.k;
  }
#endif
  int used = 0;
  for (int k = 0; k < c.k; k++) {
    if (cnt[k] == 0) continue;
    const int64_t se = SlotEpoch(head, ep[k]);
    if (se == e) return true;
    used += se > nh - n;
  }
  return used < c.k;
}

// UpdateTiles on a compact ring; CompactTilesFit must have said yes.
inline void CompactUpdateTiles(uint8_t* row, const Group& g, const CGroup& c, double ts, const double* values) {
  const int64_t e = Epoch(ts, g.tile_ms);
  int64_t& head = At<int64_t>(row, c.off_head);
  const int n = g.ntiles;
  uint16_t* ep = reinterpret_cast<uint16_t*>(row + c.off_ep);
  uint32_t* cnt = reinterpret_cast<uint32_t*>(row + c.off_counts);
  if (head == kEmptyEpoch) {
    head = e;
  } else if (e > head) {
#if HOTPATH_SLOT_MASKS
    if (c.k == kMaxSparseSlots) {
      // Expired: live slots at distance >= n - (e - head) from the old head.
      const int64_t keep = n - (e - head);
      uint32_t gone = LiveSlots(cnt);
      if (keep > 0) gone &= ~DistInRange(SlotDistances(ep, uint16_t(head)), 0, int32_t(keep - 1));
      for (; gone; gone &= gone - 1) cnt[__builtin_ctz(gone)] = 0;
    } else
#endif
      for (int k = 0; k < c.k; k++)
        if (cnt[k] != 0 && SlotEpoch(head, ep[k]) <= e - n) cnt[k] = 0;
    head = e;
  } else if (e <= head - n) {
    return;
  }
  int at = -1, free_at = -1;
  const uint16_t e16 = uint16_t(e);
#if HOTPATH_SLOT_MASKS
  if (c.k == kMaxSparseSlots) {
    // Every live slot is now within n of the head (>= e): its distance decides.
    const uint32_t live = LiveSlots(cnt);
    const int32_t de = int32_t(head - e);
    const uint32_t mine = live & DistInRange(SlotDistances(ep, uint16_t(head)), de, de);
    if (mine) at = __builtin_ctz(mine);
    else if (live != 0xffff) free_at = __builtin_ctz(~live);
  } else
#endif
  for (int k = 0; k < c.k; k++) {
    if (cnt[k] == 0) {
      if (free_at < 0) free_at = k;
    } else if (ep[k] == e16) {  // live slots are within n < 2^15 of the head: 16 bits decide
      at = k;
      break;
    }
  }
  uint8_t* tile;
  if (at < 0) {
    if (free_at < 0) return;  // CompactTilesFit said there was room: not reached
    at = free_at;
    ep[at] = e16;
    tile = row + c.off_tiles + uint32_t(at) * g.tile_bytes;
    for (const Col& col : g.cols) At<double>(tile, col.off) = ColEmpty(col.kind);
  } else {
    tile = row + c.off_tiles + uint32_t(at) * g.tile_bytes;
  }
  AddToTile(tile, cnt[at], g, values);
}

// Whether an event of `stream` at ts fits the compact row (no ring or HLL overflows).
inline bool CompactFits(const Layout& L, const uint8_t* row, int stream, double ts, const double* values) {
  for (int gi : L.stream_groups[stream])
    if (!CompactTilesFit(row, L.groups[gi], L.cgroups[gi], ts)) return false;
  for (int fi : L.stream_feats[stream]) {
    const Feat& f = L.mem_feats[fi];
    if (f.agg == Agg::DISTINCT &&
        !hll::SparseFits(row + f.off, f.hll_p, f.keep_tiles, kSparseHllEntries, Epoch(ts, f.tile_ms), values[f.field]))
      return false;
  }
  return true;
}

// Applies an event to a compact row; CompactFits must have said yes.
inline void CompactUpdate(const Layout& L, uint8_t* row, int stream, double ts, const double* values) {
  for (int gi : L.stream_groups[stream]) CompactUpdateTiles(row, L.groups[gi], L.cgroups[gi], ts, values);
  for (int fi : L.stream_feats[stream]) {
    const Feat& f = L.mem_feats[fi];
    if (f.agg == Agg::DISTINCT)
      hll::SparseAdd(row + f.off, f.hll_p, f.keep_tiles, kSparseHllEntries, Epoch(ts, f.tile_ms), values[f.field]);
    else
      UpdateState(row, f, ts, values);
  }
}

// Compute on a compact row: the same outputs as Compute on its wire form, bit for bit
// (the tiles of a window are summed in epoch order, as the ring's walk does).
void CompactCompute(const Layout& L, const uint8_t* row, double now_ms, double* out);

// The wire form of a compact row whose ext block (if any) is `ext` (nullptr: none, or a
// reference out of bounds). A dead row (write clock 0) is written as the fresh row with
// its header. out: L.row_bytes. Safe on a row a writer is changing (the result is then
// garbage, but every index stays in bounds).
void ToWire(const Layout& L, const uint8_t* row, const uint8_t* ext, uint8_t* out);
// The compact form of a wire row, into mem (L.mem_bytes; its ext reference set to 0).
// False when the wire row does not fit (or is not one the compact form reproduces byte
// for byte): the row must then be promoted (mem gets the header, the caller the block).
bool FromWire(const Layout& L, const uint8_t* wire, uint8_t* mem);
// FromWire's state part: the groups and state blocks of a live row (mem's header and ext
// reference are left as they are: the caller's, e.g. mem_fresh's).
bool StateFromWire(const Layout& L, const uint8_t* wire, uint8_t* mem);

}  // namespace row
}  // namespace hotpath
