// The streaming detectors (core drift.h and anomaly.h) as three classes:
//   DriftDetector(kind, params)               ADWIN, Page-Hinkley
//   AnomalyDetector(kind, params)             Half-Space Trees, robust z, EW, likelihood
//   AnomalyTable(kind, params, maxEntities)   robust z or EW per entity (DetectorTable)
// kind is a code of constants.detectors.kinds. src/native/detectors.ts checks every
// argument first; the checks here are the backstop.
//
// Buffers: every typed array passed in is borrowed for the call only (read, or written
// for scores); serialize() returns a new Uint8Array the caller owns; deserialize() copies
// what it needs. String ids are hashed into thread-local scratch (grown to the largest
// batch once), as the store does.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../core/anomaly.h"
#include "../core/drift.h"
#include "args.h"
#include "ids.h"
#include "wraps.h"

namespace hotpath {
namespace {

// The data pointer of the methods that learn (a score method and its learning twin share
// one function).
char learn_marker;
void* const kLearn = &learn_marker;

bool KindArg(const Napi::Value& v, DetectorKind* kind) {
  if (!v.IsNumber()) return false;
  const double k = v.As<Napi::Number>().DoubleValue();
  if (!(k >= 0 && k < double(DetectorKind::kCount)) || k != std::floor(k)) return false;
  *kind = DetectorKind(uint8_t(k));
  return true;
}

Napi::Value Blob(Napi::Env env, const std::vector<uint8_t>& bytes) {
  Napi::Uint8Array out = Napi::Uint8Array::New(env, bytes.size());
  if (!bytes.empty()) std::memcpy(out.Data(), bytes.data(), bytes.size());
  return out;
}

// deserialize(bytes) of any detector or table: its state (and params) from a blob, or an
// error and nothing changed.
template <class D>
Napi::Value DeserializeArg(const Napi::CallbackInfo& info, D& d) {
  Napi::Env env = info.Env();
  REQUIRE_ARGUMENT_UINT8_ARRAY(0, p, n, "deserialize(bytes: Uint8Array)");
  Status s = d.Deserialize(p, n);
  if (!s.ok()) return ThrowStatus(env, s);
  return env.Undefined();
}

// A Float64Array property as a vector (empty when absent).
bool DoublesProp(Napi::Object o, const char* key, std::vector<double>* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  double* p;
  size_t n;
  if (!GetTyped<double, napi_float64_array>(v, &p, &n)) return false;
  out->assign(p, p + n);
  return true;
}

// params: { alpha, warmup } | { window, minCount } | { nTrees, height, windowSize, dims, lo?, hi?, seed }
//   | { alpha, zScale, minHistory, averaging, history, learning, estimation, reestimation, tolerance }
bool AnomalyParamsArg(Napi::Object o, DetectorKind kind, AnomalyParams* p, std::string* why) {
  if (kind == DetectorKind::HST) {
    p->hst.n_trees = int(NumProp(o, "nTrees", p->hst.n_trees, 0, 1e6));
    p->hst.height = int(NumProp(o, "height", p->hst.height, 0, 64));
    p->hst.window_size = int(NumProp(o, "windowSize", p->hst.window_size, 0, 1e9));
    p->hst.dims = int(NumProp(o, "dims", p->hst.dims, 0, 1e9));
    p->hst.seed = uint64_t(NumProp(o, "seed", double(p->hst.seed), 0, 9007199254740991.0));
    if (!DoublesProp(o, "lo", &p->hst.lo) || !DoublesProp(o, "hi", &p->hst.hi)) {
      *why = "hst lo and hi must be Float64Arrays";
      return false;
    }
  } else if (kind == DetectorKind::ROBUST_Z) {
    p->robust_z.window = int(NumProp(o, "window", p->robust_z.window, 0, 1e9));
    p->robust_z.min_count = int(NumProp(o, "minCount", p->robust_z.min_count, 0, 1e9));
  } else if (kind == DetectorKind::EW) {
    p->ew.alpha = NumProp(o, "alpha", p->ew.alpha, 0, 1);
    p->ew.warmup = int(NumProp(o, "warmup", p->ew.warmup, 0, 2e9));
  } else if (kind == DetectorKind::LIKELIHOOD) {
    LikelihoodParams& l = p->likelihood;
    l.alpha = NumProp(o, "alpha", l.alpha, 0, 1);
    l.z_scale = NumProp(o, "zScale", l.z_scale, 0, 1e300);
    l.min_history = int(NumProp(o, "minHistory", l.min_history, -1, 2e9));
    l.averaging = int(NumProp(o, "averaging", l.averaging, 0, 2e9));
    l.history = int(NumProp(o, "history", l.history, 0, 2e9));
    l.learning = int(NumProp(o, "learning", l.learning, -1, 2e9));
    l.estimation = int(NumProp(o, "estimation", l.estimation, -1, 2e9));
    l.reestimation = int(NumProp(o, "reestimation", l.reestimation, 0, 2e9));
    l.tolerance = NumProp(o, "tolerance", l.tolerance, -1, 1e300);
  }
  return true;
}

// ---------------------------------------------------------------------------------------

// new DriftDetector(kind, { delta, clock, maxBuckets, minWindowLength, gracePeriod })
// new DriftDetector(kind, { minInstances, delta, threshold, alpha, mode: 0 both | 1 up | 2 down })
class DriftWrap : public Napi::ObjectWrap<DriftWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DriftDetector",
                       {InstanceMethod<&DriftWrap::Update>("update"),
                        InstanceMethod<&DriftWrap::UpdateMany>("updateMany"),
                        InstanceMethod<&DriftWrap::Reset>("reset"),
                        InstanceMethod<&DriftWrap::Stats>("stats"),
                        InstanceMethod<&DriftWrap::Serialize>("serialize"),
                        InstanceMethod<&DriftWrap::Deserialize>("deserialize")});
  }

  DriftWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DriftWrap>(info) { Construct(info); }

 private:
  Napi::Value Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "DriftDetector expects (kind, params)";
    REQUIRE_ARGUMENTS(2, kUsage);
    DetectorKind kind;
    if (!KindArg(info[0], &kind)) HP_ARG_FAIL(kUsage);
    REQUIRE_ARGUMENT_OBJECT(1, o, kUsage);
    if (kind == DetectorKind::ADWIN) {
      AdwinParams p;
      p.delta = NumProp(o, "delta", p.delta, 0, 1);
      p.clock = int(NumProp(o, "clock", p.clock, 0, 2e9));
      p.max_buckets = int(NumProp(o, "maxBuckets", p.max_buckets, 0, 1e6));
      p.min_window_length = int(NumProp(o, "minWindowLength", p.min_window_length, 0, 2e9));
      p.grace_period = int(NumProp(o, "gracePeriod", p.grace_period, -1, 2e9));
      if (env.IsExceptionPending()) return env.Undefined();
      Status s = p.Validate();
      if (!s.ok()) return ThrowStatus(env, s);
      d_ = std::make_unique<Adwin>(p);
    } else if (kind == DetectorKind::PAGE_HINKLEY) {
      PageHinkleyParams p;
      p.min_instances = int(NumProp(o, "minInstances", p.min_instances, 0, 2e9));
      p.delta = NumProp(o, "delta", p.delta, -1, 1e300);
      p.threshold = NumProp(o, "threshold", p.threshold, -1, 1e300);
      p.alpha = NumProp(o, "alpha", p.alpha, 0, 2);
      p.mode = PhMode(uint8_t(NumProp(o, "mode", 0, 0, 255)));
      if (env.IsExceptionPending()) return env.Undefined();
      Status s = p.Validate();
      if (!s.ok()) return ThrowStatus(env, s);
      d_ = std::make_unique<PageHinkley>(p);
    } else {
      return ThrowArg(env, "not a drift detector kind (adwin, page_hinkley)");
    }
    return env.Undefined();
  }

  // update(x: number) -> boolean (a drift at x)
  Napi::Value Update(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENT_NUMBER(0, x, "update(x: number)");
    if (!std::isfinite(x)) return ThrowArg(env, "x is NaN or infinite");
    return Napi::Boolean::New(env, d_->Update(x));
  }

  // updateMany(xs: Float64Array, n) -> index of the first drift, or -1
  Napi::Value UpdateMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "updateMany(xs: Float64Array, n)";
    REQUIRE_ARGUMENTS(2, kUsage);
    REQUIRE_ARGUMENT_BATCH(1, n);
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(0, xs, len, kUsage);
    if (len < n) return ThrowArg(env, "xs is shorter than n");
    int64_t first, drifts;
    Status s = d_->UpdateMany(xs, n, &first, &drifts);
    if (!s.ok()) return ThrowStatus(env, s);
    return Napi::Number::New(env, double(first));
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    d_->Reset();
    return info.Env().Undefined();
  }

  // stats() -> { detections, refused, drift, width, estimation }: for page_hinkley, width
  // is the items since its last reset and estimation their mean.
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("drift", d_->drift_detected());
    o.Set("refused", double(d_->refused()));
    if (d_->kind() == DetectorKind::ADWIN) {
      const Adwin& a = static_cast<const Adwin&>(*d_);
      o.Set("detections", double(a.detections()));
      o.Set("width", a.width());
      o.Set("estimation", a.estimation());
    } else {
      const PageHinkley& h = static_cast<const PageHinkley&>(*d_);
      o.Set("detections", double(h.detections()));
      o.Set("width", h.n());
      o.Set("estimation", h.mean());
    }
    return o;
  }

  Napi::Value Serialize(const Napi::CallbackInfo& info) { return Blob(info.Env(), d_->Serialize()); }

  Napi::Value Deserialize(const Napi::CallbackInfo& info) { return DeserializeArg(info, *d_); }

  std::unique_ptr<DriftDetector> d_;
};

// ---------------------------------------------------------------------------------------

// new AnomalyDetector(kind, params)
class AnomalyWrap : public Napi::ObjectWrap<AnomalyWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "AnomalyDetector",
                       {InstanceMethod<&AnomalyWrap::ScoreOne>("scoreLearn", napi_default, kLearn),
                        InstanceMethod<&AnomalyWrap::ScoreOne>("score"),
                        InstanceMethod<&AnomalyWrap::ScoreMany>("scoreLearnMany", napi_default, kLearn),
                        InstanceMethod<&AnomalyWrap::ScoreMany>("scoreMany"),
                        InstanceMethod<&AnomalyWrap::Serialize>("serialize"),
                        InstanceMethod<&AnomalyWrap::Deserialize>("deserialize"),
                        InstanceAccessor<&AnomalyWrap::Dims>("dims"),
                        InstanceAccessor<&AnomalyWrap::Seen>("seen")});
  }

  AnomalyWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AnomalyWrap>(info) { Construct(info); }

 private:
  Napi::Value Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "AnomalyDetector expects (kind, params)";
    REQUIRE_ARGUMENTS(2, kUsage);
    DetectorKind kind;
    if (!KindArg(info[0], &kind)) HP_ARG_FAIL(kUsage);
    REQUIRE_ARGUMENT_OBJECT(1, o, kUsage);
    AnomalyParams p;
    std::string why;
    if (!AnomalyParamsArg(o, kind, &p, &why)) return ThrowArg(env, why);
    if (env.IsExceptionPending()) return env.Undefined();
    Status s = AnomalyDetector::Create(kind, p, &d_);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  // scoreLearn(x: number) / score(x: number) -> number, for one-feature detectors. The
  // method's name picks learning (one function for both keeps the wrap small).
  Napi::Value ScoreOne(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENT_NUMBER(0, x, "score(x: number)");
    if (d_->dims() != 1) return ThrowArg(env, "this detector takes " + std::to_string(d_->dims()) + " features: use scoreLearnMany");
    const bool learn = info.Data() != nullptr;
    double score;
    Status s = learn ? d_->ScoreLearn(&x, &score) : d_->Score(&x, &score);
    if (!s.ok()) return ThrowStatus(env, s);
    return Napi::Number::New(env, score);
  }

  // scoreLearnMany / scoreMany(xs: Float64Array (n x dims), n, out: Float64Array (n))
  Napi::Value ScoreMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "scoreMany(xs: Float64Array, n, out: Float64Array)";
    REQUIRE_ARGUMENTS(3, kUsage);
    REQUIRE_ARGUMENT_BATCH(1, n);
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(0, xs, len, kUsage);
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(2, out, nout, kUsage);
    if (len < n * size_t(d_->dims())) return ThrowArg(env, "xs is shorter than n x dims");
    if (nout < n) return ThrowArg(env, "out is shorter than n");
    const bool learn = info.Data() != nullptr;
    Status s = learn ? d_->ScoreLearnMany(xs, n, out) : d_->ScoreMany(xs, n, out);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  Napi::Value Dims(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), d_->dims()); }
  Napi::Value Seen(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(d_->seen())); }
  Napi::Value Serialize(const Napi::CallbackInfo& info) { return Blob(info.Env(), d_->Serialize()); }

  Napi::Value Deserialize(const Napi::CallbackInfo& info) { return DeserializeArg(info, *d_); }

  std::unique_ptr<AnomalyDetector> d_;
};

// ---------------------------------------------------------------------------------------

// new AnomalyTable(kind, params, maxEntities)
class TableWrap : public Napi::ObjectWrap<TableWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "AnomalyTable",
                       {InstanceMethod<&TableWrap::ScoreMany>("scoreLearnMany", napi_default, kLearn),
                        InstanceMethod<&TableWrap::ScoreMany>("scoreMany"),
                        InstanceMethod<&TableWrap::Stats>("stats"),
                        InstanceMethod<&TableWrap::Clear>("clear"),
                        InstanceMethod<&TableWrap::Serialize>("serialize"),
                        InstanceMethod<&TableWrap::Deserialize>("deserialize")});
  }

  TableWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TableWrap>(info) { Construct(info); }

 private:
  Napi::Value Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "AnomalyTable expects (kind, params, maxEntities)";
    REQUIRE_ARGUMENTS(3, kUsage);
    DetectorKind kind;
    if (!KindArg(info[0], &kind)) HP_ARG_FAIL(kUsage);
    REQUIRE_ARGUMENT_OBJECT(1, o, kUsage);
    REQUIRE_ARGUMENT_NUMBER(2, max, kUsage);
    AnomalyParams p;
    std::string why;
    if (!AnomalyParamsArg(o, kind, &p, &why)) return ThrowArg(env, why);
    if (env.IsExceptionPending()) return env.Undefined();
    const double m = std::isfinite(max) ? std::max(0.0, std::min(max, 1e12)) : 0;
    Status s = DetectorTable::Create(kind, p, int64_t(m), &t_);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  // scoreLearnMany / scoreMany(keys: BigUint64Array | string[], x: Float64Array, n,
  //   out: Float64Array) -> scoreLearnMany: the points refused because the table is full
  Napi::Value ScoreMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "scoreLearnMany(keys, x: Float64Array, n, out: Float64Array)";
    REQUIRE_ARGUMENTS(4, kUsage);
    REQUIRE_ARGUMENT_BATCH(2, n);
    ReentryGuard guard;
    if (!guard.ok) return ThrowStatus(env, Status::Unavailable("scoreLearnMany called from inside an addon call"));
    thread_local std::vector<uint64_t> scratch;
    const uint64_t* keys;
    std::string why;
    if (!GetKeys(env, info[0], n, &scratch, &keys, &why)) return ThrowArg(env, why);  // may run JS
    // Pointers only now, after any JS: the ids' getters could have detached a buffer.
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(1, x, nx, kUsage);
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(3, out, nout, kUsage);
    if (nx < n || nout < n) return ThrowArg(env, "x or out is shorter than n");
    if (!GetKeys(env, info[0], n, &scratch, &keys, &why, /*strings_done=*/!info[0].IsTypedArray())) return ThrowArg(env, why);
    if (info.Data() == nullptr) {
      Status s = t_->ScoreMany(keys, x, n, out);
      if (!s.ok()) return ThrowStatus(env, s);
      return env.Undefined();
    }
    uint64_t refused = 0;
    Status s = t_->ScoreLearnMany(keys, x, n, out, &refused);
    if (!s.ok()) return ThrowStatus(env, s);
    return Napi::Number::New(env, double(refused));
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const DetectorTableStats st = t_->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("live", double(st.live));
    o.Set("capacity", double(st.capacity));
    o.Set("refused", double(st.refused));
    o.Set("bytes", double(st.bytes));
    return o;
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    t_->Clear();
    return info.Env().Undefined();
  }

  Napi::Value Serialize(const Napi::CallbackInfo& info) { return Blob(info.Env(), t_->Serialize()); }

  Napi::Value Deserialize(const Napi::CallbackInfo& info) { return DeserializeArg(info, *t_); }

  std::unique_ptr<DetectorTable> t_;
};

}  // namespace

Napi::Function DefineDriftDetectorWrap(Napi::Env env) { return DriftWrap::Define(env); }
Napi::Function DefineAnomalyDetectorWrap(Napi::Env env) { return AnomalyWrap::Define(env); }
Napi::Function DefineAnomalyTableWrap(Napi::Env env) { return TableWrap::Define(env); }

Napi::Object DetectorConstants(Napi::Env env) {
  Napi::Object kinds = Napi::Object::New(env);
#define HP_X(e, name) kinds.Set(name, int(DetectorKind::e));
  HP_DETECTOR_KIND_LIST(HP_X)
#undef HP_X
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("maxDims", kMaxDetectorDims);
  limits.Set("maxHstTrees", kMaxHstTrees);
  limits.Set("maxHstHeight", kMaxHstHeight);
  limits.Set("maxWindow", kMaxDetectorWindow);
  limits.Set("maxEntities", kMaxDetectorEntities);
  Napi::Object o = Napi::Object::New(env);
  o.Set("kinds", kinds);
  o.Set("blobVersion", kDetectorBlobVersion);
  o.Set("limits", limits);
  return o;
}

}  // namespace hotpath
