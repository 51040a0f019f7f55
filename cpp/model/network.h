// network.h — the native executor of a model: its layers (built by the registry), loss,
// metrics and optimizer, so a whole training step (forward, loss, backward, update) and the
// evaluate/predict batch loops are one call with no Python between layers and no allocation
// once the shapes have been seen.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/layer.h"
#include "model/optimizer.h"

namespace lstmcore {

// Why a training step was refused (nothing was updated): the loss, a gradient, or the
// updated weights/slots were not finite.
enum StepFailure { STEP_OK = 0, STEP_BAD_LOSS = 1, STEP_BAD_GRADIENT = 2, STEP_BAD_UPDATE = 3 };

struct StepStats {
  double loss = 0.0;
  double metric_sums[8] = {0};
  long samples = 0;
  // What the metric sums are divided by: the samples, or with a masked sequence output
  // (Keras) the timesteps used.
  double metric_weight = 0.0;
  int failure = STEP_OK;  // of the last train_step
};

class Network {
 public:
  void add(std::unique_ptr<Layer> layer) { layers_.push_back(std::move(layer)); params_dirty_ = true; }
  size_t size() const { return layers_.size(); }
  Dims output_dims(const Dims& in) const;

  void set_loss(int loss) { loss_ = loss; }
  void set_metrics(const std::vector<int>& m) { metrics_ = m; }
  void set_optimizer(const OptimizerConfig& o);
  Optimizer& optimizer() { return opt_; }

  // One batch. x (B, T, F) or (B, F) per `in`; y_true laid out like the output (class
  // indices as floats for sparse). Returns false, without updating anything, when the loss
  // or a gradient is not finite, or when the update would make a weight or an optimizer
  // slot non-finite (weights and slots are then those before the batch). A step that throws
  // (Interrupted, a size error) leaves weights, slots and stateful layers' states as they
  // were.
  // sw: one weight per sample (Keras sample_weight / class_weight), or null.
  bool train_step(const float* x, const Dims& in, const float* y, StepStats& st, uint64_t seed,
                  const float* sw = nullptr);
  void test_step(const float* x, const Dims& in, const float* y, StepStats& st,
                 const float* sw = nullptr);
  // Gradients only (no update): for tests and for callers with their own optimizer.
  double compute_gradients(const float* x, const Dims& in, const float* y, uint64_t seed);
  const float* predict_step(const float* x, const Dims& in);  // owned by the last layer

  // The batch loops over N samples in order (x (N, x_len), y (N, y_len), out (N, out_len)),
  // batches of bs: evaluate sums into `total`; predict writes every output row. Both stop
  // between batches when interruption_requested() and throw Interrupted.
  void evaluate_batches(const float* x, long x_len, const Dims& sample, const float* y,
                        long y_len, long N, long bs, StepStats& total,
                        const float* sw = nullptr);
  void predict_batches(float* out, long out_len, const float* x, long x_len, const Dims& sample,
                       long N, long bs);

  // A run of batches over gathered rows: batch k covers samples idx[k*bs .. min(N, +bs)).
  // x is (N, per-sample x_len) and y (N, per-sample y_len). Stops early, returning the
  // batches done, when interruption_requested() says so between batches, or when a step is
  // refused (*failure says why; batch_losses[done] holds that batch's loss). An Interrupted
  // thrown inside a batch leaves that batch undone.
  long train_batches(const float* x, long x_len, const Dims& sample, const float* y, long y_len,
                     const int64_t* idx, long N, long bs, long k0, long k1, uint64_t seed,
                     double* batch_losses, StepStats& total, int* failure,
                     const float* sw = nullptr);

  void reset_states();
  void reset_layer(size_t i) { if (i < layers_.size()) layers_[i]->reset_states(); }
  void set_trainable(size_t i, bool t) {
    if (i < layers_.size() && layers_[i]->trainable != t) {
      layers_[i]->trainable = t;
      params_dirty_ = true;
      opt_.clear_slots();  // the slots follow the parameter list: made anew (zeros) on next use
    }
  }
  std::vector<ParamRef>& params();
  std::vector<Buffer*> optimizer_slots() { return opt_.slots(params()); }
  // The weights or optimizer slots were written from outside (set_weights, a loaded file):
  // the magnitude bounds that let an update skip its backup are recomputed at the next step.
  void weights_changed() { opt_.invalidate_bounds(); }

 private:
  const float* forward_all(const float* x, const Dims& in, bool training, uint64_t seed, Dims& out);
  void backward_all(const float* dy);
  const float* row_weights(const Dims& od, const float* sw, double* denom);
  double output_loss(const float* y, const float* p, float* gy, const Dims& od, const float* w,
                     double denom);
  void zero_grads();
  bool grads_finite();  // also records max |g| per parameter for the optimizer's bounds
  template <class F> auto guarded(F&& step) -> decltype(step());
  void rollback_states();

  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<ParamRef> params_;
  bool params_dirty_ = true;
  int loss_ = LOSS_MSE;
  std::vector<int> metrics_;
  Optimizer opt_;
  Buffer gy_, xg_, yg_, swg_, roww_;
  std::vector<double> gmax_;
  size_t forwarded_ = 0;  // layers whose forward ran in the current step
  const float* out_mask_ = nullptr;  // the output's mask after forward_all (Keras masking)
};

}  // namespace lstmcore
