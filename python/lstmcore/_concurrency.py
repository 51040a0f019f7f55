"""How one model is shared by threads and survives fork().

The contract (README, "Threads and processes"):
- ``predict``, ``evaluate``, ``test_on_batch`` and ``get_weights`` may be called from any
  number of threads at once. A stateless model gives each concurrent call its own native
  executor (the layers' activations and workspaces; the weights are shared, not copied), so
  they run in parallel and give bit-identical results to one call at a time.
- Everything that changes the model — ``fit``, ``train_on_batch``, ``compile``,
  ``set_weights`` (of the model or a layer), ``load_weights``, ``reset_states``, ``add``, and
  any call on a *stateful* model (its state is one per model) — is serialised: a second such
  call waits for the first. They hold the model's mutation lock (re-entrant: callbacks inside
  ``fit`` may call them).
- Weights are never read half-written: a native training step, and every write of weights or
  optimizer slots, holds the model's ``WeightLock`` exclusively; inference holds it shared.
  A ``predict`` during ``fit`` therefore sees the weights between two batches.
- After ``fork()`` a lock may be held by a thread that does not exist in the child: the
  mutation locks are made anew in the child (``_after_fork_in_child``; the native WeightLock
  renews itself on first use there), and the native thread pool runs serially there until
  ``set_num_threads`` is called.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref

from . import _core

_guards: weakref.WeakSet = weakref.WeakSet()  # every live ModelGuard, for the fork hook


def _after_fork_in_child() -> None:
    # the child has one thread: a mutex the parent's other threads held is held forever
    for guard in list(_guards):
        guard.mutex = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def _holding(acquire, release):
    acquire()
    try:
        yield
    finally:
        release()


class ModelGuard:
    """A model's mutation lock (an RLock, made anew in a forked child), its native
    WeightLock, and its pool of inference executors."""

    __slots__ = ("mutex", "weights", "pool", "pool_gen", "__weakref__")

    def __init__(self):
        self.mutex = threading.RLock()
        self.weights = _core.WeightLock()
        self.pool: list = []
        self.pool_gen = 0
        _guards.add(self)

    def exclusive(self):
        """Hold the weights exclusively (waits, without the GIL, for running steps/predicts)."""
        return _holding(self.weights.acquire_exclusive, self.weights.release_exclusive)

    def shared(self):
        """Hold the weights shared (with other readers; waits for a writer)."""
        return _holding(self.weights.acquire_shared, self.weights.release_shared)

    def invalidate(self) -> None:
        """The layers or the compile settings changed: executors built before are dropped
        (those in use are not returned to the pool)."""
        self.pool = []
        self.pool_gen += 1
