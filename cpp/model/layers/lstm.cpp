// lstm.cpp — the LSTM layer: Keras layout (gates i, f, c, o side by side), dropout masks,
// stateful carry-over. The time loop itself is the kernel in kernels/lstm.cpp.
#include <cstring>
#include <stdexcept>

#include "model/layer.h"
#include "model/rnn_layer.h"

namespace lstmcore {
namespace {

struct LstmConfig {
  long units = 0, input_dim = 0;
  int act = ACT_TANH, ract = ACT_SIGMOID;
  bool return_sequences = false, stateful = false, go_backwards = false;
  bool zero_output_for_mask = false;  // Keras: set by Bidirectional when returning sequences
  // functional models: the states come in as inputs 1, 2 (initial_state=[h, c]) and/or go
  // out as outputs 1, 2 (return_state=True)
  bool initial_state = false, return_state = false;
  float dropout = 0.0f, recurrent_dropout = 0.0f;
};

class LstmLayer : public Layer {
 public:
  LstmLayer(const LstmConfig& cfg, float* W, float* U, float* b)
      : cfg_(cfg), I_(cfg.input_dim), W_(W), U_(U), b_(b) {
    // dW, dU, db as consecutive rows of one buffer: lstm_backward then forms them with one
    // GEMM for small layers.
    const long G = 4 * cfg.units;
    grads_.resize_zero(checked_elems({I_ + cfg.units + (b_ ? 1 : 0), G}, "LSTM gradients"));
    dW_ = grads_.data;
    dU_ = dW_ + I_ * G;
    db_ = b_ ? dU_ + cfg.units * G : nullptr;
  }
  Dims out_dims(const Dims& in) const override {
    if (!in.seq)
      throw std::invalid_argument("`LSTM` expects 3D input (samples, timesteps, features); received " +
                                  dims_str(in));
    if (in.T < 1)
      throw std::invalid_argument("`LSTM` needs at least one timestep; received input " + dims_str(in));
    if (in.F != I_)
      throw std::invalid_argument("`LSTM` was built for " + std::to_string(I_) +
                                  " features per timestep; received input " + dims_str(in));
    return cfg_.return_sequences ? Dims{in.B, in.T, cfg_.units, true} : Dims{in.B, 0, cfg_.units, false};
  }
  const float* forward(const float* x, const Dims& in, bool training, uint64_t seed) override {
    return run(x, in, nullptr, nullptr, training, seed);
  }
  const float* backward(const float* dy, bool need_dx) override {
    return run_backward(dy, nullptr, nullptr, need_dx);
  }
  int num_inputs() const override { return cfg_.initial_state ? 3 : 1; }
  int num_outputs() const override { return cfg_.return_state ? 3 : 1; }
  void out_dims_n(const Dims* in, Dims* out) const override {
    out[0] = out_dims(in[0]);
    if (cfg_.initial_state)
      for (int k = 1; k < 3; ++k)
        if (in[k].seq || in[k].B != in[0].B || in[k].F != cfg_.units)
          throw std::invalid_argument("`LSTM` initial_state must be [h, c], each (batch, " +
                                      std::to_string(cfg_.units) + "); received " + dims_str(in[k]) +
                                      " for input " + dims_str(in[0]));
    if (cfg_.return_state) out[1] = out[2] = Dims{in[0].B, 0, cfg_.units, false};
  }
  void set_input_masks(const float* const* masks) override { tmask_ = masks[0]; }
  void forward_n(const float* const* x, const Dims* in, bool training, uint64_t seed,
                 const float** out) override {
    out[0] = cfg_.initial_state ? run(x[0], in[0], x[1], x[2], training, seed)
                                : run(x[0], in[0], nullptr, nullptr, training, seed);
    if (cfg_.return_state) {
      const long B = in[0].B, T = in[0].T, H = cfg_.units;
      float* h = hT_.resize(checked_elems({B, H}, "LSTM state"));
      float* c = cT_.resize(checked_elems({B, H}, "LSTM state"));
      for (long b = 0; b < B; ++b) {
        std::memcpy(h + b * H, st_.h.data + (b * T + T - 1) * H, sizeof(float) * H);
        std::memcpy(c + b * H, st_.c.data + (b * T + T - 1) * H, sizeof(float) * H);
      }
      out[1] = h;
      out[2] = c;
    }
  }
  void backward_n(const float* const* dy, const float** dx, bool need_dx) override {
    dx[0] = run_backward(dy[0], cfg_.return_state ? dy[1] : nullptr,
                         cfg_.return_state ? dy[2] : nullptr, need_dx);
    if (cfg_.initial_state) {
      dx[1] = need_dx ? dh0_.data : nullptr;
      dx[2] = need_dx ? dc0_.data : nullptr;
    }
  }

 private:
  // forward from the initial state h0i, c0i (B, H) when given, else the stateful state or zeros
  const float* run(const float* x, const Dims& in, const float* h0i, const float* c0i,
                   bool training, uint64_t seed) {
    const long B = in.B, T = in.T, H = cfg_.units;
    in_ = in;
    const float* h0 = h0i;
    const float* c0 = c0i;
    if (cfg_.stateful) {
      // keep the state before this step (rollback_state), then start from it
      saved_B_ = state_B_;
      if (state_B_ > 0) {
        std::memcpy(prev_hs_.resize(hs_.size), hs_.data, sizeof(float) * hs_.size);
        std::memcpy(prev_cs_.resize(cs_.size), cs_.data, sizeof(float) * cs_.size);
      }
      if (state_B_ != B) {  // first use, or a reset with another batch size
        hs_.resize_zero(checked_elems({B, H}, "LSTM state"));
        cs_.resize_zero(checked_elems({B, H}, "LSTM state"));
        state_B_ = B;
      }
      h0 = hs_.data;
      c0 = cs_.data;
    }
    dropping_ = training && cfg_.dropout > 0.0f;
    if (dropping_) {  // Keras: one input mask per sequence, the same at every timestep
      float* m = mask_.resize(checked_elems({B, I_}, "LSTM dropout mask"));
      dropout_mask(m, B * I_, cfg_.dropout, seed, 0x1d0u);
      float* xd = xdrop_.resize(checked_elems({B, T, I_}, "LSTM dropout input"));
      for (long b = 0; b < B; ++b)
        for (long t = 0; t < T; ++t)
          for (long i = 0; i < I_; ++i) xd[(b * T + t) * I_ + i] = x[(b * T + t) * I_ + i] * m[b * I_ + i];
      x = xd;
    }
    const float* rmask = nullptr;
    if (training && cfg_.recurrent_dropout > 0.0f) {  // one mask per sequence, as Keras
      float* m = rmask_.resize(checked_elems({B, H}, "LSTM recurrent dropout mask"));
      dropout_mask(m, B * H, cfg_.recurrent_dropout, seed, 0x2d0u);
      rmask = m;
    }
    lstm_forward(st_, x, W_, U_, b_, h0, c0, B, T, I_, H, cfg_.act, cfg_.ract, cfg_.go_backwards,
                 rmask, training, tmask_);
    if (cfg_.stateful) {
      for (long b = 0; b < B; ++b) {
        std::memcpy(hs_.data + b * H, st_.h.data + (b * T + T - 1) * H, sizeof(float) * H);
        std::memcpy(cs_.data + b * H, st_.c.data + (b * T + T - 1) * H, sizeof(float) * H);
      }
    }
    zeroed_ = false;
    if (cfg_.return_sequences) {
      if (!tmask_) return st_.h.data;
      return masked_sequence(st_.h.data, st_.tmask.data, B, T, H, cfg_.zero_output_for_mask,
                             h0 != nullptr, outmask_, masked_out_, &zeroed_);
    }
    float* y = out_.resize(checked_elems({B, H}, "LSTM output"));
    for (long b = 0; b < B; ++b)
      std::memcpy(y + b * H, st_.h.data + (b * T + T - 1) * H, sizeof(float) * H);
    return y;
  }
  // dy of the output (or null), dhT and dcT of the returned states (or null)
  const float* run_backward(const float* dy, const float* dhT, const float* dcT, bool need_dx) {
    const long B = in_.B, T = in_.T, H = cfg_.units;
    if (zeroed_ && dy) dy = masked_sequence_grad(dy, outmask_, B, T, cfg_.units, dyz_);
    float* dx = need_dx ? dx_.resize(checked_elems({B, T, I_}, "LSTM input gradient")) : nullptr;
    float* dh0 = need_dx && cfg_.initial_state ? dh0_.resize(checked_elems({B, H}, "LSTM state gradient")) : nullptr;
    float* dc0 = need_dx && cfg_.initial_state ? dc0_.resize(checked_elems({B, H}, "LSTM state gradient")) : nullptr;
    lstm_backward(st_, dx, dW_, dU_, db_, dh0, dc0, dy, cfg_.return_sequences, dhT, dcT, W_, U_);
    if (dx && dropping_) {
      const float* m = mask_.data;
      for (long b = 0; b < B; ++b)
        for (long t = 0; t < T; ++t)
          for (long i = 0; i < I_; ++i) dx[(b * T + t) * I_ + i] *= m[b * I_ + i];
    }
    return dx;
  }

 public:
  std::vector<ParamRef> params() override {
    const long G = 4 * cfg_.units;
    std::vector<ParamRef> p{{W_, dW_, I_ * G}, {U_, dU_, cfg_.units * G}};
    if (b_) p.push_back({b_, db_, G});
    return p;
  }
  void reset_states() override {
    if (state_B_ > 0) {
      std::memset(hs_.data, 0, sizeof(float) * state_B_ * cfg_.units);
      std::memset(cs_.data, 0, sizeof(float) * state_B_ * cfg_.units);
    }
    saved_B_ = -1;  // nothing to roll back to
  }
  bool stateful() const override { return cfg_.stateful; }
  int num_states() const override { return cfg_.stateful ? 2 : 0; }
  long state_width() const override { return cfg_.units; }
  float* state_data(int k, long B) override {
    if (!cfg_.stateful || k < 0 || k > 1) return nullptr;
    if (state_B_ != B) {
      hs_.resize_zero(checked_elems({B, cfg_.units}, "LSTM state"));
      cs_.resize_zero(checked_elems({B, cfg_.units}, "LSTM state"));
      state_B_ = B;
      saved_B_ = -1;
    }
    return k == 0 ? hs_.data : cs_.data;
  }
  void set_input_mask(const float* mask) override { tmask_ = mask; }
  const float* output_mask() const override { return cfg_.return_sequences ? tmask_ : nullptr; }
  void rollback_state() override {
    if (!cfg_.stateful || saved_B_ < 0) return;
    state_B_ = saved_B_;
    if (saved_B_ > 0) {  // the buffers only grow: the saved size fits
      std::memcpy(hs_.resize(prev_hs_.size), prev_hs_.data, sizeof(float) * prev_hs_.size);
      std::memcpy(cs_.resize(prev_cs_.size), prev_cs_.data, sizeof(float) * prev_cs_.size);
    }
    saved_B_ = -1;
  }

 private:
  LstmConfig cfg_;
  long I_;
  float *W_, *U_, *b_;
  Buffer grads_, out_, dx_, mask_, xdrop_, hs_, cs_, rmask_, prev_hs_, prev_cs_;
  Buffer hT_, cT_, dh0_, dc0_;  // returned states; gradients of the initial state
  float *dW_, *dU_, *db_;  // rows of grads_
  long state_B_ = 0;
  long saved_B_ = -1;  // state_B_ before the last forward (-1: nothing to roll back)
  bool dropping_ = false;
  Dims in_;
  LstmState st_;
  // masks
  const float* tmask_ = nullptr;
  bool zeroed_ = false;        // the last forward fixed some outputs at zero
  Buffer outmask_, masked_out_, dyz_;
};

// config: units, input_dim, activation, recurrent_activation, return_sequences, stateful,
// go_backwards, dropout, recurrent_dropout; params: kernel (I, 4H), recurrent_kernel (H, 4H),
// bias (4H,) or none.
std::unique_ptr<Layer> make_lstm_layer(const LayerConfig& c, LayerParams& p) {
  LstmConfig cfg;
  cfg.units = c.get_int("units");
  cfg.input_dim = c.get_int("input_dim");
  if (cfg.units < 1 || cfg.input_dim < 1)
    throw std::invalid_argument("`LSTM` needs units >= 1 and input_dim >= 1");
  cfg.act = c.get_activation("activation", "tanh");
  cfg.ract = c.get_activation("recurrent_activation", "sigmoid");
  if (cfg.act == ACT_SOFTMAX || cfg.ract == ACT_SOFTMAX)
    throw std::invalid_argument("`LSTM` activations cannot be 'softmax'");
  cfg.return_sequences = c.get_bool("return_sequences", false);
  cfg.stateful = c.get_bool("stateful", false);
  cfg.go_backwards = c.get_bool("go_backwards", false);
  cfg.dropout = (float)c.get_float("dropout", 0.0);
  cfg.recurrent_dropout = (float)c.get_float("recurrent_dropout", 0.0);
  cfg.zero_output_for_mask = c.get_bool("zero_output_for_mask", false);
  cfg.initial_state = c.get_bool("initial_state", false);
  cfg.return_state = c.get_bool("return_state", false);
  if (cfg.stateful && cfg.initial_state)
    throw std::invalid_argument("a stateful `LSTM` keeps its own state: it takes no initial_state");
  if (!(cfg.dropout >= 0.0f && cfg.dropout < 1.0f) ||
      !(cfg.recurrent_dropout >= 0.0f && cfg.recurrent_dropout < 1.0f))
    throw std::invalid_argument("`dropout` and `recurrent_dropout` must be in [0, 1)");
  const long G = checked_mul(4, cfg.units, "LSTM gates");
  float* W = p.take("kernel", {cfg.input_dim, G}, false);
  float* U = p.take("recurrent_kernel", {cfg.units, G}, false);
  float* b = p.take("bias", {G}, true);
  return std::make_unique<LstmLayer>(cfg, W, U, b);
}

}  // namespace

LSTMCORE_REGISTER_LAYER("lstm", make_lstm_layer);

}  // namespace lstmcore
