// time_distributed.cpp — TimeDistributed(layer), with the same weights everywhere:
// - rows mode (3D input): the wrapped layer sees every timestep of (B, T, F) as a row of
//   (B*T, F);
// - subsequence mode (4D input (B, S, T, F), config `features` = F): Python hands the native
//   side (B, S, T*F) (the same memory), and the wrapped layer (Conv1D, pooling, Flatten, or a
//   timestep-wise layer) sees every subsequence as a sample of (B*S, T, F). Its output per
//   subsequence, (T', F') or (F'), comes back as (B, S, T'*F') or (B, S, F'): the next
//   TimeDistributed splits it again by its own `features`, and an LSTM reads it as it is.
#include <stdexcept>

#include "model/layer.h"

namespace lstmcore {
namespace {

class TimeDistributedLayer : public Layer {
 public:
  TimeDistributedLayer(std::unique_ptr<Layer> inner, long features)
      : inner_(std::move(inner)), features_(features) {}
  Dims out_dims(const Dims& in) const override {
    const Dims o = inner_->out_dims(fold(in));
    if (features_ > 0)
      return Dims{in.B, in.T, o.seq ? checked_mul(o.T, o.F, "TimeDistributed's output width") : o.F, true};
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
  Dims fold(const Dims& in) const {
    if (!in.seq)
      throw std::invalid_argument("`TimeDistributed` expects 3D input (samples, timesteps, features); received " +
                                  dims_str(in));
    if (features_ == 0) return Dims{in.rows(), 0, in.F, false};
    if (in.F % features_ != 0)
      throw std::invalid_argument("`TimeDistributed` expects subsequences of " + std::to_string(features_) +
                                  " features per step; received input " + dims_str(in) +
                                  " whose last axis is not a multiple of it");
    return Dims{in.rows(), in.F / features_, features_, true};
  }
  std::unique_ptr<Layer> inner_;
  long features_;  // 0: rows mode; else subsequence mode with this many features per step
  const float* mask_ = nullptr;
};

// config: layer (the wrapped layer's config, with its kind); features (subsequence mode only);
// params: the wrapped layer's.
std::unique_ptr<Layer> make_time_distributed_layer(const LayerConfig& c, LayerParams& p) {
  const long features = c.get_int("features", 0);
  if (features < 0) throw std::invalid_argument("`TimeDistributed` needs features >= 1");
  return std::make_unique<TimeDistributedLayer>(make_layer(c.get_config("layer"), p), features);
}

}  // namespace

LSTMCORE_REGISTER_LAYER("time_distributed", make_time_distributed_layer);

}  // namespace lstmcore
