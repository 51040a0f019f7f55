"""The Masking layer (Keras masking of padded timesteps)."""

from __future__ import annotations

import math

from .base import Layer, _show


class Masking(Layer):
    """Marks the timesteps whose features all equal ``mask_value`` as padding: recurrent
    layers downstream skip them (their state is carried through) and a sequence loss leaves
    them out, as Keras does. The output is the input with those timesteps zeroed.

    Args:
        mask_value: the padding value. Default: ``0.0``.

    Input and output ``(batch, timesteps, features)``.

    >>> from lstmcore.layers import Masking
    >>> Masking(-1.0).compute_output_shape((10, 3))
    (10, 3)
    """

    _kind = "masking"
    _supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        try:
            value = float(mask_value)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value) or abs(value) > 3.4e38:
            raise ValueError(f"`Masking` expects a finite float32 `mask_value`; received "
                             f"mask_value={_show(mask_value)}")
        self.mask_value = value

    def _sequence_input(self) -> bool:
        return True

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = self.input_shape
        self.built = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"`Masking` expects 3D input (samples, timesteps, features); "
                             f"received a per-sample shape {tuple(input_shape)}")
        return tuple(input_shape)

    def _output_mask(self, input_masked: bool) -> bool:
        return True

    def _native_config(self, input_shape) -> dict:
        return {"mask_value": self.mask_value}

    def get_config(self) -> dict:
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
