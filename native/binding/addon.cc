// The N-API edge: module init. Thin, mechanical wrappers over native/core, one file per
// wrapped class (wraps.h lists them); argument checks through args.h. Built with
// NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS: a core Status becomes a JS exception only in
// args.h ThrowStatus, with err.code "HP_ERR_NATIVE_<STATUS>".
//
// Context-aware: one Addon instance (the per-environment instance data, holding each
// class constructor) per environment, so the addon loads in the main thread and in any
// number of worker_threads at once; node-addon-api frees it when the environment exits.
// Stores outlive the thread that made them only through Store::Lookup's registry.
#include <napi.h>

#include "../core/constants.h"
#include "feature_json.h"
#include "../core/cuda_backend.h"
#include "../core/wal_record.h"
#include "ids.h"
#include "wraps.h"

namespace hotpath {
namespace {

Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CudaInfo& c = CudaProbe();
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("compiled", c.compiled);
  cuda.Set("devices", c.devices);
  cuda.Set("name", c.name);
  cuda.Set("error", c.error);
  Napi::Object o = Napi::Object::New(env);
  o.Set("cpu", true);
  o.Set("cuda", cuda);
  return o;
}

// Every list and limit of constants.h, as `constants` (src/native/binding.ts Constants).
Napi::Object Constants(Napi::Env env) {
  Napi::Object aggs = Napi::Object::New(env), aggFlags = Napi::Object::New(env);
#define HP_X(e, name, f, w)                          \
  aggs.Set(name, int(Agg::e));                       \
  {                                                  \
    Napi::Object flags = Napi::Object::New(env);     \
    flags.Set("field", bool(f));                     \
    flags.Set("windowed", bool(w));                  \
    aggFlags.Set(name, flags);                       \
  }
  HP_AGG_LIST(HP_X)
#undef HP_X
  // Each X(ENUM, "name") list as an object: name -> code.
#define HP_X(e, name) o.Set(name, int(E::e));
#define HP_NAMES(Enum, LIST)                 \
  [&env] {                                   \
    using E = Enum;                          \
    Napi::Object o = Napi::Object::New(env); \
    LIST(HP_X)                               \
    return o;                                \
  }()
  Napi::Object acts = HP_NAMES(Act, HP_ACT_LIST);
  Napi::Object rowRoles = HP_NAMES(RowRole, HP_ROW_ROLE_LIST);
  Napi::Object layerKinds = HP_NAMES(LayerKind, HP_LAYER_KIND_LIST);
  Napi::Object gatherSources = HP_NAMES(GatherSource, HP_GATHER_SOURCE_LIST);
  Napi::Object gatherTransforms = HP_NAMES(GatherTransform, HP_GATHER_TRANSFORM_LIST);
  Napi::Object learnerOpts = HP_NAMES(LearnerOpt, HP_LEARNER_OPT_LIST);
#undef HP_NAMES
#undef HP_X
  Napi::Array statuses = Napi::Array::New(env), rowErrors = Napi::Array::New(env), walReads = Napi::Array::New(env);
  uint32_t i = 0;
#define HP_X(e, name) statuses.Set(i++, name);
  HP_STATUS_LIST(HP_X)
#undef HP_X
  i = 0;
#define HP_X(e, name) rowErrors.Set(i++, name);
  HP_ROW_ERROR_LIST(HP_X)
#undef HP_X
  i = 0;
#define HP_X(e, name) walReads.Set(i++, name);
  HP_WAL_READ_LIST(HP_X)
#undef HP_X
  Napi::Object wal = Napi::Object::New(env);
  wal.Set("headerBytes", kWalHeaderBytes);
  wal.Set("batchHeaderBytes", kWalBatchHeaderBytes);
  wal.Set("reads", walReads);
  Napi::Object rowTypes = Napi::Object::New(env);
  rowTypes.Set("f64", kRowTypeF64);
  rowTypes.Set("str16", kRowTypeStr16);
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("maxIdBytes", kMaxIdBytes);
  limits.Set("maxTilesPerWindow", kMaxTilesPerWindow);
  limits.Set("maxLastN", kMaxLastN);
  limits.Set("minHllPrecision", kMinHllPrecision);
  limits.Set("maxHllPrecision", kMaxHllPrecision);
  limits.Set("maxFeaturesPerTable", kMaxFeaturesPerTable);
  limits.Set("maxKeyColumns", kMaxKeyColumns);
  limits.Set("maxTimeMs", kMaxTimeMs);
  limits.Set("maxEventTimeMs", kMaxEventTimeMs);
  Napi::Object learner = Napi::Object::New(env);
  learner.Set("optimizers", learnerOpts);
  learner.Set("maxDim", kLearnerMaxDim);
  learner.Set("maxHashBits", kLearnerMaxHashBits);
  learner.Set("maxValue", kLearnerMaxValue);
  learner.Set("blobVersion", kLearnerBlobVersion);
  Napi::Object embedding = Napi::Object::New(env);
  embedding.Set("maxK", kEmbeddingMaxK);
  embedding.Set("maxDim", kEmbeddingMaxDim);
  embedding.Set("rerankFactor", kEmbeddingRerankFactor);
  embedding.Set("rerankMin", kEmbeddingRerankMin);
  embedding.Set("maxCandidates", kEmbeddingMaxCandidates);
  Napi::Object o = Napi::Object::New(env);
  o.Set("rowRoles", rowRoles);
  o.Set("rowErrors", rowErrors);
  o.Set("rowTypes", rowTypes);
  o.Set("aggs", aggs);
  o.Set("aggFlags", aggFlags);
  o.Set("acts", acts);
  o.Set("layerKinds", layerKinds);
  o.Set("gatherSources", gatherSources);
  o.Set("gatherTransforms", gatherTransforms);
  o.Set("statuses", statuses);
  o.Set("limits", limits);
  o.Set("rowLayoutVersion", kRowLayoutVersion);
  o.Set("wal", wal);
  o.Set("detectors", DetectorConstants(env));
  o.Set("learner", learner);
  o.Set("covisit", CovisitConstants(env));
  o.Set("embedding", embedding);
  Napi::Object featureJson = Napi::Object::New(env);  // FeatureStore.readJson's program ops
  featureJson.Set("lit", int32_t(kJsonLit));
  featureJson.Set("at", int32_t(kJsonAt));
  featureJson.Set("id", int32_t(kJsonId));
  featureJson.Set("found", int32_t(kJsonFound));
  featureJson.Set("age", int32_t(kJsonAge));
  featureJson.Set("value", int32_t(kJsonValue));
  featureJson.Set("list", int32_t(kJsonList));
  o.Set("featureJson", featureJson);
  return o;
}

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceValue("FeatureStore", DefineFeatureStoreWrap(env)),
                             InstanceValue("NativeModel", DefineNativeModelWrap(env)),
                             InstanceValue("Gather", DefineGatherWrap(env)),
                             InstanceValue("DriftDetector", DefineDriftDetectorWrap(env)),
                             InstanceValue("AnomalyDetector", DefineAnomalyDetectorWrap(env)),
                             InstanceValue("AnomalyTable", DefineAnomalyTableWrap(env)),
                             InstanceValue("Learner", DefineLearnerWrap(env)),
                             InstanceValue("Covisit", DefineCovisitWrap(env)),
                             InstanceValue("EmbeddingIndex", DefineEmbeddingIndexWrap(env)),
                             InstanceValue("constants", Constants(env)),
                             InstanceMethod<&Addon::CallHashIds>("hashIds"),
                             InstanceMethod<&Addon::CallDense>("denseForward"),
                             InstanceMethod<&Addon::CallBackends>("backends"),
                             InstanceMethod<&Addon::CallWalRead>("walRead"),
                             InstanceMethod<&Addon::CallCrc32c>("crc32c"),
                             InstanceMethod<&Addon::CallReserveFile>("reserveFile"),
                         });
  }

 private:
  Napi::Value CallHashIds(const Napi::CallbackInfo& info) { return HashIds(info); }
  Napi::Value CallDense(const Napi::CallbackInfo& info) { return DenseForward(info); }
  Napi::Value CallBackends(const Napi::CallbackInfo& info) { return Backends(info); }
  Napi::Value CallWalRead(const Napi::CallbackInfo& info) { return WalReadRecord(info); }
  Napi::Value CallCrc32c(const Napi::CallbackInfo& info) { return Crc32cOf(info); }
  Napi::Value CallReserveFile(const Napi::CallbackInfo& info) { return ReserveFile(info); }
};

}  // namespace
}  // namespace hotpath

using HotpathAddon = hotpath::Addon;
NODE_API_ADDON(HotpathAddon)
