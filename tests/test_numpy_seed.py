"""Without lstmcore.set_seed, the generator comes from NumPy's global one at first use:
numpy.random.seed(n) at the top of a script (as Keras tutorials do) makes two fresh
processes give identical weights and fit results; without any seed, they differ."""

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = r"""
import json, sys
import numpy
{seed}
from lstmcore.models import Sequential
from lstmcore.layers import LSTM, Dense, Dropout
x = numpy.linspace(0, 1, 6 * 4 * 2, dtype=numpy.float32).reshape(6, 4, 2)
y = numpy.linspace(0, 1, 6, dtype=numpy.float32).reshape(6, 1)
model = Sequential([LSTM(3, input_shape=(4, 2)), Dropout(0.3), Dense(1)])
initial = [w.tolist() for w in model.get_weights()]
model.compile(optimizer="adam", loss="mse")
history = model.fit(x, y, epochs=3, batch_size=2, verbose=0)   # shuffles, draws dropout masks
print(json.dumps({"initial": initial, "final": [w.tolist() for w in model.get_weights()],
                  "loss": history.history["loss"]}))
"""


def _run(seed_line: str) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONHASHSEED", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT.replace("{seed}", seed_line)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_numpy_seed_makes_two_processes_identical():
    a = _run("numpy.random.seed(7)")
    b = _run("numpy.random.seed(7)")
    assert a == b
    c = _run("numpy.random.seed(8)")
    assert c["initial"] != a["initial"]


def test_without_any_seed_runs_differ():
    a, b = _run(""), _run("")
    assert a["initial"] != b["initial"] and a["final"] != b["final"]


def test_set_seed_wins_over_numpy_seed():
    a = _run("numpy.random.seed(7)\nimport lstmcore; lstmcore.set_seed(3)")
    b = _run("numpy.random.seed(99)\nimport lstmcore; lstmcore.set_seed(3)")
    assert a == b


def test_first_use_draws_once_from_numpy_global_state():
    from lstmcore import _config
    saved_rng, saved_np = _config._state["rng"], np.random.get_state()
    try:
        _config._state["rng"] = None
        np.random.seed(123)
        first = _config.rng().integers(0, 2**32, size=4)
        assert _config.rng() is _config.rng()
        _config._state["rng"] = None
        np.random.seed(123)
        np.testing.assert_array_equal(_config.rng().integers(0, 2**32, size=4), first)
    finally:
        _config._state["rng"] = saved_rng
        np.random.set_state(saved_np)
