// Argument helpers of the N-API edge, in the style of better-sqlite3's REQUIRE_ARGUMENT_*
// macros (its src/util/macros.lzz). The TypeScript layer checks arguments before they
// cross; these are the backstop and must hold against any JS caller:
//   - every argument's type is checked before it is converted (an out-of-range double is
//     clamped before any integer cast: such a cast is undefined);
//   - typed-array pointers are taken only after all JS that can run (getters on arrays
//     and spec objects) has run, since that JS could detach a buffer;
//   - nothing throws while an exception is already pending (ThrowStatus keeps the first).
// A core Status becomes a JS exception only here, with err.code "HP_ERR_NATIVE_<STATUS>".
//
// Each REQUIRE_ARGUMENT_*(i, var..., msg) declares `var` from info[i] in the calling
// method, or returns from it with an INVALID_ARG error whose message is msg. They expect
// `info` (the method's Napi::CallbackInfo) in scope and a method returning Napi::Value;
// constructors run a Construct(info) method that does.
#pragma once
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "../core/constants.h"
#include "../core/status.h"

namespace hotpath {

inline Napi::Value ThrowStatus(Napi::Env env, const Status& s) {
  if (env.IsExceptionPending()) return env.Undefined();  // keep the first error
  Napi::Error err = Napi::Error::New(env, s.message());
  err.Set("code", Napi::String::New(env, std::string("HP_ERR_NATIVE_") + s.code_name()));
  err.ThrowAsJavaScriptException();
  return env.Undefined();
}
inline Napi::Value ThrowArg(Napi::Env env, const std::string& msg) { return ThrowStatus(env, Status::InvalidArg(msg)); }

// Raw N-API: one call gives type, length and data (node-addon-api's TypedArray would
// also create ArrayBuffer handles, which showed up in the read path's profile). Runs no JS.
template <typename T, napi_typedarray_type kType>
bool GetTyped(const Napi::Value& v, T** data, size_t* len) {
  bool is_typed = false;
  if (napi_is_typedarray(v.Env(), v, &is_typed) != napi_ok || !is_typed) return false;
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_get_typedarray_info(v.Env(), v, &type, len, &p, nullptr, nullptr) != napi_ok || type != kType) return false;
  *data = static_cast<T*>(p);
  return true;
}

// A number property (may run a getter), clamped to [lo, hi]; dflt when absent, not a
// number or not finite.
inline double NumProp(Napi::Object o, const char* key, double dflt, double lo, double hi) {
  Napi::Value v = o.Get(key);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
  return std::isfinite(d) ? std::max(lo, std::min(hi, d)) : dflt;
}

// A time in ms: a number within 2^53 of 0.
inline bool TimeArg(const Napi::Value& v, double* out) {
  if (!v.IsNumber()) return false;
  *out = v.As<Napi::Number>().DoubleValue();
  return std::fabs(*out) <= kMaxTimeMs;
}

// A batch size: a whole number in [0, 2^24].
inline bool BatchArg(const Napi::Value& v, size_t* out) {
  if (!v.IsNumber()) return false;
  const double b = v.As<Napi::Number>().DoubleValue();
  if (!(b >= 0 && b <= double(1 << 24)) || b != std::floor(b)) return false;
  *out = size_t(b);
  return true;
}

constexpr const char* kTimeArgMessage = "now must be a time within 2^53 ms";

}  // namespace hotpath

#define HP_ARG_FAIL(msg) return ::hotpath::ThrowArg(info.Env(), (msg))

#define REQUIRE_ARGUMENTS(n, msg) \
  if (info.Length() < size_t(n)) HP_ARG_FAIL(msg)

#define REQUIRE_ARGUMENT_NUMBER(i, var, msg) \
  if (!info[i].IsNumber()) HP_ARG_FAIL(msg); \
  const double var = info[i].As<Napi::Number>().DoubleValue()

#define REQUIRE_ARGUMENT_INT32(i, var, msg)  \
  if (!info[i].IsNumber()) HP_ARG_FAIL(msg); \
  const int32_t var = info[i].As<Napi::Number>().Int32Value()

#define REQUIRE_ARGUMENT_STRING(i, var, msg) \
  if (!info[i].IsString()) HP_ARG_FAIL(msg); \
  const std::string var = info[i].As<Napi::String>().Utf8Value()

#define REQUIRE_ARGUMENT_ARRAY(i, var, msg) \
  if (!info[i].IsArray()) HP_ARG_FAIL(msg); \
  Napi::Array var = info[i].As<Napi::Array>()

#define REQUIRE_ARGUMENT_OBJECT(i, var, msg)  \
  if (!info[i].IsObject()) HP_ARG_FAIL(msg); \
  Napi::Object var = info[i].As<Napi::Object>()

#define REQUIRE_ARGUMENT_TIME(i, var) \
  double var;                         \
  if (!::hotpath::TimeArg(info[i], &var)) HP_ARG_FAIL(::hotpath::kTimeArgMessage)

#define REQUIRE_ARGUMENT_BATCH(i, var) \
  size_t var;                          \
  if (!::hotpath::BatchArg(info[i], &var)) HP_ARG_FAIL("batch out of range")

// Typed arrays: declares `ctype* data` and `size_t len`. Take these last (see above).
#define REQUIRE_ARGUMENT_TYPED(i, ctype, kind, data, len, msg) \
  ctype* data;                                                 \
  size_t len;                                                  \
  if (!::hotpath::GetTyped<ctype, kind>(info[i], &data, &len)) HP_ARG_FAIL(msg)
#define REQUIRE_ARGUMENT_FLOAT64_ARRAY(i, data, len, msg) REQUIRE_ARGUMENT_TYPED(i, double, napi_float64_array, data, len, msg)
#define REQUIRE_ARGUMENT_FLOAT32_ARRAY(i, data, len, msg) REQUIRE_ARGUMENT_TYPED(i, float, napi_float32_array, data, len, msg)
#define REQUIRE_ARGUMENT_INT32_ARRAY(i, data, len, msg) REQUIRE_ARGUMENT_TYPED(i, int32_t, napi_int32_array, data, len, msg)
#define REQUIRE_ARGUMENT_UINT32_ARRAY(i, data, len, msg) REQUIRE_ARGUMENT_TYPED(i, uint32_t, napi_uint32_array, data, len, msg)
#define REQUIRE_ARGUMENT_UINT8_ARRAY(i, data, len, msg) REQUIRE_ARGUMENT_TYPED(i, uint8_t, napi_uint8_array, data, len, msg)
