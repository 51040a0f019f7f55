"""TimeDistributed wrapper (for Dense)."""

from __future__ import annotations

from .base import Layer, _show
from .dense import Dense


class TimeDistributed(Layer):
    """Applies a layer to every timestep of a ``(batch, timesteps, features)`` input with the
    same weights. Supports ``Dense`` (the encoder-decoder output layer).

    Args:
        layer: a ``Dense`` layer.

    ``(batch, timesteps, features)`` -> ``(batch, timesteps, units)``.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Dense):
            raise ValueError(f"`TimeDistributed` supports a `Dense` layer; received {_show(layer)}")
        self.layer = layer

    def _sequence_input(self) -> bool:
        return True

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        self.compute_output_shape(input_shape)  # the 3D-input check
        return self.layer._weight_shapes(input_shape)

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)  # the 3D-input check
        self.layer.build(input_shape)
        self._weights = self.layer._weights
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"`TimeDistributed` expects 3D input (samples, timesteps, features); "
                             f"received a per-sample shape {tuple(input_shape)}")
        return self.layer.compute_output_shape(input_shape)

    def _add_native(self, net, input_shape) -> None:
        self.layer._add_native(net, input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["layer"] = {"class_name": type(self.layer).__name__,
                           "config": self.layer.get_config()}
        return config

    @classmethod
    def from_config(cls, config: dict):
        from . import deserialize
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        return cls(**config)
