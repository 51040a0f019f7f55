"""Metrics: the names ``compile(metrics=[...])`` takes, the Keras rule that turns
``'accuracy'`` into a concrete accuracy, and the metric functions.

Training computes metrics natively. The functions here (``accuracy``/``acc``,
``binary_accuracy``, ``categorical_accuracy``, ``sparse_categorical_accuracy``,
``mean_squared_error``/``mse``, ``mean_absolute_error``/``mae``) are plain NumPy versions of
Keras 3's, for calling directly, and may be passed to ``compile`` as Keras 2 scripts do:
``compile(metrics=[metrics.mae])`` computes the native MAE. As in Keras (2 and 3), a
function's History key is its ``__name__``: ``metrics.mae`` logs ``'mean_absolute_error'``,
``metrics.acc`` logs ``'accuracy'``, while the strings ``'mae'`` and ``'acc'`` log under
themselves.
"""

from __future__ import annotations

import numpy as np

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
    identifier = name_of(identifier)
    if identifier in ("accuracy", "acc"):
        if loss == "binary_crossentropy" or output_width == 1:
            return identifier, BINARY_ACCURACY
        if loss == "sparse_categorical_crossentropy":
            return identifier, SPARSE_CATEGORICAL_ACCURACY
        return identifier, CATEGORICAL_ACCURACY
    return identifier, _NAMED[identifier]


def name_of(identifier) -> str:
    """The metric name (and History key) of a name, a metric function (known by its
    ``__name__``, as Keras names it) or a metric object (``MeanAbsoluteError()``: its name)."""
    valid = ", ".join(repr(m) for m in METRICS)
    if isinstance(identifier, Metric):
        return identifier.name
    if callable(identifier) and not isinstance(identifier, str):
        name = getattr(identifier, "__name__", None)
        if name not in METRICS:
            raise ValueError(f"unknown metric function {name or identifier!r}: lstmcore computes "
                             f"metrics natively and takes only its own (lstmcore.metrics.accuracy, "
                             f"mse, mae, ...) or a name, one of {valid}")
        return name
    if not isinstance(identifier, str) or identifier not in METRICS:
        raise ValueError(f"unknown metric {identifier!r}; expected one of {valid}")
    return identifier


# -------------------------------------------------------------------------------------------------
# The metric functions (NumPy), per sample as Keras 3 computes them
# -------------------------------------------------------------------------------------------------
def _floats(y_pred) -> np.ndarray:
    y_pred = np.asarray(y_pred)
    return y_pred if np.issubdtype(y_pred.dtype, np.floating) else y_pred.astype(np.float32)


def _same_rank(y_true, y_pred):
    """Keras' ``squeeze_or_expand_to_same_rank``: ranks that differ by one through a last
    axis of size 1 are made equal."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            y_pred = y_pred[..., None]
        else:
            y_true = y_true[..., 0]
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            y_true = y_true[..., None]
        else:
            y_pred = y_pred[..., 0]
    return y_true, y_pred


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """``mean((y_true - y_pred)**2, axis=-1)``: one value per sample (and timestep)."""
    y_pred = _floats(y_pred)
    y_true, y_pred = _same_rank(np.asarray(y_true, dtype=y_pred.dtype), y_pred)
    return np.mean(np.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """``mean(|y_true - y_pred|, axis=-1)``: one value per sample (and timestep)."""
    y_pred = _floats(y_pred)
    y_true, y_pred = _same_rank(np.asarray(y_true, dtype=y_pred.dtype), y_pred)
    return np.mean(np.abs(y_true - y_pred), axis=-1)


def binary_accuracy(y_true, y_pred, threshold=0.5) -> np.ndarray:
    """1.0 where ``(y_pred > threshold)`` equals ``y_true``, element by element (Keras 3; Keras
    2 averaged over the last axis). float32."""
    y_pred = _floats(y_pred)
    y_true, y_pred = _same_rank(np.asarray(y_true), y_pred)
    hits = (y_pred > threshold).astype(y_true.dtype) == y_true
    return hits.astype(np.float32)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where ``argmax(y_pred)`` equals ``argmax(y_true)`` (one-hot targets), per sample.
    float32."""
    y_pred = np.asarray(y_pred)
    return (np.argmax(np.asarray(y_true), axis=-1) == np.argmax(y_pred, axis=-1)) \
        .astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where ``argmax(y_pred)`` equals the class index ``y_true``, per sample (a trailing
    axis of size 1 on ``y_true`` is dropped, as Keras does). float32."""
    y_pred = _floats(y_pred)
    y_true = np.asarray(y_true)
    shape = y_true.shape
    squeezed = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if squeezed:
        y_true = y_true[..., 0]
    hits = (y_true.astype(y_pred.dtype) == np.argmax(y_pred, axis=-1)).astype(np.float32)
    if squeezed:
        hits = hits.reshape(shape)
    if hits.ndim > 1 and hits.shape[-1] == 1:
        hits = hits[..., 0]
    return hits


def accuracy(y_true, y_pred) -> np.ndarray:
    """The accuracy Keras 3 picks for ``metrics=['accuracy']`` from the shapes: binary for
    one output unit, sparse categorical when ``y_true`` holds class indices (one rank less,
    or a last axis of 1 against several outputs), categorical otherwise.

    In ``compile(metrics=[accuracy])`` it is the string ``'accuracy'`` (chosen from the loss
    and output width, logged as ``'accuracy'``)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_pred.shape[-1:] == (1,):
        return binary_accuracy(y_true, y_pred)
    if y_true.ndim < y_pred.ndim or (y_true.shape[-1:] == (1,) and y_pred.shape[-1:] != (1,)):
        return sparse_categorical_accuracy(y_true, y_pred)
    return categorical_accuracy(y_true, y_pred)


acc = accuracy

mse = mean_squared_error
mae = mean_absolute_error


class Metric:
    """Keras 3's metric objects: ``metrics=[MeanAbsoluteError()]`` is
    ``metrics=['mean_absolute_error']`` and logs under that name. Computed natively; calling
    one gives the metric of ``(y_true, y_pred)`` per sample, as the function of that name."""

    _canonical = ""

    def __init__(self, name=None, dtype=None, **kwargs):
        cls = type(self).__name__
        if kwargs:
            raise NotImplementedError(f"`{cls}` with {', '.join(sorted(map(str, kwargs)))} is "
                                      f"not supported")
        if name not in (None, self._canonical):
            raise NotImplementedError(f"`{cls}(name={name!r})`: metrics log under their Keras "
                                      f"name ({self._canonical!r}); leave `name` out")
        self.name = self._canonical
        self.__name__ = self._canonical

    def __call__(self, y_true, y_pred):
        return globals()[self._canonical](y_true, y_pred)

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ({self._canonical})>"


class MeanSquaredError(Metric):
    _canonical = "mean_squared_error"


class MeanAbsoluteError(Metric):
    _canonical = "mean_absolute_error"


class BinaryAccuracy(Metric):
    _canonical = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        if threshold != 0.5:
            raise NotImplementedError("`BinaryAccuracy(threshold=...)` other than 0.5 is not "
                                      "supported")
        super().__init__(name=name, dtype=dtype)


class CategoricalAccuracy(Metric):
    _canonical = "categorical_accuracy"


class SparseCategoricalAccuracy(Metric):
    _canonical = "sparse_categorical_accuracy"

__all__ = ["accuracy", "acc", "binary_accuracy", "categorical_accuracy",
           "sparse_categorical_accuracy", "mean_squared_error", "mse", "mean_absolute_error",
           "mae", "resolve", "name_of", "METRICS", "Metric", "MeanSquaredError",
           "MeanAbsoluteError", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy"]
