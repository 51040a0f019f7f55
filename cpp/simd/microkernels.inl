// microkernels.inl — the SIMD leaf kernels, written once and compiled once per ISA.
//
// Each isa_*.cpp defines, inside its own namespace (lstmcore::generic, lstmcore::avx2, ...),
// a vector type `V` of `W` floats and the handful of operations below, then includes this
// file. The linker can therefore never mix an AVX copy into the portable path (simdjson and
// Highway do the same). The kernels live in kernels/*.inl, one file per concern, included
// below in dependency order; none of them includes anything itself or uses the STL.
// A kernel that goes into the KernelTable also needs its line in kernel_list.h.
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

#include "simd/kernels/exp.inl"          // vexp and helpers; buffered tails (vload_n, ...)
#include "simd/kernels/activations.inl"  // ACT_* codes, vact/vdact, act_forward/backward, softmax
#include "simd/kernels/gemm.inl"         // gemm_micro, gemm_micro_direct, gemm_abt
#include "simd/kernels/lstm_gates.inl"   // lstm_gates_{fwd,bwd}_row, lstm_gates_{fwd,bwd}_rows
#include "simd/kernels/optimizers.inl"   // adam_step
#include "simd/kernels/scan.inl"         // first_nonfinite, max_abs
#include "simd/kernels/probe.inl"        // fma_probe
