// parallel.cpp — thread count policy, teams (and fork safety), cooperative interruption, and
// the grow-only aligned Buffer.
//
// The default thread count is OMP_NUM_THREADS when set, else the number of CPUs this
// process may run on: the affinity mask and, on Linux, the cgroup CPU quota (a container
// limited to 2 CPUs on a 64-core host should not start 64 threads); either is capped by
// max_num_threads().
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

#include "kernels/checked.h"
#include "kernels/kernels.h"

#ifdef LSTMCORE_HAVE_OPENMP
#include <omp.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define LSTMCORE_HAVE_ATFORK 1
#endif

namespace lstmcore {

bool have_openmp() {
#ifdef LSTMCORE_HAVE_OPENMP
  return true;
#else
  return false;
#endif
}

static int cgroup_cpu_limit() {
#if defined(__linux__)
  // cgroup v2: "max 100000" or "200000 100000"
  if (FILE* f = std::fopen("/sys/fs/cgroup/cpu.max", "r")) {
    char quota[64] = {0};
    long period = 0;
    int got = std::fscanf(f, "%63s %ld", quota, &period);
    std::fclose(f);
    if (got == 2 && std::strcmp(quota, "max") != 0 && period > 0) {
      long q = std::atol(quota);
      if (q > 0) return std::max(1, (int)std::ceil((double)q / (double)period));
    }
  }
  // cgroup v1
  long q = -1, p = -1;
  if (FILE* f = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r")) {
    if (std::fscanf(f, "%ld", &q) != 1) q = -1;
    std::fclose(f);
  }
  if (FILE* f = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r")) {
    if (std::fscanf(f, "%ld", &p) != 1) p = -1;
    std::fclose(f);
  }
  if (q > 0 && p > 0) return std::max(1, (int)std::ceil((double)q / (double)p));
#endif
  return 0;
}

// The cap on the thread count: min(512, max(8, 4 x the processors libgomp reports)).
// Every kernel splits into static shares over disjoint outputs and the LSTM's units split
// meets at a barrier every step, so threads beyond the processors only time-slice: 4x still
// lets a user (and the tests: 3 threads on 2 cores) run uneven, oversubscribed splits, and 8
// at least lets the determinism checks use up to 8 threads on any machine. Each libgomp
// worker reserves a stack (the RLIMIT_STACK default, 8 MiB here, or OMP_STACKSIZE), so 512
// threads is already 4 GiB of address space; past that a memory limit makes thread creation
// fail, which libgomp answers with abort() ("Thread creation failed"): set_num_threads(5000)
// must be refused, not become a dead process.
int max_num_threads() {
#ifdef LSTMCORE_HAVE_OPENMP
  const int procs = omp_get_num_procs();
#else
  const int procs = (int)std::thread::hardware_concurrency();
#endif
  return std::min(512, std::max(8, 4 * std::max(1, procs)));
}

int default_num_threads() {
#ifdef LSTMCORE_HAVE_OPENMP
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (env && *env) return std::min(max_num_threads(), std::max(1, omp_get_max_threads()));
  int n = omp_get_num_procs();
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = std::min(n, (int)CPU_COUNT(&set));
#endif
  int quota = cgroup_cpu_limit();
  if (quota > 0) n = std::min(n, quota);
  return std::min(max_num_threads(), std::max(1, n));
#else
  return 1;
#endif
}

static std::atomic<int>& thread_setting() {
  static std::atomic<int> n{default_num_threads()};
  return n;
}

int num_threads() { return thread_setting().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  const int cap = max_num_threads();
  if (n < 1 || n > cap)
    throw std::invalid_argument(
        "`n` must be between 1 and " + std::to_string(cap) +
        " (4 threads per processor, at least 8 and at most 512: more threads than that only "
        "time-slice, and creating too many aborts the process); received n=" +
        std::to_string(n));
#ifdef LSTMCORE_HAVE_OPENMP
  thread_setting().store(n);
#else
  thread_setting().store(1);
#endif
}

// Below ~1 MFLOP a fork/join (a few microseconds) costs more than the second core saves.
int threads_for(double flops) { return flops >= 1.0e6 ? num_threads() : 1; }

// ---- cooperative interruption --------------------------------------------------------------
// After a poll the next one waits 10 ms plus 16x what the poll took. 10 ms: Ctrl-C is seen
// within ~15 ms plus one timestep or GEMM block (well inside the 0.1 s goal), while a clock
// read per check (~5 ns, below) stays the only cost on the hot path; the Python poller takes
// the GIL, and 100 uncontended acquisitions a second cost nothing measurable. The 16x term
// keeps a slow poll (the GIL held by a busy Python thread: up to the 5 ms switch interval)
// under ~6% of the run time, at worst delaying the answer to ~90 ms.
static std::atomic<int64_t> g_poll_period_ns{10'000'000};
static thread_local InterruptScope* tl_scope = nullptr;  // the thread's innermost scope

// The clock of the checks. On Linux, CLOCK_MONOTONIC_COARSE: a steady clock read from the
// vDSO without the TSC, ~5 ns against ~25 ns for steady_clock (measured here), at the
// kernel tick's resolution (1-4 ms), plenty for a 10 ms period. A tiny layer's
// training step (~20 us, ~30 checks) would otherwise pay ~2% for its checks.
static int64_t now_ns() {
#if defined(__linux__) && defined(CLOCK_MONOTONIC_COARSE)
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
#else
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
#endif
}

void set_interrupt_poll_period_ns(int64_t ns) {
  g_poll_period_ns.store(std::max<int64_t>(0, ns), std::memory_order_relaxed);
}

InterruptScope::InterruptScope(InterruptPoller poll, void* ctx)
    : poll_(poll),
      ctx_(ctx),
      prev_(tl_scope),
      next_poll_ns_(now_ns() + g_poll_period_ns.load(std::memory_order_relaxed)),
      fired_(false) {
  tl_scope = this;
}

InterruptScope::~InterruptScope() { tl_scope = prev_; }

bool InterruptScope::poll() {
  if (fired_.load(std::memory_order_relaxed)) return true;
  const int64_t now = now_ns();
  if (now < next_poll_ns_) return false;
  const auto t0 = std::chrono::steady_clock::now();  // the poll's own cost, precisely
  bool stop;
  try {
    stop = poll_ != nullptr && poll_(ctx_);
  } catch (...) {
    stop = true;  // a poller must not throw; one that does cannot let the work go on
  }
  const int64_t cost = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - t0).count();
  const int64_t period = g_poll_period_ns.load(std::memory_order_relaxed);
  // (now + cost) is when the poll ended; period 0 polls at every check (the native tests)
  next_poll_ns_ = period == 0 ? now : now + cost + period + 16 * cost;
  if (stop) fired_.store(true, std::memory_order_release);
  return stop;
}

bool interruption_requested() {
  InterruptScope* s = tl_scope;
  return s != nullptr && s->poll();
}

InterruptScope* detail::current_scope() {
  InterruptScope* s = tl_scope;
#ifdef LSTMCORE_HAVE_OPENMP
  if (s && omp_get_level() > 0) return nullptr;
#endif
  return s;
}

bool detail::poll_scope(InterruptScope* s) {
  if (s == tl_scope) return s->poll();
  return s->fired_.load(std::memory_order_acquire);  // a proxy thread: the owner polls
}

// ---- teams and fork ------------------------------------------------------------------------
// libgomp keeps one pool of worker threads per thread that opens teams and reuses it for the
// next team. fork() copies that pool's bookkeeping into the child but none of its threads, so
// the child's next team of two or more waits at the pool's dock for threads that do not exist
// (GCC bug 60035; still so with GCC 12's libgomp: measured, see below). The at-fork child
// handler below (PyTorch does the same) drops the child to one thread, which never enters
// libgomp (parallel_team), and marks the forking thread, the child's only thread, as having
// a stale pool. Once the child asks for more threads that thread runs each team from a proxy
// thread it starts for the purpose: a fresh thread has no pool, so libgomp builds a new one.
// (Measured: a child that opens a 2-thread team directly hangs; through a fresh thread it
// works.) The proxy lives as long as its owner thread; threads the child creates later have
// no stale pool and open teams directly. The parent is unaffected.

#ifdef LSTMCORE_HAVE_OPENMP
// One team on this thread's own pool; the first exception of any thread is carried out.
static std::exception_ptr team_direct(int nt, detail::TeamFn fn, void* ctx) {
  std::exception_ptr err;
  std::atomic<bool> failed{false};
#pragma omp parallel num_threads(nt)
  {
    try {
      fn(ctx, omp_get_thread_num(), omp_get_num_threads());
    } catch (...) {
      if (!failed.exchange(true)) err = std::current_exception();
    }
  }
  return err;
}

static thread_local bool tl_stale_pool = false;  // this thread called fork() and is the child

// TeamProxy: a thread that opens its owner's teams. The owner posts a job and waits; while
// it waits it polls its interrupt scope (the poller must run on the owner, see TeamInterrupt).
class TeamProxy {
 public:
  TeamProxy() : thread_([this] { serve(); }) {}
  ~TeamProxy() {
    {
      std::lock_guard<std::mutex> lk(m_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void run(int nt, detail::TeamFn fn, void* ctx) {
    std::unique_lock<std::mutex> lk(m_);
    nt_ = nt;
    fn_ = fn;
    ctx_ = ctx;
    job_ = true;
    done_ = false;
    cv_.notify_all();
    const auto wait = std::chrono::nanoseconds(
        std::max<int64_t>(1'000'000, g_poll_period_ns.load(std::memory_order_relaxed)));
    while (!done_) {
      if (tl_scope) {  // the team's tid 0 reads what this poll decides (detail::poll_scope)
        cv_.wait_for(lk, wait);
        if (done_) break;
        lk.unlock();
        (void)interruption_requested();
        lk.lock();
      } else {
        cv_.wait(lk);
      }
    }
    std::exception_ptr err = err_;
    err_ = nullptr;
    lk.unlock();
    if (err) std::rethrow_exception(err);
  }

 private:
  void serve() {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      cv_.wait(lk, [&] { return job_ || quit_; });
      if (quit_) return;
      job_ = false;
      lk.unlock();
      std::exception_ptr err = team_direct(nt_, fn_, ctx_);
      lk.lock();
      err_ = err;
      done_ = true;
      cv_.notify_all();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  int nt_ = 1;
  detail::TeamFn fn_ = nullptr;
  void* ctx_ = nullptr;
  bool job_ = false, done_ = false, quit_ = false;
  std::exception_ptr err_;
  std::thread thread_;  // last: starts after the members serve() uses
};

// The owner's proxy. A plain pointer, so that the at-fork handler can drop it without
// touching anything else; the reaper, made with the first proxy, deletes whatever proxy the
// thread has when it ends (stop and join), and nothing after the handler dropped it.
static thread_local TeamProxy* tl_proxy = nullptr;
struct ProxyReaper {
  ~ProxyReaper() {
    delete tl_proxy;
    tl_proxy = nullptr;
  }
};
#endif

void detail::run_team(int nt, TeamFn fn, void* ctx) {
#ifdef LSTMCORE_HAVE_OPENMP
  if (tl_stale_pool && omp_get_level() == 0) {
    if (!tl_proxy) {
      static thread_local ProxyReaper reaper;
      (void)reaper;
      tl_proxy = new TeamProxy();
    }
    tl_proxy->run(nt, fn, ctx);
    return;
  }
  if (std::exception_ptr err = team_direct(nt, fn, ctx)) std::rethrow_exception(err);
#else
  (void)nt;
  fn(ctx, 0, 1);
#endif
}

#ifdef LSTMCORE_HAVE_ATFORK
// Runs in the child, on the thread that called fork() (the child's only thread): only
// stores to plain thread-locals and an atomic, nothing that allocates or could wait on a
// lock another thread held (the thread count is initialised below, at load, not here).
static void on_fork_child() {
  thread_setting().store(1, std::memory_order_relaxed);
#ifdef LSTMCORE_HAVE_OPENMP
  tl_stale_pool = true;
  tl_proxy = nullptr;  // a proxy started before this fork has no thread here: leaked
#endif
}
[[maybe_unused]] static const bool g_atfork_registered =
    (thread_setting(), pthread_atfork(nullptr, nullptr, &on_fork_child) == 0);
#endif

double fma_throughput(int nt, double seconds) {
  const KernelTable& t = kt();
  const double flops_per_iter = 24.0 * t.width;
  // Calibrate the round count on one thread (~10 ms), then time all threads together.
  long iters = 1 << 16;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    volatile float sink = t.fma_probe(iters);
    (void)sink;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > 0.01 || iters > (1L << 40)) {
      iters = std::max(1L, (long)(iters * seconds / s));
      break;
    }
    iters *= 4;
  }
  int team = 1;
  const auto t0 = std::chrono::steady_clock::now();
  parallel_team(std::max(1, nt), [&](int tid, int n) {
    volatile float sink = t.fma_probe(iters);
    (void)sink;
    if (tid == 0) team = n;
  });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return flops_per_iter * (double)iters * team / s / 1e9;
}

// ---- Buffer -------------------------------------------------------------------------------
static constexpr size_t kAlign = 64;

Buffer::Buffer(Buffer&& o) noexcept : data(o.data), size(o.size), capacity(o.capacity) {
  o.data = nullptr;
  o.size = o.capacity = 0;
}
Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    ::operator delete[](data, std::align_val_t(kAlign));
    data = o.data;
    size = o.size;
    capacity = o.capacity;
    o.data = nullptr;
    o.size = o.capacity = 0;
  }
  return *this;
}
Buffer::~Buffer() {
  if (data) ::operator delete[](data, std::align_val_t(kAlign));
}
float* Buffer::resize(size_t n) {
  if (n > capacity) {
    // A count whose byte size would wrap around (an unchecked product upstream) is refused
    // rather than turned into a small allocation; checked_elems stays below this limit.
    if (n > static_cast<size_t>(kMaxElements)) throw std::bad_array_new_length();
    float* fresh =
        static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t(kAlign)));
    if (data) ::operator delete[](data, std::align_val_t(kAlign));
    data = fresh;
    capacity = n;
  }
  size = n;
  return data;
}
float* Buffer::resize_zero(size_t n) {
  resize(n);
  if (n) std::memset(data, 0, n * sizeof(float));
  return data;
}

}  // namespace lstmcore
