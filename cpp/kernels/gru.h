// gru.h — the GRU and simple RNN cells' forward and backward through time (Keras 3 layout);
// the kernels are gru.cpp and simple_rnn.cpp, on recurrent.h's time loop.
#pragma once
#include "kernels/kernels.h"

namespace lstmcore {

// ---- GRU (gru.cpp) ------------------------------------------------------------------------
// Keras 3 GRU, gate blocks z|r|h side by side: W (I, 3H), U (H, 3H); bias (2, 3H) with
// reset_after (row 0 the input bias, row 1 the recurrent bias), else (3H).
//   z = ract(x W_z + h U_z + b_z), r = ract(x W_r + h U_r + b_r)
//   reset_after:  hh = act(x W_h + b_ih + r * (h U_h + b_rh))
//   else:         hh = act(x W_h + b_h + (r * h) U_h)
//   h_t = z * h_{t-1} + (1 - z) * hh
// With recurrent dropout the recurrent products read h_{t-1} * mask; the mix with z reads
// h_{t-1} itself (Keras).
struct GruState {
  long B = 0, T = 0, I = 0, H = 0;
  int act = ACT_TANH, ract = ACT_SIGMOID;
  bool reset_after = true, go_backwards = false;
  bool for_backward = true;  // false after an inference pass: backward is refused
  Buffer gates;  // (B, T, 3H): x W, then the activated z|r|hh; overwritten by dz in backward
  Buffer rec;    // (B, 3H): the step's recurrent product
  Buffer scr;    // (B, 3H) split by rows: a thread's rows' gate math, gate-major (3, rows, H)
  Buffer zeros;  // (3H) read in place of a missing bias
  Buffer bscr;   // (B, 6H) backward split by rows: activated gates and gradients, gate-major
  Buffer rh;     // (B, T, H): reset_after: h U_h + b_rh; else r * h_{t-1} (the U_h operand)
  Buffer dzh;    // (B, T, 3H) reset_after backward: dz of the recurrent product (dah * r)
  Buffer h;      // (B, T, H): hidden state per step = the layer's output sequence
  Buffer h0;     // (B, H): initial state used
  Buffer xrev;   // (B, T, I): time-reversed input when go_backwards
  const float* x = nullptr;  // the input as seen by the time loop (x or xrev)
  PackedB u_gate[3];         // U packed per gate (units split) or by product (rows split)
  PackedB u_t, u_t2;         // U^T (or U_zr^T and U_h^T) for dh_{t-1}
  Buffer dh, dhs, dhz, dzs, tmp, drh;  // (B, H) backward workspaces
  Buffer dx_rev, corr;
  Buffer rmask;              // (B, H) recurrent dropout mask, or size 0 when off
  Buffer hm, h0m;            // (B, T, H) and (B, H): masked states fed to the recurrent GEMMs
  Buffer tmask, held;        // Keras mask (B, T) in processing order (size 0: none); (B, H)
};

// gru_forward: run the whole sequence; x (B, T, I); bias as above or null; h0 (B, H) or null
// (zeros); rmask (B, H) or null. Results in s.h (B, T, H), processing order.
void gru_forward(GruState& s, const float* x, const float* W, const float* U, const float* bias,
                 const float* h0, long B, long T, long I, long H, int act, int ract,
                 bool reset_after, bool go_backwards, const float* rmask = nullptr,
                 bool for_backward = true, const float* tmask = nullptr);

// gru_backward: BPTT over the last gru_forward on `s`. dy (B, T, H) (dy_seq) or (B, H) or null;
// dhT (B, H) or null. dx (B, T, I) written unless null; dW, dU, db accumulate (+=), db in the
// bias layout; dh0 (B, H) written unless null.
void gru_backward(GruState& s, float* dx, float* dW, float* dU, float* db, float* dh0,
                  const float* dy, bool dy_seq, const float* dhT, const float* W, const float* U);

// ---- simple RNN (simple_rnn.cpp) ----------------------------------------------------------
// Keras SimpleRNN: h_t = act(x_t W + h_{t-1} U + b); W (I, H), U (H, H), b (H).
struct SimpleRnnState {
  long B = 0, T = 0, I = 0, H = 0;
  int act = ACT_TANH;
  bool go_backwards = false, for_backward = true;
  Buffer gates;  // (B, T, H): x W, then preactivations; dz after backward
  Buffer h, h0, xrev;
  const float* x = nullptr;
  PackedB u, u_t;
  Buffer dh, dhs, dx_rev, corr;
  Buffer rmask, hm, h0m;
  Buffer tmask, held;  // Keras mask (B, T) in processing order (size 0: none); (B, H)
};

void simple_rnn_forward(SimpleRnnState& s, const float* x, const float* W, const float* U,
                        const float* bias, const float* h0, long B, long T, long I, long H,
                        int act, bool go_backwards, const float* rmask = nullptr,
                        bool for_backward = true, const float* tmask = nullptr);
void simple_rnn_backward(SimpleRnnState& s, float* dx, float* dW, float* dU, float* db,
                         float* dh0, const float* dy, bool dy_seq, const float* dhT,
                         const float* W, const float* U);

}  // namespace lstmcore
