#include "anomaly.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "detector_blob.h"
#include "hash.h"
#include "likelihood.h"

namespace hotpath {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMadScale = 1.4826;        // MAD -> sd for normal data
constexpr double kMeanAdScale = 1.2533141;  // mean absolute deviation -> sd (sqrt(pi/2))
constexpr int64_t kMaxHstNodes = int64_t(1) << 22;

bool AllFinite(const double* xs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!std::isfinite(xs[i])) return false;
  return true;
}

// |x - centre| / scale, with the zero-spread rule of anomaly.h.
double Ratio(double x, double centre, double scale) {
  const double d = std::fabs(x - centre);
  if (scale > 0) return d / scale;
  return d == 0 ? 0.0 : kInf;
}

}  // namespace

// The trees' random numbers: CPython's random.Random(seed) (MT19937 seeded by
// init_by_array with the seed's 32-bit words; random() = genrand_res53), so that a seed
// builds the very trees River's HalfSpaceTrees(seed=...) builds, and its scores can be
// compared one for one.
class PyRandom {
 public:
  explicit PyRandom(uint64_t seed) {
    uint32_t key[2] = {uint32_t(seed), uint32_t(seed >> 32)};
    InitByArray(key, key[1] ? 2 : 1);
  }
  double Random() {
    const uint32_t a = Next() >> 5, b = Next() >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
  }

 private:
  static constexpr int kN = 624;
  void InitGenrand(uint32_t s) {
    mt_[0] = s;
    for (int i = 1; i < kN; i++) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + uint32_t(i);
    i_ = kN;
  }
  void InitByArray(const uint32_t* key, int len) {
    InitGenrand(19650218u);
    int i = 1, j = 0;
    for (int k = std::max(kN, len); k > 0; k--) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + uint32_t(j);
      if (++i >= kN) {
        mt_[0] = mt_[kN - 1];
        i = 1;
      }
      if (++j >= len) j = 0;
    }
    for (int k = kN - 1; k > 0; k--) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - uint32_t(i);
      if (++i >= kN) {
        mt_[0] = mt_[kN - 1];
        i = 1;
      }
    }
    mt_[0] = 0x80000000u;
  }
  uint32_t Next() {
    if (i_ >= kN) {
      for (int k = 0; k < kN; k++) {
        const uint32_t y = (mt_[k] & 0x80000000u) | (mt_[(k + 1) % kN] & 0x7fffffffu);
        mt_[k] = mt_[(k + 397) % kN] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
      }
      i_ = 0;
    }
    uint32_t y = mt_[i_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }
  uint32_t mt_[kN];
  int i_ = kN + 1;
};

namespace {

bool WholeIn(double v, double lo, double hi) { return v >= lo && v <= hi && v == std::floor(v); }

}  // namespace

Status AnomalyDetector::Create(DetectorKind kind, const AnomalyParams& params, std::unique_ptr<AnomalyDetector>* out) {
  switch (kind) {
    case DetectorKind::HST:
      HP_RETURN_IF_ERROR(params.hst.Validate());
      out->reset(new HalfSpaceTrees(params.hst));
      return Status::Ok();
    case DetectorKind::ROBUST_Z:
      HP_RETURN_IF_ERROR(params.robust_z.Validate());
      out->reset(new RobustZ(params.robust_z));
      return Status::Ok();
    case DetectorKind::EW:
      HP_RETURN_IF_ERROR(params.ew.Validate());
      out->reset(new Ew(params.ew));
      return Status::Ok();
    case DetectorKind::LIKELIHOOD:
      HP_RETURN_IF_ERROR(params.likelihood.Validate());
      out->reset(new Likelihood(params.likelihood));
      return Status::Ok();
    default:
      return Status::InvalidArg("not an anomaly detector kind (hst, robust_z, ew, likelihood)");
  }
}

Status AnomalyDetector::ScoreLearnMany(const double* x, size_t n, double* scores) {
  const size_t d = size_t(dims());
  if (n > 0 && (x == nullptr || scores == nullptr)) return Status::InvalidArg("no values");
  if (!AllFinite(x, n * d)) return Status::InvalidArg("a value is NaN or infinite");
  ScoreLearnBatch(x, n, scores);
  return Status::Ok();
}

void AnomalyDetector::ScoreLearnBatch(const double* x, size_t n, double* scores) {
  const size_t d = size_t(dims());
  for (size_t i = 0; i < n; i++) scores[i] = ScoreLearnUnchecked(x + i * d);
}

Status AnomalyDetector::ScoreMany(const double* x, size_t n, double* scores) const {
  const size_t d = size_t(dims());
  if (n > 0 && (x == nullptr || scores == nullptr)) return Status::InvalidArg("no values");
  if (!AllFinite(x, n * d)) return Status::InvalidArg("a value is NaN or infinite");
  for (size_t i = 0; i < n; i++) scores[i] = ScoreUnchecked(x + i * d);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// Half-Space Trees

Status HstParams::Validate() const {
  if (n_trees < 1 || n_trees > kMaxHstTrees) return Status::InvalidArg("hst n_trees must be in [1, " + std::to_string(kMaxHstTrees) + "]");
  if (height < 1 || height > kMaxHstHeight) return Status::InvalidArg("hst height must be in [1, " + std::to_string(kMaxHstHeight) + "]");
  if (int64_t(n_trees) * ((int64_t(1) << (height + 1)) - 1) > kMaxHstNodes)
    return Status::InvalidArg("hst n_trees * 2^(height+1) is over 2^22 nodes");
  if (window_size < 1 || window_size > kMaxDetectorWindow) return Status::InvalidArg("hst window_size must be in [1, 2^20]");
  if (dims < 1 || dims > kMaxDetectorDims) return Status::InvalidArg("hst dims must be in [1, " + std::to_string(kMaxDetectorDims) + "]");
  if (lo.size() != hi.size() || (!lo.empty() && lo.size() != size_t(dims)))
    return Status::InvalidArg("hst limits must give lo and hi for every feature");
  for (size_t i = 0; i < lo.size(); i++)
    if (!std::isfinite(lo[i]) || !std::isfinite(hi[i]) || !(lo[i] < hi[i]))
      return Status::InvalidArg("hst limits of feature " + std::to_string(i) + " must be finite with lo < hi");
  return Status::Ok();
}

HalfSpaceTrees::HalfSpaceTrees(const HstParams& p)
    : p_(p),
      nodes_per_tree_((1 << (p.height + 1)) - 1),
      internal_per_tree_((1 << p.height) - 1),
      leaves_per_tree_(1 << p.height),
      size_limit_(0.1 * p.window_size),
      max_score_(double(p.n_trees) * p.window_size * ((1 << (p.height + 1)) - 1)),
      threshold_(size_t(p.n_trees) * size_t(internal_per_tree_), 0.0),
      feature_(threshold_.size(), 0),
      r_mass_(size_t(p.n_trees) * size_t(nodes_per_tree_), 0),
      leaf_l_mass_(size_t(p.n_trees) * size_t(leaves_per_tree_), 0),
      leaf_score_(leaf_l_mass_.size(), 0),
      scratch_(size_t(nodes_per_tree_), 0) {
  if (p_.lo.empty()) {
    p_.lo.assign(size_t(p_.dims), 0.0);
    p_.hi.assign(size_t(p_.dims), 1.0);
  }
  PyRandom rng(p_.seed);
  std::vector<double> lo = p_.lo, hi = p_.hi;
  for (int t = 0; t < p_.n_trees; t++) Build(t, &rng, 0, 0, lo, hi);
}

// River's make_padded_tree, draw for draw: the split feature is drawn with weights = the
// widths of the features' current ranges (random.choices: the first cumulative weight
// above random() * total), the split point uniformly in the middle 70% of its range
// (random.uniform); the left subtree is built before the right.
void HalfSpaceTrees::Build(int tree, PyRandom* rng, int node, int depth, std::vector<double>& lo, std::vector<double>& hi) {
  if (depth == p_.height) return;  // a leaf: no split
  const size_t at_node = size_t(tree) * size_t(internal_per_tree_) + size_t(node);
  double total = 0;
  for (int f = 0; f < p_.dims; f++) total += hi[size_t(f)] - lo[size_t(f)];
  const double pick = rng->Random() * total;
  int on = p_.dims - 1;
  double acc = 0;
  for (int f = 0; f < p_.dims; f++) {
    acc += hi[size_t(f)] - lo[size_t(f)];
    if (pick < acc) {
      on = f;
      break;
    }
  }
  const double a = lo[size_t(on)], b = hi[size_t(on)];
  const double from = a + 0.15 * (b - a), to = b - 0.15 * (b - a);
  const double at = from + (to - from) * rng->Random();
  feature_[at_node] = uint16_t(on);
  threshold_[at_node] = at;
  hi[size_t(on)] = at;
  Build(tree, rng, 2 * node + 1, depth + 1, lo, hi);
  hi[size_t(on)] = b;
  lo[size_t(on)] = at;
  Build(tree, rng, 2 * node + 2, depth + 1, lo, hi);
  lo[size_t(on)] = a;
}

// Level by level over all trees: each tree's walk is a chain of dependent loads, and the
// trees' chains are independent, so the loop keeps several in flight at once. (Walking
// two points at once, twice the chains, measured no better: 10 trees already overlap.)
template <bool kOneDim>
void HalfSpaceTrees::Descend(const double* x, uint32_t* leaf) const {
  const int trees = p_.n_trees;
  const size_t npt = size_t(internal_per_tree_);
  const double* thr = threshold_.data();
  const uint16_t* feat = feature_.data();
  const double x0 = x[0];
  for (int t = 0; t < trees; t++) leaf[t] = 0;
  for (int depth = 0; depth < p_.height; depth++) {
    size_t base = 0;
    for (int t = 0; t < trees; t++, base += npt) {
      const uint32_t i = leaf[t];
      const double v = kOneDim ? x0 : x[feat[base + i]];
      leaf[t] = 2 * i + 1 + uint32_t(v >= thr[base + i]);
    }
  }
  const uint32_t internal = uint32_t(internal_per_tree_);
  for (int t = 0; t < trees; t++) leaf[t] -= internal;
}

uint64_t HalfSpaceTrees::Mass(const double* x) const {
  uint32_t leaf[kMaxHstTrees];
  if (p_.dims == 1) {
    Descend<true>(x, leaf);
  } else {
    Descend<false>(x, leaf);
  }
  uint64_t s = 0;
  const uint64_t* ls = leaf_score_.data();
  for (int t = 0; t < p_.n_trees; t++, ls += leaves_per_tree_) s += ls[leaf[t]];
  return s;
}

// n points, all in the current window (the caller pivots between windows).
template <bool kOneDim>
void HalfSpaceTrees::LearnRun(const double* x, size_t n, double* scores) {
  const size_t d = size_t(p_.dims);
  const int trees = p_.n_trees;
  const size_t lpt = size_t(leaves_per_tree_);
  uint32_t leaf[kMaxHstTrees];
  uint32_t* lm = leaf_l_mass_.data();
  const uint64_t* ls = leaf_score_.data();
  const bool scoring = !first_window_;
  for (size_t k = 0; k < n; k++, x += d) {
    Descend<kOneDim>(x, leaf);
    uint64_t s = 0;
    for (int t = 0; t < trees; t++) {
      const size_t at = size_t(t) * lpt + leaf[t];
      s += ls[at];
      lm[at]++;
    }
    scores[k] = scoring ? 1.0 - double(s) / max_score_ : 0.0;
  }
}

void HalfSpaceTrees::ScoreLearnBatch(const double* x, size_t n, double* scores) {
  const size_t d = size_t(p_.dims);
  while (n > 0) {
    const size_t run = std::min(n, size_t(uint32_t(p_.window_size) - counter_));
    if (d == 1) {
      LearnRun<true>(x, run, scores);
    } else {
      LearnRun<false>(x, run, scores);
    }
    x += run * d;
    scores += run;
    n -= run;
    seen_ += run;
    counter_ += uint32_t(run);
    if (counter_ == uint32_t(p_.window_size)) Pivot();
  }
}

// The window's l_mass becomes r_mass: the leaves' counts, summed up the tree for the
// internal nodes; then each leaf's path score for the next window.
void HalfSpaceTrees::Pivot() {
  const size_t npt = size_t(nodes_per_tree_), internal = size_t(internal_per_tree_), lpt = size_t(leaves_per_tree_);
  for (int t = 0; t < p_.n_trees; t++) {
    uint32_t* r = &r_mass_[size_t(t) * npt];
    uint32_t* l = &leaf_l_mass_[size_t(t) * lpt];
    std::copy(l, l + lpt, r + internal);
    std::fill(l, l + lpt, 0u);
    for (size_t i = internal; i-- > 0;) r[i] = r[2 * i + 1] + r[2 * i + 2];
  }
  first_window_ = false;
  counter_ = 0;
  ComputeLeafScores();
}

// River's score walk, once per node instead of once per point: from the root down, a
// node adds r_mass * 2^depth while its parent's walk goes on, and the walk stops below
// the first node whose r_mass is under size_limit. The low bit of scratch_ says "goes on"
// (the sums are below 2^38, far from the top bit).
void HalfSpaceTrees::ComputeLeafScores() {
  const size_t npt = size_t(nodes_per_tree_), internal = size_t(internal_per_tree_), lpt = size_t(leaves_per_tree_);
  uint64_t* acc = scratch_.data();
  for (int t = 0; t < p_.n_trees; t++) {
    const uint32_t* r = &r_mass_[size_t(t) * npt];
    acc[0] = (uint64_t(r[0]) << 1) | uint64_t(r[0] >= size_limit_);
    for (int depth = 1; depth <= p_.height; depth++) {
      const size_t from = (size_t(1) << depth) - 1, to = 2 * from + 1;
      for (size_t i = from; i < to; i++) {
        const uint64_t up = acc[(i - 1) / 2];
        const uint64_t on = up & 1;
        acc[i] = (up & ~uint64_t(1)) + ((on * r[i]) << (depth + 1)) + (on & uint64_t(r[i] >= size_limit_));
      }
    }
    uint64_t* ls = &leaf_score_[size_t(t) * lpt];
    for (size_t j = 0; j < lpt; j++) ls[j] = acc[internal + j] >> 1;
  }
}

double HalfSpaceTrees::ScoreLearnUnchecked(const double* x) {
  double score;
  ScoreLearnBatch(x, 1, &score);
  return score;
}

double HalfSpaceTrees::ScoreUnchecked(const double* x) const {
  if (first_window_) return 0.0;
  return 1.0 - double(Mass(x)) / max_score_;
}

Status HalfSpaceTrees::ScoreLearn(const double* x, double* score) { return ScoreLearnMany(x, 1, score); }
Status HalfSpaceTrees::Score(const double* x, double* score) const { return ScoreMany(x, 1, score); }

namespace {

// l_mass of every node of one tree from its leaves' (internal nodes last to first).
void FillLMass(const uint32_t* leaves, size_t internal, size_t npt, uint32_t* l) {
  std::copy(leaves, leaves + (npt - internal), l + internal);
  for (size_t i = internal; i-- > 0;) l[i] = l[2 * i + 1] + l[2 * i + 2];
}

}  // namespace

std::vector<uint8_t> HalfSpaceTrees::Serialize() const {
  BlobWriter w(DetectorKind::HST);
  w.Put<int32_t>(p_.n_trees);
  w.Put<int32_t>(p_.height);
  w.Put<int32_t>(p_.window_size);
  w.Put<int32_t>(p_.dims);
  w.Put<uint64_t>(p_.seed);
  w.PutArray(p_.lo.data(), p_.lo.size());
  w.PutArray(p_.hi.data(), p_.hi.size());
  w.Put<uint32_t>(counter_);
  w.Put<uint8_t>(first_window_ ? 1 : 0);
  w.Put<uint64_t>(seen_);
  const size_t npt = size_t(nodes_per_tree_), internal = size_t(internal_per_tree_), lpt = size_t(leaves_per_tree_);
  std::vector<uint32_t> l(npt);
  for (int t = 0; t < p_.n_trees; t++) {
    FillLMass(&leaf_l_mass_[size_t(t) * lpt], internal, npt, l.data());
    for (size_t i = 0; i < npt; i++) {
      const size_t at = size_t(t) * internal + i;  // a leaf has no split: 0, 0
      w.Put<double>(i < internal ? threshold_[at] : 0.0);
      w.Put<uint32_t>(i < internal ? feature_[at] : 0u);
      w.Put<uint32_t>(l[i]);
      w.Put<uint32_t>(r_mass_[size_t(t) * npt + i]);
    }
  }
  return w.Finish();
}

Status HalfSpaceTrees::Deserialize(const uint8_t* p, size_t n) {
  BlobReader rd;
  HP_RETURN_IF_ERROR(rd.Open(p, n, DetectorKind::HST));
  const Status bad = Status::InvalidArg("hst blob body is malformed");
  HstParams q;
  int32_t trees, height, window, dims;
  if (!rd.Get(&trees) || !rd.Get(&height) || !rd.Get(&window) || !rd.Get(&dims) || !rd.Get(&q.seed)) return bad;
  if (dims < 1 || dims > kMaxDetectorDims) return bad;
  q.n_trees = trees;
  q.height = height;
  q.window_size = window;
  q.dims = dims;
  q.lo.resize(size_t(dims));
  q.hi.resize(size_t(dims));
  if (!rd.GetArray(q.lo.data(), q.lo.size()) || !rd.GetArray(q.hi.data(), q.hi.size())) return bad;
  HP_RETURN_IF_ERROR(q.Validate());
  // The nodes must be all there before the trees are built (a short blob costs nothing).
  const size_t nodes = size_t(trees) * size_t((1 << (height + 1)) - 1);
  if (rd.left() != 4 + 1 + 8 + nodes * 20) return bad;
  HalfSpaceTrees h(q);
  uint8_t first;
  if (!rd.Get(&h.counter_) || !rd.Get(&first) || !rd.Get(&h.seen_)) return bad;
  if (first > 1 || h.counter_ >= uint32_t(window)) return bad;
  h.first_window_ = first == 1;
  const size_t npt = size_t(h.nodes_per_tree_), internal = size_t(h.internal_per_tree_);
  std::vector<uint32_t> l(nodes);
  for (size_t at = 0; at < nodes; at++) {
    double threshold;
    uint32_t feature, r_mass;
    if (!rd.Get(&threshold) || !rd.Get(&feature) || !rd.Get(&l[at]) || !rd.Get(&r_mass)) return bad;
    if (!std::isfinite(threshold) || feature >= uint32_t(dims) || l[at] > uint32_t(window) || r_mass > uint32_t(window))
      return bad;
    const size_t i = at % npt;
    if (i < internal) {
      h.threshold_[at / npt * internal + i] = threshold;
      h.feature_[at / npt * internal + i] = uint16_t(feature);
    } else if (threshold != 0 || feature != 0) {
      return bad;  // a leaf has no split
    }
    h.r_mass_[at] = r_mass;
  }
  if (!rd.done()) return bad;
  // Only the leaves' l_mass is kept: an internal node's must be its children's sum, as
  // learning makes it.
  for (size_t t = 0; t < size_t(trees); t++) {
    const uint32_t* lt = &l[t * npt];
    for (size_t i = 0; i < internal; i++)
      if (uint64_t(lt[i]) != uint64_t(lt[2 * i + 1]) + lt[2 * i + 2]) return bad;
    std::copy(lt + internal, lt + npt, &h.leaf_l_mass_[t * size_t(h.leaves_per_tree_)]);
  }
  if (!h.first_window_) h.ComputeLeafScores();
  *this = std::move(h);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// Robust z-score

Status RobustZParams::Validate() const {
  if (window < 1 || window > kMaxDetectorWindow) return Status::InvalidArg("robust_z window must be in [1, 2^20]");
  if (min_count < 1 || min_count > window) return Status::InvalidArg("robust_z min_count must be in [1, window]");
  return Status::Ok();
}

size_t RobustZStride(const RobustZParams& p) { return 2 + 2 * size_t(p.window); }

namespace {

double MedianOfSorted(const double* v, size_t c) {
  if (c == 0) return 0;
  return c % 2 ? v[c / 2] : 0.5 * (v[c / 2 - 1] + v[c / 2]);
}

// Branchless binary searches over sorted v[0, n): the first index whose value is >= x
// (LowerBound) or > x (UpperBound), as std::lower_bound / std::upper_bound. The window's
// comparisons are unpredictable, so a conditional move beats a branch.
size_t LowerBound(const double* v, size_t n, double x) {
  if (n == 0) return 0;
  size_t b = 0;
  while (n > 1) {
    const size_t half = n / 2;
    b += v[b + half] < x ? half : 0;
    n -= half;
  }
  return b + size_t(v[b] < x);
}

size_t UpperBound(const double* v, size_t n, double x) {
  if (n == 0) return 0;
  size_t b = 0;
  while (n > 1) {
    const size_t half = n / 2;
    b += v[b + half] <= x ? half : 0;
    n -= half;
  }
  return b + size_t(v[b] <= x);
}

// The median of |v[i] - m| over a sorted v, without forming the deviations: those left of
// m (m - v[i], i < p) and right of it (v[i] - m, i >= p) are two sorted runs growing away
// from m, so the middle order statistics of their union are found by a binary search on
// how many of the smallest come from the left run (the k-th of two sorted arrays), in
// O(log c). The deviations are the same differences a merge would form, and an order
// statistic's value does not depend on how ties are split, so the MAD is the same double.
double MadOfSorted(const double* v, size_t c, double m) {
  if (c == 0) return 0;
  const size_t p = LowerBound(v, c, m);
  const size_t n_left = p, n_right = c - p;
  // left(j) = m - v[p - 1 - j], right(j) = v[p + j] - m: both non-decreasing in j.
  const size_t want = (c - 1) / 2 + 1;  // the smallest `want` deviations hold the lower middle
  // i = how many of them are left ones: the first i in [lo, hi] with not (left(i) < right(want - i - 1)).
  const size_t lo = want > n_right ? want - n_right : 0, hi = std::min(want, n_left);
  size_t i = lo, len = hi - lo;
  if (len > 0) {
    while (len > 1) {
      const size_t half = len / 2, j = i + half;
      i += (m - v[p - 1 - j]) < (v[p + want - j - 1] - m) ? half : 0;
      len -= half;
    }
    i += size_t((m - v[p - 1 - i]) < (v[p + want - i - 1] - m));
  }
  const size_t j = want - i;  // right ones
  const double l_last = i > 0 ? m - v[p - i] : -kInf, r_last = j > 0 ? v[p + j - 1] - m : -kInf;
  const double d1 = std::max(l_last, r_last);
  if (c % 2) return 0.5 * (d1 + d1);
  const double l_next = i < n_left ? m - v[p - 1 - i] : kInf, r_next = j < n_right ? v[p + j] - m : kInf;
  return 0.5 * (d1 + std::min(l_next, r_next));
}

double MeanAbsDev(const double* v, size_t c, double m) {
  double s = 0;
  for (size_t i = 0; i < c; i++) s += std::fabs(v[i] - m);
  return c ? s / double(c) : 0;
}

}  // namespace

double RobustZ::ScoreState(const RobustZParams& p, const double* s, double x) {
  const size_t c = size_t(s[0]);
  if (c < size_t(p.min_count)) return 0.0;
  const double* sorted = s + 2 + p.window;
  const double m = MedianOfSorted(sorted, c);
  double scale = kMadScale * MadOfSorted(sorted, c, m);
  if (scale == 0) scale = kMeanAdScale * MeanAbsDev(sorted, c, m);
  return Ratio(x, m, scale);
}

void RobustZ::LearnState(const RobustZParams& p, double* s, double x) {
  const size_t w = size_t(p.window);
  const size_t c = size_t(s[0]), head = size_t(s[1]);
  double* ring = s + 2;
  double* sorted = ring + w;
  size_t ins;
  if (c == w) {
    // Drop the oldest value and insert x in one shift of the values between them: the
    // same array as erasing the oldest's first copy (lower bound) and then inserting x
    // after its equals (upper bound), so even a -0 next to a +0 lands where it did.
    const double old = ring[head];
    const size_t del = LowerBound(sorted, c, old);
    ins = UpperBound(sorted, c, x) - size_t(old <= x);  // an index once `del` is gone
    if (ins >= del) {
      std::memmove(sorted + del, sorted + del + 1, (ins - del) * sizeof(double));
    } else {
      std::memmove(sorted + ins + 1, sorted + ins, (del - ins) * sizeof(double));
    }
  } else {
    ins = UpperBound(sorted, c, x);
    std::memmove(sorted + ins + 1, sorted + ins, (c - ins) * sizeof(double));
    s[0] = double(c + 1);
  }
  sorted[ins] = x;
  ring[head] = x;
  s[1] = double(head + 1 == w ? 0 : head + 1);
}

bool RobustZ::ValidState(const RobustZParams& p, const double* s) {
  const double w = p.window;
  if (!WholeIn(s[0], 0, w) || !WholeIn(s[1], 0, w - 1)) return false;
  const size_t c = size_t(s[0]);
  if (c < size_t(w) && size_t(s[1]) != c) return false;
  const double* ring = s + 2;
  const double* sorted = ring + p.window;
  std::vector<double> have(ring, ring + c);  // the live ring values: [0, c) until it wraps
  std::sort(have.begin(), have.end());
  for (size_t i = 0; i < c; i++)
    if (!std::isfinite(sorted[i]) || have[i] != sorted[i]) return false;
  return true;
}

RobustZ::RobustZ(const RobustZParams& p) : p_(p), state_(RobustZStride(p), 0.0) {}

double RobustZ::ScoreLearnUnchecked(const double* x) {
  const double score = ScoreState(p_, state_.data(), *x);
  LearnState(p_, state_.data(), *x);
  seen_++;
  return score;
}
double RobustZ::ScoreUnchecked(const double* x) const { return ScoreState(p_, state_.data(), *x); }
Status RobustZ::ScoreLearn(const double* x, double* score) { return ScoreLearnMany(x, 1, score); }
Status RobustZ::Score(const double* x, double* score) const { return ScoreMany(x, 1, score); }

double RobustZ::median() const { return MedianOfSorted(state_.data() + 2 + p_.window, size_t(state_[0])); }
double RobustZ::mad() const {
  const double* sorted = state_.data() + 2 + p_.window;
  const size_t c = size_t(state_[0]);
  return MadOfSorted(sorted, c, MedianOfSorted(sorted, c));
}

std::vector<uint8_t> RobustZ::Serialize() const {
  BlobWriter w(DetectorKind::ROBUST_Z);
  w.Put<uint8_t>(0);  // a single detector, not a table
  w.Put<int32_t>(p_.window);
  w.Put<int32_t>(p_.min_count);
  w.Put<uint64_t>(seen_);
  w.PutArray(state_.data(), state_.size());
  return w.Finish();
}

Status RobustZ::Deserialize(const uint8_t* p, size_t n) {
  BlobReader rd;
  HP_RETURN_IF_ERROR(rd.Open(p, n, DetectorKind::ROBUST_Z));
  const Status bad = Status::InvalidArg("robust_z blob body is malformed");
  RobustZParams q;
  int32_t window, min_count;
  uint8_t is_table;
  if (!rd.Get(&is_table) || is_table != 0) return Status::InvalidArg("blob is a detector table, not a single detector");
  if (!rd.Get(&window) || !rd.Get(&min_count)) return bad;
  q.window = window;
  q.min_count = min_count;
  HP_RETURN_IF_ERROR(q.Validate());
  if (rd.left() != 8 + RobustZStride(q) * 8) return bad;
  RobustZ z(q);
  if (!rd.Get(&z.seen_) || !rd.GetArray(z.state_.data(), z.state_.size()) || !rd.done()) return bad;
  if (!ValidState(q, z.state_.data())) return bad;
  *this = std::move(z);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// Exponentially weighted mean and variance

Status EwParams::Validate() const {
  if (!(alpha > 0 && alpha <= 1)) return Status::InvalidArg("ew alpha must be in (0, 1]");
  if (warmup < 1 || warmup > (1 << 30)) return Status::InvalidArg("ew warmup must be in [1, 2^30]");
  return Status::Ok();
}

double Ew::ScoreState(const EwParams& p, const double* s, double x) {
  if (s[0] < p.warmup) return 0.0;
  return Ratio(x, s[1], std::sqrt(s[2]));
}

// The incremental form of the exponentially weighted variance (West 1979; Finch 2009).
void Ew::LearnState(const EwParams& p, double* s, double x) {
  if (s[0] == 0) {
    s[1] = x;
    s[2] = 0;
  } else {
    const double diff = x - s[1], incr = p.alpha * diff;
    s[1] += incr;
    s[2] = (1 - p.alpha) * (s[2] + diff * incr);
  }
  if (s[0] < 9007199254740992.0) s[0] += 1;
}

bool Ew::ValidState(const EwParams&, const double* s) {
  return WholeIn(s[0], 0, 9007199254740992.0) && std::isfinite(s[1]) && std::isfinite(s[2]) && s[2] >= 0;
}

Ew::Ew(const EwParams& p) : p_(p) {}

double Ew::ScoreLearnUnchecked(const double* x) {
  const double score = ScoreState(p_, state_, *x);
  LearnState(p_, state_, *x);
  seen_++;
  return score;
}
double Ew::ScoreUnchecked(const double* x) const { return ScoreState(p_, state_, *x); }
Status Ew::ScoreLearn(const double* x, double* score) { return ScoreLearnMany(x, 1, score); }
Status Ew::Score(const double* x, double* score) const { return ScoreMany(x, 1, score); }

std::vector<uint8_t> Ew::Serialize() const {
  BlobWriter w(DetectorKind::EW);
  w.Put<uint8_t>(0);  // a single detector, not a table
  w.Put<double>(p_.alpha);
  w.Put<int32_t>(p_.warmup);
  w.Put<uint64_t>(seen_);
  w.PutArray(state_, kEwStride);
  return w.Finish();
}

Status Ew::Deserialize(const uint8_t* p, size_t n) {
  BlobReader rd;
  HP_RETURN_IF_ERROR(rd.Open(p, n, DetectorKind::EW));
  const Status bad = Status::InvalidArg("ew blob body is malformed");
  EwParams q;
  int32_t warmup;
  uint8_t is_table;
  if (!rd.Get(&is_table) || is_table != 0) return Status::InvalidArg("blob is a detector table, not a single detector");
  if (!rd.Get(&q.alpha) || !rd.Get(&warmup)) return bad;
  q.warmup = warmup;
  HP_RETURN_IF_ERROR(q.Validate());
  Ew e(q);
  if (!rd.Get(&e.seen_) || !rd.GetArray(e.state_, kEwStride) || !rd.done()) return bad;
  if (!ValidState(q, e.state_)) return bad;
  *this = e;
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// DetectorTable

Status DetectorTable::Create(DetectorKind kind, const AnomalyParams& params, int64_t max_entities,
                             std::unique_ptr<DetectorTable>* out) {
  if (kind == DetectorKind::ROBUST_Z) {
    HP_RETURN_IF_ERROR(params.robust_z.Validate());
  } else if (kind == DetectorKind::EW) {
    HP_RETURN_IF_ERROR(params.ew.Validate());
  } else {
    return Status::InvalidArg("a detector table holds robust_z or ew states");
  }
  if (max_entities < 1 || max_entities > kMaxDetectorEntities)
    return Status::InvalidArg("max_entities must be in [1, " + std::to_string(kMaxDetectorEntities) + "]");
  const size_t stride = kind == DetectorKind::EW ? kEwStride : RobustZStride(params.robust_z);
  if (double(max_entities) * double(stride) * 8 > double(uint64_t(16) << 30))
    return Status::Exhausted("a detector table of this many entities would take over 16 GiB");
  out->reset(new DetectorTable(kind, params, uint32_t(max_entities)));
  return Status::Ok();
}

DetectorTable::DetectorTable(DetectorKind kind, const AnomalyParams& params, uint32_t max_entities)
    : kind_(kind),
      params_(params),
      max_entities_(max_entities),
      stride_(kind == DetectorKind::EW ? kEwStride : RobustZStride(params.robust_z)) {
  size_t slots = 16;
  while (slots < size_t(max_entities) * 2) slots *= 2;  // load factor <= 1/2: short probes
  mask_ = slots - 1;
  keys_.assign(slots, 0);
  index_.assign(slots, 0);
  states_.assign(size_t(max_entities) * stride_, 0.0);
}

size_t DetectorTable::Probe(uint64_t key) const {
  // Ids hashed by the store are well mixed already; keys from elsewhere may not be.
  size_t i = size_t(Mix64(key)) & mask_;
  while (index_[i] != 0 && keys_[i] != key) i = (i + 1) & mask_;
  return i;
}

double DetectorTable::ScoreState(const double* s, double x) const {
  return kind_ == DetectorKind::EW ? Ew::ScoreState(params_.ew, s, x) : RobustZ::ScoreState(params_.robust_z, s, x);
}
void DetectorTable::LearnState(double* s, double x) const {
  if (kind_ == DetectorKind::EW) {
    Ew::LearnState(params_.ew, s, x);
  } else {
    RobustZ::LearnState(params_.robust_z, s, x);
  }
}
void DetectorTable::InitState(double* s) const { std::fill(s, s + stride_, 0.0); }

// The states of 1000 entities with window 64 are 1 MiB, beyond L2: a point's state is
// fetched from L3 or memory. So the batch loop looks kAhead points ahead: it finds that
// point's state (a key already in the table keeps its slot and state for the whole call:
// nothing is removed during it) and prefetches its header and sorted window; kAhead / 2
// points ahead, the header is there, and the ring's oldest value is prefetched as well.
// (Robust z only: EW's states are 24 bytes.)
void DetectorTable::PrefetchState(uint32_t e) const {
  const char* s = reinterpret_cast<const char*>(&states_[size_t(e) * stride_]);
  __builtin_prefetch(s);
  // The sorted window; at most 16 lines of it, spread over it, for a long window.
  const size_t w = size_t(params_.robust_z.window);
  const char* sorted = s + (2 + w) * sizeof(double);
  const size_t bytes = w * sizeof(double), lines = (bytes + 63) / 64, step = lines <= 16 ? 64 : bytes / 16;
  for (size_t off = 0; off < bytes; off += step) __builtin_prefetch(sorted + off);
  __builtin_prefetch(sorted + bytes - 1);
}

Status DetectorTable::ScoreLearnMany(const uint64_t* keys, const double* x, size_t n, double* scores, uint64_t* refused) {
  if (refused) *refused = 0;
  if (n > 0 && (keys == nullptr || x == nullptr || scores == nullptr)) return Status::InvalidArg("no values");
  if (!AllFinite(x, n)) return Status::InvalidArg("a value is NaN or infinite");
  uint64_t out = 0;
  // Admits keys[i] if new (0 when the table is full): its state index + 1.
  auto admit = [&](size_t i) -> uint32_t {
    const size_t slot = Probe(keys[i]);
    if (index_[slot] == 0) {
      if (live_ == max_entities_) return 0;
      keys_[slot] = keys[i];
      index_[slot] = ++live_;
      InitState(&states_[size_t(live_ - 1) * stride_]);
    }
    return index_[slot];
  };
  if (kind_ == DetectorKind::EW) {
    // EW's 24-byte states gain nothing from looking ahead: it measured slower (100k
    // entities: 38 ns a point against 24), the plain loop's probes overlapping already.
    for (size_t i = 0; i < n; i++) {
      const uint32_t e = admit(i);
      if (e == 0) {
        scores[i] = std::numeric_limits<double>::quiet_NaN();
        out++;
        continue;
      }
      double* s = &states_[size_t(e - 1) * stride_];
      scores[i] = Ew::ScoreState(params_.ew, s, x[i]);
      Ew::LearnState(params_.ew, s, x[i]);
    }
    refused_ += out;
    if (refused) *refused = out;
    return Status::Ok();
  }
  constexpr size_t kAhead = 8, kHalf = kAhead / 2;
  uint32_t pend[kAhead];  // for point j: its state index + 1, or 0 if its key was not in the table yet
  auto look = [&](size_t j) {
    const uint32_t e = index_[Probe(keys[j])];
    pend[j % kAhead] = e;
    if (e != 0) PrefetchState(e - 1);
  };
  for (size_t j = 0; j < std::min(n, kAhead); j++) look(j);
  for (size_t i = 0; i < n; i++) {
    uint32_t e = pend[i % kAhead];
    if (i + kAhead < n) look(i + kAhead);
    if (i + kHalf < n && pend[(i + kHalf) % kAhead] != 0) {
      const double* s = &states_[size_t(pend[(i + kHalf) % kAhead] - 1) * stride_];
      __builtin_prefetch(s + 2 + size_t(s[1]));
    }
    if (e == 0) e = admit(i);  // a new key, or one that came earlier in this batch
    if (e == 0) {
      scores[i] = std::numeric_limits<double>::quiet_NaN();
      out++;
      continue;
    }
    double* s = &states_[size_t(e - 1) * stride_];
    scores[i] = RobustZ::ScoreState(params_.robust_z, s, x[i]);
    RobustZ::LearnState(params_.robust_z, s, x[i]);
  }
  refused_ += out;
  if (refused) *refused = out;
  return Status::Ok();
}

Status DetectorTable::ScoreMany(const uint64_t* keys, const double* x, size_t n, double* scores) const {
  if (n > 0 && (keys == nullptr || x == nullptr || scores == nullptr)) return Status::InvalidArg("no values");
  if (!AllFinite(x, n)) return Status::InvalidArg("a value is NaN or infinite");
  for (size_t i = 0; i < n; i++) {
    const size_t slot = Probe(keys[i]);
    scores[i] = index_[slot] == 0 ? 0.0 : ScoreState(&states_[size_t(index_[slot] - 1) * stride_], x[i]);
  }
  return Status::Ok();
}

DetectorTableStats DetectorTable::stats() const {
  DetectorTableStats s;
  s.live = live_;
  s.capacity = max_entities_;
  s.refused = refused_;
  s.bytes = keys_.size() * (sizeof(uint64_t) + sizeof(uint32_t)) + states_.size() * sizeof(double);
  return s;
}

void DetectorTable::Clear() {
  std::fill(index_.begin(), index_.end(), 0u);
  live_ = 0;
  refused_ = 0;
}

std::vector<uint8_t> DetectorTable::Serialize() const {
  BlobWriter w(kind_);
  w.Put<uint8_t>(1);  // a table, not a single detector
  if (kind_ == DetectorKind::EW) {
    w.Put<double>(params_.ew.alpha);
    w.Put<int32_t>(params_.ew.warmup);
  } else {
    w.Put<int32_t>(params_.robust_z.window);
    w.Put<int32_t>(params_.robust_z.min_count);
  }
  w.Put<uint32_t>(max_entities_);
  w.Put<uint32_t>(live_);
  w.Put<uint64_t>(refused_);
  // Entities in the order they arrived (state index), so a restored table lays them out alike.
  std::vector<uint64_t> by_index(live_);
  for (size_t i = 0; i <= mask_; i++)
    if (index_[i] != 0) by_index[index_[i] - 1] = keys_[i];
  for (uint32_t e = 0; e < live_; e++) {
    w.Put<uint64_t>(by_index[e]);
    w.PutArray(&states_[size_t(e) * stride_], stride_);
  }
  return w.Finish();
}

Status DetectorTable::Deserialize(const uint8_t* p, size_t n) {
  BlobReader rd;
  HP_RETURN_IF_ERROR(rd.Open(p, n, kind_));
  const Status bad = Status::InvalidArg("detector table blob body is malformed");
  uint8_t is_table;
  if (!rd.Get(&is_table) || is_table != 1) return Status::InvalidArg("blob is a single detector, not a table");
  AnomalyParams q = params_;
  if (kind_ == DetectorKind::EW) {
    int32_t warmup;
    if (!rd.Get(&q.ew.alpha) || !rd.Get(&warmup)) return bad;
    q.ew.warmup = warmup;
  } else {
    int32_t window, min_count;
    if (!rd.Get(&window) || !rd.Get(&min_count)) return bad;
    q.robust_z.window = window;
    q.robust_z.min_count = min_count;
  }
  uint32_t max_entities, live;
  uint64_t refused;
  if (!rd.Get(&max_entities) || !rd.Get(&live) || !rd.Get(&refused)) return bad;
  std::unique_ptr<DetectorTable> t;
  HP_RETURN_IF_ERROR(Create(kind_, q, int64_t(max_entities), &t));
  if (live > max_entities || rd.left() != size_t(live) * (8 + t->stride_ * 8)) return bad;
  for (uint32_t e = 0; e < live; e++) {
    uint64_t key;
    if (!rd.Get(&key)) return bad;
    const size_t slot = t->Probe(key);
    if (t->index_[slot] != 0) return bad;  // a key twice
    double* s = &t->states_[size_t(e) * t->stride_];
    if (!rd.GetArray(s, t->stride_)) return bad;
    const bool valid = kind_ == DetectorKind::EW ? Ew::ValidState(q.ew, s) : RobustZ::ValidState(q.robust_z, s);
    if (!valid) return bad;
    t->keys_[slot] = key;
    t->index_[slot] = ++t->live_;
  }
  if (!rd.done()) return bad;
  t->refused_ = refused;
  *this = std::move(*t);
  return Status::Ok();
}

}  // namespace hotpath
