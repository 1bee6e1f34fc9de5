#include "region.h"

#include <sys/mman.h>

namespace hotpath {

uint8_t* Region::Map(size_t bytes, bool huge_pages) {
  constexpr size_t kHuge = size_t(2) << 20;
  const bool huge = huge_pages && bytes >= kHuge;
  len_ = bytes + (huge ? kHuge : 0);  // room to start on a 2 MiB boundary
  base_ = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base_ == MAP_FAILED) {
    base_ = nullptr;
    len_ = 0;
    return nullptr;
  }
  uint8_t* p = static_cast<uint8_t*>(base_);
  if (huge) {
    p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~uintptr_t(kHuge - 1));
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
  } else if (!huge_pages) {
#ifdef MADV_NOHUGEPAGE
    madvise(p, bytes, MADV_NOHUGEPAGE);
#endif
  }
  return p;
}

Region::~Region() {
  if (base_) munmap(base_, len_);
}

}  // namespace hotpath
