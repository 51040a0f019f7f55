// conv1d.cpp — Conv1D (Keras 3): (B, T, C) -> (B, T_out, filters), kernel (k, C, filters),
// bias (filters,); padding 'valid', 'same' or 'causal'; strides; dilation_rate.
//
// Two algorithms (config `algorithm`): "im2col" (the default) gathers each output step's taps
// into a row of (B*T_out, k*C) and makes the whole layer one packed GEMM (dense_forward: bias and
// activation included; backward: dense_backward, then col2im); "direct" runs the taps without
// the gather (kernels/conv.cpp). benchmarks/bench_conv.py times both.
#include <stdexcept>

#include "kernels/conv.h"
#include "model/layer.h"

namespace lstmcore {
namespace {

class Conv1dLayer : public Layer {
 public:
  Conv1dLayer(long filters, long k, long C, long stride, long dil, int padding, int act, bool direct,
              float* W, float* b)
      : F_(filters), k_(k), C_(C), stride_(stride), dil_(dil), padding_(padding), act_(act),
        direct_(direct), W_(W), b_(b) {
    dW_.resize_zero(checked_elems({k_, C_, F_}, "Conv1D kernel gradient"));
    if (b_) db_.resize_zero(F_);
  }
  Dims out_dims(const Dims& in) const override {
    const Conv1dGeom g = geom(in);
    if (g.T_out < 1)
      throw std::invalid_argument(
          "`Conv1D` with padding='valid' needs at least (kernel_size - 1) * dilation_rate + 1 = " +
          std::to_string(g.span()) + " timesteps: the output has floor((timesteps - " +
          std::to_string(g.span()) + ") / strides) + 1 steps; received input " + dims_str(in) +
          ". Use padding='same' or 'causal', or longer sequences.");
    return Dims{in.B, g.T_out, F_, true};
  }
  const float* forward(const float* x, const Dims& in, bool, uint64_t) override {
    g_ = geom(in);
    x_ = x;
    const long rows = checked_mul(g_.B, g_.T_out, "Conv1D output rows");
    float* y = out_.resize(checked_elems({rows, F_}, "Conv1D output"));
    if (direct_) {
      conv1d_direct_forward(y, x, W_, b_, F_, g_);
      if (act_ != ACT_LINEAR) activation_forward(act_, y, y, rows, F_);
      return y;
    }
    if (pointwise()) {  // kernel_size 1, strides 1: the im2col rows are the input rows
      cols_in_ = x;
    } else {
      float* cols = cols_.resize(checked_elems({rows, k_, C_}, "Conv1D im2col rows"));
      conv1d_im2col(cols, x, g_);
      cols_in_ = cols;
    }
    dense_forward(y, cols_in_, W_, b_, rows, k_ * C_, F_, act_);
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    const long rows = g_.B * g_.T_out, kC = k_ * C_;  // sized by forward's checks
    float* dz = dz_.resize(checked_elems({rows, F_}, "Conv1D gradient"));
    float* dx = need_dx ? dx_.resize(checked_elems({g_.B, g_.T, C_}, "Conv1D input gradient")) : nullptr;
    if (direct_) {
      activation_backward(act_, dz, out_.data, dy, rows, F_);
      if (b_) colsum_add(db_.data, dz, rows, F_, F_);
      conv1d_direct_backward(dx, dW_.data, dz, x_, W_, F_, g_);
      return dx;
    }
    float* dcols = !need_dx ? nullptr
                   : pointwise() ? dx
                   : dcols_.resize(checked_elems({rows, kC}, "Conv1D im2col gradient"));
    dense_backward(dcols, dW_.data, b_ ? db_.data : nullptr, dz, dy, out_.data, cols_in_, W_, rows,
                   kC, F_, act_);
    if (dx && !pointwise()) conv1d_col2im(dx, dcols, g_);
    return dx;
  }
  std::vector<ParamRef> params() override {
    std::vector<ParamRef> p{{W_, dW_.data, k_ * C_ * F_}};
    if (b_) p.push_back({b_, db_.data, F_});
    return p;
  }

 private:
  bool pointwise() const { return k_ == 1 && stride_ == 1; }  // no padding either: span 1
  Conv1dGeom geom(const Dims& in) const {
    if (!in.seq)
      throw std::invalid_argument("`Conv1D` expects 3D input (samples, timesteps, channels); received " +
                                  dims_str(in));
    if (in.F != C_)
      throw std::invalid_argument("`Conv1D` was built for " + std::to_string(C_) +
                                  " input channels; received input " + dims_str(in));
    return conv1d_geom(in.B, in.T, C_, k_, stride_, dil_, padding_);
  }
  long F_, k_, C_, stride_, dil_;
  int padding_, act_;
  bool direct_;
  float *W_, *b_;
  const float* x_ = nullptr;
  const float* cols_in_ = nullptr;  // the GEMM's rows: cols_, or x_ when pointwise
  Conv1dGeom g_;
  Buffer dW_, db_, out_, cols_, dz_, dcols_, dx_;
};

// config: filters, kernel_size, input_dim (channels), strides, dilation_rate, padding,
// activation, algorithm ("im2col" | "direct"); params: kernel (k, input_dim, filters), bias.
std::unique_ptr<Layer> make_conv1d_layer(const LayerConfig& c, LayerParams& p) {
  const long filters = c.get_int("filters"), k = c.get_int("kernel_size"), C = c.get_int("input_dim");
  const long stride = c.get_int("strides", 1), dil = c.get_int("dilation_rate", 1);
  if (filters < 1 || k < 1 || C < 1 || stride < 1 || dil < 1)
    throw std::invalid_argument(
        "`Conv1D` needs filters, kernel_size, input_dim, strides and dilation_rate >= 1");
  if (stride > 1 && dil > 1)
    throw std::invalid_argument("`Conv1D`: strides > 1 is not supported with dilation_rate > 1");
  const int padding = padding_from_name(c.has("padding") ? c.get_str("padding") : std::string("valid"));
  const int act = c.get_activation("activation", "linear");
  const std::string algo = c.has("algorithm") ? c.get_str("algorithm") : std::string("im2col");
  if (algo != "im2col" && algo != "direct")
    throw std::invalid_argument("`Conv1D`: unknown algorithm `" + algo.substr(0, 100) +
                                "`; expected 'im2col' or 'direct'");
  checked_elems({k, C, filters}, "Conv1D kernel");
  float* W = p.take("kernel", {k, C, filters}, false);
  float* b = p.take("bias", {filters}, true);
  return std::make_unique<Conv1dLayer>(filters, k, C, stride, dil, padding, act, algo == "direct", W, b);
}

}  // namespace

LSTMCORE_REGISTER_LAYER("conv1d", make_conv1d_layer);

}  // namespace lstmcore
