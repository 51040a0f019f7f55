// test_kernels.cpp — native test driver of the kernels, built with
// -DLSTMCORE_BUILD_NATIVE_TESTS=ON and run by ctest (and under ASan/UBSan in CI).
//
// For every SIMD level this CPU supports: SGEMM against sgemm_naive on tail-hitting shapes
// with transposes and leading dimensions; sigmoid/tanh against <cmath>; LSTM forward against
// a double-precision loop; LSTM backward against central finite differences of the forward
// pass; GRU (both reset_after variants) and SimpleRNN backward against finite differences of
// their forward pass, both thread splits, masks and go_backwards; a few Network training steps; cooperative interruption of every driver and split;
// the thread cap; size checks; teams in a forked child. Exits non-zero on any failure.
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/checked.h"
#include "kernels/gru.h"
#include "kernels/kernels.h"
#include "model/network.h"

#ifdef LSTMCORE_HAVE_OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <sys/wait.h>
#include <unistd.h>
#define TEST_HAVE_FORK 1
#endif

using namespace lstmcore;

static int failures = 0;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                   \
      std::fprintf(stderr, "\n");                          \
      ++failures;                                          \
    }                                                      \
  } while (0)

static std::vector<float> randv(size_t n, std::mt19937& g, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

static void test_gemm(std::mt19937& g) {
  const long sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 33, 65};
  for (long M : sizes)
    for (long N : {1L, 9L, 17L, 33L})
      for (long K : {1L, 8L, 17L, 300L})
        for (int ta = 0; ta < 2; ++ta)
          for (int tb = 0; tb < 2; ++tb) {
            const long lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
            auto A = randv((ta ? K : M) * lda, g), B = randv((tb ? N : K) * ldb, g);
            auto C = randv(M * ldc, g), R = C;
            sgemm(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 0.25f, C.data(), ldc);
            sgemm_naive(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 0.25f, R.data(), ldc);
            double worst = 0;
            for (long i = 0; i < M; ++i)
              for (long j = 0; j < N; ++j)
                worst = std::max(worst, (double)std::fabs(C[i * ldc + j] - R[i * ldc + j]) /
                                            (1.0 + std::fabs(R[i * ldc + j])));
            CHECK(worst < 1e-5 * std::sqrt((double)K) + 1e-6, "%s gemm M=%ld N=%ld K=%ld ta=%d tb=%d err=%g",
                  kt().name, M, N, K, ta, tb, worst);
          }
}

static void test_activations() {
  std::vector<float> x;
  for (int i = -300000; i <= 300000; ++i) x.push_back(i * 1e-4f);
  x.push_back(INFINITY);
  x.push_back(-INFINITY);
  std::vector<float> y(x.size());
  activation_forward(ACT_SIGMOID, y.data(), x.data(), 1, (long)x.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(y[i] - 1.0 / (1.0 + std::exp(-(double)x[i]))));
  CHECK(worst <= 2e-7, "%s sigmoid max abs err %g", kt().name, worst);
  activation_forward(ACT_TANH, y.data(), x.data(), 1, (long)x.size());
  worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(y[i] - std::tanh((double)x[i])));
  CHECK(worst <= 2e-7, "%s tanh max abs err %g", kt().name, worst);
}

// double-precision LSTM forward: returns sum(h_t * dy_t) over all steps
static double lstm_ref_objective(const std::vector<float>& x, const std::vector<double>& W,
                                 const std::vector<double>& U, const std::vector<double>& b,
                                 const std::vector<float>& dy, long B, long T, long I, long H,
                                 std::vector<double>* hs_out) {
  const long G = 4 * H;
  double obj = 0;
  if (hs_out) hs_out->assign(B * T * H, 0.0);
  for (long bb = 0; bb < B; ++bb) {
    std::vector<double> h(H, 0.0), c(H, 0.0), z(G);
    for (long t = 0; t < T; ++t) {
      for (long j = 0; j < G; ++j) {
        double s = b[j];
        for (long i = 0; i < I; ++i) s += x[(bb * T + t) * I + i] * W[i * G + j];
        for (long k = 0; k < H; ++k) s += h[k] * U[k * G + j];
        z[j] = s;
      }
      for (long j = 0; j < H; ++j) {
        double ig = 1 / (1 + std::exp(-z[j])), fg = 1 / (1 + std::exp(-z[H + j]));
        double gg = std::tanh(z[2 * H + j]), og = 1 / (1 + std::exp(-z[3 * H + j]));
        c[j] = fg * c[j] + ig * gg;
        h[j] = og * std::tanh(c[j]);
        obj += h[j] * dy[(bb * T + t) * H + j];
        if (hs_out) (*hs_out)[(bb * T + t) * H + j] = h[j];
      }
    }
  }
  return obj;
}

static void test_lstm(std::mt19937& g) {
  struct Shape { long B, T, I, H; };
  for (Shape s : {Shape{1, 1, 1, 1}, Shape{2, 3, 5, 7}, Shape{3, 4, 2, 17}, Shape{2, 2, 9, 33}}) {
    const long G = 4 * s.H;
    auto x = randv(s.B * s.T * s.I, g), W = randv(s.I * G, g, 0.4f), U = randv(s.H * G, g, 0.4f);
    auto b = randv(G, g, 0.1f), dy = randv(s.B * s.T * s.H, g);
    std::vector<double> Wd(W.begin(), W.end()), Ud(U.begin(), U.end()), bd(b.begin(), b.end()), hs;
    lstm_ref_objective(x, Wd, Ud, bd, dy, s.B, s.T, s.I, s.H, &hs);
    LstmState st;
    lstm_forward(st, x.data(), W.data(), U.data(), b.data(), nullptr, nullptr, s.B, s.T, s.I, s.H,
                 ACT_TANH, ACT_SIGMOID, false);
    double worst = 0;
    for (long i = 0; i < s.B * s.T * s.H; ++i) worst = std::max(worst, std::fabs(st.h.data[i] - hs[i]));
    CHECK(worst < 2e-6, "%s lstm forward B=%ld T=%ld I=%ld H=%ld err %g", kt().name, s.B, s.T, s.I, s.H, worst);
    std::vector<float> dW(s.I * G, 0.0f), dU(s.H * G, 0.0f), db(G, 0.0f), dx(s.B * s.T * s.I);
    lstm_backward(st, dx.data(), dW.data(), dU.data(), db.data(), nullptr, nullptr, dy.data(), true,
                  nullptr, nullptr, W.data(), U.data());
    // central differences in double on a few entries of each gradient
    const double h = 1e-6;
    auto fd = [&](std::vector<double>& p, long i) {
      double keep = p[i];
      p[i] = keep + h;
      double a = lstm_ref_objective(x, Wd, Ud, bd, dy, s.B, s.T, s.I, s.H, nullptr);
      p[i] = keep - h;
      double c = lstm_ref_objective(x, Wd, Ud, bd, dy, s.B, s.T, s.I, s.H, nullptr);
      p[i] = keep;
      return (a - c) / (2 * h);
    };
    for (long i = 0; i < std::min<long>(s.I * G, 12); ++i) {
      double r = fd(Wd, i * 7 % (s.I * G));
      CHECK(std::fabs(dW[i * 7 % (s.I * G)] - r) < 1e-4 * (1 + std::fabs(r)), "%s dW mismatch %g vs %g", kt().name, dW[i * 7 % (s.I * G)], r);
    }
    for (long i = 0; i < std::min<long>(s.H * G, 12); ++i) {
      long k = i * 5 % (s.H * G);
      double r = fd(Ud, k);
      CHECK(std::fabs(dU[k] - r) < 1e-4 * (1 + std::fabs(r)), "%s dU[%ld] mismatch %g vs %g", kt().name, k, dU[k], r);
    }
    for (long i = 0; i < std::min<long>(G, 8); ++i) {
      double r = fd(bd, i);
      CHECK(std::fabs(db[i] - r) < 1e-4 * (1 + std::fabs(r)), "%s db mismatch %g vs %g", kt().name, db[i], r);
    }
  }
}

// GRU and SimpleRNN: backward against central differences of the (float) forward pass of the
// objective sum(h * dy) + sum(h_T * dhT), on shapes that take each split and the in-place
// recurrent kernel, with a recurrent mask, an initial state and go_backwards.
static void test_gru_rnn(std::mt19937& g) {
  struct Case { long B, T, I, H; int threads; };
  const int prev = num_threads();
  for (Case c : {Case{1, 1, 1, 1, 1}, Case{1, 2, 3, 5, 1}, Case{3, 4, 2, 17, 2}, Case{8, 20, 3, 24, 2},
                 Case{16, 2, 3, 257, 2}}) {
    set_num_threads(std::min(c.threads, max_num_threads()));
    for (int cell = 0; cell < 3; ++cell) {  // GRU reset_after, GRU reset before, SimpleRNN
      const bool gru = cell < 2, reset_after = cell == 0;
      const long G = gru ? 3 * c.H : c.H, nbias = reset_after ? 2 * G : G;
      // U ~ N(0, 0.8 / sqrt(H)): a contracting recurrence, so that the central differences of a
      // 20-step forward pass are accurate enough for the tolerance
      const float us = 0.8f / std::sqrt(float(c.H));
      auto x = randv(c.B * c.T * c.I, g), W = randv(c.I * G, g, 0.4f), U = randv(c.H * G, g, us);
      auto b = randv(nbias, g, 0.2f), h0 = randv(c.B * c.H, g, 0.5f), dy = randv(c.B * c.T * c.H, g);
      std::vector<float> rmask(c.B * c.H);
      for (size_t i = 0; i < rmask.size(); ++i) rmask[i] = i % 3 ? 1.25f : 0.0f;
      GruState gs;
      SimpleRnnState ss;
      auto run = [&](bool for_backward) {
        if (gru)
          gru_forward(gs, x.data(), W.data(), U.data(), b.data(), h0.data(), c.B, c.T, c.I, c.H,
                      ACT_TANH, ACT_SIGMOID, reset_after, true, rmask.data(), for_backward);
        else
          simple_rnn_forward(ss, x.data(), W.data(), U.data(), b.data(), h0.data(), c.B, c.T, c.I,
                             c.H, ACT_TANH, true, rmask.data(), for_backward);
        const float* h = gru ? gs.h.data : ss.h.data;
        double o = 0;
        for (long i = 0; i < c.B * c.T * c.H; ++i) o += double(h[i]) * dy[i];
        return o;
      };
      run(true);
      std::vector<float> dW(c.I * G, 0.0f), dU(c.H * G, 0.0f), db(nbias, 0.0f), dx(c.B * c.T * c.I);
      std::vector<float> dh0(c.B * c.H);
      if (gru)
        gru_backward(gs, dx.data(), dW.data(), dU.data(), db.data(), dh0.data(), dy.data(), true,
                     nullptr, W.data(), U.data());
      else
        simple_rnn_backward(ss, dx.data(), dW.data(), dU.data(), db.data(), dh0.data(), dy.data(),
                            true, nullptr, W.data(), U.data());
      const char* name = gru ? (reset_after ? "gru" : "gru(reset_after=false)") : "simple_rnn";
      auto check = [&](std::vector<float>& p, const std::vector<float>& grad, const char* what) {
        for (long k = 0; k < std::min<long>((long)p.size(), 6); ++k) {
          const long i = (k * 7919) % (long)p.size();
          const float keep = p[i], eps = 1e-2f;
          p[i] = keep + eps;
          const double up = run(false);
          p[i] = keep - eps;
          const double down = run(false);
          p[i] = keep;
          const double fd = (up - down) / (2.0 * eps);
          CHECK(std::fabs(fd - grad[i]) <= 5e-3 + 2e-2 * std::fabs(fd),
                "%s %s B=%ld T=%ld I=%ld H=%ld %s[%ld]: %g vs finite difference %g", kt().name,
                name, c.B, c.T, c.I, c.H, what, i, grad[i], fd);
        }
      };
      check(W, dW, "dW");
      check(U, dU, "dU");
      check(b, db, "db");
      check(x, dx, "dx");
      check(h0, dh0, "dh0");
    }
  }
  set_num_threads(prev);
  // sizes that wrap around are refused before anything is written
  GruState gs;
  const float dummy[4] = {0, 0, 0, 0};
  bool threw = false;
  try {
    gru_forward(gs, dummy, dummy, dummy, nullptr, nullptr, 1, 1, 1, LONG_MAX / 2, ACT_TANH,
                ACT_SIGMOID, true, false);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw && gs.B == 0, "gru_forward: 3H overflow not refused");
}

// Parameters by name for the registry (shapes are the caller's business here).
struct NamedParams : LayerParams {
  std::map<std::string, float*> p;
  NamedParams(std::initializer_list<std::pair<const std::string, float*>> l) : p(l) {}
  float* take(const std::string& name, const std::vector<long>&, bool optional) override {
    auto it = p.find(name);
    if (it != p.end()) return it->second;
    if (!optional) throw std::invalid_argument("missing parameter " + name);
    return nullptr;
  }
};

static void test_network(std::mt19937& g) {
  const long B = 8, T = 5, I = 3, H = 6;
  auto W = randv(I * 4 * H, g, 0.3f), U = randv(H * 4 * H, g, 0.3f), b = randv(4 * H, g, 0.1f);
  auto Wd = randv(H, g, 0.3f), bd = randv(1, g, 0.1f);
  Network net;
  LayerConfig lc("lstm"), dc("dense");
  lc.set("units", H);
  lc.set("input_dim", I);
  dc.set("units", 1L);
  dc.set("input_dim", H);
  NamedParams lp{{"kernel", W.data()}, {"recurrent_kernel", U.data()}, {"bias", b.data()}};
  NamedParams dp{{"kernel", Wd.data()}, {"bias", bd.data()}};
  net.add(make_layer(lc, lp));
  net.add(make_layer(dc, dp));
  net.set_loss(LOSS_MSE);
  OptimizerConfig oc;
  oc.kind = OPT_ADAM;
  oc.lr = 0.01f;
  net.set_optimizer(oc);
  auto x = randv(B * T * I, g), y = randv(B, g, 0.5f);
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    StepStats st;
    bool ok = net.train_step(x.data(), Dims{B, T, I, true}, y.data(), st, 1);
    CHECK(ok, "network train step returned a non-finite loss");
    if (step == 0) first = st.loss / B;
    last = st.loss / B;
  }
  CHECK(last < first * 0.5, "%s network did not learn: %g -> %g", kt().name, first, last);
  // set_learning_rate changes the rate only: the step count, slots and kind are kept, and a
  // rate that is not positive and finite in float32 is refused, changing nothing.
  Optimizer& opt = net.optimizer();
  const int64_t it = opt.iterations;
  const float m0 = net.optimizer_slots()[0]->data[0];
  opt.set_learning_rate(0.001);
  CHECK(opt.iterations == it && opt.config().lr == 0.001 && opt.config().kind == OPT_ADAM &&
        net.optimizer_slots()[0]->data[0] == m0, "set_learning_rate changed more than lr");
  for (double bad : {0.0, -1.0, 1e39, std::nan("")}) {
    bool refused = false;
    try {
      opt.set_learning_rate(bad);
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    CHECK(refused && opt.config().lr == 0.001, "set_learning_rate(%g) was not refused", bad);
  }
}

// The drivers called from inside the caller's own parallel region: nested teams get one
// thread there, and the work split by the actual team size must still cover every output
// (thin and square GEMM splits, and an LSTM forward big enough to be split by units).
static void test_nested_parallel(std::mt19937& g) {
#ifdef LSTMCORE_HAVE_OPENMP
  const int prev = num_threads();
  set_num_threads(2);
  const long shapes[][3] = {{300, 300, 300}, {1000, 40, 300}, {30, 700, 600}};
  for (const auto& sh : shapes) {
    const long M = sh[0], N = sh[1], K = sh[2];
    auto A = randv(M * K, g), B = randv(K * N, g);
    std::vector<float> R(M * N, 0.0f);
    sgemm_naive(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, R.data(), N);
    double worst[2] = {0, 0};
#pragma omp parallel num_threads(2)
    {
      std::vector<float> C(M * N, std::nanf(""));
      sgemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N, 2);
      double w = 0;
      for (long i = 0; i < M * N; ++i) {
        const double e = std::fabs(C[i] - R[i]) / (1.0 + std::fabs(R[i]));
        w = e == e ? std::max(w, e) : 1e30;  // NaN: an output nobody wrote
      }
      worst[omp_get_thread_num() % 2] = w;
    }
    CHECK(std::max(worst[0], worst[1]) < 1e-5 * std::sqrt((double)K) + 1e-6,
          "%s nested gemm %ldx%ldx%ld err=%g", kt().name, M, N, K, std::max(worst[0], worst[1]));
  }
  // LSTM: B=64, H=256 is split by units (8 B H^2 above 4 MFLOP a step).
  const long Bn = 64, Tn = 3, In = 4, Hn = 256, Gn = 4 * Hn;
  auto x = randv(Bn * Tn * In, g), W = randv(In * Gn, g, 0.1f), U = randv(Hn * Gn, g, 0.05f);
  LstmState serial;
  lstm_forward(serial, x.data(), W.data(), U.data(), nullptr, nullptr, nullptr, Bn, Tn, In, Hn,
               ACT_TANH, ACT_SIGMOID, false);
  bool same = true;
#pragma omp parallel num_threads(2)
  {
    LstmState nested;
    lstm_forward(nested, x.data(), W.data(), U.data(), nullptr, nullptr, nullptr, Bn, Tn, In, Hn,
                 ACT_TANH, ACT_SIGMOID, false);
    for (long i = 0; i < Bn * Tn * Hn; ++i)
      if (!(nested.h.data[i] == serial.h.data[i])) {
#pragma omp atomic write
        same = false;
        break;
      }
  }
  CHECK(same, "%s nested lstm_forward differs from the serial call", kt().name);
  set_num_threads(prev);
#else
  (void)g;
#endif
}

// ---- cooperative interruption -------------------------------------------------------------
// A poller that says "stop" from its (fire_after + 1)-th call on, and records whether it was
// ever called from a thread other than the one that installed it (only that one may call it).
struct CountingPoller {
  long calls = 0;
  long fire_after = LONG_MAX;
  std::thread::id owner = std::this_thread::get_id();
  bool wrong_thread = false;
  static bool poll(void* ctx) {
    auto* p = static_cast<CountingPoller*>(ctx);
    if (std::this_thread::get_id() != p->owner) p->wrong_thread = true;
    return ++p->calls > p->fire_after;
  }
};

// Runs `work` under a scope that never fires (counting the checks, N), checks it against a
// run without a scope (bit-identical), then under a scope firing after k calls for k in
// [0, N): each must throw Interrupted; and k = N must not. The poll period is 0 here, so
// every check calls the poller and N is exact. `prepare` runs before each `work`, unscoped.
template <class Prepare, class Work, class Same>
static void check_interruptible(const char* what, Prepare prepare, Work work,
                                Same same_as_unscoped) {
  prepare();
  work();  // no scope: the reference
  CountingPoller never;
  prepare();
  {
    InterruptScope scope(&CountingPoller::poll, &never);
    work();
  }
  CHECK(same_as_unscoped(), "%s %s: a scope that never fires changed the results", kt().name, what);
  CHECK(!never.wrong_thread, "%s %s: poller called off its thread", kt().name, what);
  CHECK(never.calls > 0, "%s %s: never checked for interruption", kt().name, what);
  const long n = never.calls;
  if (std::getenv("LSTMCORE_TEST_VERBOSE"))
    std::printf("  %s %s: %ld checks\n", kt().name, what, n);
  const long step = std::max(1L, n / 12);  // every k near both ends, a sample in between
  for (long k = 0; k <= n; k += (k < 3 || k > n - 3) ? 1 : step) {
    CountingPoller p;
    p.fire_after = k;
    bool threw = false;
    prepare();
    try {
      InterruptScope scope(&CountingPoller::poll, &p);
      work();
    } catch (const Interrupted&) {
      threw = true;
    }
    CHECK(threw == (k < n), "%s %s: poller firing after %ld of %ld calls: %s", kt().name, what, k,
          n, threw ? "interrupted" : "ran to the end");
    CHECK(!p.wrong_thread, "%s %s: poller called off its thread", kt().name, what);
    CHECK(p.calls <= k + 1, "%s %s: poller called %ld times after it fired", kt().name, what,
          p.calls - k - 1);
  }
}

static void test_interrupt(std::mt19937& g) {
  const int prev = num_threads();
  set_interrupt_poll_period_ns(0);
  CHECK(!interruption_requested(), "interruption_requested() without a scope");
  {  // scopes nest; the innermost is polled, the outer one comes back when it ends
    CountingPoller outer, inner;
    outer.fire_after = 0;
    InterruptScope a(&CountingPoller::poll, &outer);
    {
      InterruptScope b(&CountingPoller::poll, &inner);
      CHECK(!interruption_requested(), "inner scope not polled");
    }
    CHECK(interruption_requested() && interruption_requested(),
          "outer scope not restored / not sticky");
    CHECK(outer.calls == 1 && inner.calls == 1, "scopes polled %ld / %ld times", outer.calls,
          inner.calls);
  }
  CHECK(!interruption_requested(), "scope still installed after its end");

  struct Shape { long B, T, I, H; const char* split; };
  // rows: B H (8H + 64) T above 1 MFLOP, H < 256; units: 8 B H^2 >= 4 MFLOP and H >= 256.
  const Shape shapes[] = {{8, 40, 4, 32, "rows"}, {64, 12, 4, 256, "units"}};
  for (int nt : {1, 2}) {
    set_num_threads(nt);
    for (const Shape& s : shapes) {
      const long G = 4 * s.H;
      auto x = randv(s.B * s.T * s.I, g), W = randv(s.I * G, g, 0.3f), U = randv(s.H * G, g, 0.05f);
      auto b = randv(G, g, 0.1f), dy = randv(s.B * s.T * s.H, g);
      LstmState st;
      std::vector<float> h_ref, c_ref, h_out, c_out;
      std::string what = std::string("lstm_forward ") + s.split + " nt=" + std::to_string(nt);
      bool first = true;
      check_interruptible(what.c_str(), [] {}, [&] {
        lstm_forward(st, x.data(), W.data(), U.data(), b.data(), nullptr, nullptr, s.B, s.T, s.I,
                     s.H, ACT_TANH, ACT_SIGMOID, false);
        auto& ho = first ? h_ref : h_out;
        auto& co = first ? c_ref : c_out;
        ho.assign(st.h.data, st.h.data + st.h.size);
        co.assign(st.c.data, st.c.data + st.c.size);
        first = false;
      }, [&] { return h_ref == h_out && c_ref == c_out; });
      std::vector<float> grads_ref, grads;
      first = true;
      what = std::string("lstm_backward ") + s.split + " nt=" + std::to_string(nt);
      auto forward = [&] {  // backward overwrites the saved gates: a fresh pass each time
        lstm_forward(st, x.data(), W.data(), U.data(), b.data(), nullptr, nullptr, s.B, s.T, s.I,
                     s.H, ACT_TANH, ACT_SIGMOID, false);
      };
      check_interruptible(what.c_str(), forward, [&] {
        std::vector<float> dW(s.I * G, 0.0f), dU(s.H * G, 0.0f), db(G, 0.0f);
        std::vector<float> dx(s.B * s.T * s.I), dh0(s.B * s.H), dc0(s.B * s.H);
        lstm_backward(st, dx.data(), dW.data(), dU.data(), db.data(), dh0.data(), dc0.data(),
                      dy.data(), true, nullptr, nullptr, W.data(), U.data());
        auto& out = first ? grads_ref : grads;
        out.clear();
        for (auto* v : {&dW, &dU, &db, &dx, &dh0, &dc0})
          out.insert(out.end(), v->begin(), v->end());
        first = false;
      }, [&] { return grads_ref == grads; });
    }
    // sgemm: each split (shared blocks with barriers, thin rows, thin columns)
    const long gshapes[][3] = {{600, 600, 600}, {1000, 40, 300}, {30, 700, 600}};
    for (const auto& sh : gshapes) {
      const long M = sh[0], N = sh[1], K = sh[2];
      auto A = randv(M * K, g), Bm = randv(K * N, g);
      std::vector<float> C(M * N), C_ref;
      bool first = true;
      std::string what = "sgemm " + std::to_string(M) + "x" + std::to_string(N) + "x" +
                         std::to_string(K) + " nt=" + std::to_string(nt);
      check_interruptible(what.c_str(), [] {}, [&] {
        sgemm(false, false, M, N, K, 1.0f, A.data(), K, Bm.data(), N, 0.0f, C.data(), N);
        if (first) C_ref = C;
        first = false;
      }, [&] { return C == C_ref; });
    }
  }
  set_interrupt_poll_period_ns(10'000'000);
  set_num_threads(prev);
}

// ---- the thread cap and checked sizes -----------------------------------------------------
static void test_limits() {
  const int prev = num_threads(), cap = max_num_threads();
  CHECK(cap >= 8 && cap <= 512, "max_num_threads() = %d", cap);
  CHECK(default_num_threads() >= 1 && default_num_threads() <= cap, "default above the cap");
  for (int bad : {0, -3, cap + 1, 5000, INT_MAX}) {
    bool threw = false;
    try {
      set_num_threads(bad);
    } catch (const std::invalid_argument& e) {
      threw = std::strstr(e.what(), ("received n=" + std::to_string(bad)).c_str()) != nullptr &&
              std::strstr(e.what(), ("between 1 and " + std::to_string(cap)).c_str()) != nullptr;
    }
    CHECK(threw, "set_num_threads(%d) was not refused with the expected message", bad);
    CHECK(num_threads() == prev, "set_num_threads(%d) changed the count", bad);
  }
  set_num_threads(cap);  // accepted (no team is opened here)
  CHECK(num_threads() == (have_openmp() ? cap : 1), "set_num_threads(cap)");
  set_num_threads(prev);

  auto throws_invalid = [](auto f) {
    try {
      f();
    } catch (const std::invalid_argument&) {
      return true;
    }
    return false;
  };
  // products that wrap around are refused before anything is read or written
  LstmState st;
  const float dummy[4] = {0, 0, 0, 0};
  CHECK(throws_invalid([&] {
          lstm_forward(st, dummy, dummy, dummy, nullptr, nullptr, nullptr, 1L << 40, 1L << 30, 1,
                       1, ACT_TANH, ACT_SIGMOID, false);
        }), "lstm_forward: B*T*4H overflow not refused");
  CHECK(throws_invalid([&] {
          lstm_forward(st, dummy, dummy, dummy, nullptr, nullptr, nullptr, 1, 1, 1,
                       LONG_MAX / 2, ACT_TANH, ACT_SIGMOID, false);
        }), "lstm_forward: 4H overflow not refused");
  CHECK(throws_invalid([&] {
          lstm_forward(st, dummy, dummy, dummy, nullptr, nullptr, nullptr, 1, 1, 1L << 62, 1,
                       ACT_TANH, ACT_SIGMOID, false);
        }), "lstm_forward: B*T*I overflow not refused");
  CHECK(st.B == 0 && st.gates.size == 0, "a refused lstm_forward changed its state");
  PackedB pb;
  CHECK(throws_invalid([&] { pb.pack(false, 1L << 40, 1L << 40, dummy, 1); }),
        "PackedB: K*N overflow not refused");
  CHECK(throws_invalid([&] { pb.pack(false, 1, LONG_MAX, dummy, 1); }),
        "PackedB: N rounded up to panels overflows, not refused");
  CHECK(pb.K == 0 && pb.N == 0, "a refused pack changed the PackedB");
  Buffer buf;
  bool bad_alloc = false;
  try {
    buf.resize(SIZE_MAX / 2);  // bytes would wrap around: refused before any allocation
  } catch (const std::bad_alloc&) {
    bad_alloc = true;
  }
  CHECK(bad_alloc && buf.data == nullptr && buf.capacity == 0, "Buffer::resize(SIZE_MAX/2)");
}

// ---- teams in a forked child ----------------------------------------------------------------
// libgomp's pool does not survive fork(): the child must run serially until it asks for
// threads, then its teams must work (through the proxy thread) and give the same bits; an
// interruption must still reach a team run by the proxy; a grandchild forked after the proxy
// was used must work too. A hang fails through alarm().
#if defined(TEST_HAVE_FORK) && defined(LSTMCORE_HAVE_OPENMP)
static int child_status(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

static void test_fork(std::mt19937& g) {
  const int prev = num_threads();
  set_num_threads(2);
  const long M = 300, N = 300, K = 300;
  auto A = randv(M * K, g), Bm = randv(K * N, g);
  std::vector<float> C_par(M * N), C(M * N);
  sgemm(false, false, M, N, K, 1.0f, A.data(), K, Bm.data(), N, 0.0f, C_par.data(), N);
  const long Bn = 64, Tn = 6, In = 4, Hn = 256, Gn = 4 * Hn;  // units split: a barrier a step
  auto x = randv(Bn * Tn * In, g), W = randv(In * Gn, g, 0.1f), U = randv(Hn * Gn, g, 0.05f);
  LstmState par;
  lstm_forward(par, x.data(), W.data(), U.data(), nullptr, nullptr, nullptr, Bn, Tn, In, Hn,
               ACT_TANH, ACT_SIGMOID, false);
  const std::vector<float> h_par(par.h.data, par.h.data + par.h.size);
  std::fflush(stdout);
  std::fflush(stderr);

  auto same_work = [&]() -> int {  // 0: both drivers give the parent's bits
    std::fill(C.begin(), C.end(), 0.0f);
    sgemm(false, false, M, N, K, 1.0f, A.data(), K, Bm.data(), N, 0.0f, C.data(), N);
    if (C != C_par) return 1;
    LstmState st;
    lstm_forward(st, x.data(), W.data(), U.data(), nullptr, nullptr, nullptr, Bn, Tn, In, Hn,
                 ACT_TANH, ACT_SIGMOID, false);
    return std::vector<float>(st.h.data, st.h.data + st.h.size) == h_par ? 0 : 2;
  };
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(60);
    int rc = 0;
    if (num_threads() != 1) rc = 10;
    if (!rc && same_work()) rc = 11;  // serially
    set_num_threads(2);
    if (!rc && same_work()) rc = 12;  // teams through the proxy
    if (!rc && same_work()) rc = 13;  // again: the proxy is reused
    if (!rc) {  // an interruption reaches a team the proxy runs: the waiting caller polls
      set_interrupt_poll_period_ns(0);
      CountingPoller p;
      p.fire_after = 0;
      bool threw = false;
      try {
        InterruptScope scope(&CountingPoller::poll, &p);
        LstmState st;
        for (int i = 0; i < 1000 && !threw; ++i)
          lstm_forward(st, x.data(), W.data(), U.data(), nullptr, nullptr, nullptr, Bn, Tn, In,
                       Hn, ACT_TANH, ACT_SIGMOID, false);
      } catch (const Interrupted&) {
        threw = true;
      }
      set_interrupt_poll_period_ns(10'000'000);
      if (!threw || p.wrong_thread) rc = 14;
    }
    if (!rc) {  // a grandchild, forked after the proxy ran teams
      std::fflush(stdout);
      const pid_t gpid = fork();
      if (gpid == 0) {
        alarm(60);
        int grc = num_threads() == 1 ? 0 : 20;
        if (!grc && same_work()) grc = 21;
        set_num_threads(2);
        if (!grc && same_work()) grc = 22;
        _exit(grc);
      }
      rc = child_status(gpid);
    }
    if (!rc && same_work()) rc = 15;  // the child's own proxy still works
    _exit(rc);
  }
  const int rc = child_status(pid);
  CHECK(rc == 0, "%s forked child failed with status %d (10s: child, 20s: grandchild, 142: hung)",
        kt().name, rc);
  CHECK(num_threads() == 2 && same_work() == 0, "%s the parent changed after fork", kt().name);
  set_num_threads(prev);
}
#else
static void test_fork(std::mt19937&) {}
#endif

int main() {
  std::mt19937 g(1234);
  test_limits();
  for (const std::string& level : supported_levels()) {
    set_simd_level(level);
    test_gemm(g);
    test_activations();
    test_lstm(g);
    test_gru_rnn(g);
    test_network(g);
    test_nested_parallel(g);
    test_interrupt(g);
    test_fork(g);
    std::printf("%s: %s\n", level.c_str(), failures ? "FAILED" : "ok");
  }
  if (failures) {
    std::printf("%d passed, %d failed\n", 0, failures);
    return 1;
  }
  std::printf("native kernel tests: all SIMD levels passed\n");
  return 0;
}
