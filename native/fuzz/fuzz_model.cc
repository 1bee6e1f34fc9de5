// libFuzzer target: the native dense model (native/core/model.h) as the ONNX plan compiler
// feeds it from a model file: Model::Create on layer specs read from the input (kinds,
// widths, activations, weights and biases of any length, NaN and infinities included),
// then Forward on a batch larger than max_batch (so it splits into chunks). Create must
// refuse what does not chain (widths, weight and bias lengths, unknown kinds and
// activations) with a status; a model it accepts must run on any input values.
//
// Input: [u8 input width] [u8 max batch] [u8 layer count] then per layer [u8 kind]
// [u8 activation] [u8 in] [u8 out] [u8 weight count fudge] [u8 bias mode], then floats
// for the weights, biases and the batch, read as the input lasts (zeros after it).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../core/model.h"
#include "fuzz_util.h"

using namespace hotpath;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const int in_dim = int(in.U8() % 33) - 1;  // -1 and 0 are refused
  const int max_batch = int(in.U8() % 9) - 1;
  const int nlayers = in.U8() % 7;
  struct Shape {
    uint8_t kind, act, in, out, fudge, bias;
  };
  std::vector<Shape> shapes(static_cast<size_t>(nlayers));
  for (Shape& s : shapes) s = {in.U8(), in.U8(), in.U8(), in.U8(), in.U8(), in.U8()};
  std::vector<LayerSpec> layers;
  for (const Shape& s : shapes) {
    LayerSpec l;
    l.kind = LayerKind(s.kind % 4);  // 3 is not a kind
    l.act = Act(s.act % 5);          // 4 is not an activation
    l.in = s.in % 33;
    l.out = int(s.out % 33) - 1;
    if (l.kind == LayerKind::DENSE) {
      // Mostly the right sizes (out x in, out), sometimes one off.
      const long want = long(l.in) * l.out;
      const long n = (s.fudge & 7) == 0 ? want + int(s.fudge >> 3) % 3 - 1 : want;
      for (long i = 0; i < n && n > 0 && n < 4096; i++) l.w.push_back(in.F32());
      const int nb = (s.bias & 3) == 0 ? 0 : (s.bias & 3) == 1 ? l.out + 1 : l.out;
      for (int i = 0; i < nb && nb > 0; i++) l.b.push_back(in.F32());
    }
    layers.push_back(std::move(l));
  }
  std::unique_ptr<Model> m;
  const Status s = Model::Create(in_dim, std::move(layers), max_batch, Device::kCpu, &m);
  if (!s.ok()) {
    if (s.code() != Status::Code::INVALID_ARG) __builtin_trap();
    return 0;
  }
  const int batch = in.U8() % 20;
  std::vector<float> x(size_t(batch) * size_t(m->in_dim()));
  for (float& v : x) v = in.F32();
  std::vector<float> y(size_t(batch) * size_t(m->out_dim()));
  if (!m->Forward(x.data(), batch, y.data()).ok()) __builtin_trap();
  return 0;
}
