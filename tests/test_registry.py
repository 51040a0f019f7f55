"""The layer registry: each layer is described once, as (kind, config, params), and that kind
is known to the native registry and to the NumPy reference table alike."""

from __future__ import annotations

import lstmcore
import numpy as np
import pytest
from lstmcore import _core, layers
from lstmcore import reference as ref
from lstmcore.layers import LSTM, Activation, Bidirectional, Dense, Dropout, TimeDistributed
from lstmcore.models import Sequential


def _layer_classes():
    return [c for c in layers.Layer._classes.values() if c._kind is not None]


def test_every_layer_kind_is_native_and_in_the_reference():
    kinds = {c._kind for c in _layer_classes()}
    assert kinds <= set(_core.LAYER_KINDS)
    assert kinds <= set(ref.LAYERS)
    # and every public layer class is known to deserialize
    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, layers.Layer) and obj is not layers.Layer:
            assert layers.Layer._classes[name] is obj


def _net():
    m = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)])
    net = _core.Network()
    shape = (4, 2)
    for layer in m.layers:
        net.add(*layer._native_spec(shape))
        shape = layer.compute_output_shape(shape)
    return m, net


def test_add_refuses_bad_descriptions_and_changes_nothing():
    m, net = _net()
    x = np.random.default_rng(0).normal(size=(5, 4, 2)).astype(np.float32)
    before = np.zeros((5, 1), np.float32)
    net.predict(x, 5, before)
    w = np.zeros((3, 2), np.float32)
    cases = [
        ("conv9d", {}, {}, "unknown native layer kind `conv9d`; known kinds: activation"),
        ("dense", {"units": 2}, {"kernel": w}, "needs `input_dim`"),
        ("dense", {"units": 2, "input_dim": 3}, {}, "needs the parameter `kernel`"),
        ("dense", {"units": 2, "input_dim": 3}, {"kernel": w, "gamma": w}, "takes no parameter `gamma`"),
        ("dense", {"units": 2, "input_dim": 3}, {"kernel": np.zeros((2, 3), np.float32)},
         r"`kernel` must have shape \(3, 2\)"),
        ("dense", {"units": 2, "input_dim": 3}, {"kernel": w.astype(np.float64)}, "float32"),
        ("dense", {"units": "2", "input_dim": 3}, {"kernel": w}, "`units` must be an integer"),
        ("dense", {"units": 2, "input_dim": 3, "activation": "swish9"}, {"kernel": w}, "swish9"),
        ("dense", {"units": 2, "input_dim": 3, "x": [1]}, {"kernel": w}, "unsupported type list"),
        ("dense", {"units": 2**70, "input_dim": 3}, {"kernel": w}, "out of range"),
        ("time_distributed", {"layer": {"units": 2}}, {}, "needs its \"kind\""),
        ("bidirectional", {"layer": {"kind": "lstm", "units": 2, "input_dim": 3}}, {},
         "needs the parameter `forward/kernel`"),
        ("lstm", {"units": 2, "input_dim": 3, "activation": "softmax"}, {}, "softmax"),
        ("repeat_vector", {"n": 0}, {}, "n >= 1"),
    ]
    for kind, config, params, match in cases:
        with pytest.raises(ValueError, match=match):
            net.add(kind, config, params)
    after = np.zeros((5, 1), np.float32)
    net.predict(x, 5, after)  # the executor is as it was: the same two layers
    np.testing.assert_array_equal(before, after)


def test_bidirectional_recreates_the_wrapped_layer_from_its_config():
    inner = LSTM(3, return_sequences=True, name="enc")
    bi = Bidirectional(inner, merge_mode="sum")
    assert inner.name == "enc"  # the user's layer is not renamed (Keras 3)
    assert bi.forward_layer is not inner and type(bi.forward_layer) is LSTM
    assert (bi.forward_layer.name, bi.backward_layer.name) == ("forward_enc", "backward_enc")
    assert not bi.forward_layer.go_backwards and bi.backward_layer.go_backwards
    assert bi.get_config()["layer"] == {"class_name": "LSTM", "config": inner.get_config()}
    again = Bidirectional.from_config(bi.get_config())
    assert again.forward_layer.get_config() == bi.forward_layer.get_config()
    with pytest.raises(ValueError, match="`Bidirectional` wraps an `LSTM`"):
        Bidirectional(Dropout(0.1))


@pytest.mark.parametrize("inner", [Activation("softmax"), Activation("tanh"), Dropout(0.5)])
def test_time_distributed_wraps_any_timestep_wise_layer(inner):
    x = np.random.default_rng(1).normal(size=(6, 5, 3)).astype(np.float32)
    lstmcore.set_seed(0)
    plain = Sequential([LSTM(4, return_sequences=True, input_shape=(5, 3)),
                        type(inner).from_config({**inner.get_config(), "name": "plain"})])
    lstmcore.set_seed(0)
    wrapped = Sequential([LSTM(4, return_sequences=True, input_shape=(5, 3)),
                          TimeDistributed(inner)])
    wrapped.set_weights(plain.get_weights())
    np.testing.assert_array_equal(plain.predict(x, verbose=0), wrapped.predict(x, verbose=0))
    y = np.zeros((6, 5, 4), np.float32)
    for m in (plain, wrapped):
        m.compile("sgd", "mse")
    lstmcore.set_seed(5)  # the same dropout masks for both
    lp = plain.train_on_batch(x, y)
    lstmcore.set_seed(5)
    lw = wrapped.train_on_batch(x, y)
    assert lp == lw
    for a, b in zip(plain.get_weights(), wrapped.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="`TimeDistributed` supports a `Dense` layer"):
        TimeDistributed(LSTM(2))
