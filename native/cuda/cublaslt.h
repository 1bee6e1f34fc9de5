// cuBLASLt, opened at run time. The build machine has no cuBLAS (nvcc and the static
// cudart only), and the addon must load and run where the library is absent, so nothing
// links against it: the few declarations below mirror cublasLt.h (the opaque handle types,
// the enum values this project sets, the heuristic result's layout), and LoadCublasLt()
// dlopens the library once and resolves the functions. Without it the dense path runs on
// the project's own kernels (dense.cu).
#pragma once
#include <cuda_runtime_api.h>
#include <library_types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace hotpath {
namespace lt {

using Status = int;  // cublasStatus_t: 0 is success
using Handle = struct LtContext*;
using MatmulDesc = struct LtMatmulDescOpaque*;
using MatrixLayout = struct LtMatrixLayoutOpaque*;
using Preference = struct LtPreferenceOpaque*;
struct Algo {
  uint64_t data[8];
};
struct HeuristicResult {
  Algo algo;
  size_t workspace_size;
  Status state;
  float waves_count;
  int reserved[4];
};

// cublasComputeType_t
constexpr int kCompute32F = 68;
constexpr int kCompute32FFastTf32 = 77;
// cublasOperation_t
constexpr int32_t kOpN = 0, kOpT = 1;
// cublasLtMatmulDescAttributes_t
constexpr int kDescTransA = 3, kDescTransB = 4, kDescEpilogue = 7, kDescBiasPointer = 8;
// cublasLtEpilogue_t
constexpr uint32_t kEpilogueBias = 4, kEpilogueReluBias = 6;
// cublasLtMatmulPreferenceAttributes_t
constexpr int kPrefMaxWorkspaceBytes = 1;

struct Api {
  Status (*Create)(Handle*);
  Status (*Destroy)(Handle);
  Status (*MatmulDescCreate)(MatmulDesc*, int compute, cudaDataType_t scale);
  Status (*MatmulDescDestroy)(MatmulDesc);
  Status (*MatmulDescSetAttribute)(MatmulDesc, int attr, const void* buf, size_t size);
  Status (*MatrixLayoutCreate)(MatrixLayout*, cudaDataType_t type, uint64_t rows, uint64_t cols, int64_t ld);
  Status (*MatrixLayoutDestroy)(MatrixLayout);
  Status (*PreferenceCreate)(Preference*);
  Status (*PreferenceDestroy)(Preference);
  Status (*PreferenceSetAttribute)(Preference, int attr, const void* buf, size_t size);
  Status (*AlgoGetHeuristic)(Handle, MatmulDesc, MatrixLayout a, MatrixLayout b, MatrixLayout c, MatrixLayout d,
                             Preference, int requested, HeuristicResult* results, int* returned);
  Status (*Matmul)(Handle, MatmulDesc, const void* alpha, const void* a, MatrixLayout a_desc, const void* b,
                   MatrixLayout b_desc, const void* beta, const void* c, MatrixLayout c_desc, void* d,
                   MatrixLayout d_desc, const Algo* algo, void* workspace, size_t workspace_size, cudaStream_t);
  std::string path;  // the file that was opened
};

// Opens the library once per process: HOTPATH_CUBLASLT names a file (or "off" to keep the
// project's kernels), else libcublasLt.so.13, .so.12, .so on the loader's path. Null when
// none opens or a symbol is missing; *why then says which.
const Api* LoadCublasLt(std::string* why);

}  // namespace lt
}  // namespace hotpath
