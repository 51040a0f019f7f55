// activations.cpp — names, and row-wise drivers over the SIMD level's activation kernels.
//
// Derivatives are taken from the saved OUTPUT (s(1-s), 1-t^2, ...); softmax's backward is
// y * (dy - sum(dy * y)) per row.
#include <stdexcept>

#include "kernels/kernels.h"

namespace lstmcore {

static const char* kActNames[] = {"linear", "sigmoid", "hard_sigmoid", "hard_sigmoid_keras2",
                                  "tanh", "relu", "softmax"};

int act_from_name(const std::string& name) {
  for (int i = 0; i < 7; ++i)
    if (name == kActNames[i]) return i;
  if (name == "None" || name.empty()) return ACT_LINEAR;
  std::string all;
  for (const char* n : kActNames) all += std::string(all.empty() ? "'" : ", '") + n + "'";
  throw std::invalid_argument("unknown activation `" + name + "`; expected one of " + all);
}


void activation_forward(int act, float* y, const float* x, long rows, long n) {
  const KernelTable& t = kt();
  if (act == ACT_SOFTMAX) {
    t.softmax_rows(y, x, rows, n);
    return;
  }
  t.act_forward(act, y, x, rows * n);
}

void activation_backward(int act, float* dx, const float* y, const float* dy, long rows, long n) {
  if (act == ACT_SOFTMAX) {
    for (long r = 0; r < rows; ++r) {
      const float* yr = y + r * n;
      const float* dyr = dy + r * n;
      float* dxr = dx + r * n;
      double dot = 0.0;
      for (long j = 0; j < n; ++j) dot += (double)dyr[j] * yr[j];
      float fd = (float)dot;
      for (long j = 0; j < n; ++j) dxr[j] = yr[j] * (dyr[j] - fd);
    }
    return;
  }
  if (act == ACT_LINEAR) {
    if (dx != dy)
      for (long i = 0; i < rows * n; ++i) dx[i] = dy[i];
    return;
  }
  kt().act_backward(act, dx, y, dy, rows * n);
}

}  // namespace lstmcore
