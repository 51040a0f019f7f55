"""Keras layer configs <-> lstmcore layers, by a fixed table (no code from a file runs).

Reading: each Keras class name maps to a function that picks, from the file's config, the
arguments lstmcore's constructor takes (initializers, constraints, dtype policies and the
other Keras-only keys are left out: the weights come from the file). Anything else in the
table's place (``Lambda``, a custom class, a functional model) is a ValueError naming the
layer. ``hard_sigmoid`` means what the writing Keras meant: Keras 2's
``clip(0.2x + 0.5, 0, 1)`` is lstmcore's ``'hard_sigmoid_keras2'``, Keras 3's
``relu6(x + 3) / 6`` is ``'hard_sigmoid'``.

Writing: ``keras3_config(model)`` gives Keras 3's ``config.json`` for a Sequential, and
``keras3_weight_groups(model)`` the ``model.weights.h5`` layout (which group holds which
arrays), both as Keras 3.x writes them.
"""

from __future__ import annotations

import re

from .. import layers as L
from ..layers.base import _show

MAX_CONFIG_DEPTH = 64


class _Refused(ValueError):
    pass


def _keras_snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: the h5 group of a layer in Keras 3 files."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def check_depth(obj, what: str) -> None:
    stack = [(obj, 1)]
    while stack:
        o, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ValueError(f"{what}: the model config nests deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(o, dict):
            stack.extend((v, depth + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, depth + 1) for v in o)


# ---- reading -------------------------------------------------------------------------------
_ACTIVATIONS = {"linear", "sigmoid", "hard_sigmoid", "tanh", "relu", "softmax"}


def _activation(value, keras2: bool, where: str, arg: str):
    if value is None:
        return "linear"
    if isinstance(value, dict):  # Keras 3 may serialize a builtin activation as an object
        cfg = value.get("config")
        value = value.get("class_name") if not isinstance(cfg, str) else cfg
    if not isinstance(value, str) or value.lower() not in _ACTIVATIONS:
        raise ValueError(f"{where}: `{arg}`={_show(value)} is not an activation lstmcore "
                         f"computes (expected one of {', '.join(sorted(_ACTIVATIONS))})")
    value = value.lower()
    if value == "hard_sigmoid" and keras2:
        return "hard_sigmoid_keras2"  # Keras 2's clip(0.2x + 0.5, 0, 1)
    return value


def _pick(cfg: dict, *keys) -> dict:
    return {k: cfg[k] for k in keys if k in cfg}


def _shape_args(cfg: dict) -> dict:
    """Keras 2 puts the model's input shape on its first layer."""
    out = {}
    if cfg.get("batch_input_shape") is not None:
        out["batch_input_shape"] = cfg["batch_input_shape"]
    elif cfg.get("batch_shape") is not None:
        out["batch_input_shape"] = cfg["batch_shape"]
    return out


def _rnn_args(cfg, keras2, where):
    if cfg.get("return_state"):
        raise ValueError(f"{where}: `return_state=True` returns a list and cannot be part of a "
                         f"Sequential model")
    if cfg.get("time_major"):
        raise ValueError(f"{where}: `time_major=True` is not supported")
    args = _pick(cfg, "units", "use_bias", "return_sequences", "go_backwards", "stateful",
                 "dropout", "recurrent_dropout", "unroll")
    args["activation"] = _activation(cfg.get("activation", "tanh"), keras2, where, "activation")
    return args


def _lstm(cfg, keras2, where):
    args = _rnn_args(cfg, keras2, where)
    args["recurrent_activation"] = _activation(
        cfg.get("recurrent_activation", "hard_sigmoid" if keras2 else "sigmoid"), keras2, where,
        "recurrent_activation")
    args.update(_pick(cfg, "unit_forget_bias"))
    return L.LSTM(**args)


def _cudnn_lstm(cfg, keras2, where):
    """Keras 2's CuDNNLSTM: sigmoid gates, tanh, and a bias of 8*units (input and recurrent
    halves, summed when the weights are read: keras#9463)."""
    layer = L.LSTM(**_pick(cfg, "units", "return_sequences", "go_backwards", "stateful",
                           "unit_forget_bias"))
    layer._keras_split_bias = True
    return layer


def _gru(cfg, keras2, where):
    args = _rnn_args(cfg, keras2, where)
    args["recurrent_activation"] = _activation(
        cfg.get("recurrent_activation", "hard_sigmoid" if keras2 else "sigmoid"), keras2, where,
        "recurrent_activation")
    # Keras 2.x before TF 2 defaulted to reset_after=False; a config always names it since 2.1.3
    args["reset_after"] = cfg.get("reset_after", not keras2)
    return L.GRU(**args)


def _simple_rnn(cfg, keras2, where):
    return L.SimpleRNN(**_rnn_args(cfg, keras2, where))


def _dense(cfg, keras2, where):
    args = _pick(cfg, "units", "use_bias")
    args["activation"] = _activation(cfg.get("activation"), keras2, where, "activation")
    return L.Dense(**args)


def _activation_layer(cfg, keras2, where):
    return L.Activation(_activation(cfg.get("activation"), keras2, where, "activation"))


def _dropout(cfg, keras2, where):
    return L.Dropout(cfg.get("rate", 0.0))


def _repeat_vector(cfg, keras2, where):
    return L.RepeatVector(cfg.get("n"))


def _embedding(cfg, keras2, where):
    return L.Embedding(**_pick(cfg, "input_dim", "output_dim", "mask_zero", "input_length"))


def _conv1d(cfg, keras2, where):
    if cfg.get("groups", 1) != 1:
        raise ValueError(f"{where}: grouped convolution (groups={_show(cfg.get('groups'))}) is "
                         f"not supported")
    args = _pick(cfg, "filters", "kernel_size", "strides", "padding", "data_format",
                 "dilation_rate", "use_bias")
    args["activation"] = _activation(cfg.get("activation"), keras2, where, "activation")
    return L.Conv1D(**args)


def _pool(cls):
    def make(cfg, keras2, where):
        return cls(**_pick(cfg, "pool_size", "strides", "padding", "data_format"))
    return make


def _global_pool(cls):
    def make(cfg, keras2, where):
        return cls(**_pick(cfg, "data_format", "keepdims"))
    return make


def _flatten(cfg, keras2, where):
    return L.Flatten(**_pick(cfg, "data_format"))


def _masking(cfg, keras2, where):
    return L.Masking(**_pick(cfg, "mask_value"))


def _time_distributed(cfg, keras2, where):
    return L.TimeDistributed(layer_from_config(cfg.get("layer"), keras2, where + " (wrapped)"))


def _bidirectional(cfg, keras2, where):
    inner = layer_from_config(cfg.get("layer"), keras2, where + " (wrapped)")
    merge = cfg.get("merge_mode", "concat")
    if merge is None:
        raise ValueError(f"{where}: merge_mode=None (two outputs) cannot be part of a Sequential "
                         f"model")
    back = cfg.get("backward_layer")
    if back is not None:  # Keras 3 writes it; lstmcore makes it from the forward layer
        b = layer_from_config(back, keras2, where + " (backward layer)")
        same = (type(b) is type(inner) and b.units == inner.units and b.go_backwards
                and b.return_sequences == inner.return_sequences
                and b.activation == inner.activation
                and getattr(b, "recurrent_activation", None)
                == getattr(inner, "recurrent_activation", None))
        if not same:
            raise ValueError(f"{where}: a backward layer that is not the mirror of the forward "
                             f"layer is not supported")
    if inner.go_backwards:
        raise ValueError(f"{where}: the wrapped layer has go_backwards=True; not supported")
    layer = L.Bidirectional(inner, merge_mode=merge)
    return layer


def _input_layer(cfg, keras2, where):
    shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    if shape is None:
        raise ValueError(f"{where}: an InputLayer without `batch_shape`")
    return L.InputLayer(batch_shape=shape)


# Keras class name -> maker(config, keras2, where). The only classes a file can name.
_TABLE = {
    "LSTM": _lstm, "CuDNNLSTM": _cudnn_lstm, "GRU": _gru, "SimpleRNN": _simple_rnn, "Dense": _dense,
    "Activation": _activation_layer, "Dropout": _dropout, "RepeatVector": _repeat_vector,
    "TimeDistributed": _time_distributed, "Bidirectional": _bidirectional,
    "Embedding": _embedding, "Conv1D": _conv1d, "Convolution1D": _conv1d,
    "MaxPooling1D": _pool(L.MaxPooling1D), "MaxPool1D": _pool(L.MaxPooling1D),
    "AveragePooling1D": _pool(L.AveragePooling1D), "AvgPool1D": _pool(L.AveragePooling1D),
    "GlobalMaxPooling1D": _global_pool(L.GlobalMaxPooling1D),
    "GlobalMaxPool1D": _global_pool(L.GlobalMaxPooling1D),
    "GlobalAveragePooling1D": _global_pool(L.GlobalAveragePooling1D),
    "GlobalAvgPool1D": _global_pool(L.GlobalAveragePooling1D),
    "Flatten": _flatten, "Masking": _masking, "InputLayer": _input_layer,
}


def layer_from_config(entry, keras2: bool, where: str):
    """One lstmcore layer from a Keras ``{"class_name", "config"}`` entry."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise ValueError(f"{where}: a layer entry must be a dict with 'class_name' and a "
                         f"'config' dict; received {_show(entry)}")
    cls = entry.get("class_name")
    cfg = entry["config"]
    name = cfg.get("name")
    label = f"{where}: layer {_show(name)} ({_show(cls)})"
    if cls == "Lambda":
        raise ValueError(f"{label} is a Lambda layer, which carries code; lstmcore never runs "
                         f"code from a file. Rebuild the model without it (or as an lstmcore "
                         f"layer) and load the weights with set_weights")
    make = _TABLE.get(cls) if isinstance(cls, str) else None
    if make is None:
        raise ValueError(f"{label}: lstmcore cannot map this layer class; it maps "
                         f"{', '.join(sorted(_TABLE))}")
    try:
        layer = make(cfg, keras2, label)
        if cls == "InputLayer":
            return layer
        if isinstance(name, str) and name:
            layer.name = name
        if cfg.get("trainable") is False:
            layer._trainable = False
        shape = _shape_args(cfg)
        if shape and layer._batch_input_shape is None:
            from ..layers.base import _shape_tuple
            layer._batch_input_shape = _shape_tuple(shape["batch_input_shape"],
                                                    "batch_input_shape", allow_none_first=True,
                                                    allow_none_last=layer._integer_input)
    except _Refused:
        raise
    except (ValueError, TypeError, NotImplementedError) as e:
        if str(e).startswith(where):
            raise ValueError(str(e)) from None
        raise ValueError(f"{label}: {e}") from None
    return layer


def model_entries(config, what: str) -> tuple[list, str]:
    """The layer entries of a Sequential config (Keras 1/2 lists too) and the model's name."""
    if not isinstance(config, dict):
        raise ValueError(f"{what}: the model config must be a JSON object; received "
                         f"{_show(config)}")
    cls = config.get("class_name")
    if cls in ("Functional", "Model"):
        raise ValueError(f"{what} holds a functional model ({cls}); from_keras reads Sequential "
                         f"models only for now. Rebuild it as lstmcore.models.Sequential (or "
                         f"lstmcore.models.Model) and copy the weights with set_weights")
    if cls != "Sequential":
        raise ValueError(f"{what}: expected a Sequential model; the file holds "
                         f"{_show(cls)}")
    inner = config.get("config")
    if isinstance(inner, list):  # Keras 1 / early Keras 2
        return inner, "sequential"
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise ValueError(f"{what}: a Sequential config needs a 'layers' list")
    name = inner.get("name")
    return inner["layers"], name if isinstance(name, str) and name else "sequential"


class Plan:
    """A Sequential described by a Keras config, not built yet: its layers (constructed,
    nothing allocated), input shape and, per layer, the weight shapes the config implies.
    Weights read from a file are checked against ``shapes`` before ``build`` allocates."""

    def __init__(self, name, input_layer, layers, batch_shape, shapes):
        self.name = name
        self.input_layer = input_layer
        self.layers = layers
        self.batch_shape = batch_shape
        self.shapes = shapes

    def build(self):
        from ..models import Sequential
        model = Sequential(name=self.name)
        if self.input_layer is not None:
            model.add(self.input_layer)
        for layer in self.layers:
            model.add(layer)
        if not model.built:
            model._fixed_batch = self.batch_shape[0]
            model._build(self.batch_shape[1:])
        return model


def plan_sequential(config, keras2: bool, what: str) -> Plan:
    """The layers of a Keras Sequential config and the weight shapes they imply, computed
    without allocating (``_weight_shapes``): a config asking for huge layers costs nothing
    until the file has shown arrays of those shapes."""
    from ..layers.base import _shape_tuple
    entries, name = model_entries(config, what)
    layers = [layer_from_config(e, keras2, what) for e in entries]
    input_layer = None
    if layers and getattr(layers[0], "_is_input", False):
        input_layer = layers.pop(0)
    if not layers:
        raise ValueError(f"{what}: the model has no layers")
    for layer in layers:
        if getattr(layer, "_is_input", False):
            raise ValueError(f"{what}: an InputLayer after the first layer")
    if input_layer is not None:
        batch_shape = tuple(input_layer._batch_input_shape)
    elif layers[0]._batch_input_shape is not None:
        batch_shape = tuple(layers[0]._batch_input_shape)
    else:
        inner = config.get("config") if isinstance(config.get("config"), dict) else {}
        shape = inner.get("build_input_shape")
        if shape is None:
            raise ValueError(f"{what}: the model's input shape is unknown (no InputLayer, "
                             f"batch_input_shape or build_input_shape)")
        try:
            batch_shape = _shape_tuple(shape, "build_input_shape", allow_none_first=True,
                                       allow_none_last=True)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{what}: {e}") from None
    if len(batch_shape) < 2:
        raise ValueError(f"{what}: the input shape {batch_shape} has no per-sample part")
    per = tuple(batch_shape[1:])
    shapes = []
    for layer in layers:
        try:
            shapes.append([tuple(s) for s in layer._weight_shapes(per)])
            per = tuple(layer.compute_output_shape(per))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{what}: layer `{layer.name}` ({type(layer).__name__}) cannot "
                             f"take the per-sample input shape {per}: {e}") from None
    return Plan(name, input_layer, layers, batch_shape, shapes)


# ---- writing (Keras 3) ---------------------------------------------------------------------
def _k3_activation(act: str, where: str) -> str:
    if act == "hard_sigmoid_keras2":
        raise ValueError(f"{where} uses 'hard_sigmoid_keras2' (Keras 2's clip(0.2x + 0.5)), "
                         f"which Keras 3 does not have; Keras 3's 'hard_sigmoid' is "
                         f"relu6(x + 3) / 6")
    return act


def _k3_entry(layer) -> dict:
    where = f"layer `{layer.name}` ({type(layer).__name__})"
    cls = type(layer).__name__
    cfg = {"name": layer.name, "trainable": layer.trainable, "dtype": "float32"}
    if isinstance(layer, (L.LSTM, L.GRU, L.SimpleRNN)):
        cfg.update(units=layer.units, activation=_k3_activation(layer.activation, where),
                   use_bias=layer.use_bias, return_sequences=layer.return_sequences,
                   return_state=False, go_backwards=layer.go_backwards,
                   stateful=layer.stateful, dropout=layer.dropout,
                   recurrent_dropout=layer.recurrent_dropout)
        if not isinstance(layer, L.SimpleRNN):
            cfg["recurrent_activation"] = _k3_activation(layer.recurrent_activation, where)
        if isinstance(layer, L.LSTM):
            cfg["unit_forget_bias"] = layer.unit_forget_bias
        if isinstance(layer, L.GRU):
            cfg["reset_after"] = layer.reset_after
    elif isinstance(layer, L.Dense):
        cfg.update(units=layer.units, activation=_k3_activation(layer.activation, where),
                   use_bias=layer.use_bias)
    elif isinstance(layer, L.Activation):
        cfg["activation"] = _k3_activation(layer.activation, where)
    elif isinstance(layer, L.Dropout):
        cfg["rate"] = layer.rate
    elif isinstance(layer, L.RepeatVector):
        cfg["n"] = layer.n
    elif isinstance(layer, L.Embedding):
        cfg.update(input_dim=layer.input_dim, output_dim=layer.output_dim,
                   mask_zero=layer.mask_zero)
    elif isinstance(layer, L.Conv1D):
        cfg.update(filters=layer.filters, kernel_size=[layer.kernel_size],
                   strides=[layer.strides], padding=layer.padding,
                   data_format="channels_last", dilation_rate=[layer.dilation_rate],
                   activation=_k3_activation(layer.activation, where), use_bias=layer.use_bias)
    elif isinstance(layer, (L.MaxPooling1D, L.AveragePooling1D)):
        cfg.update(pool_size=[layer.pool_size], strides=[layer.strides], padding=layer.padding,
                   data_format="channels_last")
    elif isinstance(layer, (L.GlobalMaxPooling1D, L.GlobalAveragePooling1D)):
        cfg.update(data_format="channels_last", keepdims=layer.keepdims)
    elif isinstance(layer, L.Flatten):
        cfg["data_format"] = "channels_last"
    elif isinstance(layer, L.Masking):
        cfg["mask_value"] = layer.mask_value
    elif isinstance(layer, L.TimeDistributed):
        cfg["layer"] = _k3_entry(layer.layer)
    elif isinstance(layer, L.Bidirectional):
        cfg["merge_mode"] = layer.merge_mode
        inner = _k3_entry(layer.forward_layer)
        inner["config"]["name"] = layer.forward_layer.name
        cfg["layer"] = inner
    else:
        raise ValueError(f"to_keras: {where} has no Keras 3 equivalent that lstmcore writes")
    return {"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": None}


def keras3_config(model) -> dict:
    """Keras 3's config.json for an lstmcore Sequential (built)."""
    batch_shape = [model._fixed_batch] + list(model._input_shape)
    entries = [{"module": "keras.layers", "class_name": "InputLayer",
                "config": {"batch_shape": batch_shape, "dtype": "float32", "sparse": False,
                           "name": "input_layer"},
                "registered_name": None}]
    entries += [_k3_entry(layer) for layer in model.layers]
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": model.name, "trainable": True, "dtype": "float32",
                       "layers": entries},
            "registered_name": None,
            "build_config": {"input_shape": batch_shape}}


def keras3_weight_groups(model):
    """``[(group path, name attribute, [arrays])]`` in the layout of Keras 3's
    ``model.weights.h5``: a layer's group is its snake-cased class name, numbered among the
    model's layers of that class; a recurrent layer's arrays live in its ``cell``, a wrapper's
    in ``layer`` (TimeDistributed) or ``forward_layer``/``backward_layer`` (Bidirectional)."""
    out = [("vars", model.name, [])]
    counts: dict[str, int] = {}

    def rnn(path, layer):
        cell = {"LSTM": "lstm_cell", "GRU": "gru_cell", "SimpleRNN": "simple_rnn_cell"}
        out.append((f"{path}/vars", layer.name, []))
        out.append((f"{path}/cell/vars", cell[type(layer).__name__], layer.get_weights()))

    for layer in model.layers:
        snake = _keras_snake(type(layer).__name__)
        n = counts.get(snake, 0)
        counts[snake] = n + 1
        path = f"layers/{snake}" if n == 0 else f"layers/{snake}_{n}"
        if isinstance(layer, (L.LSTM, L.GRU, L.SimpleRNN)):
            rnn(path, layer)
        elif isinstance(layer, L.Bidirectional):
            out.append((f"{path}/vars", layer.name, []))
            rnn(f"{path}/forward_layer", layer.forward_layer)
            rnn(f"{path}/backward_layer", layer.backward_layer)
        elif isinstance(layer, L.TimeDistributed):
            out.append((f"{path}/vars", layer.name, []))
            out.append((f"{path}/layer/vars", layer.layer.name, layer.layer.get_weights()))
        else:
            out.append((f"{path}/vars", layer.name, layer.get_weights()))
    return out


def keras3_read_paths(layers) -> list[list[str]]:
    """Per layer of a model's ``layers``, the h5 groups (in weight order) holding its arrays in a
    Keras 3 ``model.weights.h5``: the same layout ``keras3_weight_groups`` writes."""
    counts: dict[str, int] = {}
    paths = []
    for layer in layers:
        snake = _keras_snake(type(layer).__name__)
        n = counts.get(snake, 0)
        counts[snake] = n + 1
        path = f"layers/{snake}" if n == 0 else f"layers/{snake}_{n}"
        if isinstance(layer, (L.LSTM, L.GRU, L.SimpleRNN)):
            paths.append([f"{path}/cell/vars"])
        elif isinstance(layer, L.Bidirectional):
            paths.append([f"{path}/forward_layer/cell/vars", f"{path}/backward_layer/cell/vars"])
        elif isinstance(layer, L.TimeDistributed):
            paths.append([f"{path}/layer/vars"])
        else:
            paths.append([f"{path}/vars"])
    return paths
