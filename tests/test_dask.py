"""lstmcore on a Dask cluster: a real LocalCluster of 2 worker processes.

- GridSearchCV under ``joblib.parallel_backend('dask')`` gives the same cv_results_ as the
  same search run in this process, one fit at a time;
- the workers use their share of the cores (the nanny's OMP_NUM_THREADS=1);
- models cross the process boundary through lstmcore's model format, not pickle;
- examples/many_series_dask.py runs, reduced, against the cluster's scheduler address (the
  multi-machine path: ``Client("tcp://host:8786")``);
- a worker killed mid-search: the task is retried on a new worker and the search returns
  the right result, within a time limit (never a hang).

Every wait has a timeout; the cluster is closed with one.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import subprocess
import sys
import threading
import time

import lstmcore
import numpy as np
import pytest
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential

distributed = pytest.importorskip("distributed")
pytest.importorskip("sklearn")
joblib = pytest.importorskip("joblib")

from lstmcore.wrappers.scikit_learn import KerasRegressor  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster, timeout="60s")
    try:
        c.wait_for_workers(2, timeout=60)
        yield c
    finally:
        c.close(timeout=30)
        cluster.close(timeout=30)


def build_regressor(units=4, slow=0.0):
    if slow:  # time for a test to kill the worker while this fit runs
        time.sleep(slow)
    lstmcore.set_seed(5)
    model = Sequential([LSTM(units, input_shape=(8, 2)), Dense(1)])
    model.compile("adam", "mse")
    return model


def _data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 8, 2)).astype(np.float32)
    return x, x[:, -3:, 0].mean(axis=1)


def _search(n_jobs, **extra):
    est = KerasRegressor(build_fn=build_regressor, epochs=2, batch_size=16, verbose=0, **extra)
    return GridSearchCV(est, {"units": [2, 4], "epochs": [1, 2]}, cv=KFold(2), n_jobs=n_jobs)


def test_workers_use_one_thread_each(client):
    threads = client.run(lstmcore.get_num_threads)
    assert len(threads) == 2 and set(threads.values()) == {1}
    env = client.run(lambda: os.environ.get("OMP_NUM_THREADS"))
    assert set(env.values()) == {"1"}


def test_grid_search_on_dask_matches_in_process(client):
    x, y = _data()
    reference = _search(n_jobs=1).fit(x, y)
    with joblib.parallel_backend("dask", wait_for_workers_timeout=60):
        on_dask = _search(n_jobs=-1).fit(x, y)
    np.testing.assert_array_equal(on_dask.cv_results_["mean_test_score"],
                                  reference.cv_results_["mean_test_score"])
    assert on_dask.best_params_ == reference.best_params_
    np.testing.assert_array_equal(on_dask.predict(x), reference.predict(x))


def _train_on_worker(seed):
    lstmcore.set_seed(seed)
    x, y = _data()
    model = build_regressor(units=3)
    model.fit(x, y, epochs=2, verbose=0)
    return model, model.predict(x), os.getpid()


def test_models_travel_through_the_model_format(client):
    model, pred_there, pid = client.submit(_train_on_worker, 7, pure=False).result(timeout=60)
    assert pid != os.getpid()
    x, _ = _data()
    np.testing.assert_array_equal(model.predict(x), pred_there)
    # what a pickled model is: lstmcore's model bytes handed to model_from_bytes, no pickle
    # of its internals (the bytes are a zip of JSON and .npy files)
    fn, (data,) = model.__reduce__()
    assert fn is lstmcore.models.model_from_bytes and isinstance(data, bytes)
    assert data[:2] == b"PK"
    back = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(back.predict(x), pred_there)


def test_many_series_example_against_the_scheduler_address(client):
    address = client.scheduler.address
    # the child imports lstmcore from where this process does (an installed package, or an
    # editable install's finder): never the source folder, which holds no compiled core
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "many_series_dask.py"),
                           "--quick", "--series", "6", "--scheduler", address, "--timeout", "120"],
                          capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "6 series on 2 workers" in proc.stdout
    assert "lstmcore threads per worker: 1" in proc.stdout


async def _die():  # client.run(wait=False) takes only coroutine functions
    os._exit(1)


def _kill_a_busy_worker_during(client, search_fn):
    """Run search_fn in a thread, kill a worker while it runs a fit; the thread's outcome."""
    outcome = {}

    def run():
        try:
            outcome["search"] = search_fn()
        except BaseException as e:  # reported to the test thread
            outcome["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:  # a worker busy with a fit
        busy = [w for w, tasks in client.processing().items() if tasks]
        victim = busy[0] if busy else None
        time.sleep(0.05)
    assert victim is not None, "no task reached a worker within 60 s"
    client.run(_die, workers=[victim], wait=False)  # the worker process exits at once
    t.join(timeout=180)
    assert not t.is_alive(), "the search hung after a worker died"
    client.wait_for_workers(2, timeout=60)  # the nanny starts a new worker process
    return outcome, victim


@pytest.mark.parametrize("scatter", [True, False])
def test_worker_killed_mid_search(client, scatter):
    """With the data broadcast to every worker (``scatter=[x, y]``), the killed worker's fits
    are retried on the other one and the search gives the right result. With joblib's
    default (large arguments scattered to one worker), the data may die with the worker:
    then the search fails with Dask's error naming the lost task; or it gives the right
    result. Never a hang, never a wrong number."""
    x, y = _data()
    reference = _search(n_jobs=1).fit(x, y)
    kwargs = {"scatter": [x, y]} if scatter else {}

    def search():
        with joblib.parallel_backend("dask", wait_for_workers_timeout=60, **kwargs):
            return _search(n_jobs=-1, slow=0.5).fit(x, y)

    outcome, victim = _kill_a_busy_worker_during(client, search)
    assert victim not in client.scheduler_info()["workers"]
    if scatter or "error" not in outcome:
        assert "error" not in outcome, repr(outcome.get("error"))
        np.testing.assert_array_equal(outcome["search"].cv_results_["mean_test_score"],
                                      reference.cv_results_["mean_test_score"])
    else:
        err = outcome["error"]
        assert isinstance(err, (distributed.client.FutureCancelledError,
                                distributed.scheduler.KilledWorker)), repr(err)
        assert str(err), "the error names the lost task"
