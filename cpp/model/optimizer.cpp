// optimizer.cpp — the update step and its finiteness guarantee.
//
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
// Bounds become exact again (a scan) after set_weights or a load (invalidate_bounds()), and
// whenever they grow past kSafe.
#include "model/optimizer.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace lstmcore {

static constexpr double kSafe = 1e36;

int optimizer_from_name(const std::string& name) {
  if (name == "sgd") return OPT_SGD;
  if (name == "adam") return OPT_ADAM;
  if (name == "rmsprop") return OPT_RMSPROP;
  throw std::invalid_argument("unknown optimizer `" + name.substr(0, 100) + "`");
}

// max |p|, or +inf when a value is NaN or inf (one SIMD pass).
static double checked_max_abs(const float* p, long n) { return kt().max_abs(p, n); }

void Optimizer::configure(const OptimizerConfig& o) {
  opt_ = o;
  clear_slots();
  iterations = 0;
}

void Optimizer::set_learning_rate(double lr) {
  // apply() scales every update by lr, and update_is_safe bounds the step with it: a finite
  // float32 value keeps both meaningful (Python checks the same range first).
  if (!(lr > 0.0) || !(lr <= (double)std::numeric_limits<float>::max()))
    throw std::invalid_argument("the learning rate must be positive and finite in float32; "
                                "received " + std::to_string(lr));
  opt_.lr = lr;
}

int Optimizer::slots_per_param() const {
  switch (opt_.kind) {
    case OPT_ADAM: return 2;
    case OPT_RMSPROP: return 1;
    default: return opt_.momentum != 0.0 ? 1 : 0;
  }
}

void Optimizer::ensure_slots(const std::vector<ParamRef>& ps) {
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

std::vector<Buffer*> Optimizer::slots(const std::vector<ParamRef>& ps) {
  ensure_slots(ps);
  std::vector<Buffer*> out;
  const int k = slots_per_param();
  for (size_t i = 0; i < ps.size(); ++i) {
    if (k >= 1) out.push_back(&slot_a_[i]);
    if (k >= 2) out.push_back(&slot_b_[i]);
  }
  return out;
}

bool Optimizer::update_is_safe(const std::vector<ParamRef>& ps, const std::vector<double>& gmax,
                               double lr) {
  const size_t n = ps.size();
  wnew_.resize(n);
  anew_.resize(n);
  bnew_.resize(n);
  const double t = (double)iterations;  // already counts this update
  const double lr_t = opt_.kind == OPT_ADAM
      ? lr * std::sqrt(1.0 - std::pow(opt_.beta_2, t)) / (1.0 - std::pow(opt_.beta_1, t)) : lr;
  bool safe = true;
  for (size_t i = 0; i < n; ++i) {
    const double G = gmax[i], W = wmax_[i], A = amax_[i], Bm = bmax_[i];
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

void Optimizer::refresh_bounds(const std::vector<ParamRef>& ps) {
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

void Optimizer::update_all(const std::vector<ParamRef>& ps, double lr) {
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

bool Optimizer::apply(const std::vector<ParamRef>& ps, const std::vector<double>& gmax) {
  ensure_slots(ps);
  ++iterations;
  // Keras 2 `decay`: lr / (1 + decay * iterations), iterations counted before this update.
  const double lr = opt_.decay > 0.0 ? opt_.lr / (1.0 + opt_.decay * (double)(iterations - 1))
                                      : opt_.lr;
  const bool fresh = !bounds_valid_;
  if (fresh) refresh_bounds(ps);
  bool safe = update_is_safe(ps, gmax, lr);
  if (!safe && !fresh) {  // the bounds may only have drifted up: make them exact, look again
    refresh_bounds(ps);
    safe = update_is_safe(ps, gmax, lr);
  }
  if (safe) {
    update_all(ps, lr);
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
  update_all(ps, lr);
  refresh_bounds(ps);
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

}  // namespace lstmcore
