"""LSTM benchmark: lstmcore against its NumPy reference, PyTorch and Keras 3 (torch, jax).

    python benchmarks/bench_lstm.py [--quick] [--threads N] [--out benchmarks/RESULTS.md]

One run measures, with the same data, weights and thread count everywhere:

- a training step (forward + backward + Adam update of LSTM(H) + Dense(1), MSE) and an
  inference call, for the workloads in ``WORKLOADS``;
- a whole ``fit`` (LSTM(5) + Dense(1), Adam, MSE, 1000 samples, batch 32, 20 epochs);
- GFLOP/s of the large training step next to lstmcore's SGEMM and NumPy's matmul;
- the peak RSS of the large training step against the bytes backprop must keep;

then prints a markdown report (stdout) and writes it to ``benchmarks/RESULTS.md``.

Method (STYLE.md section 9): every implementation's outputs are checked against the float64
NumPy reference before anything is timed (and lstmcore's gradients too); each implementation
is warmed up; then each repeat runs every implementation once, in rotating order, so a change
in machine load hits all of them alike; a repeat is as many back-to-back calls as fill about
``--target-ms`` (one call for the large workload), after an idle pause (``--cooldown-ms``) that
lets the previous implementation's spin-waiting threads (OpenMP, OpenBLAS) fall asleep and then
untimed calls for 100 ms (at least one) that wake the implementation's own threads again, so
every implementation is timed in its steady state; the table shows the median over repeats of
the time per call. lstmcore runs in this process (whose
BLAS is held to one thread); the NumPy reference, PyTorch and each Keras backend run in their
own worker process (``_frameworks.py``), which waits blocked between commands, so thread pools
never compete. Frameworks that cannot be imported are left out. The CPU time that processes
outside the benchmark used meanwhile is reported per row ("other load").
Benchmarks never gate CI.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import select
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name: (B, T, F, H, stateful)
WORKLOADS = {
    "seed_stateful": (10, 5, 1, 2, True),
    "tiny": (32, 10, 1, 5, False),
    "small": (32, 10, 1, 32, False),
    "medium": (64, 50, 32, 128, False),
    "large": (64, 100, 256, 512, False),
    "stream": (1, 1, 8, 64, True),
}
LARGE = ("large",)
ORDER = ("lstmcore", "reference", "torch", "keras_torch", "keras_jax")
FIT = {"samples": 1000, "T": 10, "F": 1, "H": 5, "batch_size": 32, "epochs": 20}

# Goals: (label, kind, key, threshold)
TRAIN_GOALS = {"tiny": 20.0, "small": 20.0, "seed_stateful": 20.0, "medium": 1.5, "large": 1.15}
INFER_GOALS = {"stream": 10.0, "tiny": 5.0, "small": 5.0, "medium": 1.3, "large": 1.1}
SMALL_TRAIN = ("seed_stateful", "tiny", "small", "stream")
LARGE_TRAIN = ("medium", "large")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="fewer repeats, shorter warm-up; Keras whole-fit runs once, or is "
                        "estimated from one epoch when that would take too long")
    p.add_argument("--threads", type=int, default=2, help="threads for every implementation")
    p.add_argument("--repeats", type=int, default=None,
                   help="repeats per row (default 10, large workload 3; --quick: 3)")
    p.add_argument("--target-ms", type=float, default=None,
                   help="length of one repeat, in ms of back-to-back calls (default 40; quick 15)")
    p.add_argument("--cooldown-ms", type=float, default=None,
                   help="idle pause before each timed block, so the previous implementation's "
                        "spinning threads (OpenMP, OpenBLAS) go to sleep (default 100)")
    p.add_argument("--only", default="", help="comma-separated implementations to run "
                   f"(default all of {', '.join(ORDER)})")
    p.add_argument("--workloads", default="", help="comma-separated workloads (default all)")
    p.add_argument("--skip-fit", action="store_true", help="skip the whole-fit comparison")
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"),
                   help="markdown report path ('' to skip writing)")
    a = p.parse_args(argv)
    if a.threads < 1:
        p.error("--threads must be >= 1")
    return a


# ----------------------------------------------------------------------------------------------
# Runners: the same commands, in this process or in a worker
# ----------------------------------------------------------------------------------------------
class ImplError(RuntimeError):
    pass


class LocalRunner:
    """lstmcore, in this process (no other thread pool runs here: NumPy's BLAS is held to one
    thread, and the NumPy reference runs in a worker like the peers)."""

    def __init__(self, name, threads):
        import _frameworks as fw
        self.name = name
        self.session = fw.Session(name, threads)
        self.version = fw.framework_version(name)
        self.ok, self.why = True, ""

    def call(self, **cmd):
        # lstmcore's own errors propagate: a benchmark that quietly drops it would be useless
        if self.name == "lstmcore":
            return self.session.handle(cmd)
        try:
            return self.session.handle(cmd)
        except Exception as e:  # noqa: BLE001
            raise ImplError(f"{type(e).__name__}: {e}") from e

    def close(self):
        pass


class WorkerRunner:
    """A framework in its own process (see ``_frameworks._worker``)."""

    def __init__(self, name, threads, logdir):
        import _frameworks as fw
        import lstmcore
        self.name = name
        backend = {"keras_torch": "torch", "keras_jax": "jax"}.get(name)
        env = fw.thread_env(threads, backend)
        # the reference worker imports the same lstmcore package as this process
        pkg = os.path.dirname(os.path.dirname(os.path.abspath(lstmcore.__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg, env.get("PYTHONPATH", "")) if p)
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "_frameworks.py"), "worker", name, str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env,
            cwd=HERE)
        self.ok, self.why, self.version = None, "", ""

    def wait_ready(self, timeout=180):
        try:
            ans = self._read(timeout)
        except ImplError as e:
            self.ok, self.why = False, str(e)
            return
        self.ok = bool(ans.get("ready"))
        self.why = ans.get("error", "")
        self.version = ans.get("version", "")
        if not self.ok:
            self.close()

    def _read(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            self.close()
            raise ImplError(f"no answer within {timeout:.0f} s (log: {self.log_path})")
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise ImplError(f"worker exited (log: {self.log_path}): {self._log_tail()}")
        return json.loads(line)

    def _log_tail(self):
        try:
            with open(self.log_path) as f:
                lines = [ln.strip() for ln in f if ln.strip()]
            return lines[-1][:200] if lines else ""
        except OSError:
            return ""

    def call(self, timeout=600, **cmd):
        if not self.ok:
            raise ImplError(self.why or "not available")
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.ok, self.why = False, f"worker gone: {e}"
            raise ImplError(self.why) from e
        ans = self._read(timeout)
        if "error" in ans:
            raise ImplError(ans["error"])
        return ans

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait()
        self.ok = False if self.ok is None else self.ok


# ----------------------------------------------------------------------------------------------
# Machine and build information
# ----------------------------------------------------------------------------------------------
def cpuinfo() -> dict:
    info = {"model": platform.processor() or "unknown", "flags": set(), "mhz": None,
            "family": None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k == "model name" and info["model"] in ("unknown", "", "x86_64"):
                    info["model"] = v
                elif k == "flags" and not info["flags"]:
                    info["flags"] = set(v.split())
                elif k == "cpu MHz" and info["mhz"] is None:
                    info["mhz"] = float(v)
                elif k == "cpu family" and info["family"] is None:
                    info["family"] = int(v)
                elif k == "vendor_id":
                    info["vendor"] = v
    except OSError:
        pass
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            info["max_mhz"] = int(f.read()) / 1000.0
    except OSError:
        info["max_mhz"] = None
    return info


def fma_peak(info: dict, cores: int):
    """(GFLOP/s or None, the assumption in words): cores x GHz x FP32 flops/cycle."""
    flags = info["flags"]
    ghz = (info.get("max_mhz") or info.get("mhz") or 0) / 1000.0
    vendor, fam = info.get("vendor", ""), info.get("family")
    if not ghz or not flags:
        return None, "unknown (no clock or CPU flags in /proc/cpuinfo)"
    if "avx512f" in flags:
        if vendor == "AuthenticAMD" and fam == 0x19:
            fpc, why = 32, "AMD Zen 4: AVX-512 on 256-bit FMA pipes, 2 x 8 lanes x 2"
        elif vendor == "AuthenticAMD" and fam == 0x1A:
            fpc, why = 64, "AMD Zen 5: 2 x 512-bit FMA pipes, 2 x 16 lanes x 2"
        else:
            fpc, why = 64, "AVX-512 with 2 FMA units, 2 x 16 lanes x 2"
    elif "fma" in flags and "avx2" in flags:
        fpc, why = 32, "AVX2: 2 x 256-bit FMA units, 2 x 8 lanes x 2"
    elif "asimd" in flags:
        fpc, why = 16, "NEON: 2 x 128-bit FMA pipes, 2 x 4 lanes x 2 (a guess)"
    else:
        return None, "unknown (no FMA flags recognised)"
    src = "cpuinfo_max_freq" if info.get("max_mhz") else "'cpu MHz' in /proc/cpuinfo (the " \
        "nominal clock; boost and VM throttling are not known)"
    peak = cores * ghz * fpc
    return peak, (f"{cores} cores x {ghz:.2f} GHz ({src}) x {fpc} FP32 flops/cycle ({why}) "
                  f"= {peak:.0f} GFLOP/s")


def git(*args) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


class CpuMonitor:
    """CPU time used by other processes (not this one, its workers or reaped children) while
    a section ran, as a share of all online CPUs: the noise floor of that section."""

    def __init__(self, pids):
        self.pids = pids  # callable -> worker pids
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.ncpu = os.cpu_count() or 1

    def _machine_busy(self):
        try:
            with open("/proc/stat") as f:
                v = [int(a) for a in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        user, nice, system, idle, iowait, irq, softirq, steal = v
        return (user + nice + system + irq + softirq + steal) / self.hz

    def _ours(self):
        t = os.times()
        total = t.user + t.system + t.children_user + t.children_system
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / self.hz
            except (OSError, ValueError, IndexError):
                pass
        return total

    def sample(self):
        return time.perf_counter(), self._machine_busy(), self._ours()

    def share(self, s0, s1):
        wall = s1[0] - s0[0]
        if s0[1] is None or s1[1] is None or wall <= 0:
            return None
        other = (s1[1] - s0[1]) - (s1[2] - s0[2])
        return max(0.0, other) / (wall * self.ncpu)


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


# ----------------------------------------------------------------------------------------------
# Data, weights and checks
# ----------------------------------------------------------------------------------------------
def make_workload(name, seed):
    import lstmcore
    import numpy as np
    from lstmcore.layers import LSTM, Dense
    from lstmcore.models import Sequential
    B, T, F, H, stateful = WORKLOADS[name]
    lstmcore.set_seed(seed)
    weights = Sequential([LSTM(H, input_shape=(T, F)), Dense(1)]).get_weights()
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(B, T, F)).astype(np.float32)
    y = rng.uniform(-1.0, 1.0, size=(B, 1)).astype(np.float32)
    wl = {"name": name, "B": B, "T": T, "F": F, "H": H, "stateful": stateful}
    return wl, [np.ascontiguousarray(w, dtype=np.float32) for w in weights], x, y


def save_npz(path, wl, weights, x, y, x_check=None):
    import numpy as np
    np.savez(path, x=x, y=y, x_check=x if x_check is None else x_check, wl=json.dumps(wl),
             **{f"w{i}": w for i, w in enumerate(weights)})


def check_tolerance(ref):
    import numpy as np
    return 1e-4 + 1e-3 * float(np.max(np.abs(ref)))


def lstmcore_grad_check(wl, weights, x, y):
    """One lstmcore SGD(lr=1) step vs float64 reference gradients: -> (loss err, grad err)."""
    import _frameworks as fw
    import numpy as np
    from lstmcore.optimizers import SGD
    m = fw.LstmcoreImpl._model(wl, weights, compile_=False)
    m.compile(optimizer=SGD(learning_rate=1.0), loss="mse")
    loss = float(m.train_on_batch(x, y))
    got = [w0.astype(np.float64) - w1 for w0, w1 in zip(weights, m.get_weights())]
    ref = fw._ref_model(weights, np.float64)
    ref_loss, grads = ref.loss_and_grads(x.astype(np.float64), y.astype(np.float64), "mse")
    want = [g for layer in grads for g in layer]
    loss_err = abs(loss - ref_loss) / max(abs(ref_loss), 1e-12)
    worst = 0.0
    for g, r, w in zip(got, want, weights):
        scale = 1e-3 * float(np.max(np.abs(r))) + 4e-7 * float(np.max(np.abs(w))) + 1e-7
        worst = max(worst, float(np.max(np.abs(g - r))) / scale)
    return loss_err, worst


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------
def time_row(runners, mode, repeats, target_s, warm_s, notes, row, cooldown_s=0.0,
             rewarm_s=0.0):
    """-> {name: median seconds per call}; rotating order per repeat. target_s == 0: one
    call per repeat, and a single warm-up call (it compiles what needs compiling)."""
    inner, live = {}, []
    for r in runners:
        try:
            per = r.call(op="warm", mode=mode, warm_s=warm_s, min_calls=1 if target_s == 0 else 2)["s"]
        except ImplError as e:
            why = ""
            if "inplace operation" in str(e) and r.name == "keras_torch":
                why = (" (Keras 3's torch backend cannot train a stateful LSTM: it updates the "
                       "state in place inside the autograd graph; a Keras limitation)")
            notes.append(f"{row} {mode}: {fw_label(r.name)} failed: {e}{why}")
            log(f"    {r.name}: FAILED {e}")
            continue
        inner[r.name] = max(1, min(100000, int(round(target_s / max(per, 1e-7)))))
        live.append(r)
    times = {r.name: [] for r in live}
    for k in range(repeats):
        order = live[k % len(live):] + live[:k % len(live)] if live else []
        for r in order:
            if r.name not in times:
                continue
            if cooldown_s and len(live) > 1:
                time.sleep(cooldown_s)  # let the previous implementation's threads go idle
            try:
                times[r.name].append(r.call(op="time", mode=mode, inner=inner[r.name],
                                            rewarm_s=rewarm_s)["s"])
            except ImplError as e:
                notes.append(f"{row} {mode}: {fw_label(r.name)} failed while timing: {e}")
                times.pop(r.name)
    return {n: statistics.median(v) for n, v in times.items() if v}, inner


def fw_label(name):
    import _frameworks as fw
    return fw.LABELS[name]


def gemm_shapes():
    """The GEMMs of an LSTM training step, (label, M, N, K, trans_a, trans_b), for the
    medium and large workloads: input projection of all steps at once, the recurrent
    product per step, and their backward products."""
    out = []
    for name in ("medium", "large"):
        B, T, F, H, _ = WORKLOADS[name]
        BT, G = B * T, 4 * H
        out += [
            (f"{name} fwd x@W", BT, G, F, False, False),
            (f"{name} fwd h@U", B, G, H, False, False),
            (f"{name} bwd dZ@W^T", BT, F, G, False, True),
            (f"{name} bwd X^T@dZ", F, G, BT, True, False),
            (f"{name} bwd dz@U^T", B, H, G, False, True),
            (f"{name} bwd H^T@dZ", H, G, BT, True, False),
        ]
    return out


def bench_gemm(core, numpy_runner, repeats, target_s, threads, cooldown_s, rewarm_s):
    """lstmcore's ``_core.gemm`` (this process) against NumPy's matmul (the reference worker,
    its BLAS at ``threads`` threads), interleaved; -> rows with GFLOP/s."""
    rows = []
    shapes = [("1024^3", 1024, 1024, 1024, False, False)] + gemm_shapes()
    for i, (label, M, N, K, ta, tb) in enumerate(shapes):
        spec = {"M": M, "N": N, "K": K, "ta": ta, "tb": tb, "seed": i}
        runs = {"core": core}
        if numpy_runner is not None and numpy_runner.ok:
            runs["np"] = numpy_runner
        inner = {}
        for k, r in runs.items():
            ans = r.call(op="gemm_setup", **spec)
            if k == "core" and ans["rel_err"] > 1e-4:
                raise AssertionError(f"lstmcore gemm {label}: relative error {ans['rel_err']:.2e} "
                                     f"against a float64 product")
            inner[k] = max(1, int(round(target_s / max(ans["s"], 1e-7))))
        ts = {k: [] for k in runs}
        for rep in range(repeats):
            for k in (list(runs) if rep % 2 == 0 else list(runs)[::-1]):
                time.sleep(cooldown_s)
                ts[k].append(runs[k].call(op="gemm_time", inner=inner[k], rewarm_s=rewarm_s)["s"])
        flops = 2.0 * M * N * K
        row = {"label": label, "M": M, "N": N, "K": K, "ta": ta, "tb": tb}
        for k in runs:
            row[k] = flops / statistics.median(ts[k]) / 1e9
        row.setdefault("np", float("nan"))
        rows.append(row)
        log(f"  gemm {label:<20} lstmcore {row['core']:7.1f}  numpy {row['np']:7.1f} GFLOP/s")
        if i == 0:  # one core's rate bounds the clock from below (for the peak)
            core.call(op="threads", n=1)
            time.sleep(cooldown_s)
            try:
                one = [core.call(op="gemm_time", inner=inner["core"], rewarm_s=rewarm_s)["s"]
                       for _ in range(max(3, repeats // 2))]
            finally:
                core.call(op="threads", n=threads)
            row["core_1t"] = flops / min(one) / 1e9
            log(f"  gemm 1024^3 lstmcore 1 thread {row['core_1t']:.1f} GFLOP/s")
    return rows


def train_flops(B, T, F, H):
    fwd = 2.0 * B * T * (F + H) * 4 * H + 2.0 * B * H
    return 3.0 * fwd  # backward: about twice the forward (dX/dh and dW/dU products)


def run_memory(name, wl, weights, x, y, threads, tmp):
    import _frameworks as fw
    path = os.path.join(tmp, f"mem_{name}.npz")
    save_npz(path, wl, weights, x, y)
    env = fw.thread_env(threads)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "python"), env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, os.path.join(HERE, "_frameworks.py"), "memory", name,
                        str(threads), path], capture_output=True, text=True, env=env, cwd=HERE,
                       timeout=600)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        raise ImplError(f"memory worker failed: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(lines[-1])


def necessary_bytes(B, T, F, H):
    params = 4 * H * (F + H + 1) + H + 1
    acts = B * T * (4 * H + H + H)
    return {"activations": 4 * acts, "params": 4 * params,
            "total": 4 * acts + 4 * params * 4}  # weights, gradients, Adam m and v


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------
def fmt_ms(s):
    if s is None:
        return "—"
    ms = s * 1e3
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


def fmt_pct(v):
    return "—" if v is None else f"{100 * v:.0f}%"


def fmt_x(r):
    if r is None or not math.isfinite(r):
        return "—"
    return f"{r:.2f}×" if r < 100 else f"{r:.0f}×"


def table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    threads = args.threads
    # thread pools are sized at import: set them before numpy is loaded
    # lstmcore (OpenMP) is the only thread pool in this process: NumPy's BLAS, used here only
    # for data and checks, keeps one thread (OpenBLAS threads spin-wait after each call and
    # would steal lstmcore's cores); workers get every pool at `threads`
    os.environ["OMP_NUM_THREADS"] = str(threads)
    for k in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[k] = "1"
    sys.path.insert(0, HERE)
    import _frameworks as fw  # records the user's environment before lstmcore changes it
    import numpy as np
    fw.pin_cpus(threads)
    import lstmcore
    lstmcore.set_num_threads(threads)

    quick = args.quick
    repeats = args.repeats or (3 if quick else 10)
    repeats_large = args.repeats or (2 if quick else 3)
    target_s = (args.target_ms or (15.0 if quick else 40.0)) / 1e3
    warm_s = 0.1 if quick else 0.3
    cooldown_s = (args.cooldown_ms if args.cooldown_ms is not None else 100.0) / 1e3
    rewarm_s = 0.1
    only = [s for s in args.only.split(",") if s] or list(ORDER)
    bad = [s for s in only if s not in ORDER]
    if bad:
        sys.exit(f"--only: unknown implementation(s) {bad}; choose from {', '.join(ORDER)}")
    wl_names = [s for s in args.workloads.split(",") if s] or list(WORKLOADS)
    bad = [s for s in wl_names if s not in WORKLOADS]
    if bad:
        sys.exit(f"--workloads: unknown workload(s) {bad}; choose from {', '.join(WORKLOADS)}")

    load_start = loadavg()
    commit_start = git("rev-parse", "--short", "HEAD") or "unknown"
    info = cpuinfo()
    try:
        n_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        n_cpus = os.cpu_count() or 1
    tmp = tempfile.mkdtemp(prefix="bench_lstm_")
    notes: list[str] = []
    runners = {}
    mon = CpuMonitor(lambda: [r.proc.pid for r in runners.values()
                              if isinstance(r, WorkerRunner) and r.proc.poll() is None])
    other = {}  # section -> share of the machine used by other processes
    run0 = mon.sample()

    # ---- start the peers' workers first (imports take seconds), then the local runners
    for name in ORDER:
        # the reference worker also times NumPy's matmul for the SGEMM comparison
        if name != "lstmcore" and (name in only or name == "reference"):
            runners[name] = WorkerRunner(name, threads, tmp)
    runners["lstmcore"] = LocalRunner("lstmcore", threads)
    for name in ("reference",) + fw.PEERS:
        if name in runners:
            runners[name].wait_ready()
            if not runners[name].ok:
                notes.append(f"{fw.LABELS[name]} not available: {runners[name].why}")
            log(f"{name}: {'ready, ' + runners[name].version if runners[name].ok else runners[name].why}")
    order = [n for n in ORDER if n in runners and (n in only or n == "lstmcore")]
    peers_present = [n for n in order if n != "lstmcore" and runners[n].ok]

    # ---- per workload: correctness, then train and infer rows
    results = {}       # (wl, mode) -> {name: seconds}
    inners = {}
    checks = []        # rows for the correctness table
    grad_checks = {}
    for wi, wname in enumerate(wl_names):
        wl, weights, x, y = make_workload(wname, seed=wi + 1)
        npz = os.path.join(tmp, f"{wname}.npz")
        save_npz(npz, wl, weights, x, y)
        log(f"[{time.perf_counter() - t_start:6.1f}s] {wname}: B={wl['B']} T={wl['T']} "
            f"F={wl['F']} H={wl['H']}{' stateful' if wl['stateful'] else ''}")
        ref64 = fw._ref_model(weights, np.float64).forward(x.astype(np.float64))
        tol = check_tolerance(ref64)
        live = []
        for name in order:
            r = runners[name]
            if not r.ok:
                continue
            try:
                pred = np.asarray(r.call(op="setup", wl=wl, npz=npz)["pred"]).reshape(ref64.shape)
            except ImplError as e:
                notes.append(f"{wname}: {fw.LABELS[name]} setup failed: {e}")
                log(f"    {name}: setup FAILED {e}")
                continue
            err = float(np.max(np.abs(pred - ref64)))
            ok = err <= tol
            checks.append((wname, name, err, tol, ok))
            if not ok:
                msg = (f"{wname}: {fw.LABELS[name]} predictions differ from the float64 "
                       f"reference by {err:.3g} (tolerance {tol:.3g})")
                if name == "lstmcore":
                    raise AssertionError(msg)
                notes.append(msg + "; left out of this workload")
                continue
            live.append(r)
        loss_err, grad_err = lstmcore_grad_check(wl, weights, x, y)
        grad_checks[wname] = (loss_err, grad_err)
        if loss_err > 1e-4 or grad_err > 1.0:
            raise AssertionError(f"{wname}: lstmcore's training step differs from the reference "
                                 f"(loss rel err {loss_err:.2e}, gradient err {grad_err:.2f} of tolerance)")
        reps = repeats_large if wname in LARGE else repeats
        tgt = 0.0 if wname in LARGE else target_s
        for mode in ("train", "infer"):
            s0 = mon.sample()
            res, inner = time_row(live, mode, reps, tgt, warm_s, notes, wname, cooldown_s,
                                  rewarm_s)
            other[(wname, mode)] = mon.share(s0, mon.sample())
            results[(wname, mode)] = res
            inners[(wname, mode)] = inner
            log(f"    {mode}: " + ", ".join(f"{n} {fmt_ms(s)} ms" for n, s in res.items()))
        for r in live:
            try:
                r.call(op="release")
            except ImplError:
                pass

    # ---- whole fit
    fit_res, fit_loss, fit_est = {}, {}, {}
    if not args.skip_fit:
        log(f"[{time.perf_counter() - t_start:6.1f}s] whole fit: LSTM({FIT['H']}) + Dense(1), "
            f"{FIT['samples']} samples, batch {FIT['batch_size']}, {FIT['epochs']} epochs")
        rng = np.random.default_rng(123)
        T, F = FIT["T"], FIT["F"]
        start = rng.uniform(0, 2 * np.pi, size=(FIT["samples"], 1))
        steps = np.arange(T + 1)[None, :] * 0.3
        series = np.sin(start + steps).astype(np.float32)
        fx = np.ascontiguousarray(series[:, :T, None])
        fy = np.ascontiguousarray(series[:, T:])
        import lstmcore as lc
        from lstmcore.layers import LSTM, Dense
        from lstmcore.models import Sequential
        lc.set_seed(99)
        fweights = [w.astype(np.float32) for w in
                    Sequential([LSTM(FIT["H"], input_shape=(T, F)), Dense(1)]).get_weights()]
        fwl = {"name": "fit", "B": None, "T": T, "F": F, "H": FIT["H"], "stateful": False}
        fnpz = os.path.join(tmp, "fit.npz")
        save_npz(fnpz, fwl, fweights, fx, fy)
        fit_reps = 3 if quick else 5
        live = [runners[n] for n in order if runners[n].ok]
        nreps = {}
        budget = 20.0 if quick else 90.0  # seconds of timed fits per implementation
        for r in live:  # warm-up on throwaway models (imports, first-call costs); estimate
            try:
                t1 = r.call(op="fit", npz=fnpz, epochs=1, batch_size=FIT["batch_size"])["s"]
                est = t1 * FIT["epochs"]
                if est > budget / fit_reps:  # maybe a one-off cost (jit): a second point
                    t2 = r.call(op="fit", npz=fnpz, epochs=2, batch_size=FIT["batch_size"])["s"]
                    epoch = max(t2 - t1, 1e-6)
                    est = max(t1 - epoch, 0.0) + FIT["epochs"] * epoch
            except ImplError as e:
                notes.append(f"whole fit: {fw.LABELS[r.name]} failed: {e}")
                continue
            n = min(fit_reps, int(budget // max(est, 1e-6)))
            if n == 0 and not quick:
                n = 1
            if n < fit_reps:
                notes.append(f"whole fit: {fw.LABELS[r.name]} takes about {est:.1f} s per fit; "
                             + (f"timed {n} time(s)" if n else
                                "not run in --quick; its ratio uses that estimate"))
            if n == 0:
                fit_est[r.name] = est
            else:
                nreps[r.name] = n
        times = {n: [] for n in nreps}
        s0 = mon.sample()
        for k in range(max(nreps.values(), default=0)):
            names = [n for n in nreps if nreps[n] > k]
            names = names[k % len(names):] + names[:k % len(names)]
            for n in names:
                time.sleep(cooldown_s)
                try:
                    ans = runners[n].call(op="fit", npz=fnpz, epochs=FIT["epochs"],
                                          batch_size=FIT["batch_size"], seed=k)
                except ImplError as e:
                    notes.append(f"whole fit: {fw.LABELS[n]} failed: {e}")
                    nreps[n] = 0
                    continue
                times[n].append(ans["s"])
                fit_loss.setdefault(n, []).append(ans["loss"])
        other["fit"] = mon.share(s0, mon.sample())
        for n, v in times.items():
            if v:
                fit_res[n] = statistics.median(v)
        log("    " + ", ".join(f"{n} {s:.3f} s" for n, s in fit_res.items()))

    # ---- GEMM rates, FLOP rates, memory
    log(f"[{time.perf_counter() - t_start:6.1f}s] SGEMM")
    for name in fw.PEERS:  # peers are done: only lstmcore and NumPy remain
        if name in runners:
            runners[name].close()
    s0 = mon.sample()
    gemm_rows = bench_gemm(runners["lstmcore"], runners.get("reference"), 3 if quick else 10,
                           0.01 if quick else 0.03, threads, cooldown_s, rewarm_s)
    other["gemm"] = mon.share(s0, mon.sample())
    cores_used = min(threads, n_cpus)
    time.sleep(cooldown_s)
    fma = [runners["lstmcore"].call(op="fma_peak", n=cores_used)["gflops"] for _ in range(3)]
    for r in runners.values():
        r.close()
    nominal, nominal_why = fma_peak(info, cores_used)
    one = gemm_rows[0].get("core_1t")
    peak_lower = None  # only when the FMA probe could not run
    if fma and max(fma) > 0:
        # Measured: independent vector FMAs on every thread at the active SIMD level, the
        # rate at the clock the cores run now (the nominal clock misses boost and VM limits).
        peak = max(fma)
        level = lstmcore.build_info()["simd"]
        peak_why = (f"measured: {cores_used} threads of independent {level} FMAs "
                    f"(`_core.fma_throughput`, best of 3) = {peak:.0f} GFLOP/s; the "
                    f"nominal-clock estimate would be {nominal_why}")
    else:
        peak, peak_why = nominal, nominal_why
        if peak and one and one > peak / cores_used:
            peak_lower = one * cores_used
            peak_why += (f"; but one thread of lstmcore's SGEMM measured {one:.0f} GFLOP/s, "
                         f"above that estimate's {peak / cores_used:.0f} per core: the peak is "
                         f"unknown, at least {peak_lower:.0f} GFLOP/s")
    mem = {}
    if "large" in wl_names:
        log(f"[{time.perf_counter() - t_start:6.1f}s] peak memory of the large training step")
        wl, weights, x, y = make_workload("large", seed=wl_names.index("large") + 1)
        for name in ("lstmcore", "torch"):
            if name == "lstmcore" or (name in runners and runners[name].ok is not False
                                      and name in peers_present):
                try:
                    mem[name] = run_memory(name, wl, weights, x, y, threads, tmp)
                except (ImplError, subprocess.SubprocessError) as e:
                    notes.append(f"memory: {fw.LABELS[name]} failed: {e}")

    shutil.rmtree(tmp, ignore_errors=True)  # data files and worker logs (kept if a step raised)
    elapsed = time.perf_counter() - t_start
    other["run"] = mon.share(run0, mon.sample())
    load_end = loadavg()

    # ---- report
    present = [n for n in order if any(n in results[k] for k in results)]
    peers_cols = [n for n in present if n != "lstmcore"]

    def best_peer(res):
        cand = [(res[n], n) for n in peers_cols if n in res]
        return min(cand) if cand else (None, None)

    def ratio(res):
        bp, _ = best_peer(res)
        if bp is None or "lstmcore" not in res:
            return None
        return bp / res["lstmcore"]

    md = []
    bi = lstmcore.build_info()
    commit = commit_start
    commit_end = git("rev-parse", "--short", "HEAD") or "unknown"
    if commit_end != commit_start:
        notes.append(f"the repository's HEAD moved from {commit_start} to {commit_end} during "
                     f"the run; the numbers are for the lstmcore that was imported at the start")
    if git("status", "--porcelain", "--untracked-files=no", "--", "cpp", "python",
           "CMakeLists.txt", "pyproject.toml"):
        commit += " (+ uncommitted changes to the library)"
    md.append("# lstmcore LSTM benchmark\n")
    md.append(f"Generated by `{shlex.join(['python', 'benchmarks/bench_lstm.py'] + (argv if argv is not None else sys.argv[1:]))}` "
              f"in {elapsed:.0f} s. Benchmarks never gate CI; numbers are for this machine only.\n")
    rows = [
        ("Date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("Commit", commit),
        ("CPU", f"{info['model']} ({n_cpus} cores available, {os.cpu_count()} online)"),
        ("Threads", f"{threads} for every implementation (lstmcore.set_num_threads, "
                    f"torch.set_num_threads, OMP/OpenBLAS/MKL env; CPU affinity)"),
        ("lstmcore", f"{lstmcore.__version__}, imported from "
                     f"`{os.path.dirname(os.path.abspath(lstmcore.__file__))}`"),
        ("lstmcore build", f"SIMD {bi.get('simd')} (compiled: {', '.join(bi.get('simd_compiled', []))}), "
                           f"{bi.get('compiler')}, OpenMP {bi.get('openmp')}, gemm tile "
                           f"{bi.get('gemm_tile')}, debug {bi.get('debug')}"),
        ("OpenMP wait", "lstmcore: " + ", ".join(
            f"{k}={os.environ[k]} ({'from the user' if fw.USER_ENV.get(k) == os.environ[k] else 'set by lstmcore on import'})"
            for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ) + "; the workers "
            "get the user's environment" if any(k in os.environ for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))
            else "libgomp defaults"),
        ("Python / NumPy", f"{platform.python_version()} / numpy {np.__version__}"),
        ("Peers", "; ".join(f"{fw.LABELS[n]}: {runners[n].version if runners[n].ok is not False or runners[n].version else 'not available'}"
                            for n in fw.PEERS if n in runners) or "none requested"),
        ("Other processes", f"used {fmt_pct(other.get('run'))} of the machine's CPU time during "
                            f"the run (load average {load_start} at start, {load_end} at end)"),
        ("Repeats", f"median of {repeats} (large: {repeats_large}); a repeat = back-to-back "
                    f"calls filling ~{target_s * 1e3:.0f} ms (large: 1 call) after a "
                    f"{cooldown_s * 1e3:.0f} ms idle pause and {rewarm_s * 1e3:.0f} ms (≥ 1 call) "
                    f"of untimed re-warm calls; implementations interleaved in rotating order, "
                    f"each in its own process except lstmcore"),
    ]
    md.append(table(["", ""], rows, ["l", "l"]))
    if (other.get("run") or 0) > 0.1:
        md.append(f"\n**Warning:** other processes used {fmt_pct(other.get('run'))} of the CPUs "
                  f"during this run; absolute times and multi-threaded ratios are less reliable "
                  f"(see the \"other load\" column).")

    md.append("\n## Training step and inference (median ms per call)\n")
    md.append("Training step = forward + backward + Adam update of `LSTM(H)` + `Dense(1)` with "
              "MSE on one batch (`train_on_batch`); inference = `predict_on_batch`. Stateful "
              "workloads carry the state across calls. Ratio = best peer / lstmcore "
              "(> 1: lstmcore is faster).\n")
    header = (["workload", "B,T,F,H", "mode"] + [fw.LABELS[n] for n in present]
              + ["best peer", "ratio", "other load"])
    trows = []
    for wname in wl_names:
        B, T, F, H, st = WORKLOADS[wname]
        for mode in ("train", "infer"):
            res = results.get((wname, mode), {})
            bp, bn = best_peer(res)
            trows.append([wname + (" (stateful)" if st else ""), f"{B},{T},{F},{H}", mode]
                         + [fmt_ms(res.get(n)) for n in present]
                         + [fw.LABELS[bn] if bn else "—", fmt_x(ratio(res)),
                            fmt_pct(other.get((wname, mode)))])
    md.append(table(header, trows, ["l", "l", "l"] + ["r"] * (len(present) + 3)))
    md.append("\n\"other load\": CPU time used by processes outside this benchmark while the row "
              "ran, as a share of all CPUs; rows with a high share are noisy (a busy core stalls "
              "every multi-threaded implementation at its barriers).")

    fit_ratio = {}
    if fit_res or fit_est:
        md.append(f"\n## Whole fit\n\n`LSTM({FIT['H']}, input_shape=({FIT['T']},{FIT['F']}))` + "
                  f"`Dense(1)`, Adam, MSE, {FIT['samples']} samples, batch {FIT['batch_size']}, "
                  f"{FIT['epochs']} epochs, shuffled, silent: lstmcore and Keras 3 `model.fit`; "
                  f"a plain PyTorch loop (randperm, index, forward, backward, step); a loop over "
                  f"the NumPy reference. Timed: the fit call on a freshly built model (for "
                  f"Keras on jax this includes tracing and compiling that model's train step).\n")
        frows = []
        base = fit_res.get("lstmcore")
        for n in present:
            s = fit_res.get(n, fit_est.get(n))
            if s is None:
                continue
            est = n in fit_est and n not in fit_res
            r = s / base if base else None
            fit_ratio[n] = (r, est)
            losses = fit_loss.get(n, [])
            frows.append([fw.LABELS[n], f"{s:.3f}" + (" (est.)" if est else ""),
                          f"{statistics.median(losses):.4g}" if losses else "—",
                          "1×" if n == "lstmcore" else fmt_x(r) + (" (est.)" if est else ""),
                          len(fit_loss.get(n, []))])
        md.append(table(["implementation", "median s", "final loss", "time / lstmcore's", "runs"], frows))
        md.append(f"\nOther load during the timed fits: {fmt_pct(other.get('fit'))}.")

    # GFLOP/s
    B, T, F, H, _ = WORKLOADS["large"]
    flops = train_flops(B, T, F, H)
    g1024 = gemm_rows[0]
    md.append("\n## Arithmetic rate\n")
    md.append(f"Large training step: {flops / 1e9:.1f} GFLOP counted (forward "
              f"2·B·T·(F+H)·4H + Dense, backward twice the forward).\n")
    lres = results.get(("large", "train"), {})
    arows = [[f"large train step, {fw.LABELS[n]}", f"{flops / s / 1e9:.1f}"] for n, s in
             sorted(lres.items(), key=lambda kv: kv[1])]
    arows.append(["lstmcore SGEMM 1024³ (`_core.gemm`)", f"{g1024['core']:.1f}"])
    arows.append(["NumPy matmul 1024³ (float32)", f"{g1024['np']:.1f}"])
    if one:
        arows.append(["lstmcore SGEMM 1024³, 1 thread", f"{one:.1f}"])
    arows.append(["FMA peak" + ("" if fma and max(fma) > 0 else " (estimate)"),
                  ("unknown, ≥ " + f"{peak_lower:.0f}") if peak_lower
                  else (f"{peak:.0f}" if peak else "unknown")])
    md.append(table(["", "GFLOP/s"], arows))
    md.append(f"\nPeak: {peak_why}.\n")
    md.append("SGEMM on the LSTM's GEMM shapes (M×N×K, op(A) M×K, op(B) K×N; `A^T`/`B^T` "
              "= transposed operand):\n")
    grows = [[r["label"], f"{r['M']}×{r['N']}×{r['K']}", f"{r['core']:.1f}", f"{r['np']:.1f}",
              fmt_x(r["core"] / r["np"])] for r in gemm_rows]
    md.append(table(["GEMM", "M×N×K", "lstmcore GFLOP/s", "NumPy GFLOP/s", "lstmcore / NumPy"], grows))
    md.append(f"\nOther load during the GEMM timings: {fmt_pct(other.get('gemm'))}.")

    # memory
    nb = necessary_bytes(B, T, F, H)
    if mem:
        md.append("\n## Peak memory of the large training step\n")
        md.append(f"Fresh process; baseline = RSS after imports and data; peak = VmHWM after "
                  f"building the model and two training steps (VmHWM reset to the baseline "
                  f"through /proc/self/clear_refs: {mem.get('lstmcore', {}).get('reset')}). "
                  f"Necessary = gates (B,T,4H) + c and h (B,T,H) in float32 = "
                  f"{nb['activations'] / 2**20:.1f} MiB, plus weights, gradients and Adam's two "
                  f"slots = 4 × {nb['params'] / 2**20:.1f} MiB: {nb['total'] / 2**20:.1f} MiB.\n")
        mrows = []
        for n, m in mem.items():
            used = (m["peak_hwm_kb"] - m["base_rss_kb"]) * 1024
            mrows.append([fw.LABELS[n], f"{m['base_rss_kb'] / 1024:.0f}",
                          f"{m['peak_hwm_kb'] / 1024:.0f}", f"{used / 2**20:.1f}",
                          f"{used / nb['total']:.2f}×"])
        md.append(table(["implementation", "baseline RSS MiB", "peak MiB", "peak − baseline MiB",
                         "/ necessary"], mrows))

    # goals
    goals = []

    def goal(label, value, target, met, unknown="n/a", gap=""):
        goals.append([label, value, target, unknown if met is None else ("MET" if met else "NOT MET"),
                      gap if met is False else ""])

    def step_gap(res, tgt):
        """For an unmet ratio goal: how much faster lstmcore must get, and the time it needs."""
        bp, _ = best_peer(res)
        if bp is None or "lstmcore" not in res:
            return ""
        need = bp / tgt
        return f"{res['lstmcore'] / need:.2f}× faster (≤ {fmt_ms(need)} ms)"

    def fit_goal(peer, target):
        r = fit_ratio.get(peer)
        if r is None or r[0] is None:
            goal(f"whole fit vs {fw.LABELS[peer]}", "n/a (not measured)", f"≥{target:g}×", None)
        else:
            goal(f"whole fit vs {fw.LABELS[peer]}", fmt_x(r[0]) + (" (est.)" if r[1] else ""),
                 f"≥{target:g}×", r[0] >= target, gap=f"{target / r[0]:.2f}× faster")

    fit_goal("keras_torch", 100)
    fit_goal("torch", 20)
    for wname, tgt in TRAIN_GOALS.items():
        r = ratio(results.get((wname, "train"), {})) if wname in wl_names else None
        goal(f"training step {wname} vs best peer", fmt_x(r) if r else "n/a", f"≥{tgt:g}×",
             None if r is None else r >= tgt, gap=step_gap(results.get((wname, "train"), {}), tgt))
    for wname, tgt in INFER_GOALS.items():
        r = ratio(results.get((wname, "infer"), {})) if wname in wl_names else None
        goal(f"inference {wname} vs best peer", fmt_x(r) if r else "n/a", f"≥{tgt:g}×",
             None if r is None else r >= tgt, gap=step_gap(results.get((wname, "infer"), {}), tgt))
    shape_ratios = [r["core"] / r["np"] for r in gemm_rows[1:]]
    if shape_ratios and all(math.isfinite(v) for v in shape_ratios):
        worst = min(range(len(shape_ratios)), key=lambda i: shape_ratios[i])
        geo = math.exp(sum(math.log(v) for v in shape_ratios) / len(shape_ratios))
        goal("SGEMM vs NumPy on the LSTM shapes (each)",
             f"min {fmt_x(shape_ratios[worst])} ({gemm_rows[1 + worst]['label']}), "
             f"geomean {fmt_x(geo)}", "≥0.95×", shape_ratios[worst] >= 0.95,
             gap=f"{0.95 / shape_ratios[worst]:.2f}× faster on {gemm_rows[1 + worst]['label']}")
    else:
        goal("SGEMM vs NumPy on the LSTM shapes (each)", "n/a (NumPy not timed)", "≥0.95×", None)
    if peak_lower:
        frac = g1024["core"] / peak_lower
        goal("SGEMM 1024³ vs FMA peak", f"≤{100 * frac:.0f}% ({g1024['core']:.0f} GFLOP/s; peak "
             f"unknown, ≥{peak_lower:.0f})", "≥85%", False if frac < 0.85 else None,
             unknown="UNDECIDED (peak unknown)")
    elif peak:
        frac = g1024["core"] / peak
        goal("SGEMM 1024³ vs FMA peak", f"{100 * frac:.0f}% ({g1024['core']:.0f} of {peak:.0f} GFLOP/s)",
             "≥85%", frac >= 0.85)
    else:
        goal("SGEMM 1024³ vs FMA peak", "unknown (peak unknown)", "≥85%", None)
    if "lstmcore" in mem:
        m = mem["lstmcore"]
        used = (m["peak_hwm_kb"] - m["base_rss_kb"]) * 1024
        goal("peak memory, large training step", f"{used / nb['total']:.2f}× "
             f"({used / 2**20:.0f} of {nb['total'] / 2**20:.0f} MiB)", "≤1.3×",
             used / nb["total"] <= 1.3)
    for group, tgt in ((SMALL_TRAIN, 10.0), (LARGE_TRAIN, 1.0)):
        vals = []
        for wname in group:
            res = results.get((wname, "train"), {})
            if "reference" in res and "lstmcore" in res:
                vals.append((wname, res["reference"] / res["lstmcore"]))
        label = ("lstmcore vs NumPy reference, small training workloads" if tgt > 1 else
                 "lstmcore vs NumPy reference, large training workloads")
        if vals:
            goal(label + f" ({', '.join(w for w, _ in vals)})",
                 ", ".join(f"{w} {fmt_x(v)}" for w, v in vals), f"≥{tgt:g}×" if tgt > 1 else ">1×",
                 all(v >= tgt if tgt > 1 else v > 1 for _, v in vals))
        else:
            goal(label, "n/a", f"≥{tgt:g}×", None)
    md.append("\n## Goals\n")
    md.append("\"best peer\" = the fastest of PyTorch, Keras 3 (either backend) and the NumPy "
              "reference on that row.\n")
    md.append(table(["goal", "measured", "target", "status", "gap (lstmcore must get)"], goals,
                    ["l", "l", "l", "l", "l"]))
    analysis = os.path.join(HERE, "ANALYSIS.md")
    if os.path.exists(analysis):  # the profiles behind the gaps and what would close them
        with open(analysis) as f:
            md.append("\n" + f.read().strip() + "\n")

    # correctness
    md.append("\n## Correctness (before timing)\n")
    md.append("Max |prediction − float64 NumPy reference| on each workload's batch, from a "
              "zero state, with the same weights (tolerance 1e-4 + 1e-3·max|y|). lstmcore's "
              "training step: one `SGD(lr=1)` step recovers its gradients, compared with the "
              "reference's (error in units of the tolerance 1e-3·max|g| + 4e-7·max|w|; ≤ 1 "
              "passes) and its loss (relative error).\n")
    crow = {}
    for wname, name, err, _tol, ok in checks:
        crow.setdefault(wname, {})[name] = f"{err:.1e}" + ("" if ok else " FAIL")
    ctab = [[w] + [crow.get(w, {}).get(n, "—") for n in order]
            + [f"{grad_checks[w][1]:.2f} / {grad_checks[w][0]:.1e}" if w in grad_checks else "—"]
            for w in wl_names]
    md.append(table(["workload"] + [fw.LABELS[n] for n in order]
                    + ["lstmcore grad / loss err"], ctab))
    if notes:
        md.append("\n## Notes\n")
        md.extend(f"- {n}" for n in notes)
    md.append("")
    text = "\n".join(md)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        log(f"wrote {args.out} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
