"""Keras 2 utilities: pad_sequences, to_categorical, Sequence, and the series helpers
make_windows / stateful_batches (API.md "Utilities"). Expected values are Keras' documented
examples or follow from the definitions; tests/test_keras_utils.py compares with Keras itself."""

import numpy as np
import pytest
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential
from lstmcore.preprocessing import sequence
from lstmcore.preprocessing.sequence import pad_sequences
from lstmcore.utils import Sequence, make_windows, np_utils, stateful_batches, to_categorical

# ---- pad_sequences ----------------------------------------------------------------------------
SEQS = [[1], [2, 3], [4, 5, 6]]


def test_pad_sequences_keras_doc_examples():
    # keras.utils.pad_sequences' docstring
    assert sequence.pad_sequences is pad_sequences
    out = pad_sequences(SEQS)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(SEQS, value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(SEQS, padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(SEQS, maxlen=2), [[0, 1], [2, 3], [5, 6]])


def test_pad_sequences_truncating_and_padding_combinations():
    s = [[1, 2, 3, 4], [5]]
    np.testing.assert_array_equal(pad_sequences(s, maxlen=2, truncating="post"), [[1, 2], [0, 5]])
    np.testing.assert_array_equal(pad_sequences(s, maxlen=2, truncating="pre", padding="post"),
                                  [[3, 4], [5, 0]])
    np.testing.assert_array_equal(pad_sequences(s, maxlen=6, padding="post"),
                                  [[1, 2, 3, 4, 0, 0], [5, 0, 0, 0, 0, 0]])


def test_pad_sequences_empty_ragged_and_arrays():
    out = pad_sequences([[], [7, 8], []])
    np.testing.assert_array_equal(out, [[0, 0], [7, 8], [0, 0]])
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)
    a = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(pad_sequences(a, maxlen=4), [[0, 0, 1, 2], [0, 3, 4, 5]])
    ragged = [np.array([1.5, 2.5]), np.array([3.5])]
    out = pad_sequences(ragged, dtype="float32", padding="post", value=-1.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1.5, 2.5], [3.5, -1.0]])
    # the int32 default truncates floats, as Keras does
    np.testing.assert_array_equal(pad_sequences(ragged), [[1, 2], [0, 3]])


def test_pad_sequences_of_vectors_keep_trailing_dims():
    s = [np.ones((2, 3)), np.full((4, 3), 2.0), np.zeros((0, 3))]
    out = pad_sequences(s, maxlen=3, dtype="float32")
    assert out.shape == (3, 3, 3)
    np.testing.assert_array_equal(out[0], [[0] * 3, [1] * 3, [1] * 3])
    np.testing.assert_array_equal(out[1], np.full((3, 3), 2.0))
    np.testing.assert_array_equal(out[2], np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"Shape of sample \(2,\) of sequence at position 1 is "
                                         r"different from expected shape \(3,\)"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 2))])


def test_pad_sequences_strings():
    out = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert out.tolist() == [["a", "b"], ["<pad>", "c"]]
    with pytest.raises(ValueError, match=r"`dtype` int32 is not compatible with `value`'s type.*"
                                         r"dtype=object"):
        pad_sequences([[1]], value="x")


@pytest.mark.parametrize("kwargs, msg", [
    ({"padding": "middle"}, r"`padding` must be 'pre' or 'post'; received padding='middle'"),
    ({"truncating": "both"}, r"`truncating` must be 'pre' or 'post'; received truncating='both'"),
    ({"maxlen": -1}, r"`maxlen` must be a non-negative integer or None; received maxlen=-1"),
    ({"maxlen": 2.5}, r"`maxlen` must be a non-negative integer"),
])
def test_pad_sequences_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        pad_sequences(SEQS, **kwargs)


def test_pad_sequences_bad_sequences():
    with pytest.raises(ValueError, match=r"`sequences` must be a list of sequences"):
        pad_sequences(5)
    with pytest.raises(ValueError, match=r"the one at position 1 is 3"):
        pad_sequences([[1], 3])


# ---- to_categorical -----------------------------------------------------------------------------
def test_to_categorical_keras_doc_example():
    out = to_categorical([0, 1, 2, 3], num_classes=4)
    np.testing.assert_array_equal(out, np.eye(4))
    assert out.dtype == np.float64  # Keras 3
    assert np_utils.to_categorical([0, 1]).dtype == np.float32  # Keras 2
    assert to_categorical([0, 1], dtype="float32").dtype == np.float32


def test_to_categorical_shapes():
    y = np.array([2, 0, 1, 2])
    np.testing.assert_array_equal(to_categorical(y), np.eye(3)[y])  # inferred max + 1
    np.testing.assert_array_equal(to_categorical(y.reshape(4, 1)), np.eye(3)[y])  # (n, 1) squeezed
    assert to_categorical(y, num_classes=5).shape == (4, 5)
    y2 = np.array([[0, 1, 2], [2, 1, 0]])
    out = to_categorical(y2)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.argmax(-1), y2)
    assert to_categorical(3).shape == (4,)  # a scalar label
    np.testing.assert_array_equal(to_categorical([1.0, 0.0]), [[0, 1], [1, 0]])  # integral floats
    np.testing.assert_array_equal(to_categorical([True, False]), [[0, 1], [1, 0]])
    assert to_categorical([], num_classes=3).shape == (0, 3)


@pytest.mark.parametrize("y, kwargs, msg", [
    ([0, -1], {}, r"class indices in \[0, 1\) for num_classes=1; received -1"),
    ([0, 3], {"num_classes": 3}, r"class indices in \[0, 3\) for num_classes=3; received 3"),
    ([0.5, 1.0], {}, r"integer class indices; received the non-integer value 0.5"),
    ([np.nan], {}, r"non-integer value nan"),
    (["a", "b"], {}, r"integer class indices; received an array of dtype <U1"),
    ([0, 1], {"num_classes": -2}, r"`num_classes` must be a positive integer or None"),
    ([0, 1], {"num_classes": 2.0}, r"`num_classes` must be a positive integer or None"),
    ([], {}, r"cannot infer `num_classes` from no labels"),
])
def test_to_categorical_errors(y, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        to_categorical(y, **kwargs)
    with pytest.raises(ValueError, match=msg):
        np_utils.to_categorical(y, **kwargs)


# ---- make_windows -------------------------------------------------------------------------------
@pytest.mark.parametrize("n, lookback, horizon, stride", [
    (10, 3, 1, 1), (10, 3, 2, 2), (7, 6, 1, 1), (20, 1, 1, 3), (11, 4, 3, 5)])
def test_make_windows_follow_the_definition(n, lookback, horizon, stride):
    series = np.random.default_rng(n).normal(size=n)
    X, y = make_windows(series, lookback, horizon=horizon, stride=stride)
    count = (n - lookback - horizon) // stride + 1
    assert X.shape == (count, lookback, 1) and y.shape == (count, horizon)
    assert X.dtype == y.dtype == np.float32
    for i in range(count):
        s = i * stride
        np.testing.assert_array_equal(X[i, :, 0], series[s:s + lookback].astype(np.float32))
        np.testing.assert_array_equal(y[i], series[s + lookback:s + lookback + horizon]
                                      .astype(np.float32))
    assert (count - 1) * stride + lookback + horizon <= n < count * stride + lookback + horizon


def test_make_windows_multivariate():
    series = np.arange(30.0).reshape(10, 3)
    X, y = make_windows(series, 4, horizon=2, stride=3)
    assert X.shape == (2, 4, 3) and y.shape == (2, 2, 3)
    np.testing.assert_array_equal(X[1], series[3:7])
    np.testing.assert_array_equal(y[1], series[7:9])


def test_make_windows_feed_a_model():
    X, y = make_windows(np.sin(np.arange(40) / 3.0), 5)
    model = Sequential([LSTM(3, input_shape=(5, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, y, epochs=1, verbose=0)
    assert model.predict(X).shape == y.shape


@pytest.mark.parametrize("args, msg", [
    ((np.arange(4.0), 3, 2), r"at least lookback \+ horizon = 5 values for one window; the "
                             r"series has 4"),
    ((np.arange(4.0), 0), r"`make_windows` expects `lookback` to be a positive integer"),
    ((np.arange(4.0), 2, 1, 0), r"expects `stride` to be a positive integer"),
    ((np.zeros((2, 2, 2)), 1), r"a series of shape \(N,\) or \(N, features\); received shape "
                               r"\(2, 2, 2\)"),
    ((["a", "b", "c"], 1), r"expects a numeric series"),
])
def test_make_windows_errors(args, msg):
    with pytest.raises(ValueError, match=msg):
        make_windows(*args)


# ---- stateful_batches ---------------------------------------------------------------------------
@pytest.mark.parametrize("n, batch, steps, feats", [(9, 2, 2, 0), (100, 4, 5, 0), (53, 3, 4, 2),
                                                    (6, 1, 5, 0), (17, 16, 1, 1)])
def test_stateful_batches_rows_continue(n, batch, steps, feats):
    series = np.random.default_rng(n).normal(size=(n, feats) if feats else n)
    X, y = stateful_batches(series, batch, steps)
    f = feats or 1
    windows = (n - 1) // batch // steps
    assert X.shape == y.shape == (windows * batch, steps, f)
    flat = series.reshape(n, f).astype(np.float32)
    length = windows * steps
    for k in range(windows):
        for i in range(batch):
            row = k * batch + i
            start = i * length + k * steps
            np.testing.assert_array_equal(X[row], flat[start:start + steps])
            np.testing.assert_array_equal(y[row], flat[start + 1:start + steps + 1])
            if k + 1 < windows:  # row i of batch k+1 continues row i of batch k
                np.testing.assert_array_equal(X[row + batch][0], y[row][-1])


def test_stateful_batches_train_a_stateful_model():
    X, y = stateful_batches(np.sin(np.arange(200) / 4.0), batch_size=4, timesteps=5)
    model = Sequential([LSTM(4, stateful=True, return_sequences=True, batch_input_shape=(4, 5, 1)),
                        Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert model.predict(X, batch_size=4).shape == y.shape


@pytest.mark.parametrize("args, msg", [
    ((np.arange(8.0), 2, 4), r"at least batch_size \* timesteps \+ 1 = 9 values.*the series "
                             r"has 8"),
    ((np.arange(0.0), 1, 1), r"the series has 0"),
    ((np.arange(8.0), 0, 4), r"expects `batch_size` to be a positive integer"),
    ((np.arange(8.0), 2, True), r"expects `timesteps` to be a positive integer"),
])
def test_stateful_batches_errors(args, msg):
    with pytest.raises(ValueError, match=msg):
        stateful_batches(*args)


# ---- Sequence -----------------------------------------------------------------------------------
class _Batches(Sequence):
    def __init__(self, x, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.batch_size, self.epochs_ended = x, batch_size, 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        return self.x[i * self.batch_size:(i + 1) * self.batch_size]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_sequence_subclass():
    s = _Batches(np.arange(10), 4, workers=2)
    assert len(s) == 3 and s.workers == 2 and not s.use_multiprocessing
    np.testing.assert_array_equal(np.concatenate(list(s)), np.arange(10))
    s.on_epoch_end()
    assert s.epochs_ended == 1
    assert Sequence().on_epoch_end() is None


def test_sequence_base_methods_must_be_overridden():
    with pytest.raises(NotImplementedError, match=r"must implement __len__"):
        len(Sequence())
    with pytest.raises(NotImplementedError, match=r"must implement __getitem__"):
        Sequence()[0]
