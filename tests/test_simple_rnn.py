"""SimpleRNN: the native layer against the float64 NumPy reference (forward and gradients,
awkward shapes, every SIMD level), the reference against finite differences, threads,
stateful carry-over, dropout, Bidirectional, the layer on its own and saving."""

import lstmcore
import numpy as np
import pytest
from conftest import build_reference, num_grad
from lstmcore import reference as ref
from lstmcore.layers import Bidirectional, Dense, SimpleRNN
from lstmcore.models import Sequential, load_model
from rnn_cases import SHAPES, check_against_reference, close, rand, randomize


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_gradients_equal_reference(shape, simd):
    check_against_reference(SimpleRNN(shape[3]), {"type": "simple_rnn"}, shape)


@pytest.mark.parametrize("options", [
    dict(return_sequences=True), dict(go_backwards=True),
    dict(return_sequences=True, go_backwards=True), dict(use_bias=False),
    dict(activation="relu"), dict(activation="sigmoid"), dict(activation="linear"),
])
def test_options_equal_reference(options, simd):
    spec = {"type": "simple_rnn", **{k: v for k, v in options.items() if k != "use_bias"}}
    if "use_bias" in options:
        spec["bias"] = None
    check_against_reference(SimpleRNN(6, **options), spec, (3, 4, 2, 6))


def test_reference_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    B, T, D, H = 2, 3, 2, 3
    x = rng.normal(size=(B, T, D))
    W, U = rng.normal(scale=0.5, size=(D, H)), rng.normal(scale=0.5, size=(H, H))
    b, h0 = rng.normal(scale=0.5, size=(H,)), rng.normal(scale=0.5, size=(B, H))
    w_out = rng.normal(size=(B, T, H))

    def loss():
        hs, h_T, cache = ref.simple_rnn_forward(x, W, U, b, h0, go_backwards=True)
        return float((hs * w_out).sum() + (h_T ** 2).sum()), cache, h_T

    _, cache, h_T = loss()
    g = ref.simple_rnn_backward(cache, dhs=w_out, dh_T=2 * h_T)
    for arr, key in ((x, "dx"), (W, "dkernel"), (U, "drecurrent_kernel"), (b, "dbias"),
                     (h0, "dh0")):
        np.testing.assert_allclose(g[key], num_grad(lambda: loss()[0], arr), rtol=1e-6,
                                   atol=1e-7, err_msg=key)


@pytest.mark.parametrize("shape", [(8, 40, 3, 32), (16, 3, 5, 600)])
def test_one_and_two_threads_give_identical_results(shape, threads):
    # (8, 40, 3, 32): the batch split by rows; (16, 3, 5, 600): the units split
    B, T, F, H = shape
    x, y = rand((B, T, F), 1), rand((B, 1), 2)
    results = []
    for n in (1, 2):
        lstmcore.set_num_threads(n)
        lstmcore.set_seed(0)
        m = Sequential([SimpleRNN(H, return_sequences=True, input_shape=(T, F)), SimpleRNN(3),
                        Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        net = m._native()
        loss = net.compute_gradients(x, y)
        results.append((m.predict(x, batch_size=B), loss, [np.array(g) for g in net.gradients()]))
    (p1, l1, g1), (p2, l2, g2) = results
    np.testing.assert_array_equal(p1, p2)
    assert l1 == l2
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)


def test_large_layer_equals_reference(threads):
    lstmcore.set_num_threads(2)
    check_against_reference(SimpleRNN(600, return_sequences=True),
                            {"type": "simple_rnn", "return_sequences": True}, (16, 2, 3, 600))


def test_called_on_its_own_with_state():
    layer = SimpleRNN(4, return_sequences=True, return_state=True)
    x, h0 = rand((3, 5, 2), 1), rand((3, 4), 2, 0.5)
    out, h = layer(x, initial_state=h0)
    hs, h_T, _ = ref.simple_rnn_forward(x.astype(np.float64), layer.kernel, layer.recurrent_kernel,
                                        layer.bias, h0)
    close(out, hs, 40)
    close(h, h_T, 40)
    plain = SimpleRNN(4)
    assert plain(x).shape == (3, 4)


BS, T, F, H = 4, 5, 2, 3


def test_stateful_batch_a_then_b_equals_reference_over_the_concatenation(simd):
    model = Sequential([SimpleRNN(H, stateful=True, batch_input_shape=(BS, T, F)), Dense(1)])
    randomize(model, 10, 0.6)
    r = build_reference([{"type": "simple_rnn"}, {"type": "dense"}], model.get_weights())
    a, b = rand((BS, T, F), 1), rand((BS, T, F), 2)
    pa, pb = model.predict(a), model.predict(b)
    close(pa, r.forward(a.astype(np.float64)), 4 * T * (F + H))
    close(pb, r.forward(np.concatenate([a, b], axis=1).astype(np.float64)), 4 * T * (F + H))
    model.reset_states()
    np.testing.assert_array_equal(model.predict(a), pa)


def test_stacked_stateful_bidirectional_and_reset():
    model = Sequential([
        Bidirectional(SimpleRNN(H, stateful=True, return_sequences=True),
                      batch_input_shape=(BS, T, F)),
        SimpleRNN(H, stateful=True), Dense(1)])
    a = rand((BS, T, F), 1)
    first = model.predict(a)
    assert np.abs(model.predict(a) - first).max() > 1e-4  # the state carried over
    model.reset_states()
    np.testing.assert_array_equal(model.predict(a), first)


@pytest.mark.parametrize("dropout,recurrent_dropout", [(0.4, 0.0), (0.0, 0.4), (0.3, 0.3)])
def test_dropout_gradients_match_finite_differences(dropout, recurrent_dropout):
    lstmcore.set_seed(5)
    rng = np.random.default_rng(1)
    m = Sequential([SimpleRNN(6, input_shape=(4, 3), dropout=dropout,
                              recurrent_dropout=recurrent_dropout), Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    x, y = rng.random((3, 4, 3)).astype(np.float32), rng.random((3, 1)).astype(np.float32)
    net = m._native()
    seed = 99
    net.compute_gradients(x, y, seed)
    grads = [np.array(g) for g in net.gradients()]
    eps = 1e-2
    for w, g in zip([w for layer in m.layers for w in layer.weights], grads):
        flat, gf = w.reshape(-1), g.reshape(-1)
        for i in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            keep = flat[i]
            flat[i] = keep + eps
            up = net.compute_gradients(x, y, seed)
            flat[i] = keep - eps
            down = net.compute_gradients(x, y, seed)
            flat[i] = keep
            fd = (up - down) / (2 * eps)
            assert abs(fd - gf[i]) <= 2e-3 + 2e-2 * abs(fd), (w.shape, i, fd, gf[i])


def test_dropout_training_is_reproducible():
    x = np.random.default_rng(0).random((32, 4, 3)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None] / 12

    def run(seed):
        lstmcore.set_seed(11)
        m = Sequential([SimpleRNN(5, input_shape=(4, 3), dropout=0.3, recurrent_dropout=0.3),
                        Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        m.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=seed)
        return m.get_weights()

    for u, v in zip(run(7), run(7)):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_equals_reference(merge_mode, return_sequences, simd):
    layer = Bidirectional(SimpleRNN(5, return_sequences=return_sequences), merge_mode=merge_mode)
    spec = {"type": "bidirectional", "merge_mode": merge_mode,
            "return_sequences": return_sequences,
            "forward": {"type": "simple_rnn"}, "backward": {"type": "simple_rnn"}}
    check_against_reference(layer, spec, (3, 4, 2, 5))


def test_save_and_load_round_trip(tmp_path):
    m = Sequential([SimpleRNN(5, return_sequences=True, input_shape=(4, 3)), SimpleRNN(3),
                    Dense(2)])
    m.compile(optimizer="rmsprop", loss="mse")
    x, y = rand((8, 4, 3), 1), rand((8, 2), 2)
    m.fit(x, y, epochs=1, verbose=0)
    m.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(x), m.predict(x))
    assert [w.shape for w in loaded.get_weights()][:3] == [(3, 5), (5, 5), (5,)]


def test_bad_input_is_refused_and_changes_nothing():
    m = Sequential([SimpleRNN(3, input_shape=(4, 2)), Dense(1)])
    x = rand((5, 4, 2), 1)
    before = m.predict(x)
    with pytest.raises(ValueError, match="features|shape"):
        m.predict(rand((5, 4, 3), 1))
    with pytest.raises(ValueError, match="softmax"):
        SimpleRNN(3, activation="softmax")
    with pytest.raises(ValueError, match="3D"):
        SimpleRNN(3)(np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(m.predict(x), before)
