"""LSTM forward / backward (BPTT) reference, Keras layout and numerics.

Weights: kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,); the four
column blocks are the gates in the order i, f, c (= g), o. Per time step:

    z = x_t @ kernel + h @ recurrent_kernel + bias
    i = ra(z_i); f = ra(z_f); g = act(z_g); o = ra(z_o)
    c = f * c + i * g
    h = o * act(c)

with act = ``activation`` and ra = ``recurrent_activation``.
"""

import numpy as np

from .activations import activation_backward, activation_forward, as_float, check_activation


def _common_dtype(*arrays):
    return np.result_type(*[a for a in arrays if a is not None])


def lstm_cell_forward(x_t, h, c, kernel, recurrent_kernel, bias=None,
                      activation="tanh", recurrent_activation="sigmoid"):
    """One LSTM step. x_t (B, D), h and c (B, H) -> (h_new, c_new, gates).

    gates = (i, f, g, o, act_c), each (B, H): the activated gates and act(c_new).
    """
    z = x_t @ kernel
    z = z + h @ recurrent_kernel
    if bias is not None:
        z = z + bias
    H = h.shape[-1]
    i = activation_forward(recurrent_activation, z[:, 0 * H:1 * H])
    f = activation_forward(recurrent_activation, z[:, 1 * H:2 * H])
    g = activation_forward(activation, z[:, 2 * H:3 * H])
    o = activation_forward(recurrent_activation, z[:, 3 * H:4 * H])
    c_new = f * c + i * g
    act_c = activation_forward(activation, c_new)
    h_new = o * act_c
    return h_new, c_new, (i, f, g, o, act_c)


def lstm_cell_backward(dh, dc, c_prev, gates, activation="tanh",
                       recurrent_activation="sigmoid"):
    """Backward of one step through the gate non-linearities.

    dh, dc: (B, H) total gradients w.r.t. the step's output h and cell c.
    Returns (dz, dc_prev): dz (B, 4H) gradient w.r.t. the pre-activation z
    (gate order i, f, g, o) and dc_prev (B, H) w.r.t. the previous cell state.
    """
    i, f, g, o, act_c = gates
    do = dh * act_c
    dc = dc + activation_backward(activation, act_c, dh * o)
    di = dc * g
    dg = dc * i
    df = dc * c_prev
    dc_prev = dc * f
    dz = np.concatenate(
        [
            activation_backward(recurrent_activation, i, di),
            activation_backward(recurrent_activation, f, df),
            activation_backward(activation, g, dg),
            activation_backward(recurrent_activation, o, do),
        ],
        axis=-1,
    )
    return dz, dc_prev


def lstm_forward(x, kernel, recurrent_kernel, bias=None, h0=None, c0=None,
                 activation="tanh", recurrent_activation="sigmoid", go_backwards=False,
                 mask=None):
    """Run an LSTM over x (B, T, D).

    Returns (hs, h_T, c_T, cache): hs (B, T, H) hidden states in processing
    order (reversed time order when go_backwards, as Keras return_sequences),
    h_T, c_T (B, H) final state. h0/c0 (B, H) default to zeros. Computes in
    the common dtype of all inputs. mask (B, T) (input time order), Keras masking: where
    False the step is skipped, h and c carried through (hs holds the carried h).
    """
    check_activation(activation)
    check_activation(recurrent_activation)
    x = as_float(x)
    kernel = as_float(kernel)
    recurrent_kernel = as_float(recurrent_kernel)
    bias = None if bias is None else as_float(bias)
    h0 = None if h0 is None else as_float(h0)
    c0 = None if c0 is None else as_float(c0)
    dt = _common_dtype(x, kernel, recurrent_kernel, bias, h0, c0)

    if x.ndim != 3:
        raise ValueError(f"x must be (B, T, D), got shape {x.shape}")
    B, T, D = x.shape
    H = recurrent_kernel.shape[0]
    if kernel.shape != (D, 4 * H):
        raise ValueError(f"kernel must be {(D, 4 * H)}, got {kernel.shape}")
    if recurrent_kernel.shape != (H, 4 * H):
        raise ValueError(f"recurrent_kernel must be {(H, 4 * H)}, got {recurrent_kernel.shape}")
    if bias is not None and bias.shape != (4 * H,):
        raise ValueError(f"bias must be {(4 * H,)}, got {bias.shape}")
    for name, s in (("h0", h0), ("c0", c0)):
        if s is not None and s.shape != (B, H):
            raise ValueError(f"{name} must be {(B, H)}, got {s.shape}")

    # private copies: the cache must not alias caller arrays
    x = x.astype(dt, copy=True)
    kernel = kernel.astype(dt, copy=True)
    recurrent_kernel = recurrent_kernel.astype(dt, copy=True)
    if bias is not None:
        bias = bias.astype(dt, copy=True)
    h = np.zeros((B, H), dt) if h0 is None else h0.astype(dt, copy=True)
    c = np.zeros((B, H), dt) if c0 is None else c0.astype(dt, copy=True)

    xs = x[:, ::-1] if go_backwards else x  # processing order
    ms = None
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (B, T):
            raise ValueError(f"mask must be {(B, T)}, got {mask.shape}")
        ms = mask[:, ::-1] if go_backwards else mask
    hs = np.zeros((B, T, H), dt)
    h_prev, c_prev, gates = [], [], []
    for t in range(T):
        h_prev.append(h)
        c_prev.append(c)
        hn, cn, gt = lstm_cell_forward(xs[:, t], h, c, kernel, recurrent_kernel, bias,
                                       activation, recurrent_activation)
        if ms is not None:
            keep = ms[:, t:t + 1]
            hn, cn = np.where(keep, hn, h), np.where(keep, cn, c)
        h, c = hn, cn
        gates.append(gt)
        hs[:, t] = h

    cache = {
        "xs": xs,
        "kernel": kernel,
        "recurrent_kernel": recurrent_kernel,
        "bias": bias,
        "h_prev": h_prev,
        "c_prev": c_prev,
        "gates": gates,
        "activation": activation,
        "recurrent_activation": recurrent_activation,
        "go_backwards": go_backwards,
        "mask": ms,
    }
    return hs, h, c, cache


def lstm_backward(cache, dhs=None, dh_T=None, dc_T=None):
    """Backpropagation through time for :func:`lstm_forward`.

    dhs (B, T, H): upstream gradient w.r.t. hs (processing order, like hs);
    dh_T, dc_T (B, H): upstream gradients w.r.t. the final state. Any may be
    None (zero). Returns a dict with 'dx' (B, T, D) (original time order),
    'dkernel' (D, 4H), 'drecurrent_kernel' (H, 4H), 'dbias' (4H,) (None if
    the forward pass had no bias), 'dh0' and 'dc0' (B, H).
    """
    xs = cache["xs"]
    kernel = cache["kernel"]
    recurrent_kernel = cache["recurrent_kernel"]
    bias = cache["bias"]
    act = cache["activation"]
    ract = cache["recurrent_activation"]
    B, T, D = xs.shape
    H = recurrent_kernel.shape[0]
    dt = xs.dtype

    dx = np.zeros((B, T, D), dt)
    dkernel = np.zeros_like(kernel)
    drecurrent_kernel = np.zeros_like(recurrent_kernel)
    dbias = None if bias is None else np.zeros_like(bias)
    dh = np.zeros((B, H), dt) if dh_T is None else as_float(dh_T).astype(dt, copy=True)
    dc = np.zeros((B, H), dt) if dc_T is None else as_float(dc_T).astype(dt, copy=True)
    if dhs is not None:
        dhs = as_float(dhs).astype(dt, copy=False)
        if dhs.shape != (B, T, H):
            raise ValueError(f"dhs must be {(B, T, H)}, got {dhs.shape}")

    for t in reversed(range(T)):
        if dhs is not None:
            dh = dh + dhs[:, t]
        dz, dc_prev = lstm_cell_backward(dh, dc, cache["c_prev"][t], cache["gates"][t], act, ract)
        skip = None
        if cache.get("mask") is not None:
            skip = ~cache["mask"][:, t:t + 1]
            dz = np.where(skip, 0.0, dz)
            dc_prev = np.where(skip, dc, dc_prev)
        dc = dc_prev
        dkernel += xs[:, t].T @ dz
        drecurrent_kernel += cache["h_prev"][t].T @ dz
        if dbias is not None:
            dbias += dz.sum(axis=0)
        dx[:, t] = dz @ kernel.T
        dh_prev = dz @ recurrent_kernel.T
        dh = dh_prev if skip is None else np.where(skip, dh, dh_prev)

    if cache["go_backwards"]:
        dx = dx[:, ::-1].copy()
    return {
        "dx": dx,
        "dkernel": dkernel,
        "drecurrent_kernel": drecurrent_kernel,
        "dbias": dbias,
        "dh0": dh,
        "dc0": dc,
    }
