// The `likelihood` anomaly kind: the best streaming detector found on NAB (docs/nab.md:
// 62.05 / 55.08 / 66.94), ported from the TypeScript prototype
// src/eval/nab/detectors/ew-likelihood.ts so that its scores agree per row (to ~1e-15;
// test/native/likelihood-nab.test.ts runs both over NAB files). Three stages per point,
// each from the past only (row index i from 0; Q(u) = ½·erfc(u/√2)):
//
// 1. EW z: sd = √v; z = sd > 0 ? |x − m|/sd : 0; r = i ≥ min_history ? 1 − 2Q(z/z_scale) : 0;
//    then a = i == 0 ? 1 : max(alpha, 1/(i+1)); d = x − m; m += a·d; v = (1 − a)(v + a·d²).
//    (a = 1/(i+1) first: the plain mean and variance until 1/alpha rows.)
// 2. Anomaly likelihood (Ahmad et al. 2017, nupic's defaults): A_i = mean of the last
//    min(averaging, i+1) raw scores; rows i < learning + estimation give L = 0.5; else refit
//    when unfitted or i % reestimation == 0 over A_k, k ∈ [max(learning, i+1−history), i]:
//    μ = max(mean, 0.03), σ = √max(population variance, 0.0003); t = Q(|A_i − μ|/σ); when
//    t ≤ 1e-5 and the previous row's unfiltered t ≤ 1e-5, t = 1e-3 (a second alarm in a row
//    is demoted); L = 1 − t; s = ln(1.0000000001 − L)/ln(1e-10).
// 3. Spatial rule: with lo, hi the min and max of all earlier values, if lo ≠ hi and x lies
//    beyond [lo − tolerance·(hi − lo), hi + tolerance·(hi − lo)], the score is 1, else s.
//
// Memory: the A history ring (history doubles, 69 KB at 8640) and the raw-score ring
// (averaging doubles) are allocated at construction; a point allocates nothing. Cost:
// O(averaging) per point plus an O(history) refit every `reestimation` points. Score()
// (no learning) computes the same without changing anything, a refit included.
#pragma once
#include <cstdint>
#include <vector>

#include "anomaly.h"

namespace hotpath {

class Likelihood final : public AnomalyDetector {
 public:
  explicit Likelihood(const LikelihoodParams& p);  // p must Validate()
  DetectorKind kind() const override { return DetectorKind::LIKELIHOOD; }
  Status ScoreLearn(const double* x, double* score) override;
  Status Score(const double* x, double* score) const override;
  uint64_t seen() const override { return seen_; }
  std::vector<uint8_t> Serialize() const override;
  Status Deserialize(const uint8_t* p, size_t n) override;
  const LikelihoodParams& params() const { return p_; }

 private:
  // What one point computes; ScoreLearn then commits it.
  struct Step {
    double score, raw, avg, mean, sd, tail;
    bool refit;
  };
  Step Eval(double x) const;
  double ScoreLearnUnchecked(const double* x) override;
  double ScoreUnchecked(const double* x) const override;
  bool ValidState() const;

  LikelihoodParams p_;
  uint64_t seen_ = 0;                 // rows learned: the row index i of the next point
  double m_ = 0, v_ = 0;              // EW mean and variance
  std::vector<double> raw_;           // raw score of row k at k % averaging
  std::vector<double> avg_;           // A_k at k % history
  bool fitted_ = false;
  double mean_ = 0, sd_ = 0;          // the last fit (μ, σ)
  double prev_tail_ = 1;              // the previous row's unfiltered tail (1 before any)
  double lo_ = 0, hi_ = 0;            // min and max of the values learned (none while seen_ == 0)
};

}  // namespace hotpath
