// gru.cpp — GRU forward and backward through time over whole sequences (Keras 3 layout; the
// formulas are in gru.h).
//
// The structure is the LSTM's (lstm.cpp): one GEMM projects every timestep, x (B*T, I) . W ->
// gates (B, T, 3H); per step the recurrent GEMM writes h_{t-1} U into a (B, 3H) scratch and
// the gate math (the SIMD activation kernels on each gate block, elementwise mixing) writes h
// and leaves the activated gates in place for backward. Threads split the loop by batch rows
// or by NR-aligned chunks of the units (recurrent.h's plan for 3 gate blocks): every output
// element has one writer, so results are bit-identical for any thread count.
//
// reset_after (Keras 3's default) needs one recurrent GEMM a step, whole U. Without it the
// candidate's product (r * h_{t-1}) U_h depends on r: two GEMMs a step (U_zr, then U_h), and
// with the units split a second barrier between them. Backward mirrors this: reset_after, one
// GEMM dz_h U^T a step, where dz_h = [daz, dar, dah * r] is the recurrent side's gradient
// (dz = [daz, dar, dah] the input side's); else dah U_h^T, then [daz, dar] U_zr^T (two
// barriers). Weight gradients are single GEMMs over all B*T rows afterwards.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "kernels/checked.h"
#include "kernels/gru.h"
#include "kernels/recurrent.h"

namespace lstmcore {

void gru_forward(GruState& s, const float* x, const float* W, const float* U, const float* bias,
                 const float* h0, long B, long T, long I, long H, int act, int ract,
                 bool reset_after, bool go_backwards, const float* rmask, bool for_backward,
                 const float* tmask) {
  const long G = checked_mul(3, H, "GRU gates (3H)");
  const size_t n_btg = checked_elems({B, T, G}, "GRU gates (B, T, 3H)");
  const size_t n_bth = checked_elems({B, T, H}, "GRU states (B, T, H)");
  checked_elems({B, T, I}, "GRU input (B, T, I)");
  const size_t n_bh = checked_elems({B, H}, "GRU state (B, H)");
  const size_t n_bg = checked_elems({B, G}, "GRU recurrent product (B, 3H)");
  checked_elems({I + H, G}, "GRU kernels (I + H, 3H)");
  s.B = B; s.T = T; s.I = I; s.H = H;
  s.act = act; s.ract = ract; s.reset_after = reset_after; s.go_backwards = go_backwards;
  s.for_backward = for_backward;
  float* gates = s.gates.resize(n_btg);
  float* rec = s.rec.resize(n_bg);
  float* rh = s.rh.resize(n_bth);
  float* h = s.h.resize(n_bth);
  float* sh0 = initial_state(s.h0, h0, n_bh);
  x = s.x = processing_input(s.xrev, x, B, T, I, go_backwards);
  const RecurrentDropout rd = recurrent_dropout(s.rmask, s.hm, s.h0m, rmask, sh0, n_bh, n_bth);
  const float* rm = rd.rm;
  float* hm = rd.hm;
  float* h0m = rd.h0m;
  const float* tm = processing_mask(s.tmask, tmask, B, T, go_backwards);
  const KernelTable& t = kt();
  const TeamPlan plan = plan_team(B, T, H, 3);
  // The input and recurrent biases (3H each); a missing one reads zeros (x + 0 == x), so the
  // loops below have no branch.
  float* zeros = s.zeros.resize(size_t(G));
  std::memset(zeros, 0, sizeof(float) * G);
  const float* bin = bias ? bias : zeros;
  const float* brec = bias && reset_after ? bias + G : zeros;
  // Split by rows, the gate math of a step runs on all of a thread's rows at once, gate-major
  // in scratch (3, rows, H) (a few activation calls on full vectors rather than three per row,
  // most lanes empty for small H); split by units, per row on the thread's units. Both do the
  // same operations on each element.
  float* scr = plan.by_rows ? s.scr.resize(checked_elems({B, 3 * H}, "GRU scratch")) : nullptr;

  const bool project_in_team = plan.by_rows && plan.nt > 1;
  if (!project_in_team) sgemm(false, false, B * T, G, I, 1.0f, x, I, W, G, 0.0f, gates, G);
  const bool u_inplace = u_in_place(plan, B, T);
  const long NZ = reset_after ? G : 2 * H;  // columns of the first recurrent product
  if (!u_inplace) {
    if (plan.by_rows) {
      s.u_gate[0].pack(false, H, NZ, U, G);
      if (!reset_after) s.u_gate[1].pack(false, H, H, U + 2 * H, G);
    } else {
      for (int g = 0; g < 3; ++g) s.u_gate[g].pack(false, H, H, U + g * H, G);
    }
  }
  const bool zero_h0 = h0 == nullptr;
  auto begin = [&](int, const Share& sh) {
    const long nb = sh.b1 - sh.b0;
    if (project_in_team && nb > 0)
      sgemm(false, false, nb * T, G, I, 1.0f, x + sh.b0 * T * I, I, W, G, 0.0f,
            gates + sh.b0 * T * G, G, 1);
  };
  // rec[rows, gate blocks [g0, g1), own units] = 0 (the product of a zero initial state)
  auto zero_rec = [&](const Share& sh, int g0, int g1) {
    for (long b = sh.b0; b < sh.b1; ++b)
      for (int g = g0; g < g1; ++g)
        std::memset(rec + b * G + g * H + sh.j0, 0, sizeof(float) * (sh.j1 - sh.j0));
  };
  recurrent_team(plan, B, H, T, false, begin, [&](const Share& sh, long st, const StepSync& sync) {
      const long nb = sh.b1 - sh.b0, j0 = sh.j0, j1 = sh.j1, n = j1 - j0;
      const bool work = j0 < j1 && nb > 0;
      const long ld_hp = st == 0 ? H : T * H;
      const float* hp = (st == 0 ? sh0 : h + (st - 1) * H) + sh.b0 * ld_hp;  // h_{t-1}
      const float* hpm = rm ? (st == 0 ? h0m : hm + (st - 1) * H) + sh.b0 * ld_hp : hp;
      float* gs = gates + sh.b0 * T * G + st * G;
      float* rc = rec + sh.b0 * G;
      const long o0 = sh.b0 * T * H + st * H;  // row b0, step st of h, rh
      const bool skip = st == 0 && zero_h0;
      // the first product: h U (reset_after) or h U_zr, into rec
      if (work) {
        if (skip) {
          zero_rec(sh, 0, reset_after ? 3 : 2);
        } else if (u_inplace) {
          sgemm_inplace(nb, NZ, H, 1.0f, hpm, ld_hp, U, G, 0.0f, rc, G);
        } else if (plan.by_rows) {
          sgemm_packed(nb, 0, s.u_gate[0].panels(), 1.0f, false, hpm, ld_hp, s.u_gate[0], 0.0f,
                       rc, G);
        } else {
          const PackedB* ub[3] = {&s.u_gate[0], &s.u_gate[1], &s.u_gate[2]};
          float* cs[3] = {rc, rc + H, rc + 2 * H};
          sgemm_packed_multi(nb, sh.p0, sh.p1, 1.0f, false, hpm, ld_hp, ub, reset_after ? 3 : 2,
                             0.0f, cs, G);
        }
        if (plan.by_rows) {  // all units of the thread's rows: gate-major scratch
          float* sz = scr + sh.b0 * G;  // z then r: (2, nb, H) adjacent
          float* sr = sz + nb * H;
          for (long b = 0; b < nb; ++b) {
            const float* g = gs + b * T * G;
            const float* r = rc + b * G;
            for (long j = 0; j < H; ++j) {
              sz[b * H + j] = (g[j] + bin[j]) + (r[j] + brec[j]);
              sr[b * H + j] = (g[H + j] + bin[H + j]) + (r[H + j] + brec[H + j]);
            }
          }
          t.act_forward(ract, sz, sz, 2 * nb * H);
          if (!reset_after)  // the candidate's operand r * h_{t-1}
            for (long b = 0; b < nb; ++b) {
              float* o = rh + o0 + b * T * H;
              const float* hq = hpm + b * ld_hp;
              for (long j = 0; j < H; ++j) o[j] = sr[b * H + j] * hq[j];
            }
        } else {
          for (long b = 0; b < nb; ++b) {
            float* g = gs + b * T * G;
            const float* r = rc + b * G;
            for (int q = 0; q < 2; ++q) {
              float* gq = g + q * H;
              const float* rq = r + q * H;
              const float* bi = bin + q * H;
              const float* br = brec + q * H;
              for (long j = j0; j < j1; ++j) gq[j] = (gq[j] + bi[j]) + (rq[j] + br[j]);
              t.act_forward(ract, gq + j0, gq + j0, n);
            }
            if (!reset_after) {  // the candidate's operand r * h_{t-1}
              float* o = rh + o0 + b * T * H;
              const float* gr = g + H;
              const float* hq = hpm + b * ld_hp;
              for (long j = j0; j < j1; ++j) o[j] = gr[j] * hq[j];
            }
          }
        }
      }
      if (!reset_after) {
        sync();  // the product (r * h_{t-1}) U_h reads every thread's units
        if (work) {
          const float* a = rh + sh.b0 * T * H + st * H;
          if (skip) zero_rec(sh, 2, 3);
          else if (u_inplace)
            sgemm_inplace(nb, H, H, 1.0f, a, T * H, U + 2 * H, G, 0.0f, rc + 2 * H, G);
          else if (plan.by_rows)
            sgemm_packed(nb, 0, s.u_gate[1].panels(), 1.0f, false, a, T * H, s.u_gate[1], 0.0f,
                         rc + 2 * H, G);
          else
            sgemm_packed(nb, sh.p0, sh.p1, 1.0f, false, a, T * H, s.u_gate[2], 0.0f, rc + 2 * H,
                         G);
        }
      }
      if (work) {
        // the candidate and the new state
        if (plan.by_rows) {
          float* sz = scr + sh.b0 * G;
          const float* sr = sz + nb * H;
          float* shh = sz + 2 * nb * H;
          for (long b = 0; b < nb; ++b) {
            const float* g = gs + b * T * G;
            const float* r = rc + b * G + 2 * H;
            float* rq = rh + o0 + b * T * H;
            if (reset_after) {
              for (long j = 0; j < H; ++j) {
                rq[j] = r[j] + brec[2 * H + j];
                shh[b * H + j] = (g[2 * H + j] + bin[2 * H + j]) + sr[b * H + j] * rq[j];
              }
            } else {
              for (long j = 0; j < H; ++j) shh[b * H + j] = (g[2 * H + j] + bin[2 * H + j]) + r[j];
            }
          }
          t.act_forward(act, shh, shh, nb * H);
          for (long b = 0; b < nb; ++b) {
            float* g = gs + b * T * G;
            const float* hq = hp + b * ld_hp;
            float* ho = h + o0 + b * T * H;
            const float *z = sz + b * H, *r = sr + b * H, *hh = shh + b * H;
            for (long j = 0; j < H; ++j) ho[j] = z[j] * hq[j] + (1.0f - z[j]) * hh[j];
            if (for_backward) {  // the activated gates, for backward
              std::memcpy(g, z, sizeof(float) * H);
              std::memcpy(g + H, r, sizeof(float) * H);
              std::memcpy(g + 2 * H, hh, sizeof(float) * H);
            }
          }
        } else {
          for (long b = 0; b < nb; ++b) {
            float* g = gs + b * T * G;
            const float* gz = g;
            const float* gr = g + H;
            float* gh = g + 2 * H;
            const float* r = rc + b * G + 2 * H;
            const float* bi = bin + 2 * H;
            float* rq = rh + o0 + b * T * H;
            if (reset_after) {
              const float* br = brec + 2 * H;
              for (long j = j0; j < j1; ++j) {
                rq[j] = r[j] + br[j];
                gh[j] = (gh[j] + bi[j]) + gr[j] * rq[j];
              }
            } else {
              for (long j = j0; j < j1; ++j) gh[j] = (gh[j] + bi[j]) + r[j];
            }
            t.act_forward(act, gh + j0, gh + j0, n);
            const float* hq = hp + b * ld_hp;
            float* ho = h + o0 + b * T * H;
            for (long j = j0; j < j1; ++j) ho[j] = gz[j] * hq[j] + (1.0f - gz[j]) * gh[j];
          }
        }
        if (tm) carry_skipped(tm, T, H, st, sh.b0, sh.b1, j0, j1, h, sh0);
        if (rm)
          for (long b = sh.b0; b < sh.b1; ++b)
            for (long j = j0; j < j1; ++j) {
              const long o = (b * T + st) * H;
              hm[o + j] = h[o + j] * rm[b * H + j];
            }
      }
      sync();  // the next step reads every thread's h_t
  });
}

void gru_backward(GruState& s, float* dx, float* dW, float* dU, float* db, float* dh0,
                  const float* dy, bool dy_seq, const float* dhT, const float* W, const float* U) {
  if (!s.for_backward)
    throw std::logic_error("gru_backward after an inference pass (nothing was kept for it)");
  const long B = s.B, T = s.T, I = s.I, H = s.H, G = 3 * H;
  const size_t n_bh = size_t(B) * H;
  const int act = s.act, ract = s.ract;
  const bool reset_after = s.reset_after;
  float* gates = s.gates.data;
  const float* h = s.h.data;
  const float* rh = s.rh.data;
  float* dzh = reset_after ? s.dzh.resize(size_t(B) * T * G) : nullptr;
  float* dh = s.dh.resize(n_bh);    // recurrent part of dL/dh_t
  float* dht = s.dhs.resize(n_bh);  // total dL/dh_t of this step
  float* dhz = s.dhz.resize(n_bh);  // the direct part of dL/dh_{t-1} (through z * h_{t-1})
  float* dzs = s.dzs.resize(n_bh);
  float* tmp = s.tmp.resize(n_bh);
  float* drh = reset_after ? nullptr : s.drh.resize(n_bh);
  if (dhT) std::memcpy(dh, dhT, sizeof(float) * n_bh);
  else std::memset(dh, 0, sizeof(float) * n_bh);
  if (dy && !dy_seq)
    for (size_t i = 0; i < n_bh; ++i) dh[i] += dy[i];
  const KernelTable& t = kt();
  const TeamPlan plan = plan_team(B, T, H, 3);
  const bool u_inplace = u_in_place(plan, B, T);
  if (!u_inplace) {
    if (reset_after) {
      s.u_t.pack(true, G, H, U, G);  // op(B) = U^T (3H, H)
    } else {
      s.u_t.pack(true, 2 * H, H, U, G);          // U_zr^T (2H, H)
      s.u_t2.pack(true, H, H, U + 2 * H, G);     // U_h^T (H, H)
    }
  }
  // split by rows: a thread's rows' activated gates and their gradients, gate-major (as forward)
  float* bscr = plan.by_rows ? s.bscr.resize(checked_elems({B, 6 * H}, "GRU backward scratch"))
                             : nullptr;
  const float* rm = s.rmask.size ? s.rmask.data : nullptr;
  const float* hin = rm ? s.hm.data : h;  // what the recurrent GEMMs read, per step
  const float* h0in = rm ? s.h0m.data : s.h0.data;
  const float* tm = s.tmask.size ? s.tmask.data : nullptr;
  float* held = tm ? s.held.resize(n_bh) : nullptr;
  auto begin = [](int, const Share&) {};
  recurrent_team(plan, B, H, T, true, begin, [&](const Share& sh, long st, const StepSync& sync) {
      const long j0 = sh.j0, j1 = sh.j1, n = j1 - j0;
      const long nb = sh.b1 - sh.b0;
      const bool work = j0 < j1 && nb > 0;
      float* gs = gates + sh.b0 * T * G + st * G;
      const long ld_hp = st == 0 ? H : T * H;
      const float* hp = (st == 0 ? s.h0.data : h + (st - 1) * H) + sh.b0 * ld_hp;
      const float* hpm = (st == 0 ? h0in : hin + (st - 1) * H) + sh.b0 * ld_hp;
      const long o0 = sh.b0 * T * H + st * H;
      if (work && plan.by_rows) {  // all units of the thread's rows, gate-major (forward)
        float* Y = bscr + sh.b0 * 2 * G;  // activated z, r, hh: (3, nb, H)
        float* D = Y + nb * G;            // their gradients, then dz: (3, nb, H)
        const long m = nb * H;
        for (long b = 0; b < nb; ++b) {
          const long bb = sh.b0 + b;
          const float* g = gs + b * T * G;
          const float* hq = hp + b * ld_hp;
          float* d = dht + bb * H;
          const float* r = dh + bb * H;
          if (dy && dy_seq) {
            const float* yg = dy + (bb * T + st) * H;
            for (long j = 0; j < H; ++j) d[j] = r[j] + yg[j];
          } else {
            for (long j = 0; j < H; ++j) d[j] = r[j];
          }
          if (tm) hold_skipped(tm, T, H, st, bb, bb + 1, 0, H, dht, held);
          float* dd = dhz + bb * H;
          for (long j = 0; j < H; ++j) {
            const float z = g[j], hh = g[2 * H + j];
            Y[b * H + j] = z;
            Y[m + b * H + j] = g[H + j];
            Y[2 * m + b * H + j] = hh;
            dd[j] = d[j] * z;
            D[b * H + j] = d[j] * (hq[j] - hh);
            D[2 * m + b * H + j] = d[j] * (1.0f - z);
          }
        }
        t.act_backward(act, D + 2 * m, Y + 2 * m, D + 2 * m, m);  // dah
        if (reset_after) {
          for (long b = 0; b < nb; ++b) {
            const float* rq = rh + o0 + b * T * H;
            for (long j = 0; j < H; ++j) D[m + b * H + j] = D[2 * m + b * H + j] * rq[j];  // dr
          }
          t.act_backward(ract, D, Y, D, 2 * m);  // daz, dar
          for (long b = 0; b < nb; ++b) {
            float* g = gs + b * T * G;
            float* e = dzh + ((sh.b0 + b) * T + st) * G;
            for (long j = 0; j < H; ++j) {
              const float daz = D[b * H + j], dar = D[m + b * H + j], dah = D[2 * m + b * H + j];
              g[j] = daz; g[H + j] = dar; g[2 * H + j] = dah;
              e[j] = daz; e[H + j] = dar; e[2 * H + j] = dah * Y[m + b * H + j];
            }
          }
        } else {
          t.act_backward(ract, D, Y, D, m);  // daz
          for (long b = 0; b < nb; ++b) {
            float* g = gs + b * T * G;
            for (long j = 0; j < H; ++j) {
              g[j] = D[b * H + j];
              g[2 * H + j] = D[2 * m + b * H + j];
            }
          }
        }
      } else if (work) {
        for (long b = 0; b < nb; ++b) {
          const long bb = sh.b0 + b;
          float* g = gs + b * T * G;
          float* gz = g;
          float* gh = g + 2 * H;
          const float* hq = hp + b * ld_hp;
          float* d = dht + bb * H;
          const float* r = dh + bb * H;
          if (dy && dy_seq) {
            const float* yg = dy + (bb * T + st) * H;
            for (long j = j0; j < j1; ++j) d[j] = r[j] + yg[j];
          } else {
            for (long j = j0; j < j1; ++j) d[j] = r[j];
          }
          if (tm) hold_skipped(tm, T, H, st, bb, bb + 1, j0, j1, dht, held);
          float* dz_ = dzs + bb * H;
          float* dhh = tmp + bb * H;
          float* dd = dhz + bb * H;
          for (long j = j0; j < j1; ++j) {
            dd[j] = d[j] * gz[j];
            dz_[j] = d[j] * (hq[j] - gh[j]);
            dhh[j] = d[j] * (1.0f - gz[j]);
          }
          t.act_backward(act, gh + j0, gh + j0, dhh + j0, n);   // dah
          t.act_backward(ract, gz + j0, gz + j0, dz_ + j0, n);  // daz
          if (reset_after) {
            float* gr = g + H;
            const float* rq = rh + o0 + b * T * H;
            float* e = dzh + (bb * T + st) * G;
            for (long j = j0; j < j1; ++j) {
              e[j] = gz[j];                 // daz
              e[2 * H + j] = gh[j] * gr[j];  // dah * r
              dhh[j] = gh[j] * rq[j];       // dr
            }
            t.act_backward(ract, gr + j0, gr + j0, dhh + j0, n);  // dar
            for (long j = j0; j < j1; ++j) e[H + j] = gr[j];
          }
        }
      }
      sync();  // the products below read every thread's units of this step's dz
      if (!reset_after) {
        // d(r * h_{t-1}) = dah U_h^T; then dar, and h_{t-1}'s share through r * h_{t-1}
        if (work) {
          if (u_inplace)
            t.gemm_abt(nb, H, H, gs + 2 * H, T * G, U + 2 * H, G, 0.0f, drh + sh.b0 * H, H);
          else
            sgemm_packed(nb, sh.p0, sh.p1, 1.0f, false, gs + 2 * H, T * G, s.u_t2, 0.0f,
                         drh + sh.b0 * H, H);
          if (plan.by_rows) {
            const float* Yr = bscr + sh.b0 * 2 * G + nb * H;
            float* Dr = bscr + sh.b0 * 2 * G + nb * G + nb * H;
            for (long b = 0; b < nb; ++b) {
              const long bb = sh.b0 + b;
              const float* e = drh + bb * H;
              const float* hq = hpm + b * ld_hp;
              float* dd = dhz + bb * H;
              for (long j = 0; j < H; ++j) {
                dd[j] += e[j] * Yr[b * H + j] * (rm ? rm[bb * H + j] : 1.0f);
                Dr[b * H + j] = e[j] * hq[j];
              }
            }
            t.act_backward(ract, Dr, Yr, Dr, nb * H);  // dar
            for (long b = 0; b < nb; ++b)
              std::memcpy(gs + b * T * G + H, Dr + b * H, sizeof(float) * H);
          } else {
            for (long b = 0; b < nb; ++b) {
              const long bb = sh.b0 + b;
              float* gr = gs + b * T * G + H;
              const float* e = drh + bb * H;
              const float* hq = hpm + b * ld_hp;
              float* dd = dhz + bb * H;
              float* dr = tmp + bb * H;
              for (long j = j0; j < j1; ++j) {
                dd[j] += e[j] * gr[j] * (rm ? rm[bb * H + j] : 1.0f);
                dr[j] = e[j] * hq[j];
              }
              t.act_backward(ract, gr + j0, gr + j0, dr + j0, n);  // dar
            }
          }
        }
        sync();  // [daz, dar] U_zr^T reads every thread's units of dar
      }
      // dh_{t-1} = (dz_h U^T) * mask + z * dh_t (own units: no second barrier, as LSTM)
      if (work) {
        const float* a = reset_after ? dzh + sh.b0 * T * G + st * G : gs;
        const long K = reset_after ? G : 2 * H;
        if (u_inplace)
          t.gemm_abt(nb, H, K, a, T * G, U, G, 0.0f, dh + sh.b0 * H, H);
        else
          sgemm_packed(nb, sh.p0, sh.p1, 1.0f, false, a, T * G, s.u_t, 0.0f, dh + sh.b0 * H, H);
        for (long b = sh.b0; b < sh.b1; ++b)
          for (long j = j0; j < j1; ++j) {
            float v = dh[b * H + j];
            if (rm) v *= rm[b * H + j];
            dh[b * H + j] = v + dhz[b * H + j];
          }
        if (tm) pass_skipped(tm, T, H, st, sh.b0, sh.b1, j0, j1, dh, held);
      }
  });
  if (dh0) std::memcpy(dh0, dh, sizeof(float) * n_bh);

  const long BT = B * T;
  if (dW) sgemm(true, false, I, G, BT, 1.0f, s.x, I, gates, G, 1.0f, dW, G);
  if (db) colsum_add(db, gates, BT, G, G);
  if (reset_after) {
    if (db) colsum_add(db + G, dzh, BT, G, G);
    if (dU) add_prev_state_grad(dU, G, hin, h0in, dzh, G, B, T, H, G, s.corr);
  } else if (dU) {
    add_prev_state_grad(dU, G, hin, h0in, gates, G, B, T, H, 2 * H, s.corr);
    sgemm(true, false, H, H, BT, 1.0f, rh, H, gates + 2 * H, G, 1.0f, dU + 2 * H, G);
  }
  if (dx) {
    float* dxe = dx;
    if (s.go_backwards) dxe = s.dx_rev.resize(checked_elems({B, T, I}, "GRU dx (B, T, I)"));
    sgemm(false, true, BT, I, G, 1.0f, gates, G, W, G, 0.0f, dxe, I);
    if (s.go_backwards) reverse_time(dx, dxe, B, T, I);
  }
}

}  // namespace lstmcore
