// bind_kernels.cpp — the kernels one by one (GEMM, activations, an LSTM pass, Dense, losses,
// metrics, optimizer updates): for tests, benchmarks and a layer called on its own.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/native_call.h"
#include "kernels/gru.h"
#include "kernels/kernels.h"

namespace lstmcore {

namespace {

// ---- LSTM pass object -----------------------------------------------------------------------
struct LstmPass {
  LstmState s;
  py::array x, kernel, recurrent_kernel;  // kept alive for backward (s.x may point into x)
  bool has_bias = false;
};

py::dict lstm_backward_py(py::object self_obj, py::object dy_obj, py::object dh_obj, py::object dc_obj,
                          bool need_dx) {
  LstmPass& p = self_obj.cast<LstmPass&>();
  const long B = p.s.B, T = p.s.T, I = p.s.I, H = p.s.H;
  const float* dy = nullptr;
  bool dy_seq = true;
  py::array dya, dha, dca;
  if (!dy_obj.is_none()) {
    dya = py::array(dy_obj);
    if (dya.ndim() == 3) { dy = in_f32(dya, "dy", {B, T, H}); dy_seq = true; }
    else { dy = in_f32(dya, "dy", {B, H}); dy_seq = false; }
  }
  const float* dh = nullptr;
  const float* dc = nullptr;
  if (!dh_obj.is_none()) { dha = py::array(dh_obj); dh = in_f32(dha, "dh", {B, H}); }
  if (!dc_obj.is_none()) { dca = py::array(dc_obj); dc = in_f32(dca, "dc", {B, H}); }
  auto dx = new_array({B, T, I});
  auto dW = new_array({I, 4 * H});
  auto dU = new_array({H, 4 * H});
  auto db = new_array({4 * H});
  auto dh0 = new_array({B, H});
  auto dc0 = new_array({B, H});
  float *pdx = need_dx ? dx.mutable_data() : nullptr, *pW = dW.mutable_data(), *pU = dU.mutable_data(),
        *pb = db.mutable_data(), *ph = dh0.mutable_data(), *pc = dc0.mutable_data();
  std::memset(pW, 0, sizeof(float) * I * 4 * H);
  std::memset(pU, 0, sizeof(float) * H * 4 * H);
  std::memset(pb, 0, sizeof(float) * 4 * H);
  const float* W = static_cast<const float*>(p.kernel.data());
  const float* U = static_cast<const float*>(p.recurrent_kernel.data());
  run_native([&] { lstm_backward(p.s, pdx, pW, pU, pb, ph, pc, dy, dy_seq, dh, dc, W, U); });
  py::dict out;
  out["dx"] = need_dx ? py::object(dx) : py::object(py::none());
  out["dkernel"] = dW;
  out["drecurrent_kernel"] = dU;
  out["dbias"] = p.has_bias ? py::object(db) : py::object(py::none());
  out["dh0"] = dh0;
  out["dc0"] = dc0;
  return out;
}

}  // namespace

void bind_kernels(py::module_& m) {
  // ---- GEMM ----
  m.def("gemm", [](py::array a, py::array b, py::array c, bool trans_a, bool trans_b, float alpha, float beta) {
    long lda = matrix_ld(a, "a"), ldb = matrix_ld(b, "b"), ldc = matrix_ld(c, "c");
    if (!c.writeable()) throw std::invalid_argument("`c` must be writeable (it is written in place)");
    long M = trans_a ? a.shape(1) : a.shape(0), K = trans_a ? a.shape(0) : a.shape(1);
    long Kb = trans_b ? b.shape(1) : b.shape(0), N = trans_b ? b.shape(0) : b.shape(1);
    if (K != Kb)
      throw std::invalid_argument("gemm: inner dimensions differ: op(a) is (" + std::to_string(M) + ", " +
                                  std::to_string(K) + ") and op(b) is (" + std::to_string(Kb) + ", " +
                                  std::to_string(N) + ")");
    if (c.shape(0) != M || c.shape(1) != N)
      throw std::invalid_argument("gemm: `c` must have shape (" + std::to_string(M) + ", " + std::to_string(N) +
                                  "); received shape " + shape_str(c));
    const float* pa = static_cast<const float*>(a.data());
    const float* pb = static_cast<const float*>(b.data());
    float* pc = static_cast<float*>(c.mutable_data());
    run_native([&] { sgemm(trans_a, trans_b, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, ldc); });
  }, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("trans_a") = false, py::arg("trans_b") = false,
     py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f,
     "c = alpha * op(a) @ op(b) + beta * c, in place. Rows may be strided (leading dimension).");

  // ---- activations ----
  m.def("activation_forward", [](const std::string& name, py::array x, py::object out) {
    int act = act_from_name(name);
    const float* px = in_f32(x, "x");
    py::array o = out.is_none() ? py::array(new_array(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim())))
                                : py::reinterpret_borrow<py::array>(out);
    std::vector<long> shp(x.shape(), x.shape() + x.ndim());
    float* po = out_f32(o, "out", shp);
    long n = x.ndim() ? (long)x.shape(x.ndim() - 1) : 1;
    long rows = n ? (long)x.size() / n : 0;
    { py::gil_scoped_release nogil; activation_forward(act, po, px, rows, n); }
    return o;
  }, py::arg("name"), py::arg("x"), py::arg("out") = py::none());
  m.def("activation_backward", [](const std::string& name, py::array y, py::array dy, py::object out) {
    int act = act_from_name(name);
    std::vector<long> shp(y.shape(), y.shape() + y.ndim());
    const float* py_ = in_f32(y, "y");
    const float* pdy = in_f32(dy, "dy", shp);
    py::array o = out.is_none() ? py::array(new_array(std::vector<py::ssize_t>(y.shape(), y.shape() + y.ndim())))
                                : py::reinterpret_borrow<py::array>(out);
    float* po = out_f32(o, "out", shp);
    long n = y.ndim() ? (long)y.shape(y.ndim() - 1) : 1;
    long rows = n ? (long)y.size() / n : 0;
    { py::gil_scoped_release nogil; activation_backward(act, po, py_, pdy, rows, n); }
    return o;
  }, py::arg("name"), py::arg("y"), py::arg("dy"), py::arg("out") = py::none());

  // ---- LSTM ----
  py::class_<LstmPass>(m, "LSTMPass", "The saved state of one LSTM forward pass (for backward).")
      .def_property_readonly("outputs", [](py::object self) {
        LstmPass& p = self.cast<LstmPass&>();
        return view(p.s.h.data, {p.s.B, p.s.T, p.s.H}, self, false);
      }, "(B, T, H) hidden states in processing order: a read-only view, no copy")
      .def_property_readonly("h", [](LstmPass& p) {
        auto a = new_array({p.s.B, p.s.H});
        for (long b = 0; b < p.s.B; ++b)
          std::memcpy(a.mutable_data() + b * p.s.H, p.s.h.data + (b * p.s.T + p.s.T - 1) * p.s.H, sizeof(float) * p.s.H);
        return a;
      })
      .def_property_readonly("c", [](LstmPass& p) {
        auto a = new_array({p.s.B, p.s.H});
        for (long b = 0; b < p.s.B; ++b)
          std::memcpy(a.mutable_data() + b * p.s.H, p.s.c.data + (b * p.s.T + p.s.T - 1) * p.s.H, sizeof(float) * p.s.H);
        return a;
      })
      .def_property_readonly("gates", [](py::object self) {
        LstmPass& p = self.cast<LstmPass&>();
        return view(p.s.gates.data, {p.s.B, p.s.T, 4 * p.s.H}, self, false);
      }, "(B, T, 4H) activated gates (dz after backward): a read-only view")
      .def_property_readonly("input_data_pointer", [](LstmPass& p) {
        return (uintptr_t)(p.s.go_backwards ? nullptr : p.s.x);
      }, "address of the input the kernel read (equals x's data pointer: no copy was made)")
      .def("backward", &lstm_backward_py, py::arg("dy") = py::none(), py::arg("dh") = py::none(),
           py::arg("dc") = py::none(), py::arg("need_dx") = true,
           "Gradients {dx, dkernel, drecurrent_kernel, dbias, dh0, dc0} of the last forward.");

  m.def("lstm_forward", [](py::array x, py::array kernel, py::array recurrent_kernel, py::object bias,
                           py::object h0, py::object c0, const std::string& activation,
                           const std::string& recurrent_activation, bool go_backwards) {
    check_f32(x, "x");
    if (x.ndim() != 3)
      throw std::invalid_argument("`x` must be 3D (batch, timesteps, features); received shape " + shape_str(x));
    const long B = x.shape(0), T = x.shape(1), I = x.shape(2);
    check_f32(recurrent_kernel, "recurrent_kernel");
    if (recurrent_kernel.ndim() != 2)
      throw std::invalid_argument("`recurrent_kernel` must be 2D (units, 4*units)");
    const long H = recurrent_kernel.shape(0);
    if (B < 1 || T < 1 || H < 1) throw std::invalid_argument("lstm_forward: empty batch, sequence or units");
    auto pass = std::make_unique<LstmPass>();
    const float* px = in_f32(x, "x");
    const float* pW = in_f32(kernel, "kernel", {I, 4 * H});
    const float* pU = in_f32(recurrent_kernel, "recurrent_kernel", {H, 4 * H});
    const float *pb = nullptr, *ph = nullptr, *pc = nullptr;
    py::array ba, ha, ca;
    if (!bias.is_none()) { ba = py::array(bias); pb = in_f32(ba, "bias", {4 * H}); }
    if (!h0.is_none()) { ha = py::array(h0); ph = in_f32(ha, "h0", {B, H}); }
    if (!c0.is_none()) { ca = py::array(c0); pc = in_f32(ca, "c0", {B, H}); }
    int act = act_from_name(activation), ract = act_from_name(recurrent_activation);
    if (act == ACT_SOFTMAX || ract == ACT_SOFTMAX) throw std::invalid_argument("LSTM activations cannot be 'softmax'");
    pass->x = x;
    pass->kernel = kernel;
    pass->recurrent_kernel = recurrent_kernel;
    pass->has_bias = pb != nullptr;
    run_native([&] { lstm_forward(pass->s, px, pW, pU, pb, ph, pc, B, T, I, H, act, ract, go_backwards); });
    return pass;
  }, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias") = py::none(),
     py::arg("h0") = py::none(), py::arg("c0") = py::none(), py::arg("activation") = "tanh",
     py::arg("recurrent_activation") = "sigmoid", py::arg("go_backwards") = false,
     "Run an LSTM over x (B, T, I) with Keras-layout weights; returns an LSTMPass.");

  // ---- GRU and SimpleRNN: one inference pass, for a layer called on its own ----
  // Both return (outputs (B, T, H) in processing order, the final h (B, H)).
  auto rnn_pass = [](const char* name, py::array x, py::array recurrent_kernel, long gates,
                     py::object h0, long& B, long& T, long& I, long& H, py::array& ha,
                     const float*& ph) {
    check_f32(x, "x");
    if (x.ndim() != 3)
      throw std::invalid_argument("`x` must be 3D (batch, timesteps, features); received shape " + shape_str(x));
    B = x.shape(0); T = x.shape(1); I = x.shape(2);
    check_f32(recurrent_kernel, "recurrent_kernel");
    if (recurrent_kernel.ndim() != 2)
      throw std::invalid_argument("`recurrent_kernel` must be 2D (units, " + std::to_string(gates) + "*units)");
    H = recurrent_kernel.shape(0);
    if (B < 1 || T < 1 || H < 1) throw std::invalid_argument(std::string(name) + ": empty batch, sequence or units");
    ph = nullptr;
    if (!h0.is_none()) { ha = py::array(h0); ph = in_f32(ha, "h0", {B, H}); }
  };
  auto last_h = [](const Buffer& h, long B, long T, long H) {
    auto a = new_array({B, H});
    for (long b = 0; b < B; ++b)
      std::memcpy(a.mutable_data() + b * H, h.data + (b * T + T - 1) * H, sizeof(float) * H);
    return a;
  };
  m.def("gru_forward", [rnn_pass, last_h](py::array x, py::array kernel, py::array recurrent_kernel,
                                          py::object bias, py::object h0, const std::string& activation,
                                          const std::string& recurrent_activation, bool reset_after,
                                          bool go_backwards) {
    long B, T, I, H;
    py::array ha, ba;
    const float* ph;
    rnn_pass("gru_forward", x, recurrent_kernel, 3, h0, B, T, I, H, ha, ph);
    const float* px = in_f32(x, "x");
    const float* pW = in_f32(kernel, "kernel", {I, 3 * H});
    const float* pU = in_f32(recurrent_kernel, "recurrent_kernel", {H, 3 * H});
    const float* pb = nullptr;
    if (!bias.is_none()) {
      ba = py::array(bias);
      pb = reset_after ? in_f32(ba, "bias", {2, 3 * H}) : in_f32(ba, "bias", {3 * H});
    }
    int act = act_from_name(activation), ract = act_from_name(recurrent_activation);
    if (act == ACT_SOFTMAX || ract == ACT_SOFTMAX) throw std::invalid_argument("GRU activations cannot be 'softmax'");
    GruState s;
    run_native([&] { gru_forward(s, px, pW, pU, pb, ph, B, T, I, H, act, ract, reset_after, go_backwards, nullptr, false); });
    auto out = new_array({B, T, H});
    std::memcpy(out.mutable_data(), s.h.data, sizeof(float) * B * T * H);
    return py::make_tuple(out, last_h(s.h, B, T, H));
  }, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias") = py::none(),
     py::arg("h0") = py::none(), py::arg("activation") = "tanh",
     py::arg("recurrent_activation") = "sigmoid", py::arg("reset_after") = true,
     py::arg("go_backwards") = false,
     "Run a GRU over x (B, T, I) with Keras 3 weights; returns (outputs (B, T, H), h (B, H)).");
  m.def("simple_rnn_forward", [rnn_pass, last_h](py::array x, py::array kernel, py::array recurrent_kernel,
                                                 py::object bias, py::object h0,
                                                 const std::string& activation, bool go_backwards) {
    long B, T, I, H;
    py::array ha, ba;
    const float* ph;
    rnn_pass("simple_rnn_forward", x, recurrent_kernel, 1, h0, B, T, I, H, ha, ph);
    const float* px = in_f32(x, "x");
    const float* pW = in_f32(kernel, "kernel", {I, H});
    const float* pU = in_f32(recurrent_kernel, "recurrent_kernel", {H, H});
    const float* pb = nullptr;
    if (!bias.is_none()) { ba = py::array(bias); pb = in_f32(ba, "bias", {H}); }
    int act = act_from_name(activation);
    if (act == ACT_SOFTMAX) throw std::invalid_argument("SimpleRNN activation cannot be 'softmax'");
    SimpleRnnState s;
    run_native([&] { simple_rnn_forward(s, px, pW, pU, pb, ph, B, T, I, H, act, go_backwards, nullptr, false); });
    auto out = new_array({B, T, H});
    std::memcpy(out.mutable_data(), s.h.data, sizeof(float) * B * T * H);
    return py::make_tuple(out, last_h(s.h, B, T, H));
  }, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias") = py::none(),
     py::arg("h0") = py::none(), py::arg("activation") = "tanh", py::arg("go_backwards") = false,
     "Run a SimpleRNN over x (B, T, I); returns (outputs (B, T, H), h (B, H)).");

  // ---- Dense ----
  m.def("dense_forward", [](py::array x, py::array kernel, py::object bias, const std::string& activation) {
    check_f32(x, "x");
    if (x.ndim() < 2) throw std::invalid_argument("`x` must be 2D or 3D; received shape " + shape_str(x));
    const long D = x.shape(x.ndim() - 1), rows = (long)x.size() / std::max<long>(1, D);
    check_f32(kernel, "kernel");
    if (kernel.ndim() != 2) throw std::invalid_argument("`kernel` must be 2D");
    const long U = kernel.shape(1);
    const float* px = in_f32(x, "x");
    const float* pW = in_f32(kernel, "kernel", {D, U});
    const float* pb = nullptr;
    py::array ba;
    if (!bias.is_none()) { ba = py::array(bias); pb = in_f32(ba, "bias", {U}); }
    int act = act_from_name(activation);
    std::vector<py::ssize_t> shp(x.shape(), x.shape() + x.ndim());
    shp.back() = U;
    auto y = new_array(shp);
    float* py_ = y.mutable_data();
    { py::gil_scoped_release nogil; dense_forward(py_, px, pW, pb, rows, D, U, act); }
    return y;
  }, py::arg("x"), py::arg("kernel"), py::arg("bias") = py::none(), py::arg("activation") = "linear");
  m.def("dense_backward", [](py::array x, py::array kernel, py::array y, py::array dy, const std::string& activation) {
    check_f32(x, "x");
    if (x.ndim() < 2) throw std::invalid_argument("`x` must be 2D or 3D");
    const long D = x.shape(x.ndim() - 1), rows = (long)x.size() / std::max<long>(1, D);
    const long U = kernel.ndim() == 2 ? kernel.shape(1) : -1;
    const float* px = in_f32(x, "x");
    const float* pW = in_f32(kernel, "kernel", {D, U});
    std::vector<long> yshape(x.shape(), x.shape() + x.ndim());
    yshape.back() = U;
    const float* py_ = in_f32(y, "y", yshape);
    const float* pdy = in_f32(dy, "dy", yshape);
    int act = act_from_name(activation);
    auto dx = new_array(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    auto dW = new_array({D, U});
    auto db = new_array({U});
    std::vector<float> dz(size_t(rows) * U);
    float *pdx = dx.mutable_data(), *pdW = dW.mutable_data(), *pdb = db.mutable_data();
    std::memset(pdW, 0, sizeof(float) * D * U);
    std::memset(pdb, 0, sizeof(float) * U);
    {
      py::gil_scoped_release nogil;
      dense_backward(pdx, pdW, pdb, dz.data(), pdy, py_, px, pW, rows, D, U, act);
    }
    return py::make_tuple(dx, dW, db);
  }, py::arg("x"), py::arg("kernel"), py::arg("y"), py::arg("dy"), py::arg("activation") = "linear");

  // ---- losses and metrics ----
  m.def("loss", [](const std::string& name, py::array y_true, py::array y_pred) {
    int loss = loss_from_name(name);
    check_f32(y_pred, "y_pred");
    if (y_pred.ndim() < 1) throw std::invalid_argument("`y_pred` must be at least 1D");
    const long n = y_pred.shape(y_pred.ndim() - 1), rows = n ? (long)y_pred.size() / n : 0;
    const float* pp = in_f32(y_pred, "y_pred");
    const float* pt = in_f32(y_true, "y_true");
    long want = loss == LOSS_SCCE ? rows : rows * n;
    if ((long)y_true.size() != want)
      throw std::invalid_argument("`y_true` must hold " + std::to_string(want) + " values; received shape " + shape_str(y_true));
    auto g = new_array(std::vector<py::ssize_t>(y_pred.shape(), y_pred.shape() + y_pred.ndim()));
    float* pg = g.mutable_data();
    double v;
    { py::gil_scoped_release nogil; v = loss_forward_backward(loss, pt, pp, pg, rows, n); }
    return py::make_tuple(v, g);
  }, py::arg("name"), py::arg("y_true"), py::arg("y_pred"), "Returns (loss, dloss/dy_pred).");
  m.def("metric", [](const std::string& name, py::array y_true, py::array y_pred) {
    const int met = metric_from_name(name);
    const long n = y_pred.shape(y_pred.ndim() - 1), rows = n ? (long)y_pred.size() / n : 0;
    const float* pp = in_f32(y_pred, "y_pred");
    const float* pt = in_f32(y_true, "y_true");
    return metric_sum(met, pt, pp, rows, n) / std::max<long>(1, rows);
  }, py::arg("name"), py::arg("y_true"), py::arg("y_pred"));

  // ---- optimizers (in place) ----
  m.def("sgd_update", [](py::array w, py::array g, py::object velocity, double lr, double momentum, bool nesterov) {
    float* pw = out_f32(w, "w");
    std::vector<long> shp(w.shape(), w.shape() + w.ndim());
    const float* pg = in_f32(g, "g", shp);
    float* pv = nullptr;
    py::array va;
    if (!velocity.is_none()) { va = py::reinterpret_borrow<py::array>(velocity); pv = out_f32(va, "velocity", shp); }
    if (momentum != 0.0 && !pv) throw std::invalid_argument("`velocity` is required when momentum != 0");
    sgd_update(pw, pg, pv, (long)w.size(), lr, momentum, nesterov);
  }, py::arg("w"), py::arg("g"), py::arg("velocity") = py::none(), py::arg("lr") = 0.01,
     py::arg("momentum") = 0.0, py::arg("nesterov") = false);
  m.def("adam_update", [](py::array w, py::array g, py::array mm, py::array v, double lr, double b1, double b2,
                          double eps, long step) {
    float* pw = out_f32(w, "w");
    std::vector<long> shp(w.shape(), w.shape() + w.ndim());
    if (step < 1) throw std::invalid_argument("`step` is 1-based; received step=" + std::to_string(step));
    adam_update(pw, in_f32(g, "g", shp), out_f32(mm, "m", shp), out_f32(v, "v", shp), (long)w.size(), lr, b1, b2, eps, step);
  }, py::arg("w"), py::arg("g"), py::arg("m"), py::arg("v"), py::arg("lr") = 0.001, py::arg("beta_1") = 0.9,
     py::arg("beta_2") = 0.999, py::arg("epsilon") = 1e-7, py::arg("step") = 1);
  m.def("rmsprop_update", [](py::array w, py::array g, py::array v, double lr, double rho, double eps) {
    float* pw = out_f32(w, "w");
    std::vector<long> shp(w.shape(), w.shape() + w.ndim());
    rmsprop_update(pw, in_f32(g, "g", shp), out_f32(v, "v", shp), (long)w.size(), lr, rho, eps);
  }, py::arg("w"), py::arg("g"), py::arg("v"), py::arg("lr") = 0.001, py::arg("rho") = 0.9,
     py::arg("epsilon") = 1e-7);
}

}  // namespace lstmcore
