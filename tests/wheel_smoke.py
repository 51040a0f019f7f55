"""Smoke test of an installed lstmcore (a wheel or an sdist build), run outside the source tree
by .ci/run and by cibuildwheel's test-command; not collected by pytest (no ``test_`` prefix).

    python tests/wheel_smoke.py [--expect-simd LEVEL] [--expect-manylinux]

Checks: the module imports from site-packages, not from a checkout; a small fit converges and
predict has the right shape; a save/load round trip predicts the same; with
``--expect-simd`` the run-time SIMD level is that one (set ``LSTMCORE_SIMD`` to force it);
with ``--expect-manylinux`` the installed wheel's tag is manylinux and, where OpenMP is
used, the libgomp loaded is the copy auditwheel bundled (``lstmcore.libs/``), not the
system's. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect-simd", default=None)
    ap.add_argument("--expect-manylinux", action="store_true")
    args = ap.parse_args()

    import lstmcore
    import numpy as np
    from lstmcore.layers import LSTM, Dense
    from lstmcore.models import Sequential

    where = os.path.dirname(lstmcore.__file__)
    assert "site-packages" in where or "dist-packages" in where, f"imported from {where}"
    info = lstmcore.build_info()
    print(f"smoke: lstmcore {lstmcore.__version__} from {where}; simd {info['simd']} of "
          f"{info['simd_supported']}, openmp {info['openmp']}")
    if args.expect_simd:
        assert info["simd"] == args.expect_simd, (info["simd"], args.expect_simd)

    lstmcore.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((128, 6, 2)).astype(np.float32)
    y = x[:, -1, :1] + x[:, 0, 1:]
    m = Sequential([LSTM(8, input_shape=(6, 2)), Dense(1)])
    m.compile("adam", "mse")
    first = m.evaluate(x, y, verbose=0)
    h = m.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    assert h.history["loss"][-1] < 0.5 * first, (first, h.history["loss"][-1])
    p = m.predict(x)
    assert p.shape == (128, 1) and p.dtype == np.float32
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.lstmcore")
        m.save(path)
        np.testing.assert_array_equal(lstmcore.load_model(path).predict(x), p)

    if args.expect_manylinux:
        from importlib.metadata import distribution

        tags = [line.split(":", 1)[1].strip() for line in
                distribution("lstmcore").read_text("WHEEL").splitlines()
                if line.startswith("Tag:")]
        assert tags and all("manylinux" in t for t in tags), tags
        print(f"smoke: wheel tags {tags}")
        if info["openmp"] and os.path.exists("/proc/self/maps"):
            with open("/proc/self/maps") as f:
                gomp = {line.split()[-1] for line in f if "libgomp" in line}
            assert gomp and all("lstmcore.libs" in g for g in gomp), gomp
            print(f"smoke: OpenMP runtime {sorted(gomp)}")
    print("smoke: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
