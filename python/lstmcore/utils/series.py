"""Cutting a time series into the arrays ``fit`` takes: sliding windows, and the layout of a
stateful LSTM (row i of batch k+1 continues row i of batch k)."""

from __future__ import annotations

import numpy as np

from ..layers.base import check_positive_int
from .sequence import Sequence


def _series(series, name: str) -> np.ndarray:
    a = np.asarray(series)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise ValueError(f"`{name}` expects a numeric series; received an array of dtype "
                         f"{a.dtype}")
    if a.ndim not in (1, 2):
        raise ValueError(f"`{name}` expects a series of shape (N,) or (N, features); received "
                         f"shape {a.shape}")
    return a.astype(np.float32, copy=False)


def make_windows(series, lookback, horizon=1, stride=1, batch_size=None):
    """Sliding windows over a series: the inputs and targets of a forecasting model.

    Window ``i`` starts at ``s = i * stride``: ``X[i] = series[s:s+lookback]`` and
    ``y[i] = series[s+lookback:s+lookback+horizon]``; every full window is taken.

    With ``batch_size``, the windows are not materialised: a ``WindowSequence`` (a
    ``lstmcore.utils.Sequence``) is returned whose batch ``k`` is ``(X[k*batch_size :
    (k+1)*batch_size], y[...])`` of the arrays above, cut from the series when it is asked
    for (the last batch may be shorter). ``fit``, ``evaluate`` and ``predict`` take it in
    place of ``(x, y)``; ``fit(shuffle=True)`` shuffles the order of the batches. The series
    may itself be a ``numpy.memmap``, a zarr or a Dask array: each batch reads only the
    values its windows span.

    >>> seq = make_windows(np.arange(100.0), lookback=10, batch_size=32)
    >>> len(seq), seq[0][0].shape, seq[2][1].shape
    (3, (32, 10, 1), (26, 1))

    >>> X, y = make_windows(np.arange(6.0), lookback=3)
    >>> X.shape, y.shape
    ((3, 3, 1), (3, 1))
    >>> X[0].ravel(), y[0]
    (array([0., 1., 2.], dtype=float32), array([3.], dtype=float32))

    Args:
        series: shape ``(N,)`` or ``(N, features)``.
        lookback: timesteps per input window.
        horizon: values to predict after each window. Default 1.
        stride: step between window starts. Default 1.
        batch_size: windows per batch of the lazy form. Default None: return the arrays.

    Returns:
        ``(X, y)``, float32: for a 1D series ``X (n, lookback, 1)`` and ``y (n, horizon)``;
        for ``(N, F)``, ``X (n, lookback, F)`` and ``y (n, horizon, F)``;
        ``n = (N - lookback - horizon) // stride + 1``. With ``batch_size``: a
        ``WindowSequence`` of ``ceil(n / batch_size)`` such batches.

    Raises:
        ValueError: when the series holds no full window (``N < lookback + horizon``).
    """
    if batch_size is not None:
        return WindowSequence(series, lookback, horizon, stride, batch_size)
    a = _series(series, "make_windows")
    lookback = check_positive_int(lookback, "lookback", "make_windows")
    horizon = check_positive_int(horizon, "horizon", "make_windows")
    stride = check_positive_int(stride, "stride", "make_windows")
    n_all = a.shape[0]
    if n_all < lookback + horizon:
        raise ValueError(f"`make_windows` needs at least lookback + horizon = "
                         f"{lookback + horizon} values for one window; the series has {n_all}")
    n = (n_all - lookback - horizon) // stride + 1
    feats = a.reshape(n_all, -1)
    starts = np.arange(n) * stride
    X = feats[starts[:, None] + np.arange(lookback)]                  # (n, lookback, F)
    y = feats[starts[:, None] + lookback + np.arange(horizon)]        # (n, horizon, F)
    if a.ndim == 1:
        y = y[:, :, 0]
    return np.ascontiguousarray(X), np.ascontiguousarray(y)


class WindowSequence(Sequence):
    """The batches of ``make_windows(series, lookback, horizon, stride)``, cut on demand.

    Made by ``make_windows(..., batch_size=...)``; batch ``k`` holds windows ``k*batch_size``
    to ``min(n, (k+1)*batch_size) - 1`` with the alignment of ``make_windows`` (window ``i``
    starts at ``i*stride``; its targets are the ``horizon`` values after its ``lookback``
    values). A batch reads one contiguous slice of the series, so a long series (a memmap,
    a zarr or a Dask array) is never loaded whole nor copied into overlapping windows.
    """

    def __init__(self, series, lookback, horizon=1, stride=1, batch_size=32):
        super().__init__()
        from .._out_of_core import _Rows, is_lazy

        data = series if is_lazy(series) or isinstance(series, np.ndarray) else \
            np.asarray(series)
        if data.ndim not in (1, 2):
            raise ValueError(f"`make_windows` expects a series of shape (N,) or (N, features); "
                             f"received shape {tuple(data.shape)}")
        self.lookback = check_positive_int(lookback, "lookback", "make_windows")
        self.horizon = check_positive_int(horizon, "horizon", "make_windows")
        self.stride = check_positive_int(stride, "stride", "make_windows")
        self.batch_size = check_positive_int(batch_size, "batch_size", "make_windows")
        try:
            self._rows = _Rows(data, "series")
        except ValueError as e:
            raise ValueError(f"`make_windows`: {e}") from None
        n_all = len(self._rows)
        if n_all < self.lookback + self.horizon:
            raise ValueError(f"`make_windows` needs at least lookback + horizon = "
                             f"{self.lookback + self.horizon} values for one window; the series "
                             f"has {n_all}")
        self.windows = (n_all - self.lookback - self.horizon) // self.stride + 1
        self._one_d = data.ndim == 1

    def __len__(self):
        return -(-self.windows // self.batch_size)

    def __getitem__(self, index):
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"batch index must be an integer; received {index!r}")
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        w0 = index * self.batch_size
        w1 = min(self.windows, w0 + self.batch_size)
        span = self.lookback + self.horizon
        s0 = w0 * self.stride
        block = self._rows.read(s0, (w1 - 1) * self.stride + span, True)
        feats = block.reshape(block.shape[0], -1)
        starts = (np.arange(w1 - w0) * self.stride)[:, None]
        X = feats[starts + np.arange(self.lookback)]
        y = feats[starts + self.lookback + np.arange(self.horizon)]
        if self._one_d:
            y = y[:, :, 0]
        return np.ascontiguousarray(X), np.ascontiguousarray(y)


def stateful_batches(series, batch_size, timesteps):
    """A long series laid out for a stateful LSTM trained to predict the next value.

    The series is cut into ``batch_size`` consecutive streams of equal length; each stream
    into windows of ``timesteps`` values. Batch ``k`` (rows ``k*batch_size`` to
    ``(k+1)*batch_size - 1``) holds window ``k`` of every stream, so row ``i`` of batch
    ``k+1`` continues row ``i`` of batch ``k``. The target of every step is the value that
    follows it: ``y`` is ``X`` shifted by one step, for ``LSTM(..., stateful=True,
    return_sequences=True)``; take ``y[:, -1]`` to predict only the value after each window.

    With ``L = (N - 1) // batch_size // timesteps * timesteps`` values per stream, stream
    ``j`` reads ``series[j*L : (j+1)*L + 1]`` (its last target is the next stream's first
    input); values beyond ``batch_size * L + 1`` are left out.

    >>> X, y = stateful_batches(np.arange(9.0), batch_size=2, timesteps=2)
    >>> X[:, :, 0]
    array([[0., 1.],
           [4., 5.],
           [2., 3.],
           [6., 7.]], dtype=float32)
    >>> y[:, :, 0]
    array([[1., 2.],
           [5., 6.],
           [3., 4.],
           [7., 8.]], dtype=float32)

    Args:
        series: shape ``(N,)`` or ``(N, features)``.
        batch_size: the model's fixed batch size (the number of streams).
        timesteps: timesteps per window.

    Returns:
        ``(X, y)``, float32, both of shape ``(windows * batch_size, timesteps, F)`` (F = 1
        for a 1D series). Pass ``batch_size=`` and ``shuffle=False`` to ``fit``.

    Raises:
        ValueError: when the series is too short for one window per stream
            (``N < batch_size * timesteps + 1``).
    """
    a = _series(series, "stateful_batches")
    batch_size = check_positive_int(batch_size, "batch_size", "stateful_batches")
    timesteps = check_positive_int(timesteps, "timesteps", "stateful_batches")
    n_all = a.shape[0]
    windows = (n_all - 1) // batch_size // timesteps if n_all > 0 else 0
    if windows < 1:
        raise ValueError(f"`stateful_batches` needs at least batch_size * timesteps + 1 = "
                         f"{batch_size * timesteps + 1} values (one window of {timesteps} "
                         f"steps and its next value per stream); the series has {n_all}")
    length = windows * timesteps
    feats = a.reshape(n_all, -1)
    f = feats.shape[1]
    starts = np.arange(batch_size) * length
    streams = feats[starts[:, None] + np.arange(length + 1)]   # (batch_size, length + 1, F)

    def layout(s):  # (batch_size, length, F) -> window-major rows (windows * batch_size, T, F)
        s = s.reshape(batch_size, windows, timesteps, f).transpose(1, 0, 2, 3)
        return np.ascontiguousarray(s.reshape(windows * batch_size, timesteps, f))

    return layout(streams[:, :-1]), layout(streams[:, 1:])


__all__ = ["make_windows", "WindowSequence", "stateful_batches"]
