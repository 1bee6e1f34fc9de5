// The N-API edge: thin, mechanical wrappers over native/core. The TypeScript layers
// (config compiler, event decoding) check values before they get here; these checks are
// the backstop, and must hold against any JS caller: every argument's type is checked
// before it is converted, all JS that can run (getters) runs before typed-array pointers
// are taken, and nothing throws while an exception is already pending. A core Status
// becomes a JS exception only here, with err.code "HP_ERR_NATIVE_<STATUS>". Built with
// NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/cuda_backend.h"
#include "../core/event_rows.h"
#include "../core/feature_store.h"
#include "../core/hash.h"
#include "../core/kernels.h"
#include "../core/model.h"

namespace hotpath {
namespace {

Napi::Value ThrowStatus(Napi::Env env, const Status& s) {
  if (env.IsExceptionPending()) return env.Undefined();  // keep the first error
  Napi::Error err = Napi::Error::New(env, s.message());
  err.Set("code", Napi::String::New(env, std::string("HP_ERR_NATIVE_") + s.code_name()));
  err.ThrowAsJavaScriptException();
  return env.Undefined();
}
Napi::Value ThrowArg(Napi::Env env, const std::string& msg) {
  return ThrowStatus(env, Status::InvalidArg(msg));
}

// Raw N-API: one call gives type, length and data (node-addon-api's TypedArray would
// also create ArrayBuffer handles, which showed up in the read path's profile).
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

// Reads a finite number property, clamped to [lo, hi]; dflt when absent or not a number.
double NumProp(Napi::Object o, const char* key, double dflt, double lo, double hi) {
  Napi::Value v = o.Get(key);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
  return std::isfinite(d) ? std::max(lo, std::min(hi, d)) : dflt;
}

// Reads a JS string id into buf and hashes it. Ids longer than kMaxIdBytes are refused.
bool HashIdValue(napi_env env, napi_value v, uint64_t* out, std::string* why) {
  // N-API never writes part of a character, so leave room for a whole one (4 bytes)
  // past the limit: any id over kMaxIdBytes then copies more than kMaxIdBytes bytes.
  char buf[kMaxIdBytes + 5];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) != napi_ok) {
    *why = "id is not a string";
    return false;
  }
  if (len == 0 || len > size_t(kMaxIdBytes)) {
    *why = len == 0 ? "id is empty" : "id is longer than " + std::to_string(kMaxIdBytes) + " bytes";
    return false;
  }
  *out = HashBytes(buf, len);
  return true;
}

// Either a BigUint64Array of hashes (from hashIds) or an Array of string ids. With
// strings_done, a string column was already hashed into scratch by an earlier call.
bool GetKeys(Napi::Env env, const Napi::Value& v, size_t n, std::vector<uint64_t>* scratch,
             const uint64_t** keys, std::string* why, bool strings_done = false) {
  uint64_t* data;
  size_t len;
  if (GetTyped<uint64_t, napi_biguint64_array>(v, &data, &len)) {
    if (len != n) {
      *why = "key column length " + std::to_string(len) + " != " + std::to_string(n);
      return false;
    }
    *keys = data;
    return true;
  }
  if (!v.IsArray()) {
    *why = "keys must be an Array of strings or a BigUint64Array";
    return false;
  }
  if (strings_done) {
    if (scratch->size() != n) {
      *why = "key column length changed";
      return false;
    }
    *keys = scratch->data();
    return true;
  }
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() != n) {
    *why = "key column length " + std::to_string(arr.Length()) + " != " + std::to_string(n);
    return false;
  }
  scratch->resize(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value el = nullptr;
    if (napi_get_element(env, arr, i, &el) != napi_ok) {
      *why = "cannot read id " + std::to_string(i);
      return false;
    }
    if (!HashIdValue(env, el, &(*scratch)[i], why)) {
      *why = "event " + std::to_string(i) + ": " + *why;
      return false;
    }
  }
  *keys = scratch->data();
  return true;
}

bool TimeArg(const Napi::Value& v, double* out) {
  if (!v.IsNumber()) return false;
  *out = v.As<Napi::Number>().DoubleValue();
  return std::fabs(*out) <= kMaxTimeMs;
}

// Getters on an id array could call back into the addon mid-call; the thread-local
// scratch must not be resized under a caller that still holds pointers into it.
struct ReentryGuard {
  static thread_local bool busy;
  bool ok;
  ReentryGuard() : ok(!busy) { busy = true; }
  ~ReentryGuard() {
    if (ok) busy = false;
  }
};
thread_local bool ReentryGuard::busy = false;

class FeatureStoreWrap : public Napi::ObjectWrap<FeatureStoreWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "FeatureStore",
                       {
                           InstanceAccessor<&FeatureStoreWrap::Id>("id"),
                           InstanceAccessor<&FeatureStoreWrap::Writable>("writable"),
                           InstanceMethod<&FeatureStoreWrap::Ingest>("ingest"),
                           InstanceMethod<&FeatureStoreWrap::IngestRows>("ingestRows"),
                           InstanceMethod<&FeatureStoreWrap::Read>("read"),
                           InstanceMethod<&FeatureStoreWrap::ReadMany>("readMany"),
                           InstanceMethod<&FeatureStoreWrap::Layout>("layout"),
                           InstanceMethod<&FeatureStoreWrap::Stats>("stats"),
                           InstanceMethod<&FeatureStoreWrap::Sweep>("sweep"),
                       });
  }

  // new FeatureStore(spec): creates a store owned (and written) by this thread.
  // new FeatureStore(id): attaches read-only to a store created elsewhere in the process.
  FeatureStoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FeatureStoreWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() >= 1 && info[0].IsNumber()) {
      store_ = Store::Lookup(info[0].As<Napi::Number>().Uint32Value());
      if (!store_) ThrowStatus(env, Status::NotFound("no live feature store with that id"));
      return;
    }
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowArg(env, "FeatureStore expects a spec object or a store id");
      return;
    }
    StoreSpec spec;
    std::string why;
    if (!ParseSpec(info[0].As<Napi::Object>(), &spec, &why) || env.IsExceptionPending()) {
      ThrowArg(env, "bad store spec: " + why);
      return;
    }
    Status s = Store::Create(spec, &store_);
    if (!s.ok()) {
      ThrowStatus(env, s);
      return;
    }
    writable_ = true;
  }

 private:
  static bool ParseSpec(Napi::Object o, StoreSpec* spec, std::string* why) {
    // Numbers are clamped into range before any integer cast (an out-of-range cast is
    // undefined); the core then refuses values that make no sense.
    auto num = [](Napi::Object obj, const char* k, double dflt) { return NumProp(obj, k, dflt, -1e15, 1e15); };
    auto str = [](Napi::Object obj, const char* k) {
      Napi::Value v = obj.Get(k);
      return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
    };
    spec->max_future_ms = int64_t(num(o, "maxFutureMs", double(spec->max_future_ms)));
    Napi::Value tables = o.Get("tables"), streams = o.Get("streams");
    if (!tables.IsArray() || !streams.IsArray()) {
      *why = "tables and streams must be arrays";
      return false;
    }
    Napi::Array ta = tables.As<Napi::Array>(), sa = streams.As<Napi::Array>();
    for (uint32_t i = 0; i < sa.Length(); i++) {
      if (!sa.Get(i).IsObject()) {
        *why = "stream " + std::to_string(i) + " is not an object";
        return false;
      }
      Napi::Object so = sa.Get(i).As<Napi::Object>();
      StreamSpec s;
      s.name = str(so, "name");
      s.nfields = int(num(so, "fields", 0));
      s.lateness_ms = int64_t(num(so, "latenessMs", 0));
      Napi::Value st = so.Get("tables");
      if (!st.IsArray()) {
        *why = "stream " + s.name + ": tables must be an array";
        return false;
      }
      Napi::Array sta = st.As<Napi::Array>();
      for (uint32_t k = 0; k < sta.Length(); k++) {
        Napi::Value tv = sta.Get(k);
        if (!tv.IsNumber()) {
          *why = "stream " + s.name + ": table indices must be numbers";
          return false;
        }
        s.tables.push_back(tv.As<Napi::Number>().Int32Value());
      }
      spec->streams.push_back(std::move(s));
    }
    for (uint32_t i = 0; i < ta.Length(); i++) {
      if (!ta.Get(i).IsObject()) {
        *why = "table " + std::to_string(i) + " is not an object";
        return false;
      }
      Napi::Object to = ta.Get(i).As<Napi::Object>();
      TableSpec t;
      t.name = str(to, "name");
      t.ttl_ms = int64_t(num(to, "ttlMs", 0));
      t.memory_bytes = uint64_t(num(to, "memoryBytes", double(t.memory_bytes)));
      t.shards = int(num(to, "shards", t.shards));
      Napi::Value fv = to.Get("features");
      if (!fv.IsArray()) {
        *why = "table " + t.name + ": features must be an array";
        return false;
      }
      Napi::Array fa = fv.As<Napi::Array>();
      for (uint32_t k = 0; k < fa.Length(); k++) {
        if (!fa.Get(k).IsObject()) {
          *why = "table " + t.name + ": feature " + std::to_string(k) + " is not an object";
          return false;
        }
        Napi::Object fo = fa.Get(k).As<Napi::Object>();
        FeatureSpec f;
        f.name = str(fo, "name");
        const double agg = num(fo, "agg", -1);
        if (!(agg >= 0 && agg < double(Agg::kCount))) {
          *why = "table " + t.name + ": feature " + f.name + ": unknown aggregate";
          return false;
        }
        f.agg = Agg(uint8_t(agg));
        f.stream = int(num(fo, "stream", -1));
        f.field = int(num(fo, "field", -1));
        f.window_ms = int64_t(num(fo, "windowMs", 0));
        f.tile_ms = int64_t(num(fo, "tileMs", 0));
        f.param = num(fo, "param", 0);
        t.features.push_back(std::move(f));
      }
      spec->tables.push_back(std::move(t));
    }
    return true;
  }

  Napi::Value Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), store_ ? store_->id() : 0); }
  Napi::Value Writable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), writable_); }

  bool TableArg(const Napi::CallbackInfo& info, int* t) {
    if (!store_ || !info[0].IsNumber()) return false;
    *t = info[0].As<Napi::Number>().Int32Value();
    return *t >= 0 && *t < store_->table_count();
  }

  // ingest(stream, keyColumns[], ts: Float64Array, values: Float64Array, nowMs)
  //   -> [accepted, late]
  Napi::Value Ingest(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!writable_) return ThrowStatus(env, Status::Unavailable("this store handle is read-only"));
    if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsArray() || !info[4].IsNumber())
      return ThrowArg(env, "ingest(stream, keyColumns, ts, values, nowMs)");
    ReentryGuard guard;
    if (!guard.ok) return ThrowStatus(env, Status::Unavailable("ingest called from inside an addon call"));
    const int stream = info[0].As<Napi::Number>().Int32Value();
    if (stream < 0 || size_t(stream) >= store_->spec().streams.size()) return ThrowArg(env, "unknown stream");
    const StreamSpec& st = store_->spec().streams[stream];
    double now;
    if (!TimeArg(info[4], &now)) return ThrowArg(env, "now must be a time within 2^53 ms");
    double *ts, *values;
    size_t n, nv;
    if (!GetTyped<double, napi_float64_array>(info[2], &ts, &n)) return ThrowArg(env, "ts must be a Float64Array");
    Napi::Array cols = info[1].As<Napi::Array>();
    if (cols.Length() != st.tables.size())
      return ThrowArg(env, "stream '" + st.name + "' needs " + std::to_string(st.tables.size()) + " key columns");
    if (st.tables.size() > 16) return ThrowArg(env, "too many key columns");
    // Scratch for string ids, reused across calls: grows to the largest batch once. Key
    // columns are resolved first, since reading them can run JS (getters); typed-array
    // pointers are taken after that, when no more JS can run.
    thread_local std::vector<std::vector<uint64_t>> scratch;
    if (scratch.size() < st.tables.size()) scratch.resize(st.tables.size());
    napi_value colv[16];
    const uint64_t* keys[16];
    std::string why;
    for (uint32_t k = 0; k < st.tables.size(); k++) {
      if (napi_get_element(env, cols, k, &colv[k]) != napi_ok) return ThrowArg(env, "cannot read key column");
      bool typed = false;
      napi_is_typedarray(env, colv[k], &typed);
      if (!typed && !GetKeys(env, Napi::Value(env, colv[k]), n, &scratch[k], &keys[k], &why)) return ThrowArg(env, why);
    }
    if (!GetTyped<double, napi_float64_array>(info[2], &ts, &n) ||
        !GetTyped<double, napi_float64_array>(info[3], &values, &nv))
      return ThrowArg(env, "ts and values must be Float64Arrays");
    if (nv != n * size_t(st.nfields)) return ThrowArg(env, "values length must be events x fields");
    for (uint32_t k = 0; k < st.tables.size(); k++)  // no JS runs from here on
      if (!GetKeys(env, Napi::Value(env, colv[k]), n, &scratch[k], &keys[k], &why, /*strings_done=*/true))
        return ThrowArg(env, why);
    IngestResult r;
    Status s = store_->Ingest(stream, n, keys, ts, values, now, &r);
    if (!s.ok()) return ThrowStatus(env, s);
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(uint32_t(0), Napi::Number::New(env, double(r.accepted)));
    out.Set(uint32_t(1), Napi::Number::New(env, double(r.late)));
    return out;
  }

  // ingestRows(stream, frame: Uint8Array, offset, n, plan: Int32Array, nowMs, out: Float64Array)
  //   -> a RowError; OK: out = [accepted, late], else out = [event, column]
  // The rows of a binary events frame from offset to its end, decoded by DecodeRows. plan
  // holds (column, type, role, index) entries (RowColumn) and must feed every key and field.
  Napi::Value IngestRows(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!writable_) return ThrowStatus(env, Status::Unavailable("this store handle is read-only"));
    if (info.Length() < 7 || !info[0].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() || !info[5].IsNumber())
      return ThrowArg(env, "ingestRows(stream, frame, offset, n, plan, nowMs, out)");
    ReentryGuard guard;
    if (!guard.ok) return ThrowStatus(env, Status::Unavailable("ingestRows called from inside an addon call"));
    const int stream = info[0].As<Napi::Number>().Int32Value();
    if (stream < 0 || size_t(stream) >= store_->spec().streams.size()) return ThrowArg(env, "unknown stream");
    const StreamSpec& st = store_->spec().streams[stream];
    uint8_t* frame;
    int32_t* plan;
    double* out;
    size_t len, plen, olen;
    if (!GetTyped<uint8_t, napi_uint8_array>(info[1], &frame, &len)) return ThrowArg(env, "frame must be a Uint8Array");
    if (!GetTyped<int32_t, napi_int32_array>(info[4], &plan, &plen) || plen % 4 != 0)
      return ThrowArg(env, "plan must be an Int32Array of (column, type, role, index) entries");
    if (!GetTyped<double, napi_float64_array>(info[6], &out, &olen) || olen < 2) return ThrowArg(env, "out must be a Float64Array(2)");
    const double offset = info[2].As<Napi::Number>().DoubleValue();
    const double count = info[3].As<Napi::Number>().DoubleValue();
    if (!(offset >= 0 && offset <= double(len) && offset == std::trunc(offset))) return ThrowArg(env, "offset is outside the frame");
    if (!(count >= 0 && count <= double(len) && count == std::trunc(count))) return ThrowArg(env, "n must be a count no larger than the frame");
    double now;
    if (!TimeArg(info[5], &now)) return ThrowArg(env, "now must be a time within 2^53 ms");
    const size_t n = size_t(count);
    const int nplan = int(plen / 4);
    const size_t nkeys = st.tables.size();
    if (nkeys > 16) return ThrowArg(env, "too many key columns");
    thread_local std::vector<RowColumn> cols;
    cols.resize(size_t(nplan));
    uint32_t key_seen = 0;
    std::vector<uint8_t>& field_seen = FieldSeen(st.nfields);
    for (int e = 0; e < nplan; e++) {
      const int column = plan[e * 4], type = plan[e * 4 + 1], role = plan[e * 4 + 2], index = plan[e * 4 + 3];
      auto at = [e] { return "plan entry " + std::to_string(e); };  // built only for an error
      if (column != (e == 0 ? 0 : cols[e - 1].column) && column != (e == 0 ? 0 : cols[e - 1].column + 1))
        return ThrowArg(env, at() + ": columns must run 0, 1, 2, ... in order");
      if (e > 0 && column == cols[e - 1].column && type != cols[e - 1].type) return ThrowArg(env, at() + ": one column, two types");
      if ((type != kRowTypeF64 && type != kRowTypeStr16) || role < 0 || role >= int(RowRole::kCount))
        return ThrowArg(env, at() + ": bad type or role");
      cols[e] = RowColumn{column, type, RowRole(role), index};
      if (cols[e].role == RowRole::KEY) {
        if (index < 0 || size_t(index) >= nkeys) return ThrowArg(env, at() + ": no such key");
        key_seen |= 1u << index;
      } else if (cols[e].role == RowRole::NUMBER || cols[e].role == RowRole::CATEGORY) {
        if (index < 0 || index >= st.nfields) return ThrowArg(env, at() + ": no such field");
        field_seen[index] = 1;
      }
    }
    if (key_seen != (1u << nkeys) - 1 ||
        std::count(field_seen.begin(), field_seen.end(), uint8_t(1)) != st.nfields)
      return ThrowArg(env, "plan must feed every key and every field of the stream");
    if (n > 0 && nplan == 0) return ThrowArg(env, "events need at least one column");
    // Bound n by the bytes there are before sizing anything by it: a row takes at least 8
    // bytes per f64 column and 2 per str16 column.
    size_t min_row = 0;
    for (int e = 0; e < nplan; e++)
      if (e == 0 || cols[e].column != cols[e - 1].column) min_row += cols[e].type == kRowTypeF64 ? 8 : 2;
    if (n * min_row > len - size_t(offset)) {
      out[0] = 0;
      out[1] = 0;
      return Napi::Number::New(env, int(RowError::TRUNCATED));
    }
    // Scratch, reused across calls: grows to the largest batch once.
    thread_local std::vector<uint64_t> key_cols[16];
    thread_local std::vector<double> ts, values;
    uint64_t* keys[16];
    for (size_t k = 0; k < nkeys; k++) {
      if (key_cols[k].size() < n) key_cols[k].resize(n);
      keys[k] = key_cols[k].data();
    }
    if (ts.size() < n) ts.resize(n);
    if (values.size() < n * size_t(st.nfields)) values.resize(n * size_t(st.nfields));
    const double max_ts = now + double(store_->spec().max_future_ms);
    const RowFault f = DecodeRows(frame + size_t(offset), len - size_t(offset), n, cols.data(), nplan, st.nfields,
                                  now, max_ts, keys, ts.data(), values.data());
    if (f.error != RowError::OK) {
      out[0] = f.event;
      out[1] = f.column;
      return Napi::Number::New(env, int(f.error));
    }
    IngestResult r;
    Status s = store_->Ingest(stream, n, keys, ts.data(), values.data(), now, &r);
    if (!s.ok()) return ThrowStatus(env, s);
    out[0] = double(r.accepted);
    out[1] = double(r.late);
    return Napi::Number::New(env, 0);
  }

  static std::vector<uint8_t>& FieldSeen(int nfields) {
    thread_local std::vector<uint8_t> seen;
    seen.assign(size_t(nfields), 0);
    return seen;
  }

  // read(table, id: string | bigint, nowMs, out: Float64Array) -> age in ms, NaN if absent
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int t;
    if (!TableArg(info, &t)) return ThrowArg(env, "unknown table");
    const Table& table = store_->table(t);
    double now;
    if (!TimeArg(info[2], &now)) return ThrowArg(env, "now must be a time within 2^53 ms");
    uint64_t key;
    if (info[1].IsBigInt()) {
      bool lossless;
      key = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
    } else {
      std::string why;
      if (!HashIdValue(env, info[1], &key, &why)) return ThrowArg(env, why);
    }
    double* out;
    size_t len;
    if (!GetTyped<double, napi_float64_array>(info[3], &out, &len) || len < size_t(table.width()))
      return ThrowArg(env, "out must be a Float64Array of the table's width");
    double age;
    table.Read(key, now, out, &age);
    return Napi::Number::New(env, age);
  }

  // readMany(table, ids: string[] | BigUint64Array, nowMs, out: Float64Array (n x width),
  //          ages: Float64Array (n)) -> number found
  Napi::Value ReadMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int t;
    if (!TableArg(info, &t)) return ThrowArg(env, "unknown table");
    const Table& table = store_->table(t);
    ReentryGuard guard;
    if (!guard.ok) return ThrowStatus(env, Status::Unavailable("readMany called from inside an addon call"));
    double now;
    if (!TimeArg(info[2], &now)) return ThrowArg(env, "now must be a time within 2^53 ms");
    double *out, *ages;
    size_t len, nages;
    if (!GetTyped<double, napi_float64_array>(info[4], &ages, &nages)) return ThrowArg(env, "ages must be a Float64Array");
    const size_t n = nages;
    thread_local std::vector<uint64_t> scratch;
    const uint64_t* keys;
    std::string why;
    if (!GetKeys(env, info[1], n, &scratch, &keys, &why)) return ThrowArg(env, why);  // may run JS
    // Pointers only now, after any JS: the ids' getters could have detached a buffer.
    if (!GetTyped<double, napi_float64_array>(info[3], &out, &len) ||
        !GetTyped<double, napi_float64_array>(info[4], &ages, &nages) || nages != n)
      return ThrowArg(env, "out and ages must be Float64Arrays");
    if (len < n * size_t(table.width())) return ThrowArg(env, "out is shorter than ids x width");
    if (!GetKeys(env, info[1], n, &scratch, &keys, &why, /*strings_done=*/!info[1].IsTypedArray()))
      return ThrowArg(env, why);
    uint32_t found = 0;
    for (size_t i = 0; i < n; i++) {
      if (i + 16 < n) table.PrefetchSlot(keys[i + 16]);
      if (i + 8 < n) table.PrefetchRow(keys[i + 8], -1, now, nullptr);
      if (i + 4 < n) table.PrefetchReadState(keys[i + 4]);
      found += table.Read(keys[i], now, out + i * size_t(table.width()), &ages[i]);
    }
    return Napi::Number::New(env, found);
  }

  // layout(table) -> { width, offsets: number[], widths: number[] }
  Napi::Value Layout(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int t;
    if (!TableArg(info, &t)) return ThrowArg(env, "unknown table");
    const Table& table = store_->table(t);
    const size_t nf = table.spec().features.size();
    Napi::Array offs = Napi::Array::New(env, nf), widths = Napi::Array::New(env, nf);
    for (size_t f = 0; f < nf; f++) {
      offs.Set(uint32_t(f), table.feature_offset(int(f)));
      widths.Set(uint32_t(f), table.feature_width(int(f)));
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("width", table.width());
    o.Set("offsets", offs);
    o.Set("widths", widths);
    return o;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!writable_) return ThrowStatus(env, Status::Unavailable("stats are read on the writer's handle"));
    int t;
    if (!TableArg(info, &t)) return ThrowArg(env, "unknown table");
    TableStats s = store_->table(t).Stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("live", double(s.live));
    o.Set("capacity", double(s.capacity));
    o.Set("rowBytes", double(s.row_bytes));
    o.Set("bytesPerEntity", double(s.bytes_per_entity));
    o.Set("allocatedBytes", double(s.allocated_bytes));
    o.Set("evictedTtl", double(s.evicted_ttl));
    o.Set("evictedLru", double(s.evicted_lru));
    o.Set("updates", double(s.updates));
    o.Set("watermarkMs", s.watermark_ms);
    return o;
  }

  // sweep(nowMs, maxRowsPerTable) -> entities expired by TTL
  Napi::Value Sweep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!writable_) return ThrowStatus(env, Status::Unavailable("this store handle is read-only"));
    if (!info[0].IsNumber() || !info[1].IsNumber()) return ThrowArg(env, "sweep(nowMs, maxRows)");
    return Napi::Number::New(env, double(store_->Sweep(info[0].As<Napi::Number>().DoubleValue(),
                                                      uint64_t(info[1].As<Napi::Number>().DoubleValue()))));
  }

  std::shared_ptr<Store> store_;
  bool writable_ = false;
};

// hashIds(ids: string[]) -> BigUint64Array
Napi::Value HashIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) return ThrowArg(env, "hashIds(ids: string[])");
  Napi::Array arr = info[0].As<Napi::Array>();
  const uint32_t n = arr.Length();
  std::vector<uint64_t> hashes(n);  // getters may run while ids are read: fill a private copy
  std::string why;
  for (uint32_t i = 0; i < n; i++) {
    napi_value el = nullptr;
    if (napi_get_element(env, arr, i, &el) != napi_ok) return ThrowArg(env, "cannot read id " + std::to_string(i));
    if (!HashIdValue(env, el, &hashes[i], &why)) return ThrowArg(env, "id " + std::to_string(i) + ": " + why);
  }
  Napi::BigUint64Array out = Napi::BigUint64Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) out[i] = hashes[i];
  return out;
}

// Copies a Float32Array property (or null/undefined -> empty). False if it is something else.
bool FloatsProp(Napi::Object o, const char* key, std::vector<float>* out) {
  Napi::Value v = o.Get(key);  // may run a getter: copy before anything else runs
  if (v.IsNull() || v.IsUndefined()) return true;
  float* p;
  size_t n;
  if (!GetTyped<float, napi_float32_array>(v, &p, &n)) return false;
  out->assign(p, p + n);
  return true;
}

// new NativeModel({ inDim, maxBatch, device: 'cpu' | 'cuda', layers: [{ kind, inDim, outDim,
// w: Float32Array (out x in), b: Float32Array | null, act }] }). kind: 0 dense, 1 act, 2 softmax.
// One per worker thread: forward() uses the model's own scratch buffers.
class NativeModelWrap : public Napi::ObjectWrap<NativeModelWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {
                           InstanceAccessor<&NativeModelWrap::InDim>("inDim"),
                           InstanceAccessor<&NativeModelWrap::OutDim>("outDim"),
                           InstanceMethod<&NativeModelWrap::Forward>("forward"),
                       });
  }

  NativeModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModelWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowArg(env, "NativeModel expects a spec object");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    const int in_dim = int(NumProp(o, "inDim", 0, 0, 1 << 21));
    const int max_batch = int(NumProp(o, "maxBatch", 0, 0, 1 << 17));
    Napi::Value dv = o.Get("device");
    const std::string device = dv.IsString() ? dv.As<Napi::String>().Utf8Value() : "cpu";
    if (device != "cpu" && device != "cuda") {
      ThrowArg(env, "device must be cpu or cuda");
      return;
    }
    Napi::Value lv = o.Get("layers");
    if (!lv.IsArray()) {
      ThrowArg(env, "layers must be an array");
      return;
    }
    Napi::Array la = lv.As<Napi::Array>();
    std::vector<LayerSpec> layers;
    for (uint32_t i = 0; i < la.Length() && !env.IsExceptionPending(); i++) {
      Napi::Value v = la.Get(i);
      if (!v.IsObject()) {
        ThrowArg(env, "layer " + std::to_string(i) + " is not an object");
        return;
      }
      Napi::Object lo = v.As<Napi::Object>();
      LayerSpec l;
      const double kind = NumProp(lo, "kind", -1, -1, 3);
      if (!(kind == 0 || kind == 1 || kind == 2)) {
        ThrowArg(env, "layer " + std::to_string(i) + ": unknown kind");
        return;
      }
      l.kind = LayerSpec::Kind(int(kind));
      l.in = int(NumProp(lo, "inDim", 0, 0, 1 << 21));
      l.out = int(NumProp(lo, "outDim", 0, 0, 1 << 21));
      l.act = Act(uint8_t(NumProp(lo, "act", 0, 0, double(Act::kCount))));
      if (!FloatsProp(lo, "w", &l.w) || !FloatsProp(lo, "b", &l.b)) {
        ThrowArg(env, "layer " + std::to_string(i) + ": w and b must be Float32Arrays");
        return;
      }
      layers.push_back(std::move(l));
    }
    if (env.IsExceptionPending()) return;
    Status s = Model::Create(in_dim, std::move(layers), max_batch, device == "cuda" ? Device::kCuda : Device::kCpu, &model_);
    if (!s.ok()) ThrowStatus(env, s);
  }

 private:
  Napi::Value InDim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), model_ ? model_->in_dim() : 0); }
  Napi::Value OutDim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), model_ ? model_->out_dim() : 0); }

  // forward(x: Float32Array (batch x inDim), batch, y: Float32Array (batch x outDim))
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!model_) return ThrowStatus(env, Status::Unavailable("model was not created"));
    if (info.Length() < 3 || !info[1].IsNumber()) return ThrowArg(env, "forward(x, batch, y)");
    const double batch = info[1].As<Napi::Number>().DoubleValue();
    if (!(batch >= 0 && batch <= double(1 << 24)) || batch != std::floor(batch)) return ThrowArg(env, "batch out of range");
    float *x, *y;
    size_t nx, ny;
    if (!GetTyped<float, napi_float32_array>(info[0], &x, &nx) || !GetTyped<float, napi_float32_array>(info[2], &y, &ny))
      return ThrowArg(env, "x and y must be Float32Arrays");
    const size_t b = size_t(batch);
    if (nx < b * model_->in_dim() || ny < b * model_->out_dim()) return ThrowArg(env, "x or y is shorter than batch x width");
    Status s = model_->Forward(x, int(b), y);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  std::unique_ptr<Model> model_;
};

// new Gather(storeId, { tables: number[], fields: number, columns: [{ source (0 feature,
// 1 field), key, offset, field, transform (0 none, 1 log1p), fill }] }). Attaches to the
// store by id, like a read-only FeatureStore; one per worker thread (own scratch).
class GatherWrap : public Napi::ObjectWrap<GatherWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Gather", {InstanceMethod<&GatherWrap::Run>("run")});
  }

  GatherWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GatherWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsObject()) {
      ThrowArg(env, "Gather expects (storeId, spec)");
      return;
    }
    std::shared_ptr<Store> store = Store::Lookup(info[0].As<Napi::Number>().Uint32Value());
    if (!store) {
      ThrowStatus(env, Status::NotFound("no live feature store with that id"));
      return;
    }
    Napi::Object o = info[1].As<Napi::Object>();
    const int fields = int(NumProp(o, "fields", 0, 0, 1 << 20));
    Napi::Value tv = o.Get("tables"), cv = o.Get("columns");
    if (!tv.IsArray() || !cv.IsArray()) {
      ThrowArg(env, "tables and columns must be arrays");
      return;
    }
    std::vector<int> tables;
    Napi::Array ta = tv.As<Napi::Array>();
    for (uint32_t i = 0; i < ta.Length() && !env.IsExceptionPending(); i++) {
      Napi::Value v = ta.Get(i);
      if (!v.IsNumber()) {
        ThrowArg(env, "table indices must be numbers");
        return;
      }
      tables.push_back(int(std::max(-1.0, std::min(1e6, v.As<Napi::Number>().DoubleValue()))));
    }
    std::vector<GatherColumn> columns;
    Napi::Array ca = cv.As<Napi::Array>();
    for (uint32_t i = 0; i < ca.Length() && !env.IsExceptionPending(); i++) {
      Napi::Value v = ca.Get(i);
      if (!v.IsObject()) {
        ThrowArg(env, "column " + std::to_string(i) + " is not an object");
        return;
      }
      Napi::Object co = v.As<Napi::Object>();
      GatherColumn c;
      c.source = GatherColumn::Source(uint8_t(NumProp(co, "source", 255, 0, 255)));
      c.key = int(NumProp(co, "key", 0, -1, 1e6));
      c.offset = int(NumProp(co, "offset", 0, -1, 1e6));
      c.field = int(NumProp(co, "field", 0, -1, 1e6));
      c.transform = GatherColumn::Transform(uint8_t(NumProp(co, "transform", 0, 0, 255)));
      c.fill = float(NumProp(co, "fill", 0, -3.4e38, 3.4e38));
      columns.push_back(c);
    }
    if (env.IsExceptionPending()) return;
    Status s = Gather::Create(std::move(store), std::move(tables), fields, std::move(columns), &gather_);
    if (!s.ok()) ThrowStatus(env, s);
  }

 private:
  // run(ids: Uint8Array, refs: Uint32Array (batch x keys x 2), fields: Float32Array
  //     (batch x fields), batch, nowMs, x: Float32Array (batch x columns))
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!gather_) return ThrowStatus(env, Status::Unavailable("gather was not created"));
    if (info.Length() < 6 || !info[3].IsNumber()) return ThrowArg(env, "run(ids, refs, fields, batch, nowMs, x)");
    const double batch = info[3].As<Napi::Number>().DoubleValue();
    if (!(batch >= 0 && batch <= double(1 << 24)) || batch != std::floor(batch)) return ThrowArg(env, "batch out of range");
    double now;
    if (!TimeArg(info[4], &now)) return ThrowArg(env, "now must be a time within 2^53 ms");
    uint8_t* ids;
    uint32_t* refs;
    float *fields, *x;
    size_t nids, nrefs, nfields, nx;
    if (!GetTyped<uint8_t, napi_uint8_array>(info[0], &ids, &nids) ||
        !GetTyped<uint32_t, napi_uint32_array>(info[1], &refs, &nrefs) ||
        !GetTyped<float, napi_float32_array>(info[2], &fields, &nfields) ||
        !GetTyped<float, napi_float32_array>(info[5], &x, &nx))
      return ThrowArg(env, "ids: Uint8Array, refs: Uint32Array, fields and x: Float32Array");
    const size_t b = size_t(batch);
    if (nrefs < b * gather_->keys() * 2 || nfields < b * gather_->fields() || nx < b * gather_->columns())
      return ThrowArg(env, "refs, fields or x is shorter than the batch");
    Status s = gather_->Run(ids, nids, refs, fields, int(b), now, x);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  std::unique_ptr<Gather> gather_;
};

// denseForward(x, w, bias | null, batch, in, out, act, backend: "cpu" | "cuda", y)
Napi::Value DenseForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *x, *w, *b = nullptr, *y;
  size_t nx, nw, nb = 0, ny;
  if (info.Length() < 9 || !GetTyped<float, napi_float32_array>(info[0], &x, &nx) ||
      !GetTyped<float, napi_float32_array>(info[1], &w, &nw) ||
      !(info[2].IsNull() || GetTyped<float, napi_float32_array>(info[2], &b, &nb)) ||
      !GetTyped<float, napi_float32_array>(info[8], &y, &ny) || !info[7].IsString())
    return ThrowArg(env, "denseForward(x, w, bias|null, batch, in, out, act, backend, y) with Float32Arrays");
  for (int i = 3; i <= 6; i++)
    if (!info[i].IsNumber()) return ThrowArg(env, "batch, in, out and act must be numbers");
  const int batch = info[3].As<Napi::Number>().Int32Value(), in = info[4].As<Napi::Number>().Int32Value(),
            out = info[5].As<Napi::Number>().Int32Value(), act = info[6].As<Napi::Number>().Int32Value();
  if (batch < 0 || in <= 0 || out <= 0 || act < 0 || act >= int(Act::kCount)) return ThrowArg(env, "bad shape or activation");
  if (nx < size_t(batch) * in || nw < size_t(out) * in || (b && nb < size_t(out)) || ny < size_t(batch) * out)
    return ThrowArg(env, "array shorter than its shape");
  const std::string backend = info[7].As<Napi::String>().Utf8Value();
  Status s = backend == "cuda" ? DenseForwardCuda(x, w, b, batch, in, out, Act(act), y)
             : backend == "cpu" ? DenseForwardCpu(x, w, b, batch, in, out, Act(act), y)
                                : Status::InvalidArg("backend must be cpu or cuda");
  if (!s.ok()) return ThrowStatus(env, s);
  return env.Undefined();
}

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

Napi::Object Constants(Napi::Env env) {
  Napi::Object aggs = Napi::Object::New(env);
#define HP_X(e, name, f, w) aggs.Set(name, int(Agg::e));
  HP_AGG_LIST(HP_X)
#undef HP_X
  Napi::Object acts = Napi::Object::New(env);
#define HP_X(e, name) acts.Set(name, int(Act::e));
  HP_ACT_LIST(HP_X)
#undef HP_X
  Napi::Array statuses = Napi::Array::New(env);
  uint32_t i = 0;
#define HP_X(e, name) statuses.Set(i++, name);
  HP_STATUS_LIST(HP_X)
#undef HP_X
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("maxIdBytes", kMaxIdBytes);
  limits.Set("maxTilesPerWindow", kMaxTilesPerWindow);
  limits.Set("maxLastN", kMaxLastN);
  limits.Set("minHllPrecision", kMinHllPrecision);
  limits.Set("maxHllPrecision", kMaxHllPrecision);
  limits.Set("maxFeaturesPerTable", kMaxFeaturesPerTable);
  Napi::Object rowRoles = Napi::Object::New(env);
#define HP_X(e, name) rowRoles.Set(name, int(RowRole::e));
  HP_ROW_ROLE_LIST(HP_X)
#undef HP_X
  Napi::Array rowErrors = Napi::Array::New(env);
  i = 0;
#define HP_X(e, name) rowErrors.Set(i++, name);
  HP_ROW_ERROR_LIST(HP_X)
#undef HP_X
  Napi::Object rowTypes = Napi::Object::New(env);
  rowTypes.Set("f64", kRowTypeF64);
  rowTypes.Set("str16", kRowTypeStr16);
  Napi::Object o = Napi::Object::New(env);
  o.Set("rowRoles", rowRoles);
  o.Set("rowErrors", rowErrors);
  o.Set("rowTypes", rowTypes);
  o.Set("aggs", aggs);
  o.Set("acts", acts);
  o.Set("statuses", statuses);
  o.Set("limits", limits);
  return o;
}

// Context-aware: one instance (and one class constructor) per environment, so the addon
// loads in the main thread and in any number of worker_threads at once.
class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceValue("FeatureStore", FeatureStoreWrap::Init(env)),
                             InstanceValue("NativeModel", NativeModelWrap::Init(env)),
                             InstanceValue("Gather", GatherWrap::Init(env)),
                             InstanceValue("constants", Constants(env)),
                             InstanceMethod<&Addon::CallHashIds>("hashIds"),
                             InstanceMethod<&Addon::CallDense>("denseForward"),
                             InstanceMethod<&Addon::CallBackends>("backends"),
                         });
  }

 private:
  Napi::Value CallHashIds(const Napi::CallbackInfo& info) { return HashIds(info); }
  Napi::Value CallDense(const Napi::CallbackInfo& info) { return DenseForward(info); }
  Napi::Value CallBackends(const Napi::CallbackInfo& info) { return Backends(info); }
};

}  // namespace
}  // namespace hotpath

using HotpathAddon = hotpath::Addon;
NODE_API_ADDON(HotpathAddon)
