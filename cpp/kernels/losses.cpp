// losses.cpp — Keras 3 losses with their gradients, and batch metrics.
//
// Reductions follow Keras: mse/mae/bce average the last axis, then the mean over the
// remaining elements (the "sum_over_batch_size" reduction); the cross-entropies sum over
// classes and average over the rest. Probabilities are clipped to [eps, 1-eps], eps = 1e-7,
// with zero gradient where the clip is active. Categorical cross-entropy first renormalises
// y_pred by its row sum (as Keras 3 does), and its gradient includes that step.
// Accumulation is in double, in row order: deterministic and accurate.
#include <cmath>
#include <stdexcept>

#include "kernels/kernels.h"

namespace lstmcore {

static constexpr double kEps = 1e-7;

int loss_from_name(const std::string& name) {
  if (name == "mse" || name == "mean_squared_error") return LOSS_MSE;
  if (name == "mae" || name == "mean_absolute_error") return LOSS_MAE;
  if (name == "binary_crossentropy") return LOSS_BCE;
  if (name == "categorical_crossentropy") return LOSS_CCE;
  if (name == "sparse_categorical_crossentropy") return LOSS_SCCE;
  throw std::invalid_argument(
      "unknown loss `" + name +
      "`; expected one of 'mean_squared_error' ('mse'), 'mean_absolute_error' ('mae'), "
      "'binary_crossentropy', 'categorical_crossentropy', 'sparse_categorical_crossentropy'");
}

static inline float clipf(float p, float lo, float hi) { return p < lo ? lo : (p > hi ? hi : p); }

double loss_forward_backward(int loss, const float* yt, const float* yp, float* grad, long rows,
                             long n) {
  const double N = (double)rows * n;
  const float lo = (float)kEps, hi = (float)(1.0 - kEps);
  double total = 0.0;
  switch (loss) {
    case LOSS_MSE:
      for (long i = 0; i < rows * n; ++i) {
        double d = (double)yp[i] - yt[i];
        total += d * d;
        if (grad) grad[i] = (float)(2.0 * d / N);
      }
      return total / N;
    case LOSS_MAE:
      for (long i = 0; i < rows * n; ++i) {
        double d = (double)yp[i] - yt[i];
        total += std::fabs(d);
        if (grad) grad[i] = (float)((d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0)) / N);
      }
      return total / N;
    case LOSS_BCE:
      for (long i = 0; i < rows * n; ++i) {
        const float p = clipf(yp[i], lo, hi);
        const double y = yt[i];
        total -= y * std::log((double)p) + (1.0 - y) * std::log(1.0 - (double)p);
        if (grad) {
          const bool inside = yp[i] >= lo && yp[i] <= hi;
          grad[i] = inside ? (float)((-y / p + (1.0 - y) / (1.0 - p)) / N) : 0.0f;
        }
      }
      return total / N;
    case LOSS_CCE:
    case LOSS_SCCE: {
      for (long r = 0; r < rows; ++r) {
        const float* pr = yp + r * n;
        double s = 0.0;
        for (long j = 0; j < n; ++j) s += pr[j];
        // q = p / s; L = -sum y log clip(q); dL/dq_j = -y_j / q_j inside the clip.
        // dL/dp_j = (dL/dq_j - sum_k dL/dq_k q_k) / s.
        double dot = 0.0;
        const long label = loss == LOSS_SCCE ? (long)yt[r] : -1;
        for (long j = 0; j < n; ++j) {
          const double y = loss == LOSS_SCCE ? (j == label ? 1.0 : 0.0) : (double)yt[r * n + j];
          if (y == 0.0) continue;
          const float q = (float)(pr[j] / s);
          const float qc = clipf(q, lo, hi);
          total -= y * std::log((double)qc);
          if (q >= lo && q <= hi) dot += -y;  // (-y/q) * q
        }
        if (grad) {
          float* gr = grad + r * n;
          for (long j = 0; j < n; ++j) {
            const double y = loss == LOSS_SCCE ? (j == label ? 1.0 : 0.0) : (double)yt[r * n + j];
            const float q = (float)(pr[j] / s);
            const double dq = (y != 0.0 && q >= lo && q <= hi) ? -y / q : 0.0;
            gr[j] = (float)((dq - dot) / s / rows);
          }
        }
      }
      return total / rows;
    }
    default:
      throw std::invalid_argument("internal error in loss_forward_backward: bad loss code");
  }
}

// The per-row losses of the unweighted function (a row alone: its loss is that row's mean,
// or its sum over classes for the cross-entropies), weighted and renormalised.
double loss_forward_backward_weighted(int loss, const float* yt, const float* yp, float* grad,
                                      long rows, long n, const float* w, double wsum) {
  const long yl = loss == LOSS_SCCE ? 1 : n;  // target values per row
  double total = 0.0;
  for (long r = 0; r < rows; ++r) {
    float* g = grad ? grad + r * n : nullptr;
    if (w[r] == 0.0f || wsum == 0.0) {
      if (g) for (long j = 0; j < n; ++j) g[j] = 0.0f;
      continue;
    }
    total += w[r] * loss_forward_backward(loss, yt + r * yl, yp + r * n, g, 1, n);
    if (g) {
      const float scale = (float)(w[r] / wsum);
      for (long j = 0; j < n; ++j) g[j] *= scale;
    }
  }
  return wsum == 0.0 ? 0.0 : total / wsum;
}

double metric_sum_weighted(int metric, const float* yt, const float* yp, long rows, long n,
                           const float* w) {
  const long yl = metric == MET_SPARSE_ACC ? 1 : n;
  double total = 0.0;
  for (long r = 0; r < rows; ++r)
    if (w[r] != 0.0f) total += w[r] * metric_sum(metric, yt + r * yl, yp + r * n, 1, n);
  return total;
}

const char* const kMetricNames[MET_COUNT] = {"binary_accuracy", "categorical_accuracy",
                                             "sparse_categorical_accuracy", "mse", "mae"};

int metric_from_name(const std::string& name) {
  for (int i = 0; i < MET_COUNT; ++i)
    if (name == kMetricNames[i]) return i;
  throw std::invalid_argument("unknown metric `" + name.substr(0, 100) + "`");
}

double metric_sum(int metric, const float* yt, const float* yp, long rows, long n) {
  double total = 0.0;
  switch (metric) {
    case MET_BINARY_ACC:
      for (long r = 0; r < rows; ++r) {
        long hits = 0;
        for (long j = 0; j < n; ++j) hits += ((yp[r * n + j] > 0.5f ? 1.0f : 0.0f) == yt[r * n + j]);
        total += (double)hits / n;
      }
      return total;
    case MET_CAT_ACC:
    case MET_SPARSE_ACC:
      for (long r = 0; r < rows; ++r) {
        const float* pr = yp + r * n;
        long am = 0;
        for (long j = 1; j < n; ++j) if (pr[j] > pr[am]) am = j;
        long truth;
        if (metric == MET_SPARSE_ACC) {
          truth = (long)yt[r];
        } else {
          const float* tr = yt + r * n;
          truth = 0;
          for (long j = 1; j < n; ++j) if (tr[j] > tr[truth]) truth = j;
        }
        total += am == truth ? 1.0 : 0.0;
      }
      return total;
    case MET_MSE:
    case MET_MAE:
      for (long r = 0; r < rows; ++r) {
        double s = 0.0;
        for (long j = 0; j < n; ++j) {
          double d = (double)yp[r * n + j] - yt[r * n + j];
          s += metric == MET_MSE ? d * d : std::fabs(d);
        }
        total += s / n;
      }
      return total;
    default:
      throw std::invalid_argument("internal error in metric_sum: bad metric code");
  }
}

}  // namespace lstmcore
