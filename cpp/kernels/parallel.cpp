// parallel.cpp — thread count policy and the grow-only aligned Buffer.
//
// The default thread count is OMP_NUM_THREADS when set, else the number of CPUs this
// process may run on: the affinity mask and, on Linux, the cgroup CPU quota (a container
// limited to 2 CPUs on a 64-core host should not start 64 threads).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/kernels.h"

#ifdef LSTMCORE_HAVE_OPENMP
#include <omp.h>
#endif
#if defined(__linux__)
#include <sched.h>
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

int default_num_threads() {
#ifdef LSTMCORE_HAVE_OPENMP
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (env && *env) return std::max(1, omp_get_max_threads());
  int n = omp_get_num_procs();
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = std::min(n, (int)CPU_COUNT(&set));
#endif
  int quota = cgroup_cpu_limit();
  if (quota > 0) n = std::min(n, quota);
  return std::max(1, n);
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
#ifdef LSTMCORE_HAVE_OPENMP
  thread_setting().store(std::max(1, n));
#else
  (void)n;
  thread_setting().store(1);
#endif
}

// Below ~1 MFLOP a fork/join (a few microseconds) costs more than the second core saves.
int threads_for(double flops) { return flops >= 1.0e6 ? num_threads() : 1; }

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
    float* fresh = static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t(kAlign)));
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
