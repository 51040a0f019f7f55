"""GRU forward / backward (BPTT) reference, Keras 3 layout and numerics.

Weights: kernel (D, 3H), recurrent_kernel (H, 3H); the column blocks are the gates in the
order z (update), r (reset), h (candidate). Bias (2, 3H) with ``reset_after`` (row 0 the
input bias, row 1 the recurrent bias), else (3H,). Per time step:

    xz, xr, xh = x_t @ kernel + b_in
    z = ra(xz + h @ U_z + b_rz);  r = ra(xr + h @ U_r + b_rr)
    reset_after:  hh = act(xh + r * (h @ U_h + b_rh))
    else:         hh = act(xh + (r * h) @ U_h)
    h = z * h + (1 - z) * hh

with act = ``activation`` and ra = ``recurrent_activation``.
"""

import numpy as np

from .activations import activation_backward, activation_forward, as_float, check_activation


def _split_bias(bias, H, reset_after):
    if bias is None:
        return None, None
    if reset_after:
        return bias[0], bias[1]
    return bias, None


def gru_forward(x, kernel, recurrent_kernel, bias=None, h0=None, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True, go_backwards=False):
    """Run a GRU over x (B, T, D).

    Returns (hs, h_T, cache): hs (B, T, H) hidden states in processing order (reversed time
    when go_backwards, as Keras return_sequences), h_T (B, H). h0 (B, H) defaults to zeros.
    Computes in the common dtype of all inputs.
    """
    check_activation(activation)
    check_activation(recurrent_activation)
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
    if kernel.shape != (D, 3 * H):
        raise ValueError(f"kernel must be {(D, 3 * H)}, got {kernel.shape}")
    if recurrent_kernel.shape != (H, 3 * H):
        raise ValueError(f"recurrent_kernel must be {(H, 3 * H)}, got {recurrent_kernel.shape}")
    bshape = (2, 3 * H) if reset_after else (3 * H,)
    if bias is not None and bias.shape != bshape:
        raise ValueError(f"bias must be {bshape}, got {bias.shape}")
    if h0 is not None and h0.shape != (B, H):
        raise ValueError(f"h0 must be {(B, H)}, got {h0.shape}")

    x = x.astype(dt, copy=True)
    kernel = kernel.astype(dt, copy=True)
    U = recurrent_kernel.astype(dt, copy=True)
    bias = None if bias is None else bias.astype(dt, copy=True)
    b_in, b_rec = _split_bias(bias, H, reset_after)
    h = np.zeros((B, H), dt) if h0 is None else h0.astype(dt, copy=True)
    xs = x[:, ::-1] if go_backwards else x
    hs = np.zeros((B, T, H), dt)
    steps = []
    for t in range(T):
        xp = xs[:, t] @ kernel
        if b_in is not None:
            xp = xp + b_in
        if reset_after:
            rec = h @ U
            if b_rec is not None:
                rec = rec + b_rec
            z = activation_forward(recurrent_activation, xp[:, :H] + rec[:, :H])
            r = activation_forward(recurrent_activation, xp[:, H:2 * H] + rec[:, H:2 * H])
            rh = rec[:, 2 * H:]
            hh = activation_forward(activation, xp[:, 2 * H:] + r * rh)
        else:
            rec = h @ U[:, :2 * H]
            z = activation_forward(recurrent_activation, xp[:, :H] + rec[:, :H])
            r = activation_forward(recurrent_activation, xp[:, H:2 * H] + rec[:, H:])
            rh = r * h
            hh = activation_forward(activation, xp[:, 2 * H:] + rh @ U[:, 2 * H:])
        steps.append((h, z, r, hh, rh))
        h = z * h + (1 - z) * hh
        hs[:, t] = h
    cache = {"xs": xs, "kernel": kernel, "recurrent_kernel": U, "bias": bias, "steps": steps,
             "activation": activation, "recurrent_activation": recurrent_activation,
             "reset_after": reset_after, "go_backwards": go_backwards}
    return hs, h, cache


def gru_backward(cache, dhs=None, dh_T=None):
    """Backpropagation through time for :func:`gru_forward`.

    dhs (B, T, H): gradient w.r.t. hs (processing order); dh_T (B, H): w.r.t. the final
    state; either may be None. Returns a dict with 'dx' (B, T, D) (original time order),
    'dkernel', 'drecurrent_kernel', 'dbias' (None without a bias) and 'dh0'.
    """
    xs, kernel, U, bias = cache["xs"], cache["kernel"], cache["recurrent_kernel"], cache["bias"]
    act, ract, reset_after = cache["activation"], cache["recurrent_activation"], cache["reset_after"]
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
        h_prev, z, r, hh, rh = cache["steps"][t]
        dah = activation_backward(act, hh, dh * (1 - z))
        daz = activation_backward(ract, z, dh * (h_prev - hh))
        dh_prev = dh * z
        if reset_after:
            dar = activation_backward(ract, r, dah * rh)
            dx_side = np.concatenate([daz, dar, dah], axis=1)
            drec = np.concatenate([daz, dar, dah * r], axis=1)
            dU += h_prev.T @ drec
            dh_prev = dh_prev + drec @ U.T
            if dbias is not None:
                dbias[0] += dx_side.sum(axis=0)
                dbias[1] += drec.sum(axis=0)
        else:
            drh = dah @ U[:, 2 * H:].T
            dar = activation_backward(ract, r, drh * h_prev)
            dx_side = np.concatenate([daz, dar, dah], axis=1)
            dU[:, :2 * H] += h_prev.T @ dx_side[:, :2 * H]
            dU[:, 2 * H:] += rh.T @ dah
            dh_prev = dh_prev + drh * r + dx_side[:, :2 * H] @ U[:, :2 * H].T
            if dbias is not None:
                dbias += dx_side.sum(axis=0)
        dkernel += xs[:, t].T @ dx_side
        dx[:, t] = dx_side @ kernel.T
        dh = dh_prev
    if cache["go_backwards"]:
        dx = dx[:, ::-1].copy()
    return {"dx": dx, "dkernel": dkernel, "drecurrent_kernel": dU, "dbias": dbias, "dh0": dh}
