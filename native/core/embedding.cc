// Embedding top-k (embedding.h): the .npy reader, the 4-bit codes, and the three scans
// (exact fp32, fast 4-bit + re-rank, CUDA through cuda_backend.h).
#include "embedding.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "cuda_backend.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HP_EMBEDDING_AVX2 1
#endif

namespace hotpath {
namespace {

constexpr int kBlockDims = 64;    // dims per block of codes
constexpr int kBlockBytes = 32;   // two 4-bit codes per byte
constexpr int kCodeMax = 7;       // codes are -7..7, stored + 8 as a nibble (1..15)
constexpr int kQueryMax = 127;    // the query's int8 codes are -127..127
constexpr int64_t kMaxRows = std::numeric_limits<int32_t>::max();

// "a better than b": higher score, or the same score and the lower row.
inline bool Better(const TopkCandidate& a, const TopkCandidate& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}

// The best `cap` candidates offered. Offers go into a buffer of 2 * cap; when it is full,
// nth_element keeps the best cap and the threshold rises to the worst of them: O(1) per
// offer amortised (a binary heap cost ~9 sift steps per offer, a third of a 100k-row
// scan). Rows are offered in increasing order, so a row that only ties the threshold is
// not better than the kept row it ties (that one has the lower row): offering strictly
// above threshold() keeps the lower row on ties. Finish() leaves the best cap, unordered.
class Best {
 public:
  Best(std::vector<TopkCandidate>* buf, int cap) : b_(*buf), cap_(size_t(cap)) {
    b_.clear();
    if (b_.capacity() < 2 * cap_) b_.reserve(2 * cap_);
  }
  float threshold() const { return thr_; }
  void Offer(float score, int32_t row) {
    b_.push_back({score, row});
    if (b_.size() == 2 * cap_) Shrink();
  }
  void Finish() {
    if (b_.size() > cap_) Shrink();
  }

 private:
  void Shrink() {
    std::nth_element(b_.begin(), b_.begin() + (cap_ - 1), b_.end(), Better);
    b_.resize(cap_);
    thr_ = b_[cap_ - 1].score;
  }

  std::vector<TopkCandidate>& b_;
  size_t cap_;
  float thr_ = -std::numeric_limits<float>::infinity();
};

// The request's filters; exclude is the scratch's sorted copy.
struct Filter {
  const TopkRequest& req;
  const int32_t* ex_begin;
  const int32_t* ex_end;
  bool Passes(int64_t row) const {
    if (req.allowed && !((req.allowed[row >> 3] >> (row & 7)) & 1)) return false;
    if (req.categories && int32_t(req.categories[row]) != req.category) return false;
    return ex_begin == ex_end || !std::binary_search(ex_begin, ex_end, int32_t(row));
  }
};

// Candidate handling shared by every scan: filter, then keep if still above threshold.
inline void Consider(const Filter& f, Best& best, float score, int64_t row) {
  if (score > best.threshold() && f.Passes(row)) best.Offer(score, int32_t(row));
}

// The portable 4-bit score of one row (the AVX2 loop's twin): an exact integer sum, one
// float conversion (exact below 2^24) and one float multiply.
inline float ApproxRow(const uint8_t* codes, int blocks, const int8_t* q8, int32_t bias, float scale) {
  int32_t acc = 0;
  for (int b = 0; b < blocks; b++) {
    const uint8_t* p = codes + b * kBlockBytes;
    const int8_t* q = q8 + b * kBlockDims;
    for (int j = 0; j < kBlockBytes; j++) acc += int32_t(p[j] & 15) * q[j] + int32_t(p[j] >> 4) * q[j + 32];
  }
  return float(acc - bias) * scale;
}

#ifdef HP_EMBEDDING_AVX2
bool HaveAvx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

// Rows [begin, end) with end - begin a multiple of 8. Per row: the 32-byte code blocks
// split into low and high nibbles (u8 0..15) times the query's int8 codes (maddubs: pairs
// summed into int16, at most 2 * 15 * 127, so no saturation), widened to int32; eight
// rows' sums are reduced together with hadd, converted and scaled as ApproxRow does.
__attribute__((target("avx2"))) void ScanAvx2(const uint8_t* codes, const float* scales, int blocks,
                                              const int8_t* q8, int32_t bias, int64_t begin, int64_t end,
                                              const Filter& f, Best& best) {
  const __m256i nib = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i vbias = _mm256_set1_epi32(bias);
  const size_t row_bytes = size_t(blocks) * kBlockBytes;
  alignas(32) float v[8];
  const __m256i qlo0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8));
  const __m256i qhi0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32));
  for (int64_t i = begin; i < end; i += 8) {
    __m256i acc[8];
    const uint8_t* base = codes + size_t(i) * row_bytes;
    // 4 KiB ahead: the hardware prefetcher alone left the scan ~20% short of the
    // sequential read rate on Zen 3 (bench/results/2026-12-06-embedding-topk.md).
    for (size_t o = 0; o < 8 * row_bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(base + 4096 + o), _MM_HINT_T0);
    if (blocks == 1) {  // dim <= 64, the common case: the query's codes stay in registers
      for (int r = 0; r < 8; r++) {
        const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + r * kBlockBytes));
        const __m256i lo = _mm256_and_si256(c, nib);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), nib);
        acc[r] = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, qlo0), _mm256_maddubs_epi16(hi, qhi0)), ones);
      }
    } else {
    for (int r = 0; r < 8; r++) {
      const uint8_t* p = base + size_t(r) * row_bytes;
      __m256i a = _mm256_setzero_si256();
      for (int b = 0; b < blocks; b++) {
        const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + b * kBlockBytes));
        const __m256i qlo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + b * kBlockDims));
        const __m256i qhi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + b * kBlockDims + 32));
        const __m256i lo = _mm256_and_si256(c, nib);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), nib);
        const __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(lo, qlo), _mm256_maddubs_epi16(hi, qhi));
        a = _mm256_add_epi32(a, _mm256_madd_epi16(s, ones));
      }
      acc[r] = a;
    }
    }
    const __m256i h01 = _mm256_hadd_epi32(acc[0], acc[1]), h23 = _mm256_hadd_epi32(acc[2], acc[3]);
    const __m256i h45 = _mm256_hadd_epi32(acc[4], acc[5]), h67 = _mm256_hadd_epi32(acc[6], acc[7]);
    const __m256i h03 = _mm256_hadd_epi32(h01, h23), h47 = _mm256_hadd_epi32(h45, h67);
    const __m256i sum = _mm256_add_epi32(_mm256_permute2x128_si256(h03, h47, 0x20),
                                         _mm256_permute2x128_si256(h03, h47, 0x31));
    const __m256 score = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(sum, vbias)), _mm256_loadu_ps(scales + i));
    int mask = _mm256_movemask_ps(_mm256_cmp_ps(score, _mm256_set1_ps(best.threshold()), _CMP_GT_OQ));
    if (!mask) continue;
    // The mask used the threshold before this batch; Consider re-checks each row against
    // the current one, in row order, exactly as the portable loop does.
    _mm256_store_ps(v, score);
    while (mask) {
      const int r = __builtin_ctz(unsigned(mask));
      mask &= mask - 1;
      Consider(f, best, v[r], i + r);
    }
  }
}
#endif

std::string Shape(int64_t n, int64_t d) { return "(" + std::to_string(n) + ", " + std::to_string(d) + ")"; }

// The header of a .npy file: a Python dict literal with 'descr', 'fortran_order' and
// 'shape' (numpy.lib.format). Only the literal forms numpy writes are accepted.
struct NpyHeader {
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  bool has_descr = false, has_fortran = false, has_shape = false;
};

class DictParser {
 public:
  DictParser(const char* p, const char* end) : p_(p), end_(end) {}

  bool Parse(NpyHeader* h, std::string* why) {
    Ws();
    if (!Eat('{')) return Fail(why, "header is not a dict literal");
    for (;;) {
      Ws();
      if (Eat('}')) break;
      std::string key;
      if (!Str(&key)) return Fail(why, "header dict key is not a string");
      Ws();
      if (!Eat(':')) return Fail(why, "header dict has no ':' after '" + key + "'");
      Ws();
      if (key == "descr") {
        if (!Str(&h->descr)) return Fail(why, "dtype is not a simple type string (structured dtypes are not supported)");
        h->has_descr = true;
      } else if (key == "fortran_order") {
        if (Word("True")) h->fortran = true;
        else if (Word("False")) h->fortran = false;
        else return Fail(why, "fortran_order is not True or False");
        h->has_fortran = true;
      } else if (key == "shape") {
        if (!Tuple(&h->shape)) return Fail(why, "shape is not a tuple of whole numbers");
        h->has_shape = true;
      } else {
        return Fail(why, "unknown header key '" + key + "'");
      }
      Ws();
      if (Eat(',')) continue;
      Ws();
      if (Eat('}')) break;
      return Fail(why, "header dict is malformed after '" + key + "'");
    }
    Ws();
    if (p_ != end_) return Fail(why, "header has bytes after its dict");
    if (!h->has_descr || !h->has_fortran || !h->has_shape)
      return Fail(why, "header lacks one of 'descr', 'fortran_order', 'shape'");
    return true;
  }

 private:
  static bool Fail(std::string* why, const std::string& m) {
    *why = m;
    return false;
  }
  void Ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\t' || *p_ == '\r')) p_++;
  }
  bool Eat(char c) {
    if (p_ < end_ && *p_ == c) {
      p_++;
      return true;
    }
    return false;
  }
  bool Word(const char* w) {
    const size_t len = std::strlen(w);
    if (size_t(end_ - p_) < len || std::memcmp(p_, w, len) != 0) return false;
    p_ += len;
    return true;
  }
  bool Str(std::string* out) {
    if (p_ >= end_ || (*p_ != '\'' && *p_ != '"')) return false;
    const char q = *p_++;
    const char* s = p_;
    while (p_ < end_ && *p_ != q) {
      if (*p_ == '\\') return false;
      p_++;
    }
    if (p_ >= end_) return false;
    out->assign(s, size_t(p_ - s));
    p_++;
    return true;
  }
  bool Tuple(std::vector<int64_t>* out) {
    out->clear();
    if (!Eat('(')) return false;
    for (;;) {
      Ws();
      if (Eat(')')) return true;
      if (p_ >= end_ || *p_ < '0' || *p_ > '9') return false;
      int64_t v = 0;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        if (v > (int64_t(1) << 50)) return false;
        v = v * 10 + (*p_++ - '0');
      }
      out->push_back(v);
      Ws();
      if (Eat(',')) continue;
      Ws();
      return Eat(')');
    }
  }

  const char* p_;
  const char* end_;
};

}  // namespace

float EmbeddingDot(const float* a, const float* b, int dim) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= dim; i += 8)
    for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
  float tail = 0;
  for (; i < dim; i++) tail += a[i] * b[i];
  return (((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]))) + tail;
}

EmbeddingIndex::~EmbeddingIndex() {
  if (cuda_) CudaTopkDestroy(cuda_);
  std::free(codes_);
  if (map_) munmap(map_, map_bytes_);
}

int EmbeddingIndex::Candidates(int k) { return std::max(k * kEmbeddingRerankFactor, kEmbeddingRerankMin); }

Status EmbeddingIndex::FromMatrix(const float* m, int64_t n, int dim, std::unique_ptr<EmbeddingIndex>* out) {
  if (dim < 1 || dim > kEmbeddingMaxDim)
    return Status::InvalidArg("embedding: dim " + std::to_string(dim) + " out of range [1, " + std::to_string(kEmbeddingMaxDim) + "]");
  if (n < 0 || n > kMaxRows) return Status::InvalidArg("embedding: count " + std::to_string(n) + " out of range");
  if (n > 0 && !m) return Status::InvalidArg("embedding: no matrix");
  std::unique_ptr<EmbeddingIndex> ix(new EmbeddingIndex());
  ix->n_ = n;
  ix->dim_ = dim;
  ix->owned_.assign(m, m + size_t(n) * size_t(dim));
  ix->rows_ = ix->owned_.data();
  Status s = ix->Build();
  if (!s.ok()) return Status::InvalidArg("embedding: " + s.message());
  *out = std::move(ix);
  return Status::Ok();
}

Status ParseNpy(const uint8_t* b, size_t size, NpyLayout* out) {
  auto bad = [](const std::string& why) { return Status::InvalidArg(why); };
  if (size < 10) return bad("not a .npy file (" + std::to_string(size) + " bytes)");
  if (std::memcmp(b, "\x93NUMPY", 6) != 0) return bad("not a .npy file (no \\x93NUMPY magic)");
  const int major = b[6], minor = b[7];
  size_t header_at, hlen;
  if (major == 1) {
    header_at = 10;
    hlen = size_t(b[8]) | size_t(b[9]) << 8;
  } else if (major == 2 || major == 3) {
    if (size < 12) return bad("header is truncated");
    header_at = 12;
    hlen = size_t(b[8]) | size_t(b[9]) << 8 | size_t(b[10]) << 16 | size_t(b[11]) << 24;
  } else {
    return bad(".npy format version " + std::to_string(major) + "." + std::to_string(minor) + " is not supported (1.0, 2.0, 3.0)");
  }
  if (hlen > size - header_at) return bad("header is truncated (" + std::to_string(hlen) + " bytes declared)");
  NpyHeader h;
  std::string why;
  const char* text = reinterpret_cast<const char*>(b + header_at);
  if (!DictParser(text, text + hlen).Parse(&h, &why)) return bad(why);
  if (h.descr != "<f4") {
    if (h.descr == ">f4") return bad("dtype '>f4' is big-endian float32; save little-endian float32 ('<f4')");
    return bad("dtype '" + h.descr + "' is not float32; save the matrix with .astype('<f4')");
  }
  if (h.fortran) return bad("Fortran order is not supported; save a C-ordered array (np.ascontiguousarray)");
  if (h.shape.size() != 2) {
    std::string s = "(";
    for (size_t i = 0; i < h.shape.size(); i++) s += (i ? ", " : "") + std::to_string(h.shape[i]);
    return bad("shape " + s + (h.shape.size() == 1 ? ",)" : ")") + " is not 2-D (items x dim)");
  }
  const int64_t n = h.shape[0], d = h.shape[1];
  if (d < 1 || d > kEmbeddingMaxDim)
    return bad("dim " + std::to_string(d) + " of shape " + Shape(n, d) + " out of range [1, " + std::to_string(kEmbeddingMaxDim) + "]");
  if (n > kMaxRows) return bad("count " + std::to_string(n) + " exceeds " + std::to_string(kMaxRows) + " rows");
  const size_t data_at = header_at + hlen;
  const size_t want = size_t(n) * size_t(d) * sizeof(float);
  const size_t have = size - data_at;
  if (have < want)
    return bad("data is truncated: " + std::to_string(have) + " bytes for shape " + Shape(n, d) + ", need " + std::to_string(want));
  if (have > want) return bad(std::to_string(have - want) + " bytes after the data of shape " + Shape(n, d));
  out->rows = n;
  out->dim = int(d);
  out->data_offset = data_at;
  return Status::Ok();
}

Status EmbeddingIndex::Load(const std::string& path, std::unique_ptr<EmbeddingIndex>* out) {
  auto bad = [&](const std::string& why) { return Status::InvalidArg(path + ": " + why); };
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    const std::string why = std::string("cannot open: ") + std::strerror(e);
    return e == ENOENT ? Status::NotFound(path + ": " + why) : bad(why);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return bad("not a regular file");
  }
  const size_t size = size_t(st.st_size);
  if (size < 10) {
    close(fd);
    return bad("not a .npy file (" + std::to_string(size) + " bytes)");
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return bad(std::string("cannot map: ") + std::strerror(errno));
  std::unique_ptr<EmbeddingIndex> ix(new EmbeddingIndex());
  ix->map_ = map;
  ix->map_bytes_ = size;
  const uint8_t* b = static_cast<const uint8_t*>(map);
  NpyLayout layout;
  const Status ps = ParseNpy(b, size, &layout);
  if (!ps.ok()) return bad(ps.message());
  const int64_t n = layout.rows;
  const int d = layout.dim;
  const size_t data_at = layout.data_offset;
  const size_t want = size_t(n) * size_t(d) * sizeof(float);
  ix->n_ = n;
  ix->dim_ = int(d);
  if (data_at % alignof(float) == 0) {
    ix->rows_ = reinterpret_cast<const float*>(b + data_at);
  } else {  // not written by numpy (it pads the header to 64 bytes): copy to align
    ix->owned_.resize(size_t(n) * size_t(d));
    std::memcpy(ix->owned_.data(), b + data_at, want);
    ix->rows_ = ix->owned_.data();
    munmap(ix->map_, ix->map_bytes_);
    ix->map_ = nullptr;
  }
  Status s = ix->Build();
  if (!s.ok()) return bad(s.message());
  *out = std::move(ix);
  return Status::Ok();
}

Status EmbeddingIndex::Build() {
  blocks_ = (dim_ + kBlockDims - 1) / kBlockDims;
  const size_t row_bytes = size_t(blocks_) * kBlockBytes;
  for (int64_t i = 0; i < n_; i++) {
    const float* r = row(i);
    for (int j = 0; j < dim_; j++)
      if (!std::isfinite(r[j]))
        return Status::InvalidArg("row " + std::to_string(i) + " has a NaN or infinite value (column " + std::to_string(j) + ")");
  }
  const size_t bytes = std::max<size_t>(size_t(n_) * row_bytes, 32);
  codes_ = static_cast<uint8_t*>(std::aligned_alloc(32, (bytes + 31) / 32 * 32));
  if (!codes_) return Status::Exhausted("no memory for " + std::to_string(bytes) + " bytes of codes");
  scales_.resize(size_t(n_));
  for (int64_t i = 0; i < n_; i++) {
    const float* r = row(i);
    float m = 0;
    for (int j = 0; j < dim_; j++) m = std::max(m, std::fabs(r[j]));
    const float scale = m / kCodeMax;
    scales_[size_t(i)] = scale;
    uint8_t* c = codes_ + size_t(i) * row_bytes;
    std::memset(c, 0x88, row_bytes);  // code 0 in both nibbles (padding dims)
    for (int j = 0; j < dim_; j++) {
      const int q = scale > 0 ? int(std::max(-kCodeMax, std::min(kCodeMax, int(std::lround(r[j] / scale))))) : 0;
      const int b = j / kBlockDims, o = j % kBlockDims;
      uint8_t& byte = c[b * kBlockBytes + (o & 31)];
      byte = o < 32 ? uint8_t((byte & 0xF0) | (q + 8)) : uint8_t((byte & 0x0F) | ((q + 8) << 4));
    }
  }
  return Status::Ok();
}

namespace {
// The query's int8 codes (padded with zeros to whole blocks), their scale and the bias
// sum(8 * q8) that turns the stored nibbles (code + 8) back into codes.
float QuantizeQuery(const float* q, int dim, int blocks, std::vector<int8_t>* q8, int32_t* bias) {
  q8->assign(size_t(blocks) * kBlockDims, 0);
  float m = 0;
  for (int j = 0; j < dim; j++) m = std::max(m, std::fabs(q[j]));
  const float qs = m / kQueryMax;
  int32_t sum = 0;
  for (int j = 0; j < dim; j++) {
    const int v = qs > 0 ? int(std::max(-kQueryMax, std::min(kQueryMax, int(std::lround(q[j] / qs))))) : 0;
    (*q8)[size_t(j)] = int8_t(v);
    sum += v;
  }
  *bias = 8 * sum;
  return qs;
}
}  // namespace

float EmbeddingIndex::ApproxScore(const float* query, int64_t i) const {
  std::vector<int8_t> q8;
  int32_t bias;
  const float qs = QuantizeQuery(query, dim_, blocks_, &q8, &bias);
  return ApproxRow(codes_ + size_t(i) * size_t(blocks_) * kBlockBytes, blocks_, q8.data(), bias, scales_[size_t(i)]) * qs;
}

Status EmbeddingIndex::TopK(const TopkRequest& req, TopkScratch* s, int32_t* out_rows, float* out_scores, int* written) const {
  *written = 0;
  if (!req.query) return Status::InvalidArg("topk: no query");
  if (req.k < 0 || req.k > kEmbeddingMaxK)
    return Status::InvalidArg("topk: k " + std::to_string(req.k) + " out of range [0, " + std::to_string(kEmbeddingMaxK) + "]");
  for (int j = 0; j < dim_; j++)
    if (!std::isfinite(req.query[j])) return Status::InvalidArg("topk: query[" + std::to_string(j) + "] is not a finite number");
  if (req.allowed && req.allowed_bytes < size_t((n_ + 7) / 8))
    return Status::InvalidArg("topk: allowed mask has " + std::to_string(req.allowed_bytes) + " bytes, need " + std::to_string((n_ + 7) / 8));
  if (req.categories && req.n_categories < size_t(n_))
    return Status::InvalidArg("topk: categories has " + std::to_string(req.n_categories) + " entries, need " + std::to_string(n_));
  if (req.n_exclude > 0 && !req.exclude) return Status::InvalidArg("topk: no exclude list");
  if (req.candidates < 0 || req.candidates > kEmbeddingMaxCandidates)
    return Status::InvalidArg("topk: candidates " + std::to_string(req.candidates) + " out of range [0, " +
                              std::to_string(kEmbeddingMaxCandidates) + "]");
  if (req.cuda && !cuda_) return Status::Unavailable("topk: CUDA is not enabled on this index (enableCuda)");
  if (req.k == 0 || n_ == 0) return Status::Ok();
  s->exclude.assign(req.exclude, req.exclude + req.n_exclude);
  std::sort(s->exclude.begin(), s->exclude.end());
  if (req.cuda) return TopKCuda(req, s, out_rows, out_scores, written);
  return req.exact ? TopKExact(req, s, out_rows, out_scores, written) : TopKFast(req, s, out_rows, out_scores, written);
}

Status EmbeddingIndex::TopKExact(const TopkRequest& req, TopkScratch* s, int32_t* out_rows, float* out_scores, int* written) const {
  const Filter f{req, s->exclude.data(), s->exclude.data() + s->exclude.size()};
  Best best(&s->cand, int(std::min<int64_t>(req.k, n_)));
  for (int64_t i = 0; i < n_; i++) Consider(f, best, EmbeddingDot(req.query, row(i), dim_), i);
  best.Finish();
  std::sort(s->cand.begin(), s->cand.end(), Better);
  for (size_t i = 0; i < s->cand.size(); i++) {
    out_rows[i] = s->cand[i].row;
    out_scores[i] = s->cand[i].score;
  }
  *written = int(s->cand.size());
  return Status::Ok();
}

Status EmbeddingIndex::TopKFast(const TopkRequest& req, TopkScratch* s, int32_t* out_rows, float* out_scores, int* written) const {
  int32_t bias;
  QuantizeQuery(req.query, dim_, blocks_, &s->q8, &bias);  // the scale is common to all rows: ranks need none
  const Filter f{req, s->exclude.data(), s->exclude.data() + s->exclude.size()};
  const int c = req.candidates > 0 ? std::max(req.candidates, req.k) : Candidates(req.k);
  Best best(&s->cand, int(std::min<int64_t>(c, n_)));
  const size_t row_bytes = size_t(blocks_) * kBlockBytes;
  int64_t i = 0;
#ifdef HP_EMBEDDING_AVX2
  if (req.simd && HaveAvx2()) {
    const int64_t end8 = n_ / 8 * 8;
    ScanAvx2(codes_, scales_.data(), blocks_, s->q8.data(), bias, 0, end8, f, best);
    i = end8;
  }
#endif
  for (; i < n_; i++)
    Consider(f, best, ApproxRow(codes_ + size_t(i) * row_bytes, blocks_, s->q8.data(), bias, scales_[size_t(i)]), i);
  best.Finish();
  // Re-rank: exact scores for the candidates, then the best k of them.
  // A score the exact scan would never return (NaN or -Infinity, from an overflow) drops out.
  size_t kept = 0;
  for (const TopkCandidate& c : s->cand) {
    const float exact = EmbeddingDot(req.query, row(c.row), dim_);
    if (exact > -std::numeric_limits<float>::infinity()) s->cand[kept++] = {exact, c.row};
  }
  s->cand.resize(kept);
  const size_t k = std::min(size_t(req.k), s->cand.size());
  std::partial_sort(s->cand.begin(), s->cand.begin() + k, s->cand.end(), Better);
  for (size_t j = 0; j < k; j++) {
    out_rows[j] = s->cand[j].row;
    out_scores[j] = s->cand[j].score;
  }
  *written = int(k);
  return Status::Ok();
}

Status EmbeddingIndex::EnableCuda() {
  if (cuda_) return Status::Ok();
  return CudaTopkCreate(rows_, n_, dim_, &cuda_);
}

Status EmbeddingIndex::TopKCuda(const TopkRequest& req, TopkScratch* s, int32_t* out_rows, float* out_scores, int* written) const {
  // The filters folded into one bitmask for the device (only when there are any).
  const uint8_t* mask = nullptr;
  if (req.allowed || req.categories || !s->exclude.empty()) {
    const size_t bytes = size_t((n_ + 7) / 8);
    if (req.allowed) s->mask.assign(req.allowed, req.allowed + bytes);
    else s->mask.assign(bytes, 0xFF);
    if (req.categories)
      for (int64_t i = 0; i < n_; i++)
        if (int32_t(req.categories[i]) != req.category) s->mask[size_t(i >> 3)] &= uint8_t(~(1u << (i & 7)));
    for (int32_t r : s->exclude)
      if (r >= 0 && r < n_) s->mask[size_t(r >> 3)] &= uint8_t(~(1u << (r & 7)));
    mask = s->mask.data();
  }
  return CudaTopk(cuda_, req.query, int(std::min<int64_t>(req.k, n_)), mask, out_rows, out_scores, written);
}

}  // namespace hotpath
