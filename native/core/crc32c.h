// CRC-32C (Castagnoli, the polynomial iSCSI, ext4 and RocksDB use for their logs): the
// checksum of every write-ahead-log record and snapshot block. SSE4.2's crc32 instruction
// when the CPU has it (checked once at run time), a slicing table otherwise; both give
// the same value (core_test checks the standard vectors against each).
#pragma once
#include <cstddef>
#include <cstdint>

namespace hotpath {

// Extends crc (0 to start) over p[0, len).
uint32_t Crc32c(uint32_t crc, const void* p, size_t len);

// The portable version, for tests that compare the two.
uint32_t Crc32cPortable(uint32_t crc, const void* p, size_t len);

}  // namespace hotpath
