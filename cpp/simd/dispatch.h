// dispatch.h — the per-ISA kernel tables and run-time selection.
//
// Each ISA translation unit (isa_generic.cpp, isa_avx2.cpp, isa_avx512.cpp, isa_neon.cpp)
// exports one KernelTable. Tables are listed best first; the first whose `needs` bits the
// CPU (and OS) provides wins, unless LSTMCORE_SIMD forces one. Kernels read the active table
// through kt(); they never detect features themselves.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lstmcore {

enum CpuBits : uint32_t {
  CPU_AVX2 = 1u << 0,
  CPU_FMA = 1u << 1,
  CPU_AVX512F = 1u << 2,
  CPU_AVX512DQ = 1u << 3,
  CPU_AVX512BW = 1u << 4,
  CPU_AVX512VL = 1u << 5,
  CPU_NEON = 1u << 6,
};

using gemm_micro_fn = void (*)(long kc, const float* ap, const float* bp, float* c, long ldc,
                               int m, int n, float alpha, float beta);
using gemm_direct_fn = void (*)(long kc, const float* a, long lda, const float* bp, long ldb,
                                float* c, long ldc, int m, int n, float alpha, float beta);
using act_fn = void (*)(int act, float* y, const float* x, long n);
using dact_fn = void (*)(int act, float* dx, const float* y, const float* dy, long n);
using softmax_fn = void (*)(float* y, const float* x, long rows, long n);
using gates_fwd_fn = void (*)(float* g, const float* bias, const float* c_prev, float* c,
                              float* tc, float* h, long H, long j0, long j1, int act, int ract);
using gates_bwd_fn = void (*)(float* g, float* dc, const float* dh, const float* c_prev,
                              const float* tc, long H, long j0, long j1, int act, int ract);
using gates_fwd_rows_fn = void (*)(float* g, long ldg, const float* bias, const float* c_prev,
                                  long ld_cp, float* c, float* tc, float* h, long ld_o, long H,
                                  long rows, int act, int ract);
using gates_bwd_rows_fn = void (*)(float* g, long ldg, float* dc, const float* dh,
                                  const float* c_prev, long ld_cp, const float* tc, long ld_o,
                                  long H, long rows, int act, int ract);
using adam_fn = void (*)(float* w, const float* g, float* m, float* v, long n, float lr_t,
                         float omb1, float omb2, float eps);
using nonfinite_fn = long (*)(const float* p, long n);
using maxabs_fn = float (*)(const float* p, long n);
using gemm_abt_fn = void (*)(long m, long n, long k, const float* A, long lda, const float* B,
                             long ldb, float beta, float* C, long ldc);
using probe_fn = float (*)(long iters);

struct KernelTable {
  const char* name;
  uint32_t needs;
  int mr;  // GEMM micro-tile rows
  int nr;  // GEMM micro-tile columns
  int width;  // floats per vector
  gemm_micro_fn gemm_micro;
  gemm_direct_fn gemm_micro_direct;  // A read in place (row-major); B packed or in place
  act_fn act_forward;
  dact_fn act_backward;
  softmax_fn softmax_rows;
  gates_fwd_fn lstm_gates_fwd_row;
  gates_bwd_fn lstm_gates_bwd_row;
  gates_fwd_rows_fn lstm_gates_fwd_rows;  // several batch rows per vector (2H <= width)
  gates_bwd_rows_fn lstm_gates_bwd_rows;
  adam_fn adam_step;
  nonfinite_fn first_nonfinite;  // index of the first NaN/inf, or -1
  maxabs_fn max_abs;             // max |p[i]|, or +inf when any value is NaN or inf
  gemm_abt_fn gemm_abt;          // C = A B^T + beta C by dot products, nothing packed
  probe_fn fma_probe;            // iters rounds of 12 vector FMAs (24 * width flops each)
};

uint32_t cpu_features();                  // CPUID + XGETBV (x86) / baseline (aarch64)
std::vector<std::string> cpu_feature_names();
std::vector<const KernelTable*> compiled_tables();  // best first
std::vector<std::string> supported_levels();        // compiled in AND runnable here

// The active table. Chosen once (LSTMCORE_SIMD or best available) on first use.
const KernelTable& kt();
// Force a level by name; throws std::invalid_argument naming what the CPU has.
void set_simd_level(const std::string& name);

}  // namespace lstmcore
