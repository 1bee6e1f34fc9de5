// What each wrap file gives the module init (addon.cc). One file per wrapped class:
//   store_wrap.cc    FeatureStoreWrap  -> FeatureStore (core Store, feature_store.h)
//   model_wrap.cc    NativeModelWrap   -> NativeModel (core Model, model.h); denseForward
//   gather_wrap.cc   GatherWrap        -> Gather (core Gather, model.h)
// and helpers: args.h (REQUIRE_ARGUMENT_*), ids.h (entity ids, hashIds), spec_args.h.
#pragma once
#include <napi.h>

namespace hotpath {

Napi::Function DefineFeatureStoreWrap(Napi::Env env);
Napi::Function DefineNativeModelWrap(Napi::Env env);
Napi::Function DefineGatherWrap(Napi::Env env);

// denseForward(x, w, bias | null, batch, in, out, act, backend: "cpu" | "cuda", y)
Napi::Value DenseForward(const Napi::CallbackInfo& info);

}  // namespace hotpath
