// network.h — a Sequential model's layers, loss, metrics and optimizer in native code, so a
// whole training step (forward, loss, backward, update) is one call with no Python between
// layers and no allocation once the shapes have been seen.
//
// Parameters are NOT owned here: each layer holds raw pointers to float32 buffers owned by
// the Python layer objects (NumPy arrays that the bindings keep alive), so get_weights /
// set_weights / the optimizer all act on the same memory. Gradients and optimizer slots
// are owned here.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/checked.h"
#include "kernels/kernels.h"

namespace lstmcore {

struct Dims {
  long B = 0, T = 0, F = 0;  // T ignored when !seq
  bool seq = false;          // (B, T, F) when true, else (B, F)
  // Element counts, overflow-checked (Network::output_dims checks every layer's dims once,
  // so a model whose sizes wrap around is refused before anything is allocated).
  long rows() const { return seq ? checked_mul(B, T, "a layer's rows (batch x timesteps)") : B; }
  long size() const { return checked_mul(rows(), F, "a layer's output"); }
};

struct ParamRef {
  float* w;
  float* g;
  long n;
};

// Counter-based RNG (splitmix64): a mask depends only on (seed, step, layer, index), never on
// threads or call order, so seeded runs are bit-identical.
uint64_t mix64(uint64_t x);
inline float uniform01(uint64_t key) { return (float)(mix64(key) >> 40) * (1.0f / 16777216.0f); }

class Layer {
 public:
  virtual ~Layer() = default;
  virtual Dims out_dims(const Dims& in) const = 0;  // throws std::invalid_argument on misuse
  // forward: returns the output (owned by the layer, valid until the next forward).
  virtual const float* forward(const float* x, const Dims& in, bool training, uint64_t seed) = 0;
  // backward: from dL/dy of the last forward; accumulates parameter gradients; returns
  // dL/dx (owned by the layer) when need_dx, else null.
  virtual const float* backward(const float* dy, bool need_dx) = 0;
  virtual std::vector<ParamRef> params() { return {}; }
  virtual void reset_states() {}
  virtual bool stateful() const { return false; }
  // A stateful layer keeps the state it had before its last forward, so that a step that
  // fails after it (an interrupt, an error in a later layer) can be undone.
  virtual void rollback_state() {}
  // A frozen layer (Keras `trainable=False`) still passes gradients to the layers below it,
  // but its parameters are left out of Network::params(): no update, no optimizer slots.
  bool trainable = true;
};

struct LstmConfig {
  long units = 0;
  int act = ACT_TANH, ract = ACT_SIGMOID;
  bool return_sequences = false, stateful = false, go_backwards = false;
  float dropout = 0.0f, recurrent_dropout = 0.0f;
};
std::unique_ptr<Layer> make_lstm(const LstmConfig& cfg, long input_dim, float* W, float* U,
                                 float* b);
std::unique_ptr<Layer> make_dense(long units, long input_dim, int act, float* W, float* b);
std::unique_ptr<Layer> make_activation(int act);
std::unique_ptr<Layer> make_dropout(float rate);
std::unique_ptr<Layer> make_repeat_vector(long n);
// Bidirectional merge modes; Python reads the codes from _core.MERGE_CODES.
enum Merge { MERGE_CONCAT = 0, MERGE_SUM = 1, MERGE_MUL = 2, MERGE_AVE = 3, MERGE_COUNT = 4 };
extern const char* const kMergeNames[MERGE_COUNT];  // indexed by Merge
std::unique_ptr<Layer> make_bidirectional(const LstmConfig& cfg, long input_dim, int merge,
                                          float* Wf, float* Uf, float* bf, float* Wb, float* Ub,
                                          float* bb);

enum Optim { OPT_SGD = 0, OPT_ADAM = 1, OPT_RMSPROP = 2 };
struct OptimizerConfig {
  int kind = OPT_SGD;
  double lr = 0.01, momentum = 0.0, beta_1 = 0.9, beta_2 = 0.999, rho = 0.9, epsilon = 1e-7,
         decay = 0.0;
  bool nesterov = false;
};

// Why a training step was refused (nothing was updated): the loss, a gradient, or the
// updated weights/slots were not finite.
enum StepFailure { STEP_OK = 0, STEP_BAD_LOSS = 1, STEP_BAD_GRADIENT = 2, STEP_BAD_UPDATE = 3 };

struct StepStats {
  double loss = 0.0;
  double metric_sums[8] = {0};
  long samples = 0;
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
  const OptimizerConfig& optimizer() const { return opt_; }
  int64_t iterations = 0;  // optimizer steps taken (Keras `optimizer.iterations`)

  // One batch. x (B, T, F) or (B, F) per `in`; y_true laid out like the output (class
  // indices as floats for sparse). Returns false, without updating anything, when the loss
  // or a gradient is not finite, or when the update would make a weight or an optimizer
  // slot non-finite (weights and slots are then those before the batch). A step that throws
  // (Interrupted, a size error) leaves weights, slots and stateful layers' states as they
  // were.
  bool train_step(const float* x, const Dims& in, const float* y, StepStats& st, uint64_t seed);
  void test_step(const float* x, const Dims& in, const float* y, StepStats& st);
  // Gradients only (no update): for tests and for callers with their own optimizer.
  double compute_gradients(const float* x, const Dims& in, const float* y, uint64_t seed);
  const float* predict_step(const float* x, const Dims& in);  // owned by the last layer

  // The batch loops over N samples in order (x (N, x_len), y (N, y_len), out (N, out_len)),
  // batches of bs: evaluate sums into `total`; predict writes every output row. Both stop
  // between batches when interruption_requested() and throw Interrupted.
  void evaluate_batches(const float* x, long x_len, const Dims& sample, const float* y,
                        long y_len, long N, long bs, StepStats& total);
  void predict_batches(float* out, long out_len, const float* x, long x_len, const Dims& sample,
                       long N, long bs);

  // A run of batches over gathered rows: batch k covers samples idx[k*bs .. min(N, +bs)).
  // x is (N, per-sample x_len) and y (N, per-sample y_len). Stops early, returning the
  // batches done, when interruption_requested() says so between batches, or when a step is
  // refused (*failure says why; batch_losses[done] holds that batch's loss). An Interrupted
  // thrown inside a batch leaves that batch undone.
  long train_batches(const float* x, long x_len, const Dims& sample, const float* y, long y_len,
                     const int64_t* idx, long N, long bs, long k0, long k1, uint64_t seed,
                     double* batch_losses, StepStats& total, int* failure);

  void reset_states();
  void reset_layer(size_t i) { if (i < layers_.size()) layers_[i]->reset_states(); }
  void set_trainable(size_t i, bool t) {
    if (i < layers_.size() && layers_[i]->trainable != t) {
      layers_[i]->trainable = t;
      params_dirty_ = true;
      slot_a_.clear();  // the slots follow the parameter list: made anew (zeros) on next use
      slot_b_.clear();
    }
  }
  std::vector<ParamRef>& params();
  std::vector<Buffer*> optimizer_slots();  // per parameter: 0, 1 or 2 slots in order
  int slots_per_param() const;
  void ensure_slots();
  // The weights or optimizer slots were written from outside (set_weights, a loaded file):
  // the magnitude bounds that let an update skip its backup are recomputed at the next step.
  void weights_changed() { bounds_valid_ = false; }

 private:
  const float* forward_all(const float* x, const Dims& in, bool training, uint64_t seed, Dims& out);
  void backward_all(const float* dy);
  bool apply_update();  // false (and nothing changed) when the result would not be finite
  void update_all(double lr);
  bool update_is_safe(double lr);
  void zero_grads();
  bool grads_finite();  // also records max |g| per parameter for update_is_safe
  void refresh_bounds();
  template <class F> auto guarded(F&& step) -> decltype(step());
  void rollback_states();

  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<ParamRef> params_;
  bool params_dirty_ = true;
  std::vector<Buffer> slot_a_, slot_b_;
  int loss_ = LOSS_MSE;
  std::vector<int> metrics_;
  OptimizerConfig opt_;
  Buffer gy_, xg_, yg_;
  // Upper bounds of max|w|, max|slot a|, max|slot b| per parameter (see update_is_safe).
  std::vector<double> wmax_, amax_, bmax_, gmax_, wnew_, anew_, bnew_;
  size_t forwarded_ = 0;  // layers whose forward ran in the current step
  bool bounds_valid_ = false;
};

}  // namespace lstmcore
