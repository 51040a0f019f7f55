// masking.cpp — Masking(mask_value): a timestep whose features all equal mask_value is
// skipped by the layers downstream (Keras); its output is zeroed, the rest passes through.
#include <cstring>
#include <stdexcept>

#include "model/layer.h"

namespace lstmcore {
namespace {

class MaskingLayer : public Layer {
 public:
  explicit MaskingLayer(float value) : value_(value) {}
  Dims out_dims(const Dims& in) const override {
    if (!in.seq)
      throw std::invalid_argument("`Masking` expects 3D input (samples, timesteps, features); received " +
                                  dims_str(in));
    return in;
  }
  // An incoming mask is replaced by this layer's own (Keras computes it from the values).
  void set_input_mask(const float*) override {}
  const float* forward(const float* x, const Dims& in, bool, uint64_t) override {
    in_ = in;
    const long rows = in.rows(), F = in.F;
    float* m = mask_.resize(rows);
    for (long r = 0; r < rows; ++r) {
      bool use = false;
      for (long f = 0; f < F && !use; ++f) use = x[r * F + f] != value_;
      m[r] = use ? 1.0f : 0.0f;
    }
    // With mask_value 0 a masked timestep is zeros already: the output is the input itself.
    if (value_ == 0.0f) return x;
    float* y = out_.resize(in.size());
    for (long r = 0; r < rows; ++r) {
      if (m[r] != 0.0f) std::memcpy(y + r * F, x + r * F, sizeof(float) * F);
      else std::memset(y + r * F, 0, sizeof(float) * F);
    }
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    if (!need_dx) return nullptr;
    const long rows = in_.rows(), F = in_.F;
    float* dx = dx_.resize(in_.size());
    for (long r = 0; r < rows; ++r) {
      if (mask_.data[r] != 0.0f) std::memcpy(dx + r * F, dy + r * F, sizeof(float) * F);
      else std::memset(dx + r * F, 0, sizeof(float) * F);
    }
    return dx;
  }
  const float* output_mask() const override { return mask_.data; }

 private:
  float value_;
  Buffer mask_, out_, dx_;
  Dims in_;
};

// config: mask_value (a finite number).
std::unique_ptr<Layer> make_masking_layer(const LayerConfig& c, LayerParams&) {
  const double v = c.get_float("mask_value", 0.0);
  if (!(v == v) || v > 3.4e38 || v < -3.4e38)
    throw std::invalid_argument("`Masking` needs a finite float32 mask_value");
  return std::make_unique<MaskingLayer>((float)v);
}

}  // namespace

LSTMCORE_REGISTER_LAYER("masking", make_masking_layer);

}  // namespace lstmcore
