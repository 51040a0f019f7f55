"""Out-of-core data: fit/evaluate/predict on numpy.memmap, zarr and Dask arrays, read block by
block, against the same arrays in memory (the reference: same batches, same seeds)."""

import os

import lstmcore
import numpy as np
import pytest
from lstmcore import _out_of_core
from lstmcore.callbacks import Callback
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD
from lstmcore.utils import Sequence, WindowSequence, make_windows

N, T, F = 203, 7, 3


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of two batches of 32 samples, so that every test crosses blocks."""
    monkeypatch.setattr(_out_of_core, "_BLOCK_BYTES", T * F * 4 * 32 * 2)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, F)).astype(np.float32)
    y = rng.normal(size=(N, 1)).astype(np.float32)
    return x, y


def to_memmap(tmp_path, a, name, dtype=None, mode="r"):
    path = tmp_path / f"{name}.dat"
    w = np.memmap(path, dtype=dtype or a.dtype, mode="w+", shape=a.shape)
    w[:] = a
    w.flush()
    del w
    return np.memmap(path, dtype=dtype or a.dtype, mode=mode, shape=a.shape)


def model(dropout=0.2, stateful=False, loss="mse", out=1, act=None, opt="adam"):
    lstmcore.set_seed(1)
    first = LSTM(4, batch_input_shape=(16, T, F), stateful=True) if stateful else \
        LSTM(4, input_shape=(T, F), dropout=dropout)
    m = Sequential([first, Dense(out, activation=act)])
    m.compile(opt, loss, metrics=["mae"] if loss == "mse" else ["accuracy"])
    return m


def same_weights(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


# ---- memmap: the same steps as in memory ----------------------------------------------------------
def test_memmap_fit_is_bit_identical_to_in_memory(tmp_path, data, small_blocks):
    x, y = data
    xm = to_memmap(tmp_path, x, "x", np.float64)  # float64 on disk: float32 per block
    ym = to_memmap(tmp_path, y, "y")
    kw = dict(batch_size=32, epochs=3, shuffle=False, verbose=0, seed=5, validation_split=0.2)
    a, b = model(), model()
    ha = a.fit(x, y, **kw)
    hb = b.fit(xm, ym, **kw)
    assert hb.history == ha.history  # dropout masks, batches and validation split agree
    assert hb.epoch == [0, 1, 2]
    assert same_weights(a, b)
    assert b.evaluate(xm, ym, verbose=0) == pytest.approx(a.evaluate(x, y, verbose=0),
                                                          rel=1e-12)
    np.testing.assert_array_equal(b.predict(xm, batch_size=16), a.predict(x, batch_size=16))


def test_memmap_validation_data_and_sample_weight(tmp_path, data, small_blocks):
    x, y = data
    w = np.random.default_rng(1).uniform(0.1, 2, size=N).astype(np.float32)
    xv, yv = x[:50] * 0.5, y[:50]
    kw = dict(batch_size=32, epochs=2, shuffle=False, verbose=0, seed=3)
    a, b = model(), model()
    ha = a.fit(x, y, sample_weight=w, validation_data=(xv, yv), **kw)
    hb = b.fit(to_memmap(tmp_path, x, "x"), y, sample_weight=to_memmap(tmp_path, w, "w"),
               validation_data=(to_memmap(tmp_path, xv, "xv"), yv), **kw)
    assert hb.history == ha.history
    assert set(ha.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert same_weights(a, b)


def test_lazy_validation_data_with_in_memory_x(tmp_path, data, small_blocks):
    x, y = data
    kw = dict(batch_size=32, epochs=2, shuffle=False, verbose=0, seed=3)
    a, b = model(), model()
    ha = a.fit(x[:150], y[:150], validation_data=(x[150:], y[150:]), **kw)
    hb = b.fit(x[:150], y[:150], validation_data=(to_memmap(tmp_path, x[150:], "xv"),
                                                  y[150:]), **kw)
    assert hb.history == ha.history


def test_sequence_input_with_memmap_validation_data(tmp_path, data):
    x, y = data
    seq = make_windows(np.arange(300.0), 7, batch_size=32)
    xs, ys = make_windows(np.arange(300.0), 7)
    m = Sequential([LSTM(3, input_shape=(7, 1)), Dense(1)])
    m.compile("adam", "mse")
    h = m.fit(seq, epochs=1, verbose=0,
              validation_data=(to_memmap(tmp_path, xs[:40], "xv"), ys[:40]))
    assert h.history["val_loss"][0] == pytest.approx(m.evaluate(xs[:40], ys[:40], verbose=0))


def test_shuffle_sees_every_sample_once_per_epoch(tmp_path, data, small_blocks):
    """With a learning rate too small to change a float32 weight, an epoch's loss is the mean over the samples it saw: the
    block shuffle must visit each sample exactly once."""
    x, y = data
    m = model(dropout=0.0, opt=SGD(learning_rate=1e-30))
    h = m.fit(to_memmap(tmp_path, x, "x"), y, batch_size=32, epochs=2, verbose=0, seed=1)
    want = m.evaluate(x, y, batch_size=N, verbose=0)[0]
    np.testing.assert_allclose(h.history["loss"], [want, want], rtol=1e-6)


def test_shuffle_is_seeded_and_differs_from_in_order(tmp_path, data, small_blocks):
    x, y = data
    xm = to_memmap(tmp_path, x, "x")
    a, b, c = model(), model(), model()
    a.fit(xm, y, batch_size=32, epochs=2, verbose=0, seed=11)
    b.fit(xm, y, batch_size=32, epochs=2, verbose=0, seed=11)
    c.fit(xm, y, batch_size=32, epochs=2, verbose=0, seed=11, shuffle=False)
    assert same_weights(a, b)
    assert not same_weights(a, c)


def test_block_order_and_contents(monkeypatch):
    """The blocks: whole batches, covering [0, n) once, in order without shuffling."""
    monkeypatch.setattr(_out_of_core, "_BLOCK_BYTES", 4 * 10 * 3)
    rows = _out_of_core._Rows(np.zeros((95, 1)), "x")
    per = _out_of_core._block_rows(rows, 10)
    assert per == 30
    blocks = _out_of_core._blocks(95, per)
    assert blocks == [(0, 30), (30, 60), (60, 90), (90, 95)]


def test_progress_callbacks_and_history(tmp_path, data, small_blocks, capsys):
    x, y = data

    class Count(Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.epochs = [], 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches.append(batch)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs += 1

    cb = Count()
    h = model().fit(to_memmap(tmp_path, x, "x"), y, batch_size=32, epochs=2, verbose=1,
                    callbacks=[cb])
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and f"{N}/{N}" in out
    assert cb.batches == list(range(7)) * 2 and cb.epochs == 2
    assert len(h.history["loss"]) == 2 and h.params["steps"] == 7


def test_stateful_blocks_in_order(tmp_path, data, small_blocks):
    x, y = data
    x, y = x[:192], y[:192]
    a, b = model(stateful=True), model(stateful=True)
    ha = a.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, seed=2)
    hb = b.fit(to_memmap(tmp_path, x, "x"), y, epochs=2, shuffle=False, verbose=0, seed=2)
    assert hb.history == ha.history
    assert same_weights(a, b)
    pa, pb = a.predict(x), b.predict(to_memmap(tmp_path, x, "x2"))  # states carried on
    np.testing.assert_array_equal(pa, pb)
    with pytest.raises(ValueError, match="not a multiple of 16"):
        b.fit(to_memmap(tmp_path, x[:50], "x3"), y[:50], verbose=0)
    with pytest.raises(ValueError, match="batch_size=16"):
        b.predict(to_memmap(tmp_path, x, "x4"), batch_size=32)


def test_sparse_labels_and_class_weight(tmp_path, data, small_blocks):
    x, _ = data
    labels = np.random.default_rng(2).integers(0, 3, size=N).astype(np.int64)
    kw = dict(batch_size=32, epochs=2, shuffle=False, verbose=0, seed=4,
              class_weight={0: 1.0, 1: 2.0, 2: 0.5})
    a = model(loss="sparse_categorical_crossentropy", out=3, act="softmax")
    b = model(loss="sparse_categorical_crossentropy", out=3, act="softmax")
    ha = a.fit(x, labels, **kw)
    hb = b.fit(to_memmap(tmp_path, x, "x"), to_memmap(tmp_path, labels, "y"), **kw)
    assert hb.history == ha.history
    assert same_weights(a, b)


def test_copy_on_write_memmap(tmp_path, data, small_blocks):
    x, y = data
    xm = to_memmap(tmp_path, x, "x", mode="c")
    xm[0, 0, 0] = 5.0  # a private change: pages must not be dropped (it would be lost)
    m = model()
    m.fit(xm, y, batch_size=32, verbose=0)
    assert xm[0, 0, 0] == 5.0


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc")
def test_memmap_pages_are_released(tmp_path, monkeypatch):
    """After a predict over a 16 MiB memmap in 1 MiB blocks, little of it stays resident."""
    monkeypatch.setattr(_out_of_core, "_BLOCK_BYTES", 1 << 20)
    x = np.random.default_rng(0).normal(size=(4096, 64, 16)).astype(np.float32)
    xm = to_memmap(tmp_path, x, "big")
    del x
    m = Sequential([LSTM(1, input_shape=(64, 16))])
    m.predict(xm, batch_size=512)

    def resident_kb():
        with open("/proc/self/smaps") as f:
            lines = f.read().splitlines()
        for i, line in enumerate(lines):
            if line.endswith(str(tmp_path / "big.dat")):
                for info in lines[i + 1:i + 20]:
                    if info.startswith("Rss:"):
                        return int(info.split()[1])
        raise AssertionError("mapping not found")

    assert resident_kb() <= 2 * 1024 + 64


# ---- zarr and Dask ------------------------------------------------------------------------------
def test_zarr_fit_evaluate_predict(data, small_blocks):
    zarr = pytest.importorskip("zarr")
    x, y = data
    xz = zarr.zeros(x.shape, chunks=(40, T, F), dtype="f8")
    xz[:] = x
    kw = dict(batch_size=32, epochs=2, shuffle=False, verbose=0, seed=5, validation_split=0.25)
    a, b = model(), model()
    ha = a.fit(x, y, **kw)
    hb = b.fit(xz, y, **kw)
    assert hb.history == ha.history
    assert same_weights(a, b)
    np.testing.assert_array_equal(b.predict(xz), a.predict(x))
    assert b.evaluate(xz, y, verbose=0) == pytest.approx(a.evaluate(x, y, verbose=0), rel=1e-12)


def test_dask_fit_evaluate_predict(data, small_blocks):
    da = pytest.importorskip("dask.array")
    x, y = data
    xd, yd = da.from_array(x, chunks=(50, T, F)), da.from_array(y, chunks=(64, 1))
    kw = dict(batch_size=32, epochs=2, shuffle=False, verbose=0, seed=5)
    a, b = model(), model()
    ha = a.fit(x, y, validation_data=(x[:40], y[:40]), **kw)
    hb = b.fit(xd, yd, validation_data=(xd[:40], yd[:40]), **kw)
    assert hb.history == ha.history
    assert same_weights(a, b)
    np.testing.assert_array_equal(b.predict(xd), a.predict(x))
    assert b.evaluate(xd, yd, verbose=0) == pytest.approx(a.evaluate(x, y, verbose=0), rel=1e-12)
    shuffled = model()
    shuffled.fit(xd, yd, batch_size=32, epochs=1, verbose=0, seed=5)
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        b.predict(xd[xd[:, 0, 0] > 0])


# ---- bad input: a clear error, the model unchanged ----------------------------------------------
def test_nan_in_a_block_names_the_batch_and_changes_nothing(tmp_path, data, small_blocks):
    x, y = data
    x = x.copy()
    x[150, 3, 1] = np.nan
    m = model()
    m.fit(x[:10], y[:10], verbose=0)
    before = m.get_weights()
    with pytest.raises(ValueError, match=r"`x` contains nan at index \(150, 3, 1\), in batch 4 "
                                         r"\(samples 128 to 159"):
        m.fit(to_memmap(tmp_path, x, "x"), y, batch_size=32, epochs=2, verbose=0)
    assert all(np.array_equal(p, q) for p, q in zip(before, m.get_weights()))
    yb = y.copy()
    yb[70] = np.inf
    with pytest.raises(ValueError, match=r"`y` contains inf at index \(70, 0\), in batch 2"):
        m.fit(to_memmap(tmp_path, x[:100], "x2"), to_memmap(tmp_path, yb[:100], "y"),
              batch_size=32, verbose=0)
    with pytest.raises(ValueError, match="in batch 4"):
        m.predict(to_memmap(tmp_path, x, "x3"), batch_size=32)
    assert all(np.array_equal(p, q) for p, q in zip(before, m.get_weights()))


def test_empty_and_mismatched_arrays(tmp_path, data):
    x, y = data
    m = model()
    assert not m.built or m.input_shape is not None
    with pytest.raises(ValueError, match="`x` has 203 samples but `y` has 100"):
        m.fit(to_memmap(tmp_path, x, "x"), y[:100], verbose=0)
    empty = np.memmap(tmp_path / "e.dat", dtype=np.float32, mode="w+", shape=(1, T, F))[:0]
    with pytest.raises(ValueError, match="`x` has no samples"):
        m.fit(empty, y[:0], verbose=0)
    with pytest.raises(ValueError, match="`x` has no samples"):
        m.predict(empty)
    with pytest.raises(ValueError, match="3D input"):
        m.fit(to_memmap(tmp_path, x[:, :, 0], "flat"), y, verbose=0)
    with pytest.raises(ValueError, match="`sample_weight` must hold one weight per sample"):
        m.fit(to_memmap(tmp_path, x, "x2"), y, sample_weight=np.ones(5), verbose=0)
    with pytest.raises(ValueError, match="must be numeric"):
        m.fit(to_memmap(tmp_path, np.zeros((N, T, F), "U1"), "s"), y, verbose=0)


def test_unbuilt_model_stays_unbuilt_after_refusal(tmp_path, data):
    x, y = data
    m = Sequential([LSTM(3), Dense(2)])
    m.compile("adam", "mse")
    with pytest.raises(ValueError, match="must have shape"):
        m.fit(to_memmap(tmp_path, x, "x"), y, verbose=0)  # y has 1 column, the model 2
    assert m.input_shape is None and not m.built
    h = m.fit(to_memmap(tmp_path, x, "x2"), np.repeat(y, 2, axis=1), verbose=0)
    assert m.built and len(h.history["loss"]) == 1


# ---- make_windows' lazy form --------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(500,), (500, 3)])
def test_window_sequence_equals_make_windows(shape):
    series = np.random.default_rng(0).normal(size=shape)
    X, y = make_windows(series, 12, horizon=3, stride=2)
    seq = make_windows(series, 12, horizon=3, stride=2, batch_size=50)
    assert isinstance(seq, WindowSequence) and isinstance(seq, Sequence)
    assert len(seq) == -(-len(X) // 50)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in seq]), X)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in seq]), y)
    assert seq[-1][0].shape[0] == len(X) - 50 * (len(seq) - 1)


def test_window_sequence_trains_like_the_arrays(tmp_path):
    series = np.sin(np.arange(2000) / 10.0)
    X, y = make_windows(series, 20, horizon=2)
    seq = make_windows(to_memmap(tmp_path, series, "s"), 20, horizon=2, batch_size=64)
    a, b = (Sequential([LSTM(4, input_shape=(20, 1)), Dense(2)]) for _ in range(2))
    lstmcore.set_seed(3)
    for m in (a, b):
        m.set_weights(a.get_weights())
        m.compile("adam", "mse")
    ha = a.fit(X, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(seq, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(b.get_weights()[0], a.get_weights()[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(b.predict(seq), b.predict(X, batch_size=64))


def test_window_sequence_errors():
    with pytest.raises(ValueError, match="at least lookback \\+ horizon = 12"):
        make_windows(np.arange(10.0), 10, horizon=2, batch_size=4)
    with pytest.raises(ValueError, match="at least lookback \\+ horizon"):
        make_windows(np.zeros(0), 1, batch_size=4)
    with pytest.raises(ValueError, match=r"shape \(N,\) or \(N, features\)"):
        make_windows(np.zeros((5, 2, 2)), 2, batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        make_windows(np.zeros(50), 2, batch_size=0)
    with pytest.raises(ValueError, match="numeric"):
        make_windows(np.array(["a"] * 50), 2, batch_size=4)
    seq = make_windows(np.zeros(50), 2, batch_size=4)
    with pytest.raises(IndexError):
        seq[len(seq)]
