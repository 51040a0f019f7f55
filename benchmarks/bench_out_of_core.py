"""Peak memory of fit/evaluate/predict on a memmap file versus the same data in memory.

Writes a float32 dataset of ``--mb`` MiB to a temporary file, then runs one child process per
configuration (a fresh process, so its peak RSS, ``VmHWM``, is that configuration's own):
- ``memmap``: ``fit``, ``evaluate`` and ``predict`` on ``np.memmap`` views of the file;
- ``memory``: the same calls on the file loaded with ``np.fromfile``;
- ``--budget`` (default: a quarter of the data): each child first warms up (imports, a small
  fit, OpenMP threads), then caps its private memory at what it uses plus the budget with
  ``setrlimit(RLIMIT_DATA)`` (Linux counts private writable mappings there, not the shared
  read-only file map), so the data is 4 times the memory it is allowed; the in-memory run is
  expected to fail with MemoryError under that cap.
Correctness first: the memmap and in-memory runs must produce the same loss and weights
(shuffle=False, same seed). One line per configuration: peak RSS, growth over the warm-up
baseline, wall time.

    python benchmarks/bench_out_of_core.py --mb 256
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

T, F = 32, 32  # timesteps, features: 4 KiB per sample


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _peak_rss_kb() -> int:
    """This process' peak resident memory: VmHWM (reset by exec, unlike ``ru_maxrss``, which a
    child started by fork+exec inherits from its parent), else ``ru_maxrss``."""
    import resource

    return _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(path: str, n: int, mode: str, budget_mb: float) -> None:
    import resource

    import lstmcore
    import numpy as np
    from lstmcore.layers import LSTM, Dense
    from lstmcore.models import Sequential

    lstmcore.set_seed(0)
    m = Sequential([LSTM(8, input_shape=(T, F)), Dense(1)])
    m.compile("adam", "mse")
    m.fit(np.zeros((256, T, F), np.float32), np.zeros((256, 1), np.float32), verbose=0)
    base_rss = _peak_rss_kb()
    if budget_mb > 0:
        data_kb = _status_kb("VmData")
        cap = (data_kb + int(budget_mb * 1024)) * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (cap, resource.getrlimit(resource.RLIMIT_DATA)[1]))
    t0 = time.perf_counter()
    result = {"mode": mode, "budget_mb": budget_mb, "base_rss_mb": base_rss / 1024}
    try:
        if mode == "memmap":
            x = np.memmap(path, dtype=np.float32, mode="r", shape=(n, T, F))
            y = np.memmap(path + ".y", dtype=np.float32, mode="r", shape=(n, 1))
        else:
            x = np.fromfile(path, dtype=np.float32).reshape(n, T, F)
            y = np.fromfile(path + ".y", dtype=np.float32).reshape(n, 1)
        h = m.fit(x, y, batch_size=256, epochs=1, shuffle=False, verbose=0, seed=1)
        loss = m.evaluate(x, y, batch_size=1024, verbose=0)
        p = m.predict(x, batch_size=1024)
        result.update(ok=True, fit_loss=h.history["loss"][0], eval_loss=loss,
                      pred_sum=float(p.astype(np.float64).sum()),
                      w_sum=float(sum(w.astype(np.float64).sum() for w in m.get_weights())))
    except MemoryError as e:
        result.update(ok=False, error=f"MemoryError {e}")
    result["seconds"] = time.perf_counter() - t0
    result["peak_rss_mb"] = _peak_rss_kb() / 1024
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=256, help="dataset size in MiB")
    ap.add_argument("--budget", type=float, default=None,
                    help="private memory allowed beyond the warm-up, MiB (default: mb / 4)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        path, n, mode, budget = args.child
        child(path, int(n), mode, float(budget))
        return
    import numpy as np

    budget = args.mb / 4 if args.budget is None else args.budget
    n = int(args.mb * 2**20) // (T * F * 4)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.f32")
        rng = np.random.default_rng(0)
        x = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, T, F))
        for s in range(0, n, 4096):  # written in pieces: the parent stays small too
            e = min(n, s + 4096)
            x[s:e] = rng.normal(size=(e - s, T, F)).astype(np.float32)
        x.flush()
        y = np.sin(np.asarray(x[:, -1, :4]).sum(axis=1, keepdims=True)).astype(np.float32)
        y.tofile(path + ".y")
        del x, y
        print(f"dataset: {n} samples x {T} steps x {F} features float32 = {args.mb:.0f} MiB; "
              f"budget {budget:.0f} MiB ({args.mb / budget:.1f}x smaller than the data)")
        runs = {}
        for mode, b in (("memmap", budget), ("memory", 0.0), ("memory", budget)):
            out = subprocess.run([sys.executable, __file__, "--child", path, str(n), mode, str(b)],
                                 capture_output=True, text=True, timeout=1800)
            if out.returncode:
                print(out.stderr[-2000:])
                raise SystemExit(f"child {mode} failed")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            runs[(mode, b)] = r
            cap = f"cap +{b:.0f} MiB" if b else "no cap"
            if r["ok"]:
                print(f"{mode:7s} {cap:13s} peak RSS {r['peak_rss_mb']:7.1f} MiB  (warm-up "
                      f"{r['base_rss_mb']:6.1f} MiB, +{r['peak_rss_mb'] - r['base_rss_mb']:6.1f})"
                      f"  {r['seconds']:6.1f} s  fit loss {r['fit_loss']:.6f}")
            else:
                print(f"{mode:7s} {cap:13s} refused: {r['error']}  (peak RSS "
                      f"{r['peak_rss_mb']:.1f} MiB)")
        a, b_ = runs[("memmap", budget)], runs[("memory", 0.0)]
        same = a["ok"] and all(a[k] == b_[k] for k in ("fit_loss", "w_sum", "pred_sum"))
        print(f"memmap and in-memory results identical: {same}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
