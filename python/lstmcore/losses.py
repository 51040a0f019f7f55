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
    """Canonical loss name for a Keras loss name or alias."""
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
