// The byte format every streaming detector (drift.h, anomaly.h) serializes to:
//
//   u32 magic "HPDT" | u16 version (kDetectorBlobVersion) | u16 kind (DetectorKind)
//   | body (the detector's params, then its state; little-endian fixed-width fields)
//   | u32 CRC-32C of every byte before it
//
// BlobReader checks the frame (length, magic, version, kind, CRC) before the body is read,
// and every read is bounds-checked, so a damaged or truncated blob is refused with a
// Status; the detectors parse into a fresh object and only then replace their state, so a
// refused blob changes nothing. The host is little-endian (x86-64, arm64), as for the
// WAL record and snapshots.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "constants.h"
#include "crc32c.h"
#include "status.h"

namespace hotpath {

constexpr uint32_t kDetectorBlobMagic = 0x54445048u;  // "HPDT" read as little-endian u32
constexpr size_t kDetectorBlobFrameBytes = 12;        // magic, version, kind + CRC

class BlobWriter {
 public:
  explicit BlobWriter(DetectorKind kind) {
    Put<uint32_t>(kDetectorBlobMagic);
    Put<uint16_t>(uint16_t(kDetectorBlobVersion));
    Put<uint16_t>(uint16_t(kind));
  }
  template <typename T>
  void Put(T v) {
    const size_t at = buf_.size();
    buf_.resize(at + sizeof(T));
    std::memcpy(buf_.data() + at, &v, sizeof(T));
  }
  template <typename T>
  void PutArray(const T* p, size_t n) {
    const size_t at = buf_.size();
    buf_.resize(at + n * sizeof(T));
    if (n) std::memcpy(buf_.data() + at, p, n * sizeof(T));
  }
  // Appends the CRC and hands the bytes over.
  std::vector<uint8_t> Finish() {
    const uint32_t crc = Crc32c(0, buf_.data(), buf_.size());
    Put<uint32_t>(crc);
    return std::move(buf_);
  }

 private:
  std::vector<uint8_t> buf_;
};

class BlobReader {
 public:
  // Checks the frame; on success the reader is positioned at the body's first byte.
  Status Open(const uint8_t* p, size_t n, DetectorKind want) {
    if (p == nullptr || n < kDetectorBlobFrameBytes) return Status::InvalidArg("detector blob is truncated");
    uint32_t magic, crc;
    uint16_t version, kind;
    std::memcpy(&magic, p, 4);
    std::memcpy(&version, p + 4, 2);
    std::memcpy(&kind, p + 6, 2);
    std::memcpy(&crc, p + n - 4, 4);
    if (magic != kDetectorBlobMagic) return Status::InvalidArg("not a detector blob (bad magic)");
    if (version != kDetectorBlobVersion)
      return Status::InvalidArg("detector blob version " + std::to_string(version) + " is not " +
                                std::to_string(kDetectorBlobVersion));
    if (kind != uint16_t(want)) return Status::InvalidArg("detector blob is of another detector kind");
    if (Crc32c(0, p, n - 4) != crc) return Status::InvalidArg("detector blob is damaged (CRC mismatch)");
    p_ = p + 8;
    end_ = p + n - 4;
    return Status::Ok();
  }
  template <typename T>
  bool Get(T* v) {
    if (size_t(end_ - p_) < sizeof(T)) return false;
    std::memcpy(v, p_, sizeof(T));
    p_ += sizeof(T);
    return true;
  }
  template <typename T>
  bool GetArray(T* out, size_t n) {
    if (n > size_t(end_ - p_) / sizeof(T)) return false;
    if (n) std::memcpy(out, p_, n * sizeof(T));
    p_ += n * sizeof(T);
    return true;
  }
  size_t left() const { return size_t(end_ - p_); }
  bool done() const { return p_ == end_; }

 private:
  const uint8_t* p_ = nullptr;
  const uint8_t* end_ = nullptr;
};

}  // namespace hotpath
