#include "ids.h"

#include "../core/constants.h"
#include "../core/hash.h"
#include "args.h"

namespace hotpath {

bool HashIdValue(napi_env env, napi_value v, uint64_t* out, std::string* why) {
  // An ASCII id (the common one) is hashed from its UTF-16 copy: V8 copies a one-byte
  // string's units as they are, where the UTF-8 write checks every character. The bytes
  // hashed are the same (ASCII's UTF-8 is its units); anything else goes the UTF-8 way.
  // (The buffer holds one unit more than an id may have, plus N-API's terminator: a copy
  // of at most kMaxIdBytes units is then the whole string.)
  char16_t units[kMaxIdBytes + 2];
  size_t nu = 0;
  if (napi_get_value_string_utf16(env, v, units, kMaxIdBytes + 2, &nu) == napi_ok && nu <= size_t(kMaxIdBytes) &&
      HashAsciiUnits(units, nu, out))
    return true;
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

bool HashAsciiUnits(const char16_t* id, size_t units, uint64_t* out) {
  if (units == 0 || units > size_t(kMaxIdBytes)) return false;
  char ascii[kMaxIdBytes];
  char16_t any = 0;
  for (size_t i = 0; i < units; i++) {
    any |= id[i];
    ascii[i] = char(id[i]);
  }
  if (any >= 0x80) return false;
  *out = HashBytes(ascii, units);
  return true;
}

bool GetKeys(Napi::Env env, const Napi::Value& v, size_t n, std::vector<uint64_t>* scratch,
             const uint64_t** keys, std::string* why, bool strings_done) {
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

Napi::Value HashIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGUMENT_ARRAY(0, arr, "hashIds(ids: string[])");
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

}  // namespace hotpath
