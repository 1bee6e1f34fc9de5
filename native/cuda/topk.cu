// CUDA twin of EmbeddingIndex::TopK with exact = true (native/core/embedding.cc): exact
// fp32 dot products of every row with the query, then top-k in rounds of per-block sorts.
//
//   round 1  ScoreTopk: a block of 1024 threads scores a chunk of 2048 rows (one warp per
//            row at a time, lanes striding the dims, a shuffle reduction), marks rows the
//            allowed mask refuses as invalid, bitonic-sorts the chunk in shared memory
//            (best first: higher score, then the lower row) and writes its best k.
//   merge    MergeTopk: the same sort over chunks of 2048 of the previous round's
//            candidates, until one block is left. k <= 1024 (kEmbeddingMaxK), so each
//            round at least halves the number of blocks.
// The order is total (score, then row; invalid entries last), so the result does not
// depend on how rows fell into chunks: the same rows as the CPU scan up to the rounding of
// the dot products (fmaf in a different order).
#include <cfloat>
#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <string>

#include "../core/constants.h"
#include "../core/cuda_backend.h"

#define RETURN_IF_CUDA_ERR(expr)                                                   \
  do {                                                                             \
    cudaError_t _e = (expr);                                                       \
    if (_e != cudaSuccess)                                                         \
      return ::hotpath::Status::Unavailable(std::string("CUDA: ") + #expr + ": " + \
                                            cudaGetErrorString(_e));               \
  } while (0)

namespace hotpath {

namespace {

constexpr int kChunk = 2048;
constexpr int kThreads = 1024;
static_assert(kEmbeddingMaxK * 2 <= kChunk, "a merge round must at least halve the candidates");

__device__ __forceinline__ bool BetterDev(float sa, int ia, float sb, int ib) {
  if (ia < 0) return false;
  if (ib < 0) return true;
  return sa > sb || (sa == sb && ia < ib);
}

// Sorts s/ix[0, kChunk) best first; all kThreads threads of the block take part.
__device__ void BitonicSort(float* s, int* ix) {
  for (int size = 2; size <= kChunk; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      __syncthreads();
      const int t = threadIdx.x;
      const int i = 2 * t - (t & (stride - 1));
      const int j = i + stride;
      const bool best_first = (i & size) == 0;
      const bool swap = best_first ? BetterDev(s[j], ix[j], s[i], ix[i]) : BetterDev(s[i], ix[i], s[j], ix[j]);
      if (swap) {
        const float ts = s[i];
        s[i] = s[j];
        s[j] = ts;
        const int ti = ix[i];
        ix[i] = ix[j];
        ix[j] = ti;
      }
    }
  }
  __syncthreads();
}

__global__ void ScoreTopk(const float* __restrict__ rows, long long n, int dim, const float* __restrict__ q,
                          const unsigned char* __restrict__ mask, int k, float* __restrict__ out_s,
                          int* __restrict__ out_i) {
  __shared__ float s[kChunk];
  __shared__ int ix[kChunk];
  const long long base = (long long)blockIdx.x * kChunk;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int r = warp; r < kChunk; r += kThreads / 32) {
    const long long row = base + r;
    float acc = 0;
    if (row < n) {
      const float* p = rows + row * dim;
      for (int d = lane; d < dim; d += 32) acc = fmaf(p[d], q[d], acc);
    }
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) {
      // a dot product that overflowed to NaN or -Inf is never a candidate, as on the CPU twin
      const bool ok = row < n && (!mask || ((mask[row >> 3] >> (row & 7)) & 1)) && acc >= -FLT_MAX;
      s[r] = ok ? acc : 0.0f;
      ix[r] = ok ? int(row) : -1;
    }
  }
  BitonicSort(s, ix);
  for (int r = threadIdx.x; r < k; r += kThreads) {
    out_s[(long long)blockIdx.x * k + r] = s[r];
    out_i[(long long)blockIdx.x * k + r] = ix[r];
  }
}

__global__ void MergeTopk(const float* __restrict__ in_s, const int* __restrict__ in_i, long long m, int k,
                          float* __restrict__ out_s, int* __restrict__ out_i) {
  __shared__ float s[kChunk];
  __shared__ int ix[kChunk];
  const long long base = (long long)blockIdx.x * kChunk;
  for (int r = threadIdx.x; r < kChunk; r += kThreads) {
    const long long at = base + r;
    s[r] = at < m ? in_s[at] : 0.0f;
    ix[r] = at < m ? in_i[at] : -1;
  }
  BitonicSort(s, ix);
  for (int r = threadIdx.x; r < k; r += kThreads) {
    out_s[(long long)blockIdx.x * k + r] = s[r];
    out_i[(long long)blockIdx.x * k + r] = ix[r];
  }
}

}  // namespace

// Device memory of one index: the rows, the query and mask of the request in flight, and
// two candidate buffers the rounds alternate between (round 1 writes ceil(n / kChunk) * k
// entries, and each later round fewer).
struct CudaTopkIndex {
  std::mutex mu;  // one request at a time: the query, mask and candidate buffers are shared
  long long n = 0;
  int dim = 0;
  float* rows = nullptr;
  float* query = nullptr;
  unsigned char* mask = nullptr;
  float* cand_s[2] = {nullptr, nullptr};
  int* cand_i[2] = {nullptr, nullptr};
};

void CudaTopkDestroy(CudaTopkIndex* x) {
  if (!x) return;
  cudaFree(x->rows);
  cudaFree(x->query);
  cudaFree(x->mask);
  for (int i = 0; i < 2; i++) {
    cudaFree(x->cand_s[i]);
    cudaFree(x->cand_i[i]);
  }
  delete x;
}

namespace {
Status Alloc(CudaTopkIndex* x, int64_t n, int dim, const float* rows) {
  const size_t blocks = size_t((n + kChunk - 1) / kChunk);
  const size_t cand = std::max<size_t>(blocks * kEmbeddingMaxK, 1);
  RETURN_IF_CUDA_ERR(cudaMalloc(&x->rows, sizeof(float) * std::max<size_t>(size_t(n) * dim, 1)));
  RETURN_IF_CUDA_ERR(cudaMalloc(&x->query, sizeof(float) * size_t(dim)));
  RETURN_IF_CUDA_ERR(cudaMalloc(&x->mask, std::max<size_t>(size_t((n + 7) / 8), 1)));
  for (int i = 0; i < 2; i++) {
    RETURN_IF_CUDA_ERR(cudaMalloc(&x->cand_s[i], sizeof(float) * cand));
    RETURN_IF_CUDA_ERR(cudaMalloc(&x->cand_i[i], sizeof(int) * cand));
  }
  if (n > 0) RETURN_IF_CUDA_ERR(cudaMemcpy(x->rows, rows, sizeof(float) * size_t(n) * dim, cudaMemcpyHostToDevice));
  return Status::Ok();
}
}  // namespace

Status CudaTopkCreate(const float* rows, int64_t n, int dim, CudaTopkIndex** out) {
  *out = nullptr;
  if (n < 0 || dim < 1 || dim > kEmbeddingMaxDim) return Status::InvalidArg("topk: bad shape");
  if (CudaProbe().devices == 0) return Status::Unavailable("no CUDA device: " + CudaProbe().error);
  CudaTopkIndex* x = new CudaTopkIndex();
  x->n = n;
  x->dim = dim;
  const Status s = Alloc(x, n, dim, rows);
  if (!s.ok()) {
    CudaTopkDestroy(x);
    return s;
  }
  *out = x;
  return Status::Ok();
}

Status CudaTopk(CudaTopkIndex* x, const float* query, int k, const uint8_t* allowed, int32_t* out_rows,
                float* out_scores, int* written) {
  *written = 0;
  if (!x) return Status::InvalidArg("topk: no CUDA index");
  if (k < 0 || k > kEmbeddingMaxK) return Status::InvalidArg("topk: k out of range");
  if (k == 0 || x->n == 0) return Status::Ok();
  std::lock_guard<std::mutex> lock(x->mu);
  RETURN_IF_CUDA_ERR(cudaMemcpy(x->query, query, sizeof(float) * size_t(x->dim), cudaMemcpyHostToDevice));
  if (allowed) RETURN_IF_CUDA_ERR(cudaMemcpy(x->mask, allowed, size_t((x->n + 7) / 8), cudaMemcpyHostToDevice));
  long long blocks = (x->n + kChunk - 1) / kChunk;
  ScoreTopk<<<unsigned(blocks), kThreads>>>(x->rows, x->n, x->dim, x->query, allowed ? x->mask : nullptr, k,
                                            x->cand_s[0], x->cand_i[0]);
  RETURN_IF_CUDA_ERR(cudaGetLastError());
  int cur = 0;
  while (blocks > 1) {
    const long long m = blocks * k;
    blocks = (m + kChunk - 1) / kChunk;
    MergeTopk<<<unsigned(blocks), kThreads>>>(x->cand_s[cur], x->cand_i[cur], m, k, x->cand_s[1 - cur], x->cand_i[1 - cur]);
    RETURN_IF_CUDA_ERR(cudaGetLastError());
    cur = 1 - cur;
  }
  RETURN_IF_CUDA_ERR(cudaMemcpy(out_scores, x->cand_s[cur], sizeof(float) * size_t(k), cudaMemcpyDeviceToHost));
  RETURN_IF_CUDA_ERR(cudaMemcpy(out_rows, x->cand_i[cur], sizeof(int32_t) * size_t(k), cudaMemcpyDeviceToHost));
  int w = 0;
  while (w < k && out_rows[w] >= 0) w++;
  *written = w;
  return Status::Ok();
}

}  // namespace hotpath
