"""lstmcore.interop: Keras 3 .keras and Keras 2 .h5 files in, .keras out, PyTorch modules in.

Parity is against the real libraries (skipped when absent): files written in the test by
Keras 3 (``model.save``), Keras 2 (tf-keras) layout ``.h5`` files written here with h5py, and
PyTorch modules; predictions agree to 1e-5. Hostile files get a ValueError naming the problem.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile

import lstmcore.layers as LL
import numpy as np
import pytest
from keras_parity_helpers import quiet
from lstmcore import interop
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential

TOL = 1e-5
os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on the CPU torch CI installs


def import_keras():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("keras")


def rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def randomize(model, seed=1, scale=0.5):
    """Random N(0, scale) weights (not the initial ones: biases zero would hide mistakes)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=scale, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])


# Each architecture in Keras' and lstmcore's spelling (the same call forms), input, data.
ARCHS = {
    "stacked": (lambda L: [L.LSTM(5, return_sequences=True), L.LSTM(4),
                           L.Dense(3, activation="softmax")], (6, 3)),
    "return_sequences_td": (lambda L: [L.LSTM(5, return_sequences=True),
                                       L.TimeDistributed(L.Dense(2))], (6, 3)),
    "bidirectional": (lambda L: [L.Bidirectional(L.LSTM(4, return_sequences=True)),
                                 L.Bidirectional(L.LSTM(3), merge_mode="sum"), L.Dense(1)],
                      (6, 3)),
    "encoder_decoder": (lambda L: [L.LSTM(5), L.RepeatVector(3),
                                   L.LSTM(4, return_sequences=True),
                                   L.TimeDistributed(L.Dense(2, activation="sigmoid"))], (6, 3)),
    "gru": (lambda L: [L.GRU(5, return_sequences=True), L.GRU(3, reset_after=False),
                       L.Dense(1)], (6, 3)),
    "simple_rnn": (lambda L: [L.SimpleRNN(5, return_sequences=True), L.SimpleRNN(3),
                              L.Dropout(0.2), L.Dense(1), L.Activation("hard_sigmoid")], (6, 3)),
    "embedding_lstm": (lambda L: [L.Embedding(20, 4), L.LSTM(5), L.Dense(1, activation="sigmoid")],
                       (7,)),
    "conv1d_lstm": (lambda L: [L.Conv1D(4, 2, padding="causal", activation="relu"),
                               L.MaxPooling1D(2), L.LSTM(3), L.Dense(1)], (6, 3)),
    "conv1d_pool_global": (lambda L: [L.Conv1D(4, 3, padding="same", strides=2),
                                      L.AveragePooling1D(2, padding="same"),
                                      L.GlobalMaxPooling1D(), L.Dense(2)], (6, 3)),
    "masking_lstm": (lambda L: [L.Masking(0.0), L.LSTM(4), L.Dense(1)], (6, 3)),
    "flatten": (lambda L: [L.LSTM(4, return_sequences=True), L.Flatten(), L.Dense(2)], (6, 3)),
}


def data_for(name, shape, seed=0):
    if name == "embedding_lstm":
        return np.random.default_rng(seed).integers(0, 20, size=(5,) + shape).astype(np.float32)
    x = rand((5,) + shape, seed)
    if name == "masking_lstm":  # padded timesteps, skipped by the mask
        x[0, :2] = 0.0
        x[3, 4:] = 0.0
    return x


def lstmcore_model(name):
    make, shape = ARCHS[name]
    from lstmcore.layers import Input
    model = Sequential([Input(shape=shape)] + make(LL))
    randomize(model)
    return model


def keras_model(name, keras):
    make, shape = ARCHS[name]
    with quiet():
        km = keras.Sequential([keras.Input(shape)] + make(keras.layers))
        rng = np.random.default_rng(1)
        km.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32)
                        for w in km.get_weights()])
    return km


def kpredict(km, x):
    with quiet():
        return np.asarray(km.predict(x, verbose=0))


# ---- Keras 3 files ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_from_keras3_file_predicts_as_keras(name, tmp_path):
    keras = import_keras()
    pytest.importorskip("h5py")
    km = keras_model(name, keras)
    path = tmp_path / "m.keras"
    with quiet():
        km.save(path)
    model = interop.from_keras(path)
    x = data_for(name, ARCHS[name][1])
    expected = kpredict(km, x)
    got = model.predict(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
    assert [l.name for l in model.layers] == [l.name for l in km.layers]


@pytest.mark.parametrize("name", ["stacked", "bidirectional", "gru", "embedding_lstm"])
def test_from_keras3_legacy_h5_predicts_as_keras(name, tmp_path):
    """Keras 3's model.save('m.h5') writes the legacy HDF5 layout with keras_version 3.x."""
    keras = import_keras()
    pytest.importorskip("h5py")
    km = keras_model(name, keras)
    path = tmp_path / "m.h5"
    with quiet():
        km.save(path)
    model = interop.from_keras(path)
    x = data_for(name, ARCHS[name][1])
    np.testing.assert_allclose(model.predict(x), kpredict(km, x), atol=TOL, rtol=0)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_to_keras_file_opens_in_keras_with_the_same_predictions(name, tmp_path):
    keras = import_keras()
    pytest.importorskip("h5py")
    model = lstmcore_model(name)
    path = tmp_path / "out.keras"
    interop.to_keras(model, path)
    with quiet():
        km = keras.saving.load_model(path)
    x = data_for(name, ARCHS[name][1], seed=3)
    np.testing.assert_allclose(kpredict(km, x), model.predict(x), atol=TOL, rtol=0)
    # and back: the file reads into lstmcore again, with the same weights
    again = interop.from_keras(path)
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_to_keras_refuses_what_keras3_lacks(tmp_path):
    pytest.importorskip("h5py")
    model = Sequential([LSTM(3, recurrent_activation="hard_sigmoid_keras2", input_shape=(4, 2))])
    with pytest.raises(ValueError, match="hard_sigmoid_keras2.*Keras 3"):
        interop.to_keras(model, tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()
    with pytest.raises(ValueError, match="not been built"):
        interop.to_keras(Sequential([LSTM(3)]), tmp_path / "m.keras")


# ---- Keras 2 (tf-keras) layout, written with h5py ----------------------------------------------
def _init(name):
    return {"class_name": name, "config": {"seed": None}}


def k2_lstm(name, units, cls="LSTM", **kw):
    cfg = {"name": name, "trainable": True, "dtype": "float32", "return_sequences": False,
           "return_state": False, "go_backwards": False, "stateful": False, "unroll": False,
           "time_major": False, "units": units, "activation": "tanh",
           "recurrent_activation": "hard_sigmoid", "use_bias": True,
           "kernel_initializer": _init("GlorotUniform"),
           "recurrent_initializer": _init("Orthogonal"),
           "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": True,
           "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
           "activity_regularizer": None, "kernel_constraint": None,
           "recurrent_constraint": None, "bias_constraint": None, "dropout": 0.0,
           "recurrent_dropout": 0.0, "implementation": 2}
    if cls == "GRU":
        cfg["reset_after"] = kw.pop("reset_after", True)
        cfg.pop("unit_forget_bias")
    cfg.update(kw)
    return {"class_name": cls, "config": cfg}


def k2_dense(name, units, activation="linear"):
    return {"class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": "float32", "units": units,
        "activation": activation, "use_bias": True, "kernel_initializer": _init("GlorotUniform"),
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}}


def write_keras2_h5(path, layers, weights, version="2.15.0", input_layer=True,
                    batch_input_shape=(None, 6, 3)):
    """A model file in tf-keras 2's HDF5 layout (what keras.Model.save('m.h5') writes):
    ``model_config`` JSON at the root, ``model_weights/<layer>`` groups whose attribute
    ``weight_names`` lists the datasets in weight order. ``weights``: per layer name, a list
    of (weight name, array)."""
    import h5py
    entries = list(layers)
    if input_layer:
        entries.insert(0, {"class_name": "InputLayer", "config": {
            "batch_input_shape": list(batch_input_shape), "dtype": "float32", "sparse": False,
            "ragged": False, "name": "input_1"}})
    else:
        entries[0]["config"]["batch_input_shape"] = list(batch_input_shape)
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": entries}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        mw = f.create_group("model_weights")
        names = [e["config"]["name"] for e in layers]
        mw.attrs["layer_names"] = [n.encode() for n in names]
        mw.attrs["backend"] = "tensorflow"
        mw.attrs["keras_version"] = version
        for n in names:
            g = mw.create_group(n)
            ws = weights.get(n, [])
            g.attrs["weight_names"] = [w.encode() for w, _ in ws]
            for wname, a in ws:
                g.create_dataset(wname, data=a)


def lstm_numpy(x, kernel, recurrent, bias, rec_act, seq=False):
    """A plain float64 LSTM (Keras' equations, gate blocks i, f, c, o)."""
    B, T, _ = x.shape
    H = recurrent.shape[0]
    h = np.zeros((B, H))
    c = np.zeros((B, H))
    outs = []
    for t in range(T):
        z = x[:, t].astype(np.float64) @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * H:(k + 1) * H] for k in range(4))
        c = rec_act(f) * c + rec_act(i) * np.tanh(g)
        h = rec_act(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, 1) if seq else h


def test_keras2_h5_hard_sigmoid_means_keras2s(tmp_path):
    """Keras 2's default recurrent activation is hard_sigmoid = clip(0.2x + 0.5, 0, 1)."""
    pytest.importorskip("h5py")
    k1, r1, b1 = rand((3, 20), 1), rand((5, 20), 2), rand((20,), 3)
    k2, r2, b2 = rand((5, 16), 4), rand((4, 16), 5), rand((16,), 6)
    dk, db = rand((4, 2), 7), rand((2,), 8)
    layers = [k2_lstm("lstm", 5, return_sequences=True), k2_lstm("lstm_1", 4),
              k2_dense("dense", 2)]
    weights = {"lstm": [("lstm/lstm_cell/kernel:0", k1), ("lstm/lstm_cell/recurrent_kernel:0", r1),
                        ("lstm/lstm_cell/bias:0", b1)],
               "lstm_1": [("lstm_1/lstm_cell_1/kernel:0", k2),
                          ("lstm_1/lstm_cell_1/recurrent_kernel:0", r2),
                          ("lstm_1/lstm_cell_1/bias:0", b2)],
               "dense": [("dense/kernel:0", dk), ("dense/bias:0", db)]}
    for input_layer in (True, False):  # tf-keras 2.x writes an InputLayer; Keras 2.2 did not
        path = tmp_path / f"k2_{input_layer}.h5"
        write_keras2_h5(path, layers, weights, input_layer=input_layer)
        model = interop.from_keras(path)
        assert model.layers[0].recurrent_activation == "hard_sigmoid_keras2"
        x = rand((4, 6, 3), 9)

        def hs2(z):
            return np.clip(0.2 * z + 0.5, 0, 1)
        h = lstm_numpy(x, k1, r1, b1, hs2, seq=True)
        h = lstm_numpy(h, k2, r2, b2, hs2)
        np.testing.assert_allclose(model.predict(x), h @ dk + db, atol=TOL, rtol=0)


def test_keras2_h5_hard_sigmoid_from_keras3_legacy_h5_means_keras3s(tmp_path):
    """The same file written by Keras 3 (keras_version 3.x) means relu6(x + 3) / 6."""
    pytest.importorskip("h5py")
    k, r, b = rand((3, 8), 1), rand((2, 8), 2), rand((8,), 3)
    path = tmp_path / "k3.h5"
    write_keras2_h5(path, [k2_lstm("lstm", 2)],
                    {"lstm": [("k:0", k), ("r:0", r), ("b:0", b)]}, version="3.4.1")
    model = interop.from_keras(path)
    assert model.layers[0].recurrent_activation == "hard_sigmoid"
    x = rand((4, 6, 3), 9)
    expected = lstm_numpy(x, k, r, b, lambda z: np.clip(z + 3, 0, 6) / 6)
    np.testing.assert_allclose(model.predict(x), expected, atol=TOL, rtol=0)


@pytest.mark.parametrize("name", ["bidirectional_td", "gru_reset_before", "gru_reset_after",
                                  "cudnn_lstm"])
def test_keras2_h5_predicts_as_keras(name, tmp_path):
    """Keras 2 layout files with sigmoid gates: Keras 3 with the same weights is the
    reference (the equations are the same)."""
    keras = import_keras()
    pytest.importorskip("h5py")
    kl = keras.layers
    if name == "bidirectional_td":
        inner = k2_lstm("lstm", 4, return_sequences=True, recurrent_activation="sigmoid")
        layers = [{"class_name": "Bidirectional", "config": {
            "name": "bidirectional", "trainable": True, "dtype": "float32", "layer": inner,
            "merge_mode": "concat"}},
            {"class_name": "TimeDistributed", "config": {
                "name": "time_distributed", "trainable": True, "dtype": "float32",
                "layer": k2_dense("dense", 2, "tanh")}}]
        with quiet():
            km = keras.Sequential([keras.Input((6, 3)),
                                   kl.Bidirectional(kl.LSTM(4, return_sequences=True)),
                                   kl.TimeDistributed(kl.Dense(2, activation="tanh"))])
        names = {"bidirectional": ["bidirectional/forward_lstm/lstm_cell/kernel:0",
                                   "bidirectional/forward_lstm/lstm_cell/recurrent_kernel:0",
                                   "bidirectional/forward_lstm/lstm_cell/bias:0",
                                   "bidirectional/backward_lstm/lstm_cell/kernel:0",
                                   "bidirectional/backward_lstm/lstm_cell/recurrent_kernel:0",
                                   "bidirectional/backward_lstm/lstm_cell/bias:0"],
                 "time_distributed": ["time_distributed/kernel:0", "time_distributed/bias:0"]}
    elif name.startswith("gru"):
        reset_after = name == "gru_reset_after"
        layers = [k2_lstm("gru", 5, cls="GRU", reset_after=reset_after,
                          recurrent_activation="sigmoid"), k2_dense("dense", 1)]
        with quiet():
            km = keras.Sequential([keras.Input((6, 3)), kl.GRU(5, reset_after=reset_after),
                                   kl.Dense(1)])
        names = {"gru": ["gru/gru_cell/kernel:0", "gru/gru_cell/recurrent_kernel:0",
                         "gru/gru_cell/bias:0"], "dense": ["dense/kernel:0", "dense/bias:0"]}
    else:  # CuDNNLSTM: sigmoid gates, bias of 8 * units (input half + recurrent half)
        layers = [{"class_name": "CuDNNLSTM", "config": {
            "name": "cu_dnnlstm", "trainable": True, "dtype": "float32", "units": 4,
            "return_sequences": False, "return_state": False, "go_backwards": False,
            "stateful": False, "unit_forget_bias": True,
            "kernel_initializer": _init("GlorotUniform")}}, k2_dense("dense", 1)]
        with quiet():
            km = keras.Sequential([keras.Input((6, 3)), kl.LSTM(4), kl.Dense(1)])
        names = {"cu_dnnlstm": ["cu_dnnlstm/kernel:0", "cu_dnnlstm/recurrent_kernel:0",
                                "cu_dnnlstm/bias:0"], "dense": ["dense/kernel:0", "dense/bias:0"]}
    rng = np.random.default_rng(5)
    with quiet():
        kw = [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in km.get_weights()]
        km.set_weights(kw)
    file_weights, i = {}, 0
    for layer_name, wnames in names.items():
        file_weights[layer_name] = []
        for wn in wnames:
            a = kw[i]
            if name == "cudnn_lstm" and wn.endswith("bias:0") and layer_name == "cu_dnnlstm":
                half = rng.normal(size=a.shape).astype(np.float32)
                a = np.concatenate([a - half, half])  # summed on reading: a
            file_weights[layer_name].append((wn, a))
            i += 1
    path = tmp_path / "k2.h5"
    write_keras2_h5(path, layers, file_weights)
    model = interop.from_keras(path)
    x = rand((4, 6, 3), 11)
    np.testing.assert_allclose(model.predict(x), kpredict(km, x), atol=TOL, rtol=0)


# ---- PyTorch ------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_layers,bidirectional,batch_first",
                         [(1, False, True), (2, False, False), (3, False, True),
                          (1, True, True), (2, True, False)])
@pytest.mark.parametrize("as_state_dict", [False, True])
def test_from_torch_predicts_as_torch(num_layers, bidirectional, batch_first, as_state_dict):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 5, num_layers=num_layers, bidirectional=bidirectional,
                         batch_first=batch_first)
    head = torch.nn.Linear(10 if bidirectional else 5, 2)
    with torch.no_grad():  # non-default biases: the b_ih + b_hh sum must matter
        for p in list(lstm.parameters()) + list(head.parameters()):
            p.normal_(0, 0.5)
    x = rand((4, 7, 3), 2)
    with torch.no_grad():
        xt = torch.from_numpy(x if batch_first else x.transpose(1, 0, 2).copy())
        _, (h_n, _) = lstm(xt)
        last = torch.cat([h_n[-2], h_n[-1]], 1) if bidirectional else h_n[-1]
        expected = head(last).numpy()
    if as_state_dict:
        model = interop.from_torch(lstm.state_dict(), head.state_dict())
    else:
        model = interop.from_torch(lstm, head)
    np.testing.assert_allclose(model.predict(x), expected, atol=TOL, rtol=0)
    assert model.predict(rand((2, 3, 3))).shape == (2, 2)  # any length


def test_from_torch_prefixed_state_dict_and_no_head():
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(2, 3, batch_first=True, bias=False)

    net = Net()
    sd = {k: v for k, v in net.state_dict().items()}
    assert all(k.startswith("lstm.") for k in sd)
    model = interop.from_torch(sd, timesteps=5)
    x = rand((3, 5, 2))
    with torch.no_grad():
        _, (h_n, _) = net.lstm(torch.from_numpy(x))
    np.testing.assert_allclose(model.predict(x), h_n[-1].numpy(), atol=TOL, rtol=0)
    assert model.input_shape == (None, 5, 2)


def test_from_torch_numpy_state_dict_without_torch():
    """A state dict of NumPy arrays needs no torch; checked against the float64 equations."""
    H, I = 3, 2
    rng = np.random.default_rng(0)
    sd = {"weight_ih_l0": rng.normal(size=(4 * H, I)), "weight_hh_l0": rng.normal(size=(4 * H, H)),
          "bias_ih_l0": rng.normal(size=4 * H), "bias_hh_l0": rng.normal(size=4 * H)}
    head = {"weight": rng.normal(size=(1, H)), "bias": rng.normal(size=1)}
    model = interop.from_torch(sd, head)
    x = rand((4, 6, I))

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))
    h = lstm_numpy(x, sd["weight_ih_l0"].T, sd["weight_hh_l0"].T,
                   sd["bias_ih_l0"] + sd["bias_hh_l0"], sigmoid)
    np.testing.assert_allclose(model.predict(x), h @ head["weight"].T + head["bias"], atol=TOL)


def test_from_torch_refuses_other_modules():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="torch.nn.LSTM.*GRU"):
        interop.from_torch(torch.nn.GRU(3, 4))
    with pytest.raises(TypeError, match="Linear.*Conv1d"):
        interop.from_torch(torch.nn.LSTM(3, 4), torch.nn.Conv1d(4, 1, 1))
    with pytest.raises(TypeError, match="received builtins.list"):
        interop.from_torch([1, 2])
    with pytest.raises(ValueError, match="proj_size"):
        interop.from_torch(torch.nn.LSTM(3, 4, proj_size=2))


def test_from_torch_bad_state_dicts():
    ok = {"weight_ih_l0": np.zeros((8, 3)), "weight_hh_l0": np.zeros((8, 2)),
          "bias_ih_l0": np.zeros(8), "bias_hh_l0": np.zeros(8)}
    with pytest.raises(ValueError, match="weight_hh_l0 has shape \\(8, 3\\); expected \\(8, 2\\)"):
        interop.from_torch({**ok, "weight_hh_l0": np.zeros((8, 3))})
    with pytest.raises(ValueError, match="no bias_hh_l0"):
        interop.from_torch({k: v for k, v in ok.items() if k != "bias_hh_l0"})
    with pytest.raises(ValueError, match="unexpected key 'running_mean'"):
        interop.from_torch({**ok, "running_mean": np.zeros(2)})
    with pytest.raises(ValueError, match="NaN or Inf"):
        interop.from_torch({**ok, "bias_ih_l0": np.full(8, np.nan)})
    with pytest.raises(ValueError, match="expected \\(out_features, 2\\)"):
        interop.from_torch(ok, {"weight": np.zeros((1, 3)), "bias": np.zeros(1)})
    with pytest.raises(ValueError, match="empty"):
        interop.from_torch({})


# ---- hostile and foreign files (h5py only) ------------------------------------------------------
@pytest.fixture
def keras3_file(tmp_path):
    pytest.importorskip("h5py")
    model = Sequential([LSTM(4, input_shape=(5, 2), name="lstm"), Dense(1, name="dense")])
    randomize(model)
    path = tmp_path / "good.keras"
    interop.to_keras(model, path)
    return path


def rewrite_keras3(src, dst, config=None, weights=None):
    """Copy a .keras archive, replacing config.json and/or editing model.weights.h5 with
    weights(h5 file)."""
    import h5py
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    if config is not None:
        members["config.json"] = json.dumps(config).encode()
    if weights is not None:
        buf = io.BytesIO(members["model.weights.h5"])
        with h5py.File(buf, "a") as f:
            weights(f)
        members["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(dst, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    return dst


def test_hostile_truncated_files(keras3_file, tmp_path):
    data = keras3_file.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.keras"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="zip|truncated|damaged|cannot be read"):
            interop.from_keras(bad)
    h5 = tmp_path / "m.h5"
    write_keras2_h5(h5, [k2_lstm("lstm", 2)], {"lstm": [
        ("k:0", rand((3, 8))), ("r:0", rand((2, 8))), ("b:0", rand((8,)))]})
    raw = h5.read_bytes()
    bad = tmp_path / "cut.h5"
    bad.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ValueError, match="HDF5|damaged|cannot be read"):
        interop.from_keras(bad)
    other = tmp_path / "notes.keras"
    other.write_bytes(b"hello world")
    with pytest.raises(ValueError, match="neither a Keras 3 .keras archive"):
        interop.from_keras(other)


def test_hostile_wrong_shape_missing_and_nan_weights(keras3_file, tmp_path):
    def wrong_shape(f):
        del f["layers/lstm/cell/vars/1"]
        f["layers/lstm/cell/vars"].create_dataset("1", data=np.zeros((4, 4), np.float32))

    def missing(f):
        del f["layers/dense/vars/1"]

    def gone(f):
        del f["layers/lstm"]

    def nan(f):
        f["layers/dense/vars/0"][0, 0] = np.nan

    def ints(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars"].create_dataset("1", data=np.zeros(1, np.int64))

    cases = [(wrong_shape, r"weight 1 .* has shape \(4, 4\); the layer's config needs \(4, 16\)"),
             (missing, r"needs 2 weight arrays .* the file has 1"),
             (gone, r"weights of layer `lstm` \(LSTM\) are missing"),
             (nan, "contains NaN or Inf"), (ints, "dtype int64; expected floating point")]
    for i, (edit, match) in enumerate(cases):
        bad = rewrite_keras3(keras3_file, tmp_path / f"bad{i}.keras", weights=edit)
        with pytest.raises(ValueError, match=match):
            interop.from_keras(bad)


def test_hostile_external_link_is_refused(keras3_file, tmp_path):
    import h5py
    other = tmp_path / "elsewhere.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.zeros((1,), np.float32))

    def link(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = h5py.ExternalLink(str(other), "x")
    bad = rewrite_keras3(keras3_file, tmp_path / "link.keras", weights=link)
    with pytest.raises(ValueError, match="link.*refused"):
        interop.from_keras(bad)


def test_hostile_lambda_unknown_and_functional_configs(keras3_file, tmp_path):
    with zipfile.ZipFile(keras3_file) as z:
        config = json.loads(z.read("config.json"))
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('x')"
    lam = json.loads(json.dumps(config))
    lam["config"]["layers"].insert(2, {
        "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
        "config": {"name": "evil", "function": {"class_name": "__lambda__", "config": {
            "code": code, "defaults": None, "closure": None}}}})
    with pytest.raises(ValueError, match="layer 'evil' \\('Lambda'\\).*carries code"):
        interop.from_keras(rewrite_keras3(keras3_file, tmp_path / "lambda.keras", config=lam))
    assert not marker.exists()
    unknown = json.loads(json.dumps(config))
    unknown["config"]["layers"][1]["class_name"] = "MyAttention"
    with pytest.raises(ValueError, match="layer 'lstm' \\('MyAttention'\\): lstmcore cannot map"):
        interop.from_keras(rewrite_keras3(keras3_file, tmp_path / "unknown.keras", config=unknown))
    functional = {"module": "keras", "class_name": "Functional", "config": {"layers": []}}
    with pytest.raises(ValueError, match="functional model.*Sequential models only"):
        interop.from_keras(rewrite_keras3(keras3_file, tmp_path / "func.keras",
                                          config=functional))
    bad_act = json.loads(json.dumps(config))
    bad_act["config"]["layers"][2]["config"]["activation"] = "gelu"
    with pytest.raises(ValueError, match="layer 'dense'.*'gelu' is not an activation"):
        interop.from_keras(rewrite_keras3(keras3_file, tmp_path / "gelu.keras", config=bad_act))
    wrong_units = json.loads(json.dumps(config))
    wrong_units["config"]["layers"][1]["config"]["units"] = 5
    with pytest.raises(ValueError, match="has shape \\(2, 16\\); the layer's config needs "
                                         "\\(2, 20\\)"):
        interop.from_keras(rewrite_keras3(keras3_file, tmp_path / "units.keras",
                                          config=wrong_units))


def test_hostile_json(keras3_file, tmp_path):
    with zipfile.ZipFile(keras3_file) as z:
        members = {n: z.read(n) for n in z.namelist()}
    for i, text in enumerate([b"{not json", b"[" * 100_000, b'{"a": NaN}']):
        bad = tmp_path / f"json{i}.keras"
        with zipfile.ZipFile(bad, "w") as z:
            for n, data in members.items():
                z.writestr(n, text if n == "config.json" else data)
        with pytest.raises(ValueError, match="config.json|nests"):
            interop.from_keras(bad)


def test_weights_only_h5_and_missing_file(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.create_group("lstm")
    with pytest.raises(ValueError, match="weights-only file"):
        interop.from_keras(path)
    with pytest.raises(FileNotFoundError):
        interop.from_keras(tmp_path / "nope.keras")


def test_from_keras_without_h5py_names_the_extra(keras3_file, monkeypatch):
    import builtins
    real = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_h5py)
    with pytest.raises(ImportError, match=r"pip install lstmcore\[h5\]"):
        interop.from_keras(keras3_file)


def test_imported_model_trains_and_saves(keras3_file, tmp_path):
    model = interop.from_keras(keras3_file)
    model.compile("adam", "mse")
    x, y = rand((8, 5, 2)), rand((8, 1))
    h = model.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    assert os.path.exists(keras3_file)


def test_hostile_huge_layers_are_refused_before_anything_is_allocated(keras3_file, tmp_path):
    """A config asking for a 100000-unit LSTM: its weights are checked against the file's
    datasets before the model is built, and a dataset that declares 160 GB but stores
    nothing is refused before it is read."""
    with zipfile.ZipFile(keras3_file) as z:
        config = json.loads(z.read("config.json"))
    config["config"]["layers"][1]["config"]["units"] = 100_000
    with pytest.raises(ValueError, match=r"needs \(2, 400000\)"):
        interop.from_keras(rewrite_keras3(keras3_file, tmp_path / "huge.keras", config=config))

    def empty_huge(f):
        vars_ = f["layers/lstm/cell/vars"]
        for k in ("0", "1", "2"):
            del vars_[k]
        vars_.create_dataset("0", data=np.zeros((2, 400_000), np.float32))
        vars_.create_dataset("1", shape=(100_000, 400_000), dtype=np.float32)  # no storage
        vars_.create_dataset("2", data=np.zeros(400_000, np.float32))
    bad = rewrite_keras3(keras3_file, tmp_path / "huge2.keras", config=config, weights=empty_huge)
    with pytest.raises(ValueError, match="declares 160000000000 bytes but stores 0"):
        interop.from_keras(bad)


def test_from_keras3_stateful_model(tmp_path):
    keras = import_keras()
    pytest.importorskip("h5py")
    kl = keras.layers
    with quiet():
        km = keras.Sequential([keras.Input(batch_shape=(2, 3, 2)),
                               kl.LSTM(4, stateful=True, return_sequences=True),
                               kl.TimeDistributed(kl.Dense(1))])
        rng = np.random.default_rng(1)
        km.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32)
                        for w in km.get_weights()])
        km.save(tmp_path / "s.keras")
    model = interop.from_keras(tmp_path / "s.keras")
    assert model.layers[0].stateful and model.input_shape == (2, 3, 2)
    x = rand((2, 9, 2), 4)
    chunks = []
    for t in range(0, 9, 3):  # the state carries across calls, as in Keras
        expected = kpredict(km, x[:, t:t + 3])
        chunks.append(model.predict(x[:, t:t + 3]))
        np.testing.assert_allclose(chunks[-1], expected, atol=TOL, rtol=0)


def test_keras2_h5_hostile_shapes_and_missing_groups(tmp_path):
    pytest.importorskip("h5py")
    good = {"lstm": [("k:0", rand((3, 8))), ("r:0", rand((2, 8))), ("b:0", rand((8,)))]}
    path = tmp_path / "wrong.h5"
    write_keras2_h5(path, [k2_lstm("lstm", 2)],
                    {"lstm": [("k:0", rand((3, 8))), ("r:0", rand((3, 8))), ("b:0", rand((8,)))]})
    with pytest.raises(ValueError, match=r"weight 1 \(model_weights/lstm/r:0\) has shape "
                                         r"\(3, 8\); the layer's config needs \(2, 8\)"):
        interop.from_keras(path)
    path = tmp_path / "missing.h5"
    write_keras2_h5(path, [k2_lstm("lstm", 2), k2_dense("dense", 1)], good)
    with pytest.raises(ValueError, match=r"needs 2 weight arrays \[\(2, 1\), \(1,\)\]; the "
                                         r"file has 0"):
        interop.from_keras(path)
    path = tmp_path / "lambda.h5"
    lam = {"class_name": "Lambda", "config": {"name": "lambda", "function": ["4wEAAAAAAAAA", None,
                                                                            None]}}
    write_keras2_h5(path, [k2_lstm("lstm", 2), lam], good)
    with pytest.raises(ValueError, match="'lambda' \\('Lambda'\\) is a Lambda layer"):
        interop.from_keras(path)
