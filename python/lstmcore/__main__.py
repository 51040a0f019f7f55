"""``python -m lstmcore demo``: the LSTM lifecycle on built-in data.

``python -m lstmcore info`` prints the build (compiler, OpenMP, SIMD levels, threads).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _section(title: str) -> None:
    print()
    print(f"== {title} " + "=" * max(0, 66 - len(title)))


def demo(epochs_scale: float = 1.0) -> int:
    import lstmcore
    from lstmcore.layers import LSTM, Dense
    from lstmcore.models import Sequential
    from lstmcore.optimizers import Adam

    t_start = time.perf_counter()
    lstmcore.set_seed(7)
    info = lstmcore.build_info()
    print(f"lstmcore {lstmcore.__version__}: SIMD {info['simd']} (compiled: "
          f"{', '.join(info['simd_compiled'])}), OpenMP {'on' if info['openmp'] else 'off'}, "
          f"{info['num_threads']} thread(s)")

    # 1. Learn the next value of a sequence ------------------------------------------------------
    _section("1. Sequence prediction: learn the next value of 0.0, 0.1, ..., 0.9")
    seq = np.round(np.arange(0.0, 1.0, 0.1), 1)
    steps = 3
    X = np.array([seq[i:i + steps] for i in range(len(seq) - steps)])
    y = np.array([seq[i + steps] for i in range(len(seq) - steps)])
    X = X.reshape((X.shape[0], X.shape[1], 1))        # (samples, timesteps, features)
    print(f"X {X.shape}  y {y.shape}")

    model = Sequential()                                # 1. define
    model.add(LSTM(10, input_shape=(steps, 1)))
    model.add(Dense(1))
    model.summary()
    model.compile(optimizer="adam", loss="mse")         # 2. compile
    epochs = max(1, int(600 * epochs_scale))
    print(f"fit: {epochs} epochs, progress of the last one:")
    first = model.fit(X, y, epochs=epochs - 1, batch_size=len(X), verbose=0)   # 3. fit
    last = model.fit(X, y, epochs=epochs, initial_epoch=epochs - 1, batch_size=len(X), verbose=1)
    curve = first.history["loss"] + last.history["loss"]
    marks = sorted({0, len(curve) // 4, len(curve) // 2, len(curve) - 1})
    print("history['loss']: " + ", ".join(f"epoch {i + 1}: {curve[i]:.5f}" for i in marks))
    loss = model.evaluate(X, y, verbose=0)              # 4. evaluate
    print(f"evaluate: mse = {loss:.5f}")
    pred = model.predict(X, verbose=0)                  # 5. predict
    for inp, p, t in zip(X[:, :, 0], pred[:, 0], y):
        print(f"  {np.round(inp, 1)} -> predicted {p:.3f}  (true {t:.1f})")

    # 2. Classify rising vs falling series -------------------------------------------------------
    _section("2. Classification: is a noisy series rising or falling?")
    rng = np.random.default_rng(0)
    n, T = 600, 10
    direction = rng.integers(0, 2, n)
    slope = np.where(direction == 1, 1.0, -1.0)[:, None] * rng.uniform(0.02, 0.1, (n, 1))
    series = rng.uniform(0, 1, (n, 1)) + slope * np.arange(T) + rng.normal(0, 0.05, (n, T))
    Xc = series.reshape(n, T, 1).astype(np.float32)
    yc = direction.astype(np.float32)
    clf = Sequential([LSTM(8, input_shape=(T, 1)), Dense(1, activation="sigmoid")])
    clf.compile(optimizer=Adam(learning_rate=0.01), loss="binary_crossentropy",
                metrics=["accuracy"])
    ep = max(1, int(20 * epochs_scale))
    h = clf.fit(Xc[:500], yc[:500], epochs=ep, batch_size=32, validation_split=0.2, verbose=2)
    loss, acc = clf.evaluate(Xc[500:], yc[500:], verbose=0)
    print(f"held-out: loss {loss:.4f}, accuracy {acc:.3f}")
    print("history keys:", ", ".join(h.history))
    classes = clf.predict_classes(Xc[500:508])
    print("predict_classes:", classes.ravel().tolist(), " truth:", yc[500:508].astype(int).tolist())

    # 3. A stateful LSTM fitted epoch by epoch ---------------------------------------------------
    _section("3. Stateful LSTM: batch_input_shape=(10, 5, 1), reset_states() every epoch")
    t = np.linspace(0, 8 * np.pi, 400)
    wave = (np.sin(t) * 0.5 + 0.5).astype(np.float32)
    Xs = np.array([wave[i:i + 5] for i in range(0, 300)]).reshape(300, 5, 1)
    ys = np.array([wave[i + 5] for i in range(0, 300)])
    st = Sequential([LSTM(16, stateful=True, batch_input_shape=(10, 5, 1)), Dense(1)])
    st.compile(optimizer="adam", loss="mse")
    for epoch in range(max(1, int(40 * epochs_scale))):
        r = st.fit(Xs, ys, epochs=1, batch_size=10, verbose=0, shuffle=False)
        st.reset_states()
        if epoch % 10 == 0:
            print(f"  epoch {epoch + 1:3d}: loss {r.history['loss'][0]:.5f}")
    ps = st.predict(Xs[:10], batch_size=10)
    st.reset_states()
    print("predicted vs true (first batch):")
    for p, t_ in zip(ps[:5, 0], ys[:5]):
        print(f"  {p:.3f}  vs {t_:.3f}")
    print(f"\ndemo finished in {time.perf_counter() - t_start:.1f} s")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstmcore",
                                     description="lstmcore: fast, Keras-compatible LSTMs")
    sub = parser.add_subparsers(dest="command")
    d = sub.add_parser("demo", help="run the LSTM lifecycle on built-in data")
    d.add_argument("--quick", action="store_true", help="fewer epochs (for tests)")
    sub.add_parser("info", help="print build information")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(0.1 if args.quick else 1.0)
    if args.command == "info":
        import lstmcore
        for k, v in lstmcore.build_info().items():
            print(f"{k}: {v}")
        return 0
    parser.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
