// microkernels.inl — the SIMD leaf kernels, written once and compiled once per ISA.
//
// Each isa_*.cpp defines, inside its own namespace (lstmcore::generic, lstmcore::avx2, ...),
// a vector type `V` of `W` floats and the handful of operations below, then includes this
// file. The linker can therefore never mix an AVX copy into the portable path (simdjson and
// Highway do the same). This file includes nothing itself and uses no STL.
//
// Operations every ISA provides:
//   vload vstore vset1 vzero vadd vsub vmul vdiv vfma(a,b,c)=a*b+c vabs
//   vmax_keep(lo, x): max(lo, x), returning x when x is NaN (so NaN propagates)
//   vmin_keep(hi, x): min(hi, x), returning x when x is NaN
//   vround(x): round to nearest integer; vpow2i(n): 2^n for integral n in [-126, 127]
//   vsel_lt(a, b, x, y): a < b ? x : y (lane-wise); vsel_gt0in1(y, x): 0 < y < 1 ? x : 0
//   vsel_gt0(y, x): y > 0 ? x : 0; vcopysign(mag, sgn): |mag| with the sign of sgn
//   vload_n(p, n) / vstore_n(p, v, n): the first n < W lanes (others read as 0 / untouched)
//   vsqrt(x): correctly rounded square root
//
// What is deliberately left out: denormal outputs of exp (results below FLT_MIN flush to
// ~1.2e-38, harmless for sigmoid/tanh), and any -ffast-math style approximation.

// ----------------------------------------------------------------------------------------
// Activation codes (must match kernels/activations.h)
enum { ACT_LINEAR = 0, ACT_SIGMOID = 1, ACT_HARD_SIGMOID = 2, ACT_HARD_SIGMOID_K2 = 3,
       ACT_TANH = 4, ACT_RELU = 5, ACT_SOFTMAX = 6 };

// ----------------------------------------------------------------------------------------
// exp: Cephes expf. Range reduction x = n*ln2 + r with ln2 split in two, degree-6
// polynomial on |r| <= ln2/2, scale by 2^n built in the exponent bits. ~1 ulp.
// vexp_core takes x already clamped below; n * 0.693359375 is exact (n has <= 8 bits, the
// constant 9), so the first reduction step as one FMA rounds exactly like mul-then-sub.
#ifndef LSTMCORE_HAVE_VSCALE2N
static inline V vscale2n(V p, V n) { return vmul(p, vpow2i(n)); }  // p * 2^n, n integral
#endif
#ifndef LSTMCORE_HAVE_VNEGABS
static inline V vnegabs(V x) { return vsub(vzero(), vabs(x)); }     // -|x|, NaN stays NaN
#endif
static inline V vexp_core(V x) {
  x = vmax_keep(vset1(-87.33654f), x);
  V n = vround(vmul(x, vset1(1.44269504088896341f)));
  V r = vfma(n, vset1(-0.693359375f), x);
  r = vsub(r, vmul(n, vset1(-2.12194440e-4f)));
  V p = vset1(1.9875691500e-4f);
  p = vfma(p, r, vset1(1.3981999507e-3f));
  p = vfma(p, r, vset1(8.3334519073e-3f));
  p = vfma(p, r, vset1(4.1665795894e-2f));
  p = vfma(p, r, vset1(1.6666665459e-1f));
  p = vfma(p, r, vset1(5.0000001201e-1f));
  p = vfma(p, vmul(r, r), vadd(r, vset1(1.0f)));
  return vscale2n(p, n);
}
static inline V vexp(V x) { return vexp_core(vmin_keep(vset1(88.0f), x)); }
// exp of x <= 0 (or NaN): no upper clamp needed.
static inline V vexp_nonpos(V x) { return vexp_core(x); }

// sigmoid(x) = 1/(1+e) for x >= 0, e/(1+e) for x < 0, with e = exp(-|x|) <= 1:
// never overflows, exact 0/1 limits at -inf/+inf (up to FLT_MIN), abs error < 1e-7.
static inline V vsigmoid(V x) {
  V e = vexp_nonpos(vnegabs(x));
  V s = vdiv(vset1(1.0f), vadd(vset1(1.0f), e));
  return vsel_lt(x, vzero(), vmul(e, s), s);
}

// tanh: odd polynomial for |x| < 0.625 (relative error < 1 ulp, fitted on [0, 0.625]),
// (1-e)/(1+e) with e = exp(-2|x|) beyond, sign restored.
static inline V vtanh(V x) {
  V ax = vabs(x);
  V x2 = vmul(x, x);
  V p = vset1(2.178023569e-03f);
  p = vfma(p, x2, vset1(-8.214971982e-03f));
  p = vfma(p, x2, vset1(2.171555348e-02f));
  p = vfma(p, x2, vset1(-5.394939706e-02f));
  p = vfma(p, x2, vset1(1.333322674e-01f));
  p = vfma(p, x2, vset1(-3.333333135e-01f));
  V small = vfma(vmul(x, x2), p, x);
  V e = vexp_nonpos(vmul(ax, vset1(-2.0f)));
  V big = vcopysign(vdiv(vsub(vset1(1.0f), e), vadd(vset1(1.0f), e)), x);
  return vsel_lt(ax, vset1(0.625f), small, big);
}

// Keras 3 hard_sigmoid: relu6(x + 3) / 6 (division, as Keras/PyTorch compute it).
static inline V vhard_sigmoid(V x) {
  V t = vmin_keep(vset1(6.0f), vmax_keep(vzero(), vadd(x, vset1(3.0f))));
  return vdiv(t, vset1(6.0f));
}
// Keras 2 hard_sigmoid: clip(0.2x + 0.5, 0, 1).
static inline V vhard_sigmoid_k2(V x) {
  V t = vadd(vmul(x, vset1(0.2f)), vset1(0.5f));
  return vmin_keep(vset1(1.0f), vmax_keep(vzero(), t));
}
static inline V vrelu(V x) { return vmax_keep(vzero(), x); }

static inline V vact(int act, V x) {
  switch (act) {
    case ACT_SIGMOID: return vsigmoid(x);
    case ACT_HARD_SIGMOID: return vhard_sigmoid(x);
    case ACT_HARD_SIGMOID_K2: return vhard_sigmoid_k2(x);
    case ACT_TANH: return vtanh(x);
    case ACT_RELU: return vrelu(x);
    default: return x;
  }
}

// Derivative expressed through the activation's OUTPUT y (saved in forward), so that the
// backward pass never recomputes exp: s(1-s), 1-t^2, the hard sigmoids' slope inside (0,1).
static inline V vdact(int act, V y) {
  switch (act) {
    case ACT_SIGMOID: return vmul(y, vsub(vset1(1.0f), y));
    case ACT_HARD_SIGMOID: return vsel_gt0in1(y, vset1(1.0f / 6.0f));
    case ACT_HARD_SIGMOID_K2: return vsel_gt0in1(y, vset1(0.2f));
    case ACT_TANH: return vsub(vset1(1.0f), vmul(y, y));
    case ACT_RELU: return vsel_gt0(y, vset1(1.0f));
    default: return vset1(1.0f);
  }
}

// Tails (vload_n / vstore_n, n < W values): ISA files with masked loads and stores define
// them; the others define LSTMCORE_TAIL_BUFFER and get this W-wide stack-buffer version.
// The same vector code runs on tails, so a value's result never depends on whether it sits
// in a tail.
#ifdef LSTMCORE_TAIL_BUFFER
// vload_lanes(z, p, lo, n): z with lanes [lo, lo+n) replaced by p[0..n); vstore_lanes: the
// reverse. (Masked-load ISAs define them without the buffer.)
static inline V vload_lanes(V z, const float* p, long lo, long n) {
  float buf[W];
  vstore(buf, z);
  for (long i = 0; i < n; ++i) buf[lo + i] = p[i];
  return vload(buf);
}
static inline void vstore_lanes(float* p, V v, long lo, long n) {
  float buf[W];
  vstore(buf, v);
  for (long i = 0; i < n; ++i) p[i] = buf[lo + i];
}
static inline V vload_n(const float* p, long n) {
  float buf[W];
  for (long i = 0; i < W; ++i) buf[i] = i < n ? p[i] : 0.0f;
  return vload(buf);
}
static inline void vstore_n(float* p, V v, long n) {
  float buf[W];
  vstore(buf, v);
  for (long i = 0; i < n; ++i) p[i] = buf[i];
}
#endif

// ----------------------------------------------------------------------------------------
// act_forward: y = act(x) elementwise, n values; y may alias x. Softmax is row-wise below.
static void act_forward(int act, float* y, const float* x, long n) {
  if (act == ACT_LINEAR) {
    if (y != x) for (long i = 0; i < n; ++i) y[i] = x[i];
    return;
  }
  long i = 0;
  for (; i + W <= n; i += W) vstore(y + i, vact(act, vload(x + i)));
  if (i < n) vstore_n(y + i, vact(act, vload_n(x + i, n - i)), n - i);
}

// act_backward: dx = dy * act'(y), from the saved output y; dx may alias dy.
static void act_backward(int act, float* dx, const float* y, const float* dy, long n) {
  long i = 0;
  for (; i + W <= n; i += W) vstore(dx + i, vmul(vload(dy + i), vdact(act, vload(y + i))));
  if (i < n) {
    V r = vmul(vload_n(dy + i, n - i), vdact(act, vload_n(y + i, n - i)));
    vstore_n(dx + i, r, n - i);
  }
}

// softmax_rows: y[r] = exp(x[r] - max x[r]) / sum, rows of n values; fixed reduction order.
static void softmax_rows(float* y, const float* x, long rows, long n) {
  for (long r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float mx = xr[0];
    for (long i = 1; i < n; ++i) mx = xr[i] > mx ? xr[i] : mx;
    V vm = vset1(mx);
    V vs = vzero();
    long i = 0;
    for (; i + W <= n; i += W) {
      V e = vexp(vsub(vload(xr + i), vm));
      vstore(yr + i, e);
      vs = vadd(vs, e);
    }
    float buf[W];
    vstore(buf, vs);
    float s = 0.0f;
    for (long k = 0; k < W; ++k) s += buf[k];
    for (; i < n; ++i) {
      V e = vexp(vsub(vload_n(xr + i, 1), vm));
      vstore_n(yr + i, e, 1);
      s += yr[i];
    }
    float inv = 1.0f / s;
    for (long k = 0; k < n; ++k) yr[k] *= inv;
  }
}

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

// ----------------------------------------------------------------------------------------
// lstm_gates_fwd_row: gate nonlinearity for one batch row and units [j0, j1).
//   g      (4H)  in: preactivations x_t.W + h_{t-1}.U (blocks i|f|c|o), bias not yet added;
//                out: activated gates i, f, g, o (saved for backward)
//   bias   (4H)  or null
//   c_prev (H)   in
//   c, tc, h (H) out: c = f*c_prev + i*g, tc = act(c), h = o*tc
//   tc == null (inference): neither tc nor the activated gates are stored (nothing will run
//   backward), which saves 5 of the 7 stores per unit.
static void lstm_gates_fwd_row(float* g, const float* bias, const float* c_prev, float* c,
                               float* tc, float* h, long H, long j0, long j1, int act,
                               int ract) {
  float* gi = g;
  float* gf = g + H;
  float* gg = g + 2 * H;
  float* go = g + 3 * H;
  const float* bi = bias;
  const float* bf = bias ? bias + H : nullptr;
  const float* bg = bias ? bias + 2 * H : nullptr;
  const float* bo = bias ? bias + 3 * H : nullptr;
  long j = j0;
  for (; j < j1; j += W) {
    long n = j1 - j < W ? j1 - j : W;
    bool full = n == W;
    V zi = full ? vload(gi + j) : vload_n(gi + j, n);
    V zf = full ? vload(gf + j) : vload_n(gf + j, n);
    V zg = full ? vload(gg + j) : vload_n(gg + j, n);
    V zo = full ? vload(go + j) : vload_n(go + j, n);
    if (bias) {
      zi = vadd(zi, full ? vload(bi + j) : vload_n(bi + j, n));
      zf = vadd(zf, full ? vload(bf + j) : vload_n(bf + j, n));
      zg = vadd(zg, full ? vload(bg + j) : vload_n(bg + j, n));
      zo = vadd(zo, full ? vload(bo + j) : vload_n(bo + j, n));
    }
    V vi = vact(ract, zi), vf = vact(ract, zf), vg = vact(act, zg), vo = vact(ract, zo);
    V cp = full ? vload(c_prev + j) : vload_n(c_prev + j, n);
    V vc = vadd(vmul(vf, cp), vmul(vi, vg));
    V vt = vact(act, vc);
    V vh = vmul(vo, vt);
    if (full) {
      if (tc) {
        vstore(gi + j, vi); vstore(gf + j, vf); vstore(gg + j, vg); vstore(go + j, vo);
        vstore(tc + j, vt);
      }
      vstore(c + j, vc); vstore(h + j, vh);
    } else {
      if (tc) {
        vstore_n(gi + j, vi, n); vstore_n(gf + j, vf, n); vstore_n(gg + j, vg, n);
        vstore_n(go + j, vo, n); vstore_n(tc + j, vt, n);
      }
      vstore_n(c + j, vc, n); vstore_n(h + j, vh, n);
    }
  }
}

// lstm_gates_bwd_row: backward of the gate kernel for one batch row, units [j0, j1).
//   g      (4H)  in: activated gates saved by forward; out: dz, gradient of the
//                preactivations (blocks i|f|c|o), written in place
//   dc     (H)   in: dL/dc_t from step t+1 (and the final-state gradient); out: dL/dc_{t-1}
//   dh     (H)   in: dL/dh_t (output gradient plus recurrent gradient)
//   c_prev (H), tc (H) in: saved c_{t-1} and act(c_t)
static void lstm_gates_bwd_row(float* g, float* dc, const float* dh, const float* c_prev,
                               const float* tc, long H, long j0, long j1, int act, int ract) {
  float* gi = g;
  float* gf = g + H;
  float* gg = g + 2 * H;
  float* go = g + 3 * H;
  for (long j = j0; j < j1; j += W) {
    long n = j1 - j < W ? j1 - j : W;
    bool full = n == W;
    V vi = full ? vload(gi + j) : vload_n(gi + j, n);
    V vf = full ? vload(gf + j) : vload_n(gf + j, n);
    V vg = full ? vload(gg + j) : vload_n(gg + j, n);
    V vo = full ? vload(go + j) : vload_n(go + j, n);
    V vt = full ? vload(tc + j) : vload_n(tc + j, n);
    V cp = full ? vload(c_prev + j) : vload_n(c_prev + j, n);
    V vdh = full ? vload(dh + j) : vload_n(dh + j, n);
    V vdc = full ? vload(dc + j) : vload_n(dc + j, n);
    vdc = vadd(vdc, vmul(vmul(vdh, vo), vdact(act, vt)));
    V dzi = vmul(vmul(vdc, vg), vdact(ract, vi));
    V dzf = vmul(vmul(vdc, cp), vdact(ract, vf));
    V dzg = vmul(vmul(vdc, vi), vdact(act, vg));
    V dzo = vmul(vmul(vdh, vt), vdact(ract, vo));
    V dcp = vmul(vdc, vf);
    if (full) {
      vstore(gi + j, dzi); vstore(gf + j, dzf); vstore(gg + j, dzg); vstore(go + j, dzo);
      vstore(dc + j, dcp);
    } else {
      vstore_n(gi + j, dzi, n); vstore_n(gf + j, dzf, n); vstore_n(gg + j, dzg, n);
      vstore_n(go + j, dzo, n); vstore_n(dc + j, dcp, n);
    }
  }
}

// ----------------------------------------------------------------------------------------
// Small layers (2H <= W): the per-row kernels above would leave most lanes empty (H = 5 uses
// 5 of 16), so these pack R = W/H batch rows into one vector: lanes [r*H, r*H + H) hold row
// r. Rows are gathered and scattered with masked loads/stores (vload_lanes/vstore_lanes); the
// arithmetic is the same vector code as above, lane for lane, so results are bit-identical to
// the per-row kernels.
static inline V gather_rows(const float* p, long ld, long H, long nr) {
  V z = vzero();
  for (long r = 0; r < nr; ++r) z = vload_lanes(z, p + r * ld, r * H, H);
  return z;
}
static inline void scatter_rows(float* p, long ld, long H, long nr, V v) {
  for (long r = 0; r < nr; ++r) vstore_lanes(p + r * ld, v, r * H, H);
}

// lstm_gates_fwd_rows: lstm_gates_fwd_row for `rows` batch rows and all H units.
//   g row b at g + b*ldg (4H); c_prev row b at c_prev + b*ld_cp; c, tc, h row b at + b*ld_o
static void lstm_gates_fwd_rows(float* g, long ldg, const float* bias, const float* c_prev,
                                long ld_cp, float* c, float* tc, float* h, long ld_o, long H,
                                long rows, int act, int ract) {
  const long R = W / H;
  V vb[4];
  for (int q = 0; q < 4; ++q) vb[q] = bias ? gather_rows(bias + q * H, 0, H, R) : vzero();
  for (long b0 = 0; b0 < rows; b0 += R) {
    const long nr = rows - b0 < R ? rows - b0 : R;
    float* gb = g + b0 * ldg;
    V z[4];
    for (int q = 0; q < 4; ++q) {
      z[q] = gather_rows(gb + q * H, ldg, H, nr);
      if (bias) z[q] = vadd(z[q], vb[q]);
    }
    V vi = vact(ract, z[0]), vf = vact(ract, z[1]), vg = vact(act, z[2]), vo = vact(ract, z[3]);
    V cp = gather_rows(c_prev + b0 * ld_cp, ld_cp, H, nr);
    V vc = vadd(vmul(vf, cp), vmul(vi, vg));
    V vt = vact(act, vc);
    V vh = vmul(vo, vt);
    if (tc) {  // null at inference, as in lstm_gates_fwd_row
      scatter_rows(gb, ldg, H, nr, vi);
      scatter_rows(gb + H, ldg, H, nr, vf);
      scatter_rows(gb + 2 * H, ldg, H, nr, vg);
      scatter_rows(gb + 3 * H, ldg, H, nr, vo);
      scatter_rows(tc + b0 * ld_o, ld_o, H, nr, vt);
    }
    scatter_rows(c + b0 * ld_o, ld_o, H, nr, vc);
    scatter_rows(h + b0 * ld_o, ld_o, H, nr, vh);
  }
}

// lstm_gates_bwd_rows: lstm_gates_bwd_row for `rows` batch rows and all H units.
//   g row b at g + b*ldg; dc, dh row b at + b*H; c_prev at + b*ld_cp; tc at + b*ld_o
static void lstm_gates_bwd_rows(float* g, long ldg, float* dc, const float* dh,
                                const float* c_prev, long ld_cp, const float* tc, long ld_o,
                                long H, long rows, int act, int ract) {
  const long R = W / H;
  for (long b0 = 0; b0 < rows; b0 += R) {
    const long nr = rows - b0 < R ? rows - b0 : R;
    float* gb = g + b0 * ldg;
    V vi = gather_rows(gb, ldg, H, nr), vf = gather_rows(gb + H, ldg, H, nr);
    V vg = gather_rows(gb + 2 * H, ldg, H, nr), vo = gather_rows(gb + 3 * H, ldg, H, nr);
    V vt = gather_rows(tc + b0 * ld_o, ld_o, H, nr);
    V cp = gather_rows(c_prev + b0 * ld_cp, ld_cp, H, nr);
    V vdh = gather_rows(dh + b0 * H, H, H, nr);
    V vdc = gather_rows(dc + b0 * H, H, H, nr);
    vdc = vadd(vdc, vmul(vmul(vdh, vo), vdact(act, vt)));
    V dzi = vmul(vmul(vdc, vg), vdact(ract, vi));
    V dzf = vmul(vmul(vdc, cp), vdact(ract, vf));
    V dzg = vmul(vmul(vdc, vi), vdact(act, vg));
    V dzo = vmul(vmul(vdh, vt), vdact(ract, vo));
    scatter_rows(gb, ldg, H, nr, dzi);
    scatter_rows(gb + H, ldg, H, nr, dzf);
    scatter_rows(gb + 2 * H, ldg, H, nr, dzg);
    scatter_rows(gb + 3 * H, ldg, H, nr, dzo);
    scatter_rows(dc + b0 * H, H, H, nr, vmul(vdc, vf));
  }
}

// ----------------------------------------------------------------------------------------
// adam_step: the Adam update on n values (Keras' form), constants precomputed by the caller:
//   m += (g - m) * omb1;  v += (g*g - v) * omb2;  w -= lr_t * m / (sqrt(v) + eps)
// Same operation order as the scalar reference loop in kernels/optimizers.cpp, so tails and
// full vectors round identically.
static void adam_step(float* w, const float* g, float* m, float* v, long n, float lr_t,
                      float omb1, float omb2, float eps) {
  const V vlr = vset1(lr_t), v1 = vset1(omb1), v2 = vset1(omb2), ve = vset1(eps);
  long i = 0;
  for (; i + W <= n; i += W) {
    V gi = vload(g + i);
    V mi = vadd(vload(m + i), vmul(vsub(gi, vload(m + i)), v1));
    V vi = vadd(vload(v + i), vmul(vsub(vmul(gi, gi), vload(v + i)), v2));
    vstore(m + i, mi);
    vstore(v + i, vi);
    vstore(w + i, vsub(vload(w + i), vdiv(vmul(vlr, mi), vadd(vsqrt(vi), ve))));
  }
  if (i < n) {
    const long k = n - i;
    V gi = vload_n(g + i, k), m0 = vload_n(m + i, k), v0 = vload_n(v + i, k);
    V mi = vadd(m0, vmul(vsub(gi, m0), v1));
    V vi = vadd(v0, vmul(vsub(vmul(gi, gi), v0), v2));
    vstore_n(m + i, mi, k);
    vstore_n(v + i, vi, k);
    vstore_n(w + i, vsub(vload_n(w + i, k), vdiv(vmul(vlr, mi), vadd(vsqrt(vi), ve))), k);
  }
}

// ----------------------------------------------------------------------------------------
// first_nonfinite: index of the first NaN or inf among n floats, or -1. A float is NaN or
// inf exactly when its exponent bits are all ones: an integer OR-reduction over blocks of
// 256 (no float compare, no dependency chain; the compiler vectorises it at this ISA's
// width), and the exact index only inside a block that has one.
static long first_nonfinite(const float* p, long n) {
  for (long i0 = 0; i0 < n; i0 += 256) {
    const long i1 = n - i0 < 256 ? n : i0 + 256;
    unsigned bad = 0;
    for (long i = i0; i < i1; ++i) {
      unsigned bits;
      __builtin_memcpy(&bits, p + i, sizeof(bits));
      bad |= (unsigned)((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (bad)
      for (long i = i0; i < i1; ++i) {
        unsigned bits;
        __builtin_memcpy(&bits, p + i, sizeof(bits));
        if ((bits & 0x7f800000u) == 0x7f800000u) return i;
      }
  }
  return -1;
}

// ----------------------------------------------------------------------------------------
// max_abs: max |p[i]| over n floats, or +inf when any is NaN or inf, in one pass. With the
// sign bit cleared, the bits of a non-negative float order as unsigned integers exactly as
// the floats do, and every NaN or inf (exponent all ones) is at least 0x7f800000: so an
// integer max-reduction (no float compare, vectorised at this ISA's width) gives both the
// maximum and the non-finite check (the training step's gradient scan; the magnitude bound
// of the finite-update check, network.cpp).
static float max_abs(const float* p, long n) {
  unsigned m = 0;
  for (long i = 0; i < n; ++i) {
    unsigned bits;
    __builtin_memcpy(&bits, p + i, sizeof(bits));
    bits &= 0x7fffffffu;
    m = bits > m ? bits : m;
  }
  if (m >= 0x7f800000u) return __builtin_inff();
  float r;
  __builtin_memcpy(&r, &m, sizeof(r));
  return r;
}

// ----------------------------------------------------------------------------------------
// fma_probe: `iters` rounds of 12 independent vector FMAs (enough to cover the FMA latency
// of every pipe on the CPUs here), 24 W flops a round: the machine's FMA throughput at the
// clock it runs now, which no nominal-clock estimate knows (VMs hide boost). The values
// stay finite and normal (x * 0.999 + 0.001 converges to 1); the sum keeps them live.
static float fma_probe(long iters) {
  V acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = vset1(1.0f + 0.01f * (float)j);
  const V m = vset1(0.999f), a = vset1(0.001f);
  for (long it = 0; it < iters; ++it)
    for (int j = 0; j < 12; ++j) acc[j] = vfma(acc[j], m, a);
  V sum = acc[0];
  for (int j = 1; j < 12; ++j) sum = vadd(sum, acc[j]);
  float t[W];
  vstore(t, sum);
  return t[0];
}
