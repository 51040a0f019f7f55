"""Keras parity of functional models: the same graph built with ``keras.Model`` and
``lstmcore.Model`` has the same weights layout, predicts the same with Keras' weights, and
trains the same.

The seq2seq model of Keras' ``lstm_seq2seq.py`` example (an encoder LSTM's states start the
decoder LSTM), its inference models sharing the trained layers (greedy decoding), merge layers
and a multi-output model with a loss and a loss weight per output.

Skipped when keras is not importable. Keras runs on the torch backend (set before the import);
every Keras call runs inside ``quiet()``. Tolerances as in test_keras_parity.py: predictions
atol/rtol 1e-5, training runs rtol/atol 1e-4.
"""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    keras = pytest.importorskip("keras")

import lstmcore  # noqa: E402
from keras_parity_helpers import copy_weights, kpredict, quiet, rand  # noqa: E402
from lstmcore import layers as L  # noqa: E402
from lstmcore.optimizers import Adam  # noqa: E402

KL = keras.layers
V, H = 7, 6            # characters (start token 0, end token 1), latent units
T_IN, T_OUT = 5, 4


def _seq2seq(lib):
    """Keras' lstm_seq2seq.py training model, built with `lib` (keras or lstmcore): the joint
    model and the layer objects and tensors its inference models reuse."""
    Lx = KL if lib is keras else L
    enc_in = lib.Input(shape=(None, V))
    encoder = Lx.LSTM(H, return_state=True)
    _, h, c = encoder(enc_in)
    dec_in = lib.Input(shape=(None, V))
    decoder = Lx.LSTM(H, return_sequences=True, return_state=True)
    dec_seq, _, _ = decoder(dec_in, initial_state=[h, c])
    dense = Lx.Dense(V, activation="softmax")
    model = lib.Model([enc_in, dec_in], dense(dec_seq))
    return model, dict(enc_in=enc_in, dec_in=dec_in, decoder=decoder, dense=dense, h=h, c=c)


def _keras_seq2seq():
    with quiet():
        keras.utils.set_random_seed(0)
        return _seq2seq(keras)


def _inference(lib, parts):
    """lstm_seq2seq.py's inference models from the trained layers: the encoder gives the
    states; the decoder takes one step and the states, and returns the step's probabilities and
    the new states."""
    encoder_model = lib.Model(parts["enc_in"], [parts["h"], parts["c"]])
    h_in, c_in = lib.Input(shape=(H,)), lib.Input(shape=(H,))
    dec_in = lib.Input(shape=(None, V))
    seq, h, c = parts["decoder"](dec_in, initial_state=[h_in, c_in])
    decoder_model = lib.Model([dec_in, h_in, c_in], [parts["dense"](seq), h, c])
    return encoder_model, decoder_model


def test_seq2seq_weights_layout_and_predictions_match_keras():
    km, _ = _keras_seq2seq()
    model, _ = _seq2seq(lstmcore)
    with quiet():
        kshapes = [w.shape for w in km.get_weights()]
    # encoder LSTM, decoder LSTM, Dense: Keras' order and shapes
    assert [w.shape for w in model.get_weights()] == kshapes == [
        (V, 4 * H), (H, 4 * H), (4 * H,), (V, 4 * H), (H, 4 * H), (4 * H,), (H, V), (V,)]
    copy_weights(km, model)
    src, tgt = rand((9, T_IN, V), 2), rand((9, T_OUT, V), 3)
    expected = kpredict(km, [src, tgt])
    got = model.predict([src, tgt])
    assert got.shape == expected.shape == (9, T_OUT, V)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # the encoder's states matter: other sources, other decoder outputs
    assert np.abs(model.predict([src[::-1].copy(), tgt]) - got).max() > 1e-3
    # other sequence lengths (timesteps None on both inputs)
    src2, tgt2 = rand((4, 8, V), 4), rand((4, 2, V), 5)
    np.testing.assert_allclose(model.predict([src2, tgt2]), kpredict(km, [src2, tgt2]),
                               rtol=1e-5, atol=1e-5)


def test_seq2seq_training_run_matches_keras():
    """Teacher forcing on the joint model: the same Adam run (2 epochs, shuffle=False, a
    partial last batch) ends with the same per-epoch losses and weights as Keras."""
    km, _ = _keras_seq2seq()
    model, _ = _seq2seq(lstmcore)
    w0 = copy_weights(km, model, scale=0.3)
    rng = np.random.default_rng(11)
    src = np.eye(V, dtype=np.float32)[rng.integers(0, V, (20, T_IN))]
    tgt = np.eye(V, dtype=np.float32)[rng.integers(0, V, (20, T_OUT + 1))]
    dec_x, dec_y = tgt[:, :-1], tgt[:, 1:]     # the target shifted by one step
    with quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                   loss="categorical_crossentropy")
        kh = km.fit([src, dec_x], dec_y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        kw = km.get_weights()
    model.compile(optimizer=Adam(learning_rate=0.01), loss="categorical_crossentropy")
    h = model.fit([src, dec_x], dec_y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert len(h.history["loss"]) == len(kh.history["loss"]) == 2
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
        assert np.abs(a - w0[i]).max() > 1e-3, f"weight {i} did not move"


def _greedy(encoder_model, decoder_model, src, steps, predict):
    """lstm_seq2seq.py's decode_sequence for a batch: start token 0, feed back the argmax."""
    h, c = predict(encoder_model, src)
    token = np.zeros((len(src), 1, V), dtype=np.float32)
    token[:, 0, 0] = 1.0
    tokens, probs = [], []
    for _ in range(steps):
        p, h, c = predict(decoder_model, [token, h, c])
        k = p[:, -1].argmax(axis=-1)
        tokens.append(k)
        probs.append(p[:, -1])
        token = np.zeros_like(token)
        token[np.arange(len(src)), 0, k] = 1.0
    return np.stack(tokens, 1), np.stack(probs, 1)


def test_greedy_decoding_with_shared_layers_matches_keras():
    km, kparts = _keras_seq2seq()
    model, parts = _seq2seq(lstmcore)
    copy_weights(km, model, scale=0.8)
    with quiet():
        kenc, kdec = _inference(keras, kparts)
    enc, dec = _inference(lstmcore, parts)
    # the inference models own no weights of their own: they are the joint model's layers
    assert len(enc.get_weights()) == 3 and len(dec.get_weights()) == 5
    for a, b in zip(dec.get_weights(), model.get_weights()[3:]):
        np.testing.assert_array_equal(a, b)
    src = np.eye(V, dtype=np.float32)[np.random.default_rng(8).integers(0, V, (5, T_IN))]

    def kp(m, x):
        return [np.asarray(a) for a in m.predict(x, verbose=0)]

    with quiet():
        ktokens, kprobs = _greedy(kenc, kdec, src, 8, kp)
    tokens, probs = _greedy(enc, dec, src, 8, lambda m, x: m.predict(x))
    np.testing.assert_allclose(probs, kprobs, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(tokens, ktokens)
    assert len(np.unique(tokens)) > 1   # not a constant decode
    # a step of the decoder model is a step of the joint model: decoding the joint model's
    # teacher-forced input reproduces its predictions
    start = np.zeros((5, 1, V), dtype=np.float32)
    start[:, 0, 0] = 1.0
    forced = np.concatenate([start, np.eye(V, dtype=np.float32)[tokens[:, :-1]]], axis=1)
    np.testing.assert_allclose(model.predict([src, forced]), probs, rtol=1e-5, atol=1e-6)
    # training the joint model moves the inference models (shared weights, no copy)
    before = dec.predict([start, *enc.predict(src)])[0]
    model.compile(optimizer=Adam(learning_rate=0.05), loss="categorical_crossentropy")
    model.fit([src, forced], np.eye(V, dtype=np.float32)[tokens], epochs=2, verbose=0)
    assert np.abs(dec.predict([start, *enc.predict(src)])[0] - before).max() > 1e-3


def _two_input(lib, merge):
    """A series (T, F) through an LSTM, calendar features (k,) through a Dense, merged."""
    Lx = KL if lib is keras else L
    series, calendar = lib.Input(shape=(T_IN, 3)), lib.Input(shape=(4,))
    a = Lx.LSTM(5)(series)
    b = calendar if merge == "concat" else Lx.Dense(5, activation="tanh")(calendar)
    joined = {"concat": Lx.Concatenate(), "add": Lx.Add(), "multiply": Lx.Multiply(),
              "average": Lx.Average()}[merge]([a, b])
    return lib.Model([series, calendar], Lx.Dense(2)(joined))


@pytest.mark.parametrize("merge", ["concat", "add", "multiply", "average"])
def test_two_input_merge_models_match_keras(merge):
    with quiet():
        keras.utils.set_random_seed(0)
        km = _two_input(keras, merge)
    model = _two_input(lstmcore, merge)
    copy_weights(km, model)
    x = [rand((9, T_IN, 3), 2), rand((9, 4), 3)]
    expected = kpredict(km, x)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)
    assert np.abs(expected).max() > 0.05


def test_concatenate_sequences_along_time_matches_keras():
    def build(lib):
        Lx = KL if lib is keras else L
        a, b = lib.Input(shape=(4, 3)), lib.Input(shape=(6, 3))
        seq_a = Lx.LSTM(5, return_sequences=True)(a)
        seq_b = Lx.LSTM(5, return_sequences=True)(b)
        joined = Lx.Concatenate(axis=1)([seq_a, seq_b])       # (10, 5)
        return lib.Model([a, b], Lx.Dense(2)(Lx.LSTM(4, return_sequences=True)(joined)))

    with quiet():
        keras.utils.set_random_seed(0)
        km = build(keras)
    model = build(lstmcore)
    assert model.output_shape == (None, 10, 2)
    copy_weights(km, model)
    x = [rand((7, 4, 3), 4), rand((7, 6, 3), 5)]
    np.testing.assert_allclose(model.predict(x), kpredict(km, x), rtol=1e-5, atol=1e-5)


def _multi_output(lib):
    Lx = KL if lib is keras else L
    inp = lib.Input(shape=(T_IN, 3), name="series")
    seq, h, _ = Lx.LSTM(6, return_sequences=True, return_state=True)(inp)
    value = Lx.Dense(1, name="value")(h)
    label = Lx.Dense(3, activation="softmax", name="label")(Lx.LSTM(4)(seq))
    return lib.Model(inp, {"value": value, "label": label})


def test_multi_output_losses_and_loss_weights_match_keras():
    with quiet():
        keras.utils.set_random_seed(0)
        km = _multi_output(keras)
    model = _multi_output(lstmcore)
    w0 = copy_weights(km, model, scale=0.3)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(20, T_IN, 3)).astype(np.float32)
    y = {"value": rng.normal(size=(20, 1)).astype(np.float32),
         "label": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 20)]}
    loss = {"value": "mse", "label": "categorical_crossentropy"}
    weights = {"value": 0.3, "label": 2.0}
    with quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss=loss,
                   loss_weights=weights)
        kev = km.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
        kp = km.predict(x, verbose=0)
    model.compile(optimizer=Adam(learning_rate=0.01), loss=loss, loss_weights=weights)
    p = model.predict(x)
    assert set(p) == {"value", "label"}
    for k in p:
        np.testing.assert_allclose(p[k], kp[k], rtol=1e-5, atol=1e-5)
    total = model.evaluate(x, y, batch_size=8, verbose=0)
    total = total[0] if isinstance(total, list) else total
    np.testing.assert_allclose(total, kev["loss"], rtol=1e-5)
    # the total is the weighted sum of the two losses (not their mean, not unweighted)
    mse = np.mean((p["value"] - y["value"]) ** 2)
    cce = np.mean(-np.sum(y["label"] * np.log(np.clip(p["label"], 1e-7, 1)), axis=-1))
    np.testing.assert_allclose(total, 0.3 * mse + 2.0 * cce, rtol=1e-5)
    # and a short training run with those weights ends where Keras' does
    with quiet():
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        kw = km.get_weights()
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
    assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(model.get_weights(), w0))


def test_dict_inputs_and_outputs_follow_keras_sorted_order():
    """Keras 3 flattens dicts of inputs/outputs in sorted key order (keras.tree): the model's
    inputs, layers and get_weights() follow it, so Keras' weights list fits in order."""
    def build(lib):
        Lx = KL if lib is keras else L
        a, b = lib.Input(shape=(3,), name="zz"), lib.Input(shape=(2,), name="aa")
        from_b = Lx.Dense(4, name="d_b")(b)
        from_a = Lx.Dense(5, name="d_a")(a)
        return lib.Model({"zz": a, "aa": b}, {"z": from_a, "a": from_b})

    with quiet():
        keras.utils.set_random_seed(0)
        km = build(keras)
        klayers = [layer.name for layer in km.layers]
    model = build(lstmcore)
    assert [layer.name for layer in model.layers] == klayers == ["aa", "zz", "d_b", "d_a"]
    copy_weights(km, model)        # checks the shapes in order: (2, 4), (4,), (3, 5), (5,)
    x = {"zz": rand((6, 3), 1), "aa": rand((6, 2), 2)}
    got, expected = model.predict(x), kpredict_dict(km, x)
    assert set(got) == set(expected) == {"a", "z"}
    for k in got:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-5, atol=1e-5)


def kpredict_dict(km, x):
    with quiet():
        return {k: np.asarray(v) for k, v in km.predict(x, verbose=0).items()}


@pytest.mark.parametrize("cell", ["GRU", "SimpleRNN"])
def test_gru_and_simple_rnn_states_pass_between_layers_like_keras(cell):
    """return_state=True on one recurrent layer, initial_state= on another (one state)."""
    def build(lib):
        Lx = KL if lib is keras else L
        a, b = lib.Input(shape=(5, 3)), lib.Input(shape=(4, 2))
        _, state = getattr(Lx, cell)(6, return_state=True)(a)
        seq = getattr(Lx, cell)(6, return_sequences=True)(b, initial_state=[state])
        return lib.Model([a, b], Lx.Dense(2)(seq))

    with quiet():
        keras.utils.set_random_seed(0)
        km = build(keras)
    model = build(lstmcore)
    w0 = copy_weights(km, model, scale=0.3)
    x = [rand((20, 5, 3), 1), rand((20, 4, 2), 2)]
    np.testing.assert_allclose(model.predict(x), kpredict(km, x), rtol=1e-5, atol=1e-5)
    y = rand((20, 4, 2), 3)
    with quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        kw = km.get_weights()
    model.compile(optimizer=Adam(learning_rate=0.01), loss="mse")
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
        assert np.abs(a - w0[i]).max() > 1e-3, f"weight {i} did not move"  # through the state


def test_shared_layer_in_one_model_trains_like_keras():
    """A siamese model: one LSTM object called on two inputs; its gradients from both calls
    add up, as in Keras (and Keras 2's functional `concatenate`)."""
    def build(lib):
        Lx = KL if lib is keras else L
        a, b = lib.Input(shape=(5, 3)), lib.Input(shape=(5, 3))
        shared = Lx.LSTM(4)
        joined = (Lx.concatenate([shared(a), shared(b)]) if lib is lstmcore
                  else KL.Concatenate()([shared(a), shared(b)]))
        return lib.Model([a, b], Lx.Dense(1, activation="sigmoid")(joined))

    with quiet():
        keras.utils.set_random_seed(0)
        km = build(keras)
    model = build(lstmcore)
    assert len(model.get_weights()) == 5     # the LSTM once, then the Dense
    w0 = copy_weights(km, model, scale=0.3)
    rng = np.random.default_rng(13)
    x = [rng.normal(size=(20, 5, 3)).astype(np.float32) for _ in range(2)]
    y = rng.integers(0, 2, (20, 1)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), kpredict(km, x), rtol=1e-5, atol=1e-5)
    with quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                   loss="binary_crossentropy", metrics=["accuracy"])
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        kw = km.get_weights()
    model.compile(optimizer=Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(h.history["accuracy"], kh.history["accuracy"], rtol=1e-4)
    for i, (a, b) in enumerate(zip(model.get_weights(), kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
        assert np.abs(a - w0[i]).max() > 1e-3, f"weight {i} did not move"


def test_multi_output_list_metrics_and_sample_weights_match_keras():
    """Outputs as a list, a loss, a metric and a sample weight per output: evaluate's
    per-output losses and metrics (return_dict) and the fit history match Keras'."""
    def build(lib):
        Lx = KL if lib is keras else L
        inp = lib.Input(shape=(T_IN, 3))
        h = Lx.LSTM(4)(inp)
        return lib.Model(inp, [Lx.Dense(1, name="r")(h),
                               Lx.Dense(3, activation="softmax", name="c")(h)])

    with quiet():
        keras.utils.set_random_seed(0)
        km = build(keras)
    model = build(lstmcore)
    copy_weights(km, model, scale=0.3)
    rng = np.random.default_rng(14)
    x = rng.normal(size=(20, T_IN, 3)).astype(np.float32)
    y = [rng.normal(size=(20, 1)).astype(np.float32),
         np.eye(3, dtype=np.float32)[rng.integers(0, 3, 20)]]
    sw = np.linspace(0.1, 2.0, 20).astype(np.float32)
    args = dict(loss=["mse", "categorical_crossentropy"], metrics=[["mae"], ["accuracy"]],
                loss_weights=[0.5, 1.5])
    with quiet():
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), **args)
        kev = km.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
        kev_w = km.evaluate(x, y, batch_size=8, verbose=0, return_dict=True,
                            sample_weight=[sw, sw[::-1].copy()])
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model.compile(optimizer=Adam(learning_rate=0.01), **args)
    for got, want in ((model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True), kev),
                      (model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True,
                                      sample_weight=[sw, sw[::-1].copy()]), kev_w)):
        assert set(got) == set(want) == {"loss", "r_loss", "c_loss", "r_mae", "c_accuracy"}
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, err_msg=k)
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert set(h.history) == set(kh.history)
    for k in kh.history:
        np.testing.assert_allclose(h.history[k], kh.history[k], rtol=1e-4, atol=1e-6, err_msg=k)


def _masked_merge(lib, merge, second_masked):
    Lx = KL if lib is keras else L
    a = lib.Input(shape=(4,))
    seq_a = Lx.Embedding(9, 4, mask_zero=True)(a)
    if second_masked:
        b = lib.Input(shape=(4,))
        seq_b = Lx.Embedding(9, 4, mask_zero=True)(b)
    else:
        b = lib.Input(shape=(4, 4))
        seq_b = b
    return lib.Model([a, b], Lx.LSTM(3)(getattr(Lx, merge)()([seq_a, seq_b])))


@pytest.mark.parametrize("merge", ["Concatenate", "Add"])
def test_merged_masks_match_keras_when_inputs_agree(merge):
    """Two masked sequences with the same mask: the merged mask is that mask."""
    with quiet():
        keras.utils.set_random_seed(0)
        km = _masked_merge(keras, merge, True)
    model = _masked_merge(lstmcore, merge, True)
    copy_weights(km, model)
    a = np.array([[0, 0, 1, 2], [3, 4, 5, 6], [0, 7, 8, 0]], np.float32)
    b = np.array([[0, 0, 3, 1], [1, 2, 8, 6], [0, 5, 2, 0]], np.float32)
    np.testing.assert_allclose(model.predict([a, b]), kpredict(km, [a, b]), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("merge, second_masked", [("Concatenate", True), ("Add", True),
                                                  ("Concatenate", False), ("Add", False)])
def test_merged_masks_match_keras_when_inputs_differ(merge, second_masked):
    """Keras 3 merges masks with OR (Add/Multiply/Average: no mask when an input has none;
    Concatenate on features: an unmasked input counts as all ones)."""
    with quiet():
        keras.utils.set_random_seed(0)
        km = _masked_merge(keras, merge, second_masked)
    model = _masked_merge(lstmcore, merge, second_masked)
    copy_weights(km, model)
    a = np.array([[0, 0, 1, 2], [3, 4, 5, 6], [0, 7, 8, 0]], np.float32)
    b = (np.array([[1, 2, 0, 0], [0, 0, 0, 0], [5, 0, 6, 0]], np.float32) if second_masked
         else rand((3, 4, 4), 5))
    np.testing.assert_allclose(model.predict([a, b]), kpredict(km, [a, b]), rtol=1e-5,
                               atol=1e-5)
