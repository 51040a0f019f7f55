"""Keras initialisers, drawn from the seedable generator in ``lstmcore.set_seed``."""

from __future__ import annotations

import numpy as np

from . import _config

INITIALIZERS = ("glorot_uniform", "glorot_normal", "orthogonal", "zeros", "ones", "random_normal",
                "random_uniform", "he_uniform", "he_normal")


def _fans(shape):
    # Keras' compute_fans: a kernel of rank > 2 (Conv1D's (k, in, out)) counts its receptive
    # field (the leading axes) in both fans.
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def get(identifier) -> str:
    if isinstance(identifier, str) and identifier.lower() in INITIALIZERS:
        return identifier.lower()
    valid = ", ".join(repr(i) for i in INITIALIZERS)
    raise ValueError(f"unknown initializer {identifier!r}; expected one of {valid}")


def make(name: str, shape, rng: np.random.Generator | None = None) -> np.ndarray:
    """A float32 C-contiguous array of `shape` drawn as Keras' initializer `name`."""
    rng = rng or _config.rng()
    shape = tuple(int(s) for s in shape)
    fan_in, fan_out = _fans(shape)
    if name == "zeros":
        w = np.zeros(shape)
    elif name == "ones":
        w = np.ones(shape)
    elif name == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-limit, limit, shape)
    elif name == "glorot_normal":
        w = _truncated_normal(rng, np.sqrt(2.0 / (fan_in + fan_out)), shape)
    elif name == "he_uniform":
        limit = np.sqrt(6.0 / fan_in)
        w = rng.uniform(-limit, limit, shape)
    elif name == "he_normal":
        w = _truncated_normal(rng, np.sqrt(2.0 / fan_in), shape)
    elif name == "random_normal":
        w = rng.normal(0.0, 0.05, shape)
    elif name == "random_uniform":
        w = rng.uniform(-0.05, 0.05, shape)
    elif name == "orthogonal":
        # Keras: QR of a (max, min) normal matrix, signs fixed by diag(R), transposed when
        # the weight has fewer rows than columns (the recurrent kernel (H, 4H)).
        rows, cols = fan_in, fan_out
        a = rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        w = q.reshape(shape)
    else:
        raise ValueError(f"unknown initializer {name!r}")
    return np.ascontiguousarray(w, dtype=np.float32)


def _truncated_normal(rng, stddev, shape):
    # Keras' variance-scaling normal: truncated at 2 stddev, rescaled by 0.8796...
    std = stddev / 0.87962566103423978
    out = rng.normal(0.0, std, shape)
    bad = np.abs(out) > 2 * std
    while bad.any():
        out[bad] = rng.normal(0.0, std, int(bad.sum()))
        bad = np.abs(out) > 2 * std
    return out
