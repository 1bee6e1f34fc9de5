// Gather: the feature gather of one model (core Gather, model.h), attached to a store by
// id like a read-only FeatureStore; one per worker thread (it owns its scratch).
//
// Buffers: run's ids, refs and fields are read, and x written, during the call only
// (a worker passes views of its request ring; nothing is kept after the call).
#include <napi.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "../core/model.h"
#include "args.h"
#include "wraps.h"

namespace hotpath {
namespace {

// new Gather(storeId, { tables: number[], fields: number, columns: [{ source, key, offset,
// field, transform, fill }] }). source: a GatherSource (constants.gatherSources),
// transform: a GatherTransform (constants.gatherTransforms).
class GatherWrap : public Napi::ObjectWrap<GatherWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Gather", {InstanceMethod<&GatherWrap::Run>("run")});
  }

  GatherWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GatherWrap>(info) { Construct(info); }

 private:
  Napi::Value Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "Gather expects (storeId, spec)";
    REQUIRE_ARGUMENTS(2, kUsage);
    if (!info[0].IsNumber()) HP_ARG_FAIL(kUsage);
    REQUIRE_ARGUMENT_OBJECT(1, o, kUsage);
    std::shared_ptr<Store> store = Store::Lookup(info[0].As<Napi::Number>().Uint32Value());
    if (!store) return ThrowStatus(env, Status::NotFound("no live feature store with that id"));
    const int fields = int(NumProp(o, "fields", 0, 0, 1 << 20));
    Napi::Value tv = o.Get("tables"), cv = o.Get("columns");
    if (!tv.IsArray() || !cv.IsArray()) return ThrowArg(env, "tables and columns must be arrays");
    std::vector<int> tables;
    Napi::Array ta = tv.As<Napi::Array>();
    for (uint32_t i = 0; i < ta.Length() && !env.IsExceptionPending(); i++) {
      Napi::Value v = ta.Get(i);
      if (!v.IsNumber()) return ThrowArg(env, "table indices must be numbers");
      tables.push_back(int(std::max(-1.0, std::min(1e6, v.As<Napi::Number>().DoubleValue()))));
    }
    std::vector<GatherColumn> columns;
    Napi::Array ca = cv.As<Napi::Array>();
    for (uint32_t i = 0; i < ca.Length() && !env.IsExceptionPending(); i++) {
      Napi::Value v = ca.Get(i);
      if (!v.IsObject()) return ThrowArg(env, "column " + std::to_string(i) + " is not an object");
      Napi::Object co = v.As<Napi::Object>();
      GatherColumn c;
      c.source = GatherSource(uint8_t(NumProp(co, "source", 255, 0, 255)));
      c.key = int(NumProp(co, "key", 0, -1, 1e6));
      c.offset = int(NumProp(co, "offset", 0, -1, 1e6));
      c.field = int(NumProp(co, "field", 0, -1, 1e6));
      c.transform = GatherTransform(uint8_t(NumProp(co, "transform", 0, 0, 255)));
      c.fill = float(NumProp(co, "fill", 0, -3.4e38, 3.4e38));
      columns.push_back(c);
    }
    if (env.IsExceptionPending()) return env.Undefined();
    Status s = Gather::Create(std::move(store), std::move(tables), fields, std::move(columns), &gather_);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  // run(ids: Uint8Array, refs: Uint32Array (batch x keys x 2), fields: Float32Array
  //     (batch x fields), batch, nowMs, x: Float32Array (batch x columns))
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!gather_) return ThrowStatus(env, Status::Unavailable("gather was not created"));
    constexpr const char* kUsage = "run(ids, refs, fields, batch, nowMs, x)";
    REQUIRE_ARGUMENTS(6, kUsage);
    if (!info[3].IsNumber()) HP_ARG_FAIL(kUsage);
    REQUIRE_ARGUMENT_BATCH(3, b);
    REQUIRE_ARGUMENT_TIME(4, now);
    constexpr const char* kArrays = "ids: Uint8Array, refs: Uint32Array, fields and x: Float32Array";
    REQUIRE_ARGUMENT_UINT8_ARRAY(0, ids, nids, kArrays);
    REQUIRE_ARGUMENT_UINT32_ARRAY(1, refs, nrefs, kArrays);
    REQUIRE_ARGUMENT_FLOAT32_ARRAY(2, fields, nfields, kArrays);
    REQUIRE_ARGUMENT_FLOAT32_ARRAY(5, x, nx, kArrays);
    if (nrefs < b * gather_->keys() * 2 || nfields < b * gather_->fields() || nx < b * gather_->columns())
      return ThrowArg(env, "refs, fields or x is shorter than the batch");
    Status s = gather_->Run(ids, nids, refs, fields, int(b), now, x);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  std::unique_ptr<Gather> gather_;
};

}  // namespace

Napi::Function DefineGatherWrap(Napi::Env env) { return GatherWrap::Define(env); }

}  // namespace hotpath
