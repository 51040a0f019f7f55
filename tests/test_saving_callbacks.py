"""Saving and loading (round trips, damaged files, atomic writes) and callbacks (History,
EarlyStopping, LambdaCallback, Callback subclasses, stop_training, divergence,
ModelCheckpoint, plot_history).
"""

import copy
import io
import json
import os
import pickle
import warnings
import zipfile

import lstmcore
import numpy as np
import pytest
from lstmcore.callbacks import (
    Callback,
    EarlyStopping,
    History,
    LambdaCallback,
    ModelCheckpoint,
    TerminateOnNaN,
)
from lstmcore.layers import LSTM, Bidirectional, Dense, Dropout, RepeatVector, TimeDistributed
from lstmcore.models import Sequential, load_model
from lstmcore.optimizers import SGD, Adam, RMSprop

T, F = 5, 2


def _rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


X, Y = _rand((24, T, F), 1), _rand((24, 1), 2)


def _trained(optimizer=None, metrics=("mae",)):
    model = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    model.compile(optimizer=optimizer or Adam(0.01), loss="mse", metrics=list(metrics))
    model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model


def _assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.dtype == v.dtype == np.float32
        np.testing.assert_array_equal(u, v)


def _no_temp_files(folder):
    return [n for n in os.listdir(folder) if n.endswith(".tmp") or n.startswith(".lstmcore-")]


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opt", [lambda: SGD(0.05, momentum=0.9, nesterov=True),
                                 lambda: Adam(0.01), lambda: RMSprop(0.01)],
                         ids=["sgd", "adam", "rmsprop"])
def test_save_load_round_trip_continues_training_identically(tmp_path, opt):
    model = _trained(opt())
    path = tmp_path / "model.lstmcore"
    model.save(path)
    assert _no_temp_files(tmp_path) == []
    loaded = load_model(path)
    assert isinstance(loaded, Sequential)
    _assert_same_weights(model, loaded)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.loss == model.loss == "mean_squared_error"
    assert loaded.metrics_names == ["loss", "mae"]
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    # training continued after loading equals training continued without it (the optimizer's
    # slots and step count were saved): bit-identical, same native code on the same values
    h1 = model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    h2 = loaded.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert h1.history == h2.history
    _assert_same_weights(model, loaded)


def test_fresh_optimizer_state_would_differ(tmp_path):
    """Control for the test above: a model with the same weights but a fresh Adam state
    trains differently, so that test does observe the saved optimizer state."""
    model = _trained(Adam(0.01))
    fresh = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    fresh.set_weights(model.get_weights())
    fresh.compile(optimizer=Adam(0.01), loss="mse", metrics=["mae"])
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    fresh.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert not np.array_equal(model.get_weights()[0], fresh.get_weights()[0])


def test_load_without_compile_and_uncompiled_save(tmp_path):
    model = _trained()
    model.save(tmp_path / "m")
    plain = load_model(tmp_path / "m", compile=False)
    np.testing.assert_array_equal(plain.predict(X), model.predict(X))
    with pytest.raises(RuntimeError, match=r"compile\(\)"):
        plain.fit(X, Y, verbose=0)
    raw = Sequential([LSTM(3, input_shape=(T, F)), Dense(2)])
    raw.save(str(tmp_path / "raw"))  # a str path works too
    back = load_model(str(tmp_path / "raw"))
    np.testing.assert_array_equal(back.predict(X), raw.predict(X))


@pytest.mark.parametrize("make", [
    lambda: [LSTM(4, input_shape=(T, F), return_sequences=True, recurrent_activation="hard_sigmoid"),
             Dropout(0.2), LSTM(3, go_backwards=True), Dense(2, activation="softmax")],
    lambda: [Bidirectional(LSTM(3, return_sequences=True), merge_mode="sum", input_shape=(None, F)),
             TimeDistributed(Dense(2))],
    lambda: [LSTM(4, input_shape=(T, F)), RepeatVector(3), LSTM(2, return_sequences=True),
             TimeDistributed(Dense(3, activation="softmax"))],
    lambda: [LSTM(3, stateful=True, batch_input_shape=(4, T, F)), Dense(1)],
], ids=["stacked", "bidirectional", "encoder_decoder", "stateful"])
def test_architectures_round_trip(tmp_path, make):
    model = Sequential(make())
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    x = _rand((8, T, F), 3)
    expected = model.predict(x)
    model.reset_states()
    model.save(tmp_path / "m.lstmcore")
    loaded = load_model(tmp_path / "m.lstmcore")
    assert loaded.get_config() == model.get_config()
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    _assert_same_weights(model, loaded)
    np.testing.assert_array_equal(loaded.predict(x), expected)


def test_save_weights_load_weights(tmp_path):
    model = _trained()
    model.save_weights(tmp_path / "w.lstmcore")
    other = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    assert not np.array_equal(other.predict(X), model.predict(X))
    other.load_weights(tmp_path / "w.lstmcore")
    _assert_same_weights(model, other)
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    assert _no_temp_files(tmp_path) == []
    # into a model of another shape: a ValueError naming the mismatch, nothing changed
    wrong = Sequential([LSTM(5, input_shape=(T, F)), Dense(1)])
    before = wrong.get_weights()
    with pytest.raises(ValueError, match=r"does not fit this model.*must have shape \(2, 20\); "
                                         r"received shape \(2, 16\)"):
        wrong.load_weights(tmp_path / "w.lstmcore")
    for a, b in zip(before, wrong.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_get_config_from_config():
    model = Sequential([LSTM(4, input_shape=(T, F), return_sequences=True, dropout=0.1),
                        LSTM(3, recurrent_activation="hard_sigmoid"), Dense(2, activation="tanh")])
    config = model.get_config()
    json.dumps(config)  # plain values only
    clone = Sequential.from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()
    assert [type(l).__name__ for l in clone.layers] == ["LSTM", "LSTM", "Dense"]
    assert clone.layers[0].return_sequences and clone.layers[0].dropout == 0.1
    assert clone.layers[1].recurrent_activation == "hard_sigmoid"
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))


def test_pickle_and_deepcopy_are_independent_copies():
    model = _trained()
    for dup in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        _assert_same_weights(model, dup)
        np.testing.assert_array_equal(dup.predict(X), model.predict(X))
        assert dup.optimizer.iterations == model.optimizer.iterations
        before = model.get_weights()
        dup.fit(X, Y, epochs=1, verbose=0)  # compiled, and training the copy ...
        for a, b in zip(before, model.get_weights()):  # ... leaves the original alone
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(dup.get_weights()[0], before[0])


# ---------------------------------------------------------------------------------------------
# Damaged and foreign files
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    model = _trained()
    path = tmp_path / "good.lstmcore"
    model.save(path)
    return path


def _rewrite(src, dst, change):
    """Copy the zip at src to dst after change(meta, files) edits the JSON dict / raw files."""
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(files["lstmcore.json"])
    change(meta, files)
    if meta is not None:
        files["lstmcore.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return dst


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def test_truncated_file(saved, tmp_path):
    data = saved.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"is not an lstmcore model file \(not a valid zip "
                                             r"archive|is damaged"):
            load_model(bad)


def test_random_bytes(tmp_path):
    bad = tmp_path / "noise.lstmcore"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"noise\.lstmcore.*is not an lstmcore model file"):
        load_model(bad)
    with pytest.raises(ValueError, match=r"is not an lstmcore model file"):
        Sequential([LSTM(4, input_shape=(T, F)), Dense(1)]).load_weights(bad)


def test_zip_without_lstmcore_json(tmp_path):
    bad = tmp_path / "foreign.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("model.json", "{}")
    with pytest.raises(ValueError, match=r"is not an lstmcore model file: it has no lstmcore\.json"):
        load_model(bad)


def test_invalid_json_and_wrong_format_tag(saved, tmp_path):
    bad = tmp_path / "notjson"
    with zipfile.ZipFile(saved) as z:
        files = {n: z.read(n) for n in z.namelist()}
    files["lstmcore.json"] = b"{not json"
    with zipfile.ZipFile(bad, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    with pytest.raises(ValueError, match=r"is damaged: lstmcore\.json is not valid JSON"):
        load_model(bad)

    def retag(meta, files):
        meta["format"] = "keras"
    with pytest.raises(ValueError, match=r"format tag missing"):
        load_model(_rewrite(saved, tmp_path / "retag", retag))


def test_tampered_array_fails_its_checksum(saved, tmp_path):
    def tamper(meta, files):
        raw = bytearray(files["weights/0001.npy"])
        raw[-1] ^= 0x40  # flip one bit of the last float
        files["weights/0001.npy"] = bytes(raw)
    with pytest.raises(ValueError, match=r"is damaged: weights/0001\.npy does not match its checksum"):
        load_model(_rewrite(saved, tmp_path / "t", tamper))

    def tamper_slot(meta, files):
        raw = bytearray(files["optimizer/0000.npy"])
        raw[-2] ^= 0x01
        files["optimizer/0000.npy"] = bytes(raw)
    with pytest.raises(ValueError, match=r"optimizer/0000\.npy does not match its checksum"):
        load_model(_rewrite(saved, tmp_path / "ts", tamper_slot))


def test_wrong_version(saved, tmp_path):
    def bump(meta, files):
        meta["version"] = 99
    with pytest.raises(ValueError, match=r"has format version 99; this lstmcore reads version 1"):
        load_model(_rewrite(saved, tmp_path / "v", bump))


def test_wrong_shapes(saved, tmp_path):
    import hashlib

    def reshape(meta, files):  # a consistent file whose kernel does not fit the architecture
        data = _npy(np.zeros((3, 16), np.float32))
        files["weights/0000.npy"] = data
        meta["weights"][0].update(shape=[3, 16], sha256=hashlib.sha256(data).hexdigest())
    with pytest.raises(ValueError, match=r"does not match its architecture.*must have shape "
                                         r"\(2, 16\); received shape \(3, 16\)"):
        load_model(_rewrite(saved, tmp_path / "s", reshape))

    def lie(meta, files):  # the JSON's shape disagrees with the array
        meta["weights"][2]["shape"] = [99]
    with pytest.raises(ValueError, match=r"weights/0002\.npy has dtype float32 and shape \(16,\); "
                                         r"expected float32 \(99,\)"):
        load_model(_rewrite(saved, tmp_path / "l", lie))

    def f64(meta, files):
        data = _npy(np.zeros((2, 16), np.float64))
        files["weights/0000.npy"] = data
        meta["weights"][0]["sha256"] = hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError, match=r"has dtype float64"):
        load_model(_rewrite(saved, tmp_path / "d", f64))

    def drop(meta, files):
        meta["weights"] = meta["weights"][:-1]
    with pytest.raises(ValueError, match=r"does not match its architecture.*expects 5 weight arrays"):
        load_model(_rewrite(saved, tmp_path / "n", drop))

    def missing(meta, files):
        del files["weights/0003.npy"]
    with pytest.raises(ValueError, match=r"is damaged: array entry .*weights/0003\.npy.* is missing"):
        load_model(_rewrite(saved, tmp_path / "m", missing))


def test_invalid_architecture(saved, tmp_path):
    def unknown(meta, files):
        meta["model"]["layers"][0]["class_name"] = "Lambda"
    with pytest.raises(ValueError, match=r"invalid model architecture: unknown layer class 'Lambda'"):
        load_model(_rewrite(saved, tmp_path / "u", unknown))

    def negative(meta, files):
        meta["model"]["layers"][0]["config"]["units"] = -1
    with pytest.raises(ValueError, match=r"invalid model architecture: `LSTM` expects `units`"):
        load_model(_rewrite(saved, tmp_path / "n", negative))

    def no_layers(meta, files):
        meta["model"] = 5
    with pytest.raises(ValueError, match=r"invalid model architecture"):
        load_model(_rewrite(saved, tmp_path / "x", no_layers))


def test_architecture_far_larger_than_its_weights(saved, tmp_path):
    """A damaged config asking for 10**12 units must be refused with a ValueError, not by
    trying to allocate terabytes (MemoryError) while building the layer."""
    def huge(meta, files):
        meta["model"]["layers"][0]["config"]["units"] = 10**12
    with pytest.raises(ValueError, match=r"invalid model architecture: .*units=1000000000000"):
        load_model(_rewrite(saved, tmp_path / "h", huge))


def test_invalid_compile_settings(saved, tmp_path):
    def bad_loss(meta, files):
        meta["compile"]["loss"] = "nope"
    with pytest.raises(ValueError, match=r"holds invalid compile settings: unknown loss 'nope'"):
        load_model(_rewrite(saved, tmp_path / "c", bad_loss))

    def slots(meta, files):
        meta["slots"] = meta["slots"][:-1]
    with pytest.raises(ValueError, match=r"its optimizer state does not match the model"):
        load_model(_rewrite(saved, tmp_path / "s", slots))

    def no_optimizer(meta, files):
        meta["optimizer"] = None
    with pytest.raises(ValueError, match=r"invalid compile settings|optimizer"):
        load_model(_rewrite(saved, tmp_path / "o", no_optimizer))


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.lstmcore")


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------
def test_overwrite_is_atomic_and_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    model = _trained()
    path = tmp_path / "m.lstmcore"
    model.save(path)
    good = path.read_bytes()
    model.fit(X, Y, epochs=1, verbose=0)

    def boom(fd):
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match=r"disk full"):
        model.save(path)
    with pytest.raises(OSError, match=r"disk full"):
        model.save_weights(tmp_path / "w.lstmcore")
    monkeypatch.undo()
    assert path.read_bytes() == good  # the old file is intact
    assert not (tmp_path / "w.lstmcore").exists()
    assert _no_temp_files(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["m.lstmcore"]
    # a successful overwrite replaces it
    model.save(path)
    assert path.read_bytes() != good
    np.testing.assert_array_equal(load_model(path).predict(X), model.predict(X))
    assert sorted(os.listdir(tmp_path)) == ["m.lstmcore"]


def test_saving_onto_a_directory_fails_cleanly(tmp_path):
    target = tmp_path / "adir"
    target.mkdir()
    with pytest.raises(OSError):
        _trained().save(target)
    assert _no_temp_files(tmp_path) == []
    assert target.is_dir() and os.listdir(target) == []


# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------
def test_history_is_returned_and_kept_on_the_model():
    model = _trained()
    h = model.fit(X, Y, batch_size=8, epochs=3, verbose=0)
    assert isinstance(h, History) and model.history is h
    assert h.epoch == [0, 1, 2] and list(h.history) == ["loss", "mae"]
    assert h.params["epochs"] == 3 and h.params["steps"] == 3 and h.params["samples"] == 24


def test_lambda_callback_hook_counts():
    calls = {k: [] for k in ("train_begin", "train_end", "epoch_begin", "epoch_end",
                             "batch_begin", "batch_end")}
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls["train_begin"].append(1),
        on_train_end=lambda logs: calls["train_end"].append(1),
        on_epoch_begin=lambda epoch, logs: calls["epoch_begin"].append(epoch),
        on_epoch_end=lambda epoch, logs: calls["epoch_end"].append((epoch, dict(logs))),
        on_train_batch_begin=lambda batch, logs: calls["batch_begin"].append(batch),
        on_train_batch_end=lambda batch, logs: calls["batch_end"].append((batch, logs["loss"])))
    model = _trained()
    h = model.fit(X[:22], Y[:22], batch_size=8, epochs=4, verbose=0, callbacks=[cb])  # 3 steps
    assert len(calls["train_begin"]) == len(calls["train_end"]) == 1
    assert calls["epoch_begin"] == [0, 1, 2, 3]
    assert [e for e, _ in calls["epoch_end"]] == [0, 1, 2, 3]
    assert [logs["loss"] for _, logs in calls["epoch_end"]] == h.history["loss"]
    assert calls["batch_begin"] == [0, 1, 2] * 4
    assert [b for b, _ in calls["batch_end"]] == [0, 1, 2] * 4
    assert all(np.isfinite(v) for _, v in calls["batch_end"])
    # the epoch loss is the size-weighted mean of its batch losses (8, 8, 6 samples)
    for e in range(4):
        b = [v for _, v in calls["batch_end"][3 * e:3 * e + 3]]
        assert h.history["loss"][e] == pytest.approx((8 * b[0] + 8 * b[1] + 6 * b[2]) / 22, rel=1e-6)


def test_callback_subclass_on_batch_end_sees_every_batch():
    class Recorder(Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.weights = [], []

        def on_batch_end(self, batch, logs=None):  # the Keras 2 name
            self.batches.append(batch)
            self.weights.append(self.model.get_weights()[0].copy())

    rec = Recorder()
    model = _trained(SGD(0.01))
    it0 = model.optimizer.iterations
    model.fit(X, Y, batch_size=5, epochs=2, verbose=0, callbacks=[rec])  # 5 steps
    assert rec.batches == [0, 1, 2, 3, 4] * 2
    assert rec.params["steps"] == 5 and rec.model is model
    assert model.optimizer.iterations - it0 == 10
    # each batch is seen after its own update: the recorded weights all differ
    assert all(not np.array_equal(a, b) for a, b in zip(rec.weights, rec.weights[1:]))
    np.testing.assert_array_equal(rec.weights[-1], model.get_weights()[0])


def test_stop_training_from_a_callback():
    class StopAt(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.model.stop_training = True

    model = _trained()
    h = model.fit(X, Y, batch_size=8, epochs=10, verbose=0, callbacks=[StopAt()])
    assert h.epoch == [0, 1, 2] and len(h.history["loss"]) == 3

    class StopAtBatch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    it0 = model.optimizer.iterations
    h = model.fit(X, Y, batch_size=8, epochs=10, verbose=0, callbacks=[StopAtBatch()])
    assert h.epoch == [0]
    assert model.optimizer.iterations - it0 == 2  # stopped after the second batch


def _early_stopping_run(patience, min_delta=0.0):
    """Train towards y = 1 while validating against y = 0.5: the outputs start near 0 and move
    up steadily, so val_loss falls, bottoms out and rises again."""
    x = _rand((32, T, F), 5)
    model = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    model.compile(optimizer=SGD(0.02), loss="mse")
    snapshots = []
    keep = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    es = EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta,
                       restore_best_weights=True)
    h = model.fit(x, np.ones((32, 1)), batch_size=32, epochs=60, shuffle=False, verbose=0,
                  validation_data=(x, np.full((32, 1), 0.5)), callbacks=[keep, es])
    return model, es, h, snapshots


@pytest.mark.parametrize("patience", [1, 3])
def test_early_stopping_stops_at_the_right_epoch_and_restores_the_best(patience):
    model, es, h, snapshots = _early_stopping_run(patience)
    val = h.history["val_loss"]
    best = int(np.argmin(val))
    assert 0 < best < len(val) - 1, "the trajectory must fall then rise"
    assert all(a > b for a, b in zip(val[:best], val[1:best + 1]))  # falls to the best
    # Keras: stop at the first epoch `patience` epochs after the last improvement
    expected_stop = best + patience
    assert es.stopped_epoch == expected_stop
    assert h.epoch == list(range(expected_stop + 1))
    assert es.best == val[best] and es.best_epoch == best
    # the weights are those at the end of the best epoch, not of the last one
    for a, b in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(snapshots[-1][0], snapshots[best][0])


def test_early_stopping_warns_for_a_missing_monitor():
    model = _trained()
    with pytest.warns(UserWarning, match=r"EarlyStopping is conditioned on `val_loss`, which is "
                                         r"not available\. Available: loss, mae"):
        h = model.fit(X, Y, epochs=2, verbose=0, callbacks=[EarlyStopping(patience=0)])
    assert len(h.epoch) == 2


def _diverging_model():
    x = _rand((64, T, F), 8)
    y = _rand((64, 1), 9) * 10
    model = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    model.compile(optimizer=SGD(learning_rate=1e3), loss="mse")
    return model, x, y


@pytest.mark.parametrize("per_batch_callback", [False, True])
def test_divergence_warns_with_epoch_and_batch_and_keeps_finite_weights(per_batch_callback):
    model, x, y = _diverging_model()
    seen = []
    cbs = [TerminateOnNaN()]
    if per_batch_callback:
        cbs.append(LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(
            (b, logs["loss"], model.get_weights()))))
    with pytest.warns(RuntimeWarning, match=r"the loss became (nan|inf|-inf) at epoch 1, batch "
                                            r"\d+: training stopped before that batch's update") as rec:
        h = model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=cbs)
    assert len(rec) == 1
    assert h.epoch == [0]  # stopped in the first epoch
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights), "the weights became non-finite"
    assert np.isfinite(model.predict(x)).all()
    if per_batch_callback:
        batch = int(str(rec[0].message).split("batch ")[1].split(":")[0])
        # every batch reported to the callbacks had a finite loss and came before the bad one
        assert [b for b, _, _ in seen] == list(range(batch - 1))
        assert all(np.isfinite(v) for _, v, _ in seen)
        for a, b in zip(weights, seen[-1][2]):  # the weights after the last good batch
            np.testing.assert_array_equal(a, b)


def test_model_checkpoint_save_best_only(tmp_path):
    x = _rand((32, T, F), 5)
    model = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    model.compile(optimizer=SGD(0.02), loss="mse")
    pattern = str(tmp_path / "ckpt-{epoch:02d}.lstmcore")
    ck = ModelCheckpoint(pattern, monitor="val_loss", save_best_only=True)
    snapshots = []
    keep = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    h = model.fit(x, np.ones((32, 1)), batch_size=32, epochs=25, shuffle=False, verbose=0,
                  validation_data=(x, np.full((32, 1), 0.5)), callbacks=[keep, ck])
    val = h.history["val_loss"]
    improved = [e for e in range(len(val)) if val[e] < min(val[:e], default=np.inf)]
    assert 1 < len(improved) < len(val)  # some epochs improve, some do not
    written = sorted(os.listdir(tmp_path))
    assert written == [f"ckpt-{e + 1:02d}.lstmcore" for e in improved]
    best = improved[-1]
    loaded = load_model(tmp_path / f"ckpt-{best + 1:02d}.lstmcore")
    for a, b in zip(loaded.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(a, b)

    # every epoch, weights only
    sub = tmp_path / "all"
    sub.mkdir()
    ck2 = ModelCheckpoint(str(sub / "w{epoch}.lstmcore"), save_weights_only=True)
    model.fit(x, np.ones((32, 1)), epochs=3, verbose=0, callbacks=[ck2])
    assert sorted(os.listdir(sub)) == ["w1.lstmcore", "w2.lstmcore", "w3.lstmcore"]
    other = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    other.load_weights(sub / "w3.lstmcore")
    _assert_same_weights(model, other)


def test_callbacks_must_be_callback_instances():
    model = _trained()
    with pytest.raises(ValueError, match=r"`callbacks` must be lstmcore\.callbacks\.Callback"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[lambda: None])


def test_plot_history_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    model = _trained()
    h = model.fit(X, Y, epochs=3, verbose=0, validation_split=0.25)
    path = tmp_path / "history.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # matplotlib's own
        fig = lstmcore.plot_history(h, path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 2  # loss and mae, each with its validation curve
    import matplotlib.pyplot as plt
    plt.close(fig)
