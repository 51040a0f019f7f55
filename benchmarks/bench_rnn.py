"""GRU and SimpleRNN against LSTM: lstmcore and PyTorch (nn.GRU, nn.RNN, nn.LSTM).

    python benchmarks/bench_rnn.py [--threads 2] [--workloads tiny,small,medium,large]
                                   [--cells lstm,gru,simple_rnn] [--repeats 7]

For each cell and workload of ``bench_lstm.WORKLOADS`` (non-stateful ones): a training step
(forward + backward + Adam update of Cell(H) + Dense(1), MSE) and an inference call on one
batch, lstmcore in this process and PyTorch in a worker process (``--worker``: its own thread
pool, sized like lstmcore's; the two never run at the same time). Both are checked against each
other on the same Keras-layout weights before anything is timed (predictions to 1e-4). Each
side is warmed up, then timed in ``--repeats`` blocks of back-to-back calls filling about 0.2 s,
lstmcore's and PyTorch's blocks alternating (a change in machine load hits both); the median
time per call is reported with the ratio PyTorch / lstmcore (> 1: lstmcore faster). A markdown table goes to stdout. Benchmarks never gate CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_lstm import WORKLOADS  # noqa: E402

CELLS = ("lstm", "gru", "simple_rnn")
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def make_weights(cell, F, H, seed=0):
    """Keras-layout weights of Cell(H) + Dense(1) (GRU: reset_after, bias (2, 3H))."""
    import numpy as np
    rng = np.random.default_rng(seed)
    G = GATES[cell] * H
    w = [rng.uniform(-0.1, 0.1, (F, G)), rng.uniform(-0.1, 0.1, (H, G))]
    w.append(rng.uniform(-0.1, 0.1, (2, G) if cell == "gru" else (G,)))
    w += [rng.uniform(-0.1, 0.1, (H, 1)), np.zeros(1)]
    return [a.astype(np.float32) for a in w]


def data(B, T, F, seed=1):
    import numpy as np
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(B, T, F)).astype(np.float32),
            rng.normal(size=(B, 1)).astype(np.float32))


def warm(fn):
    """Warm up `fn`; returns how many calls fill about 0.2 s (a timed block)."""
    t0 = time.perf_counter()
    fn()
    fn()
    while time.perf_counter() - t0 < 0.3:
        fn()
    t = time.perf_counter()
    fn()
    return max(1, int(0.2 / max(time.perf_counter() - t, 1e-6)))


def block(fn, inner):
    """Seconds per call over `inner` back-to-back calls."""
    t = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t) / inner


# ---- lstmcore ----------------------------------------------------------------------------------
def lstmcore_model(cell, weights, T, F):
    from lstmcore.layers import GRU, LSTM, Dense, SimpleRNN
    from lstmcore.models import Sequential
    from lstmcore.optimizers import Adam
    H = weights[1].shape[0]
    layer = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}[cell](H, input_shape=(T, F))
    m = Sequential([layer, Dense(1)])
    m.set_weights(weights)
    m.compile(optimizer=Adam(learning_rate=0.001), loss="mse")
    return m


# ---- PyTorch (worker) --------------------------------------------------------------------------
def torch_net(cell, weights):
    import numpy as np
    import torch
    from torch import nn
    F, H = weights[0].shape[0], weights[1].shape[0]
    rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "simple_rnn": nn.RNN}[cell](F, H, batch_first=True)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn
            self.fc = nn.Linear(H, 1)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1])

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a))

    W, U, b = weights[0], weights[1], weights[2]
    b_ih, b_hh = (b[0], b[1]) if cell == "gru" else (b, np.zeros_like(b))
    if cell == "gru":  # Keras z|r|h -> torch r|z|n
        def order(a):
            return np.concatenate([a[..., H:2 * H], a[..., :H], a[..., 2 * H:]], axis=-1)
        W, U, b_ih, b_hh = order(W), order(U), order(b_ih), order(b_hh)
    net = Net()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(t(W.T))
        rnn.weight_hh_l0.copy_(t(U.T))
        rnn.bias_ih_l0.copy_(t(b_ih))
        rnn.bias_hh_l0.copy_(t(b_hh))
        net.fc.weight.copy_(t(weights[3].T))
        net.fc.bias.copy_(t(weights[4]))
    return net


def worker(args):
    """PyTorch side: one JSON command a line on stdin, one RESULT line back each."""
    import torch
    torch.set_num_threads(args.threads)
    fns = {}
    for line in sys.stdin:
        job = json.loads(line)
        if job["op"] == "setup":
            B, T, F, H = job["shape"]
            weights = make_weights(job["cell"], F, H)
            x, y = data(B, T, F)
            net = torch_net(job["cell"], weights)
            with torch.inference_mode():
                pred = net(torch.from_numpy(x)).numpy()
            opt = torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7)
            xb, yb = torch.from_numpy(x), torch.from_numpy(y)
            infer_net = torch_net(job["cell"], weights).eval()

            def train(net=net, opt=opt, xb=xb, yb=yb):
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.mse_loss(net(xb), yb)
                loss.backward()
                opt.step()

            def infer(infer_net=infer_net, xb=xb):
                with torch.inference_mode():
                    infer_net(xb)

            fns = {"train": train, "infer": infer}
            inner = {k: warm(f) for k, f in fns.items()}
            out = {"pred": pred.tolist(), "inner": inner, "version": torch.__version__}
        else:
            out = {"t": block(fns[job["op"]], job["inner"])}
        print("RESULT " + json.dumps(out), flush=True)


class TorchWorker:
    def __init__(self, threads):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.p = subprocess.Popen([sys.executable, __file__, "--threads", str(threads),
                                   "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env)

    def ask(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        for line in self.p.stdout:
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        raise RuntimeError("the PyTorch worker died")

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workloads", default="tiny,small,medium,large")
    p.add_argument("--cells", default=",".join(CELLS))
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    import lstmcore
    import numpy as np
    lstmcore.set_num_threads(args.threads)
    peer = TorchWorker(args.threads)
    rows = []
    for wname in args.workloads.split(","):
        B, T, F, H, stateful = WORKLOADS[wname]
        if stateful:
            continue
        for cell in args.cells.split(","):
            weights = make_weights(cell, F, H)
            x, y = data(B, T, F)
            m = lstmcore_model(cell, weights, T, F)
            pred = m.predict_on_batch(x)
            inf = lstmcore_model(cell, weights, T, F)
            theirs = peer.ask(op="setup", cell=cell, shape=[B, T, F, H])
            np.testing.assert_allclose(pred, np.asarray(theirs["pred"], np.float32),
                                       rtol=1e-4, atol=1e-4)
            ours_fn = {"train": lambda m=m, x=x, y=y: m.train_on_batch(x, y),
                       "infer": lambda inf=inf, x=x: inf.predict_on_batch(x)}
            inner = {k: warm(f) for k, f in ours_fn.items()}
            reps = min(3, args.repeats) if wname == "large" else args.repeats
            res = {}
            for op in ("train", "infer"):
                a, b = [], []
                for _ in range(reps):  # alternate, so a change in machine load hits both
                    a.append(block(ours_fn[op], inner[op]))
                    b.append(peer.ask(op=op, inner=theirs["inner"][op])["t"])
                res[op] = (statistics.median(a), statistics.median(b))
            rows.append((wname, (B, T, F, H), cell, res))
            log(f"{wname} {cell}: " + ", ".join(
                f"{op} {u * 1e3:.3f} ms vs {v * 1e3:.3f} ms" for op, (u, v) in res.items()))
    peer.close()
    print(f"threads {args.threads}; SIMD {lstmcore._core.simd_level()}\n")
    print("| workload (B, T, F, H) | cell | lstmcore train ms | PyTorch train ms | ratio | "
          "lstmcore infer ms | PyTorch infer ms | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for wname, shape, cell, res in rows:
        (ot, tt), (oi, ti) = res["train"], res["infer"]
        print(f"| {wname} {shape} | {cell} | {ot * 1e3:.3f} | {tt * 1e3:.3f} | {tt / ot:.2f}x | "
              f"{oi * 1e3:.3f} | {ti * 1e3:.3f} | {ti / oi:.2f}x |")


if __name__ == "__main__":
    main()
