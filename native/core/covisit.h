// Item-to-item co-visitation counts with time decay, for next-item recommendations.
//
// Items are category values as the store holds them (decode.ts categoryValue, event_rows
// CategoryOfUtf8: an integer id stays itself, a string becomes its 53-bit hash), interned
// into indices 0..max_items-1 by an open-addressing table. Users are 64-bit id hashes, as
// the store hashes entity ids.
//
// Per event (user u, item i, time t): the pair (j, i) is counted for each distinct item j
// among u's last `window` items (and (i, j) too when symmetric), and i's popularity. Every
// count decays with a half-life: an event at time t adds 2^((t - t0) / half_life) in a
// shared time base t0 instead of 1, so a stored weight is the decayed count times
// 2^((now - t0) / half_life) for every item alike. Nothing is ever rescanned to decay it,
// and the ranking of weights never changes with time; a score is reported as the decayed
// count (weight * 2^(-(now - t0) / half_life)). When an event's exponent passes
// kRescaleExponent the whole table is multiplied down once and t0 moves to that event
// (every 2^kRescaleExponent half-lives of event time: rare, deterministic by event times,
// so a replay rescales at the same event).
//
// Each item keeps at most `neighbours` (M) neighbours, a small array with min-replacement:
// a new neighbour of a full item replaces the smallest weight and takes over its weight
// plus its own increment (the Space-Saving rule, Metwally et al. 2005: a weight is never
// under the true decayed count, and a neighbour heavier than 1/M of the item's total is
// never lost). Popularity is kept in the same way per item, and a list of the
// kCovisitTopPopular heaviest items is kept exact per event (weights only grow in the
// shared time base), for the cold-user fallback without a scan.
//
// Each user's last `window` items are a ring in a table of max_users slots (probe up to 16
// slots; when none is free, the slot with the oldest event is taken over).
//
// Memory: everything is allocated by Create; Update and Recommend allocate nothing. A new
// item while the item table is full is refused (the event is counted in refused and
// otherwise skipped). One thread at a time.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "constants.h"
#include "status.h"

namespace hotpath {

struct CovisitParams {
  int64_t max_items = 100000;
  int64_t max_users = 100000;
  int neighbours = 32;
  int window = 5;
  double half_life_ms = 86400000.0;
  bool symmetric = true;
  Status Validate() const;
};

struct CovisitStats {
  uint64_t items = 0;     // interned
  uint64_t users = 0;     // slots in use
  uint64_t updates = 0;   // events counted
  uint64_t pairs = 0;     // pair increments
  uint64_t refused = 0;   // events of a new item while the item table was full
  uint64_t evicted_users = 0;
  uint64_t rescales = 0;
  uint64_t bytes = 0;
};

// One recommend query. history: the user's recent items, most recent first (NaN entries
// are skipped); exclude: items never to return (may overlap history); category: only
// items whose last seen category is this value (NaN: any). recency: the weight of the
// p-th most recent history item is recency^p (1: all alike).
struct CovisitQuery {
  const double* history = nullptr;
  size_t n_history = 0;
  const double* exclude = nullptr;
  size_t n_exclude = 0;
  double category = __builtin_nan("");
  int k = 20;
  double now_ms = 0;
  double recency = 1.0;
  bool popular_fill = true;  // fill up to k with the most popular items
};

// Up to k items, best first: co-visitation candidates, then popular ones.
struct CovisitResult {
  double* items;    // k item values
  double* scores;   // k decayed weights
  uint8_t* source;  // k of kCovisitSource*
  int count = 0;
  int from_covisit = 0;
};

class Covisit {
 public:
  static Status Create(const CovisitParams& p, std::unique_ptr<Covisit>* out);

  const CovisitParams& params() const { return p_; }
  // users[i] (id hash), items[i] (category value, a safe integer), categories[i] (may be
  // null, or NaN: keep the item's category), ts[i] (ms). Non-finite or non-integer items
  // and non-finite times refuse the batch with INVALID_ARG before anything changes.
  Status Update(const uint64_t* users, const double* items, const double* categories, const double* ts, size_t n);
  // Writes up to q.k items into r; never allocates.
  Status Recommend(const CovisitQuery& q, CovisitResult* r);
  // The decayed weight of the pair (a, b) at now (0 if b is not among a's neighbours), and
  // of a's popularity: for tests and the stats route.
  double PairWeight(double a, double b, double now_ms) const;
  double Popularity(double a, double now_ms) const;
  // The user's ring, most recent first (at most window values): for tests.
  int UserItems(uint64_t user, double* out) const;
  CovisitStats stats() const;
  void Clear();
  std::vector<uint8_t> Serialize() const;
  // Refuses a blob of another version or other params (INVALID_ARG), leaving the table
  // unchanged.
  Status Deserialize(const uint8_t* p, size_t n);

  static constexpr double kRescaleExponent = 64;

 private:
  explicit Covisit(const CovisitParams& p);
  int32_t Find(double item) const;           // index or -1
  int32_t Intern(double item);               // index, or -1 when full
  int32_t UserSlot(uint64_t user, double t); // never -1
  int32_t FindUser(uint64_t user) const;
  double Increment(double t);                // 2^((t - t0)/h), rescaling first if needed
  void Rescale(double t);
  void AddNeighbour(int32_t a, int32_t b, float w);
  void TouchPopular(int32_t i);
  double Decay(double now_ms) const;         // 2^(-(now - t0)/h)
  void RebuildIndex();

  CovisitParams p_;
  uint32_t M_;
  uint32_t W_;
  // items
  uint32_t n_items_ = 0;
  std::vector<double> value_;      // per item
  std::vector<double> category_;   // per item, NaN when unknown
  std::vector<float> pop_;         // per item
  std::vector<uint16_t> nb_count_; // per item
  std::vector<int32_t> nb_item_;   // max_items x M
  std::vector<float> nb_w_;        // max_items x M
  std::vector<int32_t> index_;     // slots: item index, -1 empty
  size_t index_mask_;
  // users
  std::vector<uint64_t> user_key_;   // 0 = empty
  std::vector<double> user_t_;
  std::vector<uint8_t> user_len_;
  std::vector<uint8_t> user_head_;   // next write position
  std::vector<int32_t> user_items_;  // slots x W
  size_t user_mask_;
  uint64_t n_users_ = 0;
  // popularity list
  std::vector<int32_t> top_;         // up to kCovisitTopPopular items
  std::vector<uint8_t> in_top_;      // per item
  int n_top_ = 0;
  int32_t top_min_ = -1;             // position in top_ of the lightest
  // time base
  bool has_t0_ = false;
  double t0_ = 0;
  // query scratch
  std::vector<float> score_;         // per item, 0 outside a query
  std::vector<uint32_t> stamp_;      // per item: == epoch_ when excluded or chosen
  uint32_t epoch_ = 0;
  std::vector<int32_t> touched_;     // history x M
  std::vector<int32_t> heap_;        // k
  CovisitStats st_;
};

}  // namespace hotpath
