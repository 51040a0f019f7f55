// kernel_list.h — the one list of the kernels in a KernelTable, in table order.
//
// LSTMCORE_KERNELS(X, ctx) expands X(ctx, member, type) once per kernel: `member` is both the
// KernelTable field and the function's name inside each ISA namespace (its body lives in
// kernels/*.inl), `type` its function-pointer type below. dispatch.h generates the struct's
// fields from this list and LSTMCORE_TABLE generates every isa_*.cpp's initializer from it,
// so fields and initializers cannot get out of step. `ctx` is passed through untouched (the
// ISA namespace for LSTMCORE_TABLE, empty for the struct). Included by dispatch.h only.
#pragma once
#include <cstdint>

namespace lstmcore {

using gemm_micro_fn = void (*)(long kc, const float* ap, const float* bp, float* c, long ldc,
                               int m, int n, float alpha, float beta);
using gemm_direct_fn = void (*)(long kc, const float* a, long lda, const float* bp, long ldb,
                                float* c, long ldc, int m, int n, float alpha, float beta);
// one row of C (n <= gemm_row_width columns) from a row of A and B row-major, both in place
using gemm_row_fn = void (*)(long kc, const float* a, const float* b, long ldb, float* c, int n,
                             float alpha, float beta);
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

}  // namespace lstmcore

// clang-format off
#define LSTMCORE_KERNELS(X, ctx)                                                            \
  X(ctx, gemm_micro,          gemm_micro_fn)                                                \
  /* A read in place (row-major); B packed or in place */                                   \
  X(ctx, gemm_micro_direct,   gemm_direct_fn)                                               \
  /* one row, B in place, ROW_NV vectors wide: the one-sample step's products */            \
  X(ctx, gemm_row,            gemm_row_fn)                                                  \
  X(ctx, act_forward,         act_fn)                                                       \
  X(ctx, act_backward,        dact_fn)                                                      \
  X(ctx, softmax_rows,        softmax_fn)                                                   \
  X(ctx, lstm_gates_fwd_row,  gates_fwd_fn)                                                 \
  X(ctx, lstm_gates_bwd_row,  gates_bwd_fn)                                                 \
  /* several batch rows per vector (2H <= width) */                                         \
  X(ctx, lstm_gates_fwd_rows, gates_fwd_rows_fn)                                            \
  X(ctx, lstm_gates_bwd_rows, gates_bwd_rows_fn)                                            \
  X(ctx, adam_step,           adam_fn)                                                      \
  /* index of the first NaN/inf, or -1 */                                                   \
  X(ctx, first_nonfinite,     nonfinite_fn)                                                 \
  /* max |p[i]|, or +inf when any value is NaN or inf */                                    \
  X(ctx, max_abs,             maxabs_fn)                                                    \
  /* C = A B^T + beta C by dot products, nothing packed */                                  \
  X(ctx, gemm_abt,            gemm_abt_fn)                                                  \
  /* iters rounds of 12 vector FMAs (24 * width flops each) */                              \
  X(ctx, fma_probe,           probe_fn)
// clang-format on
