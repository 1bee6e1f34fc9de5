// The CUDA dense path (cuda_backend.h): a model's layer chain resident on the device, and
// DenseForwardCuda, the single-layer twin of DenseForwardCpu (kernels.cc) for tests.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../core/cuda_backend.h"
#include "../core/kernels.h"
#include "cublaslt.h"

#define RETURN_IF_CUDA_ERR(expr)                                                   \
  do {                                                                             \
    cudaError_t _e = (expr);                                                       \
    if (_e != cudaSuccess)                                                         \
      return ::hotpath::Status::Unavailable(std::string("CUDA: ") + #expr + ": " + \
                                            cudaGetErrorString(_e));               \
  } while (0)

namespace hotpath {
namespace {

constexpr size_t kWorkspaceBytes = size_t(8) << 20;  // cuBLASLt's workspace, per model
constexpr int kSpinPolls = 2000;                      // event polls before the waiting thread yields

__device__ __forceinline__ float ActivateDev(Act act, float v) {
  switch (act) {
    case Act::RELU: return v > 0 ? v : 0;
    case Act::SIGMOID: return 1.0f / (1.0f + expf(-v));
    case Act::TANH: return tanhf(v);
    default: return v;
  }
}

template <typename T> __device__ __forceinline__ float ToF(T v);
template <> __device__ __forceinline__ float ToF<float>(float v) { return v; }
template <> __device__ __forceinline__ float ToF<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float ToF<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T FromF(float v);
template <> __device__ __forceinline__ float FromF<float>(float v) { return v; }
template <> __device__ __forceinline__ __half FromF<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 FromF<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// y[r, o] = act(b[o] + sum_k x[r, k] * w[o, k]), fp32 accumulation. A 256-thread block
// computes a 64 x 64 tile of y, 4 x 4 per thread, from 16-wide slices of x and w staged
// in shared memory. With TW a 16-bit type the layer input is rounded to TW as it is
// staged, so the arithmetic is the one cuBLASLt does on tensor cores (16-bit in, fp32 sum).
constexpr int kTileM = 64, kTileN = 64, kTileK = 16;
template <typename TW>
__global__ void __launch_bounds__(256) DenseTiled(const float* __restrict__ x, const TW* __restrict__ w,
                                                  const float* __restrict__ bias, int batch, int in, int out, Act act,
                                                  float* __restrict__ y) {
  __shared__ float xs[kTileK][kTileM + 4];
  __shared__ float ws[kTileK][kTileN + 4];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int row0 = blockIdx.y * kTileM, col0 = blockIdx.x * kTileN;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < in; k0 += kTileK) {
    for (int i = threadIdx.x; i < kTileM * kTileK; i += blockDim.x) {
      const int r = i / kTileK, k = i % kTileK, gk = k0 + k;
      const int gr = row0 + r, go = col0 + r;
      const float xv = gr < batch && gk < in ? x[size_t(gr) * in + gk] : 0.0f;
      xs[k][r] = ToF<TW>(FromF<TW>(xv));
      ws[k][r] = go < out && gk < in ? ToF<TW>(w[size_t(go) * in + gk]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kTileK; k++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = xs[k][ty * 4 + i], b[i] = ws[k][tx * 4 + i];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int r = row0 + ty * 4 + i;
    if (r >= batch) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int o = col0 + tx * 4 + j;
      if (o < out) y[size_t(r) * out + o] = ActivateDev(act, acc[i][j] + (bias ? bias[o] : 0.0f));
    }
  }
}

// src may be dst (in place after a cuBLASLt product): no __restrict__.
__global__ void ActKernel(const float* src, size_t n, Act act, float* dst) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = ActivateDev(act, src[i]);
}

// One warp per row: the max, the sum of exponentials, then the scaled values.
__global__ void SoftmaxKernel(const float* __restrict__ src, int batch, int width, float* __restrict__ dst) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
  if (warp >= batch) return;
  const float* s = src + size_t(warp) * width;
  float* d = dst + size_t(warp) * width;
  float mx = -INFINITY;
  for (int i = lane; i < width; i += 32) mx = fmaxf(mx, s[i]);
  for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  float sum = 0;
  for (int i = lane; i < width; i += 32) sum += expf(s[i] - mx);
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const float inv = 1.0f / sum;
  for (int i = lane; i < width; i += 32) d[i] = expf(s[i] - mx) * inv;
}

template <typename T>
__global__ void ConvertKernel(const float* __restrict__ src, size_t n, T* __restrict__ dst) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = FromF<T>(src[i]);
}

unsigned GridFor(size_t n, unsigned threads) { return unsigned(std::min<size_t>((n + threads - 1) / threads, 65535)); }

size_t ElemBytes(CudaMath m) { return m == CudaMath::kFp32 ? 4 : 2; }
cudaDataType_t ElemType(CudaMath m) {
  return m == CudaMath::kFp16 ? CUDA_R_16F : m == CudaMath::kBf16 ? CUDA_R_16BF : CUDA_R_32F;
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
    if (n > 0 && cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      info.name = prop.name;
      info.total_bytes = prop.totalGlobalMem;
    }
  });
  return info;
}

// Allocates per call: a correctness twin of DenseForwardCpu and the denseForward binding's
// backend, not the serving path (CudaDense below).
Status DenseForwardCuda(const float* x, const float* w, const float* bias, int batch, int in, int out, Act act,
                        float* y) {
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
  const dim3 grid((out + kTileN - 1) / kTileN, (batch + kTileM - 1) / kTileM);
  DenseTiled<float><<<grid, 256>>>(dx.p, dw.p, db.p, batch, in, out, act, dy.p);
  RETURN_IF_CUDA_ERR(cudaGetLastError());
  RETURN_IF_CUDA_ERR(cudaMemcpy(y, dy.p, sizeof(float) * size_t(batch) * out, cudaMemcpyDeviceToHost));
  return Status::Ok();
}

struct CudaDense {
  struct Layer {
    LayerKind kind;
    int in, out;
    Act act;
    void* w = nullptr;      // out x in, in the model's element type
    float* b = nullptr;     // out
    lt::MatmulDesc desc = nullptr;
    lt::MatrixLayout a = nullptr;  // w seen column-major: in x out, used transposed
  };
  struct LtStep {  // one dense layer at one bucket
    lt::MatrixLayout b = nullptr, d = nullptr;
    lt::HeuristicResult algo{};
    bool ok = false;  // cuBLASLt has an algorithm for it; else the project's kernel runs it
  };
  struct Bucket {
    int rows = 0;
    std::vector<LtStep> steps;  // per layer (unused for ACT and SOFTMAX)
    cudaGraphExec_t graph = nullptr;
  };

  CudaDenseOptions opt;
  int in_dim = 0, out_dim = 0, max_width = 0, max_dense_in = 0;
  std::vector<Layer> layers;
  std::vector<Bucket> buckets;
  const lt::Api* lt = nullptr;
  std::string lt_why;
  lt::Handle handle = nullptr;
  lt::Preference pref = nullptr;
  void* workspace = nullptr;
  float* d_in = nullptr;
  float* act[2] = {nullptr, nullptr};
  void* d_half = nullptr;  // the layer input in 16 bits, for cuBLASLt's fp16/bf16 products
  float* h_in = nullptr;   // pinned
  float* h_out = nullptr;  // pinned
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;
  size_t device_bytes = 0;
  bool lost = false;
  bool inject_fault = false;
  bool hung = false;  // lost by timeout: work may still be queued, so nothing is freed

  ~CudaDense() {
    if (hung) return;  // freeing would wait for the work that never finished
    for (Bucket& bk : buckets) {
      if (bk.graph) cudaGraphExecDestroy(bk.graph);
      for (LtStep& s : bk.steps) {
        if (s.b) lt->MatrixLayoutDestroy(s.b);
        if (s.d) lt->MatrixLayoutDestroy(s.d);
      }
    }
    for (Layer& l : layers) {
      if (l.w) cudaFree(l.w);
      if (l.b) cudaFree(l.b);
      if (l.desc) lt->MatmulDescDestroy(l.desc);
      if (l.a) lt->MatrixLayoutDestroy(l.a);
    }
    if (pref) lt->PreferenceDestroy(pref);
    if (handle) lt->Destroy(handle);
    for (void* p : {workspace, static_cast<void*>(d_in), static_cast<void*>(act[0]), static_cast<void*>(act[1]), d_half})
      if (p) cudaFree(p);
    if (h_in) cudaFreeHost(h_in);
    if (h_out) cudaFreeHost(h_out);
    if (done) cudaEventDestroy(done);
    if (stream) cudaStreamDestroy(stream);
  }

  int BucketFor(int n) const {
    for (size_t i = 0; i < buckets.size(); i++)
      if (buckets[i].rows >= n) return int(i);
    return int(buckets.size()) - 1;
  }

  // The device output of the chain: the buffer the last layer writes.
  const float* Output() const { return layers.empty() ? d_in : act[(layers.size() - 1) % 2]; }

  Status Product(const Layer& l, const LtStep& s, const float* src, int rows, float* dst) {
    if (lt && s.ok) {
      const void* bsrc = src;
      if (opt.math != CudaMath::kFp32) {
        const size_t n = size_t(rows) * l.in;
        if (opt.math == CudaMath::kFp16)
          ConvertKernel<__half><<<GridFor(n, 256), 256, 0, stream>>>(src, n, static_cast<__half*>(d_half));
        else
          ConvertKernel<__nv_bfloat16><<<GridFor(n, 256), 256, 0, stream>>>(src, n, static_cast<__nv_bfloat16*>(d_half));
        bsrc = d_half;
      }
      const float alpha = 1.0f, beta = 0.0f;
      if (lt->Matmul(handle, l.desc, &alpha, l.w, l.a, bsrc, s.b, &beta, dst, s.d, dst, s.d, &s.algo.algo, workspace,
                     kWorkspaceBytes, stream) != 0)
        return Status::Unavailable("CUDA: cublasLtMatmul failed");
      // The epilogue added the bias (and ReLU); sigmoid and tanh run after it.
      if (l.act == Act::SIGMOID || l.act == Act::TANH) {
        const size_t n = size_t(rows) * l.out;
        ActKernel<<<GridFor(n, 256), 256, 0, stream>>>(dst, n, l.act, dst);
      }
    } else {
      const dim3 grid((l.out + kTileN - 1) / kTileN, (rows + kTileM - 1) / kTileM);
      if (opt.math == CudaMath::kFp16)
        DenseTiled<__half><<<grid, 256, 0, stream>>>(src, static_cast<const __half*>(l.w), l.b, rows, l.in, l.out, l.act, dst);
      else if (opt.math == CudaMath::kBf16)
        DenseTiled<__nv_bfloat16><<<grid, 256, 0, stream>>>(src, static_cast<const __nv_bfloat16*>(l.w), l.b, rows, l.in,
                                                            l.out, l.act, dst);
      else
        DenseTiled<float><<<grid, 256, 0, stream>>>(src, static_cast<const float*>(l.w), l.b, rows, l.in, l.out, l.act, dst);
    }
    RETURN_IF_CUDA_ERR(cudaGetLastError());
    return Status::Ok();
  }

  // Everything one forward of `bk` puts on the stream: copy in, the layers, copy out.
  Status Enqueue(Bucket& bk) {
    const int rows = bk.rows;
    RETURN_IF_CUDA_ERR(cudaMemcpyAsync(d_in, h_in, sizeof(float) * size_t(rows) * in_dim, cudaMemcpyHostToDevice, stream));
    const float* src = d_in;
    for (size_t i = 0; i < layers.size(); i++) {
      const Layer& l = layers[i];
      float* dst = act[i % 2];
      if (l.kind == LayerKind::DENSE) {
        HP_RETURN_IF_ERROR(Product(l, bk.steps[i], src, rows, dst));
      } else if (l.kind == LayerKind::SOFTMAX) {
        SoftmaxKernel<<<unsigned((rows + 7) / 8), 256, 0, stream>>>(src, rows, l.out, dst);
        RETURN_IF_CUDA_ERR(cudaGetLastError());
      } else {
        const size_t n = size_t(rows) * l.out;
        ActKernel<<<GridFor(n, 256), 256, 0, stream>>>(src, n, l.act, dst);
        RETURN_IF_CUDA_ERR(cudaGetLastError());
      }
      src = dst;
    }
    RETURN_IF_CUDA_ERR(
        cudaMemcpyAsync(h_out, Output(), sizeof(float) * size_t(rows) * out_dim, cudaMemcpyDeviceToHost, stream));
    return Status::Ok();
  }

  // Captures bk's forward as a graph. A capture that fails leaves the bucket on plain launches.
  void Capture(Bucket& bk) {
    cudaGraph_t g = nullptr;
    if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
      cudaGetLastError();
      return;
    }
    const Status s = Enqueue(bk);
    const cudaError_t end = cudaStreamEndCapture(stream, &g);
    if (s.ok() && end == cudaSuccess && g && cudaGraphInstantiate(&bk.graph, g, 0) != cudaSuccess) bk.graph = nullptr;
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
  }

  Status Lost(Status s, bool timed_out) {
    lost = true;
    hung = hung || timed_out;
    return Status::Unavailable("CUDA device lost: " + s.message());
  }

  // Waits for `done`, polling (the worker thread has nothing else to do), then yielding.
  Status Wait() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt.sync_timeout_ms);
    for (int polls = 0;; polls++) {
      const cudaError_t e = cudaEventQuery(done);
      if (e == cudaSuccess) return Status::Ok();
      if (e != cudaErrorNotReady) return Lost(Status::Unavailable(cudaGetErrorString(e)), false);
      // "Not ready" may stay behind as the thread's last error; a later
      // cudaGetLastError() check would read it as a failure.
      (void)cudaGetLastError();
      if (polls >= kSpinPolls) {
        if (std::chrono::steady_clock::now() > deadline)
          return Lost(Status::Unavailable("a forward did not finish within " + std::to_string(opt.sync_timeout_ms) + " ms"),
                      true);
        std::this_thread::yield();
      }
    }
  }

  Status Forward(const float* x, int batch, float* y) {
    if (lost) return Status::Unavailable("CUDA device lost earlier; this model answers on the CPU");
    if (inject_fault) return Lost(Status::Unavailable("injected fault"), false);
    if (batch <= 0 || batch > opt.max_batch) return Status::InvalidArg("cuda dense: batch out of range");
    const cudaError_t set = cudaSetDevice(0);
    if (set != cudaSuccess) return Lost(Status::Unavailable(cudaGetErrorString(set)), false);
    Bucket& bk = buckets[size_t(BucketFor(batch))];
    std::memcpy(h_in, x, sizeof(float) * size_t(batch) * in_dim);
    if (bk.graph) {
      const cudaError_t e = cudaGraphLaunch(bk.graph, stream);
      if (e != cudaSuccess) return Lost(Status::Unavailable(cudaGetErrorString(e)), false);
    } else {
      const Status s = Enqueue(bk);
      if (!s.ok()) return Lost(s, false);
    }
    const cudaError_t e = cudaEventRecord(done, stream);
    if (e != cudaSuccess) return Lost(Status::Unavailable(cudaGetErrorString(e)), false);
    HP_RETURN_IF_ERROR(Wait());
    std::memcpy(y, h_out, sizeof(float) * size_t(batch) * out_dim);
    return Status::Ok();
  }
};

size_t CudaDenseBytes(int in_dim, const CudaDenseLayer* layers, int n_layers, const CudaDenseOptions& opt) {
  size_t weights = 0, max_width = size_t(in_dim), max_dense_in = 0;
  for (int i = 0; i < n_layers; i++) {
    const CudaDenseLayer& l = layers[i];
    if (l.kind == LayerKind::DENSE) {
      weights += size_t(l.in) * l.out * ElemBytes(opt.math) + sizeof(float) * size_t(l.out);
      max_dense_in = std::max(max_dense_in, size_t(l.in));
    }
    max_width = std::max(max_width, size_t(l.out));
  }
  const size_t rows = size_t(opt.max_batch);
  size_t buffers = sizeof(float) * rows * (size_t(in_dim) + 2 * max_width);
  if (opt.math != CudaMath::kFp32) buffers += 2 * rows * max_dense_in;
  return weights + buffers + (opt.cublaslt ? kWorkspaceBytes : 0);
}

Status CudaDenseCreate(int in_dim, const CudaDenseLayer* layers, int n_layers, const CudaDenseOptions& opt,
                       CudaDense** out) {
  *out = nullptr;
  if (in_dim <= 0 || n_layers <= 0 || opt.max_batch <= 0 || opt.sync_timeout_ms <= 0)
    return Status::InvalidArg("cuda dense: bad shape or options");
  const CudaInfo& info = CudaProbe();
  if (info.devices == 0) return Status::Unavailable("no CUDA device: " + info.error);
  RETURN_IF_CUDA_ERR(cudaSetDevice(0));
  size_t free_bytes = 0, total_bytes = 0;
  RETURN_IF_CUDA_ERR(cudaMemGetInfo(&free_bytes, &total_bytes));
  const size_t need = CudaDenseBytes(in_dim, layers, n_layers, opt);
  if (need + opt.reserve_bytes > free_bytes) {
    const auto mib = [](size_t b) { return std::to_string((b + (1u << 20) - 1) >> 20); };
    return Status::Exhausted("model needs " + mib(need) + " MiB of device memory; the device has " + mib(free_bytes) +
                             " MiB free of " + mib(total_bytes) + " MiB, and " + mib(opt.reserve_bytes) +
                             " MiB are kept in reserve");
  }

  std::unique_ptr<CudaDense> m(new CudaDense());
  m->opt = opt;
  m->in_dim = in_dim;
  m->device_bytes = need;
  if (opt.cublaslt) m->lt = lt::LoadCublasLt(&m->lt_why);
  else m->lt_why = "turned off for this model";
  int width = in_dim;
  m->max_width = in_dim;
  const cudaDataType_t et = ElemType(opt.math);
  const size_t eb = ElemBytes(opt.math);
  for (int i = 0; i < n_layers; i++) {
    const CudaDenseLayer& s = layers[i];
    CudaDense::Layer l{s.kind, width, width, s.act};
    if (s.kind == LayerKind::DENSE) {
      if (s.in != width || s.out <= 0 || !s.w || !s.b) return Status::InvalidArg("cuda dense: layer " + std::to_string(i) + " is malformed");
      l.in = s.in;
      l.out = s.out;
      const size_t n = size_t(s.in) * s.out;
      m->layers.push_back(l);  // owned from here: the destructor frees what a failure leaves
      CudaDense::Layer& ml = m->layers.back();
      RETURN_IF_CUDA_ERR(cudaMalloc(&ml.w, n * eb));
      RETURN_IF_CUDA_ERR(cudaMalloc(&ml.b, sizeof(float) * size_t(s.out)));
      RETURN_IF_CUDA_ERR(cudaMemcpy(ml.b, s.b, sizeof(float) * size_t(s.out), cudaMemcpyHostToDevice));
      if (opt.math == CudaMath::kFp32) {
        RETURN_IF_CUDA_ERR(cudaMemcpy(ml.w, s.w, n * sizeof(float), cudaMemcpyHostToDevice));
      } else {
        // Converted on the host (round to nearest) and uploaded once: no device-wide sync,
        // which could meet another worker's graph capture.
        if (opt.math == CudaMath::kFp16) {
          std::vector<__half> h(n);
          for (size_t k = 0; k < n; k++) h[k] = __float2half_rn(s.w[k]);
          RETURN_IF_CUDA_ERR(cudaMemcpy(ml.w, h.data(), n * eb, cudaMemcpyHostToDevice));
        } else {
          std::vector<__nv_bfloat16> h(n);
          for (size_t k = 0; k < n; k++) h[k] = __float2bfloat16_rn(s.w[k]);
          RETURN_IF_CUDA_ERR(cudaMemcpy(ml.w, h.data(), n * eb, cudaMemcpyHostToDevice));
        }
      }
      m->max_dense_in = std::max(m->max_dense_in, s.in);
      width = s.out;
    } else {
      m->layers.push_back(l);
    }
    m->max_width = std::max(m->max_width, width);
  }
  m->out_dim = width;

  const size_t rows = size_t(opt.max_batch);
  RETURN_IF_CUDA_ERR(cudaMalloc(&m->d_in, sizeof(float) * rows * in_dim));
  for (float*& a : m->act) RETURN_IF_CUDA_ERR(cudaMalloc(&a, sizeof(float) * rows * m->max_width));
  if (opt.math != CudaMath::kFp32 && m->max_dense_in > 0) RETURN_IF_CUDA_ERR(cudaMalloc(&m->d_half, 2 * rows * m->max_dense_in));
  RETURN_IF_CUDA_ERR(cudaHostAlloc(reinterpret_cast<void**>(&m->h_in), sizeof(float) * rows * in_dim, cudaHostAllocDefault));
  RETURN_IF_CUDA_ERR(cudaHostAlloc(reinterpret_cast<void**>(&m->h_out), sizeof(float) * rows * m->out_dim, cudaHostAllocDefault));
  std::memset(m->h_in, 0, sizeof(float) * rows * in_dim);  // padded rows read zeros until real rows pass through
  RETURN_IF_CUDA_ERR(cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking));
  RETURN_IF_CUDA_ERR(cudaEventCreateWithFlags(&m->done, cudaEventDisableTiming));

  // Buckets: 1, 2, 4, ... below max_batch, then max_batch.
  const std::vector<CudaDense::LtStep> no_steps(m->layers.size());
  for (int r = 1; r < opt.max_batch; r *= 2) m->buckets.push_back({r, no_steps, nullptr});
  m->buckets.push_back({opt.max_batch, no_steps, nullptr});

  if (m->lt) {
    if (m->lt->Create(&m->handle) != 0) {
      m->lt_why = "cublasLtCreate failed";
      m->lt = nullptr;
    }
  }
  if (m->lt) {
    RETURN_IF_CUDA_ERR(cudaMalloc(&m->workspace, kWorkspaceBytes));
    const lt::Api& api = *m->lt;
    const uint64_t ws = kWorkspaceBytes;
    bool ok = api.PreferenceCreate(&m->pref) == 0 &&
              api.PreferenceSetAttribute(m->pref, lt::kPrefMaxWorkspaceBytes, &ws, sizeof(ws)) == 0;
    for (CudaDense::Layer& l : m->layers) {
      if (!ok || l.kind != LayerKind::DENSE) continue;
      const uint32_t epi = l.act == Act::RELU ? lt::kEpilogueReluBias : lt::kEpilogueBias;
      const void* bias = l.b;
      ok = api.MatmulDescCreate(&l.desc, lt::kCompute32F, CUDA_R_32F) == 0 &&
           api.MatmulDescSetAttribute(l.desc, lt::kDescTransA, &lt::kOpT, sizeof(lt::kOpT)) == 0 &&
           api.MatmulDescSetAttribute(l.desc, lt::kDescTransB, &lt::kOpN, sizeof(lt::kOpN)) == 0 &&
           api.MatmulDescSetAttribute(l.desc, lt::kDescEpilogue, &epi, sizeof(epi)) == 0 &&
           api.MatmulDescSetAttribute(l.desc, lt::kDescBiasPointer, &bias, sizeof(bias)) == 0 &&
           api.MatrixLayoutCreate(&l.a, et, uint64_t(l.in), uint64_t(l.out), int64_t(l.in)) == 0;
    }
    // Per bucket and dense layer: y^T (out x rows, column-major) = W (in x out)^T . x^T (in x rows).
    for (CudaDense::Bucket& bk : m->buckets) {
      for (size_t i = 0; ok && i < m->layers.size(); i++) {
        const CudaDense::Layer& l = m->layers[i];
        if (l.kind != LayerKind::DENSE) continue;
        CudaDense::LtStep& s = bk.steps[i];
        int found = 0;
        if (api.MatrixLayoutCreate(&s.b, et, uint64_t(l.in), uint64_t(bk.rows), int64_t(l.in)) != 0 ||
            api.MatrixLayoutCreate(&s.d, CUDA_R_32F, uint64_t(l.out), uint64_t(bk.rows), int64_t(l.out)) != 0) {
          ok = false;
          break;
        }
        s.ok = api.AlgoGetHeuristic(m->handle, l.desc, l.a, s.b, s.d, s.d, m->pref, 1, &s.algo, &found) == 0 &&
               found > 0 && s.algo.state == 0 && s.algo.workspace_size <= kWorkspaceBytes;
      }
    }
    if (!ok) m->lt_why = "cuBLASLt refused the model's descriptors";
    // A refusal leaves the steps' ok false: those products run on the project's kernels.
  }
  // Each bucket runs once with plain launches (loading the kernels and cuBLASLt's outside
  // any capture, and checking that the chain runs at all), then is captured, then runs
  // once more as the graph it will serve with.
  std::vector<float> warm_x(rows * size_t(in_dim), 0.0f), warm_y(rows * size_t(m->out_dim));  // at create only
  for (CudaDense::Bucket& bk : m->buckets) {
    HP_RETURN_IF_ERROR(m->Forward(warm_x.data(), bk.rows, warm_y.data()));
    if (!opt.graphs) continue;
    m->Capture(bk);
    HP_RETURN_IF_ERROR(m->Forward(warm_x.data(), bk.rows, warm_y.data()));
  }
  *out = m.release();
  return Status::Ok();
}

void CudaDenseDestroy(CudaDense* m) { delete m; }

void CudaDenseInjectFault(CudaDense* m) { m->inject_fault = true; }

Status CudaDenseForward(CudaDense* m, const float* x, int batch, float* y) { return m->Forward(x, batch, y); }

void CudaDenseDescribe(const CudaDense* m, CudaDenseInfo* info) {
  *info = CudaDenseInfo{};
  info->buckets = int(m->buckets.size());
  for (const CudaDense::Bucket& bk : m->buckets) info->graphs += bk.graph ? 1 : 0;
  bool any = false;
  for (const CudaDense::Bucket& bk : m->buckets)
    for (const CudaDense::LtStep& s : bk.steps) any = any || s.ok;
  info->cublaslt = m->lt != nullptr && any;
  info->cublaslt_why = info->cublaslt ? "" : m->lt_why.empty() ? "no algorithm for these shapes" : m->lt_why;
  info->device_bytes = m->device_bytes;
}

}  // namespace hotpath
