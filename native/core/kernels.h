// Inference kernels (CPU). Each has a CUDA twin in native/cuda that must agree with it.
#pragma once
#include <cstdint>

#include "constants.h"
#include "status.h"

namespace hotpath {

// One dense layer, as an ONNX Gemm with transB=1 followed by an activation:
//   y[b, o] = act(bias[o] + sum_i x[b, i] * w[o, i])
// x: batch x in (row-major), w: out x in (row-major, PyTorch's Linear layout), bias: out.
Status DenseForwardCpu(const float* x, const float* w, const float* bias, int batch, int in,
                       int out, Act act, float* y);

inline float Activate(Act act, float v) {
  switch (act) {
    case Act::RELU: return v > 0 ? v : 0;
    case Act::SIGMOID: return 1.0f / (1.0f + __builtin_expf(-v));
    case Act::TANH: return __builtin_tanhf(v);
    default: return v;
  }
}

}  // namespace hotpath
