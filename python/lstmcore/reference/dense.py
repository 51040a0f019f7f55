"""Dense layer reference: y = act(x @ kernel + bias) on the last axis."""

import numpy as np

from .activations import activation_backward, activation_forward, as_float, check_activation


def dense_forward(x, kernel, bias=None, activation="linear"):
    """x (N, D) or (N, T, D), kernel (D, U), bias (U,) or None -> (y, cache).

    y has x's leading shape with last axis U (Keras Dense on 2-D/3-D input).
    """
    check_activation(activation)
    x = as_float(x)
    kernel = as_float(kernel)
    bias = None if bias is None else as_float(bias)
    dt = np.result_type(*[a for a in (x, kernel, bias) if a is not None])
    if x.shape[-1] != kernel.shape[0] or kernel.ndim != 2:
        raise ValueError(f"dense: x {x.shape} incompatible with kernel {kernel.shape}")
    if bias is not None and bias.shape != (kernel.shape[1],):
        raise ValueError(f"dense: bias must be {(kernel.shape[1],)}, got {bias.shape}")
    x = x.astype(dt, copy=True)
    kernel = kernel.astype(dt, copy=True)
    z = x @ kernel
    if bias is not None:
        bias = bias.astype(dt, copy=True)
        z = z + bias
    y = activation_forward(activation, z)
    cache = {"x": x, "kernel": kernel, "bias": bias, "activation": activation, "y": y.copy()}
    return y, cache


def dense_backward(cache, dy):
    """dy (same shape as y) -> dict 'dx' (x's shape), 'dkernel' (D, U),
    'dbias' (U,) (None if the layer has no bias)."""
    x, kernel, y = cache["x"], cache["kernel"], cache["y"]
    dy = as_float(dy).astype(x.dtype, copy=False)
    if dy.shape != y.shape:
        raise ValueError(f"dense: dy must have shape {y.shape}, got {dy.shape}")
    dz = activation_backward(cache["activation"], y, dy)
    D, U = kernel.shape
    dz2 = dz.reshape(-1, U)
    return {
        "dx": dz @ kernel.T,
        "dkernel": x.reshape(-1, D).T @ dz2,
        "dbias": None if cache["bias"] is None else dz2.sum(axis=0),
    }
