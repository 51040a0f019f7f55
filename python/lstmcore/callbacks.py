"""Keras callbacks: hooks called by ``fit`` (``on_train_begin``, ``on_epoch_end``, ...)."""

from __future__ import annotations

import collections
import csv
import math
import os
import warnings

import numpy as np


class Callback:
    """Base class. Override any of the hooks; ``self.model`` and ``self.params`` are set by
    ``fit``. ``logs`` is a dict of the current values (``loss``, metrics, ``val_*``)."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs)
    def on_batch_begin(self, batch, logs=None): pass  # Keras 2 names
    def on_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass

    def _wants_batches(self) -> bool:
        names = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
        return any(getattr(type(self), n) is not getattr(Callback, n) for n in names)


class History(Callback):
    """Records the per-epoch logs: ``history.history['loss']`` etc., ``history.epoch``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _monitor_op(mode: str, monitor: str):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"`mode` must be 'auto', 'min' or 'max'; received mode={mode!r}")
    if mode == "auto":
        name = monitor.removeprefix("val_")
        mode = "max" if name in ("acc", "accuracy") or name.endswith("_accuracy") else "min"
    return mode


class EarlyStopping(Callback):
    """Stop training when a monitored value has stopped improving (Keras semantics).

    Args:
        monitor: Default ``'val_loss'``. min_delta: the smallest change that counts as an
        improvement. patience: epochs without improvement before stopping. mode: 'auto',
        'min' or 'max'. baseline: stop if not better than it. restore_best_weights: at the
        end of training, set the weights of the best epoch. start_from_epoch: epochs to wait
        before monitoring.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.mode = _monitor_op(mode, monitor)
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _better(self, current, reference) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping is conditioned on `{self.monitor}`, which is not "
                          f"available. Available: {', '.join(sorted(logs or {}))}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._better(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stop training when a batch loss is NaN or Inf."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True

    def _wants_batches(self) -> bool:
        return False  # fit already stops before a non-finite loss reaches the weights


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    _HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end",
              "on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")

    def __init__(self, **kwargs):
        super().__init__()
        unknown = set(kwargs) - set(self._HOOKS)
        if unknown:
            raise TypeError(f"`LambdaCallback` got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        self._fns = {k: v for k, v in kwargs.items() if v is not None}
        for name, fn in self._fns.items():
            setattr(self, name, fn)

    def _wants_batches(self) -> bool:
        return any(k in self._fns for k in ("on_train_batch_begin", "on_train_batch_end",
                                            "on_batch_begin", "on_batch_end"))


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after epochs.

    Args:
        filepath: may hold ``{epoch}`` and log names, e.g. ``'model-{epoch:02d}-{val_loss:.2f}.lstmcore'``.
        monitor: Default ``'val_loss'``. save_best_only: only when ``monitor`` improved.
        save_weights_only: ``save_weights`` instead of ``save``. mode: 'auto', 'min', 'max'.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch"):
        super().__init__()
        if save_freq != "epoch":
            raise NotImplementedError("`ModelCheckpoint(save_freq=...)` supports 'epoch' only")
        self.filepath = str(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.mode = _monitor_op(mode, monitor)
        self.best = None

    def on_train_begin(self, logs=None):
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint can save best model only with `{self.monitor}` "
                              f"available, skipping.", stacklevel=2)
                return
            better = self.best is None or (current < self.best if self.mode == "min" else current > self.best)
            if not better:
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to {current}, saving model to {path}")
            self.best = current
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(Callback):
    """Reduce the learning rate when a monitored value has stopped improving (Keras 3's
    semantics).

    After ``patience`` epochs without an improvement of more than ``min_delta``, the
    learning rate becomes ``max(lr * factor, min_lr)`` (not below ``min_lr``), then
    ``cooldown`` epochs pass before waiting starts again. The new rate applies from the next
    batch; the optimizer keeps its state. Every epoch's logs (and so the History) get the
    current ``'learning_rate'``, as Keras 3 logs it.

    Args:
        monitor: Default ``'val_loss'``. factor: in (0, 1), default 0.1. patience: default 10.
        verbose: 1 prints each reduction. mode: 'auto' (max for accuracies, else min), 'min',
        'max'. min_delta: default 1e-4 (Keras 2's ``epsilon=`` is accepted as its old name).
        cooldown: default 0. min_lr: default 0.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if "epsilon" in kwargs:  # Keras 2's name of min_delta
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"`ReduceLROnPlateau` got unexpected keyword argument(s): "
                            f"{', '.join(sorted(kwargs))}")
        try:
            factor = float(factor)
        except (TypeError, ValueError):
            factor = float("nan")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"`ReduceLROnPlateau` expects `factor` in (0, 1) (the learning rate "
                             f"is multiplied by it); received factor={factor!r}")
        for arg, v in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"`ReduceLROnPlateau` expects `{arg}` to be a non-negative "
                                 f"integer; received {arg}={v!r}")
        try:
            min_lr = float(min_lr)
        except (TypeError, ValueError):
            min_lr = float("nan")
        if not 0.0 <= min_lr < math.inf:
            raise ValueError(f"`ReduceLROnPlateau` expects `min_lr` >= 0; received "
                             f"min_lr={min_lr!r}")
        self.monitor = monitor
        self.factor = factor
        self.patience = int(patience)
        self.verbose = verbose
        self.mode = _monitor_op(mode, monitor)
        self.min_delta = abs(float(min_delta))
        self.cooldown = int(cooldown)
        self.min_lr = min_lr
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def _better(self, current, reference) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` "
                          f"which is not available. Available metrics are: "
                          f"{','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch from ``schedule`` (Keras semantics).

    ``schedule(epoch, lr)`` (epoch counted from 0, the current rate) or, Keras 1/2's form,
    ``schedule(epoch)`` returns the new rate, a float. The rate reaches the optimizer at once,
    which keeps its state; every epoch's logs (and so the History) get ``'learning_rate'``.

    Args:
        schedule: the function. verbose: 1 prints each new rate.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ValueError(f"`LearningRateScheduler` expects a function schedule(epoch, lr); "
                             f"received {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        try:  # Keras' order: the (epoch, lr) form, then the old (epoch) one
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. "
                             f"Got: {lr!r}")
        optimizer.learning_rate = lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Write every epoch's logs to a CSV file (Keras semantics): a header ``epoch,<keys>``
    (keys sorted; ``val_<key>`` columns added when there is no validation data), then one row
    per epoch, flushed as it is written. Values a later epoch lacks are written ``NA``.

    Args:
        filename: the file. separator: Default ``','``. append: add to an existing file (its
            header is kept) instead of overwriting it. Default False.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = bool(append)
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        self.append_header = True
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        # newline="": the csv module writes Keras' "\r\n" row ends itself
        self.csv_file = open(self.filename, mode, newline="")  # closed at the end of training
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def value(v):
            if isinstance(v, str):
                return v
            if isinstance(v, collections.abc.Iterable) and not (isinstance(v, np.ndarray)
                                                                 and v.ndim == 0):
                return f'"[{", ".join(map(str, v))}]"'
            return v

        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys.extend([f"val_{k}" for k in self.keys])
        if self.writer is None:
            class Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class CallbackList:
    """Dispatches hooks to a list of callbacks (used by ``fit``)."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise ValueError(f"`callbacks` must be lstmcore.callbacks.Callback instances; received {c!r}")
            c.set_model(model)
            c.set_params(params)
        self.wants_batches = any(c._wants_batches() for c in self.callbacks)

    def call(self, hook, *args):
        for c in self.callbacks:
            getattr(c, hook)(*args)


__all__ = ["Callback", "History", "EarlyStopping", "TerminateOnNaN", "LambdaCallback",
           "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger",
           "CallbackList"]
