"""fit/evaluate/predict on Python generators, iterators and ``Sequence`` objects (Keras 2's
fit_generator & co. as aliases): the same training as arrays fed batch by batch."""

from __future__ import annotations

import lstmcore
import numpy as np
import pytest
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD
from lstmcore.utils import Sequence

N, T, F, BS = 40, 5, 2, 8


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, T, F)).astype(np.float32), rng.normal(size=(N, 1)).astype(np.float32)


def _model():
    lstmcore.set_seed(1)
    m = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    m.compile(optimizer=SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    return m


def _gen(x, y, sw=None, loop=True):
    while True:
        for i in range(0, len(x), BS):
            yield (x[i:i + BS], y[i:i + BS]) if sw is None else (x[i:i + BS], y[i:i + BS], sw[i:i + BS])
        if not loop:
            return


class Batches(Sequence):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.epochs_ended = x, y, 0

    def __len__(self):
        return -(-len(self.x) // BS)

    def __getitem__(self, i):
        return self.x[i * BS:(i + 1) * BS], self.y[i * BS:(i + 1) * BS]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_generator_training_equals_array_training():
    x, y = _data()
    a, b = _model(), _model()
    ha = a.fit(x, y, batch_size=BS, epochs=3, shuffle=False, verbose=0)
    hb = b.fit(_gen(x, y), steps_per_epoch=N // BS, epochs=3, verbose=0)
    for k in ("loss", "mae"):
        np.testing.assert_allclose(hb.history[k], ha.history[k], rtol=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_allclose(b.evaluate(_gen(x, y), steps=N // BS, verbose=0),
                               a.evaluate(x, y, batch_size=BS, verbose=0), rtol=1e-6)
    np.testing.assert_array_equal(b.predict(_gen(x, y), steps=N // BS), a.predict(x))


def test_sequence_shuffles_batches_and_calls_on_epoch_end():
    x, y = _data()
    seq = Batches(x, y)
    m = _model()
    h = m.fit(seq, epochs=2, verbose=0, validation_data=Batches(x[:16], y[:16]))
    assert seq.epochs_ended == 2 and len(h.history["val_loss"]) == 2
    a = _model()
    a.fit(Batches(x, y), epochs=2, shuffle=False, verbose=0)
    b = _model()
    b.fit(x, y, batch_size=BS, epochs=2, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert m.predict(Batches(x, y)).shape == (N, 1)


def test_keras2_aliases_and_sample_weights():
    x, y = _data()
    sw = np.linspace(0.1, 2.0, N).astype(np.float32)
    a, b = _model(), _model()
    a.fit(x, y, batch_size=BS, epochs=2, shuffle=False, verbose=0, sample_weight=sw)
    b.fit_generator(_gen(x, y, sw), steps_per_epoch=N // BS, epochs=2, verbose=0,
                    validation_data=_gen(x, y), validation_steps=2)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert np.isfinite(b.evaluate_generator(_gen(x, y), steps=2)).all()
    assert b.predict_generator(_gen(x, y), steps=2).shape == (2 * BS, 1)


def test_a_short_generator_ends_training_with_a_warning():
    x, y = _data()
    m = _model()
    with pytest.warns(UserWarning, match="ran out of data after 5 of steps_per_epoch=8"):
        h = m.fit(_gen(x, y, loop=False), steps_per_epoch=8, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1
    h = m.fit(_gen(x, y, loop=False), epochs=1, verbose=0)  # no steps: until exhausted
    assert len(h.history["loss"]) == 1
    with pytest.warns(UserWarning, match="yielded no batch in epoch 2"):
        h = m.fit(_gen(x, y, loop=False), epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1


def test_a_bad_batch_is_named_and_changes_nothing():
    x, y = _data()
    m = _model()
    m.fit(x, y, epochs=1, verbose=0)
    w = m.get_weights()

    def bad():
        yield x[:8], y[:8]
        yield x[:8, :, :1], y[:8]

    with pytest.raises(ValueError, match="batch 1 of the data source: the model expects 2 features"):
        m.fit(bad(), steps_per_epoch=2, epochs=1, verbose=0)
    # the first batch trained (as Keras); the bad one changed nothing after it
    m2 = _model()
    m2.fit(x, y, epochs=1, verbose=0)
    m2.train_on_batch(x[:8], y[:8])
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(w, m.get_weights()))
    with pytest.raises(ValueError, match=r"batch 0 .* \(x, y\)"):
        m.fit(iter([x[:8]]), steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="`y` must not be given"):
        m.fit(_gen(x, y), y, steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        m.fit(_gen(x, y), steps_per_epoch=0, verbose=0)


def test_arrays_in_the_right_layout_are_not_copied(monkeypatch):
    x, y = _data()
    m = _model()
    seen = []
    net = m._native()
    original = type(net).train_batches

    def spy(self, xb, *args, **kwargs):
        seen.append(xb)
        return original(self, xb, *args, **kwargs)

    monkeypatch.setattr(type(net), "train_batches", spy)
    batches = [(x[i:i + BS], y[i:i + BS]) for i in range(0, N, BS)]
    m.fit(iter(batches), steps_per_epoch=len(batches), verbose=0)
    assert all(s is b[0] for s, b in zip(seen, batches))
