"""Property tests of the model API against the NumPy reference: random layer stacks (LSTM,
Bidirectional, Dense on 2D or 3D), shapes, batch sizes, activations, stateful or not.
Predictions agree, and one SGD step moves every weight by -lr times the reference gradient."""

import numpy as np
from conftest import EPS32, build_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lstmcore.layers import LSTM, Bidirectional, Dense
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD

ACT_PAIRS = [("tanh", "sigmoid"), ("tanh", "hard_sigmoid"), ("relu", "sigmoid"),
             ("linear", "hard_sigmoid_keras2")]


@st.composite
def stacks(draw):
    B = draw(st.integers(1, 9))
    T = draw(st.integers(1, 6))
    F = draw(st.integers(1, 5))
    stateful = draw(st.booleans())
    n_rec = 1 if stateful else draw(st.integers(1, 3))
    layers, specs = [], []
    for i in range(n_rec):
        units = draw(st.integers(1, 9))
        act, ract = draw(st.sampled_from(ACT_PAIRS))
        rs = True if i < n_rec - 1 else draw(st.booleans())
        first = {"batch_input_shape": (B, T, F)} if stateful else {"input_shape": (T, F)}
        bidi = not stateful and draw(st.booleans())
        if bidi:
            mode = draw(st.sampled_from(["concat", "sum", "mul", "ave"]))
            inner = dict(activation=act, recurrent_activation=ract, return_sequences=rs)
            layers.append(Bidirectional(LSTM(units, **inner), merge_mode=mode,
                                        **(first if i == 0 else {})))
            specs.append({"type": "bidirectional", "merge_mode": mode, "return_sequences": rs,
                          "forward": dict(inner), "backward": dict(inner)})
        else:
            layers.append(LSTM(units, activation=act, recurrent_activation=ract,
                               return_sequences=rs, stateful=stateful,
                               **(first if i == 0 else {})))
            specs.append({"type": "lstm", "activation": act, "recurrent_activation": ract,
                          "return_sequences": rs})
    out_act = draw(st.sampled_from(["linear", "tanh", "sigmoid"]))
    width = draw(st.integers(1, 4))
    layers.append(Dense(width, activation=out_act))
    specs.append({"type": "dense", "activation": out_act})
    seed = draw(st.integers(0, 2**16))
    return B, T, F, stateful, layers, specs, seed


def _setup(case):
    B, T, F, stateful, layers, specs, seed = case
    model = Sequential(layers)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.5, size=w.shape) for w in model.get_weights()])
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    return model, specs, x, rng


def _tol(expected, n_terms):
    return 16 * EPS32 * np.sqrt(n_terms) * max(1.0, float(np.abs(expected).max()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_predictions_match_the_reference(case):
    model, specs, x, _ = _setup(case)
    B, T, F, stateful = case[:4]
    reference = build_reference(specs, model.get_weights())
    expected = reference.forward(x.astype(np.float64))
    got = model.predict(x, batch_size=B)
    n_terms = (F + 10) * T * 4
    np.testing.assert_allclose(got, expected, rtol=0, atol=_tol(expected, n_terms))
    if stateful:  # the second call starts from the first call's final state
        states = reference.final_states
        expected2 = reference.forward(x.astype(np.float64), initial_states=states)
        got2 = model.predict(x, batch_size=B)
        np.testing.assert_allclose(got2, expected2, rtol=0, atol=_tol(expected2, 2 * n_terms))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_one_sgd_step_matches_the_reference_gradient(case):
    model, specs, x, rng = _setup(case)
    B, T, F = case[:3]
    lr = 0.1
    model.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    y = rng.normal(size=(B,) + model.output_shape[1:]).astype(np.float32)
    w0 = model.get_weights()
    _, grads = build_reference(specs, w0).loss_and_grads(x.astype(np.float64), y, "mse")
    flat = [g for layer in grads for g in layer]
    model.train_on_batch(x, y)
    for i, (a0, a1, g) in enumerate(zip(w0, model.get_weights(), flat)):
        delta = a1.astype(np.float64) - a0
        tol = 4 * EPS32 * np.abs(a1) + lr * (1e-4 * max(1e-3, float(np.abs(g).max())))
        err = np.abs(delta + lr * g)
        assert (err <= tol).all(), f"weight {i}: max error {err.max()} (tolerance {tol.max()})"
