"""Shared cases for the GRU and SimpleRNN tests (tests/test_gru.py, tests/test_simple_rnn.py):
the native layer in a model against the float64 reference (forward and gradients), on awkward
shapes."""

from __future__ import annotations

import numpy as np
from conftest import EPS32, build_reference
from lstmcore import reference as ref
from lstmcore.layers import Dense
from lstmcore.models import Sequential

# (batch, timesteps, features, units): ones, sizes that are no multiple of 8 or 16, one
# sample and one step (the recurrent kernel read in place), and a batch split by rows.
SHAPES = [(1, 1, 1, 1), (1, 2, 3, 5), (3, 5, 2, 7), (2, 4, 3, 17), (5, 3, 4, 33), (9, 12, 5, 24)]


def rand(shape, seed, scale=1.0):
    return (scale * np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


def randomize(model, seed=10, scale=0.5):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=scale, size=w.shape) for w in model.get_weights()])


def close(actual, expected, n_terms, what=""):
    """float32 against float64: rtol 8 eps32 sqrt(n) of the values' scale (as test_model)."""
    rtol = 8 * EPS32 * np.sqrt(n_terms)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def check_against_reference(layer, spec, shape, seed=0, dense=True):
    """Predictions, the loss and every gradient of Sequential([layer, Dense(2)]) against the
    reference built from `spec` with the model's weights."""
    B, T, F, H = shape
    layers = [layer] + ([Dense(2)] if dense else [])
    model = Sequential(layers)
    model._build((T, F))
    model.compile(optimizer="sgd", loss="mse")
    randomize(model, seed + 10)
    x = rand((B, T, F), seed + 1)
    specs = [spec] + ([{"type": "dense"}] if dense else [])
    if spec.get("bias", 0) is None:  # no bias: the reference gets the spec's None, the rest filled
        w = [np.asarray(a, np.float64) for a in model.get_weights()]
        specs[0] = {**spec, "kernel": w[0], "recurrent_kernel": w[1]}
        r = build_reference(specs[1:], w[2:])
        r = ref.ReferenceSequential([specs[0]] + [dict(l) for l in r.layers])
    else:
        r = build_reference(specs, model.get_weights())
    n = 4 * T * (F + H)
    close(model.predict(x, batch_size=B), r.forward(x.astype(np.float64)), n, "predict")
    out = model.layers[-1].output_shape[1:]
    y = rand((B,) + out, seed + 2)
    net = model._native()
    loss = net.compute_gradients(x, y)
    grads = [np.array(g) for g in net.gradients()]
    ref_loss, ref_grads = r.loss_and_grads(x.astype(np.float64), y.astype(np.float64), "mse")
    close(loss, ref_loss, n, "loss")
    flat = [g for layer_grads in ref_grads for g in layer_grads]
    assert len(flat) == len(grads)
    for i, (g, e) in enumerate(zip(grads, flat)):
        scale = max(1e-3, float(np.abs(e).max()))
        np.testing.assert_allclose(g.reshape(e.shape), e, rtol=2e-4, atol=2e-5 * scale * np.sqrt(n),
                                   err_msg=f"gradient {i} of shape {e.shape}")
    return model


def fd_check(run, arrays, tol=1e-6):
    """Analytic gradients of the float64 reference against central differences; `run()`
    returns (loss, [analytic gradient per array])."""
    from conftest import num_grad
    _, analytic = run()
    for a, g in zip(arrays, analytic):
        num = num_grad(lambda: run()[0], a)
        np.testing.assert_allclose(g, num, rtol=tol, atol=tol)
