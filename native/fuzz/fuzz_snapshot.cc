// libFuzzer target: restoring a snapshot file (native/core/snapshot.h, RestoreSnapshot) into
// an empty store, as a server does at start. A restore must succeed, or fail with a status
// and leave the store empty (so that an older snapshot can be tried); a restored store
// must then serve reads, a sweep and new events.
//
// Input: [u8 mode] then the file's bytes. Mode bit 0: the header, block and trailer CRCs
// are recomputed first (walking the format as snapshot.h lays it out), so the fuzzer gets
// past the checksums to the counts, bounds, row bitmaps and the index rebuild behind them
// (the rows' contents are then garbage the checksum would have refused: that store is not
// used further, see below).
//
// Seeds: real snapshots of the fuzz store, written by this binary:
//   FUZZ_SNAPSHOT_SEEDS=native/fuzz/corpus/snapshot build-fuzz/fuzz_snapshot
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../core/crc32c.h"
#include "../core/hash.h"
#include "../core/snapshot.h"
#include "fuzz_util.h"

using namespace hotpath;

namespace {

std::string g_path;

uint32_t U32(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v = 0;
  if (at + 4 <= b.size()) std::memcpy(&v, &b[at], 4);
  return v;
}

void PutCrc(std::vector<uint8_t>& b, size_t at, uint32_t crc) {
  if (at + 4 <= b.size()) std::memcpy(&b[at], &crc, 4);
}

// Recomputes every CRC the reader checks, as far as the bytes can be walked.
void FixCrcs(std::vector<uint8_t>& b) {
  if (b.size() < 24) return;
  const uint32_t ntables = U32(b, 16), nstreams = U32(b, 20);
  if (ntables > 16 || nstreams > 16) return;
  size_t at = 24 + size_t(nstreams) * 8;
  for (uint32_t t = 0; t < ntables && at + 56 <= b.size(); t++) {
    const uint32_t nshards = U32(b, at + 4);
    if (nshards > 4096) return;
    at += 56 + size_t(nshards) * 24;
  }
  if (at + 8 > b.size()) return;
  PutCrc(b, at, Crc32c(0, b.data(), at));
  at += 8;
  while (at + 32 <= b.size()) {
    const uint32_t tag = U32(b, at);
    if (tag == 0x31444e45) {  // END1
      PutCrc(b, at + 24, Crc32c(0, &b[at], 24));
      return;
    }
    if (tag != 0x314b4c42) return;  // BLK1
    const uint32_t len = U32(b, at + 20);
    if (len > b.size() - at - 32) return;
    PutCrc(b, at + 24, Crc32c(Crc32c(0, &b[at + 4], 20), &b[at + 32], len));
    at += 32 + size_t(len);
  }
}

uint64_t Live(const Store& s) {
  uint64_t n = 0;
  for (int t = 0; t < s.table_count(); t++) n += s.table(t).Stats().live;
  return n;
}

// Events for the fuzz store: users u0.., merchants m0.., spread over an hour.
void Ingest(Store& s, int n, double now) {
  std::vector<uint64_t> k0(static_cast<size_t>(n)), k1(static_cast<size_t>(n));
  std::vector<double> ts(static_cast<size_t>(n)), values(static_cast<size_t>(n) * 3);
  for (int i = 0; i < n; i++) {
    const std::string u = "u" + std::to_string(i % 97), m = "m" + std::to_string(i % 13);
    k0[size_t(i)] = HashBytes(u.data(), u.size());
    k1[size_t(i)] = HashBytes(m.data(), m.size());
    ts[size_t(i)] = now - 3600000.0 + 3600000.0 * i / n;
    values[size_t(i) * 3] = i * 1.5;
    values[size_t(i) * 3 + 1] = i % 5;
    values[size_t(i) * 3 + 2] = i % 97;
  }
  const uint64_t* keys[2] = {k0.data(), k1.data()};
  IngestResult r;
  if (!s.Ingest(0, size_t(n), keys, ts.data(), values.data(), now, &r).ok()) __builtin_trap();
}

void WriteSeeds(const char* dir) {
  for (int n : {0, 5, 300}) {
    std::shared_ptr<Store> s = fuzz::NewStore();
    if (n > 0) Ingest(*s, n, fuzz::kNowMs);
    std::unique_ptr<StoreSnapshot> snap;
    const std::string tmp = std::string(dir) + "/.snapshot";
    if (!StoreSnapshot::Begin(s, &snap).ok() || !snap->Write(tmp).ok()) {
      std::fprintf(stderr, "cannot write %s\n", tmp.c_str());
      std::exit(1);
    }
    snap->End();
    // Each snapshot twice: as read (mode 0) and with its CRCs recomputed after mutation (mode 1).
    std::vector<uint8_t> bytes;
    if (FILE* f = std::fopen(tmp.c_str(), "rb")) {
      for (int c; (c = std::fgetc(f)) != EOF;) bytes.push_back(uint8_t(c));
      std::fclose(f);
    }
    ::unlink(tmp.c_str());
    for (int mode : {0, 1}) {
      const std::string path = std::string(dir) + (mode ? "/crc_fixed_" : "/crc_checked_") + std::to_string(n);
      FILE* f = std::fopen(path.c_str(), "wb");
      std::fputc(mode, f);
      std::fwrite(bytes.data(), 1, bytes.size(), f);
      std::fclose(f);
      std::printf("wrote %s\n", path.c_str());
    }
  }
  std::exit(0);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("FUZZ_SNAPSHOT_SEEDS")) WriteSeeds(dir);
  char tmpl[] = "/tmp/hotpath-fuzz-snapshot-XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd < 0) std::abort();
  ::close(fd);
  g_path = tmpl;
  std::atexit([] { ::unlink(g_path.c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<uint8_t> file(data + 1, data + size);
  if (data[0] & 1) FixCrcs(file);
  {
    const int fd = ::open(g_path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0 || ::write(fd, file.data(), file.size()) != ssize_t(file.size())) std::abort();
    ::close(fd);
  }
  std::shared_ptr<Store> store = fuzz::NewStore();
  RestoreStats st;
  const Status s = RestoreSnapshot(*store, g_path, &st);
  if (!s.ok()) {
    if (s.code() != Status::Code::INVALID_ARG && s.code() != Status::Code::INTERNAL) __builtin_trap();
    if (Live(*store) != 0) __builtin_trap();  // back to empty
    Ingest(*store, 3, fuzz::kNowMs);           // and usable
    return 0;
  }
  if (st.live != Live(*store)) __builtin_trap();
  // With recomputed CRCs the rows hold whatever the fuzzer wrote into them. A row's
  // contents (tile epochs, HLL heads) are trusted once its block's CRC-32C matches, by
  // design: the checksum is what guards them against a damaged disk. Only the framing
  // and the index rebuilt from the rows (above) must hold for such a file.
  if (data[0] & 1) return 0;
  // A restored store serves: reads of the seeds' ids and a few others, a sweep, new events.
  std::vector<double> out(size_t(store->table(0).width()) + size_t(store->table(1).width()));
  for (int i = 0; i < 100; i++) {
    const std::string u = "u" + std::to_string(i), m = "m" + std::to_string(i % 16);
    double age;
    store->table(0).Read(HashBytes(u.data(), u.size()), fuzz::kNowMs, out.data(), &age);
    store->table(1).Read(HashBytes(m.data(), m.size()), fuzz::kNowMs, out.data(), &age);
  }
  store->Sweep(fuzz::kNowMs + 7200000.0, 1000);
  Ingest(*store, 50, fuzz::kNowMs + 60000.0);
  return 0;
}
