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

# Weight arrays each reference layer type takes from get_weights(), in Keras order.
_N_WEIGHTS = {"lstm": 3, "dense": 2, "time_distributed": 2, "bidirectional": 6,
              "activation": 0, "repeat_vector": 0, "dropout": 0}


def build_reference(specs, weights) -> ref.ReferenceSequential:
    """A float64 ReferenceSequential from layer specs (without weights) and a flat
    ``get_weights()`` list. Each spec is a dict as in ``lstmcore.reference.model``; the weight
    keys are filled in Keras order."""
    weights = [np.asarray(w, dtype=np.float64) for w in weights]
    out, i = [], 0
    for spec in specs:
        spec = dict(spec)
        kind = spec["type"]
        k = _N_WEIGHTS[kind]
        part = weights[i:i + k]
        i += k
        if kind == "lstm":
            spec.update(kernel=part[0], recurrent_kernel=part[1], bias=part[2])
        elif kind == "dense":
            spec.update(kernel=part[0], bias=part[1])
        elif kind == "time_distributed":
            inner = dict(spec.get("layer", {"type": "dense"}))
            inner.update(kernel=part[0], bias=part[1])
            spec["layer"] = inner
        elif kind == "bidirectional":
            f = dict(spec.get("forward", {"type": "lstm"}))
            b = dict(spec.get("backward", {"type": "lstm"}))
            f.update(type="lstm", kernel=part[0], recurrent_kernel=part[1], bias=part[2])
            b.update(type="lstm", kernel=part[3], recurrent_kernel=part[4], bias=part[5])
            spec.update(forward=f, backward=b)
        out.append(spec)
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
