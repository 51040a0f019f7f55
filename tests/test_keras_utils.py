"""Keras 2 utilities and metric functions against Keras itself (Keras 3 on torch): the same
inputs give the same arrays. Skipped when keras is not importable; Keras calls run with
warnings silenced (see test_keras_parity.py), lstmcore's under the suite's strict filter."""

import contextlib
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    keras = pytest.importorskip("keras")

from lstmcore.preprocessing.sequence import pad_sequences  # noqa: E402
from lstmcore.utils import to_categorical  # noqa: E402


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


PAD_CASES = [
    ([[1], [2, 3], [4, 5, 6]], {}),
    ([[1], [2, 3], [4, 5, 6]], {"maxlen": 2}),
    ([[1], [2, 3], [4, 5, 6]], {"maxlen": 2, "truncating": "post", "padding": "post"}),
    ([[1, 2, 3, 4], [], [5]], {"maxlen": 3, "value": -7}),
    ([[1.5, 2.7], [3.2]], {"dtype": "float32", "padding": "post"}),
    ([[1.5, 2.7], [3.2]], {}),
    (np.arange(12).reshape(3, 4), {"maxlen": 6}),
    ([np.ones((2, 3)), np.full((4, 3), 2.0), np.zeros((1, 3))], {"maxlen": 3, "dtype": "float64"}),
    ([np.ones((2, 3)), np.full((4, 3), 2.0)], {"truncating": "post", "padding": "post"}),
    ([["a", "b"], ["c"]], {"dtype": object, "value": "<pad>"}),
]


@pytest.mark.parametrize("seqs, kwargs", PAD_CASES)
def test_pad_sequences_as_keras(seqs, kwargs):
    with _quiet():
        expected = keras.utils.pad_sequences(seqs, **kwargs)
    got = pad_sequences(seqs, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_pad_sequences_errors_as_keras():
    for kwargs in ({"padding": "x"}, {"truncating": "x"}, {"value": "s"}):
        with _quiet(), pytest.raises(ValueError):
            keras.utils.pad_sequences([[1, 2]], **kwargs)
        with pytest.raises(ValueError):
            pad_sequences([[1, 2]], **kwargs)


@pytest.mark.parametrize("y, num_classes", [
    ([0, 1, 2, 3], None), ([2, 0, 1], 5), (np.array([[1], [0], [3]]), None),
    (np.array([[0, 1], [2, 2]]), None), ([1.0, 0.0, 2.0], None), (np.array([[[1], [0]]]), 3),
])
def test_to_categorical_as_keras(y, num_classes):
    with _quiet():
        expected = keras.utils.to_categorical(y, num_classes)
    got = to_categorical(y, num_classes)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
