"""SimpleRNN forward / backward (BPTT) reference, Keras layout.

Weights: kernel (D, H), recurrent_kernel (H, H), bias (H,). Per time step:

    h = act(x_t @ kernel + h @ recurrent_kernel + bias)
"""

import numpy as np

from .activations import activation_backward, activation_forward, as_float, check_activation


def simple_rnn_forward(x, kernel, recurrent_kernel, bias=None, h0=None, activation="tanh",
                       go_backwards=False):
    """Run a SimpleRNN over x (B, T, D) -> (hs (B, T, H) in processing order, h_T, cache)."""
    check_activation(activation)
    x = as_float(x)
    kernel = as_float(kernel)
    recurrent_kernel = as_float(recurrent_kernel)
    bias = None if bias is None else as_float(bias)
    h0 = None if h0 is None else as_float(h0)
    dt = np.result_type(*[a for a in (x, kernel, recurrent_kernel, bias, h0) if a is not None])
    if x.ndim != 3:
        raise ValueError(f"x must be (B, T, D), got shape {x.shape}")
    B, T, D = x.shape
    H = recurrent_kernel.shape[0]
    if kernel.shape != (D, H):
        raise ValueError(f"kernel must be {(D, H)}, got {kernel.shape}")
    if recurrent_kernel.shape != (H, H):
        raise ValueError(f"recurrent_kernel must be {(H, H)}, got {recurrent_kernel.shape}")
    if bias is not None and bias.shape != (H,):
        raise ValueError(f"bias must be {(H,)}, got {bias.shape}")
    if h0 is not None and h0.shape != (B, H):
        raise ValueError(f"h0 must be {(B, H)}, got {h0.shape}")
    x = x.astype(dt, copy=True)
    kernel = kernel.astype(dt, copy=True)
    U = recurrent_kernel.astype(dt, copy=True)
    bias = None if bias is None else bias.astype(dt, copy=True)
    h = np.zeros((B, H), dt) if h0 is None else h0.astype(dt, copy=True)
    xs = x[:, ::-1] if go_backwards else x
    hs = np.zeros((B, T, H), dt)
    h_prev = []
    for t in range(T):
        h_prev.append(h)
        a = xs[:, t] @ kernel
        if bias is not None:
            a = a + bias
        h = activation_forward(activation, a + h @ U)
        hs[:, t] = h
    cache = {"xs": xs, "kernel": kernel, "recurrent_kernel": U, "bias": bias, "h_prev": h_prev,
             "hs": hs, "activation": activation, "go_backwards": go_backwards}
    return hs, h, cache


def simple_rnn_backward(cache, dhs=None, dh_T=None):
    """BPTT for :func:`simple_rnn_forward`; the same arguments and result keys as
    :func:`lstmcore.reference.gru.gru_backward`."""
    xs, kernel, U, bias, hs = (cache[k] for k in ("xs", "kernel", "recurrent_kernel", "bias", "hs"))
    act = cache["activation"]
    B, T, D = xs.shape
    H = U.shape[0]
    dt = xs.dtype
    dx = np.zeros((B, T, D), dt)
    dkernel = np.zeros_like(kernel)
    dU = np.zeros_like(U)
    dbias = None if bias is None else np.zeros_like(bias)
    dh = np.zeros((B, H), dt) if dh_T is None else as_float(dh_T).astype(dt, copy=True)
    if dhs is not None:
        dhs = as_float(dhs).astype(dt, copy=False)
        if dhs.shape != (B, T, H):
            raise ValueError(f"dhs must be {(B, T, H)}, got {dhs.shape}")
    for t in reversed(range(T)):
        if dhs is not None:
            dh = dh + dhs[:, t]
        dz = activation_backward(act, hs[:, t], dh)
        dkernel += xs[:, t].T @ dz
        dU += cache["h_prev"][t].T @ dz
        if dbias is not None:
            dbias += dz.sum(axis=0)
        dx[:, t] = dz @ kernel.T
        dh = dz @ U.T
    if cache["go_backwards"]:
        dx = dx[:, ::-1].copy()
    return {"dx": dx, "dkernel": dkernel, "drecurrent_kernel": dU, "dbias": dbias, "dh0": dh}
