// The online learner (native/core/learner.h): River's semantics checked against a plain
// reference written the way River's Python reads (dicts of weights, one pass per step),
// convergence, clipping, refusals that leave the state byte-identical, and the blob.
// Run by core_test's main.
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../core/learner.h"
#include "test_util.h"

using namespace hptest;

namespace {

std::unique_ptr<Learner> Make(const LearnerSpec& s) {
  std::unique_ptr<Learner> l;
  const Status st = Learner::Create(s, &l);
  if (!st.ok()) {
    std::printf("FATAL: Learner::Create: %s\n", st.message().c_str());
    std::exit(2);
  }
  return l;
}

std::vector<uint8_t> Blob(const Learner& l) {
  std::vector<uint8_t> b;
  l.Serialize(&b);
  return b;
}

LearnerSpec Dense(int dim, LearnerOpt opt = LearnerOpt::SGD, bool scale = true) {
  LearnerSpec s;
  s.dim = dim;
  s.optimizer = opt;
  s.scale = scale;
  if (opt == LearnerOpt::FTRL) s.l2 = 1.0;
  return s;
}

// River's StandardScaler | LogisticRegression, spelled out as the Python does it: a dict of
// weights keyed by input, the scaler's learn_one then transform_one, the Log loss gradient,
// the intercept step, the optimiser step, then (SGD) the cumulative L1 penalty.
struct Reference {
  explicit Reference(const LearnerSpec& spec) : s(spec) {}
  LearnerSpec s;
  double count = 0, intercept = 0, max_cum_l1 = 0;
  std::map<size_t, double> mean, var, w, z, n, cum_l1;

  double Scale(size_t i, double x) const {
    if (!s.scale) return x;
    const double v = var.count(i) ? var.at(i) : 0;
    return v ? (x - mean.at(i)) / std::pow(v, 0.5) : 0.0;
  }
  static double Sig(double r) { return 1 / (1 + std::exp(-r)); }
  // x: (key, value) pairs; dense keys 0..dim-1, hashed keys dim + index.
  double Raw(const std::vector<std::pair<size_t, double>>& x) const {
    double dot = 0;
    for (auto [k, v] : x) dot += (w.count(k) ? w.at(k) : 0.0) * v;
    return dot + intercept;
  }
  std::vector<std::pair<size_t, double>> Transform(const std::vector<std::pair<size_t, double>>& x) const {
    std::vector<std::pair<size_t, double>> t;
    for (auto [k, v] : x) t.push_back({k, k < size_t(s.dim) ? Scale(k, v) : v});
    return t;
  }
  double Predict(const std::vector<std::pair<size_t, double>>& x) const { return Sig(Raw(Transform(x))); }
  void Learn(const std::vector<std::pair<size_t, double>>& x, double y) {
    if (s.scale) {
      count++;
      for (auto [k, v] : x) {
        if (k >= size_t(s.dim)) continue;
        const double old = mean[k];
        mean[k] += (v - old) / count;
        var[k] += ((v - old) * (v - mean[k]) - var[k]) / count;
      }
    }
    const auto t = Transform(x);
    const double raw = Raw(t);
    const double ys = y ? 1 : -1, zz = raw * ys;
    double g = zz > 18 ? std::exp(-zz) * -ys : zz < -18 ? -ys : -ys / (std::exp(zz) + 1);
    g = std::max(-s.clip, std::min(s.clip, g));
    intercept -= s.intercept_lr * g;
    for (auto [k, v] : t) {
      double gi = std::max(-s.clip, std::min(s.clip, g * v));
      if (s.optimizer == LearnerOpt::SGD) {
        if (s.l2) gi += s.l2 * w[k];
        w[k] -= s.lr * gi;
      } else {
        const double sigma = (std::sqrt(n[k] + gi * gi) - std::sqrt(n[k])) / s.alpha;
        z[k] += gi - sigma * w[k];
        n[k] += gi * gi;
        const double sign = z[k] > 0 ? 1 : -1;
        w[k] = std::fabs(z[k]) <= s.l1 ? 0 : -(z[k] - sign * s.l1) / ((s.beta + std::sqrt(n[k])) / s.alpha + s.l2);
      }
    }
    if (s.optimizer == LearnerOpt::SGD && s.l1) {
      max_cum_l1 += s.l1 * s.lr;
      for (auto [k, v] : t) {
        const double wt = w[k];
        if (wt > 0) w[k] = std::max(0.0, wt - (max_cum_l1 + cum_l1[k]));
        else if (wt < 0) w[k] = std::min(0.0, wt + (max_cum_l1 - cum_l1[k]));
        cum_l1[k] += w[k] - wt;
      }
    }
  }
};

// A stream whose label is a linear function of the inputs (offset, scaled unevenly so that
// scaling matters), separable with a margin.
struct Stream {
  std::mt19937_64 rng{42};
  std::normal_distribution<double> nd{0, 1};
  int dim;
  explicit Stream(int d) : dim(d) {}
  double Next(std::vector<double>* x) {
    x->resize(size_t(dim));
    double s = 0.3;
    for (int i = 0; i < dim; i++) {
      const double u = nd(rng);
      (*x)[size_t(i)] = 10 + u * (i + 1) * 3;  // mean 10, sd 3(i+1)
      s += (i % 2 ? -1.0 : 1.0) * u;
    }
    if (std::fabs(s) < 0.2) return Next(x);  // a margin
    return s > 0 ? 1 : 0;
  }
};

void TestSpecRefusals() {
  std::unique_ptr<Learner> l;
  LearnerSpec s = Dense(3);
  CHECK_OK(Learner::Create(s, &l));
  auto bad = [](LearnerSpec s) {
    std::unique_ptr<Learner> l;
    return Learner::Create(s, &l);
  };
  s = Dense(0);
  CHECK_CODE(bad(s), Code::INVALID_ARG);  // no inputs at all
  s = Dense(kLearnerMaxDim + 1);
  CHECK_CODE(bad(s), Code::INVALID_ARG);
  s = Dense(3);
  s.hash_bits = kLearnerMaxHashBits + 1;
  CHECK_CODE(bad(s), Code::INVALID_ARG);
  s = Dense(3);
  s.l1 = 0.1;
  s.l2 = 0.1;
  CHECK_CODE(bad(s), Code::INVALID_ARG);  // River refuses the pair too
  s = Dense(3);
  s.clip = 0;
  CHECK_CODE(bad(s), Code::INVALID_ARG);
  s = Dense(3);
  s.lr = kNaN;
  CHECK_CODE(bad(s), Code::INVALID_ARG);
  s = Dense(3, LearnerOpt::FTRL);
  s.alpha = 0;
  CHECK_CODE(bad(s), Code::INVALID_ARG);
  s = Dense(3);
  s.optimizer = LearnerOpt(7);
  CHECK_CODE(bad(s), Code::INVALID_ARG);
}

void TestScalerLearnsFirstThenTransforms() {
  // River's StandardScaler docstring stream: the first example scales to 0 (its own mean,
  // zero variance), the second to -1 / +1 exactly (two points, ddof 0).
  LearnerSpec s = Dense(2);
  auto l = Make(s);
  LearnOutcome o;
  const double x1[] = {10.557, 8.100}, x2[] = {9.100, 8.892};
  CHECK_OK(l->Learn(x1, nullptr, nullptr, 0, 1, &o));
  CHECK_NEAR(o.loss, std::log(2.0), 1e-15);
  std::vector<float> w;
  float b;
  CHECK_OK(l->ExportLinear(&w, &b));
  CHECK(w[0] == 0 && w[1] == 0);               // scaled input was 0: no weight moved
  CHECK_NEAR(b, 0.01 * 0.5, 1e-9);             // intercept_lr 0.01 times -(0.5 - 1)
  const double p1 = l->Predict(x2, nullptr, nullptr, 0);
  CHECK_NEAR(p1, 1 / (1 + std::exp(-0.005)), 1e-15);  // predict: x2 scaled by var 0 -> 0
  CHECK_OK(l->Learn(x2, nullptr, nullptr, 0, 0, &o));
  // Now x2 scaled to (-1, +1) with the updated stats, g = p1 - 0: w = -lr * g * (-1, 1).
  Reference ref{s};
  ref.Learn({{0, x1[0]}, {1, x1[1]}}, 1);
  ref.Learn({{0, x2[0]}, {1, x2[1]}}, 0);
  CHECK_NEAR(ref.w[0], 0.01 * p1, 1e-15);
  CHECK_NEAR(ref.w[1], -0.01 * p1, 1e-15);
  // Predict does not update the scaler.
  const auto before = Blob(*l);
  for (int i = 0; i < 10; i++) l->Predict(x1, nullptr, nullptr, 0);
  CHECK(Blob(*l) == before);
}

// Learner and Reference agree to rounding on a long stream, for each optimiser setting.
void TestMatchesReference() {
  struct Case {
    const char* name;
    LearnerSpec s;
  };
  std::vector<Case> cases;
  cases.push_back({"sgd", Dense(4)});
  LearnerSpec s = Dense(4);
  s.l2 = 0.01;
  cases.push_back({"sgd l2", s});
  s = Dense(4);
  s.l1 = 0.001;
  s.lr = 0.05;
  cases.push_back({"sgd l1", s});
  cases.push_back({"ftrl", Dense(4, LearnerOpt::FTRL)});
  s = Dense(4, LearnerOpt::FTRL);
  s.l1 = 0.5;
  cases.push_back({"ftrl l1", s});
  s = Dense(4, LearnerOpt::SGD, false);
  s.clip = 0.5;
  cases.push_back({"sgd unscaled clip 0.5", s});
  s = Dense(4);
  s.hash_bits = 6;
  cases.push_back({"sgd hashed", s});
  s = Dense(4, LearnerOpt::FTRL);
  s.hash_bits = 6;
  cases.push_back({"ftrl hashed", s});
  for (const Case& c : cases) {
    auto l = Make(c.s);
    Reference ref{c.s};
    Stream st(4);
    std::mt19937 rng(7);
    std::vector<double> x;
    double worst = 0;
    for (int t = 0; t < 3000; t++) {
      const double y = st.Next(&x);
      uint32_t idx[3];
      float val[3];
      const int nh = c.s.hash_bits ? 3 : 0;
      std::vector<std::pair<size_t, double>> kv;
      for (int i = 0; i < 4; i++) kv.push_back({size_t(i), x[size_t(i)]});
      for (int j = 0; j < nh; j++) {
        idx[j] = uint32_t(rng() % 64);  // collisions included: both sides sum them
        val[j] = j == 0 ? float(y) : float((rng() % 100) / 50.0);
        kv.push_back({4 + idx[j], val[j]});
      }
      const double p = l->Predict(x.data(), idx, val, nh), pr = ref.Predict(kv);
      worst = std::max(worst, std::fabs(p - pr));
      LearnOutcome o;
      l->Learn(x.data(), idx, val, nh, y, &o);
      ref.Learn(kv, y);
    }
    Record(worst < 1e-9, __FILE__, __LINE__, std::string(c.name) + ": largest |p - reference| " + Num(worst));
  }
}

void Converges(LearnerSpec s, const char* name) {
  auto l = Make(s);
  Stream st(5);
  std::vector<double> x;
  int right = 0;
  LearnOutcome o;
  for (int t = 0; t < 6000; t++) {
    const double y = st.Next(&x);
    if (t >= 5000) right += (l->Predict(x.data(), nullptr, nullptr, 0) > 0.5) == (y == 1);
    CHECK_OK(l->Learn(x.data(), nullptr, nullptr, 0, y, &o));
  }
  Record(right >= 950, __FILE__, __LINE__, std::string(name) + ": accuracy over the last 1000 " + Num(right / 1000.0));
  CHECK_EQ(l->stats().updates, 6000);
  CHECK_EQ(l->stats().clipped, 0);
}

void TestConvergesOnSeparableStream() {
  LearnerSpec s = Dense(5);
  s.lr = 0.05;
  Converges(s, "sgd");
  Converges(Dense(5, LearnerOpt::FTRL), "ftrl");
  s = Dense(5, LearnerOpt::FTRL);
  s.alpha = 0.5;
  s.l2 = 0;
  Converges(s, "ftrl alpha 0.5");
}

void TestClippingIsCounted() {
  // Unscaled, a hashed numeric value of 1e6: g * x is ~5e5, clamped to clip = 1.
  LearnerSpec s = Dense(1, LearnerOpt::SGD, false);
  s.hash_bits = 4;
  s.clip = 1;
  s.lr = 0.1;
  auto l = Make(s);
  const double x[] = {0.5};
  uint32_t idx[] = {3};
  float val[] = {1e6f};
  LearnOutcome o;
  CHECK_OK(l->Learn(x, idx, val, 1, 1, &o));
  CHECK(o.clipped);
  CHECK_OK(l->Learn(x, nullptr, nullptr, 0, 1, &o));
  CHECK(!o.clipped);
  CHECK_EQ(l->stats().clipped, 1);
  CHECK_EQ(l->stats().updates, 2);
  // The weight moved by lr * clip at most.
  const double p = l->Predict(x, idx, val, 1);
  CHECK(std::isfinite(p));
  std::vector<float> w;
  float b;
  CHECK_CODE(l->ExportLinear(&w, &b), Code::UNSUPPORTED);  // has a hashed block
}

void TestRefusalsLeaveStateUntouched() {
  LearnerSpec s = Dense(3, LearnerOpt::FTRL);
  s.hash_bits = 4;
  auto l = Make(s);
  Stream st(3);
  std::vector<double> x;
  LearnOutcome o;
  for (int t = 0; t < 50; t++) {
    const double y = st.Next(&x);
    CHECK_OK(l->Learn(x.data(), nullptr, nullptr, 0, y, &o));
  }
  const auto before = Blob(*l);
  const double p = l->Predict(x.data(), nullptr, nullptr, 0);
  uint32_t idx[] = {1, 2};
  float val[] = {1, 2};
  auto refuse = [&](std::vector<double> xx, double y, const uint32_t* ii, const float* vv, int nh, int line) {
    const Status st = l->Learn(xx.data(), ii, vv, nh, y, &o);
    Record(st.code() == Code::INVALID_ARG, __FILE__, line, "refused: " + st.message());
  };
  refuse({1, kNaN, 3}, 1, nullptr, nullptr, 0, __LINE__);
  refuse({1, kInf, 3}, 1, nullptr, nullptr, 0, __LINE__);
  refuse({-kInf, 2, 3}, 0, nullptr, nullptr, 0, __LINE__);
  refuse({1, 2, 1e31}, 0, nullptr, nullptr, 0, __LINE__);
  refuse({1, 2, 3}, 0.5, nullptr, nullptr, 0, __LINE__);
  refuse({1, 2, 3}, 2, nullptr, nullptr, 0, __LINE__);
  refuse({1, 2, 3}, -1, nullptr, nullptr, 0, __LINE__);
  refuse({1, 2, 3}, kNaN, nullptr, nullptr, 0, __LINE__);
  const uint32_t far[] = {1, 16};
  refuse({1, 2, 3}, 1, far, val, 2, __LINE__);
  const float nanv[] = {1, std::nanf("")};
  refuse({1, 2, 3}, 1, idx, nanv, 2, __LINE__);
  refuse({1, 2, 3}, 1, idx, val, -1, __LINE__);
  CHECK(Blob(*l) == before);
  CHECK(l->Predict(x.data(), nullptr, nullptr, 0) == p);
  CHECK_EQ(l->stats().refused, 11);
  CHECK_EQ(l->stats().updates, 50);
  // Predict's backstop: NaN, never a number from garbage.
  const double bad[] = {1, kNaN, 3};
  CHECK_NAN(l->Predict(bad, nullptr, nullptr, 0));
  CHECK_NAN(l->Predict(x.data(), far, val, 2));
}

void TestBlobRoundTripAndDamage() {
  LearnerSpec s = Dense(4, LearnerOpt::FTRL);
  s.hash_bits = 5;
  auto l = Make(s);
  Stream st(4);
  std::vector<double> x;
  LearnOutcome o;
  uint32_t idx[] = {3, 9};
  float val[] = {1, 0.5f};
  for (int t = 0; t < 500; t++) {
    const double y = st.Next(&x);
    CHECK_OK(l->Learn(x.data(), idx, val, 2, y, &o));
  }
  const auto blob = Blob(*l);
  auto copy = Make(s);
  CHECK_OK(copy->Deserialize(blob.data(), blob.size()));
  CHECK(Blob(*copy) == blob);
  int same = 0;
  for (int t = 0; t < 200; t++) {
    st.Next(&x);
    same += l->Predict(x.data(), idx, val, 2) == copy->Predict(x.data(), idx, val, 2);
  }
  CHECK_EQ(same, 200);
  CHECK_EQ(copy->stats().updates, 500);

  // Damage anywhere (header, state, CRC) is refused and leaves the target as it was.
  auto target = Make(s);
  CHECK_OK(target->Learn(x.data(), nullptr, nullptr, 0, 1, &o));
  const auto target_before = Blob(*target);
  for (size_t at : {size_t(0), size_t(5), size_t(9), size_t(30), blob.size() / 2, blob.size() - 9, blob.size() - 1}) {
    auto bad = blob;
    bad[at] ^= 0x10;
    const Status ds = target->Deserialize(bad.data(), bad.size());
    Record(ds.code() == Code::INVALID_ARG, __FILE__, __LINE__, "damaged at " + std::to_string(at) + ": " + ds.message());
  }
  CHECK_CODE(target->Deserialize(blob.data(), blob.size() - 1), Code::INVALID_ARG);
  CHECK_CODE(target->Deserialize(blob.data(), 10), Code::INVALID_ARG);
  CHECK_CODE(target->Deserialize(nullptr, 0), Code::INVALID_ARG);
  LearnerSpec other = s;
  other.alpha = 0.1;
  auto o2 = Make(other);
  CHECK_CODE(o2->Deserialize(blob.data(), blob.size()), Code::INVALID_ARG);  // another spec
  CHECK(Blob(*target) == target_before);
}

void TestCopyFromPromotes() {
  LearnerSpec s = Dense(3);
  auto bg = Make(s), fg = Make(s);
  Stream st(3);
  std::vector<double> x;
  LearnOutcome o;
  for (int t = 0; t < 300; t++) {
    const double y = st.Next(&x);
    CHECK_OK(bg->Learn(x.data(), nullptr, nullptr, 0, y, &o));
  }
  CHECK_OK(fg->CopyFrom(*bg));
  CHECK(Blob(*fg) == Blob(*bg));
  auto other = Make(Dense(4));
  CHECK_CODE(other->CopyFrom(*bg), Code::INVALID_ARG);
  fg->Reset();
  CHECK(Blob(*fg) == Blob(*Make(s)));
}

void TestManyMatchesOne() {
  LearnerSpec s = Dense(3);
  auto many = Make(s);
  Stream st(3);
  std::vector<double> x;
  std::vector<float> xs;
  std::vector<double> ys;
  for (int t = 0; t < 400; t++) {
    ys.push_back(st.Next(&x));
    for (double v : x) xs.push_back(float(v));
  }
  ys[10] = 0.5;  // refused and skipped
  LearnManyOutcome mo;
  CHECK_OK(many->LearnMany(xs.data(), nullptr, ys.data(), 400, &mo));
  CHECK_EQ(mo.refused, 1);
  // The same rows but row 10, one Learn at a time, on float rows widened to double.
  auto third = Make(s);
  double loss3 = 0;
  for (int t = 0; t < 400; t++) {
    if (t == 10) continue;
    std::vector<double> xd(xs.begin() + t * 3, xs.begin() + t * 3 + 3);
    LearnOutcome o;
    CHECK_OK(third->Learn(xd.data(), nullptr, nullptr, 0, ys[size_t(t)], &o));
    loss3 += o.loss;
  }
  // LearnMany's dense kernel rounds differently from Learn (learner.cc): equal to 1e-9.
  CHECK_EQ(many->stats().updates, third->stats().updates);
  double far = 0;
  for (int t = 0; t < 400; t++) {
    std::vector<double> xd(xs.begin() + t * 3, xs.begin() + t * 3 + 3);
    const double a = many->Predict(xd.data(), nullptr, nullptr, 0), b = third->Predict(xd.data(), nullptr, nullptr, 0);
    far = std::max(far, std::fabs(a - b) / std::fabs(b));
  }
  Record(far < 1e-9, __FILE__, __LINE__, "LearnMany vs Learn: largest relative |p - p| " + Num(far));
  CHECK_NEAR(mo.loss_sum, loss3, 1e-9);
  // PredictMany equals Predict (in float).
  std::vector<float> out(400);
  CHECK_OK(many->PredictMany(xs.data(), 400, out.data()));
  double worst = 0;
  for (int t = 0; t < 400; t++) {
    std::vector<double> xd(xs.begin() + t * 3, xs.begin() + t * 3 + 3);
    worst = std::max(worst, std::fabs(out[size_t(t)] - many->Predict(xd.data(), nullptr, nullptr, 0)));
  }
  CHECK(worst < 1e-7);
  // ExportLinear: sigmoid(w . raw + b) is the learner's prediction.
  std::vector<float> w;
  float b;
  CHECK_OK(many->ExportLinear(&w, &b));
  worst = 0;
  for (int t = 0; t < 400; t++) {
    double raw = b;
    for (int i = 0; i < 3; i++) raw += double(w[size_t(i)]) * xs[size_t(t * 3 + i)];
    worst = std::max(worst, std::fabs(1 / (1 + std::exp(-raw)) - out[size_t(t)]));
  }
  Record(worst < 1e-5, __FILE__, __LINE__, "ExportLinear vs PredictMany " + Num(worst));
}

// LearnMany with p_out is Predict-then-Learn row by row (progressive validation), for each
// dense kernel (SGD / FTRL, scaled / not, l2, clipping reached) and the generic path (SGD-L1),
// refused rows included: the predictions, the losses and the final model agree to 1e-9.
void TestManyWithPIsPredictThenLearn() {
  struct Case {
    const char* name;
    LearnerSpec s;
  };
  std::vector<Case> cases;
  cases.push_back({"sgd", Dense(10)});
  // Unscaled SGD at lr 0.01 oscillates on these inputs (values up to ~100): there any
  // rounding difference grows without bound, so this case takes a learning rate that converges.
  LearnerSpec s = Dense(10, LearnerOpt::SGD, false);
  s.lr = 1e-4;
  cases.push_back({"sgd unscaled", s});
  cases.push_back({"ftrl", Dense(10, LearnerOpt::FTRL)});
  cases.push_back({"ftrl unscaled", Dense(10, LearnerOpt::FTRL, false)});
  s = Dense(10);
  s.l2 = 0.01;
  cases.push_back({"sgd l2", s});
  s = Dense(10, LearnerOpt::FTRL);
  s.l1 = 0.5;
  cases.push_back({"ftrl l1", s});
  s = Dense(10, LearnerOpt::SGD, false);
  s.clip = 0.5;
  s.lr = 0.001;
  cases.push_back({"sgd unscaled clip 0.5", s});
  s = Dense(10);
  s.clip = 0.05;
  cases.push_back({"sgd clip 0.05", s});
  s = Dense(10);
  s.l1 = 0.001;
  cases.push_back({"sgd l1 (generic path)", s});
  s = Dense(7);  // odd width: the loops' tails
  cases.push_back({"sgd dim 7", s});
  for (const Case& c : cases) {
    const int d = c.s.dim, rows = 3000;
    Stream st(d);
    std::vector<double> x;
    std::vector<float> xs;
    std::vector<double> ys;
    for (int t = 0; t < rows; t++) {
      ys.push_back(st.Next(&x));
      if (t < 40) x[0] = 7.5;  // input 0 constant at first: variance 0, then not
      for (double v : x) xs.push_back(float(v));
    }
    ys[100] = 0.5;                // refused: bad label
    xs[size_t(200 * d + 1)] = kNaN;  // refused: bad input
    xs[size_t(300 * d + 2)] = 1e31f;
    auto many = Make(c.s), one = Make(c.s);
    std::vector<float> p(static_cast<size_t>(rows));
    LearnManyOutcome mo, part;
    // in uneven batches: the kernel's caches are rebuilt at each call
    for (int lo = 0, step = 1, n = 1; lo < rows; lo += n, step = 2 * step + 1, n = std::min(step, rows - lo)) {
      CHECK_OK(many->LearnMany(xs.data() + size_t(lo * d), nullptr, ys.data() + lo, n, &part, p.data() + lo));
      mo.loss_sum += part.loss_sum;
      mo.clipped += part.clipped;
      mo.refused += part.refused;
    }
    double worst = 0, loss = 0;
    uint64_t clipped = 0, refused = 0;
    int nan_right = 0;
    for (int t = 0; t < rows; t++) {
      std::vector<double> xd(xs.begin() + t * d, xs.begin() + (t + 1) * d);
      const double pr = one->Predict(xd.data(), nullptr, nullptr, 0);
      LearnOutcome o;
      if (!one->Learn(xd.data(), nullptr, nullptr, 0, ys[size_t(t)], &o).ok()) {
        refused++;
        nan_right += std::isnan(p[size_t(t)]);
        continue;
      }
      loss += o.loss;
      clipped += o.clipped;
      worst = std::max(worst, std::fabs(double(p[size_t(t)]) - double(float(pr))) / std::fabs(pr));
    }
    const std::string name = c.name;
    Record(worst < 1e-6, __FILE__, __LINE__, name + ": p_out vs Predict (float) " + Num(worst));  // float p_out
    CHECK_EQ(mo.refused, 3);
    CHECK_EQ(refused, 3);
    CHECK_EQ(nan_right, 3);
    CHECK_EQ(mo.clipped, clipped);
    Record(std::fabs(mo.loss_sum - loss) <= 1e-9 * loss, __FILE__, __LINE__, name + ": loss sum " + Num(mo.loss_sum) + " vs " + Num(loss));
    CHECK_EQ(many->stats().updates, one->stats().updates);
    CHECK_EQ(many->stats().refused, one->stats().refused);
    double far = 0;
    for (int t = 0; t < 200; t++) {
      st.Next(&x);
      const double a = many->Predict(x.data(), nullptr, nullptr, 0), b = one->Predict(x.data(), nullptr, nullptr, 0);
      far = std::max(far, std::fabs(a - b) / std::fabs(b));
    }
    Record(far < 1e-9, __FILE__, __LINE__, name + ": final model, largest relative |p - p| " + Num(far));
    std::vector<float> wa, wb;
    float ba, bb;
    CHECK_OK(many->ExportLinear(&wa, &ba));
    CHECK_OK(one->ExportLinear(&wb, &bb));
    CHECK(wa == wb || far < 1e-9);
  }
}

void TestHashIndex() {
  const std::string a = "country=FR", b = "country=DE";
  const uint32_t ia = Learner::HashIndex(a.data(), a.size(), 18);
  CHECK(ia < (1u << 18));
  CHECK_EQ(ia, Learner::HashIndex(a.data(), a.size(), 18));
  CHECK(ia != Learner::HashIndex(b.data(), b.size(), 18));
  CHECK_EQ(Learner::HashIndex(a.data(), a.size(), 0), 0);
  // Low bits of the same hash: the index at fewer bits is the index at more bits, masked.
  CHECK_EQ(Learner::HashIndex(a.data(), a.size(), 10), ia & 1023u);
}

}  // namespace

void RunLearnerTests() {
  RUN(TestSpecRefusals);
  RUN(TestScalerLearnsFirstThenTransforms);
  RUN(TestMatchesReference);
  RUN(TestConvergesOnSeparableStream);
  RUN(TestClippingIsCounted);
  RUN(TestRefusalsLeaveStateUntouched);
  RUN(TestBlobRoundTripAndDamage);
  RUN(TestCopyFromPromotes);
  RUN(TestManyMatchesOne);
  RUN(TestManyWithPIsPredictThenLearn);
  RUN(TestHashIndex);
}
