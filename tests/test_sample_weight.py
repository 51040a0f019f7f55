"""fit/evaluate/train_on_batch with Keras' sample_weight and class_weight: the weighted loss
(sum_over_batch_size: weights not renormalised; with a mask, divided by the timesteps used)
and its gradient against the NumPy reference; compiled metrics stay unweighted (Keras)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EPS32, build_reference
from lstmcore.layers import LSTM, Dense, Masking
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD

B, T, F = 6, 5, 3


def _model(*layers):
    m = Sequential(list(layers))
    rng = np.random.default_rng(1)
    m.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in m.get_weights()])
    return m, [w.astype(np.float64) for w in m.get_weights()]


def _check_step(m, w0, grads, lr):
    flat = [g for layer in grads for g in layer]
    for i, (a0, a1, g) in enumerate(zip(w0, m.get_weights(), flat)):
        err = np.abs(a1 - a0 + lr * g)
        tol = EPS32 * (np.abs(a1) + 1) * 4 + lr * 1e-5 * (np.abs(g).max() + 1)
        assert (err <= tol).all(), f"weight {i}: max error {err.max()}"


@pytest.mark.parametrize("masked", [False, True])
def test_weighted_sgd_step_matches_reference(masked, simd):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    if masked:
        x[0, 3:] = 0.0
        x[2, :2] = 0.0
        m, w0 = _model(Masking(0.0, input_shape=(T, F)), LSTM(4, return_sequences=True), Dense(2))
        specs = [{"type": "masking"}, {"type": "lstm", "return_sequences": True}, {"type": "dense"}]
    else:
        m, w0 = _model(LSTM(4, input_shape=(T, F)), Dense(2))
        specs = [{"type": "lstm"}, {"type": "dense"}]
    y = rng.normal(size=(B,) + m.output_shape[1:]).astype(np.float32)
    sw = np.array([0.0, 1.0, 2.5, 0.5, 1.0, 3.0], np.float32)
    lr = 0.3
    m.compile(optimizer=SGD(learning_rate=lr), loss="mse", metrics=["mae"])
    value, grads = build_reference(specs, w0).loss_and_grads(x, y, "mse", sample_weight=sw)
    loss, _ = m.train_on_batch(x, y, sample_weight=sw)
    assert loss == pytest.approx(float(value), rel=1e-5)
    _check_step(m, w0, grads, lr)


def test_weighted_metrics_and_evaluate():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    y = rng.normal(size=(B, 1)).astype(np.float32)
    sw = rng.uniform(0.0, 2.0, size=B).astype(np.float32)
    m, w0 = _model(LSTM(4, input_shape=(T, F)), Dense(1))
    m.compile("sgd", "mse", metrics=["mae"])
    loss, mae = m.evaluate(x, y, sample_weight=sw, batch_size=4, verbose=0)
    p = m.predict(x, verbose=0)[:, 0].astype(np.float64)
    err = np.abs(p - y[:, 0])
    # the loss: per batch sum(w l) / batch size, then batches weighted by their size
    want = (np.sum(sw[:4] * err[:4] ** 2) + np.sum(sw[4:] * err[4:] ** 2)) / B
    assert loss == pytest.approx(want, rel=1e-5)
    assert mae == pytest.approx(err.mean(), rel=1e-5)  # Keras: `metrics` are not weighted
    # all-ones weights are the unweighted run
    np.testing.assert_allclose(m.evaluate(x, y, sample_weight=np.ones(B), verbose=0),
                               m.evaluate(x, y, verbose=0), rtol=1e-6)


def test_class_weight_is_a_per_sample_weight_of_the_label():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    labels = np.array([0, 1, 2, 1, 0, 2])
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    sw = np.array([cw[c] for c in labels], np.float32)
    runs = []
    for kwargs in ({"class_weight": cw}, {"sample_weight": sw}):
        m, _ = _model(LSTM(4, input_shape=(T, F)), Dense(3, activation="softmax"))
        m.compile(optimizer=SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
        m.fit(x, labels, epochs=2, batch_size=4, shuffle=False, verbose=0, **kwargs)
        runs.append(m.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    # one-hot targets pick their class by argmax; a binary output by its rounded value
    m, _ = _model(LSTM(4, input_shape=(T, F)), Dense(3, activation="softmax"))
    m.compile(optimizer=SGD(learning_rate=0.1), loss="categorical_crossentropy")
    m.fit(x, np.eye(3, dtype=np.float32)[labels], class_weight=cw, epochs=2, batch_size=4,
          shuffle=False, verbose=0)
    for a, b in zip(runs[0], m.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_validation_sample_weight_and_split_carry_the_weights():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, T, F)).astype(np.float32)
    y = rng.normal(size=(10, 1)).astype(np.float32)
    sw = rng.uniform(0.1, 2.0, size=10).astype(np.float32)
    m, _ = _model(LSTM(4, input_shape=(T, F)), Dense(1))
    m.compile("sgd", "mse")
    h = m.fit(x[:6], y[:6], validation_data=(x[6:], y[6:], sw[6:]), epochs=1, verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(
        m.evaluate(x[6:], y[6:], sample_weight=sw[6:], verbose=0), rel=1e-6)
