"""Embedding: forward and gradients against the NumPy reference, index checks, training,
saving, and finite differences of the reference's scatter-add gradient."""

from __future__ import annotations

import lstmcore
import numpy as np
import pytest
from conftest import EPS32, build_reference, num_grad
from lstmcore import reference as ref
from lstmcore.layers import LSTM, Dense, Embedding
from lstmcore.models import Sequential, load_model
from lstmcore.optimizers import SGD

V, E, H = 11, 5, 3  # vocabulary and vector sizes not multiples of any SIMD width


def _idx(shape, seed, vocab=V):
    return np.random.default_rng(seed).integers(0, vocab, size=shape)


def _model(T=7, return_sequences=False):
    return Sequential([Embedding(V, E, input_length=T),
                       LSTM(H, return_sequences=return_sequences), Dense(1)])


SPECS = [{"type": "embedding"}, {"type": "lstm"}, {"type": "dense"}]


@pytest.mark.parametrize("shape", [(4, 7), (1, 1), (1, 7), (3, 1)])
def test_forward_matches_reference(shape, simd):
    m = _model(T=shape[1])
    x = _idx(shape, seed=1)
    got = m.predict(x, verbose=0)
    want = build_reference(SPECS, m.get_weights()).forward(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_indices_in_any_numeric_dtype_give_the_same_output():
    m = _model()
    x = _idx((4, 7), seed=2)
    want = m.predict(x, verbose=0)
    for dtype in (np.int32, np.int64, np.uint8, np.float32, np.float64):
        np.testing.assert_array_equal(m.predict(x.astype(dtype), verbose=0), want)
    np.testing.assert_array_equal(m.predict(x.tolist(), verbose=0), want)


def test_sgd_step_equals_reference_gradient(simd):
    """The scatter-add gradient, with repeated indices in the batch."""
    m = _model(return_sequences=True)
    rng = np.random.default_rng(3)
    m.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in m.get_weights()])
    w0 = [w.astype(np.float64) for w in m.get_weights()]
    lr = 0.5
    m.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    x = _idx((6, 7), seed=4, vocab=4)  # few distinct rows: many repeats, rows 4.. untouched
    y = rng.normal(size=(6, 7, 1)).astype(np.float32)
    specs = [{"type": "embedding"}, {"type": "lstm", "return_sequences": True}, {"type": "dense"}]
    _, grads = build_reference(specs, w0).loss_and_grads(x, y, "mse")
    m.train_on_batch(x, y)
    flat = [g for layer in grads for g in layer]
    for i, (a0, a1, g) in enumerate(zip(w0, m.get_weights(), flat)):
        err = np.abs(a1 - a0 + lr * g)
        tol = EPS32 * (np.abs(a1) + 1) + lr * 1e-5 * (np.abs(g).max() + 1)
        assert (err <= tol).all(), f"weight {i}: max error {err.max()}"
    # rows no index used are untouched by plain SGD
    np.testing.assert_array_equal(m.get_weights()[0][4:], w0[0][4:].astype(np.float32))


def test_reference_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    emb = rng.normal(size=(V, E))
    idx = _idx((3, 4), seed=6)
    dy = rng.normal(size=(3, 4, E))

    def loss():
        y, _ = ref.embedding_forward(idx, emb)
        return float((y * dy).sum())

    _, cache = ref.embedding_forward(idx, emb)
    analytic = ref.embedding_backward(cache, dy, V)
    np.testing.assert_allclose(analytic, num_grad(loss, emb), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("bad, where", [
    (11, "11 at sample 2, timestep 3"), (-1, "-1 at sample 2, timestep 3"),
    (2.5, "2.5 at sample 2, timestep 3"), (np.nan, "nan at sample 2, timestep 3")])
def test_bad_index_names_sample_and_value_and_changes_nothing(bad, where):
    m = _model()
    m.compile("adam", "mse")
    x = _idx((4, 7), seed=7).astype(np.float64)
    y = np.zeros((4, 1), np.float32)
    before = m.get_weights()
    x[2, 3] = bad
    for call in (lambda: m.predict(x, verbose=0), lambda: m.fit(x, y, epochs=1, verbose=0),
                 lambda: m.evaluate(x, y, verbose=0), lambda: m.train_on_batch(x, y)):
        with pytest.raises(ValueError, match=where):
            call()
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    x[2, 3] = 0
    m.fit(x, y, epochs=1, verbose=0)  # still works


def test_constructor_checks():
    with pytest.raises(ValueError, match="input_dim"):
        Embedding(0, 4)
    with pytest.raises(ValueError, match="at most 16777216 rows"):
        Embedding(2**24 + 1, 4)
    with pytest.raises(ValueError, match="output_dim"):
        Embedding(10, -1)
    with pytest.raises(ValueError, match="must be the first layer"):
        Sequential([LSTM(2, input_shape=(3, 2)), Embedding(10, 4)])
    with pytest.raises(ValueError, match="2D input"):
        Sequential([Embedding(10, 4, input_shape=(3, 2)), LSTM(2)])


def test_learns_and_round_trips_through_a_file(tmp_path):
    """A sequence classifier: the label is whether token 1 occurs; weights survive save/load."""
    lstmcore.set_seed(1)
    rng = np.random.default_rng(8)
    x = rng.integers(2, V, size=(256, 6))
    y = rng.integers(0, 2, size=(256, 1)).astype(np.float32)
    pos = rng.integers(0, 6, size=256)
    x[y[:, 0] == 1, pos[y[:, 0] == 1]] = 1
    m = Sequential([Embedding(V, 8), LSTM(8), Dense(1, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    hist = m.fit(x, y, epochs=40, batch_size=32, verbose=0)
    assert hist.history["accuracy"][-1] > 0.95
    path = tmp_path / "emb.lstmcore"
    m.save(path)
    m2 = load_model(path)
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))
    saved = m2.layers[0].get_config()
    saved.pop("batch_input_shape")  # the loaded first layer records the built input shape
    assert saved == m.layers[0].get_config()
