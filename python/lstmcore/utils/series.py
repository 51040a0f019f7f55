"""Cutting a time series into the arrays ``fit`` takes: sliding windows, and the layout of a
stateful LSTM (row i of batch k+1 continues row i of batch k)."""

from __future__ import annotations

import numpy as np

from ..layers.base import check_positive_int


def _series(series, name: str) -> np.ndarray:
    a = np.asarray(series)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise ValueError(f"`{name}` expects a numeric series; received an array of dtype "
                         f"{a.dtype}")
    if a.ndim not in (1, 2):
        raise ValueError(f"`{name}` expects a series of shape (N,) or (N, features); received "
                         f"shape {a.shape}")
    return a.astype(np.float32, copy=False)


def make_windows(series, lookback, horizon=1, stride=1):
    """Sliding windows over a series: the inputs and targets of a forecasting model.

    Window ``i`` starts at ``s = i * stride``: ``X[i] = series[s:s+lookback]`` and
    ``y[i] = series[s+lookback:s+lookback+horizon]``; every full window is taken.

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

    Returns:
        ``(X, y)``, float32: for a 1D series ``X (n, lookback, 1)`` and ``y (n, horizon)``;
        for ``(N, F)``, ``X (n, lookback, F)`` and ``y (n, horizon, F)``;
        ``n = (N - lookback - horizon) // stride + 1``.

    Raises:
        ValueError: when the series holds no full window (``N < lookback + horizon``).
    """
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


__all__ = ["make_windows", "stateful_batches"]
