"""SIMD level selection: the default choice, the in-process override (set_simd_level) and the
LSTMCORE_SIMD environment override read once at import (checked in subprocesses)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from lstmcore import _core

pytestmark = pytest.mark.filterwarnings("error")

LEVELS = _core.supported_simd_levels()
ALL_NAMES = ["avx512", "avx2", "neon", "generic"]  # every level the sources know
BEST_FIRST = ["avx512", "avx2", "neon", "generic"]


@pytest.fixture
def restore_level():
    prev = _core.simd_level()
    try:
        yield prev
    finally:
        _core.set_simd_level(prev)


def child_env(**overrides):
    """The parent's environment (same PYTHONPATH), with the directory lstmcore was imported
    from put first so that the child imports the very same build; None values are removed."""
    import lstmcore

    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(lstmcore.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [p for p in [env.get("PYTHONPATH")] if p])
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_child(code, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=child_env(**env),
                          capture_output=True, text=True, timeout=120)


# A short kernel check run in a child process: reports what it selected and whether a GEMM
# with tails, the activations and a small LSTM agree with the float64 reference.
CHILD_CHECK = """
    import json
    import numpy as np
    from lstmcore import _core
    from lstmcore import reference as ref
    rng = np.random.default_rng(0)
    ok = {}
    a = rng.standard_normal((17, 33)).astype(np.float32)
    b = rng.standard_normal((33, 65)).astype(np.float32)
    c = np.full((17, 65), np.nan, np.float32)
    _core.gemm(a, b, c)
    want = ref.gemm(a.astype(np.float64), b.astype(np.float64))
    ok["gemm"] = bool(np.max(np.abs(c - want)) <= 1e-5 * np.max(np.abs(want)))
    x = np.linspace(-30, 30, 10001, dtype=np.float32)
    for name in ("sigmoid", "tanh"):
        y = _core.activation_forward(name, x)
        ok[name] = bool(np.max(np.abs(y - ref.activation_forward(name, x.astype(np.float64)))) <= 2e-7)
    xs = rng.standard_normal((3, 4, 5)).astype(np.float32)
    W = (rng.standard_normal((5, 28)) * 0.3).astype(np.float32)
    U = (rng.standard_normal((7, 28)) * 0.3).astype(np.float32)
    p = _core.lstm_forward(xs, W, U)
    hs = ref.lstm_forward(xs.astype(np.float64), W.astype(np.float64), U.astype(np.float64))[0]
    ok["lstm"] = bool(np.max(np.abs(p.outputs - hs)) <= 1e-5)
    info = _core.build_info()
    print(json.dumps({"simd": info["simd"], "level": _core.simd_level(),
                      "tile": list(info["gemm_tile"]), "ok": ok}))
"""


def test_supported_levels_are_consistent():
    info = _core.build_info()
    assert LEVELS == info["simd_supported"]
    assert LEVELS, "no SIMD level at all"
    assert LEVELS[-1] == "generic", "the portable level must always be available, last"
    assert set(LEVELS) <= set(info["simd_compiled"]) <= set(ALL_NAMES)
    # best first
    assert LEVELS == sorted(LEVELS, key=BEST_FIRST.index)
    assert info["simd"] == _core.simd_level() and info["simd"] in LEVELS
    feats = set(info["cpu_features"])
    if "avx512" in LEVELS:
        assert {"avx512f", "avx512dq", "avx512bw", "avx512vl"} <= feats
    if "avx2" in LEVELS:
        assert {"avx2", "fma"} <= feats


def test_default_is_best_supported():
    """Without LSTMCORE_SIMD, the best level the CPU runs is selected (checked in a clean
    child, as this process may have been started with an override)."""
    r = run_child(CHILD_CHECK, LSTMCORE_SIMD=None)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["simd"] == out["level"] == LEVELS[0]
    assert all(out["ok"].values()), out


def test_empty_env_means_default():
    r = run_child(CHILD_CHECK, LSTMCORE_SIMD="")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["simd"] == LEVELS[0]


@pytest.mark.parametrize("level", LEVELS)
def test_env_override_forces_level(level, restore_level):
    """LSTMCORE_SIMD=<level>: build_info()['simd'] is that level and the kernels still agree
    with the reference; the micro-tile matches what set_simd_level selects in-process."""
    r = run_child(CHILD_CHECK, LSTMCORE_SIMD=level)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["simd"] == level and out["level"] == level
    assert all(out["ok"].values()), out
    _core.set_simd_level(level)
    assert list(_core.build_info()["gemm_tile"]) == out["tile"]


def test_env_override_bogus_fails_at_import():
    """An unknown LSTMCORE_SIMD is an import error naming every supported level."""
    r = run_child("import lstmcore._core", LSTMCORE_SIMD="bogus")
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "bogus" in r.stderr
    for level in LEVELS:
        assert level in r.stderr, f"{level!r} missing from the import error:\n{r.stderr}"
    assert "LSTMCORE_SIMD" in r.stderr


@pytest.mark.parametrize("name", [n for n in ALL_NAMES if n not in LEVELS])
def test_env_override_unsupported_level_fails_at_import(name):
    """A level this CPU cannot run (or this build lacks) is refused at import, naming the
    supported ones, instead of crashing later with an illegal instruction."""
    r = run_child("import lstmcore._core", LSTMCORE_SIMD=name)
    assert r.returncode != 0
    assert name in r.stderr
    for level in LEVELS:
        assert level in r.stderr


@pytest.mark.parametrize("level", LEVELS)
def test_set_simd_level_switches_in_process(level, restore_level):
    _core.set_simd_level(level)
    assert _core.simd_level() == level
    info = _core.build_info()
    assert info["simd"] == level
    mr, nr = info["gemm_tile"]
    assert mr >= 1 and nr >= 1
    # the switch takes effect for the next call: a tail-hitting GEMM is still right
    rng = np.random.default_rng(1)
    a = rng.standard_normal((mr + 1, 9)).astype(np.float32)
    b = rng.standard_normal((9, nr + 1)).astype(np.float32)
    c = np.empty((mr + 1, nr + 1), np.float32)
    _core.gemm(a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-5)


def test_set_simd_level_restores(restore_level):
    prev = restore_level
    for level in reversed(LEVELS):
        _core.set_simd_level(level)
    _core.set_simd_level(prev)
    assert _core.simd_level() == prev


def test_set_simd_level_rejects_unknown(restore_level):
    before = _core.simd_level()
    with pytest.raises(ValueError, match=r"unknown SIMD level `bogus`") as exc:
        _core.set_simd_level("bogus")
    for level in LEVELS:
        assert level in str(exc.value)
    assert _core.simd_level() == before  # a failed switch changes nothing
    with pytest.raises(ValueError):
        _core.set_simd_level("")
    with pytest.raises(ValueError):
        _core.set_simd_level("AVX2")  # names are exact


@pytest.mark.parametrize("name", [n for n in ALL_NAMES if n not in LEVELS])
def test_set_simd_level_rejects_unsupported(name, restore_level):
    before = _core.simd_level()
    with pytest.raises(ValueError, match=name) as exc:
        _core.set_simd_level(name)
    for level in LEVELS:
        assert level in str(exc.value)
    assert _core.simd_level() == before


def test_levels_agree_with_each_other(restore_level):
    """Every level computes the same GEMM and LSTM to within float32 rounding (they need not
    be bit-identical: FMA and blocking differ)."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((37, 53)).astype(np.float32)
    b = rng.standard_normal((53, 41)).astype(np.float32)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    W = (rng.standard_normal((5, 36)) * 0.3).astype(np.float32)
    U = (rng.standard_normal((9, 36)) * 0.3).astype(np.float32)
    res = {}
    for level in LEVELS:
        _core.set_simd_level(level)
        c = np.empty((37, 41), np.float32)
        _core.gemm(a, b, c)
        p = _core.lstm_forward(x, W, U)
        res[level] = (c, p.outputs.copy())
    base = res[LEVELS[-1]]
    for level, (c, hs) in res.items():
        np.testing.assert_allclose(c, base[0], rtol=0, atol=1e-4 * np.max(np.abs(base[0])), err_msg=level)
        np.testing.assert_allclose(hs, base[1], rtol=0, atol=1e-5, err_msg=level)
