// libFuzzer target: the binary EVENTS frame row decoder (native/core/event_rows.h,
// DecodeRows), then, when the rows decode, the store's write path on what they decoded
// (Store::Ingest: shard index, windows, HLL, eviction, TTL sweeps) and reads of every key.
//
// Input: [u8 column count - 1 (mod 8)] then per column [u8: bit 0 the type (0 f64, 1 str16),
// bits 1-6 the uses: key user, key merchant, time, amount (number), country (category),
// user id (category); none is SKIP], [u8 event count], [u8: bits 0-1 how far the clock
// moves between two ingests of the same rows], then the rows as the frame carries them.
// The plan it builds follows the rules the binding's CheckPlan enforces (columns in
// order, one type per column, valid roles and indices); DecodeRows must be safe on any
// rows for such a plan.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/event_rows.h"
#include "fuzz_util.h"

using namespace hotpath;

namespace {

struct Use {
  RowRole role;
  int index;
};
// Bit i+1 of a column byte -> what it feeds.
constexpr Use kUses[] = {{RowRole::KEY, 0}, {RowRole::KEY, 1}, {RowRole::TIME, 0}, {RowRole::NUMBER, 0}, {RowRole::CATEGORY, 1}, {RowRole::CATEGORY, 2}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const int ncols = 1 + in.U8() % 8;
  std::vector<RowColumn> plan;
  uint32_t keys_fed = 0, fields_fed = 0;
  for (int c = 0; c < ncols; c++) {
    const uint8_t b = in.U8();
    const int type = (b & 1) ? kRowTypeStr16 : kRowTypeF64;
    const size_t before = plan.size();
    for (int u = 0; u < 6; u++) {
      if (!(b & (2 << u))) continue;
      plan.push_back(RowColumn{c, type, kUses[u].role, kUses[u].index});
      if (kUses[u].role == RowRole::KEY) keys_fed |= 1u << kUses[u].index;
      if (kUses[u].role == RowRole::NUMBER || kUses[u].role == RowRole::CATEGORY) fields_fed |= 1u << kUses[u].index;
    }
    if (plan.size() == before) plan.push_back(RowColumn{c, type, RowRole::SKIP, 0});
  }
  const size_t n = in.U8();
  const int step = in.U8() & 3;
  size_t len;
  const uint8_t* rows = in.Rest(&len);

  constexpr int kFields = 3;
  std::vector<uint64_t> k0(n), k1(n);
  std::vector<double> ts(n), values(n * kFields);
  uint64_t* keys[2] = {k0.data(), k1.data()};
  const double max_ts = fuzz::kNowMs + 10000;
  const RowFault f = DecodeRows(rows, len, n, plan.data(), int(plan.size()), kFields, fuzz::kNowMs, max_ts, keys, ts.data(), values.data());
  if (f.error >= RowError::kCount) __builtin_trap();
  if (f.error != RowError::OK) {
    if (f.event > n || f.column >= uint32_t(ncols)) __builtin_trap();  // the fault names a real event and column
    return 0;
  }
  // A plan that feeds every key and field is what the binding lets through to Ingest.
  if (keys_fed != 3 || fields_fed != 7) return 0;
  std::shared_ptr<Store> store = fuzz::NewStore();
  const uint64_t* ckeys[2] = {k0.data(), k1.data()};
  for (int round = 0; round <= step; round++) {
    const double now = fuzz::kNowMs + round * 1800000.0;  // later rounds make earlier events late, or expire them
    IngestResult r;
    if (!store->Ingest(0, n, ckeys, ts.data(), values.data(), now, &r).ok()) __builtin_trap();
    if (r.accepted + r.late != n) __builtin_trap();
    store->Sweep(now, 64);
  }
  std::vector<double> out(n * size_t(store->table(0).width() + store->table(1).width()) + 1), ages(n + 1);
  for (size_t i = 0; i < n; i++) {
    double age;
    store->table(1).Read(k1[i], fuzz::kNowMs, out.data(), &age);
  }
  if (store->table(0).ReadMany(k0.data(), n, fuzz::kNowMs, out.data(), ages.data()) > n) __builtin_trap();
  return 0;
}
