"""One model shared by threads (the README's contract): concurrent predicts are bit-identical
to one call at a time and run in parallel on their own executors; fit, compile, set_weights,
reset_states and loading are serialised and never corrupt anything."""

import threading

import lstmcore
import numpy as np
import pytest
from lstmcore.layers import LSTM, Bidirectional, Dense, Dropout
from lstmcore.models import Sequential

T, F = 12, 4


def _model(seed=0, units=16, stateful=False, batch=None):
    lstmcore.set_seed(seed)
    if stateful:
        m = Sequential([LSTM(units, stateful=True, batch_input_shape=(batch, T, F)), Dense(1)])
    else:
        m = Sequential([LSTM(units, input_shape=(T, F), return_sequences=True),
                        Bidirectional(LSTM(units // 2)), Dropout(0.1), Dense(2)])
    m.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return m


def _data(n, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, F)).astype(np.float32)
    return x, np.stack([x[:, :, 0].mean(1), x[:, -1, 1]], 1).astype(np.float32)


def _run(target, n, *args):
    errors = []

    def wrapped(i):
        try:
            target(i, *args)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in threads), "a thread hung"
    if errors:
        raise errors[0]


def test_eight_threads_predict_bit_identical():
    # the probe: 8 threads x 200 predicts on one model returned 1521 wrong answers
    m = _model()
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((int(rng.integers(1, 70)), T, F)).astype(np.float32)
          for _ in range(25)]
    want = [m.predict(x) for x in xs]
    wrong = []

    def work(i):
        for r in range(50):
            j = (i * 11 + r) % len(xs)
            bs = 1 + (i + r) % 40
            got = m.predict(xs[j], batch_size=bs) if r % 3 else m.predict_on_batch(xs[j])
            if not np.array_equal(got, want[j]):
                wrong.append((i, r))

    _run(work, 8)
    assert wrong == []
    # concurrent calls ran on their own executors (the pool grew past one)
    assert 1 <= len(m._guard.pool) <= 8


def test_concurrent_evaluate_matches_serial():
    m = _model()
    x, y = _data(90)
    want = m.evaluate(x, y, batch_size=16, verbose=0)
    got = []
    _run(lambda i: got.append(m.evaluate(x, y, batch_size=16, verbose=0)), 6)
    assert all(g == want for g in got)


def test_predict_during_fit_neither_fails_nor_changes_training():
    x, y = _data(256)
    ref = _model(seed=3)
    ref.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=5)
    m = _model(seed=3)
    stop = threading.Event()
    seen = []

    def predictor(i):
        while not stop.is_set():
            p = m.predict(x[:9])
            assert p.shape == (9, 2) and np.isfinite(p).all()
            seen.append(1)

    threads = [threading.Thread(target=predictor, args=(i,)) for i in range(3)]
    for th in threads:
        th.start()
    try:
        hist = m.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=5)
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=60)
    assert seen and len(hist.history["loss"]) == 3
    # predicting alongside did not disturb training: bit-identical to the undisturbed run
    for a, b in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_compile_and_set_weights_during_fit_are_serialised():
    x, y = _data(200)
    m = _model(seed=4)
    w0 = m.get_weights()
    started = threading.Event()

    class Flag(lstmcore.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.set()

    def trainer(i):
        m.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[Flag()])

    def meddler(i):
        started.wait(30)
        for k in range(20):
            if k % 2:
                m.compile(optimizer="sgd" if k % 4 == 1 else "adam", loss="mse")
            else:
                m.set_weights(w0)
            m.reset_states()

    errors = []

    def guard(fn, i):
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ths = [threading.Thread(target=guard, args=(trainer, 0)),
           threading.Thread(target=guard, args=(meddler, 1))]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout=120)
    assert not errors and not any(th.is_alive() for th in ths)
    assert all(np.isfinite(w).all() for w in m.get_weights())
    m.fit(x, y, epochs=1, verbose=0)  # still trains
    assert np.isfinite(m.predict(x)).all()


def test_set_weights_never_seen_half_written():
    m = _model(seed=6)
    x, _ = _data(40)
    wa = m.get_weights()
    wb = [w * 0.5 + 0.01 for w in wa]
    pa = m.predict(x)
    m.set_weights(wb)
    pb = m.predict(x)
    m.set_weights(wa)
    stop = threading.Event()
    torn = []

    def writer(i):
        k = 0
        while not stop.is_set():
            m.set_weights(wb if k % 2 else wa)
            k += 1

    def reader(i):
        for _ in range(150):
            p = m.predict(x)
            if not (np.array_equal(p, pa) or np.array_equal(p, pb)):
                torn.append(p)

    w = threading.Thread(target=writer, args=(0,))
    w.start()
    try:
        _run(reader, 4)
    finally:
        stop.set()
        w.join(timeout=60)
    assert torn == []


def test_stateful_model_calls_are_serialised():
    # a stateful model has one state: concurrent predicts take turns, each a whole call
    m = _model(seed=7, units=8, stateful=True, batch=4)
    x, y = _data(16)
    y = y[:, :1]
    m.reset_states()
    seq = [m.predict(x, batch_size=4) for _ in range(3)]
    m.reset_states()
    got = []
    lock = threading.Lock()

    def work(i):
        for _ in range(3):
            with lock:  # the order of calls is the callers' business; each call is atomic
                got.append(m.predict(x, batch_size=4))

    _run(work, 1)
    for a, b in zip(seq, got):
        np.testing.assert_array_equal(a, b)
    # unordered concurrency: no crash, finite results, state still a valid continuation
    _run(lambda i: [m.predict(x, batch_size=4) for _ in range(5)], 4)
    _run(lambda i: [m.reset_states() or m.fit(x, y, batch_size=4, shuffle=False, verbose=0)
                    for _ in range(2)], 3)
    assert np.isfinite(m.predict(x, batch_size=4)).all()


@pytest.mark.parametrize("rounds", [3])
def test_mixed_workload_many_threads(rounds):
    x, y = _data(64)
    m = _model(seed=8)
    w0 = m.get_weights()

    def work(i):
        for r in range(rounds):
            op = (i + r) % 6
            if op == 0:
                m.fit(x, y, epochs=1, batch_size=16, verbose=0)
            elif op == 1:
                assert np.isfinite(m.predict(x)).all()
            elif op == 2:
                m.evaluate(x, y, verbose=0)
            elif op == 3:
                m.set_weights(w0)
            elif op == 4:
                m.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
            else:
                assert len(m.get_weights()) == len(w0)
                m.train_on_batch(x[:8], y[:8])

    _run(work, 8)
    assert all(np.isfinite(w).all() for w in m.get_weights())
    m.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(m.predict(x)).all()


def test_threads_share_weights_not_copies():
    m = _model(seed=9)
    x, _ = _data(8)
    m.predict(x)
    _run(lambda i: m.predict(x), 4)
    kernel = m.layers[0].kernel
    for net in m._guard.pool:
        assert net.lock is not None
    kernel_before = kernel.copy()
    m.set_weights([w + 1.0 for w in m.get_weights()])
    assert m.layers[0].kernel is kernel  # written in place: executors see it
    np.testing.assert_array_equal(kernel, kernel_before + 1.0)
    a = m.predict(x)
    got = []
    _run(lambda i: got.append(m.predict(x)), 4)
    assert all(np.array_equal(a, g) for g in got)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork")
def test_fork_while_another_thread_holds_the_model_locks():
    # the child has only the forking thread: locks the parent's other threads held must not
    # be held forever in the child
    import multiprocessing as mp
    m = _model(seed=10)
    x, y = _data(8)
    want = m.predict(x)
    held, release = threading.Event(), threading.Event()

    def holder():
        with m._guard.mutex:
            m._guard.weights.acquire_exclusive()
            held.set()
            release.wait(60)
            m._guard.weights.release_exclusive()

    th = threading.Thread(target=holder)
    th.start()
    try:
        assert held.wait(30)
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=_child_uses_model, args=(m, x, y, q))
        p.start()
        p.join(60)
        alive = p.is_alive()
        if alive:
            p.kill()
        assert not alive, "the forked child hung on a lock held by a parent thread"
        got = q.get(timeout=10)
    finally:
        release.set()
        th.join(60)
    assert np.array_equal(got, want)


def _child_uses_model(m, x, y, q):
    p = m.predict(x)
    m.fit(x, y, epochs=1, verbose=0)
    m.set_weights(m.get_weights())
    q.put(p)
