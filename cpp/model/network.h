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

// A model's outputs and metrics are bounded: the sums travel in fixed arrays.
constexpr int kMaxOutputs = 16;  // outputs that have a loss
constexpr int kMaxMetrics = 32;  // metrics over all outputs

struct StepStats {
  double loss = 0.0;                      // the total: sum over outputs of weight * loss
  double output_loss[kMaxOutputs] = {0};  // each output's own (unweighted) loss
  double metric_sums[kMaxMetrics] = {0};  // output k's metrics, then output k+1's
  long samples = 0;
  // What each output's metric sums are divided by: the samples, or with a masked sequence
  // output (Keras) the timesteps used.
  double metric_weight[kMaxOutputs] = {0};
  int failure = STEP_OK;  // of the last train_step
  void add(const StepStats& o);
};

// One batch of a model with K inputs and M outputs with a loss: pointers per input and per
// output (sample weights per output, or null). Dims per input (B is the batch).
struct Batch {
  std::vector<const float*> x;
  std::vector<Dims> in;
  std::vector<const float*> y;
  std::vector<const float*> sw;
};

// Arrays of N samples in order, one row per sample (x_len, y_len values per row).
struct Arrays {
  std::vector<const float*> x;
  std::vector<long> x_len;
  std::vector<Dims> sample;  // per input; B ignored
  std::vector<const float*> y;
  std::vector<long> y_len;
  std::vector<const float*> sw;  // per output, one weight per sample, or null
  long N = 0;
};

// The executor is a graph: tensors (the model's inputs, then each node's outputs) and nodes,
// each a registry layer applied to some tensors, in topological order. A Sequential model is
// the chain input -> layer 0 -> layer 1 -> ...; a functional model any DAG. A layer object
// shared by several calls (Keras shared layers) is one node per call; the nodes of one
// `owner` (the model's layer index) point at the same parameters, and their gradients are
// summed into the first node's before the update.
class Network {
 public:
  int add_input();  // a new model input; returns its tensor id
  // Add a node reading tensors `inputs` (empty: the last tensor, the chain of a Sequential
  // model); returns its output tensor ids. owner < 0: a new owner (its own parameters).
  std::vector<int> add(std::unique_ptr<Layer> layer, std::vector<int> inputs = {}, int owner = -1);
  void set_outputs(const std::vector<int>& tensors);  // default: the last tensor
  size_t size() const { return nodes_.size(); }
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() { ensure_outputs(); return outputs_.size(); }
  // The dims of every output for inputs `in` (checks every size product on the way).
  std::vector<Dims> output_dims(const std::vector<Dims>& in) const;
  Dims output_dims(const Dims& in) const { return output_dims(std::vector<Dims>{in})[0]; }

  // A loss per output (-1: the output has none and takes no target), with Keras
  // loss_weights; metrics per output.
  void set_losses(const std::vector<int>& losses, const std::vector<double>& weights);
  void set_loss(int loss);  // the same loss for every output
  void set_metrics(const std::vector<std::vector<int>>& m);
  void set_metrics(const std::vector<int>& m) { set_metrics(std::vector<std::vector<int>>{m}); }
  size_t num_metrics() const {
    size_t n = 0;
    for (const auto& o : outs_) n += o.metrics.size();
    return n;
  }
  int loss_of(size_t output) const { return output < outs_.size() ? outs_[output].loss : -1; }
  void set_optimizer(const OptimizerConfig& o);
  Optimizer& optimizer() { return opt_; }

  // One batch. Returns false, without updating anything, when the loss or a gradient is not
  // finite, or when the update would make a weight or an optimizer slot non-finite (weights
  // and slots are then those before the batch). A step that throws (Interrupted, a size
  // error) leaves weights, slots and stateful layers' states as they were. y per output:
  // laid out like the output (class indices as floats for sparse); sw per output: one
  // weight per sample (Keras sample_weight / class_weight), or null.
  bool train_step(const Batch& b, StepStats& st, uint64_t seed);
  void test_step(const Batch& b, StepStats& st);
  // Gradients only (no update): for tests and for callers with their own optimizer.
  double compute_gradients(const Batch& b, uint64_t seed);
  // The outputs, owned by the layers (valid until the next forward).
  const std::vector<const float*>& predict_step(const Batch& b);
  // One-input, one-output conveniences.
  bool train_step(const float* x, const Dims& in, const float* y, StepStats& st, uint64_t seed,
                  const float* sw = nullptr);

  // The batch loops over N samples in order, batches of bs: evaluate sums into `total`;
  // predict writes every output row (out[k] has out_len[k] values per sample). Both stop
  // between batches when interruption_requested() and throw Interrupted.
  void evaluate_batches(const Arrays& a, long bs, StepStats& total);
  void predict_batches(const std::vector<float*>& out, const std::vector<long>& out_len,
                       const Arrays& a, long bs);

  // A run of batches over gathered rows: batch k covers samples idx[k*bs .. min(N, +bs)).
  // Stops early, returning the batches done, when interruption_requested() says so between
  // batches, or when a step is refused (*failure says why; batch_losses[done] holds that
  // batch's loss). An Interrupted thrown inside a batch leaves that batch undone.
  long train_batches(const Arrays& a, const int64_t* idx, long bs, long k0, long k1,
                     uint64_t seed, double* batch_losses, StepStats& total, int* failure);

  void reset_states();
  // The stateful layers (in node order): what streaming reads and writes.
  std::vector<Layer*> stateful_layers() {
    std::vector<Layer*> v;
    for (auto& n : nodes_)
      if (n.layer->num_states() > 0) v.push_back(n.layer.get());
    return v;
  }
  void reset_layer(size_t owner);
  void set_trainable(size_t owner, bool t);
  std::vector<ParamRef>& params();
  // Keras kernel/recurrent/bias regularizers: parameter `param` (Keras weight order) of layer
  // `owner` adds l1 * sum|w| + l2 * sum w^2 to the loss (training and evaluation alike).
  void set_regularizer(size_t owner, size_t param, double l1, double l2);
  std::vector<Buffer*> optimizer_slots() { return opt_.slots(params()); }
  // The weights or optimizer slots were written from outside (set_weights, a loaded file):
  // the magnitude bounds that let an update skip its backup are recomputed at the next step.
  void weights_changed() { opt_.invalidate_bounds(); }

 private:
  struct Tensor {
    const float* data = nullptr;
    Dims d;
    const float* mask = nullptr;  // Keras mask (B, T) of a sequence, or null
    const float* grad = nullptr;  // dL/d(this tensor) in backward, or null
    bool owns_grad = false;       // grad is gsum (several contributions were added)
    bool is_input = false;        // a model input: no gradient is needed
    Buffer gsum;
  };
  struct Node {
    std::unique_ptr<Layer> layer;
    std::vector<int> in, out;
    int owner = 0;
    bool primary = true;  // the first node of its owner: its parameters are the model's
    // per-call scratch, sized once
    std::vector<const float*> x, masks, y, dy, dx;
    std::vector<Dims> din, dout;
  };
  struct Output {
    int tensor = 0;
    int loss = LOSS_MSE;
    double weight = 1.0;
    std::vector<int> metrics;
    Buffer gy, roww;
    const float* w = nullptr;  // row weights of the current step, or null
    double denom = 0.0;
  };
  void forward_all(const Batch& b, bool training, uint64_t seed);
  void backward_all();
  void add_grad(int t, const float* g);
  // the loss of every output (and, with gy, its gradient); metrics into st
  double losses_and_metrics(const Batch& b, bool with_grad, bool metrics, StepStats& st);
  void row_weights(Output& o, const Tensor& t, const float* sw);
  double penalty(bool with_gradient);  // the regularizers' loss (and their gradient)
  void zero_grads();
  void fold_shared_grads();
  bool grads_finite();  // also records max |g| per parameter for the optimizer's bounds
  template <class F> auto guarded(F&& step) -> decltype(step());
  void rollback_states();
  void check_batch(const Batch& b) const;
  void ensure_outputs();  // without set_outputs: the last tensor is the output
  void gather(const Arrays& a, const int64_t* rows, long s0, long B, bool contiguous);

  std::vector<int> inputs_, outputs_;
  std::vector<Tensor> tensors_;
  std::vector<Node> nodes_;
  std::vector<int> owner_first_;  // owner -> its primary node
  bool outputs_set_ = false;
  std::vector<ParamRef> params_;
  bool params_dirty_ = true;
  std::vector<Output> outs_;  // per output (outputs_)
  Optimizer opt_;
  std::vector<double> gmax_;
  std::vector<std::vector<std::pair<double, double>>> reg_;  // [owner][param] = (l1, l2)
  bool any_reg_ = false;
  size_t forwarded_ = 0;  // nodes whose forward ran in the current step
  std::vector<const float*> out_ptrs_;
  // batch assembly for the loops (no allocation once shapes are seen)
  Batch batch_;
  std::vector<Buffer> xg_, yg_, swg_;
};

}  // namespace lstmcore
