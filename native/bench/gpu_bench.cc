// The GPU throughput table of scripts/gpu-check.sh: an MLP (256 -> 512 relu -> 512 relu ->
// 1 sigmoid) at batch 1 to 4096 through Model on the CPU and on the CUDA device (fp32 with
// graphs, without graphs, the project's kernels instead of cuBLASLt, fp16, bf16), host
// memory in and out, as the server calls it; then exact top-k over 1M x 64 embeddings on the
// device against the CPU's exact and 4-bit scans. Markdown on stdout.
//   gpu_bench [--quick]     (--quick: fewer repetitions, for a smoke run)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../core/cuda_backend.h"
#include "../core/embedding.h"
#include "../core/model.h"

using namespace hotpath;

namespace {

using Clock = std::chrono::steady_clock;

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

std::vector<float> Normal(std::mt19937& rng, size_t n, float sd) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<LayerSpec> Mlp() {
  std::mt19937 rng(1);
  const int widths[] = {256, 512, 512, 1};
  std::vector<LayerSpec> v;
  for (int i = 0; i < 3; i++) {
    LayerSpec l;
    l.kind = LayerKind::DENSE;
    l.in = widths[i];
    l.out = widths[i + 1];
    l.w = Normal(rng, size_t(l.in) * l.out, 1.0f / std::sqrt(float(l.in)));
    l.b = Normal(rng, size_t(l.out), 0.05f);
    l.act = i < 2 ? Act::RELU : Act::SIGMOID;
    v.push_back(std::move(l));
  }
  return v;
}

// Median microseconds of one forward of `batch` rows (after warm-up), over enough
// repetitions to fill about `budget_ms`.
double TimeForward(Model& m, const std::vector<float>& x, int batch, double budget_ms) {
  std::vector<float> y(size_t(batch) * m.out_dim());
  for (int i = 0; i < 3; i++) m.Forward(x.data(), batch, y.data());
  const auto t0 = Clock::now();
  m.Forward(x.data(), batch, y.data());
  const double one = std::max(Us(Clock::now() - t0), 1.0);
  const int reps = std::clamp(int(budget_ms * 1000 / one), 5, 2000);
  std::vector<double> t(static_cast<size_t>(reps));
  for (int r = 0; r < reps; r++) {
    const auto s = Clock::now();
    const Status st = m.Forward(x.data(), batch, y.data());
    t[size_t(r)] = Us(Clock::now() - s);
    if (!st.ok()) {
      std::printf("forward failed: %s\n", st.message().c_str());
      return NAN;
    }
  }
  if (!m.device_lost().empty()) {  // it gave the device up and answered on the CPU: not a device time
    std::printf("(lost: %s) ", m.device_lost().c_str());
    return NAN;
  }
  std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
  return t[size_t(reps / 2)];
}

void DenseTable(bool quick) {
  const int batches[] = {1, 8, 64, 256, 1024, 4096};
  const double budget = quick ? 30 : 300;
  std::unique_ptr<Model> cpu;
  if (!Model::Create(256, Mlp(), 4096, Device::kCpu, &cpu).ok()) return;
  struct Variant {
    const char* name;
    Precision p;
    CudaDenseOptions o;
    std::unique_ptr<Model> m;
  };
  std::vector<Variant> vs;
  CudaDenseOptions dflt, nographs, kernels;
  nographs.graphs = false;
  kernels.cublaslt = false;
  vs.push_back({"cuda fp32", Precision::kFp32, dflt, nullptr});
  vs.push_back({"fp32 no graphs", Precision::kFp32, nographs, nullptr});
  vs.push_back({"fp32 own kernels", Precision::kFp32, kernels, nullptr});
  vs.push_back({"fp16", Precision::kFp16, dflt, nullptr});
  vs.push_back({"bf16", Precision::kBf16, dflt, nullptr});
  for (Variant& v : vs) {
    const Status s = Model::Create(256, Mlp(), 4096, Device::kCuda, &v.m, v.p, &v.o);
    CudaDenseInfo info;
    if (s.ok()) CudaDenseDescribe(v.m->cuda(), &info);
    std::printf("- %s: %s\n", v.name,
                !s.ok() ? s.message().c_str()
                        : (std::string(info.cublaslt ? "cuBLASLt" : "own kernels (" + info.cublaslt_why + ")") + ", " +
                           std::to_string(info.graphs) + "/" + std::to_string(info.buckets) + " buckets with graphs, " +
                           std::to_string(info.device_bytes >> 20) + " MiB on the device")
                              .c_str());
  }
  std::printf("\nMedian µs per forward (host x in, host y out), and the CPU's time over the device's:\n\n");
  std::printf("| batch | cpu fp32 |");
  for (Variant& v : vs) std::printf(" %s |", v.name);
  std::printf(" cpu / cuda fp32 |\n|---|---|");
  for (size_t i = 0; i < vs.size(); i++) std::printf("---|");
  std::printf("---|\n");
  std::mt19937 rng(2);
  const std::vector<float> x = Normal(rng, size_t(4096) * 256, 1.0f);
  for (int b : batches) {
    const double c = TimeForward(*cpu, x, b, budget);
    std::printf("| %d | %.1f |", b, c);
    double first = NAN;
    for (Variant& v : vs) {
      const double t = v.m ? TimeForward(*v.m, x, b, budget) : NAN;
      if (std::isnan(first)) first = t;
      std::printf(" %.1f |", t);
    }
    std::printf(" %.1fx |\n", c / first);
    std::fflush(stdout);
  }
  // Agreement at batch 256: the largest difference from the CPU's fp32 score.
  std::printf("\nLargest |score - cpu fp32 score| over 256 rows:");
  std::vector<float> want(256), got(256);
  cpu->Forward(x.data(), 256, want.data());
  for (Variant& v : vs) {
    if (!v.m) continue;
    v.m->Forward(x.data(), 256, got.data());
    double worst = 0;
    for (int i = 0; i < 256; i++) worst = std::max(worst, std::fabs(double(got[size_t(i)]) - want[size_t(i)]));
    std::printf(" %s %.2e;", v.name, worst);
  }
  std::printf("\n");
}

void TopkTable(bool quick) {
  const int64_t n = 1'000'000;
  const int dim = 64, k = 20, queries = quick ? 20 : 200;
  std::mt19937 rng(3);
  const std::vector<float> m = Normal(rng, size_t(n) * dim, 1.0f);
  std::unique_ptr<EmbeddingIndex> idx;
  if (!EmbeddingIndex::FromMatrix(m.data(), n, dim, &idx).ok()) return;
  const Status en = idx->EnableCuda();
  if (!en.ok()) {
    std::printf("\ntop-k on the device: %s\n", en.message().c_str());
    return;
  }
  TopkScratch scratch;
  std::vector<int32_t> rows(k), rows_cpu(k);
  std::vector<float> scores(k), scores_cpu(k);
  std::vector<double> t_gpu, t_exact, t_fast;
  int agree = 0, total = 0;
  for (int q = 0; q < queries; q++) {
    const std::vector<float> query = Normal(rng, size_t(dim), 1.0f);
    TopkRequest r;
    r.query = query.data();
    r.k = k;
    int w = 0, wc = 0;
    r.cuda = true;
    auto s = Clock::now();
    const Status st = idx->TopK(r, &scratch, rows.data(), scores.data(), &w);
    t_gpu.push_back(Us(Clock::now() - s));
    if (!st.ok()) {
      std::printf("\ntop-k on the device failed: %s\n", st.message().c_str());
      return;
    }
    r.cuda = false;
    r.exact = true;
    s = Clock::now();
    idx->TopK(r, &scratch, rows_cpu.data(), scores_cpu.data(), &wc);
    t_exact.push_back(Us(Clock::now() - s));
    for (int i = 0; i < std::min(w, wc); i++) agree += std::count(rows_cpu.begin(), rows_cpu.begin() + wc, rows[size_t(i)]) > 0;
    total += wc;
    r.exact = false;
    s = Clock::now();
    idx->TopK(r, &scratch, rows_cpu.data(), scores_cpu.data(), &wc);
    t_fast.push_back(Us(Clock::now() - s));
  }
  auto pct = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
  };
  std::printf("\nTop-%d over %lld x %d fp32 embeddings, %d queries (µs):\n\n| scan | p50 | p99 |\n|---|---|---|\n", k,
              static_cast<long long>(n), dim, queries);
  std::printf("| cuda exact | %.0f | %.0f |\n| cpu exact | %.0f | %.0f |\n| cpu 4-bit + re-rank | %.0f | %.0f |\n",
              pct(t_gpu, 0.5), pct(t_gpu, 0.99), pct(t_exact, 0.5), pct(t_exact, 0.99), pct(t_fast, 0.5), pct(t_fast, 0.99));
  std::printf("\nDevice rows that are in the CPU's exact top-%d: %d of %d\n", k, agree, total);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const CudaInfo& info = CudaProbe();
  if (info.devices == 0) {
    std::printf("no CUDA device (%s): nothing to measure\n", info.compiled ? info.error.c_str() : "CPU-only build");
    return 2;
  }
  std::printf("# GPU check: %s, %zu MiB\n\n", info.name.c_str(), info.total_bytes >> 20);
  DenseTable(quick);
  TopkTable(quick);
  return 0;
}
