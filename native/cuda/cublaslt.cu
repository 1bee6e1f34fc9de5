#include "cublaslt.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace hotpath {
namespace lt {

namespace {

template <typename F>
bool Resolve(void* lib, const char* name, F* fn, std::string* missing) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!*fn && missing->empty()) *missing = name;
  return *fn != nullptr;
}

}  // namespace

const Api* LoadCublasLt(std::string* why) {
  static Api api;
  static const Api* loaded = nullptr;
  static std::string reason;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("HOTPATH_CUBLASLT");
    if (env && std::string(env) == "off") {
      reason = "HOTPATH_CUBLASLT=off";
      return;
    }
    const char* names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
    void* lib = nullptr;
    if (env && *env) {
      lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
      if (lib) api.path = env;
    } else {
      for (const char* n : names)
        if ((lib = dlopen(n, RTLD_NOW | RTLD_LOCAL)) != nullptr) {
          api.path = n;
          break;
        }
    }
    if (!lib) {
      const char* e = dlerror();
      reason = std::string("cuBLASLt not found (") + (env && *env ? env : "libcublasLt.so.13/.12") + ")" +
               (e ? std::string(": ") + e : std::string());
      return;
    }
    std::string missing;
    bool ok = Resolve(lib, "cublasLtCreate", &api.Create, &missing) &
              Resolve(lib, "cublasLtDestroy", &api.Destroy, &missing) &
              Resolve(lib, "cublasLtMatmulDescCreate", &api.MatmulDescCreate, &missing) &
              Resolve(lib, "cublasLtMatmulDescDestroy", &api.MatmulDescDestroy, &missing) &
              Resolve(lib, "cublasLtMatmulDescSetAttribute", &api.MatmulDescSetAttribute, &missing) &
              Resolve(lib, "cublasLtMatrixLayoutCreate", &api.MatrixLayoutCreate, &missing) &
              Resolve(lib, "cublasLtMatrixLayoutDestroy", &api.MatrixLayoutDestroy, &missing) &
              Resolve(lib, "cublasLtMatmulPreferenceCreate", &api.PreferenceCreate, &missing) &
              Resolve(lib, "cublasLtMatmulPreferenceDestroy", &api.PreferenceDestroy, &missing) &
              Resolve(lib, "cublasLtMatmulPreferenceSetAttribute", &api.PreferenceSetAttribute, &missing) &
              Resolve(lib, "cublasLtMatmulAlgoGetHeuristic", &api.AlgoGetHeuristic, &missing) &
              Resolve(lib, "cublasLtMatmul", &api.Matmul, &missing);
    if (!ok) {
      reason = api.path + " lacks " + missing;
      dlclose(lib);
      return;
    }
    loaded = &api;  // the library stays open for the life of the process
  });
  if (!loaded && why) *why = reason;
  return loaded;
}

}  // namespace lt
}  // namespace hotpath
