"""The functional API: Model(inputs, outputs) on symbolic tensors, run by the same native
DAG executor as Sequential. Checked against independent computations: a Sequential model with
the same weights, the NumPy reference's merge and LSTM, and finite differences for the
gradients that cross recurrent states (initial_state / return_state) and shared layers."""

from __future__ import annotations

import pickle

import lstmcore
import numpy as np
import pytest
from lstmcore import Input, Model, _core
from lstmcore import reference as ref
from lstmcore.layers import (
    GRU,
    LSTM,
    Add,
    Average,
    Concatenate,
    Dense,
    Embedding,
    Multiply,
    SimpleRNN,
    concatenate,
)
from lstmcore.models import Sequential, load_model


def rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def seq2seq(units=6, fin=4, fout=5):
    enc_in = Input(shape=(None, fin))
    _, h, c = LSTM(units, return_state=True)(enc_in)
    dec_in = Input(shape=(None, fout))
    dec_lstm = LSTM(units, return_sequences=True, return_state=True)
    dec_out, _, _ = dec_lstm(dec_in, initial_state=[h, c])
    dense = Dense(fout, activation="softmax")
    model = Model([enc_in, dec_in], dense(dec_out))
    return model, (enc_in, h, c, dec_in, dec_lstm, dense)


# ---- forward: against independent computations ------------------------------------------------
def test_chain_equals_sequential_with_the_same_weights():
    x = rand((7, 5, 3))
    inp = Input(shape=(5, 3))
    f = Model(inp, Dense(2)(LSTM(4, return_sequences=True)(inp)))
    s = Sequential([LSTM(4, return_sequences=True, input_shape=(5, 3)), Dense(2)])
    s.set_weights(f.get_weights())
    np.testing.assert_array_equal(f.predict(x), s.predict(x))


@pytest.mark.parametrize("layer,fn", [
    (Concatenate, lambda a, b: np.concatenate([a, b], -1)),
    (Add, lambda a, b: a + b), (Multiply, lambda a, b: a * b),
    (Average, lambda a, b: (a + b) / 2)])
def test_merge_layers_against_numpy(layer, fn):
    a_in, b_in = Input(shape=(3,)), Input(shape=(3,))
    m = Model([a_in, b_in], layer()([a_in, b_in]))
    a, b = rand((9, 3), 1), rand((9, 3), 2)
    np.testing.assert_allclose(m.predict([a, b]), fn(a, b), rtol=1e-6, atol=1e-6)


def test_concatenate_along_time_and_features_of_sequences():
    a_in, b_in = Input(shape=(4, 2)), Input(shape=(3, 2))
    m = Model([a_in, b_in], Concatenate(axis=1)([a_in, b_in]))
    a, b = rand((5, 4, 2), 1), rand((5, 3, 2), 2)
    np.testing.assert_array_equal(m.predict([a, b]), np.concatenate([a, b], axis=1))
    c_in, d_in = Input(shape=(4, 2)), Input(shape=(4, 5))
    m2 = Model([c_in, d_in], concatenate([c_in, d_in]))
    c, d = rand((5, 4, 2), 3), rand((5, 4, 5), 4)
    np.testing.assert_array_equal(m2.predict({c_in._node.layer.name: c,
                                               d_in._node.layer.name: d}),
                                  np.concatenate([c, d], axis=-1))


def test_merge_reference_pair_matches_native_gradients():
    # the NumPy reference's merge forward/backward (reference.LAYERS['merge']) against the
    # native gradients of a * b -> Dense with mse
    a_in, b_in = Input(shape=(3,)), Input(shape=(3,))
    dense = Dense(1, use_bias=False)
    m = Model([a_in, b_in], dense(Multiply()([a_in, b_in])))
    m.compile("sgd", "mse")
    a, b, y = rand((6, 3), 1), rand((6, 3), 2), rand((6, 1), 3)
    net = m._new_executor(training=True)
    net.compute_gradients([a, b], [y])
    (gk,) = net.gradients()
    entry = ref.LAYERS["merge"]
    layer = entry.normalize({"mode": "mul", "n": 2})
    z, cache = entry.forward(layer, [a.astype(np.float64), b.astype(np.float64)], None)
    w = dense.get_weights()[0].astype(np.float64)
    p = z @ w
    dp = 2 * (p - y) / p.size
    np.testing.assert_allclose(gk.reshape(w.shape), z.T @ dp, rtol=1e-4, atol=1e-6)
    (da, db), _ = entry.backward(layer, cache, dp @ w.T)
    np.testing.assert_allclose(da, (dp @ w.T) * b, rtol=1e-12)


def test_initial_state_and_return_state_against_the_reference_lstm():
    enc_in = Input(shape=(4, 3))
    _, h, c = LSTM(5, return_state=True)(enc_in)
    dec_in = Input(shape=(6, 2))
    out = LSTM(5, return_sequences=True)(dec_in, initial_state=[h, c])
    m = Model([enc_in, dec_in], out)
    xe, xd = rand((3, 4, 3), 1), rand((3, 6, 2), 2)
    W1, U1, b1, W2, U2, b2 = [w.astype(np.float64) for w in m.get_weights()]
    _, h0, c0, _ = ref.lstm_forward(xe.astype(np.float64), W1, U1, b1)
    want = ref.lstm_forward(xd.astype(np.float64), W2, U2, b2, h0=h0, c0=c0)[0]
    np.testing.assert_allclose(m.predict([xe, xd]), want, rtol=1e-5, atol=1e-5)


# ---- gradients: finite differences through states and shared layers -----------------------------
def _fd_check(model, x, y, n_checks=12, eps=1e-2, seed=0):
    """The native gradient of the (float32) loss against central differences on a few
    weights; float32 forward passes, so a loose tolerance on a smooth, small model."""
    net = model._new_executor(training=True)
    net.compute_gradients(x, y)
    grads = [g.copy() for g in net.gradients()]
    weights = model.get_weights()
    rng = np.random.default_rng(seed)
    for _ in range(n_checks):
        k = int(rng.integers(len(weights)))
        i = int(rng.integers(weights[k].size))
        vals = []
        for sgn in (1, -1):
            w = [a.copy() for a in weights]
            w[k].flat[i] += sgn * eps
            model.set_weights(w)
            vals.append(model.evaluate(x, y, batch_size=len(x[0]), verbose=0))
        model.set_weights(weights)
        fd = (vals[0] - vals[1]) / (2 * eps)
        assert grads[k][i] == pytest.approx(fd, rel=5e-2, abs=2e-4), (k, i)


def test_gradients_cross_initial_state_and_return_state():
    model, _ = seq2seq(units=4, fin=3, fout=3)
    model.compile("sgd", "categorical_crossentropy")
    xe, xd = rand((5, 4, 3), 1), rand((5, 3, 3), 2)
    y = np.eye(3, dtype=np.float32)[np.random.default_rng(3).integers(0, 3, (5, 3))]
    _fd_check(model, [xe, xd], [y])


@pytest.mark.parametrize("cell", [GRU, SimpleRNN])
def test_one_state_cells_pass_their_state(cell):
    a = Input(shape=(4, 2))
    _, h = cell(3, return_state=True)(a)
    b = Input(shape=(5, 2))
    out = Dense(1)(cell(3)(b, initial_state=h))
    model = Model([a, b], out)
    model.compile("sgd", "mse")
    _fd_check(model, [rand((6, 4, 2), 1), rand((6, 5, 2), 2)], [rand((6, 1), 3)])


def test_a_shared_layer_sums_its_gradients():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    shared = Dense(2, activation="tanh")
    out = Dense(1)(Add()([shared(a), shared(b)]))
    model = Model([a, b], out)
    model.compile("sgd", "mse")
    assert len(model.get_weights()) == 4  # the shared layer's weights once
    _fd_check(model, [rand((8, 3), 1), rand((8, 3), 2)], [rand((8, 1), 3)])


# ---- the Keras lifecycle --------------------------------------------------------------------------
def test_fit_evaluate_predict_with_lists_and_dicts():
    series, cal = Input(shape=(6, 1), name="series"), Input(shape=(4,), name="calendar")
    out = Dense(1, name="next")(Concatenate()([LSTM(4)(series), cal]))
    m = Model([series, cal], out)
    m.compile("adam", "mse", metrics=["mae"])
    xs, xc, y = rand((40, 6, 1), 1), rand((40, 4), 2), rand((40, 1), 3)
    h = m.fit([xs, xc], y, epochs=3, batch_size=8, verbose=0, validation_split=0.25)
    assert set(h.history) == {"loss", "mae", "val_loss", "val_mae"}
    a = m.predict([xs, xc])
    b = m.predict({"series": xs, "calendar": xc})
    np.testing.assert_array_equal(a, b)
    assert m.evaluate([xs, xc], y, verbose=0) == pytest.approx(
        m.evaluate({"series": xs, "calendar": xc}, {"next": y}, verbose=0))
    assert m.train_on_batch([xs[:8], xc[:8]], y[:8])[0] > 0


def test_several_outputs_losses_weights_and_logs():
    a = Input(shape=(5, 2))
    h = LSTM(4)(a)
    reg = Dense(1, name="reg")(h)
    cls = Dense(3, activation="softmax", name="cls")(h)
    m = Model(a, [reg, cls])
    m.compile("adam", {"reg": "mse", "cls": "sparse_categorical_crossentropy"},
              loss_weights={"reg": 2.0, "cls": 0.5}, metrics={"cls": ["accuracy"]})
    x, y1, y2 = rand((30, 5, 2)), rand((30, 1), 1), np.arange(30) % 3
    logs = m.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    assert list(logs) == ["loss", "reg_loss", "cls_loss", "cls_accuracy"]
    assert logs["loss"] == pytest.approx(2.0 * logs["reg_loss"] + 0.5 * logs["cls_loss"],
                                         rel=1e-5)
    p_reg, p_cls = m.predict(x)
    assert logs["reg_loss"] == pytest.approx(float(np.mean((p_reg - y1) ** 2)), rel=1e-4)
    m.fit(x, [y1, y2], epochs=2, verbose=0)


def test_embedding_input_and_masks_in_a_graph():
    tok = Input(shape=(None,), dtype="int32")
    e = Embedding(10, 4, mask_zero=True)(tok)
    out = Dense(1)(LSTM(3)(e))
    m = Model(tok, out)
    m.compile("adam", "mse")
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    np.testing.assert_allclose(m.predict(x), m.predict(x[:, :3]), rtol=1e-6, atol=1e-6)
    m.fit(x, np.ones((2, 1)), epochs=1, verbose=0)


def test_stateful_graph_with_a_fixed_batch():
    a = Input(batch_shape=(2, 3, 1))
    lstm = LSTM(3, stateful=True)
    m = Model(a, Dense(1)(lstm(a)))
    x = rand((2, 3, 1))
    p1, p2 = m.predict(x), m.predict(x)
    assert not np.allclose(p1, p2)  # the state carried over
    m.reset_states()
    np.testing.assert_array_equal(m.predict(x), p1)
    with pytest.raises(ValueError, match="batches of 2"):
        m.predict(rand((3, 3, 1)))


def test_seq2seq_inference_models_share_the_trained_layers():
    model, (enc_in, h, c, dec_in, dec_lstm, dense) = seq2seq()
    model.compile("adam", "categorical_crossentropy")
    xe, xd = rand((8, 7, 4), 1), rand((8, 5, 5), 2)
    y = np.eye(5, dtype=np.float32)[np.arange(40).reshape(8, 5) % 5]
    model.fit([xe, xd], y, epochs=2, verbose=0)
    encoder = Model(enc_in, [h, c])
    h_in, c_in = Input(shape=(6,)), Input(shape=(6,))
    o, h2, c2 = dec_lstm(dec_in, initial_state=[h_in, c_in])
    decoder = Model([dec_in, h_in, c_in], [dense(o), h2, c2])
    states = encoder.predict(xe)
    joint = model.predict([xe, xd])
    for t in range(5):  # step by step, carrying the states, equals the joint model
        p, *states = decoder.predict([xd[:, t:t + 1], *states])
        np.testing.assert_allclose(p[:, 0], joint[:, t], rtol=1e-5, atol=1e-6)
    # later training of the joint model is seen by the inference models (shared weights)
    before = encoder.predict(xe)[0]
    model.fit([xe, xd], y, epochs=1, verbose=0)
    assert not np.allclose(encoder.predict(xe)[0], before)


def test_summary_shows_connections_and_weight_order_is_keras():
    model, _ = seq2seq()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text and "lstm" in text and "[0][1]" in text
    names = [l.name for l in model.layers]
    assert type(model.layers[0]).__name__ == "InputLayer"
    assert [w.shape for w in model.get_weights()] == [
        (4, 24), (6, 24), (24,), (5, 24), (6, 24), (24,), (6, 5), (5,)]
    assert len(names) == 5


def test_save_load_config_and_pickle_round_trip(tmp_path):
    model, _ = seq2seq()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    xe, xd = rand((4, 3, 4), 1), rand((4, 2, 5), 2)
    y = np.eye(5, dtype=np.float32)[np.arange(8).reshape(4, 2) % 5]
    model.fit([xe, xd], y, epochs=1, verbose=0)
    want = model.predict([xe, xd])
    path = tmp_path / "m.lstmcore"
    model.save(path)
    for other in (load_model(path), pickle.loads(pickle.dumps(model))):
        assert isinstance(other, Model)
        np.testing.assert_array_equal(other.predict([xe, xd]), want)
    fresh = Model.from_config(model.get_config())  # the architecture, new weights
    assert [l.name for l in fresh.layers] == [l.name for l in model.layers]
    fresh.set_weights(model.get_weights())
    np.testing.assert_array_equal(fresh.predict([xe, xd]), want)
    restored = load_model(path)
    a = model.fit([xe, xd], y, epochs=1, verbose=0, shuffle=False).history["loss"]
    b = restored.fit([xe, xd], y, epochs=1, verbose=0, shuffle=False).history["loss"]
    assert a == b  # the optimizer state came back too


# ---- bad input ----------------------------------------------------------------------------------
def test_disconnected_and_unused_inputs_are_value_errors_naming_layers():
    a, b = Input(shape=(3,), name="a_in"), Input(shape=(3,), name="b_in")
    out = Dense(1, name="head")(Add()([a, b]))
    with pytest.raises(ValueError, match="graph disconnected.*b_in"):
        Model(a, out)
    unused = Input(shape=(2,), name="spare")
    with pytest.raises(ValueError, match="spare.*not connected"):
        Model([a, b, unused], out)


def test_cycle_in_a_config_is_a_value_error_naming_layers():
    a = Input(shape=(3,), name="x_in")
    m = Model(a, Dense(2, name="d2")(Dense(2, name="d1")(a)))
    cfg = m.get_config()
    for layer in cfg["layers"]:
        if layer["name"] == "d1":
            layer["inbound_nodes"] = [{"inputs": [["d2", 0, 0]], "initial_state": []}]
    with pytest.raises(ValueError, match="d1.*d2|d2.*d1"):
        Model.from_config(cfg)


def test_mismatched_merge_shapes_name_the_layers():
    a, b = Input(shape=(3,), name="left"), Input(shape=(4,), name="right")
    with pytest.raises(ValueError, match=r"add.*left.*right"):
        Add(name="add")([a, b])
    c, d = Input(shape=(5, 3)), Input(shape=(6, 2))
    with pytest.raises(ValueError, match="cannot merge"):
        Concatenate()([c, d])


def test_calling_a_layer_on_data_is_a_type_error():
    for bad in (np.zeros((2, 3)), [1, 2], "x", None):
        with pytest.raises(TypeError, match="symbolic tensors"):
            Dense(1)(bad)
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(np.zeros(3), np.zeros(3))


def test_bad_calls_and_data_leave_the_model_as_it_was():
    series, cal = Input(shape=(6, 1)), Input(shape=(4,))
    m = Model([series, cal], Dense(1)(Concatenate()([LSTM(4)(series), cal])))
    m.compile("adam", "mse")
    xs, xc, y = rand((10, 6, 1), 1), rand((10, 4), 2), rand((10, 1), 3)
    before = m.get_weights()
    cases = [
        (lambda: m.fit(xs, y, verbose=0), "2 inputs"),
        (lambda: m.fit([xs, xc[:9]], y, verbose=0), "same number of samples"),
        (lambda: m.fit([xs, xc[:, :3]], y, verbose=0), "expects shape"),
        (lambda: m.fit([xs, np.full_like(xc, np.nan)], y, verbose=0), "contains nan"),
        (lambda: m.fit([xs, xc], y[:, :0], verbose=0), "shape"),
        (lambda: m.predict([xs, xc, xc]), "3 arrays"),
        (lambda: m.predict({"nope": xs}), "unknown"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    for w0, w1 in zip(before, m.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    m.fit([xs, xc], y, epochs=1, verbose=0)  # still works


def test_initial_state_misuse():
    x = Input(shape=(4, 2))
    h = Input(shape=(3,))
    with pytest.raises(ValueError, match="2 tensor"):
        LSTM(3)(x, initial_state=[h])
    with pytest.raises(ValueError, match=r"\(batch, 5\)"):
        LSTM(5)(x, initial_state=[h, h])
    with pytest.raises(ValueError, match="takes no `initial_state`"):
        Dense(3)(h, initial_state=[h])
    with pytest.raises(TypeError):
        Model(x, x).add(Dense(1))


def test_sequential_accepts_input_tensor_and_refuses_others():
    m = Sequential([Input(shape=(3, 2)), LSTM(2)])
    assert m.input_shape == (None, 3, 2)
    t = LSTM(2)(Input(shape=(3, 2)))
    with pytest.raises(ValueError, match="takes layers"):
        Sequential([t])


def test_public_names_and_classes_as_keras_has_them():
    assert lstmcore.Model is Model and lstmcore.models.Model is Model
    assert "merge" in _core.LAYER_KINDS
    inp = Input(shape=(3, 2))
    functional = Model(inp, Dense(1)(LSTM(2)(inp)))
    sequential = Sequential([LSTM(2, input_shape=(3, 2)), Dense(1)])
    # Keras: Model(inputs, outputs) is a Functional; both kinds are Models
    assert type(functional).__name__ == "Functional" and isinstance(functional, Model)
    assert isinstance(sequential, Model) and not isinstance(functional, Sequential)
    assert type(Model.from_config(functional.get_config())).__name__ == "Functional"
    assert type(Model.from_config(sequential.get_config())) is Sequential


# ---- hostile functional model files -----------------------------------------------------------
def _tampered(tmp_path, change):
    import json
    import zipfile
    model, _ = seq2seq()
    src = tmp_path / "good.lstmcore"
    model.save(src)
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(files.pop("lstmcore.json"))
    change(meta["model"])
    dst = tmp_path / "bad.lstmcore"
    with zipfile.ZipFile(dst, "w") as z:
        z.writestr("lstmcore.json", json.dumps(meta))
        for n, data in files.items():
            z.writestr(n, data)
    return dst


def _layer(cfg, cls):
    return next(l for l in cfg["layers"] if l["class_name"] == cls)


@pytest.mark.parametrize("change,match", [
    (lambda c: _layer(c, "Dense").update(inbound_nodes=[{"inputs": [["dense_x", 0, 0]]}]),
     "cannot be rebuilt"),
    (lambda c: c.update(output_layers=[["nope", 0, 0]]), "no layer makes"),
    (lambda c: c.update(input_layers="x"), "input_layers"),
    (lambda c: _layer(c, "Dense")["config"].update(units=2**40), "units"),
    (lambda c: _layer(c, "Dense")["config"].update(units=7), "does not match|shape"),
    (lambda c: _layer(c, "Dense").update(inbound_nodes=[{"inputs": "zz"}]), "call"),
    (lambda c: _layer(c, "Dense").update(inbound_nodes=[{"inputs": [[1, 2]]}]), "reference"),
    (lambda c: c["layers"].append(dict(c["layers"][-1])), "two layers"),
])
def test_hostile_functional_files_are_refused(tmp_path, change, match):
    bad = _tampered(tmp_path, change)
    with pytest.raises(ValueError, match=match):
        load_model(bad)


def test_a_cycle_in_a_file_is_refused(tmp_path):
    def cycle(c):
        lstms = [l for l in c["layers"] if l["class_name"] == "LSTM"]
        enc, dec = lstms[0], lstms[1]
        enc["inbound_nodes"] = [{"inputs": [[dec["name"], 0, 0]], "initial_state": []}]
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        load_model(_tampered(tmp_path, cycle))


# ---- models called on tensors (nested models) ---------------------------------------------------
def test_models_called_on_tensors_share_their_layers():
    from lstmcore.layers import RepeatVector, TimeDistributed
    x = rand((16, 6, 2), 1)
    inp = Input(shape=(6, 2))
    encoder = Model(inp, LSTM(4)(inp))
    decoder = Sequential([RepeatVector(6, input_shape=(4,)), LSTM(4, return_sequences=True),
                          TimeDistributed(Dense(2))])
    outer_in = Input(shape=(6, 2))
    autoencoder = Model(outer_in, decoder(encoder(outer_in)))
    assert len(autoencoder.get_weights()) == len(encoder.get_weights()) + len(decoder.get_weights())
    autoencoder.compile("adam", "mse")
    before = encoder.predict(x)
    autoencoder.fit(x, x, epochs=2, verbose=0)
    assert not np.allclose(encoder.predict(x), before)  # trained through the outer model
    np.testing.assert_allclose(autoencoder.predict(x), decoder.predict(encoder.predict(x)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(autoencoder(x), autoencoder.predict(x))  # on data: predict


def test_calling_a_model_checks_its_inputs():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    inner = Model([a, b], Add()([a, b]))
    with pytest.raises(ValueError, match="takes 2 input"):
        inner(Input(shape=(3,)))
    with pytest.raises(ValueError, match="has shape"):
        inner([Input(shape=(3,)), Input(shape=(4,))])
    seq = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="expects input shape"):
        seq(Input(shape=(5,)))
