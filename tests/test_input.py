"""Keras 3's input spellings: ``Input(shape=...)``/``Input(batch_shape=...)`` and
``InputLayer`` as the first entry of a Sequential, the same model as Keras 2's
``input_shape``/``batch_input_shape`` on the first layer."""

from __future__ import annotations

import lstmcore
import numpy as np
import pytest
from lstmcore import Input
from lstmcore.layers import LSTM, Dense, Embedding, InputLayer
from lstmcore.models import Sequential, load_model


def _pair(k3, k2, rest):
    lstmcore.set_seed(0)
    a = Sequential(k3 + rest())
    lstmcore.set_seed(0)
    b = Sequential(k2 + rest())
    return a, b


@pytest.mark.parametrize("make", [
    lambda: ([Input(shape=(5, 2)), LSTM(3)], [LSTM(3, input_shape=(5, 2))]),
    lambda: ([InputLayer(shape=(None, 2)), LSTM(3)], [LSTM(3, input_shape=(None, 2))]),
    lambda: ([InputLayer(input_shape=(5, 2)), LSTM(3)], [LSTM(3, input_shape=(5, 2))]),
])
def test_input_is_the_keras2_input_shape(make):
    k3, k2 = make()
    a, b = _pair(k3, k2, lambda: [Dense(1)])
    assert a.layers[0].name.startswith("lstm") and len(a.layers) == 2  # Input is not a layer
    assert a.input_shape == b.input_shape and a.output_shape == b.output_shape
    x = np.random.default_rng(0).normal(size=(4, 5, 2)).astype(np.float32)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))


def test_batch_shape_fixes_the_batch_for_a_stateful_model(tmp_path):
    m = Sequential([Input(batch_shape=(4, 3, 1)), LSTM(2, stateful=True), Dense(1)])
    assert m.input_shape == (4, 3, 1)
    x = np.ones((4, 3, 1), np.float32)
    first = m.predict(x, verbose=0)
    assert not np.array_equal(first, m.predict(x, verbose=0))  # the state carried on
    with pytest.raises(ValueError, match="batches of exactly 4"):
        m.predict_on_batch(np.ones((3, 3, 1), np.float32))
    m.reset_states()
    np.testing.assert_array_equal(m.predict(x, verbose=0), first)
    path = tmp_path / "m.lstmcore"
    m.save(path)
    assert load_model(path).input_shape == (4, 3, 1)
    m2 = Sequential([Input(shape=(3, 1), batch_size=4), LSTM(2, stateful=True)])
    assert m2.input_shape == (4, 3, 1)


def test_integer_input_for_an_embedding():
    m = Sequential([Input(shape=(None,), dtype="int32"), Embedding(10, 4), LSTM(2)])
    assert m.input_shape == (None, None)
    assert m.predict(np.array([[1, 2, 3], [4, 5, 0]]), verbose=0).shape == (2, 2)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="exactly one of `shape`"):
        Input()
    with pytest.raises(ValueError, match="exactly one of `shape`"):
        Input(shape=(2,), batch_shape=(1, 2))
    with pytest.raises(ValueError, match="positive integers"):
        Input(shape=(0, 2))
    with pytest.raises(ValueError, match="numeric dtype"):
        Input(shape=(2,), dtype="string")
    with pytest.raises(NotImplementedError, match="sparse"):
        Input(shape=(2,), sparse=True)
    m = Sequential([LSTM(2, input_shape=(3, 1))])
    with pytest.raises(ValueError, match="must be the first entry"):
        m.add(Input(shape=(3, 1)))
    assert len(m.layers) == 1
    with pytest.warns(UserWarning, match="is not the first layer"):
        m2 = Sequential([Input(shape=(3, 1)), LSTM(2, input_shape=(9, 9))])
    assert m2.input_shape == (None, 3, 1)
