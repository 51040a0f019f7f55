"""Model-level numerics: every architecture against the float64 NumPy reference
(``lstmcore.reference``), optimizer steps, a ten-step training run, learning on small
problems, determinism across threads and seeds, and the Sequential API's bookkeeping
(validation split, evaluate's weighting, predict_classes, weights layout, summary).

Tolerances. Inputs and weights are float32 values; the reference computes with the same
values in float64, so a difference is the native float32 rounding. A forward value is a chain
of reductions of length F + H (+ the recurrence over T steps, which contracts through the
gates), so forward outputs use ``close32`` (conftest: rtol = 8*eps32*sqrt(n)); measured errors
are around 1e-7 on O(1) outputs. Gradients are sums over the batch and time as well
(n = B*T*(F+H)); an updated weight carries the additional rounding of ``w + update`` (eps32*|w|).
"""

import lstmcore
import numpy as np
import pytest
from conftest import EPS32, build_reference
from lstmcore import _arrays
from lstmcore import reference as ref
from lstmcore.layers import (
    LSTM,
    Activation,
    Bidirectional,
    Dense,
    Dropout,
    RepeatVector,
    TimeDistributed,
)
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD, Adam, RMSprop


def _rand(shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def _randomize(model, seed=1, scale=0.5):
    """Replace the model's weights by N(0, scale) values, so that gates leave the linear
    regime of the default initialisation (forget bias 1, small kernels) and every path in the
    cell matters; returns the new weights."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=scale, size=w.shape) for w in model.get_weights()])
    return model.get_weights()


def _close(actual, expected, n_terms):
    rtol = 8 * EPS32 * np.sqrt(n_terms)
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def _flat(grads):
    return [g for layer in grads for g in layer]


# ---------------------------------------------------------------------------------------------
# Forward: predictions equal the reference
# ---------------------------------------------------------------------------------------------
B, T, F = 7, 6, 3

ARCHS = {
    "lstm_dense": (
        lambda: [LSTM(5, input_shape=(T, F)), Dense(2)],
        [{"type": "lstm"}, {"type": "dense"}]),
    "stacked": (
        lambda: [LSTM(5, input_shape=(T, F), return_sequences=True), LSTM(4), Dense(2)],
        [{"type": "lstm", "return_sequences": True}, {"type": "lstm"}, {"type": "dense"}]),
    "dense_on_3d": (
        lambda: [LSTM(5, input_shape=(T, F), return_sequences=True), Dense(2, activation="tanh")],
        [{"type": "lstm", "return_sequences": True}, {"type": "dense", "activation": "tanh"}]),
    "time_distributed": (
        lambda: [LSTM(5, input_shape=(T, F), return_sequences=True),
                 TimeDistributed(Dense(2, activation="relu"))],
        [{"type": "lstm", "return_sequences": True},
         {"type": "time_distributed", "layer": {"type": "dense", "activation": "relu"}}]),
    "encoder_decoder": (
        lambda: [LSTM(5, input_shape=(T, F)), RepeatVector(4), LSTM(3, return_sequences=True),
                 TimeDistributed(Dense(4, activation="softmax"))],
        [{"type": "lstm"}, {"type": "repeat_vector", "n": 4},
         {"type": "lstm", "return_sequences": True},
         {"type": "time_distributed", "layer": {"type": "dense", "activation": "softmax"}}]),
    "hard_sigmoid": (
        lambda: [LSTM(5, input_shape=(T, F), recurrent_activation="hard_sigmoid"), Dense(2)],
        [{"type": "lstm", "recurrent_activation": "hard_sigmoid"}, {"type": "dense"}]),
    "hard_sigmoid_keras2": (
        lambda: [LSTM(5, input_shape=(T, F), recurrent_activation="hard_sigmoid_keras2",
                      activation="relu"), Dense(2)],
        [{"type": "lstm", "recurrent_activation": "hard_sigmoid_keras2", "activation": "relu"},
         {"type": "dense"}]),
    "go_backwards": (
        lambda: [LSTM(5, input_shape=(T, F), go_backwards=True), Dense(2)],
        [{"type": "lstm", "go_backwards": True}, {"type": "dense"}]),
    "go_backwards_sequences": (
        lambda: [LSTM(5, input_shape=(T, F), go_backwards=True, return_sequences=True), Dense(2)],
        [{"type": "lstm", "go_backwards": True, "return_sequences": True}, {"type": "dense"}]),
    "activation_layer": (
        lambda: [LSTM(5, input_shape=(T, F)), Dense(3), Activation("softmax")],
        [{"type": "lstm"}, {"type": "dense"}, {"type": "activation", "activation": "softmax"}]),
    "dropout_is_identity_at_inference": (
        lambda: [LSTM(5, input_shape=(T, F), dropout=0.5, return_sequences=True), Dropout(0.5),
                 LSTM(4), Dropout(0.3), Dense(2)],
        [{"type": "lstm", "return_sequences": True}, {"type": "dropout", "rate": 0.5},
         {"type": "lstm"}, {"type": "dropout", "rate": 0.3}, {"type": "dense"}]),
    "keras1_input_dim_input_length": (
        lambda: [LSTM(5, input_dim=F, input_length=T), Dense(2)],
        [{"type": "lstm"}, {"type": "dense"}]),
}
for _mode in ("concat", "sum", "mul", "ave"):
    for _rs in (False, True):
        ARCHS[f"bidirectional_{_mode}_{'seq' if _rs else 'last'}"] = (
            lambda m=_mode, rs=_rs: [Bidirectional(LSTM(5, return_sequences=rs), merge_mode=m,
                                                   input_shape=(T, F)), Dense(2)],
            [{"type": "bidirectional", "merge_mode": _mode, "return_sequences": _rs,
              "forward": {"return_sequences": _rs}, "backward": {"return_sequences": _rs}},
             {"type": "dense"}])


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_predict_equals_reference(arch, simd):
    make, specs = ARCHS[arch]
    model = Sequential(make())
    x = _rand((B, T, F), seed=2)
    for randomize in (False, True):  # Keras' initial weights, then larger random ones
        if randomize:
            _randomize(model)
        expected = build_reference(specs, model.get_weights()).forward(x.astype(np.float64))
        got = model.predict(x)
        assert got.dtype == np.float32 and got.shape == expected.shape
        _close(got, expected, n_terms=T * (F + 5))
        # another batch size (a partial last batch) gives the same rows
        np.testing.assert_allclose(model.predict(x, batch_size=3), got, rtol=0, atol=1e-6)


def test_hard_sigmoid_is_keras3_form_not_sigmoid():
    # a model that ignored recurrent_activation would match the sigmoid reference instead
    model = Sequential([LSTM(5, input_shape=(T, F), recurrent_activation="hard_sigmoid"), Dense(2)])
    w = _randomize(model, scale=1.0)
    x = _rand((B, T, F), seed=2, scale=2.0)
    got = model.predict(x)
    specs = [{"type": "lstm", "recurrent_activation": "hard_sigmoid"}, {"type": "dense"}]
    sig = [{"type": "lstm", "recurrent_activation": "sigmoid"}, {"type": "dense"}]
    k2 = [{"type": "lstm", "recurrent_activation": "hard_sigmoid_keras2"}, {"type": "dense"}]
    x64 = x.astype(np.float64)
    _close(got, build_reference(specs, w).forward(x64), n_terms=T * (F + 5))
    assert np.abs(got - build_reference(sig, w).forward(x64)).max() > 1e-2
    assert np.abs(got - build_reference(k2, w).forward(x64)).max() > 1e-2


def test_dense_on_3d_equals_time_distributed_dense():
    a = Sequential([LSTM(4, input_shape=(T, F), return_sequences=True), Dense(3)])
    b = Sequential([LSTM(4, input_shape=(T, F), return_sequences=True), TimeDistributed(Dense(3))])
    b.set_weights(_randomize(a))
    x = _rand((B, T, F), seed=4)
    pa, pb = a.predict(x), b.predict(x)
    assert pa.shape == (B, T, 3)
    np.testing.assert_array_equal(pa, pb)


def test_variable_length_input_shape_none():
    model = Sequential([LSTM(4, input_shape=(None, F), return_sequences=True), Dense(2)])
    specs = [{"type": "lstm", "return_sequences": True}, {"type": "dense"}]
    r = build_reference(specs, _randomize(model))
    for steps in (1, 4, 9):
        x = _rand((3, steps, F), seed=steps)
        got = model.predict(x)
        assert got.shape == (3, steps, 2)
        _close(got, r.forward(x.astype(np.float64)), n_terms=steps * (F + 4))


def test_lstm_layer_called_on_its_own_with_state():
    layer = LSTM(4, return_sequences=True, return_state=True)
    x = _rand((3, T, F), seed=5)
    h0, c0 = _rand((3, 4), seed=6), _rand((3, 4), seed=7)
    out, h, c = layer(x, initial_state=[h0, c0])
    w = [a.astype(np.float64) for a in layer.get_weights()]
    hs, hT, cT, _ = ref.lstm_forward(x.astype(np.float64), *w, h0=h0.astype(np.float64),
                                     c0=c0.astype(np.float64))
    assert out.shape == (3, T, 4) and h.shape == c.shape == (3, 4)
    for got, exp in ((out, hs), (h, hT), (c, cT)):
        _close(got, exp, n_terms=T * (F + 4))
    np.testing.assert_array_equal(out[:, -1], h)


# ---------------------------------------------------------------------------------------------
# One optimizer step equals the reference update
# ---------------------------------------------------------------------------------------------
N_STEP = 8
LOSS_CASES = {
    # loss: (output activation, output width, targets)
    "mse": (None, 2, lambda r: r.normal(size=(N_STEP, 2))),
    # offset targets: with balanced signs the mae bias gradient (a mean of signs) could be 0
    "mean_absolute_error": (None, 2, lambda r: r.normal(size=(N_STEP, 2)) + 1.0),
    "binary_crossentropy": ("sigmoid", 1, lambda r: r.integers(0, 2, (N_STEP, 1)).astype(float)),
    "categorical_crossentropy": ("softmax", 3, lambda r: np.eye(3)[r.integers(0, 3, N_STEP)]),
    "sparse_categorical_crossentropy": ("softmax", 3, lambda r: r.integers(0, 3, N_STEP)),
}


def _step_model(loss, optimizer, seed=5):
    act, width, make_y = LOSS_CASES[loss]
    rng = np.random.default_rng(seed)
    model = Sequential([LSTM(4, input_shape=(5, 3)), Dense(width, activation=act)])
    w0 = _randomize(model, seed=seed)
    model.compile(optimizer=optimizer, loss=loss)
    x = rng.normal(size=(N_STEP, 5, 3)).astype(np.float32)
    y = make_y(rng)
    specs = [{"type": "lstm"}, {"type": "dense", "activation": act or "linear"}]
    r = build_reference(specs, w0)
    value, grads = r.loss_and_grads(x.astype(np.float64), y, loss)
    return model, x, y, w0, float(value), _flat(grads)


def _grad_tol(g):
    """Absolute tolerance on a float32 gradient: relative 1e-5 plus 1e-6 of the largest entry
    of that array (sums of B*T*(F+H) = 320 terms; measured errors are ~1e-7 relative)."""
    return 1e-5 * np.abs(g) + 1e-6 * np.abs(g).max()


@pytest.mark.parametrize("loss", sorted(LOSS_CASES))
def test_one_sgd_step_is_minus_lr_times_reference_gradient(loss):
    lr = 0.1
    model, x, y, w0, value, grads = _step_model(loss, SGD(learning_rate=lr))
    reported = model.train_on_batch(x, y)
    assert isinstance(reported, float)
    assert reported == pytest.approx(value, rel=1e-5)  # the loss before the update
    w1 = model.get_weights()
    assert len(w1) == len(grads) == 5
    for i, (a0, a1, g) in enumerate(zip(w0, w1, grads)):
        assert np.abs(g).max() > 1e-3, f"weight {i}: gradient too small for a meaningful check"
        delta = a1.astype(np.float64) - a0.astype(np.float64)
        # a1 is rounded to float32: eps32*|w| on top of lr times the gradient tolerance
        tol = EPS32 * np.abs(a1) + lr * _grad_tol(g)
        err = np.abs(delta - (-lr * g))
        assert (err <= tol).all(), f"weight {i}: max error {err.max()} (tolerance {tol.max()})"
    assert model.optimizer.iterations == 1


def _update_tol(step, w0, g):
    """Tolerance on a nonlinear update (Adam, RMSprop): how far the reference update moves when
    the gradient moves within its own tolerance, plus float32 rounding of the update's few
    operations and of the new weight."""
    d = _grad_tol(g)
    base = step(g)
    spread = np.maximum(np.abs(step(g + d) - base), np.abs(step(g - d) - base))
    return spread + 4 * EPS32 * (np.abs(base) + np.abs(base - w0))


@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy", "sparse_categorical_crossentropy"])
def test_one_adam_step_equals_reference(loss):
    lr = 0.05
    model, x, y, w0, value, grads = _step_model(loss, Adam(learning_rate=lr))
    model.train_on_batch(x, y)
    for i, (a0, a1, g) in enumerate(zip(w0, model.get_weights(), grads)):
        a0 = a0.astype(np.float64)
        z = np.zeros_like(a0)
        def step(gg, a0=a0, z=z):
            return ref.adam_step(a0, gg, z, z, 1, lr=lr)[0]
        expected = step(g)
        err = np.abs(a1 - expected)
        tol = _update_tol(step, a0, g)
        assert (err <= tol).all(), f"weight {i}: max error {err.max()}"
        # Adam's first step moves every weight with a clear gradient by about lr
        clear = np.abs(g) > 1e-4
        np.testing.assert_allclose(np.abs(a1 - a0)[clear], lr, rtol=0.05)


@pytest.mark.parametrize("loss", ["mse", "categorical_crossentropy"])
def test_one_rmsprop_step_equals_reference(loss):
    lr = 0.01
    model, x, y, w0, value, grads = _step_model(loss, RMSprop(learning_rate=lr))
    model.train_on_batch(x, y)
    for i, (a0, a1, g) in enumerate(zip(w0, model.get_weights(), grads)):
        a0 = a0.astype(np.float64)
        z = np.zeros_like(a0)
        def step(gg, a0=a0, z=z):
            return ref.rmsprop_step(a0, gg, z, lr=lr)[0]
        err = np.abs(a1 - step(g))
        assert (err <= _update_tol(step, a0, g)).all(), f"weight {i}: max error {err.max()}"


def test_two_sgd_momentum_steps_equal_reference():
    lr, mom = 0.1, 0.9
    model, x, y, w0, value, grads = _step_model("mse", SGD(learning_rate=lr, momentum=mom,
                                                           nesterov=True))
    specs = [{"type": "lstm"}, {"type": "dense"}]
    w = [a.astype(np.float64) for a in w0]
    v = [np.zeros_like(a) for a in w]
    for _ in range(2):
        model.train_on_batch(x, y)
        _, g = build_reference(specs, w).loss_and_grads(x.astype(np.float64), y, "mse")
        out = [ref.sgd_step(a, gg, vv, lr, momentum=mom, nesterov=True)
               for a, gg, vv in zip(w, _flat(g), v)]
        w, v = [o[0] for o in out], [o[1] for o in out]
    for i, (a, e) in enumerate(zip(model.get_weights(), w)):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")


STEP_ARCHS = ["stacked", "encoder_decoder", "bidirectional_concat_seq", "bidirectional_mul_last",
              "go_backwards_sequences", "hard_sigmoid", "time_distributed"]


@pytest.mark.parametrize("arch", STEP_ARCHS)
def test_sgd_step_through_every_layer_type(arch, simd):
    """Backward of every layer: one mse SGD step equals the reference gradient step."""
    make, specs = ARCHS[arch]
    model = Sequential(make())
    w0 = _randomize(model, seed=7)
    lr = 0.5
    model.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    x = _rand((B, T, F), seed=8)
    y = _rand((B,) + model.output_shape[1:], seed=9)
    _, grads = build_reference(specs, w0).loss_and_grads(x.astype(np.float64), y, "mse")
    model.train_on_batch(x, y)
    for i, (a0, a1, g) in enumerate(zip(w0, model.get_weights(), _flat(grads))):
        delta = a1.astype(np.float64) - a0
        tol = EPS32 * np.abs(a1) + lr * _grad_tol(g)
        err = np.abs(delta + lr * g)
        assert (err <= tol).all(), f"weight {i}: max error {err.max()} (tolerance {tol.max()})"


def test_sparse_and_categorical_crossentropy_train_identically():
    x = _rand((24, 5, 3), seed=1)
    labels = np.random.default_rng(2).integers(0, 3, 24)
    results = []
    for loss, y in (("sparse_categorical_crossentropy", labels),
                    ("categorical_crossentropy", np.eye(3)[labels])):
        lstmcore.set_seed(0)
        m = Sequential([LSTM(4, input_shape=(5, 3)), Dense(3, activation="softmax")])
        m.compile(optimizer=Adam(0.01), loss=loss, metrics=["accuracy"])
        h = m.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
        results.append((h.history, m.get_weights()))
    (h1, w1), (h2, w2) = results
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-6)
    assert h1["accuracy"] == h2["accuracy"]
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# A ten-epoch training run equals a reference training loop
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [10, 32])
def test_ten_epochs_match_reference_loop(batch_size):
    n, lr, mom = 32, 0.1, 0.5
    rng = np.random.default_rng(11)
    x = rng.normal(size=(n, 6, 2)).astype(np.float32)
    y = np.tanh(x.sum(axis=1)[:, :1] * 0.5)
    model = Sequential([LSTM(4, input_shape=(6, 2)), Dense(1)])
    w0 = _randomize(model, scale=0.3)
    model.compile(optimizer=SGD(learning_rate=lr, momentum=mom), loss="mse")
    history = model.fit(x, y, batch_size=batch_size, epochs=10, shuffle=False, verbose=0)

    specs = [{"type": "lstm"}, {"type": "dense"}]
    w = [a.astype(np.float64) for a in w0]
    v = [np.zeros_like(a) for a in w]
    expected = []
    for _ in range(10):
        total = 0.0
        for s in range(0, n, batch_size):
            xb, yb = x[s:s + batch_size].astype(np.float64), y[s:s + batch_size]
            value, g = build_reference(specs, w).loss_and_grads(xb, yb, "mse")
            total += float(value) * len(xb)  # History: batches weighted by their size
            out = [ref.sgd_step(a, gg, vv, lr, momentum=mom) for a, gg, vv in zip(w, _flat(g), v)]
            w, v = [o[0] for o in out], [o[1] for o in out]
        expected.append(total / n)
    assert len(history.history["loss"]) == 10
    assert expected[-1] < 0.9 * expected[0]  # it trained: the comparison is not of constants
    # float32 vs float64 trajectories drift slowly: 1e-4 relative after 10 * 4 steps
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-4)
    for a, e in zip(model.get_weights(), w):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Learning works
# ---------------------------------------------------------------------------------------------
def _binary_problem(n, seed):
    """Class c in {0, 1}; each of 8 steps is (2c-1) + N(0, 1): Bayes accuracy 99.8%."""
    r = np.random.default_rng(seed)
    c = r.integers(0, 2, n)
    return (2 * c - 1)[:, None, None] + r.normal(size=(n, 8, 1)), c.astype(float)


def _regression_problem(n, seed):
    """y = mean of 8 uniform(-1, 1) steps; var(y) = 1/24 = 0.042."""
    x = np.random.default_rng(seed).uniform(-1, 1, size=(n, 8, 1))
    return x, x.mean(axis=1)


def _multiclass_problem(n, seed):
    """Class c in {0, 1, 2}; each of 8 steps is 1.5*onehot(c) + N(0, I3)."""
    r = np.random.default_rng(seed)
    c = r.integers(0, 3, n)
    return np.eye(3)[c][:, None, :] * 1.5 + r.normal(size=(n, 8, 3)), c


OPTIMIZERS = {"sgd": lambda: SGD(learning_rate=0.1, momentum=0.9),
              "adam": lambda: Adam(learning_rate=0.01),
              "rmsprop": lambda: RMSprop(learning_rate=0.01)}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse"])
def test_learns_binary_classification(opt, loss):
    x, y = _binary_problem(256, 1)
    xt, yt = _binary_problem(1000, 2)
    model = Sequential([LSTM(8, input_shape=(8, 1)), Dense(1, activation="sigmoid")])
    model.compile(optimizer=OPTIMIZERS[opt](), loss=loss, metrics=["accuracy"])
    _, acc0 = model.evaluate(xt, yt, verbose=0)
    model.fit(x, y, batch_size=32, epochs=20, verbose=0)
    _, acc = model.evaluate(xt, yt, verbose=0)
    assert acc0 < 0.8 <= 0.95 <= acc  # held-out accuracy, from chance to >= 95%


# mae with plain SGD is left out: its gradient has a constant magnitude, so SGD needs several
# times more epochs to settle (measured: held-out mse 5e-3 after 40 epochs)
@pytest.mark.parametrize("opt,loss", [("sgd", "mse"), ("adam", "mse"), ("rmsprop", "mse"),
                                      ("adam", "mae"), ("rmsprop", "mae")])
def test_learns_regression(opt, loss):
    x, y = _regression_problem(256, 1)
    xt, yt = _regression_problem(1000, 2)
    model = Sequential([LSTM(8, input_shape=(8, 1)), Dense(1)])
    model.compile(optimizer=OPTIMIZERS[opt](), loss=loss, metrics=["mse"])
    model.fit(x, y, batch_size=32, epochs=40, verbose=0)
    _, mse = model.evaluate(xt, yt, verbose=0)
    assert mse < 2e-3  # < 5% of var(y); predicting the mean gives 0.042


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_learns_multiclass(opt, loss):
    x, c = _multiclass_problem(256, 1)
    xt, ct = _multiclass_problem(1000, 2)
    y, yt = (np.eye(3)[c], np.eye(3)[ct]) if loss == "categorical_crossentropy" else (c, ct)
    model = Sequential([LSTM(8, input_shape=(8, 3)), Dense(3, activation="softmax")])
    model.compile(optimizer=OPTIMIZERS[opt](), loss=loss, metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=20, verbose=0)
    _, acc = model.evaluate(xt, yt, verbose=0)
    assert acc >= 0.95
    assert np.mean(model.predict_classes(xt) == ct) == pytest.approx(acc)


# ---------------------------------------------------------------------------------------------
# Determinism: threads and seeds
# ---------------------------------------------------------------------------------------------
def _seeded_fit(seed=0, fit_seed=None, epochs=1, dropout=0.0, units=96):
    """Per step the recurrent product is 2*B*H*4H = 2.4 MFLOP for B=32, H=96: above the
    native threshold (1 MFLOP), so a second thread takes half of the 4H columns."""
    lstmcore.set_seed(seed)
    x = _rand((64, 8, 16), seed=21)
    y = _rand((64, 4), seed=22)
    model = Sequential([LSTM(units, input_shape=(8, 16), dropout=dropout), Dense(4)])
    model.compile(optimizer=Adam(0.01), loss="mse")
    h = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, seed=fit_seed)
    return model.get_weights(), h.history["loss"]


def test_thread_count_does_not_change_results(threads):
    if not lstmcore.build_info()["openmp"]:
        pytest.skip("built without OpenMP: one thread only")
    lstmcore.set_num_threads(1)
    assert lstmcore.get_num_threads() == 1
    w1, l1 = _seeded_fit(dropout=0.2)
    lstmcore.set_num_threads(2)
    assert lstmcore.get_num_threads() == 2
    w2, l2 = _seeded_fit(dropout=0.2)
    assert l1 == l2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


def test_omp_num_threads_is_honoured():
    import os
    import subprocess
    import sys
    if not lstmcore.build_info()["openmp"]:
        pytest.skip("built without OpenMP")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    out = subprocess.run([sys.executable, "-c", "import lstmcore; print(lstmcore.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_two_seeded_runs_are_bit_identical():
    w1, l1 = _seeded_fit(seed=3, dropout=0.2, epochs=2, units=16)
    w2, l2 = _seeded_fit(seed=3, dropout=0.2, epochs=2, units=16)
    assert l1 == l2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    w3, _ = _seeded_fit(seed=4, dropout=0.2, epochs=2, units=16)
    assert not np.array_equal(w1[0], w3[0])


def test_fit_seed_reproduces_one_fit():
    x = _rand((40, 5, 2), seed=1)
    y = _rand((40, 1), seed=2)
    model = Sequential([LSTM(4, input_shape=(5, 2), dropout=0.3), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    w0 = model.get_weights()
    runs = []
    for fit_seed in (7, 99, 7):
        model.set_weights(w0)
        model.compile(optimizer="adam", loss="mse")  # fresh optimizer state
        lstmcore.set_seed(fit_seed + 1000)  # the global stream must not matter
        h = model.fit(x, y, batch_size=8, epochs=3, verbose=0, seed=fit_seed)
        runs.append((h.history["loss"], model.get_weights()))
    assert runs[0][0] == runs[2][0]
    for a, b in zip(runs[0][1], runs[2][1]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][0] != runs[1][0]  # another seed shuffles differently


# ---------------------------------------------------------------------------------------------
# fit's bookkeeping: validation, history, initial_epoch
# ---------------------------------------------------------------------------------------------
def _small_compiled(metrics=("mae",)):
    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)])
    model.compile(optimizer=SGD(0.05), loss="mse", metrics=list(metrics))
    return model


def test_validation_split_takes_the_last_samples_before_shuffling():
    x = _rand((40, 4, 2), seed=1)
    y = _rand((40, 1), seed=2)
    model = _small_compiled()
    w0 = model.get_weights()
    h = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.25, shuffle=True, verbose=0,
                  seed=5)
    assert set(h.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert all(len(v) == 3 for v in h.history.values())
    assert h.params["samples"] == 30
    # val_* of the last epoch = evaluate on the last 10 samples with the final weights
    val_loss, val_mae = model.evaluate(x[30:], y[30:], verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert h.history["val_mae"][-1] == pytest.approx(val_mae, rel=1e-6)
    # training saw exactly the first 30 samples: same as fitting them alone with the same seed
    w_split = model.get_weights()
    other = _small_compiled()
    other.set_weights(w0)
    h2 = other.fit(x[:30], y[:30], batch_size=8, epochs=3, shuffle=True, verbose=0, seed=5)
    assert h2.history["loss"] == h.history["loss"]
    for a, b in zip(w_split, other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_validation_data_and_history_keys():
    x, y = _rand((24, 4, 2), seed=1), _rand((24, 1), seed=2)
    xv, yv = _rand((9, 4, 2), seed=3), _rand((9, 1), seed=4)
    model = _small_compiled(metrics=("mae", "mse"))
    h = model.fit(x, y, batch_size=8, epochs=4, validation_data=(xv, yv), verbose=0)
    assert list(h.history) == ["loss", "mae", "mse", "val_loss", "val_mae", "val_mse"]
    assert h.epoch == [0, 1, 2, 3]
    assert all(len(v) == 4 and all(isinstance(e, float) for e in v) for v in h.history.values())
    assert h.history["val_loss"][-1] == pytest.approx(model.evaluate(xv, yv, verbose=0)[0], rel=1e-6)
    # for mse, the loss and the mse metric are the same number
    np.testing.assert_allclose(h.history["val_loss"], h.history["val_mse"], rtol=1e-6)
    np.testing.assert_allclose(h.history["loss"], h.history["mse"], rtol=1e-6)


def test_initial_epoch_resumes_the_count():
    x, y = _rand((16, 4, 2), seed=1), _rand((16, 1), seed=2)
    model = _small_compiled()
    h = model.fit(x, y, batch_size=8, epochs=5, initial_epoch=3, verbose=0)
    assert h.epoch == [3, 4]
    assert len(h.history["loss"]) == 2
    assert model.optimizer.iterations == 2 * 2  # two epochs of two batches


def test_history_loss_is_the_sample_weighted_epoch_mean():
    # batch losses recorded by a callback, weighted by batch sizes 8, 8, 4
    from lstmcore.callbacks import LambdaCallback
    x, y = _rand((20, 4, 2), seed=1), _rand((20, 1), seed=2)
    model = _small_compiled(metrics=())
    seen = []
    cb = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs["loss"]))
    h = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
    assert len(seen) == 3
    expected = (8 * seen[0] + 8 * seen[1] + 4 * seen[2]) / 20
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# evaluate, predict_classes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss,act,width", [("mse", None, 2), ("binary_crossentropy", "sigmoid", 1),
                                            ("categorical_crossentropy", "softmax", 3)])
def test_evaluate_is_the_sample_weighted_mean_with_a_partial_batch(loss, act, width):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(11, 4, 2)).astype(np.float32)
    if loss == "mse":
        y = rng.normal(size=(11, width))
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (11, 1)).astype(float)
    else:
        y = np.eye(3)[rng.integers(0, 3, 11)]
    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(width, activation=act)])
    _randomize(model)
    model.compile(optimizer="sgd", loss=loss, metrics=["mae"] if loss == "mse" else ["accuracy"])
    p = model.predict(x).astype(np.float64)
    expected = float(ref.loss_forward(loss, y, p))  # the mean over all 11 samples
    for bs in (4, 5, 11, 32):  # 4+4+3, 5+5+1, one batch, one batch
        res = model.evaluate(x, y, batch_size=bs, verbose=0)
        assert res[0] == pytest.approx(expected, rel=1e-5), bs
    if loss == "mse":
        assert res[1] == pytest.approx(ref.metric("mae", y, p), rel=1e-5)
    elif loss == "binary_crossentropy":
        assert res[1] == pytest.approx(ref.metric("binary_accuracy", y, p))
    else:
        assert res[1] == pytest.approx(ref.metric("categorical_accuracy", y, p))


def test_predict_classes_argmax_and_threshold():
    x = _rand((12, 4, 2), seed=1)
    multi = Sequential([LSTM(3, input_shape=(4, 2)), Dense(4, activation="softmax")])
    _randomize(multi, scale=1.5)
    p = multi.predict(x)
    c = multi.predict_classes(x)
    assert c.shape == (12,)
    np.testing.assert_array_equal(c, p.argmax(axis=-1))
    assert len(set(c.tolist())) > 1

    single = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1, activation="sigmoid")])
    _randomize(single, scale=1.5)
    # shift the output bias by the median logit, so that half the samples are above 0.5
    p0 = single.predict(x).astype(np.float64)[:, 0]
    kernel, bias = single.layers[1].get_weights()
    single.layers[1].set_weights([kernel, bias - np.median(np.log(p0 / (1 - p0)))])
    p1 = single.predict(x)
    c1 = single.predict_classes(x)
    assert c1.shape == (12, 1) and c1.dtype == np.int32
    np.testing.assert_array_equal(c1, (p1 > 0.5).astype(np.int32))
    assert c1.sum() == 6
    np.testing.assert_array_equal(single.predict_proba(x), p1)


def test_train_test_predict_on_batch():
    x, y = _rand((6, 4, 2), seed=1), _rand((6, 1), seed=2)
    model = _small_compiled(metrics=())
    p = model.predict(x)
    np.testing.assert_array_equal(model.predict_on_batch(x), p)
    before = model.test_on_batch(x, y)
    assert before == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    trained = model.train_on_batch(x, y)
    assert trained == pytest.approx(before, rel=1e-6)  # the loss before the update
    assert model.test_on_batch(x, y) < before


# ---------------------------------------------------------------------------------------------
# Weights, parameters and summary
# ---------------------------------------------------------------------------------------------
def test_initial_weights_keras_layout_and_initialisers():
    Fi, H = 3, 5
    model = Sequential([LSTM(H, input_shape=(7, Fi)), Dense(2)])
    k, u, b, dk, db = model.get_weights()
    assert [w.dtype for w in model.get_weights()] == [np.float32] * 5
    assert k.shape == (Fi, 4 * H) and u.shape == (H, 4 * H) and b.shape == (4 * H,)
    assert dk.shape == (H, 2) and db.shape == (2,)
    # glorot_uniform kernels: |w| <= sqrt(6 / (fan_in + fan_out))
    assert np.abs(k).max() <= np.sqrt(6 / (Fi + 4 * H)) and np.abs(k).std() > 0
    assert np.abs(dk).max() <= np.sqrt(6 / (H + 2))
    # orthogonal recurrent kernel (H, 4H): orthonormal rows
    np.testing.assert_allclose(u @ u.T, np.eye(H), atol=1e-5)
    # zero biases, forget block (second quarter) = 1
    np.testing.assert_array_equal(b, np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])
    np.testing.assert_array_equal(db, np.zeros(2))
    lay = model.layers[0].get_weights()
    for a, b2 in zip(lay, (k, u, b)):
        np.testing.assert_array_equal(a, b2)


def test_unit_forget_bias_false_and_no_bias():
    m1 = Sequential([LSTM(3, input_shape=(2, 1), unit_forget_bias=False)])
    np.testing.assert_array_equal(m1.get_weights()[2], np.zeros(12))
    m2 = Sequential([LSTM(3, input_shape=(2, 1), use_bias=False), Dense(1, use_bias=False)])
    assert [w.shape for w in m2.get_weights()] == [(1, 12), (3, 12), (3, 1)]
    assert m2.count_params() == 12 + 36 + 3


def test_get_weights_returns_copies_and_set_weights_round_trips():
    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)])
    w = model.get_weights()
    w[0][...] = 123.0
    assert not (model.get_weights()[0] == 123.0).any()
    new = [_rand(a.shape, seed=i) for i, a in enumerate(w)]
    model.set_weights([a.astype(np.float64) for a in new])
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    x = _rand((5, 4, 2), seed=9)
    r = build_reference([{"type": "lstm"}, {"type": "dense"}], new)
    _close(model.predict(x), r.forward(x.astype(np.float64)), n_terms=4 * 5)
    # layer-level set_weights changes the model's predictions too
    model.layers[1].set_weights([np.zeros((3, 1)), np.array([0.25])])
    np.testing.assert_array_equal(model.predict(x), np.full((5, 1), 0.25, np.float32))


def test_bidirectional_weights_forward_then_backward():
    model = Sequential([Bidirectional(LSTM(3), input_shape=(4, 2)), Dense(1)])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(2, 12), (3, 12), (12,), (2, 12), (3, 12), (12,), (6, 1), (1,)]
    assert model.count_params() == 2 * (24 + 36 + 12) + 7


def test_count_params_and_summary():
    model = Sequential([LSTM(8, input_shape=(10, 3), return_sequences=True), LSTM(4),
                        RepeatVector(5), LSTM(6, return_sequences=True),
                        TimeDistributed(Dense(2, activation="softmax"))])
    counts = [4 * 8 * (3 + 8 + 1), 0, 0, 0, 0]
    counts[1] = 4 * 4 * (8 + 4 + 1)
    counts[3] = 4 * 6 * (4 + 6 + 1)
    counts[4] = 6 * 2 + 2
    assert [l.count_params() for l in model.layers] == counts
    assert model.count_params() == sum(counts) == sum(w.size for w in model.get_weights())
    lines = []
    model.summary(print_fn=lines.append)
    rows = [l for l in lines if l.startswith(" ") and "(" in l and ")" in l and "Layer" not in l]
    assert len(rows) == 5
    shapes = ["(None, 10, 8)", "(None, 4)", "(None, 5, 4)", "(None, 5, 6)", "(None, 5, 2)"]
    for row, shape, count in zip(rows, shapes, counts):
        assert shape in row and row.split()[-1] == str(count), row
    assert f"Total params: {sum(counts):,}" in lines


def test_accuracy_is_resolved_for_the_final_output_width():
    """'accuracy' becomes binary accuracy for one output unit (Keras decides from the output
    shape when the metric is first used), even when the last layer was added after compile."""
    x = _rand((6, 4, 2), seed=1)
    y = np.array([0, 1, 0, 1, 0, 1.0]).reshape(6, 1)
    model = Sequential([LSTM(3, input_shape=(4, 2))])
    model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])
    model.add(Dense(1, activation="sigmoid"))
    p = model.predict(x)
    _, acc = model.evaluate(x, y, verbose=0)
    assert acc == pytest.approx(np.mean((p > 0.5) == y))


def test_model_builds_from_data_without_input_shape():
    model = Sequential([LSTM(3), Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match="not been built"):
        model.count_params()
    x = _rand((4, 6, 5), seed=1)
    out = model.predict(x)
    assert out.shape == (4, 2) and model.built
    assert model.get_weights()[0].shape == (5, 12)
    assert model.count_params() == 4 * 3 * (5 + 3 + 1) + 3 * 2 + 2
    # built with variable timesteps: other lengths are accepted
    assert model.predict(_rand((2, 9, 5), seed=2)).shape == (2, 2)


# ---------------------------------------------------------------------------------------------
# Input conversion
# ---------------------------------------------------------------------------------------------
def test_other_dtypes_and_lists_give_the_same_predictions():
    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(2)])
    _randomize(model)
    x64 = np.random.default_rng(0).integers(-3, 4, size=(5, 4, 2)).astype(np.float64)
    x32 = x64.astype(np.float32)
    expected = model.predict(x32)
    for variant in (x64, x64.astype(np.int64), x64.astype(np.int32), x64.tolist(),
                    np.asfortranarray(x32), x32[:, :, ::-1][:, :, ::-1],
                    np.repeat(x32, 2, axis=0)[::2]):
        np.testing.assert_array_equal(model.predict(variant), expected)


def test_float32_c_contiguous_input_is_not_copied():
    import tracemalloc
    model = Sequential([LSTM(2, input_shape=(10, 10)), Dense(1)])
    x32 = np.random.default_rng(0).random((20000, 10, 10), dtype=np.float32)  # 8 MB
    assert _arrays.as_float32(x32, "x") is x32
    x64 = x32.astype(np.float64)
    model.predict(x32[:10])  # build the native model first
    peaks = {}
    for name, x in (("f32", x32), ("f64", x64)):
        tracemalloc.start()
        out = model.predict(x, batch_size=4096)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert out.shape == (20000, 1)
    # the float64 input is converted once (an 8 MB float32 copy, traced by NumPy); the float32
    # input is read in place: only the 80 kB output and the finiteness check's 2 MB boolean
    # temporary are allocated, far from another 8 MB copy
    assert peaks["f64"] >= x32.nbytes
    assert peaks["f32"] < x32.nbytes / 2


# ---------------------------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------------------------
def test_ctrl_c_during_fit_stops_and_leaves_the_model_usable():
    import os
    import signal
    import threading
    import time

    from lstmcore.callbacks import Callback

    class Deadline(Callback):  # a safety net: never run for more than 20 s
        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self.t0 > 20:
                self.model.stop_training = True

    x, y = _rand((256, 20, 4), seed=1), _rand((256, 1), seed=2)
    model = Sequential([LSTM(16, input_shape=(20, 4)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(x, y, epochs=10**6, verbose=0, callbacks=[Deadline()])
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 5  # stopped promptly, after the current batch
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights)
    p = model.predict(x[:8])
    assert np.isfinite(p).all()
    h = model.fit(x, y, epochs=1, verbose=0)  # and it trains on
    assert np.isfinite(h.history["loss"][0])
    assert not np.array_equal(model.get_weights()[0], weights[0])
