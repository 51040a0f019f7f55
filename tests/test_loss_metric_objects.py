"""Keras 3's loss and metric objects (``keras.losses.MeanSquaredError()``,
``keras.metrics.MeanAbsoluteError()``...): the same training and History keys as their names,
callable on arrays, saved by name, and the options lstmcore cannot honour refused."""

from __future__ import annotations

import pickle

import lstmcore
import numpy as np
import pytest
from lstmcore import Input, Model, losses, metrics
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential


def _fit(loss, metric_list, y, units=1, act=None):
    lstmcore.set_seed(3)
    m = Sequential([LSTM(3, input_shape=(5, 2)), Dense(units, activation=act)])
    m.compile(optimizer="adam", loss=loss, metrics=metric_list)
    x = np.random.default_rng(0).random((24, 5, 2)).astype("float32")
    return m.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history


@pytest.mark.parametrize("obj,name,metric_obj,metric_name,units,act,kind", [
    (losses.MeanSquaredError(), "mse", metrics.MeanAbsoluteError(), "mean_absolute_error", 1,
     None, "real"),
    (losses.MeanAbsoluteError(), "mae", metrics.MeanSquaredError(), "mean_squared_error", 1,
     None, "real"),
    (losses.BinaryCrossentropy(), "binary_crossentropy", metrics.BinaryAccuracy(),
     "binary_accuracy", 1, "sigmoid", "binary"),
    (losses.CategoricalCrossentropy(), "categorical_crossentropy",
     metrics.CategoricalAccuracy(), "categorical_accuracy", 3, "softmax", "onehot"),
    (losses.SparseCategoricalCrossentropy(), "sparse_categorical_crossentropy",
     metrics.SparseCategoricalAccuracy(), "sparse_categorical_accuracy", 3, "softmax", "index"),
])
def test_objects_train_as_their_names(obj, name, metric_obj, metric_name, units, act, kind):
    rng = np.random.default_rng(1)
    y = {"real": rng.random((24, 1)), "binary": rng.integers(0, 2, (24, 1)),
         "onehot": np.eye(3)[rng.integers(0, 3, 24)], "index": rng.integers(0, 3, 24)}[kind]
    a = _fit(obj, [metric_obj], y, units, act)
    b = _fit(name, [metric_name], y, units, act)
    assert list(a) == ["loss", metric_name] and a == b


def test_objects_are_callable_like_the_functions():
    yt, yp = np.array([[1.0], [0.0]]), np.array([[0.5], [0.25]])
    assert losses.MeanSquaredError()(yt, yp) == pytest.approx(losses.mse(yt, yp))
    np.testing.assert_allclose(metrics.MeanAbsoluteError()(yt, yp), metrics.mae(yt, yp))


def test_functional_model_with_objects_saves_and_pickles(tmp_path):
    a = Input(shape=(5, 2))
    h = LSTM(4)(a)
    m = Model(a, {"r": Dense(1, name="r")(h), "c": Dense(3, activation="softmax", name="c")(h)})
    m.compile("adam", {"r": losses.MeanSquaredError(), "c": losses.SparseCategoricalCrossentropy()},
              metrics={"c": [metrics.SparseCategoricalAccuracy()]}, loss_weights={"r": 1.0, "c": 0.5})
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 5, 2)).astype("float32"), {"r": rng.random((16, 1)), "c": np.arange(16) % 3}
    m.fit(x, y, epochs=1, verbose=0)
    m.save(tmp_path / "m.lstmcore")
    for other in (pickle.loads(pickle.dumps(m)), lstmcore.load_model(tmp_path / "m.lstmcore")):
        assert other.evaluate(x, y, verbose=0) == m.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("make", [
    lambda: losses.BinaryCrossentropy(from_logits=True),
    lambda: losses.CategoricalCrossentropy(label_smoothing=0.1),
    lambda: losses.MeanSquaredError(reduction="sum"),
    lambda: metrics.BinaryAccuracy(threshold=0.7),
    lambda: metrics.MeanAbsoluteError(name="my_mae"),
])
def test_options_lstmcore_cannot_honour_are_refused(make):
    with pytest.raises(NotImplementedError):
        make()
