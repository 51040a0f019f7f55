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
// The arrays of one call, checked against the network: x per input (the same number of
// samples), y per output with a loss (one target row per sample, laid out like the output:
// class indices for sparse cross-entropy), sample weights per output. Reused from call to
// call (an executor runs one call at a time): after warm-up a call allocates nothing here.
struct CallArrays {
  Arrays a;
  std::vector<py::object> keep;  // the arrays read, alive while the GIL is released
  std::vector<py::object> items, ys, sws;
  std::vector<Dims> first, out;  // the dims of a one-sample batch and its outputs (cached)
  void clear() {
    a.x.clear(); a.x_len.clear(); a.sample.clear(); a.y.clear(); a.y_len.clear(); a.sw.clear();
    items.clear(); ys.clear(); sws.clear();
  }
};

struct PyNetwork {
  Network net;
  CallArrays scratch;
  std::vector<py::object> keep;  // the parameter arrays the layers point into
  std::shared_ptr<WeightLock> lock;
  // streaming (model.streaming): the batch, features per step, whether a step is integer
  // indices (B,) for an Embedding, and the output width
  long stream_B = 0, stream_F = 0, stream_out = 0;
  std::vector<py::ssize_t> stream_shape;  // (B, ...) of a step's output
  bool stream_indices = false;
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

Dims dims_of(const py::array& x, const std::string& name) {
  Dims d;
  if (x.ndim() == 3) { d.B = x.shape(0); d.T = x.shape(1); d.F = x.shape(2); d.seq = true; }
  else if (x.ndim() == 2) { d.B = x.shape(0); d.F = x.shape(1); d.seq = false; }
  else throw std::invalid_argument("`" + name + "` must be 2D or 3D; received shape " + shape_str(x));
  return d;
}

long per_sample(const py::array& a) {
  long n = 1;
  for (py::ssize_t i = 1; i < a.ndim(); ++i) n = checked_mul(n, (long)a.shape(i), "a sample");
  return n;
}

// One array, or a list of them (a model with several inputs or outputs), into `v`; None
// entries kept as None when allowed (an output without a loss takes no target).
void as_list(const py::object& o, size_t want, const char* what, bool none_ok, std::vector<py::object>& v) {
  v.clear();
  if (py::isinstance<py::list>(o) || py::isinstance<py::tuple>(o)) {
    for (auto item : o) v.push_back(py::reinterpret_borrow<py::object>(item));
  } else {
    v.push_back(o);
  }
  if (v.size() != want)
    throw std::invalid_argument("the model takes " + std::to_string(want) + " " + what + " array(s); received " +
                                std::to_string(v.size()));
  for (auto& a : v)
    if (!(none_ok && a.is_none()) && !py::isinstance<py::array>(a))
      throw std::invalid_argument(std::string("every ") + what + " must be a NumPy array");
}

bool same_dims(const std::vector<Dims>& a, const std::vector<Dims>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].B != b[i].B || a[i].T != b[i].T || a[i].F != b[i].F || a[i].seq != b[i].seq) return false;
  return true;
}

// Drops the call's references to the user's arrays when the call ends (the scratch is reused).
struct CallScope {
  CallArrays& c;
  ~CallScope() {
    c.keep.clear();
    c.items.clear();
    c.ys.clear();
    c.sws.clear();
  }
};

CallArrays& call_arrays(PyNetwork& n, const py::object& xo, const py::object* yo, const py::object* swo) {
  CallArrays& c = n.scratch;
  c.clear();
  c.keep.clear();
  Arrays& a = c.a;
  const size_t K = n.net.num_inputs(), M = n.net.num_outputs();
  as_list(xo, K, "input", false, c.items);
  std::vector<Dims> first_now;  // small: compared with the cached dims
  first_now.reserve(K);
  for (size_t k = 0; k < K; ++k) {
    py::array x = py::reinterpret_borrow<py::array>(c.items[k]);
    const std::string name = K == 1 ? "x" : "x[" + std::to_string(k) + "]";
    a.x.push_back(in_f32(x, name.c_str()));
    a.x_len.push_back(per_sample(x));
    Dims d = dims_of(x, name);
    if (k == 0) a.N = d.B;
    else if (d.B != a.N)
      throw std::invalid_argument("every input needs the same number of samples: " + name + " has " +
                                  std::to_string(d.B) + ", x[0] has " + std::to_string(a.N));
    a.sample.push_back(d);
    first_now.push_back(Dims{std::min<long>(d.B, 1), d.T, d.F, d.seq});
    c.keep.push_back(c.items[k]);
  }
  if (!yo) return c;
  if (c.out.empty() || !same_dims(first_now, c.first)) {
    c.out = n.net.output_dims(first_now);
    c.first = first_now;
  }
  const std::vector<Dims>& od = c.out;
  as_list(*yo, M, "target", true, c.ys);
  if (swo && !swo->is_none() && (py::isinstance<py::list>(*swo) || py::isinstance<py::tuple>(*swo))) {
    as_list(*swo, M, "sample weight", true, c.sws);
  } else {
    c.sws.assign(M, swo && !swo->is_none() ? *swo : py::none());
  }
  for (size_t k = 0; k < M; ++k) {
    const int loss = n.net.loss_of(k);
    if (c.ys[k].is_none() || loss < 0) {
      if (loss >= 0)
        throw std::invalid_argument("output " + std::to_string(k) + " has a loss and needs a target");
      a.y.push_back(nullptr);
      a.y_len.push_back(0);
      a.sw.push_back(nullptr);
      continue;
    }
    py::array y = py::reinterpret_borrow<py::array>(c.ys[k]);
    const std::string name = M == 1 ? "y" : "y[" + std::to_string(k) + "]";
    a.y.push_back(in_f32(y, name.c_str()));
    const Dims& o = od[k];
    const bool sparse = loss == LOSS_SCCE;
    const long want = sparse ? (o.seq ? o.T : 1) : (o.seq ? checked_mul(o.T, o.F, "a target") : o.F);
    if (y.ndim() < 1 || y.shape(0) != a.N || per_sample(y) != want)
      throw std::invalid_argument("`" + name + "` must hold " + std::to_string(want) + " values per sample for output shape " +
                                  (o.seq ? "(samples, " + std::to_string(o.T) + ", " + std::to_string(o.F) + ")"
                                         : "(samples, " + std::to_string(o.F) + ")") +
                                  "; received shape " + shape_str(y));
    a.y_len.push_back(want);
    c.keep.push_back(c.ys[k]);
    const float* w = nullptr;
    if (!c.sws[k].is_none()) {
      if (!py::isinstance<py::array>(c.sws[k])) throw std::invalid_argument("`sample_weight` must be a NumPy array");
      py::array wa = py::reinterpret_borrow<py::array>(c.sws[k]);
      w = in_f32(wa, "sample_weight", {a.N});
      for (long i = 0; i < a.N; ++i)
        if (!(w[i] >= 0.0f && w[i] <= 3.4e38f))
          throw std::invalid_argument("`sample_weight` must hold finite, non-negative values");
      c.keep.push_back(c.sws[k]);
    }
    a.sw.push_back(w);
  }
  return c;
}

py::list metric_list(const Network& net, const StepStats& st) {
  const size_t n = std::min<size_t>(net.num_metrics(), kMaxMetrics);
  py::list l(n);
  for (size_t i = 0; i < n; ++i) l[i] = py::float_(st.metric_sums[i]);
  return l;
}

py::list per_output(const double* v, size_t n) {
  py::list l(n);
  for (size_t i = 0; i < n; ++i) l[i] = py::float_(v[i]);
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
      .def("add", [](PyNetwork& n, const std::string& kind, const py::dict& config, const py::dict& params,
                     std::vector<int> inputs, int owner) {
        auto cfg = to_config(kind, config);
        PyParams ps(n, kind, params);
        const size_t kept = n.keep.size();
        try {
          auto layer = make_layer(*cfg, ps);
          ps.check_all_used();
          return n.net.add(std::move(layer), std::move(inputs), owner);
        } catch (...) {
          n.keep.resize(kept);  // nothing of a refused layer stays
          throw;
        }
      }, py::arg("kind"), py::arg("config"), py::arg("params"), py::arg("inputs") = std::vector<int>{},
         py::arg("owner") = -1,
         "Add a layer built by the registry: kind (one of LAYER_KINDS), its config (str -> bool, int, "
         "float, str, or a nested config with its \"kind\") and its parameter arrays by name, applied to the "
         "tensors `inputs` (default: the last tensor, a Sequential chain). `owner`: the model's index of the "
         "layer (calls of one shared layer share it; default: a new one). Returns the output tensor ids.")
      .def("add_input", [](PyNetwork& n) { return n.net.add_input(); }, "A new model input; its tensor id.")
      .def("set_outputs", [](PyNetwork& n, const std::vector<int>& t) { n.net.set_outputs(t); }, py::arg("tensors"))
      .def("set_loss", [](PyNetwork& n, const std::string& name) { n.net.set_loss(loss_from_name(name)); },
           py::arg("name"))
      .def("set_losses", [](PyNetwork& n, const std::vector<py::object>& names, const std::vector<double>& weights) {
        std::vector<int> codes;
        for (const auto& o : names) codes.push_back(o.is_none() ? -1 : loss_from_name(o.cast<std::string>()));
        n.net.set_losses(codes, weights);
      }, py::arg("names"), py::arg("weights"), "A loss name (or None) and a loss weight per output.")
      .def("set_metrics", [](PyNetwork& n, const std::vector<std::vector<int>>& codes) { n.net.set_metrics(codes); },
           py::arg("codes"), "Metric codes per output.")
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
      .def("train_batches", [](PyNetwork& n, py::object x, py::object y, py::array_t<int64_t> idx, long bs,
                               long k0, long k1, uint64_t seed, double loss0, const std::vector<double>& metrics0,
                               const std::vector<double>& metric_weight0, py::object sample_weight,
                               const std::vector<double>& output_loss0) {
        CallScope scope{n.scratch};
        CallArrays& c = call_arrays(n, x, &y, &sample_weight);
        const long N = c.a.N;
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
        for (size_t m = 0; m < metrics0.size() && m < (size_t)kMaxMetrics; ++m) total.metric_sums[m] = metrics0[m];
        for (size_t k = 0; k < metric_weight0.size() && k < (size_t)kMaxOutputs; ++k)
          total.metric_weight[k] = metric_weight0[k];
        for (size_t k = 0; k < output_loss0.size() && k < (size_t)kMaxOutputs; ++k)
          total.output_loss[k] = output_loss0[k];
        int failure = STEP_OK;
        long done;
        {
          ExclusiveHold hold(*n.lock);
          done = run_native([&] {
            return n.net.train_batches(c.a, pi, bs, k0, k1, seed, dl.data(), total, &failure);
          });
        }
        for (long k = 0; k < k1 - k0; ++k)
          losses.mutable_data()[k] = k < done + (failure ? 1 : 0) ? (float)dl[k] : 0.0f;
        // stopped between batches: the poller ran the signal handlers, which set the error
        if (done < k1 - k0 && failure == STEP_OK && PyErr_Occurred()) throw py::error_already_set();
        const size_t M = n.net.num_outputs();
        return py::make_tuple(done, losses, total.loss, metric_list(n.net, total), total.samples, failure,
                              per_output(total.metric_weight, M), per_output(total.output_loss, M));
      }, py::arg("x"), py::arg("y"), py::arg("idx"), py::arg("batch_size"), py::arg("k0"), py::arg("k1"),
         py::arg("seed") = 0, py::arg("loss0") = 0.0, py::arg("metrics0") = std::vector<double>{},
         py::arg("metric_weight0") = std::vector<double>{}, py::arg("sample_weight") = py::none(),
         py::arg("output_loss0") = std::vector<double>{},
         "Train batches k0..k1-1 of the order idx. x: an array per input (or one array), y: an array per "
         "output (None for an output without a loss), sample_weight: one array for every output or one per "
         "output. Returns (done, batch_losses, loss_sum, metric_sums, samples, failure, metric_weights, "
         "output_loss_sums) with failure 0 (none), 1 (loss), 2 (gradient) or 3 (update) not finite; the sums "
         "continue from loss0, metrics0, metric_weight0 and output_loss0 (metric weights: what each output's "
         "metric sums are divided by: samples, or the timesteps used under a mask).")
      .def("evaluate", [](PyNetwork& n, py::object x, py::object y, long bs, py::object sample_weight) {
        CallScope scope{n.scratch};
        CallArrays& c = call_arrays(n, x, &y, &sample_weight);
        if (bs < 1) throw std::invalid_argument("`batch_size` must be >= 1");
        StepStats total;
        SharedHold hold(*n.lock);
        run_native([&] { n.net.evaluate_batches(c.a, bs, total); });
        const size_t M = n.net.num_outputs();
        return py::make_tuple(total.loss, metric_list(n.net, total), total.samples, per_output(total.metric_weight, M),
                              per_output(total.output_loss, M));
      }, py::arg("x"), py::arg("y"), py::arg("batch_size"), py::arg("sample_weight") = py::none(),
         "Returns (loss_sum, metric_sums, samples, metric_weights, output_loss_sums).")
      .def("output_shapes", [](PyNetwork& n, py::object x) {
        CallScope scope{n.scratch};
        CallArrays& c = call_arrays(n, x, nullptr, nullptr);
        std::vector<Dims> first;
        for (const Dims& d : c.a.sample) first.push_back(Dims{1, d.T, d.F, d.seq});
        py::list l;
        for (const Dims& d : n.net.output_dims(first)) {
          if (d.seq) l.append(py::make_tuple(d.T, d.F));
          else l.append(py::make_tuple(d.F));
        }
        return l;
      }, py::arg("x"), "The per-sample shape of every output for inputs like x.")
      .def("predict", [](PyNetwork& n, py::object x, long bs, py::object out) {
        CallScope scope{n.scratch};
        CallArrays& c = call_arrays(n, x, nullptr, nullptr);
        if (bs < 1) throw std::invalid_argument("`batch_size` must be >= 1");
        const size_t M = n.net.num_outputs();
        std::vector<py::object> outs;
        as_list(out, M, "output", false, outs);
        std::vector<Dims> first;
        for (const Dims& d : c.a.sample) first.push_back(Dims{std::min(bs, c.a.N), d.T, d.F, d.seq});
        const std::vector<Dims> od = n.net.output_dims(first);
        std::vector<float*> po;
        std::vector<long> ol;
        for (size_t k = 0; k < M; ++k) {
          py::array o = py::reinterpret_borrow<py::array>(outs[k]);
          ol.push_back(od[k].seq ? checked_mul(od[k].T, od[k].F, "the output") : od[k].F);
          po.push_back(out_f32(o, "out"));
          if ((long)o.size() != checked_mul(c.a.N, ol.back(), "the output"))
            throw std::invalid_argument("internal error in predict: output size");
        }
        SharedHold hold(*n.lock);
        run_native([&] { n.net.predict_batches(po, ol, c.a, bs); });
      }, py::arg("x"), py::arg("batch_size"), py::arg("out"),
         "Write every output for x (an array per input) into out (an array per output).")
      .def("predict_batch", [](PyNetwork& n, py::handle xo, long fixed_B) -> py::object {
        // predict_on_batch's per-call path: one batch of a one-input, one-output model in one
        // call, its checks included. None (nothing run) for anything it does not take as it
        // is: another dtype or layout, a NaN, a batch other than fixed_B (> 0), sizes the
        // layers refuse; the caller then takes the path that converts or names the problem.
        if (!py::isinstance<py::array>(xo) || n.net.num_inputs() != 1 || n.net.num_outputs() != 1)
          return py::none();
        py::array x = py::reinterpret_borrow<py::array>(xo);
        if (!is_native_f32(x.dtype()) || !(x.flags() & py::array::c_style) || (x.ndim() != 2 && x.ndim() != 3))
          return py::none();
        const Dims in = dims_of(x, "x");
        if (in.B < 1 || (fixed_B > 0 && in.B != fixed_B) || (in.seq && in.T < 1)) return py::none();
        const float* p = static_cast<const float*>(x.data());
        if (kt().first_nonfinite(p, in.size()) >= 0) return py::none();
        Dims od;
        try {
          od = n.net.output_dims(in);
        } catch (const std::invalid_argument&) {
          return py::none();
        }
        auto out = od.seq ? new_array({in.B, od.T, od.F}) : new_array({in.B, od.F});
        float* po = out.mutable_data();
        Batch b;
        b.x = {p};
        b.in = {in};
        SharedHold hold(*n.lock);
        auto run = [&] {
          const auto& ys = n.net.predict_step(b);
          std::memcpy(po, ys[0], sizeof(float) * od.size());
        };
        // a step-sized call (a few rows) keeps the GIL, as stream.step does: releasing it and
        // installing the Ctrl-C poller would cost more than the work
        if (in.rows() <= 4) run();
        else run_native(run);
        return std::move(out);
      }, py::arg("x"), py::arg("fixed_batch") = 0,
         "Outputs for one batch as it is (float32, C order, finite), or None when it needs the checked path.")
      .def("compute_gradients", [](PyNetwork& n, py::object x, py::object y, uint64_t seed) {
        CallScope scope{n.scratch};
        CallArrays& c = call_arrays(n, x, &y, nullptr);
        Batch b;
        b.x = c.a.x;
        for (Dims d : c.a.sample) b.in.push_back(d);
        b.y = c.a.y;
        b.sw = c.a.sw;
        SharedHold hold(*n.lock);  // reads the weights; writes only this executor's gradients
        return run_native([&] { return n.net.compute_gradients(b, seed); });
      }, py::arg("x"), py::arg("y"), py::arg("seed") = 0)
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
      .def("set_regularizer", [](PyNetwork& n, size_t layer, size_t param, double l1, double l2) {
        n.net.set_regularizer(layer, param, l1, l2);
      }, py::arg("layer"), py::arg("param"), py::arg("l1"), py::arg("l2"),
         "Keras weight regularization: parameter `param` (Keras order) of layer `layer` adds "
         "l1 * sum|w| + l2 * sum w^2 to the loss.")
      .def("stream_setup", [](PyNetwork& n, long B, long F, bool indices, bool time_aligned) {
        if (B < 1 || F < 1) throw std::invalid_argument("streaming needs batch_size >= 1 and features >= 1");
        Dims in = indices ? Dims{B, 0, 1, false} : Dims{B, 1, F, true};
        const Dims od = n.net.output_dims(in);
        n.stream_B = B;
        n.stream_F = indices ? 1 : F;
        n.stream_indices = indices;
        // a sequence still along the input's time (T = 1) gives (B, F); one made after the
        // sequence ended (RepeatVector, a decoder) is the whole (B, T, F)
        n.stream_out = od.seq ? checked_mul(od.T, od.F, "a step's output") : od.F;
        n.stream_shape = od.seq && !time_aligned ? std::vector<py::ssize_t>{B, od.T, od.F}
                                                 : std::vector<py::ssize_t>{B, od.F};
        for (Layer* l : n.net.stateful_layers())
          for (int k = 0; k < l->num_states(); ++k) l->state_data(k, B);  // zeros, sized
      }, py::arg("batch_size"), py::arg("features"), py::arg("indices"), py::arg("time_aligned"),
         "Make this executor a stream: one timestep of (batch_size, features) per step.")
      .def("step", [](PyNetwork& n, py::handle x) {
        using F32 = py::array_t<float, py::array::c_style | py::array::forcecast>;
        F32 a = F32::ensure(x);
        if (!a) {
          PyErr_Clear();
          throw std::invalid_argument("`step` takes a NumPy array (or array-like) of numbers");
        }
        const long B = n.stream_B, F = n.stream_F;
        const bool ok = n.stream_indices ? (a.ndim() == 1 && a.shape(0) == B) || (a.ndim() == 2 && a.shape(0) == B && a.shape(1) == 1)
                                         : a.ndim() == 2 && a.shape(0) == B && a.shape(1) == F;
        if (!ok)
          throw std::invalid_argument("`step` expects one timestep of shape " +
                                      (n.stream_indices ? "(" + std::to_string(B) + ",) (token indices)"
                                                        : "(" + std::to_string(B) + ", " + std::to_string(F) + ")") +
                                      " (batch, features); received shape " + shape_str(a) + ". The state is unchanged.");
        const float* p = a.data();
        const long bad = kt().first_nonfinite(p, B * F);
        if (bad >= 0)
          throw std::invalid_argument("`step` received a non-finite value (NaN or Inf) at index " + std::to_string(bad) +
                                      "; the state is unchanged");
        Batch b;
        b.x = {p};
        b.in = {n.stream_indices ? Dims{B, 0, 1, false} : Dims{B, 1, F, true}};
        auto out = new_array(n.stream_shape);
        {
          SharedHold hold(*n.lock);
          const auto& ys = n.net.predict_step(b);
          std::memcpy(out.mutable_data(), ys[0], sizeof(float) * B * n.stream_out);
        }
        return out;
      }, py::arg("x"), "One timestep through the stream; returns the model's output for it.")
      .def("get_states", [](PyNetwork& n) {
        py::list l;
        for (Layer* layer : n.net.stateful_layers()) {
          py::list states;
          for (int k = 0; k < layer->num_states(); ++k) {
            auto a = new_array({n.stream_B, layer->state_width()});
            std::memcpy(a.mutable_data(), layer->state_data(k, n.stream_B),
                        sizeof(float) * n.stream_B * layer->state_width());
            states.append(a);
          }
          l.append(py::tuple(states));
        }
        return l;
      }, "Copies of every stateful layer's states, (batch, units) each.")
      .def("set_states", [](PyNetwork& n, const std::vector<std::vector<py::array>>& states) {
        auto layers = n.net.stateful_layers();
        if (states.size() != layers.size())
          throw std::invalid_argument("the stream has " + std::to_string(layers.size()) +
                                      " recurrent layer(s); received states for " + std::to_string(states.size()));
        std::vector<const float*> src;
        for (size_t i = 0; i < layers.size(); ++i) {
          const long W = layers[i]->state_width();
          if ((int)states[i].size() != layers[i]->num_states())
            throw std::invalid_argument("recurrent layer " + std::to_string(i) + " has " +
                                        std::to_string(layers[i]->num_states()) + " state array(s); received " +
                                        std::to_string(states[i].size()));
          for (const py::array& s : states[i]) {
            const float* p = in_f32(s, "state", {n.stream_B, W});
            if (kt().first_nonfinite(p, n.stream_B * W) >= 0)
              throw std::invalid_argument("a state holds NaN or Inf");
            src.push_back(p);
          }
        }
        size_t j = 0;  // everything checked: now write
        for (Layer* layer : layers)
          for (int k = 0; k < layer->num_states(); ++k, ++j)
            std::memcpy(layer->state_data(k, n.stream_B), src[j], sizeof(float) * n.stream_B * layer->state_width());
      }, py::arg("states"), "Set every stateful layer's states (all checked before any is written).")
      .def("reset_states", [](PyNetwork& n) { n.net.reset_states(); })
      .def("reset_layer_states", [](PyNetwork& n, size_t i) { n.net.reset_layer(i); }, py::arg("index"))
      .def("set_trainable", [](PyNetwork& n, size_t i, bool t) { n.net.set_trainable(i, t); },
           py::arg("index"), py::arg("trainable"),
           "Freeze (False) or unfreeze layer `index`: a frozen layer's weights are not updated.");
}

}  // namespace lstmcore
