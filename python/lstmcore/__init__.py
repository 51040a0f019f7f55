"""lstmcore: fast, Keras-compatible LSTMs with a native C++ (SIMD + OpenMP) core.

>>> from lstmcore.models import Sequential
>>> from lstmcore.layers import LSTM, Dense
"""

from . import (  # noqa: F401
           _core,  # noqa: F401  (fails early with a clear message on a bad LSTMCORE_SIMD)
           callbacks,
           layers,
           losses,
           metrics,
           models,
           optimizers,
           reference,
)
from ._config import build_info, get_num_threads, set_num_threads, set_seed
from .models import Sequential, load_model
from .plotting import plot_history

__version__ = "0.1.0"

__all__ = ["Sequential", "load_model", "set_seed", "set_num_threads", "get_num_threads",
           "build_info", "plot_history", "__version__", "layers", "models", "optimizers",
           "losses", "metrics", "callbacks", "reference"]
