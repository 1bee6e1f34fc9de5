// The resident CUDA dense path (cuda_backend.h: CudaDense, Model with Device::kCuda)
// against the CPU model: fp32 with and without cuBLASLt and graphs, fp16 and bf16 within
// their stated error, padded buckets and chunking, the memory refusal, and a lost device
// answered on the CPU. Without a device, the refusals only.
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../core/cuda_backend.h"
#include "../core/model.h"
#include "test_util.h"

using namespace hptest;
using Code = Status::Code;

namespace {

LayerSpec Dense(std::mt19937& rng, int in, int out, Act act) {
  LayerSpec l;
  l.kind = LayerKind::DENSE;
  l.in = in;
  l.out = out;
  l.w = Normal(rng, size_t(in) * out, 1.0f / std::sqrt(float(in)));
  l.b = Normal(rng, size_t(out), 0.1f);
  l.act = act;
  return l;
}

// 48 -> 96 relu -> 80 tanh -> 33 -> sigmoid (an ACT layer) -> 10 -> softmax: every layer
// kind and activation, widths that are not multiples of the tiles.
std::vector<LayerSpec> Chain() {
  std::mt19937 rng(11);
  std::vector<LayerSpec> v{Dense(rng, 48, 96, Act::RELU), Dense(rng, 96, 80, Act::TANH), Dense(rng, 80, 33, Act::NONE)};
  LayerSpec sig;
  sig.kind = LayerKind::ACT;
  sig.act = Act::SIGMOID;
  v.push_back(sig);
  v.push_back(Dense(rng, 33, 10, Act::NONE));
  LayerSpec sm;
  sm.kind = LayerKind::SOFTMAX;
  v.push_back(sm);
  return v;
}

double WorstError(Model& want, Model& got, int batch, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<float> x = Normal(rng, size_t(batch) * want.in_dim(), 1.5f);
  std::vector<float> a(size_t(batch) * want.out_dim()), b(a.size() + 1, -7.f);
  Record(want.Forward(x.data(), batch, a.data()).ok(), __FILE__, __LINE__, "cpu forward");
  const Status s = got.Forward(x.data(), batch, b.data());
  Record(s.ok(), __FILE__, __LINE__, "cuda forward: " + s.message());
  CHECK_EQ(b[a.size()], -7.f);  // nothing written past the batch
  double worst = 0;
  for (size_t i = 0; i < a.size(); i++) worst = std::isnan(b[i]) ? INFINITY : std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

void TestCudaDenseRefusalsWithoutDevice() {
  std::unique_ptr<Model> m;
  // fp16/bf16 are device precisions; the CPU refuses them by name.
  CHECK_CODE(Model::Create(48, Chain(), 8, Device::kCpu, &m, Precision::kFp16), Code::INVALID_ARG);
  CHECK_CODE(Model::Create(48, Chain(), 8, Device::kCpu, &m, Precision::kBf16), Code::INVALID_ARG);
  if (CudaProbe().devices > 0) return;
  CHECK_CODE(Model::Create(48, Chain(), 8, Device::kCuda, &m, Precision::kFp16),
             Code::UNAVAILABLE);
  CudaDense* d = nullptr;
  std::vector<CudaDenseLayer> one{{LayerKind::DENSE, 1, 1, nullptr, nullptr, Act::NONE}};
  const float w = 1, b = 0;
  one[0].w = &w;
  one[0].b = &b;
  CHECK_CODE(CudaDenseCreate(1, one.data(), 1, CudaDenseOptions{}, &d), CudaProbe().compiled ? Code::UNAVAILABLE : Code::UNSUPPORTED);
  CHECK(d == nullptr);
  std::printf("SKIP cuda dense: no device\n");
}

void TestCudaDenseMatchesCpu() {
  if (CudaProbe().devices == 0) return;
  std::unique_ptr<Model> cpu;
  CHECK_OK(Model::Create(48, Chain(), 128, Device::kCpu, &cpu));
  struct Variant {
    Precision p;
    bool cublaslt, graphs;
    double tolerance;  // on softmax outputs in [0, 1]
  };
  // fp16 keeps 11 significant bits and bf16 8: their layer inputs and weights round to
  // that (relative 2^-11 and 2^-8), and the errors add up over four dense layers.
  const Variant variants[] = {
      {Precision::kFp32, true, true, 1e-5},  {Precision::kFp32, false, true, 1e-5}, {Precision::kFp32, true, false, 1e-5},
      {Precision::kFp32, false, false, 1e-5}, {Precision::kFp16, true, true, 5e-3}, {Precision::kFp16, false, true, 5e-3},
      {Precision::kBf16, true, true, 3e-2},  {Precision::kBf16, false, false, 3e-2},
  };
  for (const Variant& v : variants) {
    CudaDenseOptions o;
    o.cublaslt = v.cublaslt;
    o.graphs = v.graphs;
    std::unique_ptr<Model> gpu;
    CHECK_OK(Model::Create(48, Chain(), 128, Device::kCuda, &gpu, v.p, &o));
    if (!gpu) continue;
    CudaDenseInfo info;
    CudaDenseDescribe(gpu->cuda(), &info);
    const std::string name = std::string(v.p == Precision::kFp32 ? "fp32" : v.p == Precision::kFp16 ? "fp16" : "bf16") +
                             (info.cublaslt ? " cublaslt" : " kernels") + (v.graphs ? " graphs" : "");
    std::printf("  %s: %d/%d buckets with graphs, %zu device bytes%s%s\n", name.c_str(), info.graphs, info.buckets,
                info.device_bytes, info.cublaslt ? "" : ", cuBLASLt: ", info.cublaslt ? "" : info.cublaslt_why.c_str());
    if (v.cublaslt == false) CHECK(!info.cublaslt);
    // Where a cuBLASLt file is named (scripts/gpu-check.sh), it must really be used.
    const char* lt = std::getenv("HOTPATH_CUBLASLT");
    if (v.cublaslt && lt && *lt && std::string(lt) != "off") Record(info.cublaslt, __FILE__, __LINE__, "cuBLASLt in use: " + info.cublaslt_why);
    if (v.graphs) CHECK_EQ(info.graphs, info.buckets);  // every bucket captured
    else CHECK_EQ(info.graphs, 0);
    CHECK_EQ(info.buckets, 8);  // 1, 2, ..., 64, then 128
    for (int batch : {1, 3, 64, 100, 128, 300}) {  // padded buckets; 300 runs as 128 + 128 + 44
      const double worst = WorstError(*cpu, *gpu, batch, uint32_t(batch) * 7 + 1);
      Record(worst <= v.tolerance, __FILE__, __LINE__,
             "cuda " + name + " vs cpu, batch " + std::to_string(batch) + ": max error " + std::to_string(worst));
    }
    CHECK(gpu->device() == Device::kCuda);
  }
}

void TestCudaDenseTooLargeIsRefused() {
  if (CudaProbe().devices == 0) return;
  CudaDenseOptions o;
  o.reserve_bytes = CudaProbe().total_bytes;  // nothing fits beside a reserve of the whole device
  std::unique_ptr<Model> m;
  const Status s = Model::Create(48, Chain(), 128, Device::kCuda, &m, Precision::kFp32, &o);
  CHECK_CODE(s, Code::RESOURCE_EXHAUSTED);
  CHECK(s.message().find("MiB of device memory") != std::string::npos);
  // The estimate counts the weights: a 4096 x 4096 layer alone is 64 MiB in fp32, 32 in fp16.
  std::vector<float> w(size_t(4096) * 4096), b(4096);
  CudaDenseLayer big{LayerKind::DENSE, 4096, 4096, w.data(), b.data(), Act::NONE};
  CudaDenseOptions f32, f16;
  f32.max_batch = f16.max_batch = 1;
  f16.math = CudaMath::kFp16;
  CHECK(CudaDenseBytes(4096, &big, 1, f32) >= size_t(64) << 20);
  CHECK(CudaDenseBytes(4096, &big, 1, f16) < size_t(64) << 20);
}

void TestLostDeviceAnswersOnCpu() {
  if (CudaProbe().devices == 0) return;
  std::unique_ptr<Model> cpu, gpu;
  CHECK_OK(Model::Create(48, Chain(), 64, Device::kCpu, &cpu));
  CHECK_OK(Model::Create(48, Chain(), 64, Device::kCuda, &gpu));
  CudaDenseInjectFault(const_cast<CudaDense*>(gpu->cuda()));
  const double worst = WorstError(*cpu, *gpu, 5, 3);  // answered, on the CPU
  CHECK(worst <= 1e-6);
  CHECK(gpu->device() == Device::kCpu);
  CHECK(gpu->device_lost().find("injected fault") != std::string::npos);
  CHECK(WorstError(*cpu, *gpu, 70, 4) <= 1e-6);  // and stays there
}

}  // namespace

void RunCudaDenseTests() {
  RUN(TestCudaDenseRefusalsWithoutDevice);
  RUN(TestCudaDenseMatchesCpu);
  RUN(TestCudaDenseTooLargeIsRefused);
  RUN(TestLostDeviceAnswersOnCpu);
}
