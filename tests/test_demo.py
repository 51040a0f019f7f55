"""The README's first command: `python -m lstmcore demo` runs the whole lifecycle."""

import os
import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", "lstmcore", *args], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))


def test_demo_runs_the_lifecycle():
    r = _run("demo", "--quick")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for marker in ("Model: \"sequential\"", "Total params: 491", "Epoch ", "evaluate: mse",
                   "predicted", "history keys: loss, accuracy, val_loss, val_accuracy",
                   "predict_classes:", "Stateful LSTM", "demo finished"):
        assert marker in out, marker


def test_info_prints_the_build():
    r = _run("info")
    assert r.returncode == 0, r.stderr
    assert "simd:" in r.stdout and "openmp:" in r.stdout


def test_no_command_prints_help():
    r = _run()
    assert r.returncode == 1
    assert "demo" in r.stdout
