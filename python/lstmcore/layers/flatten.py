"""Flatten layer."""

from __future__ import annotations

from .base import Layer, check_elements
from .conv1d import check_channels_last


class Flatten(Layer):
    """Flattens each sample to one axis: ``(batch, steps, features)`` ->
    ``(batch, steps * features)``; ``(batch, features)`` passes through.

    Args:
        data_format: ``'channels_last'`` (or None) only. Default: None.

    The number of timesteps must be known: give the first layer ``input_shape=(steps,
    features)`` (a model built from data keeps the data's length).

    >>> from lstmcore.layers import Flatten
    >>> Flatten().compute_output_shape((5, 8))
    (40,)
    """

    _kind = "flatten"
    _sequence_wise = True
    # A model built from data keeps the data's number of timesteps (models._ensure_built).
    _needs_steps = True

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_channels_last(data_format, "Flatten")

    def build(self, input_shape) -> None:
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) == 1:
            return shape
        if len(shape) != 2:
            raise ValueError(f"`Flatten` expects 2D or 3D input; received a per-sample shape "
                             f"{shape}")
        if shape[0] is None:
            raise ValueError(f"`Flatten` needs a known number of timesteps; received a "
                             f"per-sample shape {shape}. Give the first layer "
                             f"`input_shape=(steps, features)`.")
        out = (shape[0] * shape[1],)
        check_elements(out, "Flatten")
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config
