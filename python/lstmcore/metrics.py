"""Metric names and the Keras rule that turns ``'accuracy'`` into a concrete accuracy."""

from __future__ import annotations

from . import _core

# native metric codes, defined once in C++ (cpp/kernels/kernels.h: enum Metric)
BINARY_ACCURACY = _core.METRIC_CODES["binary_accuracy"]
CATEGORICAL_ACCURACY = _core.METRIC_CODES["categorical_accuracy"]
SPARSE_CATEGORICAL_ACCURACY = _core.METRIC_CODES["sparse_categorical_accuracy"]
MSE = _core.METRIC_CODES["mse"]
MAE = _core.METRIC_CODES["mae"]

_NAMED = {
    "binary_accuracy": BINARY_ACCURACY,
    "categorical_accuracy": CATEGORICAL_ACCURACY,
    "sparse_categorical_accuracy": SPARSE_CATEGORICAL_ACCURACY,
    "mse": MSE,
    "mean_squared_error": MSE,
    "mae": MAE,
    "mean_absolute_error": MAE,
}
METRICS = ("accuracy", "acc") + tuple(_NAMED)


def resolve(identifier, loss: str, output_width: int) -> tuple[str, int]:
    """(history key, native code) for a metric name.

    ``'accuracy'``/``'acc'`` becomes binary accuracy for binary cross-entropy or a single
    output unit, sparse categorical accuracy for sparse categorical cross-entropy, and
    categorical accuracy otherwise, as Keras decides.
    """
    if callable(identifier) and not isinstance(identifier, str):
        identifier = getattr(identifier, "__name__", identifier)
    if not isinstance(identifier, str) or identifier not in METRICS:
        valid = ", ".join(repr(m) for m in METRICS)
        raise ValueError(f"unknown metric {identifier!r}; expected one of {valid}")
    if identifier in ("accuracy", "acc"):
        if loss == "binary_crossentropy" or output_width == 1:
            return identifier, BINARY_ACCURACY
        if loss == "sparse_categorical_crossentropy":
            return identifier, SPARSE_CATEGORICAL_ACCURACY
        return identifier, CATEGORICAL_ACCURACY
    return identifier, _NAMED[identifier]
