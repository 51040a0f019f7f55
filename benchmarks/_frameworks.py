"""Implementations timed by ``bench_lstm.py``, and the worker process each peer runs in.

Every implementation is an object with the same small interface, built from one workload and
one set of Keras-layout weights (``kernel (F,4H)``, ``recurrent_kernel (H,4H)``, ``bias (4H,)``,
``dense kernel (H,1)``, ``dense bias (1,)``):

- ``predict_fresh(x)``: outputs from a zero state (the correctness check);
- ``train_step()``: one forward + backward + optimizer update on the workload's batch;
- ``infer_step()``: one inference call on the workload's batch (a stateful model continues);
- ``fit(x, y, epochs, batch_size)``: a whole training run from the given weights.

lstmcore and the NumPy reference run in the benchmark's own process. PyTorch and Keras 3 (torch
and jax backends) each run in a worker process (``python _frameworks.py worker NAME``) so their
thread pools never meet; the worker answers one JSON line per command on a private pipe (the
framework may print what it likes on stdout/stderr), and waits blocked on stdin between
commands, so only one implementation runs at a time.

``python _frameworks.py memory NAME NPZ`` measures the peak RSS of a training step in a fresh
process (VmHWM, reset with /proc/self/clear_refs when allowed).
"""

from __future__ import annotations

import json
import os
import sys
import time

PEERS = ("torch", "keras_torch", "keras_jax")
LABELS = {"lstmcore": "lstmcore", "reference": "NumPy ref", "torch": "PyTorch",
          "keras_torch": "Keras 3 (torch)", "keras_jax": "Keras 3 (jax)"}
LEARNING_RATE = 0.001  # Adam's default in every framework
EPSILON = 1e-7         # Keras' Adam epsilon (PyTorch's default is 1e-8; set to match)


# The environment as the user gave it, before ``import lstmcore`` added its defaults (it sets
# GOMP_SPINCOUNT, which would also change PyTorch's libgomp in a worker).
USER_ENV = dict(os.environ)


def thread_env(threads: int, keras_backend: str | None = None) -> dict:
    """Environment for a worker: the user's, with every thread pool sized to ``threads``."""
    env = dict(USER_ENV)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[k] = str(threads)
    env["JAX_PLATFORMS"] = "cpu"
    env["CUDA_VISIBLE_DEVICES"] = ""
    flags = env.get("XLA_FLAGS", "")
    if threads == 1:
        flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env["XLA_FLAGS"] = flags.strip()
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONWARNINGS"] = "ignore"
    if keras_backend:
        env["KERAS_BACKEND"] = keras_backend
    return env


def pin_cpus(threads: int) -> None:
    """Restrict this process (and the threads it starts later) to ``threads`` CPUs."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if threads < len(cpus):
            os.sched_setaffinity(0, cpus[:threads])
    except (AttributeError, OSError):
        pass


# ----------------------------------------------------------------------------------------------
# lstmcore
# ----------------------------------------------------------------------------------------------
class LstmcoreImpl:
    name = "lstmcore"

    def __init__(self, wl, weights, x, y, threads):
        import lstmcore
        lstmcore.set_num_threads(threads)
        self.wl, self.weights, self.x, self.y = wl, weights, x, y
        self.train_model = self._model(wl, weights)
        self.infer_model = None  # built on first use (the memory check builds only one model)

    @staticmethod
    def _model(wl, weights, compile_=True):
        from lstmcore.layers import LSTM, Dense
        from lstmcore.models import Sequential
        from lstmcore.optimizers import Adam
        B, T, F, H = wl["B"], wl["T"], wl["F"], wl["H"]
        if wl.get("stateful"):
            first = LSTM(H, batch_input_shape=(B, T, F), stateful=True)
        else:
            first = LSTM(H, input_shape=(T, F))
        m = Sequential([first, Dense(1)])
        m.set_weights(weights)
        if compile_:
            m.compile(optimizer=Adam(learning_rate=LEARNING_RATE), loss="mse")
        return m

    def predict_fresh(self, x):
        m = self._model(self.wl, self.weights, compile_=False)
        return m.predict_on_batch(x)

    def train_step(self):
        return self.train_model.train_on_batch(self.x, self.y)

    def infer_step(self):
        if self.infer_model is None:
            self.infer_model = self._model(self.wl, self.weights)
        return self.infer_model.predict_on_batch(self.x)

    @staticmethod
    def fit(weights, x, y, epochs, batch_size, seed=0):
        from lstmcore.layers import LSTM, Dense
        from lstmcore.models import Sequential
        m = Sequential([LSTM(weights[1].shape[0], input_shape=x.shape[1:]), Dense(1)])
        m.set_weights(weights)
        m.compile(optimizer="adam", loss="mse")
        t = time.perf_counter()
        hist = m.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, seed=seed)
        return time.perf_counter() - t, float(hist.history["loss"][-1])


# ----------------------------------------------------------------------------------------------
# The package's NumPy reference (computes in the dtype it is given: float32 here)
# ----------------------------------------------------------------------------------------------
def _ref_model(weights, dtype):
    import numpy as np
    from lstmcore import reference as ref
    w = [np.asarray(a, dtype=dtype) for a in weights]
    return ref.ReferenceSequential([
        {"type": "lstm", "kernel": w[0], "recurrent_kernel": w[1], "bias": w[2]},
        {"type": "dense", "kernel": w[3], "bias": w[4]},
    ])


class _RefTrainer:
    """loss_and_grads + adam_step on every parameter; carries the state when stateful."""

    def __init__(self, weights, dtype, stateful):
        import numpy as np
        self.np = np
        self.model = _ref_model(weights, dtype)
        self.params = self.model.params()
        self.m = [[np.zeros_like(p) for p in layer] for layer in self.params]
        self.v = [[np.zeros_like(p) for p in layer] for layer in self.params]
        self.t = 0
        self.stateful = stateful
        self.state = None

    def step(self, x, y):
        from lstmcore import reference as ref
        loss, grads = self.model.loss_and_grads(x, y, "mse", initial_states=self.state)
        if self.stateful:
            self.state = [tuple(s) for s in self.model.final_states]
        self.t += 1
        for li, layer in enumerate(self.params):
            for pi, p in enumerate(layer):
                layer[pi], self.m[li][pi], self.v[li][pi] = ref.adam_step(
                    p, grads[li][pi], self.m[li][pi], self.v[li][pi], self.t,
                    lr=LEARNING_RATE, epsilon=EPSILON)
        self.model.set_params(self.params)
        return float(loss)


class ReferenceImpl:
    name = "reference"

    def __init__(self, wl, weights, x, y, threads):
        import numpy as np
        self.wl, self.weights, self.x, self.y = wl, weights, x, y
        self.trainer = _RefTrainer(weights, np.float32, bool(wl.get("stateful")))
        self.infer_model = _ref_model(weights, np.float32)  # a few arrays; built eagerly
        self.state = None

    def predict_fresh(self, x):
        return _ref_model(self.weights, x.dtype).forward(x)

    def train_step(self):
        return self.trainer.step(self.x, self.y)

    def infer_step(self):
        out = self.infer_model.forward(self.x, initial_states=self.state)
        if self.wl.get("stateful"):
            self.state = [tuple(s) for s in self.infer_model.final_states]
        return out

    @staticmethod
    def fit(weights, x, y, epochs, batch_size, seed=0):
        import numpy as np
        t = time.perf_counter()
        tr = _RefTrainer(weights, np.float32, False)
        rng = np.random.default_rng(seed)
        n = x.shape[0]
        loss_sum = 0.0
        for _ in range(epochs):
            idx = rng.permutation(n)
            loss_sum = 0.0
            for k in range(0, n, batch_size):
                b = idx[k:k + batch_size]
                loss_sum += tr.step(x[b], y[b]) * len(b)
        return time.perf_counter() - t, loss_sum / n


# ----------------------------------------------------------------------------------------------
# PyTorch
# ----------------------------------------------------------------------------------------------
def _torch_net(weights):
    import numpy as np
    import torch
    from torch import nn
    F, H = weights[0].shape[0], weights[1].shape[0]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(F, H, batch_first=True)
            self.fc = nn.Linear(H, 1)

        def forward(self, x, state=None):
            out, state = self.lstm(x, state)
            return self.fc(out[:, -1]), state

    net = Net()
    with torch.no_grad():  # Keras layout -> torch layout; gate order i, f, g, o in both
        net.lstm.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(weights[0].T)))
        net.lstm.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(weights[1].T)))
        net.lstm.bias_ih_l0.copy_(torch.from_numpy(weights[2]))
        net.lstm.bias_hh_l0.zero_()
        net.fc.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[3].T)))
        net.fc.bias.copy_(torch.from_numpy(weights[4]))
    return net


class TorchImpl:
    name = "torch"

    def __init__(self, wl, weights, x, y, threads):
        import torch
        self.torch = torch
        self.wl, self.weights, self.x, self.y = wl, weights, x, y
        self.stateful = bool(wl.get("stateful"))
        self.train_net = _torch_net(weights)
        self.opt = torch.optim.Adam(self.train_net.parameters(), lr=LEARNING_RATE, eps=EPSILON)
        self.infer_net = None
        self.train_state = None
        self.infer_state = None

    def predict_fresh(self, x):
        torch = self.torch
        with torch.inference_mode():
            return _torch_net(self.weights)(torch.from_numpy(x))[0].numpy()

    def train_step(self):
        torch = self.torch
        xb, yb = torch.from_numpy(self.x), torch.from_numpy(self.y)
        self.opt.zero_grad(set_to_none=True)
        out, state = self.train_net(xb, self.train_state)
        loss = torch.nn.functional.mse_loss(out, yb)
        loss.backward()
        self.opt.step()
        if self.stateful:
            self.train_state = tuple(s.detach() for s in state)
        return loss.item()

    def infer_step(self):
        torch = self.torch
        if self.infer_net is None:
            self.infer_net = _torch_net(self.weights).eval()
        with torch.inference_mode():
            out, state = self.infer_net(torch.from_numpy(self.x), self.infer_state)
            if self.stateful:
                self.infer_state = state
            return out.numpy()

    @staticmethod
    def fit(weights, x, y, epochs, batch_size, seed=0):
        import torch
        t = time.perf_counter()
        torch.manual_seed(seed)
        net = _torch_net(weights)
        opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, eps=EPSILON)
        X, Y = torch.from_numpy(x), torch.from_numpy(y)
        n = X.shape[0]
        loss_sum = 0.0
        for _ in range(epochs):
            perm = torch.randperm(n)
            loss_sum = 0.0
            for k in range(0, n, batch_size):
                b = perm[k:k + batch_size]
                opt.zero_grad(set_to_none=True)
                out, _ = net(X[b])
                loss = torch.nn.functional.mse_loss(out, Y[b])
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(b)
        return time.perf_counter() - t, loss_sum / n


# ----------------------------------------------------------------------------------------------
# Keras 3 (backend from KERAS_BACKEND, set before the import)
# ----------------------------------------------------------------------------------------------
def _keras_model(wl, weights, compile_=True):
    import keras
    B, T, F, H = wl["B"], wl["T"], wl["F"], wl["H"]
    if wl.get("stateful"):
        layers = [keras.Input(batch_shape=(B, T, F)), keras.layers.LSTM(H, stateful=True)]
    else:
        layers = [keras.Input(shape=(T, F)), keras.layers.LSTM(H)]
    m = keras.Sequential(layers + [keras.layers.Dense(1)])
    m.set_weights(weights)
    if compile_:
        m.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE), loss="mse")
    return m


class KerasImpl:
    name = "keras"

    def __init__(self, wl, weights, x, y, threads):
        self.wl, self.weights, self.x, self.y = wl, weights, x, y
        self.train_model = _keras_model(wl, weights)
        self.infer_model = None

    def predict_fresh(self, x):
        return _keras_model(self.wl, self.weights, compile_=False).predict_on_batch(x)

    def train_step(self):
        return self.train_model.train_on_batch(self.x, self.y)

    def infer_step(self):
        if self.infer_model is None:
            self.infer_model = _keras_model(self.wl, self.weights, compile_=False)
        return self.infer_model.predict_on_batch(self.x)

    @staticmethod
    def fit(weights, x, y, epochs, batch_size, seed=0):
        import keras
        keras.utils.set_random_seed(seed)
        m = _keras_model({"B": None, "T": x.shape[1], "F": x.shape[2], "H": weights[1].shape[0]},
                         weights)
        t = time.perf_counter()
        hist = m.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
        return time.perf_counter() - t, float(hist.history["loss"][-1])


IMPLS = {"lstmcore": LstmcoreImpl, "reference": ReferenceImpl, "torch": TorchImpl,
         "keras_torch": KerasImpl, "keras_jax": KerasImpl}


def framework_version(name: str) -> str:
    if name == "torch":
        import torch
        return f"torch {torch.__version__}"
    if name.startswith("keras"):
        import keras
        extra = ""
        if name == "keras_torch":
            import torch
            extra = f", torch {torch.__version__}"
        else:
            import jax
            extra = f", jax {jax.__version__}"
        return f"keras {keras.__version__} ({keras.backend.backend()}{extra})"
    import numpy as np
    if name == "reference":
        return f"numpy {np.__version__}"
    import lstmcore
    return f"lstmcore {lstmcore.__version__}"


# ----------------------------------------------------------------------------------------------
# Timing, shared by the in-process runner and the worker
# ----------------------------------------------------------------------------------------------
def warm_up(fn, warm_s: float, min_calls: int = 2, max_single_s: float = 0.4) -> float:
    """Call ``fn`` at least ``min_calls`` times (the first call may compile) and until
    ``warm_s`` passed; stop early once a call takes longer than ``max_single_s``. Returns the
    last call's time (which sizes the repeats)."""
    calls, start, dt = 0, time.perf_counter(), 0.0
    while True:
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        calls += 1
        if calls >= min_calls and (dt > max_single_s or time.perf_counter() - start >= warm_s):
            return dt


def time_calls(fn, inner: int, rewarm_s: float = 0.0) -> float:
    """Seconds per call over ``inner`` back-to-back calls, after untimed calls for at least
    ``rewarm_s`` (at least one call when > 0): threads that slept since the last block are
    awake and spread over the cores again before the clock starts."""
    if rewarm_s > 0:
        t = time.perf_counter()
        fn()
        while time.perf_counter() - t < rewarm_s:
            fn()
    t = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t) / inner


class Session:
    """Holds the current workload's implementation; executes the coordinator's commands."""

    def __init__(self, name: str, threads: int):
        self.name, self.threads = name, threads
        self.impl = None
        self.gemm_fn = None
        self.cls = IMPLS[name]

    def _gemm_setup(self, cmd):
        """C = op(A) @ op(B), (M, K) x (K, N), random operands from ``seed``: lstmcore's
        ``_core.gemm`` in the lstmcore session, NumPy's matmul in the reference's."""
        import numpy as np
        M, N, K, ta, tb = cmd["M"], cmd["N"], cmd["K"], cmd["ta"], cmd["tb"]
        rng = np.random.default_rng(cmd["seed"])
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        c = np.empty((M, N), np.float32)
        ans = {}
        if self.name == "lstmcore":
            from lstmcore import _core

            def fn():
                _core.gemm(a, b, c, ta, tb)
            fn()
            want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
            ans["rel_err"] = float(np.max(np.abs(c - want)) / (np.max(np.abs(want)) + 1e-30))
        else:
            opa, opb = (a.T if ta else a), (b.T if tb else b)

            def fn():
                np.matmul(opa, opb, out=c)
        self.gemm_fn = fn
        ans["s"] = warm_up(fn, cmd.get("warm_s", 0.05))
        return ans

    def handle(self, cmd: dict):
        import numpy as np
        op = cmd["op"]
        if op == "version":
            return {"version": framework_version(self.name)}
        if op == "setup":
            self.impl = None
            d = np.load(cmd["npz"])
            weights = [d[f"w{i}"] for i in range(5)]
            self.impl = self.cls(cmd["wl"], weights, d["x"], d["y"], self.threads)
            pred = np.asarray(self.impl.predict_fresh(d["x_check"]), dtype=np.float64)
            return {"pred": pred.ravel().tolist()}
        if op == "warm":
            fn = self.impl.train_step if cmd["mode"] == "train" else self.impl.infer_step
            return {"s": warm_up(fn, cmd["warm_s"], cmd.get("min_calls", 2))}
        if op == "time":
            fn = self.impl.train_step if cmd["mode"] == "train" else self.impl.infer_step
            return {"s": time_calls(fn, cmd["inner"], cmd.get("rewarm_s", 0.0))}
        if op == "fit":
            self.impl = None
            d = np.load(cmd["npz"])
            weights = [d[f"w{i}"] for i in range(5)]
            s, loss = self.cls.fit(weights, d["x"], d["y"], cmd["epochs"], cmd["batch_size"],
                                   cmd.get("seed", 0))
            return {"s": s, "loss": loss}
        if op == "release":
            self.impl = None
            self.gemm_fn = None
            return {}
        if op == "gemm_setup":
            return self._gemm_setup(cmd)
        if op == "gemm_time":
            return {"s": time_calls(self.gemm_fn, cmd["inner"], cmd.get("rewarm_s", 0.0))}
        if op == "fma_peak":  # lstmcore only: the measured FMA throughput of n threads
            from lstmcore import _core
            return {"gflops": _core.fma_throughput(cmd["n"], cmd.get("seconds", 0.3))}
        if op == "threads":  # lstmcore only: the one-thread SGEMM rate
            import lstmcore
            lstmcore.set_num_threads(cmd["n"])
            return {}
        raise ValueError(f"unknown op {op!r}")


def _worker(name: str, threads: int) -> None:
    # The protocol gets a private copy of stdout; fd 1 goes to stderr, so prints and library
    # chatter never corrupt an answer.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    pin_cpus(threads)
    try:
        if name in ("torch", "keras_torch"):
            import torch
            torch.set_num_threads(threads)
            torch.set_num_interop_threads(1)
        if name.startswith("keras"):
            import keras  # noqa: F401
        session = Session(name, threads)
        proto.write(json.dumps({"ready": True, "version": framework_version(name)}) + "\n")
    except Exception as e:  # noqa: BLE001 - reported to the coordinator
        proto.write(json.dumps({"ready": False, "error": f"{type(e).__name__}: {e}"}) + "\n")
        return
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            break
        try:
            ans = session.handle(cmd)
        except Exception as e:  # noqa: BLE001
            msg = str(e).strip().splitlines()
            text = msg[0] if msg else ""
            ans = {"error": f"{type(e).__name__}: " + (text if len(text) <= 160 else text[:157] + "...")}
        proto.write(json.dumps(ans) + "\n")


# ----------------------------------------------------------------------------------------------
# Peak memory of one training step, in a fresh process
# ----------------------------------------------------------------------------------------------
def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def _memory(name: str, npz: str, threads: int) -> None:
    import resource

    import numpy as np
    pin_cpus(threads)
    if name == "torch":
        import torch
        torch.set_num_threads(threads)
    elif name == "lstmcore":
        import lstmcore  # noqa: F401
    d = np.load(npz)
    weights = [d[f"w{i}"] for i in range(5)]
    x, y = d["x"], d["y"]
    wl = json.loads(str(d["wl"]))
    base_rss = _status_kb("VmRSS")
    try:  # reset VmHWM to the current RSS (Linux >= 4.0), so import-time peaks do not count
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    base_hwm = _status_kb("VmHWM")
    ru0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    impl = IMPLS[name](wl, weights, x, y, threads)
    impl.train_step()
    impl.train_step()
    peak = _status_kb("VmHWM")
    ru1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"base_rss_kb": base_rss, "base_hwm_kb": base_hwm, "peak_hwm_kb": peak,
                      "reset": reset, "ru_before_kb": ru0, "ru_after_kb": ru1,
                      "end_rss_kb": _status_kb("VmRSS")}))


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "worker":
        _worker(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) >= 5 and sys.argv[1] == "memory":
        _memory(sys.argv[2], sys.argv[4], int(sys.argv[3]))
    else:
        sys.exit("usage: _frameworks.py worker NAME THREADS | memory NAME THREADS NPZ")
