// Tests of the durability pieces of the core: CRC-32C, the write-ahead-log record, and
// store snapshots (round trip, the consistent cut while the writer keeps writing, and the
// refusals). Run by core_test's main.
#include <unistd.h>

#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "../core/crc32c.h"
#include "../core/snapshot.h"
#include "../core/wal_record.h"
#include "test_util.h"

using namespace hptest;

namespace {

// ---------------------------------------------------------------------------------------
// CRC-32C

void TestCrc32cVectors() {
  // RFC 3720 (iSCSI) B.4 test vectors, and the usual check value.
  const char* check = "123456789";
  CHECK_EQ(Crc32c(0, check, 9), 0xe3069283u);
  uint8_t buf[32];
  std::memset(buf, 0, 32);
  CHECK_EQ(Crc32c(0, buf, 32), 0x8a9136aau);
  std::memset(buf, 0xff, 32);
  CHECK_EQ(Crc32c(0, buf, 32), 0x62a8ab43u);
  for (int i = 0; i < 32; i++) buf[i] = uint8_t(i);
  CHECK_EQ(Crc32c(0, buf, 32), 0x46dd794eu);
  for (int i = 0; i < 32; i++) buf[i] = uint8_t(31 - i);
  CHECK_EQ(Crc32c(0, buf, 32), 0x113fdb5cu);
  // Hardware and portable agree at every length and alignment, and extend piecewise.
  std::mt19937_64 rng(7);
  std::vector<uint8_t> data(4096 + 16);
  for (auto& b : data) b = uint8_t(rng());
  bool same = true, pieces = true;
  for (int t = 0; t < 400; t++) {
    const size_t off = rng() % 16, len = rng() % 4096, cut = len ? rng() % len : 0;
    const uint32_t whole = Crc32c(0, data.data() + off, len);
    same = same && whole == Crc32cPortable(0, data.data() + off, len);
    pieces = pieces && whole == Crc32c(Crc32c(0, data.data() + off, cut), data.data() + off + cut, len - cut);
  }
  CHECK(same);
  CHECK(pieces);
}

// ---------------------------------------------------------------------------------------
// WAL record

void TestWalRecordRoundTrip() {
  std::mt19937_64 rng(11);
  for (int t = 0; t < 200; t++) {
    const size_t n = rng() % 50;
    const int nkeys = 1 + int(rng() % 3), nfields = int(rng() % 5);
    std::vector<std::vector<uint64_t>> keys(nkeys, std::vector<uint64_t>(n));
    std::vector<const uint64_t*> kp;
    for (auto& col : keys) {
      for (auto& k : col) k = rng();
      kp.push_back(col.data());
    }
    std::vector<double> ts(n), values(n * size_t(nfields));
    for (auto& x : ts) x = double(rng() % 1000000);
    for (auto& x : values) x = double(int64_t(rng() % 2000001) - 1000000) / 7.0;
    const size_t bytes = WalBatchRecordBytes(n, nkeys, nfields);
    CHECK_EQ(bytes % 8, 0);
    CHECK_EQ(bytes, (kWalHeaderBytes + kWalBatchHeaderBytes + n * 8 * (nkeys + 1 + nfields) + 7) / 8 * 8);
    std::vector<uint8_t> rec(bytes + 24, 0xee);
    WalEncodeBatch(rec.data(), 1000 + t, t % 4, n, nkeys, nfields, kp.data(), ts.data(), values.data(), 12345.5 + t);
    WalBatchView v;
    CHECK(WalReadBatch(rec.data(), bytes, &v) == WalRead::OK);
    CHECK_EQ(v.seq, 1000 + t);
    CHECK_EQ(v.record_bytes, bytes);
    CHECK_EQ(v.stream, t % 4);
    CHECK_EQ(v.n, n);
    CHECK_EQ(v.nkeys, nkeys);
    CHECK_EQ(v.nfields, nfields);
    CHECK_EQ(v.now_ms, 12345.5 + t);
    bool same = true;
    for (int k = 0; k < nkeys && n > 0; k++)
      same = same && std::memcmp(rec.data() + v.keys_at + size_t(k) * n * 8, keys[k].data(), n * 8) == 0;
    same = same && (n == 0 || std::memcmp(rec.data() + v.ts_at, ts.data(), n * 8) == 0);
    same = same && (n * nfields == 0 || std::memcmp(rec.data() + v.values_at, values.data(), n * nfields * 8) == 0);
    CHECK(same);
    // Any flipped bit of the header or payload is caught; a cut record is torn.
    const size_t payload_end = kWalHeaderBytes + WalBatchPayloadBytes(n, nkeys, nfields);
    bool caught = true;
    for (int flip = 0; flip < 16; flip++) {
      std::vector<uint8_t> bad(rec.begin(), rec.begin() + bytes);
      bad[rng() % payload_end] ^= uint8_t(1u << (rng() % 8));
      caught = caught && WalReadBatch(bad.data(), bad.size(), &v) != WalRead::OK;
    }
    CHECK(caught);
    CHECK(WalReadBatch(rec.data(), bytes - 8, &v) == WalRead::TORN);
  }
  std::vector<uint8_t> zeros(64, 0);
  WalBatchView v;
  CHECK(WalReadBatch(zeros.data(), zeros.size(), &v) == WalRead::END);
  CHECK(WalReadBatch(zeros.data(), 5, &v) == WalRead::END);
  zeros[3] = 1;
  CHECK(WalReadBatch(zeros.data(), 5, &v) == WalRead::TORN);
  CHECK(WalBatchRecordBytes(1, 0, 1) == 0);                  // no key column
  CHECK(WalBatchRecordBytes(1, kMaxKeyColumns + 1, 1) == 0);  // too many
  CHECK(WalBatchRecordBytes(size_t(1) << 25, 1, 1) == 0);     // too many events
}

// ---------------------------------------------------------------------------------------
// Snapshots

// A store with windows, last/last_n/ewm/distinct state, a TTL and a small budget (so
// evictions and the free list are part of what a snapshot must carry).
StoreSpec SnapSpec(uint64_t memory = 64ull << 10) {
  return OneTable({Feature("count", Agg::COUNT, -1, 60000, 1000), Feature("sum", Agg::SUM, 0, 60000, 5000),
                   Feature("max", Agg::MAX, 0, 30000, 1000), Feature("std", Agg::STDDEV, 0, 60000, 1000),
                   Feature("last", Agg::LAST, 0), Feature("last3", Agg::LAST_N, 0, 0, 0, 3),
                   Feature("ewm", Agg::EWM, 0, 0, 0, 10000), Feature("distinct", Agg::DISTINCT, 1, 60000, 10000, 6)},
                  2, /*lateness*/ 5000, /*ttl*/ 3000, memory, /*shards*/ 4);
}

struct Events {
  std::vector<uint64_t> keys;
  std::vector<double> ts, values;
};

// n events over ids [0, ids), times advancing from t0 with jitter; deterministic in seed.
Events MakeEvents(size_t n, uint64_t ids, double t0, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Events e;
  for (size_t i = 0; i < n; i++) {
    e.keys.push_back(Key(rng() % ids));
    e.ts.push_back(t0 + double(i) * 7 + double(rng() % 3000));
    e.values.push_back(double(rng() % 1000) / 10);
    e.values.push_back(double(rng() % 50));
  }
  return e;
}

// The wall clock while event i is ingested: the events' own time, a little ahead.
double NowAt(size_t i) { return 1e6 + double(i) * 7 + 3000; }

void Apply(Store& st, const Events& e, size_t from, size_t to) {
  for (size_t i = from; i < to; i += 64) {
    const size_t n = std::min<size_t>(64, to - i);
    const uint64_t* k[1] = {e.keys.data() + i};
    IngestResult r;
    CHECK_OK(st.Ingest(0, n, k, e.ts.data() + i, e.values.data() + i * 2, NowAt(i), &r));
    if (i % 1024 == 0) st.Sweep(NowAt(i), 50);
  }
}

bool SameStores(Store& a, Store& b, uint64_t ids, double now) {
  const TableStats sa = a.table(0).Stats(), sb = b.table(0).Stats();
  if (sa.live != sb.live || sa.evicted_lru != sb.evicted_lru || sa.evicted_ttl != sb.evicted_ttl ||
      sa.updates != sb.updates || sa.watermark_ms != sb.watermark_ms)
    return false;
  for (uint64_t i = 0; i < ids; i++)
    if (!SameOutput(Read(a.table(0), Key(i), now), Read(b.table(0), Key(i), now))) return false;
  return true;
}

std::string TempPath(const char* name) {
  return std::string("/tmp/hotpath-core-test-") + std::to_string(getpid()) + "-" + name;
}

void TestSnapshotRoundTrip() {
  const uint64_t ids = 600;
  const Events ev = MakeEvents(20000, ids, 1e6, 3);
  auto a = MakeStore(SnapSpec());
  Apply(*a, ev, 0, 12000);
  CHECK(a->table(0).Stats().evicted_lru > 0);  // the budget is small enough to evict
  CHECK(a->table(0).Stats().evicted_ttl > 0);  // and the sweeps free rows
  const std::string path = TempPath("roundtrip");
  std::unique_ptr<StoreSnapshot> snap;
  CHECK_OK(StoreSnapshot::Begin(a, &snap));
  std::unique_ptr<StoreSnapshot> second;
  CHECK_CODE(StoreSnapshot::Begin(a, &second), Code::UNAVAILABLE);  // one at a time
  CHECK_OK(snap->Write(path));
  snap->End();
  const SnapshotStats ss = snap->stats();
  CHECK_EQ(ss.live, a->table(0).Stats().live);
  CHECK(ss.bytes > 0);
  CHECK_EQ(ss.writer_copies, 0);

  auto b = MakeStore(SnapSpec());
  RestoreStats rs;
  CHECK_OK(RestoreSnapshot(*b, path, &rs));
  CHECK_EQ(rs.live, ss.live);
  CHECK_EQ(rs.bytes, ss.bytes);
  CHECK(SameStores(*a, *b, ids, NowAt(12000)));
  // The restored store goes on exactly as the original: same evictions, same free rows.
  Apply(*a, ev, 12000, 20000);
  Apply(*b, ev, 12000, 20000);
  CHECK(SameStores(*a, *b, ids, NowAt(20000)));
  // A store that holds data already is refused.
  CHECK_CODE(RestoreSnapshot(*b, path, &rs), Code::INVALID_ARG);
  // So is another layout (here: another row size) and a missing file.
  auto other = MakeStore(OneTable({Feature("count", Agg::COUNT, -1, 60000, 1000)}, 2, 5000, 40000, 64ull << 10, 4));
  CHECK_CODE(RestoreSnapshot(*other, path, &rs), Code::INVALID_ARG);
  auto fewer = MakeStore(SnapSpec(16ull << 10));  // a budget that holds fewer rows than the snapshot
  CHECK_CODE(RestoreSnapshot(*fewer, path, &rs), Code::INVALID_ARG);
  auto none = MakeStore(SnapSpec());
  CHECK_CODE(RestoreSnapshot(*none, path + ".missing", &rs), Code::NOT_FOUND);
  // An empty store round-trips too.
  auto empty = MakeStore(SnapSpec());
  CHECK_OK(StoreSnapshot::Begin(empty, &second));
  CHECK_OK(second->Write(path + ".empty"));
  second->End();
  auto empty2 = MakeStore(SnapSpec());
  CHECK_OK(RestoreSnapshot(*empty2, path + ".empty", &rs));
  CHECK_EQ(rs.live, 0);
  unlink(path.c_str());
  unlink((path + ".empty").c_str());
}

void TestSnapshotDetectsCorruption() {
  const Events ev = MakeEvents(5000, 300, 1e6, 5);
  auto a = MakeStore(SnapSpec(1ull << 20));
  Apply(*a, ev, 0, 5000);
  const std::string path = TempPath("corrupt");
  std::unique_ptr<StoreSnapshot> snap;
  CHECK_OK(StoreSnapshot::Begin(a, &snap));
  CHECK_OK(snap->Write(path));
  snap->End();
  std::vector<uint8_t> file;
  {
    FILE* f = std::fopen(path.c_str(), "rb");
    CHECK(f != nullptr);
    if (!f) return;
    uint8_t buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) file.insert(file.end(), buf, buf + n);
    std::fclose(f);
  }
  auto write_file = [&](const std::vector<uint8_t>& bytes) {
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  };
  std::mt19937_64 rng(9);
  int refused = 0, empty_after = 0;
  const int tries = 60;
  auto b = MakeStore(SnapSpec(1ull << 20));
  for (int t = 0; t < tries; t++) {
    std::vector<uint8_t> bad = file;
    if (t % 3 == 0) bad.resize(rng() % bad.size());            // cut short
    else bad[8 + rng() % (bad.size() - 8)] ^= uint8_t(1u << (rng() % 8));  // a flipped bit
    write_file(bad);
    RestoreStats rs;
    const Status s = RestoreSnapshot(*b, path, &rs);
    refused += !s.ok();
    // A refused restore leaves the store empty: the same store takes another snapshot.
    if (!s.ok()) empty_after += b->table(0).Stats().live == 0 && b->table(0).Stats().updates == 0 && !Read(b->table(0), Key(1), 0).found;
  }
  CHECK_EQ(refused, tries);
  CHECK_EQ(empty_after, tries);
  write_file(file);
  RestoreStats rs;
  CHECK_OK(RestoreSnapshot(*b, path, &rs));
  CHECK(SameStores(*a, *b, 300, NowAt(5000)));
  unlink(path.c_str());
}

// The cut: the snapshot holds the state at Begin even though the writer keeps ingesting,
// sweeping and evicting while the background thread writes it.
void TestSnapshotIsAConsistentCut() {
  const uint64_t ids = 20000;
  const Events ev = MakeEvents(120000, ids, 1e6, 21);
  const size_t cut = 60000;
  const StoreSpec spec = SnapSpec(12ull << 20);
  auto live = MakeStore(spec);
  Apply(*live, ev, 0, cut);
  auto at_cut = MakeStore(spec);  // the reference: the same events up to the cut, and no more
  Apply(*at_cut, ev, 0, cut);
  const std::string path = TempPath("cut");
  uint64_t copies = 0;
  for (int round = 0; round < 3; round++) {
    std::unique_ptr<StoreSnapshot> snap;
    CHECK_OK(StoreSnapshot::Begin(live, &snap));
    StoreSnapshot* s = snap.get();
    Status written;
    std::thread bg([&] { written = s->Write(path); });
    if (round > 0) Apply(*live, ev, cut + (round - 1) * 30000, cut + round * 30000);  // writes race the encoder
    bg.join();
    snap->End();
    CHECK_OK(written);
    copies += snap->stats().writer_copies;
    auto restored = MakeStore(spec);
    RestoreStats rs;
    CHECK_OK(RestoreSnapshot(*restored, path, &rs));
    Record(SameStores(*at_cut, *restored, ids, NowAt(120000)), __FILE__, __LINE__, "round " + std::to_string(round) + ": the snapshot is the cut");
    // The reference catches up with what the writer applied during this round.
    if (round > 0) Apply(*at_cut, ev, cut + (round - 1) * 30000, cut + round * 30000);
  }
  std::printf("   (writer copied %llu rows aside while snapshots were written)\n", (unsigned long long)copies);
  CHECK(SameStores(*live, *at_cut, ids, NowAt(120000)));
  unlink(path.c_str());
}

void TestSnapshotWriteErrors() {
  auto a = MakeStore(SnapSpec());
  const Events ev = MakeEvents(4000, 100, 1e6, 1);
  Apply(*a, ev, 0, 2000);
  std::unique_ptr<StoreSnapshot> snap;
  CHECK_OK(StoreSnapshot::Begin(a, &snap));
  CHECK_CODE(snap->Write("/nonexistent-dir/x.snap"), Code::UNAVAILABLE);
  snap->End();
  // The writer is released: it ingests, and the next snapshot can begin.
  Apply(*a, ev, 2000, 4000);
  CHECK_OK(StoreSnapshot::Begin(a, &snap));
  if (access("/dev/full", W_OK) == 0) CHECK_CODE(snap->Write("/dev/full"), Code::RESOURCE_EXHAUSTED);
  snap->End();
}

}  // namespace

void RunDurabilityTests() {
  RUN(TestCrc32cVectors);
  RUN(TestWalRecordRoundTrip);
  RUN(TestSnapshotRoundTrip);
  RUN(TestSnapshotDetectsCorruption);
  RUN(TestSnapshotIsAConsistentCut);
  RUN(TestSnapshotWriteErrors);
}
