// Inference kernels (CPU). Each has a CUDA twin in native/cuda that must agree with it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "constants.h"
#include "status.h"

namespace hotpath {

// One dense layer, as an ONNX Gemm with transB=1 followed by an activation:
//   y[b, o] = act(bias[o] + sum_i x[b, i] * w[o, i])
// x: batch x in (row-major), w: out x in (row-major, PyTorch's Linear layout), bias: out.
Status DenseForwardCpu(const float* x, const float* w, const float* bias, int batch, int in,
                       int out, Act act, float* y);

// int8 dense layer (symmetric, no zero points). Weights: per output channel o, scale
// ws[o] = max|w[o, :]| / 127 and wq[o, i] = round(w[o, i] / ws[o]). Activations: per row r,
// xs[r] = max|x[r, :]| / 127 and xq[r, i] = round(x[r, i] / xs[r]), computed per call (dynamic),
// so a row's result does not depend on the other rows of its batch. The dot product
// accumulates in int32 (exact: in <= 2^17 products of at most 127 * 127), then
//   y[r, o] = act(bias[o] + acc * xs[r] * ws[o]).
// Non-finite values: NaN quantises to 0; +-inf to +-127 (the scale is taken over the
// finite values). An all-zero row or channel has scale 0 and quantises to 0.
void QuantizeRowsInt8(const float* x, int rows, int width, int8_t* q, float* scale);
// y: batch x out. xq/xs come from QuantizeRowsInt8 on x (batch x in); wqt is the quantised
// weights transposed, in x out (the inner loop runs over contiguous outputs and vectorises);
// acc: out int32 of scratch. No allocation.
void DenseForwardInt8(const int8_t* xq, const float* xs, const int8_t* wqt, const float* ws, const float* bias,
                      int batch, int in, int out, Act act, int32_t* acc, float* y);
// The largest input width DenseForwardInt8 accepts (its int32 accumulator cannot overflow).
constexpr int kInt8MaxIn = 1 << 17;

inline float Activate(Act act, float v) {
  switch (act) {
    case Act::RELU: return v > 0 ? v : 0;
    case Act::SIGMOID: return 1.0f / (1.0f + __builtin_expf(-v));
    case Act::TANH: return __builtin_tanhf(v);
    default: return v;
  }
}

// act over n values in place. ReLU as a loop with no branch, which the compiler vectorises
// (Activate's switch and compare per value is a branch that mispredicts at each change of
// sign: it was most of a small model's time); the others through Activate, the switch
// hoisted. The same values as Activate on each.
inline void ActivateAll(Act act, float* v, size_t n) {
  if (act == Act::RELU) {
    for (size_t i = 0; i < n; i++) v[i] = v[i] > 0 ? v[i] : 0.0f;
  } else if (act != Act::NONE) {
    for (size_t i = 0; i < n; i++) v[i] = Activate(act, v[i]);
  }
}

}  // namespace hotpath
