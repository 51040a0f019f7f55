// lstm.cpp — LSTM forward and backward through time over whole sequences (Keras layout).
//
//   z_t = x_t W + h_{t-1} U + b      W (I, 4H), U (H, 4H), b (4H), gate blocks i|f|c|o
//   i, f, o = ract(z_i, z_f, z_o);  g = act(z_c)
//   c_t = f c_{t-1} + i g;  h_t = o act(c_t)
//
// Forward (PyTorch CPU layer structure): one GEMM projects every timestep, x (B*T, I) . W ->
// gates (B, T, 4H); then per step the recurrent GEMM adds h_{t-1} U into gates[:, t] and the
// fused gate kernel writes h, c, act(c) and leaves the activated gates in place for backward.
// Threads split the time loop by batch rows (no barrier at all: rows recur independently)
// or, for big layers, by NR-aligned chunks of the H units (a thread computes the four gate
// columns of its units, then their gate math: one barrier per step); see recurrent.h. Every
// output element has one writer either way (bit-identical for any thread count).
// Inference (for_backward false) stores only c and h.
//
// Backward walks time in reverse, turning the saved gates into dz in place, and forms
//   dW = x^T dz,  dU = h_{t-1}^T dz,  db = colsum(dz),  dx = dz W^T
// as single GEMMs over all timesteps (dW, dU and db as one for small layers). dU uses the
// stored outputs shifted by one row (see lstm_backward) rather than a copy of h_{t-1}.
//
// Both passes stop between timesteps when the caller's InterruptScope asks (TeamInterrupt:
// with the units split every thread leaves at the same step, or the barrier would hang) and
// then throw Interrupted on the calling thread, after the team.
//
// Left out on purpose: peephole connections, projection layers (not in Keras' LSTM).
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "kernels/checked.h"
#include "kernels/kernels.h"
#include "kernels/recurrent.h"

namespace lstmcore {

void lstm_forward(LstmState& s, const float* x, const float* W, const float* U,
                  const float* bias, const float* h0, const float* c0, long B, long T, long I,
                  long H, int act, int ract, bool go_backwards, const float* rmask,
                  bool for_backward, const float* tmask) {
  // Every size is checked before anything is written: a product that wraps around is an
  // error, not a small buffer written far past its end. x (B, T, I) and the weights are
  // indexed up to these counts too.
  const long G = checked_mul(4, H, "LSTM gates (4H)");
  const size_t n_btg = checked_elems({B, T, G}, "LSTM gates (B, T, 4H)");
  const size_t n_bth = checked_elems({B, T, H}, "LSTM states (B, T, H)");
  checked_elems({B, T, I}, "LSTM input (B, T, I)");
  const size_t n_bh = checked_elems({B, H}, "LSTM state (B, H)");
  checked_elems({I + H, G}, "LSTM kernels (I + H, 4H)");
  s.B = B; s.T = T; s.I = I; s.H = H;
  s.act = act; s.ract = ract; s.go_backwards = go_backwards; s.for_backward = for_backward;
  float* gates = s.gates.resize(n_btg);
  float* c = s.c.resize(n_bth);
  // Inference keeps neither act(c) nor the activated gates (the gate kernels skip them).
  float* tc = for_backward ? s.tc.resize(n_bth) : nullptr;
  float* h = s.h.resize(n_bth);
  float* sh0 = initial_state(s.h0, h0, n_bh);
  float* sc0 = initial_state(s.c0, c0, n_bh);
  x = s.x = processing_input(s.xrev, x, B, T, I, go_backwards);
  // Recurrent dropout: the GEMM reads masked copies of h_{t-1}; they are kept for dU.
  const RecurrentDropout rd = recurrent_dropout(s.rmask, s.hm, s.h0m, rmask, sh0, n_bh, n_bth);
  const float* rm = rd.rm;
  float* hm = rd.hm;
  float* h0m = rd.h0m;
  // Keras masks, in processing order.
  const float* tm = processing_mask(s.tmask, tmask, B, T, go_backwards);

  // Input projection for all timesteps at once: gates = x . W (bias added in the gate kernel).
  // Split by units it is one (multi-threaded) GEMM before the time loop; split by rows each
  // thread projects its own rows inside the team (no separate fork/join or serial phase).
  const KernelTable& t = kt();
  const TeamPlan plan = plan_team(B, T, H, 4);
  const bool project_in_team = plan.by_rows && plan.nt > 1;
  if (!project_in_team) sgemm(false, false, B * T, G, I, 1.0f, x, I, W, G, 0.0f, gates, G);
  // Split by units, a thread multiplies its units' columns of each gate: U is packed per
  // gate. Split by rows, a thread needs all 4H columns: U packed whole has ceil(4H/NR)
  // panels instead of 4 ceil(H/NR) (H = 5: one 32-wide panel instead of four).
  const bool u_inplace = u_in_place(plan, B, T);
  if (!u_inplace) {
    if (plan.by_rows) s.u_gate[0].pack(false, H, G, U, G);
    else for (int g = 0; g < 4; ++g) s.u_gate[g].pack(false, H, H, U + g * H, G);
  }
  const bool zero_h0 = h0 == nullptr;
  auto begin = [&](int, const Share& sh) {
    const long nb = sh.b1 - sh.b0;
    if (project_in_team && nb > 0)  // this thread's rows, on this thread
      sgemm(false, false, nb * T, G, I, 1.0f, x + sh.b0 * T * I, I, W, G, 0.0f,
            gates + sh.b0 * T * G, G, 1);
  };
  recurrent_team(plan, B, H, T, false, begin, [&](const Share& sh, long st, const StepSync& sync) {
      const long nb = sh.b1 - sh.b0, j0 = sh.j0, j1 = sh.j1;
      // this thread's rows: h_{t-1}, c_{t-1} (the initial state at st = 0) and step st's gates
      const long ld_hp = st == 0 ? H : T * H;
      const float* hp = (st == 0 ? (rm ? h0m : sh0) : (rm ? hm : h) + (st - 1) * H) + sh.b0 * ld_hp;
      const float* cp = (st == 0 ? sc0 : c + (st - 1) * H) + sh.b0 * ld_hp;
      float* gs = gates + sh.b0 * T * G + st * G;
      const long o0 = sh.b0 * T * H + st * H;  // row b0, step st of c, tc, h
      if (j0 < j1 && nb > 0) {
        if (!(st == 0 && zero_h0)) {
          if (u_inplace) {
            sgemm_inplace(nb, G, H, 1.0f, hp, ld_hp, U, G, 1.0f, gs, T * G);
          } else if (plan.by_rows) {
            sgemm_packed(nb, 0, s.u_gate[0].panels(), 1.0f, false, hp, ld_hp, s.u_gate[0], 1.0f,
                         gs, T * G);
          } else {
            const PackedB* ub[4] = {&s.u_gate[0], &s.u_gate[1], &s.u_gate[2], &s.u_gate[3]};
            float* cs[4] = {gs, gs + H, gs + 2 * H, gs + 3 * H};
            sgemm_packed_multi(nb, sh.p0, sh.p1, 1.0f, false, hp, ld_hp, ub, 4, 1.0f, cs, T * G);
          }
        }
        if (j0 == 0 && j1 == H && 2 * H <= t.width) {  // small layer: rows share vectors
          t.lstm_gates_fwd_rows(gs, T * G, bias, cp, ld_hp, c + o0, tc ? tc + o0 : nullptr,
                                h + o0, T * H, H, nb, act, ract);
        } else {
          for (long b = 0; b < nb; ++b) {
            const long o = o0 + b * T * H;
            t.lstm_gates_fwd_row(gs + b * T * G, bias, cp + b * ld_hp, c + o,
                                 tc ? tc + o : nullptr, h + o, H, j0, j1, act, ract);
          }
        }
        if (tm) {  // a skipped step carries h and c through (this thread's rows and units)
          carry_skipped(tm, T, H, st, sh.b0, sh.b1, j0, j1, h, sh0);
          carry_skipped(tm, T, H, st, sh.b0, sh.b1, j0, j1, c, sc0);
        }
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

void lstm_backward(LstmState& s, float* dx, float* dW, float* dU, float* db, float* dh0,
                   float* dc0, const float* dy, bool dy_seq, const float* dhT, const float* dcT,
                   const float* W, const float* U) {
  if (!s.for_backward)
    throw std::logic_error("lstm_backward after an inference pass (nothing was kept for it)");
  // The forward pass checked every product of these sizes.
  const long B = s.B, T = s.T, I = s.I, H = s.H, G = 4 * H;
  const size_t n_bh = size_t(B) * H;
  const int act = s.act, ract = s.ract;
  float* gates = s.gates.data;
  const float* c = s.c.data;
  const float* tc = s.tc.data;
  const float* h = s.h.data;
  float* dh = s.dh.resize(n_bh);    // recurrent part of dL/dh_t
  float* dcv = s.dc.resize(n_bh);   // dL/dc_t
  float* dht = s.dhs.resize(n_bh);  // total dL/dh_t of this step
  if (dhT) std::memcpy(dh, dhT, sizeof(float) * n_bh);
  else std::memset(dh, 0, sizeof(float) * n_bh);
  if (dcT) std::memcpy(dcv, dcT, sizeof(float) * n_bh);
  else std::memset(dcv, 0, sizeof(float) * n_bh);
  if (dy && !dy_seq)
    for (size_t i = 0; i < n_bh; ++i) dh[i] += dy[i];
  const KernelTable& t = kt();
  const TeamPlan plan = plan_team(B, T, H, 4);
  const bool u_inplace = u_in_place(plan, B, T);
  if (!u_inplace) s.u_t.pack(true, G, H, U, G);  // op(B) = U^T (4H, H)

  const float* rm = s.rmask.size ? s.rmask.data : nullptr;
  const float* tm = s.tmask.size ? s.tmask.data : nullptr;
  float* held_h = tm ? s.held_h.resize(n_bh) : nullptr;
  float* held_c = tm ? s.held_c.resize(n_bh) : nullptr;
  const float* hin = rm ? s.hm.data : h;      // what the recurrent GEMM read, per step
  const float* h0in = rm ? s.h0m.data : s.h0.data;
  auto begin = [](int, const Share&) {};
  recurrent_team(plan, B, H, T, true, begin, [&](const Share& sh, long st, const StepSync& sync) {
      const long j0 = sh.j0, j1 = sh.j1;
      const long nb = sh.b1 - sh.b0;
      float* gs = gates + sh.b0 * T * G + st * G;
      const long ld_cp = st == 0 ? H : T * H;
      const float* cp = (st == 0 ? s.c0.data : c + (st - 1) * H) + sh.b0 * ld_cp;
      const long o0 = sh.b0 * T * H + st * H;
      float* dcb = dcv + sh.b0 * H;
      float* dhtb = dht + sh.b0 * H;
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
        }
        if (tm) {  // a skipped step: its gradients kept aside, so its gate math gives zero
          hold_skipped(tm, T, H, st, sh.b0, sh.b1, j0, j1, dht, held_h);
          hold_skipped(tm, T, H, st, sh.b0, sh.b1, j0, j1, dcv, held_c);
        }
        if (j0 == 0 && j1 == H && 2 * H <= t.width) {  // small layer: rows share vectors
          t.lstm_gates_bwd_rows(gs, T * G, dcb, dhtb, cp, ld_cp, tc + o0, T * H, H, nb, act,
                                ract);
        } else {
          for (long b = 0; b < nb; ++b)
            t.lstm_gates_bwd_row(gs + b * T * G, dcb + b * H, dhtb + b * H, cp + b * ld_cp,
                                 tc + o0 + b * T * H, H, j0, j1, act, ract);
        }
        if (tm)  // ... and dL/dc_{t-1} = dL/dc_t
          pass_skipped(tm, T, H, st, sh.b0, sh.b1, j0, j1, dcv, held_c);
      }
      // dh_{t-1}[rows, units] = dz_t[rows] . U^T[:, units]. Split by units, every thread
      // needs all of dz_t, hence a barrier; own units only are read back next step, so no
      // second one. Split by rows, a thread needs only its own rows: no barrier at all.
      sync();
      if (j0 < j1 && nb > 0) {
        if (u_inplace)
          t.gemm_abt(nb, H, G, gs, T * G, U, G, 0.0f, dh + sh.b0 * H, H);
        else
          sgemm_packed(nb, sh.p0, sh.p1, 1.0f, false, gs, T * G, s.u_t, 0.0f, dh + sh.b0 * H, H);
        if (rm)
          for (long b = sh.b0; b < sh.b1; ++b)
            for (long j = j0; j < j1; ++j) dh[b * H + j] *= rm[b * H + j];
        if (tm)  // h_{t-1} = h_t at a skipped step: its whole gradient goes through
          pass_skipped(tm, T, H, st, sh.b0, sh.b1, j0, j1, dh, held_h);
      }
  });
  if (dh0) std::memcpy(dh0, dh, sizeof(float) * n_bh);
  if (dc0) std::memcpy(dc0, dcv, sizeof(float) * n_bh);

  // Weight gradients over all B*T rows of dz. dU = sum_{b,t} h_{b,t-1}^T dz_{b,t}: row k =
  // b*T+t of the stored outputs h is h_{b,t}, so pairing h row k-1 with dz row k is right
  // except at t = 0, where it pairs h_{b-1,T-1} (nothing for k = 0) with dz_{b,0}; a rank-B
  // correction with rows h0_b - h_{b-1,T-1} (h0_0 for b = 0) against dz_{b,0} fixes that.
  const long BT = B * T, KA = I + H + (db ? 1 : 0);
  const bool fused = dW && dU && dU == dW + I * G && (!db || db == dU + H * G) &&
                     BT > 1 && BT * KA <= (1L << 16);
  if (fused) {
    // Small layers: dW, dU and db are consecutive rows of one buffer, so they are one GEMM,
    // [x_k | h_{k-1} | 1]^T dz, over a gathered copy of at most 256 KiB (it stays in L2;
    // medium, 2 MiB, measured no faster fused): dz is packed once instead of twice and the
    // column sum rides along. With one row (B*T = 1) there is no dU term to share.
    float* a = s.xh.resize(checked_elems({BT, KA}, "LSTM [x | h | 1] rows (B*T, I+H+1)"));
    for (long k = 0; k < BT; ++k) {
      float* r = a + k * KA;
      std::memcpy(r, s.x + k * I, sizeof(float) * I);
      if (k > 0) std::memcpy(r + I, hin + (k - 1) * H, sizeof(float) * H);
      else std::memset(r + I, 0, sizeof(float) * H);
      if (db) r[I + H] = 1.0f;
    }
    sgemm(true, false, KA, G, BT, 1.0f, a, KA, gates, G, 1.0f, dW, G);
  } else {
    if (dW) sgemm(true, false, I, G, BT, 1.0f, s.x, I, gates, G, 1.0f, dW, G);
    if (dU && BT > 1) sgemm(true, false, H, G, BT - 1, 1.0f, hin, H, gates + G, G, 1.0f, dU, G);
    if (db) colsum_add(db, gates, BT, G, G);
  }
  if (dU) {
    float* corr = s.corr.resize(n_bh);
    for (long b = 0; b < B; ++b)
      for (long j = 0; j < H; ++j)
        corr[b * H + j] = h0in[b * H + j] - (b > 0 ? hin[((b - 1) * T + T - 1) * H + j] : 0.0f);
    sgemm(true, false, H, G, B, 1.0f, corr, H, gates, T * G, 1.0f, dU, G);
  }
  if (dx) {
    float* dxe = dx;
    if (s.go_backwards) dxe = s.dx_rev.resize(checked_elems({B, T, I}, "LSTM dx (B, T, I)"));
    sgemm(false, true, B * T, I, G, 1.0f, gates, G, W, G, 0.0f, dxe, I);
    if (s.go_backwards) reverse_time(dx, dxe, B, T, I);
  }
}

}  // namespace lstmcore
