// Batched inference for models the native runtime fully supports: a chain of dense
// layers (ONNX Gemm / MatMul + Add), activations and softmax. src/runtime/onnx-graph.ts
// compiles an ONNX graph into this chain, or says why it cannot (the model then runs on
// onnxruntime). Also the feature gather: entity ids of a batch -> store rows -> the model's
// input matrix, in one call.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "constants.h"
#include "cuda_backend.h"
#include "feature_store.h"
#include "status.h"

namespace hotpath {

struct LayerSpec {
  LayerKind kind = LayerKind::DENSE;
  int in = 0, out = 0;    // DENSE only
  std::vector<float> w;   // DENSE: out x in, row-major (ONNX Gemm transB=1, PyTorch Linear)
  std::vector<float> b;   // DENSE: out values, or empty
  Act act = Act::NONE;    // DENSE (fused) and ACT
};

enum class Device : uint8_t { kCpu, kCuda };
// kInt8: dense weights stored as int8 with per-output-channel scales, activations quantised
// per row at each layer, int32 accumulation (kernels.h: DenseForwardInt8). CPU only.
// kFp16, kBf16: 16-bit weights and layer inputs with fp32 accumulation on the CUDA device
// (cuda_backend.h: CudaMath); on the CPU, after a lost device, the model runs in fp32.
enum class Precision : uint8_t { kFp32, kInt8, kFp16, kBf16 };

class Model {
 public:
  // max_batch sizes the scratch buffers; Forward splits larger batches into chunks.
  // Device::kCuda: the chain is made resident on device 0 (CudaDenseCreate, with `cuda`'s
  // graphs / cuBLASLt / reserve / timeout settings; max_batch and math come from here) and
  // the CPU weights are kept for the fallback. A model that does not fit the device is
  // RESOURCE_EXHAUSTED.
  static Status Create(int in_dim, std::vector<LayerSpec> layers, int max_batch, Device device,
                       std::unique_ptr<Model>* out, Precision precision = Precision::kFp32,
                       const CudaDenseOptions* cuda = nullptr);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  Precision precision() const { return precision_; }
  // The device that answers now: kCuda until the device fails, then kCpu for good.
  Device device() const { return cuda_ && device_lost_.empty() ? Device::kCuda : Device::kCpu; }
  // Why the device was given up (empty while it serves): a CUDA error or a timeout.
  const std::string& device_lost() const { return device_lost_; }
  const CudaDense* cuda() const { return cuda_; }
  int in_dim() const { return in_dim_; }
  int out_dim() const { return out_dim_; }

  // x: batch x in_dim, y: batch x out_dim, row-major. No allocation on the CPU path. Not
  // reentrant: each worker thread owns its models (the scratch buffers are per model).
  Status Forward(const float* x, int batch, float* y);

 private:
  struct Layer {
    LayerKind kind;
    int in, out;
    std::vector<float> wt;  // in x out: the inner loop runs over contiguous outputs
    std::vector<float> b;
    Act act;
    std::vector<int8_t> wqt;  // kInt8: in x out, quantised per output channel (w and wt are then empty)
    std::vector<float> ws;   // kInt8: out scales
  };
  Model() = default;
  Status Chunk(const float* x, int batch, float* y);
  Status ChunkCpu(const float* x, int batch, float* y);
  int in_dim_ = 0, out_dim_ = 0, max_batch_ = 0;
  CudaDense* cuda_ = nullptr;  // Device::kCuda: the resident chain
  std::string device_lost_;
  std::vector<Layer> layers_;
  Precision precision_ = Precision::kFp32;
  std::vector<float> scratch_[2];
  std::vector<int8_t> xq_;  // kInt8: max_batch x widest layer input, the quantised activations
  std::vector<float> xs_;   // kInt8: max_batch row scales
  std::vector<int32_t> acc_;  // kInt8: one row of int32 sums (widest layer)
};

// One column of a model's input matrix: a feature of an entity read from the store, or a
// numeric field of the request; then a transform. Missing values (an absent entity: all
// of its columns; an empty window: NaN aggregates) take `fill` before the transform;
// log1p takes max(v, 0), so a negative value becomes 0.
struct GatherColumn {
  GatherSource source = GatherSource::FEATURE;
  int key = 0;     // FEATURE: which of the request's entity ids (index into tables)
  int offset = 0;  // FEATURE: slot in the table's read vector (Table::feature_offset)
  int field = 0;   // FIELD: index into the request's fields
  GatherTransform transform = GatherTransform::NONE;
  float fill = 0;
};

class Gather {
 public:
  // tables[k]: the store table of the request's k-th entity id.
  static Status Create(std::shared_ptr<Store> store, std::vector<int> tables, int fields,
                       std::vector<GatherColumn> columns, std::unique_ptr<Gather>* out);
  int keys() const { return int(tables_.size()); }
  int fields() const { return fields_; }
  int columns() const { return int(columns_.size()); }

  // Fills x (batch x columns). ids: UTF-8 bytes; refs[2*(r*keys+k)] and [...+1] are the
  // offset and length in ids of row r's k-th entity id. fields: batch x fields. Reads take
  // the shard seqlocks like any reader: safe from any thread while the writer ingests.
  Status Run(const uint8_t* ids, size_t ids_len, const uint32_t* refs, const float* fields,
             int batch, double now_ms, float* x);

 private:
  std::shared_ptr<Store> store_;
  std::vector<int> tables_;
  int fields_ = 0;
  std::vector<GatherColumn> columns_;
  std::vector<double> row_;       // keys x max table width, one row of reads
  std::vector<int> row_off_;      // start of key k in row_
  std::vector<uint8_t> found_;   // whether key k of the current row exists
  std::vector<uint64_t> hashes_;  // grows to the largest batch seen (not per call)
};

}  // namespace hotpath
