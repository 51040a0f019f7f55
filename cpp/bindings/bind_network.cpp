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
#include "model/network.h"

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

// A layer's config from Python: str keys; bool, int, float, str, or a nested dict (a wrapped
// layer's config, whose "kind" names it). A file can hold anything, so every other type, an
// int beyond int64 or a nesting too deep is a ValueError.
std::shared_ptr<LayerConfig> to_config(const std::string& kind, const py::dict& d, int depth = 0) {
  if (depth > 8) throw std::invalid_argument("layer `" + kind + "`: configs nest too deeply");
  auto c = std::make_shared<LayerConfig>(kind);
  for (auto item : d) {
    if (!py::isinstance<py::str>(item.first))
      throw std::invalid_argument("layer `" + kind + "`: config keys must be strings");
    const std::string key = item.first.cast<std::string>();
    py::handle v = item.second;
    if (py::isinstance<py::bool_>(v)) {
      c->set(key, v.cast<bool>());
    } else if (py::isinstance<py::int_>(v)) {
      long long x = PyLong_AsLongLong(v.ptr());
      if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        throw std::invalid_argument("layer `" + kind + "`: config `" + key + "` is out of range");
      }
      c->set(key, (long)x);
    } else if (py::isinstance<py::float_>(v)) {
      c->set(key, v.cast<double>());
    } else if (py::isinstance<py::str>(v)) {
      c->set(key, v.cast<std::string>());
    } else if (py::isinstance<py::dict>(v)) {
      py::dict inner = py::reinterpret_borrow<py::dict>(v);
      if (!inner.contains("kind") || !py::isinstance<py::str>(inner["kind"]))
        throw std::invalid_argument("layer `" + kind + "`: the nested config `" + key + "` needs its \"kind\"");
      py::dict rest;
      for (auto kv : inner)
        if (!(py::isinstance<py::str>(kv.first) && kv.first.cast<std::string>() == "kind")) rest[kv.first] = kv.second;
      c->set(key, to_config(inner["kind"].cast<std::string>(), rest, depth + 1));
    } else {
      throw std::invalid_argument("layer `" + kind + "`: config `" + key + "` has unsupported type " +
                                  std::string(py::str(py::type::handle_of(v).attr("__name__"))));
    }
  }
  return c;
}

// A layer's parameter arrays from a dict name -> float32 array (or None). Each array the
// layer takes is checked (dtype, C order, writeable, shape) and kept alive by the executor;
// a name the layer does not take is an error (the two sides disagree).
class PyParams : public LayerParams {
 public:
  PyParams(PyNetwork& n, const std::string& kind, const py::dict& d) : n_(n), kind_(kind), d_(d) {}
  float* take(const std::string& name, const std::vector<long>& shape, bool optional) override {
    py::str key(name);
    used_.push_back(name);
    if (!d_.contains(key) || d_[key].is_none()) {
      if (optional) return nullptr;
      throw std::invalid_argument("layer `" + kind_ + "` needs the parameter `" + name + "`");
    }
    py::object o = d_[key];
    if (!py::isinstance<py::array>(o))
      throw std::invalid_argument("layer `" + kind_ + "`: parameter `" + name + "` must be a NumPy array");
    py::array a = py::reinterpret_borrow<py::array>(o);
    float* p = out_f32(a, name.c_str(), shape);
    n_.keep.push_back(o);
    return p;
  }
  void check_all_used() const {
    for (auto kv : d_) {
      const std::string k = py::str(kv.first);
      if (std::find(used_.begin(), used_.end(), k) == used_.end())
        throw std::invalid_argument("layer `" + kind_ + "` takes no parameter `" + k.substr(0, 100) + "`");
    }
  }

 private:
  PyNetwork& n_;
  std::string kind_;
  const py::dict& d_;
  std::vector<std::string> used_;
};

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

// One finite, non-negative float32 weight per sample (checked in Python too), or null.
const float* sample_weights(const py::object& o, long N) {
  if (o.is_none()) return nullptr;
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!py::isinstance<py::array>(o)) throw std::invalid_argument("`sample_weight` must be a NumPy array");
  const float* w = in_f32(a, "sample_weight", {N});
  for (long i = 0; i < N; ++i)
    if (!(w[i] >= 0.0f && w[i] <= 3.4e38f))
      throw std::invalid_argument("`sample_weight` must hold finite, non-negative values");
  return w;
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
      .def("add", [](PyNetwork& n, const std::string& kind, const py::dict& config, const py::dict& params) {
        auto cfg = to_config(kind, config);
        PyParams ps(n, kind, params);
        const size_t kept = n.keep.size();
        try {
          auto layer = make_layer(*cfg, ps);
          ps.check_all_used();
          n.net.add(std::move(layer));
        } catch (...) {
          n.keep.resize(kept);  // nothing of a refused layer stays
          throw;
        }
      }, py::arg("kind"), py::arg("config"), py::arg("params"),
         "Append a layer built by the registry: kind (one of LAYER_KINDS), its config (str -> bool, int, "
         "float, str, or a nested config with its \"kind\") and its parameter arrays by name.")
      .def("set_loss", [](PyNetwork& n, const std::string& name) { n.net.set_loss(loss_from_name(name)); },
           py::arg("name"))
      .def("set_metrics", [](PyNetwork& n, const std::vector<int>& codes) {
        if (codes.size() > 8) throw std::invalid_argument("at most 8 metrics are supported");
        n.net.set_metrics(codes);
      }, py::arg("codes"))
      .def("set_optimizer", [](PyNetwork& n, const std::string& kind, double lr, double momentum, bool nesterov,
                               double beta_1, double beta_2, double rho, double epsilon, double decay) {
        OptimizerConfig o;
        o.kind = optimizer_from_name(kind);
        o.lr = lr; o.momentum = momentum; o.nesterov = nesterov; o.beta_1 = beta_1; o.beta_2 = beta_2;
        o.rho = rho; o.epsilon = epsilon; o.decay = decay;
        n.net.set_optimizer(o);
      }, py::arg("kind"), py::arg("lr"), py::arg("momentum") = 0.0f, py::arg("nesterov") = false,
         py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999, py::arg("rho") = 0.9,
         py::arg("epsilon") = 1e-7, py::arg("decay") = 0.0)
      .def("set_learning_rate", [](PyNetwork& n, double lr) { n.net.optimizer().set_learning_rate(lr); },
           py::arg("lr"),
           "Change only the learning rate (slots and iterations kept, unlike set_optimizer).")
      .def_property("iterations", [](PyNetwork& n) { return n.net.optimizer().iterations; },
                    [](PyNetwork& n, py::object it) {
                      long long v = 0;
                      if (!py::isinstance<py::int_>(it) || (v = PyLong_AsLongLong(it.ptr()), PyErr_Occurred()) ||
                          v < 0 || v >= (1LL << 62)) {
                        PyErr_Clear();
                        throw std::invalid_argument("`iterations` must be an integer in [0, 2**62); received " +
                                                    std::string(py::repr(it)).substr(0, 100));
                      }
                      n.net.optimizer().iterations = v;
                    })
      .def("train_batches", [](PyNetwork& n, py::array x, py::array y, py::array_t<int64_t> idx, long bs,
                               long k0, long k1, uint64_t seed, bool sparse, double loss0,
                               const std::vector<double>& metrics0, double metric_weight0,
                               py::object sample_weight) {
        const float* px = in_f32(x, "x");
        const float* pyv = in_f32(y, "y");
        check_targets(n, x, y, sparse);
        Dims sample = dims_of(x, "x");
        const long N = x.shape(0);
        const float* sw = sample_weights(sample_weight, N);
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
        total.metric_weight = metric_weight0;
        int failure = STEP_OK;
        long done;
        {
          ExclusiveHold hold(*n.lock);
          done = run_native([&] {
            return n.net.train_batches(px, per_sample(x), sample, pyv, per_sample(y), pi, N, bs, k0, k1, seed,
                                       dl.data(), total, &failure, sw);
          });
        }
        for (long k = 0; k < k1 - k0; ++k)
          losses.mutable_data()[k] = k < done + (failure ? 1 : 0) ? (float)dl[k] : 0.0f;
        // stopped between batches: the poller ran the signal handlers, which set the error
        if (done < k1 - k0 && failure == STEP_OK && PyErr_Occurred()) throw py::error_already_set();
        return py::make_tuple(done, losses, total.loss, metric_list(total, 8), total.samples, failure,
                              total.metric_weight);
      }, py::arg("x"), py::arg("y"), py::arg("idx"), py::arg("batch_size"), py::arg("k0"), py::arg("k1"),
         py::arg("seed") = 0, py::arg("sparse") = false, py::arg("loss0") = 0.0,
         py::arg("metrics0") = std::vector<double>{}, py::arg("metric_weight0") = 0.0,
         py::arg("sample_weight") = py::none(),
         "Train batches k0..k1-1 of the order idx; returns (done, batch_losses, loss_sum, metric_sums, samples, "
         "failure, metric_weight) with failure 0 (none), 1 (loss), 2 (gradient) or 3 (update) not finite; the "
         "sums continue from loss0, metrics0 and metric_weight0 (what metric sums are divided by: samples, or "
         "the timesteps used under a mask).")
      .def("evaluate", [](PyNetwork& n, py::array x, py::array y, long bs, bool sparse,
                          py::object sample_weight) {
        const float* px = in_f32(x, "x");
        const float* pyv = in_f32(y, "y");
        check_targets(n, x, y, sparse);
        if (bs < 1) throw std::invalid_argument("`batch_size` must be >= 1");
        Dims sample = dims_of(x, "x");
        const long N = x.shape(0), xl = per_sample(x), yl = per_sample(y);
        const float* sw = sample_weights(sample_weight, N);
        StepStats total;
        SharedHold hold(*n.lock);
        run_native([&] { n.net.evaluate_batches(px, xl, sample, pyv, yl, N, bs, total, sw); });
        return py::make_tuple(total.loss, metric_list(total, 8), total.samples, total.metric_weight);
      }, py::arg("x"), py::arg("y"), py::arg("batch_size"), py::arg("sparse") = false,
         py::arg("sample_weight") = py::none())
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
