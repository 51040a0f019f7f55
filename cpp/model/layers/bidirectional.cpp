// bidirectional.cpp — Bidirectional(any recurrent layer): a forward copy on x and a backward
// copy (go_backwards) made from the same config; with return_sequences the backward outputs
// are flipped back to input time order (Keras).
#include <cstring>
#include <stdexcept>

#include "model/layer.h"

namespace lstmcore {

const char* const kMergeNames[MERGE_COUNT] = {"concat", "sum", "mul", "ave"};

namespace {

int merge_from_name(const std::string& name) {
  for (int i = 0; i < MERGE_COUNT; ++i)
    if (name == kMergeNames[i]) return i;
  throw std::invalid_argument("unknown Bidirectional merge_mode `" + name.substr(0, 100) +
                              "`; expected concat, sum, mul or ave");
}

class BidirectionalLayer : public Layer {
 public:
  BidirectionalLayer(std::unique_ptr<Layer> fwd, std::unique_ptr<Layer> bwd, int merge)
      : fwd_(std::move(fwd)), bwd_(std::move(bwd)), merge_(merge) {}
  Dims out_dims(const Dims& in) const override {
    Dims o = fwd_->out_dims(in);
    if (merge_ == MERGE_CONCAT) o.F = checked_mul(o.F, 2, "Bidirectional output");
    return o;
  }
  const float* forward(const float* x, const Dims& in, bool training, uint64_t seed) override {
    in_ = in;
    const float* yf = fwd_->forward(x, in, training, seed);
    const float* yb = bwd_->forward(x, in, training, mix64(seed ^ 0xb1du));
    od_ = fwd_->out_dims(in);
    const long H = od_.F, rows = od_.rows(), T = in.T;
    const long F = merge_ == MERGE_CONCAT ? 2 * H : H;
    float* y = out_.resize(checked_elems({rows, F}, "Bidirectional output"));
    for (long r = 0; r < rows; ++r) {
      const long rb = backward_row(r, T);
      const float* a = yf + r * H;
      const float* c = yb + rb * H;
      float* o = y + r * F;
      for (long j = 0; j < H; ++j) {
        switch (merge_) {
          case MERGE_CONCAT: o[j] = a[j]; o[H + j] = c[j]; break;
          case MERGE_SUM: o[j] = a[j] + c[j]; break;
          case MERGE_MUL: o[j] = a[j] * c[j]; break;
          default: o[j] = (a[j] + c[j]) * 0.5f; break;  // MERGE_AVE
        }
      }
    }
    yf_ = yf;
    yb_ = yb;
    return y;
  }
  const float* backward(const float* dy, bool need_dx) override {
    const long H = od_.F, rows = od_.rows(), T = in_.T;
    const long F = merge_ == MERGE_CONCAT ? 2 * H : H;
    float* df = dyf_.resize(checked_elems({rows, H}, "Bidirectional gradient"));
    float* dbk = dyb_.resize(checked_elems({rows, H}, "Bidirectional gradient"));
    for (long r = 0; r < rows; ++r) {
      const long rb = backward_row(r, T);
      const float* g = dy + r * F;
      for (long j = 0; j < H; ++j) {
        switch (merge_) {
          case MERGE_CONCAT: df[r * H + j] = g[j]; dbk[rb * H + j] = g[H + j]; break;
          case MERGE_SUM: df[r * H + j] = g[j]; dbk[rb * H + j] = g[j]; break;
          case MERGE_MUL: df[r * H + j] = g[j] * yb_[rb * H + j]; dbk[rb * H + j] = g[j] * yf_[r * H + j]; break;
          default: df[r * H + j] = 0.5f * g[j]; dbk[rb * H + j] = 0.5f * g[j]; break;  // MERGE_AVE
        }
      }
    }
    const float* dxf = fwd_->backward(df, need_dx);
    if (!need_dx) {
      bwd_->backward(dbk, false);
      return nullptr;
    }
    float* dx = dx_.resize(in_.size());
    std::memcpy(dx, dxf, sizeof(float) * in_.size());
    const float* dxb = bwd_->backward(dbk, true);
    for (long i = 0; i < in_.size(); ++i) dx[i] += dxb[i];
    return dx;
  }
  std::vector<ParamRef> params() override {
    auto p = fwd_->params();
    auto q = bwd_->params();
    p.insert(p.end(), q.begin(), q.end());
    return p;
  }
  void reset_states() override { fwd_->reset_states(); bwd_->reset_states(); }
  void set_input_mask(const float* mask) override {
    fwd_->set_input_mask(mask);
    bwd_->set_input_mask(mask);
  }
  const float* output_mask() const override { return fwd_->output_mask(); }
  bool stateful() const override { return fwd_->stateful(); }
  void rollback_state() override { fwd_->rollback_state(); bwd_->rollback_state(); }

 private:
  // The backward layer's output row that pairs with output row r: with sequences, row
  // r = (b, t) takes the backward layer's step T-1-t (its outputs run in reverse time).
  long backward_row(long r, long T) const {
    if (!od_.seq) return r;
    const long b = r / T, t = r % T;
    return b * T + (T - 1 - t);
  }

  std::unique_ptr<Layer> fwd_, bwd_;
  int merge_;
  const float *yf_ = nullptr, *yb_ = nullptr;
  Buffer out_, dyf_, dyb_, dx_;
  Dims in_, od_;
};

// config: layer (the wrapped recurrent layer's config, with its kind; it must take
// go_backwards), merge_mode; params: the wrapped layer's, as forward/<name> and backward/<name>.
std::unique_ptr<Layer> make_bidirectional_layer(const LayerConfig& c, LayerParams& p) {
  const int merge = merge_from_name(c.has("merge_mode") ? c.get_str("merge_mode") : "concat");
  LayerConfig fc = c.get_config("layer"), bc = fc;
  if (fc.kind() == "bidirectional") throw std::invalid_argument("`Bidirectional` cannot wrap a Bidirectional");
  fc.set("go_backwards", false);
  bc.set("go_backwards", true);
  if (fc.get_bool("return_sequences", false)) {  // Keras: zeros at skipped steps of both
    fc.set("zero_output_for_mask", true);
    bc.set("zero_output_for_mask", true);
  }
  PrefixedParams fp(p, "forward/"), bp(p, "backward/");
  auto fwd = make_layer(fc, fp);
  auto bwd = make_layer(bc, bp);
  return std::make_unique<BidirectionalLayer>(std::move(fwd), std::move(bwd), merge);
}

}  // namespace

LSTMCORE_REGISTER_LAYER("bidirectional", make_bidirectional_layer);

}  // namespace lstmcore
