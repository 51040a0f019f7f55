"""The Sequential model: define -> compile -> fit -> evaluate -> predict.

Who owns what (as Keras' epoch_iterator.py opens with):
- validation of x/y and arguments: ``_prepare_x`` / ``_prepare_y`` / ``_batch_size_for``
  (every check happens before anything changes, so a failed call leaves the model as it was);
- batching and shuffling: ``fit`` draws the permutation; the native ``Network`` gathers rows
  and runs forward, loss, backward and the optimizer update per batch, several batches per
  call (about 0.1 s of work), so Python runs between calls, never between layers;
- validation split: the last fraction of the samples, taken before shuffling (Keras);
- callbacks: ``CallbackList``; a callback with per-batch hooks makes the native calls one
  batch each;
- progress bar: ``_progress.Progbar``;
- threads: ``_concurrency.ModelGuard`` (what may run concurrently, what is serialised).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings

import numpy as np

from . import _arrays, _concurrency, _config, _core, saving
from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optimizers as optimizers_mod
from ._progress import Progbar
from .callbacks import CallbackList, History
from .layers import LSTM, Layer, deserialize, serialize

_NOTHING = contextlib.nullcontext()

_FIT_UNSUPPORTED = ("sample_weight", "class_weight", "steps_per_epoch", "validation_steps",
                    "validation_freq", "validation_batch_size", "max_queue_size", "workers",
                    "use_multiprocessing")


def _reject_kwargs(method: str, kwargs: dict, unsupported) -> None:
    """Keras arguments lstmcore does not implement raise NotImplementedError when given a
    value; anything else unknown is a TypeError, as a misspelt keyword is in Keras."""
    for k in unsupported:
        if kwargs.get(k) is not None:
            raise NotImplementedError(f"`{method}({k}=...)` is not supported")
        kwargs.pop(k, None)
    if kwargs:
        raise TypeError(f"`{method}` got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")


def _verbosity(verbose) -> int:
    verbose = 1 if verbose == "auto" else verbose
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto'; received verbose={verbose!r}")
    return verbose


class Sequential:
    """A linear stack of layers, with Keras' lifecycle.

    >>> from lstmcore.models import Sequential
    >>> from lstmcore.layers import LSTM, Dense
    >>> model = Sequential([LSTM(2, input_shape=(5, 1)), Dense(1)])
    >>> model.compile(optimizer='adam', loss='mse')
    >>> model.predict(np.zeros((3, 5, 1))).shape
    (3, 1)
    """

    def __init__(self, layers=None, name=None):
        self.name = name or "sequential"
        self.layers: list[Layer] = []
        self._input_shape = None   # per-sample input shape, e.g. (timesteps or None, features)
        self._fixed_batch = None   # from batch_input_shape
        self._net = None          # the training executor (and stateful inference)
        self._guard = _concurrency.ModelGuard()
        self._compiled = False
        self.optimizer = None
        self.loss = None
        self._metric_names: list[str] = []
        self._metric_codes: list[int] = []
        self._metrics_arg = None
        self.stop_training = False
        self.history = None
        self._warned_shuffle = False
        self._batch_index = None   # np.arange(batch) reused by train_on_batch
        self._training_started = False
        self._stateful_cache = None
        for layer in layers or []:
            self.add(layer)

    # ---- definition -----------------------------------------------------------------------
    def add(self, layer) -> None:
        """Append a layer. The first layer may carry ``input_shape``/``batch_input_shape``."""
        with self._guard.mutex:
            self._add(layer)

    def _add(self, layer) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(f"`Sequential.add` expects an lstmcore layer (lstmcore.layers.*); "
                             f"received {layer!r}")
        if any(layer is l for l in self.layers):
            raise ValueError(f"layer `{layer.name}` is already in this model")
        if layer.built and getattr(layer, "_model", None) is not None and layer._model is not self:
            raise ValueError(f"layer `{layer.name}` already belongs to another model")
        if isinstance(layer, LSTM) and layer.return_state:
            raise ValueError("`LSTM(return_state=True)` returns a list and cannot be used inside "
                             "Sequential; call the layer on its own to get its state")
        if self.layers and layer._batch_input_shape is not None:
            raise ValueError(f"only the first layer may set an input shape; layer `{layer.name}` "
                             f"has {layer._batch_input_shape}")
        if not self.layers and layer._batch_input_shape is not None:
            bis = layer._batch_input_shape
            self._fixed_batch = bis[0]
            self._input_shape = tuple(bis[1:])
        self.layers.append(layer)
        layer._model = self
        self._drop_executors()
        if self._input_shape is not None:
            try:
                self._build(self._input_shape)
            except Exception:
                self.layers.pop()
                layer._model = None
                raise
        if self._compiled:
            self._resolve_metrics()  # 'accuracy' depends on the final output width

    def _build(self, input_shape) -> None:
        shape = tuple(input_shape)
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self._input_shape = tuple(input_shape)
        self._drop_executors()

    def _unbuild(self, layers_built) -> None:
        """Undo a build made by a call that then failed: the model is as before the call."""
        for layer, was_built in zip(self.layers, layers_built):
            if not was_built:
                layer.built = False
                layer._weights = []
                layer.input_shape = layer.output_shape = None
        self._input_shape = None
        self._drop_executors()

    def _building_from(self, x):
        """Build from the data when the model has no input shape yet; if the call then fails
        (bad targets, bad validation data...), the model goes back to unbuilt."""
        if self._input_shape is not None:
            return _NOTHING  # the common case: no generator-based context manager (~1 us)
        return self._build_transaction(x)

    @contextlib.contextmanager
    def _build_transaction(self, x):
        with self._guard.mutex:
            before = [layer.built for layer in self.layers]
            self._ensure_built(x)
            try:
                yield
            except BaseException:
                self._unbuild(before)
                raise

    @property
    def built(self) -> bool:
        return self._input_shape is not None and all(l.built for l in self.layers)

    def _has_dropout(self) -> bool:
        return any(layer._uses_dropout() for layer in self.layers)

    def _stateful(self) -> bool:
        if self._stateful_cache is None:
            self._stateful_cache = any(getattr(l, "stateful", False) for l in self.layers)
        return self._stateful_cache

    @property
    def input_shape(self):
        if self._input_shape is None:
            return None
        return (self._fixed_batch,) + tuple(self._input_shape)

    @property
    def output_shape(self):
        if self._input_shape is None:
            return None
        shape = self._input_shape
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return (self._fixed_batch,) + tuple(shape)

    def _sample_output_shape(self):
        return self.output_shape[1:]

    def count_params(self) -> int:
        if not self.built:
            raise ValueError("this model has not been built yet: give the first layer "
                             "`input_shape=` or call fit/predict on data first")
        return sum(l.count_params() for l in self.layers)

    def summary(self, print_fn=None) -> None:
        """Print layer names, output shapes and parameter counts, as Keras does."""
        if not self.built:
            raise ValueError("this model has not been built yet: give the first layer "
                             "`input_shape=` or call fit/predict on data first")
        out = print_fn or print
        w = (29, 26, 10)
        line = "_" * sum(w)
        out(f'Model: "{self.name}"')
        out(line)
        out(f"{' Layer (type)':<{w[0]}}{'Output Shape':<{w[1]}}{'Param #':<{w[2]}}")
        out("=" * sum(w))
        shape = self._input_shape
        for i, layer in enumerate(self.layers):
            shape = layer.compute_output_shape(shape)
            name = f" {layer.name} ({type(layer).__name__})"
            oshape = str((self._fixed_batch,) + tuple(shape))
            out(f"{name:<{w[0]}}{oshape:<{w[1]}}{layer.count_params():<{w[2]}}")
            if i < len(self.layers) - 1:
                out("")
        out("=" * sum(w))
        total = self.count_params()
        trainable = sum(l.count_params() for l in self.layers if l.trainable)
        out(f"Total params: {total:,}")
        out(f"Trainable params: {trainable:,}")
        out(f"Non-trainable params: {total - trainable:,}")
        out(line)

    # ---- the native executors ---------------------------------------------------------------
    def _new_executor(self, training: bool):
        """A native Network over this model's weights (shared, not copied), with its own
        activations and workspaces; sharing the model's WeightLock."""
        net = _core.Network(self._guard.weights)
        shape = self._input_shape
        for i, layer in enumerate(self.layers):
            layer._add_native(net, shape)
            if not layer.trainable:
                net.set_trainable(i, False)
            shape = layer.compute_output_shape(shape)
        if self._compiled:
            if training:
                self._configure_native(net)
            else:  # inference: loss and metrics for evaluate, no optimizer slots
                net.set_loss(self.loss)
                net.set_metrics(self._metric_codes)
        return net

    def _native(self):
        """The training executor (the only one a stateful model uses: it holds the state)."""
        if self._net is None:
            self._net = self._new_executor(training=True)
        return self._net

    def _drop_executors(self) -> None:
        self._net = None
        self._stateful_cache = None
        self._guard.invalidate()

    def _run_inference(self, fn):
        """fn(executor) for one predict/evaluate call: the training executor under the
        mutation lock for a stateful model (its state is the model's), else an executor of
        the pool's, so that concurrent calls run in parallel, each on its own. Written out
        rather than as context managers: this is the per-call path of predict_on_batch."""
        if self._stateful():
            with self._guard.mutex:
                return fn(self._native())
        guard = self._guard
        gen = guard.pool_gen
        try:
            net = guard.pool.pop()
        except IndexError:
            net = self._new_executor(training=False)
        try:
            return fn(net)
        finally:
            if gen == guard.pool_gen:
                guard.pool.append(net)

    def _weights_written(self) -> None:
        """Weights or optimizer slots were written from Python (under the exclusive lock)."""
        if self._net is not None:
            self._net.weights_changed()

    def _configure_native(self, net) -> None:
        net.set_loss(self.loss)
        net.set_metrics(self._metric_codes)
        args = self.optimizer._native_args()
        net.set_optimizer(self.optimizer._kind, **args)
        net.iterations = self.optimizer.iterations

    def _sync_iterations(self) -> None:
        if self._net is not None and self.optimizer is not None:
            self.optimizer.iterations = int(self._net.iterations)

    # ---- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, jit_compile=None, **kwargs):
        """Configure training.

        Args:
            optimizer: name ('sgd', 'adam', 'rmsprop') or an optimizer instance.
            loss: 'mse'/'mean_squared_error', 'mae', 'binary_crossentropy',
                'categorical_crossentropy', 'sparse_categorical_crossentropy'.
            metrics: list of 'accuracy'/'acc', 'mse', 'mae' (and the explicit accuracies).
        """
        with self._guard.mutex:
            self._compile(optimizer, loss, metrics, loss_weights, weighted_metrics, **kwargs)

    def _compile(self, optimizer, loss, metrics, loss_weights, weighted_metrics, **kwargs):
        if kwargs:
            raise TypeError(f"`compile` got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        if loss_weights is not None or weighted_metrics is not None:
            raise NotImplementedError("`loss_weights` and `weighted_metrics` are not supported "
                                      "(a Sequential model has a single output)")
        if loss is None:
            raise ValueError("`compile` needs a loss, e.g. loss='mse'; expected one of "
                             + ", ".join(repr(n) for n in losses_mod.LOSSES))
        loss_name = losses_mod.get(loss)
        opt = optimizers_mod.get(optimizer)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str,)) or callable(metrics):
            metrics = [metrics]
        elif isinstance(metrics, dict):
            raise ValueError("`metrics` must be a list for a Sequential model")
        metrics = list(metrics)
        # resolve names now (errors before any change); codes once the output width is known
        for m in metrics:
            metrics_mod.resolve(m, loss_name, 2)
        if len(metrics) > 8:
            raise ValueError("at most 8 metrics are supported")
        self.optimizer = opt
        opt._bind(self)
        self.loss = loss_name
        self._metrics_arg = metrics
        self._compiled = True
        self._resolve_metrics()
        self._guard.invalidate()  # inference executors carry the loss and metrics
        if self._net is not None:
            self._configure_native(self._net)

    def _resolve_metrics(self) -> None:
        width = self.output_shape[-1] if self.built else 2
        resolved = [metrics_mod.resolve(m, self.loss, width) for m in self._metrics_arg or []]
        self._metric_names = [name for name, _ in resolved]
        self._metric_codes = [code for _, code in resolved]

    def get_compile_config(self):
        """The compile settings as plain values (Keras 3's name), or None before compile."""
        if not self._compiled:
            return None
        return {"optimizer": optimizers_mod.serialize(self.optimizer), "loss": self.loss,
                "metrics": list(self._metrics_arg or [])}

    def compile_from_config(self, config) -> None:
        """compile() from ``get_compile_config()``'s values."""
        self.compile(optimizer=optimizers_mod.deserialize(config["optimizer"]),
                     loss=config["loss"], metrics=config.get("metrics") or None)

    def _optimizer_state(self) -> list:
        """[iterations, *slots] of the compiled optimizer (copies; consistent: taken between
        training steps)."""
        with self._guard.mutex:
            if not self.built:
                return [np.int64(self.optimizer.iterations)]
            net = self._native()
            self._sync_iterations()
            with self._guard.shared():
                return [np.int64(net.iterations)] + [np.array(s) for s in net.optimizer_slots()]

    def _set_optimizer_state(self, weights) -> None:
        with self._guard.mutex:
            net = self._native()
            targets = net.optimizer_slots()
            if not weights:
                raise ValueError("an optimizer state is [iterations, *slots]; received []")
            it, slots = weights[0], [np.asarray(s, dtype=np.float32) for s in weights[1:]]
            if len(slots) != len(targets) or any(t.shape != s.shape
                                                 for t, s in zip(targets, slots)):
                raise ValueError(f"the optimizer state does not match the model: expected "
                                 f"{len(targets)} slot arrays "
                                 f"{[tuple(t.shape) for t in targets][:8]}; received "
                                 f"{[tuple(s.shape) for s in slots][:8]}")
            it = optimizers_mod.check_iterations(int(np.asarray(it)))
            if not all(np.isfinite(s).all() for s in slots):
                raise ValueError("the optimizer state contains NaN or Inf")
            with self._guard.exclusive():
                for t, s in zip(targets, slots):
                    t[...] = s
                net.iterations = it
                self.optimizer.iterations = it
                self._weights_written()

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + list(self._metric_names)

    def _check_compiled(self, what: str) -> None:
        if not self._compiled:
            raise RuntimeError(f"you must call `compile()` before `{what}()`: e.g. "
                               f"model.compile(optimizer='adam', loss='mse')")

    # ---- data preparation ---------------------------------------------------------------------
    def _first_layer_sequence(self) -> bool:
        return bool(self.layers) and self.layers[0]._sequence_input()

    def _prepare_x(self, x, name="x") -> np.ndarray:
        if not self.layers:
            raise ValueError("this model has no layers: add some with `model.add(...)`")
        a = _arrays.as_float32(x, name)
        want_rank = 3 if self._first_layer_sequence() else (len(self._input_shape) + 1 if self._input_shape else 2)
        first = type(self.layers[0]).__name__
        if a.ndim != want_rank:
            if want_rank == 3:
                feats = self._input_shape[-1] if self._input_shape else None
                raise ValueError(f"`{first}` expects 3D input (samples, timesteps, features); "
                                 f"received `{name}` with shape {a.shape}."
                                 + _arrays.reshape_hint(a.shape, 3, feats))
            raise ValueError(f"`{first}` expects {want_rank}D input; received `{name}` with shape {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"`{name}` has no samples (shape {a.shape})")
        if want_rank == 3 and a.shape[1] == 0:
            raise ValueError(f"`{name}` has zero timesteps (shape {a.shape}); every sample needs "
                             f"at least one timestep")
        if self._input_shape is not None:
            spec = self._input_shape
            if a.shape[-1] != spec[-1]:
                raise ValueError(f"the model expects {spec[-1]} features per "
                                 f"{'timestep' if want_rank == 3 else 'sample'} (input shape "
                                 f"{self.input_shape}); received `{name}` with shape {a.shape}")
            if want_rank == 3 and spec[0] is not None and a.shape[1] != spec[0]:
                raise ValueError(f"the model was defined with {spec[0]} timesteps (input shape "
                                 f"{self.input_shape}); received `{name}` with shape {a.shape}. "
                                 f"Use input_shape=(None, {spec[-1]}) to accept any length.")
        _arrays.check_finite(a, name)
        return a

    def _ensure_built(self, x: np.ndarray) -> None:
        if self._input_shape is None:
            shape = (None,) + x.shape[2:] if x.ndim == 3 else x.shape[1:]
            self._build(shape)
            if self._compiled:
                self._resolve_metrics()

    def _prepare_y(self, y, n: int, name="y") -> np.ndarray:
        out = self._sample_output_shape()
        if (type(y) is np.ndarray and y.dtype == np.float32 and y.flags.c_contiguous
                and y.ndim > 0 and y.shape[0] == n and y.shape[1:] == out
                and self.loss != "sparse_categorical_crossentropy"):
            _arrays.check_finite(y, name)  # the common case, already in the right layout
            return y
        if y is None:
            raise ValueError(f"`{name}` is required")
        if self.loss == "sparse_categorical_crossentropy":
            a = np.asarray(y)
            if a.dtype == object or a.dtype.kind not in "biuf":
                raise ValueError(f"`{name}` must hold integer class indices; received dtype {a.dtype}")
            per = math.prod(out[:-1])
            if a.ndim == 0 or a.shape[0] != n:
                raise ValueError(f"`x` has {n} samples but `{name}` has "
                                 f"{a.shape[0] if a.ndim else 0}; pass one target per sample")
            if a.size != n * per:
                raise ValueError(f"`{name}` must hold {per} class index per sample for output shape "
                                 f"{self.output_shape}; received shape {a.shape}")
            a = _arrays.as_float32(a, name).reshape(n, per)
            _arrays.check_finite(a, name)
            classes = out[-1]
            if (a != np.floor(a)).any() or (a < 0).any() or (a >= classes).any():
                raise ValueError(f"`{name}` must hold integer class indices in [0, {classes - 1}] "
                                 f"for sparse_categorical_crossentropy; received values in "
                                 f"[{a.min()}, {a.max()}]")
            return np.ascontiguousarray(a)
        a = _arrays.as_float32(y, name)
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(f"`x` has {n} samples but `{name}` has {a.shape[0] if a.ndim else 0}; "
                             f"pass one target per sample")
        per = math.prod(out)
        if a.size != n * per:
            hint = ""
            if self.loss == "categorical_crossentropy" and a.size == n:
                hint = (" For integer class labels use loss='sparse_categorical_crossentropy' or "
                        "one-hot encode them.")
            raise ValueError(f"`{name}` must have shape {(n,) + tuple(out)} to match the model's "
                             f"output {self.output_shape}; received shape {a.shape}.{hint}")
        _arrays.check_finite(a, name)
        return a.reshape((n,) + tuple(out))

    def _prepare_xy(self, x, y):
        """Validated (x, y); builds the model from x first when it has no input shape yet
        (and unbuilds it again when y is refused)."""
        x = self._prepare_x(x)
        if self._input_shape is not None:  # built: the per-call path, no context manager
            return x, self._prepare_y(y, x.shape[0])
        with self._building_from(x):
            return x, self._prepare_y(y, x.shape[0])

    def _check_exact_batch(self, n: int, verb: str) -> None:
        if self._stateful() and self._fixed_batch and n != self._fixed_batch:
            raise ValueError(f"a stateful model {verb} batches of exactly {self._fixed_batch} "
                             f"samples; received {n}")

    @staticmethod
    def _returned(logs: dict, return_dict: bool):
        """Keras' return value: the logs dict, the loss alone, or [loss, *metrics]."""
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _batch_size_for(self, batch_size, n: int, what: str, default=32) -> int:
        bs = _arrays.check_batch_arg(batch_size, "batch_size")
        if self._stateful() and self._fixed_batch:
            fb = self._fixed_batch
            if bs is not None and bs != fb:
                raise ValueError(f"this model has a stateful LSTM with batch size {fb} (from "
                                 f"batch_input_shape); `{what}` must use batch_size={fb} (or omit "
                                 f"it); received batch_size={bs}")
            if n % fb != 0:
                raise ValueError(f"a stateful model processes whole batches of {fb} samples: "
                                 f"`{what}` received {n} samples, which is not a multiple of {fb}. "
                                 f"Trim or pad the data to a multiple of {fb}.")
            return fb
        # a batch larger than the data is the whole data (and a huge one stays in range)
        return min(bs if bs is not None else default, max(n, 1))

    # ---- training -----------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, seed=None,
            **kwargs):
        """Train for a number of epochs; returns a ``History``.

        Args:
            x: ``(samples, timesteps, features)`` for an LSTM-first model.
            y: targets matching the output shape (class indices for sparse cross-entropy).
            batch_size: Default 32 (the fixed batch size for a stateful model).
            epochs: train until epoch ``epochs`` (counting from ``initial_epoch``).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch. Default: 1.
            callbacks: list of ``lstmcore.callbacks.Callback``.
            validation_split: fraction of the samples (the last ones) held out.
            validation_data: ``(x_val, y_val)`` evaluated after each epoch.
            shuffle: shuffle the samples every epoch. Default True.
            initial_epoch: epoch at which to start (to resume a run).
            seed: seed this fit's shuffling and dropout.
        """
        with self._guard.mutex:
            before = [layer.built for layer in self.layers]
            unbuilt = self._input_shape is None
            self._training_started = False
            try:
                return self._fit(x, y, batch_size, epochs, verbose, callbacks, validation_split,
                                 validation_data, shuffle, initial_epoch, seed, **kwargs)
            except BaseException:
                if unbuilt and not self._training_started:  # refused before any step
                    self._unbuild(before)
                raise

    def _fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
             validation_data, shuffle, initial_epoch, seed, **kwargs):
        for k in ("batch_input_shape", "input_shape", "input_dim", "input_length"):
            if k in kwargs:
                raise TypeError(f"`{k}` is an argument of the model's first layer, not of fit(): "
                                f"write e.g. LSTM(2, {k}={kwargs[k]!r}) when defining the model, "
                                f"then call fit(X, y, ...)")
        _reject_kwargs("fit", kwargs, _FIT_UNSUPPORTED)
        self._check_compiled("fit")
        verbose = _verbosity(verbose)
        epochs = _arrays.check_batch_arg(epochs, "epochs", allow_none=False)
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
            raise ValueError(f"`initial_epoch` must be a non-negative integer; received {initial_epoch!r}")
        try:
            vs = float(validation_split)
        except (TypeError, ValueError):
            vs = -1.0
        if not 0.0 <= vs < 1.0:
            raise ValueError(f"`validation_split` must be in [0, 1); received {validation_split!r}")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
                raise ValueError(f"`seed` must be a non-negative integer; received seed={seed!r}")
        x, y = self._prepare_xy(x, y)
        n_all = x.shape[0]
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("`validation_data` must be a tuple (x_val, y_val)")
            vx = self._prepare_x(validation_data[0], "x_val")
            vy = self._prepare_y(validation_data[1], vx.shape[0], "y_val")
            val = (vx, vy)
        elif vs > 0.0:
            split = int(math.floor(n_all * (1.0 - vs)))
            if split < 1 or split >= n_all:
                raise ValueError(f"`validation_split={validation_split}` leaves "
                                 f"{'no training' if split < 1 else 'no validation'} samples out of {n_all}")
            val = (np.ascontiguousarray(x[split:]), np.ascontiguousarray(y[split:]))
            x, y = np.ascontiguousarray(x[:split]), np.ascontiguousarray(y[:split])
        n = x.shape[0]
        bs = self._batch_size_for(batch_size, n, "fit")
        val_bs = None
        if val is not None:
            val_bs = self._batch_size_for(batch_size, val[0].shape[0], "fit (validation data)")
        if self._stateful() and shuffle and not self._warned_shuffle:
            self._warned_shuffle = True
            warnings.warn("fit(shuffle=True) on a stateful model reorders the samples, so state "
                          "no longer carries sample i of one batch into sample i of the next; "
                          "pass shuffle=False", UserWarning, stacklevel=2)
        user_cbs = list(callbacks or [])
        history = History()
        steps = math.ceil(n / bs)
        params = {"batch_size": bs, "epochs": epochs, "steps": steps, "samples": n,
                  "verbose": verbose}
        cbs = CallbackList(user_cbs + [history], self, params)
        history.params = params
        net = self._native()
        sparse = self.loss == "sparse_categorical_crossentropy"
        y2 = y.reshape(n, -1)
        rng = np.random.default_rng(seed) if seed is not None else \
            np.random.default_rng(int(_config.rng().integers(0, 2**63 - 1)))
        self.stop_training = False
        self.history = history
        self._training_started = True
        cbs.call("on_train_begin", {})
        chunk = 1
        for epoch in range(initial_epoch, epochs):
            if self.stop_training:
                break
            cbs.call("on_epoch_begin", epoch, {})
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            idx = rng.permutation(n).astype(np.int64) if shuffle else np.arange(n, dtype=np.int64)
            epoch_seed = int(rng.integers(0, 2**63 - 1))
            bar = Progbar(n, verbose)
            loss_sum, msums, samples = 0.0, np.zeros(len(self._metric_names)), 0
            msums_list = []
            k = 0
            failed = None
            while k < steps:
                k1 = k + 1 if cbs.wants_batches else min(steps, k + chunk)
                if cbs.wants_batches:
                    cbs.call("on_train_batch_begin", k, {})
                t0 = time.perf_counter()
                try:
                    # the sums continue natively batch by batch: the epoch's loss does not
                    # depend on how batches were grouped into calls (which follows timings)
                    done, blosses, loss_sum, ms, cnt, failure = net.train_batches(
                        x, y2, idx, bs, k, k1, epoch_seed, sparse, loss_sum, msums_list)
                finally:  # Ctrl-C lands here between batches: keep the step count exact
                    self._sync_iterations()
                dt = time.perf_counter() - t0
                samples += cnt
                msums_list = ms
                msums = np.asarray(ms[:len(self._metric_names)])
                logs = self._logs(loss_sum, msums, samples)
                if failure:
                    failed = (k + done, float(blosses[done]), failure)
                    break
                if cbs.wants_batches:
                    blogs = {"loss": float(blosses[0])}
                    cbs.call("on_train_batch_end", k, blogs)
                k += done
                bar.update(min(n, k * bs), logs)
                if done:
                    chunk = int(min(4096, max(1, 0.1 / max(dt / done, 1e-7))))
                if self.stop_training:
                    break
            logs = self._logs(loss_sum, msums, samples)
            if failed is not None:
                batch, value, failure = failed
                logs["loss"] = value
                self.stop_training = True
                warnings.warn(self._refused_step_message(failure, value, f"at epoch {epoch + 1}, "
                                                         f"batch {batch + 1}"),
                              RuntimeWarning, stacklevel=3)
            if val is not None and failed is None:
                vres = self._evaluate_arrays(val[0], val[1], val_bs)
                logs.update({"val_" + k_: v for k_, v in vres.items()})
            bar.finish(logs)
            cbs.call("on_epoch_end", epoch, dict(logs))
        cbs.call("on_train_end", {})
        return history

    def _refused_step_message(self, failure: int, loss: float, where: str) -> str:
        if failure == 3:
            what = (f"the update {where} would have made a weight or an optimizer slot "
                    f"non-finite (learning rate {self.optimizer.learning_rate:g}; the loss was "
                    f"{loss})")
        else:
            what = f"the loss became {loss} {where}"
        return (f"{what}: training stopped before that batch's update, so the weights are those "
                f"after the previous batch. Lower the learning rate or check the data for "
                f"extreme values.")

    def _logs(self, loss_sum, msums, samples) -> dict:
        logs = {"loss": float(loss_sum / samples) if samples else float("nan")}
        if not self._metric_names:
            return logs
        for name, s in zip(self._metric_names, msums):
            logs[name] = float(s / samples) if samples else float("nan")
        return logs

    def _evaluate_arrays(self, x, y, bs) -> dict:
        sparse = self.loss == "sparse_categorical_crossentropy"
        y2 = y.reshape(x.shape[0], -1)
        lsum, ms, cnt = self._run_inference(lambda net: net.evaluate(x, y2, bs, sparse))
        return self._logs(lsum, np.asarray(ms[:len(self._metric_names)]), cnt)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, **kwargs):
        """Loss (and metrics) on data: the loss alone when no metric was compiled, else
        ``[loss, metric, ...]``; means over samples (batches weighted by their size)."""
        _reject_kwargs("evaluate", kwargs, ("sample_weight", "steps", "callbacks"))
        self._check_compiled("evaluate")
        verbose = _verbosity(verbose)
        x, y = self._prepare_xy(x, y)
        bs = self._batch_size_for(batch_size, x.shape[0], "evaluate")
        bar = Progbar(x.shape[0], verbose)
        logs = self._evaluate_arrays(x, y, bs)
        bar.finish(logs)
        return self._returned(logs, return_dict)

    def predict(self, x, batch_size=None, verbose=0, **kwargs):
        """Outputs for ``x``, float32, batch by batch. Silent by default."""
        _reject_kwargs("predict", kwargs, ("steps", "callbacks"))
        _verbosity(verbose)
        x = self._prepare_x(x)
        with self._building_from(x):
            bs = self._batch_size_for(batch_size, x.shape[0], "predict")
            return self._predict_arrays(x, bs)

    def _predict_arrays(self, x, bs):
        n = x.shape[0]
        shape = self._sample_output_shape()
        if shape and shape[0] is None:  # variable timesteps: follow the input
            shape = (x.shape[1],) + tuple(shape[1:])
        out = np.empty((n,) + tuple(shape), dtype=np.float32)
        self._run_inference(lambda net: net.predict(x, bs, out))
        return out

    def predict_classes(self, x, batch_size=None, verbose=0):
        """Class predictions: argmax over the last axis, or ``(p > 0.5)`` as int32 for a
        single output unit (Keras 2)."""
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x, batch_size=None, verbose=0):
        """The model's outputs, read as probabilities (Keras 2)."""
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def train_on_batch(self, x, y, reset_metrics=True, return_dict=False):
        """One optimizer step on one batch; returns the loss or ``[loss, *metrics]``."""
        self._check_compiled("train_on_batch")
        with self._guard.mutex:
            return self._train_on_batch(x, y, return_dict)

    def _train_on_batch(self, x, y, return_dict):
        x, y = self._prepare_xy(x, y)
        n = x.shape[0]
        self._check_exact_batch(n, "trains on")
        sparse = self.loss == "sparse_categorical_crossentropy"
        # the seed only keys dropout masks: no draw (~1 us) for a model without dropout
        seed = int(_config.rng().integers(0, 2**63 - 1)) if self._has_dropout() else 0
        if self._batch_index is None or len(self._batch_index) != n:
            self._batch_index = np.arange(n, dtype=np.int64)
        try:
            done, blosses, lsum, ms, cnt, failure = self._native().train_batches(
                x, y.reshape(n, -1), self._batch_index, n, 0, 1, seed, sparse)
        finally:
            self._sync_iterations()
        if failure:
            warnings.warn(self._refused_step_message(failure, float(blosses[0]), "on this batch"),
                          RuntimeWarning, stacklevel=3)
            logs = {"loss": float(blosses[0])}
            logs.update({m: float("nan") for m in self._metric_names})
        else:
            logs = self._logs(lsum, ms, cnt)
        return self._returned(logs, return_dict)

    def test_on_batch(self, x, y, reset_metrics=True, return_dict=False):
        """Loss (and metrics) on one batch, without updating."""
        self._check_compiled("test_on_batch")
        x, y = self._prepare_xy(x, y)
        return self._returned(self._evaluate_arrays(x, y, x.shape[0]), return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch (a stateful model continues its state)."""
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous
                and self._input_shape is not None and x.ndim == len(self._input_shape) + 1
                and x.shape[1:] == self._input_shape and x.shape[0] > 0
                and _core.first_nonfinite(x) < 0):
            x = self._prepare_x(x)
            with self._building_from(x):
                self._check_exact_batch(x.shape[0], "predicts")
                return self._predict_arrays(x, x.shape[0])
        self._check_exact_batch(x.shape[0], "predicts")  # the per-call path: already built
        return self._predict_arrays(x, x.shape[0])

    # ---- state and weights ----------------------------------------------------------------------
    def reset_states(self) -> None:
        """Zero the state of every stateful layer."""
        with self._guard.mutex:
            if self._net is not None:
                self._net.reset_states()

    def _trainable_changed(self, layer) -> None:
        """layer.trainable was set: the training executor updates only trainable layers
        (Keras asks for a new compile(); here the change applies at once, and the optimizer
        state restarts as after compile)."""
        with self._guard.mutex:
            if self._net is not None:
                self._net.set_trainable(self.layers.index(layer), layer.trainable)

    def _reset_layer_states(self, layer) -> None:
        with self._guard.mutex:
            if self._net is not None:
                self._net.reset_layer_states(self.layers.index(layer))

    def get_weights(self) -> list[np.ndarray]:
        """All weights, layer by layer, in Keras order and shapes (copies, never half-updated)."""
        out = []
        with self._guard.shared():
            for layer in self.layers:
                out.extend(layer.get_weights())
        return out

    def set_weights(self, weights) -> None:
        """Set all weights from a list like ``get_weights()``; everything is checked before
        anything is written."""
        with self._guard.mutex:
            self._set_weights(list(weights))

    def _set_weights(self, weights) -> None:
        expected = sum(len(l.weights) for l in self.layers)
        if len(weights) != expected:
            raise ValueError(f"the model expects {expected} weight arrays "
                             f"{[tuple(w.shape) for l in self.layers for w in l.weights]}; "
                             f"received {len(weights)}")
        i = 0
        checked = []
        for layer in self.layers:
            k = len(layer.weights)
            part = weights[i:i + k]
            for j, (cur, new) in enumerate(zip(layer.weights, part)):
                a = np.asarray(new, dtype=np.float32)
                if a.shape != cur.shape:
                    raise ValueError(f"weight {i + j} (layer `{layer.name}`, "
                                     f"{layer._weight_names[j] if j < len(layer._weight_names) else j}) "
                                     f"must have shape {tuple(cur.shape)}; received shape {a.shape}")
                if not np.isfinite(a).all():
                    raise ValueError(f"weight {i + j} (layer `{layer.name}`) contains NaN or Inf")
            checked.append((layer, part))
            i += k
        self._write_weights(checked)

    def _write_weights(self, layer_arrays) -> None:
        """Copy checked arrays into layers' weights, in place (the native executors point at
        them), serialised with fit/compile and never seen half-written by a predict."""
        with self._guard.mutex, self._guard.exclusive():
            for layer, part in layer_arrays:
                for cur, new in zip(layer.weights, part):
                    np.copyto(cur, np.asarray(new, dtype=np.float32))
            self._weights_written()

    # ---- configs, saving and pickling ------------------------------------------------------------
    def get_config(self) -> dict:
        layers = []
        for i, layer in enumerate(self.layers):
            cfg = serialize(layer)
            if i == 0 and self._input_shape is not None and "batch_input_shape" not in cfg["config"]:
                cfg["config"]["batch_input_shape"] = [self._fixed_batch] + list(self._input_shape)
            layers.append(cfg)
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config: dict):
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("a Sequential config must be a dict with a 'layers' list")
        return cls([deserialize(c) for c in config["layers"]], name=config.get("name"))

    def save(self, filepath) -> None:
        """Save architecture, weights, compile settings and optimizer state to one file."""
        with self._guard.mutex:
            saving.save_model(self, filepath)

    def save_weights(self, filepath) -> None:
        with self._guard.mutex:
            saving.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        saving.load_weights(self, filepath)

    def __reduce__(self):
        with self._guard.mutex:
            return (model_from_bytes, (saving.model_to_bytes(self),))

    def __deepcopy__(self, memo):
        with self._guard.mutex:
            data = saving.model_to_bytes(self)
        return model_from_bytes(data)


def load_model(filepath, compile=True):
    """Load a model saved with ``model.save``: no code is executed (no pickle)."""
    return saving.load(filepath, Sequential, compile, f"file {os.fspath(filepath)!r}")


def model_from_bytes(data, compile=True):
    """A model from the bytes of a model file (pickling and deepcopy go through this)."""
    return saving.load(data, Sequential, compile, "the model data")
