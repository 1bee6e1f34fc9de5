#include "kernels.h"

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

}  // namespace hotpath
