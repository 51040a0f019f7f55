// conv.cpp — 1D convolution (im2col or direct) and pooling over the timestep axis.
//
// Layouts are channels last and batch-major: x (B, T, C), y (B, T_out, ·), W (k, C, F) as Keras
// 3 stores a Conv1D kernel, which read row-major is the (k*C, F) matrix of an im2col GEMM. The
// convolution layer (model/layers/conv1d.cpp) multiplies with the packed sgemm; the direct
// kernels here are the GEMM-free alternative (benchmarks/bench_conv.py compares the two).
// Every loop writes disjoint outputs per thread in a fixed order, so results are identical for
// any thread count. Dilated pooling is not a Keras layer and is left out (pooling has dil = 1).
#include "kernels/conv.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace lstmcore {

int padding_from_name(const std::string& name) {
  if (name == "valid") return PAD_VALID;
  if (name == "same") return PAD_SAME;
  if (name == "causal") return PAD_CAUSAL;
  throw std::invalid_argument("unknown padding `" + name.substr(0, 100) +
                              "`; expected 'valid', 'same' or 'causal'");
}

Conv1dGeom conv1d_geom(long B, long T, long C, long k, long stride, long dil, int padding) {
  if (B < 0 || T < 0 || C < 1 || k < 1 || stride < 1 || dil < 1)
    throw std::invalid_argument("internal error in conv1d_geom: sizes must be positive");
  Conv1dGeom g;
  g.B = B, g.T = T, g.C = C, g.k = k, g.stride = stride, g.dil = dil;
  const long span = checked_add(checked_mul(k - 1, dil, "a convolution's span"), 1, "a convolution's span");
  if (padding == PAD_VALID) {
    g.T_out = T >= span ? (T - span) / stride + 1 : 0;
  } else {
    g.T_out = T / stride + (T % stride != 0);  // ceil(T / stride) without overflow
    if (padding == PAD_CAUSAL) {
      g.pad_left = span - 1;
    } else {  // (T_out - 1) * stride <= T - 1, so the sum stays in range
      const long total = g.T_out > 0 ? checked_add((g.T_out - 1) * stride, span, "a padding") - T : 0;
      g.pad_left = std::max(total, 0L) / 2;
    }
  }
  checked_elems({B, g.T_out, k, C}, "a convolution's im2col rows");
  return g;
}

// The taps [j0, j1) of output step t that read inside the input, and the input step of tap j0.
static inline void tap_range(const Conv1dGeom& g, long t, long& j0, long& j1, long& s0) {
  const long lo = t * g.stride - g.pad_left;           // input step of tap 0
  j0 = lo >= 0 ? 0 : (-lo + g.dil - 1) / g.dil;        // first tap with step >= 0
  j1 = lo < g.T ? std::min(g.k, (g.T - 1 - lo) / g.dil + 1) : 0;  // past the last step < T
  if (j1 < j0) j1 = j0;
  s0 = lo + j0 * g.dil;
}

template <class Body>
static void over_samples(long B, double work, Body&& body) {
  const int nt = B > 1 ? threads_for(work) : 1;
  parallel_team(nt, [&](int, int) {
#ifdef LSTMCORE_HAVE_OPENMP
#pragma omp for schedule(static)
#endif
    for (long b = 0; b < B; ++b) body(b);
  });
}

// ---- im2col -----------------------------------------------------------------------------------
void conv1d_im2col(float* cols, const float* x, const Conv1dGeom& g) {
  const long C = g.C, kC = g.k * g.C;
  over_samples(g.B, (double)g.B * g.T_out * kC, [&](long b) {
    const float* xb = x + b * g.T * C;
    for (long t = 0; t < g.T_out; ++t) {
      float* row = cols + (b * g.T_out + t) * kC;
      long j0, j1, s0;
      tap_range(g, t, j0, j1, s0);
      std::memset(row, 0, sizeof(float) * j0 * C);
      if (j1 == j0) {  // every tap in the padding ('same' with a dilation wider than T)
      } else if (g.dil == 1) {  // the taps in range read consecutive input rows: one copy
        std::memcpy(row + j0 * C, xb + s0 * C, sizeof(float) * (j1 - j0) * C);
      } else {
        for (long j = j0; j < j1; ++j)
          std::memcpy(row + j * C, xb + (s0 + (j - j0) * g.dil) * C, sizeof(float) * C);
      }
      std::memset(row + j1 * C, 0, sizeof(float) * (g.k - j1) * C);
    }
  });
}

void conv1d_col2im(float* dx, const float* dcols, const Conv1dGeom& g) {
  const long C = g.C, kC = g.k * g.C;
  over_samples(g.B, (double)g.B * g.T_out * kC, [&](long b) {
    float* dxb = dx + b * g.T * C;
    std::memset(dxb, 0, sizeof(float) * g.T * C);
    for (long t = 0; t < g.T_out; ++t) {
      const float* row = dcols + (b * g.T_out + t) * kC;
      long j0, j1, s0;
      tap_range(g, t, j0, j1, s0);
      for (long j = j0; j < j1; ++j) {
        float* d = dxb + (s0 + (j - j0) * g.dil) * C;
        const float* r = row + j * C;
        for (long c = 0; c < C; ++c) d[c] += r[c];
      }
    }
  });
}

// ---- direct -----------------------------------------------------------------------------------
void conv1d_direct_forward(float* z, const float* x, const float* W, const float* b, long F,
                           const Conv1dGeom& g) {
  const long C = g.C;
  over_samples(g.B, 2.0 * g.B * g.T_out * g.k * C * F, [&](long bi) {
    const float* xb = x + bi * g.T * C;
    for (long t = 0; t < g.T_out; ++t) {
      float* zr = z + (bi * g.T_out + t) * F;
      if (b) std::memcpy(zr, b, sizeof(float) * F);
      else std::memset(zr, 0, sizeof(float) * F);
      long j0, j1, s0;
      tap_range(g, t, j0, j1, s0);
      for (long j = j0; j < j1; ++j) {
        const float* xr = xb + (s0 + (j - j0) * g.dil) * C;
        const float* Wj = W + j * C * F;
        for (long c = 0; c < C; ++c) {
          const float xv = xr[c];
          const float* w = Wj + c * F;
          for (long f = 0; f < F; ++f) zr[f] += xv * w[f];
        }
      }
    }
  });
}

void conv1d_direct_backward(float* dx, float* dW, const float* dz, const float* x,
                            const float* W, long F, const Conv1dGeom& g) {
  const long C = g.C;
  const double work = 2.0 * g.B * g.T_out * g.k * C * F;
  if (dx)
    over_samples(g.B, work, [&](long bi) {
      float* dxb = dx + bi * g.T * C;
      std::memset(dxb, 0, sizeof(float) * g.T * C);
      for (long t = 0; t < g.T_out; ++t) {
        const float* dzr = dz + (bi * g.T_out + t) * F;
        long j0, j1, s0;
        tap_range(g, t, j0, j1, s0);
        for (long j = j0; j < j1; ++j) {
          float* d = dxb + (s0 + (j - j0) * g.dil) * C;
          for (long c = 0; c < C; ++c) {
            const float* w = W + (j * C + c) * F;
            float acc = 0.0f;
            for (long f = 0; f < F; ++f) acc += dzr[f] * w[f];
            d[c] += acc;
          }
        }
      }
    });
  if (dW) {  // one writer per tap: dW[j] (C, F) += sum over (b, t) of x_row^T dz_row
    const long k = g.k;
    const int nt = k > 1 ? threads_for(work) : 1;
    parallel_team(nt, [&](int, int) {
#ifdef LSTMCORE_HAVE_OPENMP
#pragma omp for schedule(static)
#endif
      for (long j = 0; j < k; ++j) {
        float* dWj = dW + j * C * F;
        for (long bi = 0; bi < g.B; ++bi)
          for (long t = 0; t < g.T_out; ++t) {
            const long s = t * g.stride + j * g.dil - g.pad_left;
            if (s < 0 || s >= g.T) continue;
            const float* xr = x + (bi * g.T + s) * C;
            const float* dzr = dz + (bi * g.T_out + t) * F;
            for (long c = 0; c < C; ++c) {
              const float xv = xr[c];
              float* d = dWj + c * F;
              for (long f = 0; f < F; ++f) d[f] += xv * dzr[f];
            }
          }
      }
    });
  }
}

// ---- pooling ----------------------------------------------------------------------------------
void pool1d_forward(float* y, const float* x, bool max, const Conv1dGeom& g) {
  const long C = g.C;
  over_samples(g.B, (double)g.B * g.T_out * g.k * C, [&](long b) {
    const float* xb = x + b * g.T * C;
    for (long t = 0; t < g.T_out; ++t) {
      float* yr = y + (b * g.T_out + t) * C;
      long j0, j1, s0;
      tap_range(g, t, j0, j1, s0);
      const long s1 = s0 + (j1 - j0);  // pooling: dil = 1
      std::memcpy(yr, xb + s0 * C, sizeof(float) * C);  // every window holds an input step
      for (long s = s0 + 1; s < s1; ++s) {
        const float* xr = xb + s * C;
        if (max) {
          for (long c = 0; c < C; ++c) yr[c] = xr[c] > yr[c] ? xr[c] : yr[c];
        } else {
          for (long c = 0; c < C; ++c) yr[c] += xr[c];
        }
      }
      if (!max) {
        const float n = (float)(s1 - s0);
        for (long c = 0; c < C; ++c) yr[c] /= n;
      }
    }
  });
}

void pool1d_backward(float* dx, const float* dy, const float* x, bool max, const Conv1dGeom& g) {
  const long C = g.C;
  over_samples(g.B, (double)g.B * g.T_out * g.k * C, [&](long b) {
    const float* xb = x + b * g.T * C;
    float* dxb = dx + b * g.T * C;
    std::memset(dxb, 0, sizeof(float) * g.T * C);
    for (long t = 0; t < g.T_out; ++t) {
      const float* dyr = dy + (b * g.T_out + t) * C;
      long j0, j1, s0;
      tap_range(g, t, j0, j1, s0);
      const long s1 = s0 + (j1 - j0);
      if (max) {
        for (long c = 0; c < C; ++c) {
          long arg = s0;  // the first maximum, as forward chose it
          for (long s = s0 + 1; s < s1; ++s)
            if (xb[s * C + c] > xb[arg * C + c]) arg = s;
          dxb[arg * C + c] += dyr[c];
        }
      } else {
        const float n = (float)(s1 - s0);
        for (long s = s0; s < s1; ++s)
          for (long c = 0; c < C; ++c) dxb[s * C + c] += dyr[c] / n;
      }
    }
  });
}

}  // namespace lstmcore
