// embedding.cpp — Embedding: (B, T) integer indices (as float32, exact below 2**24) ->
// (B, T, E) rows of the (V, E) matrix; the gradient is a scatter-add into the rows used.
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "model/layer.h"

namespace lstmcore {
namespace {

class EmbeddingLayer : public Layer {
 public:
  EmbeddingLayer(long V, long E, float* W, bool mask_zero) : V_(V), E_(E), W_(W), mask_zero_(mask_zero) {
    dW_.resize_zero(checked_elems({V_, E_}, "Embedding gradient"));
  }
  Dims out_dims(const Dims& in) const override {
    if (in.seq)
      throw std::invalid_argument("`Embedding` expects 2D input (samples, timesteps) of integer indices; received " +
                                  dims_str(in));
    return Dims{in.B, in.F, E_, true};
  }
  const float* forward(const float* x, const Dims& in, bool, uint64_t) override {
    in_ = in;
    x_ = x;
    const long n = in.size();
    float* y = out_.resize(checked_elems({n, E_}, "Embedding output"));
    for (long i = 0; i < n; ++i) {
      const long r = row(x[i], i);
      std::memcpy(y + i * E_, W_ + r * E_, sizeof(float) * E_);
    }
    if (mask_zero_) {  // Keras mask_zero: index 0 is padding, its timestep is skipped downstream
      float* m = mask_.resize(n);
      for (long i = 0; i < n; ++i) m[i] = x[i] != 0.0f ? 1.0f : 0.0f;
    }
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    if (need_dx)
      throw std::invalid_argument("`Embedding` takes integer indices: it has no input gradient, so it must be the "
                                  "first layer");
    const long n = in_.size();
    float* dW = dW_.data;
    for (long i = 0; i < n; ++i) {
      float* g = dW + row(x_[i], i) * E_;
      const float* d = dy + i * E_;
      for (long e = 0; e < E_; ++e) g[e] += d[e];
    }
    return nullptr;
  }
  std::vector<ParamRef> params() override { return {{W_, dW_.data, V_ * E_}}; }
  const float* output_mask() const override { return mask_zero_ ? mask_.data : nullptr; }

 private:
  // The row of index value v at input position i; the Python side checks indices before
  // they reach here, this keeps a hostile caller from reading outside the matrix.
  long row(float v, long i) const {
    if (!(v >= 0.0f && v < (float)V_) || v != std::floor(v))
      throw std::invalid_argument("`Embedding` index " + std::to_string(v) + " at position " + std::to_string(i) +
                                  " is not an integer in [0, " + std::to_string(V_ - 1) + "]");
    return (long)v;
  }
  long V_, E_;
  float* W_;
  bool mask_zero_;
  const float* x_ = nullptr;
  Buffer dW_, out_, mask_;
  Dims in_;
};

// config: input_dim (rows, at most 2**24), output_dim, mask_zero; params: embeddings (input_dim, output_dim).
std::unique_ptr<Layer> make_embedding_layer(const LayerConfig& c, LayerParams& p) {
  const long V = c.get_int("input_dim"), E = c.get_int("output_dim");
  if (V < 1 || E < 1 || V > (1L << 24))
    throw std::invalid_argument("`Embedding` needs 1 <= input_dim <= 2**24 and output_dim >= 1");
  float* W = p.take("embeddings", {V, E}, false);
  return std::make_unique<EmbeddingLayer>(V, E, W, c.get_bool("mask_zero", false));
}

}  // namespace

LSTMCORE_REGISTER_LAYER("embedding", make_embedding_layer);

}  // namespace lstmcore
