#include "hll.h"

#include <cmath>

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

}  // namespace

void Prune(View h, int p, int64_t old_head, int64_t lo) {
  const int m = 1 << p;
  for (int i = 0; i < m; i++) {
    Reg& g = h.reg[i];
    if (g.r2 && FullEpoch(old_head, g.e2) < lo) g.r2 = 0;
    if (g.r1 && FullEpoch(old_head, g.e1) < lo) {
      g.r1 = g.r2;
      g.e1 = g.e2;
      g.r2 = 0;
    }
  }
}

double Count(const uint8_t* state, int p, int ntiles, int keep, int64_t cur) {
  const int m = 1 << p;
  View h(const_cast<uint8_t*>(state));  // read only
  const int64_t head = *h.head;
  if (head == row::kEmptyEpoch) return 0;
  // Entries older than the retained span may still be stored (expiry is lazy): the same
  // cutoff as Add's keeps reads identical to eager expiry.
  const int64_t lo = std::max(cur - ntiles + 1, head - keep + 1);
  uint8_t ranks[1 << kMaxHllPrecision];
  for (int i = 0; i < m; i++) {
    uint8_t r = 0;
    const Reg& g = h.reg[i];
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
  return Estimate(ranks, p);
}

double Estimate(const uint8_t* ranks, int p) {
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

}  // namespace hll
}  // namespace hotpath
