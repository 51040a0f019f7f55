"""A whole fit of an Embedding(mask_zero=True) + LSTM text classifier: lstmcore vs Keras 3.

    python benchmarks/bench_text_fit.py [--n 2000] [--epochs 3] [--backends torch,jax]

The same padded integer sequences (lengths 10..100, vocabulary 5000, pre-padded to 100 with
pad_sequences), the same model — Embedding(5000, 64, mask_zero=True) -> LSTM(64) ->
Dense(1, sigmoid), binary cross-entropy, Adam, batch 32 — and the same thread count. Each
framework runs in its own process (Keras needs KERAS_BACKEND before its import); the time of
``fit`` alone is measured, after a one-epoch warm-up fit on a copy of the model. Reports the
seconds per fit and the ratio Keras / lstmcore (> 1: lstmcore is faster), and each side's final
training accuracy (they train the same model, so both should learn the task). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

WORKER = r'''
import json, os, sys, time
import numpy as np
args = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
V, T = 5000, 100
lengths = rng.integers(10, T + 1, size=args["n"])
seqs = [list(rng.integers(1, V, size=k)) for k in lengths]
y = np.array([int(np.mean(np.array(s) < V // 2) > 0.5) for s in seqs], dtype="float32")
if args["impl"] == "lstmcore":
    import lstmcore
    from lstmcore.layers import LSTM, Dense, Embedding
    from lstmcore.models import Sequential
    from lstmcore.preprocessing.sequence import pad_sequences
    lstmcore.set_num_threads(args["threads"])
    x = pad_sequences(seqs, maxlen=T)
    def make():
        m = Sequential([Embedding(V, 64, mask_zero=True), LSTM(64), Dense(1, activation="sigmoid")])
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return m
else:
    os.environ["KERAS_BACKEND"] = args["impl"]
    import warnings
    warnings.simplefilter("ignore")
    if args["impl"] == "torch":
        import torch
        torch.set_num_threads(args["threads"])
    import keras
    from keras import layers
    x = keras.utils.pad_sequences(seqs, maxlen=T)
    def make():
        m = keras.Sequential([keras.Input(shape=(T,), dtype="int32"),
                              layers.Embedding(V, 64, mask_zero=True), layers.LSTM(64),
                              layers.Dense(1, activation="sigmoid")])
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return m
make().fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0)  # warm-up
m = make()
t0 = time.perf_counter()
h = m.fit(x, y, batch_size=32, epochs=args["epochs"], verbose=0)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "accuracy": float(h.history["accuracy"][-1])}))
'''


def run(impl, a):
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    out = subprocess.run([sys.executable, "-c", WORKER,
                          json.dumps({"impl": impl, "n": a.n, "epochs": a.epochs,
                                      "threads": a.threads})],
                         capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr else "failed"
    return json.loads(out.stdout.strip().splitlines()[-1]), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", default="torch,jax")
    a = ap.parse_args()
    t0 = time.perf_counter()
    base, err = run("lstmcore", a)
    if base is None:
        sys.exit(f"lstmcore failed: {err}")
    print(f"{a.n} sequences (lengths 10..100, padded to 100), {a.epochs} epochs, batch 32, "
          f"{a.threads} threads")
    print(f"{'implementation':<16} {'fit (s)':>9} {'ratio':>8} {'train acc':>10}")
    print(f"{'lstmcore':<16} {base['seconds']:>9.2f} {'1x':>8} {base['accuracy']:>10.3f}")
    for backend in [b for b in a.backends.split(",") if b]:
        res, err = run(backend, a)
        if res is None:
            print(f"{'keras/' + backend:<16} {'-':>9} {'-':>8} {'-':>10}   ({err})")
            continue
        ratio = res["seconds"] / base["seconds"]
        print(f"{'keras/' + backend:<16} {res['seconds']:>9.2f} {ratio:>7.1f}x "
              f"{res['accuracy']:>10.3f}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
