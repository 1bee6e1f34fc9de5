// libFuzzer target: the .npy reader and the scans behind it (native/core/embedding.h). The
// input is a whole file: ParseNpy must refuse what breaks the format's rules with a status
// and never read outside the bytes; a file it accepts becomes an index (FromMatrix on its
// rows, which refuses NaN and infinities) and answers top-k queries, fast and exact, with
// and without filters, whose rows are in range, distinct and best first.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../core/embedding.h"

using namespace hotpath;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  NpyLayout l;
  if (!ParseNpy(data, size, &l).ok()) return 0;
  if (l.data_offset + size_t(l.rows) * size_t(l.dim) * 4 != size) std::abort();
  std::vector<float> m(size_t(l.rows) * size_t(l.dim));
  if (!m.empty()) std::memcpy(m.data(), data + l.data_offset, m.size() * 4);
  std::unique_ptr<EmbeddingIndex> ix;
  if (!EmbeddingIndex::FromMatrix(m.data(), l.rows, l.dim, &ix).ok()) return 0;
  std::vector<float> q(size_t(l.dim), 1.0f);
  for (int j = 0; j < l.dim && j < l.rows * l.dim; j++) q[size_t(j)] = m[size_t(j)];
  const std::vector<int32_t> exclude = {0, int32_t(l.rows / 2), -1};
  std::vector<uint8_t> allowed(size_t((l.rows + 7) / 8), 0x5A);
  TopkScratch s;
  std::vector<int32_t> rows(64);
  std::vector<float> scores(64);
  for (int variant = 0; variant < 4; variant++) {
    TopkRequest r;
    r.query = q.data();
    r.k = int(size % 64);
    r.exact = variant & 1;
    if (variant & 2) {
      r.exclude = exclude.data();
      r.n_exclude = exclude.size();
      r.allowed = allowed.data();
      r.allowed_bytes = allowed.size();
    }
    int w = -1;
    if (!ix->TopK(r, &s, rows.data(), scores.data(), &w).ok()) std::abort();
    if (w < 0 || w > r.k || w > l.rows) std::abort();
    for (int i = 0; i < w; i++) {
      if (rows[size_t(i)] < 0 || rows[size_t(i)] >= l.rows) std::abort();
      if (i > 0 && (scores[size_t(i)] > scores[size_t(i - 1)] || rows[size_t(i)] == rows[size_t(i - 1)])) std::abort();
    }
  }
  return 0;
}
