"""model.to_onnx: onnxruntime predicts what lstmcore predicts (to 1e-5) for every architecture,
and a stateful model streamed chunk by chunk through onnxruntime, its Y_h/Y_c fed back as the
next chunk's initial_h/initial_c, equals predict on the whole sequence."""

from __future__ import annotations

import builtins

import lstmcore.layers as L
import numpy as np
import pytest
from lstmcore.models import Sequential

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = 1e-5


def randomize(model, seed=1, scale=0.5):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=scale, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])


def rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


ARCHS = {
    "stacked": lambda: [L.LSTM(5, return_sequences=True), L.LSTM(4),
                        L.Dense(3, activation="softmax")],
    "return_sequences_td": lambda: [L.LSTM(5, return_sequences=True,
                                           recurrent_activation="hard_sigmoid"),
                                    L.TimeDistributed(L.Dense(2, activation="tanh"))],
    "bidirectional_concat_sum": lambda: [L.Bidirectional(L.LSTM(4, return_sequences=True)),
                                         L.Bidirectional(L.LSTM(3), merge_mode="sum"),
                                         L.Dense(1)],
    "bidirectional_ave_mul": lambda: [
        L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="ave"),
        L.Bidirectional(L.SimpleRNN(3), merge_mode="mul")],
    "encoder_decoder": lambda: [L.LSTM(5), L.RepeatVector(3), L.LSTM(4, return_sequences=True),
                                L.TimeDistributed(L.Dense(2, activation="sigmoid"))],
    "go_backwards": lambda: [L.LSTM(4, go_backwards=True, return_sequences=True),
                             L.GRU(3, go_backwards=True), L.Dense(1)],
    "gru": lambda: [L.GRU(5, return_sequences=True),
                    L.GRU(3, reset_after=False, recurrent_activation="hard_sigmoid_keras2"),
                    L.Dense(1)],
    "simple_rnn": lambda: [L.SimpleRNN(5, return_sequences=True, activation="relu"),
                           L.SimpleRNN(3), L.Dropout(0.2), L.Dense(1),
                           L.Activation("hard_sigmoid")],
    "conv1d_lstm": lambda: [L.Conv1D(4, 2, padding="causal", activation="relu"),
                            L.MaxPooling1D(2), L.Conv1D(3, 3, padding="same", strides=2),
                            L.AveragePooling1D(2, padding="same"), L.LSTM(3), L.Dense(1)],
    "conv1d_dilated_global": lambda: [L.Conv1D(4, 2, dilation_rate=2, padding="same"),
                                      L.Conv1D(3, 2), L.GlobalMaxPooling1D(), L.Dense(2)],
    "linear_no_bias": lambda: [L.LSTM(4, activation="linear", use_bias=False,
                                      return_sequences=True),
                               L.GlobalAveragePooling1D(), L.Dense(2, use_bias=False)],
}


def run_onnx(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session, session.run(None, feeds)


@pytest.mark.parametrize("timesteps", [7, None])
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_onnxruntime_predicts_as_lstmcore(name, timesteps, tmp_path):
    model = Sequential([L.Input(shape=(timesteps, 3))] + ARCHS[name]())
    randomize(model)
    path = tmp_path / "m.onnx"
    model.to_onnx(path)
    for batch in (1, 5):  # the batch axis is dynamic
        x = rand((batch, 7, 3), batch)
        session, (y,) = run_onnx(path, {"input": x})
        expected = model.predict(x)
        assert y.shape == expected.shape
        np.testing.assert_allclose(y, expected, atol=TOL, rtol=0)
    assert [o.name for o in session.get_outputs()] == ["output"]
    dims = session.get_inputs()[0].shape
    assert dims[0] == "batch" and dims[1] == (7 if timesteps else "timesteps")
    if timesteps is None:  # any length runs
        x = rand((2, 11, 3), 9)
        np.testing.assert_allclose(run_onnx(path, {"input": x})[1][0], model.predict(x),
                                   atol=TOL, rtol=0)


def test_embedding_lstm(tmp_path):
    model = Sequential([L.Embedding(20, 4, input_length=6), L.LSTM(5),
                        L.Dense(1, activation="sigmoid")])
    randomize(model)
    model.to_onnx(tmp_path / "m.onnx")
    x = np.random.default_rng(0).integers(0, 20, size=(4, 6)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", {"input": x})[1][0],
                               model.predict(x), atol=TOL, rtol=0)


STATEFUL = {
    "lstm_sequence": lambda: [L.LSTM(5, stateful=True, return_sequences=True),
                              L.TimeDistributed(L.Dense(2))],
    "stacked_last": lambda: [L.LSTM(5, stateful=True, return_sequences=True),
                             L.LSTM(4, stateful=True), L.Dense(1)],
    "gru_rnn": lambda: [L.GRU(4, stateful=True, return_sequences=True),
                        L.SimpleRNN(3, stateful=True, return_sequences=True)],
}


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_stateful_streaming_through_onnxruntime_equals_whole_sequence(name, tmp_path):
    model = Sequential([L.Input(batch_shape=(2, None, 3))] + STATEFUL[name]())
    randomize(model, scale=0.4)
    path = tmp_path / "stateful.onnx"
    model.to_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    recurrent = [l for l in model.layers if isinstance(l, (L.LSTM, L.GRU, L.SimpleRNN))]
    names = [i.name for i in session.get_inputs()]
    expected_inputs = ["input"]
    expected_outputs = ["output"]
    for l in recurrent:
        expected_inputs.append(f"{l.name}_initial_h")
        expected_outputs.append(f"{l.name}_Y_h")
        if isinstance(l, L.LSTM):
            expected_inputs.append(f"{l.name}_initial_c")
            expected_outputs.append(f"{l.name}_Y_c")
    assert names == expected_inputs
    assert [o.name for o in session.get_outputs()] == expected_outputs

    x = rand((2, 12, 3), 4)
    model.reset_states()
    whole = model.predict(x)
    feeds = {n: np.zeros((1, 2, l.units), np.float32) for l in recurrent
             for n in ([f"{l.name}_initial_h", f"{l.name}_initial_c"]
                       if isinstance(l, L.LSTM) else [f"{l.name}_initial_h"])}
    chunks = []
    model.reset_states()
    for start in range(0, 12, 3):
        outs = session.run(None, {"input": x[:, start:start + 3], **feeds})
        chunks.append(outs[0])
        for out_name, value in zip(expected_outputs[1:], outs[1:]):  # carry the state
            feeds[out_name.replace("_Y_h", "_initial_h").replace("_Y_c", "_initial_c")] = value
        # lstmcore's own stateful predict over the same chunks agrees chunk by chunk
        np.testing.assert_allclose(outs[0], model.predict(x[:, start:start + 3]), atol=TOL,
                                   rtol=0)
    if whole.ndim == 3:
        np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, atol=TOL, rtol=0)
    else:
        np.testing.assert_allclose(chunks[-1], whole, atol=TOL, rtol=0)


def test_unsupported_layers_are_named(tmp_path):
    model = Sequential([L.Masking(input_shape=(5, 2), name="pad_mask"), L.LSTM(3)])
    with pytest.raises(ValueError, match="layer `pad_mask` \\(Masking\\) has no ONNX export"):
        model.to_onnx(tmp_path / "m.onnx")
    model = Sequential([L.Embedding(10, 3, mask_zero=True, input_length=4, name="emb"),
                        L.LSTM(2)])
    with pytest.raises(ValueError, match="layer `emb` \\(Embedding\\): mask_zero"):
        model.to_onnx(tmp_path / "m.onnx")
    model = Sequential([L.TimeDistributed(L.Conv1D(2, 2), input_shape=(3, 4, 1), name="td"),
                        L.TimeDistributed(L.Flatten()), L.LSTM(2)])
    with pytest.raises(ValueError, match="layer `td` \\(TimeDistributed\\): .*4D input"):
        model.to_onnx(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="not been built"):
        Sequential([L.LSTM(2)]).to_onnx(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="opset 17 or later"):
        Sequential([L.LSTM(2, input_shape=(3, 1))]).to_onnx(tmp_path / "m.onnx", opset=11)
    assert not (tmp_path / "m.onnx").exists()


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("No module named 'onnx'")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(ImportError, match=r"pip install lstmcore\[onnx\]"):
        Sequential([L.LSTM(2, input_shape=(3, 1))]).to_onnx(tmp_path / "m.onnx")
