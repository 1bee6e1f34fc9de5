#include "drift.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "detector_blob.h"

namespace hotpath {

namespace {

bool AllFinite(const double* xs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!std::isfinite(xs[i])) return false;
  return true;
}

}  // namespace

Status DriftDetector::UpdateMany(const double* xs, size_t n, int64_t* first_drift, int64_t* drifts) {
  *first_drift = -1;
  *drifts = 0;
  if (n > 0 && xs == nullptr) return Status::InvalidArg("no values");
  if (!AllFinite(xs, n)) return Status::InvalidArg("a value is NaN or infinite");
  for (size_t i = 0; i < n; i++) {
    if (Update(xs[i])) {
      if (*first_drift < 0) *first_drift = int64_t(i);
      ++*drifts;
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// ADWIN

Status AdwinParams::Validate() const {
  if (!(delta > 0 && delta < 1)) return Status::InvalidArg("adwin delta must be in (0, 1)");
  if (clock < 1 || clock > (1 << 24)) return Status::InvalidArg("adwin clock must be in [1, 2^24]");
  if (max_buckets < 2 || max_buckets > 64) return Status::InvalidArg("adwin max_buckets must be in [2, 64]");
  if (min_window_length < 1 || min_window_length > (1 << 24))
    return Status::InvalidArg("adwin min_window_length must be in [1, 2^24]");
  if (grace_period < 0 || grace_period > (1 << 30)) return Status::InvalidArg("adwin grace_period must be in [0, 2^30]");
  return Status::Ok();
}

Adwin::Adwin(const AdwinParams& p)
    : p_(p),
      stride_(size_t(p.max_buckets) + 1),
      totals_(size_t(kAdwinMaxRows) * stride_),
      vars_(size_t(kAdwinMaxRows) * stride_),
      counts_(kAdwinMaxRows) {}

void Adwin::Reset() {
  std::fill(totals_.begin(), totals_.end(), 0.0);
  std::fill(vars_.begin(), vars_.end(), 0.0);
  std::fill(counts_.begin(), counts_.end(), 0);
  rows_ = 1;
  width_ = total_ = variance_ = 0;
  tick_ = detections_ = 0;
  drift_ = false;
  refused_ = 0;
}

bool Adwin::Update(double x) {
  if (!std::isfinite(x)) {
    refused_++;
    return false;
  }
  Insert(x);
  drift_ = DetectChange();
  return drift_;
}

void Adwin::Insert(double x) {
  Total(0, counts_[0]) = x;
  Var(0, counts_[0]) = 0;
  counts_[0]++;
  width_ += 1;
  if (width_ > 1) {
    const double d = x - total_ / (width_ - 1);
    variance_ += (width_ - 1) * d * d / width_;
  }
  total_ += x;
  Compress();
}

// Drops the k oldest buckets of row r.
void Adwin::RemoveOldest(int r, int k) {
  double* t = &Total(r, 0);
  double* v = &Var(r, 0);
  const int left = counts_[r] - k;
  std::memmove(t, t + k, size_t(left) * sizeof(double));
  std::memmove(v, v + k, size_t(left) * sizeof(double));
  counts_[r] = left;
}

// A row that reached max_buckets + 1 merges its two oldest buckets into one bucket of the
// next row, which may overflow in turn.
void Adwin::Compress() {
  for (int r = 0; counts_[r] == p_.max_buckets + 1; r++) {
    if (r + 1 == rows_) {
      // kAdwinMaxRows rows hold more than 2^64 items; a double width stops counting long
      // before, so this is never reached. Stay in bounds regardless: the last row keeps
      // merging into itself.
      if (rows_ == kAdwinMaxRows) {
        Total(r, 0) += Total(r, 1);
        Var(r, 0) += Var(r, 1);
        std::memmove(&Total(r, 1), &Total(r, 2), size_t(counts_[r] - 2) * sizeof(double));
        std::memmove(&Var(r, 1), &Var(r, 2), size_t(counts_[r] - 2) * sizeof(double));
        counts_[r]--;
        return;
      }
      counts_[rows_++] = 0;
    }
    const double n = std::ldexp(1.0, r);  // both buckets hold 2^r items
    const double mu1 = Total(r, 0) / n, mu2 = Total(r, 1) / n;
    const int j = counts_[r + 1];
    Total(r + 1, j) = Total(r, 0) + Total(r, 1);
    Var(r + 1, j) = Var(r, 0) + Var(r, 1) + n * n * (mu1 - mu2) * (mu1 - mu2) / (n + n);
    counts_[r + 1]++;
    RemoveOldest(r, 2);
    if (counts_[r + 1] <= p_.max_buckets) break;
  }
}

// Drops the window's oldest bucket; returns its item count.
double Adwin::DeleteOldestBucket() {
  const int r = rows_ - 1;
  const double n = std::ldexp(1.0, r);
  const double u = Total(r, 0), v = Var(r, 0), mu = u / n;
  width_ -= n;
  total_ -= u;
  const double mu_window = total_ / width_;
  variance_ -= v + n * width_ * (mu - mu_window) * (mu - mu_window) / (n + width_);
  RemoveOldest(r, 1);
  if (counts_[r] == 0 && rows_ > 1) rows_--;
  return n;
}

bool Adwin::CutHolds(double n0, double n1, double delta_mean) const {
  const double delta_prime = std::log(2 * std::log(width_) / p_.delta);
  const double m_recip = 1.0 / (n0 - p_.min_window_length + 1) + 1.0 / (n1 - p_.min_window_length + 1);
  const double epsilon =
      std::sqrt(2 * m_recip * (variance_ / width_) * delta_prime) + 2.0 / 3.0 * delta_prime * m_recip;
  return std::fabs(delta_mean) > epsilon;
}

// River's cut scan, step for step (its detection points are the reference): from the
// oldest row to the newest, W0 grows by one bucket at a time. Like River, the scan visits
// all but the newest bucket of each row (its inner loop runs to count - 1). On a cut the
// oldest bucket is dropped and the scan starts over.
bool Adwin::DetectChange() {
  bool change = false;
  tick_++;
  if (tick_ % uint64_t(p_.clock) != 0 || !(width_ > p_.grace_period)) return false;
  const double mwl = p_.min_window_length;
  for (bool reduce = true; reduce;) {
    reduce = false;
    double n0 = 0, n1 = width_, u0 = 0, u1 = total_;
    bool exit = false;
    for (int r = rows_ - 1; r >= 0 && !exit; r--) {
      const double n2 = std::ldexp(1.0, r);
      const int last = counts_[r] - 1;
      for (int k = 0; k < last; k++) {
        const double u2 = Total(r, k);
        n0 += n2;
        n1 -= n2;
        u0 += u2;
        u1 -= u2;
        if (n1 >= mwl && n0 >= mwl && CutHolds(n0, n1, u0 / n0 - u1 / n1)) {
          reduce = change = true;
          if (width_ > 0) {
            DeleteOldestBucket();
            exit = true;
            break;
          }
        }
      }
    }
  }
  if (change) detections_++;
  return change;
}

std::vector<uint8_t> Adwin::Serialize() const {
  BlobWriter w(DetectorKind::ADWIN);
  w.Put<double>(p_.delta);
  w.Put<int32_t>(p_.clock);
  w.Put<int32_t>(p_.max_buckets);
  w.Put<int32_t>(p_.min_window_length);
  w.Put<int32_t>(p_.grace_period);
  w.Put<double>(width_);
  w.Put<double>(total_);
  w.Put<double>(variance_);
  w.Put<uint64_t>(tick_);
  w.Put<uint64_t>(detections_);
  w.Put<uint64_t>(refused_);
  w.Put<uint8_t>(drift_ ? 1 : 0);
  w.Put<int32_t>(rows_);
  for (int r = 0; r < rows_; r++) {
    w.Put<int32_t>(counts_[r]);
    w.PutArray(&totals_[size_t(r) * stride_], size_t(counts_[r]));
    w.PutArray(&vars_[size_t(r) * stride_], size_t(counts_[r]));
  }
  return w.Finish();
}

Status Adwin::Deserialize(const uint8_t* p, size_t n) {
  BlobReader rd;
  HP_RETURN_IF_ERROR(rd.Open(p, n, DetectorKind::ADWIN));
  const Status bad = Status::InvalidArg("adwin blob body is malformed");
  AdwinParams q;
  int32_t clock, mb, mwl, grace, rows;
  if (!rd.Get(&q.delta) || !rd.Get(&clock) || !rd.Get(&mb) || !rd.Get(&mwl) || !rd.Get(&grace)) return bad;
  q.clock = clock;
  q.max_buckets = mb;
  q.min_window_length = mwl;
  q.grace_period = grace;
  HP_RETURN_IF_ERROR(q.Validate());
  Adwin a(q);
  uint8_t drift;
  if (!rd.Get(&a.width_) || !rd.Get(&a.total_) || !rd.Get(&a.variance_) || !rd.Get(&a.tick_) ||
      !rd.Get(&a.detections_) || !rd.Get(&a.refused_) || !rd.Get(&drift) || !rd.Get(&rows))
    return bad;
  if (drift > 1 || rows < 1 || rows > kAdwinMaxRows) return bad;
  a.drift_ = drift == 1;
  a.rows_ = rows;
  double width = 0;
  for (int r = 0; r < rows; r++) {
    int32_t c;
    if (!rd.Get(&c) || c < 0 || c > q.max_buckets) return bad;
    a.counts_[r] = c;
    if (!rd.GetArray(&a.totals_[size_t(r) * a.stride_], size_t(c)) || !rd.GetArray(&a.vars_[size_t(r) * a.stride_], size_t(c)))
      return bad;
    width += c * std::ldexp(1.0, r);
  }
  if (!rd.done() || width != a.width_ || !std::isfinite(a.total_) || !std::isfinite(a.variance_)) return bad;
  *this = std::move(a);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// Page-Hinkley

Status PageHinkleyParams::Validate() const {
  if (min_instances < 1 || min_instances > (1 << 30)) return Status::InvalidArg("page_hinkley min_instances must be in [1, 2^30]");
  if (!std::isfinite(delta) || delta < 0) return Status::InvalidArg("page_hinkley delta must be finite and >= 0");
  if (!std::isfinite(threshold) || threshold <= 0) return Status::InvalidArg("page_hinkley threshold must be finite and > 0");
  if (!(alpha > 0 && alpha <= 1)) return Status::InvalidArg("page_hinkley alpha must be in (0, 1]");
  if (uint8_t(mode) > uint8_t(PhMode::DOWN)) return Status::InvalidArg("page_hinkley mode must be both, up or down");
  return Status::Ok();
}

PageHinkley::PageHinkley(const PageHinkleyParams& p) : p_(p) { ResetState(); }

void PageHinkley::ResetState() {
  n_ = mean_ = sum_inc_ = sum_dec_ = 0;
  min_inc_ = std::numeric_limits<double>::infinity();
  max_dec_ = -std::numeric_limits<double>::infinity();
  drift_ = false;
}

void PageHinkley::Reset() {
  ResetState();
  detections_ = 0;
  refused_ = 0;
}

bool PageHinkley::Update(double x) {
  if (!std::isfinite(x)) {
    refused_++;
    return false;
  }
  if (drift_) ResetState();
  n_ += 1;
  mean_ += (x - mean_) / n_;
  const double dev = x - mean_;
  sum_inc_ = p_.alpha * sum_inc_ + dev - p_.delta;
  sum_dec_ = p_.alpha * sum_dec_ + dev + p_.delta;
  if (sum_inc_ < min_inc_) min_inc_ = sum_inc_;
  if (sum_dec_ > max_dec_) max_dec_ = sum_dec_;
  if (n_ >= p_.min_instances) {
    const bool up = p_.mode != PhMode::DOWN && sum_inc_ - min_inc_ > p_.threshold;
    const bool down = p_.mode != PhMode::UP && max_dec_ - sum_dec_ > p_.threshold;
    drift_ = up || down;
  }
  if (drift_) detections_++;
  return drift_;
}

std::vector<uint8_t> PageHinkley::Serialize() const {
  BlobWriter w(DetectorKind::PAGE_HINKLEY);
  w.Put<int32_t>(p_.min_instances);
  w.Put<double>(p_.delta);
  w.Put<double>(p_.threshold);
  w.Put<double>(p_.alpha);
  w.Put<uint8_t>(uint8_t(p_.mode));
  for (double v : {n_, mean_, sum_inc_, sum_dec_, min_inc_, max_dec_}) w.Put<double>(v);
  w.Put<uint64_t>(detections_);
  w.Put<uint64_t>(refused_);
  w.Put<uint8_t>(drift_ ? 1 : 0);
  return w.Finish();
}

Status PageHinkley::Deserialize(const uint8_t* p, size_t n) {
  BlobReader rd;
  HP_RETURN_IF_ERROR(rd.Open(p, n, DetectorKind::PAGE_HINKLEY));
  const Status bad = Status::InvalidArg("page_hinkley blob body is malformed");
  PageHinkleyParams q;
  int32_t mi;
  uint8_t mode, drift;
  if (!rd.Get(&mi) || !rd.Get(&q.delta) || !rd.Get(&q.threshold) || !rd.Get(&q.alpha) || !rd.Get(&mode)) return bad;
  q.min_instances = mi;
  q.mode = PhMode(mode);
  HP_RETURN_IF_ERROR(q.Validate());
  PageHinkley h(q);
  if (!rd.Get(&h.n_) || !rd.Get(&h.mean_) || !rd.Get(&h.sum_inc_) || !rd.Get(&h.sum_dec_) || !rd.Get(&h.min_inc_) ||
      !rd.Get(&h.max_dec_) || !rd.Get(&h.detections_) || !rd.Get(&h.refused_) || !rd.Get(&drift) || !rd.done())
    return bad;
  if (drift > 1 || !(h.n_ >= 0) || !std::isfinite(h.mean_) || !std::isfinite(h.sum_inc_) || !std::isfinite(h.sum_dec_) ||
      std::isnan(h.min_inc_) || std::isnan(h.max_dec_))
    return bad;
  h.drift_ = drift == 1;
  *this = std::move(h);
  return Status::Ok();
}

}  // namespace hotpath
