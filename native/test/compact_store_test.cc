// Differential tests of the compact row form (row_layout.h): the same random event streams
// through tables that keep rows in wire form (compact_slots 0: the code of row layout v3
// alone), in compact form (the default, and with 3 ring slots so that rows promote
// often), and with every row promoted at its first event. Reads (values and ages, bit for
// bit, at several read times), ExportRow bytes, stats, snapshots (with rows changed
// between the cut and the write) and their restores must agree. Run by core_test's main.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "../core/feature_store.h"
#include "../core/snapshot.h"
#include "test_util.h"

using namespace hotpath;
using namespace hptest;

namespace {

constexpr int64_t kMin = 60000;

// The demo's shape: windowed aggregates over one-minute tiles (a 61-tile ring), a short
// ring (4 tiles: compact with K = ntiles), distinct, last, last_n, ewm.
std::vector<FeatureSpec> Features() {
  return {Feature("count_10m", Agg::COUNT, -1, 10 * kMin, kMin),
          Feature("count_1h", Agg::COUNT, -1, 60 * kMin, kMin),
          Feature("sum_1h", Agg::SUM, 0, 60 * kMin, kMin),
          Feature("mean_1h", Agg::MEAN, 0, 60 * kMin, kMin),
          Feature("std_1h", Agg::STDDEV, 0, 60 * kMin, kMin),
          Feature("max_1h", Agg::MAX, 0, 60 * kMin, kMin),
          Feature("min_10m", Agg::MIN, 0, 10 * kMin, kMin),
          Feature("count_30s", Agg::COUNT, -1, 30000, 10000),
          Feature("distinct_1h", Agg::DISTINCT, 1, 60 * kMin, kMin, 6),
          Feature("last", Agg::LAST, 0),
          Feature("last_5", Agg::LAST_N, 0, 0, 0, 5),
          Feature("ewm", Agg::EWM, 0, 0, 0, 10 * kMin)};
}

enum Mode { kWire, kCompact, kCompactK3, kPromoteAll, kModes };
const char* kModeName[kModes] = {"wire", "compact", "compact K=3", "promote all"};

StoreSpec Spec(Mode m, int64_t ttl_ms, uint64_t memory_bytes) {
  StoreSpec spec = OneTable(Features(), 2, /*lateness*/ 2 * 60 * kMin, ttl_ms, memory_bytes, /*shards*/ 4);
  TableSpec& t = spec.tables[0];
  t.huge_pages = false;
  t.compact_slots = m == kWire ? 0 : m == kCompactK3 ? 3 : -1;
  t.promote_all = m == kPromoteAll;
  return spec;
}

bool SameBits(const ReadOut& a, const ReadOut& b) {
  return a.found == b.found && a.v.size() == b.v.size() && std::memcmp(&a.age, &b.age, 8) == 0 &&
         std::memcmp(a.v.data(), b.v.data(), 8 * a.v.size()) == 0;
}

struct World {
  std::mt19937_64 rng;
  double now = 1.7e12;
  std::vector<uint64_t> keys;  // 0..4: heavy entities
  explicit World(uint64_t seed, int nkeys) : rng(seed) {
    for (int i = 0; i < nkeys; i++) keys.push_back(Key(uint64_t(7000 + i)));
  }
  double U() { return std::uniform_real_distribution<double>(0, 1)(rng); }
  // n events: mostly on time, some late (up to 70 min: out of order, some past the ring),
  // some from a clock ahead; heavy entities take a third of them with many categories.
  Batch Events(int n) {
    Batch b(2);
    for (int i = 0; i < n; i++) {
      now += std::floor(U() * 3000);
      const bool heavy = U() < 0.33;
      const uint64_t key = heavy ? keys[rng() % 5] : keys[5 + rng() % (keys.size() - 5)];
      double ts = now - std::floor(U() * 5000);
      const double r = U();
      if (r < 0.1) ts = now - std::floor(U() * 70 * kMin);
      else if (r < 0.12) ts = now + std::floor(U() * 9000);
      if (ts < 0) ts = 0;
      const double amount = std::round(U() * 100000) / 100 - 200;
      const double cat = double(heavy ? rng() % 1000 : rng() % 4);
      b.Add(key, ts, {amount, cat});
    }
    return b;
  }
};

struct Stores {
  std::shared_ptr<Store> s[kModes];
  Stores(int64_t ttl_ms, uint64_t memory_bytes) {
    for (int m = 0; m < kModes; m++) s[m] = MakeStore(Spec(Mode(m), ttl_ms, memory_bytes));
  }
  void Ingest(const Batch& b, double now) {
    for (auto& st : s) CHECK_OK(b.Ingest(*st, now));
  }
  void Sweep(double now) {
    for (auto& st : s) st->Sweep(now, 1u << 20);
  }
};

// Every key read at several times, and exported, from each store; `what` names the check.
void CheckSame(std::shared_ptr<Store>* s, int n, const World& w, const std::string& what, bool stats = true) {
  const Table& t0 = s[0]->table(0);
  const size_t rb = t0.layout().row_bytes;
  std::vector<uint8_t> r0(rb), r1(rb);
  int bad_reads = 0, bad_rows = 0;
  for (uint64_t key : w.keys) {
    for (double at : {w.now, w.now + 5 * kMin, w.now + 50 * kMin, w.now + 3 * 60 * kMin}) {
      const ReadOut want = Read(t0, key, at);
      for (int m = 1; m < n; m++) bad_reads += !SameBits(want, Read(s[m]->table(0), key, at));
    }
    const bool found = t0.ExportRow(key, r0.data());
    if (!stats && found) row::At<uint64_t>(r0.data(), row::kOffTouch) = 0;  // the importer's clock
    for (int m = 1; m < n; m++) {
      const bool f1 = s[m]->table(0).ExportRow(key, r1.data());
      if (!stats && f1) row::At<uint64_t>(r1.data(), row::kOffTouch) = 0;
      bad_rows += f1 != found || (found && std::memcmp(r0.data(), r1.data(), rb) != 0);
    }
  }
  Record(bad_reads == 0, __FILE__, __LINE__, what + ": reads that differ: " + std::to_string(bad_reads));
  Record(bad_rows == 0, __FILE__, __LINE__, what + ": exported rows that differ: " + std::to_string(bad_rows));
  if (!stats) return;
  const TableStats a = t0.Stats();
  for (int m = 1; m < n; m++) {
    const TableStats b = s[m]->table(0).Stats();
    Record(a.live == b.live && a.evicted_lru == b.evicted_lru && a.evicted_ttl == b.evicted_ttl &&
               a.updates == b.updates && a.watermark_ms == b.watermark_ms,
           __FILE__, __LINE__, what + ": stats differ");
  }
}

std::string ReadFile(const std::string& path) {
  std::string out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

void TestCompactMatchesWireForm() {
  // A budget of ~40 entities per shard for 205 keys: LRU evictions; a 3 h TTL with sweeps.
  const uint64_t per = MakeStore(Spec(kWire, 0, 64 << 20))->table(0).layout().row_bytes + 32;
  World w(17, 205);
  Stores st(3 * 60 * kMin, 4 * 40 * per);
  CHECK(st.s[kWire]->table(0).layout().compact == false);
  CHECK(st.s[kCompact]->table(0).layout().compact);
  CHECK(st.s[kCompact]->table(0).layout().mem_bytes * 2 < st.s[kWire]->table(0).layout().row_bytes);
  uint64_t max_promoted = 0, max_promoted_k3 = 0;
  for (int round = 0; round < 30; round++) {
    const Batch b = w.Events(1500);
    st.Ingest(b, w.now);
    if (round % 7 == 6) {  // a quiet spell: rings and HLLs expire, TTL removes idle rows
      const uint64_t before = st.s[kCompactK3]->table(0).Stats().promoted;
      w.now += 2.5 * 60 * kMin;
      st.Sweep(w.now);
      // One event for every entity: each moves its head, and a promoted row whose state
      // has expired goes back to the compact form.
      Batch one(2);
      for (uint64_t key : w.keys) one.Add(key, w.now, {1, 1});
      st.Ingest(one, w.now);
      CheckSame(st.s, kModes, w, "after a quiet spell, round " + std::to_string(round));
      Record(before > 0 && st.s[kCompact]->table(0).Stats().promoted == 0 && st.s[kCompactK3]->table(0).Stats().promoted == 0,
             __FILE__, __LINE__, "rows go back to the compact form (K=3: " + std::to_string(before) + " before)");
    }
    max_promoted = std::max(max_promoted, st.s[kCompact]->table(0).Stats().promoted);
    max_promoted_k3 = std::max(max_promoted_k3, st.s[kCompactK3]->table(0).Stats().promoted);
    CheckSame(st.s, kModes, w, "round " + std::to_string(round));
  }
  const TableStats ws = st.s[kWire]->table(0).Stats();
  Record(ws.evicted_lru > 0 && ws.evicted_ttl > 0, __FILE__, __LINE__,
         "the stream evicts (lru " + std::to_string(ws.evicted_lru) + ", ttl " + std::to_string(ws.evicted_ttl) + ")");
  const TableStats cs = st.s[kCompact]->table(0).Stats(), ks = st.s[kCompactK3]->table(0).Stats(),
                   ps = st.s[kPromoteAll]->table(0).Stats();
  Record(max_promoted > 0 && max_promoted_k3 > max_promoted, __FILE__, __LINE__,
         "rows promote (compact " + std::to_string(max_promoted) + ", K=3 " + std::to_string(max_promoted_k3) + ")");
  CHECK(cs.promoted < cs.live);
  CHECK_EQ(ps.promoted, ps.live);
  CHECK_EQ(ws.promoted, 0);
  CHECK(cs.mem_row_bytes < ws.row_bytes && cs.row_bytes == ws.row_bytes);
  CHECK(cs.bytes_per_entity < ws.bytes_per_entity);
  CHECK(ps.allocated_bytes > cs.allocated_bytes && ks.allocated_bytes > cs.allocated_bytes);

  // Snapshots: the cut, then more events (the writer copies rows aside) before the write.
  const std::string base = "/tmp/hotpath-compact-test-" + std::to_string(getpid()) + "-";
  std::unique_ptr<StoreSnapshot> snap[kModes];
  for (int m = 0; m < kModes; m++) CHECK_OK(StoreSnapshot::Begin(st.s[m], &snap[m]));
  // What the cut holds: a copy of every store by export/import (checked against the source).
  std::shared_ptr<Store> cut[kModes];
  for (int m = 0; m < kModes; m++) {
    cut[m] = MakeStore(Spec(kWire, 0, 64 << 20));
    std::vector<uint8_t> row(st.s[m]->table(0).layout().row_bytes);
    for (uint64_t key : w.keys)
      if (st.s[m]->table(0).ExportRow(key, row.data())) cut[m]->table(0).ImportRow(key, row.data(), w.now);
  }
  const World at_cut = w;
  const Batch after_cut = w.Events(3000);
  st.Ingest(after_cut, w.now);
  for (int m = 0; m < kModes; m++) {
    CHECK_OK(snap[m]->Write(base + std::to_string(m)));
    CHECK(snap[m]->stats().writer_copies > 0);
    snap[m]->End();
  }
  // The compact stores write the same file (a wire-form table's free rows keep stale
  // bytes, which the compact form does not hold: its file differs there only).
  const std::string f1 = ReadFile(base + std::to_string(kCompact));
  CHECK(!f1.empty());
  CHECK(f1 == ReadFile(base + std::to_string(kCompactK3)));
  CHECK(f1 == ReadFile(base + std::to_string(kPromoteAll)));
  // Every file restores into every kind of table, to the state at the cut.
  for (int from = 0; from < kModes; from++) {
    std::shared_ptr<Store> r[kModes + 1];
    r[0] = cut[from];
    for (int m = 0; m < kModes; m++) {
      r[m + 1] = MakeStore(Spec(Mode(m), 3 * 60 * kMin, 4 * 40 * per));
      RestoreStats rs;
      CHECK_OK(RestoreSnapshot(*r[m + 1], base + std::to_string(from), &rs));
    }
    CheckSame(r, kModes + 1, at_cut, std::string("restored from ") + kModeName[from], false);
    CheckSame(r + 1, kModes, at_cut, std::string("restored stats from ") + kModeName[from]);
    // And the restored stores go on alike.
    World w2 = at_cut;
    const Batch more = w2.Events(2000);
    for (int m = 1; m <= kModes; m++) CHECK_OK(more.Ingest(*r[m], w2.now));
    CheckSame(r + 1, kModes, w2, std::string("after restore from ") + kModeName[from]);
    // Restoring compacts: rows that promoted only for entries that have since expired do not.
    CHECK(r[1 + kCompact]->table(0).Stats().promoted <= st.s[kCompact]->table(0).Stats().live);
  }
  for (int m = 0; m < kModes; m++) std::remove((base + std::to_string(m)).c_str());

  // Rows exported from the wire-form table import into the others to the same reads.
  Stores imp(0, 64 << 20);
  const size_t rb = st.s[kWire]->table(0).layout().row_bytes;
  std::vector<uint8_t> row(rb);
  for (uint64_t key : w.keys)
    if (st.s[kWire]->table(0).ExportRow(key, row.data()))
      for (auto& s : imp.s) CHECK(s->table(0).ImportRow(key, row.data(), w.now) == ImportResult::kInserted);
  std::shared_ptr<Store> with_src[kModes + 1] = {st.s[kWire], imp.s[0], imp.s[1], imp.s[2], imp.s[3]};
  CheckSame(with_src, kModes + 1, w, "imported", false);
}

// A wire row the compact form cannot hold exactly (a tile outside the bitmap that is not
// empty, as no store writes) is kept promoted, byte for byte.
void TestOddWireRowsPromote() {
  auto a = MakeStore(Spec(kWire, 0, 4 << 20));
  auto b = MakeStore(Spec(kCompact, 0, 4 << 20));
  Batch batch(2);
  batch.Add(Key(1), 1.7e12, {5, 1}).Add(Key(2), 1.7e12, {6, 2});
  CHECK_OK(batch.Ingest(*a, 1.7e12));
  const row::Layout& L = a->table(0).layout();
  std::vector<uint8_t> row(L.row_bytes), back(L.row_bytes);
  CHECK(a->table(0).ExportRow(Key(1), row.data()));
  CHECK(b->table(0).ImportRow(Key(1), row.data(), 1.7e12) == ImportResult::kInserted);
  CHECK_EQ(b->table(0).Stats().promoted, 0);
  const row::Group& g = L.groups[0];
  const uint32_t slot = row::Slot(row::Epoch(1.7e12, g.tile_ms) + 5, g.ntiles);
  row::At<double>(row.data(), g.off_tiles + slot * g.tile_bytes) = 42;  // a value in a tile marked empty
  CHECK(b->table(0).ImportRow(Key(3), row.data(), 1.7e12) == ImportResult::kInserted);
  CHECK_EQ(b->table(0).Stats().promoted, 1);
  CHECK(b->table(0).ExportRow(Key(3), back.data()));
  row::At<uint64_t>(row.data(), row::kOffKey) = Key(3);
  CHECK(std::memcmp(back.data(), row.data(), 16) == 0);
  CHECK(std::memcmp(back.data() + 24, row.data() + 24, L.row_bytes - 24) == 0);
}

// Readers under the seqlock while the writer promotes and demotes rows (3 ring slots of a
// 70-tile ring; the clock jumps now and then so that rows go back): count == sum in every
// read, Read and ReadMany alike.
void TestConcurrentReadsWhileRowsPromote() {
  StoreSpec spec = OneTable({Feature("count", Agg::COUNT, -1, 60000, 1000), Feature("sum", Agg::SUM, 0, 60000, 1000)},
                            1, 0, 0, 1 << 20, 2);
  spec.tables[0].compact_slots = 3;
  auto st = MakeStore(spec);
  const Table& t = st->table(0);
  CHECK(t.layout().compact);
  const int nkeys = 4;
  std::atomic<bool> stop{false};
  std::atomic<double> clock{0};
  std::atomic<uint64_t> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; r++) {
    readers.emplace_back([&, r] {
      std::vector<double> out(size_t(t.width()) * nkeys), ages(nkeys);
      std::vector<uint64_t> keys;
      for (int k = 0; k < nkeys; k++) keys.push_back(Key(uint64_t(k)));
      uint64_t n = 0;
      int bad = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const double now = clock.load(std::memory_order_relaxed);
        if (n % 2 == 0) {
          t.Read(keys[(n + r) % nkeys], now, out.data(), ages.data());
          bad += out[0] != out[1];
        } else {
          t.ReadMany(keys.data(), keys.size(), now, out.data(), ages.data());
          for (int k = 0; k < nkeys; k++) bad += out[2 * k] != out[2 * k + 1];
        }
        n++;
      }
      g_thread_failures += bad;
      reads += n;
    });
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
  double ts = 0;
  uint64_t batches = 0, max_promoted = 0, demoted_seen = 0;
  Batch b(1);
  while (std::chrono::steady_clock::now() < end) {
    b.keys.clear();
    b.ts.clear();
    b.values.clear();
    const bool jump = ++batches % 20 == 0;
    if (jump) ts += 100000;  // the ring expires: rows go back on their next event
    for (int i = 0; i < (jump ? nkeys : 64); i++) {
      b.Add(Key(uint64_t(i % nkeys)), ts, {1.0});
      if (i % 16 == 15) ts += 1000;
    }
    if (!b.Ingest(*st, ts).ok()) {
      g_thread_failures++;
      break;
    }
    const uint64_t p = st->table(0).Stats().promoted;
    demoted_seen += jump && max_promoted > 0 && p == 0;
    max_promoted = std::max(max_promoted, p);
    clock.store(ts, std::memory_order_relaxed);
  }
  stop = true;
  for (auto& th : readers) th.join();
  const int failures = g_thread_failures.exchange(0);
  Record(failures == 0, __FILE__, __LINE__, "count == sum in every concurrent read (" + std::to_string(failures) + " failed)");
  CHECK(reads.load() > 1000);
  CHECK(max_promoted > 0);
  CHECK(demoted_seen > 0);
}

// The memory budget pays for the compact rows and, out of what they leave, the ext blocks
// of promoted rows: when more rows must promote than that holds, another promoted row is
// evicted (LRU), so that allocated memory stays within the budget. Every entity still
// present reads as a store with room for all of them does.
void TestPromotedRowsStayWithinBudget() {
  const uint64_t per = MakeStore(Spec(kWire, 0, 64 << 20))->table(0).layout().row_bytes + 32;
  const uint64_t budget = 4 * 40 * per;  // about 40 entities a shard
  std::shared_ptr<Store> small = MakeStore(Spec(kCompactK3, 0, budget));
  std::shared_ptr<Store> room = MakeStore(Spec(kWire, 0, 64 << 20));
  World w(29, 300);
  uint64_t max_alloc = 0;
  for (int round = 0; round < 12; round++) {
    // 25 new entities a round (one evicted is never written again, so that the ones kept
    // have all their events), each with events in 6 tiles: more than K=3 slots, so each
    // must promote.
    Batch b(2);
    for (int t = 0; t < 6; t++)
      for (size_t i = 0; i < 25; i++) b.Add(w.keys[size_t(round) * 25 + i], w.now + t * kMin, {double(i), double(t)});
    w.now += 6 * kMin;
    CHECK_OK(b.Ingest(*small, w.now));
    CHECK_OK(b.Ingest(*room, w.now));
    max_alloc = std::max(max_alloc, small->table(0).Stats().allocated_bytes);
  }
  const TableStats st = small->table(0).Stats();
  CHECK(max_alloc <= budget);
  CHECK(st.promoted > 0);
  CHECK(st.evicted_lru > 0);
  // Evicted entities read as absent; the others as the roomy store reads them.
  int present = 0, bad = 0;
  for (uint64_t key : w.keys) {
    const ReadOut a = Read(small->table(0), key, w.now);
    if (!a.found) continue;
    present++;
    bad += !SameBits(a, Read(room->table(0), key, w.now));
  }
  CHECK(present > 0);
  Record(bad == 0, __FILE__, __LINE__, "entities kept read as with room for all: " + std::to_string(bad) + " of " + std::to_string(present) + " differ");
}

}  // namespace

void RunCompactStoreTests() {
  RUN(TestCompactMatchesWireForm);
  RUN(TestOddWireRowsPromote);
  RUN(TestConcurrentReadsWhileRowsPromote);
  RUN(TestPromotedRowsStayWithinBudget);
}
