// optimizer.h — SGD (momentum, Nesterov), Adam and RMSprop over a network's parameter list,
// with the optimizer slots and the guarantee that an update never leaves a non-finite weight
// or slot (see optimizer.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "model/layer.h"

namespace lstmcore {

enum Optim { OPT_SGD = 0, OPT_ADAM = 1, OPT_RMSPROP = 2 };
struct OptimizerConfig {
  int kind = OPT_SGD;
  double lr = 0.01, momentum = 0.0, beta_1 = 0.9, beta_2 = 0.999, rho = 0.9, epsilon = 1e-7,
         decay = 0.0;
  bool nesterov = false;
};
int optimizer_from_name(const std::string& name);  // "sgd", "adam", "rmsprop"

class Optimizer {
 public:
  // New hyperparameters: slots are made anew (zeros) and iterations restart at 0.
  void configure(const OptimizerConfig& o);
  const OptimizerConfig& config() const { return opt_; }
  // A new learning rate only (Keras' `optimizer.learning_rate = x` during fit, e.g. from a
  // scheduler callback): slots, iterations and the other hyperparameters stay as they are.
  // Throws std::invalid_argument unless 0 < lr <= FLT_MAX.
  void set_learning_rate(double lr);
  int64_t iterations = 0;  // steps taken (Keras `optimizer.iterations`)

  int slots_per_param() const;  // 0, 1 (velocity / RMS) or 2 (Adam m, v)
  // Slots follow the parameter list: zeros for a list they were not made for.
  void ensure_slots(const std::vector<ParamRef>& ps);
  void clear_slots() { slot_a_.clear(); slot_b_.clear(); bounds_valid_ = false; }
  std::vector<Buffer*> slots(const std::vector<ParamRef>& ps);  // per parameter, in order
  // The weights or slots were written from outside: the bounds are recomputed at the next step.
  void invalidate_bounds() { bounds_valid_ = false; }

  // One update from the gradients in ps (gmax[i] = max |g| of parameter i, all finite).
  // Returns false, with weights, slots and iterations as before, when the result would not
  // be finite.
  bool apply(const std::vector<ParamRef>& ps, const std::vector<double>& gmax);

 private:
  void update_all(const std::vector<ParamRef>& ps, double lr);
  bool update_is_safe(const std::vector<ParamRef>& ps, const std::vector<double>& gmax, double lr);
  void refresh_bounds(const std::vector<ParamRef>& ps);

  OptimizerConfig opt_;
  std::vector<Buffer> slot_a_, slot_b_;
  // Upper bounds of max|w|, max|slot a|, max|slot b| per parameter (see update_is_safe).
  std::vector<double> wmax_, amax_, bmax_, wnew_, anew_, bnew_;
  bool bounds_valid_ = false;
};

}  // namespace lstmcore
