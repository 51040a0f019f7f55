"""The Embedding layer (Keras layout and semantics; computed by the native core)."""

from __future__ import annotations

import numpy as np

from .. import initializers
from .base import Layer, _show, check_positive_int

# Indices cross to the native core as float32, which holds every integer up to 2**24 exactly.
MAX_ROWS = 2**24


class Embedding(Layer):
    """Turns integer indices into dense vectors: row ``i`` of a trainable
    ``(input_dim, output_dim)`` matrix for index ``i``.

    Args:
        input_dim: size of the vocabulary (largest index + 1); at most 2**24.
        output_dim: size of each vector.
        embeddings_initializer: Keras name. Default: ``'uniform'`` (uniform in [-0.05, 0.05]).
        mask_zero: index 0 is padding: its timesteps are skipped by the recurrent layers
            downstream (state carried through) and left out of a sequence loss (Keras
            masking). Default: ``False``.
        input_length: the Keras 2 spelling of ``input_shape=(input_length,)``.

    Input ``(batch, timesteps)`` of integers -> output ``(batch, timesteps, output_dim)``.
    An index outside ``[0, input_dim)`` or a non-integer value is a ValueError that names the
    sample and the value. The gradient is a scatter-add into the rows the batch used.

    >>> from lstmcore.layers import Embedding
    >>> Embedding(1000, 64).compute_output_shape((10,))
    (10, 64)
    """

    _weight_names = ("embeddings",)
    _kind = "embedding"
    _integer_input = True

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 input_length=None, **kwargs):
        # input_dim here is the vocabulary, not the Keras 1 feature count of Layer.__init__
        if input_length is not None and kwargs.get("input_shape") is None \
                and kwargs.get("batch_input_shape") is None:
            kwargs["input_shape"] = (check_positive_int(input_length, "input_length", "Embedding"),)
        super().__init__(**kwargs)
        self.input_dim = check_positive_int(input_dim, "input_dim", "Embedding")
        if self.input_dim > MAX_ROWS:
            raise ValueError(f"`Embedding` supports at most {MAX_ROWS} rows (2**24: indices "
                             f"cross to the native core as float32); received "
                             f"input_dim={_show(input_dim)}")
        self.output_dim = check_positive_int(output_dim, "output_dim", "Embedding")
        name = embeddings_initializer
        self.embeddings_initializer = initializers.get(
            "random_uniform" if isinstance(name, str) and name.lower() == "uniform" else name)
        self.mask_zero = bool(mask_zero)
        self.input_length = None if input_length is None else int(input_length)

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        self.compute_output_shape(input_shape)
        return [(self.input_dim, self.output_dim)]

    def build(self, input_shape) -> None:
        shapes = self._weight_shapes(input_shape)
        self.embeddings = initializers.make(self.embeddings_initializer, shapes[0])
        self._weights = [self.embeddings]
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"`Embedding` expects 2D input (samples, timesteps) of integer "
                             f"indices; received a per-sample shape {tuple(input_shape)}")
        return (input_shape[0], self.output_dim)

    def _check_model_input(self, x, name: str) -> None:
        """Every index must be an integer in [0, input_dim): the first that is not is named."""
        try:
            a = np.asarray(x)
        except (ValueError, TypeError):
            return  # as_float32 refuses it with its own message
        if a.dtype.kind == "f":
            bad = ~np.isfinite(a) | (a != np.floor(a)) | (a < 0) | (a >= self.input_dim)
        elif a.dtype.kind in "iu":
            bad = (a < 0) | (a >= self.input_dim) if a.dtype.kind == "i" else a >= self.input_dim
        elif a.dtype.kind == "b":
            return
        else:
            return  # as_float32 refuses it with its own message
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            value = a[where].item()
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            raise ValueError(f"`Embedding` takes integer indices in [0, {self.input_dim - 1}]; "
                             f"`{name}` holds {value} at sample {where[0]}, timestep "
                             f"{where[-1]}. Use input_dim larger than the largest index, or map "
                             f"unknown tokens to a reserved index.")

    def _output_mask(self, input_masked: bool) -> bool:
        return self.mask_zero

    def _native_config(self, input_shape) -> dict:
        return {"input_dim": self.input_dim, "output_dim": self.output_dim,
                "mask_zero": self.mask_zero}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim,
                      embeddings_initializer=self.embeddings_initializer,
                      mask_zero=self.mask_zero)
        if self.input_length is not None:
            config["input_length"] = self.input_length
        return config
