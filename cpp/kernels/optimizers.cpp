// optimizers.cpp — in-place updates on float32 buffers, numerically as Keras 3 defines them.
//   SGD:     v = momentum*v - lr*g; w += v  (nesterov: w += momentum*v - lr*g); plain w -= lr*g
//   Adam:    m += (g-m)(1-b1); v += (g^2-v)(1-b2); lr_t = lr sqrt(1-b2^t)/(1-b1^t);
//            w -= lr_t m / (sqrt(v) + eps)
//   RMSprop: v = rho v + (1-rho) g^2; w -= lr g / sqrt(v + eps)
// Learning-rate decay (Keras 2 `decay`) is applied by the caller, which owns the step count.
#include <cmath>

#include "kernels/kernels.h"

namespace lstmcore {

void sgd_update(float* w, const float* g, float* vel, long n, float lr, float momentum,
                bool nesterov) {
  if (momentum == 0.0f) {
    for (long i = 0; i < n; ++i) w[i] -= lr * g[i];
    return;
  }
  for (long i = 0; i < n; ++i) {
    float v = momentum * vel[i] - lr * g[i];
    vel[i] = v;
    w[i] += nesterov ? momentum * v - lr * g[i] : v;
  }
}

void adam_update(float* w, const float* g, float* m, float* v, long n, float lr, float b1,
                 float b2, float eps, long step) {
  const double t = (double)step;
  const float lr_t = (float)(lr * std::sqrt(1.0 - std::pow((double)b2, t)) /
                             (1.0 - std::pow((double)b1, t)));
  const float one_m_b1 = 1.0f - b1, one_m_b2 = 1.0f - b2;
  for (long i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = m[i] + (gi - m[i]) * one_m_b1;
    const float vi = v[i] + (gi * gi - v[i]) * one_m_b2;
    m[i] = mi;
    v[i] = vi;
    w[i] -= lr_t * mi / (std::sqrt(vi) + eps);
  }
}

void rmsprop_update(float* w, const float* g, float* v, long n, float lr, float rho, float eps) {
  const float one_m_rho = 1.0f - rho;
  for (long i = 0; i < n; ++i) {
    const float gi = g[i];
    const float vi = rho * v[i] + one_m_rho * gi * gi;
    v[i] = vi;
    w[i] -= lr * gi / std::sqrt(vi + eps);
  }
}

}  // namespace lstmcore
