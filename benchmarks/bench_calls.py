"""Per-call cost of train_on_batch / predict_on_batch, A/B between two installs.

    python benchmarks/bench_calls.py                      # this interpreter's lstmcore
    python benchmarks/bench_calls.py --ab OTHER_PYTHON    # interleaved: this vs OTHER_PYTHON
    python benchmarks/bench_calls.py --threads 2          # concurrent predicts on one model

Each workload (batch, timesteps, features, units) is a Sequential LSTM + Dense(1) with Adam;
a round times `--calls` calls of each method and the median over rounds is reported. With
--ab the two interpreters alternate round by round (same machine state for both), and the
ratio other/this is printed (> 1: this one is faster). Used for issue #10's cost of the
finite-update check and the thread-safety locks on the single-call path. Not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

WORKLOADS = {  # name: (B, T, F, H, calls per round)
    "seed_stateful": (10, 5, 1, 2, 2000),
    "tiny": (32, 10, 1, 5, 2000),
    "small": (32, 10, 1, 32, 500),
    "stream": (1, 1, 8, 64, 2000),
    "large": (64, 100, 256, 512, 3),
}


def _round(names, calls_scale):
    import lstmcore
    import numpy as np
    from lstmcore.layers import LSTM, Dense
    from lstmcore.models import Sequential

    lstmcore.set_num_threads(2)
    out = {}
    for name in names:
        B, T, F, H, calls = WORKLOADS[name]
        calls = max(1, int(calls * calls_scale))
        lstmcore.set_seed(0)
        stateful = name in ("seed_stateful", "stream")
        first = LSTM(H, stateful=True, batch_input_shape=(B, T, F)) if stateful else \
            LSTM(H, input_shape=(T, F))
        m = Sequential([first, Dense(1)])
        m.compile(optimizer="adam", loss="mse")
        rng = np.random.default_rng(0)
        x = rng.random((B, T, F)).astype(np.float32)
        y = rng.random((B, 1)).astype(np.float32)
        m.train_on_batch(x, y)
        m.predict_on_batch(x)
        t0 = time.perf_counter()
        for _ in range(calls):
            m.train_on_batch(x, y)
        t1 = time.perf_counter()
        for _ in range(calls):
            m.predict_on_batch(x)
        t2 = time.perf_counter()
        out[name] = {"train_us": (t1 - t0) / calls * 1e6, "predict_us": (t2 - t1) / calls * 1e6}
    return out


def _concurrency(nthreads, rounds):
    """Throughput of predicts on ONE shared model from `nthreads` Python threads (each call
    single-threaded natively) against the same calls made one after another."""
    import threading

    import lstmcore
    import numpy as np
    from lstmcore.layers import LSTM, Dense
    from lstmcore.models import Sequential

    lstmcore.set_num_threads(1)
    lstmcore.set_seed(0)
    m = Sequential([LSTM(64, input_shape=(50, 8)), Dense(1)])
    x = np.random.default_rng(0).random((32, 50, 8)).astype(np.float32)
    m.predict(x)
    calls = 60

    def work():
        for _ in range(calls):
            m.predict(x)

    serial, parallel = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(nthreads):
            work()
        serial.append(time.perf_counter() - t0)
        ths = [threading.Thread(target=work) for _ in range(nthreads)]
        t0 = time.perf_counter()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        parallel.append(time.perf_counter() - t0)
    s, p = statistics.median(serial), statistics.median(parallel)
    print(f"{nthreads} threads x {calls} predicts of (32, 50, 8) on LSTM(64): one after another "
          f"{s * 1e3:.1f} ms, concurrently {p * 1e3:.1f} ms: speed-up {s / p:.2f}x "
          f"(median of {rounds})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ab", help="another Python with another lstmcore installed")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1.0, help="scale the calls per round")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--threads", type=int, help="measure concurrent predicts instead")
    ap.add_argument("--one-round", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.threads:
        _concurrency(a.threads, a.rounds)
        return
    names = a.workloads.split(",")
    if a.one_round:
        print(json.dumps(_round(names, a.scale)))
        return
    pythons = [sys.executable] + ([a.ab] if a.ab else [])
    runs = {p: [] for p in pythons}
    for r in range(a.rounds):
        for p in (pythons if r % 2 == 0 else pythons[::-1]):
            res = subprocess.run([p, __file__, "--one-round", "--scale", str(a.scale),
                                  "--workloads", a.workloads], capture_output=True, text=True,
                                 check=True)
            runs[p].append(json.loads(res.stdout))
    print(f"median of {a.rounds} rounds, microseconds per call")
    head = f"{'workload':<15}{'method':<9}" + "".join(f"{'this' if p == sys.executable else 'other':>10}"
                                                     for p in pythons)
    print(head + ("   other/this" if a.ab else ""))
    for name in names:
        for key in ("train_us", "predict_us"):
            meds = [statistics.median(run[name][key] for run in runs[p]) for p in pythons]
            row = f"{name:<15}{key[:-3]:<9}" + "".join(f"{v:>10.1f}" for v in meds)
            if a.ab:
                row += f"   {meds[1] / meds[0]:.3f}"
            print(row)


if __name__ == "__main__":
    main()
