// The co-visitation table (core covisit.h) as the class Covisit:
//   new Covisit({ maxItems, maxUsers, neighbours, window, halfLifeMs, symmetric })
//   update(users: BigUint64Array | string[], items: Float64Array, categories: Float64Array | null, ts: Float64Array, n)
//   recommend(history, nHistory, exclude, nExclude, category, k, nowMs, recency, popularFill,
//             outItems: Float64Array, outScores: Float64Array, outSource: Uint8Array) -> count
//   pairWeight(a, b, nowMs), popularity(a, nowMs), userItems(user, out), stats(), clear(), serialize(), deserialize(bytes)
// src/native/covisit.ts checks every argument first; the checks here are the backstop.
//
// Buffers: every typed array is borrowed for the call only (read, or written for the
// answer); serialize() returns a new Uint8Array the caller owns; deserialize() copies.
// String user ids are hashed into thread-local scratch as the store hashes them.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../core/covisit.h"
#include "args.h"
#include "ids.h"
#include "wraps.h"

namespace hotpath {
namespace {

class CovisitWrap : public Napi::ObjectWrap<CovisitWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Covisit",
                       {InstanceMethod<&CovisitWrap::Update>("update"),
                        InstanceMethod<&CovisitWrap::Recommend>("recommend"),
                        InstanceMethod<&CovisitWrap::PairWeight>("pairWeight"),
                        InstanceMethod<&CovisitWrap::Popularity>("popularity"),
                        InstanceMethod<&CovisitWrap::UserItems>("userItems"),
                        InstanceMethod<&CovisitWrap::Stats>("stats"),
                        InstanceMethod<&CovisitWrap::Clear>("clear"),
                        InstanceMethod<&CovisitWrap::Serialize>("serialize"),
                        InstanceMethod<&CovisitWrap::Deserialize>("deserialize")});
  }

  CovisitWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CovisitWrap>(info) { Construct(info); }

 private:
  Napi::Value Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "Covisit expects ({ maxItems, maxUsers, neighbours, window, halfLifeMs, symmetric })";
    REQUIRE_ARGUMENTS(1, kUsage);
    REQUIRE_ARGUMENT_OBJECT(0, o, kUsage);
    CovisitParams p;
    p.max_items = int64_t(NumProp(o, "maxItems", double(p.max_items), 0, double(kCovisitMaxItems) + 1));
    p.max_users = int64_t(NumProp(o, "maxUsers", double(p.max_users), 0, double(kCovisitMaxUsers) + 1));
    p.neighbours = int(NumProp(o, "neighbours", p.neighbours, 0, kCovisitMaxNeighbours + 1));
    p.window = int(NumProp(o, "window", p.window, 0, kCovisitMaxWindow + 1));
    p.half_life_ms = NumProp(o, "halfLifeMs", p.half_life_ms, 0, 1e300);
    Napi::Value sym = o.Get("symmetric");
    if (sym.IsBoolean()) p.symmetric = sym.As<Napi::Boolean>().Value();
    if (env.IsExceptionPending()) return env.Undefined();
    Status s = Covisit::Create(p, &c_);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  Napi::Value Update(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "update(users, items: Float64Array, categories: Float64Array | null, ts: Float64Array, n)";
    REQUIRE_ARGUMENTS(5, kUsage);
    REQUIRE_ARGUMENT_BATCH(4, n);
    ReentryGuard guard;
    if (!guard.ok) return ThrowStatus(env, Status::Unavailable("update called from inside an addon call"));
    thread_local std::vector<uint64_t> scratch;
    const uint64_t* users;
    std::string why;
    if (!GetKeys(env, info[0], n, &scratch, &users, &why)) return ThrowArg(env, why);  // may run JS
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(1, items, ni, kUsage);
    const double* cats = nullptr;
    size_t nc = n;
    if (!info[2].IsNull() && !info[2].IsUndefined()) {
      double* c;
      if (!GetTyped<double, napi_float64_array>(info[2], &c, &nc)) HP_ARG_FAIL(kUsage);
      cats = c;
    }
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(3, ts, nt, kUsage);
    if (ni < n || nt < n || nc < n) return ThrowArg(env, "items, categories or ts is shorter than n");
    if (!GetKeys(env, info[0], n, &scratch, &users, &why, /*strings_done=*/!info[0].IsTypedArray())) return ThrowArg(env, why);
    Status s = c_->Update(users, items, cats, ts, n);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  Napi::Value Recommend(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage =
        "recommend(history: Float64Array, nHistory, exclude: Float64Array, nExclude, category, k, nowMs, recency, popularFill, outItems: Float64Array, outScores: Float64Array, outSource: Uint8Array)";
    REQUIRE_ARGUMENTS(12, kUsage);
    REQUIRE_ARGUMENT_BATCH(1, nh);
    REQUIRE_ARGUMENT_BATCH(3, ne);
    REQUIRE_ARGUMENT_NUMBER(4, category, kUsage);
    REQUIRE_ARGUMENT_INT32(5, k, kUsage);
    REQUIRE_ARGUMENT_NUMBER(6, now, kUsage);
    REQUIRE_ARGUMENT_NUMBER(7, recency, kUsage);
    if (!info[8].IsBoolean()) HP_ARG_FAIL(kUsage);
    const bool fill = info[8].As<Napi::Boolean>().Value();
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(0, hist, lh, kUsage);
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(2, ex, le, kUsage);
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(9, out_items, lo, kUsage);
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(10, out_scores, ls, kUsage);
    REQUIRE_ARGUMENT_UINT8_ARRAY(11, out_source, lsrc, kUsage);
    if (lh < nh || le < ne) return ThrowArg(env, "history or exclude is shorter than its count");
    if (k < 1 || lo < size_t(k) || ls < size_t(k) || lsrc < size_t(k)) return ThrowArg(env, "k must be >= 1 and the outputs hold k");
    CovisitQuery q;
    q.history = hist;
    q.n_history = nh;
    q.exclude = ex;
    q.n_exclude = ne;
    q.category = category;
    q.k = k;
    q.now_ms = now;
    q.recency = recency;
    q.popular_fill = fill;
    CovisitResult r{out_items, out_scores, out_source};
    Status s = c_->Recommend(q, &r);
    if (!s.ok()) return ThrowStatus(env, s);
    return Napi::Number::New(env, double(r.count));
  }

  Napi::Value PairWeight(const Napi::CallbackInfo& info) {
    constexpr const char* kUsage = "pairWeight(a, b, nowMs)";
    REQUIRE_ARGUMENTS(3, kUsage);
    REQUIRE_ARGUMENT_NUMBER(0, a, kUsage);
    REQUIRE_ARGUMENT_NUMBER(1, b, kUsage);
    REQUIRE_ARGUMENT_NUMBER(2, now, kUsage);
    return Napi::Number::New(info.Env(), c_->PairWeight(a, b, now));
  }

  Napi::Value Popularity(const Napi::CallbackInfo& info) {
    constexpr const char* kUsage = "popularity(a, nowMs)";
    REQUIRE_ARGUMENTS(2, kUsage);
    REQUIRE_ARGUMENT_NUMBER(0, a, kUsage);
    REQUIRE_ARGUMENT_NUMBER(1, now, kUsage);
    return Napi::Number::New(info.Env(), c_->Popularity(a, now));
  }

  // userItems(user: string, out: Float64Array) -> count: the user's ring, most recent first
  Napi::Value UserItems(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "userItems(user: string, out: Float64Array)";
    REQUIRE_ARGUMENTS(2, kUsage);
    uint64_t user;
    std::string why;
    if (!HashIdValue(env, info[0], &user, &why)) return ThrowArg(env, why);
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(1, out, n, kUsage);
    if (n < size_t(c_->params().window)) return ThrowArg(env, "out must hold window items");
    return Napi::Number::New(env, double(c_->UserItems(user, out)));
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const CovisitStats st = c_->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("items", double(st.items));
    o.Set("users", double(st.users));
    o.Set("updates", double(st.updates));
    o.Set("pairs", double(st.pairs));
    o.Set("refused", double(st.refused));
    o.Set("evictedUsers", double(st.evicted_users));
    o.Set("rescales", double(st.rescales));
    o.Set("bytes", double(st.bytes));
    return o;
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    c_->Clear();
    return info.Env().Undefined();
  }

  Napi::Value Serialize(const Napi::CallbackInfo& info) {
    const std::vector<uint8_t> bytes = c_->Serialize();
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), bytes.size());
    if (!bytes.empty()) std::memcpy(out.Data(), bytes.data(), bytes.size());
    return out;
  }

  Napi::Value Deserialize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENT_UINT8_ARRAY(0, p, n, "deserialize(bytes: Uint8Array)");
    Status s = c_->Deserialize(p, n);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  std::unique_ptr<Covisit> c_;
};

}  // namespace

Napi::Function DefineCovisitWrap(Napi::Env env) { return CovisitWrap::Define(env); }

Napi::Object CovisitConstants(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("maxNeighbours", kCovisitMaxNeighbours);
  o.Set("maxWindow", kCovisitMaxWindow);
  o.Set("maxHistory", kCovisitMaxHistory);
  o.Set("maxK", kCovisitMaxK);
  o.Set("maxItems", kCovisitMaxItems);
  o.Set("maxUsers", kCovisitMaxUsers);
  o.Set("topPopular", kCovisitTopPopular);
  o.Set("blobVersion", kCovisitBlobVersion);
  Napi::Object sources = Napi::Object::New(env);
  sources.Set("covisit", kCovisitSourceCovisit);
  sources.Set("popular", kCovisitSourcePopular);
  o.Set("sources", sources);
  return o;
}

}  // namespace hotpath
