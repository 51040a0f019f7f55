"""Tests of the plain NumPy reference (lstmcore.reference).

Gradients are checked against central finite differences in float64;
forward values against small hand computations.
"""

import math
import zlib

import numpy as np
import pytest
from conftest import num_grad
from lstmcore import reference as ref

pytestmark = pytest.mark.filterwarnings("error")

EPS = 1e-7


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def assert_grad(analytic, numeric, rtol=1e-6, atol=1e-8):
    assert analytic.shape == numeric.shape
    scale = max(1.0, float(np.max(np.abs(numeric))) if numeric.size else 1.0)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol * scale)


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def rand_lstm(rng, B, T, D, H, wscale=0.5):
    x = rng.normal(size=(B, T, D))
    W = rng.normal(scale=wscale, size=(D, 4 * H))
    U = rng.normal(scale=wscale, size=(H, 4 * H))
    b = rng.normal(scale=wscale, size=(4 * H,))
    h0 = rng.normal(scale=0.5, size=(B, H))
    c0 = rng.normal(scale=0.5, size=(B, H))
    return x, W, U, b, h0, c0


# --------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------
ALL_ACTS = ["linear", "sigmoid", "hard_sigmoid", "hard_sigmoid_keras2", "tanh", "relu", "softmax"]


def test_activation_values_by_hand():
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 2.5, 3.0, 4.0])
    np.testing.assert_allclose(
        ref.activation_forward("hard_sigmoid", x), [0, 0, 0.25, 0.5, 0.75, 2.5 / 6 + 0.5, 1, 1]
    )
    np.testing.assert_allclose(
        ref.activation_forward("hard_sigmoid_keras2", x), [0, 0, 0.2, 0.5, 0.8, 1, 1, 1]
    )
    np.testing.assert_array_equal(ref.activation_forward("relu", x), [0, 0, 0, 0, 1.5, 2.5, 3, 4])
    np.testing.assert_allclose(ref.activation_forward("sigmoid", x), [sig(v) for v in x], rtol=1e-15)
    np.testing.assert_allclose(ref.activation_forward("tanh", x), np.tanh(x))
    np.testing.assert_array_equal(ref.activation_forward("linear", x), x)
    s = ref.activation_forward("softmax", np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]]))
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(s[0], e / e.sum(), rtol=1e-15)
    np.testing.assert_allclose(s[1], [1 / 3] * 3, rtol=1e-15)


def test_sigmoid_is_stable_without_warnings():
    x = np.array([-np.inf, -1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4, np.inf])
    y = ref.activation_forward("sigmoid", x)
    assert y[0] == 0.0 and y[-1] == 1.0 and y[4] == 0.5
    assert np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))
    assert y[3] == pytest.approx(math.exp(-50.0), rel=1e-12)
    y32 = ref.activation_forward("sigmoid", x.astype(np.float32))
    assert y32.dtype == np.float32 and y32[0] == 0 and y32[-1] == 1
    np.testing.assert_allclose(ref.sigmoid(np.array([-1e4, 1e4])), [0.0, 1.0])


@pytest.mark.parametrize("name", ALL_ACTS)
def test_activation_backward_fd(name):
    rng = np.random.default_rng(1)
    x = rng.uniform(-5, 5, size=(4, 6))
    # keep away from kinks (relu at 0, hard sigmoids at +-3 / +-2.5)
    for k in (0.0, 3.0, -3.0, 2.5, -2.5):
        x[np.abs(x - k) < 1e-2] += 0.05
    R = rng.normal(size=x.shape)
    y = ref.activation_forward(name, x)
    dx = ref.activation_backward(name, y, R)
    num = num_grad(lambda: np.sum(R * ref.activation_forward(name, x)), x)
    assert_grad(dx, num)


@pytest.mark.parametrize("name", ALL_ACTS)
def test_activation_preserves_dtype(name):
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    y = ref.activation_forward(name, x)
    assert y.dtype == np.float32
    assert ref.activation_backward(name, y, np.ones_like(y)).dtype == np.float32
    assert ref.activation_forward(name, x.astype(np.float64)).dtype == np.float64


def test_hard_sigmoid_derivatives_from_output():
    y = np.array([0.0, 0.25, 0.5, 1.0])
    dy = np.ones(4)
    np.testing.assert_allclose(ref.activation_backward("hard_sigmoid", y, dy), [0, 1 / 6, 1 / 6, 0])
    np.testing.assert_allclose(ref.activation_backward("hard_sigmoid_keras2", y, dy), [0, 0.2, 0.2, 0])
    np.testing.assert_array_equal(ref.activation_backward("relu", np.array([0.0, 2.0]), np.ones(2)), [0, 1])


def test_unknown_activation_raises():
    with pytest.raises(ValueError, match="hard_sigmoid_keras2"):
        ref.activation_forward("swish", np.zeros(3))
    with pytest.raises(ValueError, match="softmax"):
        ref.activation_backward("gelu", np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError):
        ref.lstm_forward(np.zeros((1, 1, 1)), np.zeros((1, 4)), np.zeros((1, 4)), activation="elu")


# --------------------------------------------------------------------------
# gemm
# --------------------------------------------------------------------------
def test_gemm_by_hand():
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # (3, 2)
    b = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]])  # (2, 3)
    ab = np.array([[5.0, 2.0, 0.0], [11.0, 4.0, -1.0], [17.0, 6.0, -2.0]])
    np.testing.assert_array_equal(ref.gemm(a, b), ab)
    np.testing.assert_array_equal(ref.gemm(a.T, b, trans_a=True), ab)
    np.testing.assert_array_equal(ref.gemm(a, b.T, trans_b=True), ab)
    np.testing.assert_array_equal(ref.gemm(a.T, b.T, trans_a=True, trans_b=True), ab)
    c = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(ref.gemm(a, b, c, alpha=2.0, beta=-1.0), 2 * ab - c)
    np.testing.assert_array_equal(ref.gemm(a, b, None, alpha=0.5, beta=3.0), 0.5 * ab)
    # beta == 0: c is not read (BLAS convention)
    np.testing.assert_array_equal(ref.gemm(a, b, np.full((3, 3), np.nan), beta=0.0), ab)
    out32 = ref.gemm(a.astype(np.float32), b.astype(np.float32), alpha=np.float64(2.0))
    assert out32.dtype == np.float32
    with pytest.raises(ValueError):
        ref.gemm(a, a)


# --------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------
def test_lstm_forward_by_hand_distinct_gates():
    # H = 1, D = 1: every gate has its own weight, so a gate-order mix-up shows.
    wi, wf, wc, wo = 0.5, -0.3, 0.8, 0.2
    ui, uf, uc, uo = 0.1, 0.4, -0.6, 0.7
    bi, bf, bc, bo = 0.05, 1.0, -0.1, 0.3
    xs = [1.0, -2.0, 0.5]
    W = np.array([[wi, wf, wc, wo]])
    U = np.array([[ui, uf, uc, uo]])
    b = np.array([bi, bf, bc, bo])
    h, c = 0.2, -0.4
    hs_hand = []
    for xt in xs:
        i = sig(wi * xt + ui * h + bi)
        f = sig(wf * xt + uf * h + bf)
        g = math.tanh(wc * xt + uc * h + bc)
        o = sig(wo * xt + uo * h + bo)
        c = f * c + i * g
        h = o * math.tanh(c)
        hs_hand.append(h)
    x = np.array(xs).reshape(1, 3, 1)
    hs, hT, cT, _ = ref.lstm_forward(x, W, U, b, h0=np.array([[0.2]]), c0=np.array([[-0.4]]))
    np.testing.assert_allclose(hs[0, :, 0], hs_hand, rtol=1e-14)
    np.testing.assert_allclose(hT, [[h]], rtol=1e-14)
    np.testing.assert_allclose(cT, [[c]], rtol=1e-14)


def test_lstm_forward_by_hand_constant_weights():
    # all-constant weights: every unit is identical; zero initial state, no bias.
    B, T, D, H = 2, 2, 3, 2
    x = np.array([[[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]], [[2.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]])
    W = np.full((D, 4 * H), 0.1)
    U = np.full((H, 4 * H), 0.2)
    hs, hT, cT, _ = ref.lstm_forward(x, W, U)
    for bi in range(B):
        h = c = 0.0
        for t in range(T):
            z = 0.1 * sum(x[bi, t]) + 0.2 * H * h
            i = f = o = sig(z)
            g = math.tanh(z)
            c = f * c + i * g
            h = o * math.tanh(c)
            np.testing.assert_allclose(hs[bi, t], [h, h], rtol=1e-14)
        np.testing.assert_allclose(cT[bi], [c, c], rtol=1e-14)
    # hard_sigmoid (Keras 3) / relu variant
    hs2, _, _, _ = ref.lstm_forward(x, W, U, activation="relu", recurrent_activation="hard_sigmoid")
    for bi in range(B):
        h = c = 0.0
        for t in range(T):
            z = 0.1 * sum(x[bi, t]) + 0.2 * H * h
            i = f = o = min(max(z / 6 + 0.5, 0.0), 1.0)
            c = f * c + i * max(z, 0.0)
            h = o * max(c, 0.0)
            np.testing.assert_allclose(hs2[bi, t], [h, h], rtol=1e-14)


def test_lstm_go_backwards_semantics():
    rng = np.random.default_rng(3)
    x, W, U, b, h0, c0 = rand_lstm(rng, 2, 5, 3, 4)
    hs_b, hT_b, cT_b, _ = ref.lstm_forward(x, W, U, b, h0, c0, go_backwards=True)
    hs_r, hT_r, cT_r, _ = ref.lstm_forward(x[:, ::-1], W, U, b, h0, c0)
    np.testing.assert_array_equal(hs_b, hs_r)
    np.testing.assert_array_equal(hT_b, hT_r)
    np.testing.assert_array_equal(cT_b, cT_r)
    np.testing.assert_array_equal(hs_b[:, -1], hT_b)


def test_lstm_dtype_and_no_aliasing():
    rng = np.random.default_rng(4)
    x, W, U, b, h0, c0 = (a.astype(np.float32) for a in rand_lstm(rng, 2, 3, 3, 2))
    hs, hT, cT, cache = ref.lstm_forward(x, W, U, b, h0, c0)
    assert hs.dtype == hT.dtype == cT.dtype == np.float32
    g = ref.lstm_backward(cache, dhs=np.ones_like(hs))
    assert all(v.dtype == np.float32 for v in g.values())
    # float64 input with float32 weights computes in float64
    hs64, _, _, _ = ref.lstm_forward(x.astype(np.float64), W, U, b)
    assert hs64.dtype == np.float64
    # cache does not alias caller arrays
    x0 = x.copy()
    x += 100
    g2 = ref.lstm_backward(cache, dhs=np.ones_like(hs))
    np.testing.assert_array_equal(g["dkernel"], g2["dkernel"])
    x[...] = x0


LSTM_SHAPES = [(2, 3, 4, 3), (1, 1, 1, 1), (1, 4, 5, 2), (3, 2, 2, 1), (2, 1, 3, 2)]
LSTM_COMBOS = [("tanh", "sigmoid"), ("relu", "hard_sigmoid"), ("tanh", "hard_sigmoid_keras2")]


@pytest.mark.parametrize("shape", LSTM_SHAPES, ids=lambda s: "B%dT%dD%dH%d" % s)
@pytest.mark.parametrize("acts", LSTM_COMBOS, ids=lambda a: "-".join(a))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("upstream", ["hs", "h_T", "c_T", "all"])
def test_lstm_backward_fd(shape, acts, go_backwards, upstream):
    B, T, D, H = shape
    act, ract = acts
    seed = zlib.crc32(repr((shape, acts, go_backwards, upstream)).encode())
    rng = np.random.default_rng(seed)
    x, W, U, b, h0, c0 = rand_lstm(rng, B, T, D, H, wscale=0.4)
    R_hs = rng.normal(size=(B, T, H)) if upstream in ("hs", "all") else None
    R_h = rng.normal(size=(B, H)) if upstream in ("h_T", "all") else None
    R_c = rng.normal(size=(B, H)) if upstream in ("c_T", "all") else None

    def f():
        hs, hT, cT, _ = ref.lstm_forward(x, W, U, b, h0, c0, act, ract, go_backwards)
        val = 0.0
        if R_hs is not None:
            val += np.sum(R_hs * hs)
        if R_h is not None:
            val += np.sum(R_h * hT)
        if R_c is not None:
            val += np.sum(R_c * cT)
        return val

    _, _, _, cache = ref.lstm_forward(x, W, U, b, h0, c0, act, ract, go_backwards)
    g = ref.lstm_backward(cache, dhs=R_hs, dh_T=R_h, dc_T=R_c)
    assert g["dx"].shape == (B, T, D)
    for key, arr in (("dx", x), ("dkernel", W), ("drecurrent_kernel", U), ("dbias", b),
                     ("dh0", h0), ("dc0", c0)):
        assert_grad(g[key], num_grad(f, arr))


@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_backward_fd_defaults_no_bias(go_backwards):
    # no bias, zero initial state (h0 / c0 None), upstream on hs and h_T
    rng = np.random.default_rng(11)
    x, W, U, _, _, _ = rand_lstm(rng, 2, 4, 3, 2)
    R_hs = rng.normal(size=(2, 4, 2))
    R_h = rng.normal(size=(2, 2))

    def f():
        hs, hT, _, _ = ref.lstm_forward(x, W, U, go_backwards=go_backwards)
        return np.sum(R_hs * hs) + np.sum(R_h * hT)

    _, _, _, cache = ref.lstm_forward(x, W, U, go_backwards=go_backwards)
    g = ref.lstm_backward(cache, dhs=R_hs, dh_T=R_h)
    assert g["dbias"] is None
    for key, arr in (("dx", x), ("dkernel", W), ("drecurrent_kernel", U)):
        assert_grad(g[key], num_grad(f, arr))
    # gradient w.r.t. the (zero) initial state
    h0 = np.zeros((2, 2))
    c0 = np.zeros((2, 2))

    def f0():
        hs, hT, _, _ = ref.lstm_forward(x, W, U, None, h0, c0, go_backwards=go_backwards)
        return np.sum(R_hs * hs) + np.sum(R_h * hT)

    assert_grad(g["dh0"], num_grad(f0, h0))
    assert_grad(g["dc0"], num_grad(f0, c0))


def test_lstm_backward_no_upstream_is_zero():
    rng = np.random.default_rng(12)
    x, W, U, b, h0, c0 = rand_lstm(rng, 2, 3, 2, 2)
    _, _, _, cache = ref.lstm_forward(x, W, U, b, h0, c0)
    g = ref.lstm_backward(cache)
    assert all(np.all(v == 0) for v in g.values())


def test_lstm_shape_errors():
    with pytest.raises(ValueError):
        ref.lstm_forward(np.zeros((1, 2, 3)), np.zeros((3, 8)), np.zeros((2, 4)))
    with pytest.raises(ValueError):
        ref.lstm_forward(np.zeros((1, 2, 3)), np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(4))
    with pytest.raises(ValueError):
        ref.lstm_forward(np.zeros((2, 3)), np.zeros((3, 8)), np.zeros((2, 8)))


# --------------------------------------------------------------------------
# dense
# --------------------------------------------------------------------------
@pytest.mark.parametrize("act", ALL_ACTS)
@pytest.mark.parametrize("xshape", [(4, 3), (2, 3, 3)], ids=["2d", "3d"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_backward_fd(act, xshape, use_bias):
    rng = np.random.default_rng(len(act) * 7 + len(xshape) + use_bias)
    x = rng.normal(size=xshape)
    K = rng.normal(scale=0.4, size=(3, 5))
    bias = rng.normal(scale=0.4, size=(5,)) if use_bias else None
    y, cache = ref.dense_forward(x, K, bias, act)
    assert y.shape == xshape[:-1] + (5,)
    R = rng.normal(size=y.shape)
    g = ref.dense_backward(cache, R)

    def f():
        return np.sum(R * ref.dense_forward(x, K, bias, act)[0])

    assert_grad(g["dx"], num_grad(f, x))
    assert_grad(g["dkernel"], num_grad(f, K))
    if use_bias:
        assert_grad(g["dbias"], num_grad(f, bias))
    else:
        assert g["dbias"] is None


def test_dense_by_hand():
    x = np.array([[1.0, 2.0]])
    K = np.array([[1.0, -1.0, 0.5], [0.5, 1.0, -2.0]])
    y, _ = ref.dense_forward(x, K, np.array([0.0, 0.5, 1.0]), "relu")
    np.testing.assert_array_equal(y, [[2.0, 1.5, 0.0]])
    y32, c32 = ref.dense_forward(x.astype(np.float32), K.astype(np.float32))
    assert y32.dtype == np.float32
    assert ref.dense_backward(c32, np.ones_like(y32))["dkernel"].dtype == np.float32


# --------------------------------------------------------------------------
# repeat vector / bidirectional
# --------------------------------------------------------------------------
def test_repeat_vector_fd():
    rng = np.random.default_rng(21)
    x = rng.normal(size=(2, 3))
    y = ref.repeat_vector_forward(x, 4)
    assert y.shape == (2, 4, 3)
    np.testing.assert_array_equal(y[:, 2], x)
    R = rng.normal(size=y.shape)
    assert_grad(ref.repeat_vector_backward(R),
                num_grad(lambda: np.sum(R * ref.repeat_vector_forward(x, 4)), x))


def _bidi_weights(rng, D, H):
    def one():
        return {"kernel": rng.normal(scale=0.5, size=(D, 4 * H)),
                "recurrent_kernel": rng.normal(scale=0.5, size=(H, 4 * H)),
                "bias": rng.normal(scale=0.5, size=(4 * H,))}
    return one(), one()


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_fd(merge_mode, return_sequences):
    rng = np.random.default_rng(31 + return_sequences)
    B, T, D, H = 2, 3, 3, 2
    x = rng.normal(size=(B, T, D))
    wf, wb = _bidi_weights(rng, D, H)
    y, cache = ref.bidirectional_forward(x, wf, wb, merge_mode, return_sequences)
    if merge_mode is None:
        R = [rng.normal(size=y[0].shape), rng.normal(size=y[1].shape)]
    else:
        R = rng.normal(size=y.shape)
    g = ref.bidirectional_backward(cache, R)

    def f():
        out, _ = ref.bidirectional_forward(x, wf, wb, merge_mode, return_sequences)
        if merge_mode is None:
            return np.sum(R[0] * out[0]) + np.sum(R[1] * out[1])
        return np.sum(R * out)

    assert_grad(g["dx"], num_grad(f, x))
    for direction, w in (("forward", wf), ("backward", wb)):
        assert_grad(g[direction]["dkernel"], num_grad(f, w["kernel"]))
        assert_grad(g[direction]["drecurrent_kernel"], num_grad(f, w["recurrent_kernel"]))
        assert_grad(g[direction]["dbias"], num_grad(f, w["bias"]))


@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_semantics(return_sequences):
    rng = np.random.default_rng(41)
    x = rng.normal(size=(2, 4, 3))
    wf, wb = _bidi_weights(rng, 3, 2)
    y, cache = ref.bidirectional_forward(x, wf, wb, "concat", return_sequences)
    hs_f, hT_f, _, _ = ref.lstm_forward(x, **wf)
    hs_b, hT_b, _, _ = ref.lstm_forward(x, **wb, go_backwards=True)
    if return_sequences:
        assert y.shape == (2, 4, 4)
        np.testing.assert_array_equal(y[..., :2], hs_f)
        # backward outputs flipped back to original time order
        np.testing.assert_array_equal(y[..., 2:], hs_b[:, ::-1])
        # the backward direction's output at original time 0 is its final state
        np.testing.assert_array_equal(y[:, 0, 2:], hT_b)
    else:
        np.testing.assert_array_equal(y, np.concatenate([hT_f, hT_b], -1))
    # sequence form (kernel, recurrent_kernel, bias) is accepted too
    y2, _ = ref.bidirectional_forward(
        x, [wf["kernel"], wf["recurrent_kernel"], wf["bias"]],
        (wb["kernel"], wb["recurrent_kernel"], wb["bias"]), "concat", return_sequences)
    np.testing.assert_array_equal(y, y2)
    with pytest.raises(ValueError):
        ref.bidirectional_forward(x, wf, wb, "max")


# --------------------------------------------------------------------------
# losses and metrics
# --------------------------------------------------------------------------
def _loss_inputs(name, rng, shape):
    K = shape[-1]
    if name in ("mse", "mean_squared_error", "mae", "mean_absolute_error"):
        return rng.normal(size=shape), rng.normal(size=shape)
    if name == "binary_crossentropy":
        y = (rng.uniform(size=shape) > 0.5).astype(float)
        y[..., 0] = 0.3  # soft labels too
        return y, rng.uniform(0.05, 0.95, size=shape)
    p = rng.uniform(0.1, 1.0, size=shape)  # deliberately un-normalised
    labels = rng.integers(0, K, size=shape[:-1])
    if name == "sparse_categorical_crossentropy":
        return labels, p
    return np.eye(K)[labels], p


ALL_LOSSES = ["mean_squared_error", "mse", "mean_absolute_error", "mae", "binary_crossentropy",
              "categorical_crossentropy", "sparse_categorical_crossentropy"]


@pytest.mark.parametrize("name", ALL_LOSSES)
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4), (5, 1)])
def test_loss_backward_fd(name, shape):
    # shape (5, 1): for the categorical losses q = p / sum(p) = 1 is clipped to
    # 1 - eps, so loss and gradient are constant / zero
    rng = np.random.default_rng(len(name) + 10 * len(shape))
    y, p = _loss_inputs(name, rng, shape)
    g = ref.loss_backward(name, y, p)
    assert g.shape == p.shape
    assert_grad(g, num_grad(lambda: float(ref.loss_forward(name, y, p)), p))


def test_sparse_accepts_trailing_axis():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.1, 1, size=(3, 2, 4))
    labels = rng.integers(0, 4, size=(3, 2))
    onehot = np.eye(4)[labels]
    a = ref.loss_forward("sparse_categorical_crossentropy", labels, p)
    b = ref.loss_forward("sparse_categorical_crossentropy", labels[..., None], p)
    c = ref.loss_forward("categorical_crossentropy", onehot, p)
    assert a == b == c
    np.testing.assert_array_equal(
        ref.loss_backward("sparse_categorical_crossentropy", labels[..., None], p),
        ref.loss_backward("categorical_crossentropy", onehot, p))


def test_losses_by_hand():
    y = np.array([[1.0, 0.0], [0.0, 0.0]])
    p = np.array([[0.5, 0.5], [1.0, -1.0]])
    assert ref.loss_forward("mse", y, p) == pytest.approx((0.25 + 0.25 + 1 + 1) / 4)
    assert ref.loss_forward("mae", y, p) == pytest.approx((0.5 + 0.5 + 1 + 1) / 4)
    np.testing.assert_allclose(ref.loss_backward("mse", y, p), 2 * (p - y) / 4)
    np.testing.assert_allclose(ref.loss_backward("mae", np.zeros((1, 3)), np.array([[1.0, 0.0, -2.0]])),
                               [[1 / 3, 0, -1 / 3]])

    # binary crossentropy, including clipping at p = 0 and p = 1
    yb = np.array([[1.0, 0.0, 1.0, 0.0]])
    pb = np.array([[0.8, 0.25, 0.0, 1.0]])
    expect = (-math.log(0.8) - math.log(0.75) - math.log(EPS) - math.log(1 - (1 - EPS))) / 4
    assert ref.loss_forward("binary_crossentropy", yb, pb) == pytest.approx(expect, rel=1e-12)
    gb = ref.loss_backward("binary_crossentropy", yb, pb)
    np.testing.assert_allclose(gb, [[-1 / 0.8 / 4, 1 / 0.75 / 4, 0.0, 0.0]], rtol=1e-12)
    # perfect predictions at the clip boundary: loss ~ -log(1 - eps), zero gradient
    lp = ref.loss_forward("binary_crossentropy", np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]))
    assert lp == pytest.approx(-math.log(1 - EPS), rel=1e-6)
    np.testing.assert_array_equal(
        ref.loss_backward("binary_crossentropy", np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]])), 0)

    # categorical: normalisation and clipping
    yc = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    pc = np.array([[0.2, 0.6, 0.2], [1.0, 3.0, 1.0]])  # second row sums to 5
    expect = (-math.log(0.6) - math.log(0.2)) / 2
    assert ref.loss_forward("categorical_crossentropy", yc, pc) == pytest.approx(expect, rel=1e-12)
    assert ref.loss_forward("sparse_categorical_crossentropy", np.array([1, 0]), pc) == \
        pytest.approx(expect, rel=1e-12)
    # gradient of -log(p_k / s): -1/p_k + 1/s for the true class, 1/s for others; / 2 rows
    gc = ref.loss_backward("categorical_crossentropy", yc, pc)
    np.testing.assert_allclose(gc[0], [1.0 / 2, (1 - 1 / 0.6) / 2, 1.0 / 2], rtol=1e-12)
    np.testing.assert_allclose(gc[1], [(1 / 5 - 1) / 2, 1 / 5 / 2, 1 / 5 / 2], rtol=1e-12)
    # true class predicted with probability 0: clipped to eps, its own term has zero gradient
    y0 = np.array([[1.0, 0.0]])
    p0 = np.array([[0.0, 1.0]])
    assert ref.loss_forward("categorical_crossentropy", y0, p0) == pytest.approx(-math.log(EPS))
    np.testing.assert_array_equal(ref.loss_backward("categorical_crossentropy", y0, p0), 0)


def test_loss_dtype_and_unknown():
    y = np.array([[0.0, 1.0]], dtype=np.float32)
    p = np.array([[0.3, 0.7]], dtype=np.float32)
    for name in ALL_LOSSES:
        yt = np.array([1]) if name.startswith("sparse") else y
        assert ref.loss_forward(name, yt, p).dtype == np.float32
        assert ref.loss_backward(name, yt, p).dtype == np.float32
    with pytest.raises(ValueError, match="binary_crossentropy"):
        ref.loss_forward("hinge", y, p)
    with pytest.raises(ValueError, match="mse"):
        ref.loss_backward("huber", y, p)
    with pytest.raises(ValueError):
        ref.metric("auc", y, p)


def test_metrics_by_hand():
    yb = np.array([[1.0, 0.0], [0.0, 1.0]])
    pb = np.array([[0.7, 0.5], [0.2, 0.4]])  # 0.5 is not > 0.5
    assert ref.metric("binary_accuracy", yb, pb) == 0.75
    yc = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=float)
    pc = np.array([[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    assert ref.metric("categorical_accuracy", yc, pc) == pytest.approx(2 / 3)
    assert ref.metric("sparse_categorical_accuracy", np.array([1, 0, 2]), pc) == pytest.approx(2 / 3)
    assert ref.metric("sparse_categorical_accuracy", np.array([[1], [1], [2]]), pc) == 1.0
    assert ref.metric("mse", yb, pb) == pytest.approx((0.09 + 0.25 + 0.04 + 0.36) / 4)
    assert ref.metric("mae", yb, pb) == pytest.approx((0.3 + 0.5 + 0.2 + 0.6) / 4)


# --------------------------------------------------------------------------
# optimizers
# --------------------------------------------------------------------------
def test_adam_by_hand():
    w = np.array([1.0, -2.0])
    g = np.array([0.5, -0.1])
    m = np.zeros(2)
    v = np.zeros(2)
    w1, m1, v1 = ref.adam_step(w, g, m, v, t=1)
    np.testing.assert_allclose(m1, 0.1 * g, rtol=1e-14)
    np.testing.assert_allclose(v1, 0.001 * g * g, rtol=1e-12)
    lr_t = 0.001 * math.sqrt(1 - 0.999) / (1 - 0.9)
    expect = w - lr_t * m1 / (np.sqrt(v1) + 1e-7)
    np.testing.assert_allclose(w1, expect, rtol=1e-14)
    # the first Adam step moves each weight by ~lr * sign(g)
    np.testing.assert_allclose(w - w1, 0.001 * np.sign(g), rtol=1e-4)
    # second step
    g2 = np.array([0.2, 0.3])
    w2, m2, v2 = ref.adam_step(w1, g2, m1, v1, t=2, lr=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    m2_hand = 0.8 * m1 + 0.2 * g2
    v2_hand = 0.99 * v1 + 0.01 * g2 * g2
    np.testing.assert_allclose(m2, m2_hand, rtol=1e-14)
    np.testing.assert_allclose(v2, v2_hand, rtol=1e-12)
    lr2 = 0.01 * math.sqrt(1 - 0.99 ** 2) / (1 - 0.8 ** 2)
    np.testing.assert_allclose(w2, w1 - lr2 * m2_hand / (np.sqrt(v2_hand) + 1e-6), rtol=1e-12)
    # pure: inputs untouched
    np.testing.assert_array_equal(m, 0)
    w32 = ref.adam_step(w.astype(np.float32), g.astype(np.float32), m.astype(np.float32),
                        v.astype(np.float32), 1)
    assert all(a.dtype == np.float32 for a in w32)


def test_rmsprop_by_hand():
    w = np.array([1.0, 2.0])
    g = np.array([0.5, -1.0])
    v = np.array([0.0, 0.1])
    w1, v1 = ref.rmsprop_step(w, g, v, lr=0.01, rho=0.9, epsilon=1e-7)
    v_hand = np.array([0.1 * 0.25, 0.9 * 0.1 + 0.1 * 1.0])
    np.testing.assert_allclose(v1, v_hand, rtol=1e-14)
    np.testing.assert_allclose(w1, w - 0.01 * g / np.sqrt(v_hand + 1e-7), rtol=1e-14)
    assert w1[0] == pytest.approx(1 - 0.01 * 0.5 / math.sqrt(0.025 + 1e-7), rel=1e-14)


def test_sgd_by_hand():
    w = np.array([1.0, -1.0])
    g = np.array([0.5, 2.0])
    # plain
    w1, v1 = ref.sgd_step(w, g, None, lr=0.1)
    np.testing.assert_allclose(w1, [0.95, -1.2])
    assert v1 is None
    # decay (Keras 2): lr / (1 + decay * iterations)
    w1, _ = ref.sgd_step(w, g, None, lr=0.1, decay=0.5, iterations=2)
    np.testing.assert_allclose(w1, w - 0.05 * g)
    # momentum
    v = np.array([0.1, -0.2])
    w1, v1 = ref.sgd_step(w, g, v, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(v1, [0.9 * 0.1 - 0.05, 0.9 * -0.2 - 0.2])
    np.testing.assert_allclose(w1, w + v1)
    # nesterov
    w2, v2 = ref.sgd_step(w, g, v, lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(v2, v1)
    np.testing.assert_allclose(w2, w + 0.9 * v1 - 0.1 * g)
    np.testing.assert_allclose(w2, [1.0 + 0.9 * 0.04 - 0.05, -1.0 + 0.9 * -0.38 - 0.2])
    np.testing.assert_array_equal(v, [0.1, -0.2])  # pure
    # two momentum steps from zero velocity
    wa, va = ref.sgd_step(w, g, np.zeros(2), lr=0.1, momentum=0.5)
    wb, vb = ref.sgd_step(wa, g, va, lr=0.1, momentum=0.5)
    np.testing.assert_allclose(wb, w - 0.1 * g - (0.5 * 0.1 + 0.1) * g)


# --------------------------------------------------------------------------
# ReferenceSequential
# --------------------------------------------------------------------------
def _lstm_spec(rng, D, H, **kw):
    spec = {"type": "lstm", "kernel": rng.normal(scale=0.5, size=(D, 4 * H)),
            "recurrent_kernel": rng.normal(scale=0.5, size=(H, 4 * H)),
            "bias": rng.normal(scale=0.3, size=(4 * H,))}
    spec.update(kw)
    return spec


def _dense_spec(rng, D, U, **kw):
    spec = {"type": "dense", "kernel": rng.normal(scale=0.5, size=(D, U)),
            "bias": rng.normal(scale=0.3, size=(U,))}
    spec.update(kw)
    return spec


def _check_model_fd(model, x, y, loss, initial_states=None):
    value, grads = model.loss_and_grads(x, y, loss, initial_states)
    params = model.params()
    assert [len(p) for p in params] == [len(g) for g in grads]

    def f():
        model.set_params(params)
        return float(ref.loss_forward(loss, y, model.forward(x, initial_states)))

    assert value == pytest.approx(f(), rel=1e-15)
    for layer_p, layer_g in zip(params, grads, strict=True):
        for p, g in zip(layer_p, layer_g, strict=True):
            assert g.shape == p.shape
            assert_grad(g, num_grad(f, p))
    model.set_params(params)
    dx = model.input_grad
    model.loss_and_grads(x, y, loss, initial_states)
    assert_grad(dx, num_grad(f, x))


def test_sequential_stacked_lstm_fd():
    rng = np.random.default_rng(51)
    B, T, D = 2, 3, 3
    model = ref.ReferenceSequential([
        _lstm_spec(rng, D, 3, return_sequences=True),
        _lstm_spec(rng, 3, 2, go_backwards=True),
        _dense_spec(rng, 2, 2),
    ])
    x = rng.normal(size=(B, T, D))
    y = rng.normal(size=(B, 2))
    assert [len(p) for p in model.params()] == [3, 3, 2]
    _check_model_fd(model, x, y, "mse")


def test_sequential_encoder_decoder_fd():
    rng = np.random.default_rng(52)
    B, T, D, K, n_out = 2, 3, 2, 3, 2
    model = ref.ReferenceSequential([
        _lstm_spec(rng, D, 3),
        {"type": "repeat_vector", "n": n_out},
        _lstm_spec(rng, 3, 2, return_sequences=True),
        {"type": "dropout", "rate": 0.5},
        _dense_spec(rng, 2, K, activation="softmax"),
    ])
    x = rng.normal(size=(B, T, D))
    y = np.eye(K)[rng.integers(0, K, size=(B, n_out))]
    out = model.forward(x)
    assert out.shape == (B, n_out, K)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-14)
    assert [len(p) for p in model.params()] == [3, 0, 3, 0, 2]
    _check_model_fd(model, x, y, "categorical_crossentropy")


def test_sequential_bidirectional_activation_fd():
    rng = np.random.default_rng(53)
    B, T, D, H = 2, 3, 2, 2
    model = ref.ReferenceSequential([
        {"type": "bidirectional", "forward": _lstm_spec(rng, D, H), "backward": _lstm_spec(rng, D, H),
         "merge_mode": "concat", "return_sequences": True},
        {"type": "time_distributed", "layer": _dense_spec(rng, 2 * H, 3)},
        {"type": "activation", "activation": "softmax"},
    ])
    x = rng.normal(size=(B, T, D))
    labels = rng.integers(0, 3, size=(B, T))
    assert [len(p) for p in model.params()] == [6, 2, 0]
    _check_model_fd(model, x, labels, "sparse_categorical_crossentropy")


def test_sequential_states_and_initial_states():
    rng = np.random.default_rng(54)
    s1 = _lstm_spec(rng, 3, 4, return_sequences=True)
    s2 = _lstm_spec(rng, 4, 2, bias=None)
    model = ref.ReferenceSequential([s1, s2, _dense_spec(rng, 2, 1, bias=None)])
    assert [len(p) for p in model.params()] == [3, 2, 1]
    x = rng.normal(size=(2, 5, 3))
    init = [(rng.normal(size=(2, 4)), rng.normal(size=(2, 4))), None]
    y = model.forward(x, init)
    hs1, h1, c1, _ = ref.lstm_forward(x, s1["kernel"], s1["recurrent_kernel"], s1["bias"], *init[0])
    _, h2, c2, _ = ref.lstm_forward(hs1, s2["kernel"], s2["recurrent_kernel"])
    np.testing.assert_array_equal(y, h2 @ model.params()[2][0])
    for (h, c), (he, ce) in zip(model.final_states, [(h1, c1), (h2, c2)], strict=True):
        np.testing.assert_array_equal(h, he)
        np.testing.assert_array_equal(c, ce)
    # stateful continuation: two halves with carried state == one full pass
    model.forward(x[:, :2], init)
    st = model.final_states
    y_cont = model.forward(x[:, 2:], st)
    y_full = model.forward(x, init)
    # the second LSTM only returns its last state, and its carried state covers
    # the first half, so the chained run equals the full run
    np.testing.assert_allclose(y_cont, y_full, rtol=1e-13)
    rng2 = np.random.default_rng(55)
    _check_model_fd(model, x, rng2.normal(size=(2, 1)), "mae", init)
    with pytest.raises(ValueError):
        model.forward(x, [None])
    with pytest.raises(ValueError):
        ref.ReferenceSequential([{"type": "conv9d"}])


def test_layer_table_entries():
    """Every kind is described once, by a complete entry of ``ref.LAYERS``."""
    assert ref.LAYER_TYPES == tuple(ref.LAYERS)
    assert set(ref.LAYERS) >= {"lstm", "gru", "simple_rnn", "dense", "time_distributed",
                               "activation", "repeat_vector", "bidirectional", "dropout"}
    for kind, entry in ref.LAYERS.items():
        assert isinstance(entry, ref.RefLayer), kind
        for part in ("normalize", "slots", "n_weights", "fill", "forward", "backward"):
            assert callable(getattr(entry, part)), f"{kind}.{part}"
        assert isinstance(entry.state, bool), kind
    assert {k for k, e in ref.LAYERS.items() if e.state} == {"lstm", "gru", "simple_rnn"}
    for bad in ("no_such_layer", None, "LSTM"):
        with pytest.raises(ValueError, match="Unknown layer type") as err:
            ref.ReferenceSequential([{"type": bad}])
        assert all(kind in str(err.value) for kind in ref.LAYERS)
