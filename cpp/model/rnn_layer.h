// rnn_layer.h — what the recurrent layers (LSTM, GRU, SimpleRNN) share: input checks, the
// dropout masks (one per sequence, Keras), the stateful carry-over of their states with its
// rollback, initial states as inputs and final states as outputs (functional models), and
// the output (last step or the sequence). A layer supplies its cell as
//   struct Cell {
//     static constexpr int kStates;  // 1 (h) or 2 (h, c)
//     void forward(x, s0, B, T, rmask, training, tmask);   // s0: kStates (B, H) or null
//     void backward(dx, ds0, dy, dy_seq, dsT);             // ds0, dsT: kStates or null
//     const float* seq(int k) const;  // state k per step (B, T, H), processing order
//     const float* tmask() const;     // the Keras mask in processing order
//     std::vector<ParamRef> params(); };
// (see layers/lstm.cpp, gru.cpp).
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
  // functional models: the states come in as inputs 1.. (initial_state=[h] or [h, c]) and/or
  // go out as outputs 1.. (return_state=True)
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
  static constexpr int K = Cell::kStates;

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
  int num_inputs() const override { return cfg_.initial_state ? 1 + K : 1; }
  int num_outputs() const override { return cfg_.return_state ? 1 + K : 1; }
  void out_dims_n(const Dims* in, Dims* out) const override {
    out[0] = out_dims(in[0]);
    if (cfg_.initial_state)
      for (int k = 1; k <= K; ++k)
        if (in[k].seq || in[k].B != in[0].B || in[k].F != cfg_.units)
          throw std::invalid_argument("`" + name_ + "` initial_state must be " +
                                      (K == 2 ? "[h, c], each" : "[h],") + " (batch, " +
                                      std::to_string(cfg_.units) + "); received " + dims_str(in[k]) +
                                      " for input " + dims_str(in[0]));
    if (cfg_.return_state)
      for (int k = 1; k <= K; ++k) out[k] = Dims{in[0].B, 0, cfg_.units, false};
  }
  void set_input_masks(const float* const* masks) override { tmask_ = masks[0]; }
  void forward_n(const float* const* x, const Dims* in, bool training, uint64_t seed,
                 const float** out) override {
    out[0] = run(x[0], in[0], cfg_.initial_state ? x + 1 : nullptr, training, seed);
    if (cfg_.return_state) {
      const long B = in[0].B, T = in[0].T;
      for (int k = 0; k < K; ++k) {
        float* s = sT_[k].resize(checked_elems({B, cfg_.units}, "a recurrent state"));
        last_step(s, cell_.seq(k), B, T);
        out[1 + k] = s;
      }
    }
  }
  void backward_n(const float* const* dy, const float** dx, bool need_dx) override {
    dx[0] = run_backward(dy[0], cfg_.return_state ? dy + 1 : nullptr, need_dx);
    if (cfg_.initial_state)
      for (int k = 0; k < K; ++k) dx[1 + k] = need_dx ? ds0_[k].data : nullptr;
  }

 private:
  // row T-1 of each sample of a (B, T, H) sequence into (B, H)
  void last_step(float* dst, const float* seq, long B, long T) const {
    const long H = cfg_.units;
    for (long b = 0; b < B; ++b) std::memcpy(dst + b * H, seq + (b * T + T - 1) * H, sizeof(float) * H);
  }
  // forward from the initial states s0i (K of (B, H)) when given, else the stateful states
  // or zeros
  const float* run(const float* x, const Dims& in, const float* const* s0i, bool training,
                   uint64_t seed) {
    const long B = in.B, T = in.T, H = cfg_.units, I = cfg_.input_dim;
    in_ = in;
    const float* s0[K];
    const float* const* s0p = s0i;
    if (cfg_.stateful) {
      saved_B_ = state_B_;  // keep the states before this step (rollback_state)
      for (int k = 0; k < K && state_B_ > 0; ++k)
        std::memcpy(prev_[k].resize(hs_[k].size), hs_[k].data, sizeof(float) * hs_[k].size);
      if (state_B_ != B) {  // first use, or a reset with another batch size
        for (int k = 0; k < K; ++k) hs_[k].resize_zero(checked_elems({B, H}, "a recurrent state"));
        state_B_ = B;
      }
      for (int k = 0; k < K; ++k) s0[k] = hs_[k].data;
      s0p = s0;
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
    if (training && cfg_.recurrent_dropout > 0.0f) {  // one mask per sequence, as Keras
      float* m = rmask_.resize(checked_elems({B, H}, "recurrent dropout mask"));
      dropout_mask(m, B * H, cfg_.recurrent_dropout, seed, 0x2d0u);
      rmask = m;
    }
    cell_.forward(x, s0p, B, T, rmask, training, tmask_);
    if (cfg_.stateful)
      for (int k = 0; k < K; ++k) last_step(hs_[k].data, cell_.seq(k), B, T);
    const float* hseq = cell_.seq(0);
    zeroed_ = false;
    if (cfg_.return_sequences) {
      if (!tmask_) return hseq;
      return masked_sequence(hseq, cell_.tmask(), B, T, H, cfg_.zero_output_for_mask,
                             s0p != nullptr, keep_, masked_out_, &zeroed_);
    }
    float* y = out_.resize(checked_elems({B, H}, "recurrent output"));
    last_step(y, hseq, B, T);
    return y;
  }
  // dy of the output (or null), dsT the gradients of the returned states (K, each or the
  // whole may be null)
  const float* run_backward(const float* dy, const float* const* dsT, bool need_dx) {
    const long B = in_.B, T = in_.T, I = cfg_.input_dim;
    float* dx = need_dx ? dx_.resize(checked_elems({B, T, I}, "recurrent input gradient")) : nullptr;
    float* ds0[K];
    float* const* ds0p = nullptr;
    if (need_dx && cfg_.initial_state) {
      for (int k = 0; k < K; ++k)
        ds0[k] = ds0_[k].resize(checked_elems({B, cfg_.units}, "a recurrent state gradient"));
      ds0p = ds0;
    }
    if (zeroed_ && dy) dy = masked_sequence_grad(dy, keep_, B, T, cfg_.units, dyz_);
    cell_.backward(dx, ds0p, dy, cfg_.return_sequences, dsT);
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
    for (int k = 0; k < K && state_B_ > 0; ++k)
      std::memset(hs_[k].data, 0, sizeof(float) * state_B_ * cfg_.units);
    saved_B_ = -1;  // nothing to roll back to
  }
  bool stateful() const override { return cfg_.stateful; }
  int num_states() const override { return cfg_.stateful ? K : 0; }
  long state_width() const override { return cfg_.units; }
  float* state_data(int k, long B) override {
    if (!cfg_.stateful || k < 0 || k >= K) return nullptr;
    if (state_B_ != B) {
      for (int j = 0; j < K; ++j) hs_[j].resize_zero(checked_elems({B, cfg_.units}, "a recurrent state"));
      state_B_ = B;
      saved_B_ = -1;
    }
    return hs_[k].data;
  }
  void set_input_mask(const float* mask) override { tmask_ = mask; }
  const float* output_mask() const override { return cfg_.return_sequences ? tmask_ : nullptr; }
  void rollback_state() override {
    if (!cfg_.stateful || saved_B_ < 0) return;
    state_B_ = saved_B_;
    for (int k = 0; k < K && saved_B_ > 0; ++k)  // the buffers only grow: the saved size fits
      std::memcpy(hs_[k].resize(prev_[k].size), prev_[k].data, sizeof(float) * prev_[k].size);
    saved_B_ = -1;
  }

 private:
  RnnConfig cfg_;
  std::string name_;
  Cell cell_;
  Buffer out_, dx_, mask_, xdrop_, rmask_, keep_, masked_out_, dyz_;
  Buffer hs_[K], prev_[K];  // the stateful states; those before the last forward
  Buffer sT_[K], ds0_[K];   // the returned states; the gradients of the initial states
  const float* tmask_ = nullptr;  // Keras mask of the input (B, T), or null
  bool zeroed_ = false;           // the last forward fixed some outputs at zero
  long state_B_ = 0;
  long saved_B_ = -1;             // state_B_ before the last forward (-1: nothing to roll back)
  bool dropping_ = false;
  Dims in_;
};

}  // namespace lstmcore
