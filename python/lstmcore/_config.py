"""Process-wide settings: the random seed, threads and build information."""

from __future__ import annotations

import threading

import numpy as np

from . import _core

# The generator behind initialisers, shuffling and dropout seeds: set by set_seed, else made
# at first use from NumPy's global generator (see rng()).
_state = {"rng": None}
_rng_lock = threading.Lock()


def set_seed(seed: int) -> None:
    """Seed weight initialisation, shuffling and dropout.

    Args:
        seed: a non-negative integer. Two runs after the same ``set_seed`` give
            bit-identical weights, whatever the thread count.

    Without it, the generator is seeded at first use (the first model built) from NumPy's
    global generator, so that ``numpy.random.seed(n)`` at the top of a script, as Keras
    tutorials write it, makes two runs repeatable too; with neither, runs differ.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer; received seed={seed!r}")
    _state["rng"] = np.random.default_rng(int(seed))


def rng() -> np.random.Generator:
    """The generator used for initialisers, shuffling and dropout seeds.

    Before any ``set_seed``, it is made at first use from one draw of NumPy's global (legacy)
    generator: after ``numpy.random.seed(7)`` every run draws the same weights and shuffles.
    A ``numpy.random.seed`` after that first use does not re-seed it (``set_seed`` does)."""
    r = _state["rng"]
    if r is None:
        with _rng_lock:
            r = _state["rng"]
            if r is None:
                r = np.random.default_rng(int(np.random.randint(0, 2**63 - 1, dtype=np.int64)))
                _state["rng"] = r
    return r


def set_num_threads(n: int) -> None:
    """Set the number of threads the native kernels use (OpenMP)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"`n` must be a positive integer; received n={n!r}")
    cap = _core.max_num_threads()
    if n > cap:  # checked here too: a value beyond a C int could not even be passed
        raise ValueError(f"`n` must be between 1 and {cap} (4 threads per processor, at least 8 "
                         f"and at most 512: more only time-slice, and creating too many aborts "
                         f"the process); received n={n}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """The number of threads the native kernels use."""
    return int(_core.get_num_threads())


def build_info() -> dict:
    """Compiler, OpenMP, the SIMD level selected at run time and those compiled in."""
    return dict(_core.build_info())
