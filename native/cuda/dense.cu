// CUDA twin of DenseForwardCpu (native/core/kernels.cc).
#include <cuda_runtime.h>

#include <mutex>
#include <string>

#include "../core/cuda_backend.h"
#include "../core/kernels.h"

#define RETURN_IF_CUDA_ERR(expr)                                                   \
  do {                                                                             \
    cudaError_t _e = (expr);                                                       \
    if (_e != cudaSuccess)                                                         \
      return ::hotpath::Status::Unavailable(std::string("CUDA: ") + #expr + ": " + \
                                            cudaGetErrorString(_e));               \
  } while (0)

namespace hotpath {
namespace {

__device__ float ActivateDev(Act act, float v) {
  switch (act) {
    case Act::RELU: return v > 0 ? v : 0;
    case Act::SIGMOID: return 1.0f / (1.0f + expf(-v));
    case Act::TANH: return tanhf(v);
    default: return v;
  }
}

// One thread per output element; a warp covers consecutive outputs of one row, so the
// reads of x are broadcast and the reads of w walk rows that stay in L2 across the batch.
__global__ void DenseKernel(const float* __restrict__ x, const float* __restrict__ w,
                            const float* __restrict__ bias, int batch, int in, int out, Act act,
                            float* __restrict__ y) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= batch * out) return;
  const int b = idx / out, o = idx % out;
  const float* xr = x + size_t(b) * in;
  const float* wr = w + size_t(o) * in;
  float acc = 0;
  for (int i = 0; i < in; i++) acc = fmaf(xr[i], wr[i], acc);
  y[idx] = ActivateDev(act, acc + (bias ? bias[o] : 0.0f));
}

struct DeviceBuffer {
  float* p = nullptr;
  ~DeviceBuffer() {
    if (p) cudaFree(p);
  }
};

}  // namespace

const CudaInfo& CudaProbe() {
  static CudaInfo info;
  static std::once_flag once;
  std::call_once(once, [] {
    info.compiled = true;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      info.error = cudaGetErrorString(e);
      cudaGetLastError();
      return;
    }
    info.devices = n;
    cudaDeviceProp prop;
    if (n > 0 && cudaGetDeviceProperties(&prop, 0) == cudaSuccess) info.name = prop.name;
  });
  return info;
}

// Copies in, runs, copies out: a first, allocation-per-call version for correctness and
// the backend probe. The batched serving path (pinned buffers, streams) builds on it.
Status DenseForwardCuda(const float* x, const float* w, const float* bias, int batch, int in,
                        int out, Act act, float* y) {
  if (batch < 0 || in <= 0 || out <= 0) return Status::InvalidArg("dense: bad shape");
  if (CudaProbe().devices == 0) return Status::Unavailable("no CUDA device: " + CudaProbe().error);
  if (batch == 0) return Status::Ok();
  DeviceBuffer dx, dw, db, dy;
  RETURN_IF_CUDA_ERR(cudaMalloc(&dx.p, sizeof(float) * size_t(batch) * in));
  RETURN_IF_CUDA_ERR(cudaMalloc(&dw.p, sizeof(float) * size_t(out) * in));
  RETURN_IF_CUDA_ERR(cudaMalloc(&dy.p, sizeof(float) * size_t(batch) * out));
  if (bias) RETURN_IF_CUDA_ERR(cudaMalloc(&db.p, sizeof(float) * size_t(out)));
  RETURN_IF_CUDA_ERR(cudaMemcpy(dx.p, x, sizeof(float) * size_t(batch) * in, cudaMemcpyHostToDevice));
  RETURN_IF_CUDA_ERR(cudaMemcpy(dw.p, w, sizeof(float) * size_t(out) * in, cudaMemcpyHostToDevice));
  if (bias) RETURN_IF_CUDA_ERR(cudaMemcpy(db.p, bias, sizeof(float) * size_t(out), cudaMemcpyHostToDevice));
  const int total = batch * out, threads = 256;
  DenseKernel<<<(total + threads - 1) / threads, threads>>>(dx.p, dw.p, db.p, batch, in, out, act, dy.p);
  RETURN_IF_CUDA_ERR(cudaGetLastError());
  RETURN_IF_CUDA_ERR(cudaMemcpy(y, dy.p, sizeof(float) * size_t(batch) * out, cudaMemcpyDeviceToHost));
  return Status::Ok();
}

}  // namespace hotpath
