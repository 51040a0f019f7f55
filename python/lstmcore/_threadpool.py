"""lstmcore as a threadpoolctl library: ``threadpool_info()`` lists it, ``threadpool_limits(n)``
limits it.

threadpoolctl (an optional dependency: scikit-learn and joblib bring it) controls the thread
pools of the native libraries a process has loaded: OpenBLAS, MKL, OpenMP runtimes. lstmcore's
kernels run on libgomp, but size each team from their own setting (``set_num_threads``), not
from ``omp_set_num_threads``, so limiting libgomp alone would not limit them. This controller
finds the extension module by two C functions it exports
(``lstmcore_threadpool_get_num_threads`` / ``lstmcore_threadpool_set_num_threads``, in
``cpp/bindings/bind_build.cpp``) and drives lstmcore's own setting through them, as
threadpoolctl's documented third-party API (``threadpoolctl.register`` with a
``LibController`` subclass) intends.

Its ``user_api`` is ``'openmp'``: lstmcore's threads are OpenMP threads, so code that limits
OpenMP to avoid oversubscription (``threadpool_limits(1, user_api='openmp')``, as
scikit-learn and joblib do) limits lstmcore too. Its ``internal_api`` is ``'lstmcore'``, which
selects it alone: ``threadpool_limits(2, user_api='openmp')`` or
``ThreadpoolController().select(internal_api='lstmcore')``.

Worker pools: joblib's loky workers and Dask's nanny-started workers are fresh processes in
whose environment ``OMP_NUM_THREADS`` is set to the worker's share of the cores (loky:
``cpu_count() // n_jobs``; Dask: 1 by default), and lstmcore reads ``OMP_NUM_THREADS`` when it
is imported there. ``multiprocessing`` sets nothing: pass
``initializer=lstmcore.set_num_threads, initargs=(k,)`` to its ``Pool``.
"""

from __future__ import annotations

from . import _core

_registered = {"done": False}


def register() -> bool:
    """Register lstmcore's controller with threadpoolctl when threadpoolctl is installed.

    Returns True when lstmcore is (now or already) registered, False when threadpoolctl is
    absent or too old to accept third-party controllers (before 3.5). Called once by
    ``import lstmcore``; calling it again does nothing.
    """
    if _registered["done"]:
        return True
    try:
        import threadpoolctl
    except ImportError:
        return False
    if not hasattr(threadpoolctl, "register") or not hasattr(threadpoolctl, "LibController"):
        return False

    class LstmcoreController(threadpoolctl.LibController):
        """threadpoolctl's view of lstmcore's thread count (see the module docstring)."""

        user_api = "openmp"
        internal_api = "lstmcore"
        # the extension module's file name (_core.cpython-311-x86_64-linux-gnu.so,
        # _core.cp311-win_amd64.pyd); other packages' _core modules lack the symbols below
        filename_prefixes = ("_core",)
        check_symbols = ("lstmcore_threadpool_get_num_threads",
                         "lstmcore_threadpool_set_num_threads")

        def get_num_threads(self):
            return int(self.dynlib.lstmcore_threadpool_get_num_threads())

        def set_num_threads(self, num_threads):
            # threadpoolctl passes a positive int; the C side clamps to [1, max_num_threads()]
            self.dynlib.lstmcore_threadpool_set_num_threads(int(num_threads))

        def get_version(self):
            return str(_core.build_info()["version"])

        def set_additional_attributes(self):
            self.max_num_threads = int(_core.max_num_threads())

    threadpoolctl.register(LstmcoreController)
    _registered["done"] = True
    return True
