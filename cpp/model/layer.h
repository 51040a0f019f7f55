// layer.h — the interface every native layer implements, the description a layer is built
// from (kind, config, params), and the registry that maps a kind to its factory.
//
// A layer file (cpp/model/layers/<kind>.cpp) defines a Layer subclass and registers it with
// one line:
//     LSTMCORE_REGISTER_LAYER("dense", make_dense_layer);
// Python describes each layer once as (kind, config, params) (`Layer._native_spec`), and the
// single binding `Network.add(kind, config, params)` builds it through the registry.
//
// Parameters are NOT owned here: a layer holds raw pointers to float32 buffers owned by the
// Python layer objects (NumPy arrays the binding keeps alive), so get_weights / set_weights /
// the optimizer all act on the same memory. Gradients and activations are owned by the layer.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
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
std::string dims_str(const Dims& d);

struct ParamRef {
  float* w;
  float* g;
  long n;
  // Keras weight regularization: l1 * sum|w| + l2 * sum w^2 joins the loss (Network).
  double l1 = 0.0, l2 = 0.0;
};

// Counter-based RNG (splitmix64): a mask depends only on (seed, step, layer, index), never on
// threads or call order, so seeded runs are bit-identical.
uint64_t mix64(uint64_t x);
inline float uniform01(uint64_t key) { return (float)(mix64(key) >> 40) * (1.0f / 16777216.0f); }
// Fill mask (n values) with 0 or 1/(1-rate), keyed by (seed, salt, index).
void dropout_mask(float* mask, long n, float rate, uint64_t seed, uint64_t salt);

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
  // Keras masks: `mask` is (B, T), 1 for a timestep to use and 0 for one to skip, of this
  // layer's sequence input, or null; it stays valid through this step's backward. Called
  // before forward. A layer that cannot take a mask refuses one (the Python side refuses
  // such a model before it gets here).
  virtual void set_input_mask(const float* mask) {
    if (mask) throw std::invalid_argument("a layer of this model cannot take a mask (Keras masking)");
  }
  // The mask of the output of the last forward: null when it has none (the default).
  virtual const float* output_mask() const { return nullptr; }

  // ---- several inputs or outputs (functional models) -------------------------------------
  // A merge layer takes several tensors; a recurrent layer called with initial_state= takes
  // its states after the sequence, and with return_state=True also returns its final states.
  // The defaults below are the one-in, one-out case, in terms of the methods above; a layer
  // with several inputs or outputs overrides all of them.
  virtual int num_inputs() const { return 1; }
  virtual int num_outputs() const { return 1; }
  virtual void out_dims_n(const Dims* in, Dims* out) const { out[0] = out_dims(in[0]); }
  // masks[k]: the (B, T) mask of input k, or null; set before forward_n.
  virtual void set_input_masks(const float* const* masks) { set_input_mask(masks[0]); }
  virtual const float* output_mask_n(int k) const { return k == 0 ? output_mask() : nullptr; }
  // out[k] (owned by the layer) receives output k.
  virtual void forward_n(const float* const* x, const Dims* in, bool training, uint64_t seed,
                         const float** out) {
    out[0] = forward(x[0], in[0], training, seed);
  }
  // dy[k]: dL/d(output k), or null when no gradient reaches that output (never all null).
  // dx[k] receives dL/d(input k) (owned by the layer) when need_dx, else null.
  virtual void backward_n(const float* const* dy, const float** dx, bool need_dx) {
    dx[0] = backward(dy[0], need_dx);
  }
  // A stateful layer's carried states (streaming reads and writes them): how many, their
  // width, and state k as a (B, width) buffer, made (zeros) for batch B when it has another.
  virtual int num_states() const { return 0; }
  virtual long state_width() const { return 0; }
  virtual float* state_data(int, long) { return nullptr; }
  // A frozen layer (Keras `trainable=False`) still passes gradients to the layers below it,
  // but its parameters are left out of Network::params(): no update, no optimizer slots.
  bool trainable = true;
};

// Merge modes of two branches (Bidirectional; the merge layers to come). Python reads the
// names from _core.MERGE_CODES.
enum Merge { MERGE_CONCAT = 0, MERGE_SUM = 1, MERGE_MUL = 2, MERGE_AVE = 3, MERGE_COUNT = 4 };
extern const char* const kMergeNames[MERGE_COUNT];  // indexed by Merge

// ---- what a layer is built from --------------------------------------------------------------
// A layer's configuration: named scalars, strings and nested configs (a wrapper holds the
// config of the layer it wraps, with its kind under "kind"). Readers throw
// std::invalid_argument naming the layer kind and the key when a value is missing or has
// another type.
class LayerConfig {
 public:
  using Value = std::variant<bool, long, double, std::string, std::shared_ptr<LayerConfig>>;
  explicit LayerConfig(std::string kind = "") : kind_(std::move(kind)) {}
  const std::string& kind() const { return kind_; }
  void set(const std::string& key, Value v) { values_[key] = std::move(v); }
  bool has(const std::string& key) const { return values_.count(key) != 0; }

  long get_int(const std::string& key) const;
  long get_int(const std::string& key, long fallback) const;
  double get_float(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  const std::string& get_str(const std::string& key) const;
  int get_activation(const std::string& key, const char* fallback) const;  // an Act code
  const LayerConfig& get_config(const std::string& key) const;

 private:
  const Value* find(const std::string& key, const char* want, bool required) const;
  std::string kind_;
  std::map<std::string, Value> values_;
};

// A layer's parameter arrays, by name. The source (the binding) checks each array's dtype,
// layout and shape against what the layer asks for, and keeps it alive.
class LayerParams {
 public:
  virtual ~LayerParams() = default;
  // The buffer named `name` of exactly `shape`; null when it is absent and `optional`.
  virtual float* take(const std::string& name, const std::vector<long>& shape, bool optional) = 0;
};

// A layer that passes its input's mask on unchanged (Dense, Activation, Dropout, ...).
class MaskPassing : public Layer {
 public:
  void set_input_mask(const float* mask) override { mask_ = mask; }
  const float* output_mask() const override { return mask_; }

 protected:
  const float* mask_ = nullptr;
};

// The params of a wrapped layer: names prefixed by the wrapper ("forward/kernel").
class PrefixedParams : public LayerParams {
 public:
  PrefixedParams(LayerParams& base, std::string prefix) : base_(base), prefix_(std::move(prefix)) {}
  float* take(const std::string& name, const std::vector<long>& shape, bool optional) override {
    return base_.take(prefix_ + name, shape, optional);
  }

 private:
  LayerParams& base_;
  std::string prefix_;
};

// ---- the registry ---------------------------------------------------------------------------
using LayerFactory = std::unique_ptr<Layer> (*)(const LayerConfig& config, LayerParams& params);

struct LayerRegistrar {
  LayerRegistrar(const char* kind, LayerFactory factory);
};
#define LSTMCORE_REGISTER_LAYER(kind, factory) \
  static const ::lstmcore::LayerRegistrar lstmcore_registrar_##factory(kind, factory)

// Build a layer of `config.kind()`; std::invalid_argument for an unknown kind.
std::unique_ptr<Layer> make_layer(const LayerConfig& config, LayerParams& params);
std::vector<std::string> layer_kinds();  // sorted

}  // namespace lstmcore
