"""Dropout layer."""

from __future__ import annotations

from .base import Layer, check_rate


class Dropout(Layer):
    """Randomly zeroes a fraction ``rate`` of the inputs while training, scaling the rest by
    ``1/(1-rate)``; the identity at inference.

    Args:
        rate: fraction dropped, in [0, 1).
        seed: accepted for Keras compatibility; masks are keyed by the fit's seed
            (``lstmcore.set_seed`` / ``fit(seed=...)``), never by a per-layer one.

    Output shape = input shape.
    """

    _kind = "dropout"
    _timestep_wise = True
    _supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(rate, "rate", "Dropout")
        if noise_shape is not None:
            raise NotImplementedError("`Dropout(noise_shape=...)` is not supported")

    def build(self, input_shape) -> None:
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = self.input_shape
        self.built = True

    def _uses_dropout(self) -> bool:
        return self.rate > 0

    def _native_config(self, input_shape) -> dict:
        return {"rate": self.rate}

    def get_config(self) -> dict:
        config = super().get_config()
        config["rate"] = self.rate
        return config
