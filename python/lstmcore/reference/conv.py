"""Conv1D, pooling and Flatten references (Keras 3 semantics, channels last).

Geometry (Keras / TensorFlow): an output step ``t`` reads input steps
``t * strides + j * dilation_rate - pad_left`` for taps ``j < kernel_size``;

- ``'valid'``: no padding, ``T_out = floor((T - span) / strides) + 1`` with
  ``span = (kernel_size - 1) * dilation_rate + 1``;
- ``'same'``: ``T_out = ceil(T / strides)``, total padding
  ``max((T_out - 1) * strides + span - T, 0)``, ``pad_left = total // 2`` (the odd step on
  the right);
- ``'causal'``: ``T_out = ceil(T / strides)``, ``pad_left = span - 1``.

A convolution reads zeros at padded steps; pooling ignores them (max over the steps inside
the input, mean over their count, as TensorFlow and JAX do). Max pooling's gradient goes to
the window's first maximum.
"""

import numpy as np

from .activations import activation_backward, activation_forward, as_float, check_activation

PADDINGS = ("valid", "same", "causal")


def conv1d_geometry(T, kernel_size, strides=1, padding="valid", dilation_rate=1):
    """(T_out, pad_left, pad_right) of a 1D window op over ``T`` steps (see the module doc)."""
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}; got {padding!r}")
    span = (kernel_size - 1) * dilation_rate + 1
    if padding == "valid":
        t_out = (T - span) // strides + 1 if T >= span else 0
        return t_out, 0, 0
    t_out = -(-T // strides)
    if padding == "causal":
        left = span - 1
    else:
        left = max((t_out - 1) * strides + span - T, 0) // 2
    right = max((t_out - 1) * strides + span - T - left, 0)
    return t_out, left, right


def _taps(xp, k, strides, dilation, t_out):
    """The (B, t_out, C) input views of each tap of a padded input xp."""
    stop = (t_out - 1) * strides + 1
    return [xp[:, j * dilation:j * dilation + stop:strides] for j in range(k)]


def _check_out(t_out, what, T):
    if t_out < 1:
        raise ValueError(f"{what}: the output would have {t_out} steps for an input of {T}")


def conv1d_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
                   activation="linear"):
    """x (B, T, C), kernel (k, C, F), bias (F,) or None -> (y (B, T_out, F), cache)."""
    check_activation(activation)
    x, kernel = as_float(x), as_float(kernel)
    if x.ndim != 3 or kernel.ndim != 3 or x.shape[2] != kernel.shape[1]:
        raise ValueError(f"conv1d: x {x.shape} incompatible with kernel {kernel.shape}")
    dt = np.result_type(x, kernel, *(() if bias is None else (as_float(bias),)))
    x, kernel = x.astype(dt), kernel.astype(dt)
    B, T, C = x.shape
    k, _, F = kernel.shape
    t_out, left, right = conv1d_geometry(T, k, strides, padding, dilation_rate)
    _check_out(t_out, "conv1d", T)
    xp = np.pad(x, ((0, 0), (left, right), (0, 0)))
    z = np.zeros((B, t_out, F), dt)
    for j, xs in enumerate(_taps(xp, k, strides, dilation_rate, t_out)):
        z += xs @ kernel[j]
    if bias is not None:
        z += as_float(bias).astype(dt)
    y = activation_forward(activation, z)
    cache = {"xp": xp, "kernel": kernel, "has_bias": bias is not None, "activation": activation,
             "y": y.copy(), "geom": (T, left, strides, dilation_rate, t_out)}
    return y, cache


def conv1d_backward(cache, dy):
    """dy (B, T_out, F) -> dict 'dx' (B, T, C), 'dkernel' (k, C, F), 'dbias' (F,) or None."""
    xp, kernel, y = cache["xp"], cache["kernel"], cache["y"]
    T, left, strides, dilation, t_out = cache["geom"]
    dy = as_float(dy).astype(xp.dtype, copy=False)
    if dy.shape != y.shape:
        raise ValueError(f"conv1d: dy must have shape {y.shape}, got {dy.shape}")
    dz = activation_backward(cache["activation"], y, dy)
    k = kernel.shape[0]
    dxp = np.zeros_like(xp)
    dkernel = np.zeros_like(kernel)
    stop = (t_out - 1) * strides + 1
    for j, xs in enumerate(_taps(xp, k, strides, dilation, t_out)):
        dkernel[j] = np.einsum("btc,btf->cf", xs, dz)
        dxp[:, j * dilation:j * dilation + stop:strides] += dz @ kernel[j].T
    return {"dx": dxp[:, left:left + T], "dkernel": dkernel,
            "dbias": dz.sum(axis=(0, 1)) if cache["has_bias"] else None}


def pool1d_forward(x, pool_size=2, strides=None, padding="valid", mode="max"):
    """MaxPooling1D (mode 'max') / AveragePooling1D ('average'): x (B, T, C) -> (y, cache)."""
    if mode not in ("max", "average"):
        raise ValueError(f"mode must be 'max' or 'average'; got {mode!r}")
    if padding not in ("valid", "same"):
        raise ValueError(f"pooling padding must be 'valid' or 'same'; got {padding!r}")
    x = as_float(x)
    strides = pool_size if strides is None else strides
    B, T, C = x.shape
    t_out, left, right = conv1d_geometry(T, pool_size, strides, padding)
    _check_out(t_out, "pooling", T)
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=fill)
    inside = np.pad(np.ones(T, x.dtype), (left, right))[None, :, None]
    windows = np.stack(_taps(xp, pool_size, strides, 1, t_out))       # (k, B, t_out, C)
    counts = np.stack(_taps(inside, pool_size, strides, 1, t_out))    # (k, 1, t_out, 1)
    n = counts.sum(axis=0)
    if mode == "max":
        arg = windows.argmax(axis=0)                                  # the first maximum
        y = np.take_along_axis(windows, arg[None], axis=0)[0]
    else:
        arg = None
        y = windows.sum(axis=0) / n
    cache = {"shape": x.shape, "padded": xp.shape, "left": left, "geom": (pool_size, strides, t_out),
             "mode": mode, "arg": arg, "counts": counts, "n": n}
    return y, cache


def pool1d_backward(cache, dy):
    """dy (B, T_out, C) -> dx (B, T, C)."""
    k, strides, t_out = cache["geom"]
    dy = as_float(dy)
    dxp = np.zeros(cache["padded"], dy.dtype)
    stop = (t_out - 1) * strides + 1
    for j in range(k):
        if cache["mode"] == "max":
            d = dy * (cache["arg"] == j)
        else:
            d = dy * cache["counts"][j] / cache["n"]
        dxp[:, j:j + stop:strides] += d
    left, T = cache["left"], cache["shape"][1]
    return dxp[:, left:left + T]


def global_pool1d_forward(x, mode="max", keepdims=False):
    """GlobalMaxPooling1D / GlobalAveragePooling1D: x (B, T, C) -> (B, C) ((B, 1, C) with
    keepdims), and the cache."""
    x = as_float(x)
    y, cache = pool1d_forward(x, x.shape[1], x.shape[1], "valid", mode)
    return (y if keepdims else y[:, 0]), cache


def global_pool1d_backward(cache, dy):
    """dy (B, C) or (B, 1, C) -> dx (B, T, C)."""
    dy = as_float(dy)
    return pool1d_backward(cache, dy.reshape(dy.shape[0], 1, -1))


def flatten_forward(x):
    """Flatten: (B, ...) -> (B, prod(...))."""
    x = as_float(x)
    return x.reshape(x.shape[0], -1)


def flatten_backward(dy, shape):
    """dy (B, prod(...)) -> dx of the input's ``shape``."""
    return as_float(dy).reshape(shape)
