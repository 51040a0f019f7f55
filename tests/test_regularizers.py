"""Weight regularizers (Keras): the penalty joins the reported loss and its gradient the
update, natively; checked against the NumPy reference plus the penalty's own gradient."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EPS32, build_reference
from lstmcore import regularizers
from lstmcore.layers import LSTM, Bidirectional, Dense
from lstmcore.models import Sequential, load_model
from lstmcore.optimizers import SGD

B, T, F = 4, 5, 3


def _setup(layers, seed=1):
    m = Sequential(layers)
    rng = np.random.default_rng(seed)
    m.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in m.get_weights()])
    return m, [w.astype(np.float64) for w in m.get_weights()]


def _penalty_and_grads(weights, regs):
    pen, grads = 0.0, []
    for w, r in zip(weights, regs):
        if r is None:
            grads.append(np.zeros_like(w))
            continue
        pen += r.l1 * np.abs(w).sum() + r.l2 * np.square(w).sum()
        grads.append(r.l1 * np.sign(w) + 2 * r.l2 * w)
    return pen, grads


def test_sgd_step_and_loss_include_the_penalty(simd):
    regs = [regularizers.l1(0.01), regularizers.l2(0.02), regularizers.l1_l2(0.003, 0.004),
            regularizers.L2(0.05), None]
    m, w0 = _setup([LSTM(4, input_shape=(T, F), kernel_regularizer="l1",
                         recurrent_regularizer=regularizers.l2(0.02),
                         bias_regularizer=regularizers.l1_l2(0.003, 0.004)),
                    Dense(2, kernel_regularizer=regularizers.L2(0.05))])
    rng = np.random.default_rng(2)
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    y = rng.normal(size=(B, 2)).astype(np.float32)
    lr = 0.2
    m.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    value, grads = build_reference([{"type": "lstm"}, {"type": "dense"}], w0).loss_and_grads(
        x, y, "mse")
    pen, pgrads = _penalty_and_grads(w0, regs)
    assert m.evaluate(x, y, verbose=0) == pytest.approx(float(value) + pen, rel=1e-5)
    loss = m.train_on_batch(x, y)
    assert loss == pytest.approx(float(value) + pen, rel=1e-5)
    flat = [g for layer in grads for g in layer]
    for i, (a0, a1, g, pg) in enumerate(zip(w0, m.get_weights(), flat, pgrads)):
        err = np.abs(a1 - a0 + lr * (g + pg))
        tol = EPS32 * (np.abs(a1) + 1) * 4 + lr * 1e-5 * (np.abs(g).max() + 1)
        assert (err <= tol).all(), f"weight {i}: max error {err.max()}"


def test_frozen_layers_add_no_penalty_and_configs_round_trip(tmp_path):
    m, _ = _setup([LSTM(3, input_shape=(T, F)), Dense(1, kernel_regularizer="l2")])
    m.compile("sgd", "mse")
    x = np.ones((B, T, F), np.float32)
    y = np.zeros((B, 1), np.float32)
    with_pen = m.evaluate(x, y, verbose=0)
    m.layers[1].trainable = False
    assert m.evaluate(x, y, verbose=0) < with_pen
    m.layers[1].trainable = True
    path = tmp_path / "reg.lstmcore"
    m.save(path)
    m2 = load_model(path)
    assert m2.evaluate(x, y, verbose=0) == pytest.approx(with_pen, rel=1e-6)
    assert m2.layers[1].get_config()["kernel_regularizer"] == {"class_name": "L2",
                                                               "config": {"l2": 0.01}}


def test_bidirectional_regularizes_both_directions():
    m, w0 = _setup([Bidirectional(LSTM(2, kernel_regularizer=regularizers.l2(0.1)),
                                  input_shape=(T, F)), Dense(1)])
    m.compile("sgd", "mse")
    x = np.zeros((B, T, F), np.float32)
    y = np.zeros((B, 1), np.float32)
    p = m.predict(x, verbose=0).astype(np.float64)
    want = np.mean(p ** 2) + 0.1 * (np.square(w0[0]).sum() + np.square(w0[3]).sum())
    assert m.evaluate(x, y, verbose=0) == pytest.approx(want, rel=1e-5)


def test_bad_regularizers_are_refused():
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        Dense(1, kernel_regularizer="l3")
    with pytest.raises(ValueError, match="finite number >= 0"):
        regularizers.l2(-1.0)
    with pytest.raises(ValueError, match="finite number >= 0"):
        Dense.from_config({"units": 1, "kernel_regularizer": {"class_name": "L2",
                                                              "config": {"l2": float("inf")}}})
    with pytest.raises(NotImplementedError, match="activity_regularizer"):
        Dense(1, activity_regularizer="l2")
    with pytest.raises(TypeError):
        Dense(1, recurrent_regularizer="l2")  # Dense has no recurrent kernel
