"""``to_categorical``: class indices to one-hot rows (Keras 2's ``keras.utils.np_utils``)."""

from __future__ import annotations

import numpy as np

_MAX_ECHO = 100


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_ECHO else f"{text[:_MAX_ECHO]}... ({len(text)} characters)"


def _one_hot(y, num_classes, dtype):
    a = np.asarray(y)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.integer) or
                                 np.issubdtype(a.dtype, np.floating) or a.dtype == np.bool_):
        raise ValueError(f"`to_categorical` expects integer class indices; received an array of "
                         f"dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating):
        flat = a.ravel()
        ok = np.isfinite(flat) & (flat == np.round(flat)) & (np.abs(flat) < 2.0**62)
        if not ok.all():
            bad = flat[~ok][0].item()
            raise ValueError(f"`to_categorical` expects integer class indices; received the "
                             f"non-integer value {bad!r}")
    shape = a.shape
    if len(shape) > 1 and shape[-1] == 1:  # (..., 1) -> (...): Keras squeezes the last axis
        shape = shape[:-1]
    flat = a.reshape(-1).astype(np.int64)
    if num_classes is not None and (isinstance(num_classes, bool) or
                                    not isinstance(num_classes, (int, np.integer)) or
                                    num_classes < 0):
        raise ValueError(f"`num_classes` must be a positive integer or None; received "
                         f"num_classes={_show(num_classes)}")
    if not num_classes:  # None or 0: inferred, as Keras does
        if flat.size == 0:
            raise ValueError("`to_categorical` cannot infer `num_classes` from no labels; "
                             "pass num_classes=")
        num_classes = int(flat.max()) + 1
    num_classes = int(num_classes)
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        bad = int(flat.min()) if flat.min() < 0 else int(flat.max())
        raise ValueError(f"`to_categorical` expects class indices in [0, {num_classes}) for "
                         f"num_classes={num_classes}; received {bad}")
    out = np.zeros((flat.size, num_classes), dtype=dtype)
    out[np.arange(flat.size), flat] = 1
    return out.reshape(shape + (num_classes,))


def to_categorical(y, num_classes=None, dtype="float32"):
    """Keras 2's ``keras.utils.np_utils.to_categorical``: as ``lstmcore.utils.to_categorical``
    with Keras 2's float32 default ``dtype``.

    Class indices to one-hot rows: ``to_categorical([0, 2]) -> [[1, 0, 0], [0, 0, 1]]``.

    Keras 3's rules: a trailing axis of size 1 is dropped (``(n, 1)`` labels give ``(n,
    num_classes)``), the class axis is appended last, and ``num_classes`` defaults to
    ``max(y) + 1``. Float labels are accepted when they hold whole numbers. Where Keras wraps
    negative labels round or fails with an IndexError, a label outside ``[0, num_classes)``
    raises a ValueError.

    Args:
        y: array-like of class indices.
        num_classes: the number of classes. Default: ``max(y) + 1``.
        dtype: the output dtype. Default ``'float32'``.

    Returns:
        An array of shape ``y.shape + (num_classes,)``.
    """
    return _one_hot(y, num_classes, dtype)


__all__ = ["to_categorical"]
