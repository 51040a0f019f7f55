"""GridSearchCV of 8 lstmcore fits with n_jobs=2 against n_jobs=1 (issue #15).

    python benchmarks/bench_sklearn.py [--rounds 5] [--samples 512] [--units 32]

The search: ``KerasRegressor`` around ``LSTM(units) -> Dense(1)`` on ``(samples, 20, 4)``,
grid ``units x epochs`` of 4 points, ``cv=2``: 8 fits plus the refit. n_jobs=1 fits one
model at a time in this process with every core (lstmcore's default thread count); n_jobs=2
fits two at a time in loky workers, each with ``cpu_count() // 2`` threads (loky sets
``OMP_NUM_THREADS`` in its workers and lstmcore reads it). Rounds alternate the order; the
workers are started once before timing (joblib reuses them), and the first call's start-up is
reported apart. A third configuration, n_jobs=1 on one thread, separates what the second
process brings from what lstmcore's own threads bring. Prints one line per configuration
and the median ratios. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def create_model(units=32, timesteps=20, features=4):
    import lstmcore
    from lstmcore.layers import LSTM, Dense
    from lstmcore.models import Sequential
    lstmcore.set_seed(0)
    model = Sequential([LSTM(units, input_shape=(timesteps, features)), Dense(1)])
    model.compile("adam", "mse")
    return model


def search(x, y, units, n_jobs, threads=None):
    from lstmcore.wrappers.scikit_learn import KerasRegressor
    from sklearn.model_selection import GridSearchCV, KFold
    est = KerasRegressor(build_fn=create_model, epochs=2, batch_size=32, verbose=0)
    grid = {"units": [units, units // 2], "epochs": [2, 3]}
    gs = GridSearchCV(est, grid, cv=KFold(2), n_jobs=n_jobs)
    import lstmcore
    before = lstmcore.get_num_threads()
    if threads:
        lstmcore.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        gs.fit(x, y)
        return time.perf_counter() - t0, gs
    finally:
        lstmcore.set_num_threads(before)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=2048)
    ap.add_argument("--units", type=int, default=32)
    args = ap.parse_args()

    import joblib
    import lstmcore
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, 20, 4)).astype(np.float32)
    y = x[:, -5:, 0].mean(axis=1)

    info = lstmcore.build_info()
    print(f"lstmcore {lstmcore.__version__}  simd={info['simd']}  threads={info['num_threads']}  "
          f"cpus={joblib.cpu_count()}  samples={args.samples}  units={args.units}")
    # correctness first: both searches score the same (fits are seeded and deterministic)
    cold, gs2 = search(x, y, args.units, 2)
    _, gs1 = search(x, y, args.units, 1)
    np.testing.assert_allclose(gs1.cv_results_["mean_test_score"],
                               gs2.cv_results_["mean_test_score"], rtol=1e-5)
    print(f"first n_jobs=2 search (starts the loky workers): {cold:.3f} s")
    configs = {"n_jobs=1": (1, None), "n_jobs=1 threads=1": (1, 1), "n_jobs=2": (2, None)}
    times = {k: [] for k in configs}
    for r in range(args.rounds):
        for name in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
            times[name].append(search(x, y, args.units, *configs[name])[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in configs:
        print(f"GridSearchCV 8 fits + refit  {k:<20} median {med[k]:.3f} s  "
              f"(min {min(times[k]):.3f}, max {max(times[k]):.3f}, {args.rounds} rounds)")
    print(f"speed-up n_jobs=2 vs n_jobs=1: {med['n_jobs=1'] / med['n_jobs=2']:.2f}x "
          f"(vs n_jobs=1 on one thread: {med['n_jobs=1 threads=1'] / med['n_jobs=2']:.2f}x)")


if __name__ == "__main__":
    main()
