"""One streaming step (issue #14): batch 1, 8 features, LSTM(64) + Dense(1), state carried
from call to call, timed from Python, side by side in one run.

    python benchmarks/bench_streaming.py [--units 64] [--features 8] [--repeats 9]

Peers (each only when installed): lstmcore ``stream.step`` (``model.streaming()``), lstmcore
``predict_on_batch`` on a stateful model (Keras 2 style), PyTorch ``nn.LSTM`` + ``Linear``
with the (h, c) it returned fed back, under ``torch.inference_mode``; Keras 3 (torch backend)
calling a stateful model on one step; onnxruntime on ``model.to_onnx``'s export of the
stateful model, with ``Y_h``/``Y_c`` fed back as ``initial_h``/``initial_c``. Every peer is
first checked to give the same outputs over 20 steps as lstmcore's ``predict`` on the whole
sequence. Medians of interleaved repeats, microseconds per step, and the ratio to
``stream.step``. Not a test.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from _util import time_interleaved

os.environ.setdefault("KERAS_BACKEND", "torch")


def main() -> None:
    import lstmcore
    from lstmcore.layers import LSTM, Dense, Input
    from lstmcore.models import Sequential

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--features", type=int, default=8)
    p.add_argument("--repeats", type=int, default=9)
    a = p.parse_args()
    H, F, T = a.units, a.features, 20
    lstmcore.set_seed(0)
    model = Sequential([LSTM(H, input_shape=(None, F), name="lstm"), Dense(1)])
    rng = np.random.default_rng(1)
    weights = [rng.normal(scale=0.3, size=w.shape).astype(np.float32)
               for w in model.get_weights()]
    model.set_weights(weights)
    x = rng.normal(size=(1, T, F)).astype(np.float32)
    want = model.predict(x)
    step_x = np.ascontiguousarray(x[:, 0])
    fns, errors = {}, {}

    stream = model.streaming(batch_size=1)
    for t in range(T):
        y = stream.step(x[:, t])
    errors["lstmcore stream.step"] = float(np.abs(y - want).max())
    fns["lstmcore stream.step"] = lambda: stream.step(step_x)

    stateful = Sequential([Input(batch_shape=(1, 1, F)), LSTM(H, stateful=True), Dense(1)])
    stateful.set_weights(weights)
    for t in range(T):
        y = stateful.predict_on_batch(x[:, t:t + 1])
    errors["lstmcore predict_on_batch (stateful)"] = float(np.abs(y - want).max())
    one = np.ascontiguousarray(x[:, :1])
    fns["lstmcore predict_on_batch (stateful)"] = lambda: stateful.predict_on_batch(one)

    try:
        import torch
        torch.set_num_threads(1)
        lstm = torch.nn.LSTM(F, H, batch_first=True)
        head = torch.nn.Linear(H, 1)
        W, U, b, Wd, bd = weights
        # Keras gates i, f, c, o == torch's i, f, g, o; torch keeps (4H, in) and two biases
        with torch.no_grad():
            lstm.weight_ih_l0.copy_(torch.from_numpy(W.T.copy()))
            lstm.weight_hh_l0.copy_(torch.from_numpy(U.T.copy()))
            lstm.bias_ih_l0.copy_(torch.from_numpy(b))
            lstm.bias_hh_l0.zero_()
            head.weight.copy_(torch.from_numpy(Wd.T.copy()))
            head.bias.copy_(torch.from_numpy(bd))
        state = {"hc": None}
        with torch.inference_mode():
            for t in range(T):
                out, state["hc"] = lstm(torch.from_numpy(x[:, t:t + 1]), state["hc"])
                y = head(out[:, -1]).numpy()
        errors["PyTorch nn.LSTM + Linear"] = float(np.abs(y - want).max())
        tx = torch.from_numpy(one)

        def torch_step():
            with torch.inference_mode():
                out, state["hc"] = lstm(tx, state["hc"])
                return head(out[:, -1]).numpy()
        fns["PyTorch nn.LSTM + Linear"] = torch_step
    except ImportError:
        pass

    try:
        import keras
        km = keras.Sequential([keras.Input(batch_shape=(1, 1, F)),
                               keras.layers.LSTM(H, stateful=True), keras.layers.Dense(1)])
        km.set_weights(weights)
        for t in range(T):
            y = np.asarray(km(x[:, t:t + 1], training=False).detach())
        errors[f"Keras {keras.__version__} model(x) (stateful)"] = float(np.abs(y - want).max())
        fns[f"Keras {keras.__version__} model(x) (stateful)"] = \
            lambda: km(one, training=False)
    except ImportError:
        pass

    try:
        import onnxruntime as ort
        path = "/tmp/lstmcore_bench_streaming.onnx"
        exported = Sequential([Input(batch_shape=(1, None, F)), LSTM(H, stateful=True,
                                                                       name="lstm"), Dense(1)])
        exported.set_weights(weights)
        exported.to_onnx(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        st = {"h": np.zeros((1, 1, H), np.float32), "c": np.zeros((1, 1, H), np.float32)}
        for t in range(T):
            y, st["h"], st["c"] = sess.run(None, {"input": x[:, t:t + 1], "lstm_initial_h":
                                                  st["h"], "lstm_initial_c": st["c"]})
        errors[f"onnxruntime {ort.__version__} (carried state)"] = float(np.abs(y - want).max())

        def ort_step():
            y, st["h"], st["c"] = sess.run(None, {"input": one, "lstm_initial_h": st["h"],
                                                  "lstm_initial_c": st["c"]})
        fns[f"onnxruntime {ort.__version__} (carried state)"] = ort_step
    except ImportError:
        pass

    for name, err in errors.items():
        assert err < 1e-5, (name, err)
    times = time_interleaved(fns, a.repeats, min_seconds=0.02)
    base = times["lstmcore stream.step"]
    print(f"one step: batch 1, {F} features, LSTM({H}) + Dense(1); state carried; "
          f"every peer equal to predict over {T} steps (max error "
          f"{max(errors.values()):.1e})")
    print(f"| {'way':44s} | us/step | x stream.step |")
    print(f"| {'-' * 44} | ---: | ---: |")
    for name, t in times.items():
        print(f"| {name:44s} | {t * 1e6:7.2f} | {t / base:5.2f} |")


if __name__ == "__main__":
    main()
