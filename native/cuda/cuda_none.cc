// CPU-only builds (node-gyp): the CUDA backend reports itself absent.
#include "../core/cuda_backend.h"

namespace hotpath {

const CudaInfo& CudaProbe() {
  static const CudaInfo info{};
  return info;
}

Status DenseForwardCuda(const float*, const float*, const float*, int, int, int, Act, float*) {
  return Status::Unsupported("this build of hotpath has no CUDA backend (build with npm run build:cuda)");
}

size_t CudaDenseBytes(int, const CudaDenseLayer*, int, const CudaDenseOptions&) { return 0; }

Status CudaDenseCreate(int, const CudaDenseLayer*, int, const CudaDenseOptions&, CudaDense** out) {
  *out = nullptr;
  return Status::Unsupported("this build of hotpath has no CUDA backend (build with npm run build:cuda)");
}

void CudaDenseDestroy(CudaDense*) {}

Status CudaDenseForward(CudaDense*, const float*, int, float*) {
  return Status::Unsupported("this build of hotpath has no CUDA backend (build with npm run build:cuda)");
}

void CudaDenseDescribe(const CudaDense*, CudaDenseInfo* info) { *info = CudaDenseInfo{}; }

void CudaDenseInjectFault(CudaDense*) {}

Status CudaTopkCreate(const float*, int64_t, int, CudaTopkIndex** out) {
  *out = nullptr;
  return Status::Unsupported("this build of hotpath has no CUDA backend (build with npm run build:cuda)");
}

void CudaTopkDestroy(CudaTopkIndex*) {}

Status CudaTopk(CudaTopkIndex*, const float*, int, const uint8_t*, int32_t*, float*, int* written) {
  *written = 0;
  return Status::Unsupported("this build of hotpath has no CUDA backend (build with npm run build:cuda)");
}

}  // namespace hotpath
