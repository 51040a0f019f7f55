// activation.cpp — an activation on the last axis (softmax per row).
#include "model/layer.h"

namespace lstmcore {
namespace {

class ActivationLayer : public MaskPassing {
 public:
  explicit ActivationLayer(int act) : act_(act) {}
  Dims out_dims(const Dims& in) const override { return in; }
  const float* forward(const float* x, const Dims& in, bool, uint64_t) override {
    in_ = in;
    float* y = out_.resize(in.size());
    activation_forward(act_, y, x, in.rows(), in.F);
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    if (!need_dx) return nullptr;
    float* dx = dx_.resize(in_.size());
    activation_backward(act_, dx, out_.data, dy, in_.rows(), in_.F);
    return dx;
  }

 private:
  int act_;
  Buffer out_, dx_;
  Dims in_;
};

// config: activation.
std::unique_ptr<Layer> make_activation_layer(const LayerConfig& c, LayerParams&) {
  return std::make_unique<ActivationLayer>(act_from_name(c.get_str("activation")));
}

}  // namespace

LSTMCORE_REGISTER_LAYER("activation", make_activation_layer);

}  // namespace lstmcore
