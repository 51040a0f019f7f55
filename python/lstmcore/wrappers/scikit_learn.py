"""scikit-learn estimators around lstmcore models, spelled as Keras 2's
``keras.wrappers.scikit_learn``, and a transformer from a series table to LSTM windows.

>>> from lstmcore.wrappers.scikit_learn import KerasClassifier
>>> clf = KerasClassifier(build_fn=create_model, epochs=10, batch_size=16, verbose=0)

Parameter routing is Keras 2's: every keyword given to the constructor (``sk_params``) goes to
each of ``build_fn``, ``fit``, ``predict``/``predict_classes``/``predict_proba`` and ``evaluate``
whose signature names it (``filter_sk_params``); a name none of them takes is a ValueError, at
construction and in ``set_params``. Keywords given to ``fit(x, y, **kwargs)`` (and to
``predict``, ``score``...) override the constructor's for that call.

What differs from Keras 2, so that the wrappers are real scikit-learn estimators:

- ``fit`` returns the estimator (scikit-learn's contract; Keras 2 returned the ``History``).
  ``history_`` is that History, and ``.history`` its dict, so Keras 2 code reading
  ``clf.fit(x, y).history['loss']`` still works.
- ``model`` (Keras 2's attribute) is the fitted lstmcore model; ``model_`` is the same object.
- ``KerasClassifier.score`` is the accuracy of ``predict`` (Keras 2 read the ``accuracy``
  metric and failed without one: the same number when it is compiled).
  ``predict`` returns ``(n,)`` labels for a one-unit sigmoid model too (Keras 2 gave ``(n, 1)``).
- A ``build_fn`` may declare the arguments ``n_features_in_`` (``x.shape[-1]``),
  ``input_shape_`` (``x.shape[1:]``), ``n_classes_`` (classifier) and ``n_outputs_``
  (regressor: ``1`` for ``y`` of shape ``(n,)``, else ``y.shape[1]``); ``fit`` passes them from
  the data unless the constructor sets them. So one ``build_fn`` serves any number of
  classes or features (cross-validation folds, ``check_estimator``'s data sets).
- ``predict_proba`` returns float64 rows that sum to 1 (softmax outputs are renormalised in
  float64, which scikit-learn's ``log_loss`` requires); a one-unit sigmoid model gives
  ``[1 - p, p]``.

Models travel to joblib/loky and Dask workers through lstmcore's own model format (a pickled
model is ``model_from_bytes(bytes)``: no pickle inside), ``build_fn`` by reference (cloudpickle
for functions defined in ``__main__``).
"""

from __future__ import annotations

import copy
import inspect
import types
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
    from sklearn.exceptions import NotFittedError
    from sklearn.utils import assert_all_finite, check_array
    from sklearn.utils.multiclass import check_classification_targets
except ImportError as e:  # pragma: no cover - exercised by a subprocess test
    raise ImportError("lstmcore.wrappers.scikit_learn needs scikit-learn: "
                      "pip install lstmcore[sklearn]") from e

from .. import models as _models
from ..layers.base import check_positive_int
from ..models import Sequential
from ..utils import to_categorical

# Keyword arguments lstmcore's fit takes through **kwargs, which Keras 2 named in fit's
# signature (has_arg only sees named parameters).
_FIT_KWARGS = ("class_weight",)
# Values derived from the data that a build_fn may ask for by naming them.
_DATA_ARGS = ("n_features_in_", "input_shape_", "n_classes_", "n_outputs_")


def has_arg(fn, name, accept_all=False):
    """Whether callable ``fn`` accepts keyword argument ``name`` (Keras 2's helper).

    Args:
        fn: a callable.
        name: the argument name.
        accept_all: also True when ``fn`` takes ``**kwargs``. Default False.
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    parameter = signature.parameters.get(name)
    if parameter is None:
        if accept_all:
            return any(p.kind == inspect.Parameter.VAR_KEYWORD
                       for p in signature.parameters.values())
        return False
    return parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              inspect.Parameter.KEYWORD_ONLY)


def _model_types() -> tuple:
    functional = getattr(_models, "Model", None)
    return (Sequential,) if functional is None else (Sequential, functional)


class BaseWrapper(BaseEstimator):
    """What the classifier and the regressor share (Keras 2's ``BaseWrapper``).

    Args:
        build_fn: a function, or an object with ``__call__``, returning a compiled lstmcore
            model (``Sequential`` or ``Model``). ``None``: the subclass's own ``__call__``.
        **sk_params: ``build_fn``'s arguments and ``fit``/``predict``/``evaluate`` arguments
            (``epochs``, ``batch_size``, ``verbose``, ``validation_split``, ``callbacks``,
            ``shuffle``, ``seed``, ``class_weight``...), routed by name.
    """

    def __init__(self, build_fn=None, **sk_params):
        self.build_fn = build_fn
        self._sk_params = sk_params
        self.check_params(sk_params)

    @property
    def sk_params(self):
        """The constructor's keyword arguments (Keras 2's attribute; ``get_params`` adds
        ``build_fn``)."""
        return self._sk_params

    @sk_params.setter
    def sk_params(self, value):
        self._sk_params = dict(value)

    # ---- Keras 2's parameter routing ------------------------------------------------------------
    def _build_callable(self):
        if self.build_fn is None:
            return self.__call__ if callable(self) else None  # a subclass's own model (Keras 2)
        if not isinstance(self.build_fn, (types.FunctionType, types.MethodType)) and \
                callable(self.build_fn):
            return self.build_fn.__call__
        return self.build_fn

    def check_params(self, params):
        """Raise ValueError for a name no routed function takes."""
        legal = [Sequential.fit, Sequential.predict, Sequential.predict_classes,
                 Sequential.evaluate]
        if callable(self._build_callable()):
            legal.append(self._build_callable())
        for name in params:
            if name in _FIT_KWARGS or name == "nb_epoch":
                continue
            if not any(has_arg(fn, name) for fn in legal):
                raise ValueError(f"{name} is not a legal parameter: it is not an argument of "
                                 f"`build_fn`, nor of fit, predict, predict_classes or evaluate")

    def get_params(self, deep=True):
        """``build_fn`` and every ``sk_param`` (what ``clone`` and grid searches read)."""
        res = self.sk_params.copy()
        res.update({"build_fn": self.build_fn})
        return res

    def set_params(self, **params):
        """Set ``build_fn`` and/or ``sk_params``; an illegal name is a ValueError and changes
        nothing."""
        build_fn = params.pop("build_fn", self.build_fn)
        old = self.build_fn
        self.build_fn = build_fn
        try:
            self.check_params(params)
        except BaseException:
            self.build_fn = old
            raise
        self.sk_params.update(params)
        return self

    def filter_sk_params(self, fn, override=None):
        """The ``sk_params`` that ``fn`` takes, updated with ``override``."""
        override = override or {}
        res = {}
        for name, value in self.sk_params.items():
            if has_arg(fn, name) or (fn is Sequential.fit and name in _FIT_KWARGS):
                res.update({name: value})
        res.update(override)
        return res

    # ---- fit --------------------------------------------------------------------------------------
    def _build_model(self, data_args: dict):
        fn = self._build_callable()
        if not callable(fn):
            raise TypeError(f"`build_fn` must be a function (or an object with __call__) "
                            f"returning a compiled lstmcore model; received "
                            f"build_fn={self.build_fn!r}")
        args = self.filter_sk_params(fn)
        for name, value in data_args.items():
            if name not in args and has_arg(fn, name):
                args[name] = value
        model = fn(**args)
        if not isinstance(model, _model_types()):
            raise TypeError(f"`build_fn` must return a compiled lstmcore model (Sequential or "
                            f"Model); it returned {type(model).__name__}. End build_fn with "
                            f"`model.compile(...)` and `return model`")
        self._check_model(model, data_args)
        return model

    def _check_model(self, model, data_args):
        """A subclass's check of the built model against the data (before training)."""

    def _encode_y(self, model, y, data_args):
        """``y`` as the compiled loss takes it (the classifier encodes labels)."""
        return y

    def _fit(self, x, y, data_args, kwargs):
        model = self._build_model(data_args)
        y = self._encode_y(model, y, data_args)
        fit_args = copy.deepcopy(self.filter_sk_params(Sequential.fit))
        if "nb_epoch" in self.sk_params and "epochs" not in fit_args:
            warnings.warn("`nb_epoch` is deprecated: use `epochs`", stacklevel=3)
            fit_args["epochs"] = self.sk_params["nb_epoch"]
        fit_args.update(kwargs)
        history = model.fit(x, y, **fit_args)
        return model, history

    def _set_fitted(self, model, history, x_shape):
        self.model_ = model
        self.history_ = history
        self.n_features_in_ = int(x_shape[-1]) if len(x_shape) > 1 else 1
        self.input_shape_ = tuple(int(d) for d in x_shape[1:])

    @property
    def model(self):
        """The fitted lstmcore model (Keras 2's attribute)."""
        try:
            return self.model_
        except AttributeError:
            raise AttributeError("`model` exists after `fit`: call fit(x, y) first") from None

    @property
    def history(self):
        """The last fit's ``History.history`` dict (Keras 2 returned the History from fit)."""
        try:
            return self.history_.history
        except AttributeError:
            raise AttributeError("`history` exists after `fit`: call fit(x, y) first") from None

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    def _check_fitted(self, method, x):
        if not hasattr(self, "model_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: call "
                                 f"fit(x, y) before `{method}`")
        x, shape = _check_x(x, self)
        if shape[-1] != self.n_features_in_:
            raise ValueError(f"X has {shape[-1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input (the last axis "
                             f"of x in fit had {self.n_features_in_})")
        return x

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = True  # weights and shuffles are random unless seeded
        return tags


def _check_x(x, estimator):
    """scikit-learn's checks on in-memory input (sparse, complex, object and empty arrays,
    1D input) with its messages; NaN/Inf and shapes are the model's to check. Chunked arrays
    (Dask, zarr, h5py) pass through unread: reading them is the model's job."""
    if not hasattr(x, "chunks"):  # Dask and zarr arrays (and h5py datasets) have chunks
        x = check_array(x, accept_sparse=False, dtype="numeric", allow_nd=True,
                        ensure_all_finite=False, ensure_2d=True, estimator=estimator)
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) < 2 or shape[0] == 0:
        raise ValueError(f"`x` must hold at least one sample of shape (timesteps, features) or "
                         f"(features,); received shape {shape}")
    return x, shape


def _check_y(y):
    if y is None:
        raise ValueError("requires y to be passed, but the target y is None: fit(x, y)")
    y = np.asarray(y)
    if y.dtype.kind in "fc":
        assert_all_finite(y, input_name="y")  # "Input y contains NaN/infinity", before any work
    return y


class KerasClassifier(ClassifierMixin, BaseWrapper):
    """scikit-learn classifier around an lstmcore model (Keras 2's ``KerasClassifier``).

    ``y`` holds labels of any type (integers, strings...) of shape ``(n,)`` or ``(n, 1)``, or
    one-hot rows ``(n, classes)``. ``classes_ = np.unique(y)``; labels are encoded to indices
    ``0..classes-1`` for the loss the model was compiled with: indices for
    ``sparse_categorical_crossentropy`` and ``binary_crossentropy``, one-hot rows for
    ``categorical_crossentropy``. The model's last layer has one sigmoid unit (two classes) or
    one unit per class.

    >>> clf = KerasClassifier(build_fn=create_model, epochs=20, batch_size=8, verbose=0)
    >>> clf.fit(x, y).predict(x[:3])   # labels
    >>> clf.predict_proba(x[:3]).shape  # (3, n_classes)
    """

    def fit(self, x, y, **kwargs):
        """Build a new model with ``build_fn`` and train it; returns the estimator.

        Args:
            x: ``(samples, timesteps, features)`` for an LSTM-first model.
            y: labels ``(samples,)``/``(samples, 1)``, or one-hot ``(samples, classes)``.
            **kwargs: ``fit`` arguments overriding the constructor's.
        """
        x, x_shape = _check_x(x, self)
        y = _check_y(y)
        if y.ndim == 2 and y.shape[1] > 1:
            classes = np.arange(y.shape[1])
            y = y.argmax(axis=1)  # one-hot rows -> indices, encoded again for the loss
        elif (y.ndim == 2 and y.shape[1] == 1) or y.ndim == 1:
            y = y.reshape(-1)
            check_classification_targets(y)  # continuous or NaN labels: a clear ValueError
            classes = np.unique(y)
            if len(classes) < 2:
                raise ValueError(f"a classifier needs at least 2 classes in `y`; it has one "
                                 f"class: {classes[0]!r}")
            y = np.searchsorted(classes, y)
        else:
            raise ValueError(f"Invalid shape for y: {y.shape}; expected (samples,) labels, "
                             f"(samples, 1), or one-hot rows (samples, classes)")
        if y.shape[0] != x_shape[0]:
            raise ValueError(f"`x` and `y` must hold the same number of samples; received "
                             f"{x_shape[0]} and {y.shape[0]}")
        data_args = {"n_features_in_": x_shape[-1], "input_shape_": x_shape[1:],
                     "n_classes_": len(classes)}
        model, history = self._fit(x, y, data_args, kwargs)
        self._set_fitted(model, history, x_shape)
        self.classes_ = classes
        self.n_classes_ = len(classes)
        return self

    def _check_model(self, model, data_args):
        width = int(model.output_shape[-1]) if model.built else None
        n_classes = data_args["n_classes_"]
        if width is not None and n_classes > max(width, 2):
            raise ValueError(
                f"`y` has {n_classes} classes but the model built by `build_fn` has {width} "
                f"output unit(s); end the model with Dense({n_classes}, activation='softmax') "
                f"(or declare `n_classes_` as an argument of build_fn and use it)")

    def _encode_y(self, model, y, data_args):
        # y holds indices 0..n_classes-1. Keras 2: one-hot rows for categorical
        # cross-entropy; indices for sparse cross-entropy and for one output unit
        # (binary cross-entropy); one-hot rows for any other loss on several units.
        width = int(model.output_shape[-1]) if model.built else None
        if getattr(model, "loss", None) == "sparse_categorical_crossentropy" or width == 1:
            return y
        if getattr(model, "loss", None) == "categorical_crossentropy" or width is not None:
            return to_categorical(y, num_classes=width or data_args["n_classes_"],
                                  dtype="float32")
        return y

    def _proba(self, x, kwargs):
        kwargs = self.filter_sk_params(Sequential.predict_proba, kwargs)
        return self.model_.predict(x, **kwargs)

    def predict(self, x, **kwargs):
        """Labels (from ``classes_``) of shape ``(samples,)``."""
        x = self._check_fitted("predict", x)
        kwargs = self.filter_sk_params(Sequential.predict_classes, kwargs)
        proba = self.model_.predict(x, **kwargs)
        if proba.ndim == 2 and proba.shape[-1] > 1:
            index = proba.argmax(axis=-1)
        else:
            index = (proba.reshape(proba.shape[0], -1)[:, 0] > 0.5).astype(np.int64)
        return self.classes_[index]

    def predict_proba(self, x, **kwargs):
        """Class probabilities ``(samples, n_classes)``, float64, rows summing to 1
        (``[1 - p, p]`` for a model with one sigmoid unit)."""
        x = self._check_fitted("predict_proba", x)
        probs = np.asarray(self._proba(x, kwargs), dtype=np.float64)
        probs = probs.reshape(probs.shape[0], -1)
        if probs.shape[1] == 1:
            return np.hstack([1.0 - probs, probs])
        if (probs >= 0).all():
            sums = probs.sum(axis=1, keepdims=True)
            probs = np.divide(probs, sums, out=np.full_like(probs, 1.0 / probs.shape[1]),
                              where=sums > 0)
        return probs

    def score(self, x, y, sample_weight=None, **kwargs):
        """Accuracy of ``predict(x)`` against labels ``y`` (or one-hot rows)."""
        x = self._check_fitted("score", x)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            y = self.classes_[y.argmax(axis=1)]
        else:
            y = y.reshape(-1)
        pred = self.predict(x, **kwargs)
        return float(np.average(pred == y, weights=sample_weight))


class KerasRegressor(RegressorMixin, BaseWrapper):
    """scikit-learn regressor around an lstmcore model (Keras 2's ``KerasRegressor``).

    ``predict`` returns ``(samples,)`` for a model with one output unit, else the model's
    output; ``score`` is minus the loss (``evaluate``'s first value), so that higher is
    better, as Keras 2 defined it (not scikit-learn's R²).

    >>> reg = KerasRegressor(build_fn=create_model, epochs=50, verbose=0)
    >>> reg.fit(x, y).predict(x[:3]).shape
    (3,)
    """

    def fit(self, x, y, **kwargs):
        """Build a new model with ``build_fn`` and train it; returns the estimator."""
        x, x_shape = _check_x(x, self)
        y = _check_y(y)
        if y.ndim == 0 or y.shape[0] != x_shape[0]:
            raise ValueError(f"`x` and `y` must hold the same number of samples; received "
                             f"{x_shape[0]} and {y.shape[:1] or 'a scalar'}")
        data_args = {"n_features_in_": x_shape[-1], "input_shape_": x_shape[1:],
                     "n_outputs_": 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))}
        if y.dtype == object:
            try:
                y = _check_y(y.astype(np.float64))
            except (TypeError, ValueError):
                pass
        if y.dtype.kind not in "biuf":
            raise ValueError(f"KerasRegressor needs numeric targets; received `y` of dtype "
                             f"{y.dtype} (for class labels use KerasClassifier)")
        model, history = self._fit(x, y, data_args, kwargs)
        self._set_fitted(model, history, x_shape)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True  # score is -loss (Keras 2), not an R^2 above 0.5
        return tags

    def predict(self, x, **kwargs):
        """The model's output; ``(samples,)`` when it has one unit."""
        x = self._check_fitted("predict", x)
        kwargs = self.filter_sk_params(Sequential.predict, kwargs)
        out = self.model_.predict(x, **kwargs)
        if out.ndim == 2 and out.shape[1] == 1:
            return out[:, 0]
        return out

    def score(self, x, y, **kwargs):
        """Minus the loss on ``(x, y)`` (Keras 2: higher is better)."""
        x = self._check_fitted("score", x)
        kwargs = self.filter_sk_params(Sequential.evaluate, kwargs)
        kwargs.setdefault("verbose", 0)
        y = np.asarray(y)
        if y.dtype.kind not in "fc":
            y = y.astype(np.float32)
        loss = self.model_.evaluate(x, y, **kwargs)
        if isinstance(loss, (list, tuple)):
            loss = loss[0]
        return -float(loss)


# ---- a 2D series table -> 3D windows, for Pipeline([scaler, windows, model]) -----------------------
class WindowTransformer(TransformerMixin, BaseEstimator):
    """Rows of a series table -> the window of the last ``lookback`` rows ending at each row.

    ``X`` is a time series as a table, one row per timestep, ``(n_rows, n_features)``, in time
    order. ``transform`` returns ``(n_rows, lookback, n_features)`` float32 where window ``i``
    holds rows ``i-lookback+1 .. i`` (row ``i`` last). The number of samples is unchanged,
    so ``y`` stays aligned without any help from the Pipeline (which transforms ``X`` only):
    ``y[i]`` is the target of the window ending at row ``i``; to forecast one step ahead,
    ``y[i]`` is the value at row ``i + 1`` (e.g. ``y = series[1:]`` with ``X = table[:-1]``).

    Why padding: skforecast and sktime's reduction build a lag matrix and drop the first
    ``lookback`` rows of both ``X`` and ``y``, but a Pipeline step sees ``X`` alone and cannot
    drop rows of ``y``; so every row keeps its window, and the first ones are padded.
    The first ``lookback - 1`` windows reach before the first row; ``fill`` says what stands
    there: ``'edge'`` repeats the first row (default), a number fills with it (after a
    ``StandardScaler``, ``0.0`` is the mean). So in cross-validation each fold's first
    windows see only that fold's rows (use ``TimeSeriesSplit``: folds are contiguous), and to
    predict from row ``t`` with full history, transform from row ``t - lookback + 1``
    onwards and keep the predictions from the ``lookback - 1``-th on.

    ``Pipeline([('scale', StandardScaler()), ('windows', WindowTransformer(10)),
    ('lstm', KerasRegressor(build_fn=...))])``: the scaler scales each feature, the windows
    feed an LSTM taking ``input_shape=(10, n_features)``.

    For a table whose rows are already flattened windows ``(n, timesteps * features)``, use
    ``FunctionTransformer(np.reshape, kw_args={'newshape': (-1, timesteps, features)})``
    instead (numpy >= 2.1: ``'shape'``).

    Args:
        lookback: rows per window (timesteps). Default 10.
        fill: ``'edge'`` or a number: what precedes the first row. Default ``'edge'``.
    """

    def __init__(self, lookback=10, fill="edge"):
        self.lookback = lookback
        self.fill = fill

    def _check_params(self):
        lookback = check_positive_int(self.lookback, "lookback", "WindowTransformer")
        if not (isinstance(self.fill, str) and self.fill == "edge"):
            if isinstance(self.fill, (bool, str)) or not isinstance(self.fill, (int, float)) \
                    or not np.isfinite(self.fill):
                raise ValueError(f"`fill` must be 'edge' or a finite number; received "
                                 f"fill={self.fill!r}")
        return lookback

    def fit(self, X, y=None):
        """Check the table and the parameters; learns nothing but ``n_features_in_``."""
        self._check_params()
        X = check_array(X, dtype=np.float32, ensure_2d=True)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """``(n_rows, n_features)`` -> ``(n_rows, lookback, n_features)`` float32."""
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError("This WindowTransformer instance is not fitted yet: call "
                                 "fit(X) (or fit_transform) first")
        lookback = self._check_params()
        X = check_array(X, dtype=np.float32, ensure_2d=True)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but WindowTransformer is expecting "
                             f"{self.n_features_in_} features as input")
        if self.fill == "edge":
            head = np.repeat(X[:1], lookback - 1, axis=0)
        else:
            head = np.full((lookback - 1, X.shape[1]), self.fill, dtype=np.float32)
        padded = np.concatenate([head, X], axis=0)
        windows = np.lib.stride_tricks.sliding_window_view(padded, lookback, axis=0)
        return np.ascontiguousarray(windows.transpose(0, 2, 1))  # (n, F, L) -> (n, L, F)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.transformer_tags.preserves_dtype = ["float32"]  # windows are what fit takes
        return tags


__all__ = ["KerasClassifier", "KerasRegressor", "BaseWrapper", "WindowTransformer", "has_arg"]
