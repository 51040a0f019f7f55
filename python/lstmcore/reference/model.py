"""Model-level reference: a Keras-like Sequential stack of plain layer specs.

Layer specs are dicts:

    {'type': 'lstm', 'kernel', 'recurrent_kernel', 'bias' (or None),
     'return_sequences': False, 'activation': 'tanh',
     'recurrent_activation': 'sigmoid', 'go_backwards': False}
    {'type': 'dense', 'kernel', 'bias' (or None), 'activation': 'linear'}
    {'type': 'time_distributed', 'layer': {dense spec}}   # same as dense on 3-D
    {'type': 'activation', 'activation': 'softmax'}
    {'type': 'repeat_vector', 'n': 3}
    {'type': 'bidirectional', 'forward': {lstm spec}, 'backward': {lstm spec},
     'merge_mode': 'concat', 'return_sequences': False}
    {'type': 'dropout', 'rate': 0.5}                       # identity

Weight order per layer (Keras order): lstm [kernel, recurrent_kernel, bias];
dense [kernel, bias]; bidirectional forward's three then backward's three;
a None bias is omitted; weightless layers have [].
"""


from .activations import activation_backward, activation_forward, as_float, check_activation
from .dense import dense_backward, dense_forward
from .layers import (
    bidirectional_backward,
    bidirectional_forward,
    repeat_vector_backward,
    repeat_vector_forward,
)
from .losses import loss_backward, loss_forward
from .lstm import lstm_backward, lstm_forward

LAYER_TYPES = ("lstm", "dense", "time_distributed", "activation", "repeat_vector",
               "bidirectional", "dropout")


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


def _norm_dense(spec):
    out = {
        "type": "dense",
        "kernel": as_float(spec["kernel"]).copy(),
        "bias": None if spec.get("bias") is None else as_float(spec["bias"]).copy(),
        "activation": spec.get("activation", "linear"),
    }
    check_activation(out["activation"])
    return out


def _normalize(spec):
    kind = spec.get("type")
    if kind == "lstm":
        return _norm_lstm(spec)
    if kind == "dense":
        return _norm_dense(spec)
    if kind == "time_distributed":
        inner = spec["layer"]
        if inner.get("type", "dense") != "dense":
            raise ValueError("time_distributed reference supports only an inner dense layer")
        return _norm_dense(inner)
    if kind == "activation":
        check_activation(spec["activation"])
        return {"type": "activation", "activation": spec["activation"]}
    if kind == "repeat_vector":
        return {"type": "repeat_vector", "n": int(spec["n"])}
    if kind == "dropout":
        return {"type": "dropout", "rate": float(spec.get("rate", 0.0))}
    if kind == "bidirectional":
        fwd = _norm_lstm(spec["forward"])
        bwd = _norm_lstm(spec["backward"])
        rs = spec.get("return_sequences", fwd["return_sequences"])
        if spec.get("merge_mode", "concat") is None:
            raise ValueError("merge_mode=None is not supported inside ReferenceSequential")
        return {"type": "bidirectional", "forward": fwd, "backward": bwd,
                "merge_mode": spec.get("merge_mode", "concat"), "return_sequences": bool(rs)}
    raise ValueError(f"Unknown layer type {kind!r}; valid types: {', '.join(LAYER_TYPES)}")


def _weight_slots(layer):
    """List of (dict, key) locations of the layer's weights, in Keras order."""
    kind = layer["type"]
    if kind == "lstm":
        keys = ["kernel", "recurrent_kernel", "bias"]
        return [(layer, k) for k in keys if layer[k] is not None]
    if kind == "dense":
        return [(layer, k) for k in ("kernel", "bias") if layer[k] is not None]
    if kind == "bidirectional":
        return _weight_slots(layer["forward"]) + _weight_slots(layer["backward"])
    return []


class ReferenceSequential:
    """Plain NumPy Sequential model for forward values and gradients.

    After :meth:`forward` / :meth:`loss_and_grads`, ``final_states`` is a list
    of (h, c) (each (B, H)) per 'lstm' layer, in layer order; ``input_grad``
    (after loss_and_grads) is dL/dx.
    """

    def __init__(self, layers):
        self.layers = [_normalize(dict(s)) for s in layers]
        self.final_states = []
        self.input_grad = None

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
        n_lstm = sum(1 for layer in self.layers if layer["type"] == "lstm")
        if initial_states is None:
            initial_states = [None] * n_lstm
        if len(initial_states) != n_lstm:
            raise ValueError(f"initial_states needs {n_lstm} entries (one per lstm layer)")
        caches, finals = [], []
        k = 0
        for layer in self.layers:
            kind = layer["type"]
            if kind == "lstm":
                st = initial_states[k]
                k += 1
                h0, c0 = (None, None) if st is None else st
                hs, hT, cT, cache = lstm_forward(
                    x, layer["kernel"], layer["recurrent_kernel"], layer["bias"], h0, c0,
                    layer["activation"], layer["recurrent_activation"], layer["go_backwards"])
                finals.append((hT, cT))
                x = hs if layer["return_sequences"] else hT
            elif kind == "dense":
                x, cache = dense_forward(x, layer["kernel"], layer["bias"], layer["activation"])
            elif kind == "activation":
                x = activation_forward(layer["activation"], x)
                cache = x
            elif kind == "repeat_vector":
                x = repeat_vector_forward(x, layer["n"])
                cache = None
            elif kind == "dropout":
                cache = None
            else:  # bidirectional
                f, b = layer["forward"], layer["backward"]
                wf = {k2: f[k2] for k2 in ("kernel", "recurrent_kernel", "bias",
                                           "activation", "recurrent_activation")}
                wb = {k2: b[k2] for k2 in ("kernel", "recurrent_kernel", "bias",
                                           "activation", "recurrent_activation")}
                x, cache = bidirectional_forward(x, wf, wb, layer["merge_mode"],
                                                 layer["return_sequences"])
            caches.append(cache)
        self.final_states = finals
        return x, caches

    def forward(self, x, initial_states=None):
        """x (B, T, D) (or (B, D) if the first layer takes 2-D) -> model output.

        initial_states: None, or a list with one (h0, c0) or None per 'lstm' layer.
        """
        y, _ = self._run(x, initial_states)
        return y

    def loss_and_grads(self, x, y_true, loss, initial_states=None):
        """-> (loss_value, grads); grads has the structure of :meth:`params`."""
        y, caches = self._run(x, initial_states)
        value = loss_forward(loss, y_true, y)
        dy = loss_backward(loss, y_true, y)
        grads = [None] * len(self.layers)
        for idx in reversed(range(len(self.layers))):
            layer, cache = self.layers[idx], caches[idx]
            kind = layer["type"]
            if kind == "lstm":
                if layer["return_sequences"]:
                    g = lstm_backward(cache, dhs=dy)
                else:
                    g = lstm_backward(cache, dh_T=dy)
                dy = g["dx"]
                grads[idx] = [g["dkernel"], g["drecurrent_kernel"]] + (
                    [] if layer["bias"] is None else [g["dbias"]])
            elif kind == "dense":
                g = dense_backward(cache, dy)
                dy = g["dx"]
                grads[idx] = [g["dkernel"]] + ([] if layer["bias"] is None else [g["dbias"]])
            elif kind == "activation":
                dy = activation_backward(layer["activation"], cache, dy)
                grads[idx] = []
            elif kind == "repeat_vector":
                dy = repeat_vector_backward(dy)
                grads[idx] = []
            elif kind == "dropout":
                grads[idx] = []
            else:  # bidirectional
                g = bidirectional_backward(cache, dy)
                dy = g["dx"]
                grads[idx] = []
                for d, spec in ((g["forward"], layer["forward"]), (g["backward"], layer["backward"])):
                    grads[idx] += [d["dkernel"], d["drecurrent_kernel"]] + (
                        [] if spec["bias"] is None else [d["dbias"]])
        self.input_grad = dy
        return value, grads
