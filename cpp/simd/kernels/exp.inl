// exp.inl — exp (vexp, vexp_nonpos, helpers) and the buffered tails of ISAs without masks.
// Part of microkernels.inl (see there): included inside an ISA namespace; includes nothing.

// ----------------------------------------------------------------------------------------
// exp: Cephes expf. Range reduction x = n*ln2 + r with ln2 split in two, degree-6
// polynomial on |r| <= ln2/2, scale by 2^n built in the exponent bits. ~1 ulp.
// vexp_core takes x already clamped below; n * 0.693359375 is exact (n has <= 8 bits, the
// constant 9), so the first reduction step as one FMA rounds exactly like mul-then-sub.
#ifndef LSTMCORE_HAVE_VSCALE2N
static inline V vscale2n(V p, V n) { return vmul(p, vpow2i(n)); }  // p * 2^n, n integral
#endif
#ifndef LSTMCORE_HAVE_VNEGABS
static inline V vnegabs(V x) { return vsub(vzero(), vabs(x)); }     // -|x|, NaN stays NaN
#endif
static inline V vexp_core(V x) {
  x = vmax_keep(vset1(-87.33654f), x);
  V n = vround(vmul(x, vset1(1.44269504088896341f)));
  V r = vfma(n, vset1(-0.693359375f), x);
  r = vsub(r, vmul(n, vset1(-2.12194440e-4f)));
  V p = vset1(1.9875691500e-4f);
  p = vfma(p, r, vset1(1.3981999507e-3f));
  p = vfma(p, r, vset1(8.3334519073e-3f));
  p = vfma(p, r, vset1(4.1665795894e-2f));
  p = vfma(p, r, vset1(1.6666665459e-1f));
  p = vfma(p, r, vset1(5.0000001201e-1f));
  p = vfma(p, vmul(r, r), vadd(r, vset1(1.0f)));
  return vscale2n(p, n);
}
static inline V vexp(V x) { return vexp_core(vmin_keep(vset1(88.0f), x)); }
// exp of x <= 0 (or NaN): no upper clamp needed.
static inline V vexp_nonpos(V x) { return vexp_core(x); }

// ----------------------------------------------------------------------------------------
// Tails (vload_n / vstore_n, n < W values): ISA files with masked loads and stores define
// them; the others define LSTMCORE_TAIL_BUFFER and get this W-wide stack-buffer version.
// The same vector code runs on tails, so a value's result never depends on whether it sits
// in a tail.
#ifdef LSTMCORE_TAIL_BUFFER
// vload_lanes(z, p, lo, n): z with lanes [lo, lo+n) replaced by p[0..n); vstore_lanes: the
// reverse. (Masked-load ISAs define them without the buffer.)
static inline V vload_lanes(V z, const float* p, long lo, long n) {
  float buf[W];
  vstore(buf, z);
  for (long i = 0; i < n; ++i) buf[lo + i] = p[i];
  return vload(buf);
}
static inline void vstore_lanes(float* p, V v, long lo, long n) {
  float buf[W];
  vstore(buf, v);
  for (long i = 0; i < n; ++i) p[i] = buf[lo + i];
}
static inline V vload_n(const float* p, long n) {
  float buf[W];
  for (long i = 0; i < W; ++i) buf[i] = i < n ? p[i] : 0.0f;
  return vload(buf);
}
static inline void vstore_n(float* p, V v, long n) {
  float buf[W];
  vstore(buf, v);
  for (long i = 0; i < n; ++i) p[i] = buf[i];
}
#endif
