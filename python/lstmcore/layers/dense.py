"""Dense (fully connected) layer on the last axis."""

from __future__ import annotations

from .. import activations, initializers
from .base import Layer, check_positive_int


class Dense(Layer):
    """``output = activation(input . kernel + bias)`` on the last axis.

    Args:
        units: output width.
        activation: activation name, or None for linear. Default: None.
        use_bias: Default: True.
        kernel_initializer, bias_initializer: Defaults: ``'glorot_uniform'``, ``'zeros'``.

    ``(batch, features)`` -> ``(batch, units)``; on 3D input ``(batch, timesteps, features)``
    -> ``(batch, timesteps, units)`` (the same weights at every step).

    >>> from lstmcore.layers import Dense
    >>> Dense(3).compute_output_shape((10, 4))
    (10, 3)
    """

    _weight_names = ("kernel", "bias")
    _kind = "dense"
    _timestep_wise = True
    _supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units", "Dense")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        features = input_shape[-1] if len(input_shape) else None
        if features is None:
            raise ValueError("`Dense` needs a known last input axis")
        return [(features, self.units), (self.units,)] if self.use_bias else [(features, self.units)]

    def build(self, input_shape) -> None:
        shapes = self._weight_shapes(input_shape)
        self.kernel = initializers.make(self.kernel_initializer, shapes[0])
        self._weights = [self.kernel]
        self.bias = None
        if self.use_bias:
            self.bias = initializers.make(self.bias_initializer, shapes[1])
            self._weights.append(self.bias)
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _native_config(self, input_shape) -> dict:
        return dict(units=self.units, input_dim=int(input_shape[-1]), activation=self.activation)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(units=self.units, activation=self.activation, use_bias=self.use_bias,
                      kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer)
        return config
