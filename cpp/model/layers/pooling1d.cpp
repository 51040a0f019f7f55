// pooling1d.cpp — MaxPooling1D / AveragePooling1D (Keras): (B, T, C) -> (B, T_out, C) over
// windows of pool_size steps, strides apart, padding 'valid' or 'same' (padded steps never
// count: TensorFlow's and JAX's semantics). GlobalMaxPooling1D / GlobalAveragePooling1D are the
// one window of all T steps: (B, T, C) -> (B, C), or (B, 1, C) with keepdims.
#include <stdexcept>

#include "kernels/conv.h"
#include "model/layer.h"

namespace lstmcore {
namespace {

class Pool1dLayer : public Layer {
 public:
  // global: pool = stride = T of each input, padding 'valid'.
  Pool1dLayer(const char* name, bool max, bool global, long pool, long stride, int padding, bool keepdims)
      : name_(name), max_(max), global_(global), pool_(pool), stride_(stride), padding_(padding),
        keepdims_(keepdims) {}
  Dims out_dims(const Dims& in) const override {
    const Conv1dGeom g = geom(in);
    if (g.T_out < 1)
      throw std::invalid_argument("`" + name_ + "` with padding='valid' needs at least pool_size = " +
                                  std::to_string(pool_) + " timesteps: the output has floor((timesteps - " +
                                  std::to_string(pool_) + ") / strides) + 1 steps; received input " +
                                  dims_str(in));
    if (global_ && !keepdims_) return Dims{in.B, 0, in.F, false};
    return Dims{in.B, g.T_out, in.F, true};
  }
  // Keras: GlobalAveragePooling1D takes a mask (the mean over the timesteps used) and ends
  // it; the other poolings cannot take one.
  void set_input_mask(const float* mask) override {
    if (mask && !(global_ && !max_)) Layer::set_input_mask(mask);
    mask_ = mask;
  }
  const float* forward(const float* x, const Dims& in, bool, uint64_t) override {
    g_ = geom(in);
    x_ = x;
    float* y = out_.resize(checked_elems({g_.B, g_.T_out, g_.C}, "a pooling output"));
    if (mask_) {
      masked_mean(y, x);
      return y;
    }
    pool1d_forward(y, x, max_, g_);
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    if (!need_dx) return nullptr;
    float* dx = dx_.resize(checked_elems({g_.B, g_.T, g_.C}, "a pooling input gradient"));
    if (mask_) {  // dx[b, t] = dy[b] * m[b, t] / (timesteps used)
      for (long b = 0; b < g_.B; ++b) {
        const float inv = inv_used_.data[b];
        for (long t = 0; t < g_.T; ++t) {
          const float s = mask_[b * g_.T + t] * inv;
          for (long c = 0; c < g_.C; ++c) dx[(b * g_.T + t) * g_.C + c] = dy[b * g_.C + c] * s;
        }
      }
      return dx;
    }
    pool1d_backward(dx, dy, x_, max_, g_);
    return dx;
  }

 private:
  Conv1dGeom geom(const Dims& in) const {
    if (!in.seq || in.T < 1)
      throw std::invalid_argument("`" + name_ + "` expects 3D input (samples, timesteps, features); received " +
                                  dims_str(in));
    if (global_) return conv1d_geom(in.B, in.T, in.F, in.T, in.T, 1, PAD_VALID);
    return conv1d_geom(in.B, in.T, in.F, pool_, stride_, 1, padding_);
  }
  // The mean over the timesteps the mask uses (0 for a row with none).
  void masked_mean(float* y, const float* x) {
    float* inv = inv_used_.resize(g_.B);
    for (long b = 0; b < g_.B; ++b) {
      double used = 0.0;
      for (long t = 0; t < g_.T; ++t) used += mask_[b * g_.T + t];
      inv[b] = used > 0.0 ? (float)(1.0 / used) : 0.0f;
      for (long c = 0; c < g_.C; ++c) {
        double s = 0.0;
        for (long t = 0; t < g_.T; ++t) s += (double)mask_[b * g_.T + t] * x[(b * g_.T + t) * g_.C + c];
        y[b * g_.C + c] = (float)(s * inv[b]);
      }
    }
  }
  std::string name_;
  const float* mask_ = nullptr;
  Buffer inv_used_;
  bool max_, global_;
  long pool_, stride_;
  int padding_;
  bool keepdims_;
  const float* x_ = nullptr;
  Conv1dGeom g_;
  Buffer out_, dx_;
};

// config: pool_size, strides (>= 1), padding ('valid' | 'same').
std::unique_ptr<Layer> make_pool(const LayerConfig& c, bool max) {
  const char* name = max ? "MaxPooling1D" : "AveragePooling1D";
  const long pool = c.get_int("pool_size"), stride = c.get_int("strides", pool);
  if (pool < 1 || stride < 1)
    throw std::invalid_argument(std::string("`") + name + "` needs pool_size >= 1 and strides >= 1");
  const int padding = padding_from_name(c.has("padding") ? c.get_str("padding") : std::string("valid"));
  if (padding == PAD_CAUSAL)
    throw std::invalid_argument(std::string("`") + name + "` takes padding 'valid' or 'same'");
  return std::make_unique<Pool1dLayer>(name, max, false, pool, stride, padding, false);
}
std::unique_ptr<Layer> make_max_pooling1d_layer(const LayerConfig& c, LayerParams&) { return make_pool(c, true); }
std::unique_ptr<Layer> make_average_pooling1d_layer(const LayerConfig& c, LayerParams&) { return make_pool(c, false); }

// config: keepdims (default false).
std::unique_ptr<Layer> make_global_max_pooling1d_layer(const LayerConfig& c, LayerParams&) {
  return std::make_unique<Pool1dLayer>("GlobalMaxPooling1D", true, true, 1, 1, PAD_VALID,
                                       c.get_bool("keepdims", false));
}
std::unique_ptr<Layer> make_global_average_pooling1d_layer(const LayerConfig& c, LayerParams&) {
  return std::make_unique<Pool1dLayer>("GlobalAveragePooling1D", false, true, 1, 1, PAD_VALID,
                                       c.get_bool("keepdims", false));
}

}  // namespace

LSTMCORE_REGISTER_LAYER("max_pooling1d", make_max_pooling1d_layer);
LSTMCORE_REGISTER_LAYER("average_pooling1d", make_average_pooling1d_layer);
LSTMCORE_REGISTER_LAYER("global_max_pooling1d", make_global_max_pooling1d_layer);
LSTMCORE_REGISTER_LAYER("global_average_pooling1d", make_global_average_pooling1d_layer);

}  // namespace lstmcore
