"""Per-batch cost of training from a generator or a Sequence, against the same batches from
arrays, in one run (issue #13: the Python overhead per batch).

    python benchmarks/bench_generators.py [--rounds 7]

Workloads (batch, timesteps, features, units): tiny (32, 10, 1, 5), where the native step is a
few tens of microseconds and overhead shows, and medium (64, 50, 32, 128). Each round fits one
epoch of 100 batches three ways — arrays (``fit(x, y)``, shuffle off), a generator of array
slices, a ``Sequence`` — and reports the median microseconds per batch and the difference to
arrays. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _sequence_class(base, x, y, B, steps):
    class Batches(base):
        def __len__(self):
            return steps

        def __getitem__(self, i):
            return x[i * B:(i + 1) * B], y[i * B:(i + 1) * B]
    return Batches


def _generator(x, y, B, steps):
    while True:
        for i in range(steps):
            yield x[i * B:(i + 1) * B], y[i * B:(i + 1) * B]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    import lstmcore
    from lstmcore.layers import LSTM, Dense
    from lstmcore.models import Sequential
    from lstmcore.utils import Sequence

    lstmcore.set_num_threads(2)
    print(f"{'workload':<8} {'arrays':>10} {'generator':>10} {'Sequence':>10}   us per batch")
    for name, (B, T, F, H) in {"tiny": (32, 10, 1, 5), "medium": (64, 50, 32, 128)}.items():
        steps = 100
        rng = np.random.default_rng(0)
        x = rng.normal(size=(B * steps, T, F)).astype(np.float32)
        y = rng.normal(size=(B * steps, 1)).astype(np.float32)

        Batches = _sequence_class(Sequence, x, y, B, steps)
        gen = _generator(x, y, B, steps)

        m = Sequential([LSTM(H, input_shape=(T, F)), Dense(1)])
        m.compile("adam", "mse")
        runs = {"arrays": (m.fit, (x, y), {"batch_size": B, "shuffle": False}),
                "generator": (m.fit, (gen,), {"steps_per_epoch": steps}),
                "Sequence": (m.fit, (Batches(),), {"shuffle": False})}
        times = {k: [] for k in runs}
        for f, args, kw in runs.values():
            f(*args, epochs=1, verbose=0, **kw)
        for _ in range(a.rounds):
            for k, (f, args, kw) in runs.items():
                t0 = time.perf_counter()
                f(*args, epochs=1, verbose=0, **kw)
                times[k].append((time.perf_counter() - t0) / steps * 1e6)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{name:<8} {med['arrays']:>10.1f} {med['generator']:>10.1f} {med['Sequence']:>10.1f}"
              f"   (+{med['generator'] - med['arrays']:.1f} / +{med['Sequence'] - med['arrays']:.1f})")


if __name__ == "__main__":
    main()
