#include "covisit.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "crc32c.h"
#include "hash.h"

namespace hotpath {

namespace {

constexpr uint32_t kCovisitMagic = 0x56435048u;  // "HPCV" read as little-endian u32
constexpr int kUserProbes = 16;
constexpr double kMaxSafe = 9007199254740991.0;

size_t PowerOfTwoAtLeast(uint64_t n) {
  size_t s = 1;
  while (s < n) s <<= 1;
  return s;
}

bool IsItem(double v) { return std::isfinite(v) && std::fabs(v) <= kMaxSafe && v == std::floor(v); }

class Out {
 public:
  template <class T>
  void Put(T v) {
    const size_t at = b_.size();
    b_.resize(at + sizeof(T));
    std::memcpy(b_.data() + at, &v, sizeof(T));
  }
  std::vector<uint8_t>& bytes() { return b_; }

 private:
  std::vector<uint8_t> b_;
};

class In {
 public:
  In(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  template <class T>
  bool Get(T* v) {
    if (n_ - at_ < sizeof(T)) return false;
    std::memcpy(v, p_ + at_, sizeof(T));
    at_ += sizeof(T);
    return true;
  }
  bool done() const { return at_ == n_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t at_ = 0;
};

}  // namespace

Status CovisitParams::Validate() const {
  if (max_items < 1 || max_items > kCovisitMaxItems) return Status::InvalidArg("covisit max_items must be in [1, " + std::to_string(kCovisitMaxItems) + "]");
  if (max_users < 1 || max_users > kCovisitMaxUsers) return Status::InvalidArg("covisit max_users must be in [1, " + std::to_string(kCovisitMaxUsers) + "]");
  if (neighbours < 1 || neighbours > kCovisitMaxNeighbours) return Status::InvalidArg("covisit neighbours must be in [1, " + std::to_string(kCovisitMaxNeighbours) + "]");
  if (window < 1 || window > kCovisitMaxWindow) return Status::InvalidArg("covisit window must be in [1, " + std::to_string(kCovisitMaxWindow) + "]");
  if (!(half_life_ms > 0) || !std::isfinite(half_life_ms)) return Status::InvalidArg("covisit half_life must be > 0");
  return Status::Ok();
}

Status Covisit::Create(const CovisitParams& p, std::unique_ptr<Covisit>* out) {
  HP_RETURN_IF_ERROR(p.Validate());
  out->reset(new Covisit(p));
  return Status::Ok();
}

Covisit::Covisit(const CovisitParams& p) : p_(p), M_(uint32_t(p.neighbours)), W_(uint32_t(p.window)) {
  const size_t items = size_t(p.max_items);
  value_.assign(items, 0);
  category_.assign(items, std::nan(""));
  pop_.assign(items, 0);
  nb_count_.assign(items, 0);
  nb_item_.assign(items * M_, -1);
  nb_w_.assign(items * M_, 0);
  index_.assign(PowerOfTwoAtLeast(uint64_t(items) * 2), -1);
  index_mask_ = index_.size() - 1;
  const size_t users = PowerOfTwoAtLeast(uint64_t(p.max_users));
  user_key_.assign(users, 0);
  user_t_.assign(users, 0);
  user_len_.assign(users, 0);
  user_head_.assign(users, 0);
  user_items_.assign(users * W_, -1);
  user_mask_ = users - 1;
  top_.assign(kCovisitTopPopular, -1);
  in_top_.assign(items, 0);
  score_.assign(items, 0);
  stamp_.assign(items, 0);
  touched_.assign(size_t(kCovisitMaxHistory) * M_, 0);
  heap_.assign(kCovisitMaxK, 0);
}

int32_t Covisit::Find(double item) const {
  if (item == 0) item = 0;  // -0
  for (size_t s = HashDouble(item) & index_mask_;; s = (s + 1) & index_mask_) {
    const int32_t i = index_[s];
    if (i < 0) return -1;
    if (value_[size_t(i)] == item) return i;
  }
}

int32_t Covisit::Intern(double item) {
  if (item == 0) item = 0;
  size_t s = HashDouble(item) & index_mask_;
  for (;; s = (s + 1) & index_mask_) {
    const int32_t i = index_[s];
    if (i < 0) break;
    if (value_[size_t(i)] == item) return i;
  }
  if (n_items_ >= uint64_t(p_.max_items)) return -1;
  const int32_t i = int32_t(n_items_++);
  index_[s] = i;
  value_[size_t(i)] = item;
  return i;
}

int32_t Covisit::FindUser(uint64_t user) const {
  const uint64_t key = user ? user : 1;
  const size_t h = Mix64(key) & user_mask_;
  for (int q = 0; q < kUserProbes; q++) {
    const size_t s = (h + size_t(q)) & user_mask_;
    if (user_key_[s] == key) return int32_t(s);
    if (user_key_[s] == 0) return -1;
  }
  return -1;
}

int32_t Covisit::UserSlot(uint64_t user, double t) {
  const uint64_t key = user ? user : 1;  // 0 marks an empty slot
  const size_t h = Mix64(key) & user_mask_;
  size_t oldest = h;
  for (int q = 0; q < kUserProbes; q++) {
    const size_t s = (h + size_t(q)) & user_mask_;
    if (user_key_[s] == key) return int32_t(s);
    if (user_key_[s] == 0) {
      user_key_[s] = key;
      n_users_++;
      return int32_t(s);
    }
    if (user_t_[s] < user_t_[oldest]) oldest = s;
  }
  // No free slot within reach: the least recently active user there is forgotten.
  user_key_[oldest] = key;
  user_len_[oldest] = 0;
  user_head_[oldest] = 0;
  user_t_[oldest] = t;
  st_.evicted_users++;
  return int32_t(oldest);
}

double Covisit::Decay(double now_ms) const {
  if (!has_t0_) return 1;
  return std::exp2(-(now_ms - t0_) / p_.half_life_ms);
}

void Covisit::Rescale(double t) {
  const float f = float(std::exp2(-(t - t0_) / p_.half_life_ms));
  for (size_t i = 0; i < n_items_; i++) {
    pop_[i] *= f;
    float* w = &nb_w_[i * M_];
    for (uint32_t m = 0; m < nb_count_[i]; m++) w[m] *= f;
  }
  t0_ = t;
  st_.rescales++;
}

double Covisit::Increment(double t) {
  if (!has_t0_) {
    has_t0_ = true;
    t0_ = t;
  }
  double e = (t - t0_) / p_.half_life_ms;
  if (e > kRescaleExponent) {
    Rescale(t);
    e = 0;
  }
  return e < -1000 ? 0 : std::exp2(e);
}

void Covisit::AddNeighbour(int32_t a, int32_t b, float w) {
  int32_t* items = &nb_item_[size_t(a) * M_];
  float* ws = &nb_w_[size_t(a) * M_];
  const uint32_t n = nb_count_[size_t(a)];
  for (uint32_t m = 0; m < n; m++) {
    if (items[m] == b) {
      ws[m] += w;
      return;
    }
  }
  if (n < M_) {
    items[n] = b;
    ws[n] = w;
    nb_count_[size_t(a)] = uint16_t(n + 1);
    return;
  }
  uint32_t lo = 0;
  for (uint32_t m = 1; m < n; m++)
    if (ws[m] < ws[lo]) lo = m;
  items[lo] = b;
  ws[lo] += w;  // Space-Saving: the newcomer inherits the evicted weight
}

void Covisit::TouchPopular(int32_t i) {
  // Weights only grow (in the shared time base), so the list stays the exact top.
  int& n_top = n_top_;
  auto recompute_min = [&] {
    top_min_ = 0;
    for (int q = 1; q < n_top; q++)
      if (pop_[size_t(top_[size_t(q)])] < pop_[size_t(top_[size_t(top_min_)])]) top_min_ = q;
  };
  if (in_top_[size_t(i)]) {
    if (top_[size_t(top_min_)] == i) recompute_min();
    return;
  }
  if (n_top < kCovisitTopPopular) {
    top_[size_t(n_top)] = i;
    in_top_[size_t(i)] = 1;
    n_top++;
    if (top_min_ < 0 || pop_[size_t(i)] < pop_[size_t(top_[size_t(top_min_)])]) top_min_ = n_top - 1;
    return;
  }
  if (pop_[size_t(i)] > pop_[size_t(top_[size_t(top_min_)])]) {
    in_top_[size_t(top_[size_t(top_min_)])] = 0;
    top_[size_t(top_min_)] = i;
    in_top_[size_t(i)] = 1;
    recompute_min();
  }
}

Status Covisit::Update(const uint64_t* users, const double* items, const double* categories, const double* ts, size_t n) {
  for (size_t e = 0; e < n; e++) {
    if (!IsItem(items[e])) return Status::InvalidArg("covisit item " + std::to_string(e) + " is not a category value (a safe integer)");
    if (!std::isfinite(ts[e]) || std::fabs(ts[e]) > kMaxTimeMs) return Status::InvalidArg("covisit time " + std::to_string(e) + " is not a time");
  }
  for (size_t e = 0; e < n; e++) {
    const int32_t i = Intern(items[e]);
    if (i < 0) {
      st_.refused++;
      continue;
    }
    if (categories && !std::isnan(categories[e])) category_[size_t(i)] = categories[e];
    const double t = ts[e];
    const float inc = float(Increment(t));
    pop_[size_t(i)] += inc;
    TouchPopular(i);
    const int32_t u = UserSlot(users[e], t);
    user_t_[size_t(u)] = std::max(user_t_[size_t(u)], t);
    int32_t* ring = &user_items_[size_t(u) * W_];
    const uint32_t len = user_len_[size_t(u)];
    const uint32_t head = user_head_[size_t(u)];
    st_.updates++;
    if (len > 0 && ring[(head + W_ - 1) % W_] == i) continue;  // the same item again: no pairs
    for (uint32_t q = 0; q < len; q++) {
      const int32_t j = ring[(head + W_ - 1 - q) % W_];
      if (j == i) continue;
      bool seen = false;
      for (uint32_t r = 0; r < q && !seen; r++) seen = ring[(head + W_ - 1 - r) % W_] == j;
      if (seen) continue;
      AddNeighbour(j, i, inc);
      if (p_.symmetric) AddNeighbour(i, j, inc);
      st_.pairs++;
    }
    ring[head] = i;
    user_head_[size_t(u)] = uint8_t((head + 1) % W_);
    user_len_[size_t(u)] = uint8_t(std::min(len + 1, W_));
  }
  return Status::Ok();
}

Status Covisit::Recommend(const CovisitQuery& q, CovisitResult* r) {
  if (q.k < 1 || q.k > kCovisitMaxK) return Status::InvalidArg("k must be in [1, " + std::to_string(kCovisitMaxK) + "]");
  if (q.n_history > size_t(kCovisitMaxHistory)) return Status::InvalidArg("at most " + std::to_string(kCovisitMaxHistory) + " history items");
  if (q.n_exclude > size_t(kCovisitMaxK)) return Status::InvalidArg("at most " + std::to_string(kCovisitMaxK) + " excluded items");
  if (!std::isfinite(q.now_ms)) return Status::InvalidArg("now must be finite");
  if (!(q.recency >= 0 && q.recency <= 1)) return Status::InvalidArg("recency must be in [0, 1]");
  r->count = 0;
  r->from_covisit = 0;
  if (++epoch_ == 0) {
    std::fill(stamp_.begin(), stamp_.end(), 0u);
    epoch_ = 1;
  }
  for (size_t e = 0; e < q.n_exclude; e++) {
    if (!IsItem(q.exclude[e])) continue;
    const int32_t i = Find(q.exclude[e]);
    if (i >= 0) stamp_[size_t(i)] = epoch_;
  }
  const bool by_category = !std::isnan(q.category);
  auto eligible = [&](int32_t c) { return stamp_[size_t(c)] != epoch_ && (!by_category || category_[size_t(c)] == q.category); };

  // Candidates: the neighbours of the history items, weighted by recency.
  size_t n_touched = 0;
  double rw = 1;
  for (size_t h = 0; h < q.n_history; h++, rw *= q.recency) {
    if (!IsItem(q.history[h])) continue;
    const int32_t a = Find(q.history[h]);
    if (a < 0) continue;
    const int32_t* items = &nb_item_[size_t(a) * M_];
    const float* ws = &nb_w_[size_t(a) * M_];
    for (uint32_t m = 0; m < nb_count_[size_t(a)]; m++) {
      const float add = float(ws[m] * rw);
      if (!(add > 0)) continue;
      const int32_t b = items[m];
      if (score_[size_t(b)] == 0) touched_[n_touched++] = b;
      score_[size_t(b)] += add;
    }
  }

  // Top k: a min-heap of the best so far (its front the worst), then sorted best first.
  int32_t* heap = heap_.data();
  auto select = [&](const float* s, auto&& each) {
    auto better = [s](int32_t a, int32_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); };
    const int want = q.k - r->count;
    int h = 0;
    each([&](int32_t c) {
      if (h < want) {
        heap[h++] = c;
        std::push_heap(heap, heap + h, better);
      } else if (better(c, heap[0])) {
        std::pop_heap(heap, heap + h, better);
        heap[h - 1] = c;
        std::push_heap(heap, heap + h, better);
      }
    });
    std::sort_heap(heap, heap + h, better);
    return h;
  };

  const double decay = Decay(q.now_ms);
  const int got = select(score_.data(), [&](auto&& take) {
    for (size_t t = 0; t < n_touched; t++)
      if (eligible(touched_[t])) take(touched_[t]);
  });
  for (int g = 0; g < got; g++) {
    const int32_t c = heap[g];
    r->items[r->count] = value_[size_t(c)];
    r->scores[r->count] = score_[size_t(c)] * decay;
    r->source[r->count] = uint8_t(kCovisitSourceCovisit);
    stamp_[size_t(c)] = epoch_;
    r->count++;
  }
  for (size_t t = 0; t < n_touched; t++) score_[size_t(touched_[t])] = 0;
  r->from_covisit = r->count;
  if (!q.popular_fill || r->count >= q.k) return Status::Ok();

  // Popular fill: from the kept list, or a scan of every item when filters leave it short.
  const int want = q.k - r->count;
  const int n_top = n_top_;
  int pop_got = select(pop_.data(), [&](auto&& take) {
    for (int t = 0; t < n_top; t++)
      if (pop_[size_t(top_[size_t(t)])] > 0 && eligible(top_[size_t(t)])) take(top_[size_t(t)]);
  });
  if (pop_got < want && uint32_t(n_top) < n_items_) {
    pop_got = select(pop_.data(), [&](auto&& take) {
      for (uint32_t c = 0; c < n_items_; c++)
        if (pop_[c] > 0 && eligible(int32_t(c))) take(int32_t(c));
    });
  }
  for (int g = 0; g < pop_got; g++) {
    const int32_t c = heap[g];
    r->items[r->count] = value_[size_t(c)];
    r->scores[r->count] = pop_[size_t(c)] * decay;
    r->source[r->count] = uint8_t(kCovisitSourcePopular);
    r->count++;
  }
  return Status::Ok();
}

double Covisit::PairWeight(double a, double b, double now_ms) const {
  const int32_t i = Find(a), j = Find(b);
  if (i < 0 || j < 0) return 0;
  for (uint32_t m = 0; m < nb_count_[size_t(i)]; m++)
    if (nb_item_[size_t(i) * M_ + m] == j) return nb_w_[size_t(i) * M_ + m] * Decay(now_ms);
  return 0;
}

double Covisit::Popularity(double a, double now_ms) const {
  const int32_t i = Find(a);
  return i < 0 ? 0 : pop_[size_t(i)] * Decay(now_ms);
}

int Covisit::UserItems(uint64_t user, double* out) const {
  const int32_t u = FindUser(user);
  if (u < 0) return 0;
  const uint32_t len = user_len_[size_t(u)], head = user_head_[size_t(u)];
  for (uint32_t q = 0; q < len; q++) out[q] = value_[size_t(user_items_[size_t(u) * W_ + (head + W_ - 1 - q) % W_])];
  return int(len);
}

CovisitStats Covisit::stats() const {
  CovisitStats s = st_;
  s.items = n_items_;
  s.users = n_users_;
  s.bytes = value_.size() * 8 * 2 + pop_.size() * 4 + nb_count_.size() * 2 + nb_item_.size() * 8 + index_.size() * 4 +
            user_key_.size() * (8 + 8 + 2) + user_items_.size() * 4 + in_top_.size() + score_.size() * 8;
  return s;
}

void Covisit::Clear() {
  n_items_ = 0;
  std::fill(category_.begin(), category_.end(), std::nan(""));
  std::fill(pop_.begin(), pop_.end(), 0.0f);
  std::fill(nb_count_.begin(), nb_count_.end(), uint16_t(0));
  std::fill(index_.begin(), index_.end(), -1);
  std::fill(user_key_.begin(), user_key_.end(), uint64_t(0));
  std::fill(user_t_.begin(), user_t_.end(), 0.0);
  std::fill(user_len_.begin(), user_len_.end(), uint8_t(0));
  std::fill(user_head_.begin(), user_head_.end(), uint8_t(0));
  std::fill(top_.begin(), top_.end(), -1);
  std::fill(in_top_.begin(), in_top_.end(), uint8_t(0));
  top_min_ = -1;
  n_top_ = 0;
  n_users_ = 0;
  has_t0_ = false;
  t0_ = 0;
  st_ = CovisitStats{};
}

// Blob: magic u32 | version u16 | pad u16 | params | t0 | counters | items | top list |
// users | CRC32C u32 of everything before it.
std::vector<uint8_t> Covisit::Serialize() const {
  Out o;
  o.Put<uint32_t>(kCovisitMagic);
  o.Put<uint16_t>(uint16_t(kCovisitBlobVersion));
  o.Put<uint16_t>(0);
  o.Put<int64_t>(p_.max_items);
  o.Put<int64_t>(p_.max_users);
  o.Put<int32_t>(p_.neighbours);
  o.Put<int32_t>(p_.window);
  o.Put<double>(p_.half_life_ms);
  o.Put<uint8_t>(p_.symmetric ? 1 : 0);
  o.Put<uint8_t>(has_t0_ ? 1 : 0);
  o.Put<double>(t0_);
  o.Put<uint64_t>(st_.updates);
  o.Put<uint64_t>(st_.pairs);
  o.Put<uint64_t>(st_.refused);
  o.Put<uint64_t>(st_.evicted_users);
  o.Put<uint64_t>(st_.rescales);
  o.Put<uint32_t>(n_items_);
  for (size_t i = 0; i < n_items_; i++) {
    o.Put<double>(value_[i]);
    o.Put<double>(category_[i]);
    o.Put<float>(pop_[i]);
    o.Put<uint16_t>(nb_count_[i]);
    for (uint32_t m = 0; m < nb_count_[i]; m++) {
      o.Put<int32_t>(nb_item_[i * M_ + m]);
      o.Put<float>(nb_w_[i * M_ + m]);
    }
  }
  for (int t = 0; t < kCovisitTopPopular; t++) o.Put<int32_t>(top_[size_t(t)]);
  o.Put<uint64_t>(n_users_);
  for (size_t s = 0; s <= user_mask_; s++) {
    if (user_key_[s] == 0) continue;
    o.Put<uint32_t>(uint32_t(s));
    o.Put<uint64_t>(user_key_[s]);
    o.Put<double>(user_t_[s]);
    o.Put<uint8_t>(user_len_[s]);
    o.Put<uint8_t>(user_head_[s]);
    for (uint32_t w = 0; w < W_; w++) o.Put<int32_t>(user_items_[s * W_ + w]);
  }
  std::vector<uint8_t>& b = o.bytes();
  const uint32_t crc = Crc32c(0, b.data(), b.size());
  const size_t at = b.size();
  b.resize(at + 4);
  std::memcpy(b.data() + at, &crc, 4);
  return std::move(b);
}

Status Covisit::Deserialize(const uint8_t* p, size_t n) {
  if (p == nullptr || n < 12) return Status::InvalidArg("co-visitation blob is truncated");
  uint32_t crc;
  std::memcpy(&crc, p + n - 4, 4);
  if (Crc32c(0, p, n - 4) != crc) return Status::InvalidArg("co-visitation blob fails its checksum");
  // Two passes over the body: the first checks everything, the second writes. A refused
  // blob changes nothing.
  for (int apply = 0; apply < 2; apply++) {
    In in(p, n - 4);
    uint32_t magic;
    uint16_t version, pad;
    CovisitParams bp;
    int32_t nb, win;
    uint8_t sym, has_t0;
    double t0;
    CovisitStats st;
    uint32_t n_items;
    const char* bad = "co-visitation blob is truncated";
    if (!in.Get(&magic) || !in.Get(&version) || !in.Get(&pad)) return Status::InvalidArg(bad);
    if (magic != kCovisitMagic) return Status::InvalidArg("not a co-visitation blob (bad magic)");
    if (version != kCovisitBlobVersion) return Status::InvalidArg("co-visitation blob version " + std::to_string(version) + ", expected " + std::to_string(kCovisitBlobVersion));
    if (!in.Get(&bp.max_items) || !in.Get(&bp.max_users) || !in.Get(&nb) || !in.Get(&win) || !in.Get(&bp.half_life_ms) || !in.Get(&sym) || !in.Get(&has_t0) || !in.Get(&t0))
      return Status::InvalidArg(bad);
    if (bp.max_items != p_.max_items || bp.max_users != p_.max_users || nb != p_.neighbours || win != p_.window || bp.half_life_ms != p_.half_life_ms || (sym != 0) != p_.symmetric)
      return Status::InvalidArg("co-visitation blob was made with other parameters (max_items, max_users, neighbours, window, half_life, symmetric)");
    if (!in.Get(&st.updates) || !in.Get(&st.pairs) || !in.Get(&st.refused) || !in.Get(&st.evicted_users) || !in.Get(&st.rescales) || !in.Get(&n_items)) return Status::InvalidArg(bad);
    if (n_items > uint64_t(p_.max_items)) return Status::InvalidArg("co-visitation blob has more items than max_items");
    if (apply) {
      Clear();
      has_t0_ = has_t0 != 0;
      t0_ = t0;
      st_ = st;
      n_items_ = n_items;
    }
    for (size_t i = 0; i < n_items; i++) {
      double value, cat;
      float pop;
      uint16_t count;
      if (!in.Get(&value) || !in.Get(&cat) || !in.Get(&pop) || !in.Get(&count)) return Status::InvalidArg(bad);
      if (!IsItem(value) || count > M_) return Status::InvalidArg("co-visitation blob has a bad item");
      if (apply) {
        value_[i] = value;
        category_[i] = cat;
        pop_[i] = pop;
        nb_count_[i] = count;
      }
      for (uint32_t m = 0; m < count; m++) {
        int32_t b;
        float w;
        if (!in.Get(&b) || !in.Get(&w)) return Status::InvalidArg(bad);
        if (b < 0 || uint32_t(b) >= n_items) return Status::InvalidArg("co-visitation blob has a bad neighbour");
        if (apply) {
          nb_item_[i * M_ + m] = b;
          nb_w_[i * M_ + m] = w;
        }
      }
    }
    for (int t = 0; t < kCovisitTopPopular; t++) {
      int32_t c;
      if (!in.Get(&c)) return Status::InvalidArg(bad);
      if (c >= int32_t(n_items) || c < -1) return Status::InvalidArg("co-visitation blob has a bad popular item");
      if (apply) top_[size_t(t)] = c;
    }
    uint64_t n_users;
    if (!in.Get(&n_users)) return Status::InvalidArg(bad);
    if (n_users > user_mask_ + 1) return Status::InvalidArg("co-visitation blob has more users than slots");
    for (uint64_t u = 0; u < n_users; u++) {
      uint32_t s;
      uint64_t key;
      double t;
      uint8_t len, head;
      if (!in.Get(&s) || !in.Get(&key) || !in.Get(&t) || !in.Get(&len) || !in.Get(&head)) return Status::InvalidArg(bad);
      if (s > user_mask_ || key == 0 || len > W_ || head >= W_) return Status::InvalidArg("co-visitation blob has a bad user");
      if (apply) {
        user_key_[s] = key;
        user_t_[s] = t;
        user_len_[s] = len;
        user_head_[s] = head;
      }
      for (uint32_t w = 0; w < W_; w++) {
        int32_t i;
        if (!in.Get(&i)) return Status::InvalidArg(bad);
        if (i >= int32_t(n_items) || i < -1) return Status::InvalidArg("co-visitation blob has a bad user item");
        if (apply) user_items_[size_t(s) * W_ + w] = i;
      }
    }
    if (!in.done()) return Status::InvalidArg("co-visitation blob has trailing bytes");
    if (apply) {
      n_users_ = n_users;
      RebuildIndex();
    }
  }
  return Status::Ok();
}

void Covisit::RebuildIndex() {
  std::fill(index_.begin(), index_.end(), -1);
  for (uint32_t i = 0; i < n_items_; i++) {
    size_t s = HashDouble(value_[i]) & index_mask_;
    while (index_[s] >= 0) s = (s + 1) & index_mask_;
    index_[s] = int32_t(i);
  }
  n_top_ = 0;
  top_min_ = -1;
  for (int t = 0; t < kCovisitTopPopular && top_[size_t(t)] >= 0; t++, n_top_++) {
    in_top_[size_t(top_[size_t(t)])] = 1;
    if (top_min_ < 0 || pop_[size_t(top_[size_t(t)])] < pop_[size_t(top_[size_t(top_min_)])]) top_min_ = t;
  }
}

}  // namespace hotpath
