"""Losses (Keras 3 definitions, reduction 'sum_over_batch_size') and metrics.

A loss first reduces the last axis to a per-sample loss array (shape
y_pred.shape[:-1]); the returned scalar is the sum of that array divided by
its size. Computation happens in y_pred's floating dtype (y_true is cast to
it, as Keras does).
"""

import numpy as np

from .activations import as_float

EPSILON = 1e-7

LOSSES = (
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}

METRICS = (
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "mse",
    "mae",
)


def _canonical(name):
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; valid names: {', '.join(LOSSES)}")
    return _ALIASES.get(name, name)


def _sparse_to_one_hot(y_true, y_pred):
    """Integer class ids of shape y_pred.shape[:-1] (or with a trailing 1)
    -> one-hot array shaped like y_pred, in y_pred's dtype."""
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"sparse labels shape {y_true.shape} incompatible with predictions {y_pred.shape}"
        )
    idx = y_true.astype(np.int64)
    K = y_pred.shape[-1]
    if np.any((idx < 0) | (idx >= K)):
        raise ValueError(f"sparse labels must lie in [0, {K})")
    return (idx[..., None] == np.arange(K)).astype(y_pred.dtype)


def _prepare(name, y_true, y_pred):
    y_pred = as_float(y_pred)
    if name == "sparse_categorical_crossentropy":
        y_true = _sparse_to_one_hot(y_true, y_pred)
    else:
        y_true = np.asarray(y_true).astype(y_pred.dtype, copy=False)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"y_true shape {y_true.shape} != y_pred shape {y_pred.shape}")
    return y_true, y_pred


def _per_sample(name, y, p):
    """Per-sample loss, shape p.shape[:-1]."""
    if name == "mean_squared_error":
        return np.mean(np.square(y - p), axis=-1)
    if name == "mean_absolute_error":
        return np.mean(np.abs(y - p), axis=-1)
    if name == "binary_crossentropy":
        pc = np.clip(p, EPSILON, 1 - EPSILON)
        bce = y * np.log(pc)
        bce = bce + (1 - y) * np.log(1 - pc)
        return np.mean(-bce, axis=-1)
    # categorical / sparse categorical
    q = p / np.sum(p, axis=-1, keepdims=True)
    q = np.clip(q, EPSILON, 1 - EPSILON)
    return -np.sum(y * np.log(q), axis=-1)


def _row_weights(per_shape, mask, sample_weight, dtype):
    """(weights of the per-sample loss entries, denominator): Keras' sum_over_batch_size
    with a mask renormalised to the entries used, and sample weights (one per sample,
    broadcast over timesteps) not renormalised."""
    w = np.ones(per_shape, dtype)
    denom = dtype.type(w.size)
    if mask is not None:
        m = np.asarray(mask, dtype=dtype)
        w = w * m
        denom = np.sum(m)
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=dtype).reshape((-1,) + (1,) * (len(per_shape) - 1))
        w = w * sw
    return w, denom


def loss_forward(name, y_true, y_pred, mask=None, sample_weight=None):
    """Scalar loss (numpy scalar in y_pred's dtype).

    y_pred (..., K); y_true same shape, or integer class ids (...,) / (..., 1)
    for 'sparse_categorical_crossentropy'. Cross-entropies take probabilities.
    mask (shape y_pred.shape[:-1]), Keras masking: the mean over the unmasked entries only
    (0 when all are masked).
    """
    name = _canonical(name)
    y, p = _prepare(name, y_true, y_pred)
    per = _per_sample(name, y, p)
    if mask is not None or sample_weight is not None:
        w, denom = _row_weights(per.shape, mask, sample_weight, p.dtype)
        return np.sum(per * w) / denom if denom else p.dtype.type(0)
    return np.sum(per) / p.dtype.type(per.size)


def loss_backward(name, y_true, y_pred, mask=None, sample_weight=None):
    """dL/dy_pred (shape and dtype of y_pred) of the scalar from :func:`loss_forward`.

    Zero where a clip to [eps, 1 - eps] is active; categorical losses include
    the gradient through the normalisation p / sum(p).
    """
    if mask is not None or sample_weight is not None:  # the unweighted gradient, reweighted
        g = loss_backward(name, y_true, y_pred)
        w, denom = _row_weights(g.shape[:-1], mask, sample_weight, g.dtype)
        if not denom:
            return np.zeros_like(g)
        return g * (w.size / denom) * w[..., None]
    name = _canonical(name)
    y, p = _prepare(name, y_true, y_pred)
    n_total = p.size
    n_rows = p.dtype.type(int(np.prod(p.shape[:-1])))  # size of the per-sample loss array
    if name == "mean_squared_error":
        return 2 * (p - y) / p.dtype.type(n_total)
    if name == "mean_absolute_error":
        return np.sign(p - y) / p.dtype.type(n_total)
    if name == "binary_crossentropy":
        inside = (p >= EPSILON) & (p <= 1 - EPSILON)
        pc = np.clip(p, EPSILON, 1 - EPSILON)
        g = -(y / pc - (1 - y) / (1 - pc))
        return g * inside / p.dtype.type(n_total)
    # categorical / sparse categorical: L_row = -sum_k y_k log clip(q_k), q = p / s
    s = np.sum(p, axis=-1, keepdims=True)
    q = p / s
    inside = (q >= EPSILON) & (q <= 1 - EPSILON)
    gq = -(y / np.clip(q, EPSILON, 1 - EPSILON)) * inside  # dL_row/dq
    gp = (gq - np.sum(gq * q, axis=-1, keepdims=True)) / s  # chain through q = p / s
    return gp / n_rows


def metric(name, y_true, y_pred):
    """Metric value as a Python float (mean over all samples/time steps).

    'binary_accuracy' (threshold 0.5, strict >), 'categorical_accuracy',
    'sparse_categorical_accuracy' (y_true ids of shape y_pred.shape[:-1] or
    with a trailing 1), 'mse', 'mae'.
    """
    if name not in METRICS:
        raise ValueError(f"Unknown metric {name!r}; valid names: {', '.join(METRICS)}")
    if name in ("mse", "mae"):
        return float(loss_forward(name, y_true, y_pred))
    y_pred = as_float(y_pred)
    y_true = np.asarray(y_true)
    if name == "binary_accuracy":
        hit = y_true.astype(y_pred.dtype) == (y_pred > 0.5).astype(y_pred.dtype)
        return float(np.mean(hit))
    if name == "categorical_accuracy":
        return float(np.mean(np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)))
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return float(np.mean(y_true.astype(np.int64) == np.argmax(y_pred, axis=-1)))
