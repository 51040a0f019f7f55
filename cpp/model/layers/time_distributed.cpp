// time_distributed.cpp — TimeDistributed(layer): the wrapped layer sees every timestep of
// (B, T, F) as a row of (B*T, F), with the same weights.
#include <stdexcept>

#include "model/layer.h"

namespace lstmcore {
namespace {

class TimeDistributedLayer : public Layer {
 public:
  explicit TimeDistributedLayer(std::unique_ptr<Layer> inner) : inner_(std::move(inner)) {}
  Dims out_dims(const Dims& in) const override {
    const Dims o = inner_->out_dims(fold(in));
    if (o.seq)
      throw std::invalid_argument("`TimeDistributed` needs a layer that maps one timestep to one vector");
    return Dims{in.B, in.T, o.F, true};
  }
  const float* forward(const float* x, const Dims& in, bool training, uint64_t seed) override {
    return inner_->forward(x, fold(in), training, seed);
  }
  const float* backward(const float* dy, bool need_dx) override { return inner_->backward(dy, need_dx); }
  std::vector<ParamRef> params() override { return inner_->params(); }
  void reset_states() override { inner_->reset_states(); }
  bool stateful() const override { return inner_->stateful(); }
  void rollback_state() override { inner_->rollback_state(); }
  // The mask is per timestep; the wrapped layer sees rows, not timesteps, and no mask.
  void set_input_mask(const float* mask) override { mask_ = mask; }
  const float* output_mask() const override { return mask_; }

 private:
  static Dims fold(const Dims& in) {
    if (!in.seq)
      throw std::invalid_argument("`TimeDistributed` expects 3D input (samples, timesteps, features); received " +
                                  dims_str(in));
    return Dims{in.rows(), 0, in.F, false};
  }
  std::unique_ptr<Layer> inner_;
  const float* mask_ = nullptr;
};

// config: layer (the wrapped layer's config, with its kind); params: the wrapped layer's.
std::unique_ptr<Layer> make_time_distributed_layer(const LayerConfig& c, LayerParams& p) {
  return std::make_unique<TimeDistributedLayer>(make_layer(c.get_config("layer"), p));
}

}  // namespace

LSTMCORE_REGISTER_LAYER("time_distributed", make_time_distributed_layer);

}  // namespace lstmcore
