"""The functional ``Model(inputs, outputs)``: a graph of layer calls on symbolic tensors
(``layers/graph.py``), run natively as one DAG (the same executor as ``Sequential``, whose
chain is the special case), with several inputs and outputs, shared layers, merge layers and
recurrent states passed between layers.

It keeps the Model lifecycle, threads contract, weights, saving and training loop; what
differs is here: the graph and its native description, the data of several inputs and
outputs, per-output losses, metrics and ``loss_weights``, the summary and the config.
"""

from __future__ import annotations

import contextlib
import math
import weakref

import numpy as np

from . import _arrays, _core
from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optimizers as optimizers_mod
from ._data import check_targets
from .layers import deserialize, serialize
from .layers.base import _show
from .layers.graph import KerasTensor, Node, _build_for, call_layer, map_graph
from .models import Model

_NOTHING = contextlib.nullcontext()
MAX_NODES = 4096  # calls in a model file (a graph is checked before anything is built)


def _flatten(value, what: str):
    """(tensors, keys): a tensor, a list/tuple of them, or a dict name -> tensor. A dict is
    taken in sorted key order, as Keras 3 flattens it (``keras.tree``): the order of the
    model's inputs/outputs, of its layers and of ``get_weights()`` then match Keras'."""
    if isinstance(value, dict):
        try:
            keys = sorted(value)
        except TypeError:  # keys that do not compare: their own order, as keras.tree does
            keys = list(value)
        items = [value[k] for k in keys]
    elif isinstance(value, (list, tuple)):
        keys, items = None, list(value)
    else:
        keys, items = None, [value]
    if not items:
        raise ValueError(f"a Model needs at least one {what} tensor")
    for t in items:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"`Model` {what}s must be symbolic tensors (from `Input(...)` and "
                            f"layer calls); received {type(t).__name__} ({_show(t, 60)})")
    return items, keys


class Functional(Model):
    """A model defined by its inputs and outputs (Keras' functional API): what
    ``Model(inputs, outputs)`` returns.

    >>> from lstmcore import Input, Model
    >>> from lstmcore.layers import LSTM, Dense, Concatenate
    >>> series, calendar = Input(shape=(24, 1)), Input(shape=(4,))
    >>> h = LSTM(8)(series)
    >>> y = Dense(1)(Concatenate()([h, calendar]))
    >>> model = Model([series, calendar], y)
    >>> model.compile('adam', 'mse')

    Layers are called on symbolic tensors; a layer object called twice shares its weights
    (in one model or across models); ``initial_state=`` and ``return_state=True`` pass
    recurrent states. ``fit``/``evaluate``/``predict`` take a list (or a dict by input name)
    of arrays, one per input; targets one per output.
    """

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        # Keras 1/2 spell them input= and output=
        inputs = kwargs.pop("input", inputs)
        outputs = kwargs.pop("output", outputs)
        trainable = kwargs.pop("trainable", True)
        if kwargs:
            raise TypeError(f"`Model` got unexpected keyword argument(s): "
                            f"{', '.join(sorted(map(str, kwargs)))}")
        if inputs is None or outputs is None:
            raise TypeError("`Model` is built from its inputs and outputs: Model(inputs, "
                            "outputs), e.g. Model(Input(shape=(10, 1)), LSTM(4)(...)); to stack "
                            "layers one after another use Sequential")
        ins, in_keys = _flatten(inputs, "input")
        outs, out_keys = _flatten(outputs, "output")
        for t in ins:
            if not t._node.is_input:
                raise ValueError(f"model inputs must come from `Input(...)`; tensor {t.name} "
                                 f"comes from layer `{t._node.layer.name}`")
        if len({id(t) for t in ins}) != len(ins):
            raise ValueError("the same input tensor is given twice in `inputs`")
        nodes, layers = map_graph(ins, outs)
        super().__init__(name=name or "functional")
        self._inputs, self._outputs = ins, outs
        self._input_keys, self._output_keys = in_keys, out_keys
        self._nested_inputs = not isinstance(inputs, KerasTensor)
        self._nested_outputs = not isinstance(outputs, KerasTensor)
        self._nodes = [n for n in nodes if not n.is_input]
        # Keras 3: model.layers lists the InputLayers too, in the graph's order
        self.layers = list(layers)
        self._input_layers = [t._node.layer for t in ins]
        self._input_shape = tuple(t.shape[1:] for t in ins)  # "built": the graph has shapes
        batches = {t.shape[0] for t in ins if t.shape[0] is not None}
        if len(batches) > 1:
            raise ValueError(f"the model's inputs fix different batch sizes {sorted(batches)}")
        self._fixed_batch = batches.pop() if batches else None
        # the native owner of each layer: its index in order of first call
        self._owner = {}
        for n in self._nodes:
            self._owner.setdefault(id(n.layer), len(self._owner))
        self._check_stateful()
        for layer in self.layers:
            if not hasattr(layer, "_fmodels"):
                layer._fmodels = weakref.WeakSet()
            layer._fmodels.add(self)
        self.output_names = self._names(outs, out_keys)
        self.input_names = [t._node.layer.name for t in ins] if in_keys is None else in_keys
        self._losses = None
        self._loss_weights = None
        if not trainable:
            for layer in self.layers:
                layer.trainable = False

    @staticmethod
    def _names(outs, keys):
        if keys is not None:
            return [str(k) for k in keys]
        names, seen = [], {}
        for t in outs:
            base = t._node.layer.name
            seen[base] = seen.get(base, 0) + 1
            names.append(base if seen[base] == 1 else f"{base}_{seen[base] - 1}")
        return names

    def _check_stateful(self) -> None:
        for n in self._nodes:
            if getattr(n.layer, "stateful", False):
                if sum(1 for m in self._nodes if m.layer is n.layer) > 1:
                    raise ValueError(f"stateful layer `{n.layer.name}` is called more than once "
                                     f"in this model; a stateful layer keeps one state")
                if self._fixed_batch is None:
                    raise ValueError(f"stateful layer `{n.layer.name}` needs a fixed batch size: "
                                     f"give the input `Input(batch_shape=(batch, ...))`")

    # ---- definition -----------------------------------------------------------------------
    def add(self, layer) -> None:
        raise TypeError("a functional Model is defined by Model(inputs, outputs); call the layer "
                        "on a tensor and build a new Model, or use Sequential to add layers")

    def pop(self):
        raise TypeError("a functional Model has no `pop`; build a new Model(inputs, outputs)")

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input(self):
        return self._inputs[0] if not self._nested_inputs else list(self._inputs)

    @property
    def output(self):
        return self._outputs[0] if not self._nested_outputs else list(self._outputs)

    @property
    def built(self) -> bool:
        return all(layer.built for layer in self.layers)

    def _build(self, input_shape) -> None:
        self._drop_executors()

    def _unbuild(self, layers_built) -> None:
        """A functional model is built when defined: nothing to undo."""

    def _building_from(self, x):
        return _NOTHING

    def _output_masked(self) -> bool:
        return any(t._masked for t in self._outputs)

    @property
    def input_shape(self):
        shapes = [tuple(t.shape) for t in self._inputs]
        return shapes if self._nested_inputs else shapes[0]

    @property
    def output_shape(self):
        shapes = [tuple(t.shape) for t in self._outputs]
        return shapes if self._nested_outputs else shapes[0]

    def _sample_output_shape(self):
        return tuple(self._outputs[0].shape[1:])

    def _weighted_layers(self):
        return [l for l in self.layers if not getattr(l, "_is_input", False)]

    def count_params(self) -> int:
        return sum(l.count_params() for l in self._weighted_layers())

    def summary(self, print_fn=None) -> None:
        """Layers with output shapes, parameter counts and the layers each call reads (Keras'
        "Connected to" column)."""
        out = print_fn or print
        w = (31, 24, 10, 34)
        line = "_" * sum(w)
        out(f'Model: "{self.name}"')
        out(line)
        out(f"{' Layer (type)':<{w[0]}}{'Output Shape':<{w[1]}}{'Param #':<{w[2]}}"
            f"Connected to")
        out("=" * sum(w))
        rows = []
        for layer in self.layers:
            calls = [n for n in layer._inbound_nodes
                     if n in self._nodes or (n.is_input and layer in self._input_layers)]
            for n in calls:
                shapes = [t.shape for t in n.outputs]
                oshape = str(shapes[0] if len(shapes) == 1 else shapes)
                params = layer.count_params() if n is calls[0] else 0
                conn = [f"{t._node.layer.name}[{t._keras_history[1]}][{t._index}]"
                        for t in n.inputs]
                name = f" {layer.name} ({type(layer).__name__})"
                row = [f"{name:<{w[0] - 1}} {oshape:<{w[1] - 1}} {params:<{w[2] - 1}} "
                       f"{conn[0] if conn else ''}"]
                row += [f"{'':<{w[0] + w[1] + w[2]}}{c}" for c in conn[1:]]
                rows.append(row)
        for i, row in enumerate(rows):
            for text in row:
                out(text.rstrip())
            if i < len(rows) - 1:
                out("")
        out("=" * sum(w))
        total = self.count_params()
        trainable = sum(l.count_params() for l in self._weighted_layers() if l.trainable)
        out(f"Total params: {total:,}")
        out(f"Trainable params: {trainable:,}")
        out(f"Non-trainable params: {total - trainable:,}")
        out(line)

    # ---- the native executor --------------------------------------------------------------------
    def _has_dropout(self) -> bool:
        return any(layer._uses_dropout() for layer in self._weighted_layers())

    def _stateful(self) -> bool:
        if self._stateful_cache is None:
            self._stateful_cache = any(getattr(n.layer, "stateful", False) for n in self._nodes)
        return self._stateful_cache

    def _new_executor(self, training: bool):
        net = _core.Network(self._guard.weights)
        tid = {id(t): net.add_input() for t in self._inputs}
        seen = set()
        for node in self._nodes:
            layer = node.layer
            kind, config, params = layer._native_spec(node.input_shape())
            if node.states:
                config["initial_state"] = True
            if getattr(layer, "_n_states", 0) and getattr(layer, "return_state", False):
                config["return_state"] = True
            owner = self._owner[id(layer)]
            outs = net.add(kind, config, params, [tid[id(t)] for t in node.inputs], owner)
            for t, o in zip(node.outputs, outs):
                tid[id(t)] = o
            if owner not in seen:
                seen.add(owner)
                for j, reg in enumerate(layer._weight_regularizers()):
                    if reg is not None and (reg.l1 or reg.l2):
                        net.set_regularizer(owner, j, reg.l1, reg.l2)
                if not layer.trainable:
                    net.set_trainable(owner, False)
        net.set_outputs([tid[id(t)] for t in self._outputs])
        if self._compiled:
            if training:
                self._configure_native(net)
            else:
                net.set_losses(self._losses, self._loss_weights)
                net.set_metrics(self._metric_codes)
        return net

    def _configure_native(self, net) -> None:
        net.set_losses(self._losses, self._loss_weights)
        net.set_metrics(self._metric_codes)
        net.set_optimizer(self.optimizer._kind, **self.optimizer._native_args())
        net.iterations = self.optimizer.iterations

    def _trainable_changed(self, layer) -> None:
        with self._guard.mutex:
            if self._net is not None and id(layer) in self._owner:
                self._net.set_trainable(self._owner[id(layer)], layer.trainable)
            self._guard.invalidate()

    def _reset_layer_states(self, layer) -> None:
        with self._guard.mutex:
            if self._net is not None and id(layer) in self._owner:
                self._net.reset_layer_states(self._owner[id(layer)])

    # ---- compile: a loss per output ---------------------------------------------------------
    def _per_output(self, value, what: str, allow_none: bool):
        """One entry per output from a single value, a list or a dict by output name."""
        names = self.output_names
        if isinstance(value, dict):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(f"`{what}` names unknown output(s) {unknown}; the outputs are "
                                 f"{names}")
            return [value.get(k) for k in names]
        if isinstance(value, (list, tuple)):
            if len(value) != len(names):
                raise ValueError(f"`{what}` has {len(value)} entries; the model has "
                                 f"{len(names)} outputs {names}")
            return list(value)
        return [value] * len(names)

    def _compile(self, optimizer, loss, metrics, loss_weights, weighted_metrics, **kwargs):
        if kwargs:
            raise TypeError(f"`compile` got unexpected keyword argument(s): "
                            f"{', '.join(sorted(kwargs))}")
        if weighted_metrics is not None:
            raise NotImplementedError("`weighted_metrics` is not supported")
        if loss is None:
            raise ValueError("`compile` needs a loss, e.g. loss='mse' (or one per output)")
        losses = self._per_output(loss, "loss", True)
        names = [None if l is None else losses_mod.get(l) for l in losses]
        if all(n is None for n in names):
            raise ValueError("every output's loss is None: at least one output needs a loss")
        if loss_weights is None:
            weights = [1.0] * len(names)
        else:
            weights = self._per_output(loss_weights, "loss_weights", False)
            if isinstance(loss_weights, dict):
                weights = [1.0 if w is None else w for w in weights]
            try:
                weights = [float(w) for w in weights]
            except (TypeError, ValueError):
                raise ValueError(f"`loss_weights` must be numbers; received "
                                 f"{_show(loss_weights)}") from None
            if not all(math.isfinite(w) and w >= 0 for w in weights):
                raise ValueError(f"`loss_weights` must be finite and non-negative; received "
                                 f"{weights}")
        per = self._metric_lists(metrics)
        for k, ms in enumerate(per):
            for m in ms:
                metrics_mod.resolve(m, names[k] or "mse", 2)
        if sum(len(m) for m in per) > 32:
            raise ValueError("at most 32 metrics are supported over all outputs")
        opt = optimizers_mod.get(optimizer)
        self.optimizer = opt
        opt._bind(self)
        self.loss = names[0] if len(names) == 1 else names
        self._losses, self._loss_weights = names, weights
        self._loss_arg = loss
        self._loss_weights_arg = loss_weights
        self._metrics_arg = metrics
        self._metric_lists_arg = per
        self._compiled = True
        self._resolve_metrics()
        self._guard.invalidate()
        if self._net is not None:
            self._configure_native(self._net)

    def _metric_lists(self, metrics):
        """Metric names per output: a list applies to every output, as Keras 2 did; a dict or
        a list of lists gives each output its own."""
        n = len(self.output_names)
        if metrics is None:
            return [[] for _ in range(n)]
        if isinstance(metrics, (str,)) or callable(metrics):
            metrics = [metrics]
        if isinstance(metrics, dict):
            per = self._per_output(metrics, "metrics", True)
            per = [[] if m is None else ([m] if isinstance(m, str) or callable(m) else list(m))
                   for m in per]
        elif isinstance(metrics, (list, tuple)) and metrics and \
                all(isinstance(m, (list, tuple)) or m is None for m in metrics):
            per = [[] if m is None else list(m) for m in self._per_output(metrics, "metrics",
                                                                          True)]
        else:
            per = [list(metrics) for _ in range(n)]
        return [[metrics_mod.name_of(m) for m in ms] for ms in per]

    def _resolve_metrics(self) -> None:
        single = len(self.output_names) == 1
        self._metric_codes, self._metric_slots, self._metric_names = [], [], []
        for k, ms in enumerate(self._metric_lists_arg):
            width = self._outputs[k].shape[-1] or 2
            codes = []
            for m in ms:
                name, code = metrics_mod.resolve(m, self._losses[k] or "mse", width)
                shown = name if single else f"{self.output_names[k]}_{name}"
                codes.append(code)
                self._metric_slots.append((shown, k))
                self._metric_names.append(shown)
            self._metric_codes.append(codes)
        self._output_loss_names = [] if single else [
            (k, f"{n}_loss") for k, n in enumerate(self.output_names) if self._losses[k]]

    def get_compile_config(self):
        """The compile settings as plain values (names, not loss or metric objects)."""
        if not self._compiled:
            return None
        single = len(self.output_names) == 1
        if isinstance(self._loss_arg, dict):
            loss = {k: l for k, l in zip(self.output_names, self._losses)
                    if k in self._loss_arg}
        else:
            loss = self._losses[0] if single else list(self._losses)
        metrics = self._metric_lists_arg[0] if single else self._metric_lists_arg
        weights = self._loss_weights_arg
        if weights is not None:
            weights = dict(zip(self.output_names, self._loss_weights)) \
                if isinstance(weights, dict) else list(self._loss_weights)
        return {"optimizer": optimizers_mod.serialize(self.optimizer), "loss": loss,
                "metrics": metrics or None, "loss_weights": weights}

    def compile_from_config(self, config) -> None:
        self.compile(optimizer=optimizers_mod.deserialize(config["optimizer"]),
                     loss=config["loss"], metrics=config.get("metrics") or None,
                     loss_weights=config.get("loss_weights"))

    # ---- data: one array per input and per output -------------------------------------------
    @staticmethod
    def _n(x) -> int:
        return x[0].shape[0]

    @staticmethod
    def _take(a, rows: slice):
        if a is None:
            return None
        if isinstance(a, list):
            return [None if v is None else np.ascontiguousarray(v[rows]) for v in a]
        return np.ascontiguousarray(a[rows])

    def _native_targets(self, y, n: int):
        return [None if v is None else v.reshape(n, -1) for v in y]

    def _arrays_for(self, value, names, what: str):
        """A list with one entry per name, from a list/tuple, a dict by name or (one name)
        an array."""
        if isinstance(value, dict):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(f"`{what}` names unknown {'input' if what.startswith('x') else 'output'}"
                                 f"(s) {unknown}; expected {names}")
            missing = [k for k in names if k not in value]
            if missing and what.startswith("x"):
                raise ValueError(f"`{what}` lacks input(s) {missing}; expected one array per "
                                 f"input {names}")
            return [value.get(k) for k in names]
        if isinstance(value, (list, tuple)) and len(names) > 1:
            if len(value) != len(names):
                raise ValueError(f"`{what}` has {len(value)} arrays; the model has "
                                 f"{len(names)} {'inputs' if what.startswith('x') else 'outputs'} "
                                 f"{names}: pass one array per "
                                 f"{'input' if what.startswith('x') else 'output'}")
            return list(value)
        if isinstance(value, (list, tuple)) and len(value) == 1 and len(names) == 1 and \
                isinstance(value[0], np.ndarray):
            return [value[0]]
        if len(names) > 1:
            raise ValueError(f"the model has {len(names)} {'inputs' if what.startswith('x') else 'outputs'} "
                             f"{names}: `{what}` must be a list (or a dict by name) of "
                             f"{len(names)} arrays; received {type(value).__name__}")
        return [value]

    def _prepare_x(self, x, name="x"):
        if x is None:
            raise ValueError(f"`{name}` is required")
        xs = self._arrays_for(x, self.input_names, name)
        out, n = [], None
        for k, (t, a) in enumerate(zip(self._inputs, xs)):
            label = name if len(xs) == 1 else f"{name}[{self.input_names[k]!r}]"
            for consumer in self._nodes:
                if t in consumer.main_inputs:
                    consumer.layer._check_model_input(a, label)
            a = _arrays.as_float32(a, label)
            spec = t.shape[1:]
            if a.ndim != len(spec) + 1:
                raise ValueError(f"input `{self.input_names[k]}` expects {len(spec) + 1}D data "
                                 f"of shape {t.shape}; received `{label}` with shape {a.shape}")
            for axis, want in enumerate(spec):
                if want is not None and a.shape[axis + 1] != want or a.shape[axis + 1] == 0:
                    raise ValueError(f"input `{self.input_names[k]}` expects shape {t.shape}; "
                                     f"received `{label}` with shape {a.shape}")
            if a.shape[0] == 0:
                raise ValueError(f"`{label}` has no samples (shape {a.shape})")
            if n is not None and a.shape[0] != n:
                raise ValueError(f"every input needs the same number of samples: `{label}` has "
                                 f"{a.shape[0]}, the first input has {n}")
            n = a.shape[0]
            _arrays.check_finite(a, label)
            out.append(a)
        return out

    def _prepare_y(self, y, n: int, name="y"):
        if y is None:
            raise ValueError(f"`{name}` is required")
        ys = self._arrays_for(y, self.output_names, name)
        out = []
        for k, (t, v) in enumerate(zip(self._outputs, ys)):
            loss = self._losses[k] if self._losses else None
            label = name if len(ys) == 1 else f"{name}[{self.output_names[k]!r}]"
            if loss is None:
                out.append(None)
                continue
            if v is None:
                raise ValueError(f"output `{self.output_names[k]}` has a loss and needs targets "
                                 f"`{label}`")
            out.append(check_targets(v, n, tuple(t.shape[1:]), loss, label, t.shape))
        return out

    def _prepare_xy(self, x, y):
        x = self._prepare_x(x)
        return x, self._prepare_y(y, self._n(x))

    def _prepare_sample_weight(self, sample_weight, class_weight, y, n: int,
                               name="sample_weight"):
        if class_weight is not None:
            if len(self.output_names) != 1:
                raise ValueError("`class_weight` is supported for a model with one output; "
                                 "pass `sample_weight` per output instead")
            return Model._prepare_sample_weight(self, sample_weight, class_weight, y[0], n,
                                                     name)
        if sample_weight is None:
            return None
        if isinstance(sample_weight, (dict, list, tuple)) and not (
                isinstance(sample_weight, (list, tuple)) and len(self.output_names) == 1
                and np.ndim(sample_weight) == 1):
            per = self._arrays_for(sample_weight, self.output_names, name)
            return [None if w is None else
                    Model._prepare_sample_weight(self, w, None, None, n, name)
                    for w in per]
        return Model._prepare_sample_weight(self, sample_weight, None, None, n, name)

    def _sample_output_shapes(self, x):
        shapes = []
        for t in self._outputs:
            s = list(t.shape[1:])
            shapes.append(s)
        if any(None in s for s in shapes):  # a variable length: ask the executor
            return [tuple(s) for s in self._run_inference(lambda net: net.output_shapes(x))]
        return [tuple(s) for s in shapes]

    def _predict_arrays(self, x, bs):
        n = self._n(x)
        outs = [np.empty((n,) + s, dtype=np.float32) for s in self._sample_output_shapes(x)]
        self._run_inference(lambda net: net.predict(x, bs, outs))
        if not self._nested_outputs:
            return outs[0]
        if self._output_keys is not None:
            return dict(zip(self._output_keys, outs))
        return outs

    def streaming(self, batch_size=1):
        raise NotImplementedError("streaming runs Sequential models; build the model as a "
                                  "Sequential to stream it")

    def predict_on_batch(self, x):
        x = self._prepare_x(x)
        self._check_exact_batch(self._n(x), "predicts")
        return self._predict_arrays(x, self._n(x))

    def predict_classes(self, x, batch_size=None, verbose=0):
        if self._nested_outputs:
            raise ValueError("`predict_classes` needs a model with one output")
        return super().predict_classes(x, batch_size=batch_size, verbose=verbose)

    # ---- config, saving -----------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras' functional config: each layer with the calls it makes in this model
        (``inbound_nodes``: the tensors read as [layer, call, output] and the initial states),
        and the model's input and output tensors."""
        index = {}  # node -> its index among the layer's calls in this model
        for layer in self.layers:
            kept = [n for n in layer._inbound_nodes if n in self._nodes or n.is_input]
            for i, n in enumerate(kept):
                index[id(n)] = i

        def ref(t):
            return [t._node.layer.name, index[id(t._node)], t._index]

        layers = []
        for layer in self.layers:
            cfg = serialize(layer)
            cfg["name"] = layer.name
            calls = [n for n in layer._inbound_nodes if n in self._nodes]
            cfg["inbound_nodes"] = [{"inputs": [ref(t) for t in n.main_inputs],
                                     "initial_state": [ref(t) for t in n.states]}
                                    for n in calls]
            layers.append(cfg)
        config = {"name": self.name, "layers": layers,
                  "input_layers": [ref(t) for t in self._inputs],
                  "output_layers": [ref(t) for t in self._outputs]}
        if self._input_keys is not None:
            config["input_keys"] = list(self._input_keys)
        if self._output_keys is not None:
            config["output_keys"] = list(self._output_keys)
        config["nested"] = [self._nested_inputs, self._nested_outputs]
        return config

    @classmethod
    def from_config(cls, config: dict):
        return rebuild(config, build=True)

    def __reduce__(self):
        from . import saving
        from .models import model_from_bytes
        with self._guard.mutex:
            return (model_from_bytes, (saving.model_to_bytes(self),))


def rebuild(config: dict, build: bool = True):
    """A Model from ``get_config()``'s dict. Each layer's calls are replayed once the tensors
    they read exist; a call that can never run (a cycle, a tensor no call makes) is a
    ValueError naming the layers. With ``build=False`` no weight is allocated (a model file's
    graph is checked first; ``_build_layers`` allocates later)."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("a functional model config must be a dict with a 'layers' list")
    for key in ("input_layers", "output_layers"):
        if not isinstance(config.get(key), list) or not config[key]:
            raise ValueError(f"a functional model config needs a non-empty '{key}' list")
    by_name, pending = {}, []
    for item in config["layers"]:
        if not isinstance(item, dict):
            raise ValueError(f"a layer entry must be a dict; received {_show(item)}")
        layer = deserialize({"class_name": item.get("class_name"),
                             "config": item.get("config")})
        if layer.name in by_name:
            raise ValueError(f"two layers are named `{_show(layer.name)}`")
        by_name[layer.name] = layer
        calls = item.get("inbound_nodes", [])
        if not isinstance(calls, list):
            raise ValueError(f"layer `{layer.name}`: 'inbound_nodes' must be a list")
        for call in calls:
            pending.append((layer, call))
    if sum(1 for _ in pending) > MAX_NODES:
        raise ValueError(f"the model has more than {MAX_NODES} layer calls")
    made: dict[tuple, KerasTensor] = {}
    counts: dict[str, int] = {}
    for name, layer in by_name.items():
        if getattr(layer, "_is_input", False):
            made[(name, 0, 0)] = layer.output
            counts[name] = 1

    def tensor(r):
        if not (isinstance(r, list) and len(r) == 3 and isinstance(r[0], str)
                and all(isinstance(v, int) and not isinstance(v, bool) for v in r[1:])):
            raise ValueError(f"a tensor reference must be [layer name, call, output]; received "
                             f"{_show(r)}")
        return made.get(tuple(r))

    progress = True
    while pending and progress:
        progress = False
        rest = []
        for layer, call in pending:
            if not isinstance(call, dict) or not isinstance(call.get("inputs"), list) \
                    or not isinstance(call.get("initial_state", []), list):
                raise ValueError(f"layer `{layer.name}`: a call must be a dict with an 'inputs' "
                                 f"list; received {_show(call)}")
            ins = [tensor(r) for r in call["inputs"]]
            states = [tensor(r) for r in call.get("initial_state", [])]
            first_of_layer = all(p[0] is not layer for p in rest)
            if not ins or any(t is None for t in ins + states) or not first_of_layer:
                rest.append((layer, call))
                continue
            arg = ins if getattr(layer, "_multi_input", False) else ins[0]
            if len(ins) != 1 and not getattr(layer, "_multi_input", False):
                raise ValueError(f"layer `{layer.name}` takes one input; its call lists "
                                 f"{len(ins)}")
            result = call_layer(layer, arg, initial_state=states or None, build=build)
            outs = result if isinstance(result, list) else [result]
            k = counts.get(layer.name, 0)
            counts[layer.name] = k + 1
            for i, t in enumerate(outs):
                made[(layer.name, k, i)] = t
            progress = True
        pending = rest
    if pending:
        names = sorted({layer.name for layer, _ in pending})
        raise ValueError(f"the model's graph cannot be rebuilt: the calls of layer(s) "
                         f"{[_show(n) for n in names]} read tensors that no call makes (a cycle "
                         f"or a missing layer)")
    ins, outs = [], []
    for key, dest in (("input_layers", ins), ("output_layers", outs)):
        for r in config[key]:
            t = tensor(r)
            if t is None:
                raise ValueError(f"the model's {key} names tensor {_show(r)}, which no layer "
                                 f"makes")
            dest.append(t)
    nested = config.get("nested", [True, True])
    in_keys, out_keys = config.get("input_keys"), config.get("output_keys")
    inputs = dict(zip(in_keys, ins)) if in_keys else (ins if nested[0] or len(ins) > 1 else ins[0])
    outputs = dict(zip(out_keys, outs)) if out_keys else (
        outs if nested[1] or len(outs) > 1 else outs[0])
    name = config.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"the model name must be a string; received {_show(name)}")
    return Functional(inputs, outputs, name=name)


def weight_specs(model) -> list:
    """[(layer name, weight label, shape, trainable)] of a model whose layers may not be built
    yet, in get_weights() order (a model file is checked against it before allocating)."""
    specs = []
    for layer in model._weighted_layers():
        first = next(n for n in layer._inbound_nodes if n in model._nodes)
        labels = layer._weight_names
        for j, shape in enumerate(layer._weight_shapes(first.input_shape())):
            specs.append((layer.name, labels[j] if j < len(labels) else str(j), tuple(shape),
                          layer.trainable))
    return specs


def build_layers(model) -> None:
    """Allocate the weights of a model rebuilt with ``build=False``."""
    for layer in model._weighted_layers():
        first = next(n for n in layer._inbound_nodes if n in model._nodes)
        _build_for(layer, first.input_shape())
    model._drop_executors()


__all__ = ["Functional", "Node", "KerasTensor"]
