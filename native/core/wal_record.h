// A write-ahead-log record: one validated batch of one stream, in the columnar form
// Store::Ingest applies (entity ids already hashed), so that replay is one Ingest call
// with no decoding. The TypeScript log (src/durability/wal.ts) frames records into
// segment files and writes them; this file is the one definition of the bytes.
//
// Little-endian, every record 8-byte aligned (so replay can view the columns in place):
//   header, kWalHeaderBytes:
//     u32 payload_len   bytes of payload after the header (not counting padding)
//     u32 crc           CRC-32C of payload_len (4 bytes), seq (8 bytes) and the payload
//     u64 seq           1, 2, 3, ... in log order
//   payload, a batch (kind 1):
//     u16 kind, u16 stream, u16 nkeys, u16 nfields, u32 n, u32 reserved (0), f64 now_ms
//     u64 keys[nkeys][n]         key column k of event i at keys[k * n + i]
//     f64 ts[n]
//     f64 values[n][nfields]     row-major, as Ingest takes them
//   zero bytes up to the next multiple of 8.
// A header of zeros is the end of the log (segments are preallocated and zero-filled).
#pragma once
#include <cstddef>
#include <cstdint>

namespace hotpath {

constexpr uint32_t kWalHeaderBytes = 16;
constexpr uint32_t kWalBatchHeaderBytes = 24;
constexpr uint16_t kWalKindBatch = 1;

// Why a record could not be read (WalRead). X(ENUM, "NAME")
#define HP_WAL_READ_LIST(X) \
  X(OK, "OK")               \
  X(END, "END")             \
  X(TORN, "TORN")           \
  X(CORRUPT, "CORRUPT")

enum class WalRead : uint8_t {
#define HP_X(e, name) e,
  HP_WAL_READ_LIST(HP_X)
#undef HP_X
  kCount
};

// Payload bytes of a batch of n events; 0 when the batch cannot be a record (n, keys or
// fields out of range, or more than 2^31 bytes).
size_t WalBatchPayloadBytes(size_t n, int nkeys, int nfields);
// The whole record: header + payload + padding to 8; 0 as above.
size_t WalBatchRecordBytes(size_t n, int nkeys, int nfields);

// Writes the record of a batch at out (WalBatchRecordBytes bytes; out need not be aligned).
void WalEncodeBatch(uint8_t* out, uint64_t seq, int stream, size_t n, int nkeys, int nfields,
                    const uint64_t* const* keys, const double* ts, const double* values, double now_ms);

struct WalBatchView {
  uint64_t seq = 0;
  uint32_t record_bytes = 0;  // where the next record starts, from this one's start
  int stream = 0, nkeys = 0, nfields = 0;
  uint32_t n = 0;
  double now_ms = 0;
  uint32_t keys_at = 0, ts_at = 0, values_at = 0;  // offsets from the record's start
};

// Reads the record at p (avail bytes to the end of the data). OK fills *out; END: a zero
// header (or fewer than a header's bytes, all zero); TORN: the record runs past avail;
// CORRUPT: bad checksum, kind, or a length that does not match the batch's shape.
WalRead WalReadBatch(const uint8_t* p, size_t avail, WalBatchView* out);

}  // namespace hotpath
