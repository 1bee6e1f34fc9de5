// Tests of the C++ core (feature store and inference kernels), without Node and without a
// test framework. Built and run by scripts/test-native.sh (also under ASan/UBSan).
// Prints every failing check with file:line, then one line "N passed, M failed"; exits
// non-zero when anything failed. The CUDA test skips itself where there is no GPU.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "../core/cuda_backend.h"
#include "../core/event_rows.h"
#include "../core/feature_store.h"
#include "../core/hash.h"
#include "../core/kernels.h"
#include "../core/model.h"
#include "test_util.h"

using namespace hptest;

void RunStorePartsTests();  // store_parts_test.cc
void RunRowTransferTests();  // row_transfer_test.cc
void RunCompactStoreTests();  // compact_store_test.cc
void RunDurabilityTests();  // durability_test.cc
void RunDetectorsTests();   // detectors_test.cc
void RunLearnerTests();     // learner_test.cc
void RunCovisitTests();     // covisit_test.cc
void RunEmbeddingTests();   // embedding_test.cc
void RunInt8Tests();        // int8_test.cc
void RunCudaDenseTests();   // cuda_dense_test.cc

namespace {

// ---------------------------------------------------------------------------------------
// Store creation and spec validation

void TestCreateWithEveryAggregate() {
  const StoreSpec spec = OneTable(
      {
          Feature("count", Agg::COUNT, -1, 5000, 1000),
          Feature("sum", Agg::SUM, 0, 5000, 1000),
          Feature("mean", Agg::MEAN, 0, 5000, 1000),
          Feature("min", Agg::MIN, 0, 5000, 1000),
          Feature("max", Agg::MAX, 0, 5000, 1000),
          Feature("stddev", Agg::STDDEV, 0, 5000, 1000),
          Feature("last", Agg::LAST, 0),
          Feature("distinct", Agg::DISTINCT, 1, 5000, 1000, 10),
          Feature("last_n", Agg::LAST_N, 0, 0, 0, 3),
          Feature("ewm", Agg::EWM, 0, 0, 0, 1000),
      },
      2, /*lateness*/ 10000);
  auto st = MakeStore(spec);
  CHECK_EQ(st->table_count(), 1);
  const Table& t = st->table(0);
  CHECK_EQ(t.width(), 12);
  for (int f = 0; f < 8; f++) {
    CHECK_EQ(t.feature_offset(f), f);
    CHECK_EQ(t.feature_width(f), 1);
  }
  CHECK_EQ(t.feature_offset(8), 8);
  CHECK_EQ(t.feature_width(8), 3);
  CHECK_EQ(t.feature_offset(9), 11);
  CHECK_EQ(t.feature_width(9), 1);

  // An absent entity reads the empty state.
  const uint64_t k = Key(1);
  ReadOut r = Read(t, k, 2500);
  CHECK(!r.found);
  CHECK_NAN(r.age);
  CHECK_EQ(r[0], 0);  // count
  CHECK_EQ(r[1], 0);  // sum
  CHECK_NAN(r[2]);    // mean
  CHECK_NAN(r[3]);    // min
  CHECK_NAN(r[4]);    // max
  CHECK_NAN(r[5]);    // stddev
  CHECK_NAN(r[6]);    // last
  CHECK_EQ(r[7], 0);  // distinct
  CHECK_NAN(r[8]);
  CHECK_NAN(r[9]);
  CHECK_NAN(r[10]);
  CHECK_NAN(r[11]);  // ewm

  Batch b(2);
  b.Add(k, 1000, {1, 7}).Add(k, 2000, {3, 7}).Add(k, 1500, {2, 8});
  IngestResult res;
  CHECK_OK(b.Ingest(*st, 2500, &res));
  CHECK_EQ(res.accepted, 3);
  CHECK_EQ(res.late, 0);
  r = Read(t, k, 2500);
  CHECK(r.found);
  CHECK_EQ(r.age, 500);
  CHECK_EQ(r[0], 3);
  CHECK_NEAR(r[1], 6, 1e-12);
  CHECK_NEAR(r[2], 2, 1e-12);
  CHECK_EQ(r[3], 1);
  CHECK_EQ(r[4], 3);
  CHECK_NEAR(r[5], std::sqrt(2.0 / 3.0), 1e-12);
  CHECK_EQ(r[6], 3);  // newest event time 2000
  CHECK_EQ(r[7], 2);  // field 1 takes values {7, 8}
  CHECK_EQ(r[8], 3);  // last_n, newest first
  CHECK_EQ(r[9], 2);
  CHECK_EQ(r[10], 1);
  const double w1 = std::exp2((1000 - 2000) / 1000.0), w2 = 1, w3 = std::exp2((1500 - 2000) / 1000.0);
  CHECK(NearRel(r[11], (1 * w1 + 3 * w2 + 2 * w3) / (w1 + w2 + w3), 1e-12));

  const TableStats s = t.Stats();
  CHECK_EQ(s.live, 1);
  CHECK_EQ(s.updates, 3);
  CHECK_EQ(s.watermark_ms, 2000);
  CHECK(s.capacity > 0);
  CHECK(s.row_bytes > 0);
  CHECK(s.bytes_per_entity >= s.mem_row_bytes);  // a row in memory (compact, row_layout.h) + its index share
}

Status CreateStatus(const StoreSpec& spec) {
  std::shared_ptr<Store> st;
  return Store::Create(spec, &st);
}

void TestSpecValidationFailures() {
  auto base = [] {
    return OneTable({Feature("c", Agg::COUNT, -1, 5000, 1000), Feature("s", Agg::SUM, 1, 5000, 1000),
                     Feature("ln", Agg::LAST_N, 0, 0, 0, 4)},
                    2);
  };
  CHECK_OK(CreateStatus(base()));

  StoreSpec s = base();
  s.tables[0].features[1].field = 2;  // stream has fields 0..1
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);
  s = base();
  s.tables[0].features[1].field = -1;  // sum needs a field
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);
  s = base();
  s.tables[0].features[0].field = 0;  // count takes none
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);

  s = base();
  s.tables[0].features[0].window_ms = 5500;  // not a multiple of the 1000 ms tile
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);
  s = base();
  s.tables[0].features[0].tile_ms = 0;
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);
  s = base();
  s.tables[0].features[0].window_ms = 500;  // shorter than a tile
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);

  s = base();
  s.tables[0].features[2].param = 0;  // last_n with n = 0
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);

  s = base();
  s.tables[0].memory_bytes = 16;  // smaller than one row
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);

  s = base();
  s.streams[0].tables.clear();  // the features' stream has no key for the table
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);

  s = base();
  s.tables[0].features[0].stream = 1;  // no such stream
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);
  s = base();
  s.tables[0].ttl_ms = -1;
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);
  s = base();
  s.tables[0].features.push_back(Feature("d", Agg::DISTINCT, 0, 5000, 1000, 3));  // p < 4
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);
  s = base();
  s.tables[0].features.push_back(Feature("e", Agg::EWM, 0, 0, 0, 0));  // half-life 0
  CHECK_CODE(CreateStatus(s), Code::INVALID_ARG);
}

// ---------------------------------------------------------------------------------------
// Windows

struct Ev {
  double ts, x;
};

// Reference for a 5-tile window of 1000 ms tiles read at now: the events whose tile is
// one of floor(now/T)-4 .. floor(now/T) (callers keep every event at ts <= now).
struct WindowRef {
  double count = 0, sum = 0, mean = kNaN, min = kNaN, max = kNaN, stddev = kNaN;
};
WindowRef ReferenceWindow(const std::vector<Ev>& evs, double now) {
  const double cur = std::floor(now / 1000.0);
  std::vector<double> xs;
  for (const Ev& e : evs) {
    const double ep = std::floor(e.ts / 1000.0);
    if (ep >= cur - 4 && ep <= cur) xs.push_back(e.x);
  }
  WindowRef r;
  r.count = double(xs.size());
  if (xs.empty()) return r;
  long double s = 0;
  for (double x : xs) s += x;
  r.sum = double(s);
  r.mean = double(s / xs.size());
  r.min = *std::min_element(xs.begin(), xs.end());
  r.max = *std::max_element(xs.begin(), xs.end());
  long double m2 = 0;
  for (double x : xs) m2 += (x - (long double)r.mean) * (x - (long double)r.mean);
  r.stddev = double(std::sqrt(m2 / xs.size()));
  return r;
}

StoreSpec WindowSpec(int64_t lateness_ms) {
  return OneTable({Feature("count", Agg::COUNT, -1, 5000, 1000), Feature("sum", Agg::SUM, 0, 5000, 1000),
                   Feature("mean", Agg::MEAN, 0, 5000, 1000), Feature("min", Agg::MIN, 0, 5000, 1000),
                   Feature("max", Agg::MAX, 0, 5000, 1000), Feature("stddev", Agg::STDDEV, 0, 5000, 1000)},
                  1, lateness_ms);
}

void CheckWindow(const Table& t, uint64_t key, const std::vector<Ev>& evs, double now, int line) {
  const WindowRef want = ReferenceWindow(evs, now);
  const ReadOut r = Read(t, key, now);
  const std::string at = " at now=" + Num(now) + " (line " + std::to_string(line) + ")";
  Record(r[0] == want.count, __FILE__, __LINE__, "count " + Num(r[0]) + " want " + Num(want.count) + at);
  Record(Near(r[1], want.sum, 1e-9), __FILE__, __LINE__, "sum " + Num(r[1]) + " want " + Num(want.sum) + at);
  auto nan_or_near = [](double g, double w, double tol) {
    return std::isnan(w) ? std::isnan(g) : Near(g, w, tol);
  };
  Record(nan_or_near(r[2], want.mean, 1e-9), __FILE__, __LINE__, "mean " + Num(r[2]) + " want " + Num(want.mean) + at);
  Record(nan_or_near(r[3], want.min, 0), __FILE__, __LINE__, "min " + Num(r[3]) + " want " + Num(want.min) + at);
  Record(nan_or_near(r[4], want.max, 0), __FILE__, __LINE__, "max " + Num(r[4]) + " want " + Num(want.max) + at);
  Record(nan_or_near(r[5], want.stddev, 1e-9), __FILE__, __LINE__,
         "stddev " + Num(r[5]) + " want " + Num(want.stddev) + at);
}

void TestWindowAggregatesByHand() {
  auto st = MakeStore(WindowSpec(100000));
  const Table& t = st->table(0);
  const uint64_t k = Key(7);
  // now = 10500: tiles 6..10, i.e. ts in [6000, 10500].
  Batch b(1);
  b.Add(k, 5999, {100})  // one ms before the window: out
      .Add(k, 6000, {2})   // first ms of the window: in
      .Add(k, 6000, {4})
      .Add(k, 7500, {-1})
      .Add(k, 9999, {10})
      .Add(k, 10200, {3.5});
  CHECK_OK(b.Ingest(*st, 10500));
  const ReadOut r = Read(t, k, 10500);
  CHECK(r.found);
  CHECK_EQ(r.age, 300);
  CHECK_EQ(r[0], 5);
  CHECK_NEAR(r[1], 18.5, 1e-12);
  CHECK_NEAR(r[2], 3.7, 1e-12);
  CHECK_EQ(r[3], -1);
  CHECK_EQ(r[4], 10);
  CHECK_NEAR(r[5], 3.6, 1e-12);  // population stddev: sqrt(64.8 / 5)
}

void TestWindowBoundariesAndExpiry() {
  auto st = MakeStore(WindowSpec(100000));
  const Table& t = st->table(0);
  const uint64_t k = Key(8);
  const std::vector<Ev> evs = {{5999, 100}, {6000, 2}, {6000, 4}, {6999, 5}, {7500, -1},
                               {9999, 10},  {10000, 1}, {10200, 3.5}};
  Batch b(1);
  for (const Ev& e : evs) b.Add(k, e.ts, {e.x});
  CHECK_OK(b.Ingest(*st, 10200));

  // Boundary at now = 10500: the event at 6000 is in, the one at 5999 is out.
  {
    const ReadOut r = Read(t, k, 10500);
    CHECK_EQ(r[0], 7);
    CHECK_NEAR(r[1], 2 + 4 + 5 - 1 + 10 + 1 + 3.5, 1e-12);
    CHECK_EQ(r[4], 10);
  }
  // As now advances each tile leaves the window whole, at its end + 5 tiles.
  for (double now : {10200.0, 10500.0, 10999.0, 11000.0, 11999.0, 12000.0, 12499.0, 12999.0,
                     13000.0, 14000.0, 14999.0, 15000.0, 15200.0, 16000.0, 40000.0})
    CheckWindow(t, k, evs, now, __LINE__);
  // At 10999 the tile of 6000 is the oldest in the window; at 11000 it has left.
  CHECK_EQ(Read(t, k, 10999)[0], 7);
  CHECK_EQ(Read(t, k, 11000)[0], 4);
  CHECK_EQ(Read(t, k, 15199)[0], 0);
  CHECK_NAN(Read(t, k, 15199)[2]);
  CHECK_NAN(Read(t, k, 15199)[5]);
  CHECK(Read(t, k, 15199).found);  // the entity lives on with an empty window
}

void TestWindowExcludesLaterTiles() {
  auto st = MakeStore(WindowSpec(100000));
  const Table& t = st->table(0);
  const uint64_t k = Key(9);
  Batch b(1);
  b.Add(k, 9000, {1}).Add(k, 10400, {2}).Add(k, 11000, {40}).Add(k, 12500, {80});
  CHECK_OK(b.Ingest(*st, 12500));
  // Read at 10500: the events of later tiles (11000, 12500) are not in the window.
  const ReadOut r = Read(t, k, 10500);
  CHECK_EQ(r[0], 2);
  CHECK_NEAR(r[1], 3, 1e-12);
  CHECK_EQ(r[4], 2);
  CHECK_EQ(Read(t, k, 12500)[0], 4);
}

void TestWindowOutOfOrderIngestMatchesReference() {
  auto st = MakeStore(WindowSpec(1000000));
  const Table& t = st->table(0);
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> ts(0, 30000), val(-50, 50);
  std::vector<Ev> evs;
  for (int i = 0; i < 400; i++) evs.push_back({std::floor(ts(rng)), std::round(val(rng) * 8) / 8});
  // Key a gets the events in time order; key b those of tiles 21..29 in random order, so
  // some arrive after their tile has left the ring (and must be dropped, not misfiled).
  std::vector<Ev> sorted = evs;
  std::sort(sorted.begin(), sorted.end(), [](const Ev& a, const Ev& b) { return a.ts < b.ts; });
  Batch ba(1), bb(1);
  for (const Ev& e : sorted) ba.Add(Key(100), e.ts, {e.x});
  CHECK_OK(ba.Ingest(*st, 30000));
  std::vector<Ev> shuffled;
  for (const Ev& e : evs)
    if (e.ts >= 21000) shuffled.push_back(e);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  for (const Ev& e : shuffled) bb.Add(Key(101), e.ts, {e.x});
  CHECK_OK(bb.Ingest(*st, 30000));
  // Reads at or after the newest tile (29): the window is tiles cur-4..cur for both keys.
  for (double now = 29000; now < 36000; now += 250) {
    CheckWindow(t, Key(100), evs, now, __LINE__);
    CheckWindow(t, Key(101), shuffled, now, __LINE__);
  }
}

// ---------------------------------------------------------------------------------------
// Lateness and validation

void TestLateEvents() {
  StoreSpec spec = OneTable({Feature("c5", Agg::COUNT, -1, 5000, 1000), Feature("c1", Agg::COUNT, -1, 1000, 1000),
                             Feature("sum", Agg::SUM, 0, 5000, 1000)},
                            1, /*lateness*/ 1000);
  auto st = MakeStore(spec);
  const Table& t = st->table(0);
  const uint64_t k = Key(11);
  IngestResult r;
  Batch b1(1);
  b1.Add(k, 10000, {1});
  CHECK_OK(b1.Ingest(*st, 10000, &r));
  CHECK_EQ(r.accepted, 1);
  CHECK_EQ(r.late, 0);

  // Watermark 10000, lateness 1000: 8999 is late, 9000 is not.
  Batch b2(1);
  b2.Add(k, 8999, {10}).Add(k, 9000, {100}).Add(k, 8000, {1000});
  CHECK_OK(b2.Ingest(*st, 10000, &r));
  CHECK_EQ(r.accepted, 1);
  CHECK_EQ(r.late, 2);
  CHECK_EQ(Read(t, k, 10500)[0], 2);
  CHECK_EQ(Read(t, k, 10500)[2], 101);
  CHECK_EQ(Read(t, k, 10500)[1], 1);  // tile 10 holds only the 10000 event
  CHECK_EQ(Read(t, k, 9500)[1], 1);   // the accepted late event landed in tile 9
  CHECK_EQ(Read(t, k, 9500)[2], 100);

  // The watermark moves within a batch: 12000 makes the following 10500 late.
  Batch b3(1);
  b3.Add(k, 12000, {1}).Add(k, 10500, {1}).Add(k, 11000, {1});
  CHECK_OK(b3.Ingest(*st, 12000, &r));
  CHECK_EQ(r.accepted, 2);
  CHECK_EQ(r.late, 1);
  CHECK_EQ(Read(t, k, 12000)[0], 4);  // 9000, 10000, 11000, 12000

  // The watermark is per stream, not per key.
  Batch b4(1);
  b4.Add(Key(12), 10900, {1});
  CHECK_OK(b4.Ingest(*st, 12000, &r));
  CHECK_EQ(r.late, 1);
  CHECK(!Read(t, Key(12), 12000).found);
}

void TestInvalidBatchChangesNothing() {
  auto st = MakeStore(OneTable({Feature("count", Agg::COUNT, -1, 5000, 1000), Feature("sum", Agg::SUM, 0, 5000, 1000),
                                Feature("last", Agg::LAST, 1), Feature("ln", Agg::LAST_N, 0, 0, 0, 4),
                                Feature("ewm", Agg::EWM, 1, 0, 0, 500),
                                Feature("d", Agg::DISTINCT, 0, 5000, 1000, 8)},
                               2, /*lateness*/ 0));
  const Table& t = st->table(0);
  const uint64_t k1 = Key(21), k2 = Key(22);
  Batch seed(2);
  seed.Add(k1, 1000, {1, 2}).Add(k2, 1500, {3, 4});
  CHECK_OK(seed.Ingest(*st, 2000));
  const double now = 2000;
  const int64_t max_future = st->spec().max_future_ms;

  struct Bad {
    const char* what;
    double ts, x;
  };
  const Bad bads[] = {
      {"NaN value", 1900, kNaN},
      {"infinite value", 1900, kInf},
      {"infinite timestamp", kInf, 1},
      {"NaN timestamp", kNaN, 1},
      {"negative timestamp", -1, 1},
      {"timestamp beyond now + max_future_ms", now + double(max_future) + 1, 1},
  };
  for (const Bad& bad : bads) {
    const ReadOut before1 = Read(t, k1, now), before2 = Read(t, k2, now);
    const ReadOut before3 = Read(t, Key(23), now);
    const TableStats sb = t.Stats();
    Batch b(2);
    // The first two events are valid, and the second would move the watermark far ahead.
    b.Add(k1, 1800, {5, 6}).Add(Key(23), 1950, {7, 8}).Add(k2, bad.ts, {bad.x, 1}).Add(k1, 1990, {1, 1});
    IngestResult r;
    r.accepted = 99;
    const Status s = b.Ingest(*st, now, &r);
    Record(s.code() == Code::INVALID_ARG, __FILE__, __LINE__, std::string("INVALID_ARG for ") + bad.what);
    Record(r.accepted == 0 && r.late == 0, __FILE__, __LINE__, std::string("nothing accepted for ") + bad.what);
    Record(SameOutput(Read(t, k1, now), before1) && SameOutput(Read(t, k2, now), before2) &&
               SameOutput(Read(t, Key(23), now), before3),
           __FILE__, __LINE__, std::string("reads unchanged after ") + bad.what);
    const TableStats sa = t.Stats();
    Record(sa.live == sb.live && sa.updates == sb.updates && sa.watermark_ms == sb.watermark_ms, __FILE__,
           __LINE__, std::string("stats unchanged after ") + bad.what);
  }
  // The stream watermark did not move either: an event at 1600 is not late (lateness 0).
  Batch ok(2);
  ok.Add(k1, 1600, {1, 1});
  IngestResult r;
  CHECK_OK(ok.Ingest(*st, now, &r));
  CHECK_EQ(r.late, 0);
  CHECK_EQ(r.accepted, 1);
  // A timestamp of exactly now + max_future_ms is allowed.
  Batch edge(2);
  edge.Add(k2, now + double(max_future), {1, 1});
  CHECK_OK(edge.Ingest(*st, now, &r));
  CHECK_EQ(r.accepted, 1);
}

// ---------------------------------------------------------------------------------------
// last, last_n, ewm

void TestLastTakesNewestEventTime() {
  auto st = MakeStore(OneTable({Feature("last", Agg::LAST, 0)}, 1, 1000000));
  const Table& t = st->table(0);
  const uint64_t k = Key(31);
  Batch b(1);
  b.Add(k, 100, {1}).Add(k, 300, {2}).Add(k, 200, {3});
  CHECK_OK(b.Ingest(*st, 1000));
  CHECK_EQ(Read(t, k, 1000)[0], 2);  // max event time wins, not arrival order
  Batch tie(1);
  tie.Add(k, 300, {4});
  CHECK_OK(tie.Ingest(*st, 1000));
  CHECK_EQ(Read(t, k, 1000)[0], 4);  // a tie goes to the later arrival
  Batch older(1);
  older.Add(k, 250, {5});
  CHECK_OK(older.Ingest(*st, 1000));
  CHECK_EQ(Read(t, k, 1000)[0], 4);
  CHECK_EQ(Read(t, k, 1000).age, 700);
}

void TestLastNNewestFirst() {
  auto st = MakeStore(OneTable({Feature("ln", Agg::LAST_N, 0, 0, 0, 3)}, 1, 1000000));
  const Table& t = st->table(0);
  const uint64_t k = Key(32);
  auto read = [&] { return Read(t, k, 10000).v; };
  Batch b1(1);
  b1.Add(k, 100, {1}).Add(k, 300, {3});
  CHECK_OK(b1.Ingest(*st, 10000));
  std::vector<double> v = read();
  CHECK_EQ(v[0], 3);
  CHECK_EQ(v[1], 1);
  CHECK_NAN(v[2]);  // padded

  Batch b2(1);
  b2.Add(k, 200, {2});  // out of order: goes between
  CHECK_OK(b2.Ingest(*st, 10000));
  v = read();
  CHECK_EQ(v[0], 3);
  CHECK_EQ(v[1], 2);
  CHECK_EQ(v[2], 1);

  Batch b3(1);
  b3.Add(k, 50, {0.5});  // older than all three kept: dropped
  CHECK_OK(b3.Ingest(*st, 10000));
  v = read();
  CHECK_EQ(v[0], 3);
  CHECK_EQ(v[1], 2);
  CHECK_EQ(v[2], 1);

  Batch b4(1);
  b4.Add(k, 250, {2.5});  // pushes out the oldest (100)
  CHECK_OK(b4.Ingest(*st, 10000));
  v = read();
  CHECK_EQ(v[0], 3);
  CHECK_EQ(v[1], 2.5);
  CHECK_EQ(v[2], 2);

  Batch b5(1);
  b5.Add(k, 400, {4}).Add(k, 400, {4.5});  // equal times keep arrival order
  CHECK_OK(b5.Ingest(*st, 10000));
  v = read();
  CHECK_EQ(v[0], 4.5);
  CHECK_EQ(v[1], 4);
  CHECK_EQ(v[2], 3);
}

void TestEwmIsOrderIndependent() {
  const double h = 1000;
  auto st = MakeStore(OneTable({Feature("ewm", Agg::EWM, 0, 0, 0, h)}, 1, 1000000));
  const Table& t = st->table(0);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> ts(0, 20000), val(-10, 10);
  std::vector<Ev> evs;
  for (int i = 0; i < 200; i++) evs.push_back({std::floor(ts(rng)), val(rng)});
  double tmax = 0;
  for (const Ev& e : evs) tmax = std::max(tmax, e.ts);
  long double num = 0, den = 0;
  for (const Ev& e : evs) {
    const long double w = std::exp2((long double)(e.ts - tmax) / h);
    num += e.x * w;
    den += w;
  }
  const double want = double(num / den);

  std::vector<Ev> sorted = evs, reversed, shuffled = evs;
  std::sort(sorted.begin(), sorted.end(), [](const Ev& a, const Ev& b) { return a.ts < b.ts; });
  reversed.assign(sorted.rbegin(), sorted.rend());
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const std::vector<Ev>* orders[] = {&sorted, &reversed, &shuffled};
  double got[3];
  for (int o = 0; o < 3; o++) {
    Batch b(1);
    for (const Ev& e : *orders[o]) b.Add(Key(40 + o), e.ts, {e.x});
    CHECK_OK(b.Ingest(*st, 20000));
    got[o] = Read(t, Key(40 + o), 20000)[0];
    CHECK(NearRel(got[o], want, 1e-12));
  }
  CHECK(NearRel(got[0], got[1], 1e-12));
  CHECK(NearRel(got[0], got[2], 1e-12));

  // Two events a half-life apart: weights 1 and 1/2.
  Batch two(1);
  two.Add(Key(50), 5000, {3}).Add(Key(50), 4000, {9});
  CHECK_OK(two.Ingest(*st, 20000));
  CHECK(NearRel(Read(t, Key(50), 20000)[0], (3 * 1 + 9 * 0.5) / 1.5, 1e-15));
}

// ---------------------------------------------------------------------------------------
// distinct (sliding HyperLogLog)

void TestDistinctAccuracy() {
  const int p = 10;
  auto st = MakeStore(OneTable({Feature("d", Agg::DISTINCT, 0, 5000, 1000, p)}, 1, 1000000));
  const Table& t = st->table(0);
  const double bound = 3 * 1.04 / std::sqrt(double(1 << p));
  const int cards[] = {10, 100, 1000, 10000};
  for (int ci = 0; ci < 4; ci++) {
    const int n = cards[ci];
    const uint64_t k = Key(60 + ci);
    Batch b(1);
    for (int i = 0; i < n; i++) {
      const double ts = 6000 + double((i * 7919) % 4900);  // tiles 6..10, out of order
      b.Add(k, ts, {double(i) * 1.5 + 1e6 * ci});
      if (i % 3 == 0) b.Add(k, ts + 1, {double(i) * 1.5 + 1e6 * ci});  // duplicates
    }
    CHECK_OK(b.Ingest(*st, 11000));
    const double est = Read(t, k, 10999)[0];
    const double err = std::fabs(est - n) / n;
    Record(err <= bound, __FILE__, __LINE__,
           "distinct n=" + std::to_string(n) + " estimate " + Num(est) + " relative error " + Num(err) +
               " > " + Num(bound));
    // Once all of it has left the window the estimate is 0.
    CHECK_EQ(Read(t, k, 16000)[0], 0);
  }

  // Identical values count once; -0 and 0 are the same value.
  const uint64_t k = Key(70);
  Batch b(1);
  for (int i = 0; i < 500; i++) b.Add(k, 10000 + i, {42.0});
  b.Add(k, 10000, {0.0}).Add(k, 10001, {-0.0});
  CHECK_OK(b.Ingest(*st, 11000));
  CHECK_EQ(Read(t, k, 10999)[0], 2);
}

void TestDistinctSlidesWithWindow() {
  const int p = 10;
  auto st = MakeStore(OneTable({Feature("d", Agg::DISTINCT, 0, 5000, 1000, p)}, 1, 1000000));
  const Table& t = st->table(0);
  const double bound = 3 * 1.04 / std::sqrt(double(1 << p));
  const uint64_t k = Key(71);
  // 5000 values in tile 6, then 500 others in tile 9. Most registers see both, and the
  // tile-9 maximum is usually the lower one: it must still count once tile 6 has left.
  Batch b(1);
  for (int i = 0; i < 5000; i++) b.Add(k, 6000 + i % 1000, {double(i)});
  for (int i = 0; i < 500; i++) b.Add(k, 9000 + i, {double(100000 + i)});
  CHECK_OK(b.Ingest(*st, 10000));
  const double both = Read(t, k, 10500)[0], newer = Read(t, k, 11500)[0];
  Record(std::fabs(both - 5500) <= 5500 * bound, __FILE__, __LINE__,
         "distinct over tiles 6..10: " + Num(both) + ", want 5500 within " + Num(bound));
  Record(std::fabs(newer - 500) <= 500 * bound, __FILE__, __LINE__,
         "distinct over tiles 7..11: " + Num(newer) + ", want 500 within " + Num(bound));
  CHECK_EQ(Read(t, k, 14000)[0], 0);
}

// ---------------------------------------------------------------------------------------
// TTL and memory budget

void TestTtlSweep() {
  auto st = MakeStore(OneTable({Feature("count", Agg::COUNT, -1, 1000000, 1000)}, 1, 1000000, /*ttl*/ 1000));
  Table& t = st->table(0);
  const uint64_t a = Key(80), b = Key(81), c = Key(82);
  Batch batch(1);
  batch.Add(a, 500, {0}).Add(a, 1000, {0}).Add(b, 5000, {0}).Add(c, 4500, {0});
  CHECK_OK(batch.Ingest(*st, 5000));
  CHECK_EQ(t.Stats().live, 3);

  // now 5500, ttl 1000: rows whose newest event is before 4500 go (a); c, at exactly 4500, stays.
  CHECK_EQ(t.Sweep(5500, 1 << 16), 1);
  CHECK_EQ(t.Stats().evicted_ttl, 1);
  CHECK_EQ(t.Stats().live, 2);
  CHECK(!Read(t, a, 5500).found);
  CHECK_NAN(Read(t, a, 5500).age);
  CHECK_EQ(Read(t, a, 5500)[0], 0);
  CHECK(Read(t, b, 5500).found);
  CHECK(Read(t, c, 5500).found);

  CHECK_EQ(t.Sweep(6001, 1 << 16), 2);
  CHECK_EQ(t.Stats().evicted_ttl, 3);
  CHECK_EQ(t.Stats().live, 0);
  CHECK(!Read(t, b, 6001).found);

  // An evicted id that comes back starts from a fresh row.
  Batch again(1);
  again.Add(a, 6000, {0});
  CHECK_OK(again.Ingest(*st, 6000));
  const ReadOut r = Read(t, a, 6000);
  CHECK(r.found);
  CHECK_EQ(r[0], 1);
  CHECK_EQ(st->Sweep(6500, 1 << 16), 0);

  // A table without a TTL never sweeps.
  auto keep = MakeStore(OneTable({Feature("count", Agg::COUNT, -1, 1000, 1000)}, 1));
  Batch old(1);
  old.Add(a, 0, {0});
  CHECK_OK(old.Ingest(*keep, 0));
  CHECK_EQ(keep->table(0).Sweep(1e12, 1 << 16), 0);
  CHECK(Read(keep->table(0), a, 1e12).found);
}

void TestMemoryBudgetEvictsLeastRecent() {
  // Learn the per-entity cost, then size the budget for about N entities.
  const auto features = std::vector<FeatureSpec>{Feature("count", Agg::COUNT, -1, 5000, 1000),
                                                 Feature("sum", Agg::SUM, 0, 5000, 1000)};
  const uint64_t per = MakeStore(OneTable(features, 1))->table(0).Stats().bytes_per_entity;
  const uint64_t N = 2048;
  auto st = MakeStore(OneTable(features, 1, 1000000, 0, per * N, /*shards*/ 16));
  Table& t = st->table(0);
  const uint64_t cap = t.Stats().capacity;
  CHECK(cap > N / 2 && cap <= N);

  const uint64_t total = 10 * N;
  for (uint64_t i = 0; i < total; i += 256) {
    Batch b(1);
    for (uint64_t j = i; j < std::min(total, i + 256); j++) b.Add(Key(100000 + j), 1000, {1});
    CHECK_OK(b.Ingest(*st, 1000));
    Record(t.Stats().live <= cap, __FILE__, __LINE__, "live <= capacity");
  }
  const TableStats s = t.Stats();
  CHECK(s.live <= s.capacity);
  CHECK(s.live > 0);
  CHECK(s.evicted_lru > 0);
  CHECK_EQ(s.evicted_lru + s.live, total);

  uint64_t recent_found = 0, old_found = 0;
  for (uint64_t j = total - N / 4; j < total; j++) recent_found += Read(t, Key(100000 + j), 1000).found;
  for (uint64_t j = 0; j < N / 4; j++) old_found += Read(t, Key(100000 + j), 1000).found;
  Record(recent_found >= (N / 4) * 8 / 10, __FILE__, __LINE__,
         "most recent ids survive: " + std::to_string(recent_found) + " of " + std::to_string(N / 4));
  Record(old_found < recent_found / 4, __FILE__, __LINE__,
         "old ids evicted first: " + std::to_string(old_found) + " old vs " + std::to_string(recent_found) +
             " recent found");
  // A survivor still holds its data.
  for (uint64_t j = total - 1; j + 50 > total; j--) {
    const ReadOut r = Read(t, Key(100000 + j), 1000);
    if (r.found) {
      CHECK_EQ(r[0], 1);
      CHECK_EQ(r[1], 1);
    }
  }
}

// Allocated memory (index + row chunks) stays within the table's memory_bytes.
void TestMemoryBudgetIsNotExceeded() {
  const auto features = std::vector<FeatureSpec>{Feature("count", Agg::COUNT, -1, 5000, 1000),
                                                 Feature("sum", Agg::SUM, 0, 5000, 1000)};
  for (uint64_t budget : {262144ull, 300000ull, 50000ull}) {
    auto st = MakeStore(OneTable(features, 1, 0, 0, budget, 16));
    Table& t = st->table(0);
    const uint64_t fill = 2 * t.Stats().capacity;
    Batch b(1);
    for (uint64_t j = 0; j < fill; j++) b.Add(Key(500000 + j), 1000, {1});
    CHECK_OK(b.Ingest(*st, 1000));
    const TableStats s = t.Stats();
    Record(s.allocated_bytes <= budget, __FILE__, __LINE__,
           "memory_bytes " + std::to_string(budget) + ": allocated_bytes " + std::to_string(s.allocated_bytes) +
               " (capacity " + std::to_string(s.capacity) + ", row_bytes " + std::to_string(s.row_bytes) + ")");
  }
}

// shards: 1 (and a budget of one entity, which also leaves one shard) must work.
void SingleShardTableBody() {
  const auto features = std::vector<FeatureSpec>{Feature("count", Agg::COUNT, -1, 5000, 1000)};
  auto st = MakeStore(OneTable(features, 1, 0, 0, 1 << 20, /*shards*/ 1));
  Table& t = st->table(0);
  Batch b(1);
  b.Add(Key(1), 1000, {0}).Add(Key(2), 1000, {0}).Add(Key(2), 1100, {0});
  CHECK_OK(b.Ingest(*st, 1100));
  CHECK_EQ(Read(t, Key(1), 1100)[0], 1);
  CHECK_EQ(Read(t, Key(2), 1100)[0], 2);
  CHECK(!Read(t, Key(3), 1100).found);

  const uint64_t one = t.Stats().bytes_per_entity;
  auto tiny = MakeStore(OneTable(features, 1, 0, 0, one, 64));
  Table& tt = tiny->table(0);
  CHECK_EQ(tt.Stats().capacity, 1);
  Batch c(1);
  c.Add(Key(1), 1000, {0}).Add(Key(2), 1000, {0});
  CHECK_OK(c.Ingest(*tiny, 1000));
  CHECK(!Read(tt, Key(1), 1000).found);
  CHECK(Read(tt, Key(2), 1000).found);
  CHECK_EQ(tt.Stats().evicted_lru, 1);
}

void TestSingleShardTable() { RunInChild("single-shard table", SingleShardTableBody, __FILE__, __LINE__); }

// ---------------------------------------------------------------------------------------
// Concurrency: one writer, three readers, no torn reads

void TestConcurrentReadsAreNeverTorn() {
  auto st = MakeStore(OneTable({Feature("count", Agg::COUNT, -1, 1000, 1000), Feature("sum", Agg::SUM, 0, 1000, 1000)},
                               1, 0, 0, 1 << 20, 4));
  const Table& t = st->table(0);
  const int nkeys = 4;
  std::atomic<bool> stop{false};
  std::atomic<double> clock{0};
  std::atomic<uint64_t> reads{0}, nonzero{0};

  std::vector<std::thread> readers;
  for (int r = 0; r < 3; r++) {
    readers.emplace_back([&, r] {
      std::vector<double> out(size_t(t.width()));
      double age;
      uint64_t n = 0, nz = 0;
      int bad = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t k = Key(uint64_t((n + r) % nkeys));
        t.Read(k, clock.load(std::memory_order_relaxed), out.data(), &age);
        if (out[0] != out[1]) {
          if (bad++ < 5) std::printf("FAIL torn read: count %.17g sum %.17g\n", out[0], out[1]);
          g_thread_failures++;
        }
        nz += out[0] > 0;
        n++;
      }
      reads += n;
      nonzero += nz;
    });
  }

  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
  double ts = 0;
  uint64_t events = 0;
  Batch b(1);
  while (std::chrono::steady_clock::now() < end) {
    b.keys.clear();
    b.ts.clear();
    b.values.clear();
    for (int i = 0; i < 64; i++) {
      b.Add(Key(uint64_t(i % nkeys)), ts, {1.0});
      if (i % 8 == 7) ts += 1;
    }
    if (!b.Ingest(*st, ts).ok()) {
      g_thread_failures++;
      break;
    }
    events += 64;
    clock.store(ts, std::memory_order_relaxed);
  }
  stop = true;
  for (auto& th : readers) th.join();
  const int failures = g_thread_failures.exchange(0);
  Record(failures == 0, __FILE__, __LINE__, "sum == count in every concurrent read (" +
                                                std::to_string(failures) + " failed)");
  CHECK(reads.load() > 1000);
  CHECK(nonzero.load() > 0);
  CHECK(events > 1000);
  CHECK_EQ(t.Stats().updates, events);
}

// ---------------------------------------------------------------------------------------
// Dense kernel, CPU and CUDA

double ReferenceActivate(Act act, double v) {
  switch (act) {
    case Act::RELU: return v > 0 ? v : 0;
    case Act::SIGMOID: return 1.0 / (1.0 + std::exp(-v));
    case Act::TANH: return std::tanh(v);
    default: return v;
  }
}

struct DenseCase {
  int batch, in, out;
  std::vector<float> x, w, bias;
};

DenseCase RandomDense(int batch, int in, int out, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  DenseCase c{batch, in, out, {}, {}, {}};
  c.x.resize(size_t(batch) * in);
  c.w.resize(size_t(out) * in);
  c.bias.resize(size_t(out));
  for (float& v : c.x) v = u(rng);
  for (float& v : c.w) v = u(rng) * 0.5f;
  for (float& v : c.bias) v = u(rng);
  return c;
}

const Act kActs[] = {Act::NONE, Act::RELU, Act::SIGMOID, Act::TANH};
const char* ActName(Act a) {
  switch (a) {
    case Act::RELU: return "relu";
    case Act::SIGMOID: return "sigmoid";
    case Act::TANH: return "tanh";
    default: return "none";
  }
}

void TestDenseCpuMatchesReference() {
  const int shapes[][3] = {{1, 1, 1}, {3, 5, 2}, {16, 37, 19}, {64, 128, 33}};
  for (const auto& sh : shapes) {
    const DenseCase c = RandomDense(sh[0], sh[1], sh[2], uint64_t(sh[0] * 1000 + sh[1]));
    for (Act act : kActs) {
      for (bool with_bias : {true, false}) {
        std::vector<float> y(size_t(c.batch) * c.out, -999.f);
        CHECK_OK(DenseForwardCpu(c.x.data(), c.w.data(), with_bias ? c.bias.data() : nullptr, c.batch, c.in,
                                 c.out, act, y.data()));
        double worst = 0;
        for (int b = 0; b < c.batch; b++)
          for (int o = 0; o < c.out; o++) {
            double acc = with_bias ? c.bias[size_t(o)] : 0.0;
            for (int i = 0; i < c.in; i++) acc += double(c.x[size_t(b) * c.in + i]) * c.w[size_t(o) * c.in + i];
            const double want = ReferenceActivate(act, acc);
            const double got = y[size_t(b) * c.out + o];
            worst = std::isnan(got) ? kInf : std::max(worst, std::fabs(got - want));
          }
        Record(worst <= 1e-5, __FILE__, __LINE__,
               std::string("dense cpu ") + ActName(act) + " " + std::to_string(c.batch) + "x" +
                   std::to_string(c.in) + "->" + std::to_string(c.out) + (with_bias ? "" : " no bias") +
                   ": max error " + Num(worst));
      }
    }
  }
  float y = 0;
  const float one = 1;
  CHECK_CODE(DenseForwardCpu(&one, &one, nullptr, 1, 0, 1, Act::NONE, &y), Code::INVALID_ARG);
  CHECK_CODE(DenseForwardCpu(&one, &one, nullptr, -1, 1, 1, Act::NONE, &y), Code::INVALID_ARG);
  CHECK_CODE(DenseForwardCpu(&one, &one, nullptr, 1, 1, 1, Act::kCount, &y), Code::INVALID_ARG);
  CHECK_OK(DenseForwardCpu(&one, &one, nullptr, 0, 1, 1, Act::NONE, &y));
}

void TestDenseCudaMatchesCpu() {
  const CudaInfo& info = CudaProbe();
  float y = 0;
  const float one = 1;
  if (!info.compiled) {
    CHECK_EQ(info.devices, 0);
    CHECK_CODE(DenseForwardCuda(&one, &one, nullptr, 1, 1, 1, Act::NONE, &y), Code::UNSUPPORTED);
    std::printf("SKIP cuda: not compiled with CUDA\n");
    return;
  }
  if (info.devices <= 0) {
    CHECK_CODE(DenseForwardCuda(&one, &one, nullptr, 1, 1, 1, Act::NONE, &y), Code::UNAVAILABLE);
    std::printf("SKIP cuda: compiled, no device: %s\n", info.error.c_str());
    return;
  }
  std::printf("cuda: %d device(s), device 0: %s\n", info.devices, info.name.c_str());
  for (int batch : {1, 7, 256}) {
    const DenseCase c = RandomDense(batch, 37, 19, uint64_t(batch) + 99);
    for (Act act : kActs) {
      for (bool with_bias : {true, false}) {
        const float* bias = with_bias ? c.bias.data() : nullptr;
        std::vector<float> cpu(size_t(batch) * c.out), gpu(size_t(batch) * c.out, -999.f);
        CHECK_OK(DenseForwardCpu(c.x.data(), c.w.data(), bias, batch, c.in, c.out, act, cpu.data()));
        CHECK_OK(DenseForwardCuda(c.x.data(), c.w.data(), bias, batch, c.in, c.out, act, gpu.data()));
        double worst = 0;
        for (size_t i = 0; i < cpu.size(); i++)
          worst = std::isnan(gpu[i]) ? kInf : std::max(worst, std::fabs(double(gpu[i]) - cpu[i]));
        Record(worst <= 1e-5, __FILE__, __LINE__,
               std::string("dense cuda vs cpu ") + ActName(act) + " batch " + std::to_string(batch) +
                   (with_bias ? "" : " no bias") + ": max error " + Num(worst));
      }
    }
  }
  CHECK_OK(DenseForwardCuda(&one, &one, nullptr, 0, 1, 1, Act::NONE, &y));
  CHECK_CODE(DenseForwardCuda(&one, &one, nullptr, 1, 0, 1, Act::NONE, &y), Code::INVALID_ARG);
}

// A two-layer model (dense relu, dense, then softmax) against the layer-by-layer kernel
// with DenseForwardCpu, for batches below, at and above max_batch (chunking).
void TestModelMatchesLayerByLayer() {
  const DenseCase a = RandomDense(1, 9, 12, 5), b = RandomDense(1, 12, 4, 6);
  std::vector<LayerSpec> layers(3);
  layers[0].kind = LayerKind::DENSE;
  layers[0].in = 9;
  layers[0].out = 12;
  layers[0].w = a.w;
  layers[0].b = a.bias;
  layers[0].act = Act::RELU;
  layers[1].kind = LayerKind::DENSE;
  layers[1].in = 12;
  layers[1].out = 4;
  layers[1].w = b.w;  // no bias: zeros
  layers[2].kind = LayerKind::SOFTMAX;
  std::unique_ptr<Model> m;
  CHECK_OK(Model::Create(9, layers, 8, Device::kCpu, &m));
  CHECK_EQ(m->out_dim(), 4);
  for (int batch : {0, 1, 8, 21}) {
    const DenseCase x = RandomDense(batch, 9, 1, uint64_t(batch) + 40);
    std::vector<float> h(size_t(batch) * 12), z(size_t(batch) * 4), y(size_t(batch) * 4 + 1, -7.f);
    CHECK_OK(DenseForwardCpu(x.x.data(), a.w.data(), a.bias.data(), batch, 9, 12, Act::RELU, h.data()));
    CHECK_OK(DenseForwardCpu(h.data(), b.w.data(), nullptr, batch, 12, 4, Act::NONE, z.data()));
    CHECK_OK(m->Forward(x.x.data(), batch, y.data()));
    double worst = 0;
    for (int r = 0; r < batch; r++) {
      double mx = -kInf, sum = 0;
      for (int k = 0; k < 4; k++) mx = std::max(mx, double(z[size_t(r) * 4 + k]));
      for (int k = 0; k < 4; k++) sum += std::exp(double(z[size_t(r) * 4 + k]) - mx);
      for (int k = 0; k < 4; k++)
        worst = std::max(worst, std::fabs(std::exp(double(z[size_t(r) * 4 + k]) - mx) / sum - y[size_t(r) * 4 + k]));
    }
    Record(worst <= 1e-6, __FILE__, __LINE__, "model vs layer by layer, batch " + std::to_string(batch) + ": max error " + Num(worst));
    CHECK_EQ(y[size_t(batch) * 4], -7.f);  // nothing written past the batch
  }
  // Refusals: widths that do not chain, weights of the wrong size, no layers, bad batch.
  std::vector<LayerSpec> bad = layers;
  bad[1].in = 11;
  CHECK_CODE(Model::Create(9, bad, 8, Device::kCpu, &m), Code::INVALID_ARG);
  bad = layers;
  bad[0].w.pop_back();
  CHECK_CODE(Model::Create(9, bad, 8, Device::kCpu, &m), Code::INVALID_ARG);
  CHECK_CODE(Model::Create(9, {}, 8, Device::kCpu, &m), Code::INVALID_ARG);
  CHECK_CODE(Model::Create(9, layers, 0, Device::kCpu, &m), Code::INVALID_ARG);
  if (CudaProbe().devices == 0) {
    CHECK_CODE(Model::Create(9, layers, 8, Device::kCuda, &m), Code::UNAVAILABLE);
    std::printf("SKIP model on cuda: no device\n");
    return;
  }
  // With a device: the CUDA model (dense layers on the GPU) agrees with the CPU model.
  std::unique_ptr<Model> gpu;
  CHECK_OK(Model::Create(9, layers, 8, Device::kCpu, &m));
  CHECK_OK(Model::Create(9, layers, 8, Device::kCuda, &gpu));
  for (int batch : {1, 8, 21}) {
    const DenseCase x = RandomDense(batch, 9, 1, uint64_t(batch) + 77);
    std::vector<float> a(size_t(batch) * 4), b(size_t(batch) * 4);
    CHECK_OK(m->Forward(x.x.data(), batch, a.data()));
    CHECK_OK(gpu->Forward(x.x.data(), batch, b.data()));
    double worst = 0;
    for (size_t i = 0; i < a.size(); i++) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
    Record(worst <= 1e-5, __FILE__, __LINE__, "model cuda vs cpu, batch " + std::to_string(batch) + ": max error " + Num(worst));
  }
}

// Gather reads each key's row, takes fields, fills absent entities and NaNs, applies log1p.
void TestGatherFillsTheInputMatrix() {
  StoreSpec spec = OneTable({Feature("n", Agg::COUNT, -1, 60000, 1000), Feature("mean", Agg::MEAN, 0, 60000, 1000)}, 1);
  std::shared_ptr<Store> st = MakeStore(spec);
  const std::string alice = "alice", bob = "bob", ghost = "ghost";
  Batch b(1);
  b.Add(HashBytes(alice.data(), alice.size()), 1000, {2}).Add(HashBytes(alice.data(), alice.size()), 2000, {4});
  b.Add(HashBytes(bob.data(), bob.size()), 2500, {10});  // in time order: lateness is 0
  CHECK_OK(b.Ingest(*st, 3000));
  std::vector<GatherColumn> cols(4);
  cols[0].source = GatherSource::FEATURE;  // n, raw, fill -1
  cols[0].offset = st->table(0).feature_offset(0);
  cols[0].fill = -1;
  cols[1].source = GatherSource::FEATURE;  // mean, log1p, fill 0
  cols[1].offset = st->table(0).feature_offset(1);
  cols[1].transform = GatherTransform::LOG1P;
  cols[2].source = GatherSource::FIELD;  // the request field, raw
  cols[3].source = GatherSource::FIELD;  // the request field, log1p (negative -> 0)
  cols[3].transform = GatherTransform::LOG1P;
  std::unique_ptr<Gather> g;
  CHECK_OK(Gather::Create(st, {0}, 1, cols, &g));
  const std::string ids = "xx" + alice + bob + ghost;  // ids at an offset, back to back
  const uint32_t refs[] = {2, 5, 7, 3, 10, 5};
  const float fields[] = {1.5f, -3.f, 7.f};
  std::vector<float> x(12 + 1, -9.f);
  CHECK_OK(g->Run(reinterpret_cast<const uint8_t*>(ids.data()), ids.size(), refs, fields, 3, 3000, x.data()));
  CHECK_EQ(x[0], 2.f);
  CHECK_NEAR(x[1], std::log1p(3.0), 1e-6);
  CHECK_EQ(x[2], 1.5f);
  CHECK_NEAR(x[3], std::log1p(1.5), 1e-6);
  CHECK_EQ(x[4], 1.f);
  CHECK_NEAR(x[5], std::log1p(10.0), 1e-6);
  CHECK_EQ(x[7], 0.f);       // log1p(max(-3, 0))
  CHECK_EQ(x[8], -1.f);      // ghost: its count takes the fill too, not 0
  CHECK_EQ(x[9], 0.f);       // ghost's mean: fill 0, log1p 0
  CHECK_EQ(x[12], -9.f);     // nothing past the batch
  // Ids past the buffer, empty, or over the limit are refused before anything is read.
  const uint32_t past[] = {10, 6};
  CHECK_CODE(g->Run(reinterpret_cast<const uint8_t*>(ids.data()), ids.size(), past, fields, 1, 3000, x.data()), Code::INVALID_ARG);
  const uint32_t empty[] = {2, 0};
  CHECK_CODE(g->Run(reinterpret_cast<const uint8_t*>(ids.data()), ids.size(), empty, fields, 1, 3000, x.data()), Code::INVALID_ARG);
  const std::string big(300, 'a');
  const uint32_t over[] = {0, 300};
  CHECK_CODE(g->Run(reinterpret_cast<const uint8_t*>(big.data()), big.size(), over, fields, 1, 3000, x.data()), Code::INVALID_ARG);
  CHECK_CODE(Gather::Create(st, {3}, 1, cols, &g), Code::INVALID_ARG);
  cols[2].field = 1;
  CHECK_CODE(Gather::Create(st, {0}, 1, cols, &g), Code::INVALID_ARG);
}

}  // namespace


// The binary events frame decoder: values as the TypeScript path reads them, strict UTF-8,
// and the first fault in row order.
void TestDecodeRows() {
  // Two columns: uid (str16, key 0 and category field 0), amount (f64, number field 1).
  const RowColumn plan[] = {{0, kRowTypeStr16, RowRole::KEY, 0},
                            {0, kRowTypeStr16, RowRole::CATEGORY, 0},
                            {1, kRowTypeF64, RowRole::NUMBER, 1}};
  std::vector<uint8_t> frame;
  auto str = [&](const std::string& s) {
    frame.push_back(uint8_t(s.size()));
    frame.push_back(uint8_t(s.size() >> 8));
    frame.insert(frame.end(), s.begin(), s.end());
  };
  auto num = [&](double v) {
    uint8_t b[8];
    std::memcpy(b, &v, 8);
    frame.insert(frame.end(), b, b + 8);
  };
  str("42");
  num(1.5);
  str("u\xC3\xA9");  // "ué"
  num(-2);
  uint64_t k0[2];
  uint64_t* keys[] = {k0};
  double ts[2], values[4];
  RowFault f = DecodeRows(frame.data(), frame.size(), 2, plan, 3, 2, 1000, 2000, keys, ts, values);
  CHECK(f.error == RowError::OK);
  CHECK(k0[0] == HashBytes("42", 2));
  CHECK(values[0] == 42);  // a decimal integer string is its number
  CHECK(values[1] == 1.5 && values[3] == -2);
  CHECK(ts[0] == 1000 && ts[1] == 1000);  // no time column: now
  // cyrb53 of the UTF-16 code units of "ué", as JavaScript computes it
  CHECK(values[2] == 4836065779909856.0);
  uint64_t h;
  CHECK(HashIntegerId(-0.0, &h) && h == HashBytes("0", 1));
  CHECK(HashIntegerId(-12, &h) && h == HashBytes("-12", 3));
  CHECK(!HashIntegerId(1.5, &h) && !HashIntegerId(9007199254740992.0, &h));

  // Faults: truncated, trailing, each bad UTF-8 form, an empty id, a non-finite number.
  f = DecodeRows(frame.data(), frame.size() - 1, 2, plan, 3, 2, 1000, 2000, keys, ts, values);
  CHECK(f.error == RowError::TRUNCATED && f.event == 1 && f.column == 1);
  f = DecodeRows(frame.data(), frame.size(), 1, plan, 3, 2, 1000, 2000, keys, ts, values);
  CHECK(f.error == RowError::TRAILING);
  const char* bad[] = {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82", "\x80", "\xF8\x88\x80\x80\x80"};
  for (const char* b : bad) {
    frame.clear();
    str(b);
    num(1);
    f = DecodeRows(frame.data(), frame.size(), 1, plan, 3, 2, 1000, 2000, keys, ts, values);
    CHECK(f.error == RowError::BAD_UTF8 && f.event == 0 && f.column == 0);
  }
  double cat;
  CHECK(CategoryOfUtf8(reinterpret_cast<const uint8_t*>("\xF0\x9F\x98\x80"), 4, &cat));  // U+1F600: a surrogate pair
  CHECK(cat == 4725715722941614.0);
  frame.clear();
  str("");
  num(1);
  f = DecodeRows(frame.data(), frame.size(), 1, plan, 3, 2, 1000, 2000, keys, ts, values);
  CHECK(f.error == RowError::ID_INVALID);
  frame.clear();
  str("a");
  num(std::numeric_limits<double>::infinity());
  f = DecodeRows(frame.data(), frame.size(), 1, plan, 3, 2, 1000, 2000, keys, ts, values);
  CHECK(f.error == RowError::NOT_NUMBER && f.column == 1);
  // A time column: refused below 0, beyond a JavaScript Date, and past max_ts.
  const RowColumn timed[] = {{0, kRowTypeF64, RowRole::TIME, 0}};
  const double times[] = {-1, 8.64e15 + 1, 2001, 1999};
  const RowError want[] = {RowError::TIME_INVALID, RowError::TIME_INVALID, RowError::TIME_FUTURE, RowError::OK};
  for (int i = 0; i < 4; i++) {
    frame.clear();
    num(times[i]);
    f = DecodeRows(frame.data(), frame.size(), 1, timed, 1, 0, 1000, 2000, keys, ts, values);
    CHECK(f.error == want[i]);
  }
  CHECK(ts[0] == 1999);
}

int main() {
  RUN(TestCreateWithEveryAggregate);
  RUN(TestSpecValidationFailures);
  RUN(TestWindowAggregatesByHand);
  RUN(TestWindowBoundariesAndExpiry);
  RUN(TestWindowExcludesLaterTiles);
  RUN(TestWindowOutOfOrderIngestMatchesReference);
  RUN(TestLateEvents);
  RUN(TestInvalidBatchChangesNothing);
  RUN(TestLastTakesNewestEventTime);
  RUN(TestLastNNewestFirst);
  RUN(TestEwmIsOrderIndependent);
  RUN(TestDistinctAccuracy);
  RUN(TestDistinctSlidesWithWindow);
  RUN(TestTtlSweep);
  RUN(TestMemoryBudgetEvictsLeastRecent);
  RUN(TestMemoryBudgetIsNotExceeded);
  RUN(TestSingleShardTable);
  RUN(TestConcurrentReadsAreNeverTorn);
  RUN(TestDenseCpuMatchesReference);
  RUN(TestDenseCudaMatchesCpu);
  RUN(TestModelMatchesLayerByLayer);
  RUN(TestGatherFillsTheInputMatrix);
  RUN(TestDecodeRows);
  RunStorePartsTests();
  RunRowTransferTests();
  RunCompactStoreTests();
  RunDurabilityTests();
  RunDetectorsTests();
  RunLearnerTests();
  RunCovisitTests();
  RunEmbeddingTests();
  RunInt8Tests();
  RunCudaDenseTests();
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed > 0 ? 1 : 0;
}
