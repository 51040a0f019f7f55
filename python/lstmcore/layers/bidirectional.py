"""Bidirectional wrapper (for LSTM)."""

from __future__ import annotations

import copy

from .. import _core
from .base import Layer, _show
from .lstm import LSTM

MERGE_MODES = tuple(_core.MERGE_CODES)  # defined once, in C++ (network.h: enum Merge)


class Bidirectional(Layer):
    """Runs an LSTM forwards and a copy of it backwards over the sequence and merges the two.

    Args:
        layer: an ``LSTM``.
        merge_mode: ``'concat'`` (default), ``'sum'``, ``'mul'`` or ``'ave'``.

    Weights: the forward layer's three arrays, then the backward layer's (Keras order).
    With ``return_sequences`` the backward outputs are flipped back to input order.
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, LSTM):
            raise ValueError(f"`Bidirectional` wraps an `LSTM`; received {_show(layer)}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"`merge_mode` must be one of {', '.join(map(repr, MERGE_MODES))}; "
                             f"received merge_mode={_show(merge_mode)}")
        if layer.go_backwards:
            raise ValueError("`Bidirectional` runs its own backward copy of the layer; wrap an "
                             "`LSTM` with go_backwards=False")
        if backward_layer is not None:
            raise NotImplementedError("`Bidirectional(backward_layer=...)` is not supported")
        self.merge_mode = merge_mode
        self.forward_layer = layer
        cfg = layer.get_config()
        cfg.pop("batch_input_shape", None)
        cfg["name"] = "backward_" + layer.name
        cfg["go_backwards"] = not layer.go_backwards
        self.backward_layer = LSTM(**cfg)
        self.forward_layer.name = "forward_" + layer.name
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

    def _uses_dropout(self) -> bool:
        return self.forward_layer._uses_dropout()

    def _add_native(self, net, input_shape) -> None:
        f, b = self.forward_layer, self.backward_layer
        merge = _core.MERGE_CODES[self.merge_mode]
        net.add_bidirectional(f.units, int(input_shape[-1]), f.kernel, f.recurrent_kernel, f.bias,
                              b.kernel, b.recurrent_kernel, b.bias, f.activation,
                              f.recurrent_activation, f.return_sequences, f.stateful, f.dropout,
                              f.recurrent_dropout, merge)

    def get_config(self) -> dict:
        config = super().get_config()
        inner = self.forward_layer.get_config()
        inner["name"] = inner["name"].removeprefix("forward_")
        config["layer"] = {"class_name": "LSTM", "config": inner}
        config["merge_mode"] = self.merge_mode
        return config

    @classmethod
    def from_config(cls, config: dict):
        from . import deserialize
        config = copy.deepcopy(config)
        config["layer"] = deserialize(config["layer"])
        return cls(**config)
