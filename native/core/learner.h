// Online binary logistic regression, learned one example at a time: the per-event learning
// work of hotpath's learners. std only (no Node).
//
// Semantics follow River (river.preprocessing.StandardScaler | linear_model.
// LogisticRegression), so that River's published progressive-validation figures can be
// reproduced (test/unit/phishing.test.ts):
//   - the scaler keeps a Welford running mean and variance (ddof 0) per dense input; Learn
//     updates it with the example FIRST and then scales the example; Predict scales with
//     the current statistics and does not update them; a zero variance scales to 0;
//   - the raw score is w . x + b; p = sigmoid(raw); the loss gradient with respect to the
//     raw score is River's Log loss gradient (p - y, with its +-18 shortcuts), clamped to
//     +-clip (River's clip_gradient);
//   - the intercept has its own constant learning rate (River's intercept_lr, 0.01) and
//     steps with that clamped loss gradient, whichever optimiser the weights use;
//   - SGD: w -= lr * (g * x + l2 * w) over the inputs present in the example; l1 is River's
//     cumulative penalty (Tsuruoka et al. 2009), not combinable with l2 (River refuses it);
//   - FTRL-Proximal (McMahan et al. 2013) per coordinate with alpha, beta, l1, l2. The
//     weights are recomputed from (z, n) right after each step, so Predict and the next
//     gradient see McMahan's w_t. (River's FTRLProximal recomputes them at the start of the
//     next step instead, which lags predictions by one update; we follow the paper.)
// Beyond River, each coordinate of the weight gradient g * x_i is also clamped to +-clip:
// the loss gradient of the log loss is within [-1, 1], so River's clamp alone never stops a
// huge unscaled input (a hashed numeric value) from blowing a weight up. An update where
// either clamp bit counts as clipped.
//
// Inputs: `dense` (dim values, scaled when spec.scale) and an optional hashed block of
// 2^hash_bits weights addressed by (index, value) pairs, never scaled. HashIndex gives the
// index of a categorical "field=value" or of a numeric "field".
//
// Learn checks the whole example (finite values within kLearnerMaxValue, indices in range,
// a label of exactly 0 or 1) before it writes anything: a refused example leaves the
// learner byte-identical (only the `refused` counter, which Serialize leaves out, moves).
// Predict, PredictMany and Learn allocate nothing. A Learner is used by one thread at a time.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "constants.h"
#include "status.h"

namespace hotpath {

struct LearnerSpec {
  int dim = 0;        // dense inputs, [0, kLearnerMaxDim]
  int hash_bits = 0;  // 0: no hashed block; else [1, kLearnerMaxHashBits]
  LearnerOpt optimizer = LearnerOpt::SGD;
  bool scale = true;  // standard-scale the dense inputs
  double lr = 0.01;   // SGD learning rate (River's SGD default)
  // SGD: River's LogisticRegression penalties (at most one non-zero). FTRL: its own l1, l2
  // (River's FTRLProximal defaults are l1 0, l2 1).
  double l1 = 0, l2 = 0;
  double alpha = 0.05, beta = 1.0;  // FTRL
  double intercept_lr = 0.01;       // 0: the intercept stays 0
  double clip = 1e12;               // River's clip_gradient default

  bool operator==(const LearnerSpec& o) const;
};

struct LearnOutcome {
  double loss = 0;  // log loss of the example before the update
  bool clipped = false;
};

struct LearnManyOutcome {
  double loss_sum = 0;  // over the learned rows
  uint64_t clipped = 0;
  uint64_t refused = 0;
};

struct LearnerStats {
  uint64_t updates = 0;
  uint64_t clipped = 0;
  uint64_t refused = 0;
};

class Learner {
 public:
  static Status Create(const LearnerSpec& spec, std::unique_ptr<Learner>* out);

  const LearnerSpec& spec() const { return spec_; }
  LearnerStats stats() const { return {updates_, clipped_, refused_}; }
  size_t hashed_size() const { return spec_.hash_bits ? size_t(1) << spec_.hash_bits : 0; }

  // The hashed-block index of the bytes s[0, n): "field=value" for a categorical input,
  // "field" for a numeric one (its value goes in hVal). Deterministic across processes.
  static uint32_t HashIndex(const char* s, size_t n, int hash_bits);

  // P(y = 1). NaN when an input is not finite, beyond kLearnerMaxValue, or an index is out
  // of range (callers check first; this is the backstop).
  double Predict(const double* dense, const uint32_t* h_idx, const float* h_val, int nh) const;
  // out[r] = P(y = 1) of row r of x (rows x dim, row-major, dense inputs only).
  Status PredictMany(const float* x, int rows, float* out) const;

  // One example: y is 0 or 1. INVALID_ARG (and nothing changed) on a bad input or label.
  Status Learn(const double* dense, const uint32_t* h_idx, const float* h_val, int nh, double y, LearnOutcome* out);
  // Rows of dense-only examples in order; a bad row is refused (counted) and skipped.
  // y: exactly one of y32 / y64 is non-null. p_out (optional): each row's P(y = 1) before
  // it was learned (progressive validation; NaN for a refused row). Dense rows go through a
  // faster kernel that rounds differently from Learn: the same model within 1e-9 relative, not
  // the same bytes.
  Status LearnMany(const float* x, const float* y32, const double* y64, int rows, LearnManyOutcome* out, float* p_out = nullptr);

  void Reset();  // back to the state Create gave
  // Takes other's whole state (same spec only): to promote a background learner.
  Status CopyFrom(const Learner& other);

  // magic, version, spec, state, CRC-32C. Deserialize refuses a damaged blob, another
  // version or another spec, and then leaves the learner as it was.
  void Serialize(std::vector<uint8_t>* out) const;
  Status Deserialize(const uint8_t* p, size_t n);

  // The weights over the RAW dense inputs with the scaler folded in (w_i / sd_i, and
  // b - sum w_i mean_i / sd_i; an input with zero variance gets weight 0, as the scaler maps
  // it to 0): for export to ONNX. UNSUPPORTED for a learner with a hashed block.
  Status ExportLinear(std::vector<float>* w, float* b) const;

 private:
  explicit Learner(const LearnerSpec& spec);
  Status CheckExample(const double* dense, const uint32_t* h_idx, const float* h_val, int nh, double y) const;
  // Learn after CheckExample passed.
  void Update(const double* dense, const uint32_t* h_idx, const float* h_val, int nh, double y, LearnOutcome* out);
  void StepCoord(size_t i, double xi, double g, bool* clipped);
  double Scaled(int i, double x) const;
  // LearnMany's dense kernels (no hashed block, no SGD-L1): see learner.cc.
  template <bool kFtrl>
  void LearnDenseUnscaled(const float* x, const float* y32, const double* y64, int rows, LearnManyOutcome* sum, float* p_out);
  template <bool kFtrl>
  void LearnDenseScaled(const float* x, const float* y32, const double* y64, int rows, LearnManyOutcome* sum, float* p_out);

  LearnerSpec spec_;
  bool ftrl_;
  bool sgd_l1_;  // SGD with River's cumulative L1 penalty
  // State (what Serialize writes, with the spec):
  uint64_t updates_ = 0, clipped_ = 0;
  uint64_t seen_ = 0;      // examples the scaler learned (every dense input is in each)
  double intercept_ = 0;
  double max_cum_l1_ = 0;  // SGD-L1: the total penalty so far
  std::vector<double> mean_, var_;  // dim each when scale
  std::vector<double> w_;           // dim dense weights, then the hashed block
  std::vector<double> a_, b_;       // FTRL: z and n per weight; SGD-L1: a_ = cum_l1 per weight
  // Not state:
  uint64_t refused_ = 0;
  std::vector<double> xs_;   // scratch: the scaled example
  std::vector<double> row_;  // scratch: a float row of LearnMany widened to double
  std::vector<double> isd_;  // LearnDense scratch: 1 / sd per dense input (0 where var is 0)
  std::vector<double> sqn_;  // LearnDense scratch (FTRL): sqrt(n) per dense weight
  // LearnDense's chunk scratch (learner.cc), grown on its first call: per accepted row of a
  // chunk the pre- and post-learn scaled rows (chunk x dim), the label as +-1, the row index,
  // the pre-learn score, and the loss inputs z and exp(-z).
  static constexpr size_t kChunkRows = 256, kChunkDoubles = 512;
  std::vector<double> zpre_, zpost_, cy_, craw_, cz_, ce_;
  std::vector<int> crow_;
};

}  // namespace hotpath
