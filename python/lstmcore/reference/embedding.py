"""Embedding reference: rows of a (V, E) matrix for integer indices; scatter-add gradient."""

import numpy as np

from .activations import as_float


def embedding_forward(indices, embeddings):
    """indices (B, T) of integers (any numeric dtype holding integers) -> (B, T, E)."""
    idx = np.asarray(indices)
    if idx.size and (idx != np.floor(idx)).any():
        raise ValueError("embedding indices must be integers")
    idx = idx.astype(np.int64)
    w = as_float(embeddings)
    if idx.size and (idx.min() < 0 or idx.max() >= w.shape[0]):
        raise ValueError(f"embedding indices must be in [0, {w.shape[0] - 1}]")
    return w[idx], idx


def embedding_backward(idx, dy, vocab):
    """dL/dembeddings (V, E): dy rows summed into the rows their indices used."""
    dy = as_float(dy)
    g = np.zeros((vocab, dy.shape[-1]), dtype=dy.dtype)
    np.add.at(g, idx.reshape(-1), dy.reshape(-1, dy.shape[-1]))
    return g


# ---- the ReferenceSequential entry (reference/model.py: LAYERS["embedding"]) -----------------
def normalize(spec):
    return {"type": "embedding", "embeddings": as_float(spec["embeddings"]).copy(),
            "mask_zero": bool(spec.get("mask_zero", False))}


def slots(layer):
    return [(layer, "embeddings")]


def fill(spec, arrays):
    arrays = list(arrays)
    if len(arrays) != 1:
        raise ValueError(f"expected 1 weight array, got {len(arrays)}")
    return {**spec, "embeddings": arrays[0]}


def forward(layer, x, state):
    return embedding_forward(x, layer["embeddings"])


def backward(layer, cache, dy):
    return None, [embedding_backward(cache, dy, layer["embeddings"].shape[0])]


def mask(layer, x, mask_in):
    """mask_zero: index 0 is padding."""
    return np.asarray(x) != 0 if layer["mask_zero"] else None
