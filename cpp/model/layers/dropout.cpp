// dropout.cpp — inverted dropout: scaled by 1/(1-rate) while training, identity otherwise.
#include <stdexcept>

#include "model/layer.h"

namespace lstmcore {
namespace {

class DropoutLayer : public MaskPassing {
 public:
  explicit DropoutLayer(float rate) : rate_(rate) {}
  Dims out_dims(const Dims& in) const override { return in; }
  const float* forward(const float* x, const Dims& in, bool training, uint64_t seed) override {
    in_ = in;
    active_ = training && rate_ > 0.0f;
    if (!active_) return x;
    float* m = mask_.resize(in.size());
    dropout_mask(m, in.size(), rate_, seed, 0xd20u);
    float* y = out_.resize(in.size());
    for (long i = 0; i < in.size(); ++i) y[i] = x[i] * m[i];
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    if (!need_dx) return nullptr;
    if (!active_) return dy;
    float* dx = dx_.resize(in_.size());
    for (long i = 0; i < in_.size(); ++i) dx[i] = dy[i] * mask_.data[i];
    return dx;
  }

 private:
  float rate_;
  bool active_ = false;
  Buffer mask_, out_, dx_;
  Dims in_;
};

// config: rate in [0, 1).
std::unique_ptr<Layer> make_dropout_layer(const LayerConfig& c, LayerParams&) {
  const float rate = (float)c.get_float("rate", 0.0);
  if (!(rate >= 0.0f && rate < 1.0f)) throw std::invalid_argument("`Dropout` rate must be in [0, 1)");
  return std::make_unique<DropoutLayer>(rate);
}

}  // namespace

LSTMCORE_REGISTER_LAYER("dropout", make_dropout_layer);

}  // namespace lstmcore
