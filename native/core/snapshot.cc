#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "crc32c.h"

namespace hotpath {

namespace {

using Clock = std::chrono::steady_clock;


constexpr char kMagic[8] = {'H', 'P', 'S', 'N', 'A', 'P', '0', '1'};
constexpr uint32_t kTagBlock = 0x314b4c42;  // "BLK1"
constexpr uint32_t kTagEnd = 0x31444e45;    // "END1"
constexpr size_t kBlockHeaderBytes = 32;
constexpr size_t kTrailerBytes = 32;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

template <typename T>
void Append(std::vector<uint8_t>* out, T v) {
  const size_t at = out->size();
  out->resize(at + sizeof v);
  std::memcpy(out->data() + at, &v, sizeof v);
}
template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
void Store8(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

std::string Errno(const std::string& what) { return what + ": " + strerror(errno); }

// One row's difference from the fresh row, written at out (at most RowCodeBytes): a
// bitmap of the 8-byte words that differ (one bit per word, u64s), then those words.
// Returns the bytes written.
inline size_t RowCodeBytes(uint32_t row_bytes) { return row_bytes + ((row_bytes / 8 + 63) / 64) * 8; }

size_t EncodeRow(const uint8_t* row, uint32_t row_bytes, const uint8_t* fresh, uint8_t* out) {
  const uint32_t words = row_bytes / 8, map_words = (words + 63) / 64;
  uint8_t* p = out + size_t(map_words) * 8;
  for (uint32_t m = 0; m < map_words; m++) {
    const uint32_t w0 = m * 64, w1 = std::min(words, w0 + 64);
    uint64_t bits = 0;
    for (uint32_t w = w0; w < w1; w++)  // a branch-free compare the compiler vectorises
      bits |= uint64_t(Load<uint64_t>(row + w * 8) != Load<uint64_t>(fresh + w * 8)) << (w - w0);
    Store8<uint64_t>(out + m * 8, bits);
    for (uint64_t b = bits; b; b &= b - 1) {
      std::memcpy(p, row + (w0 + uint32_t(__builtin_ctzll(b))) * 8, 8);
      p += 8;
    }
  }
  return size_t(p - out);
}

// Buffered writes to a file descriptor; the first error sticks.
class FileOut {
 public:
  explicit FileOut(int fd) : fd_(fd) { buf_.reserve(kCap); }
  void Put(const void* p, size_t n) {
    if (!err_.ok()) return;
    bytes_ += n;
    if (buf_.size() + n > kCap) Flush();
    if (n >= kCap) {
      Raw(static_cast<const uint8_t*>(p), n);
      return;
    }
    buf_.insert(buf_.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  }
  void Flush() {
    if (!buf_.empty()) Raw(buf_.data(), buf_.size());
    buf_.clear();
#ifdef __linux__
    // Start writing back what is written so far (asynchronously): the disk works while
    // the rest is encoded, and the final fdatasync waits only for the tail.
    if (err_.ok() && bytes_ - synced_ >= (size_t(16) << 20)) {
      sync_file_range(fd_, off_t(synced_), off_t(bytes_ - synced_), SYNC_FILE_RANGE_WRITE);
      synced_ = bytes_;
    }
#endif
  }
  const Status& status() const { return err_; }
  uint64_t bytes() const { return bytes_; }

 private:
  static constexpr size_t kCap = size_t(1) << 20;
  void Raw(const uint8_t* p, size_t n) {
    while (n > 0 && err_.ok()) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        err_ = errno == ENOSPC ? Status::Exhausted(Errno("snapshot write")) : Status::Internal(Errno("snapshot write"));
        return;
      }
      p += w;
      n -= size_t(w);
    }
  }
  int fd_;
  std::vector<uint8_t> buf_;
  Status err_;
  uint64_t bytes_ = 0, synced_ = 0;
};

// Buffered reads; Read fails at the end of the file.
class FileIn {
 public:
  explicit FileIn(int fd) : fd_(fd) {}
  bool Read(void* p, size_t n) {
    uint8_t* out = static_cast<uint8_t*>(p);
    while (n > 0) {
      if (at_ == len_) {
        at_ = 0;
        len_ = 0;
        ssize_t r;
        do r = ::read(fd_, buf_.get(), kCap);
        while (r < 0 && errno == EINTR);
        if (r <= 0) return false;
        len_ = size_t(r);
      }
      const size_t take = std::min(n, len_ - at_);
      std::memcpy(out, buf_.get() + at_, take);
      at_ += take;
      out += take;
      n -= take;
      bytes_ += take;
    }
    return true;
  }
  uint64_t bytes() const { return bytes_; }

 private:
  static constexpr size_t kCap = size_t(4) << 20;
  int fd_;
  std::unique_ptr<uint8_t[]> buf_{new uint8_t[kCap]};
  size_t at_ = 0, len_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace

// One shard's part of a snapshot: its scalars at the cut, and per block whether it is
// written out (done) and which of its rows the writer copied aside first (copied, copy).
struct ShardSnap {
  SnapShared* shared = nullptr;
  const Table* t = nullptr;  // rows are written in wire form (Table::WireRow)
  const Shard* s = nullptr;
  uint32_t table = 0, shard = 0;
  uint32_t rows = 0, free_head = 0, live = 0, cap = 0;
  uint64_t rng = 0;
  uint32_t nblocks = 0;
  std::unique_ptr<std::atomic<uint8_t>[]> done;
  std::unique_ptr<std::atomic<uint64_t>[]> copied;  // bit i: row first + i
  std::unique_ptr<const uint8_t*[]> copy;            // per row: the writer's copy, once its bit is set
};

// What the writer's hooks and the background thread share. The arena is the writer's:
// row copies are bumped out of 1 MiB chunks (one malloc per chunk, not per row) and live
// until the snapshot is destroyed.
struct SnapShared {
  std::vector<std::unique_ptr<ShardSnap>> shards;
  std::vector<uint8_t> header;
  std::vector<std::unique_ptr<uint8_t[]>> chunks;
  size_t chunk_used = 0, chunk_size = 0;
  std::atomic<uint64_t> writer_copies{0};
  std::atomic<uint64_t> max_stall_ns{0};
  SnapshotStats stats;
  bool written = false;

  uint8_t* Arena(size_t bytes) {
    if (chunks.empty() || chunk_used + bytes > chunk_size) {
      const size_t size = std::max(bytes, size_t(1) << 20);
      uint8_t* c = new (std::nothrow) uint8_t[size];
      if (!c) return nullptr;
      chunks.emplace_back(c);
      chunk_used = 0;
      chunk_size = size;
    }
    uint8_t* p = chunks.back().get() + chunk_used;
    chunk_used += (bytes + 7) & ~size_t(7);
    return p;
  }
};

void SnapBeforeRowWrite(ShardSnap* ss, uint32_t row) {
  if (row >= ss->rows) return;  // a row first used after the cut
  const uint32_t b = row / kSnapBlockRows;
  const uint64_t bit = uint64_t(1) << (row % kSnapBlockRows);
  if (ss->done[b].load(std::memory_order_acquire)) return;                // written out already
  if (ss->copied[b].load(std::memory_order_relaxed) & bit) return;        // copied already (only this thread sets bits)
  const Clock::time_point t0 = Clock::now();
  uint8_t* c = ss->shared->Arena(ss->t->layout().row_bytes);
  if (c) {
    ss->t->WireRow(*ss->s, ss->s->RowPtr(row), c);
    ss->copy[row] = c;
    // The copy and its pointer before the bit (release); the bit before this thread's
    // coming stores to the row (the fence), as the shard's seqlock orders its counter
    // before the row: a background thread that read any of those stores sees the bit.
    ss->copied[b].fetch_or(bit, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_release);
    ss->shared->writer_copies.fetch_add(1, std::memory_order_relaxed);
  } else {
    while (!ss->done[b].load(std::memory_order_acquire)) CpuRelax();  // no memory for a copy: wait for the block
  }
  const uint64_t ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  uint64_t prev = ss->shared->max_stall_ns.load(std::memory_order_relaxed);
  while (ns > prev && !ss->shared->max_stall_ns.compare_exchange_weak(prev, ns, std::memory_order_relaxed)) {
  }
}

Status StoreSnapshot::Begin(const std::shared_ptr<Store>& store, std::unique_ptr<StoreSnapshot>* out) {
  for (const auto& t : store->tables_)
    if (t->layout_.row_bytes % 8 != 0) return Status::Internal("row bytes are not a multiple of 8");
  bool idle = false;
  if (!store->snapshotting_.compare_exchange_strong(idle, true))
    return Status::Unavailable("a snapshot of this store is being written");
  std::unique_ptr<StoreSnapshot> snap(new StoreSnapshot());
  snap->store_ = store;
  snap->shared_.reset(new SnapShared());
  SnapShared& sh = *snap->shared_;
  std::vector<uint8_t>& h = sh.header;
  h.insert(h.end(), kMagic, kMagic + 8);
  Append<uint32_t>(&h, kSnapFormat);
  Append<uint32_t>(&h, uint32_t(kRowLayoutVersion));
  Append<uint32_t>(&h, uint32_t(store->tables_.size()));
  Append<uint32_t>(&h, uint32_t(store->stream_watermark_.size()));
  for (double wm : store->stream_watermark_) Append<double>(&h, wm);
  for (size_t ti = 0; ti < store->tables_.size(); ti++) {
    Table& t = *store->tables_[ti];
    Append<uint32_t>(&h, t.layout_.row_bytes);
    Append<uint32_t>(&h, t.nshards_);
    Append<uint64_t>(&h, t.clock_);
    Append<uint64_t>(&h, t.evicted_.ttl);
    Append<uint64_t>(&h, t.evicted_.lru);
    Append<uint64_t>(&h, t.updates_);
    Append<double>(&h, t.watermark_);
    Append<uint32_t>(&h, t.sweep_shard_);
    Append<uint32_t>(&h, t.sweep_row_);
    for (uint32_t si = 0; si < t.nshards_; si++) {
      Shard& s = t.shards_[si];
      std::unique_ptr<ShardSnap> ss(new ShardSnap());
      ss->shared = &sh;
      ss->t = &t;
      ss->s = &s;
      ss->table = uint32_t(ti);
      ss->shard = si;
      ss->rows = s.next_unused;
      ss->free_head = s.free_head;
      ss->live = s.live;
      ss->cap = s.cap;
      ss->rng = s.rng;
      ss->nblocks = (ss->rows + kSnapBlockRows - 1) / kSnapBlockRows;
      ss->done.reset(new std::atomic<uint8_t>[ss->nblocks]);
      ss->copied.reset(new std::atomic<uint64_t>[ss->nblocks]);
      for (uint32_t b = 0; b < ss->nblocks; b++) {
        ss->done[b].store(0, std::memory_order_relaxed);
        ss->copied[b].store(0, std::memory_order_relaxed);
      }
      ss->copy.reset(new const uint8_t*[ss->rows]());
      Append<uint32_t>(&h, ss->cap);
      Append<uint32_t>(&h, ss->rows);
      Append<uint32_t>(&h, ss->free_head);
      Append<uint32_t>(&h, ss->live);
      Append<uint64_t>(&h, ss->rng);
      sh.stats.live += ss->live;
      sh.stats.rows += ss->rows;
      sh.stats.blocks += ss->nblocks;
      s.snap = ss.get();
      sh.shards.push_back(std::move(ss));
    }
  }
  Append<uint32_t>(&h, Crc32c(0, h.data(), h.size()));
  Append<uint32_t>(&h, 0);
  snap->attached_ = true;
  *out = std::move(snap);
  return Status::Ok();
}

Status StoreSnapshot::Write(const std::string& path) {
  SnapShared& sh = *shared_;
  if (sh.written) return Status::Internal("StoreSnapshot::Write called twice");
  sh.written = true;
  const Clock::time_point t0 = Clock::now();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  Status result = fd < 0 ? Status::Unavailable(Errno("snapshot open " + path)) : Status::Ok();
  std::vector<uint8_t> payload, fixed, wire;
  std::vector<size_t> offs(kSnapBlockRows + 1);
  if (fd >= 0) {
    FileOut out(fd);
    out.Put(sh.header.data(), sh.header.size());
    for (auto& ssp : sh.shards) {
      ShardSnap& ss = *ssp;
      const Table& t = *store_->tables_[ss.table];
      const uint32_t row_bytes = t.layout_.row_bytes;
      const uint8_t* fresh = t.layout_.fresh.data();
      const Shard& shard = t.shards_[ss.shard];
      for (uint32_t b = 0; b < ss.nblocks; b++) {
        const uint32_t first = b * kSnapBlockRows, n = std::min(kSnapBlockRows, ss.rows - first);
        if (!out.status().ok()) {  // abandoned: let the writer stop copying
          ss.done[b].store(1, std::memory_order_release);
          continue;
        }
        // The block's rows as they are (each encoded where it starts in payload), then
        // the rows the writer changed meanwhile again from its copies (taken before it
        // changed them): together, the block at the cut.
        const size_t code = RowCodeBytes(row_bytes);
        if (payload.size() < size_t(n) * code) payload.resize(size_t(n) * code);
        size_t at = 0;
        wire.resize(row_bytes);
        for (uint32_t i = 0; i < n; i++) {
          offs[i] = at;
          // The row in wire form, read as the writer may be changing it (racy, in bounds):
          // a row it changed is replaced from its copy below.
          t.WireRow(shard, shard.RowPtr(first + i), wire.data());
          at += EncodeRow(wire.data(), row_bytes, fresh, payload.data() + at);
        }
        offs[n] = at;
        std::atomic_thread_fence(std::memory_order_acquire);
        const uint64_t changed = ss.copied[b].load(std::memory_order_acquire);
        ss.done[b].store(1, std::memory_order_release);
        const uint8_t* body = payload.data();
        if (changed != 0) {
          if (fixed.size() < size_t(n) * code) fixed.resize(size_t(n) * code);
          size_t f = 0;
          for (uint32_t i = 0; i < n; i++) {
            if (changed >> i & 1) f += EncodeRow(ss.copy[first + i], row_bytes, fresh, fixed.data() + f);
            else {
              std::memcpy(fixed.data() + f, payload.data() + offs[i], offs[i + 1] - offs[i]);
              f += offs[i + 1] - offs[i];
            }
          }
          at = f;
          body = fixed.data();
        }
        uint8_t bh[kBlockHeaderBytes];
        Store8<uint32_t>(bh, kTagBlock);
        Store8<uint32_t>(bh + 4, ss.table);
        Store8<uint32_t>(bh + 8, ss.shard);
        Store8<uint32_t>(bh + 12, first);
        Store8<uint32_t>(bh + 16, n);
        Store8<uint32_t>(bh + 20, uint32_t(at));
        Store8<uint32_t>(bh + 24, Crc32c(Crc32c(0, bh + 4, 20), body, at));
        Store8<uint32_t>(bh + 28, 0);
        out.Put(bh, sizeof bh);
        out.Put(body, at);
      }
    }
    uint8_t tr[kTrailerBytes];
    Store8<uint32_t>(tr, kTagEnd);
    Store8<uint32_t>(tr + 4, 0);
    Store8<uint64_t>(tr + 8, sh.stats.blocks);
    Store8<uint64_t>(tr + 16, sh.stats.rows);
    Store8<uint32_t>(tr + 24, Crc32c(0, tr, 24));
    Store8<uint32_t>(tr + 28, 0);
    out.Put(tr, sizeof tr);
    out.Flush();
    result = out.status();
    if (result.ok() && ::fdatasync(fd) != 0) result = Status::Internal(Errno("snapshot fsync"));
    if (::close(fd) != 0 && result.ok()) result = Status::Internal(Errno("snapshot close"));
    sh.stats.bytes = out.bytes();
  } else {
    for (auto& ssp : sh.shards)  // nothing will be written: release the writer
      for (uint32_t b = 0; b < ssp->nblocks; b++) ssp->done[b].store(1, std::memory_order_release);
  }
  sh.stats.write_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return result;
}

void StoreSnapshot::End() {
  if (!attached_) return;
  for (auto& ssp : shared_->shards) store_->tables_[ssp->table]->shards_[ssp->shard].snap = nullptr;
  attached_ = false;
  store_->snapshotting_.store(false);
}

StoreSnapshot::~StoreSnapshot() { End(); }

SnapshotStats StoreSnapshot::stats() const {
  SnapshotStats s = shared_->stats;
  s.writer_copies = shared_->writer_copies.load();
  s.max_stall_us = double(shared_->max_stall_ns.load()) / 1000.0;
  return s;
}

// ---------------------------------------------------------------------------------------
// Restore

namespace {

Status Corrupt(const std::string& path, const std::string& what) {
  return Status::Internal("snapshot " + path + " is corrupt: " + what);
}

}  // namespace

// The store as it was created: every shard's index and counters zeroed (rows past the
// counters are never read; a new row is copied from the fresh image).
void ClearStore(Store& store) {
  for (auto& t : store.tables_) {
    for (uint32_t si = 0; si < t->nshards_; si++) {
      Shard& s = t->shards_[si];
      std::memset(static_cast<void*>(s.index), 0, (size_t(s.mask) + 1) * sizeof(IndexSlot));
      s.next_unused = s.free_head = s.live = 0;
      s.ext_next = s.ext_free = s.ext_live = 0;
    }
    t->clock_ = t->updates_ = 0;
    t->evicted_ = EvictCounts{};
    t->watermark_ = 0;
    t->sweep_shard_ = t->sweep_row_ = 0;
  }
  for (double& wm : store.stream_watermark_) wm = -row::kInf;
}

Status RestoreSnapshot(Store& store, const std::string& path, RestoreStats* stats) {
  for (auto& t : store.tables_) {
    if (t->updates_ != 0) return Status::InvalidArg("restore needs an empty store");
    for (uint32_t si = 0; si < t->nshards_; si++)
      if (t->shards_[si].next_unused != 0) return Status::InvalidArg("restore needs an empty store");
  }
  const Status s = RestoreInto(store, path, stats);
  if (!s.ok()) ClearStore(store);  // rows may have been written: back to empty
  return s;
}

Status RestoreInto(Store& store, const std::string& path, RestoreStats* stats) {
  const Clock::time_point t0 = Clock::now();
  *stats = RestoreStats{};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::NotFound(Errno("snapshot open " + path));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  FileIn in(fd);
  std::vector<uint8_t> h(24);
  if (!in.Read(h.data(), 24)) return Corrupt(path, "shorter than its header");
  if (std::memcmp(h.data(), kMagic, 8) != 0) return Corrupt(path, "not a hotpath snapshot");
  const uint32_t format = Load<uint32_t>(&h[8]), version = Load<uint32_t>(&h[12]);
  const uint32_t ntables = Load<uint32_t>(&h[16]), nstreams = Load<uint32_t>(&h[20]);
  if (format != kSnapFormat) return Status::InvalidArg("snapshot format " + std::to_string(format) + ", this build reads " + std::to_string(kSnapFormat));
  if (version != uint32_t(kRowLayoutVersion))
    return Status::InvalidArg("snapshot row layout version " + std::to_string(version) + ", this build has " + std::to_string(kRowLayoutVersion));
  if (ntables != store.tables_.size() || nstreams != store.stream_watermark_.size())
    return Status::InvalidArg("snapshot has " + std::to_string(ntables) + " tables and " + std::to_string(nstreams) + " streams");
  auto more = [&](size_t n) {
    const size_t at = h.size();
    h.resize(at + n);
    return in.Read(h.data() + at, n);
  };
  if (!more(size_t(nstreams) * 8)) return Corrupt(path, "header cut short");
  std::vector<double> stream_wm(nstreams);
  for (uint32_t i = 0; i < nstreams; i++) stream_wm[i] = Load<double>(&h[24 + i * 8]);
  struct ShardHead {
    uint32_t cap, rows, free_head, live;
    uint64_t rng;
  };
  struct TableHead {
    uint64_t clock, ttl, lru, updates;
    double watermark;
    uint32_t sweep_shard, sweep_row;
    std::vector<ShardHead> shards;
  };
  std::vector<TableHead> heads(ntables);
  for (uint32_t ti = 0; ti < ntables; ti++) {
    const Table& t = *store.tables_[ti];
    const size_t at = h.size();
    if (!more(56)) return Corrupt(path, "header cut short");
    const uint8_t* p = &h[at];
    const uint32_t row_bytes = Load<uint32_t>(p), nshards = Load<uint32_t>(p + 4);
    if (row_bytes != t.layout_.row_bytes || nshards != t.nshards_)
      return Status::InvalidArg("table '" + t.spec_.name + "': snapshot rows are " + std::to_string(row_bytes) + " bytes in " +
                                std::to_string(nshards) + " shards, the store's " + std::to_string(t.layout_.row_bytes) +
                                " bytes in " + std::to_string(t.nshards_));
    TableHead& th = heads[ti];
    th.clock = Load<uint64_t>(p + 8);
    th.ttl = Load<uint64_t>(p + 16);
    th.lru = Load<uint64_t>(p + 24);
    th.updates = Load<uint64_t>(p + 32);
    th.watermark = Load<double>(p + 40);
    th.sweep_shard = Load<uint32_t>(p + 48);
    th.sweep_row = Load<uint32_t>(p + 52);
    th.shards.resize(nshards);
    for (uint32_t si = 0; si < nshards; si++) {
      const size_t sat = h.size();
      if (!more(24)) return Corrupt(path, "header cut short");
      const uint8_t* q = &h[sat];
      ShardHead& sh = th.shards[si];
      sh = ShardHead{Load<uint32_t>(q), Load<uint32_t>(q + 4), Load<uint32_t>(q + 8), Load<uint32_t>(q + 12), Load<uint64_t>(q + 16)};
      if (sh.rows > t.shards_[si].cap)
        return Status::InvalidArg("table '" + t.spec_.name + "': a shard of the snapshot holds " + std::to_string(sh.rows) +
                                  " rows, more than its memory budget now allows (" + std::to_string(t.shards_[si].cap) + ")");
    }
  }
  uint8_t crcs[8];
  if (!in.Read(crcs, 8)) return Corrupt(path, "header cut short");
  if (Load<uint32_t>(crcs) != Crc32c(0, h.data(), h.size())) return Corrupt(path, "header checksum");
  // Counts and cursors are checked before anything is written (a bad one is corruption).
  uint64_t expected_blocks = 0, total_rows = 0;
  std::vector<std::vector<uint8_t>> seen(ntables);
  std::vector<std::vector<uint64_t>> block_base(ntables);
  for (uint32_t ti = 0; ti < ntables; ti++) {
    const TableHead& th = heads[ti];
    if (th.sweep_shard >= store.tables_[ti]->nshards_) return Corrupt(path, "sweep cursor");
    block_base[ti].resize(th.shards.size());
    for (size_t si = 0; si < th.shards.size(); si++) {
      const ShardHead& sh = th.shards[si];
      if (sh.live > sh.rows || sh.free_head > sh.rows) return Corrupt(path, "shard counts");
      block_base[ti][si] = seen[ti].size();
      seen[ti].resize(seen[ti].size() + (sh.rows + kSnapBlockRows - 1) / kSnapBlockRows, 0);
      expected_blocks += (sh.rows + kSnapBlockRows - 1) / kSnapBlockRows;
      total_rows += sh.rows;
    }
  }
  std::vector<uint8_t> payload, wire;
  uint64_t blocks = 0;
  for (;;) {
    uint8_t bh[kBlockHeaderBytes];
    if (!in.Read(bh, 4)) return Corrupt(path, "ends before its trailer");
    const uint32_t tag = Load<uint32_t>(bh);
    if (tag == kTagEnd) {
      if (!in.Read(bh + 4, kTrailerBytes - 4)) return Corrupt(path, "trailer cut short");
      if (Load<uint32_t>(bh + 24) != Crc32c(0, bh, 24) || Load<uint64_t>(bh + 8) != expected_blocks ||
          Load<uint64_t>(bh + 16) != total_rows || blocks != expected_blocks)
        return Corrupt(path, "trailer (blocks missing)");
      break;
    }
    if (tag != kTagBlock || !in.Read(bh + 4, kBlockHeaderBytes - 4)) return Corrupt(path, "block header");
    const uint32_t ti = Load<uint32_t>(bh + 4), si = Load<uint32_t>(bh + 8), first = Load<uint32_t>(bh + 12),
                   n = Load<uint32_t>(bh + 16), len = Load<uint32_t>(bh + 20);
    if (ti >= ntables || si >= heads[ti].shards.size()) return Corrupt(path, "block names no shard");
    const ShardHead& sh = heads[ti].shards[si];
    Table& t = *store.tables_[ti];
    const uint32_t row_bytes = t.layout_.row_bytes, words = row_bytes / 8, map_words = (words + 63) / 64;
    if (first % kSnapBlockRows != 0 || first >= sh.rows || n != std::min(kSnapBlockRows, sh.rows - first) ||
        uint64_t(len) > uint64_t(n) * (row_bytes + map_words * 8))
      return Corrupt(path, "block bounds");
    uint8_t& mark = seen[ti][block_base[ti][si] + first / kSnapBlockRows];
    if (mark) return Corrupt(path, "block written twice");
    mark = 1;
    payload.resize(len);
    if (!in.Read(payload.data(), len)) return Corrupt(path, "block cut short");
    if (Load<uint32_t>(bh + 24) != Crc32c(Crc32c(0, bh + 4, 20), payload.data(), len)) return Corrupt(path, "block checksum");
    Shard& shard = t.shards_[si];
    const uint8_t* fresh = t.layout_.fresh.data();
    size_t at = 0;
    wire.resize(row_bytes);
    for (uint32_t r = 0; r < n; r++) {
      uint8_t* row = wire.data();  // decoded in wire form, then set into the shard's row
      std::memcpy(row, fresh, row_bytes);
      if (at + map_words * 8 > len) return Corrupt(path, "block payload");
      const uint8_t* map = payload.data() + at;
      at += map_words * 8;
      for (uint32_t m = 0; m < map_words; m++) {
        for (uint64_t bits = Load<uint64_t>(map + m * 8); bits; bits &= bits - 1) {
          const uint32_t w = m * 64 + uint32_t(__builtin_ctzll(bits));
          if (w >= words || at + 8 > len) return Corrupt(path, "block payload");
          std::memcpy(row + w * 8, payload.data() + at, 8);
          at += 8;
        }
      }
      t.SetFromWire(shard, shard.RowPtr(first + r), row, true);
    }
    if (at != len) return Corrupt(path, "block payload");
    blocks++;
  }
  for (uint32_t ti = 0; ti < ntables; ti++) {
    Table& t = *store.tables_[ti];
    const TableHead& th = heads[ti];
    for (uint32_t si = 0; si < t.nshards_; si++) {
      const ShardHead& sh = th.shards[si];
      if (!t.shards_[si].RestoreRows(sh.rows, sh.free_head, sh.live, sh.rng)) return Corrupt(path, "rows and index disagree");
      stats->live += sh.live;
    }
    t.clock_ = th.clock;
    t.evicted_.ttl = th.ttl;
    t.evicted_.lru = th.lru;
    t.updates_ = th.updates;
    t.watermark_ = th.watermark;
    t.sweep_shard_ = th.sweep_shard;
    t.sweep_row_ = th.sweep_row;
  }
  for (uint32_t i = 0; i < nstreams; i++) store.stream_watermark_[i] = stream_wm[i];
  stats->bytes = in.bytes();
  stats->rows = total_rows;
  stats->blocks = blocks;
  stats->ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return Status::Ok();
}

}  // namespace hotpath
