// Tests of whole-row export and import between stores (Table::ExportRow / ImportRow), what
// the online store (src/redis/online-store.ts) moves through Redis. Run by core_test's main.
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/feature_store.h"
#include "test_util.h"

using namespace hotpath;
using namespace hptest;

namespace {

std::vector<FeatureSpec> Features() {
  return {Feature("count", Agg::COUNT, -1, 60000, 1000), Feature("sum", Agg::SUM, 0, 60000, 1000),
          Feature("last", Agg::LAST, 0),                 Feature("distinct", Agg::DISTINCT, 1, 60000, 1000, 10),
          Feature("last_n", Agg::LAST_N, 0, 0, 0, 3),    Feature("ewm", Agg::EWM, 0, 0, 0, 1000)};
}

void TestExportImportRoundTrip() {
  auto a = MakeStore(OneTable(Features(), 2, /*lateness*/ 100000));
  auto b = MakeStore(OneTable(Features(), 2, /*lateness*/ 100000));
  Table& ta = a->table(0);
  Table& tb = b->table(0);
  const size_t rb = ta.layout().row_bytes;
  CHECK_EQ(rb, size_t(tb.layout().row_bytes));
  Batch batch(2);
  for (int e = 0; e < 50; e++)
    for (int i = 0; i < 5; i++) batch.Add(Key(e), 1000 + 100 * i + e, {double(e * 10 + i), double(i % 3)});
  CHECK_OK(batch.Ingest(*a, 2000));

  std::vector<uint8_t> row(rb, 0xAB);
  // An absent entity: false, and out untouched.
  CHECK(!ta.ExportRow(Key(999), row.data()));
  CHECK(!ta.Contains(Key(999)));
  CHECK_EQ(row[0], 0xAB);
  CHECK(!ta.ExportRow(Key(999), row.data()));

  // Every entity exported from a and imported into b reads the same in b.
  for (int e = 0; e < 50; e++) {
    CHECK(ta.Contains(Key(e)));
    CHECK(!tb.Contains(Key(e)));
    CHECK(ta.ExportRow(Key(e), row.data()));
    CHECK(tb.ImportRow(Key(e), row.data(), 2000) == ImportResult::kInserted);
    CHECK(tb.Contains(Key(e)));
  }
  CHECK_EQ(tb.Stats().live, 50);
  for (int e = 0; e < 50; e++) {
    const ReadOut ra = Read(ta, Key(e), 2500), rb2 = Read(tb, Key(e), 2500);
    CHECK(rb2.found);
    CHECK(SameOutput(ra, rb2));
  }
  CHECK_EQ(tb.Stats().watermark_ms, ta.Stats().watermark_ms);

  // Events after the import apply on top of the imported state, as they do on the original.
  Batch more(2);
  more.Add(Key(7), 2100, {5, 9});
  CHECK_OK(more.Ingest(*a, 2200));
  CHECK_OK(more.Ingest(*b, 2200));
  const ReadOut ra = Read(ta, Key(7), 2300), rb2 = Read(tb, Key(7), 2300);
  CHECK(SameOutput(ra, rb2));
  CHECK_EQ(ra[0], 6);  // five events, then one more
}

void TestImportLeavesPresentRows() {
  auto a = MakeStore(OneTable(Features(), 2));
  auto b = MakeStore(OneTable(Features(), 2));
  Batch ba(2), bb(2);
  ba.Add(Key(1), 1000, {1, 1}).Add(Key(1), 1100, {2, 1});
  bb.Add(Key(1), 1000, {40, 2});
  CHECK_OK(ba.Ingest(*a, 1500));
  CHECK_OK(bb.Ingest(*b, 1500));
  std::vector<uint8_t> row(a->table(0).layout().row_bytes);
  CHECK(a->table(0).ExportRow(Key(1), row.data()));
  CHECK(b->table(0).ImportRow(Key(1), row.data(), 1500) == ImportResult::kPresent);
  const ReadOut r = Read(b->table(0), Key(1), 1500);
  CHECK_EQ(r[0], 1);   // b's own count
  CHECK_EQ(r[1], 40);  // and sum
  CHECK_EQ(b->table(0).Stats().live, 1);
}

void TestImportRespectsCapacity() {
  const uint64_t per = MakeStore(OneTable(Features(), 2))->table(0).Stats().bytes_per_entity;
  auto a = MakeStore(OneTable(Features(), 2));
  auto b = MakeStore(OneTable(Features(), 2, 1000000, 0, per * 64, /*shards*/ 1));
  const uint64_t cap = b->table(0).Stats().capacity;
  CHECK(cap > 0 && cap <= 64);
  Batch batch(2);
  for (uint64_t e = 0; e < 4 * cap; e++) batch.Add(Key(e), 1000, {1, 1});
  CHECK_OK(batch.Ingest(*a, 1000));
  std::vector<uint8_t> row(a->table(0).layout().row_bytes);
  for (uint64_t e = 0; e < 4 * cap; e++) {
    CHECK(a->table(0).ExportRow(Key(e), row.data()));
    CHECK(b->table(0).ImportRow(Key(e), row.data(), 1000) == ImportResult::kInserted);
  }
  const TableStats s = b->table(0).Stats();
  CHECK_EQ(s.live, cap);
  CHECK_EQ(s.evicted_lru, 3 * cap);
  // The newest imports survive (they are stamped as just written).
  CHECK(Read(b->table(0), Key(4 * cap - 1), 1000).found);
}

}  // namespace

void RunRowTransferTests() {
  RUN(TestExportImportRoundTrip);
  RUN(TestImportLeavesPresentRows);
  RUN(TestImportRespectsCapacity);
}
