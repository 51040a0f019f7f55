"""What ``fit`` on arrays (``_training``), on the blocks of lazy arrays (``_out_of_core``) and
on generator batches (``_sources``) share: the run of one fit (``Training``: its History,
callbacks, random stream and epochs) and one epoch of native training calls (``EpochRun``).

The batches run in native calls of several batches each, sized to about 0.1 s of work (one
batch a call when a callback has per-batch hooks); the epoch's sums continue natively batch
by batch, so its loss does not depend on how batches were grouped into calls. Batch ``k`` of
the epoch trains with the seed ``epoch_seed + k`` (dropout), however the batches arrive.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from . import _config
from .callbacks import CallbackList, History


class Training:
    """One fit call: the History and callbacks (``params`` as Keras gives them), the random
    stream that draws the epochs' orders and seeds (``seed``, else drawn from lstmcore's
    generator), and the epochs with their callbacks."""

    def __init__(self, model, callbacks, params: dict, seed=None):
        self.model = model
        self.history = History()
        self.cbs = CallbackList(list(callbacks or []) + [self.history], model, params)
        self.history.params = params
        self.rng = np.random.default_rng(
            seed if seed is not None else int(_config.rng().integers(0, 2**63 - 1)))
        self.chunk = 1  # batches per native call, carried from epoch to epoch

    def epochs(self, initial_epoch: int, epochs: int, verbose: int):
        """The epochs to run, between on_train_begin and on_train_end; stops when a callback
        (or a refused step) sets ``stop_training``."""
        model, cbs = self.model, self.cbs
        model.stop_training = False
        model.history = self.history
        cbs.call("on_train_begin", {})
        for epoch in range(initial_epoch, epochs):
            if model.stop_training:
                break
            cbs.call("on_epoch_begin", epoch, {})
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            yield epoch
        cbs.call("on_train_end", {})

    def end_epoch(self, epoch: int, bar, logs: dict) -> None:
        bar.finish(logs)
        self.cbs.call("on_epoch_end", epoch, dict(logs))


class EpochRun:
    """The running sums, callbacks and progress of one epoch."""

    def __init__(self, training: Training, net, bar, by_steps: bool = False):
        self.training = training
        self.model, self.net, self.cbs, self.bar = training.model, net, training.cbs, bar
        self.by_steps = by_steps    # the bar counts steps (generators), else samples
        self.loss_sum, self.msums, self.mweight, self.olosses = 0.0, [], [], []
        self.samples = 0
        self.batches = 0            # batches done this epoch
        self.failed = None          # (batch, loss, failure code) of a refused step

    def logs(self) -> dict:
        return self.model._logs(self.loss_sum, self.msums, self.samples, self.mweight,
                                self.olosses)

    def run(self, x, y2, idx, bs: int, nb: int, epoch_seed: int, sw=None) -> bool:
        """Train batches 0..nb-1 of (x, y2) in the order ``idx`` (batch j: rows idx[j*bs:
        (j+1)*bs]), the next batches of the epoch. False when training must stop: a step was
        refused (``failed``) or a callback set ``stop_training``."""
        model, net, cbs = self.model, self.net, self.cbs
        start = self.batches
        j = 0
        while j < nb:
            j1 = j + 1 if cbs.wants_batches else min(nb, j + self.training.chunk)
            if cbs.wants_batches:
                cbs.call("on_train_batch_begin", self.batches, {})
            t0 = time.perf_counter()
            try:
                (done, blosses, self.loss_sum, self.msums, cnt, failure, self.mweight,
                 self.olosses) = net.train_batches(x, y2, idx, bs, j, j1, epoch_seed + start,
                                                   self.loss_sum, self.msums, self.mweight,
                                                   sw, self.olosses)
            finally:  # Ctrl-C lands here between batches: keep the step count exact
                model._sync_iterations()
            dt = time.perf_counter() - t0
            self.samples += cnt
            if failure:
                self.failed = (self.batches + done, float(blosses[done]), failure)
                return False
            if cbs.wants_batches:
                cbs.call("on_train_batch_end", self.batches, {"loss": float(blosses[0])})
            j += done
            self.batches += done
            self.bar.update(self.batches if self.by_steps else self.samples, self.logs())
            if done:
                self.training.chunk = int(min(4096, max(1, 0.1 / max(dt / done, 1e-7))))
            if model.stop_training:
                return False
        return True

    def end(self, epoch: int, stacklevel: int) -> dict:
        """The epoch's logs; a refused step stops training with a warning naming the batch
        (its loss is the epoch's reported loss)."""
        logs = self.logs()
        if self.failed is not None:
            batch, value, failure = self.failed
            logs["loss"] = value
            self.model.stop_training = True
            warnings.warn(self.model._refused_step_message(
                failure, value, f"at epoch {epoch + 1}, batch {batch + 1}"),
                RuntimeWarning, stacklevel=stacklevel + 1)
        return logs
