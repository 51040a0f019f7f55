// optimizers.cpp — in-place updates on float32 buffers, numerically as Keras 3 defines them.
//   SGD:     v = momentum*v - lr*g; w += v  (nesterov: w += momentum*v - lr*g); plain w -= lr*g
//   Adam:    m += (g-m)(1-b1); v += (g^2-v)(1-b2); lr_t = lr sqrt(1-b2^t)/(1-b1^t);
//            w -= lr_t m / (sqrt(v) + eps)
//   RMSprop: v = rho v + (1-rho) g^2; w -= lr g / sqrt(v + eps)
// Learning-rate decay (Keras 2 `decay`) is applied by the caller, which owns the step count.
#include <cmath>

#include "kernels/kernels.h"

namespace lstmcore {

void sgd_update(float* w, const float* g, float* vel, long n, double lr_, double momentum_,
                bool nesterov) {
  const float lr = (float)lr_, momentum = (float)momentum_;
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

void adam_update(float* w, const float* g, float* m, float* v, long n, double lr, double b1,
                 double b2, double eps, long step) {
  const double t = (double)step;
  const float lr_t = (float)(lr * std::sqrt(1.0 - std::pow(b2, t)) / (1.0 - std::pow(b1, t)));
  // 1 - beta in double, then rounded (Keras subtracts Python floats): 1 - 0.999f in float
  // would be 9.99987e-4, not 0.001, and drift v by ~100 ulp over a few steps.
  const float one_m_b1 = (float)(1.0 - b1), one_m_b2 = (float)(1.0 - b2);
  const float epsf = (float)eps;
  kt().adam_step(w, g, m, v, n, lr_t, one_m_b1, one_m_b2, epsf);
}

void rmsprop_update(float* w, const float* g, float* v, long n, double lr, double rho,
                    double eps) {
  const float rhof = (float)rho, one_m_rho = (float)(1.0 - rho), lrf = (float)lr,
              epsf = (float)eps;
  for (long i = 0; i < n; ++i) {
    const float gi = g[i];
    const float vi = rhof * v[i] + one_m_rho * gi * gi;
    v[i] = vi;
    w[i] -= lrf * gi / std::sqrt(vi + epsf);
  }
}

}  // namespace lstmcore
