"""Conv1D, the 1D pooling layers and Flatten: the NumPy references proven by finite
differences (float64), the native layers against them (forward, every weight gradient and,
through a Dense in front, every input gradient) on awkward shapes under every SIMD level and
both convolution algorithms, Keras' geometry, the user-facing errors, configs and model files.

Tolerances as in test_model.py: a forward value is a reduction of k*C (+ the Dense in front)
float32 terms, so ``_close`` uses rtol = 8*eps32*sqrt(n); gradients sum over the batch and the
output steps as well."""

import lstmcore
import numpy as np
import pytest
from conftest import EPS32, build_reference, num_grad
from lstmcore import _core
from lstmcore.layers import (
    LSTM,
    AveragePooling1D,
    AvgPool1D,
    Conv1D,
    Convolution1D,
    Dense,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
    TimeDistributed,
    deserialize,
    serialize,
)
from lstmcore.models import Sequential, load_model
from lstmcore.optimizers import Adam
from lstmcore.reference import conv as rc


def _rand(shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def _close(actual, expected, n_terms):
    rtol = 8 * EPS32 * np.sqrt(n_terms)
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# ---------------------------------------------------------------------------------------------
# Geometry: Keras' output lengths and padding split
# ---------------------------------------------------------------------------------------------
def test_geometry_is_keras():
    g = rc.conv1d_geometry
    assert g(10, 3) == (8, 0, 0)
    assert g(10, 3, 2) == (4, 0, 0)                     # floor((10 - 3) / 2) + 1
    assert g(10, 3, 1, "valid", 2) == (6, 0, 0)         # span 5
    assert g(10, 3, 1, "same") == (10, 1, 1)
    assert g(10, 4, 1, "same") == (10, 1, 2)            # odd padding on the right
    assert g(10, 3, 2, "same") == (5, 0, 1)             # total = 4*2 + 3 - 10 = 1
    assert g(10, 4, 3, "same") == (4, 1, 2)             # total = 3*3 + 4 - 10 = 3
    assert g(5, 1, 2, "same") == (3, 0, 0)
    assert g(10, 3, 1, "causal", 2) == (10, 4, 0)
    assert g(10, 3, 3, "causal") == (4, 2, 0)
    assert g(2, 3) == (0, 0, 0)
    assert g(2, 5, 1, "same") == (2, 2, 2)              # a kernel longer than the input


# ---------------------------------------------------------------------------------------------
# The references, by central differences in float64
# ---------------------------------------------------------------------------------------------
CONV_REF = [  # (B, T, C, F, k, strides, padding, dilation, activation, bias)
    (2, 7, 3, 4, 3, 1, "valid", 1, "linear", True),
    (2, 7, 3, 2, 4, 2, "same", 1, "tanh", True),
    (1, 6, 2, 3, 3, 1, "causal", 2, "sigmoid", False),
    (2, 5, 1, 1, 2, 3, "same", 1, "linear", True),
    (1, 3, 2, 2, 5, 1, "same", 1, "linear", True),
]


@pytest.mark.parametrize("case", CONV_REF)
def test_conv1d_reference_gradients_by_finite_differences(case):
    B, T, C, F, k, s, pad, d, act, use_bias = case
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(B, T, C)), rng.normal(size=(k, C, F)) * 0.5
    b = rng.normal(size=F) if use_bias else None
    y0, _ = rc.conv1d_forward(x, w, b, s, pad, d, act)
    r = rng.normal(size=y0.shape)

    def loss():
        return float((rc.conv1d_forward(x, w, b, s, pad, d, act)[0] * r).sum())

    _, cache = rc.conv1d_forward(x, w, b, s, pad, d, act)
    g = rc.conv1d_backward(cache, r)
    np.testing.assert_allclose(g["dx"], num_grad(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g["dkernel"], num_grad(loss, w), rtol=1e-6, atol=1e-8)
    if use_bias:
        np.testing.assert_allclose(g["dbias"], num_grad(loss, b), rtol=1e-6, atol=1e-8)
    else:
        assert g["dbias"] is None


def test_conv1d_reference_is_a_plain_loop():
    """The tap formula written out: y[b, t, f] = sum_j,c x[b, t*s + j*d - left, c] W[j, c, f]."""
    rng = np.random.default_rng(3)
    for T, k, s, pad, d in [(9, 3, 2, "same", 1), (8, 2, 1, "causal", 3), (6, 4, 3, "same", 1)]:
        x, w = rng.normal(size=(2, T, 3)), rng.normal(size=(k, 3, 2))
        t_out, left, _ = rc.conv1d_geometry(T, k, s, pad, d)
        want = np.zeros((2, t_out, 2))
        for t in range(t_out):
            for j in range(k):
                p = t * s + j * d - left
                if 0 <= p < T:
                    want[:, t] += x[:, p] @ w[j]
        np.testing.assert_allclose(rc.conv1d_forward(x, w, None, s, pad, d)[0], want, atol=1e-12)


POOL_REF = [  # (T, pool, strides, padding)
    (7, 2, None, "valid"), (7, 3, 1, "same"), (6, 4, 1, "same"), (5, 2, 2, "same"),
    (9, 3, 2, "valid"), (1, 1, None, "valid"), (3, 5, 1, "same"),
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("case", POOL_REF)
def test_pool_reference_gradients_by_finite_differences(case, mode):
    T, p, s, pad = case
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, T, 3))
    y0, cache = rc.pool1d_forward(x, p, s, pad, mode)
    r = rng.normal(size=y0.shape)

    def loss():
        return float((rc.pool1d_forward(x, p, s, pad, mode)[0] * r).sum())

    np.testing.assert_allclose(rc.pool1d_backward(cache, r), num_grad(loss, x), rtol=1e-6,
                               atol=1e-8)


def test_pooling_ignores_padding_and_max_ties_go_to_the_first():
    x = np.array([[[1.0], [2.0], [4.0], [8.0]]])
    # same, pool 4, stride 1: total padding 3 (1 left, 2 right); the mean counts inside steps
    y, _ = rc.pool1d_forward(x, 4, 1, "same", "average")
    np.testing.assert_allclose(y[0, :, 0], [7 / 3, 15 / 4, 14 / 3, 12 / 2])
    y, _ = rc.pool1d_forward(-x, 4, 1, "same", "max")
    np.testing.assert_allclose(y[0, :, 0], [-1, -1, -2, -4])  # padding is never the max
    ties = np.array([[[3.0], [3.0], [1.0]]])
    _, cache = rc.pool1d_forward(ties, 3, 1, "valid", "max")
    np.testing.assert_array_equal(rc.pool1d_backward(cache, np.ones((1, 1, 1)))[0, :, 0], [1, 0, 0])


@pytest.mark.parametrize("mode", ["max", "average"])
def test_global_pool_and_flatten_references(mode):
    x = np.random.default_rng(2).normal(size=(3, 5, 4))
    y, cache = rc.global_pool1d_forward(x, mode)
    np.testing.assert_allclose(y, x.max(axis=1) if mode == "max" else x.mean(axis=1))
    r = np.random.default_rng(3).normal(size=y.shape)

    def loss():
        return float((rc.global_pool1d_forward(x, mode)[0] * r).sum())

    np.testing.assert_allclose(rc.global_pool1d_backward(cache, r), num_grad(loss, x), rtol=1e-6,
                               atol=1e-8)
    assert rc.global_pool1d_forward(x, mode, keepdims=True)[0].shape == (3, 1, 4)
    np.testing.assert_array_equal(rc.flatten_forward(x), x.reshape(3, 20))
    np.testing.assert_array_equal(rc.flatten_backward(x.reshape(3, 20), x.shape), x)


# ---------------------------------------------------------------------------------------------
# Native layers against the reference: forward and every gradient
# ---------------------------------------------------------------------------------------------
D = 3  # features into the Dense in front: its kernel gradient carries each layer's dx


def _conv(c, k, s=1, pad="valid", d=1, act=None, bias=True):
    return (lambda: Conv1D(c, k, strides=s, padding=pad, dilation_rate=d, activation=act,
                           use_bias=bias),
            {"type": "conv1d", "strides": s, "padding": pad, "dilation_rate": d,
             "activation": act or "linear", "use_bias": bias})


def _pool(cls, kind, p, s=None, pad="valid"):
    return (lambda: cls(p, strides=s, padding=pad),
            {"type": kind, "pool_size": p, "strides": s, "padding": pad})


CASES = {  # name: (T, C (the Dense's width), [layers], output is 2D)
    "conv_valid": (9, 5, [_conv(7, 3)]),
    "conv_k1": (4, 1, [_conv(1, 1)]),
    "conv_k1_wide": (5, 17, [_conv(9, 1, act="tanh")]),  # pointwise: the GEMM reads x itself
    "conv_k1_strided": (7, 3, [_conv(4, 1, 2, "same")]),
    "conv_same_stride2": (9, 3, [_conv(17, 4, 2, "same", act="relu")]),
    "conv_same_stride3": (10, 2, [_conv(4, 4, 3, "same", act="tanh")]),
    "conv_causal_dilated": (11, 9, [_conv(8, 3, 1, "causal", 2, "sigmoid")]),
    "conv_dilated_valid": (12, 4, [_conv(3, 2, 1, "valid", 4, bias=False)]),
    "conv_one_step": (1, 3, [_conv(5, 3, 1, "same")]),
    "conv_kernel_longer_than_input": (3, 2, [_conv(2, 5, 1, "same")]),
    "conv_strided_valid": (16, 33, [_conv(9, 3, 4)]),
    "conv_same_dilation_wider_than_input": (3, 2, [_conv(3, 2, 1, "same", 5)]),  # tapless rows
    "max_valid": (7, 3, [_pool(MaxPooling1D, "max_pooling1d", 2)]),
    "max_same_asym": (6, 5, [_pool(MaxPooling1D, "max_pooling1d", 4, 1, "same")]),
    "max_overlap": (9, 2, [_pool(MaxPooling1D, "max_pooling1d", 3, 2)]),
    "avg_valid": (7, 3, [_pool(AveragePooling1D, "average_pooling1d", 2)]),
    "avg_same_asym": (6, 5, [_pool(AveragePooling1D, "average_pooling1d", 4, 1, "same")]),
    "avg_same_stride": (5, 4, [_pool(AveragePooling1D, "average_pooling1d", 2, 2, "same")]),
    "global_max": (6, 3, [(GlobalMaxPooling1D, {"type": "global_max_pooling1d"})]),
    "global_avg_keepdims": (6, 3, [(lambda: GlobalAveragePooling1D(keepdims=True),
                                    {"type": "global_average_pooling1d", "keepdims": True})]),
    "cnn": (12, 4, [_conv(6, 3, act="relu"), _pool(MaxPooling1D, "max_pooling1d", 2),
                    (Flatten, {"type": "flatten"}),
                    (lambda: Dense(2), {"type": "dense"})]),
    "cnn_lstm": (10, 3, [_conv(5, 2, 1, "causal"),
                         _pool(AveragePooling1D, "average_pooling1d", 2, 1, "same"),
                         (lambda: LSTM(4), {"type": "lstm"})]),
}


def _model(name):
    T, C, parts = CASES[name]
    model = Sequential([Dense(C, input_shape=(T, D))] + [make() for make, _ in parts])
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(scale=0.5, size=w.shape) for w in model.get_weights()])
    specs = [{"type": "dense"}] + [dict(spec) for _, spec in parts]
    return model, specs


def _network(model, algorithm, loss="mse"):
    """A native executor over the model's weights, its Conv1D layers set to `algorithm`."""
    net = _core.Network()
    shape = model._input_shape
    for layer in model.layers:
        kind, config, params = layer._native_spec(shape)
        if kind == "conv1d":
            config["algorithm"] = algorithm
        net.add(kind, config, params)
        shape = layer.compute_output_shape(shape)
    net.set_loss(loss)
    return net


RUNS = [(name, "im2col") for name in sorted(CASES)] + [
    (name, "direct") for name in sorted(CASES) if any(s["type"] == "conv1d" for _, s in CASES[name][2])]


@pytest.mark.parametrize("name, algorithm", RUNS)
def test_forward_and_gradients_equal_reference(name, algorithm, simd):
    model, specs = _model(name)
    T = CASES[name][0]
    net = _network(model, algorithm)
    r = build_reference(specs, model.get_weights())
    for B in (1, 7):
        x = _rand((B, T, D), seed=B)
        want = r.forward(x.astype(np.float64))
        got = np.zeros((B,) + want.shape[1:], np.float32)
        net.predict(x, B, got)
        _close(got, want, n_terms=64)
        if algorithm == "im2col":  # the model's own executors use the default
            _close(model.predict(x, batch_size=3), want, n_terms=64)
        y = _rand(want.shape, seed=B + 10)
        value, grads = r.loss_and_grads(x.astype(np.float64), y, "mse")
        loss = net.compute_gradients(x, y)
        assert loss == pytest.approx(float(value), rel=1e-5, abs=1e-7)
        flat = [g for layer in grads for g in layer]
        native = net.gradients()
        assert len(native) == len(flat)
        for i, (a, g) in enumerate(zip(native, flat)):
            tol = 1e-5 * np.abs(g) + 1e-5 * max(np.abs(g).max(), 1e-3)
            err = np.abs(a.reshape(g.shape) - g)
            assert (err <= tol).all(), f"{name} B={B} gradient {i}: max error {err.max()}"


def test_results_do_not_depend_on_threads(threads):
    model, _ = _model("cnn")
    x, y = _rand((64, 12, D), seed=1), _rand((64, 2), seed=2)
    out = {}
    for n in (1, 2, 4):
        lstmcore.set_num_threads(n)
        net = _network(model, "im2col")
        net.compute_gradients(x, y)
        p = np.zeros((64, 2), np.float32)
        net.predict(x, 64, p)
        out[n] = [p] + net.gradients()
    for n in (2, 4):
        for a, b in zip(out[1], out[n]):
            np.testing.assert_array_equal(a, b)


def test_fit_trains_a_cnn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 16, 1)).astype(np.float32)
    y = (x[:, 4:8, 0].sum(axis=1, keepdims=True) > 0).astype(np.float32)
    model = Sequential([Conv1D(8, 3, activation="relu", input_shape=(16, 1)), MaxPooling1D(2),
                        Flatten(), Dense(1, activation="sigmoid")])
    model.compile(Adam(learning_rate=0.01), "binary_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    assert h.history["accuracy"][-1] > 0.9


def test_model_built_from_data():
    """Without an input shape: Conv1D keeps the timesteps variable; Flatten takes the data's."""
    x = _rand((5, 8, 2))
    m = Sequential([Conv1D(3, 2), GlobalMaxPooling1D(), Dense(1)])
    assert m.predict(x).shape == (5, 1)
    assert m.input_shape == (None, None, 2)
    assert m.predict(_rand((5, 11, 2))).shape == (5, 1)
    m = Sequential([Conv1D(3, 2), Flatten(), Dense(1)])
    assert m.predict(x).shape == (5, 1)
    assert m.input_shape == (None, 8, 2)
    with pytest.raises(ValueError, match="defined with 8 timesteps"):
        m.predict(_rand((5, 9, 2)))


# ---------------------------------------------------------------------------------------------
# Shapes, errors, configs, files
# ---------------------------------------------------------------------------------------------
def test_output_shapes_and_weight_shapes():
    c = Conv1D(64, 3)
    assert c.compute_output_shape((100, 32)) == (98, 64)
    assert c._weight_shapes((100, 32)) == [(3, 32, 64), (64,)]
    assert Conv1D(4, (3,), strides=(2,), padding="same").compute_output_shape((9, 2)) == (5, 4)
    assert Conv1D(4, 3, padding="causal", dilation_rate=4).compute_output_shape((9, 2)) == (9, 4)
    assert Conv1D(4, 3).compute_output_shape((None, 2)) == (None, 4)
    assert Conv1D(4, 3, use_bias=False)._weight_shapes((9, 2)) == [(3, 2, 4)]
    assert MaxPooling1D().compute_output_shape((9, 4)) == (4, 4)
    assert MaxPooling1D(3, 2, "same").compute_output_shape((9, 4)) == (5, 4)
    assert AveragePooling1D(2).compute_output_shape((None, 4)) == (None, 4)
    assert GlobalMaxPooling1D().compute_output_shape((9, 4)) == (4,)
    assert GlobalAveragePooling1D(keepdims=True).compute_output_shape((9, 4)) == (1, 4)
    assert Flatten().compute_output_shape((5, 8)) == (40,)
    assert Flatten().compute_output_shape((8,)) == (8,)
    assert Convolution1D is Conv1D and AvgPool1D is AveragePooling1D


def test_conv_kernel_initializer_uses_keras_fans():
    lstmcore.set_seed(0)
    m = Sequential([Conv1D(64, 5, input_shape=(20, 32))])
    limit = np.sqrt(6.0 / (5 * 32 + 5 * 64))  # Keras: the receptive field counts in both fans
    k = m.layers[0].get_weights()[0]
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.95 * limit
    assert not m.layers[0].get_weights()[1].any()


@pytest.mark.parametrize("make, match", [
    (lambda: Conv1D(4, 0), "`kernel_size` to be a positive integer; received kernel_size=0"),
    (lambda: Conv1D(4, (3, 3)), "an integer or a tuple of one integer"),
    (lambda: Conv1D(4, 3, strides=-1), "`strides` to be a positive integer"),
    (lambda: Conv1D(4, 3, dilation_rate=0), "`dilation_rate` to be a positive integer"),
    (lambda: Conv1D(0, 3), "`filters` to be a positive integer"),
    (lambda: Conv1D(4, 3, strides=2, dilation_rate=2), "`strides > 1` not supported in"),
    (lambda: Conv1D(4, 3, padding="full"), "'valid', 'same', 'causal'; received padding='full'"),
    (lambda: Conv1D(4, 3, data_format="channels_first"), "channels_last' only"),
    (lambda: MaxPooling1D(0), "`pool_size` to be a positive integer; received pool_size=0"),
    (lambda: AveragePooling1D(-2), "`pool_size` to be a positive integer"),
    (lambda: MaxPooling1D(2, strides=0), "`strides` to be a positive integer"),
    (lambda: MaxPooling1D(2, padding="causal"), "'valid', 'same'; received padding='causal'"),
    (lambda: GlobalMaxPooling1D(data_format="channels_first"), "channels_last' only"),
])
def test_constructor_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_shape_errors_change_nothing():
    with pytest.raises(ValueError, match=r"needs at least \(kernel_size - 1\) \* dilation_rate "
                                         r"\+ 1 = 5 timesteps: the output has "
                                         r"floor\(\(timesteps - 5\) / strides\) \+ 1 steps"):
        Sequential([Conv1D(2, 3, dilation_rate=2, input_shape=(4, 1))])
    with pytest.raises(ValueError, match="needs at least pool_size = 3 timesteps"):
        Sequential([MaxPooling1D(3, input_shape=(2, 1))])
    with pytest.raises(ValueError, match="`Conv1D` expects 3D input"):
        Sequential([Dense(2, input_shape=(3,)), Conv1D(2, 1)])
    with pytest.raises(ValueError, match="`GlobalMaxPooling1D` expects 3D input"):
        Sequential([Dense(2, input_shape=(3,)), GlobalMaxPooling1D()])
    with pytest.raises(ValueError, match="`Flatten` needs a known number of timesteps"):
        Sequential([Conv1D(2, 1, input_shape=(None, 3)), Flatten()])
    # variable length: a too-short input is refused natively with the formula, and the model
    # still works afterwards
    m = Sequential([Conv1D(2, 3, input_shape=(None, 1)), GlobalAveragePooling1D()])
    before = m.predict(_rand((2, 6, 1)))
    with pytest.raises(ValueError, match=r"floor\(\(timesteps - 3\) / strides\) \+ 1"):
        m.predict(_rand((2, 2, 1)))
    m.compile("sgd", "mse")
    w = m.get_weights()
    with pytest.raises(ValueError, match="3 timesteps"):
        m.fit(_rand((2, 2, 1)), _rand((2, 2)), verbose=0)
    for a, b in zip(w, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m.predict(_rand((2, 6, 1))), before)


def test_native_factories_validate_their_config():
    net = _core.Network()
    k = np.zeros((3, 2, 4), np.float32)
    base = {"filters": 4, "kernel_size": 3, "input_dim": 2}
    cases = [
        ({**base, "kernel_size": 0}, {"kernel": k}, ">= 1"),
        ({**base, "strides": 2, "dilation_rate": 2}, {"kernel": k}, "strides > 1"),
        ({**base, "padding": "full"}, {"kernel": k}, "unknown padding"),
        ({**base, "algorithm": "fft"}, {"kernel": k}, "unknown algorithm"),
        (base, {"kernel": np.zeros((3, 4, 2), np.float32)}, r"must have shape \(3, 2, 4\)"),
        ({**base, "kernel_size": 2**40, "input_dim": 2**40}, {}, "overflow"),
    ]
    for config, params, match in cases:
        with pytest.raises(ValueError, match=match):
            net.add("conv1d", config, params)
    for kind in ("max_pooling1d", "average_pooling1d"):
        with pytest.raises(ValueError, match="pool_size >= 1"):
            net.add(kind, {"pool_size": 0}, {})
        with pytest.raises(ValueError, match="'valid' or 'same'"):
            net.add(kind, {"pool_size": 2, "padding": "causal"}, {})


def test_configs_round_trip():
    layers = [Conv1D(4, 3, strides=2, padding="same", activation="relu", use_bias=False,
                     kernel_initializer="he_normal", name="c"),
              MaxPooling1D(3, 1, "same"), AveragePooling1D(), GlobalMaxPooling1D(keepdims=True),
              GlobalAveragePooling1D(), Flatten()]
    for layer in layers:
        again = deserialize(serialize(layer))
        assert type(again) is type(layer) and again.get_config() == layer.get_config()
    c = layers[0].get_config()
    assert (c["kernel_size"], c["strides"], c["dilation_rate"]) == ((3,), (2,), (1,))
    again = Conv1D.from_config({**c, "kernel_size": [3], "strides": [2]})  # as JSON gives them
    assert again.get_config() == c
    assert deserialize({"class_name": "MaxPool1D", "config": {}}).pool_size == 2


def test_save_and_load_a_cnn(tmp_path):
    model = Sequential([Conv1D(6, 3, padding="causal", dilation_rate=2, activation="relu",
                               input_shape=(12, 2)),
                        AveragePooling1D(2, padding="same"), MaxPooling1D(2, strides=1),
                        Conv1D(4, 2), GlobalMaxPooling1D(), Dense(3)])
    model2 = Sequential([Conv1D(3, 2, input_shape=(7, 2)), Flatten(), Dense(1)])
    x = _rand((9, 12, 2))
    for m, xx in ((model, x), (model2, x[:, :7])):
        m.compile("adam", "mse")
        m.fit(xx, _rand((9,) + m.output_shape[1:]), epochs=2, verbose=0)
        path = tmp_path / f"{m.layers[0].name}.lstmcore"
        m.save(path)
        loaded = load_model(path)
        assert [type(a) for a in loaded.layers] == [type(a) for a in m.layers]
        assert [a.get_config() for a in loaded.layers] == [a.get_config() for a in m.layers]
        np.testing.assert_array_equal(loaded.predict(xx), m.predict(xx))


# ---------------------------------------------------------------------------------------------
# TimeDistributed over the subsequences of 4D input (the CNN-LSTM)
# ---------------------------------------------------------------------------------------------
def _cnn_lstm(S=3, steps=6, D=2, C=4):
    model = Sequential([
        TimeDistributed(Dense(C, activation="tanh"), input_shape=(S, steps, D)),
        TimeDistributed(Conv1D(5, 3, padding="same", activation="relu")),
        TimeDistributed(MaxPooling1D(2, padding="same")),
        TimeDistributed(Flatten()), LSTM(4), Dense(2)])
    rng = np.random.default_rng(6)
    model.set_weights([rng.normal(scale=0.5, size=w.shape) for w in model.get_weights()])
    specs = [{"type": "time_distributed", "layer": {"type": "dense", "activation": "tanh"}},
             {"type": "time_distributed", "layer": {"type": "conv1d", "padding": "same",
                                                     "activation": "relu"}},
             {"type": "time_distributed", "layer": {"type": "max_pooling1d", "pool_size": 2,
                                                     "padding": "same"}},
             {"type": "time_distributed", "layer": {"type": "flatten"}},
             {"type": "lstm"}, {"type": "dense"}]
    return model, specs


@pytest.mark.parametrize("algorithm", ["im2col", "direct"])
def test_time_distributed_cnn_lstm_equals_reference(algorithm, simd):
    model, specs = _cnn_lstm()
    assert model.output_shape == (None, 2)
    assert [layer.output_shape for layer in model.layers[:4]] == [
        (None, 3, 6, 4), (None, 3, 6, 5), (None, 3, 3, 5), (None, 3, 15)]
    r = build_reference(specs, model.get_weights())
    net = _network(model, algorithm)
    for B in (1, 5):
        x = _rand((B, 3, 6, 2), seed=B)
        want = r.forward(x.astype(np.float64))
        _close(model.predict(x), want, n_terms=64)
        y = _rand(want.shape, seed=B + 20)
        value, grads = r.loss_and_grads(x.astype(np.float64), y, "mse")
        loss = net.compute_gradients(x.reshape(B, 3, -1), y)
        assert loss == pytest.approx(float(value), rel=1e-5, abs=1e-7)
        flat = [g for layer in grads for g in layer]
        native = net.gradients()
        assert len(native) == len(flat) == 9
        for i, (a, g) in enumerate(zip(native, flat)):
            tol = 1e-5 * np.abs(g) + 1e-5 * max(np.abs(g).max(), 1e-3)
            err = np.abs(a.reshape(g.shape) - g)
            assert (err <= tol).all(), f"B={B} gradient {i}: max error {err.max()}"


def test_time_distributed_cnn_lstm_trains_saves_and_checks_its_input(tmp_path):
    model = Sequential([
        TimeDistributed(Conv1D(8, 2, activation="relu"), input_shape=(None, 4, 1)),
        TimeDistributed(MaxPooling1D(2)), TimeDistributed(Flatten()), LSTM(8), Dense(1)])
    assert model.output_shape == (None, 1)
    seq = np.arange(0, 400, dtype=np.float32) / 400
    x = np.stack([seq[i:i + 8] for i in range(200)]).reshape(200, 2, 4, 1)
    y = np.stack([seq[i + 8] for i in range(200)])[:, None]
    model.compile(Adam(learning_rate=0.01), "mse")
    h = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 0.05 * h.history["loss"][0]
    # a variable number of subsequences
    assert model.predict(np.concatenate([x[:5], x[5:10]], axis=1).reshape(5, 4, 4, 1)).shape == (5, 1)
    path = tmp_path / "cnn_lstm.lstmcore"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x[:7]), model.predict(x[:7]))
    with pytest.raises(ValueError, match=r"expects 4D input; received `x` with shape \(7, 8, 1\)"):
        model.predict(x[:7].reshape(7, 8, 1))
    with pytest.raises(ValueError, match="expects 4 steps per sample"):
        model.predict(x[:6].reshape(6, 2, 2, 2)[..., :1])
    with pytest.raises(ValueError, match="expects 1 features"):
        model.predict(np.zeros((3, 2, 4, 2), np.float32))
    np.testing.assert_array_equal(model.predict_on_batch(x[:7]), loaded.predict(x[:7]))


def test_time_distributed_sequence_layers_need_4d_input():
    with pytest.raises(ValueError, match=r"`TimeDistributed\(Conv1D\)` expects 4D input"):
        Sequential([TimeDistributed(Conv1D(2, 2), input_shape=(5, 3))])
    with pytest.raises(ValueError, match="`TimeDistributed` expects 3D input .* or 4D input"):
        Sequential([TimeDistributed(Dense(2), input_shape=(2, 5, 3, 1))])
    with pytest.raises(ValueError, match="needs at least \\(kernel_size - 1\\)"):
        Sequential([TimeDistributed(Conv1D(2, 5), input_shape=(None, 3, 1))])
    m = Sequential([TimeDistributed(GlobalMaxPooling1D(), input_shape=(2, 3, 4))])
    x = _rand((5, 2, 3, 4))
    np.testing.assert_array_equal(m.predict(x), x.max(axis=2))


@pytest.mark.parametrize("make", [lambda: Conv1D(2, 2), GlobalMaxPooling1D, Flatten,
                                  lambda: MaxPooling1D(2)])
def test_a_mask_is_refused(make):
    """Keras masking: these layers cannot take a mask (as the reference's entries say)."""
    from lstmcore.layers import Masking
    with pytest.raises(ValueError, match="cannot take the mask that `.*` \\(Masking\\) starts"):
        Sequential([Masking(input_shape=(5, 2)), make()]).predict(np.zeros((2, 5, 2), np.float32))
