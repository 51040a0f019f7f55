"""Threads across processes: children made by fork, forkserver and spawn after the parent ran
multithreaded teams, the thread cap, and OMP_NUM_THREADS above it.

libgomp's worker pool does not survive fork(): a child that opened a team the usual way would
wait forever for threads that exist only in the parent. A forked child therefore runs serially
until it calls set_num_threads(n > 1), and from then on its teams run from a fresh thread. Every
child here runs under a timeout, so a hang fails the test instead of blocking the run.
"""

import multiprocessing as mp
import os
import pickle
import queue
import re
import subprocess
import sys
import traceback

import lstmcore
import numpy as np
import pytest
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential

TIMEOUT = 60  # seconds for any child process
B, T, F, H = 256, 30, 16, 64  # 2 threads really split this: ~0.3 GFLOP per forward pass

# Python 3.12+ warns when a process with threads (here: the OpenMP workers) forks; that is
# exactly the situation under test.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:This process \(pid=\d+\) is multi-threaded:DeprecationWarning")


def _data():
    rng = np.random.default_rng(7)
    x = rng.random((B, T, F), dtype=np.float32)
    y = (x[:, -5:, :].mean(axis=(1, 2)) - 0.5).astype(np.float32)[:, None]
    return x, y


def _model(weights=None):
    m = Sequential([LSTM(H, input_shape=(T, F)), Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    if weights is not None:
        m.set_weights(weights)
    return m


def _fit(weights, x, y):
    """A deterministic short fit from the given weights: (weights after, losses per epoch)."""
    m = _model(weights)
    h = m.fit(x, y, epochs=3, batch_size=64, shuffle=True, seed=5, verbose=0)
    return m.get_weights(), h.history["loss"]


def _work(weights, x, threads=None):
    """What each child does (module level, so that spawn and forkserver can import it). The
    arrays arrive as they were sent: pickled, for spawn and forkserver."""
    out = {"threads_at_start": lstmcore.get_num_threads()}
    if threads is not None:
        lstmcore.set_num_threads(threads)
    out["threads"] = lstmcore.get_num_threads()
    out["predict"] = _model(weights).predict(x, batch_size=B, verbose=0)
    y = (x[:, -5:, :].mean(axis=(1, 2)) - 0.5).astype(np.float32)[:, None]
    out["fit_weights"], out["losses"] = _fit(weights, x, y)
    return out


def _child(q, weights, x, threads):
    try:
        q.put(("ok", _work(weights, x, threads)))
    except BaseException:  # report anything, including KeyboardInterrupt, to the parent
        q.put(("error", traceback.format_exc()))


def _run_child(method, weights, x, threads=None):
    ctx = mp.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, weights, x, threads), daemon=True)
    p.start()
    try:
        status, result = q.get(timeout=TIMEOUT)
    except queue.Empty:
        p.kill()
        p.join(5)
        pytest.fail(f"{method} child did not finish within {TIMEOUT} s (hung in a team?)")
    p.join(TIMEOUT)
    if p.is_alive():
        p.kill()
        pytest.fail(f"{method} child did not exit within {TIMEOUT} s")
    assert status == "ok", f"{method} child failed:\n{result}"
    assert p.exitcode == 0, f"{method} child exit code {p.exitcode}"
    return result


@pytest.fixture(scope="module")
def parent():
    """The parent trains and predicts with 2 threads first, so that libgomp has a pool of
    worker threads when the children are made; the reference fit is made here too."""
    before = lstmcore.get_num_threads()
    openmp = lstmcore.build_info()["openmp"]
    lstmcore.set_num_threads(2)
    x, y = _data()
    lstmcore.set_seed(3)
    m = _model()
    m.fit(x, y, epochs=1, batch_size=B, verbose=0)  # a multithreaded fit
    weights = m.get_weights()
    yhat = m.predict(x, batch_size=B, verbose=0)
    fit_w, losses = _fit(weights, x, y)
    yield {"x": x, "weights": weights, "predict": yhat, "fit_weights": fit_w, "losses": losses,
           "openmp": openmp}
    lstmcore.set_num_threads(before)


def _check_same_as_parent(r, parent, what):
    assert np.array_equal(r["predict"], parent["predict"]), f"{what}: prediction differs"
    for a in r["fit_weights"]:
        assert np.all(np.isfinite(a)), f"{what}: non-finite weights after fit"
    assert r["losses"][-1] < r["losses"][0], f"{what}: loss did not decrease: {r['losses']}"
    # bit-identical for any thread count: the child's fit is the parent's
    assert r["losses"] == parent["losses"], f"{what}: losses differ from the parent's"
    for a, b in zip(r["fit_weights"], parent["fit_weights"]):
        assert np.array_equal(a, b), f"{what}: weights after fit differ from the parent's"


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_children_predict_and_train_after_a_multithreaded_parent(parent, method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"start method {method!r} not available here")
    r = _run_child(method, parent["weights"], parent["x"])
    if method == "fork" and parent["openmp"]:
        assert r["threads_at_start"] == 1, "a forked child must start serial"
    _check_same_as_parent(r, parent, method)
    assert lstmcore.get_num_threads() == 2, "the parent's thread count changed"


def test_forked_child_can_use_threads_again(parent):
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork here")
    if not parent["openmp"]:
        pytest.skip("built without OpenMP: one thread only")
    r = _run_child("fork", parent["weights"], parent["x"], threads=2)
    assert r["threads_at_start"] == 1 and r["threads"] == 2
    _check_same_as_parent(r, parent, "fork + set_num_threads(2)")
    # and the parent still runs its own teams
    again = _model(parent["weights"]).predict(parent["x"], batch_size=B, verbose=0)
    assert np.array_equal(again, parent["predict"])


@pytest.mark.parametrize("n", [5000, 0, -1])
def test_thread_count_out_of_range_is_refused_and_unchanged(threads, n):
    lstmcore.set_num_threads(2)
    with pytest.raises(ValueError, match=rf"received n={n}"):
        lstmcore.set_num_threads(n)
    assert lstmcore.get_num_threads() == 2


def _cap():
    """The cap, as the error of a too-large request states it."""
    with pytest.raises(ValueError, match=r"`n` must be between 1 and \d+") as e:
        lstmcore.set_num_threads(10**6)
    return int(re.search(r"between 1 and (\d+)", str(e.value)).group(1))


def test_the_cap_is_accepted_and_one_more_is_not(threads):
    cap = _cap()
    assert 8 <= cap <= 512
    lstmcore.set_num_threads(cap)  # accepted (no team is opened here)
    assert lstmcore.get_num_threads() == (cap if lstmcore.build_info()["openmp"] else 1)
    with pytest.raises(ValueError, match=rf"between 1 and {cap}\b.*received n={cap + 1}"):
        lstmcore.set_num_threads(cap + 1)


def test_omp_num_threads_above_the_cap_gives_a_capped_default():
    if not lstmcore.build_info()["openmp"]:
        pytest.skip("built without OpenMP")
    env = dict(os.environ, OMP_NUM_THREADS="5000")
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    code = ("import lstmcore, re\n"
            "try:\n"
            "    lstmcore.set_num_threads(10**6)\n"
            "except ValueError as e:\n"
            "    cap = int(re.search(r'between 1 and (\\d+)', str(e)).group(1))\n"
            "print(lstmcore.get_num_threads(), cap)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    n, cap = map(int, out.stdout.split())
    assert n == cap < 5000


def test_unpickled_float32_arrays_are_accepted():
    x = pickle.loads(pickle.dumps(_data()[0][:4]))  # what a spawn child receives
    assert x.dtype == np.float32
    _model().predict(x, verbose=0)
