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
#include <tuple>

namespace lstmcore {

void StepStats::add(const StepStats& o) {
  loss += o.loss;
  samples += o.samples;
  for (int k = 0; k < kMaxOutputs; ++k) {
    output_loss[k] += o.output_loss[k];
    metric_weight[k] += o.metric_weight[k];
  }
  for (int m = 0; m < kMaxMetrics; ++m) metric_sums[m] += o.metric_sums[m];
}

// ---- the graph --------------------------------------------------------------------------------
int Network::add_input() {
  tensors_.emplace_back();
  tensors_.back().is_input = true;
  inputs_.push_back((int)tensors_.size() - 1);
  return inputs_.back();
}

std::vector<int> Network::add(std::unique_ptr<Layer> layer, std::vector<int> inputs, int owner) {
  if (inputs.empty()) {  // the chain of a Sequential model
    if (tensors_.empty()) add_input();
    inputs.push_back((int)tensors_.size() - 1);
  }
  if ((int)inputs.size() != layer->num_inputs())
    throw std::invalid_argument("a layer that takes " + std::to_string(layer->num_inputs()) +
                                " input(s) was given " + std::to_string(inputs.size()));
  for (int t : inputs)
    if (t < 0 || t >= (int)tensors_.size())
      throw std::invalid_argument("a layer's input is not a tensor of this network");
  if (owner < 0) owner = (int)owner_first_.size();
  if (owner > (int)owner_first_.size())
    throw std::invalid_argument("layers must be numbered in order (owner)");
  Node n;
  n.owner = owner;
  n.primary = owner == (int)owner_first_.size();
  if (n.primary) owner_first_.push_back((int)nodes_.size());
  n.in = std::move(inputs);
  const int k_in = (int)n.in.size(), k_out = layer->num_outputs();
  for (int k = 0; k < k_out; ++k) {
    tensors_.emplace_back();
    n.out.push_back((int)tensors_.size() - 1);
  }
  n.layer = std::move(layer);
  n.x.resize(k_in);
  n.masks.resize(k_in);
  n.dx.resize(k_in);
  n.din.resize(k_in);
  n.y.resize(k_out);
  n.dy.resize(k_out);
  n.dout.resize(k_out);
  if (!n.primary) {
    // a shared layer: the same parameters (and trainability) as its first call
    Node& first = nodes_[owner_first_[owner]];
    n.layer->trainable = first.layer->trainable;
  }
  nodes_.push_back(std::move(n));
  params_dirty_ = true;
  return nodes_.back().out;
}

void Network::set_outputs(const std::vector<int>& tensors) {
  for (int t : tensors)
    if (t < 0 || t >= (int)tensors_.size())
      throw std::invalid_argument("an output is not a tensor of this network");
  if (tensors.empty()) throw std::invalid_argument("a network needs at least one output");
  outputs_ = tensors;
  outputs_set_ = true;
  outs_.resize(outputs_.size());
  for (size_t k = 0; k < outs_.size(); ++k) outs_[k].tensor = outputs_[k];
}

void Network::ensure_outputs() {
  if (outputs_set_ || tensors_.empty()) return;
  outputs_ = {(int)tensors_.size() - 1};
  outs_.resize(1);
  outs_[0].tensor = outputs_[0];
}

void Network::set_losses(const std::vector<int>& losses, const std::vector<double>& weights) {
  ensure_outputs();
  if (losses.size() != outs_.size() || weights.size() != outs_.size())
    throw std::invalid_argument("one loss and one loss weight per output are needed (" +
                                std::to_string(outs_.size()) + " outputs)");
  if (outs_.size() > (size_t)kMaxOutputs)
    throw std::invalid_argument("at most " + std::to_string(kMaxOutputs) +
                                " outputs can be trained");
  for (size_t k = 0; k < outs_.size(); ++k) {
    if (!(weights[k] >= 0.0 && weights[k] < 1e30))
      throw std::invalid_argument("loss weights must be finite and non-negative");
    outs_[k].loss = losses[k];
    outs_[k].weight = weights[k];
  }
}

void Network::set_loss(int loss) {
  ensure_outputs();
  set_losses(std::vector<int>(outs_.size(), loss), std::vector<double>(outs_.size(), 1.0));
}

void Network::set_metrics(const std::vector<std::vector<int>>& m) {
  ensure_outputs();
  if (m.size() > outs_.size())
    throw std::invalid_argument("more metric lists than outputs");
  size_t total = 0;
  for (const auto& v : m) total += v.size();
  if (total > (size_t)kMaxMetrics)
    throw std::invalid_argument("at most " + std::to_string(kMaxMetrics) + " metrics are supported");
  for (size_t k = 0; k < outs_.size(); ++k) outs_[k].metrics = k < m.size() ? m[k] : std::vector<int>{};
}

void Network::set_optimizer(const OptimizerConfig& o) {
  opt_.configure(o);
  opt_.ensure_slots(params());
}

std::vector<Dims> Network::output_dims(const std::vector<Dims>& in) const {
  if (in.size() != inputs_.size())
    throw std::invalid_argument("the model takes " + std::to_string(inputs_.size()) +
                                " input(s); received " + std::to_string(in.size()));
  std::vector<Dims> d(tensors_.size());
  for (size_t k = 0; k < in.size(); ++k) {
    in[k].size();  // every size product is checked once, before anything is allocated
    d[inputs_[k]] = in[k];
  }
  std::vector<Dims> din, dout;
  for (const Node& n : nodes_) {
    din.resize(n.in.size());
    dout.resize(n.out.size());
    for (size_t k = 0; k < n.in.size(); ++k) din[k] = d[n.in[k]];
    n.layer->out_dims_n(din.data(), dout.data());
    for (size_t k = 0; k < n.out.size(); ++k) {
      dout[k].size();
      d[n.out[k]] = dout[k];
    }
  }
  std::vector<int> outs = outputs_;
  if (!outputs_set_) outs = {(int)tensors_.size() - 1};
  std::vector<Dims> r;
  for (int t : outs) r.push_back(d[t]);
  return r;
}

void Network::set_regularizer(size_t owner, size_t param, double l1, double l2) {
  if (owner >= owner_first_.size() ||
      param >= nodes_[owner_first_[owner]].layer->params().size())
    throw std::invalid_argument("internal error in set_regularizer: no such parameter");
  if (!(l1 >= 0.0 && l1 < 1e30 && l2 >= 0.0 && l2 < 1e30))
    throw std::invalid_argument("regularization factors must be finite and non-negative");
  if (reg_.size() < owner_first_.size()) reg_.resize(owner_first_.size());
  if (reg_[owner].size() <= param) reg_[owner].resize(param + 1, {0.0, 0.0});
  reg_[owner][param] = {l1, l2};
  any_reg_ = any_reg_ || l1 > 0.0 || l2 > 0.0;
  params_dirty_ = true;
}

std::vector<ParamRef>& Network::params() {
  if (params_dirty_) {
    params_.clear();
    for (size_t o = 0; o < owner_first_.size(); ++o) {
      Layer& l = *nodes_[owner_first_[o]].layer;
      if (!l.trainable) continue;  // Keras: only trainable weights are regularized
      const auto ps = l.params();
      for (size_t j = 0; j < ps.size(); ++j) {
        ParamRef p = ps[j];
        if (o < reg_.size() && j < reg_[o].size()) std::tie(p.l1, p.l2) = reg_[o][j];
        params_.push_back(p);
      }
    }
    params_dirty_ = false;
    opt_.invalidate_bounds();
  }
  return params_;
}

void Network::reset_states() {
  for (auto& n : nodes_) n.layer->reset_states();
}

void Network::reset_layer(size_t owner) {
  for (auto& n : nodes_)
    if (n.owner == (int)owner) n.layer->reset_states();
}

void Network::set_trainable(size_t owner, bool t) {
  bool changed = false;
  for (auto& n : nodes_)
    if (n.owner == (int)owner && n.layer->trainable != t) {
      n.layer->trainable = t;
      changed = true;
    }
  if (changed) {
    params_dirty_ = true;
    opt_.clear_slots();  // the slots follow the parameter list: made anew (zeros) on next use
  }
}

// ---- forward and backward -----------------------------------------------------------------
void Network::check_batch(const Batch& b) const {
  if (b.x.size() != inputs_.size() || b.in.size() != inputs_.size())
    throw std::invalid_argument("the model takes " + std::to_string(inputs_.size()) +
                                " input(s); received " + std::to_string(b.x.size()));
}

void Network::forward_all(const Batch& b, bool training, uint64_t seed) {
  check_batch(b);
  for (size_t k = 0; k < inputs_.size(); ++k) {
    Tensor& t = tensors_[inputs_[k]];
    t.data = b.x[k];
    t.d = b.in[k];
    t.d.size();
    t.mask = nullptr;
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    for (size_t k = 0; k < n.in.size(); ++k) {
      const Tensor& t = tensors_[n.in[k]];
      n.x[k] = t.data;
      n.din[k] = t.d;
      n.masks[k] = t.d.seq ? t.mask : nullptr;
    }
    n.layer->out_dims_n(n.din.data(), n.dout.data());
    for (const Dims& d : n.dout) d.size();
    forwarded_ = i + 1;  // from here on node i may have moved its state (rollback)
    n.layer->set_input_masks(n.masks.data());
    n.layer->forward_n(n.x.data(), n.din.data(), training, mix64(seed + 0x100 * (i + 1)),
                       n.y.data());
    for (size_t k = 0; k < n.out.size(); ++k) {
      Tensor& t = tensors_[n.out[k]];
      t.data = n.y[k];
      t.d = n.dout[k];
      t.mask = t.d.seq ? n.layer->output_mask_n((int)k) : nullptr;
    }
  }
}

void Network::rollback_states() {
  for (size_t i = 0; i < forwarded_; ++i) nodes_[i].layer->rollback_state();
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
  for (auto& n : nodes_) {  // a shared layer's later calls (their own gradient buffers)
    if (n.primary || !n.layer->trainable) continue;
    for (const ParamRef& p : n.layer->params()) std::memset(p.g, 0, sizeof(float) * p.n);
  }
}

// A shared layer's later calls add their parameter gradients into its first call's.
void Network::fold_shared_grads() {
  for (auto& n : nodes_) {
    if (n.primary || !n.layer->trainable) continue;
    const auto mine = n.layer->params();
    const auto first = nodes_[owner_first_[n.owner]].layer->params();
    for (size_t j = 0; j < mine.size() && j < first.size(); ++j)
      for (long i = 0; i < mine[j].n; ++i) first[j].g[i] += mine[j].g[i];
  }
}

// dL/d(tensor t) += g. The first contribution is borrowed (a layer's dx, valid through this
// backward pass: every node has its own layer object); a second one makes the sum.
void Network::add_grad(int t, const float* g) {
  Tensor& x = tensors_[t];
  if (x.is_input || !g) return;
  if (!x.grad) {
    x.grad = g;
    return;
  }
  const long n = x.d.size();
  if (!x.owns_grad) {
    float* s = x.gsum.resize(n);
    std::memcpy(s, x.grad, sizeof(float) * n);
    x.grad = s;
    x.owns_grad = true;
  }
  float* s = x.gsum.data;
  for (long i = 0; i < n; ++i) s[i] += g[i];
}

void Network::backward_all() {
  for (size_t i = nodes_.size(); i-- > 0;) {
    Node& n = nodes_[i];
    bool any = false;
    for (size_t k = 0; k < n.out.size(); ++k) {
      n.dy[k] = tensors_[n.out[k]].grad;
      any = any || n.dy[k];
    }
    if (!any) continue;  // nothing of the loss depends on this call
    bool need_dx = false;
    for (int t : n.in) need_dx = need_dx || !tensors_[t].is_input;
    for (auto& d : n.dx) d = nullptr;
    n.layer->backward_n(n.dy.data(), n.dx.data(), need_dx);
    if (need_dx)
      for (size_t k = 0; k < n.in.size(); ++k) add_grad(n.in[k], n.dx[k]);
  }
  fold_shared_grads();
}

static void accumulate_metrics(const std::vector<int>& metrics, double* sums, double* weight,
                               const float* y, const float* p, const Dims& od, const float* mask) {
  const long rows = od.rows(), per = od.seq ? od.T : 1;
  // Keras' compiled metrics take the mask but not sample weights (those are for
  // `weighted_metrics`): the mean over the rows (timesteps) used, across the epoch.
  if (mask) {
    for (size_t k = 0; k < metrics.size(); ++k)
      sums[k] += metric_sum_weighted(metrics[k], y, p, rows, od.F, mask);
    for (long r = 0; r < rows; ++r) *weight += mask[r];
    return;
  }
  // Metrics are sums over samples: an element mean per sample (rows of one sample averaged).
  for (size_t k = 0; k < metrics.size(); ++k)
    sums[k] += metric_sum(metrics[k], y, p, rows, od.F) / per;
  *weight += (double)od.B;
}

// Keras regularization losses: sum over regularized parameters of l1 sum|w| + l2 sum w^2,
// added to the loss; with_gradient adds l1 sign(w) + 2 l2 w to the gradients.
double Network::penalty(bool with_gradient) {
  if (!any_reg_) return 0.0;
  double total = 0.0;
  for (const ParamRef& p : params()) {
    if (p.l1 == 0.0 && p.l2 == 0.0) continue;
    double s1 = 0.0, s2 = 0.0;
    const float l1 = (float)p.l1, l2x2 = (float)(2.0 * p.l2);
    for (long i = 0; i < p.n; ++i) {
      const float w = p.w[i];
      s1 += std::fabs((double)w);
      s2 += (double)w * w;
      if (with_gradient) p.g[i] += l1 * (float)((w > 0.0f) - (w < 0.0f)) + l2x2 * w;
    }
    total += p.l1 * s1 + p.l2 * s2;
  }
  return total;
}

// The weight of each output row: its sample's weight times its mask, or null when neither.
// The loss divides by the rows used (Keras: sum_over_batch_size, the mask renormalised to the
// timesteps used; sample weights are not renormalised).
void Network::row_weights(Output& o, const Tensor& t, const float* sw) {
  const Dims& od = t.d;
  const long rows = od.rows(), per = od.seq ? od.T : 1;
  o.w = nullptr;
  if (!sw && !t.mask) return;
  float* w = o.roww.resize(rows);
  double used = 0.0;
  for (long r = 0; r < rows; ++r) {
    const float m = t.mask ? t.mask[r] : 1.0f;
    w[r] = (sw ? sw[r / per] : 1.0f) * m;
    used += m;
  }
  o.denom = used;
  o.w = w;
}

// Every output's loss (masked timesteps left out, as Keras does), weighted by its loss
// weight into the total; with_grad writes each output's gradient (scaled by its weight)
// and makes it the gradient of its tensor. Metrics into st when `metrics`.
double Network::losses_and_metrics(const Batch& b, bool with_grad, bool metrics, StepStats& st) {
  double total = 0.0;
  int m0 = 0;
  if (with_grad)
    for (auto& t : tensors_) {
      t.grad = nullptr;
      t.owns_grad = false;
    }
  for (size_t k = 0; k < outs_.size(); ++k) {
    Output& o = outs_[k];
    const int nm = (int)o.metrics.size();
    if (o.loss < 0) {
      m0 += nm;
      continue;
    }
    const Tensor& t = tensors_[o.tensor];
    const float* y = b.y[k];
    row_weights(o, t, b.sw.empty() ? nullptr : b.sw[k]);
    float* gy = with_grad ? o.gy.resize(t.d.size()) : nullptr;
    const double l = o.w ? loss_forward_backward_weighted(o.loss, y, t.data, gy, t.d.rows(), t.d.F, o.w, o.denom)
                         : loss_forward_backward(o.loss, y, t.data, gy, t.d.rows(), t.d.F);
    st.output_loss[k] = l;
    total += o.weight * l;
    if (metrics) accumulate_metrics(o.metrics, st.metric_sums + m0, st.metric_weight + k, y, t.data, t.d, t.mask);
    m0 += nm;
    if (with_grad) {
      if (o.weight != 1.0) {
        const float wk = (float)o.weight;
        const long n = t.d.size();
        for (long i = 0; i < n; ++i) gy[i] *= wk;
      }
      add_grad(o.tensor, gy);
    }
  }
  return total;
}

double Network::compute_gradients(const Batch& b, uint64_t seed) {
  ensure_outputs();
  return guarded([&] {
    forward_all(b, true, seed);
    StepStats st;
    double loss = losses_and_metrics(b, true, false, st);
    zero_grads();
    backward_all();
    return loss + penalty(true);
  });
}

bool Network::train_step(const Batch& b, StepStats& st, uint64_t seed) {
  ensure_outputs();
  const int failure = guarded([&] {
    forward_all(b, true, seed);
    double loss = losses_and_metrics(b, true, true, st);
    st.loss = loss;
    // The loss must be finite in float32 (what the user sees), and so must every gradient
    // and the updated weights and slots: otherwise nothing is updated and the caller
    // reports the batch.
    if (!std::isfinite((float)loss)) return STEP_BAD_LOSS;
    zero_grads();
    backward_all();
    if (any_reg_) {  // Keras adds the regularization losses to the loss it minimises
      loss += penalty(true);
      st.loss = loss;
      if (!std::isfinite((float)loss)) return STEP_BAD_LOSS;
    }
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
  const long B = b.in[0].B;
  st.loss *= B;
  for (auto& l : st.output_loss) l *= B;
  st.samples += B;
  return true;
}

bool Network::train_step(const float* x, const Dims& in, const float* y, StepStats& st,
                         uint64_t seed, const float* sw) {
  Batch b;
  b.x = {x};
  b.in = {in};
  b.y = {y};
  b.sw = {sw};
  return train_step(b, st, seed);
}

void Network::test_step(const Batch& b, StepStats& st) {
  ensure_outputs();
  guarded([&] {
    forward_all(b, false, 0);
    StepStats one;
    double loss = losses_and_metrics(b, false, true, one) + penalty(false);
    const long B = b.in[0].B;
    st.loss += loss * B;
    for (int k = 0; k < kMaxOutputs; ++k) {
      st.output_loss[k] += one.output_loss[k] * B;
      st.metric_weight[k] += one.metric_weight[k];
    }
    for (int m = 0; m < kMaxMetrics; ++m) st.metric_sums[m] += one.metric_sums[m];
    st.samples += B;
  });
}

const std::vector<const float*>& Network::predict_step(const Batch& b) {
  ensure_outputs();
  return guarded([&]() -> const std::vector<const float*>& {
    forward_all(b, false, 0);
    out_ptrs_.resize(outputs_.size());
    for (size_t k = 0; k < outputs_.size(); ++k) out_ptrs_[k] = tensors_[outputs_[k]].data;
    return out_ptrs_;
  });
}

// ---- batch loops ----------------------------------------------------------------------------
// batch_ for rows s0..s0+B of the arrays: pointers into them when the rows are contiguous
// (rows == null, or consecutive indices), else gathered copies.
void Network::gather(const Arrays& a, const int64_t* rows, long s0, long B, bool contiguous) {
  const size_t K = a.x.size(), M = a.y.size();
  batch_.x.resize(K);
  batch_.in.resize(K);
  batch_.y.resize(M);
  batch_.sw.resize(M);
  xg_.resize(K);
  yg_.resize(M);
  swg_.resize(M);
  const long first = rows ? rows[s0] : s0;
  for (size_t k = 0; k < K; ++k) {
    batch_.in[k] = a.sample[k];
    batch_.in[k].B = B;
    if (contiguous) {
      batch_.x[k] = a.x[k] + first * a.x_len[k];
      continue;
    }
    const long len = a.x_len[k];
    float* g = xg_[k].resize(checked_elems({B, len}, "a gathered batch"));
    for (long i = 0; i < B; ++i) std::memcpy(g + i * len, a.x[k] + rows[s0 + i] * len, sizeof(float) * len);
    batch_.x[k] = g;
  }
  for (size_t k = 0; k < M; ++k) {
    batch_.y[k] = nullptr;
    batch_.sw[k] = nullptr;
    if (a.y[k]) {
      const long len = a.y_len[k];
      if (contiguous) {
        batch_.y[k] = a.y[k] + first * len;
      } else {
        float* g = yg_[k].resize(checked_elems({B, len}, "a gathered batch"));
        for (long i = 0; i < B; ++i) std::memcpy(g + i * len, a.y[k] + rows[s0 + i] * len, sizeof(float) * len);
        batch_.y[k] = g;
      }
    }
    if (k < a.sw.size() && a.sw[k]) {
      if (contiguous) {
        batch_.sw[k] = a.sw[k] + first;
      } else {
        float* g = swg_[k].resize(B);
        for (long i = 0; i < B; ++i) g[i] = a.sw[k][rows[s0 + i]];
        batch_.sw[k] = g;
      }
    }
  }
}

void Network::evaluate_batches(const Arrays& a, long bs, StepStats& total) {
  for (long s0 = 0; s0 < a.N; s0 += bs) {
    gather(a, nullptr, s0, std::min(bs, a.N - s0), true);
    test_step(batch_, total);
    if (s0 + bs < a.N && interruption_requested()) throw Interrupted();
  }
}

void Network::predict_batches(const std::vector<float*>& out, const std::vector<long>& out_len,
                              const Arrays& a, long bs) {
  for (long s0 = 0; s0 < a.N; s0 += bs) {
    const long B = std::min(bs, a.N - s0);
    gather(a, nullptr, s0, B, true);
    const auto& ys = predict_step(batch_);
    for (size_t k = 0; k < out.size() && k < ys.size(); ++k)
      std::memcpy(out[k] + s0 * out_len[k], ys[k], sizeof(float) * B * out_len[k]);
    if (s0 + bs < a.N && interruption_requested()) throw Interrupted();
  }
}

long Network::train_batches(const Arrays& a, const int64_t* idx, long bs, long k0, long k1,
                            uint64_t seed, double* batch_losses, StepStats& total, int* failure) {
  *failure = STEP_OK;
  long done = 0;
  for (long k = k0; k < k1; ++k) {
    const long s0 = k * bs, s1 = std::min(a.N, s0 + bs), B = s1 - s0;
    bool contiguous = true;
    for (long i = 1; i < B && contiguous; ++i) contiguous = idx[s0 + i] == idx[s0] + i;
    gather(a, idx, s0, B, contiguous);
    StepStats st;
    if (!train_step(batch_, st, mix64(seed + (uint64_t)k))) {
      batch_losses[k - k0] = st.loss;
      *failure = st.failure;
      return done;
    }
    batch_losses[k - k0] = st.loss / B;
    total.add(st);
    ++done;
    if (k + 1 < k1 && interruption_requested()) break;  // between batches: the caller raises
  }
  return done;
}

}  // namespace lstmcore
