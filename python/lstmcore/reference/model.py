"""Model-level reference: a Keras-like Sequential stack of plain layer specs.

Layer specs are dicts:

    {'type': 'lstm', 'kernel', 'recurrent_kernel', 'bias' (or None),
     'return_sequences': False, 'activation': 'tanh',
     'recurrent_activation': 'sigmoid', 'go_backwards': False}
    {'type': 'dense', 'kernel', 'bias' (or None), 'activation': 'linear'}
    {'type': 'time_distributed', 'layer': {dense spec}}   # same as dense on 3-D
    {'type': 'time_distributed', 'layer': {conv1d, pooling, flatten... spec}}  # on 4-D:
                                                           # each subsequence
    {'type': 'activation', 'activation': 'softmax'}
    {'type': 'repeat_vector', 'n': 3}
    {'type': 'gru', 'kernel', 'recurrent_kernel', 'bias' (or None), 'reset_after': True,
     'return_sequences', 'activation', 'recurrent_activation', 'go_backwards'}
    {'type': 'simple_rnn', 'kernel', 'recurrent_kernel', 'bias' (or None),
     'return_sequences', 'activation', 'go_backwards'}
    {'type': 'bidirectional', 'forward': {lstm, gru or simple_rnn spec},
     'backward': {the same kind}, 'merge_mode': 'concat', 'return_sequences': False}
    {'type': 'dropout', 'rate': 0.5}                       # identity
    {'type': 'embedding', 'embeddings'}                    # x: (B, T) integer indices
    {'type': 'conv1d', 'kernel' (k, C, F), 'bias' (or None; 'use_bias': False for a spec
     filled without one), 'strides': 1,
     'padding': 'valid', 'dilation_rate': 1, 'activation': 'linear'}
    {'type': 'max_pooling1d' or 'average_pooling1d', 'pool_size': 2, 'strides': None,
     'padding': 'valid'}
    {'type': 'global_max_pooling1d' or 'global_average_pooling1d', 'keepdims': False}
    {'type': 'flatten'}

Weight order per layer (Keras order): lstm, gru, simple_rnn [kernel, recurrent_kernel, bias];
dense and conv1d [kernel, bias]; bidirectional forward's three then backward's three;
a None bias is omitted; weightless layers have [].

Each kind is described once, by its :class:`RefLayer` entry in :data:`LAYERS`
(spec validation, where its weights live, its forward and backward);
:class:`ReferenceSequential` only loops over its layers and calls their
entries. A new kind is one entry here, on top of its NumPy forward and
backward in a module of its own.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import embedding, masking
from .activations import activation_backward, activation_forward, as_float, check_activation
from .conv import (
    conv1d_backward,
    conv1d_forward,
    flatten_backward,
    flatten_forward,
    global_pool1d_backward,
    global_pool1d_forward,
    pool1d_backward,
    pool1d_forward,
)
from .dense import dense_backward, dense_forward
from .gru import gru_backward, gru_forward
from .layers import (
    bidirectional_backward,
    bidirectional_forward,
    repeat_vector_backward,
    repeat_vector_forward,
)
from .losses import loss_backward, loss_forward
from .lstm import lstm_backward, lstm_forward
from .simple_rnn import simple_rnn_backward, simple_rnn_forward


@dataclass(frozen=True)
class RefLayer:
    """How the reference handles one layer kind (one entry of :data:`LAYERS`).

    - ``normalize(spec) -> layer``: a validated copy of a spec, with defaults filled in
      (the layer dicts :class:`ReferenceSequential` keeps);
    - ``slots(layer) -> [(dict, key)]``: where a normalized layer's weights are, in Keras
      order (a None bias omitted);
    - ``n_weights(spec) -> int``: how many ``get_weights()`` arrays a spec without weights
      takes (biases assumed present);
    - ``fill(spec, arrays) -> spec``: a copy of such a spec with those arrays (Keras order)
      in its weight keys;
    - ``forward(layer, x, state) -> (y, cache)`` and ``backward(layer, cache, dy) -> (dx,
      grads)``: the reference pair on a normalized layer; ``grads`` is one array per slot, in
      the order of ``slots``;
    - ``state``: each layer of the kind has one entry in ``initial_states`` and
      ``final_states`` ('lstm', 'gru', 'simple_rnn'). Its ``forward`` gets that entry (or
      None: zeros) as ``state`` and its cache holds ``'final_state'``: (h_T, c_T) for 'lstm',
      h_T alone for 'gru' and 'simple_rnn' (their state is h only). The other kinds get
      ``state=None``.
    - ``mask(layer, x, mask_in) -> mask_out`` (default: passed on): Keras masking. A layer
      that receives a mask finds it in its layer dict as ``'input_mask'`` (B, T).
    """

    normalize: Callable
    slots: Callable
    n_weights: Callable
    fill: Callable
    forward: Callable
    backward: Callable
    state: bool = False
    mask: Callable | None = None


def _pass_mask(layer, x, mask):
    """Keras masking, the default: the layer passes its input's (B, T) mask on."""
    return mask


def _sequence_mask(layer, x, mask):
    """A recurrent layer: the mask goes on only with the sequence (return_sequences)."""
    return mask if layer["return_sequences"] else None


def _no_mask(layer, x, mask):
    if mask is not None:
        raise ValueError(f"a '{layer['type']}' layer cannot take a mask")
    return None


_LSTM_KEYS = ("kernel", "recurrent_kernel", "bias")
_DENSE_KEYS = ("kernel", "bias")
_LSTM_PARAMS = _LSTM_KEYS + ("activation", "recurrent_activation")


def _take(arrays, n):
    """``arrays`` as a list, checked to hold ``n`` weight arrays."""
    arrays = list(arrays)
    if len(arrays) != n:
        raise ValueError(f"expected {n} weight arrays, got {len(arrays)}")
    return arrays


def _keyed(keys, arrays):
    """{key: array} for weight arrays given in the order of ``keys``."""
    return dict(zip(keys, _take(arrays, len(keys)), strict=True))


def _slots(layer, keys):
    return [(layer, k) for k in keys if layer[k] is not None]


def _grads(slots, g):
    """The gradients of ``slots`` from a backward dict that names them 'd' + key."""
    return [g["d" + k] for _, k in slots]


# --- lstm --------------------------------------------------------------------
def _norm_lstm(spec):
    out = {
        "type": "lstm",
        "kernel": as_float(spec["kernel"]).copy(),
        "recurrent_kernel": as_float(spec["recurrent_kernel"]).copy(),
        "bias": None if spec.get("bias") is None else as_float(spec["bias"]).copy(),
        "return_sequences": bool(spec.get("return_sequences", False)),
        "activation": spec.get("activation", "tanh"),
        "recurrent_activation": spec.get("recurrent_activation", "sigmoid"),
        "go_backwards": bool(spec.get("go_backwards", False)),
    }
    check_activation(out["activation"])
    check_activation(out["recurrent_activation"])
    return out


def _lstm_slots(layer):
    return _slots(layer, _LSTM_KEYS)


def _lstm_fill(spec, arrays):
    return {**spec, **_keyed(_LSTM_KEYS, arrays)}


def _lstm_fwd(layer, x, state):
    h0, c0 = (None, None) if state is None else state
    mask = layer.get("input_mask")
    hs, h_T, c_T, cache = lstm_forward(
        x, layer["kernel"], layer["recurrent_kernel"], layer["bias"], h0, c0,
        layer["activation"], layer["recurrent_activation"], layer["go_backwards"], mask)
    seen = None
    if mask is not None and layer["return_sequences"]:
        # Keras: the output at a skipped step is the previous output, zero before the first
        # step used (the state itself starts from h0)
        seen = np.logical_or.accumulate(cache["mask"], axis=1)[..., None]
        hs = hs * seen
    y = hs if layer["return_sequences"] else h_T
    return y, {"lstm": cache, "final_state": (h_T, c_T), "seen": seen}


def _lstm_bwd(layer, cache, dy):
    if cache.get("seen") is not None:
        dy = dy * cache["seen"]
    if layer["return_sequences"]:
        g = lstm_backward(cache["lstm"], dhs=dy)
    else:
        g = lstm_backward(cache["lstm"], dh_T=dy)
    return g["dx"], _grads(_lstm_slots(layer), g)


# --- gru, simple_rnn (state: h only) ----------------------------------------------
def _norm_gru(spec):
    out = _norm_simple_rnn(spec)
    out["type"] = "gru"
    out["recurrent_activation"] = spec.get("recurrent_activation", "sigmoid")
    out["reset_after"] = bool(spec.get("reset_after", True))
    check_activation(out["recurrent_activation"])
    return out


def _norm_simple_rnn(spec):
    out = {
        "type": "simple_rnn",
        "kernel": as_float(spec["kernel"]).copy(),
        "recurrent_kernel": as_float(spec["recurrent_kernel"]).copy(),
        "bias": None if spec.get("bias") is None else as_float(spec["bias"]).copy(),
        "return_sequences": bool(spec.get("return_sequences", False)),
        "activation": spec.get("activation", "tanh"),
        "go_backwards": bool(spec.get("go_backwards", False)),
    }
    check_activation(out["activation"])
    return out


def _gru_fwd(layer, x, state):
    hs, h_T, cache = gru_forward(
        x, layer["kernel"], layer["recurrent_kernel"], layer["bias"], state,
        layer["activation"], layer["recurrent_activation"], layer["reset_after"],
        layer["go_backwards"])
    return (hs if layer["return_sequences"] else h_T), {"rnn": cache, "final_state": h_T}


def _simple_rnn_fwd(layer, x, state):
    hs, h_T, cache = simple_rnn_forward(
        x, layer["kernel"], layer["recurrent_kernel"], layer["bias"], state,
        layer["activation"], layer["go_backwards"])
    return (hs if layer["return_sequences"] else h_T), {"rnn": cache, "final_state": h_T}


def _rnn_bwd(backward):
    def bwd(layer, cache, dy):
        if layer["return_sequences"]:
            g = backward(cache["rnn"], dhs=dy)
        else:
            g = backward(cache["rnn"], dh_T=dy)
        return g["dx"], _grads(_lstm_slots(layer), g)
    return bwd


# --- dense, time_distributed (an inner dense: the same layer on 3-D input) ----
def _norm_dense(spec):
    out = {
        "type": "dense",
        "kernel": as_float(spec["kernel"]).copy(),
        "bias": None if spec.get("bias") is None else as_float(spec["bias"]).copy(),
        "activation": spec.get("activation", "linear"),
    }
    check_activation(out["activation"])
    return out


def _dense_slots(layer):
    return _slots(layer, _DENSE_KEYS)


def _dense_fill(spec, arrays):
    return {**spec, **_keyed(_DENSE_KEYS, arrays)}


def _dense_fwd(layer, x, state):
    return dense_forward(x, layer["kernel"], layer["bias"], layer["activation"])


def _dense_bwd(layer, cache, dy):
    g = dense_backward(cache, dy)
    return g["dx"], _grads(_dense_slots(layer), g)


def _norm_time_distributed(spec):
    """An inner 'dense' normalizes to that dense layer (the same layer on 3-D input); any
    other inner kind stays wrapped: it runs on every subsequence of a 4-D input, folded into
    the batch (B, S, ...) -> (B*S, ...)."""
    inner = spec["layer"]
    if inner.get("type", "dense") == "dense":
        return _norm_dense(inner)
    return {"type": "time_distributed", "layer": _entry(inner.get("type")).normalize(inner)}


def _td_inner(spec):
    inner = spec.get("layer", {"type": "dense"})
    return {**inner, "type": inner.get("type", "dense")}


def _time_distributed_n_weights(spec):
    inner = _td_inner(spec)
    return _entry(inner["type"]).n_weights(inner)


def _time_distributed_fill(spec, arrays):
    inner = _td_inner(spec)
    return {**spec, "layer": _entry(inner["type"]).fill(inner, arrays)}


def _time_distributed_slots(layer):
    return _weight_slots(layer["layer"])


def _time_distributed_fwd(layer, x, state):
    inner = layer["layer"]
    B, S = x.shape[:2]
    y, cache = _entry(inner["type"]).forward(inner, x.reshape((B * S,) + x.shape[2:]), None)
    return y.reshape((B, S) + y.shape[1:]), (cache, x.shape)


def _time_distributed_bwd(layer, cache, dy):
    inner = layer["layer"]
    cache, shape = cache
    B, S = shape[:2]
    dx, grads = _entry(inner["type"]).backward(inner, cache, dy.reshape((B * S,) + dy.shape[2:]))
    return dx.reshape(shape), grads


# --- bidirectional (two lstm specs) --------------------------------------------
_RECURRENT = ("lstm", "gru", "simple_rnn")


def _inner_kind(spec):
    kind = spec.get("type", "lstm")
    if kind not in _RECURRENT:
        raise ValueError(f"bidirectional wraps one of {', '.join(_RECURRENT)}; got {kind!r}")
    return kind


def _norm_bidirectional(spec):
    kind = _inner_kind(spec["forward"])
    if _inner_kind(spec["backward"]) != kind:
        raise ValueError("bidirectional: the forward and backward layers must be of one kind")
    fwd = LAYERS[kind].normalize(spec["forward"])
    bwd = LAYERS[kind].normalize(spec["backward"])
    rs = spec.get("return_sequences", fwd["return_sequences"])
    if spec.get("merge_mode", "concat") is None:
        raise ValueError("merge_mode=None is not supported inside ReferenceSequential")
    return {"type": "bidirectional", "forward": fwd, "backward": bwd,
            "merge_mode": spec.get("merge_mode", "concat"), "return_sequences": bool(rs)}


def _bidirectional_slots(layer):
    return _lstm_slots(layer["forward"]) + _lstm_slots(layer["backward"])


def _bidirectional_fill(spec, arrays):
    n = len(_LSTM_KEYS)
    arrays = _take(arrays, 2 * n)
    fs, bs = spec.get("forward", {"type": "lstm"}), spec.get("backward", {"type": "lstm"})
    f = _lstm_fill({**fs, "type": _inner_kind(fs)}, arrays[:n])
    b = _lstm_fill({**bs, "type": _inner_kind(bs)}, arrays[n:])
    return {**spec, "forward": f, "backward": b}


def _bidirectional_fwd(layer, x, state):
    f, b = layer["forward"], layer["backward"]
    if f["type"] == "lstm":
        wf = {k: f[k] for k in _LSTM_PARAMS}
        wb = {k: b[k] for k in _LSTM_PARAMS}
        return bidirectional_forward(x, wf, wb, layer["merge_mode"], layer["return_sequences"],
                                     mask=layer.get("input_mask"))
    # gru, simple_rnn: both directions through their own entries, then the merge
    rs, mode, entry = layer["return_sequences"], layer["merge_mode"], LAYERS[f["type"]]
    lf = {**f, "go_backwards": False, "return_sequences": rs}
    lb = {**b, "go_backwards": True, "return_sequences": rs}
    y_f, cf = entry.forward(lf, x, None)
    y_b, cb = entry.forward(lb, x, None)
    if rs:
        y_b = y_b[:, ::-1]
    y = {"concat": lambda: np.concatenate([y_f, y_b], axis=-1), "sum": lambda: y_f + y_b,
         "ave": lambda: (y_f + y_b) / 2, "mul": lambda: y_f * y_b}[mode]()
    return y, {"layers": (lf, lb), "caches": (cf, cb), "y_f": y_f, "y_b": y_b}


def _bidirectional_bwd(layer, cache, dy):
    if "layers" not in cache:  # lstm
        g = bidirectional_backward(cache, dy)
        grads = (_grads(_lstm_slots(layer["forward"]), g["forward"])
                 + _grads(_lstm_slots(layer["backward"]), g["backward"]))
        return g["dx"], grads
    mode, (lf, lb), (cf, cb) = layer["merge_mode"], cache["layers"], cache["caches"]
    H = cache["y_f"].shape[-1]
    if mode == "concat":
        dy_f, dy_b = dy[..., :H], dy[..., H:]
    elif mode == "sum":
        dy_f, dy_b = dy, dy
    elif mode == "ave":
        dy_f, dy_b = dy / 2, dy / 2
    else:  # mul
        dy_f, dy_b = dy * cache["y_b"], dy * cache["y_f"]
    if layer["return_sequences"]:
        dy_b = dy_b[:, ::-1]
    entry = LAYERS[lf["type"]]
    dx_f, g_f = entry.backward(lf, cf, dy_f)
    dx_b, g_b = entry.backward(lb, cb, dy_b)
    return dx_f + dx_b, g_f + g_b


# --- weightless: activation, repeat_vector, dropout (identity) ----------------
def _no_slots(layer):
    return []


def _no_weights(spec):
    return 0


def _no_fill(spec, arrays):
    _take(arrays, 0)
    return dict(spec)


def _norm_activation(spec):
    check_activation(spec["activation"])
    return {"type": "activation", "activation": spec["activation"]}


def _activation_fwd(layer, x, state):
    y = activation_forward(layer["activation"], x)
    return y, y


def _activation_bwd(layer, cache, dy):
    return activation_backward(layer["activation"], cache, dy), []


def _norm_repeat_vector(spec):
    return {"type": "repeat_vector", "n": int(spec["n"])}


def _repeat_vector_fwd(layer, x, state):
    return repeat_vector_forward(x, layer["n"]), None


def _repeat_vector_bwd(layer, cache, dy):
    return repeat_vector_backward(dy), []


def _norm_merge(spec):
    return {"type": "merge", "mode": spec["mode"], "n": int(spec["n"]),
            "time_axis": bool(spec.get("time_axis", False))}


def _merge_fwd(layer, xs, state):
    """A merge layer on the list ``xs``: concatenation (features, or time with time_axis),
    sum, product or mean."""
    mode = layer["mode"]
    if mode == "concat":
        return np.concatenate(xs, axis=1 if layer["time_axis"] else -1), [x.shape for x in xs]
    if mode == "mul":
        y = xs[0].copy()
        for x in xs[1:]:
            y = y * x
        return y, list(xs)
    y = sum(xs[1:], xs[0].copy())
    return (y / len(xs) if mode == "ave" else y), None


def _merge_bwd(layer, cache, dy):
    """The gradient for each input of a merge, as a list."""
    mode = layer["mode"]
    if mode == "concat":
        axis = 1 if layer["time_axis"] else -1
        cuts = np.cumsum([s[axis] for s in cache])[:-1]
        return np.split(dy, cuts, axis=axis), []
    if mode == "mul":
        dxs = []
        for k in range(len(cache)):
            d = dy.copy()
            for j, x in enumerate(cache):
                if j != k:
                    d = d * x
            dxs.append(d)
        return dxs, []
    scale = 1.0 / layer["n"] if mode == "ave" else 1.0
    return [dy * scale for _ in range(layer["n"])], []


def _merge_mask(layer, xs, masks):
    """Keras 3: Concatenate joins the masks along time, or uses a step any input uses (a
    missing mask: all ones); Add/Multiply/Average keep a mask only when every input has one,
    a step used when any input uses it."""
    if not isinstance(masks, (list, tuple)):
        return masks
    concat = layer["mode"] == "concat"
    if all(m is None for m in masks) or (not concat and any(m is None for m in masks)):
        return None
    full = [np.ones(x.shape[:2]) if m is None else np.asarray(m, np.float64)
            for x, m in zip(xs, masks)]
    if concat and layer["time_axis"]:
        return np.concatenate(full, axis=1)
    out = np.zeros_like(full[0], dtype=bool)
    for m in full:
        out |= m.astype(bool)
    return out.astype(np.float64)


def _norm_dropout(spec):
    return {"type": "dropout", "rate": float(spec.get("rate", 0.0))}


def _dropout_fwd(layer, x, state):
    return x, None


def _dropout_bwd(layer, cache, dy):
    return dy, []


# --- conv1d, pooling, flatten ---------------------------------------------------
def _norm_conv1d(spec):
    if spec.get("kernel") is None:
        raise ValueError("a conv1d spec needs its 'kernel' (k, C, F)")
    out = {
        "type": "conv1d",
        "kernel": as_float(spec["kernel"]).copy(),
        "bias": None if spec.get("bias") is None else as_float(spec["bias"]).copy(),
        "strides": int(spec.get("strides", 1)),
        "padding": spec.get("padding", "valid"),
        "dilation_rate": int(spec.get("dilation_rate", 1)),
        "activation": spec.get("activation", "linear"),
    }
    check_activation(out["activation"])
    return out


def _conv1d_fill(spec, arrays):
    """Kernel and bias, or the kernel alone for a spec with ``use_bias=False``."""
    if not spec.get("use_bias", True):
        return {**spec, "kernel": _take(arrays, 1)[0], "bias": None}
    return _dense_fill(spec, arrays)


def _conv1d_fwd(layer, x, state):
    return conv1d_forward(x, layer["kernel"], layer["bias"], layer["strides"], layer["padding"],
                          layer["dilation_rate"], layer["activation"])


def _conv1d_bwd(layer, cache, dy):
    g = conv1d_backward(cache, dy)
    return g["dx"], _grads(_dense_slots(layer), g)


def _norm_pool(kind):
    def norm(spec):
        return {"type": kind, "pool_size": int(spec.get("pool_size", 2)),
                "strides": None if spec.get("strides") is None else int(spec["strides"]),
                "padding": spec.get("padding", "valid")}
    return norm


def _pool_fwd(mode):
    def fwd(layer, x, state):
        return pool1d_forward(x, layer["pool_size"], layer["strides"], layer["padding"], mode)
    return fwd


def _pool_bwd(layer, cache, dy):
    return pool1d_backward(cache, dy), []


def _norm_global_pool(kind):
    def norm(spec):
        return {"type": kind, "keepdims": bool(spec.get("keepdims", False))}
    return norm


def _global_pool_fwd(mode):
    def fwd(layer, x, state):
        mask = layer.get("input_mask")
        if mask is not None:  # Keras: the mean over the timesteps used
            m = np.asarray(mask, dtype=x.dtype)[..., None]
            used = m.sum(axis=1, keepdims=True)
            scale = np.divide(m, used, out=np.zeros_like(m * used), where=used > 0)
            y = (x * scale).sum(axis=1, keepdims=layer["keepdims"])
            return y, {"masked_scale": scale}
        return global_pool1d_forward(x, mode, layer["keepdims"])
    return fwd


def _global_pool_bwd(layer, cache, dy):
    if isinstance(cache, dict) and "masked_scale" in cache:
        dy = dy.reshape(dy.shape[0], 1, dy.shape[-1])
        return dy * cache["masked_scale"], []
    return global_pool1d_backward(cache, dy), []


def _end_mask(layer, x, mask):
    return None


def _flatten_fwd(layer, x, state):
    return flatten_forward(x), x.shape


def _flatten_bwd(layer, cache, dy):
    return flatten_backward(dy, cache), []


LAYERS: dict[str, RefLayer] = {
    "lstm": RefLayer(
        normalize=_norm_lstm, slots=_lstm_slots, n_weights=lambda spec: len(_LSTM_KEYS),
        fill=_lstm_fill, forward=_lstm_fwd, backward=_lstm_bwd, state=True,
        mask=_sequence_mask),
    "gru": RefLayer(
        normalize=_norm_gru, slots=_lstm_slots, n_weights=lambda spec: len(_LSTM_KEYS),
        fill=_lstm_fill, forward=_gru_fwd, backward=_rnn_bwd(gru_backward), state=True,
        mask=_no_mask),
    "simple_rnn": RefLayer(
        normalize=_norm_simple_rnn, slots=_lstm_slots, n_weights=lambda spec: len(_LSTM_KEYS),
        fill=_lstm_fill, forward=_simple_rnn_fwd, backward=_rnn_bwd(simple_rnn_backward),
        state=True, mask=_no_mask),
    "dense": RefLayer(
        normalize=_norm_dense, slots=_dense_slots, n_weights=lambda spec: len(_DENSE_KEYS),
        fill=_dense_fill, forward=_dense_fwd, backward=_dense_bwd),
    "time_distributed": RefLayer(
        normalize=_norm_time_distributed, slots=_time_distributed_slots,
        n_weights=_time_distributed_n_weights, fill=_time_distributed_fill,
        forward=_time_distributed_fwd, backward=_time_distributed_bwd),
    "activation": RefLayer(
        normalize=_norm_activation, slots=_no_slots, n_weights=_no_weights, fill=_no_fill,
        forward=_activation_fwd, backward=_activation_bwd),
    "repeat_vector": RefLayer(
        normalize=_norm_repeat_vector, slots=_no_slots, n_weights=_no_weights, fill=_no_fill,
        forward=_repeat_vector_fwd, backward=_repeat_vector_bwd, mask=_no_mask),
    "bidirectional": RefLayer(
        normalize=_norm_bidirectional, slots=_bidirectional_slots,
        n_weights=lambda spec: 2 * len(_LSTM_KEYS), fill=_bidirectional_fill,
        forward=_bidirectional_fwd, backward=_bidirectional_bwd, mask=_sequence_mask),
    "merge": RefLayer(
        normalize=_norm_merge, slots=_no_slots, n_weights=_no_weights, fill=_no_fill,
        forward=_merge_fwd, backward=_merge_bwd, mask=_merge_mask),
    "dropout": RefLayer(
        normalize=_norm_dropout, slots=_no_slots, n_weights=_no_weights, fill=_no_fill,
        forward=_dropout_fwd, backward=_dropout_bwd),
    "embedding": RefLayer(
        normalize=embedding.normalize, slots=embedding.slots, n_weights=lambda spec: 1,
        fill=embedding.fill, forward=embedding.forward, backward=embedding.backward,
        mask=embedding.mask),
    "masking": RefLayer(
        normalize=masking.normalize, slots=_no_slots, n_weights=_no_weights, fill=_no_fill,
        forward=masking.forward, backward=masking.backward, mask=masking.mask),
    "conv1d": RefLayer(
        normalize=_norm_conv1d, slots=_dense_slots,
        n_weights=lambda spec: 2 if spec.get("use_bias", True) else 1,
        fill=_conv1d_fill, forward=_conv1d_fwd, backward=_conv1d_bwd, mask=_no_mask),
    "max_pooling1d": RefLayer(
        normalize=_norm_pool("max_pooling1d"), slots=_no_slots, n_weights=_no_weights,
        fill=_no_fill, forward=_pool_fwd("max"), backward=_pool_bwd, mask=_no_mask),
    "average_pooling1d": RefLayer(
        normalize=_norm_pool("average_pooling1d"), slots=_no_slots, n_weights=_no_weights,
        fill=_no_fill, forward=_pool_fwd("average"), backward=_pool_bwd, mask=_no_mask),
    "global_max_pooling1d": RefLayer(
        normalize=_norm_global_pool("global_max_pooling1d"), slots=_no_slots,
        n_weights=_no_weights, fill=_no_fill, forward=_global_pool_fwd("max"),
        backward=_global_pool_bwd, mask=_no_mask),
    "global_average_pooling1d": RefLayer(
        normalize=_norm_global_pool("global_average_pooling1d"), slots=_no_slots,
        n_weights=_no_weights, fill=_no_fill, forward=_global_pool_fwd("average"),
        backward=_global_pool_bwd, mask=_end_mask),
    "flatten": RefLayer(
        normalize=lambda spec: {"type": "flatten"}, slots=_no_slots, n_weights=_no_weights,
        fill=_no_fill, forward=_flatten_fwd, backward=_flatten_bwd, mask=_no_mask),
}
"""Layer kind (a spec's ``'type'``) -> its :class:`RefLayer`."""

LAYER_TYPES = tuple(LAYERS)


def _entry(kind):
    """The :class:`RefLayer` of ``kind``; ValueError naming the valid types if unknown."""
    try:
        return LAYERS[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown layer type {kind!r}; valid types: {', '.join(LAYER_TYPES)}") from None


def _normalize(spec):
    return _entry(spec.get("type")).normalize(spec)


def _weight_slots(layer):
    """List of (dict, key) locations of the layer's weights, in Keras order."""
    return _entry(layer["type"]).slots(layer)


class ReferenceSequential:
    """Plain NumPy Sequential model for forward values and gradients.

    After :meth:`forward` / :meth:`loss_and_grads`, ``final_states`` is a list
    of (h, c) (each (B, H)) per 'lstm' layer and h per 'gru' or 'simple_rnn' layer, in layer
    order; ``input_grad``
    (after loss_and_grads) is dL/dx.
    """

    def __init__(self, layers):
        self.layers = [_normalize(dict(s)) for s in layers]
        self.final_states = []
        self.input_grad = None
        self.output_mask = None  # the (B, T) mask of the output (Keras masking), or None

    # --- weights -----------------------------------------------------------
    def params(self):
        """Per layer, a list of copies of the weight arrays in Keras order."""
        return [[d[k].copy() for d, k in _weight_slots(layer)] for layer in self.layers]

    def set_params(self, params):
        """Replace all weights; ``params`` has the structure of :meth:`params`."""
        if len(params) != len(self.layers):
            raise ValueError("params must have one entry per layer")
        for layer, ws in zip(self.layers, params, strict=True):
            slots = _weight_slots(layer)
            if len(ws) != len(slots):
                raise ValueError(f"layer {layer['type']} expects {len(slots)} arrays, got {len(ws)}")
            for (d, k), w in zip(slots, ws, strict=True):
                w = as_float(w)
                if w.shape != d[k].shape:
                    raise ValueError(f"{layer['type']}.{k}: shape {w.shape} != {d[k].shape}")
                d[k] = w.copy()

    # --- forward / backward ------------------------------------------------
    def _run(self, x, initial_states):
        x = as_float(x)
        entries = [_entry(layer["type"]) for layer in self.layers]
        n_state = sum(1 for e in entries if e.state)
        if initial_states is None:
            initial_states = [None] * n_state
        if len(initial_states) != n_state:
            raise ValueError(f"initial_states needs {n_state} entries (one per lstm, gru or "
                             f"simple_rnn layer)")
        states = iter(initial_states)
        caches, finals = [], []
        mask = None  # Keras masking: the (B, T) mask of the current activation
        for layer, entry in zip(self.layers, entries, strict=True):
            view = layer if mask is None else {**layer, "input_mask": mask}
            y, cache = entry.forward(view, x, next(states) if entry.state else None)
            mask = (entry.mask or _pass_mask)(view, x, mask)
            x = y
            if entry.state:
                finals.append(cache["final_state"])
            caches.append(cache)
        self.final_states = finals
        self.output_mask = mask if mask is not None and x.ndim == 3 else None
        return x, caches

    def forward(self, x, initial_states=None):
        """x (B, T, D) (or (B, D) if the first layer takes 2-D) -> model output.

        initial_states: None, or a list with one entry per stateful-kind layer: (h0, c0) or
        None per 'lstm' layer, h0 or None per 'gru' or 'simple_rnn' layer.
        """
        y, _ = self._run(x, initial_states)
        return y

    def loss_and_grads(self, x, y_true, loss, initial_states=None, sample_weight=None):
        """-> (loss_value, grads); grads has the structure of :meth:`params`.
        sample_weight: one weight per sample (Keras), or None."""
        y, caches = self._run(x, initial_states)
        value = loss_forward(loss, y_true, y, self.output_mask, sample_weight)
        dy = loss_backward(loss, y_true, y, self.output_mask, sample_weight)
        grads = [None] * len(self.layers)
        for idx in reversed(range(len(self.layers))):
            layer = self.layers[idx]
            dy, grads[idx] = _entry(layer["type"]).backward(layer, caches[idx], dy)
        self.input_grad = dy
        return value, grads
