// lstm.cpp — LSTM forward and backward through time over whole sequences (Keras layout).
//
//   z_t = x_t W + h_{t-1} U + b      W (I, 4H), U (H, 4H), b (4H), gate blocks i|f|c|o
//   i, f, o = ract(z_i, z_f, z_o);  g = act(z_c)
//   c_t = f c_{t-1} + i g;  h_t = o act(c_t)
//
// Forward (PyTorch CPU layer structure): one GEMM projects every timestep, x (B*T, I) . W ->
// gates (B, T, 4H); then per step the recurrent GEMM adds h_{t-1} U into gates[:, t] and the
// fused gate kernel writes h, c, act(c) and leaves the activated gates in place for backward.
// Threads split the H units into NR-aligned chunks; a thread computes the four gate columns
// of its units (U is pre-packed per gate) and then their gate math, so one barrier per step
// suffices and every output element has one writer (bit-identical for any thread count).
//
// Backward walks time in reverse, turning the saved gates into dz in place, and forms
//   dW = x^T dz,  dU = h_{t-1}^T dz,  db = colsum(dz),  dx = dz W^T
// as single GEMMs over all timesteps. dU uses the stored outputs shifted by one row (see
// lstm_backward) rather than a copy of h_{t-1}, saving B*T*H floats.
//
// Left out on purpose: peephole connections, projection layers (not in Keras' LSTM).
#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"

namespace lstmcore {

// Unit chunk of thread `tid` of `nt`: panels [p0, p1) of NR units each.
static inline void unit_chunk(long H, int nr, int tid, int nt, long& p0, long& p1, long& j0,
                              long& j1) {
  long npan = (H + nr - 1) / nr;
  p0 = npan * tid / nt;
  p1 = npan * (tid + 1) / nt;
  j0 = std::min(H, p0 * nr);
  j1 = std::min(H, p1 * nr);
}

static inline int team_size(long B, long H) {
  // Per-step recurrent work is 2*B*H*4H flops, and every step ends in a barrier: below
  // ~4 MFLOP a step (a few microseconds of work) the barrier costs more than it saves.
  const double step_flops = 8.0 * B * H * H;
  int nt = step_flops >= 4.0e6 ? num_threads() : 1;
  long npan = (H + kt().nr - 1) / kt().nr;
  return (int)std::max<long>(1, std::min<long>(nt, npan));
}

static inline int thread_id() {
#ifdef LSTMCORE_HAVE_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

static void reverse_time(float* dst, const float* src, long B, long T, long F) {
  for (long b = 0; b < B; ++b)
    for (long t = 0; t < T; ++t)
      std::memcpy(dst + (b * T + t) * F, src + (b * T + (T - 1 - t)) * F, F * sizeof(float));
}

void lstm_forward(LstmState& s, const float* x, const float* W, const float* U,
                  const float* bias, const float* h0, const float* c0, long B, long T, long I,
                  long H, int act, int ract, bool go_backwards, const float* rmask) {
  s.B = B; s.T = T; s.I = I; s.H = H;
  s.act = act; s.ract = ract; s.go_backwards = go_backwards;
  const long G = 4 * H;
  float* gates = s.gates.resize(size_t(B) * T * G);
  float* c = s.c.resize(size_t(B) * T * H);
  float* tc = s.tc.resize(size_t(B) * T * H);
  float* h = s.h.resize(size_t(B) * T * H);
  float* sh0 = s.h0.resize(size_t(B) * H);
  float* sc0 = s.c0.resize(size_t(B) * H);
  if (h0) std::memcpy(sh0, h0, sizeof(float) * B * H); else std::memset(sh0, 0, sizeof(float) * B * H);
  if (c0) std::memcpy(sc0, c0, sizeof(float) * B * H); else std::memset(sc0, 0, sizeof(float) * B * H);
  if (go_backwards) {
    float* xr = s.xrev.resize(size_t(B) * T * I);
    reverse_time(xr, x, B, T, I);
    x = xr;
  }
  s.x = x;
  // Recurrent dropout: the GEMM reads masked copies of h_{t-1}; they are kept for dU.
  const float* rm = nullptr;
  float* hm = nullptr;
  float* h0m = nullptr;
  if (rmask) {
    rm = s.rmask.resize(size_t(B) * H);
    std::memcpy(s.rmask.data, rmask, sizeof(float) * B * H);
    hm = s.hm.resize(size_t(B) * T * H);
    h0m = s.h0m.resize(size_t(B) * H);
    for (long i = 0; i < B * H; ++i) h0m[i] = sh0[i] * rm[i];
  } else {
    s.rmask.size = 0;
  }

  // Input projection for all timesteps at once: gates = x . W (bias added in the gate kernel).
  sgemm(false, false, B * T, G, I, 1.0f, x, I, W, G, 0.0f, gates, G);
  for (int g = 0; g < 4; ++g) s.u_gate[g].pack(false, H, H, U + g * H, G);

  const KernelTable& t = kt();
  const int nt = team_size(B, H);
  const bool zero_h0 = h0 == nullptr;
  parallel_team(nt, [&] {
    long p0, p1, j0, j1;
    unit_chunk(H, t.nr, thread_id(), nt, p0, p1, j0, j1);
    for (long st = 0; st < T; ++st) {
      const float* hp = st == 0 ? (rm ? h0m : sh0) : (rm ? hm : h) + (st - 1) * H;
      const long ld_hp = st == 0 ? H : T * H;
      const float* cp = st == 0 ? sc0 : c + (st - 1) * H;
      const long ld_cp = st == 0 ? H : T * H;
      float* gs = gates + st * G;
      if (j0 < j1) {
        if (!(st == 0 && zero_h0)) {
          const PackedB* ub[4] = {&s.u_gate[0], &s.u_gate[1], &s.u_gate[2], &s.u_gate[3]};
          float* cs[4] = {gs, gs + H, gs + 2 * H, gs + 3 * H};
          sgemm_packed_multi(B, p0, p1, 1.0f, false, hp, ld_hp, ub, 4, 1.0f, cs, T * G);
        }
        if (j0 == 0 && j1 == H && 2 * H <= t.width) {  // small layer: rows share vectors
          const long o = st * H;
          t.lstm_gates_fwd_rows(gs, T * G, bias, cp, ld_cp, c + o, tc + o, h + o, T * H, H, B,
                                act, ract);
        } else {
          for (long b = 0; b < B; ++b) {
            const long o = (b * T + st) * H;
            t.lstm_gates_fwd_row(gs + b * T * G, bias, cp + b * ld_cp, c + o, tc + o, h + o, H,
                                 j0, j1, act, ract);
          }
        }
        if (rm)
          for (long b = 0; b < B; ++b)
            for (long j = j0; j < j1; ++j) {
              const long o = (b * T + st) * H;
              hm[o + j] = h[o + j] * rm[b * H + j];
            }
      }
#ifdef LSTMCORE_HAVE_OPENMP
#pragma omp barrier
#endif
    }
  });
}

void lstm_backward(LstmState& s, float* dx, float* dW, float* dU, float* db, float* dh0,
                   float* dc0, const float* dy, bool dy_seq, const float* dhT, const float* dcT,
                   const float* W, const float* U) {
  const long B = s.B, T = s.T, I = s.I, H = s.H, G = 4 * H;
  const int act = s.act, ract = s.ract;
  float* gates = s.gates.data;
  const float* c = s.c.data;
  const float* tc = s.tc.data;
  const float* h = s.h.data;
  float* dh = s.dh.resize(size_t(B) * H);    // recurrent part of dL/dh_t
  float* dcv = s.dc.resize(size_t(B) * H);   // dL/dc_t
  float* dht = s.dhs.resize(size_t(B) * H);  // total dL/dh_t of this step
  if (dhT) std::memcpy(dh, dhT, sizeof(float) * B * H); else std::memset(dh, 0, sizeof(float) * B * H);
  if (dcT) std::memcpy(dcv, dcT, sizeof(float) * B * H); else std::memset(dcv, 0, sizeof(float) * B * H);
  if (dy && !dy_seq)
    for (long i = 0; i < B * H; ++i) dh[i] += dy[i];
  s.u_t.pack(true, G, H, U, G);  // op(B) = U^T (4H, H)

  const float* rm = s.rmask.size ? s.rmask.data : nullptr;
  const float* hin = rm ? s.hm.data : h;      // what the recurrent GEMM read, per step
  const float* h0in = rm ? s.h0m.data : s.h0.data;
  const KernelTable& t = kt();
  const int nt = team_size(B, H);
  parallel_team(nt, [&] {
    long p0, p1, j0, j1;
    unit_chunk(H, t.nr, thread_id(), nt, p0, p1, j0, j1);
    for (long st = T - 1; st >= 0; --st) {
      float* gs = gates + st * G;
      const float* cp = st == 0 ? s.c0.data : c + (st - 1) * H;
      const long ld_cp = st == 0 ? H : T * H;
      if (j0 < j1) {
        for (long b = 0; b < B; ++b) {
          float* d = dht + b * H;
          const float* r = dh + b * H;
          if (dy && dy_seq) {
            const float* yg = dy + (b * T + st) * H;
            for (long j = j0; j < j1; ++j) d[j] = r[j] + yg[j];
          } else {
            for (long j = j0; j < j1; ++j) d[j] = r[j];
          }
        }
        if (j0 == 0 && j1 == H && 2 * H <= t.width) {  // small layer: rows share vectors
          t.lstm_gates_bwd_rows(gs, T * G, dcv, dht, cp, ld_cp, tc + st * H, T * H, H, B, act,
                                ract);
        } else {
          for (long b = 0; b < B; ++b) {
            const long o = (b * T + st) * H;
            t.lstm_gates_bwd_row(gs + b * T * G, dcv + b * H, dht + b * H, cp + b * ld_cp,
                                 tc + o, H, j0, j1, act, ract);
          }
        }
      }
#ifdef LSTMCORE_HAVE_OPENMP
#pragma omp barrier
#endif
      // dh_{t-1}[:, own units] = dz_t . U^T[:, own units]; every thread needs all of dz_t,
      // hence the barrier above. Own units only are read back next step: no second barrier.
      if (j0 < j1) {
        sgemm_packed(B, p0, p1, 1.0f, false, gs, T * G, s.u_t, 0.0f, dh, H);
        if (rm)
          for (long b = 0; b < B; ++b)
            for (long j = j0; j < j1; ++j) dh[b * H + j] *= rm[b * H + j];
      }
    }
  });
  if (dh0) std::memcpy(dh0, dh, sizeof(float) * B * H);
  if (dc0) std::memcpy(dc0, dcv, sizeof(float) * B * H);

  // Weight gradients, one GEMM each over all B*T rows of dz.
  if (dW) sgemm(true, false, I, G, B * T, 1.0f, s.x, I, gates, G, 1.0f, dW, G);
  if (dU) {
    // dU = sum_{b,t} h_{b,t-1}^T dz_{b,t}. Row k = b*T+t of the stored outputs h is h_{b,t};
    // pairing h row k with dz row k+1 is right except at t = 0 where it pairs h_{b-1,T-1}
    // with dz_{b,0}. One GEMM over the shifted rows, then a rank-B correction with rows
    // h0_b - h_{b-1,T-1} (h0_0 for b = 0) against dz_{b,0}.
    if (B * T > 1) sgemm(true, false, H, G, B * T - 1, 1.0f, hin, H, gates + G, G, 1.0f, dU, G);
    float* corr = s.corr.resize(size_t(B) * H);
    for (long b = 0; b < B; ++b)
      for (long j = 0; j < H; ++j)
        corr[b * H + j] = h0in[b * H + j] - (b > 0 ? hin[((b - 1) * T + T - 1) * H + j] : 0.0f);
    sgemm(true, false, H, G, B, 1.0f, corr, H, gates, T * G, 1.0f, dU, G);
  }
  if (db) colsum_add(db, gates, B * T, G, G);
  if (dx) {
    float* dxe = dx;
    if (s.go_backwards) dxe = s.dx_rev.resize(size_t(B) * T * I);
    sgemm(false, true, B * T, I, G, 1.0f, gates, G, W, G, 0.0f, dxe, I);
    if (s.go_backwards) reverse_time(dx, dxe, B, T, I);
  }
}

}  // namespace lstmcore
