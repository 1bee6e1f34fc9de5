// Entity ids at the N-API edge: JS strings hashed straight from V8's UTF-8 copy (no
// std::string per id), or BigUint64Array columns of hashes made earlier by hashIds.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hotpath {

// Reads a JS string id and hashes it. Ids that are empty or longer than kMaxIdBytes are
// refused, with *why set.
bool HashIdValue(napi_env env, napi_value v, uint64_t* out, std::string* why);

// The hash of an id given as its UTF-16 units (napi_get_value_string_utf16), when every
// unit is ASCII and there are 1..kMaxIdBytes of them: its UTF-8 bytes are then its units,
// so the hash is HashIdValue's without a second copy of the string. False otherwise (the
// caller hashes through HashIdValue, which also says why an id is refused).
bool HashAsciiUnits(const char16_t* id, size_t units, uint64_t* out);

// A key column: a BigUint64Array of n hashes (from hashIds) or an Array of n string ids,
// hashed into *scratch. Reading an Array's elements can run JS (getters); with
// strings_done, a string column was already hashed into scratch by an earlier call and
// nothing runs. *keys points into the typed array or scratch until the next JS runs.
bool GetKeys(Napi::Env env, const Napi::Value& v, size_t n, std::vector<uint64_t>* scratch,
             const uint64_t** keys, std::string* why, bool strings_done = false);

// Getters on an id array could call back into the addon mid-call; the thread-local
// scratch must not be resized under a caller that still holds pointers into it. A method
// that reads ids into thread-local scratch holds a guard and refuses to run when !ok.
struct ReentryGuard {
  static inline thread_local bool busy = false;  // inline: constant-initialised, no TLS wrapper call
  bool ok;
  ReentryGuard() : ok(!busy) { busy = true; }
  ~ReentryGuard() {
    if (ok) busy = false;
  }
  ReentryGuard(const ReentryGuard&) = delete;
  ReentryGuard& operator=(const ReentryGuard&) = delete;
};

// hashIds(ids: string[]) -> BigUint64Array
Napi::Value HashIds(const Napi::CallbackInfo& info);

}  // namespace hotpath
