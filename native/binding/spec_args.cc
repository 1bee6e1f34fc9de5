#include "spec_args.h"

#include <cmath>

#include "args.h"
#include "../core/row_layout.h"

namespace hotpath {
namespace {

double Num(Napi::Object obj, const char* k, double dflt) { return NumProp(obj, k, dflt, -1e15, 1e15); }
std::string Str(Napi::Object obj, const char* k) {
  Napi::Value v = obj.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

bool StreamArg(Napi::Value v, uint32_t i, StreamSpec* s, std::string* why) {
  if (!v.IsObject()) {
    *why = "stream " + std::to_string(i) + " is not an object";
    return false;
  }
  Napi::Object so = v.As<Napi::Object>();
  s->name = Str(so, "name");
  s->nfields = int(Num(so, "fields", 0));
  s->lateness_ms = int64_t(Num(so, "latenessMs", 0));
  Napi::Value st = so.Get("tables");
  if (!st.IsArray()) {
    *why = "stream " + s->name + ": tables must be an array";
    return false;
  }
  Napi::Array sta = st.As<Napi::Array>();
  for (uint32_t k = 0; k < sta.Length(); k++) {
    Napi::Value tv = sta.Get(k);
    if (!tv.IsNumber()) {
      *why = "stream " + s->name + ": table indices must be numbers";
      return false;
    }
    s->tables.push_back(tv.As<Napi::Number>().Int32Value());
  }
  return true;
}

bool FeatureArg(Napi::Value v, const std::string& table, uint32_t k, FeatureSpec* f, std::string* why) {
  if (!v.IsObject()) {
    *why = "table " + table + ": feature " + std::to_string(k) + " is not an object";
    return false;
  }
  Napi::Object fo = v.As<Napi::Object>();
  f->name = Str(fo, "name");
  const double agg = Num(fo, "agg", -1);
  if (!(agg >= 0 && agg < double(Agg::kCount))) {
    *why = "table " + table + ": feature " + f->name + ": unknown aggregate";
    return false;
  }
  f->agg = Agg(uint8_t(agg));
  f->stream = int(Num(fo, "stream", -1));
  f->field = int(Num(fo, "field", -1));
  f->window_ms = int64_t(Num(fo, "windowMs", 0));
  f->tile_ms = int64_t(Num(fo, "tileMs", 0));
  f->param = Num(fo, "param", 0);
  return true;
}

bool TableArg(Napi::Value v, uint32_t i, TableSpec* t, std::string* why) {
  if (!v.IsObject()) {
    *why = "table " + std::to_string(i) + " is not an object";
    return false;
  }
  Napi::Object to = v.As<Napi::Object>();
  t->name = Str(to, "name");
  t->ttl_ms = int64_t(Num(to, "ttlMs", 0));
  t->memory_bytes = uint64_t(Num(to, "memoryBytes", double(t->memory_bytes)));
  t->shards = int(Num(to, "shards", t->shards));
  const double slots = Num(to, "compactSlots", t->compact_slots);
  if (!(slots >= -1 && slots <= row::kMaxSparseSlots) || slots != std::floor(slots)) {
    *why = "table " + t->name + ": compactSlots must be -1 (picked), 0 (rows in wire form) or 1.." +
           std::to_string(row::kMaxSparseSlots);
    return false;
  }
  t->compact_slots = int(slots);
  Napi::Value hp = to.Get("hugePages");
  if (hp.IsBoolean()) t->huge_pages = hp.As<Napi::Boolean>().Value();
  Napi::Value fv = to.Get("features");
  if (!fv.IsArray()) {
    *why = "table " + t->name + ": features must be an array";
    return false;
  }
  Napi::Array fa = fv.As<Napi::Array>();
  for (uint32_t k = 0; k < fa.Length(); k++) {
    FeatureSpec f;
    if (!FeatureArg(fa.Get(k), t->name, k, &f, why)) return false;
    t->features.push_back(std::move(f));
  }
  return true;
}

}  // namespace

bool StoreSpecArg(Napi::Object o, StoreSpec* spec, std::string* why) {
  spec->max_future_ms = int64_t(Num(o, "maxFutureMs", double(spec->max_future_ms)));
  Napi::Value tables = o.Get("tables"), streams = o.Get("streams");
  if (!tables.IsArray() || !streams.IsArray()) {
    *why = "tables and streams must be arrays";
    return false;
  }
  Napi::Array ta = tables.As<Napi::Array>(), sa = streams.As<Napi::Array>();
  for (uint32_t i = 0; i < sa.Length(); i++) {
    StreamSpec s;
    if (!StreamArg(sa.Get(i), i, &s, why)) return false;
    spec->streams.push_back(std::move(s));
  }
  for (uint32_t i = 0; i < ta.Length(); i++) {
    TableSpec t;
    if (!TableArg(ta.Get(i), i, &t, why)) return false;
    spec->tables.push_back(std::move(t));
  }
  return true;
}

}  // namespace hotpath
