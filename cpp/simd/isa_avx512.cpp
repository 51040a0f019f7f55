// isa_avx512.cpp — AVX-512 (F/DQ/BW/VL) level, 16 floats per vector. Compiled with its own
// flags; only reached when dispatch found the features and the OS saves ZMM state.
#include <immintrin.h>

#include "simd/dispatch.h"

namespace lstmcore {
namespace avx512 {

constexpr int W = 16;
constexpr int MR = 12;      // GEMM micro-tile 12 x 32: 24 accumulators of 32 registers
constexpr int NV_GEMM = 2;
constexpr int ROW_NV = 8;   // gemm_row: one row, 8 independent accumulators
struct V { __m512 v; };

static inline V vload(const float* p) { return {_mm512_loadu_ps(p)}; }
static inline void vstore(float* p, V a) { _mm512_storeu_ps(p, a.v); }
static inline V vset1(float x) { return {_mm512_set1_ps(x)}; }
static inline V vzero() { return {_mm512_setzero_ps()}; }
static inline V vadd(V a, V b) { return {_mm512_add_ps(a.v, b.v)}; }
static inline V vsub(V a, V b) { return {_mm512_sub_ps(a.v, b.v)}; }
static inline V vmul(V a, V b) { return {_mm512_mul_ps(a.v, b.v)}; }
static inline V vdiv(V a, V b) { return {_mm512_div_ps(a.v, b.v)}; }
static inline V vfma(V a, V b, V c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
static inline V vsqrt(V a) { return {_mm512_sqrt_ps(a.v)}; }
static inline V vabs(V a) { return {_mm512_abs_ps(a.v)}; }
static inline V vmax_keep(V lo, V x) { return {_mm512_max_ps(lo.v, x.v)}; }
static inline V vmin_keep(V hi, V x) { return {_mm512_min_ps(hi.v, x.v)}; }
static inline V vround(V a) { return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
static inline V vpow2i(V n) {
  __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127)), 23);
  return {_mm512_castsi512_ps(e)};
}
#define LSTMCORE_HAVE_VSCALE2N 1
static inline V vscale2n(V p, V n) { return {_mm512_scalef_ps(p.v, n.v)}; }
#define LSTMCORE_HAVE_VNEGABS 1
static inline V vnegabs(V x) { return {_mm512_or_ps(x.v, _mm512_set1_ps(-0.0f))}; }
static inline V vsel_lt(V a, V b, V x, V y) {
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ), y.v, x.v)};
}
static inline V vsel_gt0in1(V y, V x) {
  __mmask16 m = _mm512_cmp_ps_mask(y.v, _mm512_setzero_ps(), _CMP_GT_OQ) &
                _mm512_cmp_ps_mask(y.v, _mm512_set1_ps(1.0f), _CMP_LT_OQ);
  return {_mm512_maskz_mov_ps(m, x.v)};
}
static inline V vsel_gt0(V y, V x) {
  return {_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y.v, _mm512_setzero_ps(), _CMP_GT_OQ), x.v)};
}
static inline V vcopysign(V mag, V sgn) {
  __m512 s = _mm512_set1_ps(-0.0f);
  return {_mm512_or_ps(_mm512_andnot_ps(s, mag.v), _mm512_and_ps(s, sgn.v))};
}

// Masked loads/stores never touch masked-out memory, so tails need no copy.
static inline V vload_n(const float* p, long n) { return {_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p)}; }
static inline void vstore_n(float* p, V v, long n) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v.v); }
// Lanes [lo, lo+n) from/to p[0..n): the address p - lo is never dereferenced outside the mask.
static inline V vload_lanes(V z, const float* p, long lo, long n) {
  return {_mm512_mask_loadu_ps(z.v, (__mmask16)(((1u << n) - 1) << lo), p - lo)};
}
static inline void vstore_lanes(float* p, V v, long lo, long n) {
  _mm512_mask_storeu_ps(p - lo, (__mmask16)(((1u << n) - 1) << lo), v.v);
}

#include "simd/microkernels.inl"

}  // namespace avx512

extern const KernelTable kTableAvx512 =
    LSTMCORE_TABLE(avx512, "avx512",
                   CPU_AVX512F | CPU_AVX512DQ | CPU_AVX512BW | CPU_AVX512VL | CPU_AVX2 | CPU_FMA);

}  // namespace lstmcore
