"""``Input`` and ``InputLayer``: a model's input shape as its first entry (Keras 3 spelling)."""

from __future__ import annotations

import numpy as np

from .base import Layer, _shape_tuple, _show
from .graph import KerasTensor, Node

_DTYPES = (None, "float32", "int32", "int64", "uint8", "int16", "int8", "uint16", "uint32",
           "float64", "float16")


class InputLayer(Layer):
    """The input of a model: its per-sample ``shape`` (and a fixed batch size, for stateful
    layers). As the first entry of a ``Sequential`` it sets the model's input shape, as
    ``batch_input_shape`` on the first layer does in Keras 2; it holds no weights and is not
    one of ``model.layers`` (Keras 3).

    Args:
        shape: per-sample shape, e.g. ``(timesteps, features)``; ``None`` for a length that
            varies (Keras 2: ``input_shape``).
        batch_size: fixes the batch size (stateful models).
        batch_shape: ``(batch, *shape)`` in one tuple (Keras 2: ``batch_input_shape``).
        dtype: the input's dtype: a float, or an integer type for ``Embedding`` indices
            (everything is computed in float32).
        name: the layer's name.
    """

    _is_input = True

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, name=None, ragged=None, input_shape=None,
                 batch_input_shape=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if sparse or ragged:
            raise NotImplementedError("`InputLayer(sparse=True)` / `ragged=True` are not supported: "
                                      "pad sequences with lstmcore.preprocessing.sequence."
                                      "pad_sequences")
        if input_tensor is not None:
            raise NotImplementedError("`InputLayer(input_tensor=...)` is not supported")
        shape = shape if shape is not None else input_shape
        batch_shape = batch_shape if batch_shape is not None else batch_input_shape
        if (shape is None) == (batch_shape is None):
            raise ValueError(f"`{type(self).__name__}` needs exactly one of `shape` (per sample, "
                             f"e.g. shape=(10, 1)) and `batch_shape` (e.g. batch_shape=(32, 10, 1)); "
                             f"received shape={_show(shape)}, batch_shape={_show(batch_shape)}")
        if batch_shape is not None:
            if batch_size is not None:
                raise ValueError("give either `batch_shape` or `batch_size` with `shape`, not both")
            full = _shape_tuple(batch_shape, "batch_shape", allow_none_first=True,
                                allow_none_last=True)
            if len(full) < 2:
                raise ValueError(f"`batch_shape` must include the batch size and the per-sample "
                                 f"shape, e.g. (32, 10, 1); received {_show(batch_shape)}")
        else:
            per = _shape_tuple(shape, "shape", allow_none_last=True)
            if not per:
                raise ValueError("`shape` must give the per-sample shape, e.g. (10, 1) for 10 "
                                 "timesteps of 1 feature; received shape=()")
            if batch_size is not None:
                if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                        or batch_size < 1:
                    raise ValueError(f"`batch_size` must be a positive integer; received "
                                     f"batch_size={_show(batch_size)}")
                batch_size = int(batch_size)
            full = (batch_size,) + per
        try:
            self.dtype = None if dtype is None else np.dtype(dtype).name
        except TypeError:
            self.dtype = repr(dtype)
        if self.dtype not in _DTYPES:
            raise ValueError(f"`{type(self).__name__}` takes a numeric dtype; received "
                             f"dtype={_show(dtype)}")
        self._batch_input_shape = full
        self.built = True
        # its one "call": the symbolic tensor a functional model starts from
        node = Node(self, [], 0)
        node.outputs = [KerasTensor(full, node, 0, dtype=self.dtype or "float32",
                                    name=self.name)]
        self._inbound_nodes = [node]

    def __call__(self, *args, **kwargs):
        raise TypeError(f"an `InputLayer` is not called: use its tensor, `Input(...)` or "
                        f"`{self.name}.output`")

    @property
    def batch_shape(self):
        return self._batch_input_shape

    @property
    def shape(self):
        return self._batch_input_shape

    def get_config(self) -> dict:
        return {"name": self.name, "batch_shape": list(self._batch_input_shape),
                "dtype": self.dtype}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None):
    """A model's input (Keras spelling): the symbolic tensor a functional model starts from,
    ``x = Input(shape=(10, 1)); y = LSTM(4)(x); Model(x, y)``; also the first entry of a
    ``Sequential([Input(shape=(10, 1)), LSTM(4), ...])``, and ``Input(batch_shape=(32, 10,
    1))`` fixes the batch for a stateful model. Returns a ``KerasTensor``."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                      batch_shape=batch_shape, name=name, input_tensor=tensor).output
