// simple_rnn.cpp — Keras SimpleRNN forward and backward through time over whole sequences:
//   h_t = act(x_t W + h_{t-1} U + b)      W (I, H), U (H, H), b (H)
// The LSTM's structure with one gate block (lstm.cpp, recurrent.h): one GEMM projects every
// timestep, per step the recurrent GEMM adds h_{t-1} U and the SIMD activation kernel writes
// h; threads split by batch rows or by NR-aligned chunks of the units (one barrier a step),
// one writer per output element. Backward: dz = act'(h) * dh_t in place of the
// preactivations, dh_{t-1} = dz U^T per step, weight gradients as single GEMMs.
#include <cstring>
#include <stdexcept>

#include "kernels/checked.h"
#include "kernels/gru.h"
#include "kernels/recurrent.h"

namespace lstmcore {

void simple_rnn_forward(SimpleRnnState& s, const float* x, const float* W, const float* U,
                        const float* bias, const float* h0, long B, long T, long I, long H,
                        int act, bool go_backwards, const float* rmask, bool for_backward,
                        const float* tmask) {
  const size_t n_bth = checked_elems({B, T, H}, "SimpleRNN states (B, T, H)");
  checked_elems({B, T, I}, "SimpleRNN input (B, T, I)");
  const size_t n_bh = checked_elems({B, H}, "SimpleRNN state (B, H)");
  checked_elems({I + H, H}, "SimpleRNN kernels (I + H, H)");
  s.B = B; s.T = T; s.I = I; s.H = H;
  s.act = act; s.go_backwards = go_backwards; s.for_backward = for_backward;
  float* gates = s.gates.resize(n_bth);
  float* h = s.h.resize(n_bth);
  float* sh0 = initial_state(s.h0, h0, n_bh);
  x = s.x = processing_input(s.xrev, x, B, T, I, go_backwards);
  const RecurrentDropout rd = recurrent_dropout(s.rmask, s.hm, s.h0m, rmask, sh0, n_bh, n_bth);
  const float* rm = rd.rm;
  float* hm = rd.hm;
  float* h0m = rd.h0m;
  const float* tm = processing_mask(s.tmask, tmask, B, T, go_backwards);
  const KernelTable& t = kt();
  const TeamPlan plan = plan_team(B, T, H, 1);
  const bool project_in_team = plan.by_rows && plan.nt > 1;
  if (!project_in_team) sgemm(false, false, B * T, H, I, 1.0f, x, I, W, H, 0.0f, gates, H);
  const bool u_inplace = u_in_place(plan, B, T);
  if (!u_inplace) s.u.pack(false, H, H, U, H);
  const bool zero_h0 = h0 == nullptr;
  auto begin = [&](int, const Share& sh) {
    const long nb = sh.b1 - sh.b0;
    if (project_in_team && nb > 0)
      sgemm(false, false, nb * T, H, I, 1.0f, x + sh.b0 * T * I, I, W, H, 0.0f,
            gates + sh.b0 * T * H, H, 1);
  };
  recurrent_team(plan, B, H, T, false, begin, [&](const Share& sh, long st, const StepSync& sync) {
      const long nb = sh.b1 - sh.b0, j0 = sh.j0, j1 = sh.j1;
      const long ld_hp = st == 0 ? H : T * H;
      const float* hp = (st == 0 ? (rm ? h0m : sh0) : (rm ? hm : h) + (st - 1) * H) + sh.b0 * ld_hp;
      float* gs = gates + sh.b0 * T * H + st * H;
      const long o0 = sh.b0 * T * H + st * H;
      if (j0 < j1 && nb > 0) {
        if (!(st == 0 && zero_h0)) {
          if (u_inplace)
            sgemm_inplace(nb, H, H, 1.0f, hp, ld_hp, U, H, 1.0f, gs, T * H);
          else
            sgemm_packed(nb, sh.p0, sh.p1, 1.0f, false, hp, ld_hp, s.u, 1.0f, gs, T * H);
        }
        for (long b = 0; b < nb; ++b) {
          float* g = gs + b * T * H;
          if (bias)
            for (long j = j0; j < j1; ++j) g[j] += bias[j];
          t.act_forward(act, h + o0 + b * T * H + j0, g + j0, j1 - j0);
        }
        if (tm) carry_skipped(tm, T, H, st, sh.b0, sh.b1, j0, j1, h, sh0);
        if (rm)
          for (long b = sh.b0; b < sh.b1; ++b)
            for (long j = j0; j < j1; ++j) {
              const long o = (b * T + st) * H;
              hm[o + j] = h[o + j] * rm[b * H + j];
            }
      }
      sync();  // the next step reads every thread's h_t
  });
}

void simple_rnn_backward(SimpleRnnState& s, float* dx, float* dW, float* dU, float* db,
                         float* dh0, const float* dy, bool dy_seq, const float* dhT,
                         const float* W, const float* U) {
  if (!s.for_backward)
    throw std::logic_error("simple_rnn_backward after an inference pass (nothing was kept for it)");
  const long B = s.B, T = s.T, I = s.I, H = s.H;
  const size_t n_bh = size_t(B) * H;
  const int act = s.act;
  float* gates = s.gates.data;
  const float* h = s.h.data;
  float* dh = s.dh.resize(n_bh);
  float* dht = s.dhs.resize(n_bh);
  if (dhT) std::memcpy(dh, dhT, sizeof(float) * n_bh);
  else std::memset(dh, 0, sizeof(float) * n_bh);
  if (dy && !dy_seq)
    for (size_t i = 0; i < n_bh; ++i) dh[i] += dy[i];
  const KernelTable& t = kt();
  const TeamPlan plan = plan_team(B, T, H, 1);
  const bool u_inplace = u_in_place(plan, B, T);
  if (!u_inplace) s.u_t.pack(true, H, H, U, H);  // op(B) = U^T
  const float* rm = s.rmask.size ? s.rmask.data : nullptr;
  const float* hin = rm ? s.hm.data : h;
  const float* h0in = rm ? s.h0m.data : s.h0.data;
  const float* tm = s.tmask.size ? s.tmask.data : nullptr;
  float* held = tm ? s.held.resize(n_bh) : nullptr;
  auto begin = [](int, const Share&) {};
  recurrent_team(plan, B, H, T, true, begin, [&](const Share& sh, long st, const StepSync& sync) {
      const long j0 = sh.j0, j1 = sh.j1, nb = sh.b1 - sh.b0;
      float* gs = gates + sh.b0 * T * H + st * H;
      const long o0 = sh.b0 * T * H + st * H;
      if (j0 < j1 && nb > 0) {
        for (long b = sh.b0; b < sh.b1; ++b) {
          float* d = dht + b * H;
          const float* r = dh + b * H;
          if (dy && dy_seq) {
            const float* yg = dy + (b * T + st) * H;
            for (long j = j0; j < j1; ++j) d[j] = r[j] + yg[j];
          } else {
            for (long j = j0; j < j1; ++j) d[j] = r[j];
          }
          if (tm) hold_skipped(tm, T, H, st, b, b + 1, j0, j1, dht, held);
          const long k = b - sh.b0;
          t.act_backward(act, gs + k * T * H + j0, h + o0 + k * T * H + j0, d + j0, j1 - j0);
        }
      }
      sync();  // dz_t . U^T reads every thread's units of dz_t
      if (j0 < j1 && nb > 0) {
        if (u_inplace)
          t.gemm_abt(nb, H, H, gs, T * H, U, H, 0.0f, dh + sh.b0 * H, H);
        else
          sgemm_packed(nb, sh.p0, sh.p1, 1.0f, false, gs, T * H, s.u_t, 0.0f, dh + sh.b0 * H, H);
        if (rm)
          for (long b = sh.b0; b < sh.b1; ++b)
            for (long j = j0; j < j1; ++j) dh[b * H + j] *= rm[b * H + j];
        if (tm) pass_skipped(tm, T, H, st, sh.b0, sh.b1, j0, j1, dh, held);
      }
  });
  if (dh0) std::memcpy(dh0, dh, sizeof(float) * n_bh);
  const long BT = B * T;
  if (dW) sgemm(true, false, I, H, BT, 1.0f, s.x, I, gates, H, 1.0f, dW, H);
  if (db) colsum_add(db, gates, BT, H, H);
  if (dU) add_prev_state_grad(dU, H, hin, h0in, gates, H, B, T, H, H, s.corr);
  if (dx) {
    float* dxe = dx;
    if (s.go_backwards) dxe = s.dx_rev.resize(checked_elems({B, T, I}, "SimpleRNN dx (B, T, I)"));
    sgemm(false, true, BT, I, H, 1.0f, gates, H, W, H, 0.0f, dxe, I);
    if (s.go_backwards) reverse_time(dx, dxe, B, T, I);
  }
}

}  // namespace lstmcore
