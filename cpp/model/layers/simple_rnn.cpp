// simple_rnn.cpp — the SimpleRNN layer (Keras layout: kernel (I, H), recurrent_kernel (H, H),
// bias (H,)), dropout masks and the stateful carry-over (model/rnn_layer.h). The time loop is
// the kernel in kernels/simple_rnn.cpp.
#include <stdexcept>

#include "kernels/gru.h"
#include "model/rnn_layer.h"

namespace lstmcore {
namespace {

struct SimpleRnnCell {
  long I = 0, H = 0;
  int act = ACT_TANH;
  bool go_backwards = false;
  float *W = nullptr, *U = nullptr, *b = nullptr;
  Buffer grads;  // dW, dU, db as consecutive rows
  float *dW = nullptr, *dU = nullptr, *db = nullptr;
  SimpleRnnState st;

  void init() {
    grads.resize_zero(checked_elems({I + H + (b ? 1 : 0), H}, "SimpleRNN gradients"));
    dW = grads.data;
    dU = dW + I * H;
    db = b ? dU + H * H : nullptr;
  }
  static constexpr int kStates = 1;
  void forward(const float* x, const float* const* s0, long B, long T, const float* rmask,
               bool training, const float* tmask) {
    simple_rnn_forward(st, x, W, U, b, s0 ? s0[0] : nullptr, B, T, I, H, act, go_backwards, rmask, training,
                tmask);
  }
  void backward(float* dx, float* const* ds0, const float* dy, bool dy_seq, const float* const* dsT) {
    simple_rnn_backward(st, dx, dW, dU, db, ds0 ? ds0[0] : nullptr, dy, dy_seq, dsT ? dsT[0] : nullptr,
                        W, U);
  }
  const float* seq(int) const { return st.h.data; }
  const float* tmask() const { return st.tmask.data; }
  std::vector<ParamRef> params() {
    std::vector<ParamRef> p{{W, dW, I * H}, {U, dU, H * H}};
    if (b) p.push_back({b, db, H});
    return p;
  }
};

// config: units, input_dim, activation, return_sequences, stateful, go_backwards, dropout,
// recurrent_dropout; params: kernel (I, H), recurrent_kernel (H, H), bias (H,) or none.
std::unique_ptr<Layer> make_simple_rnn_layer(const LayerConfig& c, LayerParams& p) {
  const RnnConfig cfg = read_rnn_config(c, "SimpleRNN");
  SimpleRnnCell cell;
  cell.I = cfg.input_dim;
  cell.H = cfg.units;
  cell.act = c.get_activation("activation", "tanh");
  if (cell.act == ACT_SOFTMAX) throw std::invalid_argument("`SimpleRNN` activation cannot be 'softmax'");
  cell.go_backwards = cfg.go_backwards;
  cell.W = p.take("kernel", {cfg.input_dim, cfg.units}, false);
  cell.U = p.take("recurrent_kernel", {cfg.units, cfg.units}, false);
  cell.b = p.take("bias", {cfg.units}, true);
  cell.init();
  return std::make_unique<RnnLayer<SimpleRnnCell>>(cfg, "SimpleRNN", std::move(cell));
}

}  // namespace

LSTMCORE_REGISTER_LAYER("simple_rnn", make_simple_rnn_layer);

}  // namespace lstmcore
