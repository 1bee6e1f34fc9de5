// libFuzzer target: the write-ahead-log record reader (native/core/wal_record.h,
// WalReadBatch) as log replay walks a segment: record after record until END, TORN or
// CORRUPT; each record read is applied to a store as replay applies it (Store::Ingest on
// its columns, when it is a batch of the store's stream). Also a round trip: a batch drawn
// from the input, encoded by WalEncodeBatch, reads back field for field.
//
// Input: [u8 mode] then the log bytes. Mode bit 0: before each record is read, its CRC is
// recomputed (as if the bytes were what was written), so the fuzzer reaches the checks
// behind the checksum: kind, lengths, the batch's shape, and replay itself.
//
// Seeds: FUZZ_WAL_SEEDS=native/fuzz/corpus/wal build-fuzz/fuzz_wal
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../core/crc32c.h"
#include "../core/wal_record.h"
#include "fuzz_util.h"

using namespace hotpath;

namespace {

void FixCrc(uint8_t* p, size_t avail) {
  if (avail < kWalHeaderBytes) return;
  uint32_t payload;
  std::memcpy(&payload, p, 4);
  if (size_t(payload) > avail - kWalHeaderBytes) return;
  uint32_t c = Crc32c(0, p, 4);
  c = Crc32c(c, p + 8, 8);
  c = Crc32c(c, p + kWalHeaderBytes, payload);
  std::memcpy(p + 4, &c, 4);
}

void RoundTrip(fuzz::Input& in) {
  const size_t n = in.U8() % 9;
  const int nkeys = 1 + in.U8() % 3, nfields = in.U8() % 4;
  std::vector<std::vector<uint64_t>> keys(static_cast<size_t>(nkeys), std::vector<uint64_t>(n));
  std::vector<const uint64_t*> kp;
  for (auto& k : keys) {
    for (auto& v : k) v = uint64_t(in.U16()) * 0x9E3779B97F4A7C15ull;
    kp.push_back(k.data());
  }
  std::vector<double> ts(n), values(n * size_t(nfields));
  for (auto& t : ts) t = in.F32();
  for (auto& v : values) v = in.F32();
  const size_t bytes = WalBatchRecordBytes(n, nkeys, nfields);
  if (bytes == 0) __builtin_trap();  // these shapes are all writable
  std::vector<uint64_t> rec((bytes + 7) / 8);
  uint8_t* p = reinterpret_cast<uint8_t*>(rec.data());
  WalEncodeBatch(p, 42, 0, n, nkeys, nfields, kp.data(), ts.data(), values.data(), fuzz::kNowMs);
  WalBatchView v;
  if (WalReadBatch(p, bytes, &v) != WalRead::OK || v.seq != 42 || v.record_bytes != bytes || v.n != n || v.nkeys != nkeys ||
      v.nfields != nfields || v.now_ms != fuzz::kNowMs)
    __builtin_trap();
  if (n == 0) return;  // (memcmp of empty vectors' null data() is UB)
  for (int k = 0; k < nkeys; k++)
    if (std::memcmp(p + v.keys_at + size_t(k) * n * 8, keys[size_t(k)].data(), n * 8) != 0) __builtin_trap();
  if (std::memcmp(p + v.ts_at, ts.data(), n * 8) != 0) __builtin_trap();
  if (nfields > 0 && std::memcmp(p + v.values_at, values.data(), values.size() * 8) != 0) __builtin_trap();
}

// Seeds: a log of three records (two batches of the store's stream, one of another shape)
// and the zero header that ends it, as read (mode 0) and with CRCs recomputed (mode 1).
void WriteSeeds(const char* dir) {
  std::vector<uint8_t> log;
  auto add = [&](uint64_t seq, int nkeys, int nfields, size_t n) {
    std::vector<std::vector<uint64_t>> keys(static_cast<size_t>(nkeys), std::vector<uint64_t>(n));
    std::vector<const uint64_t*> kp;
    for (size_t k = 0; k < keys.size(); k++) {
      for (size_t i = 0; i < n; i++) keys[k][i] = 1000 * k + i;
      kp.push_back(keys[k].data());
    }
    std::vector<double> ts(n), values(n * size_t(nfields));
    for (size_t i = 0; i < n; i++) ts[i] = fuzz::kNowMs - 1000.0 * double(i);
    for (size_t i = 0; i < values.size(); i++) values[i] = double(i % 7);
    const size_t bytes = WalBatchRecordBytes(n, nkeys, nfields);
    const size_t at = log.size();
    log.resize(at + bytes);
    WalEncodeBatch(log.data() + at, seq, 0, n, nkeys, nfields, kp.data(), ts.data(), values.data(), fuzz::kNowMs);
  };
  add(1, 2, 3, 4);
  add(2, 2, 3, 1);
  add(3, 1, 0, 2);
  log.resize(log.size() + kWalHeaderBytes, 0);
  for (int mode : {0, 1}) {
    const std::string path = std::string(dir) + (mode ? "/crc_fixed" : "/crc_checked");
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::exit(1);
    std::fputc(mode, f);
    // The round trip reads its batch from the first bytes after the mode: a small one.
    std::fwrite(log.data(), 1, log.size(), f);
    std::fclose(f);
    std::printf("wrote %s\n", path.c_str());
  }
  std::exit(0);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("FUZZ_WAL_SEEDS")) WriteSeeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool fix = data[0] & 1;
  {
    fuzz::Input in(data + 1, size - 1);
    RoundTrip(in);
  }
  // The log in its own 8-byte-aligned allocation of exactly its size (a segment is read
  // into an aligned buffer; ASan sees any read past the end).
  const size_t len = size - 1;
  std::vector<uint8_t> log(data + 1, data + size);
  std::shared_ptr<Store> store;
  size_t at = 0;
  for (int records = 0; at < len && records < 64; records++) {
    if (fix) FixCrc(log.data() + at, len - at);
    WalBatchView v;
    const WalRead r = WalReadBatch(log.data() + at, len - at, &v);
    if (r >= WalRead::kCount) __builtin_trap();
    if (r != WalRead::OK) break;
    if (v.record_bytes < kWalHeaderBytes + kWalBatchHeaderBytes || v.record_bytes > len - at || v.record_bytes % 8 != 0) __builtin_trap();
    const size_t n = v.n;
    if (v.values_at + n * size_t(v.nfields) * 8 > v.record_bytes) __builtin_trap();  // the columns lie inside the record
    // Replay: a batch of the store's stream (two keys, three fields) is applied; the
    // store refuses bad times and values itself.
    if (v.stream == 0 && v.nkeys == 2 && v.nfields == 3 && n > 0) {
      if (!store) store = fuzz::NewStore();
      std::vector<uint64_t> k0(n), k1(n);
      std::vector<double> ts(n), values(n * 3);
      const uint8_t* rec = log.data() + at;
      std::memcpy(k0.data(), rec + v.keys_at, n * 8);
      std::memcpy(k1.data(), rec + v.keys_at + n * 8, n * 8);
      std::memcpy(ts.data(), rec + v.ts_at, n * 8);
      std::memcpy(values.data(), rec + v.values_at, n * 24);
      const uint64_t* keys[2] = {k0.data(), k1.data()};
      IngestResult res;
      const Status s = store->Ingest(0, n, keys, ts.data(), values.data(), v.now_ms, &res);
      if (!s.ok() && s.code() != Status::Code::INVALID_ARG) __builtin_trap();
    }
    at += v.record_bytes;
  }
  return 0;
}
