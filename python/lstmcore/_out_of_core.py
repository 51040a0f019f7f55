"""Training, evaluating and predicting on arrays larger than memory: a ``numpy.memmap``, a
zarr array or a Dask array (Keras' data adapters for array-likes), read in blocks of whole
batches and never loaded at once.

Who owns what:
- ``is_lazy``: which inputs take this path (``Trainer.fit/evaluate/predict`` dispatch here
  when x, y, sample_weight or validation_data holds one; the others ride along as rows);
- ``_Rows``: one array's rows ``[lo, hi)``, read as a copy block by block; a memmap's pages
  are handed back to the kernel after each read (``madvise(MADV_DONTNEED)``), so the
  process' resident memory stays flat instead of growing with every page touched;
- blocks: ``_BLOCK_BYTES`` of input (at least one batch, always a whole number of
  batches); ``shuffle=True`` shuffles the order of the blocks and the samples within each
  block (a block shuffle: contiguous reads, samples mixed within a block);
- checks: shapes and dtypes from the first sample, before anything changes; ``fit`` reads
  every block once before its first step to refuse NaN/Inf (naming the batch and index),
  so a refused fit leaves the model unchanged; each block is checked again as it is read;
- the native calls are those of the in-memory path, with the same per-batch seeds: with
  ``shuffle=False`` a fit on a memmap takes the steps of a fit on the same array in
  memory, bit for bit.
"""

from __future__ import annotations

import math
import mmap
import warnings

import numpy as np

from . import _arrays
from ._epoch import EpochRun, Training
from ._progress import Progbar

# input bytes per block: large enough for contiguous reads, small beside the data
_BLOCK_BYTES = 8 << 20


def is_lazy(x) -> bool:
    """A numpy.memmap, a zarr array or a Dask array (read block by block)?"""
    if isinstance(x, np.memmap):
        return True
    top = type(x).__module__.partition(".")[0]
    return top in ("zarr", "dask") and hasattr(x, "shape") and hasattr(x, "dtype")


def any_lazy(*items) -> bool:
    """Does any argument (or any array of a ``validation_data`` tuple) read lazily?"""
    for item in items:
        if isinstance(item, (tuple, list)) and len(item) in (2, 3):
            if any(is_lazy(v) for v in item):
                return True
        elif is_lazy(item):
            return True
    return False


# ---- reading rows ------------------------------------------------------------------------------
def _byte_bounds(a: np.ndarray):
    try:
        from numpy.lib.array_utils import byte_bounds
    except ImportError:  # NumPy < 2
        byte_bounds = np.byte_bounds
    return byte_bounds(a)


def _drop_pages(view) -> None:
    """Hand a memmap view's pages back to the kernel: the data stays in the file (and the
    page cache), but no longer counts in this process' resident memory. Skipped for
    copy-on-write maps (mode 'c'), whose modified pages exist nowhere else."""
    mm = getattr(view, "_mmap", None)
    if mm is None or getattr(view, "mode", "c") == "c" or not hasattr(mm, "madvise") \
            or not hasattr(mmap, "MADV_DONTNEED") or view.size == 0:
        return
    try:
        base = np.frombuffer(mm, dtype=np.uint8, count=1).ctypes.data
        lo, hi = _byte_bounds(view)
        start = (lo - base) // mmap.PAGESIZE * mmap.PAGESIZE
        stop = min(len(mm), -(-(hi - base) // mmap.PAGESIZE) * mmap.PAGESIZE)
        if 0 <= start < stop:
            mm.madvise(mmap.MADV_DONTNEED, start, stop - start)
    except (ValueError, OSError, BufferError):  # a closed or unusual map: only memory is at stake
        pass


class _Rows:
    """Rows ``[lo, hi)`` of an array-like (memmap, zarr, Dask or in-memory), read as copies."""

    def __init__(self, data, name: str, lo: int = 0, hi: int | None = None):
        if not is_lazy(data) and not isinstance(data, np.ndarray):
            data = np.asarray(data)
        if any(isinstance(s, float) and math.isnan(s) for s in data.shape):
            raise ValueError(f"`{name}` has unknown chunk sizes (a Dask array after boolean "
                             f"indexing?); call `{name}.compute_chunk_sizes()` first")
        shape = tuple(int(s) for s in data.shape)
        if not shape:
            raise ValueError(f"`{name}` must be an array with one row per sample; received a "
                             f"scalar")
        dtype = np.dtype(data.dtype)
        if dtype.kind not in "biuf":
            raise ValueError(f"`{name}` must be numeric (float or int); received an array of "
                             f"dtype {dtype}. Store it as float32.")
        self.data, self.name, self.dtype = data, name, dtype
        self.lo = lo
        self.hi = shape[0] if hi is None else hi
        self.sample_shape = shape[1:]

    def __len__(self) -> int:
        return self.hi - self.lo

    def split(self, at: int):
        return (_Rows(self.data, self.name, self.lo, self.lo + at),
                _Rows(self.data, self.name, self.lo + at, self.hi))

    def read(self, i: int, j: int, float32: bool) -> np.ndarray:
        """Rows i..j-1 (relative to ``lo``) as a new C-contiguous array, float32 if asked."""
        view = self.data[self.lo + i:self.lo + j]
        if hasattr(view, "compute"):  # Dask
            view = view.compute()
        dtype = np.float32 if float32 else None
        with np.errstate(over="ignore"):  # beyond float32's range: inf, refused by the checks
            block = np.array(view, dtype=dtype, order="C", copy=True)
        if isinstance(view, np.memmap):
            _drop_pages(view)
        return block


def _block_rows(x: _Rows, bs: int) -> int:
    row_bytes = max(1, math.prod(x.sample_shape) * 4)
    return bs * max(1, _BLOCK_BYTES // (bs * row_bytes))


def _blocks(n: int, rows: int):
    return [(s, min(n, s + rows)) for s in range(0, n, rows)]


def _first_bad(a: np.ndarray):
    """The index of a's first non-finite value, or None."""
    if a.dtype.kind != "f" or not a.size:
        return None
    flat = np.flatnonzero(~np.isfinite(a.reshape(-1)))
    return np.unravel_index(int(flat[0]), a.shape) if flat.size else None


def _check_block(a: np.ndarray, rows: _Rows, start: int, bs: int) -> None:
    """NaN/Inf in a block: a ValueError naming the array, the sample index and its batch."""
    bad = _first_bad(a)
    if bad is None:
        return
    row = start + int(bad[0])
    idx = (row,) + tuple(int(i) for i in bad[1:])
    k = row // bs
    raise ValueError(f"`{rows.name}` contains {a[tuple(bad)]} at index "
                     f"{idx if len(idx) > 1 else idx[0]}, in batch {k} (samples {k * bs} to "
                     f"{min(len(rows), (k + 1) * bs) - 1}, counted from 0 without shuffling); "
                     f"remove or impute non-finite values")


def _scan(rows: _Rows | None, bs: int) -> None:
    """Read every block once to refuse NaN/Inf before anything changes."""
    if rows is None:
        return
    for s, e in _blocks(len(rows), _block_rows(rows, bs) if rows.sample_shape else 1 << 20):
        _check_block(rows.read(s, e, True), rows, s, bs)


# ---- argument checks ---------------------------------------------------------------------------
def _probe_x(model, x: _Rows, y: _Rows | None = None) -> np.ndarray:
    """The first sample, checked as ``x`` (rank, timesteps, features), after the counts."""
    if len(x) == 0:
        raise ValueError(f"`{x.name}` has no samples (shape {(0,) + x.sample_shape})")
    if y is not None and len(y) != len(x):
        raise ValueError(f"`{x.name}` has {len(x)} samples but `{y.name}` has {len(y)}; pass "
                         f"one target per sample")
    return model._prepare_x(x.read(0, 1, True), x.name)


def _probe_y(model, y: _Rows) -> None:
    """The first target, checked against the (built) model's output."""
    model._prepare_y(y.read(0, 1, False), 1, y.name)


def _weights_rows(sample_weight, n: int, name="sample_weight") -> _Rows | None:
    if sample_weight is None:
        return None
    w = _Rows(sample_weight, name)
    if len(w) != n:
        raise ValueError(f"`{name}` must hold one weight per sample, shape ({n},); received "
                         f"shape {(len(w),) + w.sample_shape}")
    return w


# ---- the three calls ---------------------------------------------------------------------------
def _prepare_block(model, x: _Rows, y: _Rows, w: _Rows | None, s: int, e: int, bs: int,
                   class_weight=None):
    xb = x.read(s, e, True)
    _check_block(xb, x, s, bs)
    yb = y.read(s, e, False)
    _check_block(yb, y, s, bs)
    xb, yb = model._prepare_xy(xb, yb)
    wb = None
    if w is not None or class_weight is not None:
        raw = None if w is None else w.read(s, e, True)
        if raw is not None:
            _check_block(raw, w, s, bs)
        wb = model._prepare_sample_weight(raw, class_weight, yb, e - s,
                                          "sample_weight" if w is None else w.name)
    return xb, yb, wb


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
        shuffle, initial_epoch, seed, sample_weight=None, class_weight=None, **kwargs):
    """``fit`` with any of x, y, sample_weight, validation_data read block by block."""
    from ._training import _FIT_UNSUPPORTED, _reject_kwargs, _verbosity  # as for arrays

    _reject_kwargs("fit", kwargs, _FIT_UNSUPPORTED)

    model._check_compiled("fit")
    verbose = _verbosity(verbose)
    epochs = _arrays.check_batch_arg(epochs, "epochs", allow_none=False)
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
            or initial_epoch < 0:
        raise ValueError(f"`initial_epoch` must be a non-negative integer; received "
                         f"{initial_epoch!r}")
    try:
        vs = float(validation_split)
    except (TypeError, ValueError):
        vs = -1.0
    if not 0.0 <= vs < 1.0:
        raise ValueError(f"`validation_split` must be in [0, 1); received {validation_split!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ValueError(f"`seed` must be a non-negative integer; received seed={seed!r}")
    if y is None:
        raise ValueError("`y` is required")
    xr, yr = _Rows(x, "x"), _Rows(y, "y")
    model._ensure_built(_probe_x(model, xr, yr))  # fit() unbuilds it if this call fails
    _probe_y(model, yr)
    wr = _weights_rows(sample_weight, len(xr))
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("`validation_data` must be a tuple (x_val, y_val) or "
                             "(x_val, y_val, sample_weight_val)")
        vx, vy = _Rows(validation_data[0], "x_val"), _Rows(validation_data[1], "y_val")
        _probe_x(model, vx, vy)
        _probe_y(model, vy)
        vw = None
        if len(validation_data) == 3:
            vw = _weights_rows(validation_data[2], len(vx), "sample_weight_val")
        val = (vx, vy, vw)
    elif vs > 0.0:
        n_all = len(xr)
        split = int(math.floor(n_all * (1.0 - vs)))
        if split < 1 or split >= n_all:
            raise ValueError(f"`validation_split={validation_split}` leaves "
                             f"{'no training' if split < 1 else 'no validation'} samples out "
                             f"of {n_all}")
        xr, vx = xr.split(split)
        yr, vy = yr.split(split)
        vw = None
        if wr is not None:
            wr, vw = wr.split(split)
        val = (vx, vy, vw)
    n = len(xr)
    bs = model._batch_size_for(batch_size, n, "fit")
    val_bs = None if val is None else \
        model._batch_size_for(batch_size, len(val[0]), "fit (validation data)")
    for rows in (xr, yr, wr) + (val or ()):
        _scan(rows, bs)
    if class_weight is not None:  # its checks, on the first block, before anything changes
        _prepare_block(model, xr, yr, wr, 0, min(n, bs), bs, class_weight)
    if model._stateful() and shuffle and not model._warned_shuffle:
        model._warned_shuffle = True
        warnings.warn("fit(shuffle=True) on a stateful model reorders the samples, so state "
                      "no longer carries sample i of one batch into sample i of the next; "
                      "pass shuffle=False", UserWarning, stacklevel=4)

    steps = math.ceil(n / bs)
    params = {"batch_size": bs, "epochs": epochs, "steps": steps, "samples": n,
              "verbose": verbose}
    training = Training(model, callbacks, params, seed)
    net = model._native()
    rng = training.rng
    blocks = _blocks(n, _block_rows(xr, bs))
    model._training_started = True
    for epoch in training.epochs(initial_epoch, epochs, verbose):
        # the in-memory path draws its permutation, then the epoch seed: with shuffle=False
        # both draw only the seed, so the batches' dropout seeds agree
        order = rng.permutation(len(blocks)) if shuffle else range(len(blocks))
        epoch_seed = int(rng.integers(0, 2**63 - 1))
        bar = Progbar(n, verbose)
        run = EpochRun(training, net, bar)
        for b in order:
            s, e = blocks[b]
            xb, yb, wb = _prepare_block(model, xr, yr, wr, s, e, bs, class_weight)
            m = e - s
            idx = rng.permutation(m).astype(np.int64) if shuffle else np.arange(m, dtype=np.int64)
            # the block's batches are the epoch's next ones: their seeds follow on
            going = run.run(xb, yb.reshape(m, -1), idx, bs, math.ceil(m / bs), epoch_seed, wb)
            del xb, yb, wb
            if not going:
                break
        logs = run.end(epoch, stacklevel=4)
        if val is not None and run.failed is None:
            vres = _evaluate_rows(model, *val, val_bs)
            logs.update({"val_" + k_: v for k_, v in vres.items()})
        training.end_epoch(epoch, bar, logs)
    return training.history


def _evaluate_rows(model, x: _Rows, y: _Rows, w: _Rows | None, bs: int) -> dict:
    """Sums over blocks of what the native evaluate sums over batches."""
    loss_sum, msums, samples, mweight, olosses = 0.0, 0.0, 0, 0.0, 0.0
    for s, e in _blocks(len(x), _block_rows(x, bs)):
        xb, yb, wb = _prepare_block(model, x, y, w, s, e, bs)
        y2 = yb.reshape(e - s, -1)
        lsum, ms, cnt, mw, ol = model._run_inference(
            lambda net, xb=xb, y2=y2, wb=wb: net.evaluate(xb, y2, bs, wb))
        loss_sum += lsum
        samples += cnt
        mweight = mweight + np.asarray(mw)
        olosses = olosses + np.asarray(ol)
        msums = msums + np.asarray(ms)
    return model._logs(loss_sum, msums, samples, mweight, olosses)


def evaluate(model, x, y, batch_size, verbose, sample_weight=None) -> dict:
    """``evaluate`` block by block: the loss and metrics summed as over batches."""
    if y is None:
        raise ValueError("`y` is required")
    xr, yr = _Rows(x, "x"), _Rows(y, "y")
    with model._building_from(_probe_x(model, xr, yr)):
        _probe_y(model, yr)
        wr = _weights_rows(sample_weight, len(xr))
        bs = model._batch_size_for(batch_size, len(xr), "evaluate")
        if model._stateful():  # a refused block would leave the states advanced: check first
            for rows in (xr, yr, wr):
                _scan(rows, bs)
        bar = Progbar(len(xr), verbose)
        logs = _evaluate_rows(model, xr, yr, wr, bs)
        bar.finish(logs)
        return logs


def predict(model, x, batch_size) -> np.ndarray:
    """``predict`` block by block into one float32 array (outputs are small beside inputs)."""
    xr = _Rows(x, "x")
    with model._building_from(_probe_x(model, xr)):
        n = len(xr)
        bs = model._batch_size_for(batch_size, n, "predict")
        if model._stateful():
            _scan(xr, bs)
        shape = model._sample_output_shape()
        if shape and shape[0] is None:  # variable timesteps: follow the input
            shape = (xr.sample_shape[0],) + tuple(shape[1:])
        out = np.empty((n,) + tuple(shape), dtype=np.float32)
        for s, e in _blocks(n, _block_rows(xr, bs)):
            xb = xr.read(s, e, True)
            _check_block(xb, xr, s, bs)
            xb = model._prepare_x(xb)
            model._run_inference(lambda net, xb=xb, o=out[s:e]: net.predict(xb, bs, o))
        return out
