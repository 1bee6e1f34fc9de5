// The CUDA backend as the rest of the engine sees it. Implemented by native/cuda/*.cu
// when the build finds nvcc (CMake), and by native/cuda/cuda_none.cc otherwise.
#pragma once
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
};

// Probes once (cudaGetDeviceCount) and caches the answer; safe from any thread.
const CudaInfo& CudaProbe();

// Same contract as DenseForwardCpu; host pointers in and out.
Status DenseForwardCuda(const float* x, const float* w, const float* bias, int batch, int in,
                        int out, Act act, float* y);

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
