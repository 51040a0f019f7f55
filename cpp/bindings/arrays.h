// arrays.h — argument checks shared by every binding.
//
// Arrays we READ must be float32 with a unit stride on the last axis (rows may be strided:
// that is the GEMM's leading dimension). Arrays we WRITE (parameters, gradients, optimizer
// slots, outputs) must also be writeable and C-contiguous: an implicit converted copy would
// silently swallow an in-place update, so we never convert, we refuse with a clear message.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace lstmcore {
namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

inline std::string shape_str(const std::vector<long>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  if (v.size() == 1) s += ",";
  return s + ")";
}

// float32 in native byte order. Compared by value, not identity: an array that crossed a
// process boundary (pickled by multiprocessing, joblib or Dask) has an equal dtype object
// that is not numpy's float32 singleton.
inline bool is_native_f32(const py::dtype& dt) {
  const uint16_t one = 1;
  const char native = *reinterpret_cast<const char*>(&one) == 1 ? '<' : '>';
  const char order = dt.byteorder();
  return dt.kind() == 'f' && dt.itemsize() == 4 && (order == '=' || order == '|' || order == native);
}

inline void check_f32(const py::array& a, const char* name) {
  if (!is_native_f32(a.dtype()))
    throw std::invalid_argument(std::string("`") + name + "` must be a float32 array; received dtype " +
                                std::string(py::str(a.dtype())) + ". Convert it with np.asarray(" + name +
                                ", dtype=np.float32).");
}

inline void check_shape(const py::array& a, const char* name, const std::vector<long>& shape) {
  bool ok = a.ndim() == (py::ssize_t)shape.size();
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || a.shape(i) == shape[i];
  if (!ok)
    throw std::invalid_argument(std::string("`") + name + "` must have shape " + shape_str(shape) +
                                "; received shape " + shape_str(a));
}

// C-contiguous float32, read only.
inline const float* in_f32(const py::array& a, const char* name, const std::vector<long>& shape = {}) {
  check_f32(a, name);
  if (!shape.empty()) check_shape(a, name, shape);
  if (!(a.flags() & py::array::c_style))
    throw std::invalid_argument(std::string("`") + name +
                                "` must be C-contiguous; pass np.ascontiguousarray(" + name + ")");
  return static_cast<const float*>(a.data());
}

// C-contiguous, writeable float32.
inline float* out_f32(py::array& a, const char* name, const std::vector<long>& shape = {}) {
  check_f32(a, name);
  if (!shape.empty()) check_shape(a, name, shape);
  if (!(a.flags() & py::array::c_style))
    throw std::invalid_argument(std::string("`") + name + "` must be C-contiguous (it is written in place)");
  if (!a.writeable())
    throw std::invalid_argument(std::string("`") + name + "` must be writeable (it is written in place)");
  return static_cast<float*>(a.mutable_data());
}

// 2D float32 matrix with unit column stride; returns the leading dimension in elements.
inline long matrix_ld(const py::array& a, const char* name) {
  check_f32(a, name);
  if (a.ndim() != 2)
    throw std::invalid_argument(std::string("`") + name + "` must be 2D; received shape " + shape_str(a));
  if (a.size() == 0) return std::max<long>(1, (long)a.shape(1));  // nothing is read or written
  if (a.shape(1) > 1 && a.strides(1) != (py::ssize_t)sizeof(float))
    throw std::invalid_argument(std::string("`") + name + "` must have unit stride along its last axis");
  if (a.strides(0) % (py::ssize_t)sizeof(float) != 0 || a.strides(0) < 0)
    throw std::invalid_argument(std::string("`") + name + "` has an unsupported row stride");
  long ld = (long)(a.strides(0) / sizeof(float));
  return std::max<long>(ld, std::max<long>(1, (long)a.shape(1)));
}

}  // namespace lstmcore
