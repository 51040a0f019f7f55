// module.cpp — the private extension `lstmcore._core`.
//
// Only argument checks, GIL release and ownership live in cpp/bindings; every computation is
// in cpp/kernels. std::invalid_argument maps to ValueError (pybind11's default translation).
// Outputs that C++ owns (an LSTM pass's saved sequences) are handed out as NumPy views whose
// base keeps the owner alive: no copy. One file per area: bind_build.cpp (build, threads,
// codes, scans), bind_kernels.cpp (single kernels), bind_network.cpp (the executors);
// native_call.h holds what they share.
#include <pybind11/pybind11.h>

#include "bindings/native_call.h"
#include "kernels/kernels.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "lstmcore native core (private; use the lstmcore package)";
  // Select the SIMD table now so that a bad LSTMCORE_SIMD fails at import with its message.
  lstmcore::kt();
  lstmcore::bind_build(m);
  lstmcore::bind_kernels(m);
  lstmcore::bind_network(m);
}
