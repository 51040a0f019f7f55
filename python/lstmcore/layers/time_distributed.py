"""TimeDistributed wrapper (for layers applied to each timestep's features)."""

from __future__ import annotations

from .base import Layer, _show


class TimeDistributed(Layer):
    """Applies a layer to every timestep of a ``(batch, timesteps, features)`` input with the
    same weights.

    Args:
        layer: a layer that maps one timestep's features to a vector: ``Dense`` (the
            encoder-decoder output layer), ``Activation`` or ``Dropout``.

    ``(batch, timesteps, features)`` -> ``(batch, timesteps, units)``.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer) or not layer._timestep_wise:
            raise ValueError(f"`TimeDistributed` supports a `Dense` layer (or another layer "
                             f"applied to each timestep: Activation, Dropout); received "
                             f"{_show(layer)}")
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

    _kind = "time_distributed"
    _supports_masking = True  # the mask is per timestep: it passes through

    def _uses_dropout(self) -> bool:
        return self.layer._uses_dropout()

    def _native_config(self, input_shape) -> dict:
        kind, inner, _ = self.layer._native_spec(input_shape[1:])
        return {"layer": {"kind": kind, **inner}}

    def _weight_regularizers(self) -> list:
        return self.layer._weight_regularizers()

    def _native_params(self) -> dict:
        return self.layer._native_params()

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
