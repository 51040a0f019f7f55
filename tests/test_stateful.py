"""Stateful LSTMs: sample i of batch k+1 starts from the final state of sample i of batch k,
across predict/evaluate/fit calls, until reset_states(); the batch-size rules; the shuffle
warning. Values are checked against the float64 reference run with explicit initial states.
"""

import warnings

import numpy as np
import pytest
from conftest import EPS32, build_reference
from lstmcore import reference as ref
from lstmcore.layers import LSTM, Bidirectional, Dense
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD

BS, T, F, H = 4, 5, 2, 3


def _rand(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _close(actual, expected, n_terms=2 * T * (F + H)):
    # float32 vs float64 (see tests/test_model.py): the state carries over twice the steps
    rtol = 8 * EPS32 * np.sqrt(n_terms)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol)


def _stateful_model(stacked=False, randomize=True):
    if stacked:
        layers = [LSTM(H, stateful=True, return_sequences=True, batch_input_shape=(BS, T, F)),
                  LSTM(H, stateful=True), Dense(1)]
    else:
        layers = [LSTM(H, stateful=True, batch_input_shape=(BS, T, F)), Dense(1)]
    model = Sequential(layers)
    if randomize:
        rng = np.random.default_rng(10)
        model.set_weights([rng.normal(scale=0.6, size=w.shape) for w in model.get_weights()])
    return model


SPECS = [{"type": "lstm"}, {"type": "dense"}]
STACKED_SPECS = [{"type": "lstm", "return_sequences": True}, {"type": "lstm"}, {"type": "dense"}]


def test_consecutive_predicts_continue_and_reset_restores():
    model = _stateful_model()
    x = _rand((BS, T, F), 1)
    first = model.predict(x)
    second = model.predict(x)
    assert np.abs(first - second).max() > 1e-3  # the second call starts from the first's state
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x), first)
    model.reset_states()
    np.testing.assert_array_equal(model.predict_on_batch(x), first)
    np.testing.assert_array_equal(model.predict_on_batch(x), second)


def test_batch_a_then_b_equals_reference_over_the_concatenation(simd):
    model = _stateful_model()
    a, b = _rand((BS, T, F), 1), _rand((BS, T, F), 2)
    r = build_reference(SPECS, model.get_weights())
    both = np.concatenate([a, b], axis=1).astype(np.float64)  # sample i: A[i] then B[i] in time
    expected_b = r.forward(both)
    expected_a = r.forward(a.astype(np.float64))
    pa = model.predict(a)
    pb = model.predict(b)
    _close(pa, expected_a)
    _close(pb, expected_b)
    # the same, by an explicit initial state taken from A's final state
    r.forward(a.astype(np.float64))
    state = r.final_states[0]
    _close(pb, r.forward(b.astype(np.float64), initial_states=[state]))


def test_several_batches_in_one_call_carry_sample_i_to_sample_i():
    model = _stateful_model()
    x = _rand((3 * BS, T, F), 3)  # three batches of BS
    r = build_reference(SPECS, model.get_weights())
    out = model.predict(x)  # batch_size omitted: the fixed batch size
    assert out.shape == (3 * BS, 1)
    state = None
    for k in range(3):
        xb = x[k * BS:(k + 1) * BS].astype(np.float64)
        expected = r.forward(xb, initial_states=[state])
        state = r.final_states[0]
        _close(out[k * BS:(k + 1) * BS], expected, n_terms=3 * T * (F + H))
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x, batch_size=BS), out)


def test_stacked_stateful_layers_and_per_layer_reset():
    model = _stateful_model(stacked=True)
    a, b = _rand((BS, T, F), 4), _rand((BS, T, F), 5)
    r = build_reference(STACKED_SPECS, model.get_weights())
    r.forward(a.astype(np.float64))
    s1, s2 = r.final_states
    model.predict(a)
    # reset only the first LSTM: it starts from zeros, the second keeps its state from A
    model.layers[0].reset_states()
    got = model.predict(b)
    _close(got, r.forward(b.astype(np.float64), initial_states=[None, s2]))
    # and the reverse, from a fresh run over A
    model.reset_states()
    model.predict(a)
    model.layers[1].reset_states()
    _close(model.predict(b), r.forward(b.astype(np.float64), initial_states=[s1, None]))
    # both kept
    model.reset_states()
    model.predict(a)
    _close(model.predict(b), r.forward(b.astype(np.float64), initial_states=[s1, s2]))


def test_stateful_bidirectional_carries_both_directions(simd):
    model = Sequential([Bidirectional(LSTM(H, stateful=True), batch_input_shape=(BS, T, F)),
                        Dense(1)])
    rng = np.random.default_rng(6)
    model.set_weights([rng.normal(scale=0.6, size=w.shape) for w in model.get_weights()])
    w = [v.astype(np.float64) for v in model.get_weights()]
    a, b = _rand((BS, T, F), 7), _rand((BS, T, F), 8)
    fw = {"kernel": w[0], "recurrent_kernel": w[1], "bias": w[2]}
    bw = {"kernel": w[3], "recurrent_kernel": w[4], "bias": w[5]}
    _, cache = ref.bidirectional_forward(a.astype(np.float64), fw, bw)
    yb, _ = ref.bidirectional_forward(b.astype(np.float64), fw, bw,
                                      initial_state=list(cache["states"]))
    expected_b = yb @ w[6] + w[7]
    model.predict(a)
    _close(model.predict(b), expected_b)


def test_state_persists_across_evaluate_fit_and_predict():
    model = _stateful_model()
    lr = 0.1
    model.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    a, b, c = _rand((BS, T, F), 11), _rand((BS, T, F), 12), _rand((BS, T, F), 13)
    ya, yb = _rand((BS, 1), 14), _rand((BS, 1), 15)
    w0 = [v.astype(np.float64) for v in model.get_weights()]
    r0 = build_reference(SPECS, w0)

    # evaluate(A) leaves A's final state: evaluate(B) then continues from it
    model.evaluate(a, ya, verbose=0)
    r0.forward(a.astype(np.float64))
    sa = r0.final_states[0]
    loss_b = model.evaluate(b, yb, verbose=0)
    pb = r0.forward(b.astype(np.float64), initial_states=[sa])
    sb = r0.final_states[0]
    assert loss_b == pytest.approx(float(np.mean((pb - yb) ** 2)), rel=1e-5)

    # fit on C continues from B's state; the state after fit is the forward state of C under
    # the weights before the update, and the update uses the gradient from that start state
    _, grads = r0.loss_and_grads(c.astype(np.float64), ya, "mse", initial_states=[sb])
    sc = r0.final_states[0]
    model.fit(c, ya, epochs=1, shuffle=False, verbose=0)
    w1 = [wi - lr * gi for wi, gi in zip(w0, [g for layer in grads for g in layer])]
    for got, exp in zip(model.get_weights(), w1):
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)

    # predict(A) after fit continues from C's state, with the updated weights
    r1 = build_reference(SPECS, model.get_weights())
    _close(model.predict(a), r1.forward(a.astype(np.float64), initial_states=[sc]))

    # until reset
    model.reset_states()
    _close(model.predict(a), r1.forward(a.astype(np.float64)))


def test_train_on_batch_carries_state():
    model = _stateful_model()
    model.compile(optimizer=SGD(learning_rate=1e-9), loss="mse")  # weights barely move
    a, b = _rand((BS, T, F), 21), _rand((BS, T, F), 22)
    r = build_reference(SPECS, model.get_weights())
    model.train_on_batch(a, np.zeros((BS, 1)))
    both = np.concatenate([a, b], axis=1).astype(np.float64)
    np.testing.assert_allclose(model.predict(b), r.forward(both), rtol=1e-5, atol=1e-6)


def test_non_stateful_model_has_no_memory():
    model = Sequential([LSTM(H, batch_input_shape=(BS, T, F)), Dense(1)])
    x = _rand((BS, T, F), 1)
    first = model.predict(x)
    np.testing.assert_array_equal(model.predict(x), first)
    model.reset_states()  # a no-op, and no error
    np.testing.assert_array_equal(model.predict(x), first)


# ---------------------------------------------------------------------------------------------
# Batch-size rules
# ---------------------------------------------------------------------------------------------
def test_sample_count_not_a_multiple_of_the_batch_size():
    model = _stateful_model()
    model.compile(optimizer="sgd", loss="mse")
    x, y = _rand((10, T, F), 1), _rand((10, 1), 2)
    before = model.predict(x[:8])
    model.reset_states()
    msg = r"whole batches of 4 samples.*received 10 samples, which is not a multiple of 4"
    with pytest.raises(ValueError, match=msg):
        model.predict(x)
    with pytest.raises(ValueError, match=msg):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=msg):
        model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    with pytest.raises(ValueError, match=r"exactly 4 samples; received 10"):
        model.predict_on_batch(x)
    with pytest.raises(ValueError, match=r"4"):
        model.train_on_batch(x, y)
    # nothing ran: the state is still zero and the weights unchanged
    np.testing.assert_array_equal(model.predict(x[:8]), before)


def test_another_batch_size_is_rejected():
    model = _stateful_model()
    model.compile(optimizer="sgd", loss="mse")
    x, y = _rand((8, T, F), 1), _rand((8, 1), 2)
    before = model.predict(x)
    model.reset_states()
    msg = r"batch size 4 \(from batch_input_shape\).*batch_size=4.*received batch_size=8"
    with pytest.raises(ValueError, match=msg):
        model.predict(x, batch_size=8)
    with pytest.raises(ValueError, match=msg):
        model.evaluate(x, y, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=msg):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_array_equal(model.predict(x), before)
    # batch_size equal to the fixed one, or omitted, is fine
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x, batch_size=4), before)


def test_stateful_layer_needs_a_fixed_batch_size():
    with pytest.raises(ValueError, match=r"stateful.*batch_input_shape"):
        LSTM(2, stateful=True, batch_input_shape=(None, 5, 1))


def test_shuffle_true_on_a_stateful_model_warns_once():
    model = _stateful_model()
    model.compile(optimizer="sgd", loss="mse")
    x, y = _rand((8, T, F), 1), _rand((8, 1), 2)
    with pytest.warns(UserWarning, match=r"shuffle=True.*stateful.*shuffle=False") as rec:
        model.fit(x, y, epochs=2, verbose=0)  # shuffle defaults to True
    assert len([w for w in rec if issubclass(w.category, UserWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, epochs=1, verbose=0)  # already warned
        model.fit(x, y, epochs=1, shuffle=False, verbose=0)


def test_fit_carries_state_across_batches_and_epochs():
    model = _stateful_model()
    lr = 0.2
    model.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    x, y = _rand((2 * BS, T, F), 31), _rand((2 * BS, 1), 32)
    w = [v.astype(np.float64) for v in model.get_weights()]
    state, expected = None, []
    for _epoch in range(2):
        total = 0.0
        for k in range(2):
            xb, yb = x[k * BS:(k + 1) * BS].astype(np.float64), y[k * BS:(k + 1) * BS]
            r = build_reference(SPECS, w)
            value, grads = r.loss_and_grads(xb, yb, "mse", initial_states=[state])
            state = r.final_states[0]
            total += float(value)
            w = [wi - lr * gi for wi, gi in zip(w, [g for layer in grads for g in layer])]
        expected.append(total / 2)
    h = model.fit(x, y, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], expected, rtol=1e-5)
    for got, exp in zip(model.get_weights(), w):
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)
