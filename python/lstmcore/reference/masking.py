"""Masking reference (Keras): timesteps whose features all equal mask_value are masked."""

import numpy as np

from .activations import as_float


def masking_forward(x, mask_value=0.0):
    """x (B, T, F) -> (y, mask): y is x with masked timesteps zeroed; mask (B, T) bool."""
    x = as_float(x)
    mask = np.any(x != mask_value, axis=-1)
    return x * mask[..., None], mask


# ---- the ReferenceSequential entry (reference/model.py: LAYERS["masking"]) -------------------
def normalize(spec):
    return {"type": "masking", "mask_value": float(spec.get("mask_value", 0.0))}


def forward(layer, x, state):
    y, m = masking_forward(x, layer["mask_value"])
    return y, m


def backward(layer, cache, dy):
    return as_float(dy) * cache[..., None], []


def mask(layer, x, mask_in):
    return np.any(as_float(x) != layer["mask_value"], axis=-1)
