// reference.cpp — naive kernels kept beside the fast ones (llm.c's *_naive), used by the
// native test driver. Plain loops, double accumulation, no blocking, no SIMD.
#include "kernels/kernels.h"

namespace lstmcore {

void sgemm_naive(bool ta, bool tb, long M, long N, long K, float alpha, const float* A,
                 long lda, const float* B, long ldb, float beta, float* C, long ldc) {
  for (long i = 0; i < M; ++i)
    for (long j = 0; j < N; ++j) {
      double acc = 0.0;
      for (long k = 0; k < K; ++k) {
        const float a = ta ? A[k * lda + i] : A[i * lda + k];
        const float b = tb ? B[j * ldb + k] : B[k * ldb + j];
        acc += (double)a * b;
      }
      float& c = C[i * ldc + j];
      c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * c));
    }
}

}  // namespace lstmcore
