// gemm.inl — GEMM micro-kernels: gemm_micro, gemm_micro_direct, gemm_abt.
// Part of microkernels.inl (see there): included inside an ISA namespace; includes nothing.

// ----------------------------------------------------------------------------------------
// GEMM micro-kernel: C[m x n] = alpha * Ap * Bp + beta * C for one MR x NR tile.
//   ap  packed A panel: kc steps of `lda_p` (= MR) floats, rows 0..MRC-1 used
//   bp  packed B panel: kc steps of NR = NV*W floats (zero padded past n)
//   c   (m, n) with leading dimension ldc; m <= MRC, n <= NR
// beta == 0 never reads C (it may hold garbage). The update is alpha*acc + beta*c with the
// same operations for full and edge tiles, so an element's value does not depend on where
// the tile grid put it.
// A element (i, k) sits at ap[k * MR + i] in a packed panel, or at ap[k + i * ia] (ia = lda)
// for a row-major A read in place (the per-step recurrent product, where packing
// h_{t-1} again at every step cost as much as the multiply for small layers). Rows past m
// are never read in place: they are clamped to row 0 and their results discarded.
// The packed case keeps compile-time offsets (the hot path of every large GEMM); only the
// in-place case pays for per-row offsets.
// B_INPLACE (only with DIRECT): B is not packed either but read row-major in place, row k at
// bp + k * ldb, columns past n never read (masked loads): for a product used once or twice,
// where packing B would cost as much as the multiply (the one-sample stateful step).
template <int MRC, int NV, bool DIRECT, bool B_INPLACE = false>
static inline void gemm_micro_t(long kc, const float* ap, long ldb, long ia, int m,
                                const float* bp, float* c, long ldc, int n, float alpha,
                                float beta) {
  V acc[MRC][NV];
  long row[MRC];
  for (int i = 0; i < MRC; ++i) row[i] = DIRECT ? (i < m ? i : 0) * ia : i;
  for (int i = 0; i < MRC; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = vzero();
  // The C tile is read (and written) only after the k loop; its rows are ldc apart, which
  // the hardware prefetchers do not follow, so fetch them now, behind the multiply-adds.
  for (int i = 0; i < m; ++i) {
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + NV * W - 1, 1, 3);
  }
  const bool b_partial = B_INPLACE && n < NV * W;
  for (long k = 0; k < kc; ++k) {
    V b[NV];
    if (b_partial) {
      for (int j = 0; j < NV; ++j) {
        const long nj = n - j * W;
        b[j] = nj >= W ? vload(bp + k * ldb + j * W)
                       : nj > 0 ? vload_n(bp + k * ldb + j * W, nj) : vzero();
      }
    } else {
      for (int j = 0; j < NV; ++j)
        b[j] = vload(bp + k * (B_INPLACE ? ldb : NV * W) + j * W);
    }
    const float* ak = DIRECT ? ap + k : ap + k * MR;
    for (int i = 0; i < MRC; ++i) {
      V a = vset1(DIRECT ? ak[row[i]] : ak[i]);
      for (int j = 0; j < NV; ++j) acc[i][j] = vfma(a, b[j], acc[i][j]);
    }
  }
  const bool unit_alpha = alpha == 1.0f;
  V va = vset1(alpha), vb = vset1(beta);
  if (m == MRC && n == NV * W) {
    for (int i = 0; i < MRC; ++i)
      for (int j = 0; j < NV; ++j) {
        float* cp = c + i * ldc + j * W;
        V r = unit_alpha ? acc[i][j] : vmul(va, acc[i][j]);
        if (beta == 1.0f) r = vadd(r, vload(cp));
        else if (beta != 0.0f) r = vadd(r, vmul(vb, vload(cp)));
        vstore(cp, r);
      }
    return;
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < NV; ++j) {
      long nj = n - j * W;
      if (nj <= 0) break;
      if (nj > W) nj = W;
      float* cp = c + i * ldc + j * W;
      V r = unit_alpha ? acc[i][j] : vmul(va, acc[i][j]);
      if (beta == 1.0f) r = vadd(r, vload_n(cp, nj));
      else if (beta != 0.0f) r = vadd(r, vmul(vb, vload_n(cp, nj)));
      vstore_n(cp, r, nj);
    }
}

// gemm_micro: picks the narrowest row count that covers m (1, 2, 4, 8 or MR), so a
// GEMV-like call (the stateful one-sample step) or an edge tile does not pay for MR rows.
template <bool DIRECT, bool B_INPLACE = false>
static inline void gemm_micro_any(long kc, const float* ap, long ia, const float* bp, long ldb,
                                  float* c, long ldc, int m, int n, float alpha, float beta) {
  if (m == MR)
    gemm_micro_t<MR, NV_GEMM, DIRECT, B_INPLACE>(kc, ap, ldb, ia, m, bp, c, ldc, n, alpha, beta);
  else if (m == 1)
    gemm_micro_t<1, NV_GEMM, DIRECT, B_INPLACE>(kc, ap, ldb, ia, m, bp, c, ldc, n, alpha, beta);
  else if (m == 2)
    gemm_micro_t<2, NV_GEMM, DIRECT, B_INPLACE>(kc, ap, ldb, ia, m, bp, c, ldc, n, alpha, beta);
  else if (m <= 4)
    gemm_micro_t<4, NV_GEMM, DIRECT, B_INPLACE>(kc, ap, ldb, ia, m, bp, c, ldc, n, alpha, beta);
  else if (MR > 8 && m <= 8)  // e.g. 32 rows = 12 + 12 + 8 without computing 4 dead rows
    gemm_micro_t<(MR > 8 ? 8 : MR), NV_GEMM, DIRECT, B_INPLACE>(kc, ap, ldb, ia, m, bp, c, ldc, n,
                                                                 alpha, beta);
  else
    gemm_micro_t<MR, NV_GEMM, DIRECT, B_INPLACE>(kc, ap, ldb, ia, m, bp, c, ldc, n, alpha, beta);
}

static void gemm_micro(long kc, const float* ap, const float* bp, float* c, long ldc,
                       int m, int n, float alpha, float beta) {
  gemm_micro_any<false>(kc, ap, 1, bp, 0, c, ldc, m, n, alpha, beta);
}

// gemm_micro_direct: the same tile with A read in place, row-major with leading dimension
// lda (a points at row 0, column 0 of the K block), and B a packed panel (ldb == 0) or, with
// ldb > 0, row-major in place (bp at row 0 of the K block and the tile's first column).
// Same FMA order in every case: bit-identical results.
static void gemm_micro_direct(long kc, const float* a, long lda, const float* bp, long ldb,
                              float* c, long ldc, int m, int n, float alpha, float beta) {
  if (ldb > 0) gemm_micro_any<true, true>(kc, a, lda, bp, ldb, c, ldc, m, n, alpha, beta);
  else gemm_micro_any<true>(kc, a, lda, bp, 0, c, ldc, m, n, alpha, beta);
}

// gemm_row: C (1 x n) = alpha * a (1 x kc) . B (kc x n, row-major in place) + beta * C, for
// n <= ROW_NV * W: the one-row tile of gemm_micro_direct made ROW_NV vectors wide. One row
// has one accumulator per vector, each a chain of dependent multiply-adds: a tile NV_GEMM
// vectors wide keeps only that many FMAs in flight (latency-bound, a quarter of the FMA
// rate); ROW_NV of them keep the FMA units busy. Every element still sums k in order with
// the same operations: bit-identical to the narrow tiles.
static void gemm_row(long kc, const float* a, const float* b, long ldb, float* c, int n,
                     float alpha, float beta) {
  gemm_micro_t<1, ROW_NV, true, true>(kc, a, ldb, 0, 1, b, c, 0, n, alpha, beta);
}

// gemm_abt: C (m x n) = A B^T + beta C with A (m x k) and B (n x k) both row-major and read
// in place: dot products, 4 rows of B sharing each load of A, one vector accumulator per
// output and a pairwise horizontal sum. For a product used once (dh = dz U^T in a
// one-sample step), where packing B^T into GEMM panels costs more than the multiply.
static inline float vhsum(V v) {
  float t[W];
  vstore(t, v);
  for (int s = W / 2; s > 0; s /= 2)
    for (int l = 0; l < s; ++l) t[l] += t[l + s];
  return t[0];
}

static void gemm_abt(long m, long n, long k, const float* A, long lda, const float* B, long ldb,
                     float beta, float* C, long ldc) {
  for (long i = 0; i < m; ++i) {
    const float* a = A + i * lda;
    for (long j = 0; j < n; j += 4) {
      const int nq = n - j < 4 ? (int)(n - j) : 4;
      const float* b[4];
      for (int q = 0; q < 4; ++q) b[q] = B + (j + (q < nq ? q : 0)) * ldb;
      V acc[4] = {vzero(), vzero(), vzero(), vzero()};
      long kk = 0;
      for (; kk + W <= k; kk += W) {
        const V av = vload(a + kk);
        for (int q = 0; q < 4; ++q) acc[q] = vfma(av, vload(b[q] + kk), acc[q]);
      }
      if (kk < k) {
        const V av = vload_n(a + kk, k - kk);
        for (int q = 0; q < 4; ++q) acc[q] = vfma(av, vload_n(b[q] + kk, k - kk), acc[q]);
      }
      for (int q = 0; q < nq; ++q) {
        float* c = C + i * ldc + j + q;
        const float sum = vhsum(acc[q]);
        *c = beta == 0.0f ? sum : sum + beta * *c;
      }
    }
  }
}
