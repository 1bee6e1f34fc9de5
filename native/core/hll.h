// Distinct-count state: a sliding HyperLogLog. Each register keeps up to two
// (rank, tile epoch) entries from the "list of future possible maxima" of Chabchoub &
// Hebrail's sliding HLL: the largest rank seen in the window and the largest one seen
// after it. Truncating the list to two makes the estimate a slight underestimate right
// after a register's maximum expires; docs/config.md states the measured error.
//
// State block (row_layout.h places it in the row): int64 newest epoch seen, int64 epoch
// of the last full expiry pass, a bitmap of the registers that may hold an entry (a clear
// bit: both entries empty; reads and expiry passes visit only the set ones, which for the
// small cardinalities of most entities is a few of the 2^p), then 2^p registers of 6 bytes. Epochs are stored in 16
// bits; FullEpoch restores them relative to the head, which is why a window plus
// max_future may span at most kMaxTilesPerWindow + 64 tiles (well below 2^15).
//
// HllAdd is on the ingest path and stays inline here; reads (HllCount) are in hll.cc.
#pragma once
#include <algorithm>
#include <cstdint>

#include "hash.h"
#include "row_layout.h"

namespace hotpath {
namespace hll {

struct Reg {  // one register: its two entries, packed so an update touches one line
  uint16_t e1, e2;
  uint8_t r1, r2;
};
static_assert(sizeof(Reg) == 6, "HLL register is 6 bytes");

constexpr uint32_t kOffHead = 0, kOffPruned = 8, kOffOcc = 16;

inline uint32_t OccWords(int p) { return ((1u << p) + 63u) / 64u; }
inline uint32_t RegsOff(int p) { return kOffOcc + 8u * OccWords(p); }
inline uint32_t Bytes(int p) { return row::Align8(RegsOff(p) + (1u << p) * 6u); }
inline int64_t FullEpoch(int64_t head, uint16_t e16) { return head - int64_t(uint16_t(uint16_t(head) - e16)); }
// The register a value lands in (the top p bits of its hash).
inline uint32_t RegisterOf(double x, int p) { return uint32_t(HashDouble(x) >> (64 - p)); }

struct View {
  int64_t* head;
  int64_t* pruned;
  uint64_t* occ;
  Reg* reg;
  View(uint8_t* base, int p)
      : head(reinterpret_cast<int64_t*>(base + kOffHead)),
        pruned(reinterpret_cast<int64_t*>(base + kOffPruned)),
        occ(reinterpret_cast<uint64_t*>(base + kOffOcc)),
        reg(reinterpret_cast<Reg*>(base + RegsOff(p))) {}
};

// Drops the entries older than lo from every register (the lazy expiry's full pass).
void Prune(View h, int p, int64_t old_head, int64_t lo);

// The rank a value's hash gives in a register (the leading zeros after the p register bits, + 1).
inline uint8_t RankOf(uint64_t hv, int p) {
  const uint64_t w = hv << p;
  return uint8_t(w == 0 ? 64 - p + 1 : __builtin_clzll(w) + 1);
}

// One register's update with an entry (rank, epoch e), head and keep as Add has them.
inline void UpdateReg(Reg& rg, int64_t head, int keep, uint8_t rank, int64_t e) {
  struct E {
    uint8_t r;
    int64_t e;
  } c[3];
  int k = 0;
  const int64_t live_from = head - keep + 1;  // older entries have expired
  if (rg.r1 && FullEpoch(head, rg.e1) >= live_from) c[k++] = {rg.r1, FullEpoch(head, rg.e1)};
  if (rg.r2 && FullEpoch(head, rg.e2) >= live_from) c[k++] = {rg.r2, FullEpoch(head, rg.e2)};
  c[k++] = {rank, e};
  // Keep the Pareto front (no other entry both ranks >= and is at least as new), highest
  // rank first, then its two best.
  std::sort(c, c + k, [](const E& a, const E& b) { return a.r != b.r ? a.r > b.r : a.e > b.e; });
  E front[3];
  int nf = 0;
  for (int i = 0; i < k; i++)
    if (nf == 0 || c[i].e > front[nf - 1].e) front[nf++] = c[i];
  rg.r1 = front[0].r;
  rg.e1 = uint16_t(front[0].e);
  rg.r2 = nf > 1 ? front[1].r : 0;
  rg.e2 = nf > 1 ? uint16_t(front[1].e) : 0;
}

// Prune's rule for one register (entries older than lo, epochs relative to old_head);
// true when it still holds an entry. A register left empty is zeroed whole, so that the
// wire form of an empty register is all zeros (the compact form relies on it).
inline bool PruneReg(Reg& g, int64_t old_head, int64_t lo) {
  if (g.r2 && FullEpoch(old_head, g.e2) < lo) g.r2 = 0;
  if (g.r1 && FullEpoch(old_head, g.e1) < lo) {
    g.r1 = g.r2;
    g.e1 = g.e2;
    g.r2 = 0;
  }
  if (g.r1 == 0 && g.r2 == 0) {
    g = Reg{0, 0, 0, 0};
    return false;
  }
  return true;
}

// Adds value x at tile epoch e to the state at `state`: p bits of precision, entries kept
// for keep tiles (window + max_future).
inline void Add(uint8_t* state, int p, int keep, int64_t e, double x) {
  View h(state, p);
  if (*h.head == row::kEmptyEpoch) {
    *h.head = e;
    *h.pruned = e;
  } else if (e > *h.head) {
    // Expired entries are ignored where they are read; a full pass that drops them runs
    // only once the head has moved `keep` tiles past the last pass. Every stored epoch
    // then stays within 2 keep - 2 tiles of the head, so its 16-bit form never aliases
    // (keep <= 16384 + 64), at a fraction of a pass per tile advance.
    if (e - *h.pruned >= keep) {
      Prune(h, p, *h.head, e - keep + 1);
      *h.pruned = e;
    }
    *h.head = e;
  } else if (e <= *h.head - keep) {
    return;
  }
  const uint64_t hv = HashDouble(x);
  const uint32_t reg = uint32_t(hv >> (64 - p));
  UpdateReg(h.reg[reg], *h.head, keep, RankOf(hv, p), e);
  h.occ[reg / 64] |= uint64_t(1) << (reg % 64);  // front[0] is this event's entry or a higher one
}

// ---------------------------------------------------------------------------------------
// The sparse form of the compact row (row_layout.h): int64 head, int64 pruned, then
// `slots` entries {u16 register, Reg}; an entry with r1 == 0 is free. It holds exactly the
// wire form's occupied registers (a register is occupied iff its r1 != 0), so Add's and
// Count's rules run on the entries unchanged.

struct SparseEntry {
  uint16_t reg;
  Reg r;
};
static_assert(sizeof(SparseEntry) == 8, "sparse HLL entry is 8 bytes");
inline uint32_t SparseBytes(int slots) { return 16u + 8u * uint32_t(slots); }
inline SparseEntry* Entries(uint8_t* state) { return reinterpret_cast<SparseEntry*>(state + 16); }
inline const SparseEntry* Entries(const uint8_t* state) { return reinterpret_cast<const SparseEntry*>(state + 16); }

// Whether SparseAdd of (e, x) finds room: false when the value needs an entry and all
// `slots` are taken (after the expiry pass that Add would run). Changes nothing.
inline bool SparseFits(const uint8_t* state, int p, int keep, int slots, int64_t e, double x) {
  const int64_t head = row::At<int64_t>(state, kOffHead), pruned = row::At<int64_t>(state, kOffPruned);
  if (head == row::kEmptyEpoch) return true;
  const bool prune = e > head && e - pruned >= keep;
  if (e <= head && e <= head - keep) return true;  // dropped
  const uint32_t reg = RegisterOf(x, p);
  const SparseEntry* en = Entries(state);
  int used = 0;
  for (int i = 0; i < slots; i++) {
    if (en[i].r.r1 == 0) continue;
    if (prune) {
      Reg g = en[i].r;
      if (!PruneReg(g, head, e - keep + 1)) continue;
    }
    if (en[i].reg == reg) return true;
    used++;
  }
  return used < slots;
}

// Add on the sparse form; SparseFits must have said yes.
inline void SparseAdd(uint8_t* state, int p, int keep, int slots, int64_t e, double x) {
  int64_t& head = row::At<int64_t>(state, kOffHead);
  int64_t& pruned = row::At<int64_t>(state, kOffPruned);
  SparseEntry* en = Entries(state);
  if (head == row::kEmptyEpoch) {
    head = e;
    pruned = e;
  } else if (e > head) {
    if (e - pruned >= keep) {
      for (int i = 0; i < slots; i++)
        if (en[i].r.r1 != 0 && !PruneReg(en[i].r, head, e - keep + 1)) en[i].reg = 0;
      pruned = e;
    }
    head = e;
  } else if (e <= head - keep) {
    return;
  }
  const uint64_t hv = HashDouble(x);
  const uint32_t reg = uint32_t(hv >> (64 - p));
  int at = -1, free_at = -1;
  for (int i = 0; i < slots; i++) {
    if (en[i].r.r1 == 0) {
      if (free_at < 0) free_at = i;
    } else if (en[i].reg == reg) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    if (free_at < 0) return;  // SparseFits said there was room: not reached
    at = free_at;
    en[at].reg = uint16_t(reg);
    en[at].r = Reg{0, 0, 0, 0};
  }
  UpdateReg(en[at].r, head, keep, RankOf(hv, p), e);
}

// Count on the sparse form: the same estimate as Count on its wire form.
double SparseCount(const uint8_t* state, int p, int slots, int ntiles, int keep, int64_t cur);

// The wire form of a sparse state (out: Bytes(p), already the fresh state's bytes).
// Register numbers are masked to 2^p (a racy read stays in bounds).
void SparseToWire(const uint8_t* sparse, int p, int slots, uint8_t* out);
// The sparse form of a wire state; false when it does not fit in `slots` entries or the
// wire state is not one the sparse form reproduces byte for byte (then out is garbage).
bool WireToSparse(const uint8_t* wire, int p, int slots, uint8_t* out);

// The distinct count of the window [cur - ntiles + 1, cur] (tile epochs), reading only
// entries still retained (keep tiles back from the head, as Add expires them).
double Count(const uint8_t* state, int p, int ntiles, int keep, int64_t cur);

// The HyperLogLog estimate of 2^p registers' ranks (with the small-range correction).
double Estimate(const uint8_t* ranks, int p);

}  // namespace hll
}  // namespace hotpath
