// What each wrap file gives the module init (addon.cc). One file per wrapped class:
//   store_wrap.cc    FeatureStoreWrap  -> FeatureStore (core Store, feature_store.h)
//   model_wrap.cc    NativeModelWrap   -> NativeModel (core Model, model.h); denseForward
//   gather_wrap.cc   GatherWrap        -> Gather (core Gather, model.h)
//   learner_wrap.cc  LearnerWrap       -> Learner (core Learner, learner.h)
//   embedding_wrap.cc  EmbeddingIndexWrap -> EmbeddingIndex (core EmbeddingIndex, embedding.h)
//   durability_wrap.cc  snapshot and restore workers (snapshot.h), walRead, crc32c, reserveFile
// and helpers: args.h (REQUIRE_ARGUMENT_*), ids.h (entity ids, hashIds), spec_args.h.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

namespace hotpath {

class Store;

Napi::Function DefineFeatureStoreWrap(Napi::Env env);
Napi::Function DefineNativeModelWrap(Napi::Env env);
Napi::Function DefineGatherWrap(Napi::Env env);
// detector_wrap.cc: DriftDetector, AnomalyDetector, AnomalyTable (drift.h, anomaly.h) and
// constants.detectors
Napi::Function DefineDriftDetectorWrap(Napi::Env env);
Napi::Function DefineAnomalyDetectorWrap(Napi::Env env);
Napi::Function DefineAnomalyTableWrap(Napi::Env env);
Napi::Object DetectorConstants(Napi::Env env);
Napi::Function DefineLearnerWrap(Napi::Env env);
// covisit_wrap.cc: Covisit (covisit.h) and constants.covisit
Napi::Function DefineCovisitWrap(Napi::Env env);
Napi::Object CovisitConstants(Napi::Env env);
Napi::Function DefineEmbeddingIndexWrap(Napi::Env env);

// denseForward(x, w, bias | null, batch, in, out, act, backend: "cpu" | "cuda", y)
Napi::Value DenseForward(const Napi::CallbackInfo& info);

// durability_wrap.cc. StartSnapshot begins the cut on this thread and returns a promise;
// StartRestore sets *busy until its promise settles (receiver, the store's handle, is kept
// alive until then).
Napi::Value StartSnapshot(Napi::Env env, const std::shared_ptr<Store>& store, const std::string& path);
Napi::Value StartRestore(Napi::Object receiver, const std::shared_ptr<Store>& store, const std::string& path, bool* busy);
Napi::Value WalReadRecord(const Napi::CallbackInfo& info);
Napi::Value Crc32cOf(const Napi::CallbackInfo& info);
Napi::Value ReserveFile(const Napi::CallbackInfo& info);

}  // namespace hotpath
