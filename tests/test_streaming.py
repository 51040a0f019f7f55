"""model.streaming(): one timestep at a time, each recurrent layer's state kept natively.
``step`` over T timesteps equals ``predict`` on the sequence so far (bit for bit: the same
kernels run), for every streamable architecture; a stateful model across several calls too."""

from __future__ import annotations

import numpy as np
import pytest
from lstmcore.layers import (
    GRU,
    LSTM,
    Activation,
    Bidirectional,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Masking,
    RepeatVector,
    SimpleRNN,
    TimeDistributed,
)
from lstmcore.models import Sequential


def rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


ARCHS = {
    "vanilla": lambda: [LSTM(6, input_shape=(None, 3)), Dense(2)],
    "stacked": lambda: [LSTM(6, return_sequences=True, input_shape=(None, 3)), LSTM(4),
                        Dense(1)],
    "sequence_out": lambda: [LSTM(5, return_sequences=True, input_shape=(None, 3)),
                             Dropout(0.3), TimeDistributed(Dense(2)), Activation("tanh")],
    "gru_simple_rnn": lambda: [GRU(5, return_sequences=True, input_shape=(None, 3)),
                               SimpleRNN(4, return_sequences=True), Dense(2)],
    "encoder_decoder": lambda: [LSTM(6, input_shape=(None, 3)), RepeatVector(4),
                                LSTM(5, return_sequences=True), TimeDistributed(Dense(1))],
}


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_step_equals_predict_on_the_sequence_so_far(arch):
    model = Sequential(ARCHS[arch]())
    x = rand((3, 6, 3), 1)
    stream = model.streaming(batch_size=3)
    full = model.predict(x)
    sequence_out = full.ndim == 3 and full.shape[1] == x.shape[1]
    for t in range(x.shape[1]):
        got = stream.step(x[:, t])
        want = full[:, t] if sequence_out else model.predict(x[:, :t + 1])
        np.testing.assert_array_equal(got, want.reshape(got.shape))


def test_embedding_model_streams_token_indices():
    model = Sequential([Embedding(12, 4), LSTM(5), Dense(3)])
    tokens = np.array([[3, 1, 7, 2], [5, 5, 0, 9]])
    model.predict(tokens)  # builds it
    stream = model.streaming(batch_size=2)
    for t in range(4):
        np.testing.assert_array_equal(stream.step(tokens[:, t]),
                                      model.predict(tokens[:, :t + 1]))


def test_stateful_model_across_several_calls_equals_the_stream():
    model = Sequential([LSTM(5, stateful=True, batch_input_shape=(2, 3, 1)), Dense(1)])
    x = rand((2, 9, 1), 2)
    stream = model.streaming(batch_size=2)
    for k in range(3):
        chunk_out = model.predict(x[:, 3 * k:3 * k + 3], batch_size=2)
        for t in range(3):
            out = stream.step(x[:, 3 * k + t])
        np.testing.assert_array_equal(out, chunk_out)


def test_the_stream_sees_later_training_and_keeps_its_own_state():
    model = Sequential([LSTM(4, input_shape=(None, 2)), Dense(1)])
    model.compile("adam", "mse")
    x = rand((1, 5, 2), 3)
    stream = model.streaming()
    before = stream.get_state()
    model.fit(rand((16, 5, 2)), rand((16, 1)), epochs=2, verbose=0)
    np.testing.assert_array_equal(stream.get_state()[0][0], before[0][0])  # state untouched
    for t in range(5):
        out = stream.step(x[:, t])
    np.testing.assert_array_equal(out, model.predict(x))  # the new weights


def test_state_snapshot_reset_and_restore():
    model = Sequential([LSTM(4, return_sequences=True, input_shape=(None, 2)), GRU(3),
                        Dense(1)])
    x = rand((2, 6, 2), 4)
    stream = model.streaming(batch_size=2)
    for t in range(3):
        stream.step(x[:, t])
    snap = stream.get_state()
    assert [len(s) for s in snap] == [2, 1] and snap[0][0].shape == (2, 4)
    a = [stream.step(x[:, t]) for t in range(3, 6)]
    stream.set_state(snap)
    b = [stream.step(x[:, t]) for t in range(3, 6)]
    np.testing.assert_array_equal(a, b)
    stream.reset()
    assert all((s == 0).all() for layer in stream.get_state() for s in layer)
    np.testing.assert_array_equal(stream.step(x[:, 0]), model.predict(x[:, :1]))


def test_bad_steps_are_value_errors_and_change_no_state():
    model = Sequential([LSTM(4, input_shape=(None, 3)), Dense(1)])
    stream = model.streaming(batch_size=2)
    stream.step(rand((2, 3)))
    snap = stream.get_state()
    for bad, match in [(rand((2, 4)), r"\(2, 3\)"), (rand((1, 3)), r"\(2, 3\)"),
                       (rand((2, 1, 3)), r"\(2, 3\)"),
                       (np.full((2, 3), np.nan, np.float32), "NaN"), ("x", "array")]:
        with pytest.raises(ValueError, match=match):
            stream.step(bad)
        np.testing.assert_array_equal(stream.get_state()[0][0], snap[0][0])
        np.testing.assert_array_equal(stream.get_state()[0][1], snap[0][1])
    with pytest.raises(ValueError, match="recurrent layer"):
        stream.set_state([])
    with pytest.raises(ValueError):
        stream.set_state([(np.zeros((2, 5)), np.zeros((2, 4)))])
    np.testing.assert_array_equal(stream.get_state()[0][0], snap[0][0])
    out = stream.step(np.ones((2, 3)))  # float64 is taken (converted)
    assert out.shape == (2, 1) and out.dtype == np.float32


@pytest.mark.parametrize("layers,match", [
    (lambda: [Bidirectional(LSTM(3), input_shape=(None, 2))], "backwards"),
    (lambda: [Conv1D(2, 3, input_shape=(None, 2)), LSTM(2)], "whole sequence"),
    (lambda: [Masking(input_shape=(None, 2)), LSTM(2)], "mask"),
])
def test_unstreamable_models_say_why(layers, match):
    with pytest.raises(ValueError, match=match):
        Sequential(layers()).streaming()


def test_streaming_needs_a_built_model():
    with pytest.raises(ValueError, match="not been built"):
        Sequential([LSTM(2), Dense(1)]).streaming()
    with pytest.raises(ValueError, match="batch_size"):
        Sequential([LSTM(2, input_shape=(None, 1))]).streaming(batch_size=0)


def test_stateful_predict_on_batch_one_step_matches_the_stream_in_any_layout():
    """predict_on_batch's one-call path (float32, C order) and its checked path (float64, a
    strided view) give the same numbers, and the stream gives them too."""
    from lstmcore.layers import Input
    model = Sequential([Input(batch_shape=(2, 1, 3)), LSTM(4, stateful=True), Dense(1)])
    x = rand((2, 6, 3), 7)
    stream = model.streaming(batch_size=2)
    for t in range(6):
        step = x[:, t:t + 1]
        got = model.predict_on_batch(step if t % 3 == 0 else
                                     step.astype(np.float64) if t % 3 == 1 else
                                     np.asfortranarray(np.repeat(step, 2, axis=2)[:, :, ::2]))
        np.testing.assert_array_equal(got, stream.step(x[:, t]))
    with pytest.raises(ValueError, match="batches of exactly 2"):
        model.predict_on_batch(x[:1, :1])
    with pytest.raises(ValueError, match="nan"):
        model.predict_on_batch(np.full((2, 1, 3), np.nan, np.float32))
