// repeat_vector.cpp — RepeatVector: (B, F) -> (B, n, F).
#include <cstring>
#include <stdexcept>

#include "model/layer.h"

namespace lstmcore {
namespace {

class RepeatVectorLayer : public Layer {
 public:
  explicit RepeatVectorLayer(long n) : n_(n) {}
  Dims out_dims(const Dims& in) const override {
    if (in.seq)
      throw std::invalid_argument("`RepeatVector` expects 2D input (samples, features); received " + dims_str(in));
    Dims o{in.B, n_, in.F, true};
    o.size();  // throws when B * n * F overflows
    return o;
  }
  const float* forward(const float* x, const Dims& in, bool, uint64_t) override {
    in_ = in;
    float* y = out_.resize(checked_elems({in.B, n_, in.F}, "RepeatVector output"));
    for (long b = 0; b < in.B; ++b)
      for (long t = 0; t < n_; ++t) std::memcpy(y + (b * n_ + t) * in.F, x + b * in.F, sizeof(float) * in.F);
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    if (!need_dx) return nullptr;
    float* dx = dx_.resize_zero(checked_elems({in_.B, in_.F}, "RepeatVector input gradient"));
    for (long b = 0; b < in_.B; ++b)
      for (long t = 0; t < n_; ++t)
        for (long f = 0; f < in_.F; ++f) dx[b * in_.F + f] += dy[(b * n_ + t) * in_.F + f];
    return dx;
  }

 private:
  long n_;
  Buffer out_, dx_;
  Dims in_;
};

// config: n >= 1.
std::unique_ptr<Layer> make_repeat_vector_layer(const LayerConfig& c, LayerParams&) {
  const long n = c.get_int("n");
  if (n < 1) throw std::invalid_argument("`RepeatVector` needs n >= 1");
  return std::make_unique<RepeatVectorLayer>(n);
}

}  // namespace

LSTMCORE_REGISTER_LAYER("repeat_vector", make_repeat_vector_layer);

}  // namespace lstmcore
