// Shared by the libFuzzer targets (native/fuzz/*.cc, built by scripts/fuzz-native.sh):
// a reader that turns the fuzzer's bytes into choices, and the store the targets write to
// (the shape of the test config's: a user and a merchant table keyed by one stream with an
// amount, a country and a user id, and a feature of every aggregate).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "../core/feature_store.h"
#include "../core/store_spec.h"

namespace hotpath::fuzz {

// Consumes the input from the front; past the end every read is 0 (never out of bounds).
class Input {
 public:
  Input(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint8_t U8() { return pos_ < n_ ? p_[pos_++] : 0; }
  uint16_t U16() { return uint16_t(U8() | (U8() << 8)); }
  float F32() {
    uint32_t b = uint32_t(U16()) | (uint32_t(U16()) << 16);
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  }
  // The rest of the input, consumed.
  const uint8_t* Rest(size_t* len) {
    const uint8_t* r = p_ + pos_;
    *len = n_ - pos_;
    pos_ = n_;
    return r;
  }
  size_t left() const { return n_ - pos_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

inline FeatureSpec Feature(const char* name, Agg agg, int field, int64_t window_ms, int64_t tile_ms, double param = 0) {
  FeatureSpec f;
  f.name = name;
  f.agg = agg;
  f.field = field;
  f.window_ms = window_ms;
  f.tile_ms = tile_ms;
  f.param = param;
  return f;
}

// Stream 0 keys table 0 (user) and table 1 (merchant); fields: 0 amount (number),
// 1 country (category), 2 user id (category). Small tables, so that eviction runs too.
inline StoreSpec FuzzStoreSpec() {
  StoreSpec spec;
  TableSpec user;
  user.name = "user";
  user.memory_bytes = 256 << 10;
  user.shards = 4;
  user.ttl_ms = 3600 * 1000;
  user.features = {Feature("n_10m", Agg::COUNT, -1, 600000, 60000), Feature("sum_1h", Agg::SUM, 0, 3600000, 300000),
                   Feature("mean_1h", Agg::MEAN, 0, 3600000, 300000), Feature("min_1h", Agg::MIN, 0, 3600000, 300000),
                   Feature("max_1h", Agg::MAX, 0, 3600000, 300000), Feature("std_1h", Agg::STDDEV, 0, 3600000, 300000),
                   Feature("last", Agg::LAST, 0, 0, 0), Feature("countries", Agg::DISTINCT, 1, 86400000, 3600000, 10),
                   Feature("last3", Agg::LAST_N, 1, 0, 0, 3), Feature("ewm", Agg::EWM, 0, 0, 0, 60000)};
  TableSpec merchant;
  merchant.name = "merchant";
  merchant.memory_bytes = 128 << 10;
  merchant.shards = 2;
  merchant.features = {Feature("n_1m", Agg::COUNT, -1, 60000, 5000), Feature("users_1h", Agg::DISTINCT, 2, 3600000, 600000, 8)};
  spec.tables = {user, merchant};
  StreamSpec s;
  s.name = "tx";
  s.nfields = 3;
  s.lateness_ms = 3600 * 1000;
  s.tables = {0, 1};
  spec.streams = {s};
  spec.max_future_ms = 10000;
  return spec;
}

inline std::shared_ptr<Store> NewStore() {
  std::shared_ptr<Store> st;
  const Status s = Store::Create(FuzzStoreSpec(), &st);
  if (!s.ok()) std::abort();  // the spec above is valid: a refusal is a bug
  return st;
}

// A fixed clock: each input runs alone on a fresh store, so runs replay exactly.
constexpr double kNowMs = 1714564800000.0;

}  // namespace hotpath::fuzz
