// EmbeddingIndex: a core EmbeddingIndex (native/core/embedding.h). src/native/embedding.ts
// checks arguments first; these checks are the backstop.
//
//   new EmbeddingIndex(path)                          a .npy file (mapped read-only)
//   new EmbeddingIndex(matrix: Float32Array, count, dim)  copied
//   topk(query, k, outRows, outScores, exclude, allowed, categories, category, flags, candidates) -> written
//   topkAsync(query, k, exclude, allowed, categories, category, flags, candidates, done)
//   row(i, out), enableCuda(), release(); count, dim
// flags: bit 0 exact, bit 1 cuda, bit 2 portable loop (no AVX2). exclude, allowed (Uint8Array
// bitmask) and categories (Uint16Array) may be null.
//
// Buffers: topk reads its typed arrays and writes outRows/outScores during the call only.
// topkAsync copies query and exclude before it returns; allowed and categories are read on
// the thread pool, so it holds references to them until done runs, and the caller must not
// write or transfer them until then. done gets new arrays it owns.
//
// Threads: each thread (the JS thread, each libuv pool thread) has its own TopkScratch, so
// queries allocate nothing once a thread has seen its largest request. The core index is
// immutable and shared: release() drops this handle's reference, and an async query in
// flight keeps its own until it completes.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../core/embedding.h"
#include "args.h"
#include "wraps.h"

namespace hotpath {
namespace {

enum : int { kFlagExact = 1, kFlagCuda = 2, kFlagPortable = 4 };

thread_local TopkScratch tls_scratch;

Napi::Value ErrorValue(Napi::Env env, const Status& s) {
  Napi::Error err = Napi::Error::New(env, s.message());
  err.Set("code", Napi::String::New(env, std::string("HP_ERR_NATIVE_") + s.code_name()));
  return err.Value();
}

// An optional typed array: null/undefined gives nullptr; false when it is something else.
template <typename T, napi_typedarray_type kType>
bool OptTyped(const Napi::Value& v, T** data, size_t* len) {
  *data = nullptr;
  *len = 0;
  if (v.IsNull() || v.IsUndefined()) return true;
  return GetTyped<T, kType>(v, data, len);
}

// The request's scalar fields from info[k], info[category], info[flags] and the candidates
// at info[iflags + 1]; false when malformed.
bool Scalars(const Napi::CallbackInfo& info, size_t ik, size_t icat, size_t iflags, TopkRequest* r) {
  if (!info[ik].IsNumber() || !info[icat].IsNumber() || !info[iflags].IsNumber() || !info[iflags + 1].IsNumber()) return false;
  const double cand = info[iflags + 1].As<Napi::Number>().DoubleValue();
  if (!(cand >= 0 && cand <= kEmbeddingMaxCandidates) || cand != std::floor(cand)) return false;
  r->candidates = int(cand);
  const double k = info[ik].As<Napi::Number>().DoubleValue();
  const double cat = info[icat].As<Napi::Number>().DoubleValue();
  const double flags = info[iflags].As<Napi::Number>().DoubleValue();
  if (!(k >= 0 && k <= kEmbeddingMaxK) || k != std::floor(k)) return false;
  if (!(cat >= -1 && cat <= 65535) || cat != std::floor(cat)) return false;
  if (!(flags >= 0 && flags <= 7) || flags != std::floor(flags)) return false;
  r->k = int(k);
  r->category = int32_t(cat);
  r->exact = int(flags) & kFlagExact;
  r->cuda = int(flags) & kFlagCuda;
  r->simd = !(int(flags) & kFlagPortable);
  return true;
}

class TopkWorker : public Napi::AsyncWorker {
 public:
  TopkWorker(Napi::Function done, Napi::Object owner, int* pending, std::shared_ptr<const EmbeddingIndex> index,
             const TopkRequest& req, Napi::Value allowed, Napi::Value categories)
      : Napi::AsyncWorker(done, "hotpath:embedding-topk"), owner_(Napi::Persistent(owner)), pending_(pending),
        index_(std::move(index)), req_(req), query_(req.query, req.query + index_->dim()),
        exclude_(req.exclude, req.exclude + req.n_exclude), rows_(size_t(req.k)), scores_(size_t(req.k)) {
    // The query and exclusions are copies; the filters stay the caller's, held alive here.
    req_.query = query_.data();
    req_.exclude = exclude_.data();
    if (allowed.IsObject()) allowed_ = Napi::Persistent(allowed.As<Napi::Object>());
    if (categories.IsObject()) categories_ = Napi::Persistent(categories.As<Napi::Object>());
    ++*pending_;
  }

 protected:
  void Execute() override { status_ = index_->TopK(req_, &tls_scratch, rows_.data(), scores_.data(), &written_); }
  void OnOK() override {
    Napi::Env env = Env();
    --*pending_;  // owner_ (the handle that owns *pending_) lives until this worker is deleted
    Napi::HandleScope scope(env);
    const size_t n = status_.ok() ? size_t(written_) : 0;
    Napi::Int32Array rows = Napi::Int32Array::New(env, n);
    Napi::Float32Array scores = Napi::Float32Array::New(env, n);
    for (size_t i = 0; i < n; i++) {
      rows[i] = rows_[i];
      scores[i] = scores_[i];
    }
    Callback().Call({status_.ok() ? env.Null() : ErrorValue(env, status_), rows, scores});
  }

 private:
  Napi::ObjectReference owner_, allowed_, categories_;
  int* pending_;
  std::shared_ptr<const EmbeddingIndex> index_;
  TopkRequest req_;
  std::vector<float> query_;
  std::vector<int32_t> exclude_;
  std::vector<int32_t> rows_;
  std::vector<float> scores_;
  int written_ = 0;
  Status status_;
};

class EmbeddingIndexWrap : public Napi::ObjectWrap<EmbeddingIndexWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "EmbeddingIndex",
                       {
                           InstanceAccessor<&EmbeddingIndexWrap::Count>("count"),
                           InstanceAccessor<&EmbeddingIndexWrap::Dim>("dim"),
                           InstanceMethod<&EmbeddingIndexWrap::Topk>("topk"),
                           InstanceMethod<&EmbeddingIndexWrap::TopkAsync>("topkAsync"),
                           InstanceMethod<&EmbeddingIndexWrap::Row>("row"),
                           InstanceMethod<&EmbeddingIndexWrap::EnableCuda>("enableCuda"),
                           InstanceMethod<&EmbeddingIndexWrap::Release>("release"),
                       });
  }

  EmbeddingIndexWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EmbeddingIndexWrap>(info) { Construct(info); }

 private:
  Napi::Value Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::unique_ptr<EmbeddingIndex> ix;
    Status s;
    if (info.Length() >= 1 && info[0].IsString()) {
      s = EmbeddingIndex::Load(info[0].As<Napi::String>().Utf8Value(), &ix);
    } else {
      REQUIRE_ARGUMENTS(3, "EmbeddingIndex expects a path, or (matrix, count, dim)");
      REQUIRE_ARGUMENT_NUMBER(1, count, "EmbeddingIndex: count must be a number");
      REQUIRE_ARGUMENT_NUMBER(2, dim, "EmbeddingIndex: dim must be a number");
      REQUIRE_ARGUMENT_FLOAT32_ARRAY(0, m, len, "EmbeddingIndex: matrix must be a Float32Array");
      if (!(count >= 0 && count <= 2147483647.0) || count != std::floor(count) || !(dim >= 1 && dim <= kEmbeddingMaxDim) ||
          dim != std::floor(dim))
        return ThrowArg(env, "EmbeddingIndex: count or dim out of range");
      if (double(len) != count * dim) return ThrowArg(env, "EmbeddingIndex: matrix length is not count * dim");
      s = EmbeddingIndex::FromMatrix(m, int64_t(count), int(dim), &ix);
    }
    if (!s.ok()) return ThrowStatus(env, s);
    index_ = std::move(ix);
    return env.Undefined();
  }

  bool Ready(Napi::Env env) {
    if (index_) return true;
    ThrowStatus(env, Status::Unavailable("EmbeddingIndex: released"));
    return false;
  }

  Napi::Value Count(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), index_ ? double(index_->count()) : 0.0);
  }
  Napi::Value Dim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), index_ ? index_->dim() : 0); }

  // Fills r from (query, exclude, allowed, categories) at the given positions; false after
  // throwing.
  bool Arrays(const Napi::CallbackInfo& info, size_t iq, size_t iex, size_t ial, size_t icat, TopkRequest* r) {
    Napi::Env env = info.Env();
    float* q;
    size_t qlen;
    int32_t* ex;
    uint8_t* al;
    uint16_t* cats;
    if (!GetTyped<float, napi_float32_array>(info[iq], &q, &qlen) || qlen != size_t(index_->dim())) {
      ThrowArg(env, "topk: query must be a Float32Array of dim values");
      return false;
    }
    if (!OptTyped<int32_t, napi_int32_array>(info[iex], &ex, &r->n_exclude) ||
        !OptTyped<uint8_t, napi_uint8_array>(info[ial], &al, &r->allowed_bytes) ||
        !OptTyped<uint16_t, napi_uint16_array>(info[icat], &cats, &r->n_categories)) {
      ThrowArg(env, "topk: exclude, allowed and categories must be an Int32Array, a Uint8Array and a Uint16Array, or null");
      return false;
    }
    r->query = q;
    r->exclude = ex;
    r->allowed = al;
    r->categories = cats;
    return true;
  }

  Napi::Value Topk(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    REQUIRE_ARGUMENTS(10, "topk expects (query, k, outRows, outScores, exclude, allowed, categories, category, flags, candidates)");
    TopkRequest r;
    if (!Scalars(info, 1, 7, 8, &r)) return ThrowArg(env, "topk: k, category, flags or candidates out of range");
    if (!Arrays(info, 0, 4, 5, 6, &r)) return env.Undefined();
    REQUIRE_ARGUMENT_INT32_ARRAY(2, rows, nrows, "topk: outRows must be an Int32Array");
    REQUIRE_ARGUMENT_FLOAT32_ARRAY(3, scores, nscores, "topk: outScores must be a Float32Array");
    if (nrows < size_t(r.k) || nscores < size_t(r.k)) return ThrowArg(env, "topk: outRows and outScores must hold k entries");
    int written = 0;
    const Status s = index_->TopK(r, &tls_scratch, rows, scores, &written);
    if (!s.ok()) return ThrowStatus(env, s);
    return Napi::Number::New(env, written);
  }

  Napi::Value TopkAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    REQUIRE_ARGUMENTS(9, "topkAsync expects (query, k, exclude, allowed, categories, category, flags, candidates, done)");
    if (!info[8].IsFunction()) return ThrowArg(env, "topkAsync: done must be a function");
    TopkRequest r;
    if (!Scalars(info, 1, 5, 6, &r)) return ThrowArg(env, "topk: k, category, flags or candidates out of range");
    if (!Arrays(info, 0, 2, 3, 4, &r)) return env.Undefined();
    auto* w = new TopkWorker(info[8].As<Napi::Function>(), info.This().As<Napi::Object>(), &pending_, index_, r, info[3], info[4]);
    w->Queue();
    return env.Undefined();
  }

  Napi::Value Row(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    REQUIRE_ARGUMENTS(2, "row expects (i, out)");
    REQUIRE_ARGUMENT_NUMBER(0, i, "row: i must be a number");
    REQUIRE_ARGUMENT_FLOAT32_ARRAY(1, out, len, "row: out must be a Float32Array");
    if (!(i >= 0 && i < double(index_->count())) || i != std::floor(i)) return ThrowArg(env, "row: i out of range");
    if (len < size_t(index_->dim())) return ThrowArg(env, "row: out must hold dim values");
    const float* r = index_->row(int64_t(i));
    std::copy(r, r + index_->dim(), out);
    return env.Undefined();
  }

  Napi::Value EnableCuda(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    // The core index is immutable while shared: no query may be in flight when it changes.
    if (pending_ > 0) return ThrowStatus(env, Status::Unavailable("enableCuda: async queries are in flight"));
    if (index_.use_count() > 1) return ThrowStatus(env, Status::Unavailable("enableCuda: the index is in use"));
    const Status s = index_->EnableCuda();
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    index_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<EmbeddingIndex> index_;
  int pending_ = 0;
};

}  // namespace

Napi::Function DefineEmbeddingIndexWrap(Napi::Env env) { return EmbeddingIndexWrap::Define(env); }

}  // namespace hotpath
