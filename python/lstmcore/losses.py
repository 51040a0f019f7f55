"""Loss names (Keras 3 numerics, computed natively).

The functions here are plain NumPy versions for users who call a loss directly; training
uses the native implementation, which the tests check against ``lstmcore.reference``.
"""

from __future__ import annotations

import numpy as np

from . import reference as _ref

_ALIASES = {
    "mse": "mean_squared_error",
    "mean_squared_error": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mean_absolute_error": "mean_absolute_error",
    "binary_crossentropy": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
}
LOSSES = tuple(_ALIASES)


def get(identifier) -> str:
    """Canonical loss name for a Keras loss name or alias, a loss function or a loss object
    (``MeanSquaredError()``...)."""
    if isinstance(identifier, Loss):
        return identifier._canonical
    if callable(identifier) and getattr(identifier, "__name__", None) in _ALIASES:
        identifier = identifier.__name__
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]
    valid = ", ".join(repr(n) for n in LOSSES)
    raise ValueError(f"unknown loss {identifier!r}; expected one of {valid}")


def _loss(name):
    def fn(y_true, y_pred):
        y_pred = np.asarray(y_pred, dtype=np.float64)
        return float(_ref.loss_forward(name, np.asarray(y_true), y_pred))
    fn.__name__ = name
    fn.__doc__ = f"The Keras `{name}` loss (mean over samples) as a float."
    return fn


mean_squared_error = mse = _loss("mean_squared_error")
mean_absolute_error = mae = _loss("mean_absolute_error")
binary_crossentropy = _loss("binary_crossentropy")
categorical_crossentropy = _loss("categorical_crossentropy")
sparse_categorical_crossentropy = _loss("sparse_categorical_crossentropy")


class Loss:
    """Keras 3's loss objects: ``compile(loss=MeanSquaredError())`` is ``loss='mse'``.
    Computed natively by name; calling one gives the loss of ``(y_true, y_pred)`` as a float.
    ``from_logits=True`` and label smoothing are not supported: end the model with its
    activation (sigmoid/softmax) instead."""

    _canonical = ""

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="sum_over_batch_size",
                 name=None, **kwargs):
        cls = type(self).__name__
        if kwargs:
            raise TypeError(f"`{cls}` got unexpected keyword argument(s): "
                            f"{', '.join(sorted(map(str, kwargs)))}")
        if from_logits:
            raise NotImplementedError(f"`{cls}(from_logits=True)` is not supported: give the "
                                      f"last layer activation='sigmoid'/'softmax' and use "
                                      f"from_logits=False")
        if label_smoothing:
            raise NotImplementedError(f"`{cls}(label_smoothing=...)` is not supported")
        if reduction not in ("sum_over_batch_size", "auto", None):
            raise NotImplementedError(f"`{cls}(reduction={reduction!r})` is not supported: "
                                      f"losses are means over the batch")
        self.name = name or self._canonical
        self.__name__ = self._canonical

    def __call__(self, y_true, y_pred):
        return _FUNCTIONS[self._canonical](y_true, y_pred)

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ({self._canonical})>"


class MeanSquaredError(Loss):
    _canonical = "mean_squared_error"


class MeanAbsoluteError(Loss):
    _canonical = "mean_absolute_error"


class BinaryCrossentropy(Loss):
    _canonical = "binary_crossentropy"


class CategoricalCrossentropy(Loss):
    _canonical = "categorical_crossentropy"


class SparseCategoricalCrossentropy(Loss):
    _canonical = "sparse_categorical_crossentropy"


_FUNCTIONS = {f.__name__: f for f in (mean_squared_error, mean_absolute_error,
                                      binary_crossentropy, categorical_crossentropy,
                                      sparse_categorical_crossentropy)}
