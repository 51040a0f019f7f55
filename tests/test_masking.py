"""Keras masking: Embedding(mask_zero=True) and Masking mark padded timesteps; recurrent
layers skip them (state carried through), a returned sequence's loss and metrics leave them
out. Checked against the NumPy reference (forward and an SGD step), against unpadded runs,
on every SIMD level and thread count."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EPS32, build_reference
from lstmcore import set_num_threads
from lstmcore.layers import (
    LSTM,
    Bidirectional,
    Dense,
    Embedding,
    Masking,
    RepeatVector,
    TimeDistributed,
)
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD

B, T, F, V = 5, 7, 3, 9


def _lengths(seed):
    return np.random.default_rng(seed).integers(1, T + 1, size=B)


def _padded_floats(seed, side="post"):
    """(B, T, F) with each row's tail (post) or head (pre) padded with zeros."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    for b, n in enumerate(_lengths(seed)):
        if side == "post":
            x[b, n:] = 0.0
        else:
            x[b, :T - n] = 0.0
    return x


def _padded_ids(seed, side="post"):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, size=(B, T))
    for b, n in enumerate(_lengths(seed)):
        if side == "post":
            x[b, n:] = 0
        else:
            x[b, :T - n] = 0
    return x


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return [w.astype(np.float64) for w in model.get_weights()]


CASES = {
    # name: (layers, reference specs, integer input?)
    "embedding_lstm_dense": (
        lambda: [Embedding(V, 4, mask_zero=True, input_length=T), LSTM(3), Dense(2)],
        [{"type": "embedding", "mask_zero": True}, {"type": "lstm"}, {"type": "dense"}], True),
    "masking_lstm_seq_td": (
        lambda: [Masking(0.0, input_shape=(T, F)), LSTM(4, return_sequences=True),
                 TimeDistributed(Dense(2))],
        [{"type": "masking"}, {"type": "lstm", "return_sequences": True},
         {"type": "time_distributed", "layer": {"type": "dense"}}], False),
    "masking_stacked_backwards": (
        lambda: [Masking(0.0, input_shape=(T, F)),
                 LSTM(4, return_sequences=True, go_backwards=True), LSTM(3), Dense(1)],
        [{"type": "masking"}, {"type": "lstm", "return_sequences": True, "go_backwards": True},
         {"type": "lstm"}, {"type": "dense"}], False),
    "masking_bidirectional_seq": (
        lambda: [Masking(0.0, input_shape=(T, F)),
                 Bidirectional(LSTM(3, return_sequences=True)), Dense(2)],
        [{"type": "masking"},
         {"type": "bidirectional", "merge_mode": "concat", "return_sequences": True},
         {"type": "dense"}], False),
    "embedding_bidirectional_last": (
        lambda: [Embedding(V, 4, mask_zero=True, input_length=T),
                 Bidirectional(LSTM(3), merge_mode="sum"), Dense(1)],
        [{"type": "embedding", "mask_zero": True},
         {"type": "bidirectional", "merge_mode": "sum", "return_sequences": False},
         {"type": "dense"}], True),
}


def _x(case, seed, side):
    return _padded_ids(seed, side) if CASES[case][2] else _padded_floats(seed, side)


@pytest.mark.parametrize("side", ["post", "pre"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_and_sgd_step_match_reference(case, side, simd):
    make, specs, _ = CASES[case]
    model = Sequential(make())
    w0 = _randomize(model, seed=1)
    x = _x(case, 2, side)
    ref = build_reference(specs, w0)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.forward(x), rtol=1e-5, atol=1e-5)
    y = np.random.default_rng(3).normal(size=(B,) + model.output_shape[1:]).astype(np.float32)
    lr = 0.5
    model.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    value, grads = ref.loss_and_grads(x, y, "mse")
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(float(value), rel=1e-5, abs=1e-7)
    flat = [g for layer in grads for g in layer]
    for i, (a0, a1, g) in enumerate(zip(w0, model.get_weights(), flat)):
        err = np.abs(a1 - a0 + lr * g)
        tol = EPS32 * (np.abs(a1) + 1) * 4 + lr * 1e-5 * (np.abs(g).max() + 1)
        assert (err <= tol).all(), f"weight {i}: max error {err.max()}"


@pytest.mark.parametrize("side", ["post", "pre"])
def test_padded_and_masked_equals_each_sequence_alone(side, threads):
    """The last output of a padded, masked batch equals each sequence run unpadded; with
    a layer big enough to split its units over threads too."""
    for n_threads, H in ((1, 5), (2, 5), (2, 96)):
        set_num_threads(n_threads)
        model = Sequential([Masking(0.0, input_shape=(None, F)), LSTM(H), Dense(2)])
        _randomize(model, seed=4)
        x = _padded_floats(5, side)
        got = model.predict(x, verbose=0)
        for b, n in enumerate(_lengths(5)):
            alone = x[b:b + 1, :n] if side == "post" else x[b:b + 1, T - n:]
            np.testing.assert_allclose(got[b:b + 1], model.predict(alone, verbose=0),
                                       rtol=1e-5, atol=1e-6)


def test_masked_sequence_metrics_leave_padding_out():
    model = Sequential([Embedding(V, 4, mask_zero=True, input_length=T),
                        LSTM(3, return_sequences=True), Dense(2, activation="softmax")])
    _randomize(model, seed=6)
    x = _padded_ids(7)
    labels = np.random.default_rng(8).integers(0, 2, size=(B, T))
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.evaluate(x, labels, batch_size=2, verbose=0)
    p = model.predict(x, verbose=0)
    used = x != 0
    hits = (p.argmax(-1) == labels)[used]
    assert acc == pytest.approx(hits.mean(), rel=1e-6)
    ce = -np.log(np.take_along_axis(p, labels[..., None], -1)[..., 0])
    # the loss is averaged per batch (over the timesteps used), then over samples
    want = sum(ce[s:s + 2][used[s:s + 2]].mean() * len(ce[s:s + 2]) for s in range(0, B, 2)) / B
    assert loss == pytest.approx(want, rel=1e-5)


def test_all_padding_row_gives_zero_loss_and_no_update():
    model = Sequential([Masking(0.0, input_shape=(T, F)), LSTM(3, return_sequences=True),
                        Dense(1)])
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    w0 = model.get_weights()
    x = np.zeros((2, T, F), np.float32)
    assert model.train_on_batch(x, np.ones((2, T, 1), np.float32)) == 0.0
    for a, b in zip(w0, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_layers_that_cannot_take_a_mask_are_refused_at_once():
    with pytest.raises(ValueError, match="cannot take the mask that `emb`"):
        Sequential([Embedding(V, 4, mask_zero=True, input_length=T, name="emb"),
                    LSTM(3, return_sequences=True), RepeatVector(2)])
    m = Sequential([Embedding(V, 4, mask_zero=True, input_length=T), LSTM(3)])
    m.add(RepeatVector(2))  # the mask ended with return_sequences=False: fine
    with pytest.raises(ValueError, match="mask_value"):
        Masking("x")
    with pytest.raises(ValueError, match="3D input"):
        Sequential([Masking(input_shape=(4,))])


def test_masking_config_round_trip():
    m = Masking(-1.5, input_shape=(T, F))
    again = Masking.from_config(m.get_config())
    assert again.mask_value == -1.5
    e = Embedding(V, 4, mask_zero=True)
    assert Embedding.from_config(e.get_config()).mask_zero


@pytest.mark.parametrize("side", ["post", "pre"])
def test_global_average_pooling_takes_the_mask(side, simd):
    """Embedding(mask_zero) -> GlobalAveragePooling1D -> Dense: the mean over the tokens used,
    forward and an SGD step against the reference; padding changes nothing."""
    from lstmcore.layers import GlobalAveragePooling1D
    model = Sequential([Embedding(V, 4, mask_zero=True), GlobalAveragePooling1D(), Dense(2)])
    x = _padded_ids(9, side)
    model.predict(x, verbose=0)  # builds
    w0 = _randomize(model, seed=10)
    specs = [{"type": "embedding", "mask_zero": True}, {"type": "global_average_pooling1d"},
             {"type": "dense"}]
    ref = build_reference(specs, w0)
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, ref.forward(x), rtol=1e-5, atol=1e-6)
    wider = np.zeros((B, T + 3), x.dtype)
    wider[:, 3:] = x
    np.testing.assert_allclose(model.predict(wider, verbose=0), got, rtol=1e-6, atol=1e-7)
    y = np.random.default_rng(11).normal(size=(B, 2)).astype(np.float32)
    lr = 0.5
    model.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    _, grads = ref.loss_and_grads(x, y, "mse")
    model.train_on_batch(x, y)
    flat = [g for layer in grads for g in layer]
    for i, (a0, a1, g) in enumerate(zip(w0, model.get_weights(), flat)):
        err = np.abs(a1 - a0 + lr * g)
        assert (err <= EPS32 * (np.abs(a1) + 1) * 4 + lr * 1e-5).all(), f"weight {i}"


def _rnn(kind, **kw):
    from lstmcore.layers import GRU, SimpleRNN
    return {"gru": lambda: GRU(**kw), "gru_before": lambda: GRU(reset_after=False, **kw),
            "simple_rnn": lambda: SimpleRNN(**kw), "lstm": lambda: LSTM(**kw)}[kind]()


@pytest.mark.parametrize("kind", ["gru", "gru_before", "simple_rnn", "lstm"])
@pytest.mark.parametrize("side", ["post", "pre"])
def test_every_recurrent_layer_skips_masked_steps(kind, side, threads, simd):
    """GRU (both variants), SimpleRNN and LSTM: a padded, masked batch gives each sequence's
    unpadded output, and its gradient is the mean of the unpadded sequences' gradients (one
    SGD step each from the same weights), with the units split over threads too."""
    for n_threads, H in ((1, 5), (2, 96)):
        set_num_threads(n_threads)
        model = Sequential([Masking(0.0, input_shape=(None, F)), _rnn(kind, units=H), Dense(1)])
        w0 = _randomize(model, seed=12)
        x = _padded_floats(13, side)
        y = np.random.default_rng(14).normal(size=(B, 1)).astype(np.float32)
        got = model.predict(x, verbose=0)
        lr = 0.1
        model.compile(optimizer=SGD(learning_rate=lr), loss="mse")
        model.train_on_batch(x, y)
        step = [w1.astype(np.float64) - a for w1, a in zip(model.get_weights(), w0)]
        alone_steps = []
        for b, n in enumerate(_lengths(13)):
            xs = x[b:b + 1, :n] if side == "post" else x[b:b + 1, T - n:]
            model.set_weights([a.astype(np.float32) for a in w0])
            np.testing.assert_allclose(got[b:b + 1], model.predict(xs, verbose=0),
                                       rtol=1e-5, atol=1e-6)
            model.train_on_batch(xs, y[b:b + 1])
            alone_steps.append([w1.astype(np.float64) - a
                                for w1, a in zip(model.get_weights(), w0)])
        for i, s in enumerate(step):
            want = np.mean([a[i] for a in alone_steps], axis=0)
            # float32 steps, summed in another order: relative to the largest
            atol = 2e-6 * max(1.0, float(np.abs(want).max()))
            np.testing.assert_allclose(s, want, rtol=1e-4, atol=atol, err_msg=f"{kind} weight {i}")


@pytest.mark.parametrize("kind", ["gru", "simple_rnn"])
def test_bidirectional_sequences_are_zero_at_masked_steps(kind):
    model = Sequential([Masking(0.0, input_shape=(T, F)),
                        Bidirectional(_rnn(kind, units=3, return_sequences=True))])
    _randomize(model, seed=15)
    x = _padded_floats(16, "post")
    out = model.predict(x, verbose=0)
    used = np.any(x != 0, axis=-1)
    assert (out[~used] == 0).all() and (np.abs(out[used]).sum(-1) > 0).all()
