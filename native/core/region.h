// Memory regions of the feature store: zeroed anonymous memory, reserved up front and
// committed page by page on first touch. A region never moves and is freed only with its
// owner (a table's shard), so a row or index slot inside it can be addressed as base +
// offset for the table's whole life, from any thread.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hotpath {

class Region {
 public:
  Region() = default;
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region();

  // Reserves `bytes` (MAP_NORESERVE: nothing is committed until touched). With huge_pages,
  // regions of 2 MiB and more start on a 2 MiB boundary and are advised for transparent
  // huge pages (used where the kernel grants them; fewer TLB misses on large tables, but
  // the first touch commits 2 MiB, so a sparse index or a shard with a few rows costs that
  // much). Without, they are advised against huge pages (MADV_NOHUGEPAGE, for kernels that
  // use them unasked): memory is committed 4 KiB at a time as rows arrive, which a small
  // machine wants (store.huge_pages: false, the edge profile). Returns the usable start,
  // or nullptr when the reservation fails. Called once per region.
  uint8_t* Map(size_t bytes, bool huge_pages = true);

  size_t reserved() const { return len_; }

 private:
  void* base_ = nullptr;
  size_t len_ = 0;
};

}  // namespace hotpath
