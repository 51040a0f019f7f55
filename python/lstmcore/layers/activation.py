"""Activation layer."""

from __future__ import annotations

from .. import activations
from .base import Layer


class Activation(Layer):
    """Applies an activation elementwise (softmax: over the last axis).

    Args:
        activation: ``'linear'``, ``'sigmoid'``, ``'hard_sigmoid'``, ``'tanh'``, ``'relu'``,
            ``'softmax'`` (or ``'hard_sigmoid_keras2'``).

    Output shape = input shape.

    >>> from lstmcore.layers import Activation
    >>> Activation('sigmoid').compute_output_shape((1,))
    (1,)
    """

    _kind = "activation"
    _timestep_wise = True
    _supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def build(self, input_shape) -> None:
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = self.input_shape
        self.built = True

    def _native_config(self, input_shape) -> dict:
        return {"activation": self.activation}

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = self.activation
        return config
