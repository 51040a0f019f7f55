"""Keras parity of the convolution family: Conv1D, the 1D pooling layers and Flatten. A model
whose weights are copied from a Keras 3 model predicts what it predicts (atol 1e-5), and a
short training run ends with the same per-epoch losses and weights (rtol/atol 1e-4), as in
test_keras_parity.py. Also the initial kernel's spread (Keras' fans for a (k, in, out) kernel).

Skipped when keras is not importable; Keras runs on the torch backend (set before the import).

AveragePooling1D(padding='same') follows TensorFlow and JAX: a window that overlaps the padding
averages its steps inside the input. Keras' torch backend agrees whenever the padding is
symmetric (it passes it to torch with count_include_pad=False); with an odd total padding it
pads by replicating the edge step, which counts the edge again, so those cases are compared
with Keras' own pooling op on the JAX-like rule below (the NumPy reference) instead.
"""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    keras = pytest.importorskip("keras")

from keras_parity_helpers import copy_weights as _copy_weights  # noqa: E402
from keras_parity_helpers import kpredict as _kpredict  # noqa: E402
from keras_parity_helpers import quiet as _quiet  # noqa: E402
from keras_parity_helpers import rand as _rand  # noqa: E402
from lstmcore.layers import (  # noqa: E402
    LSTM,
    AveragePooling1D,
    Conv1D,
    Dense,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
    TimeDistributed,
)
from lstmcore.models import Sequential  # noqa: E402
from lstmcore.optimizers import SGD, Adam  # noqa: E402

KL = keras.layers
T, F = 12, 3


def _keras(layers, input_shape=(T, F)):
    with _quiet():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input(shape=input_shape)] + layers)


CASES = {
    "conv_valid_flatten": (
        lambda: [KL.Conv1D(4, 3), KL.Flatten(), KL.Dense(2)],
        lambda: [Conv1D(4, 3, input_shape=(T, F)), Flatten(), Dense(2)]),
    "conv_same_strided_maxpool": (
        lambda: [KL.Conv1D(5, 4, strides=3, padding="same", activation="relu"),
                 KL.MaxPooling1D(2, padding="same"), KL.GlobalAveragePooling1D(), KL.Dense(2)],
        lambda: [Conv1D(5, 4, strides=3, padding="same", activation="relu", input_shape=(T, F)),
                 MaxPooling1D(2, padding="same"), GlobalAveragePooling1D(), Dense(2)]),
    "conv_same_even_kernel": (
        lambda: [KL.Conv1D(3, 2, padding="same", activation="tanh"), KL.Flatten(), KL.Dense(1)],
        lambda: [Conv1D(3, 2, padding="same", activation="tanh", input_shape=(T, F)), Flatten(),
                 Dense(1)]),
    "conv_causal_dilated_lstm": (
        lambda: [KL.Conv1D(6, 3, padding="causal", dilation_rate=2), KL.AveragePooling1D(2),
                 KL.LSTM(4), KL.Dense(2)],
        lambda: [Conv1D(6, 3, padding="causal", dilation_rate=2, input_shape=(T, F)),
                 AveragePooling1D(2), LSTM(4), Dense(2)]),
    "avgpool_same_symmetric": (
        lambda: [KL.Conv1D(4, 3, use_bias=False), KL.AveragePooling1D(3, strides=1, padding="same"),
                 KL.MaxPooling1D(3, strides=2), KL.GlobalMaxPooling1D(), KL.Dense(2)],
        lambda: [Conv1D(4, 3, use_bias=False, input_shape=(T, F)),
                 AveragePooling1D(3, strides=1, padding="same"), MaxPooling1D(3, strides=2),
                 GlobalMaxPooling1D(), Dense(2)]),
    "global_keepdims": (
        lambda: [KL.Conv1D(4, 5, strides=2), KL.GlobalMaxPooling1D(keepdims=True),
                 KL.Conv1D(2, 1)],
        lambda: [Conv1D(4, 5, strides=2, input_shape=(T, F)), GlobalMaxPooling1D(keepdims=True),
                 Conv1D(2, 1)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_weights_same_predictions(case):
    make_k, make_l = CASES[case]
    km = _keras(make_k())
    model = Sequential(make_l())
    _copy_weights(km, model)
    x = _rand((9, T, F), 2)
    expected = _kpredict(km, x)
    got = model.predict(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(expected).max() > 0.05


@pytest.mark.parametrize("pool, strides, steps", [(4, 1, 6), (2, 2, 5), (3, 2, 8)])
def test_average_pooling_same_ignores_padding_like_tensorflow(pool, strides, steps):
    """Odd total padding: Keras' torch backend replicates the edge step; TensorFlow and JAX
    (and lstmcore) average the steps inside the input. Max pooling agrees with every backend."""
    x = _rand((2, steps, 3), 7)
    model = Sequential([AveragePooling1D(pool, strides, "same", input_shape=(steps, 3))])
    got = model.predict(x)
    t_out = -(-steps // strides)
    left = max((t_out - 1) * strides + pool - steps, 0) // 2
    want = np.stack([x[:, max(t * strides - left, 0):t * strides - left + pool].mean(axis=1)
                     for t in range(t_out)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    km = _keras([KL.MaxPooling1D(pool, strides, "same")], input_shape=(steps, 3))
    mm = Sequential([MaxPooling1D(pool, strides, "same", input_shape=(steps, 3))])
    np.testing.assert_array_equal(mm.predict(x), _kpredict(km, x))


def test_initial_kernel_spread_is_keras():
    km = _keras([KL.Conv1D(64, 5)], input_shape=(20, 32))
    model = Sequential([Conv1D(64, 5, input_shape=(20, 32))])
    with _quiet():
        kw = km.get_weights()
    lw = model.get_weights()
    assert [w.shape for w in lw] == [w.shape for w in kw] == [(5, 32, 64), (64,)]
    limit = np.sqrt(6 / (5 * 32 + 5 * 64))
    for w in (kw[0], lw[0]):
        assert 0.95 * limit < np.abs(w).max() <= limit
        assert np.std(w) == pytest.approx(limit / np.sqrt(3), rel=0.05)


TRAIN = {
    "sgd_cnn": (lambda: keras.optimizers.SGD(learning_rate=0.05), lambda: SGD(learning_rate=0.05),
                lambda: [KL.Conv1D(4, 3, padding="same", activation="relu"), KL.MaxPooling1D(2),
                         KL.Flatten(), KL.Dense(1)],
                lambda: [Conv1D(4, 3, padding="same", activation="relu", input_shape=(T, F)),
                         MaxPooling1D(2), Flatten(), Dense(1)]),
    "adam_cnn_lstm": (lambda: keras.optimizers.Adam(learning_rate=0.01),
                      lambda: Adam(learning_rate=0.01),
                      lambda: [KL.Conv1D(5, 2, padding="causal", dilation_rate=2,
                                         activation="tanh"),
                               KL.AveragePooling1D(2), KL.LSTM(3), KL.Dense(1)],
                      lambda: [Conv1D(5, 2, padding="causal", dilation_rate=2, activation="tanh",
                                      input_shape=(T, F)),
                               AveragePooling1D(2), LSTM(3), Dense(1)]),
    "adam_strided_global": (lambda: keras.optimizers.Adam(learning_rate=0.01),
                            lambda: Adam(learning_rate=0.01),
                            lambda: [KL.Conv1D(6, 4, strides=2, padding="same"),
                                     KL.GlobalAveragePooling1D(), KL.Dense(1)],
                            lambda: [Conv1D(6, 4, strides=2, padding="same", input_shape=(T, F)),
                                     GlobalAveragePooling1D(), Dense(1)]),
}


@pytest.mark.parametrize("case", sorted(TRAIN))
def test_short_training_run_matches_keras(case):
    make_kopt, make_opt, make_k, make_l = TRAIN[case]
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, T, F)).astype(np.float32)
    y = rng.normal(size=(20, 1)).astype(np.float32)
    km = _keras(make_k())
    model = Sequential(make_l())
    w0 = _copy_weights(km, model, scale=0.3)
    with _quiet():
        km.compile(optimizer=make_kopt(), loss="mse")
        kh = km.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        kw = km.get_weights()
    model.compile(optimizer=make_opt(), loss="mse")
    h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for i, (a, b, a0) in enumerate(zip(model.get_weights(), kw, w0)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"weight {i}")
        assert np.abs(b - a0).max() > 1e-3, f"weight {i} did not move"


@pytest.mark.parametrize("steps, k, dilation, strides, padding", [
    (3, 2, 5, 1, "same"), (1, 3, 4, 1, "same"), (7, 4, 1, 5, "same"), (5, 3, 3, 1, "causal"),
    (4, 6, 1, 4, "same"), (9, 3, 1, 4, "causal"), (10, 2, 1, 3, "valid"), (8, 3, 3, 1, "valid")])
def test_conv_geometry_matches_keras(steps, k, dilation, strides, padding):
    """Padding splits and output lengths, including kernels wider than the input and output
    steps whose every tap falls in the padding."""
    x = _rand((2, steps, 2), 8)
    km = _keras([KL.Conv1D(3, k, strides=strides, padding=padding, dilation_rate=dilation)],
                input_shape=(steps, 2))
    model = Sequential([Conv1D(3, k, strides=strides, padding=padding, dilation_rate=dilation,
                               input_shape=(steps, 2))])
    _copy_weights(km, model)
    expected = _kpredict(km, x)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)


def _keras_cnn_lstm():
    return [KL.TimeDistributed(KL.Conv1D(6, 2, activation="relu")),
            KL.TimeDistributed(KL.MaxPooling1D(2)), KL.TimeDistributed(KL.Flatten()),
            KL.LSTM(5), KL.Dense(1)]


def _cnn_lstm():
    return Sequential([TimeDistributed(Conv1D(6, 2, activation="relu"), input_shape=(3, 5, 2)),
                       TimeDistributed(MaxPooling1D(2)), TimeDistributed(Flatten()), LSTM(5),
                       Dense(1)])


def test_time_distributed_cnn_lstm_matches_keras():
    """The CNN-LSTM of 'Deep Learning for Time Series Forecasting' on (samples, subsequences,
    steps, features): predictions, then three epochs of Adam."""
    km = _keras(_keras_cnn_lstm(), input_shape=(3, 5, 2))
    model = _cnn_lstm()
    w0 = _copy_weights(km, model, scale=0.3)
    x = _rand((20, 3, 5, 2), 3)
    y = _rand((20, 1), 4)
    np.testing.assert_allclose(model.predict(x), _kpredict(km, x), rtol=1e-5, atol=1e-5)
    with _quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
        kh = km.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        kw = km.get_weights()
    model.compile(optimizer=Adam(learning_rate=0.01), loss="mse")
    h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for i, (a, b, a0) in enumerate(zip(model.get_weights(), kw, w0)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"weight {i}")
        assert np.abs(b - a0).max() > 1e-3, f"weight {i} did not move"
