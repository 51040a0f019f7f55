"""Keras 2 utilities and metric functions against Keras itself (Keras 3 on torch): the same
inputs give the same arrays. Skipped when keras is not importable; Keras calls run with
warnings silenced (see test_keras_parity.py), lstmcore's under the suite's strict filter."""

import contextlib
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    keras = pytest.importorskip("keras")

from lstmcore import callbacks, metrics  # noqa: E402
from lstmcore.layers import Dense  # noqa: E402
from lstmcore.models import Sequential  # noqa: E402
from lstmcore.optimizers import SGD  # noqa: E402
from lstmcore.preprocessing.sequence import pad_sequences  # noqa: E402
from lstmcore.utils import to_categorical  # noqa: E402


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


PAD_CASES = [
    ([[1], [2, 3], [4, 5, 6]], {}),
    ([[1], [2, 3], [4, 5, 6]], {"maxlen": 2}),
    ([[1], [2, 3], [4, 5, 6]], {"maxlen": 2, "truncating": "post", "padding": "post"}),
    ([[1, 2, 3, 4], [], [5]], {"maxlen": 3, "value": -7}),
    ([[1.5, 2.7], [3.2]], {"dtype": "float32", "padding": "post"}),
    ([[1.5, 2.7], [3.2]], {}),
    (np.arange(12).reshape(3, 4), {"maxlen": 6}),
    ([np.ones((2, 3)), np.full((4, 3), 2.0), np.zeros((1, 3))], {"maxlen": 3, "dtype": "float64"}),
    ([np.ones((2, 3)), np.full((4, 3), 2.0)], {"truncating": "post", "padding": "post"}),
    ([["a", "b"], ["c"]], {"dtype": object, "value": "<pad>"}),
]


@pytest.mark.parametrize("seqs, kwargs", PAD_CASES)
def test_pad_sequences_as_keras(seqs, kwargs):
    with _quiet():
        expected = keras.utils.pad_sequences(seqs, **kwargs)
    got = pad_sequences(seqs, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_pad_sequences_errors_as_keras():
    for kwargs in ({"padding": "x"}, {"truncating": "x"}, {"value": "s"}):
        with _quiet(), pytest.raises(ValueError):
            keras.utils.pad_sequences([[1, 2]], **kwargs)
        with pytest.raises(ValueError):
            pad_sequences([[1, 2]], **kwargs)


@pytest.mark.parametrize("y, num_classes", [
    ([0, 1, 2, 3], None), ([2, 0, 1], 5), (np.array([[1], [0], [3]]), None),
    (np.array([[0, 1], [2, 2]]), None), ([1.0, 0.0, 2.0], None), (np.array([[[1], [0]]]), 3),
])
def test_to_categorical_as_keras(y, num_classes):
    with _quiet():
        expected = keras.utils.to_categorical(y, num_classes)
    got = to_categorical(y, num_classes)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


_R = np.random.default_rng(5)
METRIC_CASES = [  # (y_true, y_pred)
    (_R.normal(size=(5, 3)), _R.normal(size=(5, 3))),
    (_R.normal(size=(5,)), _R.normal(size=(5, 1))),
    (_R.normal(size=(5, 1)), _R.normal(size=(5,))),
    (_R.normal(size=(2, 4, 3)).astype(np.float32), _R.normal(size=(2, 4, 3)).astype(np.float32)),
]
CLASS_CASES = [  # (one-hot or binary targets, probabilities)
    (np.eye(3)[[0, 2, 1, 1]], _R.uniform(size=(4, 3))),
    (np.array([[1.0], [0.0], [1.0]]), np.array([[0.7], [0.2], [0.4]])),
    (np.array([1.0, 0.0, 1.0]), np.array([[0.7], [0.6], [0.4]])),
    (_R.integers(0, 2, size=(3, 4)).astype(np.float64), _R.uniform(size=(3, 4))),
]
SPARSE_CASES = [
    (np.array([0, 2, 1]), _R.uniform(size=(3, 3))),
    (np.array([[0], [2], [1]]), _R.uniform(size=(3, 3))),
    (np.array([[0, 1], [2, 2]]), _R.uniform(size=(2, 2, 3))),
]


@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error"])
@pytest.mark.parametrize("case", range(len(METRIC_CASES)))
def test_regression_metric_functions_as_keras(name, case):
    y_true, y_pred = METRIC_CASES[case]
    with _quiet():
        expected = _np(getattr(keras.metrics, name)(y_true, y_pred))
    got = getattr(metrics, name)(y_true, y_pred)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, case", [  # categorical accuracy: several outputs only
    (n, c) for n in ("binary_accuracy", "categorical_accuracy") for c in range(len(CLASS_CASES))
    if n == "binary_accuracy" or CLASS_CASES[c][1].shape[-1] > 1])
def test_accuracy_functions_as_keras(name, case):
    y_true, y_pred = CLASS_CASES[case]
    with _quiet():
        expected = _np(getattr(keras.metrics, name)(y_true, y_pred))
    got = getattr(metrics, name)(y_true, y_pred)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("case", range(len(SPARSE_CASES)))
def test_sparse_accuracy_as_keras(case):
    y_true, y_pred = SPARSE_CASES[case]
    with _quiet():
        expected = _np(keras.metrics.sparse_categorical_accuracy(y_true, y_pred))
    got = metrics.sparse_categorical_accuracy(y_true, y_pred)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_history_keys_as_keras():
    """Keras 3 names a metric function after its __name__ (keras.metrics.mean_absolute_error
    -> 'mean_absolute_error') and a string after itself; lstmcore's functions of the same
    names log the same keys."""
    x = _R.normal(size=(8, 3)).astype(np.float32)
    y = _R.uniform(size=(8, 1)).astype(np.float32)
    with _quiet():
        km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        km.compile("sgd", "mse", metrics=[keras.metrics.mean_absolute_error,
                                          keras.metrics.mean_squared_error,
                                          keras.metrics.binary_accuracy, "mae", "acc"])
        keys = set(km.fit(x, y, epochs=1, verbose=0).history)
    m = Sequential([Dense(1, input_shape=(3,))])
    m.compile("sgd", "mse", metrics=[metrics.mae, metrics.mse, metrics.binary_accuracy, "mae",
                                     "acc"])
    assert set(m.fit(x, y, epochs=1, verbose=0).history) == keys


class _Holder:
    def __init__(self, optimizer):
        self.optimizer = optimizer


def _keras_model(lr):
    with _quiet():
        km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        km.compile(keras.optimizers.SGD(lr), "mse")
    return km


@pytest.mark.parametrize("values, kwargs", [
    ([1.0] * 8, {"patience": 2, "factor": 0.5}),
    ([1.0] * 9, {"patience": 1, "factor": 0.5, "cooldown": 2}),
    ([1.0, 0.99, 0.98, 0.97, 0.5, 0.6], {"patience": 1, "factor": 0.1, "min_delta": 0.05}),
    ([1.0] * 6, {"patience": 0, "factor": 0.2, "min_lr": 0.03}),
    ([0.3, 0.2, 0.4, 0.4, 0.4], {"patience": 1, "factor": 0.5, "mode": "max"}),
])
def test_reduce_lr_on_plateau_as_keras(values, kwargs):
    kcb = keras.callbacks.ReduceLROnPlateau(**kwargs)
    kcb.set_model(_keras_model(1.0))
    ours = callbacks.ReduceLROnPlateau(**kwargs)
    ours.set_model(_Holder(SGD(1.0)))
    kcb.on_train_begin()
    ours.on_train_begin()
    for epoch, v in enumerate(values):
        klogs, logs = {"val_loss": v}, {"val_loss": v}
        with _quiet():
            kcb.on_epoch_end(epoch, klogs)
        ours.on_epoch_end(epoch, logs)
        assert logs.keys() == klogs.keys()
        assert logs["learning_rate"] == pytest.approx(klogs["learning_rate"], rel=1e-6)
        with _quiet():
            klr = float(_np(kcb.model.optimizer.learning_rate))
        assert ours.model.optimizer.learning_rate == pytest.approx(klr, rel=1e-6)


@pytest.mark.parametrize("schedule", [lambda epoch: 0.1 / (epoch + 1),
                                      lambda epoch, lr: lr * 0.5])
def test_learning_rate_scheduler_as_keras(schedule):
    kcb = keras.callbacks.LearningRateScheduler(schedule)
    kcb.set_model(_keras_model(0.1))
    ours = callbacks.LearningRateScheduler(schedule)
    ours.set_model(_Holder(SGD(0.1)))
    for epoch in range(4):
        klogs, logs = {"loss": 1.0}, {"loss": 1.0}
        with _quiet():
            kcb.on_epoch_begin(epoch)
            kcb.on_epoch_end(epoch, klogs)
        ours.on_epoch_begin(epoch)
        ours.on_epoch_end(epoch, logs)
        assert logs["learning_rate"] == pytest.approx(klogs["learning_rate"], rel=1e-6)


@pytest.mark.parametrize("validation", [False, True])
def test_csv_logger_format_as_keras(tmp_path, validation):
    x = _R.normal(size=(8, 3)).astype(np.float32)
    y = _R.normal(size=(8, 1)).astype(np.float32)
    extra = {"validation_data": (x, y)} if validation else {}
    with _quiet():
        km = _keras_model(0.01)
        km.compile(keras.optimizers.SGD(0.01), "mse", metrics=["mae"])
        km.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.CSVLogger(
            tmp_path / "k.csv", separator=";")], **extra)
    m = Sequential([Dense(1, input_shape=(3,))])
    m.compile(SGD(0.01), "mse", metrics=["mae"])
    m.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.CSVLogger(tmp_path / "l.csv",
                                                                    separator=";")], **extra)
    k_lines = (tmp_path / "k.csv").read_bytes().split(b"\r\n")
    l_lines = (tmp_path / "l.csv").read_bytes().split(b"\r\n")
    assert len(k_lines) == len(l_lines) == 4  # header, two rows, the empty end
    assert l_lines[0] == k_lines[0]
    for kl, ll in zip(k_lines[1:], l_lines[1:]):
        kf, lf = kl.split(b";"), ll.split(b";")
        assert len(kf) == len(lf) and kf[0] == lf[0]
        assert [f == b"NA" for f in kf] == [f == b"NA" for f in lf]
