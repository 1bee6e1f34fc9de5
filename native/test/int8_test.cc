// int8 inference (kernels.h: QuantizeRowsInt8, DenseForwardInt8; Model with Precision::kInt8)
// against the fp32 path on random layers and models: a worst-case bound computed from the
// quantised values, a mean-error bound, row independence, chunking and the edges.
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "../core/kernels.h"
#include "../core/model.h"
#include "test_util.h"

using namespace hptest;

namespace {

std::unique_ptr<Model> Make(int in, std::vector<LayerSpec> layers, int max_batch, Precision p) {
  std::unique_ptr<Model> m;
  Status s = Model::Create(in, std::move(layers), max_batch, Device::kCpu, &m, p);
  Record(s.ok(), __FILE__, __LINE__, "Model::Create: " + s.message());
  return m;
}

// One dense layer, no activation: every output within the rounding bound
//   sum_i xs * ws * (|xq_i| / 2 + |wq_i| / 2 + 1 / 4)   (x = xs (xq + ex), |ex| <= 1/2; same for w)
// plus float slack, and the RMS error under 2% of the outputs' RMS (Gaussian x and w: each
// quantiser adds noise of about max|v| / 127 / sqrt(12) ~ 0.8% of v's RMS for the widths
// here; the two together ~1.2%).
void TestDenseInt8WithinBound() {
  std::mt19937 rng(7);
  const int shapes[][3] = {{10, 1, 1}, {10, 16, 7}, {64, 33, 64}, {256, 128, 17}, {1000, 8, 5}};
  for (const auto& sh : shapes) {
    const int in = sh[0], out = sh[1], batch = sh[2];
    std::vector<float> x = Normal(rng, size_t(batch) * in, 2.0f), w = Normal(rng, size_t(out) * in, 0.3f),
                       b = Normal(rng, size_t(out), 0.5f);
    std::vector<float> want(size_t(batch) * out), got(size_t(batch) * out);
    CHECK_OK(DenseForwardCpu(x.data(), w.data(), b.data(), batch, in, out, Act::NONE, want.data()));
    std::vector<int8_t> xq(x.size()), wq(w.size());
    std::vector<float> xs(static_cast<size_t>(batch)), ws(static_cast<size_t>(out));
    QuantizeRowsInt8(x.data(), batch, in, xq.data(), xs.data());
    QuantizeRowsInt8(w.data(), out, in, wq.data(), ws.data());
    std::vector<int8_t> wqt(wq.size());
    for (int o = 0; o < out; o++)
      for (int i = 0; i < in; i++) wqt[size_t(i) * out + o] = wq[size_t(o) * in + i];
    std::vector<int32_t> acc(static_cast<size_t>(out));
    DenseForwardInt8(xq.data(), xs.data(), wqt.data(), ws.data(), b.data(), batch, in, out, Act::NONE, acc.data(), got.data());
    double err2 = 0, ref2 = 0;
    bool within = true;
    for (int r = 0; r < batch; r++)
      for (int o = 0; o < out; o++) {
        double bound = 0, mag = 0;
        for (int i = 0; i < in; i++) {
          bound += std::fabs(xq[size_t(r) * in + i]) * 0.5 + std::fabs(wq[size_t(o) * in + i]) * 0.5 + 0.25;
          mag += std::fabs(x[size_t(r) * in + i] * w[size_t(o) * in + i]);
        }
        bound = bound * xs[size_t(r)] * ws[size_t(o)] + 1e-5 * (mag + 1);
        const double e = got[size_t(r) * out + o] - want[size_t(r) * out + o];
        if (!(std::fabs(e) <= bound)) within = false;
        err2 += e * e;
        ref2 += double(want[size_t(r) * out + o]) * want[size_t(r) * out + o];
      }
    Record(within, __FILE__, __LINE__, "int8 dense " + std::to_string(in) + "x" + std::to_string(out) + ": an output outside the rounding bound");
    Record(std::sqrt(err2) <= 0.02 * std::sqrt(ref2), __FILE__, __LINE__,
           "int8 dense " + std::to_string(in) + "x" + std::to_string(out) + ": RMS error " + Num(std::sqrt(err2 / ref2)) + " of the RMS output");
  }
}

// Quantisation round trip: |dequantised - x| <= scale / 2, the largest value maps to +-127.
void TestQuantizeRows() {
  std::mt19937 rng(3);
  std::vector<float> x = Normal(rng, 5 * 40, 4.0f);
  std::vector<int8_t> q(x.size());
  std::vector<float> s(5);
  QuantizeRowsInt8(x.data(), 5, 40, q.data(), s.data());
  bool ok = true;
  for (int r = 0; r < 5; r++) {
    int qmax = 0;
    for (int i = 0; i < 40; i++) {
      const size_t k = size_t(r) * 40 + i;
      if (!(std::fabs(q[k] * s[size_t(r)] - x[k]) <= s[size_t(r)] * 0.5f * 1.0001f)) ok = false;
      qmax = std::max(qmax, std::abs(int(q[k])));
    }
    if (qmax != 127) ok = false;
  }
  CHECK(ok);
  // zero row: scale 0, all 0; NaN -> 0; inf -> +-127 with the scale of the finite values
  const float inf = std::numeric_limits<float>::infinity();
  const float odd[8] = {0, 0, 0, 0, std::nanf(""), 2.0f, -inf, 1.0f};
  int8_t oq[8];
  float os[2];
  QuantizeRowsInt8(odd, 2, 4, oq, os);
  CHECK_EQ(os[0], 0.0f);
  CHECK_EQ(int(oq[0]) | int(oq[1]) | int(oq[2]) | int(oq[3]), 0);
  CHECK_NEAR(os[1], 2.0f / 127, 1e-9);
  CHECK_EQ(int(oq[4]), 0);
  CHECK_EQ(int(oq[5]), 127);
  CHECK_EQ(int(oq[6]), -127);
  CHECK_EQ(int(oq[7]), 64);
}

// An MLP like the fraud model (relu hidden layers, sigmoid out) and a softmax head: the int8
// model's outputs stay close to the fp32 model's; a batch gives the same rows as one row at
// a time (per-row activation scales), also across max_batch chunks.
void TestModelInt8MatchesFp32() {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 4; trial++) {
    const int in = 10 + 30 * trial, h1 = 16 << (trial % 3), h2 = 8 + trial, out = trial % 2 ? 3 : 1;
    auto spec = [&]() {
      std::mt19937 r2(100 + trial);
      std::vector<LayerSpec> l(3);
      const int dims[4] = {in, h1, h2, out};
      for (int k = 0; k < 3; k++) {
        l[size_t(k)].in = dims[k];
        l[size_t(k)].out = dims[k + 1];
        l[size_t(k)].w = Normal(r2, size_t(dims[k]) * dims[k + 1], 1.0f / std::sqrt(float(dims[k])));
        l[size_t(k)].b = Normal(r2, size_t(dims[k + 1]), 0.1f);
        l[size_t(k)].act = k < 2 ? Act::RELU : out == 1 ? Act::SIGMOID : Act::NONE;
      }
      if (out > 1) {
        LayerSpec sm;
        sm.kind = LayerKind::SOFTMAX;
        l.push_back(sm);
      }
      return l;
    };
    const int max_batch = 16, batch = 50;  // 4 chunks
    auto f = Make(in, spec(), max_batch, Precision::kFp32);
    auto q = Make(in, spec(), max_batch, Precision::kInt8);
    if (!f || !q) return;
    CHECK(q->precision() == Precision::kInt8);
    std::vector<float> x = Normal(rng, size_t(batch) * in, 1.5f);
    std::vector<float> yf(size_t(batch) * out), yq(size_t(batch) * out), y1(static_cast<size_t>(out));
    CHECK_OK(f->Forward(x.data(), batch, yf.data()));
    CHECK_OK(q->Forward(x.data(), batch, yq.data()));
    double maxerr = 0;
    bool same_alone = true;
    for (int r = 0; r < batch; r++) {
      CHECK_OK(q->Forward(x.data() + size_t(r) * in, 1, y1.data()));
      for (int o = 0; o < out; o++) {
        maxerr = std::max(maxerr, double(std::fabs(yq[size_t(r) * out + o] - yf[size_t(r) * out + o])));
        if (y1[size_t(o)] != yq[size_t(r) * out + o]) same_alone = false;
      }
    }
    Record(maxerr <= 0.02, __FILE__, __LINE__, "int8 MLP trial " + std::to_string(trial) + ": max |int8 - fp32| " + Num(maxerr));
    Record(same_alone, __FILE__, __LINE__, "int8 MLP: a row alone differs from the same row in a batch");
  }
}

void TestInt8Refusals() {
  std::vector<LayerSpec> l(1);
  l[0].in = 4;
  l[0].out = 2;
  l[0].w.assign(8, 0.5f);
  std::unique_ptr<Model> m;
  CHECK_CODE(Model::Create(4, l, 8, Device::kCuda, &m, Precision::kInt8), Status::Code::INVALID_ARG);
  // all-zero weights: scale 0, the output is the bias
  l[0].w.assign(8, 0.0f);
  l[0].b = {0.25f, -1.0f};
  CHECK_OK(Model::Create(4, l, 8, Device::kCpu, &m, Precision::kInt8));
  const float x[4] = {1, 2, 3, 4};
  float y[2];
  CHECK_OK(m->Forward(x, 1, y));
  CHECK_EQ(y[0], 0.25f);
  CHECK_EQ(y[1], -1.0f);
}

}  // namespace

void RunInt8Tests() {
  RUN(TestQuantizeRows);
  RUN(TestDenseInt8WithinBound);
  RUN(TestModelInt8MatchesFp32);
  RUN(TestInt8Refusals);
}
