// merge.cpp — the merge layers of functional models (Keras Concatenate, Add, Multiply,
// Average): n tensors of the same shape in, one out. Concatenate joins them along the
// features (the last axis) or, for sequences, along time (axis=1).
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/layer.h"

namespace lstmcore {
namespace {

class MergeLayer : public Layer {
 public:
  MergeLayer(int mode, int n, bool time_axis) : mode_(mode), n_(n), time_(time_axis) {
    in_.resize(n);
    x_.resize(n);
    masks_.resize(n);
    dx_.resize(n);
  }
  Dims out_dims(const Dims&) const override {
    throw std::invalid_argument("a merge layer takes several inputs");
  }
  const float* forward(const float*, const Dims&, bool, uint64_t) override { return nullptr; }
  const float* backward(const float*, bool) override { return nullptr; }
  int num_inputs() const override { return n_; }

  void out_dims_n(const Dims* in, Dims* out) const override {
    Dims o = in[0];
    for (int k = 1; k < n_; ++k) {
      const Dims& d = in[k];
      bool ok = d.seq == o.seq && d.B == o.B;
      if (mode_ == MERGE_CONCAT) {
        if (time_) ok = ok && d.seq && d.F == in[0].F;
        else ok = ok && (!d.seq || d.T == in[0].T);
        if (ok && time_) o.T = checked_add(o.T, d.T, "a concatenation");
        if (ok && !time_) o.F = checked_add(o.F, d.F, "a concatenation");
      } else {
        ok = ok && d.F == in[0].F && (!d.seq || d.T == in[0].T);
      }
      if (!ok)
        throw std::invalid_argument(std::string("`") + kMergeNames[mode_] + "` cannot merge inputs " +
                                    dims_str(in[0]) + " and " + dims_str(d));
    }
    if (time_ && !o.seq) throw std::invalid_argument("concatenation along time needs sequences");
    out[0] = o;
  }
  // Keras 3: Add/Multiply/Average give a mask only when every input has one; Concatenate
  // when any input has one (an input without one counts as all ones).
  void set_input_masks(const float* const* masks) override {
    bool any = false, all = true;
    for (int k = 0; k < n_; ++k) {
      masks_[k] = masks[k];
      any = any || masks[k];
      all = all && masks[k];
    }
    any_mask_ = mode_ == MERGE_CONCAT ? any : all;
  }
  const float* output_mask_n(int k) const override { return k == 0 && any_mask_ ? mask_.data : nullptr; }

  void forward_n(const float* const* x, const Dims* in, bool, uint64_t, const float** out) override {
    Dims o;
    out_dims_n(in, &o);
    out_d_ = o;
    for (int k = 0; k < n_; ++k) {
      in_[k] = in[k];
      x_[k] = x[k];
    }
    const long rows = o.rows();
    float* y = y_.resize(o.size());
    if (mode_ == MERGE_CONCAT && !time_) {
      long off = 0;
      for (int k = 0; k < n_; ++k) {
        const long F = in[k].F;
        for (long r = 0; r < rows; ++r) std::memcpy(y + r * o.F + off, x[k] + r * F, sizeof(float) * F);
        off += F;
      }
    } else if (mode_ == MERGE_CONCAT) {  // along time: each sample's steps one input after another
      long off = 0;
      for (int k = 0; k < n_; ++k) {
        const long len = in[k].T * o.F;
        for (long b = 0; b < o.B; ++b)
          std::memcpy(y + b * o.T * o.F + off, x[k] + b * len, sizeof(float) * len);
        off += len;
      }
    } else {
      const long n = o.size();
      std::memcpy(y, x[0], sizeof(float) * n);
      for (int k = 1; k < n_; ++k) {
        const float* xk = x[k];
        if (mode_ == MERGE_MUL) for (long i = 0; i < n; ++i) y[i] *= xk[i];
        else for (long i = 0; i < n; ++i) y[i] += xk[i];
      }
      if (mode_ == MERGE_AVE) {
        const float s = 1.0f / (float)n_;
        for (long i = 0; i < n; ++i) y[i] *= s;
      }
    }
    if (any_mask_ && o.seq) merge_masks(o);
    out[0] = y;
  }

  void backward_n(const float* const* dyp, const float** dx, bool need_dx) override {
    for (int k = 0; k < n_; ++k) dx[k] = nullptr;
    if (!need_dx) return;
    const float* dy = dyp[0];
    const Dims& o = out_d_;
    const long rows = o.rows();
    if (mode_ == MERGE_CONCAT && !time_) {
      long off = 0;
      for (int k = 0; k < n_; ++k) {
        const long F = in_[k].F;
        float* d = dx_[k].resize(in_[k].size());
        for (long r = 0; r < rows; ++r) std::memcpy(d + r * F, dy + r * o.F + off, sizeof(float) * F);
        off += F;
        dx[k] = d;
      }
    } else if (mode_ == MERGE_CONCAT) {
      long off = 0;
      for (int k = 0; k < n_; ++k) {
        const long len = in_[k].T * o.F;
        float* d = dx_[k].resize(in_[k].size());
        for (long b = 0; b < o.B; ++b) std::memcpy(d + b * len, dy + b * o.T * o.F + off, sizeof(float) * len);
        off += len;
        dx[k] = d;
      }
    } else if (mode_ == MERGE_SUM) {
      for (int k = 0; k < n_; ++k) dx[k] = dy;  // read only: the network copies before adding
    } else if (mode_ == MERGE_AVE) {
      const long n = o.size();
      float* d = dx_[0].resize(n);
      const float s = 1.0f / (float)n_;
      for (long i = 0; i < n; ++i) d[i] = dy[i] * s;
      for (int k = 0; k < n_; ++k) dx[k] = d;
    } else {  // MUL: d/dx_k = dy * prod_{j != k} x_j
      const long n = o.size();
      for (int k = 0; k < n_; ++k) {
        float* d = dx_[k].resize(n);
        std::memcpy(d, dy, sizeof(float) * n);
        for (int j = 0; j < n_; ++j) {
          if (j == k) continue;
          const float* xj = x_[j];
          for (long i = 0; i < n; ++i) d[i] *= xj[i];
        }
        dx[k] = d;
      }
    }
  }

 private:
  // Keras 3: along time the masks are joined (a missing one is all ones); otherwise a step
  // is used when any input uses it (a missing mask is all ones: every step used).
  void merge_masks(const Dims& o) {
    float* m = mask_.resize(checked_elems({o.B, o.T}, "a merged mask"));
    if (mode_ == MERGE_CONCAT && time_) {
      long off = 0;
      for (int k = 0; k < n_; ++k) {
        const long T = in_[k].T;
        for (long b = 0; b < o.B; ++b)
          for (long t = 0; t < T; ++t) m[b * o.T + off + t] = masks_[k] ? masks_[k][b * T + t] : 1.0f;
        off += T;
      }
      return;
    }
    for (int k = 0; k < n_; ++k)
      if (!masks_[k]) {
        std::fill(m, m + o.B * o.T, 1.0f);
        return;
      }
    std::fill(m, m + o.B * o.T, 0.0f);
    for (int k = 0; k < n_; ++k)
      for (long i = 0; i < o.B * o.T; ++i) m[i] = (m[i] != 0.0f || masks_[k][i] != 0.0f) ? 1.0f : 0.0f;
  }

  int mode_, n_;
  bool time_;
  bool any_mask_ = false;
  std::vector<Dims> in_;
  std::vector<const float*> x_, masks_;
  std::vector<Buffer> dx_;
  Buffer y_, mask_;
  Dims out_d_;
};

// config: mode (one of kMergeNames: concat, sum, mul, ave), n (inputs, >= 2), time_axis
// (concat only: join sequences along time instead of features). No params.
std::unique_ptr<Layer> make_merge_layer(const LayerConfig& c, LayerParams&) {
  const std::string& name = c.get_str("mode");
  int mode = -1;
  for (int k = 0; k < MERGE_COUNT; ++k)
    if (name == kMergeNames[k]) mode = k;
  if (mode < 0) throw std::invalid_argument("unknown merge mode `" + name.substr(0, 40) + "`");
  const long n = c.get_int("n");
  if (n < 2 || n > 64) throw std::invalid_argument("a merge layer takes 2 to 64 inputs");
  const bool time_axis = c.get_bool("time_axis", false);
  if (time_axis && mode != MERGE_CONCAT)
    throw std::invalid_argument("only concatenation has an axis");
  return std::make_unique<MergeLayer>(mode, (int)n, time_axis);
}

}  // namespace

LSTMCORE_REGISTER_LAYER("merge", make_merge_layer);

}  // namespace lstmcore
