#include "hll.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace hotpath {
namespace hll {
namespace {

// 2^-r for ranks 0..64.
struct Pow2Neg {
  double v[65];
  Pow2Neg() {
    for (int r = 0; r <= 64; r++) v[r] = std::ldexp(1.0, -r);
  }
};
const Pow2Neg kPow2Neg;

// log(m / zeros) for every precision and zero count: the small-range correction's log, a
// libm call that was a tenth of a compact read, looked up instead (the same function of
// the same arguments: the same bits).
struct LogRatio {
  double* at[kMaxHllPrecision + 1] = {};  // at[p][zeros], zeros in [1, 2^p]
  std::vector<double> v;
  LogRatio() {
    size_t n = 0;
    for (int p = 0; p <= kMaxHllPrecision; p++) n += (size_t(1) << p) + 1;
    v.resize(n);
    size_t o = 0;
    for (int p = 0; p <= kMaxHllPrecision; p++) {
      const int m = 1 << p;
      at[p] = v.data() + o;
      at[p][0] = 0;  // not read: zeros > 0 there
      for (int z = 1; z <= m; z++) at[p][z] = std::log(double(m) / z);
      o += size_t(m) + 1;
    }
  }
};
const LogRatio kLogRatio;

}  // namespace

void Prune(View h, int p, int64_t old_head, int64_t lo) {
  const uint32_t words = OccWords(p);
  for (uint32_t w = 0; w < words; w++) {
    for (uint64_t word = h.occ[w]; word; word &= word - 1) {
      const uint32_t i = w * 64 + uint32_t(__builtin_ctzll(word));
      if (!PruneReg(h.reg[i], old_head, lo)) h.occ[w] &= ~(uint64_t(1) << (i % 64));
    }
  }
}

namespace {

// The estimate from the sum z of 2^-rank over the registers and the count of zero ranks.
double Finish(double z, int zeros, int p) {
  const int m = 1 << p;
  if (zeros == m) return 0;
  double alpha = m == 16 ? 0.673 : m == 32 ? 0.697 : m == 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
  double e = alpha * m * m / z;
  if (e <= 2.5 * m && zeros > 0) e = m * kLogRatio.at[p][zeros];  // zeros <= m
  return std::round(e);
}

// Ranks up to kFastRank sum exactly in a uint64 as multiples of 2^-kFastRank: 2^p terms of
// at most 2^kFastRank each stay below 2^53 (p <= 12), so the sum converts to a double
// exactly, and equals the double sum in any order (each partial sum is a multiple of
// 2^-kFastRank below 2^13, which a double holds exactly).
constexpr int kFastRank = 40;
static_assert(kMaxHllPrecision + kFastRank <= 52, "the fast HLL sum must stay exact");

// A register's rank within the window [cur - ntiles + 1, cur] of tile epochs, reading only
// entries still retained (keep tiles back from head): what Count and SparseCount read.
struct WindowRank {
  uint32_t dmin = 0, span = 0;
  uint16_t h16 = 0;
  bool none = true;  // no entry can be in the window: every rank reads 0
  WindowRank(int64_t head, int ntiles, int keep, int64_t cur) {
    // Entries older than the retained span may still be stored (expiry is lazy): the same
    // cutoff as Add's keeps reads identical to eager expiry.
    const int64_t lo = std::max(cur - ntiles + 1, head - keep + 1);
    // An entry's epoch is head - d, d = (head - e) mod 2^16 (FullEpoch): lo <= e <= cur is
    // dmin <= d <= dmax, so each entry is one 16-bit difference and one unsigned compare.
    const int64_t dmin64 = std::max<int64_t>(head - cur, 0), dmax64 = std::min<int64_t>(head - lo, 0xffff);
    if (dmax64 < dmin64) return;
    none = false;
    dmin = uint32_t(dmin64);
    span = uint32_t(dmax64 - dmin64);
    h16 = uint16_t(head);
  }
  uint32_t operator()(const Reg& g) const {
    const uint32_t d1 = uint16_t(h16 - g.e1), d2 = uint16_t(h16 - g.e2);
    // Masks, not branches: whether an entry is in the window is a coin flip per register.
    const uint32_t a = g.r1 & (0u - uint32_t(d1 - dmin <= span));  // an empty entry has rank 0
    const uint32_t b = g.r2 & (0u - uint32_t(d2 - dmin <= span));
    return std::max(a, b);
  }
};

// The sum of 2^-rank over m registers, fed the ranks of the occupied ones (the others
// rank 0): exact in an integer while no rank passes kFastRank.
struct RankSum {
  uint32_t occupied = 0, rmax = 0;
  int zeros = 0;
  uint64_t zi = 0;
  void Add(uint32_t r) {
    occupied++;
    rmax = std::max(r, rmax);
    zeros += r == 0;
    zi += (uint64_t(1) << (kFastRank - std::min(r, uint32_t(kFastRank)))) & (0 - uint64_t(r <= uint32_t(kFastRank)));
  }
  // Counts the m - occupied registers of rank 0; whether the integer sum is exact (Z()).
  bool Close(int m) {
    zeros += m - int(occupied);
    zi += uint64_t(m - int(occupied)) << kFastRank;
    return rmax <= uint32_t(kFastRank);
  }
  double Z() const { return double(zi) * (1.0 / double(uint64_t(1) << kFastRank)); }  // exact: a power of two
};

}  // namespace

double Count(const uint8_t* state, int p, int ntiles, int keep, int64_t cur) {
  const int m = 1 << p;
  View h(const_cast<uint8_t*>(state), p);  // read only
  if (*h.head == row::kEmptyEpoch) return 0;
  const WindowRank rank(*h.head, ntiles, keep, cur);
  if (rank.none) return 0;
  // Registers whose bit is clear have rank 0: each adds 2^0 to z and one to zeros.
  const uint32_t words = OccWords(p);
  RankSum sum;
  for (uint32_t w = 0; w < words; w++) {
    const uint64_t bits = w == words - 1 && m % 64 ? h.occ[w] & ((uint64_t(1) << (m % 64)) - 1) : h.occ[w];
    for (uint64_t word = bits; word; word &= word - 1) sum.Add(rank(h.reg[w * 64 + uint32_t(__builtin_ctzll(word))]));
  }
  const bool exact = sum.Close(m);
  if (sum.zeros == m) return 0;
  double z;
  if (exact) {
    z = sum.Z();
  } else {  // a rank beyond the exact range: the double sum in register order, as Estimate
    z = 0;
    for (int i = 0; i < m; i++) z += kPow2Neg.v[rank(h.reg[i]) & 63];
  }
  return Finish(z, sum.zeros, p);
}

double SparseCount(const uint8_t* state, int p, int slots, int ntiles, int keep, int64_t cur) {
  // Count's steps over the occupied registers (the entries with r1 != 0) instead of the
  // bitmap: the exact integer sum does not depend on their order.
  const int m = 1 << p;
  const int64_t head = row::At<int64_t>(state, kOffHead);
  if (head == row::kEmptyEpoch) return 0;
  const WindowRank rank(head, ntiles, keep, cur);
  if (rank.none) return 0;
  const SparseEntry* en = Entries(state);
  RankSum sum;
  for (int i = 0; i < slots; i++)
    if (en[i].r.r1 != 0) sum.Add(rank(en[i].r));
  const bool exact = sum.Close(m);
  if (sum.zeros == m) return 0;
  double z;
  if (exact) {
    z = sum.Z();
  } else {  // Count's double sum in register order
    uint8_t ranks[1 << kMaxHllPrecision];
    std::fill(ranks, ranks + m, uint8_t(0));
    for (int i = 0; i < slots; i++)
      if (en[i].r.r1 != 0) ranks[en[i].reg & (m - 1)] = uint8_t(rank(en[i].r));
    z = 0;
    for (int i = 0; i < m; i++) z += kPow2Neg.v[ranks[i] & 63];
  }
  return Finish(z, sum.zeros, p);
}

void SparseToWire(const uint8_t* sparse, int p, int slots, uint8_t* out) {
  const uint32_t m = 1u << p;
  View h(out, p);
  *h.head = row::At<int64_t>(sparse, kOffHead);
  *h.pruned = row::At<int64_t>(sparse, kOffPruned);
  const SparseEntry* en = Entries(sparse);
  for (int i = 0; i < slots; i++) {
    if (en[i].r.r1 == 0) continue;
    const uint32_t reg = en[i].reg & (m - 1);
    h.reg[reg] = en[i].r;
    h.occ[reg / 64] |= uint64_t(1) << (reg % 64);
  }
}

bool WireToSparse(const uint8_t* wire, int p, int slots, uint8_t* out) {
  const uint32_t m = 1u << p;
  View h(const_cast<uint8_t*>(wire), p);  // read only
  std::memset(out, 0, SparseBytes(slots));
  row::At<int64_t>(out, kOffHead) = *h.head;
  row::At<int64_t>(out, kOffPruned) = *h.pruned;
  SparseEntry* en = Entries(out);
  int n = 0;
  for (uint32_t w = 0; w < OccWords(p); w++) {
    const uint64_t valid = m - w * 64 >= 64 ? ~uint64_t(0) : (uint64_t(1) << (m - w * 64)) - 1;
    if (h.occ[w] & ~valid) return false;
  }
  for (uint32_t i = 0; i < m; i++) {
    const Reg& g = h.reg[i];
    const bool set = h.occ[i / 64] >> (i % 64) & 1;
    if (!set) {
      if (g.r1 != 0 || g.r2 != 0) return false;  // an entry the bitmap does not list
      continue;  // an empty register: its epochs are never read (Prune left some behind)
    }
    if (g.r1 == 0 || n == slots) return false;
    en[n].reg = uint16_t(i);
    en[n].r = g;
    n++;
  }
  return true;
}

double Estimate(const uint8_t* ranks, int p) {
  const int m = 1 << p;
  double z = 0;
  int zeros = 0;
  for (int i = 0; i < m; i++) {
    z += kPow2Neg.v[ranks[i] & 63];
    zeros += ranks[i] == 0;
  }
  return Finish(z, zeros, p);
}

}  // namespace hll
}  // namespace hotpath
