#include "wal_record.h"

#include <cstring>

#include "constants.h"
#include "crc32c.h"

namespace hotpath {
namespace {

template <typename T>
void Put(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}
template <typename T>
T Get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr size_t kMaxPayload = size_t(1) << 31;

uint32_t RecordCrc(const uint8_t* rec, uint32_t payload_len) {
  uint32_t c = Crc32c(0, rec, 4);                            // payload_len
  c = Crc32c(c, rec + 8, 8);                                 // seq
  return Crc32c(c, rec + kWalHeaderBytes, payload_len);      // payload
}

}  // namespace

size_t WalBatchPayloadBytes(size_t n, int nkeys, int nfields) {
  if (nkeys < 1 || nkeys > kMaxKeyColumns || nfields < 0 || nfields > 0xffff || n > (size_t(1) << 24)) return 0;
  const size_t bytes = kWalBatchHeaderBytes + n * 8 * (size_t(nkeys) + 1 + size_t(nfields));
  return bytes <= kMaxPayload ? bytes : 0;
}

size_t WalBatchRecordBytes(size_t n, int nkeys, int nfields) {
  const size_t payload = WalBatchPayloadBytes(n, nkeys, nfields);
  return payload == 0 ? 0 : (kWalHeaderBytes + payload + 7) & ~size_t(7);
}

void WalEncodeBatch(uint8_t* out, uint64_t seq, int stream, size_t n, int nkeys, int nfields,
                    const uint64_t* const* keys, const double* ts, const double* values, double now_ms) {
  const uint32_t payload = uint32_t(WalBatchPayloadBytes(n, nkeys, nfields));
  uint8_t* b = out + kWalHeaderBytes;
  Put<uint16_t>(b, kWalKindBatch);
  Put<uint16_t>(b + 2, uint16_t(stream));
  Put<uint16_t>(b + 4, uint16_t(nkeys));
  Put<uint16_t>(b + 6, uint16_t(nfields));
  Put<uint32_t>(b + 8, uint32_t(n));
  Put<uint32_t>(b + 12, 0);
  Put<double>(b + 16, now_ms);
  uint8_t* p = b + kWalBatchHeaderBytes;
  if (n > 0) {  // (an empty batch may come with null columns: memcpy must not see them)
    for (int k = 0; k < nkeys; k++, p += n * 8) std::memcpy(p, keys[k], n * 8);
    std::memcpy(p, ts, n * 8);
    p += n * 8;
    if (nfields > 0) std::memcpy(p, values, n * size_t(nfields) * 8);
    p += n * size_t(nfields) * 8;
  }
  const size_t total = WalBatchRecordBytes(n, nkeys, nfields);
  std::memset(p, 0, total - kWalHeaderBytes - payload);
  Put<uint32_t>(out, payload);
  Put<uint64_t>(out + 8, seq);
  Put<uint32_t>(out + 4, RecordCrc(out, payload));
}

WalRead WalReadBatch(const uint8_t* p, size_t avail, WalBatchView* out) {
  if (avail < kWalHeaderBytes) {
    for (size_t i = 0; i < avail; i++)
      if (p[i] != 0) return WalRead::TORN;
    return WalRead::END;
  }
  const uint32_t payload = Get<uint32_t>(p);
  const uint32_t crc = Get<uint32_t>(p + 4);
  const uint64_t seq = Get<uint64_t>(p + 8);
  if (payload == 0 && crc == 0 && seq == 0) return WalRead::END;
  if (payload < kWalBatchHeaderBytes || payload > kMaxPayload) return WalRead::CORRUPT;
  const size_t total = (kWalHeaderBytes + size_t(payload) + 7) & ~size_t(7);
  if (total > avail) return WalRead::TORN;
  if (RecordCrc(p, payload) != crc) return WalRead::CORRUPT;
  const uint8_t* b = p + kWalHeaderBytes;
  const int kind = Get<uint16_t>(b), stream = Get<uint16_t>(b + 2), nkeys = Get<uint16_t>(b + 4),
            nfields = Get<uint16_t>(b + 6);
  const uint32_t n = Get<uint32_t>(b + 8);
  if (kind != kWalKindBatch || WalBatchPayloadBytes(n, nkeys, nfields) != payload) return WalRead::CORRUPT;
  out->seq = seq;
  out->record_bytes = uint32_t(total);
  out->stream = stream;
  out->nkeys = nkeys;
  out->nfields = nfields;
  out->n = n;
  out->now_ms = Get<double>(b + 16);
  out->keys_at = kWalHeaderBytes + kWalBatchHeaderBytes;
  out->ts_at = out->keys_at + uint32_t(size_t(nkeys) * n * 8);
  out->values_at = out->ts_at + n * 8;
  return WalRead::OK;
}

}  // namespace hotpath
