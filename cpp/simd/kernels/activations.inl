// activations.inl — activation codes, the vector activations and their derivatives, act_forward,
// act_backward, softmax_rows.
// Part of microkernels.inl (see there): included inside an ISA namespace; includes nothing.

// ----------------------------------------------------------------------------------------
// Activation codes (must match enum Act in cpp/kernels/kernels.h)
enum { ACT_LINEAR = 0, ACT_SIGMOID = 1, ACT_HARD_SIGMOID = 2, ACT_HARD_SIGMOID_K2 = 3,
       ACT_TANH = 4, ACT_RELU = 5, ACT_SOFTMAX = 6 };

// sigmoid(x) = 1/(1+e) for x >= 0, e/(1+e) for x < 0, with e = exp(-|x|) <= 1:
// never overflows, exact 0/1 limits at -inf/+inf (up to FLT_MIN), abs error < 1e-7.
static inline V vsigmoid(V x) {
  V e = vexp_nonpos(vnegabs(x));
  V s = vdiv(vset1(1.0f), vadd(vset1(1.0f), e));
  return vsel_lt(x, vzero(), vmul(e, s), s);
}

// tanh: odd polynomial for |x| < 0.625 (relative error < 1 ulp, fitted on [0, 0.625]),
// (1-e)/(1+e) with e = exp(-2|x|) beyond, sign restored.
static inline V vtanh(V x) {
  V ax = vabs(x);
  V x2 = vmul(x, x);
  V p = vset1(2.178023569e-03f);
  p = vfma(p, x2, vset1(-8.214971982e-03f));
  p = vfma(p, x2, vset1(2.171555348e-02f));
  p = vfma(p, x2, vset1(-5.394939706e-02f));
  p = vfma(p, x2, vset1(1.333322674e-01f));
  p = vfma(p, x2, vset1(-3.333333135e-01f));
  V small = vfma(vmul(x, x2), p, x);
  V e = vexp_nonpos(vmul(ax, vset1(-2.0f)));
  V big = vcopysign(vdiv(vsub(vset1(1.0f), e), vadd(vset1(1.0f), e)), x);
  return vsel_lt(ax, vset1(0.625f), small, big);
}

// Keras 3 hard_sigmoid: relu6(x + 3) / 6 (division, as Keras/PyTorch compute it).
static inline V vhard_sigmoid(V x) {
  V t = vmin_keep(vset1(6.0f), vmax_keep(vzero(), vadd(x, vset1(3.0f))));
  return vdiv(t, vset1(6.0f));
}
// Keras 2 hard_sigmoid: clip(0.2x + 0.5, 0, 1).
static inline V vhard_sigmoid_k2(V x) {
  V t = vadd(vmul(x, vset1(0.2f)), vset1(0.5f));
  return vmin_keep(vset1(1.0f), vmax_keep(vzero(), t));
}
static inline V vrelu(V x) { return vmax_keep(vzero(), x); }

static inline V vact(int act, V x) {
  switch (act) {
    case ACT_SIGMOID: return vsigmoid(x);
    case ACT_HARD_SIGMOID: return vhard_sigmoid(x);
    case ACT_HARD_SIGMOID_K2: return vhard_sigmoid_k2(x);
    case ACT_TANH: return vtanh(x);
    case ACT_RELU: return vrelu(x);
    default: return x;
  }
}

// Derivative expressed through the activation's OUTPUT y (saved in forward), so that the
// backward pass never recomputes exp: s(1-s), 1-t^2, the hard sigmoids' slope inside (0,1).
static inline V vdact(int act, V y) {
  switch (act) {
    case ACT_SIGMOID: return vmul(y, vsub(vset1(1.0f), y));
    case ACT_HARD_SIGMOID: return vsel_gt0in1(y, vset1(1.0f / 6.0f));
    case ACT_HARD_SIGMOID_K2: return vsel_gt0in1(y, vset1(0.2f));
    case ACT_TANH: return vsub(vset1(1.0f), vmul(y, y));
    case ACT_RELU: return vsel_gt0(y, vset1(1.0f));
    default: return vset1(1.0f);
  }
}

// ----------------------------------------------------------------------------------------
// act_forward: y = act(x) elementwise, n values; y may alias x. Softmax is row-wise below.
static void act_forward(int act, float* y, const float* x, long n) {
  if (act == ACT_LINEAR) {
    if (y != x) for (long i = 0; i < n; ++i) y[i] = x[i];
    return;
  }
  long i = 0;
  for (; i + W <= n; i += W) vstore(y + i, vact(act, vload(x + i)));
  if (i < n) vstore_n(y + i, vact(act, vload_n(x + i, n - i)), n - i);
}

// act_backward: dx = dy * act'(y), from the saved output y; dx may alias dy.
static void act_backward(int act, float* dx, const float* y, const float* dy, long n) {
  long i = 0;
  for (; i + W <= n; i += W) vstore(dx + i, vmul(vload(dy + i), vdact(act, vload(y + i))));
  if (i < n) {
    V r = vmul(vload_n(dy + i, n - i), vdact(act, vload_n(y + i, n - i)));
    vstore_n(dx + i, r, n - i);
  }
}

// softmax_rows: y[r] = exp(x[r] - max x[r]) / sum, rows of n values; fixed reduction order.
static void softmax_rows(float* y, const float* x, long rows, long n) {
  for (long r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float mx = xr[0];
    for (long i = 1; i < n; ++i) mx = xr[i] > mx ? xr[i] : mx;
    V vm = vset1(mx);
    V vs = vzero();
    long i = 0;
    for (; i + W <= n; i += W) {
      V e = vexp(vsub(vload(xr + i), vm));
      vstore(yr + i, e);
      vs = vadd(vs, e);
    }
    float buf[W];
    vstore(buf, vs);
    float s = 0.0f;
    for (long k = 0; k < W; ++k) s += buf[k];
    for (; i < n; ++i) {
      V e = vexp(vsub(vload_n(xr + i, 1), vm));
      vstore_n(yr + i, e, 1);
      s += yr[i];
    }
    float inv = 1.0f / s;
    for (long k = 0; k < n; ++k) yr[k] *= inv;
  }
}
