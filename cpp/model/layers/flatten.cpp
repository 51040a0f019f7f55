// flatten.cpp — Flatten (Keras): (B, T, F) -> (B, T*F); (B, F) passes through. The layout is
// the same row-major memory, so forward and backward hand their input on unchanged.
#include "model/layer.h"

namespace lstmcore {
namespace {

class FlattenLayer : public Layer {
 public:
  Dims out_dims(const Dims& in) const override {
    if (!in.seq) return in;
    return Dims{in.B, 0, checked_mul(in.T, in.F, "Flatten's output width"), false};
  }
  const float* forward(const float* x, const Dims&, bool, uint64_t) override { return x; }
  const float* backward(const float* dy, bool need_dx) override { return need_dx ? dy : nullptr; }
};

std::unique_ptr<Layer> make_flatten_layer(const LayerConfig&, LayerParams&) {
  return std::make_unique<FlattenLayer>();
}

}  // namespace

LSTMCORE_REGISTER_LAYER("flatten", make_flatten_layer);

}  // namespace lstmcore
