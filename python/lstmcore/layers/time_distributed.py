"""TimeDistributed wrapper (for layers applied to each timestep's features, or to each
subsequence of a 4D input)."""

from __future__ import annotations

from .base import Layer, _show


class TimeDistributed(Layer):
    """Applies a layer to every timestep of a ``(batch, timesteps, features)`` input, or to
    every subsequence of a ``(batch, subsequences, steps, features)`` input, with the same
    weights.

    Args:
        layer: on 3D input, a layer that maps one timestep's features to a vector: ``Dense``
            (the encoder-decoder output layer), ``Activation`` or ``Dropout``. On 4D input
            also a layer of sequences: ``Conv1D``, the 1D pooling layers or ``Flatten`` (the
            CNN-LSTM: ``TimeDistributed(Conv1D)`` -> ``TimeDistributed(MaxPooling1D)`` ->
            ``TimeDistributed(Flatten)`` -> ``LSTM``).

    ``(batch, timesteps, features)`` -> ``(batch, timesteps, units)``;
    ``(batch, subsequences, steps, features)`` -> ``(batch, subsequences) + the wrapped
    layer's output shape for (steps, features)``.

    >>> from lstmcore.layers import Conv1D, Flatten, TimeDistributed
    >>> TimeDistributed(Conv1D(8, 2)).compute_output_shape((None, 4, 1))
    (None, 3, 8)
    >>> TimeDistributed(Flatten()).compute_output_shape((None, 3, 8))
    (None, 24)
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer) or not (layer._timestep_wise or layer._sequence_wise):
            raise ValueError(f"`TimeDistributed` supports a `Dense` layer (or another layer "
                             f"applied to each timestep: Activation, Dropout; on 4D input also "
                             f"Conv1D, the 1D pooling layers and Flatten); received "
                             f"{_show(layer)}")
        self.layer = layer

    def _sequence_input(self) -> bool:
        return True

    def _inner_shape(self, input_shape):
        """The per-sample shape the wrapped layer sees (the 3D/4D-input check)."""
        self.compute_output_shape(input_shape)
        return tuple(input_shape[1:]) if len(input_shape) == 3 else tuple(input_shape)

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        return self.layer._weight_shapes(self._inner_shape(input_shape))

    def build(self, input_shape) -> None:
        self.layer.build(self._inner_shape(input_shape))
        self._weights = self.layer._weights
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) == 3:
            if input_shape[-1] is None:
                raise ValueError("`TimeDistributed` needs a known number of features (the last "
                                 "input axis)")
            return (input_shape[0],) + tuple(self.layer.compute_output_shape(input_shape[1:]))
        if len(input_shape) != 2:
            raise ValueError(f"`TimeDistributed` expects 3D input (samples, timesteps, features) "
                             f"or 4D input (samples, subsequences, steps, features); received a "
                             f"per-sample shape {input_shape}")
        if not self.layer._timestep_wise:
            raise ValueError(f"`TimeDistributed({type(self.layer).__name__})` expects 4D input "
                             f"(samples, subsequences, steps, features); received a per-sample "
                             f"shape {input_shape}")
        return self.layer.compute_output_shape(input_shape)

    _kind = "time_distributed"
    _supports_masking = True  # the mask is per timestep: it passes through

    def _uses_dropout(self) -> bool:
        return self.layer._uses_dropout()

    def _native_config(self, input_shape) -> dict:
        kind, inner, _ = self.layer._native_spec(input_shape[1:])
        config = {"layer": {"kind": kind, **inner}}
        if len(input_shape) == 3:  # subsequence mode: the native input is (B, S, steps*features)
            config["features"] = int(input_shape[-1])
        return config

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
