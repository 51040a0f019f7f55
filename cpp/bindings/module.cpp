// module.cpp — the private extension `lstmcore._core`.
//
// Only argument checks, GIL release and ownership live here; every computation is in
// cpp/kernels. std::invalid_argument maps to ValueError (pybind11's default translation).
// Outputs that C++ owns (an LSTM pass's saved sequences) are handed out as NumPy views whose
// base keeps the owner alive: no copy.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <type_traits>

#include <pthread.h>

#include "bindings/arrays.h"
#include "kernels/kernels.h"
#include "kernels/network.h"

namespace py = pybind11;
using namespace lstmcore;

#ifndef LSTMCORE_COMPILER
#define LSTMCORE_COMPILER "unknown"
#endif
#ifndef LSTMCORE_VERSION
#define LSTMCORE_VERSION "dev"  // CMake passes pyproject.toml's version (the one source)
#endif

namespace {

// ---- native calls: GIL released, Ctrl-C noticed ----------------------------------------------
// The poller runs on the thread that released the GIL (the kernels call it at most every few
// ms, between timesteps and GEMM blocks): Python's signal handlers run here, and a
// KeyboardInterrupt they raise stops the kernel, which throws Interrupted.
bool python_signals(void*) {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

// run_native(f): f() without the GIL, interruptible; an interrupt becomes the Python
// exception the signal handler raised (KeyboardInterrupt for Ctrl-C).
template <class F>
auto run_native(F&& f) -> decltype(f()) {
  try {
    py::gil_scoped_release nogil;
    InterruptScope scope(&python_signals, nullptr);
    return f();
  } catch (const Interrupted&) {
    if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
  }
}

// ---- the weight lock ---------------------------------------------------------------------------
// One per model, shared by all its executors: inference (predict, evaluate, get_weights) takes
// it shared, anything that writes weights or optimizer slots (a training step, set_weights, a
// load) exclusive, so concurrent predicts run in parallel and never see a half-updated model.
// Waiting always happens without the GIL (a thread holding the lock may need the GIL to poll
// for Ctrl-C). After fork() a lock may be held by a thread that does not exist in the child:
// the first use in the child (under the GIL, so only one thread does it) makes a fresh one.
//
// A phase-fair readers-writer lock: glibc's rwlock (std::shared_mutex) prefers readers, so a
// server's stream of predicts would starve fit forever. Here a waiting writer stops new
// readers, and the readers that were waiting when a writer finishes go next, so neither side
// starves: predicts interleave with training steps.
class RWLock {
 public:
  bool try_lock_shared() {
    std::lock_guard<std::mutex> g(m_);
    if (writer_ || writers_waiting_) return false;
    ++readers_;
    return true;
  }
  void lock_shared() {
    std::unique_lock<std::mutex> g(m_);
    ++readers_waiting_;
    cv_.wait(g, [&] { return !writer_ && (writers_waiting_ == 0 || readers_turn_); });
    if (--readers_waiting_ == 0) readers_turn_ = false;
    ++readers_;
  }
  void unlock_shared() {
    std::lock_guard<std::mutex> g(m_);
    if (--readers_ == 0) cv_.notify_all();
  }
  bool try_lock() {
    std::lock_guard<std::mutex> g(m_);
    if (writer_ || readers_ || readers_turn_) return false;
    writer_ = true;
    return true;
  }
  void lock() {
    std::unique_lock<std::mutex> g(m_);
    ++writers_waiting_;
    cv_.wait(g, [&] { return !writer_ && readers_ == 0 && !readers_turn_; });
    --writers_waiting_;
    writer_ = true;
  }
  void unlock() {
    std::lock_guard<std::mutex> g(m_);
    writer_ = false;
    if (readers_waiting_) readers_turn_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  long readers_ = 0, readers_waiting_ = 0, writers_waiting_ = 0;
  bool writer_ = false, readers_turn_ = false;
};

std::atomic<long> fork_generation{0};

struct WeightLock {
  std::unique_ptr<RWLock> m = std::make_unique<RWLock>();
  long generation = fork_generation.load();
  RWLock& get() {  // called with the GIL held
    if (generation != fork_generation.load()) {
      (void)m.release();  // possibly locked by a thread that is gone: never touch it again
      m = std::make_unique<RWLock>();
      generation = fork_generation.load();
    }
    return *m;
  }
};

// RAII holders (constructed with the GIL held; they release it only while waiting).
struct SharedHold {
  RWLock& m;
  explicit SharedHold(WeightLock& l) : m(l.get()) {
    if (!m.try_lock_shared()) { py::gil_scoped_release nogil; m.lock_shared(); }
  }
  ~SharedHold() { m.unlock_shared(); }
};
struct ExclusiveHold {
  RWLock& m;
  explicit ExclusiveHold(WeightLock& l) : m(l.get()) {
    if (!m.try_lock()) { py::gil_scoped_release nogil; m.lock(); }
  }
  ~ExclusiveHold() { m.unlock(); }
};

py::array_t<float> new_array(const std::vector<py::ssize_t>& shape) { return py::array_t<float>(shape); }

// A view of a C++ buffer whose lifetime is tied to `owner`.
py::array view(const float* data, const std::vector<py::ssize_t>& shape, py::handle owner, bool writeable = true) {
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t s = sizeof(float);
  for (size_t i = shape.size(); i-- > 0;) { strides[i] = s; s *= shape[i]; }
  py::array a(py::dtype::of<float>(), shape, strides, data, owner);
  if (!writeable) py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

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

// ---- Network ------------------------------------------------------------------------------
// A model's native executor. A model has one for training (and for stateful inference) and
// a pool of them for concurrent stateless inference: they point at the same parameter
// arrays and share one WeightLock; each owns its activations and workspaces.
struct PyNetwork {
  Network net;
  std::vector<py::object> keep;  // the parameter arrays the layers point into
  std::shared_ptr<WeightLock> lock;
  explicit PyNetwork(std::shared_ptr<WeightLock> l) : lock(l ? std::move(l) : std::make_shared<WeightLock>()) {}
};

float* param(PyNetwork& n, py::object o, const char* name, const std::vector<long>& shape) {
  if (o.is_none()) return nullptr;
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!py::isinstance<py::array>(o)) throw std::invalid_argument(std::string("`") + name + "` must be a NumPy array");
  float* p = out_f32(a, name, shape);
  n.keep.push_back(o);
  return p;
}

LstmConfig lstm_cfg(long units, const std::string& act, const std::string& ract, bool rs, bool stateful,
                    bool gb, float dropout, float recurrent_dropout) {
  LstmConfig c;
  c.units = units;
  c.act = act_from_name(act);
  c.ract = act_from_name(ract);
  if (c.act == ACT_SOFTMAX || c.ract == ACT_SOFTMAX)
    throw std::invalid_argument("`LSTM` activations cannot be 'softmax'");
  c.return_sequences = rs;
  c.stateful = stateful;
  c.go_backwards = gb;
  c.dropout = dropout;
  c.recurrent_dropout = recurrent_dropout;
  if (!(dropout >= 0.0f && dropout < 1.0f) || !(recurrent_dropout >= 0.0f && recurrent_dropout < 1.0f))
    throw std::invalid_argument("`dropout` and `recurrent_dropout` must be in [0, 1)");
  return c;
}

Dims dims_of(const py::array& x, const char* name) {
  Dims d;
  if (x.ndim() == 3) { d.B = x.shape(0); d.T = x.shape(1); d.F = x.shape(2); d.seq = true; }
  else if (x.ndim() == 2) { d.B = x.shape(0); d.F = x.shape(1); d.seq = false; }
  else throw std::invalid_argument(std::string("`") + name + "` must be 2D or 3D; received shape " + shape_str(x));
  return d;
}

long per_sample(const py::array& a) {
  long n = 1;
  for (py::ssize_t i = 1; i < a.ndim(); ++i) n *= a.shape(i);
  return n;
}

// y must hold rows*F values for the network's output dims (class indices for sparse).
void check_targets(PyNetwork& n, const py::array& x, const py::array& y, bool sparse) {
  Dims in = dims_of(x, "x");
  Dims od = n.net.output_dims(in);
  long want = sparse ? (od.seq ? od.T : 1) : (od.seq ? od.T * od.F : od.F);
  if (y.ndim() < 1 || y.shape(0) != x.shape(0) || per_sample(y) != want)
    throw std::invalid_argument("`y` must hold " + std::to_string(want) + " values per sample for output shape " +
                                (od.seq ? "(samples, " + std::to_string(od.T) + ", " + std::to_string(od.F) + ")"
                                        : "(samples, " + std::to_string(od.F) + ")") +
                                "; received shape " + shape_str(y));
}

py::list metric_list(const StepStats& st, size_t k) {
  py::list l;
  for (size_t i = 0; i < k; ++i) l.append(st.metric_sums[i]);
  return l;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "lstmcore native core (private; use the lstmcore package)";

  // Select the SIMD table now so that a bad LSTMCORE_SIMD fails at import with its message.
  kt();

  // ---- codes defined once, in C++ ----
  py::dict metric_codes, merge_codes;
  for (int i = 0; i < MET_COUNT; ++i) metric_codes[kMetricNames[i]] = i;
  for (int i = 0; i < MERGE_COUNT; ++i) merge_codes[kMergeNames[i]] = i;
  m.attr("METRIC_CODES") = metric_codes;
  m.attr("MERGE_CODES") = merge_codes;

  // ---- build and threads ----
  m.def("build_info", []() {
    py::dict d;
    d["version"] = LSTMCORE_VERSION;
    d["compiler"] = LSTMCORE_COMPILER;
    d["openmp"] = have_openmp();
    d["simd"] = std::string(kt().name);
    std::vector<std::string> compiled;
    for (const KernelTable* t : compiled_tables()) compiled.push_back(t->name);
    d["simd_compiled"] = compiled;
    d["simd_supported"] = supported_levels();
    d["cpu_features"] = cpu_feature_names();
    d["num_threads"] = num_threads();
    d["max_threads"] = max_num_threads();
    d["gemm_tile"] = py::make_tuple(kt().mr, kt().nr);
#ifdef NDEBUG
    d["debug"] = false;
#else
    d["debug"] = true;
#endif
    return d;
  }, "Compiler, OpenMP, SIMD levels compiled in / supported / selected, thread count.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "1 <= n <= max_num_threads(), else ValueError and the count is unchanged.");
  m.def("get_num_threads", &num_threads);
  m.def("max_num_threads", &max_num_threads, "The largest thread count set_num_threads accepts.");
  m.def("default_num_threads", &default_num_threads);
  m.def("simd_level", []() { return std::string(kt().name); });
  m.def("set_simd_level", &set_simd_level, py::arg("name"),
        "Force a SIMD level ('generic', 'avx2', 'avx512', 'neon'); for tests and benchmarks.");
  m.def("supported_simd_levels", &supported_levels);

  m.def("fma_throughput", [](int threads, double seconds) {
    if (threads < 1) throw std::invalid_argument("`threads` must be >= 1");
    if (!(seconds > 0.0 && seconds <= 60.0)) throw std::invalid_argument("`seconds` must be in (0, 60]");
    py::gil_scoped_release nogil;
    return fma_throughput(threads, seconds);
  }, py::arg("threads") = 1, py::arg("seconds") = 0.2,
        "Measured FMA throughput (GFLOP/s) of `threads` threads at the active SIMD level: the "
        "peak SGEMM rates compare to (benchmarks).");

  // ---- input validation ----
  m.def("first_nonfinite", [](py::array a) -> long {
    const float* p = in_f32(a, "a");
    return kt().first_nonfinite(p, (long)a.size());
  }, py::arg("a"),
        "Flat index of the first NaN or inf in a C-contiguous float32 array, or -1.");
  m.def("max_abs", [](py::array a) -> float {
    const float* p = in_f32(a, "a");
    return kt().max_abs(p, (long)a.size());
  }, py::arg("a"), "max |a| of a C-contiguous float32 array, or inf when it holds a NaN or inf.");

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

  // ---- Network ----
  pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });
  py::class_<WeightLock, std::shared_ptr<WeightLock>>(m, "WeightLock",
      "The lock a model's executors share: inference shared, weight writes exclusive (private).")
      .def(py::init<>())
      .def("acquire_exclusive", [](WeightLock& l) {
        RWLock& m = l.get();
        if (!m.try_lock()) { py::gil_scoped_release nogil; m.lock(); }
      }, "Block (without the GIL) until no executor reads or writes the weights.")
      .def("release_exclusive", [](WeightLock& l) { l.get().unlock(); })
      .def("acquire_shared", [](WeightLock& l) {
        RWLock& m = l.get();
        if (!m.try_lock_shared()) { py::gil_scoped_release nogil; m.lock_shared(); }
      })
      .def("release_shared", [](WeightLock& l) { l.get().unlock_shared(); });

  py::class_<PyNetwork>(m, "Network", "A Sequential model's native executor (private).")
      .def(py::init<std::shared_ptr<WeightLock>>(), py::arg("lock") = nullptr)
      .def_property_readonly("lock", [](PyNetwork& n) { return n.lock; })
      .def("weights_changed", [](PyNetwork& n) { n.net.weights_changed(); },
           "Weights or optimizer slots were written from Python (set_weights, a load).")
      .def("add_lstm", [](PyNetwork& n, long units, long input_dim, py::object W, py::object U, py::object b,
                          const std::string& act, const std::string& ract, bool rs, bool stateful, bool gb,
                          float dropout, float recurrent_dropout) {
        LstmConfig c = lstm_cfg(units, act, ract, rs, stateful, gb, dropout, recurrent_dropout);
        float* pW = param(n, W, "kernel", {input_dim, 4 * units});
        float* pU = param(n, U, "recurrent_kernel", {units, 4 * units});
        float* pb = param(n, b, "bias", {4 * units});
        n.net.add(make_lstm(c, input_dim, pW, pU, pb));
      })
      .def("add_bidirectional", [](PyNetwork& n, long units, long input_dim, py::object Wf, py::object Uf,
                                   py::object bf, py::object Wb, py::object Ub, py::object bb,
                                   const std::string& act, const std::string& ract, bool rs, bool stateful,
                                   float dropout, float recurrent_dropout, int merge) {
        LstmConfig c = lstm_cfg(units, act, ract, rs, stateful, false, dropout, recurrent_dropout);
        float* a = param(n, Wf, "kernel", {input_dim, 4 * units});
        float* b = param(n, Uf, "recurrent_kernel", {units, 4 * units});
        float* cc = param(n, bf, "bias", {4 * units});
        float* d = param(n, Wb, "kernel", {input_dim, 4 * units});
        float* e = param(n, Ub, "recurrent_kernel", {units, 4 * units});
        float* f = param(n, bb, "bias", {4 * units});
        n.net.add(make_bidirectional(c, input_dim, merge, a, b, cc, d, e, f));
      })
      .def("add_dense", [](PyNetwork& n, long units, long input_dim, py::object W, py::object b,
                           const std::string& act) {
        int a = act_from_name(act);
        float* pW = param(n, W, "kernel", {input_dim, units});
        float* pb = param(n, b, "bias", {units});
        n.net.add(make_dense(units, input_dim, a, pW, pb));
      })
      .def("add_activation", [](PyNetwork& n, const std::string& act) { n.net.add(make_activation(act_from_name(act))); })
      .def("add_dropout", [](PyNetwork& n, float rate) { n.net.add(make_dropout(rate)); })
      .def("add_repeat_vector", [](PyNetwork& n, long k) { n.net.add(make_repeat_vector(k)); })
      .def("set_loss", [](PyNetwork& n, const std::string& name) { n.net.set_loss(loss_from_name(name)); })
      .def("set_metrics", [](PyNetwork& n, const std::vector<int>& codes) {
        if (codes.size() > 8) throw std::invalid_argument("at most 8 metrics are supported");
        n.net.set_metrics(codes);
      })
      .def("set_optimizer", [](PyNetwork& n, const std::string& kind, double lr, double momentum, bool nesterov,
                               double beta_1, double beta_2, double rho, double epsilon, double decay) {
        OptimizerConfig o;
        if (kind == "sgd") o.kind = OPT_SGD;
        else if (kind == "adam") o.kind = OPT_ADAM;
        else if (kind == "rmsprop") o.kind = OPT_RMSPROP;
        else throw std::invalid_argument("unknown optimizer `" + kind + "`");
        o.lr = lr; o.momentum = momentum; o.nesterov = nesterov; o.beta_1 = beta_1; o.beta_2 = beta_2;
        o.rho = rho; o.epsilon = epsilon; o.decay = decay;
        n.net.set_optimizer(o);
      }, py::arg("kind"), py::arg("lr"), py::arg("momentum") = 0.0f, py::arg("nesterov") = false,
         py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999, py::arg("rho") = 0.9,
         py::arg("epsilon") = 1e-7, py::arg("decay") = 0.0)
      .def_property("iterations", [](PyNetwork& n) { return n.net.iterations; },
                    [](PyNetwork& n, py::object it) {
                      long long v = 0;
                      if (!py::isinstance<py::int_>(it) || (v = PyLong_AsLongLong(it.ptr()), PyErr_Occurred()) ||
                          v < 0 || v >= (1LL << 62)) {
                        PyErr_Clear();
                        throw std::invalid_argument("`iterations` must be an integer in [0, 2**62); received " +
                                                    std::string(py::repr(it)).substr(0, 100));
                      }
                      n.net.iterations = v;
                    })
      .def("train_batches", [](PyNetwork& n, py::array x, py::array y, py::array_t<int64_t> idx, long bs,
                               long k0, long k1, uint64_t seed, bool sparse, double loss0,
                               const std::vector<double>& metrics0) {
        const float* px = in_f32(x, "x");
        const float* pyv = in_f32(y, "y");
        check_targets(n, x, y, sparse);
        Dims sample = dims_of(x, "x");
        const long N = x.shape(0);
        if (idx.ndim() != 1 || idx.shape(0) != N) throw std::invalid_argument("`idx` must have one entry per sample");
        const int64_t* pi = idx.data();
        for (long i = 0; i < N; ++i)
          if (pi[i] < 0 || pi[i] >= N) throw std::invalid_argument("`idx` holds an out-of-range sample index");
        if (bs < 1) throw std::invalid_argument("`batch_size` must be >= 1");
        if (k0 < 0 || k1 < k0 || checked_mul(k0, bs, "batch offsets") >= N + bs * (k1 > k0))
          throw std::invalid_argument("internal error in train_batches: batch range");
        auto losses = new_array({k1 - k0});
        std::vector<double> dl(std::max<long>(1, k1 - k0));
        // The sums continue from the caller's running totals, batch by batch, so an epoch's
        // loss does not depend on how its batches were grouped into calls (that grouping
        // follows measured timings).
        StepStats total;
        total.loss = loss0;
        for (size_t m = 0; m < metrics0.size() && m < 8; ++m) total.metric_sums[m] = metrics0[m];
        int failure = STEP_OK;
        long done;
        {
          ExclusiveHold hold(*n.lock);
          done = run_native([&] {
            return n.net.train_batches(px, per_sample(x), sample, pyv, per_sample(y), pi, N, bs, k0, k1, seed,
                                       dl.data(), total, &failure);
          });
        }
        for (long k = 0; k < k1 - k0; ++k)
          losses.mutable_data()[k] = k < done + (failure ? 1 : 0) ? (float)dl[k] : 0.0f;
        // stopped between batches: the poller ran the signal handlers, which set the error
        if (done < k1 - k0 && failure == STEP_OK && PyErr_Occurred()) throw py::error_already_set();
        return py::make_tuple(done, losses, total.loss, metric_list(total, 8), total.samples, failure);
      }, py::arg("x"), py::arg("y"), py::arg("idx"), py::arg("batch_size"), py::arg("k0"), py::arg("k1"),
         py::arg("seed") = 0, py::arg("sparse") = false, py::arg("loss0") = 0.0,
         py::arg("metrics0") = std::vector<double>{},
         "Train batches k0..k1-1 of the order idx; returns (done, batch_losses, loss_sum, metric_sums, samples, "
         "failure) with failure 0 (none), 1 (loss), 2 (gradient) or 3 (update) not finite; the sums continue "
         "from loss0 and metrics0.")
      .def("evaluate", [](PyNetwork& n, py::array x, py::array y, long bs, bool sparse) {
        const float* px = in_f32(x, "x");
        const float* pyv = in_f32(y, "y");
        check_targets(n, x, y, sparse);
        if (bs < 1) throw std::invalid_argument("`batch_size` must be >= 1");
        Dims sample = dims_of(x, "x");
        const long N = x.shape(0), xl = per_sample(x), yl = per_sample(y);
        StepStats total;
        SharedHold hold(*n.lock);
        run_native([&] {
          for (long s0 = 0; s0 < N; s0 += bs) {
            Dims in = sample;
            in.B = std::min(bs, N - s0);
            n.net.test_step(px + s0 * xl, in, pyv + s0 * yl, total);
            if (s0 + bs < N && interruption_requested()) throw Interrupted();
          }
        });
        return py::make_tuple(total.loss, metric_list(total, 8), total.samples);
      }, py::arg("x"), py::arg("y"), py::arg("batch_size"), py::arg("sparse") = false)
      .def("predict", [](PyNetwork& n, py::array x, long bs, py::array out) {
        const float* px = in_f32(x, "x");
        Dims sample = dims_of(x, "x");
        if (bs < 1) throw std::invalid_argument("`batch_size` must be >= 1");
        const long N = x.shape(0), xl = per_sample(x);
        Dims od = n.net.output_dims(Dims{std::min(bs, N), sample.T, sample.F, sample.seq});
        const long ol = od.seq ? checked_mul(od.T, od.F, "the output") : od.F;
        float* po = out_f32(out, "out");
        if ((long)out.size() != checked_mul(N, ol, "the output"))
          throw std::invalid_argument("internal error in predict: output size");
        SharedHold hold(*n.lock);
        run_native([&] {
          for (long s0 = 0; s0 < N; s0 += bs) {
            Dims in = sample;
            in.B = std::min(bs, N - s0);
            const float* y = n.net.predict_step(px + s0 * xl, in);
            std::memcpy(po + s0 * ol, y, sizeof(float) * in.B * ol);
            if (s0 + bs < N && interruption_requested()) throw Interrupted();
          }
        });
      }, py::arg("x"), py::arg("batch_size"), py::arg("out"))
      .def("compute_gradients", [](PyNetwork& n, py::array x, py::array y, uint64_t seed, bool sparse) {
        const float* px = in_f32(x, "x");
        const float* pyv = in_f32(y, "y");
        check_targets(n, x, y, sparse);
        Dims in = dims_of(x, "x");
        SharedHold hold(*n.lock);  // reads the weights; writes only this executor's gradients
        return run_native([&] { return n.net.compute_gradients(px, in, pyv, seed); });
      }, py::arg("x"), py::arg("y"), py::arg("seed") = 0, py::arg("sparse") = false)
      .def("gradients", [](py::object self) {
        PyNetwork& n = self.cast<PyNetwork&>();
        py::list l;
        for (const ParamRef& p : n.net.params()) l.append(view(p.g, {p.n}, self, false));
        return l;
      }, "Flat read-only views of the parameter gradients of the last step, in parameter order.")
      .def("optimizer_slots", [](py::object self) {
        PyNetwork& n = self.cast<PyNetwork&>();
        py::list l;
        for (Buffer* b : n.net.optimizer_slots()) l.append(view(b->data, {(py::ssize_t)b->size}, self, true));
        return l;
      }, "Flat writeable views of the optimizer slots (per parameter: none, velocity, or m and v).")
      .def("reset_states", [](PyNetwork& n) { n.net.reset_states(); })
      .def("reset_layer_states", [](PyNetwork& n, size_t i) { n.net.reset_layer(i); })
      .def("set_trainable", [](PyNetwork& n, size_t i, bool t) { n.net.set_trainable(i, t); },
           py::arg("index"), py::arg("trainable"),
           "Freeze (False) or unfreeze layer `index`: a frozen layer's weights are not updated.");
}
