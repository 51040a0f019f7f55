"""Regression tests for the trust probes (issue #10) that are not about files, threads or
fork: crashes from sizes, failed calls that changed the model, weights that became
non-finite, and argument errors that escaped as the wrong exception."""

import gc
import warnings

import lstmcore
import numpy as np
import pytest
from lstmcore import _core
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD, Adam, RMSprop


def _xy(n=32, t=6, f=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, t, f)).astype(np.float32)
    return x, x.sum(axis=(1, 2))[:, None].astype(np.float32)


# ---- zero timesteps on a model built from the data: was a segfault -------------------------
@pytest.mark.parametrize("call", ["predict", "fit", "evaluate", "train_on_batch", "test_on_batch",
                                  "predict_on_batch"])
def test_zero_timesteps_unbuilt_model(call):
    m = Sequential([LSTM(4), Dense(1)])
    m.compile("adam", "mse")
    x = np.zeros((3, 0, 2), np.float32)
    y = np.zeros((3, 1), np.float32)
    args = (x,) if call.startswith("predict") else (x, y)
    kwargs = {"verbose": 0} if call in ("fit", "evaluate") else {}
    with pytest.raises(ValueError, match="zero timesteps"):
        getattr(m, call)(*args, **kwargs)
    assert not m.built  # the failed call did not build the model
    xg, yg = _xy()
    m.fit(xg, yg, epochs=1, verbose=0)
    assert m.predict(xg).shape == (32, 1)


def test_native_network_refuses_zero_timesteps_and_overflowing_sizes():
    # the native executor checks too (a hostile config must not reach a kernel)
    lstmcore.set_seed(0)
    m = Sequential([LSTM(3, input_shape=(None, 2)), Dense(1)])
    net = _core.Network()
    for layer, shape in zip(m.layers, [(None, 2), (3,)]):
        net.add(*layer._native_spec(shape))
    with pytest.raises(ValueError, match="timestep"):
        net.predict(np.zeros((2, 0, 2), np.float32), 2, np.zeros((2, 1), np.float32))
    big = _core.Network()
    big.add("repeat_vector", {"n": 2**62}, {})
    with pytest.raises(ValueError, match="overflow"):
        big.predict(np.zeros((4, 3), np.float32), 4, np.zeros((4,), np.float32))


# ---- a failed first call leaves the model unbuilt ----------------------------------------
def test_failed_first_fit_leaves_model_unbuilt():
    m = Sequential([LSTM(4), Dense(1)])
    m.compile("adam", "mse")
    x, y = _xy(f=3)
    with pytest.raises(ValueError):
        m.fit(x, y[:5], epochs=1, verbose=0)          # wrong sample count in y
    assert not m.built and m.input_shape is None
    with pytest.raises(ValueError):
        m.fit(x, y, epochs=1, verbose=0, validation_data=(x[:, :, :2], y))  # bad validation
    assert not m.built
    x2, y2 = _xy(f=5)
    m.fit(x2, y2, epochs=1, verbose=0)                # builds for 5 features, not 3
    assert m.input_shape == (None, None, 5)
    assert m.predict(x2).shape == (32, 1)


# ---- argument errors that escaped as the wrong exception ----------------------------------
def test_scalar_target_is_a_value_error():
    m = Sequential([LSTM(4, input_shape=(6, 2)), Dense(1)])
    m.compile("adam", "mse")
    x, _ = _xy()
    with pytest.raises(ValueError, match="samples"):
        m.fit(x, np.array(1.0, np.float32), verbose=0)
    with pytest.raises(ValueError, match="samples"):
        m.fit(x, np.array(1.0), verbose=0)


def test_huge_batch_size_is_clamped_not_a_pybind_error():
    m = Sequential([LSTM(4, input_shape=(6, 2)), Dense(1)])
    m.compile("adam", "mse")
    x, y = _xy()
    want = m.predict(x, batch_size=32)
    np.testing.assert_array_equal(m.predict(x, batch_size=2**63), want)
    m.evaluate(x, y, batch_size=2**70, verbose=0)
    m.fit(x, y, batch_size=2**64, epochs=1, verbose=0)


def test_iterations_setter_range_checked():
    net = _core.Network()
    for bad in (-1, 10**30, 2**62, 1.5, "3"):
        with pytest.raises(ValueError, match="iterations"):
            net.iterations = bad
    net.iterations = 7
    assert net.iterations == 7


def test_lstm_pass_keeps_its_input_alive():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((3, 8)).astype(np.float32)
    U = rng.standard_normal((2, 8)).astype(np.float32)
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    want = _core.lstm_forward(x.copy(), W, U).backward(dy=np.ones((4, 2), np.float32))
    p = _core.lstm_forward(x.copy(), W, U)   # the only reference to the input is the pass's
    gc.collect()
    np.ones((4, 5, 3), np.float32) * 7.0     # reuse the freed memory if it had been freed
    got = p.backward(dy=np.ones((4, 2), np.float32))
    np.testing.assert_array_equal(got["dkernel"], want["dkernel"])


def test_float32_from_another_process_accepted():
    # a pickled array's dtype is equal to, not the same object as, numpy's float32
    import pickle
    m = Sequential([LSTM(4, input_shape=(6, 2)), Dense(1)])
    x, _ = _xy()
    xp = pickle.loads(pickle.dumps(x))
    np.testing.assert_array_equal(m.predict(xp), m.predict(x))
    a = np.ones((2, 2), np.dtype("<f4"))
    assert _core.first_nonfinite(a) == -1


# ---- finite weights, always --------------------------------------------------------------
@pytest.mark.parametrize("opt", [lambda: SGD(lr=1e38), lambda: SGD(lr=1e30, momentum=0.9),
                                 lambda: Adam(lr=1e38), lambda: RMSprop(lr=1e38),
                                 lambda: SGD(lr=3e38, nesterov=True, momentum=0.5)])
def test_overflowing_update_is_rolled_back(opt):
    lstmcore.set_seed(3)
    m = Sequential([LSTM(5, input_shape=(6, 2)), Dense(1)])
    m.compile(opt(), "mse")
    x, y = _xy()
    y = y * 1e5  # big gradients
    before = m.get_weights()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        hist = m.fit(x, y, epochs=3, batch_size=32, verbose=0, shuffle=False)
    after = m.get_weights()
    assert all(np.isfinite(a).all() for a in after)
    msgs = [str(i.message) for i in w if issubclass(i.category, RuntimeWarning)]
    if msgs:  # training stopped: the warning tells the truth about the weights
        assert "weights are those after the previous batch" in msgs[0]
        assert len(hist.history["loss"]) <= 3
        # refused at its first batch here: nothing may have changed
        if len(hist.history["loss"]) == 1:
            for a, b in zip(before, after):
                np.testing.assert_array_equal(a, b)
    slots = m._native().optimizer_slots()
    assert all(np.isfinite(np.asarray(s)).all() for s in slots)


def test_rollback_restores_exactly_and_training_continues_with_a_sane_rate():
    lstmcore.set_seed(4)
    m = Sequential([LSTM(5, input_shape=(6, 2)), Dense(1)])
    m.compile(SGD(lr=1e-2), "mse")
    x, y = _xy()
    m.fit(x, y, epochs=2, verbose=0)
    good = m.get_weights()
    m.compile(SGD(lr=3e38), "mse")
    with pytest.warns(RuntimeWarning, match="non-finite"):
        m.train_on_batch(x, y * 1e6)
    for a, b in zip(good, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    m.compile(SGD(lr=1e-2), "mse")
    h = m.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(h.history["loss"]).all()


def test_refused_step_leaves_stateful_state_as_before():
    # a stateful model's state moves only with completed batches: a refused update rolls it
    # back with the weights, so the next call continues from the previous batch
    def model():
        lstmcore.set_seed(8)
        m = Sequential([LSTM(4, stateful=True, batch_input_shape=(4, 3, 2)), Dense(1)])
        m.compile(SGD(lr=3e38), "mse")
        return m
    x, y = _xy(4, 3, 2)
    a, b = model(), model()
    a.predict(x, batch_size=4)
    b.predict(x, batch_size=4)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        a.train_on_batch(x, y * 1e6)
    np.testing.assert_array_equal(a.predict(x, batch_size=4), b.predict(x, batch_size=4))


@pytest.mark.parametrize("level", _core.supported_simd_levels())
def test_max_abs_kernel_every_level(level):
    # the gradient scan and the update bound: exact max |x|, inf for any NaN or inf
    before = _core.simd_level()
    _core.set_simd_level(level)
    try:
        rng = np.random.default_rng(0)
        for n in (0, 1, 7, 16, 17, 255, 256, 257, 1000):
            a = (rng.standard_normal(n) * 10.0 ** rng.integers(-40, 38, n)).astype(np.float32)
            want = float(np.abs(a).max()) if n else 0.0
            assert _core.max_abs(a) == want
            if n:
                for bad in (np.nan, np.inf, -np.inf, -np.nan):
                    b = a.copy()
                    b[rng.integers(0, n)] = bad
                    assert _core.max_abs(b) == np.inf
        assert _core.max_abs(np.array([-3.0, 2.0], np.float32)) == 3.0
        assert _core.max_abs(np.array([1e-45, -0.0], np.float32)) == np.float32(1e-45)
    finally:
        _core.set_simd_level(before)


def test_trainable_false_freezes_weights_as_keras_does():
    # was a silent no-op: accepted and saved, yet the weights trained
    lstmcore.set_seed(11)
    m = Sequential([LSTM(4, input_shape=(6, 2), trainable=False), Dense(1)])
    m.compile("adam", "mse")
    x, y = _xy()
    frozen = m.layers[0].get_weights()
    dense0 = m.layers[1].get_weights()
    m.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, m.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(dense0, m.layers[1].get_weights()))
    lines = []
    m.summary(print_fn=lines.append)
    n_lstm = m.layers[0].count_params()
    assert f"Non-trainable params: {n_lstm:,}" in lines
    assert f"Trainable params: {m.count_params() - n_lstm:,}" in lines
    # unfreeze: it trains again; freeze the head instead
    m.layers[0].trainable = True
    m.layers[1].trainable = False
    head = m.layers[1].get_weights()
    m.fit(x, y, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(frozen, m.layers[0].get_weights()))
    for a, b in zip(head, m.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_frozen_layers_save_and_load_with_their_optimizer_state(tmp_path):
    lstmcore.set_seed(12)
    m = Sequential([LSTM(4, input_shape=(6, 2)), Dense(3), Dense(1, trainable=False)])
    m.compile("adam", "mse")
    x, y = _xy()
    m.fit(x, y, epochs=1, verbose=0)
    m.save(tmp_path / "m.lstmcore")
    r = lstmcore.load_model(tmp_path / "m.lstmcore")
    assert not r.layers[2].trainable
    m.fit(x, y, epochs=1, verbose=0, shuffle=False)
    r.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(m.get_weights(), r.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bidirectional_stateful_reset_states():
    # was a silent no-op
    lstmcore.set_seed(13)
    from lstmcore.layers import Bidirectional
    m = Sequential([Bidirectional(LSTM(3, stateful=True), batch_input_shape=(2, 4, 1)), Dense(1)])
    x = np.random.default_rng(0).random((2, 4, 1)).astype(np.float32)
    first = m.predict(x)
    assert not np.array_equal(first, m.predict(x))  # the state carried over
    m.layers[0].reset_states()
    np.testing.assert_array_equal(first, m.predict(x))
    m.predict(x)
    m.reset_states()
    np.testing.assert_array_equal(first, m.predict(x))


def test_train_batches_refuses_a_batch_range_past_the_data():
    # batch k reads idx[k * batch_size]: a range past the data is refused, never read
    m = Sequential([LSTM(3, input_shape=(6, 2)), Dense(1)])
    m.compile("sgd", "mse")
    x, y = _xy(8)
    net = m._native()
    idx = np.arange(8, dtype=np.int64)
    with pytest.raises(ValueError, match="batch range"):
        net.train_batches(x, y, idx, 4, 0, 3)
    assert net.train_batches(x, y, idx, 4, 0, 2)[0] == 2
