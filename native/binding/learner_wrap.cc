// Learner: a core Learner (online logistic regression, native/core/learner.h) owned by one
// JS thread. src/native/learner.ts (NativeLearner) checks arguments first; these checks are
// the backstop.
//
// Buffers: every typed array passed in is read (and `out` written) during the call only;
// serialize() returns a new Uint8Array the caller owns; deserialize copies what it reads.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../core/learner.h"
#include "args.h"
#include "wraps.h"

namespace hotpath {
namespace {

// Marks Learner objects, so that copyFrom can tell one from any other wrapped object
// before unwrapping it (unwrapping another class's object would be a type confusion).
constexpr napi_type_tag kLearnerTag = {0x6c6561726e657221ULL, 0x686f74706174682eULL};

// A number property, or dflt when absent. False when present and not a number (NaN passes:
// the core refuses it with a message naming the rule).
bool SpecNum(Napi::Object o, const char* key, double dflt, double* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    *out = dflt;
    return true;
  }
  if (!v.IsNumber()) return false;
  *out = v.As<Napi::Number>().DoubleValue();
  return true;
}

// A whole number in [lo, hi] (absent: dflt).
bool SpecInt(Napi::Object o, const char* key, int dflt, int lo, int hi, int* out) {
  double d;
  if (!SpecNum(o, key, dflt, &d) || !(d >= lo && d <= hi) || d != std::floor(d)) return false;
  *out = int(d);
  return true;
}

// Optional hashed inputs at info[i], info[i+1], info[i+2]: (idx: Uint32Array | null,
// val: Float32Array | null, n). False when malformed.
bool HashedArgs(const Napi::CallbackInfo& info, size_t i, const uint32_t** idx, const float** val, int* nh) {
  *idx = nullptr;
  *val = nullptr;
  *nh = 0;
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return true;
  uint32_t* ip;
  float* vp;
  size_t ni, nv;
  if (info.Length() < i + 3 || !info[i + 2].IsNumber()) return false;
  const double n = info[i + 2].As<Napi::Number>().DoubleValue();
  if (!GetTyped<uint32_t, napi_uint32_array>(info[i], &ip, &ni) || !GetTyped<float, napi_float32_array>(info[i + 1], &vp, &nv))
    return false;
  if (!(n >= 0 && n <= double(ni) && n <= double(nv)) || n != std::floor(n)) return false;
  *idx = ip;
  *val = vp;
  *nh = int(n);
  return true;
}

// new Learner({ dim, hashBits, optimizer (constants.learner.optimizers), scale, lr, l1, l2,
// alpha, beta, interceptLr, clip })
class LearnerWrap : public Napi::ObjectWrap<LearnerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Learner",
                       {
                           InstanceMethod<&LearnerWrap::Predict>("predict"),
                           InstanceMethod<&LearnerWrap::PredictMany>("predictMany"),
                           InstanceMethod<&LearnerWrap::Learn>("learn"),
                           InstanceMethod<&LearnerWrap::LearnMany>("learnMany"),
                           InstanceMethod<&LearnerWrap::LearnColumns>("learnColumns"),
                           InstanceMethod<&LearnerWrap::HashIndex>("hashIndex"),
                           InstanceMethod<&LearnerWrap::Reset>("reset"),
                           InstanceMethod<&LearnerWrap::CopyFrom>("copyFrom"),
                           InstanceMethod<&LearnerWrap::Serialize>("serialize"),
                           InstanceMethod<&LearnerWrap::Deserialize>("deserialize"),
                           InstanceMethod<&LearnerWrap::ExportLinear>("exportLinear"),
                           InstanceMethod<&LearnerWrap::Stats>("stats"),
                       });
  }

  LearnerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LearnerWrap>(info) {
    napi_type_tag_object(info.Env(), info.This(), &kLearnerTag);
    Construct(info);
  }

 private:
  Napi::Value Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENTS(1, "Learner expects a spec object");
    REQUIRE_ARGUMENT_OBJECT(0, o, "Learner expects a spec object");
    LearnerSpec s;
    int opt = 0;
    if (!SpecInt(o, "dim", 0, 0, kLearnerMaxDim, &s.dim) || !SpecInt(o, "hashBits", 0, 0, kLearnerMaxHashBits, &s.hash_bits) ||
        !SpecInt(o, "optimizer", 0, 0, int(LearnerOpt::kCount) - 1, &opt))
      return ThrowArg(env, "Learner: dim, hashBits and optimizer must be whole numbers in range");
    s.optimizer = LearnerOpt(opt);
    Napi::Value sv = o.Get("scale");
    if (!sv.IsUndefined() && !sv.IsBoolean()) return ThrowArg(env, "Learner: scale must be a boolean");
    s.scale = sv.IsUndefined() ? true : sv.As<Napi::Boolean>().Value();
    if (!SpecNum(o, "lr", s.lr, &s.lr) || !SpecNum(o, "l1", s.l1, &s.l1) || !SpecNum(o, "l2", s.l2, &s.l2) ||
        !SpecNum(o, "alpha", s.alpha, &s.alpha) || !SpecNum(o, "beta", s.beta, &s.beta) ||
        !SpecNum(o, "interceptLr", s.intercept_lr, &s.intercept_lr) || !SpecNum(o, "clip", s.clip, &s.clip))
      return ThrowArg(env, "Learner: lr, l1, l2, alpha, beta, interceptLr and clip must be numbers");
    if (env.IsExceptionPending()) return env.Undefined();  // a getter threw
    Status st = Learner::Create(s, &learner_);
    if (!st.ok()) return ThrowStatus(env, st);
    return env.Undefined();
  }

  bool Ready(Napi::Env env) {
    if (learner_) return true;
    ThrowStatus(env, Status::Unavailable("learner was not created"));
    return false;
  }

  // Dense inputs at info[i]: a Float64Array of at least dim values (null when dim is 0).
  bool DenseArg(const Napi::CallbackInfo& info, size_t i, const double** dense) {
    *dense = nullptr;
    const int dim = learner_->spec().dim;
    if (dim == 0 && (info[i].IsNull() || info[i].IsUndefined())) return true;
    double* p;
    size_t n;
    if (!GetTyped<double, napi_float64_array>(info[i], &p, &n) || n < size_t(dim)) return false;
    *dense = p;
    return true;
  }

  // predict(dense: Float64Array, hIdx?: Uint32Array | null, hVal?: Float32Array, nh?: number): number
  Napi::Value Predict(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    REQUIRE_ARGUMENTS(1, "predict(dense, hIdx?, hVal?, nh?)");
    const double* dense;
    const uint32_t* idx;
    const float* val;
    int nh;
    if (!DenseArg(info, 0, &dense)) HP_ARG_FAIL("predict: dense must be a Float64Array of dim values");
    if (!HashedArgs(info, 1, &idx, &val, &nh)) HP_ARG_FAIL("predict: hashed inputs must be (Uint32Array, Float32Array, n)");
    return Napi::Number::New(env, learner_->Predict(dense, idx, val, nh));
  }

  // predictMany(x: Float32Array (rows x dim), rows, out: Float32Array (rows))
  Napi::Value PredictMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    REQUIRE_ARGUMENTS(3, "predictMany(x, rows, out)");
    REQUIRE_ARGUMENT_BATCH(1, rows);
    REQUIRE_ARGUMENT_FLOAT32_ARRAY(0, x, nx, "predictMany: x must be a Float32Array");
    REQUIRE_ARGUMENT_FLOAT32_ARRAY(2, out, nout, "predictMany: out must be a Float32Array");
    if (nx < rows * size_t(learner_->spec().dim) || nout < rows) HP_ARG_FAIL("predictMany: x or out is shorter than rows");
    Status s = learner_->PredictMany(x, int(rows), out);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  // learn(dense, y, hIdx | null, hVal | null, nh, out: Float64Array(2) <- [loss, clipped])
  Napi::Value Learn(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    REQUIRE_ARGUMENTS(6, "learn(dense, y, hIdx, hVal, nh, out)");
    REQUIRE_ARGUMENT_NUMBER(1, y, "learn: y must be a number (0 or 1)");
    const double* dense;
    const uint32_t* idx;
    const float* val;
    int nh;
    if (!DenseArg(info, 0, &dense)) HP_ARG_FAIL("learn: dense must be a Float64Array of dim values");
    if (!HashedArgs(info, 2, &idx, &val, &nh)) HP_ARG_FAIL("learn: hashed inputs must be (Uint32Array, Float32Array, n)");
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(5, out, nout, "learn: out must be a Float64Array(2)");
    if (nout < 2) HP_ARG_FAIL("learn: out must be a Float64Array(2)");
    LearnOutcome o;
    Status s = learner_->Learn(dense, idx, val, nh, y, &o);
    if (!s.ok()) return ThrowStatus(env, s);
    out[0] = o.loss;
    out[1] = o.clipped ? 1 : 0;
    return env.Undefined();
  }

  // learnMany(x: Float32Array (rows x dim), y: Float32Array | Float64Array, rows,
  //           out: Float64Array(3) <- [lossSum, clipped, refused])
  Napi::Value LearnMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    REQUIRE_ARGUMENTS(4, "learnMany(x, y, rows, out, p?)");
    REQUIRE_ARGUMENT_BATCH(2, rows);
    REQUIRE_ARGUMENT_FLOAT32_ARRAY(0, x, nx, "learnMany: x must be a Float32Array");
    float* y32 = nullptr;
    double* y64 = nullptr;
    size_t ny = 0;
    if (!GetTyped<float, napi_float32_array>(info[1], &y32, &ny) && !GetTyped<double, napi_float64_array>(info[1], &y64, &ny))
      HP_ARG_FAIL("learnMany: y must be a Float32Array or a Float64Array");
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(3, out, nout, "learnMany: out must be a Float64Array(3)");
    if (nx < rows * size_t(learner_->spec().dim) || ny < rows || nout < 3) HP_ARG_FAIL("learnMany: x, y or out is shorter than rows");
    float* p_out = nullptr;  // optional: each row's prediction before it was learned
    if (info.Length() > 4 && !info[4].IsUndefined()) {
      size_t np = 0;
      if (!GetTyped<float, napi_float32_array>(info[4], &p_out, &np) || np < rows) HP_ARG_FAIL("learnMany: p must be a Float32Array of at least rows values");
    }
    LearnManyOutcome o;
    Status s = learner_->LearnMany(x, y32, y64, int(rows), &o, p_out);
    if (!s.ok()) return ThrowStatus(env, s);
    out[0] = o.loss_sum;
    out[1] = double(o.clipped);
    out[2] = double(o.refused);
    return env.Undefined();
  }

  // learnColumns(values, nFields, n, cols, log1p, labelField, out, p, y): labelled events
  // that carry the inputs (an ingest batch, values row-major n x nFields): input j of row i
  // is values[i * nFields + cols[j]], log1p(max(v, 0)) where log1p[j] is 1 (the gather's
  // transform); the label is values[i * nFields + labelField]. Rows whose label is not 0
  // or 1 are skipped; the others are learned in order as learnMany does, their prediction
  // before learning in p and their label in y (compacted). Returns the rows learned or
  // refused; out <- [lossSum, clipped, refused, skipped labels].
  Napi::Value LearnColumns(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    constexpr const char* kUsage = "learnColumns(values, nFields, n, cols, log1p, labelField, out, p, y)";
    REQUIRE_ARGUMENTS(9, kUsage);
    REQUIRE_ARGUMENT_INT32(1, nfields, kUsage);
    REQUIRE_ARGUMENT_BATCH(2, rows);
    REQUIRE_ARGUMENT_INT32(5, label, kUsage);
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(0, values, nv, "learnColumns: values must be a Float64Array");
    REQUIRE_ARGUMENT_INT32_ARRAY(3, cols, ncols, "learnColumns: cols must be an Int32Array");
    REQUIRE_ARGUMENT_UINT8_ARRAY(4, logs, nlogs, "learnColumns: log1p must be a Uint8Array");
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(6, out, nout, "learnColumns: out must be a Float64Array(4)");
    REQUIRE_ARGUMENT_FLOAT32_ARRAY(7, p, np, "learnColumns: p must be a Float32Array");
    REQUIRE_ARGUMENT_FLOAT32_ARRAY(8, y, ny, "learnColumns: y must be a Float32Array");
    const size_t d = size_t(learner_->spec().dim);
    if (nfields <= 0 || label < 0 || label >= nfields || ncols != d || nlogs != d || nout < 4 || np < rows || ny < rows ||
        nv < rows * size_t(nfields))
      HP_ARG_FAIL("learnColumns: arrays that do not fit n rows of nFields, or cols/log1p not one per input");
    for (size_t j = 0; j < d; j++)
      if (cols[j] < 0 || cols[j] >= nfields) HP_ARG_FAIL("learnColumns: a column is outside the row");
    thread_local std::vector<float> x;  // grows to the largest batch once
    if (x.size() < rows * d) x.resize(rows * d);
    size_t kept = 0;
    for (size_t i = 0; i < rows; i++) {
      const double* row = values + i * size_t(nfields);
      const double lab = row[label];
      if (!(lab == 0 || lab == 1)) continue;
      float* xr = x.data() + kept * d;
      for (size_t j = 0; j < d; j++) {
        const double v = row[cols[j]];
        xr[j] = float(logs[j] ? std::log1p(v > 0 ? v : 0.0) : v);
      }
      y[kept++] = float(lab);
    }
    LearnManyOutcome o;
    Status s = learner_->LearnMany(x.data(), y, nullptr, int(kept), &o, p);
    if (!s.ok()) return ThrowStatus(env, s);
    out[0] = o.loss_sum;
    out[1] = double(o.clipped);
    out[2] = double(o.refused);
    out[3] = double(rows - kept);
    return Napi::Number::New(env, double(kept));
  }

  // hashIndex(field: string, value?: string): the index of "field=value", or of "field".
  Napi::Value HashIndex(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    REQUIRE_ARGUMENTS(1, "hashIndex(field, value?)");
    REQUIRE_ARGUMENT_STRING(0, field, "hashIndex: field must be a string");
    std::string key = field;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      REQUIRE_ARGUMENT_STRING(1, value, "hashIndex: value must be a string");
      key += '=';
      key += value;
    }
    return Napi::Number::New(env, Learner::HashIndex(key.data(), key.size(), learner_->spec().hash_bits));
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    if (Ready(info.Env())) learner_->Reset();
    return info.Env().Undefined();
  }

  // copyFrom(other: Learner) — the same spec only.
  Napi::Value CopyFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    REQUIRE_ARGUMENTS(1, "copyFrom(other)");
    REQUIRE_ARGUMENT_OBJECT(0, o, "copyFrom: other must be a Learner");
    bool tagged = false;
    if (napi_check_object_type_tag(env, o, &kLearnerTag, &tagged) != napi_ok || !tagged) HP_ARG_FAIL("copyFrom: other must be a Learner");
    LearnerWrap* other = LearnerWrap::Unwrap(o);
    if (!other || !other->Ready(env)) return env.Undefined();
    Status s = learner_->CopyFrom(*other->learner_);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  Napi::Value Serialize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    std::vector<uint8_t> blob;
    learner_->Serialize(&blob);
    Napi::Uint8Array out = Napi::Uint8Array::New(env, blob.size());
    std::memcpy(out.Data(), blob.data(), blob.size());
    return out;
  }

  Napi::Value Deserialize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    REQUIRE_ARGUMENTS(1, "deserialize(bytes)");
    REQUIRE_ARGUMENT_UINT8_ARRAY(0, p, n, "deserialize: bytes must be a Uint8Array");
    Status s = learner_->Deserialize(p, n);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  // exportLinear(): { w: Float32Array (dim), b: number }
  Napi::Value ExportLinear(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    std::vector<float> w;
    float b;
    Status s = learner_->ExportLinear(&w, &b);
    if (!s.ok()) return ThrowStatus(env, s);
    Napi::Float32Array wa = Napi::Float32Array::New(env, w.size());
    if (!w.empty()) std::memcpy(wa.Data(), w.data(), w.size() * sizeof(float));
    Napi::Object o = Napi::Object::New(env);
    o.Set("w", wa);
    o.Set("b", Napi::Number::New(env, b));
    return o;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    const LearnerStats st = learner_->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("updates", double(st.updates));
    o.Set("clipped", double(st.clipped));
    o.Set("refused", double(st.refused));
    return o;
  }

  std::unique_ptr<Learner> learner_;
};

}  // namespace

Napi::Function DefineLearnerWrap(Napi::Env env) { return LearnerWrap::Define(env); }

}  // namespace hotpath
