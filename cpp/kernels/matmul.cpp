// matmul.cpp — SGEMM, cache-blocked with packed panels (the BLIS/GotoBLAS structure).
//
//   for jc in N step NC:                B block (KC x NC) packed once, shared by all threads
//     for pc in K step KC:
//       for ic in M step MC:            A block (MC x KC) packed once, shared
//         for (jr, ir) tiles:           split statically over threads: one writer per tile
//           micro-kernel (MR x NR)      the SIMD level's register-blocked kernel
//
// Thin shapes (N <= M/4 or M <= N/4) skip the shared blocks: each thread runs the same
// algorithm on its own rows or columns with its own packing and no barrier. The recurrent
// products have their own entry points: pre-packed B (sgemm_packed*, A read in place) and,
// for products used once, nothing packed (sgemm_inplace).
// K is walked in the same order whatever the thread count and each C tile has one writer,
// so results are bit-identical for 1 and N threads. Edge tiles are zero-padded in the packed
// panels and stored partially by the micro-kernel. Tiny problems run on one thread
// (threads_for). sgemm stops between (KC x MC) blocks when the caller's InterruptScope asks
// and throws Interrupted after its team (see kernels.h, TeamInterrupt).
#include <algorithm>
#include <cstring>

#include "kernels/checked.h"
#include "kernels/kernels.h"

namespace lstmcore {

// Blocking, measured on Zen 5 (48 KiB L1d, 1 MiB L2) against the FMA peak that
// fma_throughput measures: KC = 512 (a 64 KiB B panel, read from L2) sweeps C half as often
// as 256 and holds a whole recurrent product of H = 512 in one K block; with NC = 1024 the
// shared B block is 2 MiB. 1 thread, 1024^3: 85% -> 92% of peak; 2048^3: 76% -> 90%.
static constexpr long KC = 512;
static constexpr long NC = 1024;
// A thread working alone on a thin split packs its own B blocks: smaller ones keep the
// per-thread buffers (and the peak memory of a training step) down.
static constexpr long NC_PRIVATE = 512;

static long mc_for(int mr) { return mr * std::max(1, 144 / mr); }

// pack_a_panel: rows [i0, i0+m) of op(A), K range [p0, p0+kc), into dst[k*MR + i], zero pad.
static void pack_a_panel(float* dst, bool ta, const float* A, long lda, long i0, long m,
                         long p0, long kc, int MR) {
  if (!ta) {
    for (long k = 0; k < kc; ++k) {
      float* d = dst + k * MR;
      for (long i = 0; i < m; ++i) d[i] = A[(i0 + i) * lda + p0 + k];
      for (long i = m; i < MR; ++i) d[i] = 0.0f;
    }
  } else {  // op(A)(i, k) = A[k, i]: rows of A are contiguous in i
    for (long k = 0; k < kc; ++k) {
      float* d = dst + k * MR;
      const float* s = A + (p0 + k) * lda + i0;
      for (long i = 0; i < m; ++i) d[i] = s[i];
      for (long i = m; i < MR; ++i) d[i] = 0.0f;
    }
  }
}

// pack_b_panel: columns [j0, j0+n) of op(B), K range [p0, p0+kc), into dst[k*NR + j].
static void pack_b_panel(float* dst, bool tb, const float* B, long ldb, long p0, long kc,
                         long j0, long n, int NR) {
  if (!tb) {
    for (long k = 0; k < kc; ++k) {
      float* d = dst + k * NR;
      const float* s = B + (p0 + k) * ldb + j0;
      for (long j = 0; j < n; ++j) d[j] = s[j];
      for (long j = n; j < NR; ++j) d[j] = 0.0f;
    }
  } else {  // op(B)(k, j) = B[j, k]: read each row of B contiguously, write with stride NR
    for (long j = 0; j < n; ++j) {
      const float* s = B + (j0 + j) * ldb + p0;
      for (long k = 0; k < kc; ++k) dst[k * NR + j] = s[k];
    }
    if (n < NR)
      for (long k = 0; k < kc; ++k)
        for (long j = n; j < NR; ++j) dst[k * NR + j] = 0.0f;
  }
}

static void scale_c(float* C, long ldc, long M, long N, float beta) {
  for (long i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) std::memset(c, 0, N * sizeof(float));
    else if (beta != 1.0f) for (long j = 0; j < N; ++j) c[j] *= beta;
  }
}

// Per calling thread scratch; grows only, so steady-state calls allocate nothing.
static thread_local Buffer tl_apack, tl_bpack;

// [lo, hi): thread tid's static share of n iterations (as `omp for schedule(static)`).
static inline void share(long n, int tid, int nt, long& lo, long& hi) {
  lo = n * tid / nt;
  hi = n * (tid + 1) / nt;
}

// BlockStop: sgemm_blocked's interruption check, at the top of every (KC x MC) block. With a
// shared team (synced) the blocks are barrier-separated and every thread must stop at the
// same one; a thread on its own thin split just stops (tid is its index in the caller's team).
struct BlockStop {
  TeamInterrupt* ti = nullptr;
  int tid = 0;
  bool synced = false;
  bool operator()(long k) const {
    return ti != nullptr && (synced ? ti->stop_at(tid, k) : ti->stop_now(tid));
  }
};

static inline void team_barrier(int nt) {
  if (nt > 1) {
#ifdef LSTMCORE_HAVE_OPENMP
#pragma omp barrier
#endif
  }
}

// The blocked algorithm for C (M x N) run by thread tid of a team of nt that shares the
// packed blocks ap and bp (each thread packs and multiplies its static share; barriers
// between the phases). nt == 1: everything on the calling thread, no barrier. Returns at the
// top of a block when `stop` says so (all threads at the same block).
static void sgemm_blocked(const KernelTable& t, int tid, int nt, bool ta, bool tb, long M,
                          long N, long K, float alpha, const float* A, long lda, const float* B,
                          long ldb, float beta, float* C, long ldc, float* ap, float* bp,
                          long NCB, const BlockStop& stop) {
  const int MR = t.mr, NR = t.nr;
  const long MC = mc_for(MR);
  long lo, hi, block = 0;
  for (long jc = 0; jc < N; jc += NCB) {
    const long nc = std::min(NCB, N - jc);
    const long npan = (nc + NR - 1) / NR;
    for (long pc = 0; pc < K; pc += KC) {
      const long kc = std::min(KC, K - pc);
      const float b_beta = pc == 0 ? beta : 1.0f;
      share(npan, tid, nt, lo, hi);
      for (long p = lo; p < hi; ++p)
        pack_b_panel(bp + p * kc * NR, tb, B, ldb, pc, kc, jc + p * NR,
                     std::min<long>(NR, nc - p * NR), NR);
      team_barrier(nt);
      for (long ic = 0; ic < M; ic += MC) {
        if (stop(block++)) return;  // every block ends in a barrier (stop_at needs one)
        const long mc = std::min(MC, M - ic);
        const long mpan = (mc + MR - 1) / MR;
        share(mpan, tid, nt, lo, hi);
        for (long p = lo; p < hi; ++p)
          pack_a_panel(ap + p * kc * MR, ta, A, lda, ic + p * MR,
                       std::min<long>(MR, mc - p * MR), pc, kc, MR);
        team_barrier(nt);
        share(npan * mpan, tid, nt, lo, hi);
        for (long q = lo; q < hi; ++q) {
          const long jr = q / mpan, ir = q % mpan;
          const int m = (int)std::min<long>(MR, mc - ir * MR);
          const int n = (int)std::min<long>(NR, nc - jr * NR);
          t.gemm_micro(kc, ap + ir * kc * MR, bp + jr * kc * NR,
                       C + (ic + ir * MR) * ldc + jc + jr * NR, ldc, m, n, alpha, b_beta);
        }
        team_barrier(nt);
      }
    }
  }
}

// One thread's whole GEMM with its own packing buffers.
static void sgemm_private(const KernelTable& t, bool ta, bool tb, long M, long N, long K,
                          float alpha, const float* A, long lda, const float* B, long ldb,
                          float beta, float* C, long ldc, const BlockStop& stop) {
  if (M <= 0 || N <= 0) return;
  const long nc_max = std::min(NC_PRIVATE, (N + t.nr - 1) / t.nr * t.nr);
  const long kc_max = std::min(KC, K);
  const long mc_max = std::min(mc_for(t.mr), (M + t.mr - 1) / t.mr * t.mr);
  float* bp = tl_bpack.resize(checked_elems({kc_max, nc_max}, "sgemm B block (KC, NC)"));
  float* ap = tl_apack.resize(checked_elems({kc_max, mc_max}, "sgemm A block (KC, MC)"));
  sgemm_blocked(t, 0, 1, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ap, bp,
                NC_PRIVATE, stop);
}

void sgemm(bool ta, bool tb, long M, long N, long K, float alpha, const float* A, long lda,
           const float* B, long ldb, float beta, float* C, long ldc, int nthreads) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(C, ldc, M, N, beta);
    return;
  }
  const KernelTable& t = kt();
  const int MR = t.mr, NR = t.nr;
  const int nt = nthreads > 0 ? nthreads : threads_for(2.0 * M * N * K);
  if (M == 1 && !ta && !tb && nt <= 1) {
    // one row (a one-sample step's input projection): packing B would cost more than the
    // product; the in-place row tiles compute every element with the same operations
    sgemm_inplace(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  TeamInterrupt ti;  // inert when called inside a parallel region (it cannot throw there)
  if (nt <= 1) {
    sgemm_private(t, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                  BlockStop{&ti, 0, false});
    ti.throw_if_stopped();
    return;
  }
  // Thin shapes: sharing packed blocks costs 2-3 barriers per (KC x MC) block for little work
  // per block, and one operand is small. Each thread then runs the whole algorithm on its own
  // rows (N small: B packed once per thread) or its own columns (M small: A packed once per
  // thread), without a barrier. Every C element is computed by the same operations whatever
  // the split: bit-identical results.
  const long mtiles = (M + MR - 1) / MR, npans = (N + NR - 1) / NR;
  if (N * 4 <= M && mtiles >= 2 * nt) {
    parallel_team(nt, [&](int tid, int team) {
      long lo, hi;
      share(mtiles, tid, team, lo, hi);
      const long i0 = lo * MR, i1 = std::min(M, hi * MR);
      sgemm_private(t, ta, tb, i1 - i0, N, K, alpha, ta ? A + i0 : A + i0 * lda, lda, B, ldb,
                    beta, C + i0 * ldc, ldc, BlockStop{&ti, tid, false});
    });
    ti.throw_if_stopped();
    return;
  }
  if (M * 4 <= N && npans >= 2 * nt) {
    parallel_team(nt, [&](int tid, int team) {
      long lo, hi;
      share(npans, tid, team, lo, hi);
      const long j0 = lo * NR, j1 = std::min(N, hi * NR);
      sgemm_private(t, ta, tb, M, j1 - j0, K, alpha, A, lda, tb ? B + j0 * ldb : B + j0, ldb,
                    beta, C + j0, ldc, BlockStop{&ti, tid, false});
    });
    ti.throw_if_stopped();
    return;
  }
  const long MC = mc_for(MR);
  const long nc_max = std::min(NC, (N + NR - 1) / NR * NR);
  const long kc_max = std::min(KC, K);
  const long mc_max = std::min(MC, (M + MR - 1) / MR * MR);
  float* bp = tl_bpack.resize(checked_elems({kc_max, nc_max}, "sgemm B block (KC, NC)"));
  float* ap = tl_apack.resize(checked_elems({kc_max, mc_max}, "sgemm A block (KC, MC)"));
  parallel_team(nt, [&](int tid, int team) {
    sgemm_blocked(t, tid, team, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ap, bp,
                  NC, BlockStop{&ti, tid, team > 1});
  });
  ti.throw_if_stopped();
}

// ---- pre-packed B ---------------------------------------------------------------------------
// Layout: K blocks of KC rows; inside block pc, panel p occupies kc*NR floats at
// offset pc*Npan*NR + p*kc*NR (earlier blocks are full KC rows).
void PackedB::pack(bool tb, long K_, long N_, const float* B, long ldb) {
  const KernelTable* t = &kt();
  const long npan = checked_add(N_, t->nr - 1, "packed B (K, N)") / t->nr;
  float* d = data.resize(checked_elems({K_, npan, t->nr}, "packed B (K, N)"));
  table = t;
  nr = t->nr;
  K = K_;
  N = N_;
  for (long pc = 0; pc < K; pc += KC) {
    const long kc = std::min(KC, K - pc);
    for (long p = 0; p < npan; ++p)
      pack_b_panel(d + pc * npan * nr + p * kc * nr, tb, B, ldb, pc, kc, p * nr,
                   std::min<long>(nr, N - p * nr), nr);
  }
}

void sgemm_packed_multi(long M, long p0, long p1, float alpha, bool ta, const float* A, long lda,
                        const PackedB* const* Bs, int nb, float beta, float* const* Cs, long ldc) {
  if (M <= 0 || p1 <= p0 || nb <= 0) return;
  const PackedB& B0 = *Bs[0];
  const KernelTable& t = *B0.table;
  const int MR = t.mr, NR = B0.nr;
  const long MC = mc_for(MR);
  const long K = B0.K, npan = B0.panels();
  if (K <= 0) {
    const long j0 = p0 * NR, j1 = std::min(B0.N, p1 * NR);
    for (int q = 0; q < nb; ++q)
      for (long i = 0; i < M; ++i)
        for (long j = j0; j < j1; ++j) {
          float& c = Cs[q][i * ldc + j];
          c = beta == 0.0f ? 0.0f : beta * c;
        }
    return;
  }
  // A row-major is read in place (the per-step h_{t-1} or dz_t: small, L1/L2 resident);
  // a transposed A is packed once per block and reused against every B.
  const bool direct = !ta;
  const long mc_max = std::min(MC, (M + MR - 1) / MR * MR);
  float* ap = direct ? nullptr
                     : tl_apack.resize(checked_elems({std::min(KC, K), mc_max},
                                                     "sgemm A block (KC, MC)"));
  for (long pc = 0; pc < K; pc += KC) {
    const long kc = std::min(KC, K - pc);
    const float b_beta = pc == 0 ? beta : 1.0f;
    for (long ic = 0; ic < M; ic += MC) {
      const long mc = std::min(MC, M - ic);
      const long mpan = (mc + MR - 1) / MR;
      if (!direct)
        for (long p = 0; p < mpan; ++p)
          pack_a_panel(ap + p * kc * MR, ta, A, lda, ic + p * MR,
                       std::min<long>(MR, mc - p * MR), pc, kc, MR);
      for (int q = 0; q < nb; ++q) {
        const PackedB& B = *Bs[q];
        const float* bblock = B.data.data + pc * npan * NR;
        for (long jr = p0; jr < p1; ++jr) {
          const int n = (int)std::min<long>(NR, B.N - jr * NR);
          for (long ir = 0; ir < mpan; ++ir) {
            const int m = (int)std::min<long>(MR, mc - ir * MR);
            float* cp = Cs[q] + (ic + ir * MR) * ldc + jr * NR;
            if (direct)
              t.gemm_micro_direct(kc, A + (ic + ir * MR) * lda + pc, lda, bblock + jr * kc * NR,
                                  0, cp, ldc, m, n, alpha, b_beta);
            else
              t.gemm_micro(kc, ap + ir * kc * MR, bblock + jr * kc * NR, cp, ldc, m, n, alpha,
                           b_beta);
          }
        }
      }
    }
  }
}

void sgemm_inplace(long M, long N, long K, float alpha, const float* A, long lda,
                   const float* B, long ldb, float beta, float* C, long ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    scale_c(C, ldc, M, N, beta);
    return;
  }
  const KernelTable& t = kt();
  const int MR = t.mr, NR = t.nr;
  for (long pc = 0; pc < K; pc += KC) {
    const long kc = std::min(KC, K - pc);
    const float b_beta = pc == 0 ? beta : 1.0f;
    if (M == 1) {  // a one-sample step: wide row tiles keep more FMAs in flight
      const long RW = t.row_width;
      for (long j = 0; j < N; j += RW)
        t.gemm_row(kc, A + pc, B + pc * ldb + j, ldb, C + j, (int)std::min<long>(RW, N - j),
                   alpha, b_beta);
      continue;
    }
    for (long j = 0; j < N; j += NR) {
      const int n = (int)std::min<long>(NR, N - j);
      for (long i = 0; i < M; i += MR) {
        const int m = (int)std::min<long>(MR, M - i);
        t.gemm_micro_direct(kc, A + i * lda + pc, lda, B + pc * ldb + j, ldb, C + i * ldc + j,
                            ldc, m, n, alpha, b_beta);
      }
    }
  }
}

void sgemm_packed(long M, long p0, long p1, float alpha, bool ta, const float* A, long lda,
                  const PackedB& B, float beta, float* C, long ldc) {
  const PackedB* bs[1] = {&B};
  float* cs[1] = {C};
  sgemm_packed_multi(M, p0, p1, alpha, ta, A, lda, bs, 1, beta, cs, ldc);
}

}  // namespace lstmcore
