// 64-bit hashing for entity ids and HyperLogLog. Deterministic across processes (ids are
// stored only as their hash, so a snapshot taken by one process is readable by another).
// Not resistant to adversarial collisions: the front end bounds id length, and a
// collision merges two entities' rows (probability ~n^2/2^65 for n live ids).
#pragma once
#include <cstdint>
#include <cstring>

namespace hotpath {

inline uint64_t Mix64(uint64_t x) {  // splitmix64 finaliser: full avalanche
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline uint64_t HashBytes(const char* p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = Mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  return Mix64(h ^ tail ^ (uint64_t(n) << 56));
}

// Hash of a numeric event value (category hashes, integer ids, plain numbers); -0 == 0.
inline uint64_t HashDouble(double v) {
  if (v == 0) v = 0;
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  return Mix64(bits ^ 0x6a09e667f3bcc909ULL);
}

}  // namespace hotpath
