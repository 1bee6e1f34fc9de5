#include "likelihood.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "detector_blob.h"

namespace hotpath {

namespace {

constexpr double kRedTail = 1e-5;     // a tail this small is an alarm...
constexpr double kYellowTail = 1e-3;  // ...and a second one in a row is demoted to this
constexpr double kMinMean = 0.03, kMinVariance = 0.0003;

// erfc as src/eval/nab/stats.ts computes it, operation for operation, rather than
// std::erfc: the two agree to ~1e-13 relative, but NAB's threshold sweep ranks every row's
// score, so the port uses the prototype's arithmetic and its scores match it to the last
// bits (test/native/likelihood-nab.test.ts), and with them the NAB results.
double Erfc(double x) {
  if (std::isnan(x)) return x;
  if (x < 0) return 2 - Erfc(-x);
  if (x < 2) {  // 1 - erf(x) by its Maclaurin series
    const double two_over_sqrt_pi = 2 / std::sqrt(M_PI);
    double term = x, sum = x;
    const double x2 = x * x;
    for (int n = 1; n < 100; n++) {
      term *= -x2 / n;
      const double add = term / (2 * n + 1);
      sum += add;
      if (std::fabs(add) < 1e-17 * std::fabs(sum)) break;
    }
    return 1 - two_over_sqrt_pi * sum;
  }
  if (x > 27) return 0;  // exp(-x²) underflows
  // The continued fraction x + (1/2)/(x + 1/(x + (3/2)/(x + ...))), modified Lentz.
  const double tiny = 1e-300;
  double f = x, c = x, d = 0;
  for (int k = 1; k < 500; k++) {
    const double a = k / 2.0;
    d = x + a * d;
    d = d == 0 ? tiny : d;
    c = x + a / c;
    c = c == 0 ? tiny : c;
    d = 1 / d;
    const double delta = c * d;
    f *= delta;
    if (std::fabs(delta - 1) < 1e-16) break;
  }
  return std::exp(-x * x) / std::sqrt(M_PI) / f;
}

// Q(z) = P(Z > z) for a standard normal Z.
double NormalTail(double z) { return 0.5 * Erfc(z / M_SQRT2); }

bool In01(double v) { return v >= 0 && v <= 1; }

// Sum of ring[k % size] for k in [from, to), in that order (the prototype's, for equal
// sums), stepping the slot rather than dividing per element: a 64-bit % per element made
// the refit cost more than the rest of the point.
double RingSum(const std::vector<double>& ring, uint64_t from, uint64_t to) {
  double sum = 0;
  size_t j = size_t(from % ring.size());
  for (uint64_t k = from; k < to; k++) {
    sum += ring[j];
    if (++j == ring.size()) j = 0;
  }
  return sum;
}

// Sum of (ring[k % size] - mean)² for k in [from, to), in that order.
double RingSquares(const std::vector<double>& ring, uint64_t from, uint64_t to, double mean) {
  double ss = 0;
  size_t j = size_t(from % ring.size());
  for (uint64_t k = from; k < to; k++) {
    ss += (ring[j] - mean) * (ring[j] - mean);
    if (++j == ring.size()) j = 0;
  }
  return ss;
}

}  // namespace

Status LikelihoodParams::Validate() const {
  constexpr int kMax = 1 << 30;
  if (!(alpha > 0 && alpha <= 1)) return Status::InvalidArg("likelihood alpha must be in (0, 1]");
  if (!(z_scale > 0 && std::isfinite(z_scale))) return Status::InvalidArg("likelihood z_scale must be a positive number");
  if (min_history < 0 || min_history > kMax) return Status::InvalidArg("likelihood min_history must be in [0, 2^30]");
  if (averaging < 1 || averaging > kMaxDetectorWindow || history < 1 || history > kMaxDetectorWindow)
    return Status::InvalidArg("likelihood averaging and history must be in [1, " + std::to_string(kMaxDetectorWindow) + "]");
  if (learning < 0 || learning > kMax || estimation < 0 || estimation > kMax)
    return Status::InvalidArg("likelihood learning and estimation must be in [0, 2^30]");
  if (reestimation < 1 || reestimation > kMax) return Status::InvalidArg("likelihood reestimation must be in [1, 2^30]");
  if (!(tolerance >= 0 && std::isfinite(tolerance))) return Status::InvalidArg("likelihood tolerance must be a number >= 0");
  return Status::Ok();
}

Likelihood::Likelihood(const LikelihoodParams& p)
    : p_(p), raw_(size_t(p.averaging), 0.0), avg_(size_t(p.history), 0.0) {}

Likelihood::Step Likelihood::Eval(double x) const {
  const uint64_t i = seen_;
  Step s;
  // 1. EW z against the mean and variance before x.
  const double sd = std::sqrt(v_);
  const double z = sd > 0 ? std::fabs(x - m_) / sd : 0;
  s.raw = i >= uint64_t(p_.min_history) ? 1 - 2 * NormalTail(z / p_.z_scale) : 0;

  // 2. The likelihood of the recent average raw score. Summed oldest first, as the prototype.
  const uint64_t na = std::min<uint64_t>(i + 1, uint64_t(p_.averaging));
  double sum = RingSum(raw_, i + 1 - na, i);
  sum += s.raw;
  s.avg = sum / double(na);
  s.mean = mean_;
  s.sd = sd_;
  s.tail = prev_tail_;  // unchanged during the warm-up
  s.refit = false;
  double lik = 0.5;
  if (i >= uint64_t(p_.learning) + uint64_t(p_.estimation)) {
    if (!fitted_ || i % uint64_t(p_.reestimation) == 0) {
      // Over A_k, k in [from, i]: A_i is not in the ring yet (its slot may still hold
      // A_{i-history}, which is outside the range).
      const uint64_t h = avg_.size();
      const uint64_t from = std::max<uint64_t>(uint64_t(p_.learning), i + 1 > h ? i + 1 - h : 0);
      const double n = double(i + 1 - from);
      const double mean = (RingSum(avg_, from, i) + s.avg) / n;
      double ss = RingSquares(avg_, from, i, mean);
      ss += (s.avg - mean) * (s.avg - mean);
      s.mean = std::max(mean, kMinMean);
      s.sd = std::sqrt(std::max(ss / n, kMinVariance));
      s.refit = true;
    }
    double t = NormalTail(std::fabs(s.avg - s.mean) / s.sd);
    s.tail = t;
    if (t <= kRedTail && prev_tail_ <= kRedTail) t = kYellowTail;
    lik = 1 - t;
  }
  s.score = std::log(1.0000000001 - lik) / std::log(1.0 - 0.9999999999);

  // 3. The spatial rule: a new extreme beyond the range seen so far, widened by tolerance.
  if (seen_ > 0 && lo_ != hi_) {
    const double tol = (hi_ - lo_) * p_.tolerance;
    if (x > hi_ + tol || x < lo_ - tol) s.score = 1;
  }
  return s;
}

double Likelihood::ScoreLearnUnchecked(const double* px) {
  const double x = *px;
  const Step s = Eval(x);
  const uint64_t i = seen_;
  const double a = i == 0 ? 1 : std::max(p_.alpha, 1 / (double(i) + 1));
  const double d = x - m_;
  m_ += a * d;
  v_ = (1 - a) * (v_ + a * d * d);
  raw_[i % raw_.size()] = s.raw;
  avg_[i % avg_.size()] = s.avg;
  if (s.refit) {
    mean_ = s.mean;
    sd_ = s.sd;
    fitted_ = true;
  }
  prev_tail_ = s.tail;
  lo_ = i == 0 ? x : std::min(lo_, x);
  hi_ = i == 0 ? x : std::max(hi_, x);
  seen_++;
  return s.score;
}

double Likelihood::ScoreUnchecked(const double* x) const { return Eval(*x).score; }
Status Likelihood::ScoreLearn(const double* x, double* score) { return ScoreLearnMany(x, 1, score); }
Status Likelihood::Score(const double* x, double* score) const { return ScoreMany(x, 1, score); }

// Body: params, seen, EW (m, v), fit (fitted, mean, sd), prev_tail, lo, hi, then the rings'
// filled slots only (min(seen, size) values each: slot k % size for the rows k < seen).
std::vector<uint8_t> Likelihood::Serialize() const {
  BlobWriter w(DetectorKind::LIKELIHOOD);
  w.Put<uint8_t>(0);  // a single detector, not a table (as the other kinds' blobs)
  w.Put<double>(p_.alpha);
  w.Put<double>(p_.z_scale);
  for (int v : {p_.min_history, p_.averaging, p_.history, p_.learning, p_.estimation, p_.reestimation}) w.Put<int32_t>(v);
  w.Put<double>(p_.tolerance);
  w.Put<uint64_t>(seen_);
  w.Put<double>(m_);
  w.Put<double>(v_);
  w.Put<uint8_t>(fitted_ ? 1 : 0);
  for (double v : {mean_, sd_, prev_tail_, lo_, hi_}) w.Put<double>(v);
  w.PutArray(raw_.data(), std::min<uint64_t>(seen_, raw_.size()));
  w.PutArray(avg_.data(), std::min<uint64_t>(seen_, avg_.size()));
  return w.Finish();
}

Status Likelihood::Deserialize(const uint8_t* p, size_t n) {
  BlobReader rd;
  HP_RETURN_IF_ERROR(rd.Open(p, n, DetectorKind::LIKELIHOOD));
  const Status bad = Status::InvalidArg("likelihood blob body is malformed");
  uint8_t is_table, fitted;
  if (!rd.Get(&is_table) || is_table != 0) return Status::InvalidArg("blob is a detector table, not a single detector");
  LikelihoodParams q;
  int32_t ints[6];
  if (!rd.Get(&q.alpha) || !rd.Get(&q.z_scale) || !rd.GetArray(ints, 6) || !rd.Get(&q.tolerance)) return bad;
  q.min_history = ints[0];
  q.averaging = ints[1];
  q.history = ints[2];
  q.learning = ints[3];
  q.estimation = ints[4];
  q.reestimation = ints[5];
  HP_RETURN_IF_ERROR(q.Validate());
  Likelihood l(q);
  if (!rd.Get(&l.seen_) || !rd.Get(&l.m_) || !rd.Get(&l.v_) || !rd.Get(&fitted)) return bad;
  double fit[5];
  if (fitted > 1 || !rd.GetArray(fit, 5)) return bad;
  l.fitted_ = fitted == 1;
  l.mean_ = fit[0];
  l.sd_ = fit[1];
  l.prev_tail_ = fit[2];
  l.lo_ = fit[3];
  l.hi_ = fit[4];
  const size_t nr = std::min<uint64_t>(l.seen_, l.raw_.size()), nh = std::min<uint64_t>(l.seen_, l.avg_.size());
  if (rd.left() != (nr + nh) * 8) return bad;
  if (!rd.GetArray(l.raw_.data(), nr) || !rd.GetArray(l.avg_.data(), nh) || !rd.done()) return bad;
  if (!l.ValidState()) return bad;
  *this = std::move(l);
  return Status::Ok();
}

bool Likelihood::ValidState() const {
  if (!std::isfinite(m_) || !(v_ >= 0 && std::isfinite(v_)) || !In01(prev_tail_)) return false;
  if (fitted_ && !(std::isfinite(mean_) && sd_ > 0 && std::isfinite(sd_))) return false;
  if (seen_ > 0 && !(std::isfinite(lo_) && std::isfinite(hi_) && lo_ <= hi_)) return false;
  for (double r : raw_)
    if (!In01(r)) return false;
  for (double a : avg_)
    if (!In01(a)) return false;
  return true;
}

}  // namespace hotpath
