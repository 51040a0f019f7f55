"""Learning-rate changes during training and the Keras callbacks built on them:
ReduceLROnPlateau, LearningRateScheduler, CSVLogger. tests/test_keras_utils.py runs the same
callbacks of Keras side by side."""

import csv
import warnings

import numpy as np
import pytest
from lstmcore.callbacks import Callback, CSVLogger, LearningRateScheduler, ReduceLROnPlateau
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD, Adam, RMSprop

RNG = np.random.default_rng(11)
X = RNG.normal(size=(16, 4, 2)).astype(np.float32)
Y = RNG.normal(size=(16, 1)).astype(np.float32)


def _model(opt, seed=0):
    import lstmcore
    lstmcore.set_seed(seed)
    m = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)])
    m.compile(optimizer=opt, loss="mse")
    return m


def _same(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


# ---- learning rate reaches the native optimizer, keeping its state ---------------------------
@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: RMSprop(0.01),
                                  lambda: SGD(0.05, momentum=0.9)])
def test_lr_set_between_fits_equals_lr_set_by_a_scheduler(make):
    a = _model(make())
    a.fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    slots = a.optimizer.get_weights()
    a.optimizer.learning_rate = 0.002
    for s, t in zip(slots, a.optimizer.get_weights()):  # slots and iterations kept
        np.testing.assert_array_equal(s, t)
    a.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)

    b = _model(make())
    sched = LearningRateScheduler(lambda epoch, lr: 0.002 if epoch == 2 else lr)
    h = b.fit(X, Y, epochs=3, batch_size=4, shuffle=False, verbose=0, callbacks=[sched])
    _same(a, b)
    assert b.optimizer.iterations == a.optimizer.iterations == 12
    assert h.history["learning_rate"] == pytest.approx([0.01 if "SGD" not in
                                                        type(b.optimizer).__name__ else 0.05] * 2
                                                       + [0.002])

    c = _model(make())  # the rate change is real: without it the weights differ
    c.fit(X, Y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    assert any((wc != wb).any() for wc, wb in zip(c.get_weights(), b.get_weights()))


def test_lr_change_inside_an_epoch_applies_from_the_next_batch():
    class SetAfterFirstBatch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                self.model.optimizer.lr = 0.001  # Keras 2's name

    a = _model(Adam(0.01))
    a.fit(X[:4], Y[:4], epochs=1, batch_size=4, shuffle=False, verbose=0)
    a.optimizer.learning_rate = 0.001
    a.fit(X[4:], Y[4:], epochs=1, batch_size=4, shuffle=False, verbose=0)
    b = _model(Adam(0.01))
    b.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0, callbacks=[SetAfterFirstBatch()])
    _same(a, b)


def test_learning_rate_and_lr_are_one_value_and_checked():
    opt = Adam(0.01)
    m = _model(opt)
    assert opt.lr == opt.learning_rate == 0.01
    opt.lr = 0.5
    assert opt.learning_rate == 0.5
    for bad in (0.0, -1.0, float("nan"), 1e39, "fast"):
        with pytest.raises(ValueError, match=r"`Adam` expects `learning_rate`"):
            opt.learning_rate = bad
        with pytest.raises(ValueError, match=r"`Adam` expects `lr`"):
            opt.lr = bad
    assert opt.learning_rate == 0.5  # a refused value changes nothing
    m.fit(X, Y, epochs=1, verbose=0)
    assert opt.get_config()["learning_rate"] == 0.5


def test_an_optimizer_replaced_by_recompiling_no_longer_drives_the_model():
    old = Adam(0.01)
    a = _model(old)
    a.compile(optimizer=Adam(0.01), loss="mse")
    a.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    old.learning_rate = 5.0
    a.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    b = _model(Adam(0.01))
    b.fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    _same(a, b)


# ---- ReduceLROnPlateau --------------------------------------------------------------------------
class _Holder:
    def __init__(self, lr):
        self.optimizer = SGD(lr)


def _plateau(values, **kwargs):
    cb = ReduceLROnPlateau(**kwargs)
    cb.set_model(_Holder(1.0))
    cb.on_train_begin()
    lrs = []
    for epoch, v in enumerate(values):
        logs = {"val_loss": v, "val_accuracy": v}
        cb.on_epoch_end(epoch, logs)
        assert logs["learning_rate"] == pytest.approx(lrs[-1] if lrs else 1.0)
        lrs.append(cb.model.optimizer.learning_rate)
    return lrs


def test_reduce_lr_on_plateau_patience_factor_min_lr():
    lrs = _plateau([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5], patience=2, factor=0.5)
    assert lrs == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125])
    lrs = _plateau([1.0] * 6, patience=1, factor=0.1, min_lr=0.05)
    assert lrs == pytest.approx([1, 0.1, 0.05, 0.05, 0.05, 0.05])


def test_reduce_lr_on_plateau_min_delta_cooldown_and_mode():
    # improvements smaller than min_delta do not count
    assert _plateau([1.0, 0.99, 0.98], patience=2, factor=0.5, min_delta=0.05) == \
        pytest.approx([1, 1, 0.5])
    # cooldown: the counter runs down over the next epochs, waiting resumes when it is out
    assert _plateau([1.0] * 7, patience=1, factor=0.5, cooldown=2) == \
        pytest.approx([1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125])
    # 'auto' maximises an accuracy: a rising value is an improvement
    assert _plateau([0.1, 0.2, 0.3, 0.4], monitor="val_accuracy", patience=1, factor=0.5) == \
        pytest.approx([1, 1, 1, 1])
    assert _plateau([0.1, 0.2, 0.3], monitor="val_accuracy", mode="min", patience=1,
                    factor=0.5) == pytest.approx([1, 0.5, 0.25])
    # Keras 2's epsilon= is min_delta
    assert ReduceLROnPlateau(epsilon=0.3).min_delta == 0.3


def test_reduce_lr_on_plateau_in_fit_and_missing_monitor():
    m = _model(Adam(0.01))
    h = m.fit(X, Y, epochs=4, verbose=0, validation_data=(X, Y),
              callbacks=[ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5,
                                           min_delta=10.0)])
    # the logged rate is the one the epoch trained with (logged before a reduction)
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025])
    assert m.optimizer.learning_rate == pytest.approx(0.00125)
    with pytest.warns(UserWarning, match=r"conditioned on metric `val_loss` which is not "
                                         r"available"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[ReduceLROnPlateau()])


@pytest.mark.parametrize("kwargs, msg", [
    ({"factor": 1.0}, r"`factor` in \(0, 1\)"), ({"factor": 0.0}, r"`factor` in \(0, 1\)"),
    ({"patience": -1}, r"`patience` to be a non-negative integer"),
    ({"cooldown": 1.5}, r"`cooldown` to be a non-negative integer"),
    ({"min_lr": -1.0}, r"`min_lr` >= 0"), ({"mode": "up"}, r"`mode` must be 'auto', 'min' or"),
])
def test_reduce_lr_on_plateau_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        ReduceLROnPlateau(**kwargs)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\): patiense"):
        ReduceLROnPlateau(patiense=3)


# ---- LearningRateScheduler ----------------------------------------------------------------------
def test_scheduler_forms_and_verbose(capsys):
    m = _model(SGD(0.1))
    h = m.fit(X, Y, epochs=3, verbose=0, callbacks=[
        LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1), verbose=1)])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.05." in capsys.readouterr().out
    h = m.fit(X, Y, epochs=2, verbose=0,
              callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert h.history["learning_rate"] == pytest.approx([0.1 / 6, 0.1 / 12])


def test_scheduler_must_return_a_float():
    m = _model(SGD(0.1))
    with pytest.raises(ValueError, match=r"The output of the `schedule` function should be a "
                                         r"float. Got: 1"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e: 1)])
    with pytest.raises(ValueError, match=r"`LearningRateScheduler` expects a function"):
        LearningRateScheduler(0.1)
    with pytest.raises(ValueError, match=r"`SGD` expects `learning_rate`"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e: -1.0)])
    assert m.optimizer.learning_rate == 0.1


# ---- CSVLogger ----------------------------------------------------------------------------------
def _rows(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_rows_match_history(tmp_path):
    path = tmp_path / "log.csv"
    m = _model(Adam(0.01))
    m.compile(optimizer="adam", loss="mse", metrics=["mae"])
    h = m.fit(X, Y, epochs=3, verbose=0, validation_split=0.25, callbacks=[CSVLogger(path)])
    rows = _rows(path)
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert len(rows) == 4 and path.read_bytes().count(b"\r\n") == 4  # Keras' csv.excel rows
    for epoch, row in enumerate(rows[1:]):
        assert int(row[0]) == epoch
        for key, value in zip(rows[0][1:], row[1:]):
            assert float(value) == h.history[key][epoch]


def test_csv_logger_without_validation_append_and_separator(tmp_path):
    path = tmp_path / "log.tsv"
    m = _model(Adam(0.01))
    m.fit(X, Y, epochs=2, verbose=0, callbacks=[CSVLogger(path, separator="\t")])
    rows = _rows(path, "\t")
    assert rows[0] == ["epoch", "loss", "val_loss"] and [r[2] for r in rows[1:]] == ["NA", "NA"]
    m.fit(X, Y, epochs=2, verbose=0, callbacks=[CSVLogger(path, separator="\t", append=True)])
    rows = _rows(path, "\t")
    assert len(rows) == 5 and rows.count(rows[0]) == 1  # one header
    m.fit(X, Y, epochs=1, verbose=0, callbacks=[CSVLogger(path, separator="\t")])
    assert len(_rows(path, "\t")) == 2  # overwritten
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[CSVLogger(tmp_path / "new.csv", append=True)])
    assert _rows(tmp_path / "new.csv")[0] == ["epoch", "loss", "val_loss"]


def test_csv_logger_with_a_scheduler_logs_the_rate(tmp_path):
    path = tmp_path / "log.csv"
    m = _model(SGD(0.1))
    m.fit(X, Y, epochs=2, verbose=0,
          callbacks=[LearningRateScheduler(lambda e: 0.1 * 0.5 ** e), CSVLogger(path)])
    rows = _rows(path)
    assert rows[0] == ["epoch", "learning_rate", "loss", "val_learning_rate", "val_loss"]
    assert [float(r[1]) for r in rows[1:]] == pytest.approx([0.1, 0.05])


def test_native_set_learning_rate_refuses_bad_values_and_keeps_the_rate():
    a = _model(SGD(0.05))
    net = a._native()
    for bad in (0.0, -0.1, float("inf"), float("nan"), 1e39):
        with pytest.raises(ValueError, match=r"the learning rate must be positive and finite in "
                                             r"float32"):
            net.set_learning_rate(bad)
    a.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    b = _model(SGD(0.05))
    b.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    _same(a, b)


def test_set_learning_rate_equals_a_configured_rate_bit_for_bit():
    """Plain SGD keeps no state: a rate set mid-run must train exactly as a model compiled
    with that rate from the same weights."""
    a = _model(SGD(0.05))
    a.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    b = _model(SGD(0.05))
    b.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    a.optimizer.learning_rate = 0.0123
    b.compile(optimizer=SGD(0.0123), loss="mse")
    for m in (a, b):
        m.fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    _same(a, b)
