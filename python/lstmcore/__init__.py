"""lstmcore: fast, Keras-compatible LSTMs with a native C++ (SIMD + OpenMP) core.

>>> from lstmcore.models import Sequential
>>> from lstmcore.layers import LSTM, Dense
"""

import os as _os

# OpenMP threads waiting at a barrier spin only briefly before sleeping. With libgomp's default
# (hundreds of thousands of spins) a fit on a machine where other processes compete for the
# cores ran 10-200 times slower with 2 threads than with 1 (spinning threads steal the core
# from the one doing the work); with a short spin it stays within ~20% of the best case.
# Only a default: OMP_WAIT_POLICY / GOMP_SPINCOUNT set by the user win.
if "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ.setdefault("GOMP_SPINCOUNT", "200")

from . import (  # noqa: E402
    _core,  # noqa: F401  (fails early with a clear message on a bad LSTMCORE_SIMD)
    callbacks,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    reference,
)
from ._config import build_info, get_num_threads, set_num_threads, set_seed  # noqa: E402
from .models import Sequential, load_model  # noqa: E402
from .plotting import plot_history  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Sequential", "load_model", "set_seed", "set_num_threads", "get_num_threads",
           "build_info", "plot_history", "__version__", "layers", "models", "optimizers",
           "losses", "metrics", "callbacks", "reference"]
