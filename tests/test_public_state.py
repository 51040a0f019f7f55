"""The public API that saving uses (issue #11: saving.py reads no private members):
get_compile_config/compile_from_config and the optimizer state as Keras 2 names it."""

import lstmcore
import numpy as np
import pytest
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential
from lstmcore.optimizers import Adam


def _model(seed=0):
    lstmcore.set_seed(seed)
    return Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)])


def _xy():
    rng = np.random.default_rng(0)
    x = rng.random((16, 4, 2), dtype=np.float32)
    return x, x.sum(axis=(1, 2))[:, None]


def test_compile_config_round_trip():
    m = _model()
    assert m.get_compile_config() is None
    m.compile(Adam(learning_rate=0.02), "mae", metrics=["mse"])
    cfg = m.get_compile_config()
    assert cfg["loss"] == "mean_absolute_error" or cfg["loss"] == "mae"
    other = _model()
    other.compile_from_config(cfg)
    assert other.get_compile_config() == cfg
    assert other.optimizer.learning_rate == 0.02 and other.metrics_names == m.metrics_names


def test_optimizer_state_get_and_set():
    x, y = _xy()
    a, b = _model(1), _model(1)
    assert Adam().get_weights() == []
    for m in (a, b):
        m.compile(Adam(), "mse")
    a.fit(x, y, epochs=2, verbose=0)
    state = a.optimizer.get_weights()
    assert int(state[0]) == a.optimizer.iterations == 2
    assert len(state) == 1 + 2 * len(a.get_weights())  # m and v per weight
    b.set_weights(a.get_weights())
    b.optimizer.set_weights(state)
    a.fit(x, y, epochs=1, verbose=0, shuffle=False)
    b.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    with pytest.raises(ValueError, match="does not match"):
        b.optimizer.set_weights(state[:-1])
    with pytest.raises(ValueError, match="NaN"):
        b.optimizer.set_weights([state[0]] + [s * np.nan for s in state[1:]])
    with pytest.raises(ValueError, match="iterations"):
        b.optimizer.set_weights([-1] + state[1:])
    with pytest.raises(ValueError, match="compile"):
        Adam().set_weights(state)
