"""Threads, the GIL, interrupts, thread-count policy and memory: the behaviour a numerical
library must have to be trusted inside larger programs."""

import os
import signal
import subprocess
import sys
import threading
import time

import lstmcore
import numpy as np
import pytest
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential


def _data(n=512, t=20, f=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, t, f)).astype(np.float32)
    return x, x.mean(axis=(1, 2))[:, None].astype(np.float32)


def _model(units=48, t=20, f=8, seed=1):
    lstmcore.set_seed(seed)
    m = Sequential([LSTM(units, input_shape=(t, f)), Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    return m


def test_fit_releases_the_gil():
    # Another Python thread keeps counting while fit runs in native code.
    x, y = _data()
    m = _model()
    ticks = []
    stop = threading.Event()

    def counter():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    th = threading.Thread(target=counter)
    th.start()
    try:
        t0 = time.perf_counter()
        m.fit(x, y, epochs=3, batch_size=512, verbose=0)
        elapsed = time.perf_counter() - t0
    finally:
        stop.set()
        th.join()
    during = [t for t in ticks if t0 <= t <= t0 + elapsed]
    # one full-batch native call per epoch: if the GIL were held the counter would stall for
    # whole epochs; it ticks about every millisecond instead
    assert len(during) >= max(3, int(elapsed / 0.004)), (len(during), elapsed)


def test_two_models_in_two_threads_match_sequential_training():
    # Models are created first (initialisation draws from the global seeded generator), then
    # trained with per-fit seeds: concurrently or one after the other, the weights agree.
    x, y = _data(128, t=10)

    def models():
        return [_model(units=24, t=10, seed=10 + i) for i in range(2)]

    def train(m, out, i):
        m.fit(x, y, epochs=2, batch_size=32, verbose=0, seed=i, shuffle=True)
        out[i] = m.get_weights()

    sequential = {}
    for i, m in enumerate(models()):
        train(m, sequential, i)
    parallel = {}
    threads = [threading.Thread(target=train, args=(m, parallel, i)) for i, m in enumerate(models())]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i in range(2):
        for a, b in zip(sequential[i], parallel[i]):
            np.testing.assert_array_equal(a, b)


def test_keyboard_interrupt_stops_after_a_batch_and_leaves_the_model_usable(tmp_path):
    x, y = _data(4096)
    m = _model()
    before = m.predict(x[:8])

    def interrupt():
        time.sleep(0.3)
        signal.raise_signal(signal.SIGINT)

    th = threading.Thread(target=interrupt)
    th.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        m.fit(x, y, epochs=1000, batch_size=32, verbose=0)
    latency = time.perf_counter() - t0 - 0.3
    th.join()
    assert latency < 1.0, f"fit took {latency:.2f} s to stop after Ctrl-C"
    after = m.predict(x[:8])
    assert np.isfinite(after).all() and not np.array_equal(before, after)  # it did train
    m.save(tmp_path / "m.lstmcore")
    again = lstmcore.load_model(tmp_path / "m.lstmcore")
    np.testing.assert_array_equal(again.predict(x[:8]), after)
    h = m.fit(x[:256], y[:256], epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"]).all()


def test_set_num_threads_is_honoured_and_validated():
    old = lstmcore.get_num_threads()
    try:
        lstmcore.set_num_threads(1)
        assert lstmcore.get_num_threads() == 1
        assert lstmcore.build_info()["num_threads"] == 1
        with pytest.raises(ValueError, match="positive integer"):
            lstmcore.set_num_threads(0)
        assert lstmcore.get_num_threads() == 1
    finally:
        lstmcore.set_num_threads(old)


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=60)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
@pytest.mark.skipif(not lstmcore.build_info()["openmp"], reason="single-threaded build")
def test_default_threads_follow_cpu_affinity_not_core_count():
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "import lstmcore; print(lstmcore.get_num_threads())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


@pytest.mark.skipif(not lstmcore.build_info()["openmp"], reason="single-threaded build")
def test_omp_num_threads_is_honoured():
    r = _run("import lstmcore; print(lstmcore.get_num_threads())", OMP_NUM_THREADS="3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"


def _rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.soak
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_soak_memory_is_flat():
    # fit and predict repeatedly; after warm-up, resident memory must not grow
    # (predict in a loop must not leak). Size set by LSTMCORE_SOAK_ITERS.
    iters = int(os.environ.get("LSTMCORE_SOAK_ITERS", "300"))
    x, y = _data(256, t=10, f=4)
    m = _model(units=32, t=10, f=4)
    for _ in range(20):
        m.fit(x, y, epochs=1, batch_size=32, verbose=0)
        m.predict(x)
    base = _rss_kb()
    for _ in range(iters):
        m.fit(x, y, epochs=1, batch_size=32, verbose=0)
        m.predict(x)
        m.predict_on_batch(x[:7])
        m.evaluate(x, y, verbose=0)
    grown = _rss_kb() - base
    assert grown < 4096, f"RSS grew by {grown} kB over {iters} fit/predict rounds"
