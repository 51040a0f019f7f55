// bind_network.cpp — a model's native executors (Network) and the lock they share.
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
#include "kernels/kernels.h"
#include "kernels/network.h"

#include <pthread.h>

namespace lstmcore {

namespace {

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

void bind_network(py::module_& m) {
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
      }, py::arg("units"), py::arg("input_dim"), py::arg("kernel"), py::arg("recurrent_kernel"),
         py::arg("bias"), py::arg("activation"), py::arg("recurrent_activation"),
         py::arg("return_sequences"), py::arg("stateful"), py::arg("go_backwards"), py::arg("dropout"),
         py::arg("recurrent_dropout"))
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
      }, py::arg("units"), py::arg("input_dim"), py::arg("kernel_f"), py::arg("recurrent_f"),
         py::arg("bias_f"), py::arg("kernel_b"), py::arg("recurrent_b"), py::arg("bias_b"),
         py::arg("activation"), py::arg("recurrent_activation"), py::arg("return_sequences"),
         py::arg("stateful"), py::arg("dropout"), py::arg("recurrent_dropout"), py::arg("merge"))
      .def("add_dense", [](PyNetwork& n, long units, long input_dim, py::object W, py::object b,
                           const std::string& act) {
        int a = act_from_name(act);
        float* pW = param(n, W, "kernel", {input_dim, units});
        float* pb = param(n, b, "bias", {units});
        n.net.add(make_dense(units, input_dim, a, pW, pb));
      }, py::arg("units"), py::arg("input_dim"), py::arg("kernel"), py::arg("bias"),
         py::arg("activation"))
      .def("add_activation", [](PyNetwork& n, const std::string& act) { n.net.add(make_activation(act_from_name(act))); },
           py::arg("activation"))
      .def("add_dropout", [](PyNetwork& n, float rate) { n.net.add(make_dropout(rate)); }, py::arg("rate"))
      .def("add_repeat_vector", [](PyNetwork& n, long k) { n.net.add(make_repeat_vector(k)); }, py::arg("n"))
      .def("set_loss", [](PyNetwork& n, const std::string& name) { n.net.set_loss(loss_from_name(name)); },
           py::arg("name"))
      .def("set_metrics", [](PyNetwork& n, const std::vector<int>& codes) {
        if (codes.size() > 8) throw std::invalid_argument("at most 8 metrics are supported");
        n.net.set_metrics(codes);
      }, py::arg("codes"))
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
        // every batch of k0..k1-1 must start inside the data (batch k reads idx[k * bs])
        if (k0 < 0 || k1 < k0 || (k1 > k0 && checked_mul(k1 - 1, bs, "batch offsets") >= N))
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
        run_native([&] { n.net.evaluate_batches(px, xl, sample, pyv, yl, N, bs, total); });
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
        run_native([&] { n.net.predict_batches(po, ol, px, xl, sample, N, bs); });
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
      .def("reset_layer_states", [](PyNetwork& n, size_t i) { n.net.reset_layer(i); }, py::arg("index"))
      .def("set_trainable", [](PyNetwork& n, size_t i, bool t) { n.net.set_trainable(i, t); },
           py::arg("index"), py::arg("trainable"),
           "Freeze (False) or unfreeze layer `index`: a frozen layer's weights are not updated.");
}

}  // namespace lstmcore
