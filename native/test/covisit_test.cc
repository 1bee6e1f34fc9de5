// Tests of the co-visitation table (covisit.h): pair and popularity weights against a
// brute-force model of decayed counts on random streams (also across rescales of the time
// base), Space-Saving's bound when neighbours are evicted, recommend's ranking, filters
// and popular fill against a sort of the model's scores, the item and user capacities,
// and serialization: a restored table answers and continues exactly like the original; a
// damaged blob or one of other params is refused with nothing changed. Run by core_test.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "../core/covisit.h"
#include "test_util.h"

using namespace hptest;

namespace {

struct Event {
  uint64_t user;
  double item;
  double cat;
  double t;
};

// Exact decayed counts in doubles with no capacity limit: each weight is kept as its
// value at its last update (value, time), decayed forward when it changes or is read.
struct Decayed {
  double w = 0, t = 0;
  void Add(double at, double h) {
    w = w * std::exp2(-(at - t) / h) + 1;
    t = at;
  }
  double At(double now, double h) const { return w * std::exp2(-(now - t) / h); }
};

struct Model {
  double half_life, window;
  bool symmetric = true;
  std::map<std::pair<double, double>, Decayed> pair;
  std::map<double, Decayed> pop;
  std::map<uint64_t, std::vector<double>> recent;  // most recent first
  std::map<double, double> cat;
  Model(double h, double w) : half_life(h), window(w) {}
  void Add(const Event& e) {
    pop[e.item].Add(e.t, half_life);
    if (!std::isnan(e.cat)) cat[e.item] = e.cat;
    auto& r = recent[e.user];
    if (!r.empty() && r[0] == e.item) return;
    std::set<double> seen;
    for (double j : r) {
      if (j == e.item || !seen.insert(j).second) continue;
      pair[{j, e.item}].Add(e.t, half_life);
      if (symmetric) pair[{e.item, j}].Add(e.t, half_life);
    }
    r.insert(r.begin(), e.item);
    if (r.size() > size_t(window)) r.pop_back();
  }
  double Pair(double a, double b, double now) const {
    auto it = pair.find({a, b});
    return it == pair.end() ? 0 : it->second.At(now, half_life);
  }
  double Pop(double a, double now) const {
    auto it = pop.find(a);
    return it == pop.end() ? 0 : it->second.At(now, half_life);
  }
};

std::vector<Event> RandomStream(uint64_t seed, size_t n, int users, int items, double dt) {
  std::mt19937_64 rng(seed);
  std::vector<Event> ev;
  double t = 0;
  for (size_t i = 0; i < n; i++) {
    t += dt * double(rng() % 1000) / 1000.0;
    const double item = double(rng() % uint64_t(items)) * 7 - 50;  // negative ids too
    ev.push_back({1000 + rng() % uint64_t(users), item, double(int64_t(item) % 3), t});
  }
  return ev;
}

void Feed(Covisit& c, const std::vector<Event>& ev, size_t from, size_t to) {
  std::vector<uint64_t> u;
  std::vector<double> it, ca, ts;
  for (size_t i = from; i < to; i++) {
    u.push_back(ev[i].user);
    it.push_back(ev[i].item);
    ca.push_back(ev[i].cat);
    ts.push_back(ev[i].t);
  }
  CHECK(c.Update(u.data(), it.data(), ca.data(), ts.data(), u.size()).ok());
}

std::unique_ptr<Covisit> Make(CovisitParams p) {
  std::unique_ptr<Covisit> c;
  CHECK(Covisit::Create(p, &c).ok());
  return c;
}

void TestPairsAndDecay() {
  CovisitParams p;
  p.half_life_ms = 1000;
  p.window = 2;
  auto c = Make(p);
  const uint64_t u[] = {7, 7, 7, 7};
  const double it[] = {1, 2, 3, 3};
  const double ts[] = {0, 0, 0, 0};
  CHECK(c->Update(u, it, nullptr, ts, 4).ok());
  CHECK_NEAR(c->PairWeight(1, 2, 0), 1, 1e-6);
  CHECK_NEAR(c->PairWeight(2, 1, 0), 1, 1e-6);
  CHECK_NEAR(c->PairWeight(2, 3, 0), 1, 1e-6);
  CHECK_NEAR(c->PairWeight(1, 3, 0), 1, 1e-6);  // window 2: 3 pairs with 2 and 1
  CHECK_NEAR(c->PairWeight(3, 3, 0), 0, 0);      // a repeat makes no pair
  CHECK_NEAR(c->Popularity(3, 0), 2, 1e-6);
  CHECK_NEAR(c->PairWeight(1, 2, 1000), 0.5, 1e-6);  // one half-life later
  CHECK_NEAR(c->Popularity(3, 3000), 0.25, 1e-6);
  // A fourth item: window 2 pairs it with 3 and 2, no longer with 1.
  const uint64_t u2[] = {7};
  const double it2[] = {4}, ts2[] = {1000};
  CHECK(c->Update(u2, it2, nullptr, ts2, 1).ok());
  CHECK_NEAR(c->PairWeight(3, 4, 1000), 1, 1e-6);
  CHECK_NEAR(c->PairWeight(2, 4, 1000), 1, 1e-6);
  CHECK_NEAR(c->PairWeight(1, 4, 1000), 0, 0);
  double ring[16];
  CHECK_EQ(c->UserItems(7, ring), 2);
  CHECK_EQ(ring[0], 4.0);
  CHECK_EQ(ring[1], 3.0);
  // Bad input refuses the batch before anything changes.
  const double bad[] = {1.5};
  CHECK(!c->Update(u2, bad, nullptr, ts2, 1).ok());
  const double nan_t[] = {std::nan("")};
  CHECK(!c->Update(u2, it2, nullptr, nan_t, 1).ok());
  CHECK_EQ(c->stats().updates, uint64_t(5));
}

void TestAgainstModel(double dt, const char* what) {
  CovisitParams p;
  p.half_life_ms = 500;
  p.window = 4;
  p.neighbours = 256;  // more than any item's distinct neighbours: nothing is evicted
  p.max_items = 1000;
  auto c = Make(p);
  Model m{p.half_life_ms, double(p.window)};
  const auto ev = RandomStream(11, 20000, 50, 60, dt);
  Feed(*c, ev, 0, ev.size());
  for (const auto& e : ev) m.Add(e);
  const double now = ev.back().t;
  int checked = 0, bad = 0;
  for (const auto& [k, w] : m.pair) {
    const double want = m.Pair(k.first, k.second, now);
    const double got = c->PairWeight(k.first, k.second, now);
    checked++;
    if (!NearRel(got, want, 2e-4) && !(want < 1e-30 && got < 1e-30)) bad++;
  }
  CHECK(checked > 1000);
  CHECK_EQ(bad, 0);
  for (const auto& [item, w] : m.pop) {
    const double want = m.Pop(item, now), got = c->Popularity(item, now);
    CHECK(NearRel(got, want, 2e-4) || (want < 1e-30 && got < 1e-30));
  }
  if (dt > 100) CHECK(c->stats().rescales > 0);
  std::printf("  covisit vs model (%s): %d pairs, %llu rescales\n", what, checked, (unsigned long long)c->stats().rescales);
}

void TestSpaceSaving() {
  CovisitParams p;
  p.neighbours = 4;
  p.window = 1;
  p.half_life_ms = 1e12;  // no decay to speak of
  auto c = Make(p);
  Model m{p.half_life_ms, 1};
  std::mt19937_64 rng(5);
  std::vector<Event> ev;
  // user 1 alternates item 0 with others: 0 -> 100 often, 0 -> rare items seldom.
  for (int i = 0; i < 4000; i++) {
    ev.push_back({1, 0, std::nan(""), double(i)});
    const double next = (rng() % 3 == 0) ? 100 : double(200 + rng() % 50);
    ev.push_back({1, next, std::nan(""), double(i)});
  }
  Feed(*c, ev, 0, ev.size());
  for (const auto& e : ev) m.Add(e);
  // The heavy neighbour is kept with a weight at least its true count.
  CHECK(c->PairWeight(0, 100, 0) >= m.Pair(0, 100, 0) * (1 - 1e-6));
  // Every kept weight is at least its true count (Space-Saving never under-counts).
  int kept = 0;
  for (int b = 200; b < 250; b++) {
    const double w = c->PairWeight(0, b, 0);
    if (w > 0) {
      kept++;
      CHECK(w >= m.Pair(0, b, 0) * (1 - 1e-6));
    }
  }
  CHECK(kept <= 3);
}

void TestRecommend() {
  CovisitParams p;
  p.half_life_ms = 1e9;
  p.window = 3;
  p.neighbours = 128;  // more than the 80 items: nothing is evicted
  auto c = Make(p);
  Model m{p.half_life_ms, 3};
  const auto ev = RandomStream(21, 5000, 40, 80, 1);
  Feed(*c, ev, 0, ev.size());
  for (const auto& e : ev) m.Add(e);
  const double now = ev.back().t;
  double items[50], scores[50];
  uint8_t source[50];
  CovisitResult r{items, scores, source};
  // History most recent first, recency 0.5: model scores.
  const double hist[] = {ev[10].item, ev[20].item, ev[30].item};
  CovisitQuery q;
  q.history = hist;
  q.n_history = 3;
  q.exclude = hist;
  q.n_exclude = 3;
  q.k = 10;
  q.now_ms = now;
  q.recency = 0.5;
  CHECK(c->Recommend(q, &r).ok());
  std::map<double, double> want;
  for (int h = 0; h < 3; h++)
    for (const auto& [k, w] : m.pair)
      if (k.first == hist[h]) want[k.second] += w.At(now, p.half_life_ms) * std::pow(0.5, h);
  for (double x : hist) want.erase(x);
  std::vector<std::pair<double, double>> sorted(want.begin(), want.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second > b.second; });
  CHECK(r.from_covisit == std::min<int>(10, int(sorted.size())));
  for (int i = 0; i < r.from_covisit; i++) {
    CHECK_EQ(int(source[i]), kCovisitSourceCovisit);
    CHECK(NearRel(scores[i], want[items[i]], 1e-4));
    CHECK(NearRel(scores[i], sorted[size_t(i)].second, 1e-4));  // same order as the model (ties aside)
    for (double x : hist) CHECK(items[i] != x);
  }
  // Category filter: only items last seen with that category.
  q.category = 1;
  CHECK(c->Recommend(q, &r).ok());
  CHECK(r.count == 10);
  for (int i = 0; i < r.count; i++) CHECK_EQ(m.cat[items[i]], 1.0);
  // A cold user (no history): the most popular items, by decayed count.
  q.category = std::nan("");
  q.n_history = 0;
  q.n_exclude = 0;
  CHECK(c->Recommend(q, &r).ok());
  CHECK_EQ(r.from_covisit, 0);
  CHECK_EQ(r.count, 10);
  std::vector<std::pair<double, double>> pops;
  for (const auto& [item, w] : m.pop) pops.push_back({item, w.At(now, p.half_life_ms)});
  std::sort(pops.begin(), pops.end(), [](auto& a, auto& b) { return a.second > b.second; });
  for (int i = 0; i < 10; i++) {
    CHECK_EQ(int(source[i]), kCovisitSourcePopular);
    CHECK(NearRel(scores[i], pops[size_t(i)].second, 1e-4));
  }
  // Popular fill after the co-visitation candidates, never repeating one, never excluded.
  q.history = hist;
  q.n_history = 1;
  q.exclude = hist;
  q.n_exclude = 3;
  q.k = 50;
  CHECK(c->Recommend(q, &r).ok());
  CHECK_EQ(r.count, 50);
  std::set<double> out(items, items + r.count);
  CHECK_EQ(out.size(), size_t(50));
  for (double x : hist) CHECK(!out.count(x));
  for (int i = r.from_covisit; i < r.count; i++) CHECK_EQ(int(source[i]), kCovisitSourcePopular);
  // No fill: only candidates.
  q.popular_fill = false;
  CHECK(c->Recommend(q, &r).ok());
  CHECK_EQ(r.count, r.from_covisit);
  // Bad queries.
  q.k = 0;
  CHECK(!c->Recommend(q, &r).ok());
  q.k = kCovisitMaxK + 1;
  CHECK(!c->Recommend(q, &r).ok());
}

void TestCapacities() {
  CovisitParams p;
  p.max_items = 10;
  p.max_users = 4;
  auto c = Make(p);
  std::vector<Event> ev;
  for (int i = 0; i < 30; i++) ev.push_back({uint64_t(1 + i % 9), double(i), std::nan(""), double(i)});
  Feed(*c, ev, 0, ev.size());
  const auto st = c->stats();
  CHECK_EQ(st.items, uint64_t(10));
  CHECK_EQ(st.refused, uint64_t(20));
  CHECK_EQ(st.updates, uint64_t(10));
  CHECK(st.users <= 4);
  CHECK(st.evicted_users > 0);
  CovisitParams bad;
  bad.neighbours = 0;
  std::unique_ptr<Covisit> none;
  CHECK(!Covisit::Create(bad, &none).ok());
  bad = CovisitParams{};
  bad.half_life_ms = 0;
  CHECK(!Covisit::Create(bad, &none).ok());
}

void TestSerialize() {
  CovisitParams p;
  p.half_life_ms = 300;
  p.window = 3;
  p.neighbours = 8;
  p.max_items = 500;
  p.max_users = 64;
  auto a = Make(p);
  const auto ev = RandomStream(31, 30000, 100, 400, 5);  // evictions, rescales
  Feed(*a, ev, 0, 15000);
  const std::vector<uint8_t> blob = a->Serialize();
  auto b = Make(p);
  CHECK(b->Deserialize(blob.data(), blob.size()).ok());
  CHECK(b->Serialize() == blob);
  // The snapshot, then the rest of the stream ("replay"): the same table as without.
  Feed(*a, ev, 15000, ev.size());
  Feed(*b, ev, 15000, ev.size());
  CHECK(a->Serialize() == b->Serialize());
  CHECK(a->stats().rescales > 0);
  double ia[20], sa[20], ib[20], sb[20];
  uint8_t ca[20], cb[20];
  CovisitResult ra{ia, sa, ca}, rb{ib, sb, cb};
  CovisitQuery q;
  const double hist[] = {ev.back().item};
  q.history = hist;
  q.n_history = 1;
  q.now_ms = ev.back().t;
  CHECK(a->Recommend(q, &ra).ok() && b->Recommend(q, &rb).ok());
  CHECK_EQ(ra.count, rb.count);
  for (int i = 0; i < ra.count; i++) CHECK(ia[i] == ib[i] && sa[i] == sb[i]);
  // Damaged blobs and other params are refused, and nothing changes.
  const std::vector<uint8_t> before = b->Serialize();
  std::vector<uint8_t> bad = blob;
  bad[bad.size() / 2] ^= 1;
  CHECK(!b->Deserialize(bad.data(), bad.size()).ok());
  CHECK(!b->Deserialize(blob.data(), blob.size() - 9).ok());
  CHECK(!b->Deserialize(nullptr, 0).ok());
  CovisitParams other = p;
  other.neighbours = 9;
  auto o = Make(other);
  CHECK(!o->Deserialize(blob.data(), blob.size()).ok());
  CHECK(b->Serialize() == before);
  // Clear forgets everything.
  b->Clear();
  CHECK_EQ(b->stats().items, uint64_t(0));
  CHECK(b->Recommend(q, &rb).ok());
  CHECK_EQ(rb.count, 0);
}

}  // namespace

void RunCovisitTests() {
  TestPairsAndDecay();
  TestAgainstModel(1, "dense times");
  TestAgainstModel(400, "rescaled time base");
  TestSpaceSaving();
  TestRecommend();
  TestCapacities();
  TestSerialize();
}
