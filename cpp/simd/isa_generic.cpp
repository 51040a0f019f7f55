// isa_generic.cpp — the portable level: a 4-wide "vector" of plain floats that the compiler
// maps onto whatever the baseline ISA has (SSE2 on x86-64). Runs on any CPU.
#include <cstdint>
#include <cmath>
#include <cstring>

#include "simd/dispatch.h"

namespace lstmcore {
namespace generic {

constexpr int W = 4;
constexpr int MR = 4;       // GEMM micro-tile: 4 x 8
constexpr int NV_GEMM = 2;
constexpr int ROW_NV = 8;   // gemm_row: one row, 8 independent accumulators
struct V { float v[W]; };

#define LANES for (int l = 0; l < W; ++l)
static inline V vload(const float* p) { V r; LANES r.v[l] = p[l]; return r; }
static inline void vstore(float* p, V a) { LANES p[l] = a.v[l]; }
static inline V vset1(float x) { V r; LANES r.v[l] = x; return r; }
static inline V vzero() { return vset1(0.0f); }
static inline V vadd(V a, V b) { V r; LANES r.v[l] = a.v[l] + b.v[l]; return r; }
static inline V vsub(V a, V b) { V r; LANES r.v[l] = a.v[l] - b.v[l]; return r; }
static inline V vmul(V a, V b) { V r; LANES r.v[l] = a.v[l] * b.v[l]; return r; }
static inline V vdiv(V a, V b) { V r; LANES r.v[l] = a.v[l] / b.v[l]; return r; }
// No FMA instruction at this level: multiply then add (two roundings).
static inline V vfma(V a, V b, V c) { V r; LANES r.v[l] = a.v[l] * b.v[l] + c.v[l]; return r; }
static inline V vsqrt(V a) { V r; LANES r.v[l] = std::sqrt(a.v[l]); return r; }
static inline V vabs(V a) {
  V r;
  LANES {
    uint32_t m;
    std::memcpy(&m, &a.v[l], 4);
    m &= 0x7fffffffu;
    std::memcpy(&r.v[l], &m, 4);
  }
  return r;
}
static inline V vmax_keep(V lo, V x) { V r; LANES r.v[l] = x.v[l] < lo.v[l] ? lo.v[l] : x.v[l]; return r; }
static inline V vmin_keep(V hi, V x) { V r; LANES r.v[l] = x.v[l] > hi.v[l] ? hi.v[l] : x.v[l]; return r; }
static inline V vround(V a) {
  // round half to even like the SIMD levels (cvtps/roundps with the default mode); inputs
  // are bounded by the exp clamp so the 1.5*2^23 trick is exact.
  V r;
  LANES {
    float t = a.v[l] + 12582912.0f;
    r.v[l] = t - 12582912.0f;
  }
  return r;
}
static inline V vpow2i(V n) {
  V r;
  LANES {
    // n is integral in [-126, 127] except for NaN input (then the caller's polynomial is NaN
    // anyway): converting NaN to int is undefined behaviour, so map it to 0 first.
    const float f = n.v[l];
    const int32_t k = f == f ? static_cast<int32_t>(f) : 0;
    const uint32_t e = static_cast<uint32_t>(k + 127) << 23;
    std::memcpy(&r.v[l], &e, sizeof(float));
  }
  return r;
}
static inline V vsel_lt(V a, V b, V x, V y) { V r; LANES r.v[l] = a.v[l] < b.v[l] ? x.v[l] : y.v[l]; return r; }
static inline V vsel_gt0in1(V y, V x) { V r; LANES r.v[l] = (y.v[l] > 0.0f && y.v[l] < 1.0f) ? x.v[l] : 0.0f; return r; }
static inline V vsel_gt0(V y, V x) { V r; LANES r.v[l] = y.v[l] > 0.0f ? x.v[l] : 0.0f; return r; }
static inline V vcopysign(V mag, V sgn) {
  V r;
  LANES {
    uint32_t m, s;
    std::memcpy(&m, &mag.v[l], 4);
    std::memcpy(&s, &sgn.v[l], 4);
    m = (m & 0x7fffffffu) | (s & 0x80000000u);
    std::memcpy(&r.v[l], &m, 4);
  }
  return r;
}
#undef LANES

#define LSTMCORE_TAIL_BUFFER 1  // no masked loads at this level

#include "simd/microkernels.inl"

}  // namespace generic

extern const KernelTable kTableGeneric = LSTMCORE_TABLE(generic, "generic", 0);

}  // namespace lstmcore
