"""Bit-exact regression: forward outputs and two seeded Adam steps (dropout included) of every
architecture, on every SIMD level this CPU has, equal the fixtures written before a
refactoring (tests/fixtures/make_bitexact.py). A difference is a bug unless the commit that
regenerates the fixtures explains it."""

import pathlib

import numpy as np
import pytest
from fixtures.make_bitexact import results
from lstmcore import _core

HERE = pathlib.Path(__file__).resolve().parent / "fixtures"


@pytest.mark.parametrize("level", _core.supported_simd_levels())
def test_bit_exact_against_fixtures(level):
    path = HERE / f"bitexact_{level}.npz"
    if not path.exists():
        pytest.skip(f"no fixture for SIMD level {level} (written on a CPU without it)")
    want = np.load(path)
    got = results(level)
    assert sorted(got) == sorted(want.files)
    diff = [k for k in want.files if not np.array_equal(got[k], want[k])]
    assert not diff, f"{len(diff)} arrays differ at level {level}: {diff[:10]}"
