"""Bidirectional wrapper (for any recurrent layer)."""

from __future__ import annotations

import copy

from .. import _core
from .base import Layer, _show

MERGE_MODES = tuple(_core.MERGE_CODES)  # defined once, in C++ (model/layer.h: enum Merge)


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards over the sequence and merges
    the two.

    Args:
        layer: a recurrent layer (``LSTM``, ``GRU``, ``SimpleRNN``); both directions are made
            from its config, as Keras does: ``forward_<name>`` and ``backward_<name>``
            (``go_backwards=True``).
        merge_mode: ``'concat'`` (default), ``'sum'``, ``'mul'`` or ``'ave'``.

    Weights: the forward layer's arrays, then the backward layer's (Keras order).
    With ``return_sequences`` the backward outputs are flipped back to input order.
    """

    _kind = "bidirectional"

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer) or not layer._recurrent:
            raise ValueError(f"`Bidirectional` wraps an `LSTM` (or another recurrent layer); "
                             f"received {_show(layer)}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"`merge_mode` must be one of {', '.join(map(repr, MERGE_MODES))}; "
                             f"received merge_mode={_show(merge_mode)}")
        if layer.go_backwards:
            raise ValueError("`Bidirectional` runs its own backward copy of the layer; wrap an "
                             f"`{type(layer).__name__}` with go_backwards=False")
        if backward_layer is not None:
            raise NotImplementedError("`Bidirectional(backward_layer=...)` is not supported")
        self.merge_mode = merge_mode
        cfg = layer.get_config()
        cfg.pop("batch_input_shape", None)
        cls = type(layer)
        self.forward_layer = cls.from_config({**cfg, "name": "forward_" + layer.name})
        self.backward_layer = cls.from_config({**cfg, "name": "backward_" + layer.name,
                                               "go_backwards": True})
        self._wrapped_name = layer.name
        self.stateful = layer.stateful
        if layer._batch_input_shape is not None and self._batch_input_shape is None:
            self._batch_input_shape = layer._batch_input_shape
    def _sequence_input(self) -> bool:
        return True

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        return (self.forward_layer._weight_shapes(input_shape)
                + self.backward_layer._weight_shapes(input_shape))

    def build(self, input_shape) -> None:
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        self._weights = self.forward_layer._weights + self.backward_layer._weights
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        out = self.forward_layer.compute_output_shape(input_shape)
        if self.merge_mode == "concat":
            out = out[:-1] + (2 * out[-1],)
        return out

    @property
    def _supports_masking(self) -> bool:
        return self.forward_layer._supports_masking

    def _output_mask(self, input_masked: bool) -> bool:
        return self.forward_layer._output_mask(input_masked)

    def _uses_dropout(self) -> bool:
        return self.forward_layer._uses_dropout()

    def _native_config(self, input_shape) -> dict:
        kind, inner, _ = self.forward_layer._native_spec(input_shape)
        return {"layer": {"kind": kind, **inner}, "merge_mode": self.merge_mode}

    def _weight_regularizers(self) -> list:
        return (self.forward_layer._weight_regularizers()
                + self.backward_layer._weight_regularizers())

    def _native_params(self) -> dict:
        params = {f"forward/{k}": v for k, v in self.forward_layer._native_params().items()}
        params.update((f"backward/{k}", v) for k, v in self.backward_layer._native_params().items())
        return params

    def get_config(self) -> dict:
        config = super().get_config()
        inner = self.forward_layer.get_config()
        inner["name"] = self._wrapped_name
        config["layer"] = {"class_name": type(self.forward_layer).__name__, "config": inner}
        config["merge_mode"] = self.merge_mode
        return config

    @classmethod
    def from_config(cls, config: dict):
        from . import deserialize
        config = copy.deepcopy(config)
        config["layer"] = deserialize(config["layer"])
        return cls(**config)
