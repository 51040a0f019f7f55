"""The runnable examples in examples/: each one's ``main(scale)`` runs end to end at a reduced
size and returns finite scores that beat chance (or the naive baseline) where that is
meaningful at this size.

The examples are imported from their files (they are scripts, not a package). All of them
together take a few seconds on 2 cores; the full-size runs (``python examples/<name>.py``)
state and reach the targets in their docstrings.
"""

from __future__ import annotations

import importlib.util
import math
import pathlib
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module named ``lstmcore_example_<name>``."""
    path = EXAMPLES / f"{name}.py"
    module_name = f"lstmcore_example_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(module_name, None)
    return module


def run(name: str, scale: float) -> dict:
    module = load_example(name)
    assert module.__doc__ and "reaches" in module.__doc__, \
        f"{name}.py must state the score it reaches in its docstring"
    scores = module.main(scale=scale)
    assert isinstance(scores, dict) and scores
    for key, value in scores.items():
        assert isinstance(value, float), (key, value)
        assert math.isfinite(value), (key, value)
    return scores


def test_every_example_is_tested():
    scripts = {p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")}
    tested = {"vanilla_lstm", "stacked_lstm", "encoder_decoder", "bidirectional_lstm",
              "generative_char_lstm", "stateful_lstm", "text_classifier", "cnn_lstm", "conv_lstm_text",
              "gru_forecasting", "long_series_tbptt", "seq2seq_translation",
              "two_input_forecaster",
              "many_series_dask"}  # run by tests/test_dask.py (needs a Dask cluster)
    assert scripts == tested


def test_vanilla_lstm_echo():
    scores = run("vanilla_lstm", 0.3)
    assert scores["accuracy"] > 0.5            # chance: 0.1


def test_stacked_lstm_damped_sine():
    scores = run("stacked_lstm", 0.2)          # also checks the save/load round trip
    assert scores["improvement"] > 1.5         # RMSE vs the last-value baseline's


def test_encoder_decoder_addition():
    scores = run("encoder_decoder", 0.2)
    assert 0.0 <= scores["exact_match"] <= 1.0
    assert scores["char_accuracy"] > 0.3       # 12 characters: chance about 0.08


def test_bidirectional_lstm_cumulative_sum():
    scores = run("bidirectional_lstm", 0.2)
    assert scores["accuracy"] > scores["majority_baseline"] + 0.1


def test_generative_char_lstm():
    scores = run("generative_char_lstm", 0.3)
    assert scores["accuracy"] > 3 * scores["chance"]


def test_stateful_lstm():
    scores = run("stateful_lstm", 0.3)
    assert scores["rmse"] < scores["baseline_rmse"] / 2
    assert scores["rmse"] < scores["forgetful_rmse"]


@pytest.mark.parametrize("name", ["vanilla_lstm", "stateful_lstm"])
def test_examples_are_reproducible(name):
    assert run(name, 0.1) == run(name, 0.1)


def test_text_classifier_masked_embedding():
    scores = run("text_classifier", 0.3)
    assert scores["accuracy"] > 0.7            # balanced classes: chance 0.5
    assert scores["padding_effect"] == 0.0     # masked padding changes nothing


def test_cnn_lstm_subsequences():
    scores = run("cnn_lstm", 0.1)  # 1000 samples, 6 epochs
    assert scores["improvement"] > 1.0         # beats repeating the last value


def test_conv_lstm_text():
    scores = run("conv_lstm_text", 0.3)
    assert scores["accuracy"] > 0.7            # chance: 0.5


def test_gru_forecasting():
    scores = run("gru_forecasting", 0.3)
    assert scores["improvement"] > 1.0         # beats the seasonal naive forecast


def test_long_series_tbptt():
    scores = run("long_series_tbptt", 0.2)     # 8000 steps to train, 40000 for memory
    assert scores["improvement"] > 1.5         # beats next = last
    assert scores["full_fit_extra_mb"] > 20    # ~1 KB per step kept for backpropagation
    assert scores["tbptt_extra_mb"] < scores["full_fit_extra_mb"] / 4


def test_seq2seq_translation():
    scores = run("seq2seq_translation", 0.2)   # 1600 words, 10 epochs
    # teacher forced, per character: well above always predicting the end token (about 0.45)
    assert scores["char_accuracy"] > scores["majority_baseline"] + 0.3
    # greedy decoding with the inference models that share the trained layers
    assert scores["exact_match"] > 0.2         # whole words of 3 to 9 letters out of 10


def test_two_input_forecaster():
    scores = run("two_input_forecaster", 0.2)  # 600 days, 8 epochs
    assert scores["improvement"] > 1.4         # beats the better naive baseline
    assert scores["calendar_gain"] > 1.3       # the Concatenate'd calendar input helps
