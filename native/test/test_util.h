// The C++ core tests' harness: check macros (each failing check prints file:line) and the
// helpers the test files share. Header-only; every test file includes it.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "../core/feature_store.h"
#include "../core/status.h"

using namespace hotpath;

// ---------------------------------------------------------------------------------------
// Minimal check macros

namespace hptest {

// n draws of N(0, sd^2): the random layers and inputs of the model tests.
inline std::vector<float> Normal(std::mt19937& rng, size_t n, float sd) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline int g_passed = 0;
inline int g_failed = 0;
inline std::atomic<int> g_thread_failures{0};  // counted by reader threads, folded in afterwards

inline void Record(bool ok, const char* file, int line, const std::string& what) {
  if (ok) {
    g_passed++;
    return;
  }
  g_failed++;
  std::printf("FAIL %s:%d: %s\n", file, line, what.c_str());
  std::fflush(stdout);
}

inline std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

inline bool Near(double got, double want, double tol) {
  if (std::isnan(got) || std::isnan(want)) return false;
  if (got == want) return true;  // also equal infinities
  return std::fabs(got - want) <= tol;
}

inline bool NearRel(double got, double want, double rel) {
  if (std::isnan(got) || std::isnan(want)) return false;
  if (got == want) return true;
  return std::fabs(got - want) <= rel * std::max(std::fabs(got), std::fabs(want));
}

}  // namespace hptest

#define CHECK(cond) Record(bool(cond), __FILE__, __LINE__, #cond)
#define CHECK_EQ(got, want)                                                                 \
  do {                                                                                      \
    const double _g = double(got), _w = double(want);                                       \
    Record(_g == _w, __FILE__, __LINE__,                                                    \
           std::string(#got " == " #want " (got ") + Num(_g) + ", want " + Num(_w) + ")"); \
  } while (0)
#define CHECK_NEAR(got, want, tol)                                                        \
  do {                                                                                    \
    const double _g = double(got), _w = double(want);                                     \
    Record(Near(_g, _w, (tol)), __FILE__, __LINE__,                                       \
           std::string(#got " ~= " #want " (got ") + Num(_g) + ", want " + Num(_w) +      \
               ", tol " + Num(tol) + ")");                                                \
  } while (0)
#define CHECK_NAN(got)                                                                      \
  do {                                                                                      \
    const double _g = double(got);                                                          \
    Record(std::isnan(_g), __FILE__, __LINE__, std::string(#got " is NaN (got ") + Num(_g) + ")"); \
  } while (0)
#define CHECK_OK(expr)                                                                    \
  do {                                                                                    \
    const Status _s = (expr);                                                             \
    Record(_s.ok(), __FILE__, __LINE__,                                                   \
           std::string(#expr " is OK (got ") + _s.code_name() + ": " + _s.message() + ")"); \
  } while (0)
#define CHECK_CODE(expr, want)                                                             \
  do {                                                                                     \
    const Status _s = (expr);                                                              \
    Record(_s.code() == (want), __FILE__, __LINE__,                                        \
           std::string(#expr " gives " #want " (got ") + _s.code_name() + ": " + _s.message() + ")"); \
  } while (0)

// ---------------------------------------------------------------------------------------
// Helpers

namespace hptest {

using Code = Status::Code;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Entity id hashes: well mixed, as the front end's id hash would be.
inline uint64_t Key(uint64_t i) {
  uint64_t x = i + 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline FeatureSpec Feature(const std::string& name, Agg agg, int field, int64_t window_ms = 0,
                    int64_t tile_ms = 0, double param = 0) {
  FeatureSpec f;
  f.name = name;
  f.agg = agg;
  f.stream = 0;
  f.field = field;
  f.window_ms = window_ms;
  f.tile_ms = tile_ms;
  f.param = param;
  return f;
}

// One table keyed by one stream with nfields value columns.
inline StoreSpec OneTable(std::vector<FeatureSpec> features, int nfields, int64_t lateness_ms = 0,
                   int64_t ttl_ms = 0, uint64_t memory_bytes = 4ull << 20, int shards = 8) {
  StoreSpec spec;
  TableSpec t;
  t.name = "t";
  t.ttl_ms = ttl_ms;
  t.memory_bytes = memory_bytes;
  t.shards = shards;
  t.features = std::move(features);
  spec.tables.push_back(t);
  StreamSpec s;
  s.name = "s";
  s.nfields = nfields;
  s.lateness_ms = lateness_ms;
  s.tables = {0};
  spec.streams.push_back(s);
  return spec;
}

inline std::shared_ptr<Store> MakeStore(const StoreSpec& spec) {
  std::shared_ptr<Store> st;
  const Status s = Store::Create(spec, &st);
  if (!s.ok()) {
    std::printf("FATAL: Store::Create: %s: %s\n", s.code_name(), s.message().c_str());
    std::exit(2);
  }
  return st;
}

// A batch of events for a stream keyed by a single table.
struct Batch {
  int nfields;
  std::vector<uint64_t> keys;
  std::vector<double> ts, values;
  explicit Batch(int nf) : nfields(nf) {}
  Batch& Add(uint64_t key, double t, std::vector<double> vals) {
    keys.push_back(key);
    ts.push_back(t);
    vals.resize(size_t(nfields), 0.0);
    values.insert(values.end(), vals.begin(), vals.end());
    return *this;
  }
  Status Ingest(Store& st, double now_ms, IngestResult* r = nullptr) const {
    IngestResult local;
    const uint64_t* k[1] = {keys.data()};
    return st.Ingest(0, keys.size(), k, ts.data(), values.data(), now_ms, r ? r : &local);
  }
};

struct ReadOut {
  bool found = false;
  double age = 0;
  std::vector<double> v;
  double operator[](int i) const { return v[size_t(i)]; }
};

inline ReadOut Read(const Table& t, uint64_t key, double now_ms) {
  ReadOut r;
  r.v.assign(size_t(t.width()), -12345.0);
  r.found = t.Read(key, now_ms, r.v.data(), &r.age);
  return r;
}

inline bool SameOutput(const ReadOut& a, const ReadOut& b) {
  if (a.found != b.found || a.v.size() != b.v.size()) return false;
  if (!(a.age == b.age || (std::isnan(a.age) && std::isnan(b.age)))) return false;
  for (size_t i = 0; i < a.v.size(); i++)
    if (!(a.v[i] == b.v[i] || (std::isnan(a.v[i]) && std::isnan(b.v[i])))) return false;
  return true;
}

// Runs a test in a child process, so that a crash in the core is reported as one failed
// check (with its signal) instead of ending the whole run. The child's own failing checks
// are printed by the child.
inline void RunInChild(const char* name, void (*test)(), const char* file, int line) {
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    Record(false, file, line, std::string(name) + ": fork failed");
    return;
  }
  if (pid == 0) {
    test();
    std::fflush(stdout);
    _exit(g_failed > 0 ? 1 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    Record(false, file, line, std::string(name) + " crashed with signal " + std::to_string(WTERMSIG(status)));
  } else {
    Record(WIFEXITED(status) && WEXITSTATUS(status) == 0, file, line,
           std::string(name) + " (exit status " + std::to_string(WEXITSTATUS(status)) + ")");
  }
}

}  // namespace hptest

#define RUN(test)                      \
  do {                                 \
    std::printf("== %s\n", #test);     \
    std::fflush(stdout);               \
    test();                            \
  } while (0)
