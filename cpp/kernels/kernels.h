// kernels.h — the portable drivers' interface (float32, row-major, batch-major).
//
// Sizes: B batch, T timesteps, I input features, H units, G = 4H. A leading dimension is
// ld_<name>. Parameter gradients ACCUMULATE (+=) so that zeroing is one memset.
// Every driver reads the active SIMD table through kt() and parallelises with OpenMP over
// disjoint outputs only, so results are bit-identical for any thread count.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <type_traits>
#include <vector>

#include "simd/dispatch.h"

#ifdef LSTMCORE_HAVE_OPENMP
#include <omp.h>
#endif

namespace lstmcore {

// ---- threads (parallel.cpp) ---------------------------------------------------------------
bool have_openmp();
int num_threads();             // threads the drivers use
// set_num_threads: 1 <= n <= max_num_threads(), else std::invalid_argument and the count is
// unchanged (libgomp aborts the process when it cannot create a thread it was asked for).
void set_num_threads(int n);
int max_num_threads();         // the cap: min(512, max(8, 4 x processors)); see parallel.cpp
int default_num_threads();     // OMP_NUM_THREADS, else the CPUs this process may use; capped
// Threads for a job of `flops`: 1 below the threshold where fork/join costs more than it saves.
int threads_for(double flops);

// After fork() the child's copy of libgomp still believes the parent's worker threads
// exist, and its first team would wait for them forever. An at-fork handler therefore makes
// a child run serially (num_threads() == 1) until it calls set_num_threads(n > 1); from then
// on the thread that called fork() runs its teams from a proxy thread it starts in the child
// (a fresh thread gets a fresh libgomp pool). Threads created in the child use libgomp
// directly. See parallel.cpp.

namespace detail {
using TeamFn = void (*)(void* ctx, int tid, int nt);
// run_team: fn(ctx, tid, nt) on a team of up to nt threads, directly or through the forked
// child's proxy. An exception thrown by fn on any thread is carried out of the region and
// rethrown on the calling thread (a body with barriers must not throw: the others would wait).
void run_team(int nt, TeamFn fn, void* ctx);
template <class F>
void team_thunk(void* ctx, int tid, int nt) { (*static_cast<F*>(ctx))(tid, nt); }
}  // namespace detail

// parallel_team: body(tid, nt) on an OpenMP team of up to nt threads; tid is the thread's
// index and nt the team's actual size (smaller than asked inside an active parallel region,
// where nested teams get one thread), so work split by (tid, nt) is always covered. The
// team's worksharing constructs and barriers bind to it. With nt <= 1, body(0, 1) runs on
// the calling thread without entering libgomp: an `omp parallel if(false)` region still
// allocates a team and issues futex wakes (~1 us a call, more than a tiny layer's whole
// step). Inside an active parallel region a team is always opened, so orphaned `omp for`
// cannot bind to the outer team. tid 0 is the calling thread except in a forked child's
// proxy (above); code that must run on the calling thread does so outside the team.
template <class F>
inline void parallel_team(int nt, F&& body) {
#ifdef LSTMCORE_HAVE_OPENMP
  if (nt > 1 || omp_in_parallel()) {
    using Fn = std::remove_reference_t<F>;
    detail::run_team(nt > 1 ? nt : 1, &detail::team_thunk<Fn>,
                     const_cast<void*>(static_cast<const void*>(&body)));
    return;
  }
#else
  (void)nt;
#endif
  body(0, 1);
}

// ---- cooperative interruption (parallel.cpp) ----------------------------------------------
// Long native work stops at safe points when its caller asks (Ctrl-C within ~0.1 s). The
// binding installs a poller for the calling thread with an InterruptScope (in Python:
// PyErr_CheckSignals under the GIL). Drivers call interruption_requested() between
// timesteps and between GEMM blocks; it is cheap (a clock read) and calls the poller at most
// every few milliseconds. Once the poller has said stop, it stays true until the scope ends.
// A driver that sees it leaves its parallel region and throws Interrupted: the outputs of
// that call are then undefined, its inputs and the parameters are untouched.
// The poller runs only on the thread that installed the scope and should not throw (if it
// does, that counts as "stop"). Scopes nest; the innermost one of a thread is polled.
using InterruptPoller = bool (*)(void* ctx);
class InterruptScope;
namespace detail {
// The calling thread's innermost scope, or null inside any OpenMP region (a driver called
// there could not throw out of it) or when none is installed.
InterruptScope* current_scope();
// tid 0's poll inside a team: on the scope's own thread, interruption_requested(); on a
// forked child's proxy thread, what the owner (waiting for its team) has polled.
bool poll_scope(InterruptScope* s);
}  // namespace detail

class InterruptScope {
 public:
  InterruptScope(InterruptPoller poll, void* ctx);
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  friend bool interruption_requested();
  friend bool detail::poll_scope(InterruptScope* s);
  bool poll();               // on the owning thread: the clock, then maybe the poller
  InterruptPoller poll_;
  void* ctx_;
  InterruptScope* prev_;     // the scope this one hides, restored by the destructor
  int64_t next_poll_ns_;     // steady clock; the poller is not called before this
  std::atomic<bool> fired_;  // sticky; read by a forked child's proxy team (see TeamInterrupt)
};
bool interruption_requested();  // false when the calling thread installed no scope
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};
// The shortest time between two poller calls, default 10 ms (parallel.cpp says why); the
// native tests set 0 to poll at every check.
void set_interrupt_poll_period_ns(int64_t ns);

// TeamInterrupt: one driver call's view of the caller's scope, made on the calling thread
// before its team. Inside the team only tid 0 consults the scope (the poller may take the
// Python GIL, which only the calling thread may do while it waits for its own team); the other
// threads read tid 0's decision from here. After the team the calling thread calls
// throw_if_stopped(). Without a scope every check is one predictable branch.
class TeamInterrupt {
 public:
  TeamInterrupt() : scope_(detail::current_scope()) {}
  TeamInterrupt(const TeamInterrupt&) = delete;
  TeamInterrupt& operator=(const TeamInterrupt&) = delete;

  // For loops whose every iteration has a team barrier after this call: each thread calls it
  // at the top of iteration k = 0, 1, 2, ... and all threads get the same answer at the same
  // k (threads that stopped at different iterations would wait at different barriers forever).
  // tid 0 writes the decision for k+1 into the slot of k+1's parity during iteration k, before
  // that iteration's barrier; everyone reads it in iteration k+1, after the barrier. The slot
  // was last read in iteration k-1, before the barrier tid 0 has since passed.
  bool stop_at(int tid, long k) {
    if (!scope_) return false;
    if (slot_[k & 1].load(std::memory_order_acquire)) return true;
    if (tid == 0 && detail::poll_scope(scope_)) {
      slot_[(k + 1) & 1].store(true, std::memory_order_release);
      stopped_.store(true, std::memory_order_relaxed);
    }
    return false;
  }
  // For threads that never wait for each other: each asks between its blocks; tid 0 polls,
  // the others see its decision as soon as it is made.
  bool stop_now(int tid) {
    if (!scope_) return false;
    if (tid == 0 && detail::poll_scope(scope_)) stopped_.store(true, std::memory_order_relaxed);
    return stopped_.load(std::memory_order_relaxed);
  }
  // After the team, on the calling thread.
  void throw_if_stopped() const {
    if (scope_ && stopped_.load(std::memory_order_relaxed)) throw Interrupted();
  }

 private:
  InterruptScope* scope_;
  std::atomic<bool> slot_[2] = {{false}, {false}};
  std::atomic<bool> stopped_{false};
};

// fma_throughput: the FMA rate of nt threads (GFLOP/s) over about `seconds`, each thread
// running the active SIMD level's fma_probe; the measured peak that SGEMM rates compare to.
double fma_throughput(int nt, double seconds);

// ---- aligned scratch that only grows (no allocation in steady state) ----------------------
struct Buffer {
  float* data = nullptr;
  size_t size = 0;      // floats in use
  size_t capacity = 0;  // floats allocated
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  ~Buffer();
  float* resize(size_t n);         // keeps the allocation when it is big enough
  float* resize_zero(size_t n);    // resize then fill with zeros
};

// ---- GEMM (matmul.cpp) --------------------------------------------------------------------
// sgemm: C = alpha * op(A) * op(B) + beta * C, row-major.
//   op(A) (M, K): A is (M, K) with lda, or (K, M) when trans_a
//   op(B) (K, N): B is (K, N) with ldb, or (N, K) when trans_b
//   C     (M, N) with ldc; beta == 0 never reads C
// nthreads < 0: chosen from the problem size (threads_for).
void sgemm(bool trans_a, bool trans_b, long M, long N, long K, float alpha, const float* A,
           long lda, const float* B, long ldb, float beta, float* C, long ldc,
           int nthreads = -1);

// PackedB: op(B) (K, N) packed once into the micro-kernel's panel layout, for a B operand
// used many times (the recurrent kernel at every timestep).
struct PackedB {
  long K = 0, N = 0;
  int nr = 0;
  const KernelTable* table = nullptr;
  Buffer data;
  long panels() const { return (N + nr - 1) / nr; }
  void pack(bool trans_b, long K, long N, const float* B, long ldb);
};

// sgemm_packed: C[:, cols] = alpha * op(A) * B[:, cols] + beta * C[:, cols] on the calling
// thread, for the column panels [p0, p1) of a PackedB (columns p0*nr .. min(N, p1*nr)).
void sgemm_packed(long M, long p0, long p1, float alpha, bool trans_a, const float* A, long lda,
                  const PackedB& B, float beta, float* C, long ldc);
// sgemm_packed_multi: the same A against nb PackedB of equal K and N (A packed once), C[q]
// for B[q]; all C share ldc.
void sgemm_packed_multi(long M, long p0, long p1, float alpha, bool trans_a, const float* A,
                        long lda, const PackedB* const* Bs, int nb, float beta, float* const* Cs,
                        long ldc);

// sgemm_inplace: C = alpha * A * B + beta * C on the calling thread with neither operand
// packed (A and B row-major, read in place): for products used once or twice, where
// packing B would cost as much as the multiply (a one-sample step of a stateful model).
void sgemm_inplace(long M, long N, long K, float alpha, const float* A, long lda,
                   const float* B, long ldb, float beta, float* C, long ldc);

// ---- activations (activations.cpp) --------------------------------------------------------
enum Act { ACT_LINEAR = 0, ACT_SIGMOID = 1, ACT_HARD_SIGMOID = 2, ACT_HARD_SIGMOID_K2 = 3,
           ACT_TANH = 4, ACT_RELU = 5, ACT_SOFTMAX = 6 };
int act_from_name(const std::string& name);  // throws std::invalid_argument listing names
// activation_forward: y = act(x) for `rows` rows of n values (softmax per row); y may alias x.
void activation_forward(int act, float* y, const float* x, long rows, long n);
// activation_backward: dx = dL/dx from the saved output y and dy; dx may alias dy.
void activation_backward(int act, float* dx, const float* y, const float* dy, long rows, long n);

// ---- LSTM (lstm.cpp) ----------------------------------------------------------------------
// LstmState: what one forward pass keeps for its backward pass, owned and reused per shape.
struct LstmState {
  long B = 0, T = 0, I = 0, H = 0;
  int act = ACT_TANH, ract = ACT_SIGMOID;
  bool go_backwards = false;
  bool for_backward = true;  // false after an inference pass: backward is refused
  Buffer gates;   // (B, T, 4H): activated gates i|f|g|o; overwritten by dz in backward
  Buffer c, tc;   // (B, T, H): cell state and act(cell state) per step
  Buffer h;       // (B, T, H): hidden state per step = the layer's output sequence
  Buffer h0, c0;  // (B, H): initial state used
  Buffer xrev;    // (B, T, I): time-reversed input when go_backwards
  const float* x = nullptr;  // the input as seen by the time loop (x or xrev)
  PackedB u_gate[4];         // recurrent kernel packed per gate, or whole in u_gate[0]
  PackedB u_t;               // recurrent kernel transposed, for dh_{t-1} = dz_t . U^T
  Buffer dh, dc, dhs;        // (B, H) backward workspaces
  Buffer dx_rev;             // (B, T, I) when go_backwards
  Buffer corr;               // (B, H) dU correction rows
  Buffer xh;                 // (B*T, I+H+1) rows [x_k | h_{k-1} | 1] for fused weight gradients
  // recurrent dropout (Keras: h_{t-1} * mask in the recurrent product, one mask per sequence)
  Buffer rmask;              // (B, H) mask, or size 0 when off
  Buffer hm, h0m;            // (B, T, H) and (B, H): masked hidden states fed to the GEMM
  // Keras masks: (B, T) 1 = use the step, 0 = skip it (state carried through), in
  // processing order (reversed with go_backwards); size 0 when there is none.
  Buffer tmask;
  Buffer held_h, held_c;     // (B, H): dL/dh, dL/dc carried across a skipped step (backward)
};

// lstm_forward: run the whole sequence.
//   x (B, T, I); W (I, 4H); U (H, 4H); bias (4H) or null; h0, c0 (B, H) or null (zeros)
//   rmask (B, H) or null: recurrent dropout mask multiplying h_{t-1} in the recurrent GEMM
//   tmask (B, T) or null, in input time order: 0 skips step t of row b (Keras masking: h and
//   c are carried through unchanged, so the output at a skipped step is the previous one)
//   for_backward false (inference): s.gates keeps pre-activations and s.tc is not written;
//   lstm_backward must not be called on such a pass
//   results live in `s`: s.h (B, T, H) hidden states in processing order, the final state
//   is row T-1 of s.h and s.c.
void lstm_forward(LstmState& s, const float* x, const float* W, const float* U,
                  const float* bias, const float* h0, const float* c0, long B, long T, long I,
                  long H, int act, int ract, bool go_backwards, const float* rmask = nullptr,
                  bool for_backward = true, const float* tmask = nullptr);

// lstm_backward: BPTT over the sequence of the last lstm_forward on `s`.
//   dy  (B, T, H) gradient of every output (dy_seq) or (B, H) of the last output; or null
//   dhT, dcT (B, H) gradients of the final state, or null
//   dx (B, T, I) written (not accumulated) unless null; dW, dU, db accumulate (+=);
//   dh0, dc0 (B, H) written unless null. W, U as in forward. When dW, dU and db are
//   consecutive rows of one buffer (dU == dW + I*4H, db == dU + H*4H), small layers get
//   them from one GEMM.
void lstm_backward(LstmState& s, float* dx, float* dW, float* dU, float* db, float* dh0,
                   float* dc0, const float* dy, bool dy_seq, const float* dhT, const float* dcT,
                   const float* W, const float* U);

// ---- Dense (dense.cpp), on rows = N or N*T -----------------------------------------------
// dense_forward: y (rows, U) = act(x (rows, D) . W (D, U) + b)
void dense_forward(float* y, const float* x, const float* W, const float* b, long rows, long D,
                   long U, int act);
// dense_backward: dz = act'(y) * dy (in place in dy's workspace `dz`), dW += x^T dz,
// db += colsum(dz), dx = dz . W^T (written, unless null).
void dense_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* y,
                    const float* x, const float* W, long rows, long D, long U, int act);

// column sums: out[j] += sum_r a[r*lda + j], fixed order, parallel over columns
void colsum_add(float* out, const float* a, long rows, long n, long lda);

// ---- losses (losses.cpp) ------------------------------------------------------------------
enum Loss { LOSS_MSE = 0, LOSS_MAE = 1, LOSS_BCE = 2, LOSS_CCE = 3, LOSS_SCCE = 4 };
int loss_from_name(const std::string& name);
// loss_forward_backward: the Keras 3 loss (mean over elements/samples) of y_pred (rows, n)
// against y_true ((rows, n), or (rows) class indices for sparse); writes dL/dy_pred into grad
// (rows, n) unless null. Returns the loss in double precision.
double loss_forward_backward(int loss, const float* y_true, const float* y_pred, float* grad,
                             long rows, long n);

// metrics: sums over rows (caller divides) so that batches combine exactly.
// The codes are defined here once: Python reads them from _core.METRIC_CODES.
enum Metric { MET_BINARY_ACC = 0, MET_CAT_ACC = 1, MET_SPARSE_ACC = 2, MET_MSE = 3, MET_MAE = 4,
              MET_COUNT = 5 };
extern const char* const kMetricNames[MET_COUNT];  // indexed by Metric
int metric_from_name(const std::string& name);      // throws std::invalid_argument
double metric_sum(int metric, const float* y_true, const float* y_pred, long rows, long n);
// Keras sample weights and masks: row r of the loss weighs w_r (0: a masked timestep, left
// out). The loss is sum_r w_r l_r / denom (0 when denom is 0: Keras' divide_no_nan), with
// its gradient in `grad`; the metric sum is sum_r w_r m_r.
double loss_forward_backward_weighted(int loss, const float* y_true, const float* y_pred,
                                      float* grad, long rows, long n, const float* w,
                                      double denom);
double metric_sum_weighted(int metric, const float* y_true, const float* y_pred, long rows,
                           long n, const float* w);

// ---- optimizers (optimizers.cpp), in place on float32 buffers -----------------------------
// Hyper-parameters are doubles (Python floats): derived constants such as 1 - beta are formed
// in double and rounded once, as Keras does.
void sgd_update(float* w, const float* g, float* velocity, long n, double lr, double momentum,
                bool nesterov);
void adam_update(float* w, const float* g, float* m, float* v, long n, double lr, double beta_1,
                 double beta_2, double epsilon, long step);
void rmsprop_update(float* w, const float* g, float* v, long n, double lr, double rho,
                    double epsilon);

// ---- naive references (reference.cpp), for the native test driver ------------------------
void sgemm_naive(bool trans_a, bool trans_b, long M, long N, long K, float alpha,
                 const float* A, long lda, const float* B, long ldb, float beta, float* C,
                 long ldc);

}  // namespace lstmcore
