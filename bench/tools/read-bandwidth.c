// Single-core sequential read bandwidth: the floor under any brute-force embedding scan
// (bench/embedding-topk.ts). Sums 32-byte words of a buffer with AVX2, 4 independent
// accumulators, 10 passes per size; prints the best and mean pass.
//   cc -O2 bench/tools/read-bandwidth.c -o /tmp/read-bandwidth && taskset -c 0 /tmp/read-bandwidth
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx2"))) static long long sum(const unsigned char* p, size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i < n; i += 128) {
    a = _mm256_add_epi32(a, _mm256_load_si256((const __m256i*)(p + i)));
    b = _mm256_add_epi32(b, _mm256_load_si256((const __m256i*)(p + i + 32)));
    c = _mm256_add_epi32(c, _mm256_load_si256((const __m256i*)(p + i + 64)));
    d = _mm256_add_epi32(d, _mm256_load_si256((const __m256i*)(p + i + 96)));
  }
  a = _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, d));
  int o[8];
  _mm256_storeu_si256((__m256i*)o, a);
  return o[0] + o[7];
}

int main(void) {
  const size_t sizes[] = {36u << 20, 64u << 20, 256u << 20};  // the 4-bit scan, int8, fp32 of 1M x 64
  for (int s = 0; s < 3; s++) {
    const size_t n = sizes[s];
    unsigned char* p = aligned_alloc(64, n);
    memset(p, 1, n);
    long long x = 0;
    double best = 1e9, total = 0;
    for (int r = 0; r < 10; r++) {
      double t = now();
      x += sum(p, n);
      t = now() - t;
      if (t < best) best = t;
      total += t;
    }
    printf("%4zu MiB: best %6.2f ms (%.1f GB/s), mean %6.2f ms (checksum %lld)\n", n >> 20, best * 1e3, n / best / 1e9, total / 10 * 1e3, x);
    free(p);
  }
  return 0;
}
