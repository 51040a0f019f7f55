// dense.cpp — fully connected layer on the last axis: rows = N (2D input) or N*T (3D).
//   y = act(x W + b)       x (rows, D), W (D, U), b (U), y (rows, U)
// Backward keeps nothing beyond x and y: dz = act'(y) dy, dW += x^T dz, db += colsum(dz),
// dx = dz W^T.
#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"

namespace lstmcore {

void colsum_add(float* out, const float* a, long rows, long n, long lda) {
  // Parallel over columns only: each out[j] is summed by one thread in row order.
  const long chunk = 64;
  const long nchunks = (n + chunk - 1) / chunk;
  const int nt = nchunks > 1 ? threads_for(2.0 * rows * n) : 1;
  parallel_team(nt, [&](int, int) {
#ifdef LSTMCORE_HAVE_OPENMP
#pragma omp for schedule(static)
#endif
    for (long q = 0; q < nchunks; ++q) {
      const long j0 = q * chunk, j1 = std::min(n, j0 + chunk);
      float acc[64];
      for (long j = j0; j < j1; ++j) acc[j - j0] = 0.0f;
      for (long r = 0; r < rows; ++r) {
        const float* ar = a + r * lda;
        for (long j = j0; j < j1; ++j) acc[j - j0] += ar[j];
      }
      for (long j = j0; j < j1; ++j) out[j] += acc[j - j0];
    }
  });
}

void dense_forward(float* y, const float* x, const float* W, const float* b, long rows, long D,
                   long U, int act) {
  sgemm(false, false, rows, U, D, 1.0f, x, D, W, U, 0.0f, y, U);
  if (b)
    for (long r = 0; r < rows; ++r) {
      float* yr = y + r * U;
      for (long j = 0; j < U; ++j) yr[j] += b[j];
    }
  if (act != ACT_LINEAR) activation_forward(act, y, y, rows, U);
}

void dense_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* y,
                    const float* x, const float* W, long rows, long D, long U, int act) {
  activation_backward(act, dz, y, dy, rows, U);
  if (dW) sgemm(true, false, D, U, rows, 1.0f, x, D, dz, U, 1.0f, dW, U);
  if (db) colsum_add(db, dz, rows, U, U);
  if (dx) sgemm(false, true, rows, D, U, 1.0f, dz, U, W, U, 0.0f, dx, D);
}

}  // namespace lstmcore
