// lstm_gates.inl — LSTM gate kernels: per row, and several rows per vector for small layers.
// Part of microkernels.inl (see there): included inside an ISA namespace; includes nothing.

// ----------------------------------------------------------------------------------------
// lstm_gates_fwd_row: gate nonlinearity for one batch row and units [j0, j1).
//   g      (4H)  in: preactivations x_t.W + h_{t-1}.U (blocks i|f|c|o), bias not yet added;
//                out: activated gates i, f, g, o (saved for backward)
//   bias   (4H)  or null
//   c_prev (H)   in
//   c, tc, h (H) out: c = f*c_prev + i*g, tc = act(c), h = o*tc
//   tc == null (inference): neither tc nor the activated gates are stored (nothing will run
//   backward), which saves 5 of the 7 stores per unit.
static void lstm_gates_fwd_row(float* g, const float* bias, const float* c_prev, float* c,
                               float* tc, float* h, long H, long j0, long j1, int act,
                               int ract) {
  float* gi = g;
  float* gf = g + H;
  float* gg = g + 2 * H;
  float* go = g + 3 * H;
  const float* bi = bias;
  const float* bf = bias ? bias + H : nullptr;
  const float* bg = bias ? bias + 2 * H : nullptr;
  const float* bo = bias ? bias + 3 * H : nullptr;
  long j = j0;
  for (; j < j1; j += W) {
    long n = j1 - j < W ? j1 - j : W;
    bool full = n == W;
    V zi = full ? vload(gi + j) : vload_n(gi + j, n);
    V zf = full ? vload(gf + j) : vload_n(gf + j, n);
    V zg = full ? vload(gg + j) : vload_n(gg + j, n);
    V zo = full ? vload(go + j) : vload_n(go + j, n);
    if (bias) {
      zi = vadd(zi, full ? vload(bi + j) : vload_n(bi + j, n));
      zf = vadd(zf, full ? vload(bf + j) : vload_n(bf + j, n));
      zg = vadd(zg, full ? vload(bg + j) : vload_n(bg + j, n));
      zo = vadd(zo, full ? vload(bo + j) : vload_n(bo + j, n));
    }
    V vi = vact(ract, zi), vf = vact(ract, zf), vg = vact(act, zg), vo = vact(ract, zo);
    V cp = full ? vload(c_prev + j) : vload_n(c_prev + j, n);
    V vc = vadd(vmul(vf, cp), vmul(vi, vg));
    V vt = vact(act, vc);
    V vh = vmul(vo, vt);
    if (full) {
      if (tc) {
        vstore(gi + j, vi); vstore(gf + j, vf); vstore(gg + j, vg); vstore(go + j, vo);
        vstore(tc + j, vt);
      }
      vstore(c + j, vc); vstore(h + j, vh);
    } else {
      if (tc) {
        vstore_n(gi + j, vi, n); vstore_n(gf + j, vf, n); vstore_n(gg + j, vg, n);
        vstore_n(go + j, vo, n); vstore_n(tc + j, vt, n);
      }
      vstore_n(c + j, vc, n); vstore_n(h + j, vh, n);
    }
  }
}

// lstm_gates_bwd_row: backward of the gate kernel for one batch row, units [j0, j1).
//   g      (4H)  in: activated gates saved by forward; out: dz, gradient of the
//                preactivations (blocks i|f|c|o), written in place
//   dc     (H)   in: dL/dc_t from step t+1 (and the final-state gradient); out: dL/dc_{t-1}
//   dh     (H)   in: dL/dh_t (output gradient plus recurrent gradient)
//   c_prev (H), tc (H) in: saved c_{t-1} and act(c_t)
static void lstm_gates_bwd_row(float* g, float* dc, const float* dh, const float* c_prev,
                               const float* tc, long H, long j0, long j1, int act, int ract) {
  float* gi = g;
  float* gf = g + H;
  float* gg = g + 2 * H;
  float* go = g + 3 * H;
  for (long j = j0; j < j1; j += W) {
    long n = j1 - j < W ? j1 - j : W;
    bool full = n == W;
    V vi = full ? vload(gi + j) : vload_n(gi + j, n);
    V vf = full ? vload(gf + j) : vload_n(gf + j, n);
    V vg = full ? vload(gg + j) : vload_n(gg + j, n);
    V vo = full ? vload(go + j) : vload_n(go + j, n);
    V vt = full ? vload(tc + j) : vload_n(tc + j, n);
    V cp = full ? vload(c_prev + j) : vload_n(c_prev + j, n);
    V vdh = full ? vload(dh + j) : vload_n(dh + j, n);
    V vdc = full ? vload(dc + j) : vload_n(dc + j, n);
    vdc = vadd(vdc, vmul(vmul(vdh, vo), vdact(act, vt)));
    V dzi = vmul(vmul(vdc, vg), vdact(ract, vi));
    V dzf = vmul(vmul(vdc, cp), vdact(ract, vf));
    V dzg = vmul(vmul(vdc, vi), vdact(act, vg));
    V dzo = vmul(vmul(vdh, vt), vdact(ract, vo));
    V dcp = vmul(vdc, vf);
    if (full) {
      vstore(gi + j, dzi); vstore(gf + j, dzf); vstore(gg + j, dzg); vstore(go + j, dzo);
      vstore(dc + j, dcp);
    } else {
      vstore_n(gi + j, dzi, n); vstore_n(gf + j, dzf, n); vstore_n(gg + j, dzg, n);
      vstore_n(go + j, dzo, n); vstore_n(dc + j, dcp, n);
    }
  }
}

// ----------------------------------------------------------------------------------------
// Small layers (2H <= W): the per-row kernels above would leave most lanes empty (H = 5 uses
// 5 of 16), so these pack R = W/H batch rows into one vector: lanes [r*H, r*H + H) hold row
// r. Rows are gathered and scattered with masked loads/stores (vload_lanes/vstore_lanes); the
// arithmetic is the same vector code as above, lane for lane, so results are bit-identical to
// the per-row kernels.
static inline V gather_rows(const float* p, long ld, long H, long nr) {
  V z = vzero();
  for (long r = 0; r < nr; ++r) z = vload_lanes(z, p + r * ld, r * H, H);
  return z;
}
static inline void scatter_rows(float* p, long ld, long H, long nr, V v) {
  for (long r = 0; r < nr; ++r) vstore_lanes(p + r * ld, v, r * H, H);
}

// lstm_gates_fwd_rows: lstm_gates_fwd_row for `rows` batch rows and all H units.
//   g row b at g + b*ldg (4H); c_prev row b at c_prev + b*ld_cp; c, tc, h row b at + b*ld_o
static void lstm_gates_fwd_rows(float* g, long ldg, const float* bias, const float* c_prev,
                                long ld_cp, float* c, float* tc, float* h, long ld_o, long H,
                                long rows, int act, int ract) {
  const long R = W / H;
  V vb[4];
  for (int q = 0; q < 4; ++q) vb[q] = bias ? gather_rows(bias + q * H, 0, H, R) : vzero();
  for (long b0 = 0; b0 < rows; b0 += R) {
    const long nr = rows - b0 < R ? rows - b0 : R;
    float* gb = g + b0 * ldg;
    V z[4];
    for (int q = 0; q < 4; ++q) {
      z[q] = gather_rows(gb + q * H, ldg, H, nr);
      if (bias) z[q] = vadd(z[q], vb[q]);
    }
    V vi = vact(ract, z[0]), vf = vact(ract, z[1]), vg = vact(act, z[2]), vo = vact(ract, z[3]);
    V cp = gather_rows(c_prev + b0 * ld_cp, ld_cp, H, nr);
    V vc = vadd(vmul(vf, cp), vmul(vi, vg));
    V vt = vact(act, vc);
    V vh = vmul(vo, vt);
    if (tc) {  // null at inference, as in lstm_gates_fwd_row
      scatter_rows(gb, ldg, H, nr, vi);
      scatter_rows(gb + H, ldg, H, nr, vf);
      scatter_rows(gb + 2 * H, ldg, H, nr, vg);
      scatter_rows(gb + 3 * H, ldg, H, nr, vo);
      scatter_rows(tc + b0 * ld_o, ld_o, H, nr, vt);
    }
    scatter_rows(c + b0 * ld_o, ld_o, H, nr, vc);
    scatter_rows(h + b0 * ld_o, ld_o, H, nr, vh);
  }
}

// lstm_gates_bwd_rows: lstm_gates_bwd_row for `rows` batch rows and all H units.
//   g row b at g + b*ldg; dc, dh row b at + b*H; c_prev at + b*ld_cp; tc at + b*ld_o
static void lstm_gates_bwd_rows(float* g, long ldg, float* dc, const float* dh,
                                const float* c_prev, long ld_cp, const float* tc, long ld_o,
                                long H, long rows, int act, int ract) {
  const long R = W / H;
  for (long b0 = 0; b0 < rows; b0 += R) {
    const long nr = rows - b0 < R ? rows - b0 : R;
    float* gb = g + b0 * ldg;
    V vi = gather_rows(gb, ldg, H, nr), vf = gather_rows(gb + H, ldg, H, nr);
    V vg = gather_rows(gb + 2 * H, ldg, H, nr), vo = gather_rows(gb + 3 * H, ldg, H, nr);
    V vt = gather_rows(tc + b0 * ld_o, ld_o, H, nr);
    V cp = gather_rows(c_prev + b0 * ld_cp, ld_cp, H, nr);
    V vdh = gather_rows(dh + b0 * H, H, H, nr);
    V vdc = gather_rows(dc + b0 * H, H, H, nr);
    vdc = vadd(vdc, vmul(vmul(vdh, vo), vdact(act, vt)));
    V dzi = vmul(vmul(vdc, vg), vdact(ract, vi));
    V dzf = vmul(vmul(vdc, cp), vdact(ract, vf));
    V dzg = vmul(vmul(vdc, vi), vdact(act, vg));
    V dzo = vmul(vmul(vdh, vt), vdact(ract, vo));
    scatter_rows(gb, ldg, H, nr, dzi);
    scatter_rows(gb + H, ldg, H, nr, dzf);
    scatter_rows(gb + 2 * H, ldg, H, nr, dzg);
    scatter_rows(gb + 3 * H, ldg, H, nr, dzo);
    scatter_rows(dc + b0 * H, H, H, nr, vmul(vdc, vf));
  }
}
