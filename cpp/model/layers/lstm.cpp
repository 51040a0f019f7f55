// lstm.cpp — the LSTM layer: Keras layout (gates i, f, c, o side by side), its two states
// (h, c). Dropout masks, the stateful carry-over, initial and returned states and the
// output are the recurrent layers' shared RnnLayer (model/rnn_layer.h); the time loop is
// the kernel in kernels/lstm.cpp.
#include <stdexcept>

#include "model/rnn_layer.h"

namespace lstmcore {
namespace {

struct LstmCell {
  static constexpr int kStates = 2;  // h, c
  long I = 0, H = 0;
  int act = ACT_TANH, ract = ACT_SIGMOID;
  bool go_backwards = false;
  float *W = nullptr, *U = nullptr, *b = nullptr;
  Buffer grads;  // dW, dU, db as consecutive rows: lstm_backward forms them with one GEMM
  float *dW = nullptr, *dU = nullptr, *db = nullptr;
  LstmState st;

  void init() {
    const long G = 4 * H;
    grads.resize_zero(checked_elems({I + H + (b ? 1 : 0), G}, "LSTM gradients"));
    dW = grads.data;
    dU = dW + I * G;
    db = b ? dU + H * G : nullptr;
  }
  void forward(const float* x, const float* const* s0, long B, long T, const float* rmask,
               bool training, const float* tmask) {
    lstm_forward(st, x, W, U, b, s0 ? s0[0] : nullptr, s0 ? s0[1] : nullptr, B, T, I, H, act, ract,
                 go_backwards, rmask, training, tmask);
  }
  void backward(float* dx, float* const* ds0, const float* dy, bool dy_seq, const float* const* dsT) {
    lstm_backward(st, dx, dW, dU, db, ds0 ? ds0[0] : nullptr, ds0 ? ds0[1] : nullptr, dy, dy_seq,
                  dsT ? dsT[0] : nullptr, dsT ? dsT[1] : nullptr, W, U);
  }
  const float* seq(int k) const { return k == 0 ? st.h.data : st.c.data; }
  const float* tmask() const { return st.tmask.data; }
  std::vector<ParamRef> params() {
    const long G = 4 * H;
    std::vector<ParamRef> p{{W, dW, I * G}, {U, dU, H * G}};
    if (b) p.push_back({b, db, G});
    return p;
  }
};

// config: units, input_dim, activation, recurrent_activation, return_sequences, stateful,
// go_backwards, dropout, recurrent_dropout, zero_output_for_mask, initial_state,
// return_state; params: kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or none.
std::unique_ptr<Layer> make_lstm_layer(const LayerConfig& c, LayerParams& p) {
  const RnnConfig cfg = read_rnn_config(c, "LSTM");
  LstmCell cell;
  cell.I = cfg.input_dim;
  cell.H = cfg.units;
  cell.act = c.get_activation("activation", "tanh");
  cell.ract = c.get_activation("recurrent_activation", "sigmoid");
  if (cell.act == ACT_SOFTMAX || cell.ract == ACT_SOFTMAX)
    throw std::invalid_argument("`LSTM` activations cannot be 'softmax'");
  cell.go_backwards = cfg.go_backwards;
  const long G = checked_mul(4, cfg.units, "LSTM gates");
  cell.W = p.take("kernel", {cfg.input_dim, G}, false);
  cell.U = p.take("recurrent_kernel", {cfg.units, G}, false);
  cell.b = p.take("bias", {G}, true);
  cell.init();
  return std::make_unique<RnnLayer<LstmCell>>(cfg, "LSTM", std::move(cell));
}

}  // namespace

LSTMCORE_REGISTER_LAYER("lstm", make_lstm_layer);

}  // namespace lstmcore
