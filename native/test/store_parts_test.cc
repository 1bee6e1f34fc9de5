// Tests of the feature store's pieces one at a time (region, shard index, HLL, row layout,
// windows), below the Store API that core_test.cc exercises. Run by core_test's main.
#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "../core/hll.h"
#include "../core/region.h"
#include "../core/row_layout.h"
#include "../core/shard_index.h"
#include "../core/windows.h"
#include "test_util.h"

using namespace hptest;

namespace {

// ---------------------------------------------------------------------------------------
// Region

void TestRegionIsZeroedAndAligned() {
  Region small;
  uint8_t* p = small.Map(4096);
  CHECK(p != nullptr);
  bool zero = true;
  for (int i = 0; i < 4096; i++) zero = zero && p[i] == 0;
  CHECK(zero);
  p[4095] = 7;
  CHECK_EQ(p[4095], 7);
  CHECK(small.reserved() >= 4096);

  Region big;
  const size_t n = size_t(3) << 20;
  uint8_t* q = big.Map(n);
  CHECK(q != nullptr);
  CHECK_EQ(reinterpret_cast<uintptr_t>(q) % (size_t(2) << 20), 0);  // huge-page aligned
  CHECK(big.reserved() >= n);
  q[0] = 1;
  q[n - 1] = 2;  // the whole requested range is usable past the alignment shift
  CHECK_EQ(q[n - 1], 2);
}

// ---------------------------------------------------------------------------------------
// Shard index

// Keys whose low bits (the home slot) are all `home`, so they collide in the index.
uint64_t Colliding(uint32_t home, uint64_t i) { return (i << 32) | home; }

void TestShardIndexProbesAndBackwardShift() {
  Shard s;
  const uint32_t row_bytes = 32;
  std::vector<uint8_t> fresh(row_bytes, 0);
  CHECK_OK(s.Allocate(16, 8, row_bytes, 1));
  EvictCounts ev;
  // Five keys in one probe chain starting at slot 14: it wraps past the end of the index.
  std::vector<uint64_t> keys;
  for (uint64_t i = 1; i <= 5; i++) keys.push_back(Colliding(14, i));
  s.BeginWrite();
  for (uint64_t k : keys) CHECK(s.FindOrInsert(k, fresh.data(), 0, 0, &ev) != nullptr);
  CHECK_EQ(s.live, 5);
  for (uint64_t k : keys) CHECK(s.Find(k) != nullptr);
  CHECK(s.Find(Colliding(14, 99)) == nullptr);
  // The same key finds the same row; the row starts as `fresh` with its key in the header.
  uint8_t* r0 = s.FindOrInsert(keys[0], fresh.data(), 0, 0, &ev);
  CHECK(r0 == s.Find(keys[0]));
  CHECK_EQ(row::At<uint64_t>(r0, row::kOffKey), double(keys[0]));
  // Removing from the middle of the chain keeps every later key reachable.
  const uint32_t row1 = uint32_t((s.Find(keys[1]) - s.rows) / row_bytes);
  s.Remove(keys[1], row1);
  CHECK_EQ(s.live, 4);
  CHECK(s.Find(keys[1]) == nullptr);
  for (size_t i = 0; i < keys.size(); i++)
    if (i != 1) CHECK(s.Find(keys[i]) != nullptr);
  // A freed row is reused before an unused one.
  const uint32_t next = s.next_unused;
  uint8_t* again = s.FindOrInsert(Colliding(3, 1), fresh.data(), 0, 0, &ev);
  CHECK(again == s.RowPtr(row1));
  CHECK_EQ(s.next_unused, next);
  CHECK_EQ(ev.lru + ev.ttl, 0);
  s.EndWrite(1);
  CHECK(s.RowPtr(8) == nullptr);  // clamped: past the capacity
}

void TestShardIndexMatchesAMapUnderChurn() {
  Shard s;
  const uint32_t row_bytes = 24;
  std::vector<uint8_t> fresh(row_bytes, 0);
  CHECK_OK(s.Allocate(64, 32, row_bytes, 2));
  EvictCounts ev;
  std::set<uint64_t> live;
  std::mt19937_64 rng(7);
  bool ok = true;
  for (int step = 0; step < 20000; step++) {
    const uint64_t k = Colliding(uint32_t(rng() % 8), rng() % 40);  // few homes: long chains
    if (rng() % 3 == 0) {
      const uint8_t* r = s.Find(k);
      ok = ok && ((r != nullptr) == (live.count(k) == 1));
      if (r) {
        s.Remove(k, uint32_t((r - s.rows) / row_bytes));
        live.erase(k);
      }
    } else if (live.size() < 32) {
      uint8_t* r = s.FindOrInsert(k, fresh.data(), 0, 0, &ev);
      row::At<uint64_t>(r, row::kOffTouch) = uint64_t(step) + 1;
      live.insert(k);
    }
    ok = ok && s.live == live.size();
  }
  CHECK(ok);
  for (uint64_t k : live) CHECK(s.Find(k) != nullptr);
  CHECK_EQ(ev.lru + ev.ttl, 0);
}

void TestShardEvictsExpiredThenLeastRecent() {
  Shard s;
  const uint32_t row_bytes = 24;
  std::vector<uint8_t> fresh(row_bytes, 0);
  CHECK_OK(s.Allocate(16, 4, row_bytes, 3));
  EvictCounts ev;
  const double now = 1e6;
  for (uint64_t i = 0; i < 4; i++) {
    uint8_t* r = s.FindOrInsert(Key(i), fresh.data(), 1000, now, &ev);
    row::At<uint64_t>(r, row::kOffTouch) = i == 3 ? 1 : 10 + i;                // key 3 least recently written
    row::At<double>(r, row::kOffLastTs) = i == 3 ? now : now - 5000;           // keys 0-2 past their TTL
  }
  // The full shard evicts one sampled row; an expired one beats the least recent one.
  s.FindOrInsert(Key(10), fresh.data(), 1000, now, &ev);
  CHECK_EQ(ev.ttl, 1);
  CHECK_EQ(ev.lru, 0);
  CHECK_EQ(s.live, 4);
  CHECK(s.Find(Key(3)) != nullptr);
  CHECK(s.Find(Key(10)) != nullptr);
  // With nothing expired, the least recently written of the sample goes.
  for (uint64_t k : {Key(0), Key(1), Key(2), Key(3), Key(10)}) {
    uint8_t* r = const_cast<uint8_t*>(s.Find(k));
    if (r) row::At<double>(r, row::kOffLastTs) = now;
  }
  row::At<uint64_t>(const_cast<uint8_t*>(s.Find(Key(10))), row::kOffTouch) = 99;
  s.FindOrInsert(Key(11), fresh.data(), 1000, now, &ev);
  CHECK_EQ(ev.lru, 1);
  CHECK_EQ(s.live, 4);
  CHECK(s.Find(Key(10)) != nullptr && s.Find(Key(11)) != nullptr);  // the newest stays
}

// ---------------------------------------------------------------------------------------
// HLL

std::vector<uint8_t> FreshHll(int p) {
  std::vector<uint8_t> st(hll::Bytes(p), 0);
  row::At<int64_t>(st.data(), hll::kOffHead) = row::kEmptyEpoch;
  row::At<int64_t>(st.data(), hll::kOffPruned) = row::kEmptyEpoch;
  return st;
}

void TestHllEstimateAndWindow() {
  std::vector<uint8_t> zeros(64, 0);
  CHECK_EQ(hll::Estimate(zeros.data(), 6), 0);
  const int p = 12;
  std::vector<uint8_t> st = FreshHll(p);
  CHECK_EQ(hll::Count(st.data(), p, 10, 12, 100), 0);  // empty
  for (int i = 0; i < 5000; i++) hll::Add(st.data(), p, 12, 100, double(i));
  CHECK(NearRel(hll::Count(st.data(), p, 10, 12, 100), 5000, 0.05));
  for (int i = 0; i < 5000; i++) hll::Add(st.data(), p, 12, 100, double(i));  // duplicates
  CHECK(NearRel(hll::Count(st.data(), p, 10, 12, 100), 5000, 0.05));
  // Ten tiles later the window [101, 110] no longer holds epoch 100.
  CHECK_EQ(hll::Count(st.data(), p, 10, 12, 110), 0);
  hll::Add(st.data(), p, 12, 110, 1e9);
  CHECK_EQ(hll::Count(st.data(), p, 10, 12, 110), 1);
  CHECK_EQ(hll::Bytes(4), 16 + 8 + 16 * 6);
  CHECK_EQ(hll::Bytes(12), 16 + 512 + 4096 * 6);
  // The occupancy bits: set for each register an Add wrote, cleared by the expiry pass
  // once both of a register's entries have expired.
  {
    std::vector<uint8_t> s2 = FreshHll(12);
    hll::View h(s2.data(), 12);
    std::set<uint32_t> regs;
    for (int i = 0; i < 300; i++) {
      hll::Add(s2.data(), 12, 12, 500, double(i));
      regs.insert(hll::RegisterOf(double(i), 12));
    }
    bool bits_ok = true;
    for (uint32_t r = 0; r < 4096; r++) bits_ok = bits_ok && (((h.occ[r / 64] >> (r % 64)) & 1) == regs.count(r));
    CHECK(bits_ok);
    hll::Add(s2.data(), 12, 12, 500 + 12, 1e9);  // a full pass: every entry of epoch 500 expires
    const uint32_t last = hll::RegisterOf(1e9, 12);
    bool cleared = true;
    for (uint32_t r = 0; r < 4096; r++) cleared = cleared && (((h.occ[r / 64] >> (r % 64)) & 1) == (r == last));
    CHECK(cleared);
    CHECK_EQ(hll::Count(s2.data(), 12, 12, 12, 512), 1);
  }
  CHECK_EQ(hll::RegisterOf(42.0, 6), double(HashDouble(42.0) >> 58));
}

// The 16-bit epochs never alias, however far the head runs: a slide over 200,000 tiles
// (three wraps of 2^16) keeps each window's count exact. The values land in distinct
// registers, so the estimate of a window of 8 is exactly 8.
void TestHllEpochsSurviveWraps() {
  const int p = 12, ntiles = 8, keep = 10;
  std::vector<double> pool;
  std::set<uint32_t> used;
  for (int v = 0; pool.size() < 1000; v++)
    if (used.insert(hll::RegisterOf(double(v), p)).second) pool.push_back(double(v));
  std::vector<uint8_t> st = FreshHll(p);
  bool ok = true;
  for (int64_t e = 0; e < 200000; e++) {
    hll::Add(st.data(), p, keep, e, pool[size_t(e % 1000)]);
    if (e % 997 == 0 && e >= ntiles) ok = ok && hll::Count(st.data(), p, ntiles, keep, e) == ntiles;
  }
  CHECK(ok);
  // An event older than the retained span changes nothing.
  std::vector<uint8_t> before = st;
  hll::Add(st.data(), p, keep, 200000 - 1 - keep, 12345.0);
  CHECK(before == st);
}

// Count against the read it replaced, written out the long way: every entry's full epoch
// checked against the window, the ranks into an array, hll::Estimate over it. Random
// register states (ranks up to 61, so the double-sum fallback runs too), heads and read
// times before, inside and past the retained span must give the same double.
void TestHllCountMatchesReference() {
  std::mt19937_64 rng(23);
  int checked = 0, slow = 0;
  bool ok = true;
  for (int trial = 0; trial < 4000; trial++) {
    const int p = 4 + int(rng() % 9);
    const int m = 1 << p;
    const int keep = 2 + int(rng() % 200), ntiles = 1 + int(rng() % keep);
    std::vector<uint8_t> st = FreshHll(p);
    hll::View h(st.data(), p);
    const int64_t head = int64_t(rng() % 300000) - 1000;
    *h.head = head;
    *h.pruned = head;
    const int maxr = trial % 4 == 0 ? 64 - p + 1 : 12;
    const int fill = int(rng() % 101);  // percent of registers with entries
    for (int i = 0; i < m; i++) {
      if (int(rng() % 100) >= fill) {
        if (rng() % 8 == 0) h.occ[i / 64] |= uint64_t(1) << (i % 64);  // a set bit may mark an empty register
        continue;
      }
      h.occ[i / 64] |= uint64_t(1) << (i % 64);
      const int64_t e1 = head - int64_t(rng() % uint64_t(2 * keep + 2)), e2 = head - int64_t(rng() % uint64_t(2 * keep + 2));
      h.reg[i] = hll::Reg{uint16_t(e1), uint16_t(e2), uint8_t(1 + rng() % maxr), uint8_t(rng() % 3 ? 1 + rng() % maxr : 0)};
    }
    for (int k = 0; k < 6; k++) {
      const int64_t cur = head + int64_t(rng() % uint64_t(3 * keep)) - 2 * keep;
      const int64_t lo = std::max(cur - ntiles + 1, head - keep + 1);
      std::vector<uint8_t> ranks(size_t(m), 0);
      bool beyond = false;
      for (int i = 0; i < m; i++) {
        const hll::Reg& g = h.reg[i];
        uint8_t r = 0;
        const int64_t f1 = hll::FullEpoch(head, g.e1), f2 = hll::FullEpoch(head, g.e2);
        if (g.r1 && f1 >= lo && f1 <= cur) r = g.r1;
        if (g.r2 && g.r2 > r && f2 >= lo && f2 <= cur) r = g.r2;
        ranks[size_t(i)] = r;
        beyond = beyond || r > 40;
      }
      const double want = hll::Estimate(ranks.data(), p), got = hll::Count(st.data(), p, ntiles, keep, cur);
      ok = ok && (got == want);
      checked++;
      slow += beyond;
    }
  }
  CHECK(ok);
  CHECK(checked == 24000);
  CHECK(slow > 100);  // the fallback sum was exercised
}

// ---------------------------------------------------------------------------------------
// Row layout

StoreSpec LayoutSpec() {
  StoreSpec spec = OneTable({Feature("n", Agg::COUNT, -1, 60000, 1000), Feature("s", Agg::SUM, 0, 60000, 1000),
                             Feature("sd", Agg::STDDEV, 0, 60000, 1000), Feature("mx", Agg::MAX, 1, 60000, 1000),
                             Feature("l", Agg::LAST, 0), Feature("e", Agg::EWM, 1, 0, 0, 5000),
                             Feature("ln", Agg::LAST_N, 0, 0, 0, 3), Feature("d", Agg::DISTINCT, 1, 60000, 1000, 4)},
                            2);
  spec.max_future_ms = 10000;
  return spec;
}

// Pins the byte layout that kRowLayoutVersion 3 names. If this test has to change, the
// layout changed: bump kRowLayoutVersion in constants.h with it.
void TestRowLayoutVersion3() {
  CHECK_EQ(kRowLayoutVersion, 3);
  const StoreSpec spec = LayoutSpec();
  row::Layout L;
  CHECK_OK(row::Layout::Compile(spec.tables[0], spec, &L));
  CHECK_EQ(row::kHeaderBytes, 24);
  CHECK_EQ(L.groups.size(), 1);  // count, sum, stddev and max share one ring
  const row::Group& g = L.groups[0];
  CHECK_EQ(g.ntiles, 70);  // 60 + max_future's 10
  CHECK_EQ(g.off_head, 24);
  CHECK_EQ(g.off_bits, 32);
  CHECK_EQ(g.off_counts, 48);  // two bitmap words
  CHECK_EQ(g.off_tiles, 48 + 280);  // 70 uint32 counts
  CHECK_EQ(g.cols.size(), 3);
  CHECK(g.cols[0].kind == row::kM2 && g.cols[0].field == 0);  // M2 first
  CHECK(g.cols[1].kind == row::kSum && g.cols[1].field == 0);
  CHECK(g.cols[2].kind == row::kMax && g.cols[2].field == 1);
  CHECK_EQ(g.cols[0].sum_off, g.cols[1].off);
  CHECK_EQ(g.cols[0].off, 0);
  CHECK_EQ(g.tile_bytes, 24);
  const uint32_t want_off[] = {0, 0, 0, 0, 2008, 2024, 2048, 2104};
  for (int f = 4; f < 8; f++) CHECK_EQ(L.feats[f].off, want_off[f]);
  CHECK_EQ(L.feats[7].keep_tiles, 70);
  CHECK_EQ(L.row_bytes, 2224);  // the HLL (p = 4): 16 B of epochs, one bitmap word, 16 registers
  CHECK_EQ(L.width, 10);
  CHECK_EQ(L.calcs.size(), 1);
  CHECK_EQ(L.stream_groups[0].size(), 1);
  CHECK_EQ(L.stream_feats[0].size(), 4);
  // The fresh row: empty rings (head kEmptyEpoch, max columns -inf), empty states.
  const uint8_t* r = L.fresh.data();
  CHECK_EQ(L.fresh.size(), L.row_bytes);
  CHECK(row::At<double>(r, row::kOffLastTs) == -kInf);
  CHECK(row::At<int64_t>(r, g.off_head) == row::kEmptyEpoch);
  CHECK(row::At<double>(r, g.off_tiles + 69 * g.tile_bytes + g.cols[2].off) == -kInf);
  CHECK(row::At<int64_t>(r, 2104) == row::kEmptyEpoch);
  CHECK_NAN(row::At<double>(r, 2008 + 8));
}

void TestRowLayoutRefusals() {
  row::Layout L;
  StoreSpec spec = LayoutSpec();
  spec.tables[0].features[1].field = 2;  // the stream has two fields
  CHECK_CODE(row::Layout::Compile(spec.tables[0], spec, &L), Code::INVALID_ARG);
  spec = LayoutSpec();
  spec.tables[0].features[0].field = 0;  // count takes no field
  CHECK_CODE(row::Layout::Compile(spec.tables[0], spec, &L), Code::INVALID_ARG);
  spec = LayoutSpec();
  spec.tables[0].features[0].window_ms = 1500;  // not a multiple of the tile
  CHECK_CODE(row::Layout::Compile(spec.tables[0], spec, &L), Code::INVALID_ARG);
  spec = LayoutSpec();
  spec.max_future_ms = 100000000;  // the ring would pass kMaxTilesPerWindow + 64
  CHECK_CODE(row::Layout::Compile(spec.tables[0], spec, &L), Code::INVALID_ARG);
  spec = LayoutSpec();
  spec.tables[0].features[6].param = kMaxLastN + 1;
  CHECK_CODE(row::Layout::Compile(spec.tables[0], spec, &L), Code::INVALID_ARG);
  spec = LayoutSpec();
  spec.tables[0].features[4].stream = 3;
  CHECK_CODE(row::Layout::Compile(spec.tables[0], spec, &L), Code::INVALID_ARG);
  spec = LayoutSpec();
  CHECK_OK(row::Layout::Compile(spec.tables[0], spec, &L));  // and a Layout can be reused
  CHECK_EQ(L.row_bytes, 2224);  // the HLL (p = 4): 16 B of epochs, one bitmap word, 16 registers
}

// ---------------------------------------------------------------------------------------
// Windows

// ForOccupied visits exactly the occupied slots of epochs lo..hi, across the ring's end.
void TestForOccupiedMatchesAScan() {
  std::mt19937_64 rng(11);
  bool ok = true;
  for (int trial = 0; trial < 2000; trial++) {
    const int n = 1 + int(rng() % 200);
    std::vector<uint64_t> bits(size_t((n + 63) / 64), 0);
    for (int s = 0; s < n; s++)
      if (rng() % 3 == 0) bits[size_t(s / 64)] |= uint64_t(1) << (s % 64);
    const int64_t lo = int64_t(rng() % 1000) - 500, hi = lo + int64_t(rng() % uint64_t(n + 5)) - 2;
    std::vector<uint32_t> got, want;
    row::ForOccupied(bits.data(), lo, hi, n, [&](uint32_t s) { got.push_back(s); });
    for (int64_t e = lo; e <= hi && e < lo + n; e++) {
      const uint32_t s = row::Slot(e, n);
      if (bits[s / 64] >> (s % 64) & 1) want.push_back(s);
    }
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    ok = ok && got == want;
  }
  CHECK(ok);
}

// UpdateTiles and UpdateState on a bare row buffer, read back by Compute.
void TestWindowsOnABareRow() {
  const StoreSpec spec = LayoutSpec();
  row::Layout L;
  CHECK_OK(row::Layout::Compile(spec.tables[0], spec, &L));
  std::vector<uint8_t> r = L.fresh;
  const double t0 = 1000000;
  const double evs[][3] = {{t0, 2, 7}, {t0 + 1500, 4, 7}, {t0 + 30000, 6, 8}, {t0 - 120000, 100, 9}};
  for (const auto& ev : evs) {
    const double v[2] = {ev[1], ev[2]};
    for (int gi : L.stream_groups[0]) row::UpdateTiles(r.data(), L.groups[gi], ev[0], v);
    for (int fi : L.stream_feats[0]) row::UpdateState(r.data(), L.feats[fi], ev[0], v);
  }
  std::vector<double> out(size_t(L.width));
  row::Compute(L, r.data(), t0 + 30000, out.data());
  CHECK_EQ(out[0], 3);        // count: the event 2 min old is outside the minute
  CHECK_EQ(out[1], 12);       // sum
  CHECK_NEAR(out[2], std::sqrt(8.0 / 3), 1e-12);  // stddev of 2, 4, 6
  CHECK_EQ(out[3], 8);        // max of field 1
  CHECK_EQ(out[4], 6);        // last by event time
  CHECK_EQ(out[6], 6);        // last_n, newest first
  CHECK_EQ(out[7], 4);
  CHECK_EQ(out[8], 2);
  CHECK_EQ(out[9], 2);        // distinct field 1 in the window: 7 and 8
  row::Compute(L, L.fresh.data(), t0, out.data());  // an absent entity
  CHECK_EQ(out[0], 0);
  CHECK_NAN(out[2]);
  CHECK_NAN(out[4]);
  CHECK_EQ(out[9], 0);
}

// UpdateTiles leaves tiles whose occupancy bit is clear alone when the head advances over
// them, which is right only while a clear bit means a neutral tile. Random events (sparse
// and dense stretches, jumps past the whole ring, late ones) on a bare row: after each,
// every tile with a clear bit must hold count 0 and each column's neutral value, and a
// ring kept by clearing every passed tile must read the same.
void TestClearBitMeansNeutralTile() {
  const StoreSpec spec = LayoutSpec();
  row::Layout L;
  CHECK_OK(row::Layout::Compile(spec.tables[0], spec, &L));
  const row::Group& g = L.groups[0];
  std::vector<uint8_t> r = L.fresh, ref = L.fresh;
  std::mt19937_64 rng(31);
  double t = 5e6;
  bool neutral = true, same = true;
  for (int i = 0; i < 20000; i++) {
    const uint64_t k = rng() % 100;
    t += k < 60 ? double(rng() % 400) : k < 90 ? double(rng() % 20000) : k < 97 ? double(rng() % 90000) : -double(rng() % 80000);
    const double v[2] = {double(rng() % 1000) / 8, double(rng() % 50)};
    row::UpdateTiles(r.data(), g, t, v);
    // The reference: every tile the head passes is reset, occupied or not.
    {
      const int64_t e = row::Epoch(t, g.tile_ms), n = g.ntiles;
      int64_t& head = row::At<int64_t>(ref.data(), g.off_head);
      if (head != row::kEmptyEpoch && e > head)
        for (int64_t x = std::max(head + 1, e - n + 1); x <= e; x++) {
          const uint32_t sl = row::Slot(x, int(n));
          reinterpret_cast<uint64_t*>(ref.data() + g.off_bits)[sl / 64] &= ~(uint64_t(1) << (sl % 64));
          row::At<uint32_t>(ref.data(), g.off_counts + 4 * sl) = 0;
          for (const row::Col& c : g.cols) row::At<double>(ref.data(), g.off_tiles + sl * g.tile_bytes + c.off) = row::ColEmpty(c.kind);
        }
      if (head != row::kEmptyEpoch && e > head) head = e - 1;  // passed tiles reset: UpdateTiles advances by one
      row::UpdateTiles(ref.data(), g, t, v);
    }
    const uint64_t* bits = reinterpret_cast<const uint64_t*>(r.data() + g.off_bits);
    for (int sl = 0; sl < g.ntiles; sl++) {
      if ((bits[sl / 64] >> (sl % 64)) & 1) continue;
      neutral = neutral && row::At<uint32_t>(r.data(), g.off_counts + 4 * uint32_t(sl)) == 0;
      for (const row::Col& c : g.cols)
        neutral = neutral && row::At<double>(r.data(), g.off_tiles + uint32_t(sl) * g.tile_bytes + c.off) == row::ColEmpty(c.kind);
    }
    same = same && std::equal(r.begin(), r.end(), ref.begin());
  }
  CHECK(neutral);
  CHECK(same);
}

// ---------------------------------------------------------------------------------------
// Table and Store over the pieces

void TestReadManyMatchesRead() {
  const StoreSpec spec = LayoutSpec();
  auto st = MakeStore(spec);
  Batch b(2);
  const double now = 5000000;
  for (uint64_t i = 0; i < 300; i++) b.Add(Key(i % 100), now - double(300 - i) * 100, {double(i), double(i % 7)});
  CHECK_OK(b.Ingest(*st, now));
  const Table& t = st->table(0);
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 150; i++) keys.push_back(Key(i));  // 100 present, 50 absent
  std::vector<double> out(keys.size() * size_t(t.width())), ages(keys.size());
  CHECK_EQ(t.ReadMany(keys.data(), keys.size(), now, out.data(), ages.data()), 100);
  bool same = true;
  for (size_t i = 0; i < keys.size(); i++) {
    const ReadOut one = Read(t, keys[i], now);
    ReadOut many;
    many.found = !std::isnan(ages[i]);
    many.age = ages[i];
    many.v.assign(out.begin() + long(i * size_t(t.width())), out.begin() + long((i + 1) * size_t(t.width())));
    same = same && SameOutput(one, many);
  }
  CHECK(same);
  CHECK_EQ(t.ReadMany(keys.data(), 0, now, out.data(), ages.data()), 0);
}

void TestKeyColumnCap() {
  StoreSpec spec;
  for (int i = 0; i <= kMaxKeyColumns; i++) {
    TableSpec t;
    t.name = "t" + std::to_string(i);
    t.memory_bytes = 1 << 16;
    t.shards = 1;
    t.features.push_back(Feature("n", Agg::COUNT, -1, 1000, 1000));
    spec.tables.push_back(t);
  }
  StreamSpec s;
  s.name = "s";
  for (int i = 0; i <= kMaxKeyColumns; i++) s.tables.push_back(i);  // 17 keys
  spec.streams.push_back(s);
  std::shared_ptr<Store> st;
  CHECK_CODE(Store::Create(spec, &st), Code::INVALID_ARG);
  spec.streams[0].tables.pop_back();  // 16 keys; the 17th table is keyed by no stream
  spec.tables.pop_back();
  CHECK_OK(Store::Create(spec, &st));
}

}  // namespace

void RunStorePartsTests() {
  RUN(TestRegionIsZeroedAndAligned);
  RUN(TestShardIndexProbesAndBackwardShift);
  RUN(TestShardIndexMatchesAMapUnderChurn);
  RUN(TestShardEvictsExpiredThenLeastRecent);
  RUN(TestHllEstimateAndWindow);
  RUN(TestHllEpochsSurviveWraps);
  RUN(TestHllCountMatchesReference);
  RUN(TestRowLayoutVersion3);
  RUN(TestRowLayoutRefusals);
  RUN(TestForOccupiedMatchesAScan);
  RUN(TestWindowsOnABareRow);
  RUN(TestClearBitMeansNeutralTile);
  RUN(TestReadManyMatchesRead);
  RUN(TestKeyColumnCap);
}
