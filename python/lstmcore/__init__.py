"""lstmcore: fast, Keras-compatible LSTMs with a native C++ (SIMD + OpenMP) core.

>>> from lstmcore.models import Sequential
>>> from lstmcore.layers import LSTM, Dense
"""

import os as _os

# OpenMP threads waiting at a barrier spin for a bounded time, then sleep. libgomp's default
# spin (300000 rounds) made two 2-thread fits sharing 2 cores run 10-100x slower than alone
# (spinning threads steal the core from the thread doing the work); a very short spin
# instead made mid-sized GEMMs 3x slower on a quiet machine (every barrier became a futex
# wake-up). 30000 rounds kept the quiet-machine GEMM rate (~390 GFLOP/s at 64x512x128 on
# 2 threads) and cut the contended case to a few times slower. Measured with
# benchmarks/bench_gemm.py and two concurrent fits; only a default: OMP_WAIT_POLICY or
# GOMP_SPINCOUNT set by the user win.
_spin_set = "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ
if _spin_set:
    _os.environ["GOMP_SPINCOUNT"] = "30000"

from . import (  # noqa: E402
    _core,  # noqa: F401  (fails early with a clear message on a bad LSTMCORE_SIMD)
    callbacks,
    interop,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    preprocessing,
    reference,
    regularizers,
    utils,
)

if _spin_set:  # libgomp has read it while loading _core: keep it out of child processes
    del _os.environ["GOMP_SPINCOUNT"]

from ._config import build_info, get_num_threads, set_num_threads, set_seed  # noqa: E402
from ._threadpool import register as _register_threadpool  # noqa: E402
from .layers import Input  # noqa: E402
from .models import Model, Sequential, load_model  # noqa: E402
from .plotting import plot_history  # noqa: E402

_register_threadpool()  # threadpoolctl sees and limits lstmcore when it is installed

# one source: pyproject.toml's version, which the build passes to the extension
__version__ = _core.build_info()["version"]

__all__ = ["Sequential", "Model", "Input", "load_model", "set_seed", "set_num_threads", "get_num_threads",
           "build_info", "plot_history", "__version__", "layers", "models", "optimizers",
           "losses", "metrics", "callbacks", "reference", "preprocessing", "utils",
           "regularizers", "interop"]
