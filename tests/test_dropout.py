"""Dropout and recurrent dropout: off at inference, masks fixed per sequence while training,
gradients consistent with the masked forward pass (finite differences through the native
training path), and reproducible with a seed."""

import lstmcore
import numpy as np
import pytest
from lstmcore.layers import LSTM, Dense, Dropout
from lstmcore.models import Sequential


def _model(dropout=0.0, recurrent_dropout=0.0, units=6, with_dropout_layer=False):
    layers = [LSTM(units, input_shape=(4, 3), dropout=dropout, recurrent_dropout=recurrent_dropout,
                   return_sequences=with_dropout_layer)]
    if with_dropout_layer:
        layers += [Dropout(0.3), LSTM(units)]
    layers.append(Dense(1))
    m = Sequential(layers)
    m.compile(optimizer="sgd", loss="mse")
    return m


def test_dropout_is_off_at_inference():
    lstmcore.set_seed(3)
    x = np.random.default_rng(0).random((5, 4, 3)).astype(np.float32)
    plain = _model()
    dropped = _model(dropout=0.5, recurrent_dropout=0.5)
    dropped.set_weights(plain.get_weights())
    np.testing.assert_array_equal(plain.predict(x), dropped.predict(x))


@pytest.mark.parametrize("dropout,recurrent_dropout,layer", [(0.4, 0.0, False), (0.0, 0.4, False),
                                                            (0.3, 0.3, True)])
def test_gradients_match_finite_differences_of_the_masked_pass(dropout, recurrent_dropout, layer):
    # With a fixed seed the masks are fixed, so the training loss is a smooth function of the
    # weights; central differences (float32, step 1e-2 on a tiny model) must match the
    # native backward pass that used the same masks.
    lstmcore.set_seed(5)
    rng = np.random.default_rng(1)
    m = _model(dropout, recurrent_dropout, with_dropout_layer=layer)
    x = rng.random((3, 4, 3)).astype(np.float32)
    y = rng.random((3, 1)).astype(np.float32)
    net = m._native()
    seed = 1234
    net.compute_gradients(x, y, seed)
    grads = [np.array(g) for g in net.gradients()]
    weights = [w for layer_ in m.layers for w in layer_.weights]
    assert len(grads) == len(weights)
    eps = 1e-2
    for w, g in zip(weights, grads):
        flat = w.reshape(-1)
        for i in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            keep = flat[i]
            flat[i] = keep + eps
            up = net.compute_gradients(x, y, seed)
            flat[i] = keep - eps
            down = net.compute_gradients(x, y, seed)
            flat[i] = keep
            fd = (up - down) / (2 * eps)
            assert abs(fd - g[i]) <= 2e-3 + 2e-2 * abs(fd), (w.shape, i, fd, g[i])


def test_dropout_training_is_reproducible_and_differs_from_no_dropout():
    x = np.random.default_rng(0).random((64, 4, 3)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None] / 12

    def run(d, rd, seed):
        lstmcore.set_seed(11)
        m = _model(d, rd)
        m.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=seed)
        return m.get_weights()

    a, b = run(0.3, 0.3, 7), run(0.3, 0.3, 7)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    c = run(0.0, 0.0, 7)
    assert any(not np.array_equal(u, v) for u, v in zip(a, c))
