// recurrent.h — the time-loop machinery every recurrent layer shares, apart from its cell.
//
// A recurrent pass over (B, T) with H units and `gates` gate blocks (LSTM 4, GRU 3, a simple
// RNN 1) is shared by threads in one of two ways, each keeping every output element with one
// writer (bit-identical results for any thread count):
//  - units: a thread owns NR-aligned panels of the H units for all batch rows; every step
//    needs all of h_{t-1}, so each step has a barrier. For big layers, where the recurrent
//    kernel U is large and a thread should stream only its share of it.
//  - batch rows: a thread owns a block of rows for all units. The rows' recurrences are
//    independent, so the whole sequence runs without a barrier (one fork/join per pass); each
//    thread reads all of U, which is cheap while U is small.
// recurrent_team runs a cell's per-step function over the sequence on such a team, with the
// interrupt check (every thread of a barrier loop stops at the same step) and the barrier in
// place. A cell file (lstm.cpp, gru.cpp, simple_rnn.cpp) keeps only its gate math and its GEMM calls.
#pragma once
#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"

namespace lstmcore {

struct TeamPlan {
  int nt = 1;
  bool by_rows = true;
};

// plan_team: the split and team size for (B, T, H) with `gates` gate blocks of H columns.
inline TeamPlan plan_team(long B, long T, long H, int gates) {
  const int avail = num_threads();
  const long npan = (H + kt().nr - 1) / kt().nr;
  TeamPlan p;
  // Per-step recurrent work 2*B*H*(gates*H) flops: from ~4 MFLOP a step a barrier (~1 us) is
  // noise, and with U of 1 MiB and more (H >= 256) each thread should stream only its share
  // of it (LSTM measured split by rows instead: medium, H = 128, as fast or 3% faster; large,
  // H = 512, 3% slower).
  if (2.0 * gates * B * H * H >= 4.0e6 && H >= 256 && npan >= 2) {
    p.nt = (int)std::max<long>(1, std::min<long>(avail, npan));
    p.by_rows = false;
    return p;
  }
  // Whole-sequence work, the gate math counted as ~64 flops a unit: a fork/join (a few us
  // with the threads still spinning) pays from ~1 MFLOP.
  const double work = double(B) * T * H * (2.0 * gates * H + 64.0);
  p.nt = work >= 1.0e6 ? (int)std::max<long>(1, std::min<long>(avail, B)) : 1;
  return p;
}

// A packed panel of U (forward) or U^T (backward) is read T * ceil(B / MR) times; used at
// most twice (a one-sample step), packing costs as much as the multiply, so U is read in
// place instead (forward: the GEMM with B in place; backward: dot products with U's rows).
inline bool u_in_place(const TeamPlan& plan, long B, long T) {
  return plan.by_rows && T * ((B + kt().mr - 1) / kt().mr) <= 2;
}

// The rows [b0, b1) and unit panels [p0, p1) (units [j0, j1)) thread `tid` of `nt` owns.
struct Share {
  long b0, b1, p0, p1, j0, j1;
};

inline Share share_of(const TeamPlan& plan, long B, long H, int tid, int nt) {
  const int nr = kt().nr;
  const long npan = (H + nr - 1) / nr;
  Share sh{0, B, 0, npan, 0, H};
  if (nt > 1 && plan.by_rows) {
    sh.b0 = B * tid / nt;
    sh.b1 = B * (tid + 1) / nt;
  } else if (nt > 1) {
    sh.p0 = npan * tid / nt;
    sh.p1 = npan * (tid + 1) / nt;
    sh.j0 = std::min(H, sh.p0 * nr);
    sh.j1 = std::min(H, sh.p1 * nr);
  }
  return sh;
}

// StepSync: the barrier a step calls where all threads must have finished the first part of
// the step before any reads another's results (units split); a no-op split by rows. Each
// thread calls it exactly once per step (OpenMP orphaned barrier: binds to the team).
struct StepSync {
  bool team;
  void operator()() const {
    if (team) {
#ifdef LSTMCORE_HAVE_OPENMP
#pragma omp barrier
#endif
    }
  }
};

// reverse_time: dst[b, t] = src[b, T-1-t] for (B, T, F) rows (go_backwards).
inline void reverse_time(float* dst, const float* src, long B, long T, long F) {
  for (long b = 0; b < B; ++b)
    for (long t = 0; t < T; ++t)
      std::memcpy(dst + (b * T + t) * F, src + (b * T + (T - 1 - t)) * F, F * sizeof(float));
}

// add_prev_state_grad: dU (H, N) += sum_{b,t} hin_{b,t-1}^T dz_{b,t}, hin (B, T, H) the states
// the recurrent product read (h_{b,-1} = h0in row b), dz row b*T+t at dz + (b*T+t)*ldz.
// Row k = b*T+t of hin is h_{b,t}, so pairing hin row k-1 with dz row k is right except at
// t = 0, where it pairs h_{b-1,T-1} (nothing for k = 0) with dz_{b,0}; a rank-B correction
// with rows h0in_b - h_{b-1,T-1} (h0in_0 for b = 0) against dz_{b,0} fixes that. `corr` is
// (B, H) scratch.
inline void add_prev_state_grad(float* dU, long ldu, const float* hin, const float* h0in,
                                const float* dz, long ldz, long B, long T, long H, long N,
                                Buffer& corr) {
  const long BT = B * T;
  if (BT > 1) sgemm(true, false, H, N, BT - 1, 1.0f, hin, H, dz + ldz, ldz, 1.0f, dU, ldu);
  float* c = corr.resize(size_t(B) * H);
  for (long b = 0; b < B; ++b)
    for (long j = 0; j < H; ++j)
      c[b * H + j] = h0in[b * H + j] - (b > 0 ? hin[((b - 1) * T + T - 1) * H + j] : 0.0f);
  sgemm(true, false, H, N, B, 1.0f, c, H, dz, T * ldz, 1.0f, dU, ldu);
}

// recurrent_team: begin(tid, share) once per thread, then step(share, t, sync) for t = 0..T-1
// (T-1..0 when `reverse`) on the plan's team; stops between steps on an interrupt (all
// threads at the same step) and then throws Interrupted on the calling thread.
// ---- what every cell's forward sets up the same way --------------------------------------
// The initial state (B, H) in dst: a copy of init, or zeros.
inline float* initial_state(Buffer& dst, const float* init, size_t n_bh) {
  float* s = dst.resize(n_bh);
  if (init) std::memcpy(s, init, sizeof(float) * n_bh);
  else std::memset(s, 0, sizeof(float) * n_bh);
  return s;
}

// x (B, T, I) in processing order: x itself, or its time-reversed copy in rev (go_backwards).
inline const float* processing_input(Buffer& rev, const float* x, long B, long T, long I,
                                     bool go_backwards) {
  if (!go_backwards) return x;
  float* xr = rev.resize(checked_elems({B, T, I}, "a time-reversed input (B, T, I)"));
  reverse_time(xr, x, B, T, I);
  return xr;
}

// Recurrent dropout (Keras: h_{t-1} * mask in the recurrent product, one mask per sequence):
// the mask (B, H) kept in keep, hm (B, T, H) for the masked states the GEMM reads, and
// h0m = h0 * mask. All null (keep emptied) when rmask is null.
struct RecurrentDropout {
  const float* rm = nullptr;
  float* hm = nullptr;
  float* h0m = nullptr;
};
inline RecurrentDropout recurrent_dropout(Buffer& keep, Buffer& hm, Buffer& h0m,
                                          const float* rmask, const float* h0, size_t n_bh,
                                          size_t n_bth) {
  RecurrentDropout d;
  if (!rmask) {
    keep.size = 0;
    return d;
  }
  float* rm = keep.resize(n_bh);
  std::memcpy(rm, rmask, sizeof(float) * n_bh);
  d.rm = rm;
  d.hm = hm.resize(n_bth);
  d.h0m = h0m.resize(n_bh);
  for (size_t i = 0; i < n_bh; ++i) d.h0m[i] = h0[i] * rm[i];
  return d;
}

// ---- Keras masks in the time loop -------------------------------------------------------
// tm is (B, T) in processing order: 0 skips step t of row b. A skipped step carries the state
// through (forward), and in backward passes its incoming gradient on to the previous step
// untouched while nothing of it reaches the weights or the input.

// The caller's (B, T) mask (input time order) in processing order, in dst; null for none.
inline const float* processing_mask(Buffer& dst, const float* tmask, long B, long T,
                                    bool go_backwards) {
  if (!tmask) {
    dst.size = 0;
    return nullptr;
  }
  float* m = dst.resize(checked_elems({B, T}, "a mask (B, T)"));
  if (go_backwards) reverse_time(m, tmask, B, T, 1);
  else std::memcpy(m, tmask, sizeof(float) * B * T);
  return m;
}

// Forward, after step st wrote its state seq (B, T, H) for rows b0..b1, units j0..j1:
// a skipped step's state is the previous one (init (B, H) before the first step).
inline void carry_skipped(const float* tm, long T, long H, long st, long b0, long b1, long j0,
                          long j1, float* seq, const float* init) {
  for (long b = b0; b < b1; ++b) {
    if (tm[b * T + st] != 0.0f) continue;
    const long o = (b * T + st) * H;
    const float* prev = st == 0 ? init + b * H : seq + o - H;
    std::memcpy(seq + o + j0, prev + j0, sizeof(float) * (j1 - j0));
  }
}

// Backward, once step st's total gradient g (B, H) of rows b0..b1 is known and before the
// gate math reads it: a skipped step's is kept in held and zeroed, so the step contributes
// nothing ...
inline void hold_skipped(const float* tm, long T, long H, long st, long b0, long b1, long j0,
                         long j1, float* g, float* held) {
  for (long b = b0; b < b1; ++b) {
    if (tm[b * T + st] != 0.0f) continue;
    std::memcpy(held + b * H + j0, g + b * H + j0, sizeof(float) * (j1 - j0));
    std::memset(g + b * H + j0, 0, sizeof(float) * (j1 - j0));
  }
}

// ... and once the previous step's gradient gprev (B, H) is formed, it is the held one.
inline void pass_skipped(const float* tm, long T, long H, long st, long b0, long b1, long j0,
                         long j1, float* gprev, const float* held) {
  for (long b = b0; b < b1; ++b)
    if (tm[b * T + st] == 0.0f)
      std::memcpy(gprev + b * H + j0, held + b * H + j0, sizeof(float) * (j1 - j0));
}

template <class Begin, class Step>
void recurrent_team(const TeamPlan& plan, long B, long H, long T, bool reverse, Begin&& begin,
                    Step&& step) {
  TeamInterrupt stop;
  parallel_team(plan.nt, [&](int tid, int nt) {
    const Share sh = share_of(plan, B, H, tid, nt);
    begin(tid, sh);
    const StepSync sync{!plan.by_rows};
    for (long k = 0; k < T; ++k) {
      if (plan.by_rows ? stop.stop_now(tid) : stop.stop_at(tid, k)) break;
      step(sh, reverse ? T - 1 - k : k, sync);
    }
  });
  stop.throw_if_stopped();
}

}  // namespace lstmcore
