// gru.cpp — the GRU layer: Keras 3 layout (gates z, r, h side by side; bias (2, 3H) with
// reset_after), dropout masks and the stateful carry-over (model/rnn_layer.h). The time loop
// is the kernel in kernels/gru.cpp.
#include <stdexcept>

#include "kernels/gru.h"
#include "model/rnn_layer.h"

namespace lstmcore {
namespace {

struct GruCell {
  long I = 0, H = 0;
  int act = ACT_TANH, ract = ACT_SIGMOID;
  bool reset_after = true, go_backwards = false;
  float *W = nullptr, *U = nullptr, *b = nullptr;
  Buffer grads;  // dW, dU, db as consecutive rows
  float *dW = nullptr, *dU = nullptr, *db = nullptr;
  long nb = 0;   // bias size
  GruState st;

  void init() {
    const long G = 3 * H;
    nb = b ? (reset_after ? 2 * G : G) : 0;
    grads.resize_zero(checked_add((long)checked_elems({I + H, G}, "GRU gradients"), nb, "GRU gradients"));
    dW = grads.data;
    dU = dW + I * G;
    db = b ? dU + H * G : nullptr;
  }
  static constexpr int kStates = 1;
  void forward(const float* x, const float* const* s0, long B, long T, const float* rmask,
               bool training, const float* tmask) {
    gru_forward(st, x, W, U, b, s0 ? s0[0] : nullptr, B, T, I, H, act, ract, reset_after, go_backwards, rmask, training,
                tmask);
  }
  void backward(float* dx, float* const* ds0, const float* dy, bool dy_seq, const float* const* dsT) {
    gru_backward(st, dx, dW, dU, db, ds0 ? ds0[0] : nullptr, dy, dy_seq, dsT ? dsT[0] : nullptr, W, U);
  }
  const float* seq(int) const { return st.h.data; }
  const float* tmask() const { return st.tmask.data; }
  std::vector<ParamRef> params() {
    const long G = 3 * H;
    std::vector<ParamRef> p{{W, dW, I * G}, {U, dU, H * G}};
    if (b) p.push_back({b, db, nb});
    return p;
  }
};

// config: units, input_dim, activation, recurrent_activation, reset_after, return_sequences,
// stateful, go_backwards, dropout, recurrent_dropout; params: kernel (I, 3H), recurrent_kernel
// (H, 3H), bias (2, 3H) with reset_after else (3H,), or none.
std::unique_ptr<Layer> make_gru_layer(const LayerConfig& c, LayerParams& p) {
  const RnnConfig cfg = read_rnn_config(c, "GRU");
  GruCell cell;
  cell.I = cfg.input_dim;
  cell.H = cfg.units;
  cell.act = c.get_activation("activation", "tanh");
  cell.ract = c.get_activation("recurrent_activation", "sigmoid");
  if (cell.act == ACT_SOFTMAX || cell.ract == ACT_SOFTMAX)
    throw std::invalid_argument("`GRU` activations cannot be 'softmax'");
  cell.reset_after = c.get_bool("reset_after", true);
  cell.go_backwards = cfg.go_backwards;
  const long G = checked_mul(3, cfg.units, "GRU gates");
  cell.W = p.take("kernel", {cfg.input_dim, G}, false);
  cell.U = p.take("recurrent_kernel", {cfg.units, G}, false);
  cell.b = cell.reset_after ? p.take("bias", {2, G}, true) : p.take("bias", {G}, true);
  cell.init();
  return std::make_unique<RnnLayer<GruCell>>(cfg, "GRU", std::move(cell));
}

}  // namespace

LSTMCORE_REGISTER_LAYER("gru", make_gru_layer);

}  // namespace lstmcore
