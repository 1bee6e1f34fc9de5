// Streaming anomaly detectors. Each scores a point against what it learned so far and
// only then learns it (ScoreLearn); Score reads without learning. Higher is more anomalous.
//
//   HalfSpaceTrees  Tan, Ting & Liu 2011, with River's anomaly.HalfSpaceTrees semantics:
//                   n_trees random trees of `height` splits over given feature limits;
//                   each node counts the points of the current window (l_mass) and keeps
//                   the last full window's count (r_mass), swapped every window_size
//                   points; the score is 1 - sum(r_mass * 2^depth) / max, in [0, 1], and
//                   0 during the first window. d features per point.
//   RobustZ         |x - median| / (1.4826 MAD) over the last `window` values (exact median
//                   and MAD of the window); 0 until min_count values.
//   Ew              |x - mean| / sd with an exponentially weighted mean and variance
//                   (weight alpha on the newest value); 0 until warmup values.
//   Likelihood      likelihood.h: an EW z-score, Numenta's anomaly likelihood over it and
//                   the spatial (new range) rule; in [0, 1]. The best on NAB (docs/nab.md).
//
// Where the spread is 0: RobustZ falls back to 1.2533 * mean absolute deviation (the
// normal-consistent scale, as MAD's 1.4826), and with that 0 too (every value in the
// window equal), as Ew with sd 0, a point equal to the centre scores 0 and any other +inf.
//
// DetectorTable keeps one RobustZ or Ew state per entity (a 64-bit id hash, as the store
// hashes ids) for up to max_entities entities, in memory allocated when it is made: open
// addressing over a power-of-two slot array, the states in one block. When it is full a
// new key is refused (its score is NaN) and counted; the per-event path never allocates.
//
// Non-finite input is refused with INVALID_ARG before anything changes. Serialize and
// Deserialize use detector_blob.h; a refused blob leaves the detector unchanged. One
// thread at a time (like the store's writer).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "constants.h"
#include "status.h"

namespace hotpath {

class PyRandom;  // anomaly.cc: CPython's random.Random, for River's trees

struct HstParams {
  int n_trees = 10;
  int height = 8;
  int window_size = 250;
  int dims = 1;
  // Per feature [lo, hi]; empty means [0, 1] for every feature.
  std::vector<double> lo, hi;
  uint64_t seed = 42;  // random.Random(seed) as River seeds it; below 2^53
  Status Validate() const;
};

struct RobustZParams {
  int window = 256;
  int min_count = 32;
  Status Validate() const;
};

struct EwParams {
  double alpha = 0.0069075045629642595;  // half-life 100: 1 - 2^(-1/100)
  int warmup = 30;
  Status Validate() const;
};

// likelihood.h. The defaults are the NAB-scored ones (docs/nab.md): EW z (alpha, z_scale,
// min_history), nupic's anomaly likelihood (averaging .. reestimation), the spatial rule.
struct LikelihoodParams {
  double alpha = 0.001;
  double z_scale = 3;
  int min_history = 10;
  int averaging = 10;
  int history = 8640;
  int learning = 288;
  int estimation = 100;
  int reestimation = 100;
  double tolerance = 0.05;
  Status Validate() const;
};

// Any kind's params (the binding and the table take one).
struct AnomalyParams {
  HstParams hst;
  RobustZParams robust_z;
  EwParams ew;
  LikelihoodParams likelihood;
};

class AnomalyDetector {
 public:
  virtual ~AnomalyDetector() = default;
  // Makes a detector of `kind` (HST, ROBUST_Z, EW or LIKELIHOOD) with params.<kind>.
  static Status Create(DetectorKind kind, const AnomalyParams& params, std::unique_ptr<AnomalyDetector>* out);

  virtual DetectorKind kind() const = 0;
  virtual int dims() const { return 1; }
  // One point of dims() values: *score before learning x; x is learned.
  virtual Status ScoreLearn(const double* x, double* score) = 0;
  virtual Status Score(const double* x, double* score) const = 0;
  // n points, row-major (n x dims()); scores[i] for point i, each scored before it is
  // learned. All values are checked first: a non-finite one refuses the whole batch.
  Status ScoreLearnMany(const double* x, size_t n, double* scores);
  Status ScoreMany(const double* x, size_t n, double* scores) const;
  virtual uint64_t seen() const = 0;
  virtual std::vector<uint8_t> Serialize() const = 0;
  virtual Status Deserialize(const uint8_t* p, size_t n) = 0;

 protected:
  virtual double ScoreLearnUnchecked(const double* x) = 0;
  virtual double ScoreUnchecked(const double* x) const = 0;
  // n checked points; by default ScoreLearnUnchecked on each. A kind overrides it where a
  // batch can go faster than one virtual call per point (HST).
  virtual void ScoreLearnBatch(const double* x, size_t n, double* scores);
};

// ---------------------------------------------------------------------------------------

class HalfSpaceTrees final : public AnomalyDetector {
 public:
  explicit HalfSpaceTrees(const HstParams& p);  // p must Validate(); builds the trees
  DetectorKind kind() const override { return DetectorKind::HST; }
  int dims() const override { return p_.dims; }
  Status ScoreLearn(const double* x, double* score) override;
  Status Score(const double* x, double* score) const override;
  uint64_t seen() const override { return seen_; }
  std::vector<uint8_t> Serialize() const override;
  Status Deserialize(const uint8_t* p, size_t n) override;
  const HstParams& params() const { return p_; }

 private:
  double ScoreLearnUnchecked(const double* x) override;
  double ScoreUnchecked(const double* x) const override;
  void ScoreLearnBatch(const double* x, size_t n, double* scores) override;
  void Build(int tree, PyRandom* rng, int node, int depth, std::vector<double>& lo, std::vector<double>& hi);
  // The leaf the point reaches in each tree: leaf[t] = its index among tree t's leaves.
  template <bool kOneDim>
  void Descend(const double* x, uint32_t* leaf) const;
  // Sum over the trees of the point's leaf_score_ (River's sum of r_mass * 2^depth).
  uint64_t Mass(const double* x) const;
  template <bool kOneDim>
  void LearnRun(const double* x, size_t n, double* scores);
  void Pivot();
  void ComputeLeafScores();

  // The trees are complete binary trees in flat arrays: node i has children 2i+1 and 2i+2,
  // the internal nodes first and the 2^height leaves last. The splits are kept for the
  // internal nodes only (tree t's at [t * internal_per_tree_, ...)), so that a walk reads
  // a compact block (10 trees of height 8: 20 KiB of thresholds, in L1). A point walks
  // all trees level by level: the trees are independent chains of loads, so they overlap.
  //
  // The masses are kept where the walk does not need them: the score reads r_mass along
  // the path, and r_mass only changes at the window's pivot, so the pivot folds each
  // leaf's path (River's early stop included) into leaf_score_; the learning counts the
  // point at its leaf only (an internal node's l_mass is the sum of its leaves', summed at
  // the pivot and for Serialize). Per point: `height` compares, one load and one
  // increment per tree; per window: O(nodes). All masses and sums are integers below 2^53,
  // so the score is the very double the node-by-node walk computed.
  HstParams p_;
  int nodes_per_tree_, internal_per_tree_, leaves_per_tree_;
  double size_limit_, max_score_;
  std::vector<double> threshold_;       // per internal node: go left when x[feature] < threshold
  std::vector<uint16_t> feature_;       // per internal node (dims <= 1024)
  std::vector<uint32_t> r_mass_;        // per node: points of the last full window
  std::vector<uint32_t> leaf_l_mass_;   // per leaf: points of the current window
  std::vector<uint64_t> leaf_score_;    // per leaf: its path's sum of r_mass * 2^depth
  std::vector<uint64_t> scratch_;       // one tree's nodes, for the pivot
  uint32_t counter_ = 0;
  bool first_window_ = true;
  uint64_t seen_ = 0;
};

// The per-value state of RobustZ and Ew is a run of doubles, so that a DetectorTable keeps
// many in one block. RobustZ: [count, head, ring[window], sorted[window]]; Ew: [n, mean, var].
size_t RobustZStride(const RobustZParams& p);
constexpr size_t kEwStride = 3;

class RobustZ final : public AnomalyDetector {
 public:
  explicit RobustZ(const RobustZParams& p);  // p must Validate()
  DetectorKind kind() const override { return DetectorKind::ROBUST_Z; }
  Status ScoreLearn(const double* x, double* score) override;
  Status Score(const double* x, double* score) const override;
  uint64_t seen() const override { return seen_; }
  std::vector<uint8_t> Serialize() const override;
  Status Deserialize(const uint8_t* p, size_t n) override;
  // The window's median and MAD (0 when empty).
  double median() const;
  double mad() const;
  int count() const { return int(state_[0]); }

  // On one state run (see RobustZStride).
  static double ScoreState(const RobustZParams& p, const double* s, double x);
  static void LearnState(const RobustZParams& p, double* s, double x);
  static bool ValidState(const RobustZParams& p, const double* s);

 private:
  double ScoreLearnUnchecked(const double* x) override;
  double ScoreUnchecked(const double* x) const override;

  RobustZParams p_;
  std::vector<double> state_;
  uint64_t seen_ = 0;
};

class Ew final : public AnomalyDetector {
 public:
  explicit Ew(const EwParams& p);  // p must Validate()
  DetectorKind kind() const override { return DetectorKind::EW; }
  Status ScoreLearn(const double* x, double* score) override;
  Status Score(const double* x, double* score) const override;
  uint64_t seen() const override { return seen_; }
  std::vector<uint8_t> Serialize() const override;
  Status Deserialize(const uint8_t* p, size_t n) override;
  double mean() const { return state_[1]; }
  double variance() const { return state_[2]; }

  static double ScoreState(const EwParams& p, const double* s, double x);
  static void LearnState(const EwParams& p, double* s, double x);
  static bool ValidState(const EwParams& p, const double* s);

 private:
  double ScoreLearnUnchecked(const double* x) override;
  double ScoreUnchecked(const double* x) const override;

  EwParams p_;
  double state_[kEwStride] = {0, 0, 0};
  uint64_t seen_ = 0;
};

// ---------------------------------------------------------------------------------------

struct DetectorTableStats {
  uint64_t live = 0;      // entities with a state
  uint64_t capacity = 0;  // max_entities
  uint64_t refused = 0;   // points refused because the table was full (new keys)
  uint64_t bytes = 0;     // memory held
};

class DetectorTable {
 public:
  // kind: ROBUST_Z or EW. Allocates everything for max_entities now.
  static Status Create(DetectorKind kind, const AnomalyParams& params, int64_t max_entities,
                       std::unique_ptr<DetectorTable>* out);

  DetectorKind kind() const { return kind_; }
  // For each i: scores[i] = the score of x[i] against entity keys[i]'s state, which then
  // learns x[i] (a new key gets a fresh state). A new key while the table is full: NaN,
  // nothing learned, counted in refused. *refused (may be null) = such points in this
  // call. Non-finite x refuses the whole batch (INVALID_ARG) before anything changes.
  Status ScoreLearnMany(const uint64_t* keys, const double* x, size_t n, double* scores, uint64_t* refused = nullptr);
  // Scores without learning; an unknown key scores 0 (no data yet).
  Status ScoreMany(const uint64_t* keys, const double* x, size_t n, double* scores) const;
  DetectorTableStats stats() const;
  // Forgets every entity (keeps the memory).
  void Clear();
  std::vector<uint8_t> Serialize() const;
  Status Deserialize(const uint8_t* p, size_t n);

 private:
  DetectorTable(DetectorKind kind, const AnomalyParams& params, uint32_t max_entities);
  // Slot of key, or of the empty slot where it would go.
  size_t Probe(uint64_t key) const;
  double ScoreState(const double* s, double x) const;
  void LearnState(double* s, double x) const;
  void InitState(double* s) const;
  void PrefetchState(uint32_t e) const;  // state e's lines that the next point will read

  DetectorKind kind_;
  AnomalyParams params_;
  uint32_t max_entities_;
  size_t stride_;
  size_t mask_;                  // slots - 1
  std::vector<uint64_t> keys_;   // per slot
  std::vector<uint32_t> index_;  // per slot: state index + 1, 0 = empty
  std::vector<double> states_;   // max_entities x stride_
  uint32_t live_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace hotpath
