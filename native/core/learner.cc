#include "learner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <string>

#include "crc32c.h"
#include "hash.h"

namespace hotpath {
namespace {

constexpr uint32_t kMagic = 0x524c5048;  // "HPLR" little-endian
// The largest float within kLearnerMaxValue (float(1e30) is just above it): for a float x,
// |x| <= kMaxFloat exactly when |double(x)| <= kLearnerMaxValue.
constexpr float kMaxFloat = 9.999999394896025e+29f;
static_assert(double(kMaxFloat) <= kLearnerMaxValue, "kMaxFloat within the limit");

bool Finite(double v) { return std::isfinite(v); }
bool InRange(double v) { return std::fabs(v) <= kLearnerMaxValue; }  // false for NaN too

// Stable logistic function: exp never overflows.
double Sigmoid(double raw) {
  if (raw >= 0) return 1.0 / (1.0 + std::exp(-raw));
  const double e = std::exp(raw);
  return e / (1.0 + e);
}

// River's optim.losses.Log with y in {-1, 1} and z = raw * y: the loss and its gradient with
// respect to raw (-y / (exp(z) + 1)), with the same shortcuts beyond |z| > 18. One exp for
// both: -y / (exp(z) + 1) = -y * e / (1 + e) with e = exp(-z).
void LogLoss(double z, double ys, double* loss, double* grad) {
  if (z > 18.0) {
    const double e = std::exp(-z);
    *loss = e;
    *grad = e * -ys;
  } else if (z < -18.0) {
    *loss = -z;
    *grad = -ys;
  } else {
    const double e = std::exp(-z);
    *loss = std::log1p(e);
    *grad = -ys * e / (1.0 + e);
  }
}

// 1 / sqrt(var), 0 where var is 0 (River's safe_div); the division is unconditional (on a
// stand-in 1 where var is 0) so that a loop of these vectorises.
inline double InvSd(double var) {
  const double is = 1.0 / std::sqrt(var > 0 ? var : 1.0);
  return var > 0 ? is : 0.0;
}

double Clamp(double v, double c, bool* clipped) {
  if (v > c) {
    *clipped = true;
    return c;
  }
  if (v < -c) {
    *clipped = true;
    return -c;
  }
  return v;
}

// ---- blob writing and reading (little-endian hosts, like the store's snapshots)

template <typename T>
void Put(std::vector<uint8_t>* out, const T& v) {
  const size_t at = out->size();
  out->resize(at + sizeof(T));
  std::memcpy(out->data() + at, &v, sizeof(T));
}
void PutArray(std::vector<uint8_t>* out, const std::vector<double>& v) {
  const size_t at = out->size();
  out->resize(at + v.size() * sizeof(double));
  if (!v.empty()) std::memcpy(out->data() + at, v.data(), v.size() * sizeof(double));
}

struct Reader {
  const uint8_t* p;
  size_t n, at = 0;
  template <typename T>
  T Get() {  // callers check the length first
    T v;
    std::memcpy(&v, p + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
};

constexpr size_t kHeaderBytes = 4 + 4 + 4 + 4 + 1 + 1 + 2 + 7 * 8;  // magic .. clip
constexpr size_t kScalarStateBytes = 3 * 8 + 2 * 8;                  // counters, intercept, max_cum_l1

// The dense kernels' shared pieces (LearnDenseUnscaled, LearnDenseScaled).

// Sum of a[i] * b[i] in four partial sums (a rounding order of its own: the kernels agree
// with Predict up to a few ulps).
[[gnu::always_inline]] inline double Dot4(const double* __restrict a, const double* __restrict b, size_t d) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= d; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < d; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// The optimiser's constants, read once per call.
struct StepConsts {
  double c, lr, l1, l2, beta, inv_alpha;
};

// One row's weight step with the (clamped) loss gradient g over its inputs x: each
// coordinate's gradient clamped to ±c, then SGD with l2, or FTRL-Proximal as StepCoord with
// sqrt(n) carried in sqn. Returns nonzero when a clamp bit.
template <bool kFtrl>
[[gnu::always_inline]] inline uint64_t StepWeights(double* __restrict w, double* __restrict zs, double* __restrict ns, double* __restrict sqn,
                                                   const double* __restrict x, double g, size_t d, const StepConsts& k) {
  uint64_t clipped = 0;
  for (size_t i = 0; i < d; i++) {
    const double g0 = g * x[i];
    const double gi = std::min(std::max(g0, -k.c), k.c);
    clipped |= gi != g0;
    if (!kFtrl) {
      w[i] -= k.lr * (gi + k.l2 * w[i]);
    } else {
      const double n1 = ns[i] + gi * gi, s1 = std::sqrt(n1);
      const double z = zs[i] + (gi - (s1 - sqn[i]) * k.inv_alpha * w[i]);
      zs[i] = z;
      ns[i] = n1;
      sqn[i] = s1;
      const double wz = -(z - std::copysign(k.l1, z)) / ((k.beta + s1) * k.inv_alpha + k.l2);  // unconditional: vectorises
      w[i] = std::fabs(z) <= k.l1 ? 0.0 : wz;
    }
  }
  return clipped;
}

}  // namespace

bool LearnerSpec::operator==(const LearnerSpec& o) const {
  return dim == o.dim && hash_bits == o.hash_bits && optimizer == o.optimizer && scale == o.scale && lr == o.lr &&
         l1 == o.l1 && l2 == o.l2 && alpha == o.alpha && beta == o.beta && intercept_lr == o.intercept_lr && clip == o.clip;
}

Status Learner::Create(const LearnerSpec& s, std::unique_ptr<Learner>* out) {
  if (s.dim < 0 || s.dim > kLearnerMaxDim) return Status::InvalidArg("learner: dim must be in [0, " + std::to_string(kLearnerMaxDim) + "]");
  if (s.hash_bits < 0 || s.hash_bits > kLearnerMaxHashBits)
    return Status::InvalidArg("learner: hash_bits must be in [0, " + std::to_string(kLearnerMaxHashBits) + "]");
  if (s.dim == 0 && s.hash_bits == 0) return Status::InvalidArg("learner: no inputs (dim 0 and no hashed block)");
  if (uint8_t(s.optimizer) >= uint8_t(LearnerOpt::kCount)) return Status::InvalidArg("learner: unknown optimizer");
  for (double v : {s.lr, s.l1, s.l2, s.alpha, s.beta, s.intercept_lr, s.clip})
    if (!Finite(v) || v < 0) return Status::InvalidArg("learner: rates, penalties and clip must be finite and >= 0");
  if (s.clip <= 0) return Status::InvalidArg("learner: clip must be > 0");
  if (s.optimizer == LearnerOpt::SGD) {
    if (s.lr <= 0) return Status::InvalidArg("learner: SGD needs lr > 0");
    // River's GLM raises NotImplementedError for the pair: its cumulative L1 penalty
    // assumes no other pull on the weights.
    if (s.l1 > 0 && s.l2 > 0) return Status::InvalidArg("learner: SGD takes l1 or l2, not both (as River)");
  } else if (s.alpha <= 0) {
    return Status::InvalidArg("learner: FTRL needs alpha > 0");
  }
  out->reset(new Learner(s));
  return Status::Ok();
}

Learner::Learner(const LearnerSpec& spec)
    : spec_(spec), ftrl_(spec.optimizer == LearnerOpt::FTRL), sgd_l1_(!ftrl_ && spec.l1 > 0) {
  const size_t d = size_t(spec.dim), nw = d + hashed_size();
  if (spec.scale) {
    mean_.assign(d, 0.0);
    var_.assign(d, 0.0);
  }
  w_.assign(nw, 0.0);
  if (ftrl_ || sgd_l1_) a_.assign(nw, 0.0);
  if (ftrl_) b_.assign(nw, 0.0);
  xs_.assign(d, 0.0);
  row_.assign(d, 0.0);
  if (spec.scale) isd_.assign(d, 0.0);
  if (ftrl_) sqn_.assign(d, 0.0);
}

uint32_t Learner::HashIndex(const char* s, size_t n, int hash_bits) {
  if (hash_bits <= 0) return 0;
  return uint32_t(HashBytes(s, n) & ((uint64_t(1) << hash_bits) - 1));
}

double Learner::Scaled(int i, double x) const {
  if (!spec_.scale) return x;
  const double var = var_[size_t(i)];
  return var > 0 ? (x - mean_[size_t(i)]) / std::sqrt(var) : 0.0;  // River's safe_div
}

Status Learner::CheckExample(const double* dense, const uint32_t* h_idx, const float* h_val, int nh, double y) const {
  if (!(y == 0 || y == 1)) return Status::InvalidArg("learner: the label must be 0 or 1");
  if (spec_.dim > 0 && !dense) return Status::InvalidArg("learner: no dense inputs");
  for (int i = 0; i < spec_.dim; i++)
    if (!InRange(dense[i])) return Status::InvalidArg("learner: dense input " + std::to_string(i) + " is not a finite number within 1e30");
  if (nh < 0) return Status::InvalidArg("learner: negative hashed count");
  if (nh > 0 && (!h_idx || !h_val || spec_.hash_bits == 0)) return Status::InvalidArg("learner: hashed inputs without a hashed block");
  const size_t hs = hashed_size();
  for (int j = 0; j < nh; j++) {
    if (h_idx[j] >= hs) return Status::InvalidArg("learner: hashed index " + std::to_string(h_idx[j]) + " out of range");
    if (!InRange(h_val[j])) return Status::InvalidArg("learner: hashed value " + std::to_string(j) + " is not a finite number within 1e30");
  }
  return Status::Ok();
}

double Learner::Predict(const double* dense, const uint32_t* h_idx, const float* h_val, int nh) const {
  if (!CheckExample(dense, h_idx, h_val, nh, 0).ok()) return std::nan("");
  double dot = 0;
  for (int i = 0; i < spec_.dim; i++) dot += w_[size_t(i)] * Scaled(i, dense[i]);
  const size_t d = size_t(spec_.dim);
  for (int j = 0; j < nh; j++) dot += w_[d + h_idx[j]] * double(h_val[j]);
  return Sigmoid(dot + intercept_);
}

Status Learner::PredictMany(const float* x, int rows, float* out) const {
  if (rows < 0 || (rows > 0 && (!out || (spec_.dim > 0 && !x)))) return Status::InvalidArg("learner: bad PredictMany arguments");
  const int d = spec_.dim;
  for (int r = 0; r < rows; r++) {
    const float* xr = x + size_t(r) * size_t(d);
    double dot = 0;
    bool ok = true;
    for (int i = 0; i < d; i++) {
      ok &= InRange(xr[i]);
      dot += w_[size_t(i)] * Scaled(i, xr[i]);
    }
    out[r] = ok ? float(Sigmoid(dot + intercept_)) : std::nanf("");
  }
  return Status::Ok();
}

Status Learner::Learn(const double* dense, const uint32_t* h_idx, const float* h_val, int nh, double y, LearnOutcome* out) {
  const Status s = CheckExample(dense, h_idx, h_val, nh, y);
  if (!s.ok()) {
    refused_++;
    return s;
  }
  Update(dense, h_idx, h_val, nh, y, out);
  return Status::Ok();
}

Status Learner::LearnMany(const float* x, const float* y32, const double* y64, int rows, LearnManyOutcome* out, float* p_out) {
  if (rows < 0 || (rows > 0 && ((spec_.dim > 0 && !x) || (!y32 == !y64)))) return Status::InvalidArg("learner: bad LearnMany arguments");
  LearnManyOutcome sum;
  if (spec_.hash_bits == 0 && !sgd_l1_) {
    if (spec_.scale) {
      if (ftrl_) LearnDenseScaled<true>(x, y32, y64, rows, &sum, p_out);
      else LearnDenseScaled<false>(x, y32, y64, rows, &sum, p_out);
    } else {
      if (ftrl_) LearnDenseUnscaled<true>(x, y32, y64, rows, &sum, p_out);
      else LearnDenseUnscaled<false>(x, y32, y64, rows, &sum, p_out);
    }
    *out = sum;
    return Status::Ok();
  }
  const size_t d = size_t(spec_.dim);
  for (int r = 0; r < rows; r++) {
    const float* xr = x + size_t(r) * d;
    for (size_t i = 0; i < d; i++) row_[i] = xr[i];
    const double y = y32 ? double(y32[r]) : y64[r];
    if (!CheckExample(row_.data(), nullptr, nullptr, 0, y).ok()) {
      refused_++;
      sum.refused++;
      if (p_out) p_out[r] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    if (p_out) p_out[r] = float(Predict(row_.data(), nullptr, nullptr, 0));
    LearnOutcome o;
    Update(row_.data(), nullptr, nullptr, 0, y, &o);
    sum.loss_sum += o.loss;
    sum.clipped += o.clipped;
  }
  *out = sum;
  return Status::Ok();
}

// LearnMany over unscaled dense rows: the maths of CheckExample + Predict + Update,
// reorganised for speed; equal to them up to rounding (a few ulps per row), not bit for bit:
//   - the whole row is checked once, branch-free, and then learned unchecked;
//   - FTRL keeps sqrt(n) per weight (sqn_): one sqrt and one division per coordinate;
//   - the clamps are min/max and their "clipped" bit an OR; the dot products use four partial
//     sums (a different rounding order from Predict's single sum).
// One loop over the rows: without a scaler there is little work off the weight chain, and
// LearnDenseScaled's chunks measured 5-14 % slower here (bench/results/2026-12-06-learner-micro.md).
template <bool kFtrl>
void Learner::LearnDenseUnscaled(const float* x, const float* y32, const double* y64, int rows, LearnManyOutcome* sum, float* p_out) {
  const size_t d = size_t(spec_.dim);
  double* __restrict xr = row_.data();
  double* __restrict w = w_.data();
  double* __restrict zs = kFtrl ? a_.data() : nullptr;
  double* __restrict ns = kFtrl ? b_.data() : nullptr;
  double* __restrict sqn = kFtrl ? sqn_.data() : nullptr;
  if (kFtrl)
    for (size_t i = 0; i < d; i++) sqn[i] = std::sqrt(ns[i]);
  const StepConsts sc{spec_.clip, spec_.lr, spec_.l1, spec_.l2, spec_.beta, 1.0 / spec_.alpha};
  const double c = sc.c, ilr = spec_.intercept_lr;
  auto dot = [d](const double* __restrict a, const double* __restrict b) { return Dot4(a, b, d); };
  for (int r = 0; r < rows; r++) {
    const float* xf = x + size_t(r) * d;
    const double y = y32 ? double(y32[r]) : y64[r];
    uint64_t bad = !(y == 0 || y == 1);  // 64-bit flags: the width of a double lane
    for (size_t i = 0; i < d; i++) {
      const double xi = xf[i];
      xr[i] = xi;
      bad |= !(std::fabs(xi) <= kLearnerMaxValue);
    }
    if (bad) {
      refused_++;
      sum->refused++;
      if (p_out) p_out[r] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    if (p_out) p_out[r] = float(Sigmoid(dot(w, xr) + intercept_));
    const double* __restrict xin = xr;
    const double raw = dot(w, xin) + intercept_;
    const double ys = y == 1 ? 1.0 : -1.0;
    double loss, grad;
    LogLoss(raw * ys, ys, &loss, &grad);
    const double g = std::min(std::max(grad, -c), c);
    uint64_t clipped = g != grad;
    intercept_ -= ilr * g;
    clipped |= StepWeights<kFtrl>(w, zs, ns, sqn, xin, g, d, sc);
    updates_++;
    clipped_ += clipped;
    sum->loss_sum += loss;
    sum->clipped += clipped;
  }
}


// LearnMany over scaled dense rows: the same maths as LearnDenseUnscaled plus the scaler,
// which keeps 1 / sd per input (isd_, 0 where the variance is 0): the row's pre-learn scaling
// (for p_out) reuses the previous row's post-learn isd_, so each row costs one sqrt and one
// division per input, and Welford divides by the count once.
// A row is ~300 instructions (the scaler's 5 sqrtpd + 5 divpd for 10 inputs, two dot
// products, exp, log1p, a second exp for p): more than the out-of-order window, so in one
// loop over the rows the scaler's divider work and the calls off the weight chain
// w -> dot -> exp -> g -> w queue behind it instead of overlapping it. So the rows go in
// chunks (up to kChunkRows, the scratch of a chunk within ~8 KiB per vector) through three
// passes:
//   1. prepare: the row check and the scaler (it never reads the weights): per accepted row
//      the pre-learn scaled vector (p_out only) and the post-learn one go to zpre_ / zpost_.
//      A refused row is caught here, before the scaler sees it, and takes no slot. The
//      per-input loops have no branches or reductions, so -O3 vectorises them (the check in
//      float lanes, the scaler in SSE2 sqrtpd / divpd).
//   2. step: the weight chain; per row the gradient (one exp, one division) and the update,
//      plus the pre-learn score for p_out (a dot product off the chain); the score and the
//      loss's inputs z and exp(-z) are stored.
//   3. finish: sigmoid of each stored score into p_out and log1p of each loss, in row order
//      (loss_sum adds in the same order as one loop would).
// Passes 1 and 2 are software-pipelined: the rows of one chunk are stepped in the same loop
// that prepares the next chunk into the other half of the scratch, so the scaler's sqrt and
// division throughput fills the chain's exp and division latency.
// Every value is computed by the same operations, in the same order per value, as one loop over
// the rows (the previous kernel): the passes move independent work, the results are the
// same bits. isd_ and sqn_ are caches, not state: rebuilt from var_ and n at the start of each
// call. The chunk scratch grows on the first call and is reused.
template <bool kFtrl>
void Learner::LearnDenseScaled(const float* x, const float* y32, const double* y64, int rows, LearnManyOutcome* sum, float* p_out) {
  const size_t d = size_t(spec_.dim);
  // Rows per chunk: the scratch of a chunk within ~8 KiB per vector, so it stays in L1.
  const int chunk = int(std::max<size_t>(1, std::min<size_t>(kChunkRows, kChunkDoubles / d)));
  const size_t need = size_t(2 * chunk) * d;
  if (zpost_.size() < need) {
    zpost_.resize(need);
    zpre_.resize(need);
    cy_.resize(size_t(2 * chunk));
    crow_.resize(size_t(2 * chunk));
    craw_.resize(size_t(2 * chunk));
    cz_.resize(size_t(2 * chunk));
    ce_.resize(size_t(2 * chunk));
  }
  double* __restrict w = w_.data();
  double* __restrict mean = mean_.data();
  double* __restrict var = var_.data();
  double* __restrict isd = isd_.data();
  double* __restrict zs = kFtrl ? a_.data() : nullptr;
  double* __restrict ns = kFtrl ? b_.data() : nullptr;
  double* __restrict sqn = kFtrl ? sqn_.data() : nullptr;
  double* __restrict zpre = zpre_.data();
  double* __restrict zpost = zpost_.data();
  double* __restrict cy = cy_.data();
  int* __restrict crow = crow_.data();
  double* __restrict craw = craw_.data();
  double* __restrict cz = cz_.data();
  double* __restrict ce = ce_.data();
  for (size_t i = 0; i < d; i++) isd[i] = InvSd(var[i]);
  if (kFtrl)
    for (size_t i = 0; i < d; i++) sqn[i] = std::sqrt(ns[i]);
  const StepConsts sc{spec_.clip, spec_.lr, spec_.l1, spec_.l2, spec_.beta, 1.0 / spec_.alpha};
  const double c = sc.c, ilr = spec_.intercept_lr;
  auto dot = [d](const double* __restrict a, const double* __restrict b) { return Dot4(a, b, d); };
  // Pass 1 for row r: check it; if accepted, scale it into slot k of the scratch.
  auto prepare = [&](int r, int k) {
    const float* xf = x + size_t(r) * d;
    const double y = y32 ? double(y32[r]) : y64[r];
    // |x| <= kLearnerMaxValue on the float itself (kMaxFloat: the largest float within it),
    // so that the check vectorises in float lanes with a flag of their width.
    uint32_t bad = 0;
    for (size_t i = 0; i < d; i++) bad |= !(std::fabs(xf[i]) <= kMaxFloat);
    if (bad | !(y == 0 || y == 1)) {
      refused_++;
      sum->refused++;
      if (p_out) p_out[r] = std::numeric_limits<float>::quiet_NaN();
      return false;
    }
    cy[k] = y == 1 ? 1.0 : -1.0;
    crow[k] = r;
    double* __restrict zq = zpost + size_t(k) * d;
    if (p_out) {
      double* __restrict zp = zpre + size_t(k) * d;
      for (size_t i = 0; i < d; i++) zp[i] = (double(xf[i]) - mean[i]) * isd[i];
    }
    seen_++;
    const double inv = 1.0 / double(seen_);
    for (size_t i = 0; i < d; i++) {
      const double xi = xf[i], dx = xi - mean[i];
      const double m = mean[i] + dx * inv;
      const double v = var[i] + (dx * (xi - m) - var[i]) * inv;
      mean[i] = m;
      var[i] = v;
      const double is = InvSd(v);
      isd[i] = is;
      zq[i] = (xi - m) * is;
    }
    return true;
  };
  // Pass 2 for slot j: the weight chain.
  auto step = [&](int j) {
    const double* __restrict xin = zpost + size_t(j) * d;
    if (p_out) craw[j] = dot(w, zpre + size_t(j) * d) + intercept_;
    const double raw = dot(w, xin) + intercept_;
    const double ys = cy[j], z = raw * ys;
    // LogLoss's gradient; its loss (log1p) waits for pass 3.
    const double e = z < -18.0 ? 0.0 : std::exp(-z);
    const double grad = z > 18.0 ? e * -ys : z < -18.0 ? -ys : -ys * e / (1.0 + e);
    cz[j] = z;
    ce[j] = e;
    const double g = std::min(std::max(grad, -c), c);
    uint64_t clipped = g != grad;
    intercept_ -= ilr * g;
    clipped |= StepWeights<kFtrl>(w, zs, ns, sqn, xin, g, d, sc);
    updates_++;
    clipped_ += clipped;
    sum->clipped += clipped;
  };
  // Pass 3 for slots [j0, j1): p_out and the losses (LogLoss's, from the stored z and exp(-z)).
  auto finish = [&](int j0, int j1) {
    for (int j = j0; j < j1; j++) {
      const double z = cz[j], e = ce[j];
      sum->loss_sum += z > 18.0 ? e : z < -18.0 ? -z : std::log1p(e);
    }
    if (p_out)
      for (int j = j0; j < j1; j++) p_out[crow[j]] = float(Sigmoid(craw[j]));
  };
  // Two halves of the scratch (slots [0, chunk) and [chunk, 2 chunk)): the k accepted rows of
  // one, from base, are stepped while the next chunk of rows is prepared into the other.
  int base = 0, k = 0, r = 0;
  for (; r < std::min(rows, chunk); r++) k += prepare(r, k);
  while (k > 0 || r < rows) {
    const int nb = chunk - base, r1 = std::min(rows, r + chunk);
    int k2 = 0, j = 0;
    for (; j < k && r < r1; j++, r++) {
      k2 += prepare(r, nb + k2);
      step(base + j);
    }
    for (; j < k; j++) step(base + j);
    for (; r < r1; r++) k2 += prepare(r, nb + k2);
    finish(base, base + k);
    base = nb;
    k = k2;
  }
}

// One coordinate's step with the (clamped) loss gradient g and its input xi.
inline void Learner::StepCoord(size_t i, double xi, double g, bool* clipped) {
  double gi = Clamp(g * xi, spec_.clip, clipped);
  if (!ftrl_) {
    if (spec_.l2 > 0) gi += spec_.l2 * w_[i];
    w_[i] -= spec_.lr * gi;
    return;
  }
  // FTRL-Proximal: z and n per coordinate (McMahan et al. 2013, Algorithm 1).
  double& z = a_[i];
  double& n = b_[i];
  const double sigma = (std::sqrt(n + gi * gi) - std::sqrt(n)) / spec_.alpha;
  z += gi - sigma * w_[i];
  n += gi * gi;
  const double l1 = spec_.l1;
  w_[i] = std::fabs(z) <= l1 ? 0.0 : -(z - std::copysign(l1, z)) / ((spec_.beta + std::sqrt(n)) / spec_.alpha + spec_.l2);
}

void Learner::Update(const double* dense, const uint32_t* h_idx, const float* h_val, int nh, double y, LearnOutcome* out) {
  const int d = spec_.dim;
  const size_t dd = size_t(d);
  // The scaler learns the example first, then scales it (River's Pipeline.learn_one).
  if (spec_.scale) {
    seen_++;
    const double cnt = double(seen_);
    for (int i = 0; i < d; i++) {
      const double x = dense[i], old = mean_[size_t(i)];
      mean_[size_t(i)] += (x - old) / cnt;
      var_[size_t(i)] += ((x - old) * (x - mean_[size_t(i)]) - var_[size_t(i)]) / cnt;
    }
  }
  double dot = 0;
  for (int i = 0; i < d; i++) {
    xs_[size_t(i)] = Scaled(i, dense[i]);
    dot += w_[size_t(i)] * xs_[size_t(i)];
  }
  for (int j = 0; j < nh; j++) dot += w_[dd + h_idx[j]] * double(h_val[j]);
  const double raw = dot + intercept_;
  const double ys = y == 1 ? 1.0 : -1.0;
  double grad;
  LogLoss(raw * ys, ys, &out->loss, &grad);
  bool clipped = false;
  const double g = Clamp(grad, spec_.clip, &clipped);

  intercept_ -= spec_.intercept_lr * g;
  for (size_t i = 0; i < dd; i++) StepCoord(i, xs_[i], g, &clipped);
  for (int j = 0; j < nh; j++) StepCoord(dd + h_idx[j], h_val[j], g, &clipped);

  if (sgd_l1_) {
    // River's cumulative L1 penalty over the inputs of this example: each weight may be
    // pulled towards 0 by what the penalty has grown to since it was last pulled, never past 0.
    max_cum_l1_ += spec_.l1 * spec_.lr;
    auto penalise = [this](size_t i) {
      const double wt = w_[i];
      if (wt > 0) w_[i] = std::max(0.0, wt - (max_cum_l1_ + a_[i]));
      else if (wt < 0) w_[i] = std::min(0.0, wt + (max_cum_l1_ - a_[i]));
      a_[i] += w_[i] - wt;
    };
    for (size_t i = 0; i < dd; i++) penalise(i);
    for (int j = 0; j < nh; j++) penalise(dd + h_idx[j]);
  }
  updates_++;
  clipped_ += clipped;
  out->clipped = clipped;
}

void Learner::Reset() {
  updates_ = clipped_ = seen_ = refused_ = 0;
  intercept_ = max_cum_l1_ = 0;
  for (auto* v : {&mean_, &var_, &w_, &a_, &b_}) std::fill(v->begin(), v->end(), 0.0);
}

Status Learner::CopyFrom(const Learner& o) {
  if (&o == this) return Status::Ok();
  if (!(o.spec_ == spec_)) return Status::InvalidArg("learner: CopyFrom needs a learner of the same spec");
  updates_ = o.updates_;
  clipped_ = o.clipped_;
  seen_ = o.seen_;
  intercept_ = o.intercept_;
  max_cum_l1_ = o.max_cum_l1_;
  mean_ = o.mean_;  // same sizes: copies in place, no allocation
  var_ = o.var_;
  w_ = o.w_;
  a_ = o.a_;
  b_ = o.b_;
  return Status::Ok();
}

void Learner::Serialize(std::vector<uint8_t>* out) const {
  out->clear();
  out->reserve(kHeaderBytes + kScalarStateBytes + 8 * (mean_.size() + var_.size() + w_.size() + a_.size() + b_.size()) + 4);
  Put(out, kMagic);
  Put(out, uint32_t(kLearnerBlobVersion));
  Put(out, int32_t(spec_.dim));
  Put(out, int32_t(spec_.hash_bits));
  Put(out, uint8_t(spec_.optimizer));
  Put(out, uint8_t(spec_.scale));
  Put(out, uint16_t(0));
  for (double v : {spec_.lr, spec_.l1, spec_.l2, spec_.alpha, spec_.beta, spec_.intercept_lr, spec_.clip}) Put(out, v);
  Put(out, updates_);
  Put(out, clipped_);
  Put(out, seen_);
  Put(out, intercept_);
  Put(out, max_cum_l1_);
  for (const auto* v : {&mean_, &var_, &w_, &a_, &b_}) PutArray(out, *v);
  Put(out, Crc32c(0, out->data(), out->size()));
}

Status Learner::Deserialize(const uint8_t* p, size_t n) {
  if (!p || n < kHeaderBytes + kScalarStateBytes + 4) return Status::InvalidArg("learner blob: too short");
  Reader r{p, n};
  if (r.Get<uint32_t>() != kMagic) return Status::InvalidArg("learner blob: bad magic (not a learner state)");
  const uint32_t version = r.Get<uint32_t>();
  if (version != uint32_t(kLearnerBlobVersion))
    return Status::InvalidArg("learner blob: version " + std::to_string(version) + ", this build reads " + std::to_string(kLearnerBlobVersion));
  uint32_t crc;
  std::memcpy(&crc, p + n - 4, 4);
  if (Crc32c(0, p, n - 4) != crc) return Status::InvalidArg("learner blob: CRC-32C mismatch (damaged)");
  LearnerSpec s;
  s.dim = r.Get<int32_t>();
  s.hash_bits = r.Get<int32_t>();
  s.optimizer = LearnerOpt(r.Get<uint8_t>());
  s.scale = r.Get<uint8_t>() != 0;
  r.Get<uint16_t>();
  for (double* v : {&s.lr, &s.l1, &s.l2, &s.alpha, &s.beta, &s.intercept_lr, &s.clip}) *v = r.Get<double>();
  if (!(s == spec_)) return Status::InvalidArg("learner blob: written by a learner of another spec");
  const size_t arrays = mean_.size() + var_.size() + w_.size() + a_.size() + b_.size();
  if (n != kHeaderBytes + kScalarStateBytes + 8 * arrays + 4) return Status::InvalidArg("learner blob: wrong length for its spec");
  // Everything checked but the values: check those before writing any.
  const size_t at = r.at;
  const uint64_t updates = r.Get<uint64_t>(), clipped = r.Get<uint64_t>(), seen = r.Get<uint64_t>();
  const double intercept = r.Get<double>(), max_cum_l1 = r.Get<double>();
  bool ok = Finite(intercept) && Finite(max_cum_l1);
  for (const auto* v : {&mean_, &var_, &w_, &a_, &b_}) {
    // variances and FTRL's n are sums of squares: a negative one would turn into NaN
    const bool nonneg = v == &var_ || v == &b_;
    for (size_t k = 0; k < v->size(); k++) {
      const double x = r.Get<double>();
      ok &= Finite(x) && (!nonneg || x >= 0);
    }
  }
  if (!ok) return Status::InvalidArg("learner blob: a value is not finite (or a sum of squares is negative)");
  r.at = at + kScalarStateBytes;
  updates_ = updates;
  clipped_ = clipped;
  seen_ = seen;
  intercept_ = intercept;
  max_cum_l1_ = max_cum_l1;
  for (auto* v : {&mean_, &var_, &w_, &a_, &b_}) {
    if (!v->empty()) std::memcpy(v->data(), p + r.at, v->size() * sizeof(double));
    r.at += v->size() * sizeof(double);
  }
  return Status::Ok();
}

Status Learner::ExportLinear(std::vector<float>* w, float* b) const {
  if (spec_.hash_bits > 0) return Status::Unsupported("learner: ExportLinear takes a dense-only learner (this one has a hashed block)");
  const size_t d = size_t(spec_.dim);
  w->assign(d, 0.0f);
  double bias = intercept_;
  for (size_t i = 0; i < d; i++) {
    if (!spec_.scale) {
      (*w)[i] = float(w_[i]);
      continue;
    }
    if (!(var_[i] > 0)) continue;  // the scaler maps this input to 0
    const double sd = std::sqrt(var_[i]);
    (*w)[i] = float(w_[i] / sd);
    bias -= w_[i] * mean_[i] / sd;
  }
  *b = float(bias);
  return Status::Ok();
}

}  // namespace hotpath
