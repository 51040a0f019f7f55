// network.cpp — the executor: forward through the layers, loss, backward, the optimizer's
// update, and the batch loops.
//
// Who owns what: parameters belong to Python (raw pointers in the layers); each layer owns
// its output, its dL/dx and its parameter gradients; the Network owns the loss gradient and
// the gathered batch, its Optimizer the slots. Everything is a grow-only Buffer, so once a
// batch shape has been seen a step allocates nothing.
#include "model/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace lstmcore {

void Network::set_optimizer(const OptimizerConfig& o) {
  opt_.configure(o);
  opt_.ensure_slots(params());
}

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
    opt_.invalidate_bounds();
  }
  return params_;
}

void Network::reset_states() {
  for (auto& l : layers_) l->reset_states();
}

const float* Network::forward_all(const float* x, const Dims& in, bool training, uint64_t seed,
                                  Dims& out) {
  Dims d = in;
  const float* a = x;
  const float* mask = nullptr;  // Keras masking: the (B, T) mask of the current activation
  for (size_t i = 0; i < layers_.size(); ++i) {
    Dims nd = layers_[i]->out_dims(d);
    forwarded_ = i + 1;  // from here on layer i may have moved its state (rollback)
    layers_[i]->set_input_mask(mask);
    a = layers_[i]->forward(a, d, training, mix64(seed + 0x100 * (i + 1)));
    mask = layers_[i]->output_mask();
    d = nd;
  }
  out_mask_ = d.seq ? mask : nullptr;
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

bool Network::grads_finite() {
  auto& ps = params();
  gmax_.resize(ps.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    const double m = kt().max_abs(ps[i].g, ps[i].n);  // +inf when not finite
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
                               const Dims& od, const float* w, StepStats& st) {
  const long rows = od.rows(), per = od.seq ? od.T : 1;
  // Keras' compiled metrics take the mask but not sample weights (those are for
  // `weighted_metrics`): the mean over the rows (timesteps) used, across the epoch.
  if (w) {
    for (size_t k = 0; k < metrics.size() && k < 8; ++k)
      st.metric_sums[k] += metric_sum_weighted(metrics[k], y, p, rows, od.F, w);
    for (long r = 0; r < rows; ++r) st.metric_weight += w[r];
    return;
  }
  // Metrics are sums over samples: an element mean per sample (rows of one sample averaged).
  for (size_t k = 0; k < metrics.size() && k < 8; ++k)
    st.metric_sums[k] += metric_sum(metrics[k], y, p, rows, od.F) / per;
  st.metric_weight += (double)od.B;
}

// The weight of each output row: its sample's weight times its mask, or null when neither.
// The loss divides by the rows used (Keras: sum_over_batch_size, the mask renormalised to the
// timesteps used; sample weights are not renormalised).
const float* Network::row_weights(const Dims& od, const float* sw, double* denom) {
  const long rows = od.rows(), per = od.seq ? od.T : 1;
  if (!sw && !out_mask_) return nullptr;
  float* w = roww_.resize(rows);
  double used = 0.0;
  for (long r = 0; r < rows; ++r) {
    const float m = out_mask_ ? out_mask_[r] : 1.0f;
    w[r] = (sw ? sw[r / per] : 1.0f) * m;
    used += m;
  }
  *denom = used;
  return w;
}

// The loss of the network's output (masked timesteps left out, as Keras does).
double Network::output_loss(const float* y, const float* p, float* gy, const Dims& od,
                            const float* w, double denom) {
  if (w) return loss_forward_backward_weighted(loss_, y, p, gy, od.rows(), od.F, w, denom);
  return loss_forward_backward(loss_, y, p, gy, od.rows(), od.F);
}

double Network::compute_gradients(const float* x, const Dims& in, const float* y, uint64_t seed) {
  return guarded([&] {
    Dims od;
    const float* p = forward_all(x, in, true, seed, od);
    float* gy = gy_.resize(od.size());
    double denom = 0.0;
    const float* w = row_weights(od, nullptr, &denom);
    double loss = output_loss(y, p, gy, od, w, denom);
    zero_grads();
    backward_all(gy);
    return loss;
  });
}

bool Network::train_step(const float* x, const Dims& in, const float* y, StepStats& st,
                         uint64_t seed, const float* sw) {
  const int failure = guarded([&] {
    Dims od;
    const float* p = forward_all(x, in, true, seed, od);
    float* gy = gy_.resize(od.size());
    double denom = 0.0;
    const float* w = row_weights(od, sw, &denom);
    double loss = output_loss(y, p, gy, od, w, denom);
    st.loss = loss;
    // The loss must be finite in float32 (what the user sees), and so must every gradient
    // and the updated weights and slots: otherwise nothing is updated and the caller
    // reports the batch.
    if (!std::isfinite((float)loss)) return STEP_BAD_LOSS;
    accumulate_metrics(metrics_, y, p, od, out_mask_, st);
    zero_grads();
    backward_all(gy);
    if (interruption_requested()) throw Interrupted();
    if (!grads_finite()) {
      st.loss = std::numeric_limits<double>::quiet_NaN();
      return STEP_BAD_GRADIENT;
    }
    if (!opt_.apply(params(), gmax_)) return STEP_BAD_UPDATE;
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

void Network::test_step(const float* x, const Dims& in, const float* y, StepStats& st,
                        const float* sw) {
  guarded([&] {
    Dims od;
    const float* p = forward_all(x, in, false, 0, od);
    double denom = 0.0;
    const float* w = row_weights(od, sw, &denom);
    double loss = output_loss(y, p, nullptr, od, w, denom);
    accumulate_metrics(metrics_, y, p, od, out_mask_, st);
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
                               long y_len, long N, long bs, StepStats& total, const float* sw) {
  for (long s0 = 0; s0 < N; s0 += bs) {
    Dims in = sample;
    in.B = std::min(bs, N - s0);
    test_step(x + s0 * x_len, in, y + s0 * y_len, total, sw ? sw + s0 : nullptr);
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

long Network::train_batches(const float* x, long x_len, const Dims& sample, const float* y,
                            long y_len, const int64_t* idx, long N, long bs, long k0, long k1,
                            uint64_t seed, double* batch_losses, StepStats& total, int* failure,
                            const float* sw) {
  *failure = STEP_OK;
  long done = 0;
  for (long k = k0; k < k1; ++k) {
    const long s0 = k * bs, s1 = std::min(N, s0 + bs), B = s1 - s0;
    const float* xb;
    const float* yb;
    const float* swb = nullptr;
    bool contiguous = true;
    for (long i = 1; i < B && contiguous; ++i) contiguous = idx[s0 + i] == idx[s0] + i;
    if (contiguous) {
      xb = x + idx[s0] * x_len;
      yb = y + idx[s0] * y_len;
      if (sw) swb = sw + idx[s0];
    } else {
      float* xg = xg_.resize(checked_elems({B, x_len}, "a gathered batch"));
      float* yg = yg_.resize(checked_elems({B, y_len}, "a gathered batch"));
      for (long i = 0; i < B; ++i) {
        std::memcpy(xg + i * x_len, x + idx[s0 + i] * x_len, sizeof(float) * x_len);
        std::memcpy(yg + i * y_len, y + idx[s0 + i] * y_len, sizeof(float) * y_len);
      }
      xb = xg;
      yb = yg;
      if (sw) {
        float* wg = swg_.resize(B);
        for (long i = 0; i < B; ++i) wg[i] = sw[idx[s0 + i]];
        swb = wg;
      }
    }
    Dims in = sample;
    in.B = B;
    StepStats st;
    if (!train_step(xb, in, yb, st, mix64(seed + (uint64_t)k), swb)) {
      batch_losses[k - k0] = st.loss;
      *failure = st.failure;
      return done;
    }
    batch_losses[k - k0] = st.loss / B;
    total.loss += st.loss;
    total.samples += st.samples;
    total.metric_weight += st.metric_weight;
    for (int m = 0; m < 8; ++m) total.metric_sums[m] += st.metric_sums[m];
    ++done;
    if (k + 1 < k1 && interruption_requested()) break;  // between batches: the caller raises
  }
  return done;
}

}  // namespace lstmcore
