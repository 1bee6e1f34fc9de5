// Tests of the streaming detectors (drift.h, anomaly.h): ADWIN and Page-Hinkley find a
// mean shift and stay quiet on a stationary stream; Half-Space Trees score an outlier
// above inliers; the robust z-score against a brute-force median/MAD; EW against its
// formula; the keyed table against one detector per key; serialization round trips, and
// damaged blobs and non-finite input refused with the state unchanged. Run by core_test.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "../core/anomaly.h"
#include "../core/drift.h"
#include "test_util.h"

using namespace hptest;

namespace {

// River's example stream: 1000 draws from {0, 1}, then 1000 from {4, 5, 6, 7}.
std::vector<double> ShiftStream(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> xs;
  for (int i = 0; i < 1000; i++) xs.push_back(double(rng() % 2));
  for (int i = 0; i < 1000; i++) xs.push_back(double(4 + rng() % 4));
  return xs;
}

std::vector<double> Gaussian(uint64_t seed, size_t n, double mean, double sd) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(mean, sd);
  std::vector<double> xs(n);
  for (auto& x : xs) x = g(rng);
  return xs;
}

// Indices at which d detects a drift.
std::vector<size_t> Detections(DriftDetector& d, const std::vector<double>& xs) {
  std::vector<size_t> at;
  for (size_t i = 0; i < xs.size(); i++)
    if (d.Update(xs[i])) at.push_back(i);
  return at;
}

void TestAdwinFindsMeanShift() {
  int early = 0, found = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    Adwin a{AdwinParams{}};
    const auto xs = ShiftStream(seed);
    std::vector<size_t> at;
    double width_at_drift = -1;
    for (size_t i = 0; i < xs.size(); i++) {
      if (a.Update(xs[i])) {
        at.push_back(i);
        if (i >= 1000 && width_at_drift < 0) width_at_drift = a.width();
      }
    }
    // After the drift the window lost the old regime: it is shorter than the 1000 old items.
    CHECK(width_at_drift > 0 && width_at_drift < 1000);
    early += int(std::count_if(at.begin(), at.end(), [](size_t i) { return i < 1000; }));
    const auto first = std::find_if(at.begin(), at.end(), [](size_t i) { return i >= 1000; });
    if (first != at.end()) {
      found++;
      // Checks run every 32 items: the first after the change is item 1023.
      CHECK(*first >= 1000 && *first < 1000 + 64);
    }
    CHECK(a.estimation() > 4 && a.estimation() < 7);
  }
  CHECK_EQ(early, 0);
  CHECK_EQ(found, 20);
}

void TestAdwinQuietOnStationaryStream() {
  int alarms = 0;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    Adwin a{AdwinParams{}};
    alarms += int(Detections(a, Gaussian(seed, 20000, 3, 1)).size());
    CHECK_EQ(a.width(), 20000);  // never cut: the window keeps everything
    CHECK_NEAR(a.estimation(), 3, 0.05);
    CHECK(a.rows() < 16);
  }
  CHECK_EQ(alarms, 0);
}

void TestAdwinReset() {
  Adwin a{AdwinParams{}};
  for (double x : ShiftStream(3)) a.Update(x);
  a.Reset();
  CHECK_EQ(a.width(), 0);
  CHECK_EQ(a.detections(), 0);
  Adwin fresh{AdwinParams{}};
  CHECK(a.Serialize() == fresh.Serialize());
}

void TestPageHinkleyFindsShiftUpAndDown() {
  int early = 0, found = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    PageHinkley ph{PageHinkleyParams{}};
    const auto at = Detections(ph, ShiftStream(seed));
    early += int(std::count_if(at.begin(), at.end(), [](size_t i) { return i < 1000; }));
    const auto first = std::find_if(at.begin(), at.end(), [](size_t i) { return i >= 1000; });
    if (first != at.end()) {
      found++;
      CHECK(*first < 1000 + 20);
    }
  }
  CHECK_EQ(early, 0);
  CHECK_EQ(found, 20);
  // Downwards: the mode decides.
  std::vector<double> down = Gaussian(7, 500, 10, 1), after = Gaussian(8, 500, 2, 1);
  down.insert(down.end(), after.begin(), after.end());
  PageHinkleyParams both, up;
  up.mode = PhMode::UP;
  PageHinkley b(both), u(up);
  const auto at_b = Detections(b, down), at_u = Detections(u, down);
  CHECK(!at_b.empty() && at_b[0] >= 500 && at_b[0] < 520);
  CHECK(at_u.empty());
}

void TestPageHinkleyQuietOnStationaryStream() {
  int alarms = 0;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    // Page-Hinkley's threshold is in the data's units: sd 0.2 (like River's {0, 1} stream's
    // 0.5 over its 1000 items) stays under it; sd 1 over 20000 items would not.
    PageHinkley ph{PageHinkleyParams{}};
    alarms += int(Detections(ph, Gaussian(seed, 20000, 3, 0.2)).size());
  }
  CHECK_EQ(alarms, 0);
}

void TestDriftNonFiniteRefused() {
  Adwin a{AdwinParams{}};
  PageHinkley ph{PageHinkleyParams{}};
  for (double x : Gaussian(2, 300, 0, 1)) {
    a.Update(x);
    ph.Update(x);
  }
  for (DriftDetector* d : {static_cast<DriftDetector*>(&a), static_cast<DriftDetector*>(&ph)}) {
    const auto before = d->Serialize();
    const double bad[] = {1, 2, kNaN, 3};
    int64_t first = 7, n = 7;
    CHECK_CODE(d->UpdateMany(bad, 4, &first, &n), Code::INVALID_ARG);
    CHECK_EQ(first, -1);
    CHECK(d->Serialize() == before);
    const double inf[] = {kInf};
    CHECK_CODE(d->UpdateMany(inf, 1, &first, &n), Code::INVALID_ARG);
    CHECK(d->Serialize() == before);
    CHECK(!d->Update(kNaN));  // the unchecked form ignores it, and counts it
    CHECK_EQ(d->refused(), 1);
  }
}

// The serialized detector goes on exactly like the original.
template <typename D, typename P>
void DriftRoundTrip(const P& params, const P& other) {
  const auto xs = ShiftStream(9);
  D a(params), b(other);
  for (size_t i = 0; i < 1010; i++) a.Update(xs[i]);
  const auto blob = a.Serialize();
  CHECK_OK(b.Deserialize(blob.data(), blob.size()));
  CHECK(b.Serialize() == blob);
  bool same = true;
  for (size_t i = 1010; i < xs.size(); i++) same = same && a.Update(xs[i]) == b.Update(xs[i]);
  CHECK(same);
  CHECK(a.Serialize() == b.Serialize());
}

void TestDriftSerializeRoundTrip() {
  AdwinParams ap, aq;
  aq.delta = 0.1;
  aq.clock = 1;
  DriftRoundTrip<Adwin>(ap, aq);
  PageHinkleyParams pp, pq;
  pq.threshold = 5;
  DriftRoundTrip<PageHinkley>(pp, pq);
}

// Every single-byte change and every truncation of blob is refused, leaving d unchanged.
template <typename D>
void CheckCorruptRefused(D& d, const std::vector<uint8_t>& blob) {
  const auto before = d.Serialize();
  int accepted = 0;
  std::vector<uint8_t> b = blob;
  const size_t step = std::max<size_t>(1, blob.size() / 512);
  for (size_t i = 0; i < b.size(); i += step) {
    b[i] ^= 0x5a;
    if (d.Deserialize(b.data(), b.size()).ok()) accepted++;
    b[i] ^= 0x5a;
  }
  for (size_t n = 0; n < blob.size(); n += step)
    if (d.Deserialize(blob.data(), n).ok()) accepted++;
  CHECK_CODE(d.Deserialize(nullptr, 0), Code::INVALID_ARG);
  CHECK_EQ(accepted, 0);
  CHECK(d.Serialize() == before);
}

void TestDriftCorruptBlobRefused() {
  Adwin a{AdwinParams{}}, a2{AdwinParams{}};
  PageHinkley ph{PageHinkleyParams{}}, ph2{PageHinkleyParams{}};
  for (double x : ShiftStream(4)) {
    a.Update(x);
    ph.Update(x);
    a2.Update(x / 2);
  }
  CheckCorruptRefused(a2, a.Serialize());
  CheckCorruptRefused(ph2, ph.Serialize());
  // Another kind's blob.
  const auto pblob = ph.Serialize();
  CHECK_CODE(a2.Deserialize(pblob.data(), pblob.size()), Code::INVALID_ARG);
}

// ---------------------------------------------------------------------------------------
// Anomaly

std::unique_ptr<AnomalyDetector> Make(DetectorKind kind, const AnomalyParams& p) {
  std::unique_ptr<AnomalyDetector> d;
  const Status s = AnomalyDetector::Create(kind, p, &d);
  if (!s.ok()) {
    std::printf("FATAL: AnomalyDetector::Create: %s\n", s.message().c_str());
    std::exit(2);
  }
  return d;
}

void TestHstScoresOutlierHigher() {
  for (int dims : {1, 4}) {
    AnomalyParams p;
    p.hst.dims = dims;
    p.hst.seed = 7;
    auto d = Make(DetectorKind::HST, p);
    std::mt19937_64 rng(1);
    std::normal_distribution<double> g(0.5, 0.05);
    std::vector<double> x(static_cast<size_t>(dims));
    double s = 0;
    for (int i = 0; i < 250; i++) {  // the first window scores 0
      for (auto& v : x) v = g(rng);
      CHECK_OK(d->ScoreLearn(x.data(), &s));
      if (s != 0) break;
    }
    CHECK_EQ(s, 0);
    double inlier_max = 0;
    for (int i = 0; i < 1000; i++) {
      for (auto& v : x) v = g(rng);
      CHECK_OK(d->ScoreLearn(x.data(), &s));
      CHECK(s >= 0 && s <= 1);
      if (i > 10) inlier_max = std::max(inlier_max, s);
    }
    std::vector<double> out(static_cast<size_t>(dims), 0.02);
    double so = 0, si = 0;
    std::vector<double> in(static_cast<size_t>(dims), 0.5);
    CHECK_OK(d->Score(out.data(), &so));
    CHECK_OK(d->Score(in.data(), &si));
    std::printf("   hst dims %d: outlier %.3f, centre %.3f, inlier max %.3f\n", dims, so, si, inlier_max);
    CHECK(so > si);
    CHECK(so > inlier_max);
    CHECK(so <= 1);
  }
}

// River's example (anomaly.HalfSpaceTrees docstring): the trees come from the same random
// draws as River's (random.Random(42)), so the scores are River's, to its 3 printed digits.
void TestHstMatchesRiverExample() {
  AnomalyParams p;
  p.hst.n_trees = 5;
  p.hst.height = 3;
  p.hst.window_size = 3;
  p.hst.seed = 42;
  auto d = Make(DetectorKind::HST, p);
  const double xs[] = {0.5, 0.45, 0.43, 0.44, 0.445, 0.45, 0.0};
  const double river[] = {0.107, 0.071, 0.107, 0.107, 0.107, 0.071, 0.853};
  double s;
  for (int i = 0; i < 3; i++) CHECK_OK(d->ScoreLearn(&xs[i], &s));  // warming up
  for (int i = 0; i < 7; i++) {
    CHECK_OK(d->ScoreLearn(&xs[i], &s));  // River: learn_one, then score_one
    CHECK_OK(d->Score(&xs[i], &s));
    CHECK_NEAR(s, river[i], 0.0005);
  }
}

// The brute-force reference: sort the window, take the middle(s).
double BruteRobustZ(std::vector<double> w, double x, size_t min_count) {
  if (w.size() < min_count) return 0;
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t c = v.size();
    return c % 2 ? v[c / 2] : 0.5 * (v[c / 2 - 1] + v[c / 2]);
  };
  const double m = median(w);
  std::vector<double> dev;
  double mean_ad = 0;
  for (double v : w) {
    dev.push_back(std::fabs(v - m));
    mean_ad += std::fabs(v - m);
  }
  mean_ad /= double(w.size());
  double scale = 1.4826 * median(dev);
  if (scale == 0) scale = 1.2533141 * mean_ad;
  const double d = std::fabs(x - m);
  return scale > 0 ? d / scale : d == 0 ? 0 : kInf;
}

void TestRobustZMatchesBruteForce() {
  for (int window : {1, 2, 7, 50, 256}) {
    AnomalyParams p;
    p.robust_z.window = window;
    p.robust_z.min_count = std::min(window, 5);
    auto d = Make(DetectorKind::ROBUST_Z, p);
    std::mt19937_64 rng{uint64_t(window)};
    std::vector<double> hist;
    int bad = 0;
    for (int i = 0; i < 3000; i++) {
      // Rounded values: many ties; a run of constants makes MAD 0 for a while.
      double x = std::round(std::normal_distribution<double>(0, 3)(rng));
      if (i >= 1000 && i < 1400) x = 2;
      if (i % 97 == 0) x = 40;
      std::vector<double> w(hist.end() - std::min<ptrdiff_t>(ptrdiff_t(hist.size()), window), hist.end());
      const double want = BruteRobustZ(w, x, size_t(p.robust_z.min_count));
      double got;
      CHECK_OK(d->ScoreLearn(&x, &got));
      if (!(got == want || std::fabs(got - want) <= 1e-12 * std::fabs(want))) {
        if (bad++ < 3) std::printf("   window %d item %d: got %.17g want %.17g\n", window, i, got, want);
      }
      hist.push_back(x);
    }
    CHECK_EQ(bad, 0);
  }
}

void TestEwMatchesFormula() {
  AnomalyParams p;
  p.ew.alpha = 0.05;
  p.ew.warmup = 10;
  auto d = Make(DetectorKind::EW, p);
  std::mt19937_64 rng(3);
  double mean = 0, var = 0;
  int n = 0, bad = 0;
  for (int i = 0; i < 2000; i++) {
    const double x = std::normal_distribution<double>(5, 2)(rng);
    double want = 0;
    if (n >= 10) want = std::fabs(x - mean) / std::sqrt(var);
    double got;
    CHECK_OK(d->ScoreLearn(&x, &got));
    if (!(std::fabs(got - want) <= 1e-9 * std::max(1.0, want))) bad++;
    if (n == 0) {
      mean = x;
    } else {
      const double diff = x - mean;
      mean += 0.05 * diff;
      var = 0.95 * (var + 0.05 * diff * diff);
    }
    n++;
  }
  CHECK_EQ(bad, 0);
  const Ew& e = static_cast<const Ew&>(*d);
  CHECK_NEAR(e.mean(), 5, 0.5);
  CHECK_NEAR(std::sqrt(e.variance()), 2, 0.5);
}

// The likelihood kind (likelihood.h) with its NAB defaults. Its exact agreement with the
// TypeScript prototype is test/native/likelihood-nab.test.ts's; here its behaviour.
void TestLikelihoodBasics() {
  const double warm = std::log(1.0000000001 - 0.5) / std::log(1.0 - 0.9999999999);  // L = 0.5: 0.0301
  auto d = Make(DetectorKind::LIKELIHOOD, AnomalyParams());
  std::vector<double> xs = Gaussian(21, 3000, 10, 1);
  double s, peek;
  double quiet_max = 0;
  int alarms = 0;
  for (size_t i = 0; i < xs.size(); i++) {
    // Score() is ScoreLearn() without the learning, refits included (every 100th row).
    CHECK_OK(d->Score(&xs[i], &peek));
    CHECK_OK(d->ScoreLearn(&xs[i], &s));
    CHECK_EQ(peek, s);
    // Before learning + estimation = 388 rows: 0.5, unless the value is a new extreme.
    if (i < 388) CHECK(std::fabs(s - warm) < 1e-15 || s == 1);
    if (i >= 1000) quiet_max = std::max(quiet_max, s);
    if (i >= 1000 && s >= 0.517) alarms++;  // the NAB sweep's standard threshold
  }
  std::printf("  likelihood on 2000 N(10, 1) values: max %.4f, %d at or over 0.517\n", quiet_max, alarms);
  CHECK(alarms <= 4);
  // A spike beyond the range seen (±5%): the spatial rule scores 1.
  const double spike = 30;
  CHECK_OK(d->Score(&spike, &s));
  CHECK_EQ(s, 1.0);
  // A level shift inside the range (the spatial rule off): the likelihood alarms once, early.
  AnomalyParams p;
  p.likelihood.tolerance = 1e6;
  auto e = Make(DetectorKind::LIKELIHOOD, p);
  std::vector<double> scores(3000);
  CHECK_OK(e->ScoreLearnMany(xs.data(), 3000, scores.data()));
  double shift_max = 0;
  for (int i = 0; i < 20; i++) {
    const double x = 13.5;  // 3.5 sd up, within the range of 3000 N(10, 1) values
    CHECK_OK(e->ScoreLearn(&x, &s));
    shift_max = std::max(shift_max, s);
  }
  CHECK(shift_max > 0.5);
  CHECK(shift_max > *std::max_element(scores.begin() + 1000, scores.end()));
  CHECK_EQ(e->seen(), 3020);
}

void TestAnomalyNonFiniteRefused() {
  for (DetectorKind kind : {DetectorKind::HST, DetectorKind::ROBUST_Z, DetectorKind::EW, DetectorKind::LIKELIHOOD}) {
    AnomalyParams p;
    p.robust_z.min_count = 3;
    p.ew.warmup = 3;
    auto d = Make(kind, p);
    std::vector<double> xs = Gaussian(5, 400, 0.5, 0.1), scores(400);
    CHECK_OK(d->ScoreLearnMany(xs.data(), 400, scores.data()));
    const auto before = d->Serialize();
    xs[17] = kNaN;
    CHECK_CODE(d->ScoreLearnMany(xs.data(), 400, scores.data()), Code::INVALID_ARG);
    CHECK(d->Serialize() == before);
    double s, inf = -kInf;
    CHECK_CODE(d->ScoreLearn(&inf, &s), Code::INVALID_ARG);
    CHECK_CODE(d->Score(&inf, &s), Code::INVALID_ARG);
    CHECK(d->Serialize() == before);
    CHECK_EQ(d->seen(), 400);
  }
}

void TestAnomalySerializeRoundTrip() {
  for (DetectorKind kind : {DetectorKind::HST, DetectorKind::ROBUST_Z, DetectorKind::EW, DetectorKind::LIKELIHOOD}) {
    AnomalyParams p, other;
    p.hst.dims = 3;
    p.hst.lo = {0, -1, 10};
    p.hst.hi = {1, 1, 20};
    p.hst.window_size = 50;
    p.robust_z.window = 40;
    p.robust_z.min_count = 5;
    p.ew.alpha = 0.2;
    p.ew.warmup = 4;
    // Small rings, so the history wraps and refits happen on both sides of the cut.
    p.likelihood.averaging = 5;
    p.likelihood.history = 200;
    p.likelihood.learning = 50;
    p.likelihood.estimation = 20;
    p.likelihood.reestimation = 30;
    auto a = Make(kind, p), b = Make(kind, other);
    const size_t d = size_t(a->dims());
    std::vector<double> xs = Gaussian(11, 600 * d, 0.5, 0.3), sa(600), sb(600);
    CHECK_OK(a->ScoreLearnMany(xs.data(), 330, sa.data()));
    const auto blob = a->Serialize();
    CHECK_OK(b->Deserialize(blob.data(), blob.size()));
    CHECK_EQ(b->dims(), a->dims());
    CHECK(b->Serialize() == blob);
    CHECK_OK(a->ScoreLearnMany(xs.data() + 330 * d, 270, sa.data()));
    CHECK_OK(b->ScoreLearnMany(xs.data() + 330 * d, 270, sb.data()));
    CHECK(std::equal(sa.begin(), sa.begin() + 270, sb.begin()));
    CHECK(a->Serialize() == b->Serialize());
  }
}

void TestAnomalyCorruptBlobRefused() {
  for (DetectorKind kind : {DetectorKind::HST, DetectorKind::ROBUST_Z, DetectorKind::EW, DetectorKind::LIKELIHOOD}) {
    AnomalyParams p;
    p.hst.height = 4;
    p.hst.window_size = 20;
    p.robust_z.window = 30;
    p.robust_z.min_count = 5;
    auto a = Make(kind, p), b = Make(kind, p);
    std::vector<double> xs = Gaussian(12, 100, 0.5, 0.3), s(100);
    CHECK_OK(a->ScoreLearnMany(xs.data(), 100, s.data()));
    CHECK_OK(b->ScoreLearnMany(xs.data(), 50, s.data()));
    CheckCorruptRefused(*b, a->Serialize());
  }
}

// ---------------------------------------------------------------------------------------
// DetectorTable

std::unique_ptr<DetectorTable> MakeTable(DetectorKind kind, const AnomalyParams& p, int64_t max) {
  std::unique_ptr<DetectorTable> t;
  const Status s = DetectorTable::Create(kind, p, max, &t);
  if (!s.ok()) {
    std::printf("FATAL: DetectorTable::Create: %s\n", s.message().c_str());
    std::exit(2);
  }
  return t;
}

void TestTableMatchesOneDetectorPerKey() {
  for (DetectorKind kind : {DetectorKind::ROBUST_Z, DetectorKind::EW}) {
    AnomalyParams p;
    p.robust_z.window = 20;
    p.robust_z.min_count = 3;
    p.ew.warmup = 3;
    auto t = MakeTable(kind, p, 64);
    std::vector<std::unique_ptr<AnomalyDetector>> ref;
    for (int k = 0; k < 40; k++) ref.push_back(Make(kind, p));
    std::mt19937_64 rng(5);
    int bad = 0;
    for (int batch = 0; batch < 50; batch++) {
      const size_t n = 1 + rng() % 64;
      std::vector<uint64_t> keys(n);
      std::vector<int> who(n);
      std::vector<double> x(n), got(n);
      for (size_t i = 0; i < n; i++) {
        who[i] = int(rng() % 40);
        keys[i] = Key(uint64_t(who[i]));
        x[i] = std::normal_distribution<double>(who[i], 1 + who[i] % 3)(rng);
      }
      uint64_t refused = 9;
      CHECK_OK(t->ScoreLearnMany(keys.data(), x.data(), n, got.data(), &refused));
      CHECK_EQ(refused, 0);
      for (size_t i = 0; i < n; i++) {
        double want;
        CHECK_OK(ref[size_t(who[i])]->ScoreLearn(&x[i], &want));
        if (!(got[i] == want)) bad++;
      }
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(t->stats().live, 40);
    // Score without learning equals the reference's Score.
    std::vector<uint64_t> keys = {Key(3), Key(1000)};
    std::vector<double> x = {3.5, 1}, got(2);
    CHECK_OK(t->ScoreMany(keys.data(), x.data(), 2, got.data()));
    double want;
    CHECK_OK(ref[3]->Score(&x[0], &want));
    CHECK_EQ(got[0], want);
    CHECK_EQ(got[1], 0);  // unknown key
    CHECK_EQ(t->stats().live, 40);
  }
}

void TestTableRefusesWhenFull() {
  AnomalyParams p;
  p.ew.warmup = 2;
  auto t = MakeTable(DetectorKind::EW, p, 4);
  std::vector<uint64_t> keys = {Key(1), Key(2), Key(3), Key(4), Key(5), Key(1), Key(6)};
  std::vector<double> x(keys.size(), 1.0), s(keys.size());
  uint64_t refused = 0;
  CHECK_OK(t->ScoreLearnMany(keys.data(), x.data(), keys.size(), s.data(), &refused));
  CHECK_EQ(refused, 2);
  CHECK_NAN(s[4]);
  CHECK_NAN(s[6]);
  CHECK_EQ(s[5], 0);  // a known key still scores (warming up)
  DetectorTableStats st = t->stats();
  CHECK_EQ(st.live, 4);
  CHECK_EQ(st.capacity, 4);
  CHECK_EQ(st.refused, 2);
  // NaN input: refused before anything changes.
  const auto before = t->Serialize();
  x[2] = kNaN;
  CHECK_CODE(t->ScoreLearnMany(keys.data(), x.data(), keys.size(), s.data(), &refused), Code::INVALID_ARG);
  CHECK(t->Serialize() == before);
  t->Clear();
  CHECK_EQ(t->stats().live, 0);
  x[2] = 1;
  CHECK_OK(t->ScoreLearnMany(keys.data() + 3, x.data(), 4, s.data(), &refused));
  CHECK_EQ(refused, 0);
  std::unique_ptr<DetectorTable> bad;
  CHECK_CODE(DetectorTable::Create(DetectorKind::HST, p, 4, &bad), Code::INVALID_ARG);
  CHECK_CODE(DetectorTable::Create(DetectorKind::EW, p, 0, &bad), Code::INVALID_ARG);
}

void TestTableSerializeRoundTrip() {
  for (DetectorKind kind : {DetectorKind::ROBUST_Z, DetectorKind::EW}) {
    AnomalyParams p, other;
    p.robust_z.window = 16;
    p.robust_z.min_count = 4;
    p.ew.alpha = 0.3;
    other.robust_z.window = 8;
    other.robust_z.min_count = 8;
    auto a = MakeTable(kind, p, 100), b = MakeTable(kind, other, 7);
    std::mt19937_64 rng(8);
    auto batch = [&](size_t n, std::vector<uint64_t>* keys, std::vector<double>* x) {
      keys->resize(n);
      x->resize(n);
      for (size_t i = 0; i < n; i++) {
        (*keys)[i] = Key(rng() % 60);
        (*x)[i] = std::normal_distribution<double>(0, 1)(rng);
      }
    };
    std::vector<uint64_t> keys;
    std::vector<double> x, sa, sb;
    batch(2000, &keys, &x);
    sa.resize(2000);
    sb.resize(2000);
    CHECK_OK(a->ScoreLearnMany(keys.data(), x.data(), 2000, sa.data()));
    const auto blob = a->Serialize();
    CHECK_OK(b->Deserialize(blob.data(), blob.size()));
    CHECK(b->Serialize() == blob);
    CHECK_EQ(b->stats().capacity, 100);
    batch(2000, &keys, &x);
    CHECK_OK(a->ScoreLearnMany(keys.data(), x.data(), 2000, sa.data()));
    CHECK_OK(b->ScoreLearnMany(keys.data(), x.data(), 2000, sb.data()));
    CHECK(sa == sb);
    auto c = MakeTable(kind, p, 100);
    const auto small = MakeTable(kind, p, 3)->Serialize();
    CHECK_OK(c->Deserialize(small.data(), small.size()));
    CheckCorruptRefused(*c, a->Serialize());
    // A single detector's blob is not a table's.
    auto single = Make(kind, p);
    const auto sblob = single->Serialize();
    CHECK_CODE(c->Deserialize(sblob.data(), sblob.size()), Code::INVALID_ARG);
  }
}

// ---------------------------------------------------------------------------------------
// Straightforward references: the detectors as first written (node by node, merge by
// merge). The fast forms (flat trees with per-leaf path scores; the binary-searched MAD
// and one-shift window update; the prefetching table loop) must give the same doubles.

// Half-Space Trees walked node by node, each node with its own l_mass and r_mass, the
// trees read from a fresh detector's blob (detector_blob.h, HST body: params, counter,
// first-window flag, seen, then per node threshold, feature, l_mass, r_mass).
struct RefHst {
  struct Node {
    double threshold;
    uint32_t feature, l_mass, r_mass;
  };
  int trees, height, window, dims, npt;
  double size_limit, max_score;
  std::vector<Node> nodes;
  uint32_t counter = 0;
  bool first = true;

  explicit RefHst(const std::vector<uint8_t>& blob) {
    const uint8_t* p = blob.data() + 8;
    auto get = [&p](auto* v) {
      std::memcpy(v, p, sizeof(*v));
      p += sizeof(*v);
    };
    uint64_t seed, seen;
    uint8_t first_flag;
    get(&trees);
    get(&height);
    get(&window);
    get(&dims);
    get(&seed);
    p += 2 * size_t(dims) * sizeof(double);
    get(&counter);
    get(&first_flag);
    get(&seen);
    first = first_flag == 1;
    npt = (1 << (height + 1)) - 1;
    size_limit = 0.1 * window;
    max_score = double(trees) * window * npt;
    nodes.resize(size_t(trees) * size_t(npt));
    for (Node& nd : nodes) {
      get(&nd.threshold);
      get(&nd.feature);
      get(&nd.l_mass);
      get(&nd.r_mass);
    }
  }
  double ScoreLearn(const double* x) {
    double s = 0;
    for (int t = 0; t < trees; t++) {
      Node* base = &nodes[size_t(t) * size_t(npt)];
      bool on = !first;
      double w = 1;
      size_t i = 0;
      for (int depth = 0;; depth++, w += w) {
        Node& nd = base[i];
        if (on) {
          s += nd.r_mass * w;
          on = nd.r_mass >= size_limit;
        }
        nd.l_mass++;
        if (depth == height) break;
        i = 2 * i + 1 + (x[nd.feature] >= nd.threshold ? 1 : 0);
      }
    }
    const double score = first ? 0.0 : 1.0 - s / max_score;
    if (++counter == uint32_t(window)) {
      for (Node& nd : nodes) {
        nd.r_mass = nd.l_mass;
        nd.l_mass = 0;
      }
      first = false;
      counter = 0;
    }
    return score;
  }
  double Score(const double* x) const {
    if (first) return 0.0;
    double s = 0;
    for (int t = 0; t < trees; t++) {
      const Node* base = &nodes[size_t(t) * size_t(npt)];
      double w = 1;
      size_t i = 0;
      for (int depth = 0;; depth++, w += w) {
        const Node& nd = base[i];
        s += nd.r_mass * w;
        if (nd.r_mass < size_limit || depth == height) break;
        i = 2 * i + 1 + (x[nd.feature] >= nd.threshold ? 1 : 0);
      }
    }
    return 1.0 - s / max_score;
  }
};

void TestHstMatchesNodeByNodeReference() {
  struct Case {
    int trees, height, window, dims;
    std::vector<double> lo, hi;
    size_t points;
  };
  const std::vector<Case> cases = {
      {10, 8, 250, 1, {}, {}, 100000},          // River's defaults
      {10, 8, 250, 2, {}, {}, 100000},
      {7, 5, 50, 3, {0, -1, 10}, {1, 1, 20}, 30000},
      {5, 3, 3, 1, {}, {}, 3000},               // the docstring example's shape
      {3, 12, 1000, 4, {}, {}, 20000},
  };
  for (const Case& k : cases) {
    AnomalyParams p;
    p.hst.n_trees = k.trees;
    p.hst.height = k.height;
    p.hst.window_size = k.window;
    p.hst.dims = k.dims;
    p.hst.lo = k.lo;
    p.hst.hi = k.hi;
    auto d = Make(DetectorKind::HST, p);
    RefHst ref(d->Serialize());
    const size_t dims = size_t(k.dims);
    std::mt19937_64 rng(uint64_t(k.window) * 31 + dims);
    std::vector<double> xs(k.points * dims);
    for (size_t i = 0; i < k.points; i++) {
      // A drifting centre, so the masses move between leaves; some points off the limits.
      const double centre = 0.5 + 0.3 * std::sin(double(i) / 5000);
      for (size_t f = 0; f < dims; f++) {
        const double lo = k.lo.empty() ? 0 : k.lo[f], hi = k.hi.empty() ? 1 : k.hi[f];
        double u = std::normal_distribution<double>(centre, 0.15)(rng);
        if (rng() % 500 == 0) u = 1.5;
        xs[i * dims + f] = lo + (hi - lo) * u;
      }
    }
    std::vector<double> got(k.points);
    int bad = 0;
    for (size_t i = 0; i < k.points;) {
      const size_t n = std::min(k.points - i, size_t(1 + rng() % 700));
      CHECK_OK(d->ScoreLearnMany(&xs[i * dims], n, &got[i]));
      for (size_t j = i; j < i + n; j++) {
        const double want = ref.ScoreLearn(&xs[j * dims]);
        if (got[j] != want && bad++ < 3) std::printf("   hst point %zu: got %.17g want %.17g\n", j, got[j], want);
      }
      i += n;
      double peek;
      CHECK_OK(d->Score(&xs[(i - 1) * dims], &peek));
      CHECK_EQ(peek, ref.Score(&xs[(i - 1) * dims]));
    }
    CHECK_EQ(bad, 0);
    // The blob holds every node's masses as the reference counted them.
    RefHst after(d->Serialize());
    CHECK_EQ(after.counter, ref.counter);
    CHECK_EQ(after.first, ref.first);
    size_t mismatched = 0;
    for (size_t i = 0; i < ref.nodes.size(); i++)
      mismatched += after.nodes[i].l_mass != ref.nodes[i].l_mass || after.nodes[i].r_mass != ref.nodes[i].r_mass ||
                    after.nodes[i].threshold != ref.nodes[i].threshold || after.nodes[i].feature != ref.nodes[i].feature;
    CHECK_EQ(mismatched, 0);
  }
}

// The robust z-score over a ring and a sorted copy, erased and inserted with
// std::lower_bound / std::upper_bound, the MAD by merging the deviations outwards.
struct RefRobustZ {
  size_t window, min_count;
  std::vector<double> ring, sorted;
  size_t head = 0;
  RefRobustZ(size_t w, size_t m) : window(w), min_count(m) {}
  double Score(double x) const {
    const size_t c = sorted.size();
    if (c < min_count) return 0;
    const double* v = sorted.data();
    const double m = c % 2 ? v[c / 2] : 0.5 * (v[c / 2 - 1] + v[c / 2]);
    ptrdiff_t l = std::lower_bound(v, v + c, m) - v - 1;
    size_t r = size_t(l + 1);
    double d1 = 0, d = 0;
    for (size_t k = 0; k <= c / 2; k++) {
      const double dl = l >= 0 ? m - v[l] : kInf, dr = r < c ? v[r] - m : kInf;
      if (dl <= dr) {
        d = dl;
        l--;
      } else {
        d = dr;
        r++;
      }
      if (k == (c - 1) / 2) d1 = d;
    }
    double scale = 1.4826 * (0.5 * (d1 + d));
    if (scale == 0) {
      double sum = 0;
      for (double y : sorted) sum += std::fabs(y - m);
      scale = 1.2533141 * (sum / double(c));
    }
    const double dev = std::fabs(x - m);
    return scale > 0 ? dev / scale : dev == 0 ? 0.0 : kInf;
  }
  void Learn(double x) {
    if (ring.size() < window) {
      ring.push_back(x);
    } else {
      sorted.erase(std::lower_bound(sorted.begin(), sorted.end(), ring[head]));
      ring[head] = x;
    }
    head = head + 1 == window ? 0 : head + 1;
    sorted.insert(std::upper_bound(sorted.begin(), sorted.end(), x), x);
  }
};

// Values with many ties, signed zeros, runs of one value (MAD 0), spikes.
double TiedValue(std::mt19937_64& rng, size_t i) {
  const uint64_t r = rng();
  if ((i / 300) % 7 == 3) return r % 2 ? 0.0 : -0.0;
  if (r % 50 == 0) return 1e6;
  if (r % 3 == 0) return std::round(std::normal_distribution<double>(0, 3)(rng));
  return std::normal_distribution<double>(0, 3)(rng);
}

void TestRobustZMatchesMergeReference() {
  for (int window : {1, 2, 3, 8, 63, 64, 256}) {
    AnomalyParams p;
    p.robust_z.window = window;
    p.robust_z.min_count = std::min(window, 4);
    auto d = Make(DetectorKind::ROBUST_Z, p);
    RefRobustZ ref(size_t(window), size_t(p.robust_z.min_count));
    std::mt19937_64 rng(uint64_t(window) + 100);
    const size_t n = window >= 64 ? 100000 : 20000;
    std::vector<double> xs(n), got(n);
    for (size_t i = 0; i < n; i++) xs[i] = TiedValue(rng, i);
    CHECK_OK(d->ScoreLearnMany(xs.data(), n, got.data()));
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
      const double want = ref.Score(xs[i]);
      if (std::memcmp(&got[i], &want, sizeof(double)) != 0 && bad++ < 3)
        std::printf("   window %d item %zu: got %.17g want %.17g\n", window, i, got[i], want);
      ref.Learn(xs[i]);
    }
    CHECK_EQ(bad, 0);
    // The sorted copy in the blob is the reference's, bit for bit (a -0 beside a +0 too).
    const auto blob = d->Serialize();
    const uint8_t* sorted = blob.data() + 8 + 1 + 4 + 4 + 8 + (2 + size_t(window)) * sizeof(double);
    CHECK(std::memcmp(sorted, ref.sorted.data(), ref.sorted.size() * sizeof(double)) == 0);
  }
}

// The table's batch loop against one reference per key: 1000 entities and window 64 as
// the server's per-user taps run, batches of 1000; then a table too small for the keys
// (refusals, new keys repeated within the loop's look-ahead).
void TestTableMatchesRobustZReference() {
  struct Case {
    int64_t max_entities;
    uint64_t keys;
    size_t points;
  };
  for (const Case& k : {Case{1000, 1000, 100000}, Case{50, 80, 20000}, Case{8, 3, 5000}}) {
    AnomalyParams p;
    p.robust_z.window = 64;
    p.robust_z.min_count = 16;
    auto t = MakeTable(DetectorKind::ROBUST_Z, p, k.max_entities);
    std::vector<RefRobustZ> ref(k.keys, RefRobustZ(64, 16));
    std::vector<bool> admitted(k.keys, false);
    int64_t live = 0;
    std::mt19937_64 rng(k.keys);
    int bad = 0;
    uint64_t refused_total = 0, want_refused = 0;
    for (size_t done = 0; done < k.points;) {
      const size_t n = std::min(k.points - done, size_t(1000));
      std::vector<uint64_t> keys(n);
      std::vector<size_t> who(n);
      std::vector<double> x(n), got(n);
      for (size_t i = 0; i < n; i++) {
        who[i] = rng() % 4 == 0 && i > 0 ? who[i - 1 - rng() % std::min<size_t>(i, 6)] : size_t(rng() % k.keys);
        keys[i] = Key(who[i]);
        x[i] = TiedValue(rng, done + i) + double(who[i] % 10);
      }
      uint64_t refused = 0;
      CHECK_OK(t->ScoreLearnMany(keys.data(), x.data(), n, got.data(), &refused));
      refused_total += refused;
      for (size_t i = 0; i < n; i++) {
        if (!admitted[who[i]] && live < k.max_entities) {
          admitted[who[i]] = true;
          live++;
        }
        if (!admitted[who[i]]) {
          want_refused++;
          if (!std::isnan(got[i])) bad++;
          continue;
        }
        const double want = ref[who[i]].Score(x[i]);
        ref[who[i]].Learn(x[i]);
        if (std::memcmp(&got[i], &want, sizeof(double)) != 0 && bad++ < 3)
          std::printf("   key %zu point %zu: got %.17g want %.17g\n", who[i], done + i, got[i], want);
      }
      done += n;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(refused_total, want_refused);
    CHECK_EQ(t->stats().live, uint64_t(live));
  }
}

void TestParamsRefused() {
  AnomalyParams p;
  std::unique_ptr<AnomalyDetector> d;
  p.hst.dims = 2;
  p.hst.lo = {0};
  p.hst.hi = {1};
  CHECK_CODE(AnomalyDetector::Create(DetectorKind::HST, p, &d), Code::INVALID_ARG);
  p.hst.lo = {0, 1};
  p.hst.hi = {1, 1};
  CHECK_CODE(AnomalyDetector::Create(DetectorKind::HST, p, &d), Code::INVALID_ARG);
  p = AnomalyParams();
  p.hst.height = 40;
  CHECK_CODE(AnomalyDetector::Create(DetectorKind::HST, p, &d), Code::INVALID_ARG);
  p = AnomalyParams();
  p.robust_z.min_count = 300;
  CHECK_CODE(AnomalyDetector::Create(DetectorKind::ROBUST_Z, p, &d), Code::INVALID_ARG);
  p = AnomalyParams();
  p.ew.alpha = 0;
  CHECK_CODE(AnomalyDetector::Create(DetectorKind::EW, p, &d), Code::INVALID_ARG);
  p = AnomalyParams();
  p.likelihood.averaging = 0;
  CHECK_CODE(AnomalyDetector::Create(DetectorKind::LIKELIHOOD, p, &d), Code::INVALID_ARG);
  p = AnomalyParams();
  p.likelihood.reestimation = 0;
  CHECK_CODE(AnomalyDetector::Create(DetectorKind::LIKELIHOOD, p, &d), Code::INVALID_ARG);
  CHECK_CODE(AnomalyDetector::Create(DetectorKind::ADWIN, AnomalyParams(), &d), Code::INVALID_ARG);
  AdwinParams a;
  a.delta = 0;
  CHECK_CODE(a.Validate(), Code::INVALID_ARG);
  PageHinkleyParams ph;
  ph.threshold = -1;
  CHECK_CODE(ph.Validate(), Code::INVALID_ARG);
}

}  // namespace

void RunDetectorsTests() {
  RUN(TestAdwinFindsMeanShift);
  RUN(TestAdwinQuietOnStationaryStream);
  RUN(TestAdwinReset);
  RUN(TestPageHinkleyFindsShiftUpAndDown);
  RUN(TestPageHinkleyQuietOnStationaryStream);
  RUN(TestDriftNonFiniteRefused);
  RUN(TestDriftSerializeRoundTrip);
  RUN(TestDriftCorruptBlobRefused);
  RUN(TestHstScoresOutlierHigher);
  RUN(TestHstMatchesRiverExample);
  RUN(TestRobustZMatchesBruteForce);
  RUN(TestEwMatchesFormula);
  RUN(TestLikelihoodBasics);
  RUN(TestAnomalyNonFiniteRefused);
  RUN(TestAnomalySerializeRoundTrip);
  RUN(TestAnomalyCorruptBlobRefused);
  RUN(TestTableMatchesOneDetectorPerKey);
  RUN(TestTableRefusesWhenFull);
  RUN(TestTableSerializeRoundTrip);
  RUN(TestHstMatchesNodeByNodeReference);
  RUN(TestRobustZMatchesMergeReference);
  RUN(TestTableMatchesRobustZReference);
  RUN(TestParamsRefused);
}
