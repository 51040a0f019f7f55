"""Shared fixtures and helpers for the model-level tests.

- every test starts from ``lstmcore.set_seed(0)`` (autouse), so weights and shuffles are the
  same on every run and on every machine;
- ``threads`` restores the native thread count after a test that changes it; ``simd`` runs a
  test once per SIMD level the CPU supports and restores the level;
- ``build_reference(specs, model.get_weights())`` (imported by the test modules) makes a
  float64 ``ReferenceSequential`` holding the model's own weights, from the layer specs the
  test *meant* to build, so a layer that silently ignores an argument shows up as a numeric
  mismatch.
"""

from __future__ import annotations

import lstmcore
import numpy as np
import pytest
from lstmcore import reference as ref

EPS32 = float(np.finfo(np.float32).eps)  # 1.19e-7


def num_grad(f, arr, h=1e-6):
    """Central finite-difference gradient of scalar f() w.r.t. arr (perturbed in place)."""
    g = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + h
        fp = f()
        arr[idx] = old - h
        fm = f()
        arr[idx] = old
        g[idx] = (fp - fm) / (2 * h)
    return g


def build_reference(specs, weights) -> ref.ReferenceSequential:
    """A float64 ReferenceSequential from layer specs (without weights) and a flat
    ``get_weights()`` list. Each spec is a dict as in ``lstmcore.reference.model``; its
    reference entry (``ref.LAYERS[kind]``) says how many arrays it takes and fills them in, in
    Keras order."""
    weights = [np.asarray(w, dtype=np.float64) for w in weights]
    out, i = [], 0
    for spec in specs:
        entry = ref.LAYERS[spec["type"]]
        k = entry.n_weights(spec)
        out.append(entry.fill(dict(spec), weights[i:i + k]))
        i += k
    assert i == len(weights), f"specs take {i} weight arrays, the model has {len(weights)}"
    return ref.ReferenceSequential(out)


@pytest.fixture(autouse=True)
def _seed():
    lstmcore.set_seed(0)
    yield


@pytest.fixture
def threads():
    """Restore the native thread count after the test (tests may call set_num_threads)."""
    before = lstmcore.get_num_threads()
    yield before
    lstmcore.set_num_threads(before)


@pytest.fixture(params=lstmcore._core.supported_simd_levels())
def simd(request):
    """Run the test once per SIMD level this CPU supports (forced in-process), restoring the
    previous level afterwards."""
    prev = lstmcore._core.simd_level()
    lstmcore._core.set_simd_level(request.param)
    try:
        yield request.param
    finally:
        lstmcore._core.set_simd_level(prev)
