// The CUDA backend as the rest of the engine sees it. Implemented by native/cuda/*.cu
// when the build finds nvcc (CMake), and by native/cuda/cuda_none.cc otherwise.
#pragma once
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

}  // namespace hotpath
