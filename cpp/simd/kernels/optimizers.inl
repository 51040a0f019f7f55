// optimizers.inl — optimizer kernels: adam_step.
// Part of microkernels.inl (see there): included inside an ISA namespace; includes nothing.

// ----------------------------------------------------------------------------------------
// adam_step: the Adam update on n values (Keras' form), constants precomputed by the caller:
//   m += (g - m) * omb1;  v += (g*g - v) * omb2;  w -= lr_t * m / (sqrt(v) + eps)
// Same operation order as the scalar reference loop in kernels/optimizers.cpp, so tails and
// full vectors round identically.
static void adam_step(float* w, const float* g, float* m, float* v, long n, float lr_t,
                      float omb1, float omb2, float eps) {
  const V vlr = vset1(lr_t), v1 = vset1(omb1), v2 = vset1(omb2), ve = vset1(eps);
  long i = 0;
  for (; i + W <= n; i += W) {
    V gi = vload(g + i);
    V mi = vadd(vload(m + i), vmul(vsub(gi, vload(m + i)), v1));
    V vi = vadd(vload(v + i), vmul(vsub(vmul(gi, gi), vload(v + i)), v2));
    vstore(m + i, mi);
    vstore(v + i, vi);
    vstore(w + i, vsub(vload(w + i), vdiv(vmul(vlr, mi), vadd(vsqrt(vi), ve))));
  }
  if (i < n) {
    const long k = n - i;
    V gi = vload_n(g + i, k), m0 = vload_n(m + i, k), v0 = vload_n(v + i, k);
    V mi = vadd(m0, vmul(vsub(gi, m0), v1));
    V vi = vadd(v0, vmul(vsub(vmul(gi, gi), v0), v2));
    vstore_n(m + i, mi, k);
    vstore_n(v + i, vi, k);
    vstore_n(w + i, vsub(vload_n(w + i, k), vdiv(vmul(vlr, mi), vadd(vsqrt(vi), ve))), k);
  }
}
