#include "kernels.h"

#include <cmath>

namespace hotpath {

Status DenseForwardCpu(const float* x, const float* w, const float* bias, int batch, int in,
                       int out, Act act, float* y) {
  if (batch < 0 || in <= 0 || out <= 0) return Status::InvalidArg("dense: bad shape");
  if (uint8_t(act) >= uint8_t(Act::kCount)) return Status::InvalidArg("dense: unknown activation");
  for (int b = 0; b < batch; b++) {
    const float* xr = x + size_t(b) * in;
    for (int o = 0; o < out; o++) {
      const float* wr = w + size_t(o) * in;
      float acc = 0;
      for (int i = 0; i < in; i++) acc += xr[i] * wr[i];  // contiguous: vectorises
      y[size_t(b) * out + o] = Activate(act, acc + (bias ? bias[o] : 0.0f));
    }
  }
  return Status::Ok();
}

void QuantizeRowsInt8(const float* x, int rows, int width, int8_t* q, float* scale) {
  for (int r = 0; r < rows; r++) {
    const float* xr = x + size_t(r) * width;
    int8_t* qr = q + size_t(r) * width;
    float amax = 0;
    for (int i = 0; i < width; i++) {
      const float a = std::fabs(xr[i]);
      if (a > amax && a <= 3.4e38f) amax = a;  // finite values only (NaN fails both tests)
    }
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    scale[r] = amax / 127.0f;
    for (int i = 0; i < width; i++) {
      float v = xr[i] * inv;
      v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;  // NaN stays NaN here
      v = v == v ? v : 0.0f;
      // round half away from zero by truncation: vectorises on baseline x86-64 (SSE2 has
      // no round instruction, so nearbyint would be a call per value)
      qr[i] = int8_t(int32_t(v + (v >= 0.0f ? 0.5f : -0.5f)));
    }
  }
}

void DenseForwardInt8(const int8_t* xq, const float* xs, const int8_t* wqt, const float* ws, const float* bias,
                      int batch, int in, int out, Act act, int32_t* acc, float* y) {
  for (int r = 0; r < batch; r++) {
    const int8_t* xr = xq + size_t(r) * in;
    for (int o = 0; o < out; o++) acc[o] = 0;
    for (int k = 0; k < in; k++) {
      const int32_t xv = xr[k];
      if (xv == 0) continue;  // ReLU layers feed many zeros
      const int8_t* wr = wqt + size_t(k) * out;
      for (int o = 0; o < out; o++) acc[o] += xv * int32_t(wr[o]);  // contiguous: vectorises
    }
    float* yr = y + size_t(r) * out;
    const float sr = xs[r];
    for (int o = 0; o < out; o++) yr[o] = bias[o] + float(acc[o]) * (sr * ws[o]);
    ActivateAll(act, yr, size_t(out));
  }
}

}  // namespace hotpath
