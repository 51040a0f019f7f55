// dense.cpp — Dense on the last axis: (B, F) or (B, T, F) -> same with F = units.
#include <stdexcept>

#include "model/layer.h"

namespace lstmcore {
namespace {

class DenseLayer : public MaskPassing {
 public:
  DenseLayer(long units, long input_dim, int act, float* W, float* b)
      : U_(units), D_(input_dim), act_(act), W_(W), b_(b) {
    dW_.resize_zero(checked_elems({D_, U_}, "Dense kernel gradient"));
    if (b_) db_.resize_zero(U_);
  }
  Dims out_dims(const Dims& in) const override {
    if (in.F != D_)
      throw std::invalid_argument("`Dense` was built for inputs with last axis " + std::to_string(D_) +
                                  "; received input " + dims_str(in));
    Dims o = in;
    o.F = U_;
    return o;
  }
  const float* forward(const float* x, const Dims& in, bool, uint64_t) override {
    in_ = in;
    x_ = x;
    const long rows = in.rows();
    float* y = out_.resize(checked_elems({rows, U_}, "Dense output"));
    dense_forward(y, x, W_, b_, rows, D_, U_, act_);
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    const long rows = in_.rows();
    float* dz = dz_.resize(checked_elems({rows, U_}, "Dense gradient"));
    float* dx = need_dx ? dx_.resize(checked_elems({rows, D_}, "Dense input gradient")) : nullptr;
    dense_backward(dx, dW_.data, b_ ? db_.data : nullptr, dz, dy, out_.data, x_, W_, rows, D_, U_, act_);
    return dx;
  }
  std::vector<ParamRef> params() override {
    std::vector<ParamRef> p{{W_, dW_.data, D_ * U_}};
    if (b_) p.push_back({b_, db_.data, U_});
    return p;
  }

 private:
  long U_, D_;
  int act_;
  float *W_, *b_;
  const float* x_ = nullptr;
  Buffer dW_, db_, out_, dz_, dx_;
  Dims in_;
};

// config: units, input_dim, activation; params: kernel (input_dim, units), bias (units,) or none.
std::unique_ptr<Layer> make_dense_layer(const LayerConfig& c, LayerParams& p) {
  const long units = c.get_int("units"), input_dim = c.get_int("input_dim");
  if (units < 1 || input_dim < 1) throw std::invalid_argument("`Dense` needs units >= 1 and input_dim >= 1");
  const int act = c.get_activation("activation", "linear");
  float* W = p.take("kernel", {input_dim, units}, false);
  float* b = p.take("bias", {units}, true);
  return std::make_unique<DenseLayer>(units, input_dim, act, W, b);
}

}  // namespace

LSTMCORE_REGISTER_LAYER("dense", make_dense_layer);

}  // namespace lstmcore
