// FeatureStore: a core Store seen from one JS thread. The writer's handle (created from a
// spec) may ingest and sweep; handles attached by id (other worker_threads) only read.
//
// Buffers: every typed array passed in is borrowed for the call only. ids, ts, values,
// frames and plans are read (string ids are hashed into thread-local scratch that grows
// to the largest batch once); out, ages, the ingestRows result array and the write-ahead
// log record (the optional wal, walAt, seq arguments of ingest and ingestRows) are written
// before the call returns. Nothing keeps a pointer into JS memory after a call, but for the
// one text buffer jsonText is given (readJsonTo writes the GET answer there; a reference
// keeps it alive until it is replaced).
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "../core/event_rows.h"
#include "../core/feature_store.h"
#include "../core/wal_record.h"
#include "args.h"
#include "feature_json.h"
#include "ids.h"
#include "spec_args.h"
#include "wraps.h"

namespace hotpath {
namespace {

class FeatureStoreWrap : public Napi::ObjectWrap<FeatureStoreWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FeatureStore",
                       {
                           InstanceAccessor<&FeatureStoreWrap::Id>("id"),
                           InstanceAccessor<&FeatureStoreWrap::Writable>("writable"),
                           InstanceMethod<&FeatureStoreWrap::Ingest>("ingest"),
                           InstanceMethod<&FeatureStoreWrap::IngestRows>("ingestRows"),
                           InstanceMethod<&FeatureStoreWrap::DecodeFrameRows>("decodeRows"),
                           InstanceMethod<&FeatureStoreWrap::Read>("read"),
                           InstanceMethod<&FeatureStoreWrap::ReadJson>("readJson"),
                           InstanceMethod<&FeatureStoreWrap::JsonProgramArg>("jsonProgram"),
                           InstanceMethod<&FeatureStoreWrap::JsonText>("jsonText"),
                           InstanceMethod<&FeatureStoreWrap::ReadJsonTo>("readJsonTo"),
                           InstanceMethod<&FeatureStoreWrap::Clock>("clock"),
                           InstanceMethod<&FeatureStoreWrap::ReadJsonToFn>("readJsonToFn"),
                           InstanceMethod<&FeatureStoreWrap::ReadFn>("readFn"),
                           InstanceMethod<&FeatureStoreWrap::ReadMany>("readMany"),
                           InstanceMethod<&FeatureStoreWrap::Contains>("contains"),
                           InstanceMethod<&FeatureStoreWrap::Layout>("layout"),
                           InstanceMethod<&FeatureStoreWrap::ExportRows>("exportRows"),
                           InstanceMethod<&FeatureStoreWrap::ImportRows>("importRows"),
                           InstanceMethod<&FeatureStoreWrap::Stats>("stats"),
                           InstanceMethod<&FeatureStoreWrap::Sweep>("sweep"),
                           InstanceMethod<&FeatureStoreWrap::Snapshot>("snapshot"),
                           InstanceMethod<&FeatureStoreWrap::Restore>("restore"),
                       });
  }

  FeatureStoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FeatureStoreWrap>(info) { Construct(info); }

 private:
  // new FeatureStore(spec): creates a store owned (and written) by this thread.
  // new FeatureStore(id): attaches read-only to a store created elsewhere in the process.
  Napi::Value Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() >= 1 && info[0].IsNumber()) {
      store_ = Store::Lookup(info[0].As<Napi::Number>().Uint32Value());
      if (!store_) return ThrowStatus(env, Status::NotFound("no live feature store with that id"));
      return env.Undefined();
    }
    REQUIRE_ARGUMENTS(1, "FeatureStore expects a spec object or a store id");
    REQUIRE_ARGUMENT_OBJECT(0, so, "FeatureStore expects a spec object or a store id");
    StoreSpec spec;
    std::string why;
    if (!StoreSpecArg(so, &spec, &why) || env.IsExceptionPending()) return ThrowArg(env, "bad store spec: " + why);
    Status s = Store::Create(spec, &store_);
    if (!s.ok()) return ThrowStatus(env, s);
    writable_ = true;
    return env.Undefined();
  }

  Napi::Value Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), store_ ? store_->id() : 0); }
  Napi::Value Writable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), writable_); }

  // An entity id argument: its hash as a BigInt (hashIds), or the id itself to hash.
  static bool KeyArg(Napi::Env env, const Napi::Value& v, uint64_t* key, std::string* why) {
    if (v.IsBigInt()) {
      bool lossless;
      *key = v.As<Napi::BigInt>().Uint64Value(&lossless);
      return true;
    }
    return HashIdValue(env, v, key, why);
  }
  bool TableArg(const Napi::CallbackInfo& info, int* t) {
    if (!store_ || !info[0].IsNumber()) return false;
    *t = info[0].As<Napi::Number>().Int32Value();
    return *t >= 0 && *t < store_->table_count();
  }
  const StreamSpec* StreamArg(int32_t stream) const {
    return stream >= 0 && size_t(stream) < store_->spec().streams.size() ? &store_->spec().streams[stream] : nullptr;
  }

  // The write-ahead log record an ingest call writes, from its optional arguments
  // (wal: Uint8Array, walAt, seq) at index i: present, checked, and the record fits.
  struct WalArgs {
    uint8_t* at = nullptr;  // null: no record
    uint64_t seq = 0;
  };
  bool WalArg(const Napi::CallbackInfo& info, size_t i, size_t n, int nkeys, int nfields, WalArgs* w, std::string* why) {
    if (info.Length() <= i || info[i].IsUndefined()) return true;
    uint8_t* buf;
    size_t len;
    if (!GetTyped<uint8_t, napi_uint8_array>(info[i], &buf, &len) || info.Length() < i + 3 || !info[i + 1].IsNumber() || !info[i + 2].IsNumber()) {
      *why = "wal, walAt, seq must be a Uint8Array and two numbers";
      return false;
    }
    const double at = info[i + 1].As<Napi::Number>().DoubleValue(), seq = info[i + 2].As<Napi::Number>().DoubleValue();
    const size_t bytes = WalBatchRecordBytes(n, nkeys, nfields);
    if (!(seq >= 1 && seq <= kMaxTimeMs && seq == std::trunc(seq)) || bytes == 0 ||
        !(at >= 0 && at == std::trunc(at) && at + double(bytes) <= double(len))) {
      *why = "the write-ahead log record does not fit at walAt, or seq is not a positive integer";
      return false;
    }
    w->at = buf + size_t(at);
    w->seq = uint64_t(seq);
    return true;
  }

  // ingest(stream, keyColumns[], ts: Float64Array, values: Float64Array, nowMs[, wal, walAt, seq])
  //   -> [accepted, late]. With wal, once the batch is applied its log record (wal_record.h)
  //   is written at wal[walAt..]; nothing is written when the batch is refused.
  Napi::Value Ingest(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!writable_) return ThrowStatus(env, Status::Unavailable("this store handle is read-only"));
    if (restoring_) return ThrowStatus(env, Status::Unavailable("the store is being restored from a snapshot"));
    constexpr const char* kUsage = "ingest(stream, keyColumns, ts, values, nowMs)";
    REQUIRE_ARGUMENTS(5, kUsage);
    REQUIRE_ARGUMENT_INT32(0, stream, kUsage);
    REQUIRE_ARGUMENT_ARRAY(1, cols, kUsage);
    if (!info[4].IsNumber()) HP_ARG_FAIL(kUsage);
    ReentryGuard guard;
    if (!guard.ok) return ThrowStatus(env, Status::Unavailable("ingest called from inside an addon call"));
    const StreamSpec* st = StreamArg(stream);
    if (!st) return ThrowArg(env, "unknown stream");
    REQUIRE_ARGUMENT_TIME(4, now);
    double *ts, *values;
    size_t n, nv;
    if (!GetTyped<double, napi_float64_array>(info[2], &ts, &n)) return ThrowArg(env, "ts must be a Float64Array");
    const size_t nkeys = st->tables.size();
    if (cols.Length() != nkeys)
      return ThrowArg(env, "stream '" + st->name + "' needs " + std::to_string(nkeys) + " key columns");
    if (nkeys > size_t(kMaxKeyColumns)) return ThrowArg(env, "too many key columns");
    // Scratch for string ids, reused across calls: grows to the largest batch once. Key
    // columns are resolved first, since reading them can run JS (getters); typed-array
    // pointers are taken after that, when no more JS can run.
    thread_local std::vector<std::vector<uint64_t>> scratch;
    if (scratch.size() < nkeys) scratch.resize(nkeys);
    napi_value colv[kMaxKeyColumns];
    const uint64_t* keys[kMaxKeyColumns];
    std::string why;
    for (uint32_t k = 0; k < nkeys; k++) {
      if (napi_get_element(env, cols, k, &colv[k]) != napi_ok) return ThrowArg(env, "cannot read key column");
      bool typed = false;
      napi_is_typedarray(env, colv[k], &typed);
      if (!typed && !GetKeys(env, Napi::Value(env, colv[k]), n, &scratch[k], &keys[k], &why)) return ThrowArg(env, why);
    }
    if (!GetTyped<double, napi_float64_array>(info[2], &ts, &n) || !GetTyped<double, napi_float64_array>(info[3], &values, &nv))
      return ThrowArg(env, "ts and values must be Float64Arrays");
    if (nv != n * size_t(st->nfields)) return ThrowArg(env, "values length must be events x fields");
    for (uint32_t k = 0; k < nkeys; k++)  // no JS runs from here on
      if (!GetKeys(env, Napi::Value(env, colv[k]), n, &scratch[k], &keys[k], &why, /*strings_done=*/true))
        return ThrowArg(env, why);
    WalArgs wal;
    if (!WalArg(info, 5, n, int(nkeys), st->nfields, &wal, &why)) return ThrowArg(env, why);
    IngestResult r;
    Status s = store_->Ingest(stream, n, keys, ts, values, now, &r);
    if (!s.ok()) return ThrowStatus(env, s);
    if (wal.at) WalEncodeBatch(wal.at, wal.seq, stream, n, int(nkeys), st->nfields, keys, ts, values, now);
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(uint32_t(0), Napi::Number::New(env, double(r.accepted)));
    out.Set(uint32_t(1), Napi::Number::New(env, double(r.late)));
    return out;
  }

  // ingestRows(stream, frame: Uint8Array, offset, n, plan: Int32Array, nowMs, out: Float64Array[, wal, walAt, seq])
  //   -> a RowError; OK: out = [accepted, late], else out = [event, column]. With wal, the
  //   applied batch's log record is written as ingest writes it.
  // The rows of a binary events frame from offset to its end, decoded by DecodeRows. plan
  // holds (column, type, role, index) entries (RowColumn) and must feed every key and field.
  Napi::Value IngestRows(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!writable_) return ThrowStatus(env, Status::Unavailable("this store handle is read-only"));
    if (restoring_) return ThrowStatus(env, Status::Unavailable("the store is being restored from a snapshot"));
    constexpr const char* kUsage = "ingestRows(stream, frame, offset, n, plan, nowMs, out)";
    REQUIRE_ARGUMENTS(7, kUsage);
    REQUIRE_ARGUMENT_INT32(0, stream, kUsage);
    REQUIRE_ARGUMENT_NUMBER(2, offset, kUsage);
    REQUIRE_ARGUMENT_NUMBER(3, count, kUsage);
    if (!info[5].IsNumber()) HP_ARG_FAIL(kUsage);
    ReentryGuard guard;
    if (!guard.ok) return ThrowStatus(env, Status::Unavailable("ingestRows called from inside an addon call"));
    const StreamSpec* st = StreamArg(stream);
    if (!st) return ThrowArg(env, "unknown stream");
    REQUIRE_ARGUMENT_UINT8_ARRAY(1, frame, len, "frame must be a Uint8Array");
    REQUIRE_ARGUMENT_INT32_ARRAY(4, plan, plen, "plan must be an Int32Array of (column, type, role, index) entries");
    if (plen % 4 != 0) return ThrowArg(env, "plan must be an Int32Array of (column, type, role, index) entries");
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(6, out, olen, "out must be a Float64Array(2)");
    if (olen < 2) return ThrowArg(env, "out must be a Float64Array(2)");
    if (!(offset >= 0 && offset <= double(len) && offset == std::trunc(offset))) return ThrowArg(env, "offset is outside the frame");
    if (!(count >= 0 && count <= double(len) && count == std::trunc(count))) return ThrowArg(env, "n must be a count no larger than the frame");
    REQUIRE_ARGUMENT_TIME(5, now);
    const size_t n = size_t(count);
    const int nplan = int(plen / 4);
    const size_t nkeys = st->tables.size();
    if (nkeys > size_t(kMaxKeyColumns)) return ThrowArg(env, "too many key columns");
    WalArgs wal;
    std::string wal_why;
    if (!WalArg(info, 7, n, int(nkeys), st->nfields, &wal, &wal_why)) return ThrowArg(env, wal_why);
    thread_local std::vector<RowColumn> cols;
    cols.resize(size_t(nplan));
    std::string why;
    if (!CheckPlan(plan, nplan, *st, cols.data(), &why)) return ThrowArg(env, why);
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
    thread_local std::vector<uint64_t> key_cols[kMaxKeyColumns];
    thread_local std::vector<double> ts, values;
    uint64_t* keys[kMaxKeyColumns];
    for (size_t k = 0; k < nkeys; k++) {
      if (key_cols[k].size() < n) key_cols[k].resize(n);
      keys[k] = key_cols[k].data();
    }
    if (ts.size() < n) ts.resize(n);
    if (values.size() < n * size_t(st->nfields)) values.resize(n * size_t(st->nfields));
    const double max_ts = now + double(store_->spec().max_future_ms);
    const RowFault f = DecodeRows(frame + size_t(offset), len - size_t(offset), n, cols.data(), nplan, st->nfields,
                                  now, max_ts, keys, ts.data(), values.data());
    if (f.error != RowError::OK) {
      out[0] = f.event;
      out[1] = f.column;
      return Napi::Number::New(env, int(f.error));
    }
    IngestResult r;
    Status s = store_->Ingest(stream, n, keys, ts.data(), values.data(), now, &r);
    if (!s.ok()) return ThrowStatus(env, s);
    if (wal.at) WalEncodeBatch(wal.at, wal.seq, stream, n, int(nkeys), st->nfields, keys, ts.data(), values.data(), now);
    out[0] = double(r.accepted);
    out[1] = double(r.late);
    return Napi::Number::New(env, 0);
  }

  // decodeRows(stream, frame, offset, n, plan, nowMs, keys, ts, values, out): the columns
  // a frame's rows hold, decoded as ingestRows decodes them but applied nowhere (the
  // Ingestor then applies them with ingest(), when its taps read columns). keys:
  // BigUint64Array(n * nkeys), key column k at [k * n, (k + 1) * n); ts: Float64Array(n);
  // values: Float64Array(n * nfields). Returns 0, or a RowError code with the event and the
  // frame column in out[0], out[1]. The caller sizes the outputs after checking that n rows
  // can fit the frame (as ingestRows does before sizing its scratch).
  Napi::Value DecodeFrameRows(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    constexpr const char* kUsage = "decodeRows(stream, frame, offset, n, plan, nowMs, keys, ts, values, out)";
    REQUIRE_ARGUMENTS(10, kUsage);
    REQUIRE_ARGUMENT_INT32(0, stream, kUsage);
    REQUIRE_ARGUMENT_NUMBER(2, offset, kUsage);
    REQUIRE_ARGUMENT_NUMBER(3, count, kUsage);
    if (!info[5].IsNumber()) HP_ARG_FAIL(kUsage);
    const StreamSpec* st = StreamArg(stream);
    if (!st) return ThrowArg(env, "unknown stream");
    REQUIRE_ARGUMENT_UINT8_ARRAY(1, frame, len, "frame must be a Uint8Array");
    REQUIRE_ARGUMENT_INT32_ARRAY(4, plan, plen, "plan must be an Int32Array of (column, type, role, index) entries");
    if (plen % 4 != 0) return ThrowArg(env, "plan must be an Int32Array of (column, type, role, index) entries");
    REQUIRE_ARGUMENT_TYPED(6, uint64_t, napi_biguint64_array, keys_out, klen, "keys must be a BigUint64Array(n * nkeys)");
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(7, ts_out, tlen, "ts must be a Float64Array(n)");
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(8, values_out, vlen, "values must be a Float64Array(n * nfields)");
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(9, out, olen, "out must be a Float64Array(2)");
    if (olen < 2) return ThrowArg(env, "out must be a Float64Array(2)");
    if (!(offset >= 0 && offset <= double(len) && offset == std::trunc(offset))) return ThrowArg(env, "offset is outside the frame");
    if (!(count >= 0 && count <= double(len) && count == std::trunc(count))) return ThrowArg(env, "n must be a count no larger than the frame");
    REQUIRE_ARGUMENT_TIME(5, now);
    const size_t n = size_t(count);
    const size_t nkeys = st->tables.size();
    if (klen < n * nkeys || tlen < n || vlen < n * size_t(st->nfields)) return ThrowArg(env, "an output array is too short for n rows");
    const int nplan = int(plen / 4);
    thread_local std::vector<RowColumn> cols;
    cols.resize(size_t(nplan));
    std::string why;
    if (!CheckPlan(plan, nplan, *st, cols.data(), &why)) return ThrowArg(env, why);
    if (n > 0 && nplan == 0) return ThrowArg(env, "events need at least one column");
    uint64_t* keys[kMaxKeyColumns];
    for (size_t k = 0; k < nkeys; k++) keys[k] = keys_out + k * n;
    const double max_ts = now + double(store_->spec().max_future_ms);
    const RowFault f = DecodeRows(frame + size_t(offset), len - size_t(offset), n, cols.data(), nplan, st->nfields, now, max_ts,
                                  keys, ts_out, values_out);
    out[0] = f.event;
    out[1] = f.column;
    return Napi::Number::New(env, int(f.error));
  }

  // A plan's (column, type, role, index) entries as RowColumns, checked: columns in order,
  // one type per column, and every key and field of the stream fed.
  static bool CheckPlan(const int32_t* plan, int nplan, const StreamSpec& st, RowColumn* cols, std::string* why) {
    const size_t nkeys = st.tables.size();
    uint32_t key_seen = 0;
    thread_local std::vector<uint8_t> field_seen;
    field_seen.assign(size_t(st.nfields), 0);
    for (int e = 0; e < nplan; e++) {
      const int column = plan[e * 4], type = plan[e * 4 + 1], role = plan[e * 4 + 2], index = plan[e * 4 + 3];
      auto fail = [&](const char* what) {  // the message is built only for an error
        *why = "plan entry " + std::to_string(e) + ": " + what;
        return false;
      };
      if (column != (e == 0 ? 0 : cols[e - 1].column) && column != (e == 0 ? 0 : cols[e - 1].column + 1))
        return fail("columns must run 0, 1, 2, ... in order");
      if (e > 0 && column == cols[e - 1].column && type != cols[e - 1].type) return fail("one column, two types");
      if ((type != kRowTypeF64 && type != kRowTypeStr16) || role < 0 || role >= int(RowRole::kCount))
        return fail("bad type or role");
      cols[e] = RowColumn{column, type, RowRole(role), index};
      if (cols[e].role == RowRole::KEY) {
        if (index < 0 || size_t(index) >= nkeys) return fail("no such key");
        key_seen |= 1u << index;
      } else if (cols[e].role == RowRole::NUMBER || cols[e].role == RowRole::CATEGORY) {
        if (index < 0 || index >= st.nfields) return fail("no such field");
        field_seen[index] = 1;
      }
    }
    if (key_seen != (1u << nkeys) - 1 || std::count(field_seen.begin(), field_seen.end(), uint8_t(1)) != st.nfields) {
      *why = "plan must feed every key and every field of the stream";
      return false;
    }
    return true;
  }

  // read(table, id: string | bigint, nowMs, out: Float64Array) -> age in ms, NaN if absent
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int t;
    if (!TableArg(info, &t)) return ThrowArg(env, "unknown table");
    const Table& table = store_->table(t);
    REQUIRE_ARGUMENT_TIME(2, now);
    uint64_t key;
    std::string why;
    if (!KeyArg(env, info[1], &key, &why)) return ThrowArg(env, why);
    REQUIRE_ARGUMENT_FLOAT64_ARRAY(3, out, len, "out must be a Float64Array of the table's width");
    if (len < size_t(table.width())) return ThrowArg(env, "out must be a Float64Array of the table's width");
    double age;
    table.Read(key, now, out, &age);
    return Napi::Number::New(env, age);
  }

  // readFn() -> read as a plain function bound to this store (as readJsonToFn: no `this`
  // to unwrap per call; the function holds the store's object). Its arguments are read
  // with one N-API call each, the checks falling out of the calls' statuses (a value of the
  // wrong type fails them), and a string id is hashed from its UTF-16 units when they are
  // ASCII (a plain copy; the UTF-8 encoder costs more). Anything else (a BigInt id, a
  // non-ASCII id, any argument the fast checks refuse) goes through Read, so the answers
  // and errors are read()'s.
  Napi::Value ReadFn(const Napi::CallbackInfo& info) { return Bound<&FeatureStoreWrap::ReadFast>(info, "read"); }

  // A method as a plain function whose data is this wrap (no `this` to unwrap per call),
  // holding the store's object (a property of the function) so that it cannot outlive it.
  template <Napi::Value (FeatureStoreWrap::*M)(const Napi::CallbackInfo&)>
  Napi::Value Bound(const Napi::CallbackInfo& info, const char* name) {
    Napi::Function f = Napi::Function::New(
        info.Env(), [](const Napi::CallbackInfo& i) -> Napi::Value { return (static_cast<FeatureStoreWrap*>(i.Data())->*M)(i); }, name, this);
    f.Set("store", info.This());
    return f;
  }

  Napi::Value ReadFast(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t t;
    double now;
    void* data = nullptr;
    napi_typedarray_type type;
    size_t len = 0;
    if (!store_ || napi_get_value_int32(env, info[0], &t) != napi_ok || t < 0 || t >= store_->table_count() ||
        napi_get_value_double(env, info[2], &now) != napi_ok || !(std::fabs(now) <= kMaxTimeMs) ||
        napi_get_typedarray_info(env, info[3], &type, &len, &data, nullptr, nullptr) != napi_ok || type != napi_float64_array)
      return Read(info);
    // (napi_get_value_int32 truncates a number that is not an int32, as TableArg's
    // Int32Value does: the same table.)
    const Table& table = store_->table(t);
    if (len < size_t(table.width())) return Read(info);
    char16_t id[kMaxIdBytes + 1];
    size_t units = 0;
    if (napi_get_value_string_utf16(env, info[1], id, kMaxIdBytes + 1, &units) != napi_ok || units == 0 ||
        units >= size_t(kMaxIdBytes))  // empty, or maybe cut short: Read says why or hashes
      return Read(info);
    uint64_t key;
    if (!HashAsciiUnits(id, units, &key)) return Read(info);  // UTF-8 differs from the units: hash as Read does
    double age;
    table.Read(key, now, static_cast<double*>(data), &age);
    return Napi::Number::New(env, age);
  }

  // readJson(table, id: string, nowMs, program: Uint8Array, text: Uint8Array) -> bytes of
  //          JSON text written at text[8..], or minus the bytes text must hold (nothing is
  //          read then)
  // Read, then the answer's JSON text written by program (feature_json.h: a header of
  // int32 words [nops, litsAt], the [op, a, b] triples, then the literal bytes at litsAt).
  // The age in ms (NaN if absent) goes in text[0..8] as a float64 (host order); the row
  // itself is read into scratch and never crosses to JS. The program is checked on every
  // call: this is the way for a selection read once (?features=a,b); the GET of all
  // features uses a program kept by jsonProgram and the text kept by jsonText (readJsonTo).
  Napi::Value ReadJson(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int t;
    if (!TableArg(info, &t)) return ThrowArg(env, "unknown table");
    REQUIRE_ARGUMENT_TIME(2, now);
    REQUIRE_ARGUMENT_UINT8_ARRAY(3, pbytes, plen, "program must be a Uint8Array");
    REQUIRE_ARGUMENT_UINT8_ARRAY(4, text, cap, "text must be a Uint8Array");
    if (reinterpret_cast<uintptr_t>(text) % 8 != 0) return ThrowArg(env, "text must be 8-byte aligned");
    JsonProgram p;
    const char* why = CheckJsonProgram(pbytes, plen, store_->table(t).width(), &p);
    if (why) return ThrowArg(env, why);
    return ReadAnswer(info, t, p, now, text, cap, 8);
  }

  // jsonProgram(table, program: Uint8Array) -> a handle for readJsonTo
  // The program (as readJson takes it) is checked and copied once; it is kept as long as
  // this handle (one per entity, for the GET of all its features).
  Napi::Value JsonProgramArg(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int t;
    if (!TableArg(info, &t)) return ThrowArg(env, "unknown table");
    REQUIRE_ARGUMENT_UINT8_ARRAY(1, pbytes, plen, "program must be a Uint8Array");
    KeptProgram k;
    k.table = t;
    k.words.resize((plen + 3) / 4);
    std::memcpy(k.words.data(), pbytes, plen);  // a copy: the caller's bytes may change
    const char* why = CheckJsonProgram(reinterpret_cast<const uint8_t*>(k.words.data()), plen, store_->table(t).width(), &k.p);
    if (why) return ThrowArg(env, why);
    programs_.push_back(std::move(k));
    return Napi::Number::New(env, double(programs_.size() - 1));
  }

  // jsonText(text: Uint8Array, clock: boolean): the buffer readJsonTo writes, kept (a
  // reference holds it) until the next jsonText. The one pointer into JS memory this wrap
  // keeps: its owner (FeatureStore, src/native/binding.ts) never transfers or detaches it.
  // With clock, readJsonTo also writes the times it started and ended (the stage split's
  // marks, read here for less than a JS clock read costs).
  Napi::Value JsonText(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENT_UINT8_ARRAY(0, text, cap, "text must be a Uint8Array");
    if (reinterpret_cast<uintptr_t>(text) % 8 != 0 || cap < kTextHead) return ThrowArg(env, "text must be 8-byte aligned, at least 24 bytes");
    text_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
    text_ = text;
    text_cap_ = cap;
    clock_ = info.Length() > 1 && info[1].ToBoolean().Value();
    return env.Undefined();
  }

  // readJsonToFn() -> readJsonTo as a plain function bound to this store: called as a
  // method, every call unwraps `this` (napi_unwrap: a private-symbol lookup through V8's
  // runtime, about as much as the rest of the call's glue); this one finds the store in its
  // own data, and holds the store's object (a property of the function) so that it cannot
  // outlive it.
  Napi::Value ReadJsonToFn(const Napi::CallbackInfo& info) { return Bound<&FeatureStoreWrap::ReadJsonTo>(info, "readJsonTo"); }

  // clock() -> CLOCK_MONOTONIC in ms: readJsonTo's marks are on this clock (the one
  // performance.now() reads, from another origin: the caller calibrates once)
  Napi::Value Clock(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), MonotonicMs()); }

  static double MonotonicMs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
  }

  // readJsonTo(program: handle, id: string, nowMs) -> readJson's answer, by a program kept
  // by jsonProgram (its table's), into the text kept by jsonText: three plain arguments
  // and no program check per read (each N-API argument read costs about 0.1 us). The text
  // has a 24-byte head: the age, then (with jsonText's clock, else untouched) the call's
  // start and end, clock() ms, as float64s; the answer's text follows.
  Napi::Value ReadJsonTo(const Napi::CallbackInfo& info) {
    const double started = clock_ ? MonotonicMs() : 0;
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) return ThrowArg(env, "program must be a jsonProgram handle");
    const int64_t h = info[0].As<Napi::Number>().Int64Value();
    if (h < 0 || uint64_t(h) >= programs_.size()) return ThrowArg(env, "program must be a jsonProgram handle");
    if (!text_) return ThrowArg(env, "no text buffer: call jsonText first");
    REQUIRE_ARGUMENT_TIME(2, now);
    const KeptProgram& k = programs_[size_t(h)];
    Napi::Value n = ReadAnswer(info, k.table, k.p, now, text_, text_cap_, kTextHead);
    if (clock_) {
      const double marks[2] = {started, MonotonicMs()};
      std::memcpy(text_ + 8, marks, sizeof marks);
    }
    return n;
  }

  // A program checked against its table: where its ops and literals are, and the bytes its
  // text needs apart from the id's (and how many times it writes the id).
  struct JsonProgram {
    const int32_t* ops = nullptr;
    int32_t nops = 0;
    const uint8_t* lits = nullptr;
    size_t nlits = 0;
    size_t need = 8;  // the age first
    size_t ids = 0;
  };
  struct KeptProgram {
    int table = 0;
    std::vector<int32_t> words;  // a copy of the program's bytes, 4-byte aligned
    JsonProgram p;
  };

  // nullptr when the program is well formed for a row of `width`, else why not.
  static const char* CheckJsonProgram(const uint8_t* pbytes, size_t plen, int width, JsonProgram* p) {
    if (plen < 8 || reinterpret_cast<uintptr_t>(pbytes) % 4 != 0) return "program must be a 4-byte aligned Uint8Array with its header";
    const int32_t* head = reinterpret_cast<const int32_t*>(pbytes);
    const int32_t nops = head[0], lits_at = head[1];
    if (nops < 0 || lits_at < 8 + 12 * int64_t(nops) || size_t(lits_at) > plen) return "program: bad header";
    p->ops = head + 2;
    p->nops = nops;
    p->lits = pbytes + lits_at;
    p->nlits = plen - size_t(lits_at);
    for (int32_t i = 0; i < 3 * nops; i += 3) {
      const int32_t op = p->ops[i], a = p->ops[i + 1], b = p->ops[i + 2];
      switch (op) {
        case kJsonLit:
          if (a < 0 || b < 0 || size_t(a) + size_t(b) > p->nlits) return "program: literal out of range";
          p->need += size_t(b);
          break;
        case kJsonAt: case kJsonAge: case kJsonValue: p->need += kJsNumberMaxBytes; break;
        case kJsonFound: p->need += 5; break;
        case kJsonId: p->ids++; break;
        case kJsonList:
          if (b < 0 || b > width) return "program: list out of range";
          p->need += 2 + size_t(b) * (kJsNumberMaxBytes + 1);
          break;
        default: return "program: unknown op";
      }
      if ((op == kJsonValue || op == kJsonList) && (a < 0 || int64_t(a) + (op == kJsonList ? b : 1) > width))
        return "program: value out of range";
    }
    return nullptr;
  }

  // The read and its text for a checked program: info[1] is the id (a string), text holds
  // cap bytes (8-byte aligned), the age at 0 and the text from `head`. Returns the bytes
  // of text, or minus the bytes the buffer must hold (nothing read).
  Napi::Value ReadAnswer(const Napi::CallbackInfo& info, int t, const JsonProgram& p, double now, uint8_t* text, size_t cap, size_t head) {
    Napi::Env env = info.Env();
    const Table& table = store_->table(t);
    if (!info[1].IsString()) return ThrowArg(env, "id must be a string");
    // The id's UTF-16 once (for the text); its hash from the same copy when it is ASCII (its
    // UTF-8 bytes are then its units), else from a UTF-8 read as every other call hashes.
    constexpr size_t kIdUnits = 1024;  // ids are at most 256 UTF-8 bytes (limits.id_bytes)
    char16_t id[kIdUnits + 1];
    size_t units = 0;
    if (napi_get_value_string_utf16(env, info[1], id, kIdUnits + 1, &units) != napi_ok) return ThrowArg(env, "id must be a string");
    if (units == kIdUnits) return ThrowArg(env, "id too long");
    uint64_t key;
    if (!HashAsciiUnits(id, units, &key)) {
      std::string why;
      if (!HashIdValue(env, info[1], &key, &why)) return ThrowArg(env, why);
    }
    const size_t need = p.need - 8 + head + p.ids * JsonStringMaxBytes(units);
    if (need > cap) return Napi::Number::New(env, -double(need));
    const int width = table.width();
    if (row_.size() < size_t(width)) row_.resize(size_t(width));
    const double* out = row_.data();
    double age;
    table.Read(key, now, row_.data(), &age);
    std::memcpy(text, &age, 8);
    const bool found = !std::isnan(age);
    char* w = reinterpret_cast<char*>(text) + head;
    size_t o = 0;
    const int32_t* prog = p.ops;
    const uint8_t* lits = p.lits;
    for (int32_t i = 0; i < 3 * p.nops; i += 3) {
      const int32_t op = prog[i], a = prog[i + 1], b = prog[i + 2];
      switch (op) {
        case kJsonLit: std::memcpy(w + o, lits + a, size_t(b)); o += size_t(b); break;
        case kJsonAt: o += WriteJsonNumber(now, w + o); break;
        case kJsonId: o += WriteJsonString(id, units, w + o); break;
        case kJsonFound:
          std::memcpy(w + o, found ? "true" : "false", found ? 4 : 5);
          o += found ? 4 : 5;
          break;
        case kJsonAge:
          if (found) o += WriteJsonNumber(age, w + o);
          else { std::memcpy(w + o, "null", 4); o += 4; }
          break;
        case kJsonValue:
          if (std::isnan(out[a])) { std::memcpy(w + o, "null", 4); o += 4; }
          else o += WriteJsonNumber(out[a], w + o);
          break;
        case kJsonList:
          w[o++] = '[';
          for (int k = 0; k < b && !std::isnan(out[a + k]); k++) {
            if (k) w[o++] = ',';
            o += WriteJsonNumber(out[a + k], w + o);
          }
          w[o++] = ']';
          break;
      }
    }
    return Napi::Number::New(env, double(o));
  }

  // contains(table, id: string | bigint) -> whether the entity exists (no features computed)
  Napi::Value Contains(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int t;
    if (!TableArg(info, &t)) return ThrowArg(env, "unknown table");
    uint64_t key;
    std::string why;
    if (!KeyArg(env, info[1], &key, &why)) return ThrowArg(env, why);
    return Napi::Boolean::New(env, store_->table(t).Contains(key));
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
    REQUIRE_ARGUMENT_TIME(2, now);
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
    if (!GetKeys(env, info[1], n, &scratch, &keys, &why, /*strings_done=*/!info[1].IsTypedArray())) return ThrowArg(env, why);
    return Napi::Number::New(env, table.ReadMany(keys, n, now, out, ages));
  }

  // layout(table) -> { width, offsets: number[], widths: number[] }
  // exportRows(table, keys: BigUint64Array (n), out: Uint8Array (n x rowBytes),
  //            found: Uint8Array (n)) -> number found. Row i is copied to out[i * rowBytes..]
  // and found[i] set to 1, or found[i] = 0 (out untouched there) when the entity is absent.
  Napi::Value ExportRows(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int t;
    if (!TableArg(info, &t)) return ThrowArg(env, "unknown table");
    const Table& table = store_->table(t);
    constexpr const char* kUsage = "exportRows(table, keys: BigUint64Array, out: Uint8Array, found: Uint8Array)";
    REQUIRE_ARGUMENTS(4, kUsage);
    REQUIRE_ARGUMENT_TYPED(1, uint64_t, napi_biguint64_array, keys, n, kUsage);
    REQUIRE_ARGUMENT_TYPED(2, uint8_t, napi_uint8_array, out, len, kUsage);
    REQUIRE_ARGUMENT_TYPED(3, uint8_t, napi_uint8_array, found, nfound, kUsage);
    const size_t rb = table.layout().row_bytes;
    if (nfound < n || len / rb < n) return ThrowArg(env, "out must hold keys x rowBytes bytes and found keys bytes");
    uint32_t count = 0;
    for (size_t i = 0; i < n; i++) {
      found[i] = table.ExportRow(keys[i], out + i * rb) ? 1 : 0;
      count += found[i];
    }
    return Napi::Number::New(env, count);
  }

  // importRows(table, keys: BigUint64Array (n), rows: Uint8Array (n x rowBytes), nowMs,
  //            result: Uint8Array (n)) -> number inserted. Writer's handle only. result[i]:
  // 1 the row was inserted (the entity was absent), 2 the entity was present (unchanged).
  // The rows must come from a store of the same layout (the caller checks its CRC).
  Napi::Value ImportRows(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!writable_) return ThrowStatus(env, Status::Unavailable("this store handle is read-only"));
    if (restoring_) return ThrowStatus(env, Status::Unavailable("the store is being restored from a snapshot"));
    int t;
    if (!TableArg(info, &t)) return ThrowArg(env, "unknown table");
    Table& table = store_->table(t);
    constexpr const char* kUsage = "importRows(table, keys: BigUint64Array, rows: Uint8Array, nowMs, result: Uint8Array)";
    REQUIRE_ARGUMENTS(5, kUsage);
    REQUIRE_ARGUMENT_TIME(3, now);
    REQUIRE_ARGUMENT_TYPED(1, uint64_t, napi_biguint64_array, keys, n, kUsage);
    REQUIRE_ARGUMENT_TYPED(2, uint8_t, napi_uint8_array, rows, len, kUsage);
    REQUIRE_ARGUMENT_TYPED(4, uint8_t, napi_uint8_array, result, nres, kUsage);
    const size_t rb = table.layout().row_bytes;
    if (nres < n || len / rb < n) return ThrowArg(env, "rows must hold keys x rowBytes bytes and result keys bytes");
    uint32_t inserted = 0;
    for (size_t i = 0; i < n; i++) {
      const ImportResult r = table.ImportRow(keys[i], rows + i * rb, now);
      result[i] = uint8_t(r);
      inserted += r == ImportResult::kInserted;
    }
    return Napi::Number::New(env, inserted);
  }

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
    o.Set("rowBytes", double(table.layout().row_bytes));
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
    o.Set("memRowBytes", double(s.mem_row_bytes));
    o.Set("promoted", double(s.promoted));
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
    if (restoring_) return ThrowStatus(env, Status::Unavailable("the store is being restored from a snapshot"));
    REQUIRE_ARGUMENT_NUMBER(0, now, "sweep(nowMs, maxRows)");
    REQUIRE_ARGUMENT_NUMBER(1, max_rows, "sweep(nowMs, maxRows)");
    // Clamped before the cast (a negative, NaN or huge double cast to uint64 is undefined).
    const uint64_t rows = max_rows > 0 ? uint64_t(std::min(max_rows, 9007199254740992.0)) : 0;
    return Napi::Number::New(env, double(store_->Sweep(now, rows)));
  }

  // snapshot(path) -> Promise<stats>: the cut is now (between two ingest calls); the file is
  // written and fsynced on the thread pool while this thread goes on (snapshot.h).
  Napi::Value Snapshot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!writable_) return ThrowStatus(env, Status::Unavailable("snapshots are taken on the writer's handle"));
    if (restoring_) return ThrowStatus(env, Status::Unavailable("the store is being restored from a snapshot"));
    REQUIRE_ARGUMENT_STRING(0, path, "snapshot(path)");
    return StartSnapshot(env, store_, path);
  }

  // restore(path) -> Promise<stats>: reads a snapshot into this (empty) store on the thread
  // pool; ingest and sweeps are refused until it settles.
  Napi::Value Restore(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!writable_) return ThrowStatus(env, Status::Unavailable("restore needs the writer's handle"));
    if (restoring_) return ThrowStatus(env, Status::Unavailable("the store is being restored from a snapshot"));
    REQUIRE_ARGUMENT_STRING(0, path, "restore(path)");
    return StartRestore(info.This().As<Napi::Object>(), store_, path, &restoring_);
  }

  std::shared_ptr<Store> store_;
  // readJsonTo's kept programs (jsonProgram), its text (jsonText) and the row it reads into
  std::vector<KeptProgram> programs_;
  Napi::ObjectReference text_ref_;
  uint8_t* text_ = nullptr;
  size_t text_cap_ = 0;
  bool clock_ = false;
  static constexpr size_t kTextHead = 24;  // readJsonTo's: the age, its start and end
  std::vector<double> row_;
  bool writable_ = false;
  bool restoring_ = false;  // a restore is running on the thread pool
};

}  // namespace

Napi::Function DefineFeatureStoreWrap(Napi::Env env) { return FeatureStoreWrap::Define(env); }

}  // namespace hotpath
