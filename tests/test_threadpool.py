"""Threads in worker pools: threadpoolctl sees and limits lstmcore, and joblib (loky) and
multiprocessing workers each use their share of the cores.

Every pool here has a timeout, so a stuck worker fails the test instead of hanging it.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap

import lstmcore
import numpy as np
import pytest
from lstmcore import _core

threadpoolctl = pytest.importorskip("threadpoolctl")
if not hasattr(threadpoolctl, "register"):
    pytest.skip("threadpoolctl too old for third-party controllers", allow_module_level=True)


@pytest.fixture
def restore_threads():
    n = lstmcore.get_num_threads()
    yield
    lstmcore.set_num_threads(n)


def _lstmcore_entries():
    return [d for d in threadpoolctl.threadpool_info() if d["internal_api"] == "lstmcore"]


def test_threadpool_info_lists_lstmcore(restore_threads):
    lstmcore.set_num_threads(3)
    (info,) = _lstmcore_entries()
    assert info["user_api"] == "openmp"
    assert info["num_threads"] == 3 == lstmcore.get_num_threads()
    assert info["version"] == lstmcore.__version__
    assert info["max_num_threads"] == _core.max_num_threads()
    assert os.path.basename(info["filepath"]).startswith("_core")
    assert os.path.samefile(info["filepath"], _core.__file__)


@pytest.mark.parametrize("kwargs", [{}, {"user_api": "openmp"}])
def test_threadpool_limits_limits_and_restores(restore_threads, kwargs):
    lstmcore.set_num_threads(3)
    with threadpoolctl.threadpool_limits(limits=1, **kwargs):
        assert lstmcore.get_num_threads() == 1
        assert _lstmcore_entries()[0]["num_threads"] == 1
        # a fit inside the limit runs, and gives what a 1-thread fit gives
        x = np.random.default_rng(0).random((16, 5, 2), dtype=np.float32)
        m = lstmcore.Sequential([lstmcore.layers.LSTM(4, input_shape=(5, 2)),
                                 lstmcore.layers.Dense(1)])
        m.compile("sgd", "mse")
        m.fit(x, x[:, -1, :1], epochs=1, verbose=0)
    assert lstmcore.get_num_threads() == 3


def test_threadpool_limits_blas_leaves_lstmcore_alone(restore_threads):
    lstmcore.set_num_threads(2)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        assert lstmcore.get_num_threads() == 2


def test_controller_select_and_limit_beyond_the_cap(restore_threads):
    controller = threadpoolctl.ThreadpoolController()
    ours = controller.select(internal_api="lstmcore")
    assert len(ours.lib_controllers) == 1
    with ours.limit(limits=100000):  # clamped by the C side, never an abort
        assert lstmcore.get_num_threads() == _core.max_num_threads()
    with ours.limit(limits=2):
        assert lstmcore.get_num_threads() == 2


def test_a_process_without_threadpoolctl_imports_lstmcore():
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == 'threadpoolctl':
                    raise ImportError('No module named threadpoolctl')
        sys.meta_path.insert(0, Block())
        import lstmcore
        from lstmcore import _threadpool
        print('registered', _threadpool.register(), lstmcore.get_num_threads() >= 1)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "registered False True" in proc.stdout


# ---- worker pools -------------------------------------------------------------------------------
def _worker_threads():
    import os

    import lstmcore
    return lstmcore.get_num_threads(), os.environ.get("OMP_NUM_THREADS")


def test_loky_workers_use_their_share_of_the_cores():
    joblib = pytest.importorskip("joblib")
    from joblib import Parallel, delayed
    cpus = joblib.cpu_count()
    n_jobs = 2
    got = Parallel(n_jobs=n_jobs, backend="loky", timeout=120)(
        delayed(_worker_threads)() for _ in range(4))
    # what loky puts in each worker's OMP_NUM_THREADS: the parent's value when it has one,
    # else the worker's share of the cores
    share = int(os.environ.get("OMP_NUM_THREADS") or max(cpus // n_jobs, 1))
    share = min(share, _core.max_num_threads())
    assert set(got) == {(share, str(share))} or {g[0] for g in got} == {share}, got


def test_loky_inner_max_num_threads_is_obeyed():
    pytest.importorskip("joblib")
    from joblib import Parallel, delayed, parallel_config
    with parallel_config(backend="loky", inner_max_num_threads=1):
        got = Parallel(n_jobs=2, timeout=120)(delayed(_worker_threads)() for _ in range(2))
    assert {g[0] for g in got} == {1}


def test_multiprocessing_pool_with_initializer(restore_threads):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2, initializer=lstmcore.set_num_threads, initargs=(1,)) as pool:
        results = [pool.apply_async(lstmcore.get_num_threads) for _ in range(4)]
        assert [r.get(timeout=120) for r in results] == [1, 1, 1, 1]
