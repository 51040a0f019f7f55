// checked.h — size arithmetic that cannot overflow.
//
// Every element count that sizes a buffer or an index range is a product of dimensions that
// come from users or from files (batch, timesteps, features, units, a RepeatVector's n...).
// A product that wraps around would allocate a small buffer and then write far past it, so
// every such product goes through these helpers instead of a bare `*`. They throw
// std::invalid_argument (ValueError in Python) naming what was being sized; an honest but
// too-large size is left to the allocator (std::bad_alloc, MemoryError in Python).
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>

namespace lstmcore {

// The largest element count of one float32 buffer: its size in bytes must fit a ptrdiff_t,
// and every index (a long) into it must too.
inline constexpr long kMaxElements = std::numeric_limits<long>::max() / 8;

// checked_mul: a * b for non-negative a, b, or an error naming `what`.
inline long checked_mul(long a, long b, const char* what) {
  if (a < 0 || b < 0)
    throw std::invalid_argument(std::string("negative size while sizing ") + what + ": " +
                                std::to_string(a) + " x " + std::to_string(b));
  if (a != 0 && b > kMaxElements / a)
    throw std::invalid_argument(std::string("size overflow while sizing ") + what + ": " +
                                std::to_string(a) + " x " + std::to_string(b) +
                                " elements is more than any buffer can hold");
  return a * b;
}

// checked_add: a + b for non-negative a, b, or an error naming `what`.
inline long checked_add(long a, long b, const char* what) {
  if (a < 0 || b < 0)
    throw std::invalid_argument(std::string("negative size while sizing ") + what);
  if (b > kMaxElements - a)
    throw std::invalid_argument(std::string("size overflow while sizing ") + what + ": " +
                                std::to_string(a) + " + " + std::to_string(b));
  return a + b;
}

// checked_elems: the product of all factors as an element count (size_t), checked.
inline size_t checked_elems(std::initializer_list<long> factors, const char* what) {
  long n = 1;
  for (long f : factors) n = checked_mul(n, f, what);
  return static_cast<size_t>(n);
}

}  // namespace lstmcore
