"""The layer base class: naming, input-shape arguments, weights, configs."""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

_name_counts: dict[str, int] = defaultdict(int)


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def _unique_name(prefix: str) -> str:
    n = _name_counts[prefix]
    _name_counts[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


# Every dimension a user or a model file gives (units, RepeatVector's n, input dims, the batch
# size of batch_input_shape) is bounded here, before anything is allocated: no real model comes
# near 2**31 - 1, products of two such sizes stay far from int64 overflow, and a file cannot ask
# for 2**62 timesteps (RepeatVector(2**62) once loaded and crashed natively).
MAX_DIM = 2**31 - 1
MAX_NDIM = 32    # entries of input_shape / batch_input_shape (NumPy's historical maximum)
MAX_ECHO = 100   # characters of a received value echoed in an error message


def _show(value, limit: int = MAX_ECHO) -> str:
    """repr(value) for an error message, cut to `limit` characters: a value read from a file
    may be a 20 MB string, and the message must stay readable."""
    try:
        text = repr(value)
    except Exception:  # a hostile object's __repr__ is not worth failing over
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return text


def _shape_tuple(value, arg: str, allow_none_first: bool = False, allow_none_last=False):
    try:
        if isinstance(value, (str, bytes, dict)):  # tuple() takes them, but they are no shape
            raise TypeError
        shape = tuple(value)
    except TypeError:
        raise ValueError(f"`{arg}` must be a tuple; received {arg}={_show(value)}") from None
    if len(shape) > MAX_NDIM:
        raise ValueError(f"`{arg}` may have at most {MAX_NDIM} entries; received {len(shape)}: "
                         f"{arg}={_show(value)}")
    for i, s in enumerate(shape):
        if s is None and (i == 0 and allow_none_first or i < len(shape) - 1 or allow_none_last):
            continue
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"`{arg}` entries must be positive integers (or None for a variable "
                             f"length); received {arg}={_show(value)}")
        if s > MAX_DIM:
            raise ValueError(f"`{arg}` entries must be at most {MAX_DIM} (2**31 - 1); received "
                             f"{arg}={_show(value)}")
    return tuple(None if s is None else int(s) for s in shape)


def check_positive_int(value, arg: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{layer}` expects `{arg}` to be a positive integer; received "
                         f"{arg}={_show(value)}")
    if value > MAX_DIM:
        raise ValueError(f"`{layer}` expects `{arg}` to be a positive integer of at most {MAX_DIM} "
                         f"(2**31 - 1); received {arg}={_show(value)}")
    return int(value)


def check_elements(shape, layer: str) -> None:
    """Refuse a per-sample shape with more than MAX_DIM elements (e.g. RepeatVector(2**30)
    after a wide layer): one sample alone would need more than 8 GB."""
    n = 1
    for s in shape:
        if s is not None:
            n *= int(s)
    if n > MAX_DIM:
        raise ValueError(f"`{layer}` would produce a per-sample shape {_show(tuple(shape))} of {n} "
                         f"elements; at most {MAX_DIM} (2**31 - 1) are supported")


def check_rate(value, arg: str, layer: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not 0.0 <= v < 1.0:
        raise ValueError(f"`{layer}` expects `{arg}` in [0, 1); received {arg}={_show(value)}")
    return v


class Layer:
    """Base class of lstmcore layers (Keras semantics).

    Args:
        name: layer name; default: the snake-cased class name, numbered when repeated.
        input_shape: per-sample input shape, e.g. ``(timesteps, features)``; first layer only.
        batch_input_shape: ``(batch, timesteps, features)``; fixes the batch size (stateful).
        input_dim, input_length: the Keras 1/2 spelling of ``input_shape=(input_length, input_dim)``.
        batch_size: with ``input_shape`` (or ``input_dim``), fixes the batch size as Keras 2
            does: ``LSTM(4, batch_size=1, input_shape=(5, 1))`` is ``batch_input_shape=(1, 5, 1)``.

    A shape argument on any layer but a model's first is ignored, with a warning (Keras 2
    ignores it silently).
    """

    _weight_names: tuple[str, ...] = ()
    # The native description (see `_native_spec`): `_kind` names the native layer
    # (cpp/model/layers/<kind>.cpp) and its NumPy reference pair (reference.LAYERS[kind]).
    _kind: str | None = None
    # Can Bidirectional wrap it (a recurrent layer: go_backwards, return_sequences, stateful)?
    _recurrent = False
    # Can TimeDistributed wrap it (it maps each row of features on its own)?
    _timestep_wise = False
    # Can TimeDistributed apply it to each subsequence of a 4D input (it takes 3D input)?
    _sequence_wise = False
    # Keras masking: may the layer receive a mask (a per-timestep mask from Embedding(mask_zero)
    # or Masking)? What it passes on is `_output_mask`.
    _supports_masking = False
    # Does it take integer indices as input (and so must come first)?
    _integer_input = False
    # Keras weight regularizers the constructor takes: argument name -> weight name.
    _regularizer_args: dict[str, str] = {}
    # Every Layer subclass by class name: what `layers.deserialize` and model files resolve.
    _classes: dict[str, type] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # private bases are no layer a file can name
            Layer._classes[cls.__name__] = cls

    def __init__(self, name=None, input_shape=None, batch_input_shape=None, input_dim=None,
                 input_length=None, trainable=True, dtype=None, batch_size=None, **kwargs):
        cls = type(self).__name__
        from .. import regularizers
        self._regularizers = {}  # weight name -> Regularizer
        for arg, weight in self._regularizer_args.items():
            reg = regularizers.get(kwargs.pop(arg, None))
            if reg is not None:
                self._regularizers[weight] = reg
        if kwargs.pop("activity_regularizer", None) is not None:
            raise NotImplementedError(f"`{cls}(activity_regularizer=...)` is not supported; "
                                      f"weight regularizers are")
        if kwargs:
            bad = ", ".join(sorted(map(str, kwargs)))
            if len(bad) > 2 * MAX_ECHO:
                bad = f"{bad[:2 * MAX_ECHO]}... ({len(kwargs)} arguments)"
            raise TypeError(f"`{cls}` got unexpected keyword argument(s): {bad}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"`{cls}` computes in float32 only; received dtype={_show(dtype)}")
        self.name = name if name is not None else _unique_name(_snake(cls))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"`name` must be a non-empty string; received name={_show(name)}")
        self._trainable = bool(trainable)
        self._batch_input_shape = None
        if batch_input_shape is not None:
            shape = _shape_tuple(batch_input_shape, "batch_input_shape", allow_none_first=True,
                                 allow_none_last=self._integer_input)
            if len(shape) < 2:
                raise ValueError(f"`batch_input_shape` must include the batch size and the "
                                 f"per-sample shape, e.g. (10, 5, 1); received "
                                 f"{_show(batch_input_shape)}")
            self._batch_input_shape = shape
        elif input_shape is not None:
            # integer indices (Embedding): the last axis is time, which may vary
            shape = _shape_tuple(input_shape, "input_shape", allow_none_last=self._integer_input)
            if not shape:
                raise ValueError("`input_shape` must give the per-sample shape, e.g. (5, 1) for 5 "
                                 "timesteps of 1 feature; received input_shape=()")
            self._batch_input_shape = (None,) + shape
        elif input_dim is not None:
            check_positive_int(input_dim, "input_dim", cls)
            if input_length is not None:
                check_positive_int(input_length, "input_length", cls)
                self._batch_input_shape = (None, int(input_length), int(input_dim))
            else:
                self._batch_input_shape = (None, None, int(input_dim)) if self._sequence_input() \
                    else (None, int(input_dim))
        if batch_size is not None:
            batch_size = check_positive_int(batch_size, "batch_size", cls)
            if self._batch_input_shape is None:
                raise ValueError(f"`{cls}(batch_size=...)` fixes the batch size of the model's "
                                 f"input and goes with `input_shape=`, e.g. `{cls}(..., "
                                 f"batch_size={batch_size}, input_shape=(timesteps, features))`")
            if self._batch_input_shape[0] not in (None, batch_size):
                raise ValueError(f"`{cls}` received batch_size={batch_size} and batch_input_shape="
                                 f"{self._batch_input_shape}, whose batch size differs; give one "
                                 f"of them")
            self._batch_input_shape = (batch_size,) + self._batch_input_shape[1:]
        self.built = False
        self._weights: list[np.ndarray] = []
        self.input_shape = None   # (None, ...) once built
        self.output_shape = None
        self._inbound_nodes = []  # its calls on symbolic tensors (functional models)

    # -- functional models ---------------------------------------------------------------------
    def __call__(self, inputs, *args, **kwargs):
        """Call the layer on symbolic tensors (``Input(...)`` or another layer's output):
        records the call for a functional ``Model`` and returns the output tensor(s).
        A layer called on anything else is a TypeError."""
        from .graph import call_layer
        return call_layer(self, inputs, *args, **kwargs)

    def _node_tensor(self, which: str):
        nodes = self._inbound_nodes
        if not nodes:
            raise AttributeError(f"layer `{self.name}` has not been called on a tensor yet, so "
                                 f"it has no `{which}`")
        if len(nodes) > 1:
            raise AttributeError(f"layer `{self.name}` has been called {len(nodes)} times "
                                 f"(a shared layer): its `{which}` is ambiguous")
        ts = nodes[0].outputs if which == "output" else nodes[0].inputs
        if which == "input" and getattr(self, "_is_input", False):
            ts = nodes[0].outputs
        return ts[0] if len(ts) == 1 else list(ts)

    @property
    def output(self):
        """The tensor(s) of the layer's one call (Keras)."""
        return self._node_tensor("output")

    @property
    def input(self):
        """The input tensor(s) of the layer's one call (Keras)."""
        return self._node_tensor("input")

    # -- to override ---------------------------------------------------------------------------
    def _sequence_input(self) -> bool:
        return False

    def _uses_dropout(self) -> bool:
        """Whether training draws dropout masks (and so needs a seed)."""
        return False

    def _check_model_input(self, x, name: str) -> None:
        """As the model's first layer: refuse input values it cannot take (before the
        float32 conversion). Nothing to check for most layers."""

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        """The shapes of the weights `build(input_shape)` creates, in Keras order, computed
        without allocating anything (the model loader checks a file's arrays against them
        before building). Raises ValueError for an input shape the layer cannot take."""
        return []

    def build(self, input_shape) -> None:
        """Create the weights for a per-sample input shape (without the batch axis)."""
        self.built = True

    def compute_output_shape(self, input_shape):
        """Per-sample output shape for a per-sample input shape."""
        return input_shape

    def _output_mask(self, input_masked: bool) -> bool:
        """Whether the layer's output carries a mask, given whether its input does."""
        return input_masked and self._supports_masking

    def _weight_regularizers(self) -> list:
        """Per weight (the order of get_weights()): its Regularizer or None."""
        return [self._regularizers.get(name) for name, _ in zip(self._weight_names, self._weights)]

    def _native_config(self, input_shape) -> dict:
        """The native layer's config for a per-sample input shape: str -> bool, int, float,
        str, or a nested config (a dict with its "kind") for a wrapped layer."""
        return {}

    def _native_params(self) -> dict:
        """The parameter arrays the native layer points into, by name (shared, not copied)."""
        return dict(zip(self._weight_names, self._weights))

    def _native_spec(self, input_shape) -> tuple[str, dict, dict]:
        """``(kind, config, params)``: everything the native side needs to build this layer
        (``_core.Network.add``). The one description of the layer outside its class."""
        if self._kind is None:
            raise NotImplementedError(f"`{type(self).__name__}` has no native implementation")
        return self._kind, self._native_config(input_shape), self._native_params()

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        from .. import regularizers
        for arg, weight in self._regularizer_args.items():
            if weight in self._regularizers:
                config[arg] = regularizers.serialize(self._regularizers[weight])
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    # -- weights -------------------------------------------------------------------------------
    @property
    def weights(self) -> list[np.ndarray]:
        return list(self._weights)

    def count_params(self) -> int:
        return int(sum(w.size for w in self._weights))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in Keras order and shapes (float32)."""
        return [w.copy() for w in self._weights]

    def set_weights(self, weights) -> None:
        """Set the weights from a list of arrays in Keras order; shapes are checked first,
        so a bad list changes nothing."""
        if not self.built:
            raise ValueError(f"layer `{self.name}` has no weights yet: it is built when the model "
                             f"knows its input shape (give the first layer `input_shape=`)")
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(f"layer `{self.name}` expects {len(self._weights)} weight arrays "
                             f"{[tuple(w.shape) for w in self._weights]}; received {len(weights)}")
        arrays = []
        for i, (cur, new) in enumerate(zip(self._weights, weights)):
            a = np.asarray(new, dtype=np.float32)
            if a.shape != cur.shape:
                label = self._weight_names[i] if i < len(self._weight_names) else f"#{i}"
                raise ValueError(f"layer `{self.name}` weight {i} ({label}) must have shape "
                                 f"{tuple(cur.shape)}; received shape {tuple(a.shape)}")
            if not np.isfinite(a).all():
                raise ValueError(f"layer `{self.name}` weight {i} contains NaN or Inf")
            arrays.append(a)
        models = self._models()
        if models:  # serialised with the model's other writers and its readers
            models[0]._write_weights([(self, arrays)])
            for other in models[1:]:  # other models sharing the layer: their bounds
                with other._guard.mutex:
                    other._weights_written()
        else:
            for cur, a in zip(self._weights, arrays):
                np.copyto(cur, a)  # in place: a native executor points at these buffers

    def _models(self) -> list:
        """The models this layer is part of: its Sequential, and the functional models that
        call it (a shared layer may be in several)."""
        found = [getattr(self, "_model", None)] + list(getattr(self, "_fmodels", ()))
        return [m for m in found if m is not None]

    @property
    def trainable(self) -> bool:
        """False freezes the layer's weights (Keras): training leaves them as they are and
        the optimizer keeps no state for them; gradients still flow to the layers below."""
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = bool(value)
        for model in self._models():
            model._trainable_changed(self)

    def reset_states(self) -> None:
        """Zero this layer's state in its model (stateful recurrent layers, and wrappers of
        them such as Bidirectional); nothing for a layer without state."""
        for model in self._models():
            model._reset_layer_states(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
