// An item embedding matrix (n rows x dim float32) and top-k by dot product with a query.
//
// Two ways to scan, same answer shape (rows best first, ties broken by the lower row):
//   exact  every row's fp32 dot product (EmbeddingDot below); reads n * dim * 4 bytes.
//   fast   (default) a scan of 4-bit codes (one float scale per row, 32 bytes per 64
//          dims) keeps the best C = max(kEmbeddingRerankFactor * k, kEmbeddingRerankMin)
//          (or TopkRequest::candidates) rows by their approximate score, then re-ranks those C by their exact fp32 dot
//          products. It reads n * (dim / 2 + 4) bytes per query, 1/7 of the exact scan, so
//          a 1M x 64 scan fits in a few ms of one core's memory bandwidth. Returned scores
//          are always exact fp32 dot products; only which rows reach the re-rank is
//          approximate (recall@k against the exact scan: docs/embeddings.md).
// The fast scan has an AVX2 loop (chosen at run time when the CPU has AVX2) and a portable
// loop with the same integer arithmetic and the same single float rounding per row, so the
// two give bit-identical candidates (native/test/embedding_test.cc checks it).
//
// Threads: an index is immutable after FromMatrix/Load (EnableCuda excepted: call it before
// sharing); any number of threads may call TopK at once, each with its own TopkScratch
// (the scratch grows to the largest request seen and is then reused, so a query
// allocates nothing).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "constants.h"
#include "status.h"

namespace hotpath {

struct CudaTopkIndex;  // cuda_backend.h

// One top-k request. Pointers are the caller's and are read during the call only.
struct TopkRequest {
  const float* query = nullptr;  // dim floats, all finite
  int k = 0;                     // 0..kEmbeddingMaxK
  // Rows never returned, in any order (duplicates and rows out of range are ignored).
  const int32_t* exclude = nullptr;
  size_t n_exclude = 0;
  // Optional allowed-row bitmask: row i may be returned only if bit (i & 7) of
  // allowed[i >> 3] is set. allowed_bytes must be >= ceil(n / 8).
  const uint8_t* allowed = nullptr;
  size_t allowed_bytes = 0;
  // Optional per-row categories (n entries): only rows whose category equals `category`.
  const uint16_t* categories = nullptr;
  size_t n_categories = 0;
  int32_t category = -1;
  bool exact = false;  // the fp32 scan instead of the 4-bit scan + re-rank
  int candidates = 0;  // fast scan: how many to re-rank (0: Candidates(k); else max(k, this) <= kEmbeddingMaxCandidates)
  bool simd = true;    // false: the portable loop even where AVX2 is present (tests)
  bool cuda = false;   // the exact scan on the CUDA device (EnableCuda first)
};

struct TopkCandidate {
  float score;
  int32_t row;
};

// Per-thread working memory of TopK: sized on first use, reused after.
struct TopkScratch {
  std::vector<int8_t> q8;                // the quantized query (padded dim)
  std::vector<int32_t> exclude;          // sorted copy of the request's exclusions
  std::vector<TopkCandidate> cand;       // the running best candidates (2 x the kept count)
  std::vector<uint8_t> mask;             // CUDA: the combined allowed-row bitmask
};

class EmbeddingIndex {
 public:
  ~EmbeddingIndex();
  EmbeddingIndex(const EmbeddingIndex&) = delete;
  EmbeddingIndex& operator=(const EmbeddingIndex&) = delete;

  // A NumPy .npy file: format 1.0, 2.0 or 3.0, dtype '<f4', C order, 2-D shape (n, dim).
  // The file is memory-mapped (read-only) for the fp32 rows. Anything else is refused with
  // INVALID_ARG (NOT_FOUND when it cannot be opened) and a message that starts with the
  // path and says what is wrong: the dtype, Fortran order, the shape, a truncated or
  // overlong data section, a NaN or infinite value (naming the row).
  static Status Load(const std::string& path, std::unique_ptr<EmbeddingIndex>* out);
  // A copy of an in-memory row-major float32 matrix (n rows of dim).
  static Status FromMatrix(const float* m, int64_t n, int dim, std::unique_ptr<EmbeddingIndex>* out);

  int64_t count() const { return n_; }
  int dim() const { return dim_; }
  const float* row(int64_t i) const { return rows_ + size_t(i) * size_t(dim_); }
  // How many approximate candidates the fast path re-ranks for k (before clamping to n).
  static int Candidates(int k);
  // Writes the best min(k, allowed rows) rows and their exact fp32 scores, best first.
  Status TopK(const TopkRequest& req, TopkScratch* scratch, int32_t* out_rows, float* out_scores, int* written) const;

  // Copies the matrix to CUDA device 0 for req.cuda (once; later calls do nothing).
  // UNSUPPORTED in a build without CUDA, UNAVAILABLE without a device.
  Status EnableCuda();
  bool cuda_enabled() const { return cuda_ != nullptr; }

  // The 4-bit scan's approximate score of row i (tests: the quantization error bound).
  float ApproxScore(const float* query, int64_t i) const;

 private:
  EmbeddingIndex() = default;
  Status Build();  // validates rows_ and fills the 4-bit codes
  Status TopKExact(const TopkRequest& req, TopkScratch* s, int32_t* out_rows, float* out_scores, int* written) const;
  Status TopKFast(const TopkRequest& req, TopkScratch* s, int32_t* out_rows, float* out_scores, int* written) const;
  Status TopKCuda(const TopkRequest& req, TopkScratch* s, int32_t* out_rows, float* out_scores, int* written) const;

  int64_t n_ = 0;
  int dim_ = 0;
  int blocks_ = 0;                  // 64-dim blocks of the 4-bit codes
  const float* rows_ = nullptr;     // owned_ or the mapping
  std::vector<float> owned_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  uint8_t* codes_ = nullptr;        // n * blocks * 32 bytes (aligned_alloc)
  std::vector<float> scales_;       // per row: code * scale ~ value
  CudaTopkIndex* cuda_ = nullptr;
};

// Where a .npy file's float32 rows are, once its bytes pass Load's rules.
struct NpyLayout {
  int64_t rows = 0;
  int dim = 0;
  size_t data_offset = 0;  // from the start of the file
};
// Checks the bytes of a whole .npy file against Load's rules (INVALID_ARG, the message
// without the path). Values are not read: Load checks them while it builds the codes.
Status ParseNpy(const uint8_t* bytes, size_t size, NpyLayout* out);

// The exact score: fp32 dot product in a fixed order (8 running sums, then a fixed tree),
// so that every CPU path gives the same bits.
float EmbeddingDot(const float* a, const float* b, int dim);

}  // namespace hotpath
