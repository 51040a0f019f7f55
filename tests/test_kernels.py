"""Every native kernel (lstmcore._core) against the float64 NumPy reference.

Each kernel test runs once per SIMD level this CPU supports: the ``simd`` fixture forces the
level in-process with ``_core.set_simd_level`` and restores the previous one afterwards
(STYLE.md section 8). Inputs are float32; the reference gets the same float32 values cast to
float64, so every difference measured is the native kernel's own rounding.

Tolerances have the form ``atol + rtol * |ref|`` (llm.c's CUDA validator form). For a result
made of n-term sums, float32 rounding grows like sqrt(n) * eps for random data (the
probabilistic bound of Higham & Mary 2019; the worst case n * eps is never approached), so
``rtol = c * eps * sqrt(n)``; and because cancellation can make a single |ref| entry tiny
while its rounding error is set by the size of the terms, ``atol = rtol * rms(ref)`` (the
typical magnitude of the array). The constants c were set from the largest errors measured
on every SIMD level, with a 4-10x margin; each comparison says which n it uses.
"""

import math

import numpy as np
import pytest
from conftest import EPS32, num_grad
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lstmcore import _core
from lstmcore import reference as ref

pytestmark = [
    pytest.mark.filterwarnings("error"),
    # hypothesis' report hook touches mypy_extensions.TypedDict (deprecated) while it formats a
    # *failing* example; with warnings as errors that turns a test failure into a pytest
    # INTERNALERROR that hides the falsifying example.
    pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict:DeprecationWarning"),
]

LEVELS = _core.supported_simd_levels()
ACTS = ["linear", "sigmoid", "hard_sigmoid", "hard_sigmoid_keras2", "tanh", "relu", "softmax"]
TAILS = [1, 3, 7, 8, 9, 15, 16, 17, 33, 64, 65]
LSTM_ACT_PAIRS = [
    ("tanh", "sigmoid"),
    ("relu", "hard_sigmoid"),
    ("tanh", "hard_sigmoid_keras2"),
    ("linear", "sigmoid"),
]
# The fixture below is function scoped but idempotent (it only selects a table), so it is safe
# to share between hypothesis examples.
HYPO = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=LEVELS)
def simd(request):
    """Force one SIMD level for the test, then restore the level that was active before."""
    prev = _core.simd_level()
    _core.set_simd_level(request.param)
    assert _core.simd_level() == request.param
    try:
        yield request.param
    finally:
        _core.set_simd_level(prev)


@pytest.fixture
def native_threads():
    """Restore the native thread count after a test that changes it."""
    prev = _core.get_num_threads()
    try:
        yield
    finally:
        _core.set_num_threads(prev)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def assert_close(got, want, rtol, atol, what="", mag=None):
    """|got - want| <= atol + rtol * mag elementwise (mag defaults to |want|); NaN never passes.

    On failure the message names the worst element, its values and the error/tolerance ratio.
    """
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != reference {want.shape}"
    if got.size == 0:
        return
    mag = np.abs(want) if mag is None else np.asarray(mag, dtype=np.float64)
    tol = atol + rtol * mag
    err = np.abs(got - want)
    bad = ~(err <= tol)  # catches NaN in got
    if np.any(bad):
        ratio = np.where(np.isfinite(err), err / np.maximum(tol, 1e-300), np.inf)
        i = np.unravel_index(int(np.argmax(np.where(bad, ratio, -1.0))), got.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())}/{got.size} elements out of tolerance; worst at {i}: "
            f"got {got[i]!r}, want {want[i]!r}, err {err[i]:.3g} > tol {tol[i]:.3g} "
            f"(ratio {ratio[i]:.3g}; max err {np.nanmax(err):.3g})"
        )


def softmax_tol(x, want, k=8):
    """Per-element magnitude for softmax: exp(x - max) has condition number |x - max|, and
    x - max is rounded once in float32, so its relative error is about eps * (k + |x - max|)
    (k ulps for exp, the sum and the division)."""
    x = np.asarray(x, dtype=np.float64)
    return np.abs(want) * (k + np.abs(x - np.max(x, axis=-1, keepdims=True)))


def rms(a):
    a = np.asarray(a, dtype=np.float64)
    return float(np.sqrt(np.mean(np.square(a)))) if a.size else 0.0


def assert_close_rms(got, want, rtol, what):
    """|got - want| <= rtol * (|want| + rms(want)): relative, with an absolute floor at the
    array's typical magnitude for entries that cancel to ~0."""
    assert_close(got, want, rtol=rtol, atol=rtol * rms(want) + 1e-30, what=what)


def strided(rng, rows, cols, pad, fill=None):
    """A (rows, cols) float32 view with leading dimension cols + pad (pad > 0: a slice).

    Always a slice of a buffer with at least one row, so that zero-size operands keep real
    row strides (freshly allocated zero-size arrays are covered by their own test).
    """
    big = rng.standard_normal((max(rows, 1), cols + pad)).astype(np.float32)
    if fill is not None:
        big[:] = fill
    return big[:rows, :cols], big[:rows]


# --------------------------------------------------------------------------------------------
# GEMM
# --------------------------------------------------------------------------------------------
def gemm_check(rng, M, N, K, ta, tb, alpha=1.0, beta=0.0, pads=(0, 0, 0), what=""):
    """Run _core.gemm on float32 data and compare with the float64 reference.

    Tolerance: each entry is a K-term dot product (plus the alpha scaling and the beta*C add:
    K + 2 roundings), so rtol = 4 eps sqrt(K + 2) relative to the entry's magnitude before
    cancellation, |alpha| |op(A)| |op(B)| + |beta| |C|, with atol = rtol * rms(ref). The
    largest error measured (1037x531x1029, 200x200x3000, 300^3 and the tails, all transposes,
    all levels) is 0.75 eps sqrt(K) (|ref| + rms(ref)): a 5x margin.
    """
    pa, pb, pc = pads
    a, _ = strided(rng, K if ta else M, M if ta else K, pa)
    b, _ = strided(rng, N if tb else K, K if tb else N, pb)
    c, cbig = strided(rng, M, N, pc, fill=np.nan if beta == 0 else None)
    if pc:  # sentinel in the padding: gemm must not write outside c
        cbig[:, N:] = 12345.0
    c_before = c.copy()
    ptr = c.ctypes.data
    ret = _core.gemm(a, b, c, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta)
    assert ret is None
    assert c.ctypes.data == ptr
    if pc:
        assert np.all(cbig[:, N:] == 12345.0), f"{what}: gemm wrote outside c's columns"
    want = ref.gemm(f64(a), f64(b), f64(c_before), ta, tb, alpha, beta)
    c_mag = np.abs(np.nan_to_num(f64(c_before))) if beta else np.zeros((M, N))
    mag = ref.gemm(np.abs(f64(a)), np.abs(f64(b)), c_mag, ta, tb, abs(alpha), abs(beta))
    rtol = 4 * EPS32 * math.sqrt(K + 2)
    assert_close(c, want, rtol=rtol, atol=rtol * rms(want) + 1e-30, mag=mag,
                 what=f"gemm M={M} N={N} K={K} ta={ta} tb={tb} alpha={alpha} beta={beta} pads={pads} {what}")


TRANS = [(False, False), (False, True), (True, False), (True, True)]


@pytest.mark.parametrize("ta,tb", TRANS)
def test_gemm_tails_all_shapes(simd, ta, tb):
    """Every (M, N, K) in TAILS^3: hits every micro-tile row/column tail and K remainder."""
    rng = np.random.default_rng(1)
    for M in TAILS:
        for N in TAILS:
            for K in TAILS:
                gemm_check(rng, M, N, K, ta, tb)


@pytest.mark.parametrize("ta,tb", TRANS)
def test_gemm_alpha_beta_leading_dims(simd, ta, tb):
    """alpha/beta combinations with strided rows (leading dimension > width) on all three."""
    rng = np.random.default_rng(2)
    cases = [(1, 1, 1), (3, 17, 9), (17, 3, 33), (15, 65, 7), (65, 33, 64), (9, 16, 257),
             (33, 64, 300), (150, 40, 17)]
    for i, (M, N, K) in enumerate(cases):
        for alpha, beta in [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25), (1.0, -1.0)]:
            pads = (i % 3 + 1, (i + 1) % 4 + 1, i % 5 + 1)
            gemm_check(rng, M, N, K, ta, tb, alpha, beta, pads)
            gemm_check(rng, M, N, K, ta, tb, alpha, beta)


def test_gemm_one_row_wide_tiles(simd):
    """M = 1 (a one-sample step) runs wide row tiles (gemm_row, B read in place): widths
    around the tile width and K blocks, alpha/beta, strided rows, against the reference; and
    bit for bit what the same row gives inside a many-row product (the same operations)."""
    rng = np.random.default_rng(11)
    for N in (1, 7, 31, 63, 64, 65, 127, 128, 129, 256, 300, 1000):
        for K in (1, 9, 256, 257):
            for alpha, beta in [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)]:
                gemm_check(rng, 1, N, K, False, False, alpha, beta)
            gemm_check(rng, 1, N, K, False, False, 1.0, 1.0, (2, 3, 5))
            a = f32(rng.standard_normal((7, K)))
            b = f32(rng.standard_normal((K, N)))
            many, one = np.zeros((7, N), np.float32), np.zeros((1, N), np.float32)
            _core.gemm(a, b, many)
            _core.gemm(np.ascontiguousarray(a[3:4]), b, one)
            np.testing.assert_array_equal(one[0], many[3])


@pytest.mark.parametrize("K", [1, 17, 256, 257, 600])
def test_gemm_beta_zero_does_not_read_c(simd, K):
    """beta == 0: C full of NaN must be overwritten, never read (K > 256 spans two K-blocks)."""
    rng = np.random.default_rng(3)
    for ta, tb in TRANS:
        gemm_check(rng, 19, 37, K, ta, tb, alpha=1.5, beta=0.0, pads=(0, 0, 3))
        c = np.full((19, 37), np.nan, np.float32)
        a = f32(rng.standard_normal((19, K)))
        b = f32(rng.standard_normal((K, 37)))
        _core.gemm(a, b, c)
        assert not np.any(np.isnan(c))


def test_gemm_k_zero(simd):
    """K = 0: op(A) op(B) is the zero matrix, so C = beta * C, and beta = 0 gives zeros.
    The empty operands are slices big[:, :0] / big[:0] (row strides kept)."""
    rng = np.random.default_rng(4)
    for ta, tb in TRANS:
        a = np.ones((1, 5), np.float32)[:0] if ta else np.ones((5, 3), np.float32)[:, :0]
        b = np.ones((7, 3), np.float32)[:, :0] if tb else np.ones((1, 7), np.float32)[:0]
        c = np.full((5, 7), np.nan, np.float32)
        _core.gemm(a, b, c, trans_a=ta, trans_b=tb, alpha=2.0, beta=0.0)
        np.testing.assert_array_equal(c, np.zeros((5, 7), np.float32))
        c0 = f32(rng.standard_normal((5, 7)))
        c = c0.copy()
        _core.gemm(a, b, c, trans_a=ta, trans_b=tb, alpha=2.0, beta=0.5)
        np.testing.assert_allclose(c, 0.5 * c0, rtol=EPS32)


def test_gemm_accepts_fresh_empty_arrays(simd):
    """np.zeros((0, 7)) / np.zeros((5, 0)): NumPy 2 gives zero-size arrays all-zero strides;
    they are still valid operands (nothing is read) and must not be refused."""
    for ta, tb in TRANS:
        a = np.zeros((0, 5) if ta else (5, 0), np.float32)
        b = np.zeros((7, 0) if tb else (0, 7), np.float32)
        c = np.full((5, 7), np.nan, np.float32)
        _core.gemm(a, b, c, trans_a=ta, trans_b=tb)
        np.testing.assert_array_equal(c, np.zeros((5, 7), np.float32))


def test_gemm_empty_m_n(simd):
    """M = 0 or N = 0: nothing to do, nothing written, no crash."""
    rng = np.random.default_rng(5)
    _core.gemm(np.ones((1, 4), np.float32)[:0], f32(rng.standard_normal((4, 6))),
               np.ones((1, 6), np.float32)[:0])
    c = np.ones((3, 2), np.float32)[:, :0]
    _core.gemm(f32(rng.standard_normal((3, 4))), np.ones((4, 2), np.float32)[:, :0], c)
    assert c.shape == (3, 0)


@pytest.mark.parametrize("M,N,K,ta,tb", [
    (1037, 531, 1029, False, False),
    (1037, 531, 1029, True, True),
    (300, 257, 513, False, True),
    (300, 257, 513, True, False),
    (5, 3100, 300, False, False),  # N > NC (3072): two column blocks
])
def test_gemm_large(simd, M, N, K, ta, tb):
    """Non-square sizes spanning several MC/KC blocks (and an NC block), with strided rows."""
    rng = np.random.default_rng(6)
    gemm_check(rng, M, N, K, ta, tb, alpha=0.75, beta=0.5, pads=(3, 5, 7))


@HYPO
@given(M=st.integers(1, 80), N=st.integers(1, 80), K=st.integers(0, 300),
       ta=st.booleans(), tb=st.booleans(), alpha=st.sampled_from([1.0, -0.5, 2.0]),
       beta=st.sampled_from([0.0, 1.0, 0.3]), pads=st.tuples(*[st.integers(0, 5)] * 3),
       seed=st.integers(0, 2**32 - 1))
def test_gemm_property(simd, M, N, K, ta, tb, alpha, beta, pads, seed):
    gemm_check(np.random.default_rng(seed), M, N, K, ta, tb, alpha, beta, pads)


def test_fma_throughput(simd):
    """The benchmark's measured FMA peak: a positive rate on every level and thread count
    (no speed is asserted), and clear errors for bad arguments."""
    for n in (1, 2):
        r = _core.fma_throughput(n, 0.01)
        assert math.isfinite(r) and r > 0
    with pytest.raises(ValueError, match="threads"):
        _core.fma_throughput(0, 0.01)
    with pytest.raises(ValueError, match="seconds"):
        _core.fma_throughput(1, 0.0)


def test_first_nonfinite(simd):
    """The NaN/inf scan used for inputs and gradients: -1 for finite data (including +-0,
    denormals, +-FLT_MAX), else the first bad index, in the vector body, a block tail or the
    last block, for NaN, +inf and -inf."""
    rng = np.random.default_rng(3)
    for n in (1, 7, 16, 255, 256, 257, 600):
        a = f32(rng.standard_normal(n))
        a[:: max(1, n // 5)] = np.float32(3.4028235e38)
        a[0] = -0.0
        a[-1] = np.float32(1e-45)
        assert _core.first_nonfinite(a) == -1
        for bad in (np.nan, np.inf, -np.inf):
            for pos in sorted({0, n // 2, n - 1, min(n - 1, 255), min(n - 1, 256)}):
                b = a.copy()
                b[pos] = bad
                if pos + 1 < n:
                    b[-1] = bad  # a later one must not win
                assert _core.first_nonfinite(b) == pos, (n, bad, pos)
    assert _core.first_nonfinite(np.zeros((0,), np.float32)) == -1
    assert _core.first_nonfinite(np.full((2, 3, 4), np.nan, np.float32)) == 0


# --------------------------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------------------------
def special_inputs():
    tiny = np.array([1e-45, 1e-40, 1.17549435e-38, 1e-30, 1e-20, 1e-10, 1e-7, 1e-4], np.float64)
    return np.concatenate([[np.inf, -np.inf, 0.0, -0.0], tiny, -tiny,
                           [-100.0, 100.0, -88.7, 88.7, -87.0, 87.0, -104.0, 104.0, -1e30, 1e30]])


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_sigmoid_tanh_accuracy(simd, name):
    """Max abs error <= 2e-7 on a dense grid of [-30, 30] plus +-inf, +-0 and tiny values."""
    x = np.concatenate([np.linspace(-30.0, 30.0, 1_200_001), special_inputs()]).astype(np.float32)
    y = _core.activation_forward(name, x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert not np.any(np.isnan(y)), f"{name}: NaN for x={x[np.isnan(y)][:5]}"
    want = ref.activation_forward(name, f64(x))
    err = np.abs(f64(y) - want)
    worst = int(np.argmax(err))
    assert err[worst] <= 2e-7, f"{name}: max abs error {err[worst]:.3g} at x={x[worst]!r}"
    # range and exact values where the function saturates or is odd/symmetric
    lo = -1.0 if name == "tanh" else 0.0
    assert np.all((y >= lo) & (y <= 1.0))
    assert _core.activation_forward(name, np.array([np.inf], np.float32))[0] == 1.0
    assert _core.activation_forward(name, np.array([0.0], np.float32))[0] == (0.0 if name == "tanh" else 0.5)
    if name == "tanh":
        assert _core.activation_forward(name, np.array([-np.inf], np.float32))[0] == -1.0


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_nan_propagates(simd, name):
    """A NaN input gives NaN in that position only, in every SIMD lane and in the tail."""
    rng = np.random.default_rng(7)
    n = 37  # > 2 vectors of 16 plus a tail
    base = f32(rng.uniform(-5, 5, n))
    for pos in range(n):
        x = base.copy()
        x[pos] = np.nan
        y = _core.activation_forward(name, x)
        assert np.isnan(y[pos]), f"{name}: NaN at position {pos} became {y[pos]!r}"
        assert not np.any(np.isnan(np.delete(y, pos)))


@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 17), (2, 5, 33), (4, 65)])
def test_activation_forward(simd, name, shape):
    """Forward vs the float64 reference. Elementwise functions: a few ulps of the output
    (sigmoid/tanh: the 2e-7 absolute bound; hard sigmoids: one rounding of x+3 resp. 0.2x
    before the division, so 4 eps absolute on outputs in [0, 1]). Softmax: each output is
    exp(x - max) / sum, so a few ulps of exp plus the division and an n-term sum: rtol 8 eps."""
    rng = np.random.default_rng(8)
    x = f32(rng.uniform(-6, 6, shape))
    x.flat[0] = 0.0
    if x.size > 3:
        x.flat[1:4] = [3.0, -3.0, 2.5]  # the hard sigmoids' kinks
    y = _core.activation_forward(name, x)
    assert y.dtype == np.float32 and y.shape == x.shape
    want = ref.activation_forward(name, f64(x))
    if name in ("linear", "relu"):
        np.testing.assert_array_equal(y, want.astype(np.float32))
    elif name in ("sigmoid", "tanh"):
        assert_close(y, want, rtol=0, atol=2e-7, what=name)
    elif name == "softmax":
        assert_close(y, want, rtol=EPS32, atol=1e-30, mag=softmax_tol(x, want), what=name)
        np.testing.assert_allclose(np.sum(f64(y), axis=-1), 1.0, rtol=0, atol=shape[-1] * 2 * EPS32)
    else:
        assert_close(y, want, rtol=0, atol=4 * EPS32, what=name)


def test_softmax_rows_sum_to_one(simd):
    """Rows of widely varying scale (incl. huge logits, where a naive exp overflows)."""
    rng = np.random.default_rng(9)
    for n in TAILS:
        x = f32(rng.standard_normal((6, n)) * np.array([[0.01], [1], [10], [50], [1000], [1e30]]))
        y = _core.activation_forward("softmax", x)
        assert np.all(np.isfinite(y)) and np.all(y >= 0)
        np.testing.assert_allclose(np.sum(f64(y), axis=-1), 1.0, rtol=0, atol=n * 2 * EPS32)
        want = ref.softmax(f64(x))
        assert_close(y, want, rtol=EPS32, atol=1e-30, mag=softmax_tol(x, want), what=f"softmax n={n}")


@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("shape", [(7,), (3, 17), (2, 5, 33), (4, 65)])
def test_activation_backward(simd, name, shape):
    """Backward from the saved output y. Elementwise: dy * f'(y) with f' one or two roundings
    (1 - y*y cancels, so its error is eps relative to |dy|, not to the result): tolerance
    4 eps (|ref| + |dy|). Softmax: y * (dy - <dy, y>) with the dot in double and rounded once:
    4 eps (|ref| + |y| (|dy| + |<dy, y>|))."""
    rng = np.random.default_rng(10)
    x = rng.uniform(-6, 6, shape)
    x.flat[0] = 0.0
    y = f32(ref.activation_forward(name, x))
    if name in ("hard_sigmoid", "hard_sigmoid_keras2") and y.size > 2:
        y.flat[1:3] = [0.0, 1.0]  # saturated: derivative 0
    dy = f32(rng.standard_normal(shape))
    got = _core.activation_backward(name, y, dy)
    assert got.dtype == np.float32 and got.shape == y.shape
    want = ref.activation_backward(name, f64(y), f64(dy))
    if name == "softmax":
        dot = np.abs(np.sum(f64(dy) * f64(y), axis=-1, keepdims=True))
        mag = np.abs(want) + np.abs(f64(y)) * (np.abs(f64(dy)) + dot)
    else:
        mag = np.abs(want) + np.abs(f64(dy))
    assert_close(got, want, rtol=4 * EPS32, atol=1e-30, mag=mag, what=f"{name} backward")


@pytest.mark.parametrize("name", ACTS)
def test_activation_out_aliasing(simd, name):
    """out= writes into the caller's array (same object, same buffer), also when out is x."""
    rng = np.random.default_rng(11)
    x = f32(rng.uniform(-4, 4, (5, 33)))
    x0 = x.copy()
    want = _core.activation_forward(name, x0)
    out = np.empty_like(x)
    ptr = out.ctypes.data
    r = _core.activation_forward(name, x, out=out)
    assert r is out and out.ctypes.data == ptr
    np.testing.assert_array_equal(out, want)
    r = _core.activation_forward(name, x, out=x)  # in place
    assert r is x
    np.testing.assert_array_equal(x, want)
    # backward: out may alias dy
    y = want
    dy = f32(rng.standard_normal(y.shape))
    dwant = _core.activation_backward(name, y, dy.copy())
    r = _core.activation_backward(name, y, dy, out=dy)
    assert r is dy
    np.testing.assert_array_equal(dy, dwant)


# --------------------------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------------------------
def lstm_data(rng, B, T, I, H, bias=True, state=True):
    """Keras-like scales: kernel ~ U(+-sqrt(6/(I+4H))) (glorot), recurrent ~ 1/sqrt(H)."""
    x = f32(rng.standard_normal((B, T, I)))
    W = f32(rng.uniform(-1, 1, (I, 4 * H)) * math.sqrt(6.0 / (I + 4 * H)))
    U = f32(rng.standard_normal((H, 4 * H)) / math.sqrt(H))
    b = f32(rng.uniform(-0.5, 0.5, 4 * H)) if bias else None
    h0 = f32(rng.uniform(-0.5, 0.5, (B, H))) if state else None
    c0 = f32(rng.uniform(-0.5, 0.5, (B, H))) if state else None
    return x, W, U, b, h0, c0


def lstm_rtol(T, I, H):
    """Forward: each step's pre-activation is an (I + H + 1)-term dot product, the gates add a
    few ulps, and with these weight scales the recurrence does not amplify what it carries, so
    the independent per-step errors add up like a random walk over T steps: sqrt(T). The
    largest error measured over all shapes/activations/levels (up to B=16, T=20, I=H=64) is
    0.4 eps sqrt((I + H + 1) T) (|ref| + rms(ref)); c = 4 gives a 10x margin."""
    return 4 * EPS32 * math.sqrt((I + H + 1) * T)


def lstm_check(B, T, I, H, act="tanh", ract="sigmoid", bias=True, state=True, go_backwards=False,
               dy_mode="seq", seed=0):
    rng = np.random.default_rng(seed)
    x, W, U, b, h0, c0 = lstm_data(rng, B, T, I, H, bias, state)
    tag = f"B={B} T={T} I={I} H={H} {act}/{ract} bias={bias} state={state} gb={go_backwards} dy={dy_mode}"
    p = _core.lstm_forward(x, W, U, b, h0, c0, activation=act, recurrent_activation=ract,
                           go_backwards=go_backwards)
    hs, hT, cT, cache = ref.lstm_forward(f64(x), f64(W), f64(U), f64(b), f64(h0), f64(c0),
                                         act, ract, go_backwards)
    rtol = lstm_rtol(T, I, H)
    # Absolute floor: a value that cancels to ~0 (a pre-activation x.W + h.U + b summing to
    # ~0, or c = f c_prev + i g) carries the rounding of the terms that went in, and every
    # activation has slope <= 1; so the floor is the typical magnitude of those terms, not of
    # the (possibly tiny) result. Found by hypothesis: B = H = 1 with an output of 1e-4.
    terms = rms(np.abs(f64(x)) @ np.abs(f64(W))) + (rms(b) if bias else 0.0)
    if state:
        terms += rms(np.abs(f64(h0)) @ np.abs(f64(U))) + rms(c0)
    for name, got, want in (("outputs", p.outputs, hs), ("h", p.h, hT), ("c", p.c, cT)):
        assert_close(got, want, rtol=rtol, atol=rtol * max(rms(want), rms(hs), terms) + 1e-30,
                     what=f"{name} {tag}")
    np.testing.assert_array_equal(p.h, p.outputs[:, -1])

    dys = f32(rng.standard_normal((B, T, H)))
    dh = f32(rng.standard_normal((B, H)))
    dc = f32(rng.standard_normal((B, H)))
    if dy_mode == "seq":  # dy for every step plus dh/dc for the final state
        g = p.backward(dy=dys, dh=dh, dc=dc)
        want = ref.lstm_backward(cache, f64(dys), f64(dh), f64(dc))
    elif dy_mode == "last":  # dy of the last output only: same as dh_T
        g = p.backward(dy=f32(dys[:, -1]))
        want = ref.lstm_backward(cache, None, f64(dys[:, -1]), None)
    else:  # "state": no dy, gradients of the final (h, c) only
        g = p.backward(dh=dh, dc=dc)
        want = ref.lstm_backward(cache, None, f64(dh), f64(dc))
    # Backward runs the recurrence back over T steps (the forward's error in the saved gates
    # plus its own) and sums B*T outer products into the weight gradients: the forward bound
    # times sqrt(B*T), and c = 8. Largest measured: 1.2 eps sqrt((I+H+1) T) sqrt(B T) (B=2, T=3,
    # I=4, H=3, drecurrent_kernel), so a 7x margin.
    grtol = 2 * rtol * math.sqrt(B * T)
    # Absolute floors, as for the forward: an entry that cancels to ~0 carries the rounding of
    # the terms summed into it. dz (the pre-activation gradient) is at most the incoming
    # gradient times the saved activations (|gate| <= 1, |act(c)| <= max(1, |c|)); dx sums
    # dz W^T over 4H terms, dh0 dz U^T, dkernel/drecurrent_kernel/dbias x^T dz, h^T dz, dz
    # over B*T rows (found by hypothesis: B=T=I=H=1 with dx = 1e-3).
    g_in = max(rms(dys) if dy_mode == "seq" else 0.0, rms(dys[:, -1]), rms(dh), rms(dc))
    g_in *= max(1.0, float(np.max(np.abs(cT))), float(np.max(np.abs(hs))))
    floors = {"dx": rms(np.abs(f64(W)).sum(axis=1)), "dh0": rms(np.abs(f64(U)).sum(axis=1)),
              "dc0": 1.0, "dkernel": rms(x) * B * T, "drecurrent_kernel": max(rms(hs), 1.0) * B * T,
              "dbias": float(B * T)}
    assert set(g) == {"dx", "dkernel", "drecurrent_kernel", "dbias", "dh0", "dc0"}
    for k in ("dx", "dkernel", "drecurrent_kernel", "dh0", "dc0") + (("dbias",) if bias else ()):
        assert g[k].dtype == np.float32
        atol = grtol * max(rms(want[k]), g_in * floors[k] / max(1.0, math.sqrt(B * T)))
        assert_close(g[k], want[k], rtol=grtol, atol=atol + 1e-30, what=f"{k} {tag}")
    if not bias:
        assert g["dbias"] is None


LSTM_SHAPES = [  # (B, T, I, H): units 1, timesteps 1, batch 1, I > H, H not a multiple of 8/16
    (1, 1, 1, 1),
    (2, 3, 4, 3),
    (1, 5, 2, 7),
    (3, 1, 20, 16),
    (2, 4, 40, 17),
    (5, 3, 6, 33),
    (2, 3, 9, 65),
]


@pytest.mark.parametrize("act,ract", LSTM_ACT_PAIRS)
@pytest.mark.parametrize("B,T,I,H", LSTM_SHAPES)
def test_lstm_shapes_and_activations(simd, B, T, I, H, act, ract):
    lstm_check(B, T, I, H, act, ract, seed=B * 1000 + T * 100 + I * 10 + H)


@pytest.mark.parametrize("B,T,H", [(1, 1, 1), (1, 1, 3), (1, 1, 33), (1, 1, 70), (1, 2, 17),
                                   (2, 1, 300), (13, 1, 9)])
def test_lstm_one_step_reads_u_in_place(simd, B, T, H):
    """When each packed panel would be used at most twice (T * ceil(B / MR) <= 2: one
    sample, one step), the recurrent products read U in place instead, forward (GEMM with B
    in place: partial column panels, 4H not a multiple of the tile width, and K = H > 256,
    blocked K) and backward (dh = dz U^T as dot products: 4H not a multiple of the vector
    width, H not a multiple of the 4 rows done together)."""
    lstm_check(B, T, 4, H, seed=B * 1000 + T * 100 + H)


@pytest.mark.parametrize("dy_mode", ["seq", "last", "state"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("state", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_lstm_options(simd, bias, state, go_backwards, dy_mode):
    lstm_check(3, 4, 5, 17, bias=bias, state=state, go_backwards=go_backwards, dy_mode=dy_mode, seed=21)


def test_lstm_need_dx_false(simd):
    rng = np.random.default_rng(12)
    x, W, U, b, h0, c0 = lstm_data(rng, 2, 3, 4, 5)
    dy = f32(rng.standard_normal((2, 3, 5)))
    full = _core.lstm_forward(x, W, U, b, h0, c0).backward(dy=dy)
    part = _core.lstm_forward(x, W, U, b, h0, c0).backward(dy=dy, need_dx=False)
    assert part["dx"] is None
    for k in ("dkernel", "drecurrent_kernel", "dbias", "dh0", "dc0"):
        np.testing.assert_array_equal(part[k], full[k])


def test_lstm_backward_zero_upstream(simd):
    """No upstream gradient at all: every gradient is exactly zero."""
    rng = np.random.default_rng(13)
    x, W, U, b, h0, c0 = lstm_data(rng, 2, 3, 4, 5)
    g = _core.lstm_forward(x, W, U, b, h0, c0).backward()
    for v in g.values():
        assert not np.any(v)


@HYPO
@given(B=st.integers(1, 12), T=st.integers(1, 12), I=st.integers(1, 12), H=st.integers(1, 12),
       acts=st.sampled_from(LSTM_ACT_PAIRS), bias=st.booleans(), state=st.booleans(),
       go_backwards=st.booleans(), dy_mode=st.sampled_from(["seq", "last", "state"]),
       seed=st.integers(0, 2**32 - 1))
def test_lstm_property(simd, B, T, I, H, acts, bias, state, go_backwards, dy_mode, seed):
    lstm_check(B, T, I, H, acts[0], acts[1], bias, state, go_backwards, dy_mode, seed)


def test_lstm_gradient_finite_differences(simd):
    """The float32 native gradient against a float64 central difference of the *reference*
    forward loss L = sum(R * hs) + sum(Rh * h_T) + sum(Rc * c_T), on a tiny problem.
    The FD error is O(h^2) ~ 1e-12 and float64 rounding ~1e-10, so the tolerance (1e-5, i.e.
    ~80 eps on 2-4-term sums over 3 steps) is set by the native float32 arithmetic alone."""
    rng = np.random.default_rng(14)
    B, T, I, H = 2, 3, 3, 2
    x, W, U, b, h0, c0 = lstm_data(rng, B, T, I, H)
    R = rng.standard_normal((B, T, H))
    Rh = rng.standard_normal((B, H))
    Rc = rng.standard_normal((B, H))
    params = {"x": f64(x), "kernel": f64(W), "recurrent_kernel": f64(U), "bias": f64(b),
              "h0": f64(h0), "c0": f64(c0)}

    def loss():
        hs, hT, cT, _ = ref.lstm_forward(params["x"], params["kernel"], params["recurrent_kernel"],
                                         params["bias"], params["h0"], params["c0"])
        return float(np.sum(R * hs) + np.sum(Rh * hT) + np.sum(Rc * cT))

    g = _core.lstm_forward(x, W, U, b, h0, c0).backward(dy=f32(R), dh=f32(Rh), dc=f32(Rc))
    names = {"x": "dx", "kernel": "dkernel", "recurrent_kernel": "drecurrent_kernel",
             "bias": "dbias", "h0": "dh0", "c0": "dc0"}
    for pname, arr in params.items():
        assert_close_rms(g[names[pname]], num_grad(loss, arr, 1e-6), 1e-5, what=f"FD {pname}")


# --------------------------------------------------------------------------------------------
# determinism across thread counts
# --------------------------------------------------------------------------------------------
THREAD_COUNTS = (1, 2, 3)  # 3: an uneven split of the work, also oversubscribed on 2 cores


@pytest.mark.parametrize("M,N,K", [(300, 300, 300), (1000, 40, 300), (30, 700, 600)])
def test_gemm_thread_determinism(simd, native_threads, M, N, K):
    """Far above the 1e6-flop parallel threshold; results must be bit-identical for any thread
    count (the drivers split only disjoint outputs). The shapes take each split: shared packed
    blocks (300^3), each thread on its own rows (N <= M/4), on its own columns (M <= N/4);
    K = 300 and 600 cross the K blocking."""
    rng = np.random.default_rng(15)
    c0 = f32(rng.standard_normal((M, N)))
    for ta, tb in TRANS:
        a = f32(rng.standard_normal((K, M) if ta else (M, K)))
        b = f32(rng.standard_normal((N, K) if tb else (K, N)))
        out = []
        for n in THREAD_COUNTS:
            _core.set_num_threads(n)
            assert _core.get_num_threads() == (n if _core.build_info()["openmp"] else 1)
            c = c0.copy()
            _core.gemm(a, b, c, trans_a=ta, trans_b=tb, alpha=0.5, beta=1.0)
            out.append(c)
        want = ref.gemm(f64(a), f64(b), f64(c0), ta, tb, 0.5, 1.0)
        assert_close_rms(out[0], want, 4 * EPS32 * math.sqrt(K + 2), what=f"gemm {M}x{N}x{K}")
        for n, c in zip(THREAD_COUNTS[1:], out[1:]):
            assert np.array_equal(out[0], c), f"gemm ta={ta} tb={tb} differs between 1 and {n} threads"


@pytest.mark.parametrize("B,T,I,H", [(16, 5, 8, 96), (64, 40, 3, 5), (33, 3, 8, 256)])
def test_lstm_thread_determinism(simd, native_threads, B, T, I, H):
    """Forward and backward must be bit-identical for any thread count. The shapes take each
    split of the time loop: batch rows (B=16, H=96; and H=5, where several rows share a
    vector), and units with a barrier per step (H=256: 8 B H^2 = 17e6 flops a step)."""
    rng = np.random.default_rng(16)
    x, W, U, b, h0, c0 = lstm_data(rng, B, T, I, H)
    dy = f32(rng.standard_normal((B, T, H)))
    dh = f32(rng.standard_normal((B, H)))
    for gb in (False, True):
        res = []
        for n in THREAD_COUNTS:
            _core.set_num_threads(n)
            p = _core.lstm_forward(x, W, U, b, h0, c0, go_backwards=gb)
            out = {"outputs": p.outputs.copy(), "h": p.h, "c": p.c}
            out.update(p.backward(dy=dy, dh=dh))
            res.append(out)
        for n, r in zip(THREAD_COUNTS[1:], res[1:]):
            for k in r:
                assert np.array_equal(res[0][k], r[k]), f"LSTM {k} (go_backwards={gb}) differs between 1 and {n} threads"


# --------------------------------------------------------------------------------------------
# zero copy / in place
# --------------------------------------------------------------------------------------------
def test_lstm_zero_copy(simd):
    rng = np.random.default_rng(17)
    x, W, U, b, h0, c0 = lstm_data(rng, 3, 4, 5, 6)
    p = _core.lstm_forward(x, W, U, b, h0, c0)
    assert p.input_data_pointer == x.ctypes.data  # the kernel read x itself, no copy
    o1, o2 = p.outputs, p.outputs
    assert o1.base is not None  # a view of the pass's buffer, not a fresh copy
    assert o1.ctypes.data == o2.ctypes.data
    assert np.shares_memory(o1, o2)
    assert not o1.flags.writeable
    assert o1.shape == (3, 4, 6) and o1.dtype == np.float32
    g1 = p.gates
    assert g1.shape == (3, 4, 24) and not g1.flags.writeable and g1.base is not None
    # the view keeps the pass alive
    del p
    assert np.all(np.isfinite(o1))
    pb = _core.lstm_forward(x, W, U, b, h0, c0, go_backwards=True)
    assert pb.input_data_pointer == 0  # reversed copy


def test_gemm_and_activation_write_in_place(simd):
    rng = np.random.default_rng(18)
    a = f32(rng.standard_normal((9, 17)))
    b = f32(rng.standard_normal((17, 33)))
    c = np.zeros((9, 33), np.float32)
    ptr = c.ctypes.data
    assert _core.gemm(a, b, c) is None
    assert c.ctypes.data == ptr and np.any(c)
    out = np.zeros_like(c)
    assert _core.activation_forward("tanh", c, out=out) is out and out.ctypes.data != c.ctypes.data


def test_optimizers_in_place(simd):
    rng = np.random.default_rng(19)
    for fn, slots in ((_core.sgd_update, 1), (_core.adam_update, 2), (_core.rmsprop_update, 1)):
        w = f32(rng.standard_normal((4, 5)))
        g = f32(rng.standard_normal((4, 5)))
        s = [np.zeros_like(w) for _ in range(slots)]
        ptrs = [a.ctypes.data for a in [w, *s]]
        w0 = w.copy()
        if fn is _core.sgd_update:
            assert fn(w, g, s[0], lr=0.1, momentum=0.9, nesterov=False) is None
        else:
            assert fn(w, g, *s) is None
        assert [a.ctypes.data for a in [w, *s]] == ptrs
        assert not np.array_equal(w, w0)
        assert all(np.any(a) for a in s)


# --------------------------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("shape", [(7, 9), (2, 5, 9), (1, 1, 3)])
@pytest.mark.parametrize("U", [1, 17])
def test_dense(simd, name, shape, U):
    """Forward: z = x W + b is a (D + 1)-term sum, error <= rz (|z| + rms(z)) with
    rz = 4 eps sqrt(D + 1) (as for GEMM); every elementwise activation is 1-Lipschitz, so y
    inherits that plus its own ulps (2e-7 for sigmoid/tanh, 4 eps for the hard sigmoids).
    Softmax turns absolute errors of z into relative errors of y: twice the largest z error
    plus the softmax's own eps (8 + |z - max|). Backward: dx sums U terms, dkernel and dbias
    sum over all rows (N or N*T): rtol 8 eps sqrt(n + 1) against rms as everywhere."""
    rng = np.random.default_rng(20)
    D = shape[-1]
    x = f32(rng.standard_normal(shape))
    W = f32(rng.standard_normal((D, U)) / math.sqrt(D))
    b = f32(rng.standard_normal(U) * 0.1)
    for bias in (b, None):
        y = _core.dense_forward(x, W, bias, activation=name)
        want, cache = ref.dense_forward(f64(x), f64(W), f64(bias), name)
        assert y.shape == shape[:-1] + (U,) and y.dtype == np.float32
        z = f64(x) @ f64(W) + (0 if bias is None else f64(bias))
        rz = 4 * EPS32 * math.sqrt(D + 1)
        zerr = rz * (np.abs(z) + rms(z))
        if name == "softmax":
            rel = 2 * np.max(zerr) + EPS32 * (8 + np.abs(z - np.max(z, axis=-1, keepdims=True)))
            assert_close(y, want, rtol=1.0, atol=1e-30, mag=np.abs(want) * rel, what=f"dense {name} {shape}")
        else:
            own = {"sigmoid": 2e-7, "tanh": 2e-7, "hard_sigmoid": 4 * EPS32,
                   "hard_sigmoid_keras2": 4 * EPS32}.get(name, 0.0)
            assert_close(y, want, rtol=1.0, atol=own, mag=zerr, what=f"dense {name} {shape}")
        dy = f32(rng.standard_normal(y.shape))
        dx, dW, db = _core.dense_backward(x, W, y, dy, name)
        # compare against the reference backward *from the native y* (isolates the backward)
        cache = dict(cache, y=f64(y))
        gw = ref.dense_backward(cache, f64(dy))
        rows = int(np.prod(shape[:-1]))
        assert dx.shape == x.shape and dW.shape == W.shape and db.shape == (U,)
        assert_close_rms(dx, gw["dx"], 8 * EPS32 * math.sqrt(U + 1), f"dense dx {name} {shape}")
        rw = 8 * EPS32 * math.sqrt(rows + 1)
        assert_close_rms(dW, gw["dkernel"], rw, f"dense dkernel {name} {shape}")
        dz = ref.activation_backward(name, f64(y), f64(dy)).reshape(-1, U)
        assert_close_rms(db, dz.sum(axis=0), rw, f"dense dbias {name} {shape}")


# --------------------------------------------------------------------------------------------
# losses and metrics
# --------------------------------------------------------------------------------------------
LOSSES = ["mse", "mae", "binary_crossentropy", "categorical_crossentropy",
          "sparse_categorical_crossentropy"]


def loss_data(rng, name, shape):
    if name in ("mse", "mae"):
        return f32(rng.standard_normal(shape)), f32(rng.standard_normal(shape))
    if name == "binary_crossentropy":
        return f32(rng.integers(0, 2, shape)), f32(rng.uniform(0.01, 0.99, shape))
    p = rng.uniform(0.05, 1, shape)
    p = f32(p / p.sum(axis=-1, keepdims=True))
    k = rng.integers(0, shape[-1], shape[:-1])
    if name == "sparse_categorical_crossentropy":
        return f32(k), p
    return f32(np.eye(shape[-1])[k]), p


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("shape", [(1, 1), (6, 5), (2, 3, 17)])
def test_loss(simd, name, shape):
    """Loss accumulated in double: value to 1e-6 relative. Gradient: float32 of a few
    roundings of the float32 inputs: rtol 8 eps (MAE exactly sign/N).

    The (3, 1) categorical case always clips q = 1 to 1 - 1e-7, which is 1 - 2**-23 in float32
    (as in Keras with float32 tensors): -log of it is 1.19e-7 natively against 1.0e-7 in the
    float64 reference, hence the absolute 5e-8."""
    if shape[-1] == 1 and "categorical" in name:
        shape = (3, 1)
    rng = np.random.default_rng(21)
    yt, yp = loss_data(rng, name, shape)
    val, grad = _core.loss(name, yt, yp)
    assert isinstance(val, float) and grad.shape == yp.shape and grad.dtype == np.float32
    want = float(ref.loss_forward(name, f64(yt), f64(yp)))
    assert val == pytest.approx(want, rel=1e-6, abs=5e-8)
    gwant = ref.loss_backward(name, f64(yt), f64(yp))
    assert_close(grad, gwant, 8 * EPS32, 1e-30, what=f"{name} grad {shape}")
    if name in ("mse", "mae"):
        full = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}[name]
        v2, g2 = _core.loss(full, yt, yp)
        assert v2 == val and np.array_equal(g2, grad)


def test_loss_clipping(simd):
    """Probabilities at 0 and 1 are clipped to [1e-7, 1 - 1e-7]: finite loss, zero gradient
    where the clip is active, matching the reference.

    The clip bounds are float32 numbers, as in Keras on float32 tensors: 1 - 1e-7 rounds to
    1 - 2**-23, so a clipped p = 1 with y = 0 costs -log(2**-23) = 15.94, not -log(1e-7) =
    16.12 as in the float64 reference. The loss value is therefore compared with the reference
    run in float32 (same bounds); the gradients, zero at clipped entries, with float64."""
    yt = f32([[1, 0, 1, 0, 1, 0]])
    yp = f32([[0.0, 1.0, 1e-9, 0.5, 1.0, 0.0]])
    val, g = _core.loss("binary_crossentropy", yt, yp)
    assert math.isfinite(val)
    assert val == pytest.approx(float(ref.loss_forward("binary_crossentropy", yt, yp)), rel=1e-6)
    lo, hi = float(np.float32(1e-7)), float(np.float32(1 - 1e-7))
    # (y, p) = (1, 0), (0, 1), (1, 1e-9), (0, .5), (1, 1), (0, 0)
    by_hand = -(2 * math.log(lo) + math.log(1 - hi) + math.log(0.5) + math.log(hi)
                + math.log(1 - lo)) / 6
    assert val == pytest.approx(by_hand, rel=1e-12)
    np.testing.assert_array_equal(g[0, [0, 1, 2, 4, 5]], 0.0)
    assert_close(g, ref.loss_backward("binary_crossentropy", f64(yt), f64(yp)), 8 * EPS32, 1e-30, what="bce clip")
    for name, t in (("categorical_crossentropy", f32([[0, 1, 0], [1, 0, 0]])),
                    ("sparse_categorical_crossentropy", f32([1, 0]))):
        p = f32([[0.5, 0.0, 0.5], [1.0, 0.0, 0.0]])  # true class has q = 0, resp. q = 1
        val, g = _core.loss(name, t, p)
        assert math.isfinite(val)
        assert val == pytest.approx(float(ref.loss_forward(name, f64(t), f64(p))), rel=1e-6)
        assert np.all(np.isfinite(g))
        assert_close(g, ref.loss_backward(name, f64(t), f64(p)), 8 * EPS32, 1e-30, what=f"{name} clip")


METRICS = ["binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "mse", "mae"]


@pytest.mark.parametrize("name", METRICS)
@pytest.mark.parametrize("shape", [(8, 5), (3, 4, 6)])
def test_metric(simd, name, shape):
    rng = np.random.default_rng(22)
    if name == "binary_accuracy":
        yt, yp = f32(rng.integers(0, 2, shape)), f32(rng.uniform(0, 1, shape))
        yp.flat[0] = 0.5  # threshold is strict: 0.5 -> 0
    elif name in ("mse", "mae"):
        yt, yp = f32(rng.standard_normal(shape)), f32(rng.standard_normal(shape))
    else:
        yp = f32(rng.uniform(0, 1, shape))
        k = rng.integers(0, shape[-1], shape[:-1])
        yt = f32(k) if name.startswith("sparse") else f32(np.eye(shape[-1])[k])
    got = _core.metric(name, yt, yp)
    want = ref.metric(name, f64(yt), f64(yp))
    if name in ("mse", "mae"):
        assert got == pytest.approx(want, rel=1e-6)
    else:
        assert got == pytest.approx(want, abs=1e-12)
        assert 0.0 < want < 1.0  # the data exercises both hits and misses


# --------------------------------------------------------------------------------------------
# optimizers
# --------------------------------------------------------------------------------------------
STEPS = 6


def opt_data(seed, shape=(7, 33)):
    rng = np.random.default_rng(seed)
    w = f32(rng.standard_normal(shape))
    gs = [f32(rng.standard_normal(shape)) for _ in range(STEPS)]
    return w, gs


# Each step rounds w, the slots and the update a few times: rtol 4 eps per step, against
# |ref| + rms(ref) (an entry near 0 carries the rounding of the O(1) values it came from).
# Hyper-parameters are Keras' python floats: 1 - beta is formed in double, then cast.
OPT_RTOL = 4 * EPS32 * STEPS


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd(simd, momentum, nesterov):
    w, gs = opt_data(23)
    v = np.zeros_like(w)
    w64, v64 = f64(w), np.zeros(w.shape)
    for g in gs:
        _core.sgd_update(w, g, v if momentum else None, lr=0.05, momentum=momentum, nesterov=nesterov)
        w64, v64 = ref.sgd_step(w64, f64(g), v64, lr=0.05, momentum=momentum, nesterov=nesterov)
    assert_close_rms(w, w64, OPT_RTOL, what="sgd w")
    if momentum:
        assert_close_rms(v, v64, OPT_RTOL, what="sgd velocity")


def test_adam(simd):
    w, gs = opt_data(24)
    m, v = np.zeros_like(w), np.zeros_like(w)
    w64, m64, v64 = f64(w), np.zeros(w.shape), np.zeros(w.shape)
    for t, g in enumerate(gs, start=1):
        _core.adam_update(w, g, m, v, lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7, step=t)
        w64, m64, v64 = ref.adam_step(w64, f64(g), m64, v64, t, lr=0.01, beta_1=0.9, beta_2=0.999,
                                      epsilon=1e-7)
    assert_close_rms(w, w64, OPT_RTOL, what="adam w")
    # m and v are running averages of g and g^2: an entry can cancel to ~0 while its rounding
    # error is eps * |g|, so they are compared normwise
    assert_close_rms(m, m64, OPT_RTOL, what="adam m")
    assert_close_rms(v, v64, OPT_RTOL, what="adam v")


def test_rmsprop(simd):
    w, gs = opt_data(25)
    v = np.zeros_like(w)
    w64, v64 = f64(w), np.zeros(w.shape)
    for g in gs:
        _core.rmsprop_update(w, g, v, lr=0.01, rho=0.9, epsilon=1e-7)
        w64, v64 = ref.rmsprop_step(w64, f64(g), v64, lr=0.01, rho=0.9, epsilon=1e-7)
    assert_close_rms(w, w64, OPT_RTOL, what="rmsprop w")
    assert_close_rms(v, v64, OPT_RTOL, what="rmsprop v")


# --------------------------------------------------------------------------------------------
# error paths
# --------------------------------------------------------------------------------------------
def test_wrong_dtype():
    a = np.ones((3, 4))
    b = np.ones((4, 5), np.float32)
    c = np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match=r"`a` must be a float32 array; received dtype float64"):
        _core.gemm(a, b, c)
    with pytest.raises(ValueError, match="float32"):
        _core.gemm(b.T.copy(), b, c.astype(np.float64)[:4, :5])
    with pytest.raises(ValueError, match="float32"):
        _core.activation_forward("tanh", np.ones(3, np.int32))
    with pytest.raises(ValueError, match="float32"):
        _core.lstm_forward(np.ones((1, 1, 1)), np.ones((1, 4), np.float32), np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="float32"):
        _core.sgd_update(np.ones(3), np.ones(3, np.float32))


def test_wrong_shapes():
    f = np.float32
    with pytest.raises(ValueError, match=r"`c` must have shape \(3, 5\); received shape \(3, 6\)"):
        _core.gemm(np.ones((3, 4), f), np.ones((4, 5), f), np.zeros((3, 6), f))
    with pytest.raises(ValueError, match=r"inner dimensions differ.*\(3, 4\).*\(5, 5\)"):
        _core.gemm(np.ones((3, 4), f), np.ones((5, 5), f), np.zeros((3, 5), f))
    with pytest.raises(ValueError, match=r"`a` must be 2D; received shape \(3,\)"):
        _core.gemm(np.ones(3, f), np.ones((3, 5), f), np.zeros((1, 5), f))
    with pytest.raises(ValueError, match="unit stride"):
        _core.gemm(np.ones((3, 8), f)[:, ::2], np.ones((4, 5), f), np.zeros((3, 5), f))
    x = np.ones((2, 3, 4), f)
    with pytest.raises(ValueError, match=r"`kernel` must have shape \(4, 20\); received shape \(4, 16\)"):
        _core.lstm_forward(x, np.ones((4, 16), f), np.ones((5, 20), f))
    with pytest.raises(ValueError, match=r"`bias` must have shape \(20,\); received shape \(16,\)"):
        _core.lstm_forward(x, np.ones((4, 20), f), np.ones((5, 20), f), np.ones(16, f))
    with pytest.raises(ValueError, match=r"`h0` must have shape \(2, 5\); received shape \(5, 2\)"):
        _core.lstm_forward(x, np.ones((4, 20), f), np.ones((5, 20), f), h0=np.ones((5, 2), f))
    with pytest.raises(ValueError, match=r"`x` must be 3D.*received shape \(2, 3\)"):
        _core.lstm_forward(np.ones((2, 3), f), np.ones((3, 20), f), np.ones((5, 20), f))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.lstm_forward(np.ones((2, 6, 4), f)[:, ::2], np.ones((4, 20), f), np.ones((5, 20), f))
    p = _core.lstm_forward(x, np.ones((4, 20), f), np.ones((5, 20), f))
    with pytest.raises(ValueError, match=r"`dy` must have shape \(2, 3, 5\); received shape \(2, 4, 5\)"):
        p.backward(dy=np.ones((2, 4, 5), f))
    with pytest.raises(ValueError, match=r"`dh` must have shape \(2, 5\); received shape \(2, 4\)"):
        p.backward(dh=np.ones((2, 4), f))
    with pytest.raises(ValueError, match=r"`kernel` must have shape \(4, 3\); received shape \(5, 3\)"):
        _core.dense_forward(x, np.ones((5, 3), f))
    with pytest.raises(ValueError, match=r"`out` must have shape \(2, 3, 4\); received shape \(2, 12\)"):
        _core.activation_forward("relu", x, out=np.ones((2, 12), f))
    with pytest.raises(ValueError, match=r"`g` must have shape \(3,\); received shape \(4,\)"):
        _core.sgd_update(np.ones(3, f), np.ones(4, f))
    with pytest.raises(ValueError, match=r"`y_true` must hold 6 values; received shape \(2, 2\)"):
        _core.loss("mse", np.ones((2, 2), f), np.ones((2, 3), f))


def test_non_writeable_outputs():
    f = np.float32
    c = np.zeros((3, 5), f)
    c.flags.writeable = False
    with pytest.raises(ValueError, match="`c` must be writeable"):
        _core.gemm(np.ones((3, 4), f), np.ones((4, 5), f), c)
    out = np.zeros(4, f)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="`out` must be writeable"):
        _core.activation_forward("tanh", np.ones(4, f), out=out)
    with pytest.raises(ValueError, match="`w` must be writeable"):
        _core.sgd_update(out, np.ones(4, f))
    with pytest.raises(ValueError, match="`m` must be writeable"):
        _core.adam_update(np.ones(4, f), np.ones(4, f), out, np.zeros(4, f))
    with pytest.raises(ValueError, match="must be C-contiguous"):
        _core.rmsprop_update(np.ones((4, 4), f)[:, ::2], np.ones((4, 2), f), np.zeros((4, 2), f))


def test_unknown_names_list_valid_ones():
    x = np.ones((2, 3), np.float32)
    names = "".join(f"(?=.*'{n}')" for n in ACTS)
    with pytest.raises(ValueError, match=r"unknown activation `swish`" + names):
        _core.activation_forward("swish", x)
    with pytest.raises(ValueError, match=r"unknown activation `gelu`" + names):
        _core.activation_backward("gelu", x, x)
    with pytest.raises(ValueError, match=r"unknown activation `elu`" + names):
        _core.lstm_forward(np.ones((1, 1, 1), np.float32), np.ones((1, 4), np.float32),
                           np.ones((1, 4), np.float32), activation="elu")
    with pytest.raises(ValueError, match="cannot be 'softmax'"):
        _core.lstm_forward(np.ones((1, 1, 1), np.float32), np.ones((1, 4), np.float32),
                           np.ones((1, 4), np.float32), recurrent_activation="softmax")
    with pytest.raises(ValueError, match=r"unknown activation `bogus`" + names):
        _core.dense_forward(x, np.ones((3, 2), np.float32), activation="bogus")
    loss_names = "".join(f"(?=.*'{n}')" for n in ["mean_squared_error", "mse", "mean_absolute_error",
                                                    "mae", *LOSSES[2:]])
    with pytest.raises(ValueError, match=r"unknown loss `hinge`" + loss_names):
        _core.loss("hinge", x, x)
    with pytest.raises(ValueError, match=r"unknown metric `auc`"):
        _core.metric("auc", x, x)


def test_bad_arguments():
    f = np.float32
    with pytest.raises(ValueError, match="`velocity` is required when momentum != 0"):
        _core.sgd_update(np.ones(3, f), np.ones(3, f), None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="`step` is 1-based; received step=0"):
        _core.adam_update(np.ones(3, f), np.ones(3, f), np.zeros(3, f), np.zeros(3, f), step=0)
    with pytest.raises(ValueError, match="received n=0"):
        _core.set_num_threads(0)
    with pytest.raises(ValueError, match="empty"):
        _core.lstm_forward(np.ones((0, 2, 3), f), np.ones((3, 8), f), np.ones((2, 8), f))
