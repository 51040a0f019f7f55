"""GRU: the native layer against the float64 NumPy reference (forward and gradients, both
reset_after variants, awkward shapes, every SIMD level), the reference against finite
differences, threads, stateful carry-over, dropout, Bidirectional, the layer on its own and
saving."""

import lstmcore
import numpy as np
import pytest
from conftest import build_reference, num_grad
from lstmcore import reference as ref
from lstmcore.layers import GRU, Bidirectional, Dense
from lstmcore.models import Sequential, load_model
from rnn_cases import SHAPES, check_against_reference, close, rand, randomize


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_gradients_equal_reference(shape, reset_after, simd):
    H = shape[3]
    check_against_reference(GRU(H, reset_after=reset_after),
                            {"type": "gru", "reset_after": reset_after}, shape)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("options", [
    dict(return_sequences=True), dict(go_backwards=True),
    dict(return_sequences=True, go_backwards=True), dict(use_bias=False),
    dict(activation="relu", recurrent_activation="hard_sigmoid"),
])
def test_options_equal_reference(options, reset_after, simd):
    spec = {"type": "gru", "reset_after": reset_after,
            **{k: v for k, v in options.items() if k != "use_bias"}}
    if "use_bias" in options:
        spec["bias"] = None
    check_against_reference(GRU(6, reset_after=reset_after, **options), spec, (3, 4, 2, 6))


@pytest.mark.parametrize("reset_after", [True, False])
def test_reference_gradients_match_finite_differences(reset_after):
    rng = np.random.default_rng(0)
    B, T, D, H = 2, 3, 2, 3
    x = rng.normal(size=(B, T, D))
    W = rng.normal(scale=0.5, size=(D, 3 * H))
    U = rng.normal(scale=0.5, size=(H, 3 * H))
    b = rng.normal(scale=0.5, size=(2, 3 * H) if reset_after else (3 * H,))
    h0 = rng.normal(scale=0.5, size=(B, H))
    w_out = rng.normal(size=(B, T, H))

    def loss():
        hs, h_T, cache = ref.gru_forward(x, W, U, b, h0, reset_after=reset_after,
                                         go_backwards=True)
        return float((hs * w_out).sum() + (h_T ** 2).sum()), cache, h_T

    _, cache, h_T = loss()
    g = ref.gru_backward(cache, dhs=w_out, dh_T=2 * h_T)
    for arr, key in ((x, "dx"), (W, "dkernel"), (U, "drecurrent_kernel"), (b, "dbias"),
                     (h0, "dh0")):
        np.testing.assert_allclose(g[key], num_grad(lambda: loss()[0], arr), rtol=1e-6,
                                   atol=1e-7, err_msg=key)


def test_reference_matches_a_step_written_out():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 1, 3))
    W, U = rng.normal(size=(3, 6)), rng.normal(size=(2, 6))
    b = rng.normal(size=(2, 6))
    h0 = rng.normal(size=(2, 2))
    sig = ref.sigmoid
    xp = x[:, 0] @ W + b[0]
    rp = h0 @ U + b[1]
    z, r = sig(xp[:, :2] + rp[:, :2]), sig(xp[:, 2:4] + rp[:, 2:4])
    hh = np.tanh(xp[:, 4:] + r * rp[:, 4:])
    _, h, _ = ref.gru_forward(x, W, U, b, h0)
    np.testing.assert_allclose(h, z * h0 + (1 - z) * hh, rtol=1e-12)
    # reset_after=False: (r * h) U_h, one bias
    xp = x[:, 0] @ W + b[0]
    rp = h0 @ U[:, :4]
    z, r = sig(xp[:, :2] + rp[:, :2]), sig(xp[:, 2:4] + rp[:, 2:4])
    hh = np.tanh(xp[:, 4:] + (r * h0) @ U[:, 4:])
    _, h, _ = ref.gru_forward(x, W, U, b[0], h0, reset_after=False)
    np.testing.assert_allclose(h, z * h0 + (1 - z) * hh, rtol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("shape", [(8, 20, 3, 32), (16, 3, 5, 257)])
def test_one_and_two_threads_give_identical_results(shape, reset_after, threads):
    # (8, 20, 3, 32): the batch split by rows; (16, 3, 5, 257): the units split (a barrier
    # a step, two without reset_after)
    B, T, F, H = shape
    x, y = rand((B, T, F), 1), rand((B, 1), 2)
    results = []
    for n in (1, 2):
        lstmcore.set_num_threads(n)
        lstmcore.set_seed(0)
        m = Sequential([GRU(H, reset_after=reset_after, return_sequences=True,
                            input_shape=(T, F)), GRU(3, reset_after=reset_after), Dense(1)])
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
    check_against_reference(GRU(257, return_sequences=True), {"type": "gru", "return_sequences": True},
                            (16, 2, 3, 257))
    check_against_reference(GRU(257, reset_after=False), {"type": "gru", "reset_after": False},
                            (16, 2, 3, 257))


@pytest.mark.parametrize("reset_after", [True, False])
def test_called_on_its_own_with_state(reset_after):
    layer = GRU(4, return_sequences=True, return_state=True, reset_after=reset_after)
    x = rand((3, 5, 2), 1)
    h0 = rand((3, 4), 2, 0.5)
    out, h = layer(x, initial_state=[h0])
    hs, h_T, _ = ref.gru_forward(x.astype(np.float64), layer.kernel, layer.recurrent_kernel,
                                 layer.bias, h0, reset_after=reset_after)
    close(out, hs, 40)
    close(h, h_T, 40)
    np.testing.assert_array_equal(GRU.from_config(layer.get_config()).return_state, True)
    with pytest.raises(ValueError, match="one state"):
        layer(x, initial_state=[h0, h0])
    with pytest.raises(ValueError, match="return_state"):
        Sequential([GRU(2, return_state=True, input_shape=(5, 2))])


def test_weights_are_keras_layout():
    m = Sequential([GRU(4, input_shape=(5, 3), return_sequences=True), GRU(2, reset_after=False)])
    assert [w.shape for w in m.get_weights()] == [(3, 12), (4, 12), (2, 12), (4, 6), (2, 6), (6,)]
    u = m.get_weights()[1]
    np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-5)  # orthogonal (4, 12)
    assert not m.get_weights()[2].any()  # bias zeros


BS, T, F, H = 4, 5, 2, 3


@pytest.mark.parametrize("reset_after", [True, False])
def test_stateful_batch_a_then_b_equals_reference_over_the_concatenation(reset_after, simd):
    model = Sequential([GRU(H, stateful=True, reset_after=reset_after,
                            batch_input_shape=(BS, T, F)), Dense(1)])
    randomize(model, 10, 0.6)
    spec = [{"type": "gru", "reset_after": reset_after}, {"type": "dense"}]
    r = build_reference(spec, model.get_weights())
    a, b = rand((BS, T, F), 1), rand((BS, T, F), 2)
    both = np.concatenate([a, b], axis=1).astype(np.float64)
    pa, pb = model.predict(a), model.predict(b)
    close(pa, r.forward(a.astype(np.float64)), 4 * T * (F + H))
    close(pb, r.forward(both), 4 * T * (F + H))
    r.forward(a.astype(np.float64))
    close(pb, r.forward(b.astype(np.float64), initial_states=[r.final_states[0]]), 4 * T * (F + H))
    model.reset_states()
    np.testing.assert_array_equal(model.predict(a), pa)


def test_stateful_fit_carries_state_like_the_reference():
    model = Sequential([GRU(H, stateful=True, batch_input_shape=(BS, T, F)), Dense(1)])
    randomize(model, 3, 0.6)
    model.compile(optimizer=lstmcore.optimizers.SGD(0.1), loss="mse")
    r = build_reference([{"type": "gru"}, {"type": "dense"}], model.get_weights())
    x, y = rand((2 * BS, T, F), 4), rand((2 * BS, 1), 5)
    model.fit(x, y, batch_size=BS, epochs=1, shuffle=False, verbose=0)
    state = None
    params = r.params()
    for k in range(2):
        xb, yb = x[k * BS:(k + 1) * BS].astype(np.float64), y[k * BS:(k + 1) * BS].astype(np.float64)
        _, grads = r.loss_and_grads(xb, yb, "mse", initial_states=[state])
        state = r.final_states[0]
        params = [[p - 0.1 * g for p, g in zip(ps, gs)] for ps, gs in zip(params, grads)]
        r.set_params(params)
    for a, e in zip(model.get_weights(), [p for ps in params for p in ps]):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)
    # the state after fit is the reference's
    close(model.predict(x[:BS]), r.forward(x[:BS].astype(np.float64), initial_states=[state]),
          8 * T * (F + H))


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dropout,recurrent_dropout", [(0.4, 0.0), (0.0, 0.4), (0.3, 0.3)])
def test_dropout_gradients_match_finite_differences(dropout, recurrent_dropout, reset_after):
    lstmcore.set_seed(5)
    rng = np.random.default_rng(1)
    m = Sequential([GRU(6, input_shape=(4, 3), dropout=dropout, reset_after=reset_after,
                        recurrent_dropout=recurrent_dropout), Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    x, y = rng.random((3, 4, 3)).astype(np.float32), rng.random((3, 1)).astype(np.float32)
    net = m._native()
    seed = 1234
    net.compute_gradients(x, y, seed)
    grads = [np.array(g) for g in net.gradients()]
    # the masks are on: the training loss differs from the inference one
    assert net.compute_gradients(x, y, seed) != pytest.approx(
        float(((m.predict(x) - y) ** 2).mean()), rel=1e-6)
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


def test_dropout_training_is_reproducible_and_off_at_inference():
    x = np.random.default_rng(0).random((32, 4, 3)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None] / 12

    def run(d, rd, seed):
        lstmcore.set_seed(11)
        m = Sequential([GRU(5, input_shape=(4, 3), dropout=d, recurrent_dropout=rd), Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        before = m.predict(x)
        m.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=seed)
        return before, m.get_weights()

    (p1, a), (_, b) = run(0.3, 0.3, 7), run(0.3, 0.3, 7)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    p0, c = run(0.0, 0.0, 7)
    np.testing.assert_array_equal(p0, p1)  # dropout is off at inference
    assert any(not np.array_equal(u, v) for u, v in zip(a, c))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_equals_reference(merge_mode, return_sequences, simd):
    layer = Bidirectional(GRU(5, return_sequences=return_sequences), merge_mode=merge_mode)
    spec = {"type": "bidirectional", "merge_mode": merge_mode,
            "return_sequences": return_sequences,
            "forward": {"type": "gru"}, "backward": {"type": "gru"}}
    check_against_reference(layer, spec, (3, 4, 2, 5))


def test_bidirectional_reset_after_false_and_weight_order():
    layer = Bidirectional(GRU(4, reset_after=False))
    spec = {"type": "bidirectional", "forward": {"type": "gru", "reset_after": False},
            "backward": {"type": "gru", "reset_after": False}}
    m = check_against_reference(layer, spec, (2, 3, 3, 4))
    # forward layer's kernel, recurrent kernel, bias, then the backward layer's (Keras)
    assert [w.shape for w in m.layers[0].get_weights()] == [(3, 12), (4, 12), (12,)] * 2


def test_save_and_load_round_trip(tmp_path):
    m = Sequential([GRU(5, return_sequences=True, reset_after=False, input_shape=(4, 3)),
                    Bidirectional(GRU(3)), Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    x, y = rand((8, 4, 3), 1), rand((8, 2), 2)
    m.fit(x, y, epochs=1, verbose=0)
    m.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(x), m.predict(x))
    assert loaded.layers[0].reset_after is False
    assert loaded.layers[1].forward_layer.reset_after is True
    h1 = m.fit(x, y, epochs=1, verbose=0, shuffle=False).history["loss"]
    h2 = loaded.fit(x, y, epochs=1, verbose=0, shuffle=False).history["loss"]
    assert h1 == h2


def test_bad_input_is_refused_and_changes_nothing():
    m = Sequential([GRU(3, input_shape=(4, 2)), Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    x = rand((5, 4, 2), 1)
    before = m.predict(x)
    with pytest.raises(ValueError, match="features|shape"):
        m.predict(rand((5, 4, 3), 1))
    with pytest.raises(ValueError, match="softmax"):
        GRU(3, recurrent_activation="softmax")
    with pytest.raises(ValueError, match="units"):
        GRU(0)
    with pytest.raises(ValueError, match="dropout"):
        GRU(3, dropout=1.0)
    with pytest.raises(ValueError):
        m.set_weights([w[..., :-1] if w.ndim == 2 and w.shape[0] == 2 else w
                       for w in m.get_weights()])
    np.testing.assert_array_equal(m.predict(x), before)


@pytest.mark.parametrize("cls", ["gru", "simple_rnn"])
def test_refused_step_leaves_stateful_state_as_before(cls):
    # as tests/test_trust.py for LSTM: a refused update rolls the state back with the weights
    from lstmcore.layers import SimpleRNN
    from lstmcore.optimizers import SGD

    def model():
        lstmcore.set_seed(8)
        layer = (GRU if cls == "gru" else SimpleRNN)(4, stateful=True, batch_input_shape=(4, 3, 2))
        m = Sequential([layer, Dense(1)])
        m.compile(SGD(learning_rate=3e38), "mse")
        return m
    x, y = rand((4, 3, 2), 1), rand((4, 1), 2)
    a, b = model(), model()
    a.predict(x, batch_size=4)
    b.predict(x, batch_size=4)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        a.train_on_batch(x, y * 1e6)
    np.testing.assert_array_equal(a.predict(x, batch_size=4), b.predict(x, batch_size=4))
    assert np.abs(a.predict(x, batch_size=4) - a.predict(x, batch_size=4)).max() > 0
