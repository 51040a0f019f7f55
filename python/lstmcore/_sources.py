"""Training from Python generators, iterators and ``Sequence`` objects (Keras' data adapters
for them): ``fit``/``evaluate``/``predict`` take one in place of arrays, one batch at a time.

Each batch is checked as arrays are (``DataPrep``), named by its step when it is refused, and
runs as one native call: ``train_batches`` over the batch alone, the epoch's sums continuing
natively as in the array loop. Arrays already float32 and C-contiguous are used in place.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._epoch import EpochRun, Training
from ._progress import Progbar


def is_source(x) -> bool:
    """A generator, an iterator, or a Keras ``Sequence`` (``__getitem__`` and ``__len__``,
    not an array or a list)?"""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)):
        return False
    if hasattr(x, "__next__"):
        return True
    return hasattr(x, "__getitem__") and hasattr(x, "__len__") and not hasattr(x, "shape")


def _is_sequence(x) -> bool:
    return not hasattr(x, "__next__") and hasattr(x, "__getitem__") and hasattr(x, "__len__")


def _steps(source, steps, arg: str):
    """The steps per epoch: ``steps``, or a Sequence's length; None: until exhausted."""
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"`{arg}` must be a positive integer; received {arg}={steps!r}")
        return int(steps)
    if _is_sequence(source):
        n = len(source)
        if n < 1:
            raise ValueError("the Sequence is empty (len() is 0)")
        return n
    return None


class _Batches:
    """The batches of one pass: a Sequence by (shuffled) index, else the iterator."""

    def __init__(self, source, shuffle: bool, rng):
        self.source = source
        self.sequence = _is_sequence(source)
        if self.sequence:
            n = len(source)
            self.order = rng.permutation(n) if shuffle else np.arange(n)
        else:
            self.it = iter(source)

    def next(self, step: int):
        """The batch of this step, or None when the source is exhausted."""
        if self.sequence:
            if step >= len(self.order):
                return None
            return self.source[int(self.order[step])]
        try:
            return next(self.it)
        except StopIteration:
            return None


def _unpack(batch, step: int, with_targets: bool):
    if isinstance(batch, (tuple, list)) and len(batch) in (1, 2, 3):
        items = tuple(batch)
    elif not with_targets:
        items = (batch,)
    else:
        raise ValueError(f"batch {step} of the data source must be a tuple (x, y) or (x, y, "
                         f"sample_weight); received {type(batch).__name__}")
    if with_targets and len(items) < 2:
        raise ValueError(f"batch {step} of the data source has no targets: yield (x, y)")
    x = items[0]
    y = items[1] if len(items) > 1 else None
    sw = items[2] if len(items) > 2 else None
    return x, y, sw


def _at_step(step: int, fn, *args):
    """fn(*args), a ValueError from it naming the batch."""
    try:
        return fn(*args)
    except ValueError as e:
        raise ValueError(f"batch {step} of the data source: {e}") from None


def fit(model, source, epochs, verbose, callbacks, validation_data, shuffle, initial_epoch,
        steps_per_epoch, validation_steps, class_weight):
    steps = _steps(source, steps_per_epoch, "steps_per_epoch")
    val_steps = None
    if validation_data is not None and is_source(validation_data):
        val_steps = _steps(validation_data, validation_steps, "validation_steps")
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("`validation_data` must be a tuple (x_val, y_val) or a generator")
    training = Training(model, callbacks, {"epochs": epochs, "steps": steps, "verbose": verbose})
    rng = training.rng
    for epoch in training.epochs(initial_epoch, epochs, verbose):
        bar = Progbar(steps if steps is not None else 0, verbose, unit="step")
        batches = _Batches(source, shuffle, rng)
        epoch_seed = int(rng.integers(0, 2**63 - 1))
        run = EpochRun(training, None, bar, by_steps=True)
        step = 0
        while steps is None or step < steps:
            batch = batches.next(step)
            if batch is None:
                if steps is None and step == 0:  # an exhausted generator: nothing left
                    warnings.warn(f"the data source yielded no batch in epoch {epoch + 1}: "
                                  f"training stops here (as Keras does). Make the generator "
                                  f"loop (e.g. `while True:`) and pass steps_per_epoch.",
                                  UserWarning, stacklevel=4)
                    model.stop_training = True
                elif steps is not None:
                    warnings.warn(f"the data source ran out of data after {step} of "
                                  f"steps_per_epoch={steps} batches in epoch {epoch + 1}: "
                                  f"training stops here (as Keras does). Make the generator "
                                  f"loop (e.g. `while True:`) or lower steps_per_epoch.",
                                  UserWarning, stacklevel=4)
                    model.stop_training = True
                break
            x, y, sw = _unpack(batch, step, True)
            x, y = _at_step(step, model._prepare_xy, x, y)
            n = model._n(x)
            w = _at_step(step, model._prepare_sample_weight, sw, class_weight, y, n)
            model._check_exact_batch(n, "trains on")
            run.net = model._native()  # built by the first batch, when it was not
            model._training_started = True
            going = run.run(x, model._native_targets(y, n), np.arange(n, dtype=np.int64), n, 1,
                            epoch_seed, w)
            step = run.batches
            if not going:
                break
        if steps is None:  # a generator run until exhausted: the steps it had
            bar.target = step
        if _is_sequence(source) and hasattr(source, "on_epoch_end"):
            source.on_epoch_end()
        logs = run.end(epoch, stacklevel=4) if step or run.failed else {}
        if validation_data is not None and step > 0 and run.failed is None:
            vres = evaluate(model, validation_data, val_steps) if is_source(validation_data) \
                else model._evaluate_arrays(*_val_arrays(model, validation_data))
            logs.update({"val_" + k: v for k, v in vres.items()})
        training.end_epoch(epoch, bar, logs)
    return training.history


def _val_arrays(model, data):
    vx = model._prepare_x(data[0], "x_val")
    n = model._n(vx)
    vy = model._prepare_y(data[1], n, "y_val")
    vsw = None
    if len(data) == 3:
        vsw = model._prepare_sample_weight(data[2], None, vy, n, "sample_weight_val")
    return vx, vy, model._batch_size_for(None, n, "fit (validation data)"), vsw


def _each_batch(source, steps):
    """(step, batch) for one pass of evaluate/predict: ``steps`` batches (a warning when the
    source runs out first), or until the source is exhausted."""
    steps = _steps(source, steps, "steps")
    batches = _Batches(source, False, None)
    step = 0
    while steps is None or step < steps:
        batch = batches.next(step)
        if batch is None:
            if steps is not None:
                warnings.warn(f"the data source ran out of data after {step} of steps={steps} "
                              f"batches", UserWarning, stacklevel=5)
            return
        yield step, batch
        step += 1


def evaluate(model, source, steps) -> dict:
    """Loss and metrics over the batches of a source: sums over batches, as for arrays."""
    loss_sum, msums, samples, mweight, olosses = 0.0, 0.0, 0, 0.0, 0.0
    for step, batch in _each_batch(source, steps):
        x, y, sw = _unpack(batch, step, True)
        x, y = _at_step(step, model._prepare_xy, x, y)
        n = model._n(x)
        w = _at_step(step, model._prepare_sample_weight, sw, None, y, n)
        model._check_exact_batch(n, "evaluates")
        y2 = model._native_targets(y, n)
        lsum, ms, cnt, mw, ol = model._run_inference(
            lambda net, x=x, y2=y2, n=n, w=w: net.evaluate(x, y2, n, w))
        loss_sum += lsum
        samples += cnt
        mweight = mweight + np.asarray(mw)
        olosses = olosses + np.asarray(ol)
        msums = msums + np.asarray(ms)
    if not samples:
        raise ValueError("the data source yielded no batch to evaluate")
    return model._logs(loss_sum, msums, samples, mweight, olosses)


def predict(model, source, steps) -> np.ndarray:
    """The outputs of every batch of a source, concatenated (targets, if any, ignored)."""
    outs = []
    for step, batch in _each_batch(source, steps):
        x, _, _ = _unpack(batch, step, False)
        x = _at_step(step, model._prepare_x, x)
        with model._building_from(x):
            model._check_exact_batch(model._n(x), "predicts")
            outs.append(model._predict_arrays(x, model._n(x)))
    if not outs:
        raise ValueError("the data source yielded no batch to predict")
    if isinstance(outs[0], list):  # a model with several outputs
        return [np.concatenate(parts, axis=0) for parts in zip(*outs)]
    return np.concatenate(outs, axis=0)
