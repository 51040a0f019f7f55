"""Training: compile, fit, evaluate, predict and the *_on_batch methods (Keras' Trainer).

Who owns what (as Keras' epoch_iterator.py opens with):
- validation of x/y and arguments: ``_data.DataPrep`` (``_prepare_x`` / ``_prepare_y`` /
  ``_batch_size_for``; every check happens before anything changes, so a failed call leaves
  the model as it was);
- batching and shuffling: ``fit`` draws the permutation; the native ``Network`` gathers rows
  and runs forward, loss, backward and the optimizer update per batch, several batches per
  call (about 0.1 s of work), so Python runs between calls, never between layers;
- validation split: the last fraction of the samples, taken before shuffling (Keras);
- callbacks: ``CallbackList``; a callback with per-batch hooks makes the native calls one
  batch each;
- progress bar: ``_progress.Progbar``;
- threads: ``_concurrency.ModelGuard`` (what may run concurrently, what is serialised).
The model's definition, executors and weights live in ``models.Sequential``, which mixes
this class in.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import _arrays, _config, _out_of_core, _sources
from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optimizers as optimizers_mod
from ._epoch import EpochRun, Training
from ._progress import Progbar

_FIT_UNSUPPORTED = ("steps_per_epoch", "validation_steps",
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


class Trainer:
    """compile/fit/evaluate/predict for a model that provides the definition (layers,
    shapes), the executors (``_native``, ``_run_inference``) and data preparation."""

    # ---- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, jit_compile=None, **kwargs):
        """Configure training.

        Args:
            optimizer: name ('sgd', 'adam', 'rmsprop') or an optimizer instance.
            loss: 'mse'/'mean_squared_error', 'mae', 'binary_crossentropy',
                'categorical_crossentropy', 'sparse_categorical_crossentropy'.
            metrics: list of 'accuracy'/'acc', 'mse', 'mae' (and the explicit accuracies),
                or the functions of ``lstmcore.metrics`` (logged under their ``__name__``:
                ``metrics.mae`` as ``'mean_absolute_error'``, as Keras does).
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
        # metric functions become their names (Keras' History keys; what a model file stores);
        # resolved now (errors before any change), codes once the output width is known
        metrics = [metrics_mod.name_of(m) for m in metrics]
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
        self._metric_codes = [[code for _, code in resolved]]  # per output (one here)
        self._metric_slots = [(name, 0) for name in self._metric_names]
        self._output_loss_names = []  # per-output losses are logged for several outputs

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
        return ["loss"] + [n for _, n in self._output_loss_names] + \
            [n for n, _ in self._metric_slots]

    def _check_compiled(self, what: str) -> None:
        if not self._compiled:
            raise RuntimeError(f"you must call `compile()` before `{what}()`: e.g. "
                               f"model.compile(optimizer='adam', loss='mse')")

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
                if not _sources.is_source(x) and _out_of_core.any_lazy(
                        x, y, kwargs.get("sample_weight"), validation_data):
                    return _out_of_core.fit(self, x, y, batch_size, epochs, verbose, callbacks,
                                            validation_split, validation_data, shuffle,
                                            initial_epoch, seed, **kwargs)
                if _sources.is_source(x):
                    return self._fit_source(x, y, batch_size, epochs, verbose, callbacks,
                                            validation_split, validation_data, shuffle,
                                            initial_epoch, seed, **kwargs)
                return self._fit(x, y, batch_size, epochs, verbose, callbacks, validation_split,
                                 validation_data, shuffle, initial_epoch, seed, **kwargs)
            except BaseException:
                if unbuilt and not self._training_started:  # refused before any step
                    self._unbuild(before)
                raise

    def _fit_source(self, source, y, batch_size, epochs, verbose, callbacks, validation_split,
                    validation_data, shuffle, initial_epoch, seed, steps_per_epoch=None,
                    validation_steps=None, class_weight=None, **kwargs):
        """fit on a generator, iterator or Sequence (batches come from it)."""
        _reject_kwargs("fit", kwargs, ("sample_weight", "validation_freq", "max_queue_size",
                                       "workers", "use_multiprocessing",
                                       "validation_batch_size"))
        self._check_compiled("fit")
        if y is not None:
            raise ValueError("`y` must not be given when `x` is a generator or a Sequence: its "
                             "batches carry the targets, (x, y) or (x, y, sample_weight)")
        if batch_size is not None:
            raise ValueError("`batch_size` must not be given when `x` is a generator or a "
                             "Sequence: the batches come from it")
        if validation_split:
            raise ValueError("`validation_split` needs arrays; with a generator pass "
                             "`validation_data`")
        if seed is not None:
            raise ValueError("`fit(seed=...)` needs arrays; with a generator use "
                             "lstmcore.set_seed")
        verbose = _verbosity(verbose)
        epochs = _arrays.check_batch_arg(epochs, "epochs", allow_none=False)
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
                or initial_epoch < 0:
            raise ValueError(f"`initial_epoch` must be a non-negative integer; received "
                             f"{initial_epoch!r}")
        return _sources.fit(self, source, epochs, verbose, callbacks, validation_data, shuffle,
                            initial_epoch, steps_per_epoch, validation_steps, class_weight)

    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, validation_freq=1,
                      class_weight=None, max_queue_size=10, workers=1, use_multiprocessing=False,
                      shuffle=True, initial_epoch=0):
        """Keras 2's name for ``fit`` on a generator or Sequence (queue and worker arguments
        are accepted and unused: batches are drawn in the calling thread)."""
        if validation_freq != 1:
            raise NotImplementedError("`fit_generator(validation_freq=...)` is not supported")
        return self.fit(generator, epochs=epochs, verbose=verbose, callbacks=callbacks,
                        validation_data=validation_data, shuffle=shuffle,
                        initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                        validation_steps=validation_steps, class_weight=class_weight)

    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=10,
                           workers=1, use_multiprocessing=False, verbose=0):
        """Keras 2's name for ``evaluate`` on a generator or Sequence."""
        return self.evaluate(generator, steps=steps, verbose=verbose)

    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=10,
                          workers=1, use_multiprocessing=False, verbose=0):
        """Keras 2's name for ``predict`` on a generator or Sequence."""
        return self.predict(generator, steps=steps, verbose=verbose)

    def _fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
             validation_data, shuffle, initial_epoch, seed, **kwargs):
        for k in ("batch_input_shape", "input_shape", "input_dim", "input_length"):
            if k in kwargs:
                raise TypeError(f"`{k}` is an argument of the model's first layer, not of fit(): "
                                f"write e.g. LSTM(2, {k}={kwargs[k]!r}) when defining the model, "
                                f"then call fit(X, y, ...)")
        sample_weight = kwargs.pop("sample_weight", None)
        class_weight = kwargs.pop("class_weight", None)
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
        n_all = self._n(x)
        sw = self._prepare_sample_weight(sample_weight, class_weight, y, n_all)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("`validation_data` must be a tuple (x_val, y_val) or "
                                 "(x_val, y_val, sample_weight_val)")
            vx = self._prepare_x(validation_data[0], "x_val")
            vy = self._prepare_y(validation_data[1], self._n(vx), "y_val")
            vsw = None
            if len(validation_data) == 3:
                vsw = self._prepare_sample_weight(validation_data[2], None, vy, self._n(vx),
                                                  "sample_weight_val")
            val = (vx, vy, vsw)
        elif vs > 0.0:
            split = int(math.floor(n_all * (1.0 - vs)))
            if split < 1 or split >= n_all:
                raise ValueError(f"`validation_split={validation_split}` leaves "
                                 f"{'no training' if split < 1 else 'no validation'} samples out of {n_all}")
            tail, head = slice(split, None), slice(None, split)
            val = (self._take(x, tail), self._take(y, tail), self._take(sw, tail))
            x, y, sw = self._take(x, head), self._take(y, head), self._take(sw, head)
        n = self._n(x)
        bs = self._batch_size_for(batch_size, n, "fit")
        val_bs = None
        if val is not None:
            val_bs = self._batch_size_for(batch_size, self._n(val[0]), "fit (validation data)")
        if self._stateful() and shuffle and not self._warned_shuffle:
            self._warned_shuffle = True
            warnings.warn("fit(shuffle=True) on a stateful model reorders the samples, so state "
                          "no longer carries sample i of one batch into sample i of the next; "
                          "pass shuffle=False", UserWarning, stacklevel=2)
        user_cbs = list(callbacks or [])
        steps = math.ceil(n / bs)
        params = {"batch_size": bs, "epochs": epochs, "steps": steps, "samples": n,
                  "verbose": verbose}
        training = Training(self, user_cbs, params, seed)
        net = self._native()
        y2 = self._native_targets(y, n)
        rng = training.rng
        self._training_started = True
        for epoch in training.epochs(initial_epoch, epochs, verbose):
            idx = rng.permutation(n).astype(np.int64) if shuffle else np.arange(n, dtype=np.int64)
            epoch_seed = int(rng.integers(0, 2**63 - 1))
            bar = Progbar(n, verbose)
            run = EpochRun(training, net, bar)
            run.run(x, y2, idx, bs, steps, epoch_seed, sw)
            logs = run.end(epoch, stacklevel=3)
            if val is not None and run.failed is None:
                vres = self._evaluate_arrays(val[0], val[1], val_bs, val[2])
                logs.update({"val_" + k_: v for k_, v in vres.items()})
            training.end_epoch(epoch, bar, logs)
        return training.history

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

    def _logs(self, loss_sum, msums, samples, mweights, olosses=()) -> dict:
        """The loss is a mean over samples (with several outputs, also each output's own
        loss); a metric over what the native side weighed its output by: the samples, or the
        timesteps used when a mask reaches the output (Keras)."""
        logs = {"loss": float(loss_sum / samples) if samples else float("nan")}
        for k, name in self._output_loss_names:
            logs[name] = float(olosses[k] / samples) if samples and k < len(olosses) \
                else float("nan")
        for i, (name, k) in enumerate(self._metric_slots):
            w = mweights[k] if k < len(mweights) else 0.0
            logs[name] = float(msums[i] / w) if w else float("nan")
        return logs

    def _evaluate_arrays(self, x, y, bs, sw=None) -> dict:
        y2 = self._native_targets(y, self._n(x))
        lsum, ms, cnt, mw, ol = self._run_inference(lambda net: net.evaluate(x, y2, bs, sw))
        return self._logs(lsum, ms, cnt, mw, ol)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, **kwargs):
        """Loss (and metrics) on data: the loss alone when no metric was compiled, else
        ``[loss, metric, ...]``; means over samples (batches weighted by their size)."""
        sample_weight = kwargs.pop("sample_weight", None)
        steps = kwargs.pop("steps", None)
        _reject_kwargs("evaluate", kwargs, ("callbacks",))
        self._check_compiled("evaluate")
        verbose = _verbosity(verbose)
        if _sources.is_source(x):
            if y is not None or sample_weight is not None or batch_size is not None:
                raise ValueError("with a generator or a Sequence, its batches carry y (and "
                                 "sample weights): pass neither `y`, `sample_weight` nor "
                                 "`batch_size`")
            return self._returned(_sources.evaluate(self, x, steps), return_dict)
        if steps is not None:
            raise NotImplementedError("`evaluate(steps=...)` applies to generators; with arrays "
                                      "use batch_size")
        if _out_of_core.any_lazy(x, y, sample_weight):  # memmap, zarr, Dask: block by block
            return self._returned(_out_of_core.evaluate(self, x, y, batch_size, verbose,
                                                        sample_weight), return_dict)
        x, y = self._prepare_xy(x, y)
        n = self._n(x)
        sw = self._prepare_sample_weight(sample_weight, None, y, n)
        bs = self._batch_size_for(batch_size, n, "evaluate")
        bar = Progbar(n, verbose)
        logs = self._evaluate_arrays(x, y, bs, sw)
        bar.finish(logs)
        return self._returned(logs, return_dict)

    def predict(self, x, batch_size=None, verbose=0, **kwargs):
        """Outputs for ``x``, float32, batch by batch. Silent by default."""
        steps = kwargs.pop("steps", None)
        _reject_kwargs("predict", kwargs, ("callbacks",))
        _verbosity(verbose)
        if _sources.is_source(x):
            if batch_size is not None:
                raise ValueError("`batch_size` must not be given with a generator or a Sequence")
            return _sources.predict(self, x, steps)
        if steps is not None:
            raise NotImplementedError("`predict(steps=...)` applies to generators; with arrays "
                                      "use batch_size")
        if _out_of_core.is_lazy(x):  # memmap, zarr, Dask: block by block
            return _out_of_core.predict(self, x, batch_size)
        x = self._prepare_x(x)
        with self._building_from(x):
            bs = self._batch_size_for(batch_size, self._n(x), "predict")
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

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, reset_metrics=True,
                       return_dict=False):
        """One optimizer step on one batch; returns the loss or ``[loss, *metrics]``."""
        self._check_compiled("train_on_batch")
        with self._guard.mutex:
            return self._train_on_batch(x, y, return_dict, sample_weight, class_weight)

    def _train_on_batch(self, x, y, return_dict, sample_weight=None, class_weight=None):
        x, y = self._prepare_xy(x, y)
        n = self._n(x)
        sw = self._prepare_sample_weight(sample_weight, class_weight, y, n)
        self._check_exact_batch(n, "trains on")
        # the seed only keys dropout masks: no draw (~1 us) for a model without dropout
        seed = int(_config.rng().integers(0, 2**63 - 1)) if self._has_dropout() else 0
        if self._batch_index is None or len(self._batch_index) != n:
            self._batch_index = np.arange(n, dtype=np.int64)
        try:
            done, blosses, lsum, ms, cnt, failure, mw, ol = self._native().train_batches(
                x, self._native_targets(y, n), self._batch_index, n, 0, 1, seed,
                sample_weight=sw)
        finally:
            self._sync_iterations()
        if failure:
            warnings.warn(self._refused_step_message(failure, float(blosses[0]), "on this batch"),
                          RuntimeWarning, stacklevel=3)
            logs = {"loss": float(blosses[0])}
            logs.update({m: float("nan") for m, _ in self._output_loss_names})
            logs.update({m: float("nan") for m, _ in self._metric_slots})
        else:
            logs = self._logs(lsum, ms, cnt, mw, ol)
        return self._returned(logs, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, reset_metrics=True, return_dict=False):
        """Loss (and metrics) on one batch, without updating."""
        self._check_compiled("test_on_batch")
        x, y = self._prepare_xy(x, y)
        n = self._n(x)
        sw = self._prepare_sample_weight(sample_weight, None, y, n)
        return self._returned(self._evaluate_arrays(x, y, n, sw), return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch (a stateful model continues its state)."""
        if type(x) is np.ndarray and x.shape[1:] == self._input_shape:
            # the per-call path (e.g. one timestep of a stateful model): one native call that
            # checks the array as it is; None when it needs converting or an error message
            if self._stateful():
                with self._guard.mutex:
                    out = self._native().predict_batch(x, self._fixed_batch or 0)
            else:
                out = self._run_inference(lambda net: net.predict_batch(x))
            if out is not None:
                return out
        x = self._prepare_x(x)
        with self._building_from(x):
            self._check_exact_batch(x.shape[0], "predicts")
            return self._predict_arrays(x, x.shape[0])
