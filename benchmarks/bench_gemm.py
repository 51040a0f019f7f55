"""GEMM benchmark: lstmcore's native sgemm next to numpy.matmul on the same float32 data.

Shapes: 1024^3 and, for each LSTM configuration (B, T, D, H), the two products an LSTM layer
runs: the input projection (B*T, D) x (D, 4H) -> M=B*T, N=4H, K=D, and one recurrent step
(B, H) x (H, 4H) -> M=B, N=4H, K=H. Each configuration is checked against numpy first, then
timed with warm-up and the median of >= 10 interleaved repeats, with 1 and 2 threads (NumPy's
BLAS limited through threadpoolctl when it is installed). GFLOP/s = 2*M*N*K / time.

    python benchmarks/bench_gemm.py                 # the selected SIMD level
    python benchmarks/bench_gemm.py --simd all      # every level this CPU supports
    python benchmarks/bench_gemm.py --simd avx2,generic --threads 1,2,4 --quick

Never run by the tests; never gates CI.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _util  # noqa: E402
from lstmcore import _core  # noqa: E402

LSTM_CONFIGS = [(64, 50, 32, 128), (64, 100, 256, 512), (32, 10, 1, 32)]  # (B, T, D, H)


def shapes(quick):
    """(label, M, N, K) rows in print order."""
    n = 512 if quick else 1024
    out = [(f"square {n}^3", n, n, n)]
    for B, T, D, H in LSTM_CONFIGS[::2] if quick else LSTM_CONFIGS:
        cfg = f"B={B} T={T} D={D} H={H}"
        out.append((f"input proj {cfg}", B * T, 4 * H, D))
        out.append((f"recurrent {cfg}", B, 4 * H, H))
    return out


def check(a, b, c):
    """lstmcore vs numpy on the same float32 data: the per-entry error of a K-term float32
    product is ~eps*sqrt(K) relative to the entries' typical size; 16x that is a failure."""
    K = a.shape[1]
    want = np.matmul(a, b)
    c[:] = np.nan
    _core.gemm(a, b, c)
    scale = float(np.sqrt(np.mean(want.astype(np.float64) ** 2))) or 1.0
    err = float(np.max(np.abs(c.astype(np.float64) - want))) / scale
    tol = 16 * np.finfo(np.float32).eps * math.sqrt(max(K, 1))
    if not err <= tol:
        raise SystemExit(f"lstmcore gemm disagrees with numpy: max error {err:.3g} (relative to "
                         f"rms) > {tol:.3g} for {a.shape} x {b.shape} at SIMD {_core.simd_level()}")
    return err


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--simd", default=None,
                   help="'all', or comma-separated levels (default: the selected one)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (>= 10; default 15, quick 10)")
    p.add_argument("--settle", type=float, default=None,
                   help="seconds to sleep before each timed sample (default: 0.15 when the two "
                        "libraries' threads together exceed the CPUs, else 0)")
    p.add_argument("--quick", action="store_true",
                   help="512^3 instead of 1024^3, two LSTM configs, 10 repeats, shorter samples")
    args = p.parse_args(argv)

    supported = _core.supported_simd_levels()
    initial = _core.simd_level()
    if args.simd is None:
        levels = [initial]
    elif args.simd == "all":
        levels = supported
    else:
        levels = [s.strip() for s in args.simd.split(",") if s.strip()]
        bad = [s for s in levels if s not in supported]
        if bad:
            p.error(f"unsupported SIMD level(s) {bad}; this CPU supports {supported}")
    threads = [int(t) for t in args.threads.split(",")]
    repeats = max(10, args.repeats or (10 if args.quick else 15))
    min_seconds = 0.001 if args.quick else 0.003

    print("# GEMM: lstmcore vs numpy.matmul (float32)\n")
    for line in _util.header(_core):
        print(line)
    if _util.threadpoolctl is None:
        print("- threadpoolctl is not installed: only lstmcore's thread count is set; NumPy uses "
              "its BLAS default in every row (pip install threadpoolctl to limit it)")
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def settle_for(nt):
        if args.settle is not None:
            return args.settle
        return 0.15 if 2 * nt > ncpu else 0.0

    print(f"- median of {repeats} interleaved repeats after warm-up; ratio = lstmcore GFLOP/s / numpy GFLOP/s")
    if any(settle_for(nt) > 0 for nt in threads):
        print(f"- {ncpu} CPUs: with {max(threads)} threads each the two libraries' workers outnumber "
              f"the cores, and OpenBLAS's keep spinning ~0.1 s after each call, so every sample is "
              f"preceded by a {settle_for(max(threads))} s pause and one untimed call; otherwise "
              f"lstmcore would be timed waiting for NumPy's spinning threads (and vice versa)")
    print()

    rng = np.random.default_rng(0)
    data = {}
    for label, M, N, K in shapes(args.quick):
        a = rng.standard_normal((M, K), dtype=np.float32)
        b = rng.standard_normal((K, N), dtype=np.float32)
        data[label] = (M, N, K, a, b, np.empty((M, N), np.float32), np.empty((M, N), np.float32))

    cols = ["op", "M x N x K", "ISA", "threads", "lstmcore ms", "lstmcore GFLOP/s",
            "numpy ms", "numpy GFLOP/s", "ratio"]
    rows = []
    prev_threads = _core.get_num_threads()
    try:
        for level in levels:
            _core.set_simd_level(level)
            for _, _, _, a, b, c1, _ in data.values():
                check(a, b, c1)
            for nt in threads:
                _core.set_num_threads(nt)
                with _util.numpy_threads(nt) as limited:
                    for label, (M, N, K, a, b, c1, c2) in data.items():
                        t = _util.time_interleaved(
                            {"lstmcore": lambda a=a, b=b, c=c1: _core.gemm(a, b, c),
                             "numpy": lambda a=a, b=b, c=c2: np.matmul(a, b, out=c)},
                            repeats=repeats, min_seconds=min_seconds, settle=settle_for(nt))
                        gf = {k: 2.0 * M * N * K / v / 1e9 for k, v in t.items()}
                        rows.append([label, f"{M}x{N}x{K}", level,
                                     str(nt) if limited else f"{nt} (numpy: default)",
                                     f"{t['lstmcore'] * 1e3:.3f}", f"{gf['lstmcore']:.1f}",
                                     f"{t['numpy'] * 1e3:.3f}", f"{gf['numpy']:.1f}",
                                     f"{gf['lstmcore'] / gf['numpy']:.2f}"])
                        print(f"  {level:8s} {nt}t {label:34s} lstmcore {gf['lstmcore']:8.1f}  "
                              f"numpy {gf['numpy']:8.1f} GFLOP/s", file=sys.stderr, flush=True)
    finally:
        _core.set_simd_level(initial)
        _core.set_num_threads(prev_threads)
    print(_util.markdown_table(cols, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
