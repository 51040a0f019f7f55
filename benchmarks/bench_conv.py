"""Conv1D benchmark: the two native algorithms on the same layer and data.

- ``im2col``: each output step's taps gathered into a row of (B*T_out, k*C), then one packed
  GEMM (bias and activation fused as in Dense); backward is two GEMMs and a scatter (col2im).
- ``direct``: the taps multiplied in place, row by row (no gather, no GEMM).

Each configuration is checked against the float64 NumPy reference first, then timed: forward
(``Network.predict`` on one batch) and a training step's gradients (``compute_gradients``:
forward, mse, backward), warm-up and the median of >= 10 interleaved repeats, per SIMD level
and thread count. GFLOP/s counts 2*B*T_out*k*C*F per pass (forward) and 3x that per step.

    python benchmarks/bench_conv.py                      # the selected SIMD level, 1 and 2 threads
    python benchmarks/bench_conv.py --simd all --threads 1,2,4

Never run by the tests; never gates CI.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _util  # noqa: E402
from lstmcore import _core  # noqa: E402
from lstmcore.reference.conv import conv1d_forward  # noqa: E402

# (B, T, C, F, k, strides, padding, dilation)
CONFIGS = [(64, 100, 32, 64, 3, 1, "valid", 1), (64, 100, 32, 64, 3, 1, "same", 1),
           (64, 100, 32, 64, 5, 1, "causal", 2), (32, 50, 1, 64, 3, 1, "valid", 1),
           (64, 100, 128, 128, 3, 2, "same", 1)]


def network(cfg, algorithm, kernel, bias):
    B, T, C, F, k, s, pad, d = cfg
    net = _core.Network()
    net.add("conv1d", dict(filters=F, kernel_size=k, input_dim=C, strides=s, dilation_rate=d,
                           padding=pad, activation="relu", algorithm=algorithm),
            {"kernel": kernel, "bias": bias})
    net.set_loss("mse")
    return net


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--simd", default=None,
                   help="'all', or comma-separated levels (default: the selected one)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--repeats", type=int, default=15, help="timed repeats (>= 10; default 15)")
    args = p.parse_args(argv)
    supported = _core.supported_simd_levels()
    initial = _core.simd_level()
    levels = ([initial] if args.simd is None else supported if args.simd == "all"
              else [s.strip() for s in args.simd.split(",") if s.strip()])
    bad = [s for s in levels if s not in supported]
    if bad:
        p.error(f"unsupported SIMD level(s) {bad}; this CPU supports {supported}")
    threads = [int(t) for t in args.threads.split(",")]
    repeats = max(10, args.repeats)

    print("# Conv1D: im2col + packed GEMM vs direct (float32, relu, forward and gradients)\n")
    for line in _util.header(_core):
        print(line)
    print(f"- median of {repeats} interleaved repeats after warm-up; speed-up = direct ms / im2col ms\n")

    rng = np.random.default_rng(0)
    cols = ["B, T, C -> F", "k, strides, padding, dilation", "ISA", "threads", "pass",
            "im2col ms", "im2col GFLOP/s", "direct ms", "direct GFLOP/s", "speed-up"]
    rows = []
    prev = _core.get_num_threads()
    try:
        for cfg in CONFIGS:
            B, T, C, F, k, s, pad, d = cfg
            x = rng.standard_normal((B, T, C), dtype=np.float32)
            kernel = (rng.standard_normal((k, C, F)) / np.sqrt(k * C)).astype(np.float32)
            bias = rng.standard_normal(F).astype(np.float32) * 0.1
            want = np.maximum(conv1d_forward(x.astype(np.float64), kernel, bias, s, pad, d)[0], 0)
            y = rng.standard_normal(want.shape).astype(np.float32)
            flops = 2.0 * B * want.shape[1] * k * C * F
            for level in levels:
                _core.set_simd_level(level)
                nets = {a: network(cfg, a, kernel, bias) for a in ("im2col", "direct")}
                outs = {a: np.empty(want.shape, np.float32) for a in nets}
                for a, net in nets.items():  # correctness first
                    net.predict(x, B, outs[a])
                    err = np.abs(outs[a] - want).max()
                    assert err < 1e-4 * max(1.0, np.abs(want).max()), f"{a}: max error {err}"
                for nt in threads:
                    _core.set_num_threads(nt)
                    for what, work in (("forward", flops), ("gradients", 3 * flops)):
                        if what == "forward":
                            fns = {a: (lambda n=n, o=outs[a], x=x, B=B: n.predict(x, B, o))
                                   for a, n in nets.items()}
                        else:
                            fns = {a: (lambda n=n, x=x, y=y: n.compute_gradients(x, y))
                                   for a, n in nets.items()}
                        t = _util.time_interleaved(fns, repeats=repeats, min_seconds=0.003)
                        rows.append([f"{B}, {T}, {C} -> {F}", f"{k}, {s}, {pad}, {d}", level, nt, what,
                                     f"{t['im2col'] * 1e3:.3f}", f"{work / t['im2col'] / 1e9:.1f}",
                                     f"{t['direct'] * 1e3:.3f}", f"{work / t['direct'] / 1e9:.1f}",
                                     f"{t['direct'] / t['im2col']:.2f}"])
                        print("  " + " | ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    finally:
        _core.set_simd_level(initial)
        _core.set_num_threads(prev)
    print(_util.markdown_table(cols, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
