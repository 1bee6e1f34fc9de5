#include "shard_index.h"

#include <algorithm>
#include <cstring>

#include "hash.h"

namespace hotpath {

using row::At;
using row::kOffKey;
using row::kOffLastTs;
using row::kOffTouch;

Status Shard::Allocate(uint64_t slots, uint64_t capacity, uint32_t bytes, uint64_t seed, bool huge_pages) {
  cap = uint32_t(capacity);
  mask = uint32_t(slots - 1);
  row_bytes = bytes;
  index = reinterpret_cast<IndexSlot*>(index_region.Map(slots * sizeof(IndexSlot), huge_pages));
  rows = rows_region.Map(capacity * bytes, huge_pages);
  rng = Mix64(seed + 0x1234567ull);
  if (!index || !rows) return Status::Exhausted("cannot reserve memory");
  return Status::Ok();
}

Status Shard::AllocateExt(uint64_t blocks, uint32_t bytes, uint64_t limit) {
  ext_bytes = bytes;
  ext_cap = uint32_t(blocks);
  ext_limit = uint32_t(std::min(limit, blocks));
  ext = ext_region.Map(blocks * bytes, false);
  if (!ext) return Status::Exhausted("cannot reserve memory");
  return Status::Ok();
}

uint8_t* Shard::Insert(uint64_t key, uint32_t i, const uint8_t* fresh, int64_t ttl_ms, double now_ms,
                       EvictCounts* evicted) {
  if (live >= cap) {
    EvictOne(ttl_ms > 0 ? now_ms - double(ttl_ms) : -row::kInf, evicted);
    i = uint32_t(key) & mask;  // eviction may have shifted entries
    while (index[i].row1 != 0) i = (i + 1) & mask;
  }
  uint32_t r;
  if (free_head != 0) {
    r = free_head - 1;
    free_head = At<uint32_t>(RowPtr(r), kOffKey);
  } else {
    r = next_unused++;
  }
  BeforeRowWrite(r);
  uint8_t* p = RowPtr(r);
  std::memcpy(p, fresh, row_bytes);
  At<uint64_t>(p, kOffKey) = key;
  index[i] = IndexSlot{key, r + 1, 0};
  live++;
  return p;
}

void Shard::Remove(uint64_t key, uint32_t r) {
  uint32_t i = uint32_t(key) & mask;
  while (!(index[i].row1 == r + 1)) {
    if (index[i].row1 == 0) return;
    i = (i + 1) & mask;
  }
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (index[j].row1 == 0) break;
    const uint32_t home = uint32_t(index[j].key) & mask;
    const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
    if (!stays) {
      index[i] = index[j];
      i = j;
    }
  }
  index[i] = IndexSlot{0, 0, 0};
  BeforeRowWrite(r);
  uint8_t* p = RowPtr(r);
  if (ext_bytes != 0) {  // a compact row (row_layout.h): its ext block goes with it
    const uint32_t ref = At<uint32_t>(p, row::kOffExt);
    if (ExtPtr(ref) != nullptr) FreeExt(ref);
    At<uint32_t>(p, row::kOffExt) = 0;
  }
  At<uint64_t>(p, kOffTouch) = 0;  // dead rows have clock 0
  At<uint32_t>(p, kOffKey) = free_head;
  free_head = r + 1;
  live--;
}

bool Shard::RestoreRows(uint32_t used, uint32_t head, uint32_t nlive, uint64_t seed) {
  next_unused = used;
  free_head = head;
  live = nlive;
  rng = seed;
  uint32_t found = 0;
  for (uint32_t r = 0; r < used; r++) {
    const uint8_t* p = RowPtr(r);
    if (At<uint64_t>(p, kOffTouch) == 0) continue;
    const uint64_t key = At<uint64_t>(p, kOffKey);
    uint32_t i = uint32_t(key) & mask;
    for (uint32_t probe = 0; index[i].row1 != 0; probe++) {
      if (index[i].key == key || probe > mask) return false;
      i = (i + 1) & mask;
    }
    index[i] = IndexSlot{key, r + 1, 0};
    found++;
  }
  return found == nlive;
}

// At the shard's budget: sample live rows (as Redis' approximate LRU does) and evict one
// whose TTL has run out, else the least recently written one.
void Shard::EvictOne(double expire_before, EvictCounts* evicted) {
  uint32_t best = UINT32_MAX;
  uint64_t best_touch = UINT64_MAX;
  bool best_expired = false;
  int seen = 0;
  for (int tries = 0; tries < 64 && seen < 8; tries++) {
    rng = Mix64(rng + 0x9e3779b97f4a7c15ull);
    const uint32_t r = uint32_t(rng % next_unused);
    const uint8_t* p = RowPtr(r);
    const uint64_t touch = At<uint64_t>(p, kOffTouch);
    if (touch == 0) continue;
    seen++;
    const bool expired = At<double>(p, kOffLastTs) < expire_before;
    if ((expired && !best_expired) || (expired == best_expired && touch < best_touch)) {
      best = r;
      best_touch = touch;
      best_expired = expired;
    }
  }
  if (best == UINT32_MAX) {  // unlucky sampling: fall back to a scan
    for (uint32_t r = 0; r < next_unused; r++) {
      const uint8_t* p = RowPtr(r);
      const uint64_t touch = At<uint64_t>(p, kOffTouch);
      if (touch != 0 && touch < best_touch) {
        best = r;
        best_touch = touch;
        best_expired = At<double>(p, kOffLastTs) < expire_before;
      }
    }
  }
  if (best == UINT32_MAX) return;
  Remove(At<uint64_t>(RowPtr(best), kOffKey), best);
  (best_expired ? evicted->ttl : evicted->lru)++;
}

bool Shard::EvictPromoted(uint32_t keep, EvictCounts* evicted) {
  auto promoted = [&](uint32_t r) {
    const uint8_t* p = RowPtr(r);
    return r != keep && At<uint64_t>(p, kOffTouch) != 0 && At<uint32_t>(p, row::kOffExt) != 0;
  };
  uint32_t best = UINT32_MAX;
  uint64_t best_touch = UINT64_MAX;
  int seen = 0;
  for (int tries = 0; tries < 64 && seen < 8 && next_unused > 0; tries++) {
    rng = Mix64(rng + 0x9e3779b97f4a7c15ull);
    const uint32_t r = uint32_t(rng % next_unused);
    if (!promoted(r)) continue;
    seen++;
    const uint64_t touch = At<uint64_t>(RowPtr(r), kOffTouch);
    if (touch < best_touch) {
      best = r;
      best_touch = touch;
    }
  }
  for (uint32_t r = 0; best == UINT32_MAX && r < next_unused; r++)  // few promoted rows: a scan
    if (promoted(r)) best = r;
  if (best == UINT32_MAX) return false;
  Remove(At<uint64_t>(RowPtr(best), kOffKey), best);
  evicted->lru++;
  return true;
}

}  // namespace hotpath
