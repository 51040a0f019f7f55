"""Keras parity of GRU (both reset_after variants) and SimpleRNN: a model whose weights are
copied from a Keras 3 model predicts what it predicts, and a short training run ends with the
same weights and per-epoch losses. Patterns and tolerances of tests/test_keras_parity.py
(predictions atol 1e-5; after training rtol/atol 1e-4). Skipped when keras is absent."""

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
from lstmcore.layers import GRU, Bidirectional, Dense, SimpleRNN  # noqa: E402
from lstmcore.models import Sequential  # noqa: E402
from lstmcore.optimizers import SGD, Adam, RMSprop  # noqa: E402

KL = keras.layers
T, F = 6, 3


def _keras(layers, batch_size=None):
    with _quiet():
        keras.utils.set_random_seed(0)
        inp = keras.Input(batch_shape=(batch_size, T, F))
        return keras.Sequential([inp] + layers)


CASES = {
    "gru": (lambda: [KL.GRU(5), KL.Dense(2)],
            lambda: [GRU(5, input_shape=(T, F)), Dense(2)]),
    "gru_reset_before": (lambda: [KL.GRU(5, reset_after=False), KL.Dense(2)],
                         lambda: [GRU(5, reset_after=False, input_shape=(T, F)), Dense(2)]),
    "gru_options": (
        lambda: [KL.GRU(4, go_backwards=True, return_sequences=True, activation="relu",
                        recurrent_activation="hard_sigmoid", use_bias=False), KL.Dense(2)],
        lambda: [GRU(4, go_backwards=True, return_sequences=True, activation="relu",
                     recurrent_activation="hard_sigmoid", use_bias=False, input_shape=(T, F)),
                 Dense(2)]),
    "gru_stacked": (
        lambda: [KL.GRU(5, return_sequences=True), KL.GRU(4, reset_after=False), KL.Dense(1)],
        lambda: [GRU(5, return_sequences=True, input_shape=(T, F)), GRU(4, reset_after=False),
                 Dense(1)]),
    "bidirectional_gru": (
        lambda: [KL.Bidirectional(KL.GRU(4, return_sequences=True), merge_mode="concat"),
                 KL.Bidirectional(KL.GRU(3, reset_after=False), merge_mode="ave"), KL.Dense(2)],
        lambda: [Bidirectional(GRU(4, return_sequences=True), merge_mode="concat",
                               input_shape=(T, F)),
                 Bidirectional(GRU(3, reset_after=False), merge_mode="ave"), Dense(2)]),
    "simple_rnn": (lambda: [KL.SimpleRNN(5), KL.Dense(2)],
                   lambda: [SimpleRNN(5, input_shape=(T, F)), Dense(2)]),
    "simple_rnn_stacked_backwards": (
        lambda: [KL.SimpleRNN(5, return_sequences=True, go_backwards=True, activation="relu"),
                 KL.SimpleRNN(3), KL.Dense(1)],
        lambda: [SimpleRNN(5, return_sequences=True, go_backwards=True, activation="relu",
                           input_shape=(T, F)), SimpleRNN(3), Dense(1)]),
    "bidirectional_simple_rnn": (
        lambda: [KL.Bidirectional(KL.SimpleRNN(4), merge_mode="mul"), KL.Dense(2)],
        lambda: [Bidirectional(SimpleRNN(4), merge_mode="mul", input_shape=(T, F)), Dense(2)]),
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


@pytest.mark.parametrize("kind", ["gru", "simple_rnn"])
def test_initial_weights_follow_keras_shapes(kind):
    make = {"gru": (lambda: KL.GRU(5), lambda: GRU(5, input_shape=(T, F))),
            "simple_rnn": (lambda: KL.SimpleRNN(5), lambda: SimpleRNN(5, input_shape=(T, F)))}
    km = _keras([make[kind][0]()])
    model = Sequential([make[kind][1]()])
    with _quiet():
        kw = km.get_weights()
    lw = model.get_weights()
    assert [w.shape for w in lw] == [w.shape for w in kw]
    np.testing.assert_array_equal(lw[2], kw[2])  # zeros
    np.testing.assert_allclose(lw[1] @ lw[1].T, kw[1] @ kw[1].T, atol=1e-5)


@pytest.mark.parametrize("kind", ["gru", "simple_rnn"])
def test_stateful_predictions_match_keras(kind):
    bs = 4
    klayer = KL.GRU(3, stateful=True) if kind == "gru" else KL.SimpleRNN(3, stateful=True)
    layer = (GRU if kind == "gru" else SimpleRNN)(3, stateful=True, batch_input_shape=(bs, T, F))
    km = _keras([klayer, KL.Dense(1)], batch_size=bs)
    model = Sequential([layer, Dense(1)])
    _copy_weights(km, model)
    a, b = _rand((bs, T, F), 3), _rand((2 * bs, T, F), 4)
    ka1, kb = _kpredict(km, a, bs), _kpredict(km, b, bs)
    np.testing.assert_allclose(model.predict(a), ka1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(b), kb, rtol=1e-5, atol=1e-5)


TRAIN_CASES = {
    # Keras layers, lstmcore layers, optimizer (Keras, lstmcore)
    "gru_sgd": (lambda: [KL.GRU(4), KL.Dense(1)], lambda: [GRU(4, input_shape=(T, F)), Dense(1)],
                lambda: keras.optimizers.SGD(learning_rate=0.1), lambda: SGD(learning_rate=0.1)),
    "gru_reset_before_adam": (
        lambda: [KL.GRU(4, reset_after=False), KL.Dense(1)],
        lambda: [GRU(4, reset_after=False, input_shape=(T, F)), Dense(1)],
        lambda: keras.optimizers.Adam(learning_rate=0.01), lambda: Adam(learning_rate=0.01)),
    "bidirectional_gru_rmsprop": (
        lambda: [KL.Bidirectional(KL.GRU(3)), KL.Dense(1)],
        lambda: [Bidirectional(GRU(3), input_shape=(T, F)), Dense(1)],
        lambda: keras.optimizers.RMSprop(learning_rate=0.01), lambda: RMSprop(learning_rate=0.01)),
    "stacked_gru_adam": (
        lambda: [KL.GRU(4, return_sequences=True), KL.GRU(3), KL.Dense(1)],
        lambda: [GRU(4, return_sequences=True, input_shape=(T, F)), GRU(3), Dense(1)],
        lambda: keras.optimizers.Adam(learning_rate=0.01), lambda: Adam(learning_rate=0.01)),
    "simple_rnn_sgd": (
        lambda: [KL.SimpleRNN(4, return_sequences=True), KL.SimpleRNN(3), KL.Dense(1)],
        lambda: [SimpleRNN(4, return_sequences=True, input_shape=(T, F)), SimpleRNN(3),
                 Dense(1)],
        lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        lambda: SGD(learning_rate=0.05, momentum=0.9)),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_short_training_run_matches_keras(case):
    make_k, make_l, make_kopt, make_opt = TRAIN_CASES[case]
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
    for i, (a, b, w) in enumerate(zip(model.get_weights(), kw, w0)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
        assert np.abs(b - w).max() > 1e-3, f"weight {i} did not move"
