// isa_neon.cpp — AArch64 NEON level (4 floats per vector, fused multiply-add). NEON is part
// of the AArch64 baseline, so this file needs no extra flags.
#include <arm_neon.h>

#include "simd/dispatch.h"

namespace lstmcore {
namespace neon {

constexpr int W = 4;
constexpr int MR = 8;       // GEMM micro-tile 8 x 12: 24 accumulators of 32 registers
constexpr int NV_GEMM = 3;
constexpr int ROW_NV = 8;   // gemm_row: one row, 8 independent accumulators
struct V { float32x4_t v; };

static inline V vload(const float* p) { return {vld1q_f32(p)}; }
static inline void vstore(float* p, V a) { vst1q_f32(p, a.v); }
static inline V vset1(float x) { return {vdupq_n_f32(x)}; }
static inline V vzero() { return {vdupq_n_f32(0.0f)}; }
static inline V vadd(V a, V b) { return {vaddq_f32(a.v, b.v)}; }
static inline V vsub(V a, V b) { return {vsubq_f32(a.v, b.v)}; }
static inline V vmul(V a, V b) { return {vmulq_f32(a.v, b.v)}; }
static inline V vdiv(V a, V b) { return {vdivq_f32(a.v, b.v)}; }
static inline V vfma(V a, V b, V c) { return {vfmaq_f32(c.v, a.v, b.v)}; }
static inline V vsqrt(V a) { return {vsqrtq_f32(a.v)}; }
static inline V vabs(V a) { return {vabsq_f32(a.v)}; }
// x < lo ? lo : x, NaN x stays NaN (the comparison is false for NaN).
static inline V vmax_keep(V lo, V x) { return {vbslq_f32(vcltq_f32(x.v, lo.v), lo.v, x.v)}; }
static inline V vmin_keep(V hi, V x) { return {vbslq_f32(vcgtq_f32(x.v, hi.v), hi.v, x.v)}; }
static inline V vround(V a) { return {vrndnq_f32(a.v)}; }
static inline V vpow2i(V n) {
  int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(n.v), vdupq_n_s32(127)), 23);
  return {vreinterpretq_f32_s32(e)};
}
static inline V vsel_lt(V a, V b, V x, V y) { return {vbslq_f32(vcltq_f32(a.v, b.v), x.v, y.v)}; }
static inline V vsel_gt0in1(V y, V x) {
  uint32x4_t m = vandq_u32(vcgtq_f32(y.v, vdupq_n_f32(0.0f)), vcltq_f32(y.v, vdupq_n_f32(1.0f)));
  return {vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(x.v)))};
}
static inline V vsel_gt0(V y, V x) {
  uint32x4_t m = vcgtq_f32(y.v, vdupq_n_f32(0.0f));
  return {vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(x.v)))};
}
static inline V vcopysign(V mag, V sgn) {
  uint32x4_t s = vdupq_n_u32(0x80000000u);
  return {vbslq_f32(s, sgn.v, vabsq_f32(mag.v))};
}

#define LSTMCORE_TAIL_BUFFER 1  // no masked loads at this level

#include "simd/microkernels.inl"

}  // namespace neon

extern const KernelTable kTableNeon = LSTMCORE_TABLE(neon, "neon", CPU_NEON);

}  // namespace lstmcore
