// rnn_layer.h — what the single-state recurrent layers (GRU, SimpleRNN) share: input checks,
// the dropout masks (one per sequence, Keras), the stateful carry-over of h with its
// rollback, and the output (last step or the sequence). A layer supplies its cell as
//   struct Cell { State st; void forward(x, h0, B, T, rmask, training, tmask); void backward(dx,
//   dh0, dy, dy_seq, dhT); const float* h() const; std::vector<ParamRef> params(); };
// (see layers/gru.cpp). The LSTM keeps its own class (two states).
#pragma once
#include <cstring>
#include <stdexcept>
#include <string>

#include "model/layer.h"

namespace lstmcore {

struct RnnConfig {
  long units = 0, input_dim = 0;
  bool return_sequences = false, stateful = false, go_backwards = false;
  bool zero_output_for_mask = false;  // Keras: set by Bidirectional when returning sequences
  // functional models: the state comes in as input 1 (initial_state=[h]) and/or goes out as
  // output 1 (return_state=True)
  bool initial_state = false, return_state = false;
  float dropout = 0.0f, recurrent_dropout = 0.0f;
};

// The options every recurrent layer reads the same way; `name` is the Keras class name.
inline RnnConfig read_rnn_config(const LayerConfig& c, const char* name) {
  RnnConfig cfg;
  cfg.units = c.get_int("units");
  cfg.input_dim = c.get_int("input_dim");
  if (cfg.units < 1 || cfg.input_dim < 1)
    throw std::invalid_argument(std::string("`") + name + "` needs units >= 1 and input_dim >= 1");
  cfg.return_sequences = c.get_bool("return_sequences", false);
  cfg.stateful = c.get_bool("stateful", false);
  cfg.go_backwards = c.get_bool("go_backwards", false);
  cfg.dropout = (float)c.get_float("dropout", 0.0);
  cfg.recurrent_dropout = (float)c.get_float("recurrent_dropout", 0.0);
  cfg.zero_output_for_mask = c.get_bool("zero_output_for_mask", false);
  cfg.initial_state = c.get_bool("initial_state", false);
  cfg.return_state = c.get_bool("return_state", false);
  if (cfg.stateful && cfg.initial_state)
    throw std::invalid_argument(std::string("a stateful `") + name +
                                "` keeps its own state: it takes no initial_state");
  if (!(cfg.dropout >= 0.0f && cfg.dropout < 1.0f) ||
      !(cfg.recurrent_dropout >= 0.0f && cfg.recurrent_dropout < 1.0f))
    throw std::invalid_argument("`dropout` and `recurrent_dropout` must be in [0, 1)");
  return cfg;
}

// Keras' outputs at the skipped steps of a returned sequence h (B, T, H): the previous output,
// which is zero before the first step used (the state itself starts from h0), or zero at
// every skipped step with zero_output_for_mask. tm is the mask in processing order. Returns
// h itself when no output changes (no initial state, no zero_output_for_mask), else `out`;
// `keep` (B, T) says which outputs are h's (for the gradient: masked_sequence_grad).
inline const float* masked_sequence(const float* h, const float* tm, long B, long T, long H,
                                    bool zero_output, bool has_h0, Buffer& keep, Buffer& out,
                                    bool* changed) {
  *changed = zero_output || has_h0;
  if (!*changed) return h;
  float* om = keep.resize(checked_elems({B, T}, "an output mask"));
  for (long b = 0; b < B; ++b) {
    bool seen = false;
    for (long t = 0; t < T; ++t) {
      const bool use = tm[b * T + t] != 0.0f;
      seen = seen || use;
      om[b * T + t] = (zero_output ? use : seen) ? 1.0f : 0.0f;
    }
  }
  float* y = out.resize(checked_elems({B, T, H}, "a recurrent output"));
  for (long k = 0; k < B * T; ++k) {
    if (om[k] != 0.0f) std::memcpy(y + k * H, h + k * H, sizeof(float) * H);
    else std::memset(y + k * H, 0, sizeof(float) * H);
  }
  return y;
}

// The gradient of masked_sequence's output: none reaches the outputs fixed at zero.
inline const float* masked_sequence_grad(const float* dy, const Buffer& keep, long B, long T,
                                         long H, Buffer& out) {
  float* d = out.resize(checked_elems({B, T, H}, "a recurrent output gradient"));
  for (long k = 0; k < B * T; ++k)
    for (long j = 0; j < H; ++j) d[k * H + j] = keep.data[k] != 0.0f ? dy[k * H + j] : 0.0f;
  return d;
}

template <class Cell>
class RnnLayer : public Layer {
 public:
  RnnLayer(const RnnConfig& cfg, const char* name, Cell cell)
      : cfg_(cfg), name_(name), cell_(std::move(cell)) {}
  Dims out_dims(const Dims& in) const override {
    const std::string n = "`" + name_ + "`";
    if (!in.seq)
      throw std::invalid_argument(n + " expects 3D input (samples, timesteps, features); received " +
                                  dims_str(in));
    if (in.T < 1)
      throw std::invalid_argument(n + " needs at least one timestep; received input " + dims_str(in));
    if (in.F != cfg_.input_dim)
      throw std::invalid_argument(n + " was built for " + std::to_string(cfg_.input_dim) +
                                  " features per timestep; received input " + dims_str(in));
    return cfg_.return_sequences ? Dims{in.B, in.T, cfg_.units, true} : Dims{in.B, 0, cfg_.units, false};
  }
  const float* forward(const float* x, const Dims& in, bool training, uint64_t seed) override {
    return run(x, in, nullptr, training, seed);
  }
  const float* backward(const float* dy, bool need_dx) override {
    return run_backward(dy, nullptr, need_dx);
  }
  int num_inputs() const override { return cfg_.initial_state ? 2 : 1; }
  int num_outputs() const override { return cfg_.return_state ? 2 : 1; }
  void out_dims_n(const Dims* in, Dims* out) const override {
    out[0] = out_dims(in[0]);
    if (cfg_.initial_state && (in[1].seq || in[1].B != in[0].B || in[1].F != cfg_.units))
      throw std::invalid_argument("`" + name_ + "` initial_state must be [h], (batch, " +
                                  std::to_string(cfg_.units) + "); received " + dims_str(in[1]) +
                                  " for input " + dims_str(in[0]));
    if (cfg_.return_state) out[1] = Dims{in[0].B, 0, cfg_.units, false};
  }
  void set_input_masks(const float* const* masks) override { tmask_ = masks[0]; }
  void forward_n(const float* const* x, const Dims* in, bool training, uint64_t seed,
                 const float** out) override {
    out[0] = run(x[0], in[0], cfg_.initial_state ? x[1] : nullptr, training, seed);
    if (cfg_.return_state) {
      const long B = in[0].B, T = in[0].T, H = cfg_.units;
      float* h = hT_.resize(checked_elems({B, H}, "recurrent state"));
      const float* hseq = cell_.h();
      for (long b = 0; b < B; ++b) std::memcpy(h + b * H, hseq + (b * T + T - 1) * H, sizeof(float) * H);
      out[1] = h;
    }
  }
  void backward_n(const float* const* dy, const float** dx, bool need_dx) override {
    dx[0] = run_backward(dy[0], cfg_.return_state ? dy[1] : nullptr, need_dx);
    if (cfg_.initial_state) dx[1] = need_dx ? dh0_.data : nullptr;
  }

 private:
  const float* run(const float* x, const Dims& in, const float* h0i, bool training, uint64_t seed) {
    const long B = in.B, T = in.T, H = cfg_.units, I = cfg_.input_dim;
    in_ = in;
    const float* h0 = h0i;
    if (cfg_.stateful) {
      saved_B_ = state_B_;  // keep the state before this step (rollback_state)
      if (state_B_ > 0) std::memcpy(prev_hs_.resize(hs_.size), hs_.data, sizeof(float) * hs_.size);
      if (state_B_ != B) {
        hs_.resize_zero(checked_elems({B, H}, "recurrent state"));
        state_B_ = B;
      }
      h0 = hs_.data;
    }
    dropping_ = training && cfg_.dropout > 0.0f;
    if (dropping_) {  // Keras: one input mask per sequence, the same at every timestep
      float* m = mask_.resize(checked_elems({B, I}, "dropout mask"));
      dropout_mask(m, B * I, cfg_.dropout, seed, 0x1d0u);
      float* xd = xdrop_.resize(checked_elems({B, T, I}, "dropout input"));
      for (long b = 0; b < B; ++b)
        for (long t = 0; t < T; ++t)
          for (long i = 0; i < I; ++i) xd[(b * T + t) * I + i] = x[(b * T + t) * I + i] * m[b * I + i];
      x = xd;
    }
    const float* rmask = nullptr;
    if (training && cfg_.recurrent_dropout > 0.0f) {
      float* m = rmask_.resize(checked_elems({B, H}, "recurrent dropout mask"));
      dropout_mask(m, B * H, cfg_.recurrent_dropout, seed, 0x2d0u);
      rmask = m;
    }
    cell_.forward(x, h0, B, T, rmask, training, tmask_);
    const float* hseq = cell_.h();
    if (cfg_.stateful)
      for (long b = 0; b < B; ++b)
        std::memcpy(hs_.data + b * H, hseq + (b * T + T - 1) * H, sizeof(float) * H);
    zeroed_ = false;
    if (cfg_.return_sequences) {
      if (!tmask_) return hseq;
      return masked_sequence(hseq, cell_.st.tmask.data, B, T, H, cfg_.zero_output_for_mask,
                             h0 != nullptr, keep_, masked_out_, &zeroed_);
    }
    float* y = out_.resize(checked_elems({B, H}, "recurrent output"));
    for (long b = 0; b < B; ++b) std::memcpy(y + b * H, hseq + (b * T + T - 1) * H, sizeof(float) * H);
    return y;
  }
  const float* run_backward(const float* dy, const float* dhT, bool need_dx) {
    const long B = in_.B, T = in_.T, I = cfg_.input_dim;
    float* dx = need_dx ? dx_.resize(checked_elems({B, T, I}, "recurrent input gradient")) : nullptr;
    float* dh0 = need_dx && cfg_.initial_state
                     ? dh0_.resize(checked_elems({B, cfg_.units}, "recurrent state gradient")) : nullptr;
    if (zeroed_ && dy) dy = masked_sequence_grad(dy, keep_, B, T, cfg_.units, dyz_);
    cell_.backward(dx, dh0, dy, cfg_.return_sequences, dhT);
    if (dx && dropping_) {
      const float* m = mask_.data;
      for (long b = 0; b < B; ++b)
        for (long t = 0; t < T; ++t)
          for (long i = 0; i < I; ++i) dx[(b * T + t) * I + i] *= m[b * I + i];
    }
    return dx;
  }

 public:
  std::vector<ParamRef> params() override { return cell_.params(); }
  void reset_states() override {
    if (state_B_ > 0) std::memset(hs_.data, 0, sizeof(float) * state_B_ * cfg_.units);
    saved_B_ = -1;
  }
  bool stateful() const override { return cfg_.stateful; }
  int num_states() const override { return cfg_.stateful ? 1 : 0; }
  long state_width() const override { return cfg_.units; }
  float* state_data(int k, long B) override {
    if (!cfg_.stateful || k != 0) return nullptr;
    if (state_B_ != B) {
      hs_.resize_zero(checked_elems({B, cfg_.units}, "recurrent state"));
      state_B_ = B;
      saved_B_ = -1;
    }
    return hs_.data;
  }
  void set_input_mask(const float* mask) override { tmask_ = mask; }
  const float* output_mask() const override { return cfg_.return_sequences ? tmask_ : nullptr; }
  void rollback_state() override {
    if (!cfg_.stateful || saved_B_ < 0) return;
    state_B_ = saved_B_;
    if (saved_B_ > 0) std::memcpy(hs_.resize(prev_hs_.size), prev_hs_.data, sizeof(float) * prev_hs_.size);
    saved_B_ = -1;
  }

 private:
  RnnConfig cfg_;
  std::string name_;
  Cell cell_;
  Buffer out_, dx_, mask_, xdrop_, hs_, rmask_, prev_hs_, keep_, masked_out_, dyz_;
  Buffer hT_, dh0_;  // the returned state; the gradient of the initial state
  const float* tmask_ = nullptr;  // Keras mask of the input (B, T), or null
  bool zeroed_ = false;           // the last forward fixed some outputs at zero
  long state_B_ = 0;
  long saved_B_ = -1;
  bool dropping_ = false;
  Dims in_;
};

}  // namespace lstmcore
