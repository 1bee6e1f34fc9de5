// Concept-drift detectors over a stream of numbers, with River's semantics and defaults
// (river.drift.ADWIN and river.drift.PageHinkley; tests compare the detection points of
// River's own examples). Per-event work: Update never allocates (ADWIN's bucket rows are
// preallocated, kAdwinMaxRows of them) and never throws.
//
// Non-finite input: Update(x) ignores it (returns false, state unchanged, counted in
// refused()); UpdateMany refuses the whole batch with INVALID_ARG before it changes anything.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "constants.h"
#include "status.h"

namespace hotpath {

class DriftDetector {
 public:
  virtual ~DriftDetector() = default;
  virtual DetectorKind kind() const = 0;
  // Learns x; true when a drift is detected at x.
  virtual bool Update(double x) = 0;
  // Back to the state of a new detector with the same params.
  virtual void Reset() = 0;
  // Learns xs[0, n) in order; *first_drift = index of the first detection or -1, *drifts =
  // how many. INVALID_ARG (and nothing learned) when some x is not finite.
  Status UpdateMany(const double* xs, size_t n, int64_t* first_drift, int64_t* drifts);
  // Whether the last Update detected a drift.
  bool drift_detected() const { return drift_; }
  uint64_t refused() const { return refused_; }
  virtual std::vector<uint8_t> Serialize() const = 0;
  // Replaces params and state with a blob's; a damaged blob or one of another kind is
  // refused and leaves this detector unchanged.
  virtual Status Deserialize(const uint8_t* p, size_t n) = 0;

 protected:
  bool drift_ = false;
  uint64_t refused_ = 0;
};

// ---------------------------------------------------------------------------------------
// ADWIN (Bifet & Gavaldà 2007), as River implements it: an exponential histogram of
// buckets (row i holds up to max_buckets buckets of 2^i items: their total and variance);
// every `clock` items, once the window holds more than grace_period items, every cut of
// the window into an older part W0 and a newer W1 (both at least min_window_length long)
// is tested, and while some cut's means differ by more than epsilon_cut the oldest bucket
// is dropped: after a drift the window shrinks to the recent items (no reset).

struct AdwinParams {
  double delta = 0.002;
  int clock = 32;
  int max_buckets = 5;
  int min_window_length = 5;
  int grace_period = 10;
  Status Validate() const;
};

constexpr int kAdwinMaxRows = 64;  // rows of 2^0 .. 2^63 items: more than any stream holds

class Adwin final : public DriftDetector {
 public:
  explicit Adwin(const AdwinParams& p);  // p must Validate()
  DetectorKind kind() const override { return DetectorKind::ADWIN; }
  bool Update(double x) override;
  void Reset() override;
  std::vector<uint8_t> Serialize() const override;
  Status Deserialize(const uint8_t* p, size_t n) override;

  const AdwinParams& params() const { return p_; }
  double width() const { return width_; }
  double total() const { return total_; }
  double variance() const { return variance_; }  // sum of squared deviations in the window
  double estimation() const { return width_ > 0 ? total_ / width_ : 0.0; }
  uint64_t detections() const { return detections_; }
  int rows() const { return rows_; }

 private:
  // Bucket j of row r (j = 0 is the oldest) at r * stride_ + j.
  double& Total(int r, int j) { return totals_[size_t(r) * stride_ + size_t(j)]; }
  double& Var(int r, int j) { return vars_[size_t(r) * stride_ + size_t(j)]; }
  void Insert(double x);
  void Compress();
  void RemoveOldest(int r, int k);
  double DeleteOldestBucket();
  bool DetectChange();
  bool CutHolds(double n0, double n1, double delta_mean) const;

  AdwinParams p_;
  size_t stride_;  // max_buckets + 1: a row holds one bucket more just before it merges
  std::vector<double> totals_, vars_;
  std::vector<int> counts_;  // buckets in each row
  int rows_ = 1;             // rows in use (River's deque length; row 0 always exists)
  double width_ = 0, total_ = 0, variance_ = 0;
  uint64_t tick_ = 0, detections_ = 0;
};

// ---------------------------------------------------------------------------------------
// Page-Hinkley (Page 1954), River's two-sided form: with the running mean m of the items
// since the last reset, S+ = alpha S+ + (x - m - delta) and S- = alpha S- + (x - m + delta);
// a drift is S+ - min S+ > threshold (mean went up) or max S- - S- > threshold (down),
// checked once min_instances items were seen. The update after a drift starts afresh.

enum class PhMode : uint8_t { BOTH = 0, UP = 1, DOWN = 2 };

struct PageHinkleyParams {
  int min_instances = 30;
  double delta = 0.005;
  double threshold = 50;
  double alpha = 1 - 0.0001;
  PhMode mode = PhMode::BOTH;
  Status Validate() const;
};

class PageHinkley final : public DriftDetector {
 public:
  explicit PageHinkley(const PageHinkleyParams& p);  // p must Validate()
  DetectorKind kind() const override { return DetectorKind::PAGE_HINKLEY; }
  bool Update(double x) override;
  void Reset() override;
  std::vector<uint8_t> Serialize() const override;
  Status Deserialize(const uint8_t* p, size_t n) override;

  const PageHinkleyParams& params() const { return p_; }
  double n() const { return n_; }
  double mean() const { return mean_; }
  double sum_increase() const { return sum_inc_; }
  double sum_decrease() const { return sum_dec_; }
  uint64_t detections() const { return detections_; }

 private:
  void ResetState();

  PageHinkleyParams p_;
  double n_ = 0, mean_ = 0, sum_inc_ = 0, sum_dec_ = 0, min_inc_ = 0, max_dec_ = 0;
  uint64_t detections_ = 0;
};

}  // namespace hotpath
