"""RepeatVector layer (encoder-decoder models)."""

from __future__ import annotations

from .base import Layer, check_elements, check_positive_int


class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``.

    Args:
        n: number of repetitions (the decoder's timesteps).

    >>> from lstmcore.layers import RepeatVector
    >>> RepeatVector(3).compute_output_shape((8,))
    (3, 8)
    """

    _kind = "repeat_vector"

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_positive_int(n, "n", "RepeatVector")

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"`RepeatVector` expects 2D input (samples, features); received a "
                             f"per-sample shape {tuple(input_shape)} (did the LSTM before it "
                             f"set return_sequences=True?)")
        out = (self.n, input_shape[0])
        check_elements(out, "RepeatVector")
        return out

    def _native_config(self, input_shape) -> dict:
        return {"n": self.n}

    def get_config(self) -> dict:
        config = super().get_config()
        config["n"] = self.n
        return config
