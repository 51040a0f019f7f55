"""Weightless helper layers and the Bidirectional(LSTM) wrapper reference."""

import numpy as np

from .activations import as_float
from .lstm import lstm_backward, lstm_forward

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def repeat_vector_forward(x, n):
    """RepeatVector: x (B, D) -> (B, n, D)."""
    x = as_float(x)
    if x.ndim != 2:
        raise ValueError(f"repeat_vector expects (B, D), got {x.shape}")
    return np.repeat(x[:, None, :], n, axis=1)


def repeat_vector_backward(dy):
    """dy (B, n, D) -> dx (B, D): sum over the repeat axis."""
    return as_float(dy).sum(axis=1)


def _unpack_lstm_weights(w, activation, recurrent_activation):
    """Accept a dict {'kernel', 'recurrent_kernel', 'bias'?, 'activation'?,
    'recurrent_activation'?} or a sequence (kernel, recurrent_kernel[, bias])."""
    if isinstance(w, dict):
        return (w["kernel"], w["recurrent_kernel"], w.get("bias"),
                w.get("activation", activation),
                w.get("recurrent_activation", recurrent_activation))
    w = list(w)
    if len(w) not in (2, 3):
        raise ValueError("LSTM weights must be (kernel, recurrent_kernel[, bias])")
    bias = w[2] if len(w) == 3 else None
    return w[0], w[1], bias, activation, recurrent_activation


def bidirectional_forward(x, fwd_weights, bwd_weights, merge_mode="concat",
                          return_sequences=False, activation="tanh",
                          recurrent_activation="sigmoid", initial_state=None, mask=None):
    """Keras Bidirectional(LSTM) on x (B, T, D) -> (y, cache).

    fwd_weights / bwd_weights: dict with 'kernel', 'recurrent_kernel',
    optional 'bias' (and optionally per-direction 'activation' /
    'recurrent_activation' overriding the arguments), or a sequence
    (kernel, recurrent_kernel[, bias]). The backward LSTM runs with
    go_backwards=True; with return_sequences its outputs are flipped back
    to the original time order before merging. y: (B, [T,] 2H) for 'concat',
    (B, [T,] H) for 'sum'/'mul'/'ave', a list [y_fwd, y_bwd] for None.
    initial_state: None or [h_fwd, c_fwd, h_bwd, c_bwd] (each (B, H)).
    cache['states'] holds the final (h_fwd, c_fwd, h_bwd, c_bwd).
    mask (B, T): Keras masking; both directions skip masked steps, and with
    return_sequences their outputs there are zero (Keras forces zero_output_for_mask).
    """
    if merge_mode not in MERGE_MODES:
        raise ValueError(f"Unknown merge_mode {merge_mode!r}; valid: {MERGE_MODES}")
    kf, rkf, bf, actf, ractf = _unpack_lstm_weights(fwd_weights, activation, recurrent_activation)
    kb, rkb, bb, actb, ractb = _unpack_lstm_weights(bwd_weights, activation, recurrent_activation)
    if initial_state is None:
        h0f = c0f = h0b = c0b = None
    else:
        h0f, c0f, h0b, c0b = initial_state
    hs_f, hT_f, cT_f, cache_f = lstm_forward(x, kf, rkf, bf, h0f, c0f, actf, ractf,
                                             go_backwards=False, mask=mask)
    hs_b, hT_b, cT_b, cache_b = lstm_forward(x, kb, rkb, bb, h0b, c0b, actb, ractb,
                                             go_backwards=True, mask=mask)
    keep = None if mask is None or not return_sequences else np.asarray(mask, bool)[..., None]
    if return_sequences:
        y_f, y_b = hs_f, hs_b[:, ::-1]
        if keep is not None:
            y_f, y_b = y_f * keep, y_b * keep
    else:
        y_f, y_b = hT_f, hT_b
    if merge_mode == "concat":
        y = np.concatenate([y_f, y_b], axis=-1)
    elif merge_mode == "sum":
        y = y_f + y_b
    elif merge_mode == "ave":
        y = (y_f + y_b) / 2
    elif merge_mode == "mul":
        y = y_f * y_b
    else:
        y = [y_f.copy(), y_b.copy()]
    cache = {
        "forward": cache_f,
        "backward": cache_b,
        "y_f": y_f,
        "y_b": y_b,
        "merge_mode": merge_mode,
        "return_sequences": return_sequences,
        "keep": keep,
        "states": (hT_f, cT_f, hT_b, cT_b),
    }
    return y, cache


def bidirectional_backward(cache, dy):
    """dy (shape of y; a pair for merge_mode None) -> dict with 'dx' (B, T, D),
    'forward' and 'backward': the per-direction :func:`lstm_backward` dicts
    ('dkernel', 'drecurrent_kernel', 'dbias', 'dh0', 'dc0', and that
    direction's share of 'dx')."""
    y_f, y_b = cache["y_f"], cache["y_b"]
    mode = cache["merge_mode"]
    if mode is None:
        dy_f, dy_b = (as_float(d) for d in dy)
    else:
        dy = as_float(dy)
        if mode == "concat":
            H = y_f.shape[-1]
            dy_f, dy_b = dy[..., :H], dy[..., H:]
        elif mode == "sum":
            dy_f, dy_b = dy, dy
        elif mode == "ave":
            dy_f, dy_b = dy / 2, dy / 2
        else:  # mul
            dy_f, dy_b = dy * y_b, dy * y_f
    if cache.get("keep") is not None:  # outputs fixed at zero have no gradient
        dy_f, dy_b = dy_f * cache["keep"], dy_b * cache["keep"]
    if cache["return_sequences"]:
        g_f = lstm_backward(cache["forward"], dhs=dy_f)
        g_b = lstm_backward(cache["backward"], dhs=dy_b[:, ::-1])
    else:
        g_f = lstm_backward(cache["forward"], dh_T=dy_f)
        g_b = lstm_backward(cache["backward"], dh_T=dy_b)
    return {"dx": g_f["dx"] + g_b["dx"], "forward": g_f, "backward": g_b}
