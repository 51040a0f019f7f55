// isa_avx2.cpp — AVX2 + FMA level (8 floats per vector). Compiled with -mavx2 -mfma only;
// nothing here may be called unless dispatch found both on this CPU.
#include <immintrin.h>

#include "simd/dispatch.h"

namespace lstmcore {
namespace avx2 {

constexpr int W = 8;
constexpr int MR = 6;       // GEMM micro-tile 6 x 16: 12 accumulators + 2 B + 1 A register
constexpr int NV_GEMM = 2;
constexpr int ROW_NV = 8;   // gemm_row: one row, 8 independent accumulators
struct V { __m256 v; };

static inline V vload(const float* p) { return {_mm256_loadu_ps(p)}; }
static inline void vstore(float* p, V a) { _mm256_storeu_ps(p, a.v); }
static inline V vset1(float x) { return {_mm256_set1_ps(x)}; }
static inline V vzero() { return {_mm256_setzero_ps()}; }
static inline V vadd(V a, V b) { return {_mm256_add_ps(a.v, b.v)}; }
static inline V vsub(V a, V b) { return {_mm256_sub_ps(a.v, b.v)}; }
static inline V vmul(V a, V b) { return {_mm256_mul_ps(a.v, b.v)}; }
static inline V vdiv(V a, V b) { return {_mm256_div_ps(a.v, b.v)}; }
static inline V vfma(V a, V b, V c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
static inline V vsqrt(V a) { return {_mm256_sqrt_ps(a.v)}; }
static inline V vabs(V a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
#define LSTMCORE_HAVE_VNEGABS 1
static inline V vnegabs(V x) { return {_mm256_or_ps(x.v, _mm256_set1_ps(-0.0f))}; }
// MAXPS/MINPS return the second operand when either is NaN: x second keeps NaN.
static inline V vmax_keep(V lo, V x) { return {_mm256_max_ps(lo.v, x.v)}; }
static inline V vmin_keep(V hi, V x) { return {_mm256_min_ps(hi.v, x.v)}; }
static inline V vround(V a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
static inline V vpow2i(V n) {
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127)), 23);
  return {_mm256_castsi256_ps(e)};
}
static inline V vsel_lt(V a, V b, V x, V y) {
  return {_mm256_blendv_ps(y.v, x.v, _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ))};
}
static inline V vsel_gt0in1(V y, V x) {
  __m256 m = _mm256_and_ps(_mm256_cmp_ps(y.v, _mm256_setzero_ps(), _CMP_GT_OQ),
                           _mm256_cmp_ps(y.v, _mm256_set1_ps(1.0f), _CMP_LT_OQ));
  return {_mm256_and_ps(m, x.v)};
}
static inline V vsel_gt0(V y, V x) {
  return {_mm256_and_ps(_mm256_cmp_ps(y.v, _mm256_setzero_ps(), _CMP_GT_OQ), x.v)};
}
static inline V vcopysign(V mag, V sgn) {
  __m256 s = _mm256_set1_ps(-0.0f);
  return {_mm256_or_ps(_mm256_andnot_ps(s, mag.v), _mm256_and_ps(s, sgn.v))};
}

static inline __m256i tail_mask(long n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// VMASKMOVPS never touches masked-out memory, so tails need no copy.
static inline V vload_n(const float* p, long n) { return {_mm256_maskload_ps(p, tail_mask(n))}; }
static inline void vstore_n(float* p, V v, long n) { _mm256_maskstore_ps(p, tail_mask(n), v.v); }
// Lanes [lo, lo+n) from/to p[0..n): the address p - lo is never dereferenced outside the mask.
static inline __m256i lane_mask(long lo, long n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)lo), idx),
                             _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(lo + n)), idx));
}
static inline V vload_lanes(V z, const float* p, long lo, long n) {
  const __m256i m = lane_mask(lo, n);
  return {_mm256_blendv_ps(z.v, _mm256_maskload_ps(p - lo, m), _mm256_castsi256_ps(m))};
}
static inline void vstore_lanes(float* p, V v, long lo, long n) {
  _mm256_maskstore_ps(p - lo, lane_mask(lo, n), v.v);
}

#include "simd/microkernels.inl"

}  // namespace avx2

extern const KernelTable kTableAvx2 = LSTMCORE_TABLE(avx2, "avx2", CPU_AVX2 | CPU_FMA);

}  // namespace lstmcore
