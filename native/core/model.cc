#include "model.h"

#include <algorithm>
#include <cmath>

#include "cuda_backend.h"
#include "hash.h"
#include "kernels.h"

namespace hotpath {

namespace {
constexpr double kNaNValue = __builtin_nan("");
}  // namespace

Model::~Model() {
  if (cuda_) CudaDenseDestroy(cuda_);
}

Status Model::Create(int in_dim, std::vector<LayerSpec> layers, int max_batch, Device device,
                     std::unique_ptr<Model>* out, Precision precision, const CudaDenseOptions* cuda) {
  if (in_dim <= 0 || in_dim > (1 << 20)) return Status::InvalidArg("model: input width out of range");
  if (max_batch <= 0 || max_batch > (1 << 16)) return Status::InvalidArg("model: max_batch out of range");
  if (layers.empty()) return Status::InvalidArg("model: no layers");
  std::unique_ptr<Model> m(new Model());
  m->in_dim_ = in_dim;
  m->max_batch_ = max_batch;
  m->precision_ = precision;
  if (uint8_t(precision) > uint8_t(Precision::kBf16)) return Status::InvalidArg("model: unknown precision");
  if (precision == Precision::kInt8 && device != Device::kCpu)
    return Status::InvalidArg("model: precision int8 runs on the cpu device only");
  if ((precision == Precision::kFp16 || precision == Precision::kBf16) && device != Device::kCuda)
    return Status::InvalidArg("model: precision fp16 and bf16 run on the cuda device only");
  std::vector<CudaDenseLayer> device_layers;  // Device::kCuda: views of the fp32 weights below
  int width = in_dim, max_width = in_dim;
  for (size_t i = 0; i < layers.size(); i++) {
    LayerSpec& s = layers[i];
    const std::string where = "model: layer " + std::to_string(i) + ": ";
    if (uint8_t(s.act) >= uint8_t(Act::kCount)) return Status::InvalidArg(where + "unknown activation");
    Layer l{s.kind, width, width, {}, {}, s.act, {}, {}};
    if (s.kind == LayerKind::DENSE) {
      if (s.in != width) return Status::InvalidArg(where + "input width " + std::to_string(s.in) + " != " + std::to_string(width));
      if (s.out <= 0 || s.out > (1 << 20)) return Status::InvalidArg(where + "output width out of range");
      if (s.w.size() != size_t(s.in) * s.out) return Status::InvalidArg(where + "weights are not out x in");
      if (!s.b.empty() && s.b.size() != size_t(s.out)) return Status::InvalidArg(where + "bias is not out long");
      l.out = s.out;
      l.b = s.b.empty() ? std::vector<float>(size_t(s.out), 0.0f) : std::move(s.b);
      width = s.out;
      if (precision == Precision::kInt8) {
        if (s.in > kInt8MaxIn) return Status::InvalidArg(where + "input width is over the int8 limit");
        std::vector<int8_t> wq(s.w.size());
        l.ws.resize(size_t(s.out));
        // Per output channel: the same symmetric quantiser as the activations, one row each.
        QuantizeRowsInt8(s.w.data(), s.out, s.in, wq.data(), l.ws.data());
        l.wqt.resize(wq.size());
        for (int o = 0; o < s.out; o++)
          for (int k = 0; k < s.in; k++) l.wqt[size_t(k) * s.out + o] = wq[size_t(o) * s.in + k];
        max_width = std::max(max_width, width);
        m->layers_.push_back(std::move(l));
        continue;
      }
      l.wt.resize(s.w.size());
      for (int o = 0; o < s.out; o++)
        for (int k = 0; k < s.in; k++) l.wt[size_t(k) * s.out + o] = s.w[size_t(o) * s.in + k];
    } else if (s.kind != LayerKind::ACT && s.kind != LayerKind::SOFTMAX) {
      return Status::InvalidArg(where + "unknown kind");
    }
    max_width = std::max(max_width, width);
    m->layers_.push_back(std::move(l));
    if (device == Device::kCuda)  // s.w is still the out x in original (wt is its transpose)
      device_layers.push_back({s.kind, m->layers_.back().in, m->layers_.back().out, s.w.data(), m->layers_.back().b.data(), s.act});
  }
  if (device == Device::kCuda && CudaProbe().devices == 0)
    return Status::Unavailable("model: device cuda requested but " +
                               (CudaProbe().compiled ? CudaProbe().error : std::string("this build has no CUDA")));
  if (size_t(max_batch) * size_t(max_width) > (size_t(1) << 26))
    return Status::InvalidArg("model: max_batch x widest layer is over 2^26 values of scratch");
  m->out_dim_ = width;
  for (auto& s : m->scratch_) s.resize(size_t(max_batch) * max_width);
  if (precision == Precision::kInt8) {
    m->xq_.resize(size_t(max_batch) * max_width);
    m->xs_.resize(size_t(max_batch));
    m->acc_.resize(size_t(max_width));
  }
  if (device == Device::kCuda) {
    CudaDenseOptions o = cuda ? *cuda : CudaDenseOptions{};
    o.max_batch = max_batch;
    o.math = precision == Precision::kFp16 ? CudaMath::kFp16 : precision == Precision::kBf16 ? CudaMath::kBf16 : CudaMath::kFp32;
    HP_RETURN_IF_ERROR(CudaDenseCreate(in_dim, device_layers.data(), int(device_layers.size()), o, &m->cuda_));
  }
  *out = std::move(m);
  return Status::Ok();
}

Status Model::Forward(const float* x, int batch, float* y) {
  if (batch < 0) return Status::InvalidArg("model: negative batch");
  for (int done = 0; done < batch; done += max_batch_) {
    const int n = std::min(max_batch_, batch - done);
    HP_RETURN_IF_ERROR(Chunk(x + size_t(done) * in_dim_, n, y + size_t(done) * out_dim_));
  }
  return Status::Ok();
}

namespace {

// y[r, :] = act(b + sum_k x[r, k] * wt[k, :]). Each output adds its terms in the order
// k = 0, 1, ... (a multiply, then an add: no fused multiply-add, no reassociated sum), so
// results stay close to onnxruntime's and are the same bits whatever the vector width.
// The outputs go in tiles of 32, 16 and 8, for one row or four at a time, whose sums stay
// in vector registers across the whole k loop (a loop over y itself stored and reloaded
// every output for every k: the compiler cannot keep y in registers while it may alias
// the weights). GCC's vector extensions, not intrinsics: the same code is SSE in the
// default build and AVX2 in the clone below.
typedef float V8 __attribute__((vector_size(32)));
// The same vector at any float's address (unaligned loads and stores, no aliasing rules broken).
typedef float V8u __attribute__((vector_size(32), aligned(4), may_alias));

// Outputs [0, 8 * N) of R rows (x: R rows `in` apart, y: R rows `out` apart): wt, b and y
// start at the tile's first output, weight rows `out` apart. Each weight vector is loaded
// once for the R rows, and the R x N sums are independent chains of adds.
template <int R, int N>
__attribute__((always_inline)) inline void DenseTile(const float* x, int in, int out, const float* wt, const float* b, float* y) {
  V8 acc[R][N];
  for (int r = 0; r < R; r++)
    for (int j = 0; j < N; j++) acc[r][j] = reinterpret_cast<const V8u*>(b)[j];
  for (int k = 0; k < in; k++) {
    const V8u* w = reinterpret_cast<const V8u*>(wt + size_t(k) * out);
    V8 wk[N];
    for (int j = 0; j < N; j++) wk[j] = w[j];
    for (int r = 0; r < R; r++) {
      const float v = x[size_t(r) * in + k];
      const V8 xv = {v, v, v, v, v, v, v, v};
      for (int j = 0; j < N; j++) acc[r][j] += xv * wk[j];
    }
  }
  for (int r = 0; r < R; r++)
    for (int j = 0; j < N; j++) reinterpret_cast<V8u*>(y + size_t(r) * out)[j] = acc[r][j];
}

// R rows: their outputs in tiles (32 wide for one row, 16 for four: at most 8 sums held),
// then the last out % 8 one output at a time, then the activation.
template <int R>
__attribute__((always_inline)) inline void DenseBlock(const float* x, int in, int out, const float* wt, const float* b, Act act, float* y) {
  int o = 0;
  if (R == 1)
    for (; o + 32 <= out; o += 32) DenseTile<1, 4>(x, in, out, wt + o, b + o, y + o);
  for (; o + 16 <= out; o += 16) DenseTile<R, 2>(x, in, out, wt + o, b + o, y + o);
  if (o + 8 <= out) DenseTile<R, 1>(x, in, out, wt + o, b + o, y + o), o += 8;
  for (int r = 0; r < R; r++) {
    const float* xr = x + size_t(r) * in;
    float* yr = y + size_t(r) * out;
    for (int q = o; q < out; q++) {
      float acc = b[q];
      for (int k = 0; k < in; k++) acc += xr[k] * wt[size_t(k) * out + q];
      yr[q] = acc;
    }
    ActivateAll(act, yr, size_t(out));
  }
}

// AVX2 where the CPU has it (the loader picks the clone once), else SSE2: both give the same
// bits (no FMA in either).
__attribute__((target_clones("avx2", "default")))
void DenseRows(const float* x, int batch, int in, int out, const float* wt, const float* b, Act act, float* y) {
  int r = 0;
  for (; r + 4 <= batch; r += 4) DenseBlock<4>(x + size_t(r) * in, in, out, wt, b, act, y + size_t(r) * out);
  for (; r < batch; r++) DenseBlock<1>(x + size_t(r) * in, in, out, wt, b, act, y + size_t(r) * out);
}

void SoftmaxRows(float* v, int batch, int width) {
  for (int r = 0; r < batch; r++) {
    float* row = v + size_t(r) * width;
    float mx = row[0];
    for (int i = 1; i < width; i++) mx = std::max(mx, row[i]);
    float sum = 0;
    for (int i = 0; i < width; i++) sum += (row[i] = std::exp(row[i] - mx));
    const float inv = 1.0f / sum;
    for (int i = 0; i < width; i++) row[i] *= inv;
  }
}

}  // namespace

Status Model::Chunk(const float* x, int batch, float* y) {
  if (cuda_ && device_lost_.empty()) {
    const Status s = CudaDenseForward(cuda_, x, batch, y);
    if (s.ok()) return s;
    device_lost_ = s.message();  // this chunk and every later one answer on the CPU
  }
  return ChunkCpu(x, batch, y);
}

Status Model::ChunkCpu(const float* x, int batch, float* y) {
  // Layers ping-pong between the two scratch buffers; the last one writes y.
  const float* src = x;
  for (size_t i = 0; i < layers_.size(); i++) {
    const Layer& l = layers_[i];
    float* dst = i + 1 == layers_.size() ? y : scratch_[i % 2].data();
    const size_t n = size_t(batch) * l.out;
    if (l.kind == LayerKind::DENSE) {
      if (precision_ == Precision::kInt8) {
        QuantizeRowsInt8(src, batch, l.in, xq_.data(), xs_.data());
        DenseForwardInt8(xq_.data(), xs_.data(), l.wqt.data(), l.ws.data(), l.b.data(), batch, l.in, l.out, l.act, acc_.data(), dst);
      } else {
        DenseRows(src, batch, l.in, l.out, l.wt.data(), l.b.data(), l.act, dst);
      }
    } else {
      if (dst != src) std::copy(src, src + n, dst);
      if (l.kind == LayerKind::SOFTMAX) {
        SoftmaxRows(dst, batch, l.out);
      } else {
        ActivateAll(l.act, dst, n);
      }
    }
    src = dst;
  }
  return Status::Ok();
}

Status Gather::Create(std::shared_ptr<Store> store, std::vector<int> tables, int fields,
                      std::vector<GatherColumn> columns, std::unique_ptr<Gather>* out) {
  if (!store) return Status::InvalidArg("gather: no store");
  if (fields < 0 || fields > 4096) return Status::InvalidArg("gather: field count out of range");
  if (columns.empty()) return Status::InvalidArg("gather: no columns");
  std::unique_ptr<Gather> g(new Gather());
  int width = 0;
  for (size_t k = 0; k < tables.size(); k++) {
    if (tables[k] < 0 || tables[k] >= store->table_count())
      return Status::InvalidArg("gather: unknown table " + std::to_string(tables[k]));
    g->row_off_.push_back(width);
    width += store->table(tables[k]).width();
  }
  for (size_t c = 0; c < columns.size(); c++) {
    const GatherColumn& col = columns[c];
    const std::string where = "gather: column " + std::to_string(c) + ": ";
    if (uint8_t(col.transform) >= uint8_t(GatherTransform::kCount)) return Status::InvalidArg(where + "unknown transform");
    if (col.source == GatherSource::FEATURE) {
      if (col.key < 0 || size_t(col.key) >= tables.size()) return Status::InvalidArg(where + "key out of range");
      if (col.offset < 0 || col.offset >= store->table(tables[col.key]).width())
        return Status::InvalidArg(where + "feature offset out of range");
    } else if (col.source == GatherSource::FIELD) {
      if (col.field < 0 || col.field >= fields) return Status::InvalidArg(where + "field out of range");
    } else {
      return Status::InvalidArg(where + "unknown source");
    }
  }
  g->store_ = std::move(store);
  g->tables_ = std::move(tables);
  g->fields_ = fields;
  g->columns_ = std::move(columns);
  g->row_.resize(size_t(std::max(width, 1)));
  g->found_.resize(g->tables_.size());
  *out = std::move(g);
  return Status::Ok();
}

Status Gather::Run(const uint8_t* ids, size_t ids_len, const uint32_t* refs, const float* fields,
                   int batch, double now_ms, float* x) {
  if (batch < 0) return Status::InvalidArg("gather: negative batch");
  const size_t nk = tables_.size();
  const size_t nkeys = size_t(batch) * nk;
  // Validate every reference before reading anything; hash once per id.
  if (hashes_.size() < nkeys) hashes_.resize(nkeys);  // grows to the largest batch, then stays
  for (size_t i = 0; i < nkeys; i++) {
    const uint32_t off = refs[2 * i], len = refs[2 * i + 1];
    if (len == 0 || len > uint32_t(kMaxIdBytes) || size_t(off) + len > ids_len)
      return Status::InvalidArg("gather: id " + std::to_string(i) + " is out of bounds or longer than " +
                                std::to_string(kMaxIdBytes) + " bytes");
    hashes_[i] = HashBytes(reinterpret_cast<const char*>(ids + off), len);
  }
  const size_t nc = columns_.size();
  for (int r = 0; r < batch; r++) {
    // Overlap the cache misses of later rows with this one's reads.
    if (r + 2 < batch)
      for (size_t k = 0; k < nk; k++) store_->table(tables_[k]).PrefetchSlot(hashes_[size_t(r + 2) * nk + k]);
    if (r + 1 < batch)
      for (size_t k = 0; k < nk; k++) store_->table(tables_[k]).PrefetchRow(hashes_[size_t(r + 1) * nk + k], -1, now_ms, nullptr);
    for (size_t k = 0; k < nk; k++) {
      double age;
      found_[k] = store_->table(tables_[k]).Read(hashes_[size_t(r) * nk + k], now_ms, row_.data() + row_off_[k], &age);
    }
    float* xr = x + size_t(r) * nc;
    const float* fr = fields + size_t(r) * fields_;
    for (size_t c = 0; c < nc; c++) {
      const GatherColumn& col = columns_[c];
      // An absent entity reads as the empty row (count 0, mean NaN): every one of its
      // columns takes the fill, so a model sees one "unknown" value, not a mix.
      double v = col.source == GatherSource::FIELD ? double(fr[col.field])
                 : found_[col.key]                  ? row_[size_t(row_off_[col.key] + col.offset)]
                                                    : kNaNValue;
      if (std::isnan(v)) v = col.fill;
      if (col.transform == GatherTransform::LOG1P) v = std::log1p(std::max(v, 0.0));
      xr[c] = float(v);
    }
  }
  return Status::Ok();
}

}  // namespace hotpath
