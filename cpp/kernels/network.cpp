// network.cpp — the native Sequential: layers, training step, optimizer.
//
// Who owns what: parameters belong to Python (raw pointers here); each layer owns its
// output, its dL/dx and its parameter gradients; the Network owns the loss gradient, the
// gathered batch and the optimizer slots. Everything is a grow-only Buffer, so once a batch
// shape has been seen a step allocates nothing.
#include "kernels/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace lstmcore {

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

static std::string dims_str(const Dims& d) {
  return d.seq ? "(" + std::to_string(d.B) + ", " + std::to_string(d.T) + ", " + std::to_string(d.F) + ")"
               : "(" + std::to_string(d.B) + ", " + std::to_string(d.F) + ")";
}

// Fill mask (n values) with 0 or 1/(1-rate), keyed by (seed, salt, index).
static void dropout_mask(float* mask, long n, float rate, uint64_t seed, uint64_t salt) {
  const float keep = 1.0f / (1.0f - rate);
  const uint64_t base = mix64(seed ^ mix64(salt));
  for (long i = 0; i < n; ++i) mask[i] = uniform01(base + (uint64_t)i) >= rate ? keep : 0.0f;
}

// ===========================================================================================
// LSTM
class LstmLayer : public Layer {
 public:
  LstmLayer(const LstmConfig& cfg, long input_dim, float* W, float* U, float* b)
      : cfg_(cfg), I_(input_dim), W_(W), U_(U), b_(b) {
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
    const long B = in.B, T = in.T, H = cfg_.units;
    in_ = in;
    const float* h0 = nullptr;
    const float* c0 = nullptr;
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
                 rmask, training);
    if (cfg_.stateful) {
      for (long b = 0; b < B; ++b) {
        std::memcpy(hs_.data + b * H, st_.h.data + (b * T + T - 1) * H, sizeof(float) * H);
        std::memcpy(cs_.data + b * H, st_.c.data + (b * T + T - 1) * H, sizeof(float) * H);
      }
    }
    if (cfg_.return_sequences) return st_.h.data;
    float* y = out_.resize(checked_elems({B, H}, "LSTM output"));
    for (long b = 0; b < B; ++b)
      std::memcpy(y + b * H, st_.h.data + (b * T + T - 1) * H, sizeof(float) * H);
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    const long B = in_.B, T = in_.T;
    float* dx = need_dx ? dx_.resize(checked_elems({B, T, I_}, "LSTM input gradient")) : nullptr;
    lstm_backward(st_, dx, dW_, dU_, db_, nullptr, nullptr, dy,
                  cfg_.return_sequences, nullptr, nullptr, W_, U_);
    if (dx && dropping_) {
      const float* m = mask_.data;
      for (long b = 0; b < B; ++b)
        for (long t = 0; t < T; ++t)
          for (long i = 0; i < I_; ++i) dx[(b * T + t) * I_ + i] *= m[b * I_ + i];
    }
    return dx;
  }
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
  float *dW_, *dU_, *db_;  // rows of grads_
  long state_B_ = 0;
  long saved_B_ = -1;  // state_B_ before the last forward (-1: nothing to roll back)
  bool dropping_ = false;
  Dims in_;
  LstmState st_;
};

std::unique_ptr<Layer> make_lstm(const LstmConfig& cfg, long input_dim, float* W, float* U,
                                 float* b) {
  return std::make_unique<LstmLayer>(cfg, input_dim, W, U, b);
}

// ===========================================================================================
// Dense on the last axis
class DenseLayer : public Layer {
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

std::unique_ptr<Layer> make_dense(long units, long input_dim, int act, float* W, float* b) {
  return std::make_unique<DenseLayer>(units, input_dim, act, W, b);
}

// ===========================================================================================
// Activation
class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(int act) : act_(act) {}
  Dims out_dims(const Dims& in) const override { return in; }
  const float* forward(const float* x, const Dims& in, bool, uint64_t) override {
    in_ = in;
    float* y = out_.resize(in.size());
    activation_forward(act_, y, x, in.rows(), in.F);
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    if (!need_dx) return nullptr;
    float* dx = dx_.resize(in_.size());
    activation_backward(act_, dx, out_.data, dy, in_.rows(), in_.F);
    return dx;
  }

 private:
  int act_;
  Buffer out_, dx_;
  Dims in_;
};

std::unique_ptr<Layer> make_activation(int act) { return std::make_unique<ActivationLayer>(act); }

// ===========================================================================================
// Dropout (inverted: scaled by 1/(1-rate) at training, identity at inference)
class DropoutLayer : public Layer {
 public:
  explicit DropoutLayer(float rate) : rate_(rate) {}
  Dims out_dims(const Dims& in) const override { return in; }
  const float* forward(const float* x, const Dims& in, bool training, uint64_t seed) override {
    in_ = in;
    active_ = training && rate_ > 0.0f;
    if (!active_) return x;
    float* m = mask_.resize(in.size());
    dropout_mask(m, in.size(), rate_, seed, 0xd20u);
    float* y = out_.resize(in.size());
    for (long i = 0; i < in.size(); ++i) y[i] = x[i] * m[i];
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    if (!need_dx) return nullptr;
    if (!active_) return dy;
    float* dx = dx_.resize(in_.size());
    for (long i = 0; i < in_.size(); ++i) dx[i] = dy[i] * mask_.data[i];
    return dx;
  }

 private:
  float rate_;
  bool active_ = false;
  Buffer mask_, out_, dx_;
  Dims in_;
};

std::unique_ptr<Layer> make_dropout(float rate) { return std::make_unique<DropoutLayer>(rate); }

// ===========================================================================================
// RepeatVector: (B, F) -> (B, n, F)
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

std::unique_ptr<Layer> make_repeat_vector(long n) { return std::make_unique<RepeatVectorLayer>(n); }

// ===========================================================================================
// Bidirectional(LSTM): forward layer on x, backward layer with go_backwards; with
// return_sequences the backward outputs are flipped back to input time order (Keras).
class BidirectionalLayer : public Layer {
 public:
  BidirectionalLayer(const LstmConfig& cfg, long I, int merge, float* Wf, float* Uf, float* bf,
                     float* Wb, float* Ub, float* bb)
      : cfg_(cfg), merge_(merge) {
    LstmConfig cf = cfg, cb = cfg;
    cf.go_backwards = false;
    cb.go_backwards = true;
    fwd_ = std::make_unique<LstmLayer>(cf, I, Wf, Uf, bf);
    bwd_ = std::make_unique<LstmLayer>(cb, I, Wb, Ub, bb);
  }
  Dims out_dims(const Dims& in) const override {
    Dims o = fwd_->out_dims(in);
    if (merge_ == MERGE_CONCAT) o.F = checked_mul(o.F, 2, "Bidirectional output");
    return o;
  }
  const float* forward(const float* x, const Dims& in, bool training, uint64_t seed) override {
    in_ = in;
    const float* yf = fwd_->forward(x, in, training, seed);
    const float* yb = bwd_->forward(x, in, training, mix64(seed ^ 0xb1du));
    od_ = fwd_->out_dims(in);
    const long H = cfg_.units, rows = od_.rows(), T = in.T;
    const long F = merge_ == MERGE_CONCAT ? 2 * H : H;
    float* y = out_.resize(checked_elems({rows, F}, "Bidirectional output"));
    for (long r = 0; r < rows; ++r) {
      const long rb = backward_row(r, T);
      const float* a = yf + r * H;
      const float* c = yb + rb * H;
      float* o = y + r * F;
      for (long j = 0; j < H; ++j) {
        switch (merge_) {
          case MERGE_CONCAT: o[j] = a[j]; o[H + j] = c[j]; break;
          case MERGE_SUM: o[j] = a[j] + c[j]; break;
          case MERGE_MUL: o[j] = a[j] * c[j]; break;
          default: o[j] = (a[j] + c[j]) * 0.5f; break;  // MERGE_AVE
        }
      }
    }
    yf_ = yf;
    yb_ = yb;
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    const long H = cfg_.units, rows = od_.rows(), T = in_.T;
    const long F = merge_ == MERGE_CONCAT ? 2 * H : H;
    float* df = dyf_.resize(checked_elems({rows, H}, "Bidirectional gradient"));
    float* dbk = dyb_.resize(checked_elems({rows, H}, "Bidirectional gradient"));
    for (long r = 0; r < rows; ++r) {
      const long rb = backward_row(r, T);
      const float* g = dy + r * F;
      for (long j = 0; j < H; ++j) {
        switch (merge_) {
          case MERGE_CONCAT: df[r * H + j] = g[j]; dbk[rb * H + j] = g[H + j]; break;
          case MERGE_SUM: df[r * H + j] = g[j]; dbk[rb * H + j] = g[j]; break;
          case MERGE_MUL: df[r * H + j] = g[j] * yb_[rb * H + j]; dbk[rb * H + j] = g[j] * yf_[r * H + j]; break;
          default: df[r * H + j] = 0.5f * g[j]; dbk[rb * H + j] = 0.5f * g[j]; break;  // MERGE_AVE
        }
      }
    }
    const float* dxf = fwd_->backward(df, need_dx);
    if (!need_dx) {
      bwd_->backward(dbk, false);
      return nullptr;
    }
    float* dx = dx_.resize(in_.size());
    std::memcpy(dx, dxf, sizeof(float) * in_.size());
    const float* dxb = bwd_->backward(dbk, true);
    for (long i = 0; i < in_.size(); ++i) dx[i] += dxb[i];
    return dx;
  }
  std::vector<ParamRef> params() override {
    auto p = fwd_->params();
    auto q = bwd_->params();
    p.insert(p.end(), q.begin(), q.end());
    return p;
  }
  void reset_states() override { fwd_->reset_states(); bwd_->reset_states(); }
  bool stateful() const override { return cfg_.stateful; }
  void rollback_state() override { fwd_->rollback_state(); bwd_->rollback_state(); }

 private:
  // The backward layer's output row that pairs with output row r: with sequences, row
  // r = (b, t) takes the backward layer's step T-1-t (its outputs run in reverse time).
  long backward_row(long r, long T) const {
    if (!cfg_.return_sequences) return r;
    const long b = r / T, t = r % T;
    return b * T + (T - 1 - t);
  }

  LstmConfig cfg_;
  int merge_;
  std::unique_ptr<LstmLayer> fwd_, bwd_;
  const float *yf_ = nullptr, *yb_ = nullptr;
  Buffer out_, dyf_, dyb_, dx_;
  Dims in_, od_;
};

const char* const kMergeNames[MERGE_COUNT] = {"concat", "sum", "mul", "ave"};

std::unique_ptr<Layer> make_bidirectional(const LstmConfig& cfg, long I, int merge, float* Wf,
                                          float* Uf, float* bf, float* Wb, float* Ub, float* bb) {
  return std::make_unique<BidirectionalLayer>(cfg, I, merge, Wf, Uf, bf, Wb, Ub, bb);
}

// ===========================================================================================
// Network
Dims Network::output_dims(const Dims& in) const {
  Dims d = in;
  d.size();  // every size product is checked once here, before anything is allocated
  for (const auto& l : layers_) {
    d = l->out_dims(d);
    d.size();
  }
  return d;
}

std::vector<ParamRef>& Network::params() {
  if (params_dirty_) {
    params_.clear();
    for (auto& l : layers_)
      if (l->trainable)
        for (const ParamRef& p : l->params()) params_.push_back(p);
    params_dirty_ = false;
    bounds_valid_ = false;
  }
  return params_;
}

int Network::slots_per_param() const {
  switch (opt_.kind) {
    case OPT_ADAM: return 2;
    case OPT_RMSPROP: return 1;
    default: return opt_.momentum != 0.0 ? 1 : 0;
  }
}

void Network::set_optimizer(const OptimizerConfig& o) {
  opt_ = o;
  slot_a_.clear();
  slot_b_.clear();
  iterations = 0;
  ensure_slots();
  bounds_valid_ = false;
}

void Network::ensure_slots() {
  auto& ps = params();
  const int k = slots_per_param();
  if (slot_a_.size() == (k >= 1 ? ps.size() : 0) && slot_b_.size() == (k >= 2 ? ps.size() : 0))
    return;
  slot_a_.clear();
  slot_b_.clear();
  for (const ParamRef& p : ps) {
    if (k >= 1) { slot_a_.emplace_back(); slot_a_.back().resize_zero(p.n); }
    if (k >= 2) { slot_b_.emplace_back(); slot_b_.back().resize_zero(p.n); }
  }
  bounds_valid_ = false;
}

std::vector<Buffer*> Network::optimizer_slots() {
  ensure_slots();
  std::vector<Buffer*> out;
  const int k = slots_per_param();
  for (size_t i = 0; i < params().size(); ++i) {
    if (k >= 1) out.push_back(&slot_a_[i]);
    if (k >= 2) out.push_back(&slot_b_[i]);
  }
  return out;
}

void Network::reset_states() {
  for (auto& l : layers_) l->reset_states();
}

const float* Network::forward_all(const float* x, const Dims& in, bool training, uint64_t seed,
                                  Dims& out) {
  Dims d = in;
  const float* a = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Dims nd = layers_[i]->out_dims(d);
    forwarded_ = i + 1;  // from here on layer i may have moved its state (rollback)
    a = layers_[i]->forward(a, d, training, mix64(seed + 0x100 * (i + 1)));
    d = nd;
  }
  out = d;
  return a;
}

void Network::rollback_states() {
  for (size_t i = 0; i < forwarded_; ++i) layers_[i]->rollback_state();
  forwarded_ = 0;
}

// guarded: run one step; when it throws (Interrupted, a size or allocation error), the
// stateful layers it already ran get their state from before the step back.
template <class F>
auto Network::guarded(F&& step) -> decltype(step()) {
  forwarded_ = 0;
  try {
    return step();
  } catch (...) {
    rollback_states();
    throw;
  }
}

// max |p|, or +inf when a value is NaN or inf (one SIMD pass).
static double checked_max_abs(const float* p, long n) { return kt().max_abs(p, n); }

bool Network::grads_finite() {
  auto& ps = params();
  gmax_.resize(ps.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    const double m = checked_max_abs(ps[i].g, ps[i].n);
    if (!std::isfinite(m)) return false;
    gmax_[i] = m;
  }
  return true;
}

void Network::zero_grads() {
  for (const ParamRef& p : params()) std::memset(p.g, 0, sizeof(float) * p.n);
}

void Network::backward_all(const float* dy) {
  const float* g = dy;
  for (size_t i = layers_.size(); i-- > 0;) g = layers_[i]->backward(g, i > 0);
}

static void accumulate_metrics(const std::vector<int>& metrics, const float* y, const float* p,
                               const Dims& od, StepStats& st) {
  // Metrics are sums over samples: an element mean per sample (rows of one sample averaged).
  const long rows = od.rows(), per = od.seq ? od.T : 1;
  for (size_t k = 0; k < metrics.size() && k < 8; ++k)
    st.metric_sums[k] += metric_sum(metrics[k], y, p, rows, od.F) / per;
}

double Network::compute_gradients(const float* x, const Dims& in, const float* y, uint64_t seed) {
  return guarded([&] {
    Dims od;
    const float* p = forward_all(x, in, true, seed, od);
    float* gy = gy_.resize(od.size());
    double loss = loss_forward_backward(loss_, y, p, gy, od.rows(), od.F);
    zero_grads();
    backward_all(gy);
    return loss;
  });
}

bool Network::train_step(const float* x, const Dims& in, const float* y, StepStats& st,
                         uint64_t seed) {
  const int failure = guarded([&] {
    Dims od;
    const float* p = forward_all(x, in, true, seed, od);
    float* gy = gy_.resize(od.size());
    double loss = loss_forward_backward(loss_, y, p, gy, od.rows(), od.F);
    st.loss = loss;
    // The loss must be finite in float32 (what the user sees), and so must every gradient
    // and the updated weights and slots: otherwise nothing is updated and the caller
    // reports the batch.
    if (!std::isfinite((float)loss)) return STEP_BAD_LOSS;
    accumulate_metrics(metrics_, y, p, od, st);
    zero_grads();
    backward_all(gy);
    if (interruption_requested()) throw Interrupted();
    if (!grads_finite()) {
      st.loss = std::numeric_limits<double>::quiet_NaN();
      return STEP_BAD_GRADIENT;
    }
    if (!apply_update()) return STEP_BAD_UPDATE;
    return STEP_OK;
  });
  st.failure = failure;
  if (failure != STEP_OK) {
    rollback_states();  // the batch did not happen: states as before it, like the weights
    return false;
  }
  st.loss *= in.B;
  st.samples += in.B;
  return true;
}

void Network::test_step(const float* x, const Dims& in, const float* y, StepStats& st) {
  guarded([&] {
    Dims od;
    const float* p = forward_all(x, in, false, 0, od);
    double loss = loss_forward_backward(loss_, y, p, nullptr, od.rows(), od.F);
    accumulate_metrics(metrics_, y, p, od, st);
    st.loss += loss * in.B;
    st.samples += in.B;
  });
}

const float* Network::predict_step(const float* x, const Dims& in) {
  return guarded([&] {
    Dims od;
    return forward_all(x, in, false, 0, od);
  });
}

void Network::evaluate_batches(const float* x, long x_len, const Dims& sample, const float* y,
                               long y_len, long N, long bs, StepStats& total) {
  for (long s0 = 0; s0 < N; s0 += bs) {
    Dims in = sample;
    in.B = std::min(bs, N - s0);
    test_step(x + s0 * x_len, in, y + s0 * y_len, total);
    if (s0 + bs < N && interruption_requested()) throw Interrupted();
  }
}

void Network::predict_batches(float* out, long out_len, const float* x, long x_len,
                              const Dims& sample, long N, long bs) {
  for (long s0 = 0; s0 < N; s0 += bs) {
    Dims in = sample;
    in.B = std::min(bs, N - s0);
    const float* y = predict_step(x + s0 * x_len, in);
    std::memcpy(out + s0 * out_len, y, sizeof(float) * in.B * out_len);
    if (s0 + bs < N && interruption_requested()) throw Interrupted();
  }
}

// ---- updates that never leave a non-finite weight ----------------------------------------
// An update could overflow (a huge learning rate, exploding gradients): the weights and
// slots would become inf or NaN. Checking afterwards needs the values from before, and a
// copy of every weight and slot per step would cost time and, for big layers, memory
// (large: ~19 MB). Instead each parameter keeps upper bounds of max|w| and max|slot|,
// the gradient scan measures max|g|, and the update formulas bound the new values:
//   SGD      v' = mu*v - lr*g                  |v'| <= mu*A + lr*G;  |dw| <= |v'| (nesterov: mu*|v'| + lr*G)
//   RMSprop  v' = rho*v + (1-rho)*g^2          v' <= rho*A + (1-rho)*G^2;  |dw| <= lr*G/sqrt(eps)
//   Adam     m' = b1*m + (1-b1)*g, v' likewise  |dw| <= lr_t*|m'|/eps
// When every bound stays below kSafe (far below float32's 3.4e38, so float rounding inside
// the kernels cannot matter) the update runs in place with nothing saved. Otherwise the
// weights and slots are copied, updated, scanned, and restored if anything is not finite.
// Bounds become exact again (a scan) after set_weights or a load (weights_changed()), and
// whenever they grow past kSafe.
static constexpr double kSafe = 1e36;

bool Network::update_is_safe(double lr) {
  auto& ps = params();
  const size_t n = ps.size();
  wnew_.resize(n);
  anew_.resize(n);
  bnew_.resize(n);
  const double t = (double)iterations;  // already counts this update
  const double lr_t = opt_.kind == OPT_ADAM
      ? lr * std::sqrt(1.0 - std::pow(opt_.beta_2, t)) / (1.0 - std::pow(opt_.beta_1, t)) : lr;
  bool safe = true;
  for (size_t i = 0; i < n; ++i) {
    const double G = gmax_[i], W = wmax_[i], A = amax_[i], Bm = bmax_[i];
    double dw, a = 0.0, b = 0.0;
    switch (opt_.kind) {
      case OPT_ADAM:
        a = opt_.beta_1 * A + (1.0 - opt_.beta_1) * G;
        b = opt_.beta_2 * Bm + (1.0 - opt_.beta_2) * G * G;
        dw = lr_t * a / opt_.epsilon;
        safe = safe && G * G < kSafe;
        break;
      case OPT_RMSPROP:
        a = opt_.rho * A + (1.0 - opt_.rho) * G * G;
        dw = lr * G / std::sqrt(opt_.epsilon);
        safe = safe && G * G < kSafe;
        break;
      default:
        if (opt_.momentum != 0.0) {
          a = opt_.momentum * A + lr * G;
          dw = opt_.nesterov ? opt_.momentum * a + lr * G : a;
        } else {
          dw = lr * G;
        }
    }
    wnew_[i] = W + dw;
    anew_[i] = a;
    bnew_[i] = b;
    // !(x < kSafe) also catches NaN and inf (epsilon 0 gives an infinite bound)
    safe = safe && lr_t < kSafe && lr * G < kSafe && wnew_[i] < kSafe && a < kSafe && b < kSafe;
  }
  return safe;
}

void Network::refresh_bounds() {
  auto& ps = params();
  const int k = slots_per_param();
  wmax_.assign(ps.size(), 0.0);
  amax_.assign(ps.size(), 0.0);
  bmax_.assign(ps.size(), 0.0);
  for (size_t i = 0; i < ps.size(); ++i) {
    wmax_[i] = checked_max_abs(ps[i].w, ps[i].n);
    if (k >= 1) amax_[i] = checked_max_abs(slot_a_[i].data, ps[i].n);
    if (k >= 2) bmax_[i] = checked_max_abs(slot_b_[i].data, ps[i].n);
  }
  bounds_valid_ = true;
}

void Network::update_all(double lr) {
  auto& ps = params();
  for (size_t i = 0; i < ps.size(); ++i) {
    const ParamRef& p = ps[i];
    switch (opt_.kind) {
      case OPT_ADAM:
        adam_update(p.w, p.g, slot_a_[i].data, slot_b_[i].data, p.n, lr, opt_.beta_1, opt_.beta_2,
                    opt_.epsilon, iterations);
        break;
      case OPT_RMSPROP:
        rmsprop_update(p.w, p.g, slot_a_[i].data, p.n, lr, opt_.rho, opt_.epsilon);
        break;
      default:
        sgd_update(p.w, p.g, opt_.momentum != 0.0 ? slot_a_[i].data : nullptr, p.n, lr,
                   opt_.momentum, opt_.nesterov);
    }
  }
}

bool Network::apply_update() {
  ensure_slots();
  auto& ps = params();
  ++iterations;
  // Keras 2 `decay`: lr / (1 + decay * iterations), iterations counted before this update.
  const double lr = opt_.decay > 0.0 ? opt_.lr / (1.0 + opt_.decay * (double)(iterations - 1))
                                      : opt_.lr;
  const bool fresh = !bounds_valid_;
  if (fresh) refresh_bounds();
  bool safe = update_is_safe(lr);
  if (!safe && !fresh) {  // the bounds may only have drifted up: make them exact, look again
    refresh_bounds();
    safe = update_is_safe(lr);
  }
  if (safe) {
    update_all(lr);
    wmax_.swap(wnew_);
    amax_.swap(anew_);
    bmax_.swap(bnew_);
    return true;
  }
  // The careful path: keep a copy, update, scan, restore on a non-finite value.
  const int k = slots_per_param();
  std::vector<Buffer> saved;
  auto keep = [&saved](const float* p, long n) {
    saved.emplace_back();
    std::memcpy(saved.back().resize(n), p, sizeof(float) * n);
  };
  for (size_t i = 0; i < ps.size(); ++i) {
    keep(ps[i].w, ps[i].n);
    if (k >= 1) keep(slot_a_[i].data, ps[i].n);
    if (k >= 2) keep(slot_b_[i].data, ps[i].n);
  }
  update_all(lr);
  refresh_bounds();
  bool finite = true;
  for (size_t i = 0; i < ps.size() && finite; ++i)
    finite = std::isfinite(wmax_[i]) && std::isfinite(amax_[i]) && std::isfinite(bmax_[i]);
  if (finite) return true;
  size_t j = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    std::memcpy(ps[i].w, saved[j++].data, sizeof(float) * ps[i].n);
    if (k >= 1) std::memcpy(slot_a_[i].data, saved[j++].data, sizeof(float) * ps[i].n);
    if (k >= 2) std::memcpy(slot_b_[i].data, saved[j++].data, sizeof(float) * ps[i].n);
  }
  --iterations;
  bounds_valid_ = false;
  return false;
}

long Network::train_batches(const float* x, long x_len, const Dims& sample, const float* y,
                            long y_len, const int64_t* idx, long N, long bs, long k0, long k1,
                            uint64_t seed, double* batch_losses, StepStats& total, int* failure) {
  *failure = STEP_OK;
  long done = 0;
  for (long k = k0; k < k1; ++k) {
    const long s0 = k * bs, s1 = std::min(N, s0 + bs), B = s1 - s0;
    const float* xb;
    const float* yb;
    bool contiguous = true;
    for (long i = 1; i < B && contiguous; ++i) contiguous = idx[s0 + i] == idx[s0] + i;
    if (contiguous) {
      xb = x + idx[s0] * x_len;
      yb = y + idx[s0] * y_len;
    } else {
      float* xg = xg_.resize(checked_elems({B, x_len}, "a gathered batch"));
      float* yg = yg_.resize(checked_elems({B, y_len}, "a gathered batch"));
      for (long i = 0; i < B; ++i) {
        std::memcpy(xg + i * x_len, x + idx[s0 + i] * x_len, sizeof(float) * x_len);
        std::memcpy(yg + i * y_len, y + idx[s0 + i] * y_len, sizeof(float) * y_len);
      }
      xb = xg;
      yb = yg;
    }
    Dims in = sample;
    in.B = B;
    StepStats st;
    if (!train_step(xb, in, yb, st, mix64(seed + (uint64_t)k))) {
      batch_losses[k - k0] = st.loss;
      *failure = st.failure;
      return done;
    }
    batch_losses[k - k0] = st.loss / B;
    total.loss += st.loss;
    total.samples += st.samples;
    for (int m = 0; m < 8; ++m) total.metric_sums[m] += st.metric_sums[m];
    ++done;
    if (k + 1 < k1 && interruption_requested()) break;  // between batches: the caller raises
  }
  return done;
}

}  // namespace lstmcore
