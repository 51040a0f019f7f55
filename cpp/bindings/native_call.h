// native_call.h — what every binding file shares: running native work without the GIL and
// with Ctrl-C noticed (run_native), the weight lock a model's executors share, and arrays
// that C++ hands out (new_array, view).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/kernels.h"

namespace lstmcore {
namespace py = pybind11;

// ---- native calls: GIL released, Ctrl-C noticed ----------------------------------------------
// The poller runs on the thread that released the GIL (the kernels call it at most every few
// ms, between timesteps and GEMM blocks): Python's signal handlers run here, and a
// KeyboardInterrupt they raise stops the kernel, which throws Interrupted.
inline bool python_signals(void*) {
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

inline std::atomic<long> fork_generation{0};  // bumped in a forked child (bind_network.cpp)

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

inline py::array_t<float> new_array(const std::vector<py::ssize_t>& shape) { return py::array_t<float>(shape); }

// A view of a C++ buffer whose lifetime is tied to `owner`.
inline py::array view(const float* data, const std::vector<py::ssize_t>& shape, py::handle owner, bool writeable = true) {
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t s = sizeof(float);
  for (size_t i = shape.size(); i-- > 0;) { strides[i] = s; s *= shape[i]; }
  py::array a(py::dtype::of<float>(), shape, strides, data, owner);
  if (!writeable) py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

// The binding areas (one file each), called by module.cpp.
void bind_build(py::module_& m);
void bind_kernels(py::module_& m);
void bind_network(py::module_& m);

}  // namespace lstmcore
