"""Metric functions (lstmcore.metrics.accuracy, acc, mse, mae and the explicit accuracies):
NumPy per-sample values as Keras 3 defines them, and usable in compile(metrics=[...]) where
they map to the native metric and log under their __name__ as Keras does.
tests/test_keras_utils.py compares them with Keras itself."""

import numpy as np
import pytest
from lstmcore import metrics
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential, load_model

RNG = np.random.default_rng(3)
Y_TRUE = RNG.normal(size=(6, 4))
Y_PRED = RNG.normal(size=(6, 4))


def test_regression_metrics_per_sample():
    np.testing.assert_allclose(metrics.mae(Y_TRUE, Y_PRED), np.abs(Y_TRUE - Y_PRED).mean(-1))
    np.testing.assert_allclose(metrics.mse(Y_TRUE, Y_PRED), ((Y_TRUE - Y_PRED) ** 2).mean(-1))
    assert metrics.mae is metrics.mean_absolute_error and metrics.mse is metrics.mean_squared_error
    # (n,) targets against (n, 1) outputs: compared per sample, not broadcast to (n, n)
    out = metrics.mae(Y_TRUE[:, 0], Y_PRED[:, :1])
    np.testing.assert_allclose(out, np.abs(Y_TRUE[:, 0] - Y_PRED[:, 0]))
    assert metrics.mse([[1.0], [2.0]], [1.0, 4.0]).shape == (2,)
    # sequence outputs: one value per sample and timestep
    assert metrics.mae(np.zeros((2, 5, 3)), np.ones((2, 5, 3))).shape == (2, 5)


def test_accuracies_per_sample():
    p = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    onehot = np.eye(3)[[1, 1, 2]]
    np.testing.assert_array_equal(metrics.categorical_accuracy(onehot, p), [1, 0, 1])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy([1, 1, 2], p), [1, 0, 1])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy([[1], [1], [2]], p), [1, 0, 1])
    b = np.array([[0.9], [0.4], [0.6]])
    np.testing.assert_array_equal(metrics.binary_accuracy([[1], [1], [0]], b), [[1], [0], [0]])
    np.testing.assert_array_equal(metrics.binary_accuracy([1, 1, 0], b), [[1], [0], [0]])
    np.testing.assert_array_equal(metrics.binary_accuracy([[1, 0]], [[0.4, 0.2]]), [[0, 1]])
    for f in (metrics.categorical_accuracy, metrics.sparse_categorical_accuracy,
              metrics.binary_accuracy):
        assert f([1, 1, 2] if "sparse" in f.__name__ else onehot, p).dtype == np.float32


def test_accuracy_picks_as_keras_compile_does():
    p = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert metrics.acc is metrics.accuracy
    np.testing.assert_array_equal(metrics.accuracy([1, 1], p), [1, 0])             # sparse
    np.testing.assert_array_equal(metrics.accuracy([[1], [1]], p), [1, 0])         # sparse
    np.testing.assert_array_equal(metrics.accuracy([[0, 1], [0, 1]], p), [1, 0])   # categorical
    np.testing.assert_array_equal(metrics.accuracy([[1], [1]], p[:, :1]), [[0], [1]])  # binary


def _data(n=24, out=1, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 4, 2)).astype(np.float32),
            rng.uniform(size=(n, out)).astype(np.float32))


def _model(out=1, activation=None):
    return Sequential([LSTM(3, input_shape=(4, 2)), Dense(out, activation=activation)])


def test_metric_functions_in_compile_log_under_their_names():
    x, y = _data()
    m = _model()
    m.compile(optimizer="sgd", loss="mse",
              metrics=[metrics.mae, metrics.mse, "mae", metrics.acc])
    assert m.metrics_names == ["loss", "mean_absolute_error", "mean_squared_error", "mae",
                               "accuracy"]
    h = m.fit(x, y, epochs=2, verbose=0)
    assert set(h.history) == {"loss", "mean_absolute_error", "mean_squared_error", "mae",
                              "accuracy"}
    # the native values are what the NumPy functions give
    loss, mae_fn, mse_fn, mae_str, acc = m.evaluate(x, y, verbose=0)
    pred = m.predict(x)
    np.testing.assert_allclose(mae_fn, metrics.mae(y, pred).mean(), rtol=1e-5)
    np.testing.assert_allclose(mse_fn, metrics.mse(y, pred).mean(), rtol=1e-5)
    assert mae_str == mae_fn and mse_fn == pytest.approx(loss, rel=1e-6)
    np.testing.assert_allclose(acc, metrics.binary_accuracy(y, pred).mean(), rtol=1e-6)


def test_accuracy_function_in_compile_is_the_string():
    x, y = _data(out=3)
    labels = y.argmax(-1)
    for loss, target, expected in (("categorical_crossentropy", np.eye(3)[labels],
                                    metrics.categorical_accuracy),
                                   ("sparse_categorical_crossentropy", labels,
                                    metrics.sparse_categorical_accuracy)):
        m = _model(3, "softmax")
        m.compile(optimizer="adam", loss=loss, metrics=[metrics.accuracy])
        _, acc = m.evaluate(x, target, verbose=0)
        np.testing.assert_allclose(acc, expected(target, m.predict(x)).mean(), rtol=1e-6)
        np.testing.assert_allclose(acc, metrics.accuracy(target, m.predict(x)).mean(), rtol=1e-6)


def test_compiled_metric_functions_survive_save_and_load(tmp_path):
    x, y = _data()
    m = _model()
    m.compile(optimizer="adam", loss="mse", metrics=[metrics.mae, metrics.binary_accuracy])
    m.save(tmp_path / "m.lstmcore")
    m2 = load_model(tmp_path / "m.lstmcore")
    assert m2.metrics_names == m.metrics_names
    assert m2.evaluate(x, y, verbose=0) == m.evaluate(x, y, verbose=0)


def test_foreign_metric_functions_are_refused_and_change_nothing():
    def rmse(y_true, y_pred):
        return np.sqrt(np.mean((y_true - y_pred) ** 2))
    m = _model()
    m.compile(optimizer="adam", loss="mse", metrics=["mae"])
    with pytest.raises(ValueError, match=r"unknown metric function 'rmse': lstmcore computes "
                                         r"metrics natively"):
        m.compile(optimizer="adam", loss="mse", metrics=[rmse])
    assert m.metrics_names == ["loss", "mae"]
    with pytest.raises(ValueError, match=r"unknown metric 'f1'"):
        metrics.name_of("f1")
