// NativeModel: a core Model (a chain of dense layers, activations and softmax) owned by
// one JS thread; and denseForward, one dense layer on the CPU or CUDA kernel.
//
// Buffers: the layers' w and b are copied at construction (the model owns its weights);
// forward's x is read and y written during the call only.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "../core/cuda_backend.h"
#include "../core/kernels.h"
#include "../core/model.h"
#include "args.h"
#include "wraps.h"

namespace hotpath {
namespace {

// Copies a Float32Array property (or null/undefined -> empty). False if it is something else.
bool FloatsProp(Napi::Object o, const char* key, std::vector<float>* out) {
  Napi::Value v = o.Get(key);  // may run a getter: copy before anything else runs
  if (v.IsNull() || v.IsUndefined()) return true;
  float* p;
  size_t n;
  if (!GetTyped<float, napi_float32_array>(v, &p, &n)) return false;
  out->assign(p, p + n);
  return true;
}

// new NativeModel({ inDim, maxBatch, device: 'cpu' | 'cuda', precision?: 'fp32' | 'int8' | 'fp16' | 'bf16', cudaGraphs?, layers: [{ kind, inDim, outDim,
// w: Float32Array (out x in), b: Float32Array | null, act }] }). kind: a LayerKind
// (constants.layerKinds). One per worker thread: forward() uses the model's own scratch.
class NativeModelWrap : public Napi::ObjectWrap<NativeModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {
                           InstanceAccessor<&NativeModelWrap::InDim>("inDim"),
                           InstanceAccessor<&NativeModelWrap::OutDim>("outDim"),
                           InstanceMethod<&NativeModelWrap::Forward>("forward"),
                           InstanceAccessor<&NativeModelWrap::DeviceNow>("device"),
                           InstanceAccessor<&NativeModelWrap::DeviceLost>("deviceLost"),
                           InstanceAccessor<&NativeModelWrap::Cuda>("cuda"),
                           InstanceMethod<&NativeModelWrap::InjectDeviceFault>("injectDeviceFault"),
                       });
  }

  NativeModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModelWrap>(info) { Construct(info); }

 private:
  Napi::Value Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENTS(1, "NativeModel expects a spec object");
    REQUIRE_ARGUMENT_OBJECT(0, o, "NativeModel expects a spec object");
    const int in_dim = int(NumProp(o, "inDim", 0, 0, 1 << 21));
    const int max_batch = int(NumProp(o, "maxBatch", 0, 0, 1 << 17));
    Napi::Value dv = o.Get("device");
    const std::string device = dv.IsString() ? dv.As<Napi::String>().Utf8Value() : "cpu";
    if (device != "cpu" && device != "cuda") return ThrowArg(env, "device must be cpu or cuda");
    Napi::Value pv = o.Get("precision");
    const std::string precision = pv.IsString() ? pv.As<Napi::String>().Utf8Value() : "fp32";
    Precision prec;
    if (precision == "fp32") prec = Precision::kFp32;
    else if (precision == "int8") prec = Precision::kInt8;
    else if (precision == "fp16") prec = Precision::kFp16;
    else if (precision == "bf16") prec = Precision::kBf16;
    else return ThrowArg(env, "precision must be fp32, int8, fp16 or bf16");
    // CUDA settings (device cuda only): cudaGraphs (default true), syncTimeoutMs, reserveMiB.
    CudaDenseOptions cuda;
    Napi::Value gv = o.Get("cudaGraphs");
    if (!gv.IsUndefined()) {
      if (!gv.IsBoolean()) return ThrowArg(env, "cudaGraphs must be a boolean");
      cuda.graphs = gv.As<Napi::Boolean>().Value();
    }
    cuda.sync_timeout_ms = int(NumProp(o, "syncTimeoutMs", cuda.sync_timeout_ms, 1, 600000));
    cuda.reserve_bytes = size_t(NumProp(o, "reserveMiB", double(cuda.reserve_bytes >> 20), 0, 1 << 20)) << 20;
    Napi::Value lv = o.Get("layers");
    if (!lv.IsArray()) return ThrowArg(env, "layers must be an array");
    Napi::Array la = lv.As<Napi::Array>();
    std::vector<LayerSpec> layers;
    for (uint32_t i = 0; i < la.Length() && !env.IsExceptionPending(); i++) {
      Napi::Value v = la.Get(i);
      if (!v.IsObject()) return ThrowArg(env, "layer " + std::to_string(i) + " is not an object");
      Napi::Object lo = v.As<Napi::Object>();
      LayerSpec l;
      const double kind = NumProp(lo, "kind", -1, -1, double(LayerKind::kCount));
      if (!(kind >= 0 && kind < double(LayerKind::kCount) && kind == std::floor(kind)))
        return ThrowArg(env, "layer " + std::to_string(i) + ": unknown kind");
      l.kind = LayerKind(uint8_t(kind));
      l.in = int(NumProp(lo, "inDim", 0, 0, 1 << 21));
      l.out = int(NumProp(lo, "outDim", 0, 0, 1 << 21));
      l.act = Act(uint8_t(NumProp(lo, "act", 0, 0, double(Act::kCount))));
      if (!FloatsProp(lo, "w", &l.w) || !FloatsProp(lo, "b", &l.b))
        return ThrowArg(env, "layer " + std::to_string(i) + ": w and b must be Float32Arrays");
      layers.push_back(std::move(l));
    }
    if (env.IsExceptionPending()) return env.Undefined();
    Status s = Model::Create(in_dim, std::move(layers), max_batch, device == "cuda" ? Device::kCuda : Device::kCpu, &model_,
                             prec, &cuda);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  Napi::Value InDim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), model_ ? model_->in_dim() : 0); }
  Napi::Value OutDim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), model_ ? model_->out_dim() : 0); }

  // 'cuda' while the device answers, 'cpu' otherwise (a cpu model, or after a lost device).
  Napi::Value DeviceNow(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), model_ && model_->device() == Device::kCuda ? "cuda" : "cpu");
  }
  // Why the device was given up, or null.
  Napi::Value DeviceLost(const Napi::CallbackInfo& info) {
    if (!model_ || model_->device_lost().empty()) return info.Env().Null();
    return Napi::String::New(info.Env(), model_->device_lost());
  }
  // { cublaslt, cublasLtWhy, graphs, buckets, deviceBytes } for a cuda model, else null.
  Napi::Value Cuda(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!model_ || !model_->cuda()) return env.Null();
    CudaDenseInfo d;
    CudaDenseDescribe(model_->cuda(), &d);
    Napi::Object o = Napi::Object::New(env);
    o.Set("cublaslt", Napi::Boolean::New(env, d.cublaslt));
    o.Set("cublasLtWhy", Napi::String::New(env, d.cublaslt_why));
    o.Set("graphs", Napi::Number::New(env, d.graphs));
    o.Set("buckets", Napi::Number::New(env, d.buckets));
    o.Set("deviceBytes", Napi::Number::New(env, double(d.device_bytes)));
    return o;
  }
  // The next forward on the device fails as on a lost device (fault injection); false on a cpu model.
  Napi::Value InjectDeviceFault(const Napi::CallbackInfo& info) {
    if (!model_ || !model_->cuda() || !model_->device_lost().empty()) return Napi::Boolean::New(info.Env(), false);
    CudaDenseInjectFault(const_cast<CudaDense*>(model_->cuda()));
    return Napi::Boolean::New(info.Env(), true);
  }

  // forward(x: Float32Array (batch x inDim), batch, y: Float32Array (batch x outDim))
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!model_) return ThrowStatus(env, Status::Unavailable("model was not created"));
    REQUIRE_ARGUMENTS(3, "forward(x, batch, y)");
    if (!info[1].IsNumber()) HP_ARG_FAIL("forward(x, batch, y)");
    REQUIRE_ARGUMENT_BATCH(1, b);
    float *x, *y;
    size_t nx, ny;
    if (!GetTyped<float, napi_float32_array>(info[0], &x, &nx) || !GetTyped<float, napi_float32_array>(info[2], &y, &ny))
      return ThrowArg(env, "x and y must be Float32Arrays");
    if (nx < b * model_->in_dim() || ny < b * model_->out_dim()) return ThrowArg(env, "x or y is shorter than batch x width");
    Status s = model_->Forward(x, int(b), y);
    if (!s.ok()) return ThrowStatus(env, s);
    return env.Undefined();
  }

  std::unique_ptr<Model> model_;
};

}  // namespace

Napi::Function DefineNativeModelWrap(Napi::Env env) { return NativeModelWrap::Define(env); }

Napi::Value DenseForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float *x, *w, *b = nullptr, *y;
  size_t nx, nw, nb = 0, ny;
  if (info.Length() < 9 || !GetTyped<float, napi_float32_array>(info[0], &x, &nx) ||
      !GetTyped<float, napi_float32_array>(info[1], &w, &nw) ||
      !(info[2].IsNull() || GetTyped<float, napi_float32_array>(info[2], &b, &nb)) ||
      !GetTyped<float, napi_float32_array>(info[8], &y, &ny) || !info[7].IsString())
    return ThrowArg(env, "denseForward(x, w, bias|null, batch, in, out, act, backend, y) with Float32Arrays");
  constexpr const char* kShape = "batch, in, out and act must be numbers";
  REQUIRE_ARGUMENT_INT32(3, batch, kShape);
  REQUIRE_ARGUMENT_INT32(4, in, kShape);
  REQUIRE_ARGUMENT_INT32(5, out, kShape);
  REQUIRE_ARGUMENT_INT32(6, act, kShape);
  if (batch < 0 || in <= 0 || out <= 0 || act < 0 || act >= int(Act::kCount)) return ThrowArg(env, "bad shape or activation");
  if (nx < size_t(batch) * in || nw < size_t(out) * in || (b && nb < size_t(out)) || ny < size_t(batch) * out)
    return ThrowArg(env, "array shorter than its shape");
  const std::string backend = info[7].As<Napi::String>().Utf8Value();
  Status s = backend == "cuda" ? DenseForwardCuda(x, w, b, batch, in, out, Act(act), y)
             : backend == "cpu" ? DenseForwardCpu(x, w, b, batch, in, out, Act(act), y)
                                : Status::InvalidArg("backend must be cpu or cuda");
  if (!s.ok()) return ThrowStatus(env, s);
  return env.Undefined();
}

}  // namespace hotpath
