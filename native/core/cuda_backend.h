// The CUDA backend as the rest of the engine sees it. Implemented by native/cuda/*.cu
// when the build finds nvcc (CMake), and by native/cuda/cuda_none.cc otherwise.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "constants.h"
#include "status.h"

namespace hotpath {

struct CudaInfo {
  bool compiled = false;  // built with CUDA
  int devices = 0;        // usable devices (0 when no driver or no GPU)
  std::string name;       // device 0
  std::string error;      // why there are no devices, when compiled
  size_t total_bytes = 0; // device 0's memory
};

// Probes once (cudaGetDeviceCount) and caches the answer; safe from any thread.
const CudaInfo& CudaProbe();

// Same contract as DenseForwardCpu; host pointers in and out.
Status DenseForwardCuda(const float* x, const float* w, const float* bias, int batch, int in,
                        int out, Act act, float* y);

// A chain of layers resident on device 0 for one model in one worker thread: the weights
// uploaded once at create (and, for fp16/bf16, converted once); device buffers for
// max_batch rows, pinned host staging and a stream of its own, all allocated at create.
// A forward copies x into the staging, runs the chain on the stream (a captured CUDA
// graph per batch bucket when graphs are on) and copies y back: nothing is allocated per
// call. Batches are padded to the next bucket (powers of two up to max_batch), so each
// bucket has one plan: its cuBLASLt algorithms and its graph. Matrix products go through
// cuBLASLt when it opens at run time (cublaslt.h), else through the project's kernels.
enum class CudaMath : uint8_t {
  kFp32,  // fp32 weights and activations, fp32 accumulate (cuBLASLt COMPUTE_32F: no TF32)
  kFp16,  // fp16 weights and layer inputs, fp32 accumulate and output (tensor cores via cuBLASLt)
  kBf16,  // the same with bf16
};
struct CudaDenseLayer {
  LayerKind kind = LayerKind::DENSE;
  int in = 0, out = 0;        // DENSE: weights out x in; ACT and SOFTMAX keep the width
  const float* w = nullptr;   // DENSE: out x in, row-major
  const float* b = nullptr;   // DENSE: out values (never null: zeros when the model has none)
  Act act = Act::NONE;
};
struct CudaDenseOptions {
  int max_batch = 64;
  CudaMath math = CudaMath::kFp32;
  bool graphs = true;             // capture a CUDA graph per bucket (falls back to plain launches if capture fails)
  bool cublaslt = true;           // use cuBLASLt when it opens
  size_t reserve_bytes = 256u << 20;  // device memory left free for others; a model that needs more is refused
  int sync_timeout_ms = 2000;     // a forward that has not finished by then is a lost device
};
struct CudaDenseInfo {
  bool cublaslt = false;      // products run in cuBLASLt
  std::string cublaslt_why;   // why not, when not
  int graphs = 0;             // buckets with a captured graph
  int buckets = 0;
  size_t device_bytes = 0;    // device memory this model holds
};
struct CudaDense;
// The device memory a chain would hold (weights, buffers, workspace), for the refusal and for tests.
size_t CudaDenseBytes(int in_dim, const CudaDenseLayer* layers, int n_layers, const CudaDenseOptions& opt);
// RESOURCE_EXHAUSTED when the model does not fit (the message names both sizes); UNAVAILABLE
// without a device; UNSUPPORTED in a build without CUDA.
Status CudaDenseCreate(int in_dim, const CudaDenseLayer* layers, int n_layers, const CudaDenseOptions& opt,
                       CudaDense** out);
void CudaDenseDestroy(CudaDense* m);
// x: batch x in_dim, y: batch x out_dim on the host, 0 < batch <= max_batch. Any CUDA
// error, or no completion within sync_timeout_ms, is UNAVAILABLE and leaves the object
// lost: later calls fail at once, and the caller answers on the CPU.
Status CudaDenseForward(CudaDense* m, const float* x, int batch, float* y);
void CudaDenseDescribe(const CudaDense* m, CudaDenseInfo* info);
// The next forward fails as on a lost device (for the tests and scripts/gpu-check.sh).
void CudaDenseInjectFault(CudaDense* m);

// Exact fp32 top-k over an embedding matrix kept on device 0 (native/cuda/topk.cu). The
// CPU twin is EmbeddingIndex::TopK with exact = true (embedding.h): the same rows up to
// float rounding, ties broken by the lower row in both. Calls on one index are serialised
// (one device queue); allowed is ceil(n / 8) bytes of allowed-row bits (the caller folds
// its filters into it) or null.
struct CudaTopkIndex;
Status CudaTopkCreate(const float* rows, int64_t n, int dim, CudaTopkIndex** out);
void CudaTopkDestroy(CudaTopkIndex* index);
Status CudaTopk(CudaTopkIndex* index, const float* query, int k, const uint8_t* allowed, int32_t* out_rows,
                float* out_scores, int* written);

}  // namespace hotpath
