"""One streaming step through onnxruntime, on a model exported by ``model.to_onnx``, against
lstmcore's own stateful ``predict_on_batch`` on one timestep (issue #14's peers).

    python benchmarks/bench_onnx.py [--units 64] [--features 8] [--calls 2000] [--rounds 15]

The model is issue #14's streaming case: a stateful ``LSTM(units)`` with batch size 1 and
one timestep per call, then ``Dense(1)``. onnxruntime is stateless, so each call feeds the
state the previous call returned (``lstm_initial_h/c`` <- ``lstm_Y_h/c``). Correctness is
checked first: T streamed steps through onnxruntime equal lstmcore's predict on the whole
sequence (1e-5). Then each way is timed, interleaved round by round, median per call in
microseconds, one intra-op thread for onnxruntime (lstmcore decides its own: small shapes
stay serial). Not a test; the numbers go in the issue's note.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def build(units: int, features: int, timesteps):
    import lstmcore
    from lstmcore.layers import LSTM, Dense, Input
    from lstmcore.models import Sequential
    lstmcore.set_seed(0)
    model = Sequential([Input(batch_shape=(1, timesteps, features)),
                        LSTM(units, stateful=True, name="lstm"), Dense(1)])
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(scale=0.3, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def main() -> None:
    import onnxruntime as ort
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--features", type=int, default=8)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args()
    H, F = args.units, args.features

    model = build(H, F, None)  # any length: the export takes chunks of any size
    path = "/tmp/lstmcore_bench_stream.onnx"
    model.to_onnx(path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    # correctness: T single steps through onnxruntime == lstmcore predict on the whole sequence
    T = 20
    x = np.random.default_rng(2).normal(size=(1, T, F)).astype(np.float32)
    model.reset_states()
    whole = model.predict(x)
    h = np.zeros((1, 1, H), np.float32)
    c = np.zeros((1, 1, H), np.float32)
    for t in range(T):
        y, h, c = session.run(None, {"input": x[:, t:t + 1], "lstm_initial_h": h,
                                     "lstm_initial_c": c})
    err = float(np.abs(y - whole).max())
    assert err < 1e-5, err

    step = model_step = np.ascontiguousarray(x[:, :1])
    state = {"h": np.zeros((1, 1, H), np.float32), "c": np.zeros((1, 1, H), np.float32)}

    def run_ort():
        y, state["h"], state["c"] = session.run(None, {"input": step, "lstm_initial_h": state["h"],
                                                        "lstm_initial_c": state["c"]})

    model.reset_states()

    def run_lstmcore():
        model.predict_on_batch(model_step)

    fns = {"onnxruntime (carried state)": run_ort, "lstmcore predict_on_batch": run_lstmcore}
    samples = {k: [] for k in fns}
    for r in range(args.rounds):
        order = list(fns) if r % 2 == 0 else list(fns)[::-1]
        for name in order:
            fn = fns[name]
            for _ in range(50):
                fn()
            t0 = time.perf_counter()
            for _ in range(args.calls):
                fn()
            samples[name].append((time.perf_counter() - t0) / args.calls)
    print(f"one step, batch 1, {F} features, LSTM({H}) + Dense(1); onnxruntime {ort.__version__}; "
          f"streamed == predict to {err:.1e}")
    base = statistics.median(samples["lstmcore predict_on_batch"])
    for name, s in samples.items():
        med = statistics.median(s)
        print(f"  {name:32s} {med * 1e6:8.2f} us/step   x{med / base:5.2f} of lstmcore")


if __name__ == "__main__":
    main()
