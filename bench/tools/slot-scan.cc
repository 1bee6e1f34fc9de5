// The compact ring's slot scans (native/core/windows.h HOTPATH_SLOT_MASKS) as SSE2 bit
// masks against the scalar loops, on rows that stay in cache, so that the scans and not
// the memory are what is timed: a fresh store of E entities (the demo's user-table shape:
// 1-minute tiles over an hour, 10-minute and 1-hour windows, distinct, last) gets 8 events
// per entity in distinct minutes (every row compact), then every entity is read R times
// with ReadMany. Build and run both (one core, alternating):
//
//   bash bench/tools/slot-scan.sh
//
// Prints events/s and entities/s per build and round.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../../native/core/windows.h"
#include "../../native/test/test_util.h"  // Feature, Key

using namespace hotpath;
using hptest::Feature;
using hptest::Key;

namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
  const size_t E = argc > 1 ? size_t(std::atol(argv[1])) : 20000;
  const int R = argc > 2 ? std::atoi(argv[2]) : 50;
  constexpr int64_t kMin = 60000, kHour = 60 * kMin;
  StoreSpec spec;
  TableSpec t;
  t.name = "user";
  t.memory_bytes = 256ull << 20;
  t.shards = 16;
  t.features = {Feature("n_10m", Agg::COUNT, -1, 10 * kMin, kMin),   Feature("n_1h", Agg::COUNT, -1, kHour, kMin),
                Feature("sum_1h", Agg::SUM, 0, kHour, kMin),          Feature("mean_1h", Agg::MEAN, 0, kHour, kMin),
                Feature("std_1h", Agg::STDDEV, 0, kHour, kMin),       Feature("max_1h", Agg::MAX, 0, kHour, kMin),
                Feature("sum_10m", Agg::SUM, 0, 10 * kMin, kMin),     Feature("merchants_1h", Agg::DISTINCT, 1, kHour, kMin, 6),
                Feature("last_amount", Agg::LAST, 0, 0, 0)};
  spec.tables.push_back(t);
  StreamSpec s;
  s.name = "tx";
  s.nfields = 2;
  s.lateness_ms = 2 * kHour;
  s.tables = {0};
  spec.streams.push_back(s);
  spec.max_future_ms = 10000;

  constexpr int kPer = 8;
  const double t0 = 1.7e12;
  const size_t n = E * kPer;
  std::vector<uint64_t> keys(n);
  std::vector<double> ts(n), values(2 * n);
  uint64_t r = 1;
  for (int m = 0; m < kPer; m++)
    for (size_t i = 0; i < E; i++) {
      const size_t j = size_t(m) * E + i;
      r = r * 6364136223846793005ULL + 1442695040888963407ULL;
      keys[j] = Key(i);
      ts[j] = t0 + double(m * 7 + int(i % 5)) * kMin + double(r >> 54);  // distinct minutes within the hour
      values[2 * j] = double((r >> 33) % 1000) / 10;
      values[2 * j + 1] = double((r >> 20) % 50);
    }
  const double now = t0 + kHour;
  std::vector<uint64_t> read_keys(E);
  for (size_t i = 0; i < E; i++) read_keys[i] = Key(i);
  std::shared_ptr<Store> st;
  double ingest_s = 0, read_s = 0;
  double sink = 0;
  for (int round = 0; round < 5; round++) {
    Status ok = Store::Create(spec, &st);
    if (!ok.ok()) {
      std::fprintf(stderr, "Store::Create: %s\n", ok.message().c_str());
      return 2;
    }
    const uint64_t* kk[1] = {keys.data()};
    IngestResult res;
    const double a = Now();
    ok = st->Ingest(0, n, kk, ts.data(), values.data(), now, &res);
    const double b = Now();
    if (!ok.ok() || res.accepted != n) {
      std::fprintf(stderr, "ingest: %s, %llu accepted\n", ok.message().c_str(), (unsigned long long)res.accepted);
      return 2;
    }
    if (round > 0) ingest_s += b - a;  // the first round warms the pages
    const Table& tb = st->table(0);
    std::vector<double> out(E * size_t(tb.width())), ages(E);
    const double c = Now();
    for (int k = 0; k < R; k++) {
      tb.ReadMany(read_keys.data(), E, now, out.data(), ages.data());
      sink += out[size_t(k) % out.size()];
    }
    const double d = Now();
    if (round > 0) read_s += d - c;
    const TableStats ts4 = tb.Stats();
    if (round == 4 && (ts4.promoted != 0 || ts4.live != E))
      std::fprintf(stderr, "note: %llu live, %llu promoted\n", (unsigned long long)ts4.live, (unsigned long long)ts4.promoted);
  }
  std::printf("%s ingest %.2f M events/s, readMany %.2f M entities/s (sink %g)\n", HOTPATH_SLOT_MASKS != 0 ? "masks " : "scalar",
              4.0 * double(n) / ingest_s / 1e6, 4.0 * double(E) * R / read_s / 1e6, sink);
  return 0;
}
