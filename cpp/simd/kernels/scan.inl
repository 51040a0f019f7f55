// scan.inl — scans over float arrays: first_nonfinite, max_abs.
// Part of microkernels.inl (see there): included inside an ISA namespace; includes nothing.

// ----------------------------------------------------------------------------------------
// first_nonfinite: index of the first NaN or inf among n floats, or -1. A float is NaN or
// inf exactly when its exponent bits are all ones: an integer OR-reduction over blocks of
// 256 (no float compare, no dependency chain; the compiler vectorises it at this ISA's
// width), and the exact index only inside a block that has one.
static long first_nonfinite(const float* p, long n) {
  for (long i0 = 0; i0 < n; i0 += 256) {
    const long i1 = n - i0 < 256 ? n : i0 + 256;
    unsigned bad = 0;
    for (long i = i0; i < i1; ++i) {
      unsigned bits;
      __builtin_memcpy(&bits, p + i, sizeof(bits));
      bad |= (unsigned)((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (bad)
      for (long i = i0; i < i1; ++i) {
        unsigned bits;
        __builtin_memcpy(&bits, p + i, sizeof(bits));
        if ((bits & 0x7f800000u) == 0x7f800000u) return i;
      }
  }
  return -1;
}

// ----------------------------------------------------------------------------------------
// max_abs: max |p[i]| over n floats, or +inf when any is NaN or inf, in one pass. With the
// sign bit cleared, the bits of a non-negative float order as unsigned integers exactly as
// the floats do, and every NaN or inf (exponent all ones) is at least 0x7f800000: so an
// integer max-reduction (no float compare, vectorised at this ISA's width) gives both the
// maximum and the non-finite check (the training step's gradient scan; the magnitude bound
// of the finite-update check, network.cpp).
static float max_abs(const float* p, long n) {
  unsigned m = 0;
  for (long i = 0; i < n; ++i) {
    unsigned bits;
    __builtin_memcpy(&bits, p + i, sizeof(bits));
    bits &= 0x7fffffffu;
    m = bits > m ? bits : m;
  }
  if (m >= 0x7f800000u) return __builtin_inff();
  float r;
  __builtin_memcpy(&r, &m, sizeof(r));
  return r;
}
