"""Keras callbacks: hooks called by ``fit`` (``on_train_begin``, ``on_epoch_end``, ...)."""

from __future__ import annotations

import math
import warnings


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
           "ModelCheckpoint", "CallbackList"]
