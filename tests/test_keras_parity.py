"""Keras parity: a model whose weights are copied from a Keras 3 model predicts what it
predicts, and a short training run ends with the same weights and per-epoch losses.

Skipped when keras is not importable. Keras runs on the torch backend (set before the import).
Keras emits its own Deprecation/User warnings under NumPy 2 and for ``input_shape``; every Keras
call runs inside ``_quiet()`` so that the suite's strict warning filter still applies to
lstmcore.

Tolerance: both sides compute in float32 from the same float32 weights, with different
summation orders, so predictions agree to a few float32 ulps of their magnitude (atol 1e-5
for O(1) values); after a few training steps the differences grow with the updates, so
weights and losses are compared with rtol/atol 1e-4.
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
from lstmcore import layers as _layers  # noqa: E402
from lstmcore.layers import LSTM, Bidirectional, Dense, RepeatVector, TimeDistributed  # noqa: E402
from lstmcore.models import Sequential  # noqa: E402
from lstmcore.optimizers import SGD, Adam, RMSprop  # noqa: E402

KL = keras.layers
T, F = 6, 3


def _keras(layers, input_shape=(T, F), batch_size=None):
    with _quiet():
        keras.utils.set_random_seed(0)
        inp = keras.Input(batch_shape=(batch_size,) + tuple(input_shape))
        return keras.Sequential([inp] + layers)


CASES = {
    "lstm_dense": (
        lambda: [KL.LSTM(5), KL.Dense(2)],
        lambda: [LSTM(5, input_shape=(T, F)), Dense(2)]),
    "stacked": (
        lambda: [KL.LSTM(5, return_sequences=True), KL.LSTM(4), KL.Dense(1, activation="sigmoid")],
        lambda: [LSTM(5, input_shape=(T, F), return_sequences=True), LSTM(4),
                 Dense(1, activation="sigmoid")]),
    "encoder_decoder": (
        lambda: [KL.LSTM(5), KL.RepeatVector(4), KL.LSTM(3, return_sequences=True),
                 KL.TimeDistributed(KL.Dense(4, activation="softmax"))],
        lambda: [LSTM(5, input_shape=(T, F)), RepeatVector(4), LSTM(3, return_sequences=True),
                 TimeDistributed(Dense(4, activation="softmax"))]),
    "bidirectional_concat": (
        lambda: [KL.Bidirectional(KL.LSTM(4), merge_mode="concat"), KL.Dense(2)],
        lambda: [Bidirectional(LSTM(4), merge_mode="concat", input_shape=(T, F)), Dense(2)]),
    "bidirectional_sum_sequences": (
        lambda: [KL.Bidirectional(KL.LSTM(4, return_sequences=True), merge_mode="sum"),
                 KL.Dense(2)],
        lambda: [Bidirectional(LSTM(4, return_sequences=True), merge_mode="sum",
                               input_shape=(T, F)), Dense(2)]),
    "bidirectional_ave_mul": (
        lambda: [KL.Bidirectional(KL.LSTM(4, return_sequences=True), merge_mode="ave"),
                 KL.Bidirectional(KL.LSTM(3), merge_mode="mul"), KL.Dense(1)],
        lambda: [Bidirectional(LSTM(4, return_sequences=True), merge_mode="ave",
                               input_shape=(T, F)),
                 Bidirectional(LSTM(3), merge_mode="mul"), Dense(1)]),
    "hard_sigmoid": (
        lambda: [KL.LSTM(5, recurrent_activation="hard_sigmoid"), KL.Dense(2)],
        lambda: [LSTM(5, input_shape=(T, F), recurrent_activation="hard_sigmoid"), Dense(2)]),
    "go_backwards_relu": (
        lambda: [KL.LSTM(5, go_backwards=True, activation="relu", return_sequences=True),
                 KL.Dense(2, activation="tanh")],
        lambda: [LSTM(5, input_shape=(T, F), go_backwards=True, activation="relu",
                      return_sequences=True), Dense(2, activation="tanh")]),
    "no_bias": (
        lambda: [KL.LSTM(5, use_bias=False), KL.Dense(2, use_bias=False)],
        lambda: [LSTM(5, input_shape=(T, F), use_bias=False), Dense(2, use_bias=False)]),
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
    assert np.abs(expected).max() > 0.05  # a meaningful comparison, not of zeros


def test_initial_weights_follow_keras_shapes_and_forget_bias():
    km = _keras([KL.LSTM(5), KL.Dense(2)])
    model = Sequential([LSTM(5, input_shape=(T, F)), Dense(2)])
    with _quiet():
        kw = km.get_weights()
    lw = model.get_weights()
    assert [w.shape for w in lw] == [w.shape for w in kw]
    assert [w.dtype for w in lw] == [w.dtype for w in kw] == [np.float32] * 5
    np.testing.assert_array_equal(lw[2], kw[2])  # zeros with the forget block = 1
    np.testing.assert_array_equal(lw[4], kw[4])
    # the same initializers: the spread of the glorot kernel and the orthogonal rows
    assert np.abs(lw[0]).max() <= np.sqrt(6 / (F + 20)) >= np.abs(kw[0]).max()
    np.testing.assert_allclose(lw[1] @ lw[1].T, kw[1] @ kw[1].T, atol=1e-5)


def test_stateful_predictions_match_keras():
    bs = 4
    km = _keras([KL.LSTM(3, stateful=True), KL.Dense(1)], batch_size=bs)
    model = Sequential([LSTM(3, stateful=True, batch_input_shape=(bs, T, F)), Dense(1)])
    _copy_weights(km, model)
    a, b = _rand((bs, T, F), 3), _rand((2 * bs, T, F), 4)
    ka1, kb = _kpredict(km, a, bs), _kpredict(km, b, bs)  # state carries across calls
    np.testing.assert_allclose(model.predict(a), ka1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(b), kb, rtol=1e-5, atol=1e-5)
    with _quiet():
        for layer in km.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()
    model.reset_states()
    ka2 = _kpredict(km, a, bs)
    np.testing.assert_allclose(ka2, ka1, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict(a), ka2, rtol=1e-5, atol=1e-5)


TRAIN_CASES = {
    # optimizer (Keras, lstmcore), loss, output activation, output width
    "sgd_mse": (lambda: keras.optimizers.SGD(learning_rate=0.1), lambda: SGD(learning_rate=0.1),
                "mse", None, 1),
    "sgd_momentum_bce": (lambda: keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                         lambda: SGD(learning_rate=0.1, momentum=0.9),
                         "binary_crossentropy", "sigmoid", 1),
    "adam_mse": (lambda: keras.optimizers.Adam(learning_rate=0.01),
                 lambda: Adam(learning_rate=0.01), "mse", None, 1),
    "adam_bce": (lambda: keras.optimizers.Adam(learning_rate=0.01),
                 lambda: Adam(learning_rate=0.01), "binary_crossentropy", "sigmoid", 1),
    "rmsprop_cce": (lambda: keras.optimizers.RMSprop(learning_rate=0.01),
                    lambda: RMSprop(learning_rate=0.01), "categorical_crossentropy", "softmax", 3),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_short_training_run_matches_keras(case):
    make_kopt, make_opt, loss, act, width = TRAIN_CASES[case]
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, T, F)).astype(np.float32)
    if loss == "mse":
        y = rng.normal(size=(20, width)).astype(np.float32)
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (20, width)).astype(np.float32)
    else:
        y = np.eye(width, dtype=np.float32)[rng.integers(0, width, 20)]
    km = _keras([KL.LSTM(4), KL.Dense(width, activation=act)])
    model = Sequential([LSTM(4, input_shape=(T, F)), Dense(width, activation=act)])
    w0 = _copy_weights(km, model, scale=0.3)
    with _quiet():
        km.compile(optimizer=make_kopt(), loss=loss)
        kh = km.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)  # 8, 8, 4
        kw = km.get_weights()
    model.compile(optimizer=make_opt(), loss=loss)
    h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert len(h.history["loss"]) == len(kh.history["loss"]) == 3
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
        # the run moved every weight array well beyond the tolerance
        assert np.abs(a - w0[i]).max() > 1e-3, f"weight {i} did not move"


def test_evaluate_matches_keras():
    km = _keras([KL.LSTM(4), KL.Dense(3, activation="softmax")])
    model = Sequential([LSTM(4, input_shape=(T, F)), Dense(3, activation="softmax")])
    _copy_weights(km, model)
    x = _rand((11, T, F), 6)
    labels = np.random.default_rng(7).integers(0, 3, 11)
    with _quiet():
        km.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        kres = km.evaluate(x, labels, batch_size=4, verbose=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    res = model.evaluate(x, labels, batch_size=4, verbose=0)
    np.testing.assert_allclose(res, kres, rtol=1e-5)


ARCH_TRAIN = {
    # case in CASES, loss, output width for the targets
    "stacked": "binary_crossentropy",
    "encoder_decoder": "categorical_crossentropy",
    "bidirectional_concat": "mse",
    "bidirectional_sum_sequences": "mse",
}


@pytest.mark.parametrize("case", sorted(ARCH_TRAIN))
def test_architecture_training_run_matches_keras(case):
    """Stacked, encoder-decoder and bidirectional models: the same Adam run (shuffle=False,
    3 epochs, a partial last batch) ends with the same losses and weights as Keras."""
    make_k, make_l = CASES[case]
    loss = ARCH_TRAIN[case]
    km = _keras(make_k())
    model = Sequential(make_l())
    w0 = _copy_weights(km, model, scale=0.3)
    rng = np.random.default_rng(11)
    x = rng.normal(size=(20, T, F)).astype(np.float32)
    out = model.output_shape[1:]
    if loss == "binary_crossentropy":
        y = rng.integers(0, 2, (20,) + out).astype(np.float32)
    elif loss == "categorical_crossentropy":
        y = np.eye(out[-1], dtype=np.float32)[rng.integers(0, out[-1], (20,) + out[:-1])]
    else:
        y = rng.normal(size=(20,) + out).astype(np.float32)
    with _quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss=loss)
        kh = km.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        kw = km.get_weights()
    model.compile(optimizer=Adam(learning_rate=0.01), loss=loss)
    h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
    assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(model.get_weights(), w0))


def test_embedding_lstm_predictions_and_training_match_keras():
    """Embedding -> LSTM -> Dense on integer sequences: the same predictions, and the same
    Adam run (3 epochs, a partial last batch; Keras 3 updates every embedding row densely)."""
    V, Tt = 9, 5
    with _quiet():
        keras.utils.set_random_seed(0)
        km = keras.Sequential([keras.Input(shape=(Tt,), dtype="int32"), KL.Embedding(V, 4),
                               KL.LSTM(3), KL.Dense(1, activation="sigmoid")])
    from lstmcore.layers import Embedding
    model = Sequential([Embedding(V, 4, input_length=Tt), LSTM(3),
                        Dense(1, activation="sigmoid")])
    w0 = _copy_weights(km, model, scale=0.3)
    rng = np.random.default_rng(12)
    x = rng.integers(0, V, (20, Tt)).astype(np.int32)
    y = rng.integers(0, 2, (20, 1)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), _kpredict(km, x), rtol=1e-5, atol=1e-5)
    with _quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
        kh = km.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        kw = km.get_weights()
    model.compile(optimizer=Adam(learning_rate=0.01), loss="binary_crossentropy")
    h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
    assert np.abs(model.get_weights()[0] - w0[0]).max() > 1e-3


def _padded(rng, shape, side_pre):
    """Integer sequences padded with 0 (some at the front, some at the back)."""
    x = rng.integers(1, 9, shape).astype(np.int32)
    for b in range(shape[0]):
        n = int(rng.integers(1, shape[1] + 1))
        if side_pre[b]:
            x[b, :shape[1] - n] = 0
        else:
            x[b, n:] = 0
    return x


MASK_CASES = {
    # Keras layers after Input, lstmcore layers, loss
    "embedding_mask_zero_lstm": (
        lambda: [KL.Embedding(9, 4, mask_zero=True), KL.LSTM(3), KL.Dense(1, activation="sigmoid")],
        lambda E: [E(9, 4, mask_zero=True, input_length=6), LSTM(3),
                   Dense(1, activation="sigmoid")], "binary_crossentropy"),
    "embedding_mask_zero_sequence_loss": (
        lambda: [KL.Embedding(9, 4, mask_zero=True), KL.LSTM(3, return_sequences=True),
                 KL.Dense(3, activation="softmax")],
        lambda E: [E(9, 4, mask_zero=True, input_length=6), LSTM(3, return_sequences=True),
                   Dense(3, activation="softmax")], "sparse_categorical_crossentropy"),
    "embedding_mask_zero_global_average": (
        lambda: [KL.Embedding(9, 4, mask_zero=True), KL.GlobalAveragePooling1D(),
                 KL.Dense(1, activation="sigmoid")],
        lambda E: [E(9, 4, mask_zero=True, input_length=6), _layers.GlobalAveragePooling1D(),
                   Dense(1, activation="sigmoid")], "binary_crossentropy"),
    "embedding_mask_zero_gru": (
        lambda: [KL.Embedding(9, 4, mask_zero=True), KL.GRU(3), KL.Dense(1, activation="sigmoid")],
        lambda E: [E(9, 4, mask_zero=True, input_length=6), _layers.GRU(3),
                   Dense(1, activation="sigmoid")], "binary_crossentropy"),
    "embedding_mask_zero_gru_before_sequences": (
        lambda: [KL.Embedding(9, 4, mask_zero=True),
                 KL.GRU(3, reset_after=False, return_sequences=True),
                 KL.Dense(3, activation="softmax")],
        lambda E: [E(9, 4, mask_zero=True, input_length=6),
                   _layers.GRU(3, reset_after=False, return_sequences=True),
                   Dense(3, activation="softmax")], "sparse_categorical_crossentropy"),
    "embedding_mask_zero_simple_rnn_bidirectional": (
        lambda: [KL.Embedding(9, 4, mask_zero=True),
                 KL.Bidirectional(KL.SimpleRNN(3, return_sequences=True)), KL.Dense(2)],
        lambda E: [E(9, 4, mask_zero=True, input_length=6),
                   Bidirectional(_layers.SimpleRNN(3, return_sequences=True)), Dense(2)], "mse"),
    "embedding_mask_zero_bidirectional_sequences": (
        lambda: [KL.Embedding(9, 4, mask_zero=True),
                 KL.Bidirectional(KL.LSTM(3, return_sequences=True)), KL.Dense(2)],
        lambda E: [E(9, 4, mask_zero=True, input_length=6),
                   Bidirectional(LSTM(3, return_sequences=True)), Dense(2)], "mse"),
}


@pytest.mark.parametrize("case", sorted(MASK_CASES))
def test_masked_models_match_keras(case):
    """Keras masking (left and right padding): the same predictions, and the same Adam run
    with the masked loss and metrics."""
    from lstmcore.layers import Embedding
    make_k, make_l, loss = MASK_CASES[case]
    Tt = 6
    with _quiet():
        keras.utils.set_random_seed(0)
        km = keras.Sequential([keras.Input(shape=(Tt,), dtype="int32")] + make_k())
    model = Sequential(make_l(Embedding))
    _copy_weights(km, model, scale=0.4)
    rng = np.random.default_rng(13)
    x = _padded(rng, (20, Tt), rng.integers(0, 2, 20).astype(bool))
    np.testing.assert_allclose(model.predict(x), _kpredict(km, x), rtol=1e-5, atol=1e-5)
    out = model.output_shape[1:]
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, out[-1], (20,) + out[:-1])
        metrics = ["accuracy"]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (20,) + out).astype(np.float32)
        metrics = ["accuracy"]
    else:
        y = rng.normal(size=(20,) + out).astype(np.float32)
        metrics = ["mae"]
    with _quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss=loss,
                   metrics=metrics)
        kh = km.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        kw = km.get_weights()
        kev = km.evaluate(x, y, batch_size=8, verbose=0)
    model.compile(optimizer=Adam(learning_rate=0.01), loss=loss, metrics=metrics)
    h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    name = metrics[0]
    np.testing.assert_allclose(h.history[name], kh.history[name], rtol=1e-4, atol=1e-6)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=8, verbose=0), kev, rtol=1e-4)


def test_masking_layer_matches_keras():
    """Masking(0.) on float sequences padded at either end, a returned sequence and its
    masked mse: predictions and a 3-epoch SGD run."""
    from lstmcore.layers import Masking
    rng = np.random.default_rng(14)
    x = rng.normal(size=(20, T, F)).astype(np.float32)
    for b in range(20):
        n = int(rng.integers(1, T + 1))
        if b % 2:
            x[b, n:] = 0.0
        else:
            x[b, :T - n] = 0.0
    km = _keras([KL.Masking(0.0), KL.LSTM(4, return_sequences=True, go_backwards=True),
                 KL.TimeDistributed(KL.Dense(2))])
    model = Sequential([Masking(0.0, input_shape=(T, F)),
                        LSTM(4, return_sequences=True, go_backwards=True),
                        TimeDistributed(Dense(2))])
    _copy_weights(km, model, scale=0.4)
    np.testing.assert_allclose(model.predict(x), _kpredict(km, x), rtol=1e-5, atol=1e-5)
    y = rng.normal(size=(20, T, 2)).astype(np.float32)
    with _quiet():
        km.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
        kh = km.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        kw = km.get_weights()
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")


@pytest.mark.parametrize("kind", ["sample_weight", "class_weight"])
def test_weighted_training_matches_keras(kind):
    """fit with sample_weight or class_weight: the same losses, metrics and weights as Keras;
    evaluate with sample_weight too."""
    km = _keras([KL.LSTM(4), KL.Dense(3, activation="softmax")])
    model = Sequential([LSTM(4, input_shape=(T, F)), Dense(3, activation="softmax")])
    _copy_weights(km, model, scale=0.4)
    rng = np.random.default_rng(15)
    x = rng.normal(size=(20, T, F)).astype(np.float32)
    labels = rng.integers(0, 3, 20)
    kwargs = ({"sample_weight": rng.uniform(0.0, 2.0, 20).astype(np.float32)}
              if kind == "sample_weight" else {"class_weight": {0: 0.5, 1: 2.0, 2: 1.0}})
    with _quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        kh = km.fit(x, labels, batch_size=8, epochs=3, shuffle=False, verbose=0, **kwargs)
        kw = km.get_weights()
    model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, labels, batch_size=8, epochs=3, shuffle=False, verbose=0, **kwargs)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(h.history["accuracy"], kh.history["accuracy"], rtol=1e-4)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
    if kind == "sample_weight":
        sw = kwargs["sample_weight"]
        with _quiet():
            kev = km.evaluate(x, labels, sample_weight=sw, batch_size=8, verbose=0)
        np.testing.assert_allclose(model.evaluate(x, labels, sample_weight=sw, batch_size=8,
                                                  verbose=0), kev, rtol=1e-4)


def test_regularized_training_matches_keras():
    """Kernel, recurrent and bias regularizers: the reported losses include the penalty and
    the weights follow the penalised gradient, as in Keras."""
    from lstmcore import regularizers
    R = keras.regularizers
    km = _keras([KL.LSTM(4, kernel_regularizer=R.L1(0.01), recurrent_regularizer=R.L2(0.02),
                         bias_regularizer=R.L1L2(l1=0.003, l2=0.004)),
                 KL.Dense(1, kernel_regularizer=R.L2(0.05))])
    model = Sequential([LSTM(4, input_shape=(T, F), kernel_regularizer=regularizers.l1(0.01),
                             recurrent_regularizer=regularizers.l2(0.02),
                             bias_regularizer=regularizers.l1_l2(0.003, 0.004)),
                        Dense(1, kernel_regularizer=regularizers.l2(0.05))])
    _copy_weights(km, model, scale=0.4)
    rng = np.random.default_rng(16)
    x = rng.normal(size=(20, T, F)).astype(np.float32)
    y = rng.normal(size=(20, 1)).astype(np.float32)
    with _quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
        kh = km.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        kw = km.get_weights()
        kev = km.evaluate(x, y, verbose=0)
    model.compile(optimizer=Adam(learning_rate=0.01), loss="mse")
    h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), kev, rtol=1e-4)


def test_input_spellings_match_keras():
    """Keras 3's `Input(shape=...)` and `Input(batch_shape=...)` (stateful) first entries."""
    from lstmcore import Input
    km = _keras([KL.LSTM(4), KL.Dense(2)])
    model = Sequential([Input(shape=(T, F)), LSTM(4), Dense(2)])
    _copy_weights(km, model)
    x = _rand((5, T, F), 17)
    np.testing.assert_allclose(model.predict(x), _kpredict(km, x), rtol=1e-5, atol=1e-5)
    km = _keras([KL.LSTM(3, stateful=True), KL.Dense(1)], batch_size=5)
    model = Sequential([Input(batch_shape=(5, T, F)), LSTM(3, stateful=True), Dense(1)])
    _copy_weights(km, model)
    for _ in range(2):  # the state carries over in both
        np.testing.assert_allclose(model.predict(x, batch_size=5),
                                   _kpredict(km, x, batch_size=5), rtol=1e-5, atol=1e-5)
