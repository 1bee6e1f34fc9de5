// One shard of a table: an open-addressing index (linear probing, load factor <= 0.5,
// backward-shift deletion) from entity id hash to a row number, a slab of fixed-size
// rows, and the sequence counter that makes reads safe while the writer works.
//
// Both the index and the rows are reserved once for the shard's capacity (Region: pages
// are committed as rows are first used) and never move or get freed while the table
// lives, so a row is rows + index * row_bytes with no pointer to chase.
//
// Concurrency. One writer (the thread that ingests) and many readers. The writer makes
// seq odd before touching the shard's index or rows and even again after (release):
// BeginWrite / EndWrite. A reader loads it (acquire), does its lookup and computes the
// features straight from the row, then re-checks the counter; if it was odd or has moved,
// the reader's output is discarded and it retries. Readers never write shared memory, so
// they never slow the writer; a torn row is never returned. Every index a reader derives
// from shard memory is clamped (RowPtr, the probe bound), so a racy read cannot go out of
// bounds.
//
// Snapshots. While a snapshot of the store is being written (snapshot.h), `snap` points at
// the shard's part of it, and the writer calls BeforeRowWrite(row) before it changes a row:
// a row still waiting to be written out is copied first, so the snapshot sees every row as
// it was at the cut. Without a snapshot that is one predictable branch on a field of this
// cache line.
//
// Find and the found case of FindOrInsert are on every read and write: inline here.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>

#include "region.h"
#include "row_layout.h"
#include "status.h"

namespace hotpath {

struct IndexSlot {
  uint64_t key;
  uint32_t row1;  // row number + 1; 0 = empty slot
  uint32_t pad;
};
static_assert(sizeof(IndexSlot) == 16, "index slots are 16 bytes");

// Rows the writer has evicted at a full shard, by reason.
struct EvictCounts {
  uint64_t ttl = 0;
  uint64_t lru = 0;
};

struct ShardSnap;  // snapshot.h
// The slow path of Shard::BeforeRowWrite (snapshot.cc): copies the row (in wire form) if
// its block is still waiting to be written out, or waits while the background writer
// encodes it.
void SnapBeforeRowWrite(ShardSnap* snap, uint32_t row);

struct alignas(64) Shard {
  std::atomic<uint32_t> seq{0};
  uint32_t cap = 0, mask = 0, next_unused = 0, free_head = 0, live = 0;
  uint32_t row_bytes = 0;
  IndexSlot* index = nullptr;  // mask + 1 slots
  uint8_t* rows = nullptr;     // cap rows
  Region index_region, rows_region;
  uint64_t rng = 0;  // eviction sampling
  ShardSnap* snap = nullptr;  // writer only: the snapshot being written, if any
  // Ext blocks (row_layout.h: a promoted row's state in wire form), reserved like the rows
  // (one per row, address space only) and committed as first used; a freed block heads the
  // free list (its first u32: the next free block's reference). References are index + 1.
  // The table's memory budget pays for ext_limit of them (what the compact rows leave of
  // the budget): past it, a row that must be promoted takes the block of another promoted
  // row, evicted (EvictPromoted). Only a restore may go past it (a snapshot of a store
  // whose rows fitted another budget, or in the wire form before compact rows).
  uint32_t ext_bytes = 0, ext_cap = 0, ext_limit = 0, ext_next = 0, ext_free = 0, ext_live = 0;
  uint8_t* ext = nullptr;
  Region ext_region;

  // Reserves `slots` index slots (a power of two) and `capacity` rows. Once, at creation.
  // huge_pages: see Region::Map.
  Status Allocate(uint64_t slots, uint64_t capacity, uint32_t row_bytes, uint64_t seed, bool huge_pages = true);

  // Reserves `blocks` ext blocks of `bytes` (4 KiB pages: promoted rows are few and
  // scattered over the shards), of which the budget pays for `limit`. Once, after Allocate.
  Status AllocateExt(uint64_t blocks, uint32_t bytes, uint64_t limit);

  uint8_t* RowPtr(uint32_t row) const { return row < cap ? rows + size_t(row) * row_bytes : nullptr; }
  // Any thread: the ext block of a reference, clamped like RowPtr (nullptr for 0).
  uint8_t* ExtPtr(uint32_t ref) const { return ref - 1 < ext_cap ? ext + size_t(ref - 1) * ext_bytes : nullptr; }
  // Writer only: a new ext block's reference (its bytes as last left), 0 when the budget's
  // blocks are all in use (past_limit: a restore's, 0 only when every block is).
  uint32_t NewExt(bool past_limit = false) {
    uint32_t ref;
    if (ext_live >= ext_limit && !past_limit) {
      return 0;
    } else if (ext_free != 0) {
      ref = ext_free;
      ext_free = row::At<uint32_t>(ExtPtr(ref), 0);
    } else if (ext_next < ext_cap) {
      ref = ++ext_next;
    } else {
      return 0;
    }
    ext_live++;
    return ref;
  }
  void FreeExt(uint32_t ref) {
    row::At<uint32_t>(ExtPtr(ref), 0) = ext_free;
    ext_free = ref;
    ext_live--;
  }

  // Any thread (under the seqlock protocol). The row of key, or nullptr.
  const uint8_t* Find(uint64_t key) const {
    uint32_t i = uint32_t(key) & mask;
    for (uint32_t probe = 0; probe <= mask; probe++) {
      const IndexSlot& sl = index[i];
      if (sl.row1 == 0) return nullptr;
      if (sl.key == key) return RowPtr(sl.row1 - 1);
      i = (i + 1) & mask;
    }
    return nullptr;
  }

  // Writer only, between BeginWrite and EndWrite. The row of key; when absent, a new row
  // copied from `fresh`, evicting one row first when the shard is full (ttl_ms and now_ms
  // decide which: an expired row, else the least recently written of a sample).
  uint8_t* FindOrInsert(uint64_t key, const uint8_t* fresh, int64_t ttl_ms, double now_ms, EvictCounts* evicted) {
    uint32_t i = uint32_t(key) & mask;
    for (;;) {
      const IndexSlot& sl = index[i];
      if (sl.row1 == 0) break;
      if (sl.key == key) {
        BeforeRowWrite(sl.row1 - 1);
        return RowPtr(sl.row1 - 1);
      }
      i = (i + 1) & mask;
    }
    return Insert(key, i, fresh, ttl_ms, now_ms, evicted);
  }

  // Writer only, between BeginWrite and EndWrite: frees the row and its index slot.
  void Remove(uint64_t key, uint32_t row);

  // Writer only, between BeginWrite and EndWrite, when NewExt has no block left within the
  // budget: evicts the least recently written of a sample of promoted rows other than row
  // `keep` (counted as an LRU eviction), freeing its block. False when no other row is
  // promoted.
  bool EvictPromoted(uint32_t keep, EvictCounts* evicted);
  uint32_t RowOf(const uint8_t* p) const { return uint32_t(size_t(p - rows) / row_bytes); }

  // Writer only: before any change to row r (see the top of the file).
  void BeforeRowWrite(uint32_t r) {
    if (snap != nullptr) SnapBeforeRowWrite(snap, r);
  }

  // Writer only, on a shard with no rows in use: the rows [0, used) and the scalars of a
  // snapshot, then the index rebuilt from the live rows (those with a write clock).
  // False when a live row's key is already indexed (a corrupt snapshot).
  bool RestoreRows(uint32_t used, uint32_t free_head, uint32_t live, uint64_t rng);

  // The seqlock's writer side.
  uint32_t BeginWrite() {
    const uint32_t s = seq.load(std::memory_order_relaxed);
    seq.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    return s;
  }
  void EndWrite(uint32_t s) { seq.store(s + 2, std::memory_order_release); }

 private:
  uint8_t* Insert(uint64_t key, uint32_t empty_slot, const uint8_t* fresh, int64_t ttl_ms, double now_ms,
                  EvictCounts* evicted);
  void EvictOne(double expire_before, EvictCounts* evicted);
};

}  // namespace hotpath
