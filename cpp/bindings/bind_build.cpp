// bind_build.cpp — build information, threads, SIMD levels, the codes defined in C++, and
// the input scans (first_nonfinite, max_abs).
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
#include "model/layer.h"

#ifndef LSTMCORE_COMPILER
#define LSTMCORE_COMPILER "unknown"
#endif
#ifndef LSTMCORE_VERSION
#define LSTMCORE_VERSION "dev"  // CMake passes pyproject.toml's version (the one source)
#endif

// ---- threadpoolctl's handle on the thread count ----------------------------------------------
// threadpoolctl finds the libraries a process has loaded and drives each through C functions
// it looks up with ctypes (omp_set_num_threads for libgomp, openblas_set_num_threads...).
// lstmcore's kernels size their teams from their own setting, not from omp_set_num_threads,
// so python/lstmcore/_threadpool.py registers a controller that finds this module by these two
// exported symbols. They never throw (an exception through a ctypes call aborts the process):
// a count out of range is clamped to [1, max_num_threads()].
#if defined(_WIN32)
#define LSTMCORE_EXPORT extern "C" __declspec(dllexport)
#else
#define LSTMCORE_EXPORT extern "C" __attribute__((visibility("default")))
#endif

LSTMCORE_EXPORT int lstmcore_threadpool_get_num_threads() { return lstmcore::num_threads(); }

LSTMCORE_EXPORT void lstmcore_threadpool_set_num_threads(int n) {
  lstmcore::set_num_threads(std::min(std::max(n, 1), lstmcore::max_num_threads()));
}

namespace lstmcore {

void bind_build(py::module_& m) {
  // ---- codes defined once, in C++ ----
  py::dict metric_codes, merge_codes;
  for (int i = 0; i < MET_COUNT; ++i) metric_codes[kMetricNames[i]] = i;
  for (int i = 0; i < MERGE_COUNT; ++i) merge_codes[kMergeNames[i]] = i;
  m.attr("METRIC_CODES") = metric_codes;
  m.attr("MERGE_CODES") = merge_codes;
  m.attr("LAYER_KINDS") = layer_kinds();  // what Network.add builds (the registry)

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
}

}  // namespace lstmcore
